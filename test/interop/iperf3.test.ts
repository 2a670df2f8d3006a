// The iperf3 apps on the userspace stack (AF_PACKET link, veth lab) against stock iperf3 3.x in
// the peer namespace: `iperf3 -c` (TCP, -R, -P, --bidir, -u -b, -J) against our server, and our
// client against `iperf3 -s`. Both sides' numbers must agree where the protocol says they come
// from the same count. Needs root (CI runs as root).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { startIperf3Server, type Iperf3Server } from '../../apps/iperf3/iperf3-server.ts';
import { Iperf3Error, runIperf3Client } from '../../apps/iperf3/iperf3-client.ts';
import { REALTIME, RECEIVER_BUFFER } from '../helpers/receiver.ts';
import { layoutDifferences, stockReference, type Json } from '../helpers/iperf3-json.ts';

interface StockReport {
  error?: string;
  start: { test_start: { protocol: string; num_streams: number; reverse: number } };
  end: {
    streams: unknown[];
    sum_sent?: { bytes: number; bits_per_second: number };
    sum_received?: { bytes: number; bits_per_second: number };
    sum?: { bytes: number; packets: number; lost_packets: number; lost_percent: number; jitter_ms: number };
  };
}

describe('iperf3 apps on the userspace stack against stock iperf3', () => {
  let L: StackLab;
  let server: Iperf3Server;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
    server = await startIperf3Server({ subsystem: L.subsystem, address: L.address, port: 5201 });
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`iperf3-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await server?.stop();
    await L?.close();
  }, 60_000);

  /** `prefix`: a command prefix for iperf3 (REALTIME). */
  const stockClient = async (args: string, prefix: readonly string[] = []): Promise<StockReport> => {
    const r = await L.peer(`${[...prefix, 'iperf3'].join(' ')} -c ${L.address} -p 5201 ${args} -J`, 60_000);
    const report = JSON.parse(r.stdout) as StockReport;
    expect({ code: r.code, error: report.error }).toEqual({ code: 0, error: undefined });
    return report;
  };

  /** `prefix`: a command prefix for iperf3 -s (REALTIME). */
  const stockServer = async <T>(run: () => Promise<T>, prefix: readonly string[] = []): Promise<{ ours: T; theirs: StockReport }> => {
    const p = L.peerProcess(`exec ${[...prefix, 'iperf3'].join(' ')} -s -1 -J -B ${L.peerAddress} -p 5202`);
    await L.peer(`for i in $(seq 100); do ss -ltn | grep -q ':5202 ' && exit 0; sleep 0.05; done; exit 1`);
    const ours = await run();
    await p.exited;
    return { ours, theirs: JSON.parse(p.output()) as StockReport };
  };

  it('iperf3 -c (TCP, 2 s): completes, and its received count is exactly what our server counted', async () => {
    const next = server.nextReport();
    const r = await stockClient('-t 2');
    const ours = await next;
    expect(ours.error).toBeNull();
    expect(ours.streams).toHaveLength(1);
    expect(r.end.sum_received!.bytes).toBe(ours.received.bytes);
    expect(r.end.sum_sent!.bytes).toBeGreaterThanOrEqual(ours.received.bytes);
    expect(ours.received.bitsPerSecond).toBeGreaterThan(100e6);
  }, 60_000);

  it('iperf3 -c -R -P 3: three streams from our server, the client reports what our server sent', async () => {
    const next = server.nextReport();
    const r = await stockClient('-t 2 -R -P 3');
    const ours = await next;
    expect(ours.error).toBeNull();
    expect(ours.streams.map((s) => [s.id, s.role])).toEqual([[1, 'send'], [3, 'send'], [4, 'send']]);
    expect(r.start.test_start.num_streams).toBe(3);
    expect(r.end.sum_sent!.bytes).toBe(ours.sent.bytes);
    expect(r.end.sum_received!.bytes).toBeGreaterThan(0);
    expect(r.end.sum_received!.bytes).toBeLessThanOrEqual(ours.sent.bytes);
    for (const s of ours.streams) expect(s.bytes).toBeGreaterThan(0);
  }, 60_000);

  it('iperf3 -c -R: our server ends its data stream with a FIN after the last byte, never a RST (a RST reached a client still reading on a lossy path: "Connection reset by peer")', async () => {
    const tcp = L.provider.tcp!;
    const resetsBefore = tcp.counters.resetsSent;
    const next = server.nextReport();
    const r = await stockClient('-t 1 -R');
    expect((await next).error).toBeNull();
    expect(r.end.sum_received!.bytes).toBeGreaterThan(0);
    // The server closes its streams once the client has ended them too (after IPERF_DONE).
    expect(tcp.counters.resetsSent - resetsBefore).toBe(0);
  }, 60_000);

  it('iperf3 -c --bidir: one stream each way', async () => {
    const next = server.nextReport();
    await stockClient('-t 2 --bidir');
    const ours = await next;
    expect(ours.error).toBeNull();
    expect(ours.streams.map((s) => s.role)).toEqual(['receive', 'send']);
    expect(ours.received.bytes).toBeGreaterThan(0);
    expect(ours.sent.bytes).toBeGreaterThan(0);
  }, 60_000);

  it('iperf3 -c -u -b 100M: datagrams counted with loss and jitter; the client reports our server\'s figures', async () => {
    const next = server.nextReport();
    const r = await stockClient('-t 2 -u -b 100M');
    const ours = await next;
    expect(ours.error).toBeNull();
    const s = ours.streams[0]!;
    expect(s.packets).toBeGreaterThan(10_000);
    expect(r.end.sum!.lost_packets).toBe(s.lost);
    expect(r.end.sum!.lost_percent).toBeLessThan(5);
    expect(r.end.sum!.jitter_ms).toBeCloseTo(s.jitterMs!, 6);
    expect(ours.received.bitsPerSecond).toBeGreaterThan(90e6);
    expect(ours.received.bitsPerSecond).toBeLessThan(110e6);
  }, 60_000);

  it('iperf3 -c -u -R -P 2 -b 50M --udp-counters-64bit: our server paces each stream to the bitrate', async () => {
    const next = server.nextReport();
    // The receiving client as on an idle machine (test/helpers/receiver.ts): its loss is our pacing's.
    const r = await stockClient(`-t 2 -u -R -P 2 -b 50M --udp-counters-64bit ${RECEIVER_BUFFER.join(' ')}`, REALTIME);
    const ours = await next;
    expect(ours.error).toBeNull();
    for (const s of ours.streams) {
      expect(s.role).toBe('send');
      expect(s.bitsPerSecond).toBeGreaterThan(45e6);
      expect(s.bitsPerSecond).toBeLessThan(55e6);
    }
    expect(r.end.sum!.lost_percent).toBeLessThan(5);
  }, 60_000);

  it('a second client while a test runs is told the server is busy; the running test completes', async () => {
    const next = server.nextReport();
    const running = server.nextStart();
    const first = L.peer(`iperf3 -c ${L.address} -p 5201 -t 3 -J`, 60_000);
    await running;
    const second = await L.peer(`iperf3 -c ${L.address} -p 5201 -t 1 2>&1`, 30_000);
    expect(second.code).not.toBe(0);
    expect(second.stdout).toMatch(/busy/);
    const r = await first;
    expect(r.code).toBe(0);
    expect((await next).error).toBeNull();
  }, 60_000);

  describe('our client against iperf3 -s', () => {
    it('TCP, 2 streams: the stock server received exactly what our client reports as received', async () => {
      const { ours, theirs } = await stockServer(() => runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5202, time: 2, parallel: 2 }));
      expect(theirs.error).toBeUndefined();
      expect(ours.end.sum_received.bytes).toBe(theirs.end.sum_received!.bytes);
      expect(ours.end.sum_sent.bytes).toBeGreaterThanOrEqual(ours.end.sum_received.bytes);
      expect(ours.end.sum_sent.bits_per_second).toBeGreaterThan(100e6);
    }, 60_000);

    it('reverse: our client receives what the stock server sends', async () => {
      const { ours, theirs } = await stockServer(() => runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5202, time: 2, reverse: true }));
      expect(theirs.error).toBeUndefined();
      expect(ours.end.sum_sent.bytes).toBe(theirs.end.sum_sent!.bytes);
      expect(ours.end.sum_received.bytes).toBeGreaterThan(0);
    }, 60_000);

    it('UDP at 80 Mbit/s: the stock server counts our datagrams with little loss', async () => {
      // The receiving server as on an idle machine (test/helpers/receiver.ts): its loss is our pacing's.
      const { ours, theirs } = await stockServer(() => runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5202, time: 2, udp: true, bandwidth: 80e6 }), REALTIME);
      expect(theirs.error).toBeUndefined();
      expect(ours.end.sum_received.lost_percent).toBeLessThan(5);
      expect(ours.end.sum_sent.bits_per_second).toBeGreaterThan(70e6);
      expect(ours.end.sum_sent.bits_per_second).toBeLessThan(90e6);
      expect(ours.end.sum_received.bytes).toBe(theirs.end.sum_received!.bytes);
      expect(ours.end.sum_received.lost_packets).toBe(theirs.end.sum!.lost_packets);
    }, 60_000);

    it('-n 8M: stops after 8 MiB (within one block)', async () => {
      const { ours } = await stockServer(() => runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5202, bytes: 8 << 20 }));
      expect(ours.end.sum_sent.bytes).toBeGreaterThanOrEqual(8 << 20);
      expect(ours.end.sum_sent.bytes).toBeLessThanOrEqual((8 << 20) + 128 * 1024);
    }, 60_000);
  });

  describe('-J with every key iperf3 prints: the stack reports TCP_INFO, so nothing is left out', () => {
    for (const [name, args, client] of [
      ['TCP', '', {}], ['-R', '-R', { reverse: true }], ['--bidir', '--bidir', { bidirectional: true }], ['-P 2', '-P 2', { parallel: 2 }],
    ] as const) {
      it(`${name}: our client against iperf3 -s and iperf3 -c against our server, key by key as iperf3 against itself`, async () => {
        const reference = await stockReference(['-t', '1', ...args.split(' ').filter(Boolean)]);
        const { ours } = await stockServer(() => runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5202, time: 1, ...client }));
        expect(layoutDifferences(ours, reference)).toEqual([]);
        const next = server.nextReport();
        const theirs = await stockClient(`-t 1 ${args}`);
        expect((await next).error).toBeNull();
        expect(layoutDifferences(theirs, reference)).toEqual([]);
        // The stock client's view of what our server sent carries our server's retransmission counts.
        if (args === '-R') expect(typeof (theirs.end.streams[0] as { sender: Json }).sender.retransmits).toBe('number');
      }, 60_000);
    }
  });

  it('iperf3 -c -C reno: our server has no such congestion control and says so as iperf3 does', async () => {
    const next = server.nextReport();
    const r = await L.peer(`iperf3 -c ${L.address} -p 5201 -t 1 -C reno -J`, 30_000);
    expect((JSON.parse(r.stdout) as { error: string }).error).toMatch(/unable to set TCP_CONGESTION/);
    expect((await next).error).toMatch(/congestion control 'reno'.*STATUS_NOT_FOUND/);
  }, 30_000);

  it('our client against a port nobody listens on: Iperf3Error naming the refusal', async () => {
    const err = await runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress, port: 5999, time: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Iperf3Error);
    expect(String(err)).toMatch(/unable to connect to 198\.18\.\d+\.\d+:5999: .*STATUS_CONNECTION_REFUSED/);
  }, 30_000);
});

// The iperf3 apps on the kernel provider over loopback against stock iperf3, against each other
// on two userspace stacks joined by the memory link, and the protocol's error paths with a
// hand-written peer. (The userspace stack on a real device: test/interop/iperf3.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createKernelProvider, startWskSubsystem, type WskSubsystem } from '../../index.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import { A_IP, B_IP, stackPair, type StackPair } from '../lab/stack-pair.ts';
import { startIperf3Server, type Iperf3Server } from './iperf3-server.ts';
import { Iperf3Error, runIperf3Client } from './iperf3-client.ts';
import { REALTIME, RECEIVER_BUFFER } from '../../test/helpers/receiver.ts';
import {
  ACCESS_DENIED, asSigned, COOKIE_SIZE, CREATE_STREAMS, encodeJsonMessage, IERECVPARAMS, makeCookie, PARAM_EXCHANGE,
  parseParams, parseResults, SERVER_ERROR, streamId,
} from './iperf3-protocol.ts';

/** Stock iperf3 with `args`, after a command prefix (`prefix`: e.g. REALTIME). */
function stockIperf3(args: string[], prefix: readonly string[] = []): Promise<{ code: number | null; json: Record<string, any> }> {
  const argv = [...prefix, 'iperf3', ...args, '-J'];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 30_000 }, (err, stdout) => {
      resolve({ code: err ? (err as NodeJS.ErrnoException & { code?: number }).code as unknown as number ?? 1 : 0, json: JSON.parse(stdout || '{}') });
    });
  });
}

/** A raw control connection for protocol misuse: bytes in, bytes out. */
class RawPeer {
  private buffered = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d) => { this.buffered = Buffer.concat([this.buffered, d]); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => {});
  }
  private wake(): void { for (const w of this.waiters.splice(0)) w(); }
  static open(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }
  async read(n: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.buffered.length < n) {
      if (this.closed || Date.now() > deadline) throw new Error(`wanted ${n} bytes, have ${this.buffered.length}${this.closed ? ' (closed)' : ''}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }
}

describe('iperf3 protocol pieces', () => {
  it('cookies are 36 base32 characters and a NUL; stream ids run 1, 3, 4, 5', () => {
    const c = makeCookie((n) => Uint8Array.from({ length: n }, (_, i) => i * 7));
    expect(c.byteLength).toBe(COOKIE_SIZE);
    expect(new TextDecoder().decode(c.subarray(0, 36))).toMatch(/^[a-z2-7]{36}$/);
    expect(c[36]).toBe(0);
    expect([0, 1, 2, 3].map(streamId)).toEqual([1, 3, 4, 5]);
  });

  it('C\'s unsigned -1 reads as -1; parameters and results are checked', () => {
    expect(asSigned(18446744073709551615)).toBe(-1);
    expect(parseParams({ tcp: true, parallel: 0, time: 1 })).toMatch(/parallel 0/);
    expect(parseParams({ udp: true, len: 8 })).toMatch(/len 8/);
    expect(parseParams({ sctp: true })).toMatch(/SCTP/);
    const p = parseParams({ udp: true, time: 1, reverse: false });
    // Presence means "on", whatever the value (as the stock server reads it).
    expect(p).toMatchObject({ udp: true, reverse: true, len: 1448, bandwidth: 1 << 20 });
    expect(parseResults({ cpu_util_total: 0, cpu_util_user: 0, cpu_util_system: 0, sender_has_retransmits: 0, streams: [{ id: 1, bytes: 1, retransmits: 0, errors: 0, packets: 0 }] })).toMatch(/jitter/);
    expect(encodeJsonMessage({ a: 1 })).toEqual(Uint8Array.of(0, 0, 0, 7, ...new TextEncoder().encode('{"a":1}')));
  });
});

describe('iperf3 apps on the kernel provider against stock iperf3 (loopback)', () => {
  let subsystem: WskSubsystem;
  let server: Iperf3Server;
  beforeAll(async () => {
    subsystem = await startWskSubsystem(createKernelProvider(), { name: 'iperf3-kernel' });
    server = await startIperf3Server({ subsystem, address: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.stop();
    await subsystem?.stop();
  });

  it('iperf3 -c -P 2 -t 1: completes, and its received count is what our server counted', async () => {
    const next = server.nextReport();
    const r = await stockIperf3(['-c', '127.0.0.1', '-p', String(server.port), '-t', '1', '-P', '2']);
    const ours = await next;
    expect({ code: r.code, error: r.json.error, ours: ours.error }).toEqual({ code: 0, error: undefined, ours: null });
    expect(r.json.end.sum_received.bytes).toBe(ours.received.bytes);
  }, 30_000);

  it('iperf3 -c -u -b 50M -R: our server paces to the bitrate', async () => {
    const next = server.nextReport();
    // The receiving client as on an idle machine (test/helpers/receiver.ts): its loss is our pacing's.
    const r = await stockIperf3(['-c', '127.0.0.1', '-p', String(server.port), '-t', '1', '-u', '-b', '50M', '-R', ...RECEIVER_BUFFER], REALTIME);
    const ours = await next;
    expect({ code: r.code, error: ours.error }).toEqual({ code: 0, error: null });
    expect(ours.sent.bitsPerSecond).toBeGreaterThan(45e6);
    expect(ours.sent.bitsPerSecond).toBeLessThan(55e6);
    expect(r.json.end.sum.lost_percent).toBeLessThan(5);
  }, 30_000);

  it('our client against stock iperf3 -s -1: -R -P 2 completes with the server\'s numbers', async () => {
    const stock = spawn('iperf3', ['-s', '-1', '-J', '-B', '127.0.0.1', '-p', '5241'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    stock.stdout.on('data', (d) => { out += d; });
    const exited = new Promise((r) => stock.on('close', r));
    try {
      let report;
      for (let attempt = 0; ; attempt++) {
        try {
          report = await runIperf3Client({ subsystem, host: '127.0.0.1', port: 5241, time: 1, reverse: true, parallel: 2 });
          break;
        } catch (err) {
          if (attempt > 40 || !String(err).includes('REFUSED')) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await exited;
      const theirs = JSON.parse(out) as { end: { sum_sent: { bytes: number } } };
      expect(report.end.sum_sent.bytes).toBe(theirs.end.sum_sent.bytes);
      expect(report.end.streams.map((s) => (s as { receiver: { socket: number } }).receiver.socket)).toEqual([1, 3]);
    } finally {
      if (stock.exitCode === null) stock.kill('SIGKILL');
    }
  }, 30_000);

  it('parameters that do not parse get SERVER_ERROR with IERECVPARAMS, and the server serves the next client', async () => {
    const next = server.nextReport();
    const peer = await RawPeer.open(server.port);
    peer.socket.write(makeCookie((n) => new Uint8Array(n)));
    expect((await peer.read(1))[0]).toBe(PARAM_EXCHANGE);
    peer.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{nope')]));
    const reply = await peer.read(9);
    expect(reply[0]).toBe(SERVER_ERROR & 0xff);
    expect(reply.readInt32BE(1)).toBe(IERECVPARAMS);
    expect((await next).error).toMatch(/does not parse/);
    peer.socket.destroy();
    const r = await stockIperf3(['-c', '127.0.0.1', '-p', String(server.port), '-t', '1']);
    expect(r.code).toBe(0);
  }, 30_000);

  it('a data connection with the wrong cookie is told ACCESS_DENIED; the test goes on with the right one', async () => {
    const next = server.nextReport();
    const cookie = makeCookie((n) => new Uint8Array(n).fill(1));
    const control = await RawPeer.open(server.port);
    control.socket.write(cookie);
    expect((await control.read(1))[0]).toBe(PARAM_EXCHANGE);
    control.socket.write(encodeJsonMessage({ tcp: true, time: 1, parallel: 1, len: 1024 }));
    expect((await control.read(1))[0]).toBe(CREATE_STREAMS);
    const impostor = await RawPeer.open(server.port);
    impostor.socket.write(makeCookie((n) => new Uint8Array(n).fill(2)));
    expect((await impostor.read(1))[0]).toBe(ACCESS_DENIED & 0xff);
    const stream = await RawPeer.open(server.port);
    stream.socket.write(cookie);
    expect([...(await control.read(2))]).toEqual([1, 2]); // TEST_START, TEST_RUNNING
    control.socket.destroy();
    stream.socket.destroy();
    impostor.socket.destroy();
    expect((await next).error).toMatch(/closed the control connection/);
  }, 30_000);

  it('our client against a server that stops mid-test: Iperf3Error "the server has terminated"', async () => {
    const other = await startIperf3Server({ subsystem, address: '127.0.0.1', port: 0 });
    const started = other.nextStart();
    const running = runIperf3Client({ subsystem, host: '127.0.0.1', port: other.port, time: 10 }).catch((e: unknown) => e);
    await started;
    await other.stop();
    const err = await running;
    expect(err).toBeInstanceOf(Iperf3Error);
    expect(String(err)).toMatch(/server has terminated/);
  }, 30_000);
});

describe('our client against our server, on two userspace stacks over the memory link', () => {
  let pair: StackPair;
  let a: WskSubsystem;
  let b: WskSubsystem;
  let server: Iperf3Server;
  beforeAll(async () => {
    pair = stackPair();
    a = await startWskSubsystem(createStackProvider(pair.a, { ownsStack: false }), { name: 'iperf3-a' });
    b = await startWskSubsystem(createStackProvider(pair.b, { ownsStack: false }), { name: 'iperf3-b' });
    server = await startIperf3Server({ subsystem: b, address: B_IP, port: 5201 });
  });
  afterAll(async () => {
    await server?.stop();
    await a?.stop();
    await b?.stop();
    pair?.close();
  });

  /** Every stream's sender and receiver counts, and the sums, as the client's -J end has them. */
  const counts = (end: Record<string, unknown>): [number, number][] => {
    const pairs: [number, number][] = [];
    for (const s of end.streams as Record<string, { bytes: number }>[]) {
      if (s.udp) continue;
      pairs.push([s.sender!.bytes, s.receiver!.bytes]);
    }
    for (const suffix of ['', '_bidir_reverse']) {
      const sent = end[`sum_sent${suffix}`] as { bytes: number } | undefined;
      const received = end[`sum_received${suffix}`] as { bytes: number } | undefined;
      if (sent && received) pairs.push([sent.bytes, received.bytes]);
    }
    return pairs;
  };

  for (const [name, options] of [
    ['TCP', {}], ['-R', { reverse: true }], ['--bidir -P 2', { bidirectional: true, parallel: 2 }], ['-R -P 3', { reverse: true, parallel: 3 }],
    ['UDP 20 Mbit/s', { udp: true, bandwidth: 20e6 }], ['UDP -R 20 Mbit/s', { udp: true, bandwidth: 20e6, reverse: true }],
  ] as const) {
    it(`${name}: the sender's and the receiver's byte counts agree on every stream and in the sums`, async () => {
      const next = server.nextReport();
      const r = await runIperf3Client({ subsystem: a, host: B_IP, port: 5201, time: 1, ...options });
      const ours = await next;
      expect(ours.error).toBeNull();
      expect(ours.client.startsWith(A_IP)).toBe(true);
      const pairs = counts(r.end);
      expect(pairs.length).toBeGreaterThan(0);
      // Senders wait for what they posted to be acknowledged, receivers count until the results are exchanged.
      for (const [sent, received] of pairs) expect({ sent, received }).toEqual({ sent, received: sent });
      for (const [sent] of pairs) expect(sent).toBeGreaterThan(0);
      if ('udp' in options) expect(r.end.sum_received.lost_packets).toBe(0);
    }, 30_000);
  }

  it('--bidir -P 2: streams 1 and 3 send, 4 and 5 receive; the reverse direction has its own sums', async () => {
    const r = await runIperf3Client({ subsystem: a, host: B_IP, port: 5201, time: 1, bidirectional: true, parallel: 2 });
    const streams = r.end.streams as { sender: { socket: number; sender: boolean } }[];
    expect(streams.map((s) => [s.sender.socket, s.sender.sender])).toEqual([[1, true], [3, true], [4, false], [5, false]]);
    expect(r.end).toHaveProperty('sum_sent_bidir_reverse');
    expect(r.end).toHaveProperty('sum_received_bidir_reverse');
    expect(r.intervals[0]).toHaveProperty('sum_bidir_reverse');
  }, 30_000);
});

// The ported applications over IPv6 on the userspace stack (AF_PACKET link, veth lab with
// fd00:198:18::/64) against their real Linux peers: echosrv's one dual-stack listener ([::]:40007,
// IPV6_V6ONLY 0) echoing Linux nc clients over IPv6 and IPv4 at once, stock `iperf3 -6 -c` against
// our iperf3 server both ways, and our iperf3 client against `iperf3 -s`. Needs root (CI runs as root).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_SUCCESS } from '../../index.ts';
import { echosrvListening, echosrvStart, echosrvStats, echosrvStop } from '../../apps/echosrv/echosrv.ts';
import { startIperf3Server, type Iperf3Server } from '../../apps/iperf3/iperf3-server.ts';
import { runIperf3Client } from '../../apps/iperf3/iperf3-client.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { until } from '../helpers/wsk-call.ts';

const ECHO_PORT = 40007;

interface StockReport {
  error?: string;
  start: { connected: { local_host: string; remote_host: string }[] };
  end: { sum_sent?: { bytes: number }; sum_received?: { bytes: number } };
}

describe('the apps over IPv6 on the userspace stack against Linux', () => {
  let L: StackLab;
  let server: Iperf3Server;
  beforeAll(async () => {
    L = await openStackLab('afpacket', { ipv6: true });
    server = await startIperf3Server({ subsystem: L.subsystem, port: 5201 });
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`ipv6-apps-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await server?.stop();
    await L?.close();
  }, 60_000);

  it('echosrv on [::] echoes 8 Linux clients × 4 MiB over IPv6 and 2 over IPv4 at once, every byte intact', async () => {
    expect(echosrvStart({ port: ECHO_PORT, subsystem: L.subsystem })).toBe(STATUS_SUCCESS);
    try {
      expect((await echosrvListening()).Status).toBe(STATUS_SUCCESS);
      const targets = [...Array<string>(8).fill(L.address6!), L.address, L.address];
      const files = targets.map((_, i) => L.randomFile(`echo${i}.bin`, 4 << 20));
      // nc -N: after its input ends it shuts down its sending half and keeps reading (half-close).
      const script = files.map((f, i) => `(nc -N ${targets[i]} ${ECHO_PORT} < ${f.path} | sha256sum > ${L.dir}/echo${i}.sha) &`).join('\n')
        + '\nwait\n' + files.map((_, i) => `cut -d' ' -f1 ${L.dir}/echo${i}.sha`).join('\n');
      const r = await L.peer(script, 120_000);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual(files.map((f) => f.sha256));
      await until(() => echosrvStats().connections === 0, 10_000, 'echosrv connections to close');
      expect(echosrvStats().errors).toEqual([]);
    } finally {
      await echosrvStop({ forceClose: true });
    }
  }, 180_000);

  for (const reverse of [false, true]) {
    it(`stock iperf3 -6 -c${reverse ? ' -R' : ''} against our iperf3 server: the counts agree, both ends name IPv6 addresses`, async () => {
      const next = server.nextReport();
      const r = await L.peer(`iperf3 -6 -c ${L.address6} -p 5201 -t 2 ${reverse ? '-R' : ''} -J`, 60_000);
      const report = JSON.parse(r.stdout) as StockReport;
      expect({ code: r.code, error: report.error }).toEqual({ code: 0, error: undefined });
      const ours = await next;
      expect(ours.error).toBeNull();
      expect(report.start.connected[0]).toMatchObject({ local_host: L.peerAddress6, remote_host: L.address6 });
      if (reverse) expect(report.end.sum_sent!.bytes).toBe(ours.sent.bytes);
      else expect(report.end.sum_received!.bytes).toBe(ours.received.bytes);
      expect(reverse ? ours.sent.bytes : ours.received.bytes).toBeGreaterThan(10 << 20);
    }, 60_000);
  }

  it('our iperf3 client against stock iperf3 -s over IPv6, both directions', async () => {
    for (const reverse of [false, true]) {
      const p = L.peerProcess(`exec iperf3 -s -1 -J -B ${L.peerAddress6} -p 5202`);
      await L.peer('for i in $(seq 100); do ss -ltn | grep -q \':5202 \' && exit 0; sleep 0.05; done; exit 1');
      const ours = await runIperf3Client({ subsystem: L.subsystem, host: L.peerAddress6!, port: 5202, time: 2, reverse });
      await p.exited;
      const theirs = JSON.parse(p.output()) as StockReport;
      expect(theirs.error).toBeUndefined();
      expect(theirs.start.connected[0]).toMatchObject({ local_host: L.peerAddress6, remote_host: L.address6 });
      const moved = reverse ? theirs.end.sum_sent!.bytes : theirs.end.sum_received!.bytes;
      expect(moved).toBeGreaterThan(10 << 20);
      // The figures the protocol has both ends agree on (as in iperf3.test.ts over IPv4).
      if (reverse) expect(ours.end.sum_sent.bytes).toBe(theirs.end.sum_sent!.bytes);
      else expect(ours.end.sum_received.bytes).toBe(theirs.end.sum_received!.bytes);
    }
  }, 90_000);
});

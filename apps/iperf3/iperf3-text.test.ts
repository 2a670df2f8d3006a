// What the client prints and the options iperf3 users reach for: interval lines on the -i grid
// with the last one printed, per-stream and [SUM] lines, [TX-C]/[RX-C] with --bidir, Retr and
// Cwnd from the stack's SIO_TCP_INFO, -V, -f, -C, -w, -B and host names. On two userspace
// stacks joined by the memory link (one with loss, for retransmissions) and on the kernel
// provider over loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernelProvider, FaultInjectorLink, startWskSubsystem, type WskSubsystem } from '../../index.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import { B_IP, stackPair, type StackPair } from '../lab/stack-pair.ts';
import { Iperf3Error, runIperf3Client, type Iperf3ClientOptions, type Iperf3ClientReport } from './iperf3-client.ts';
import { startIperf3Server, type Iperf3Server, type ServerTestReport } from './iperf3-server.ts';
import { SEPARATOR } from './iperf3-report.ts';

type Json = Record<string, any>;

/** Runs the client and keeps what it printed. */
async function run(o: Iperf3ClientOptions): Promise<{ lines: string[]; report: Iperf3ClientReport }> {
  const lines: string[] = [];
  const report = await runIperf3Client({ ...o, log: (line) => lines.push(line) });
  return { lines, report };
}

/** The intervals' [start, end] of the first stream, from -J. */
const spans = (r: Iperf3ClientReport): [number, number][] => r.intervals.map((i) => [(i.streams as Json[])[0]!.start, (i.streams as Json[])[0]!.end]);

describe('the client\'s text and options on two userspace stacks', () => {
  let pair: StackPair;
  let a: WskSubsystem;
  let b: WskSubsystem;
  let server: Iperf3Server;
  beforeAll(async () => {
    pair = stackPair();
    a = await startWskSubsystem(createStackProvider(pair.a, { ownsStack: false }), { name: 'iperf3-text-a' });
    b = await startWskSubsystem(createStackProvider(pair.b, { ownsStack: false }), { name: 'iperf3-text-b' });
    server = await startIperf3Server({ subsystem: b, address: B_IP, port: 5201 });
  });
  afterAll(async () => {
    await server?.stop();
    await a?.stop();
    await b?.stop();
    pair?.close();
  });
  const base = (): Pick<Iperf3ClientOptions, 'subsystem' | 'host' | 'port'> => ({ subsystem: a, host: B_IP, port: 5201 });
  /** run(), and the server's report of the same test: it comes once the server has closed the test's sockets, which can be after the client returned. */
  const served = async (o: Iperf3ClientOptions): Promise<{ lines: string[]; report: Iperf3ClientReport; server: ServerTestReport }> => {
    const next = server.nextReport();
    const r = await run(o);
    return { ...r, server: await next };
  };

  it('-t 2 -P 2: a header, per-stream lines and a [SUM] line per interval on the 1 s grid, then the summary', async () => {
    const { lines, report } = await served({ ...base(), time: 2, parallel: 2 });
    expect(lines[0]).toBe(`Connecting to host ${B_IP}, port 5201`);
    expect(lines[1]).toMatch(/^\[ {2}1\] local 198\.18\.0\.1 port \d+ connected to 198\.18\.0\.2 port 5201$/);
    expect(lines).toContain('[ ID] Interval           Transfer     Bitrate         Retr  Cwnd');
    const intervals = lines.filter((l) => / sec /.test(l) && !/sender|receiver/.test(l));
    expect(intervals.map((l) => l.slice(0, 5))).toEqual(['[  1]', '[  3]', '[SUM]', '[  1]', '[  3]', '[SUM]']);
    expect(intervals[0]).toMatch(/^\[ {2}1\] {3}0\.00-1\.\d\d {3}sec +[\d.]+ [KMG]?Bytes +[\d.]+ [KMG]?bits\/sec +\d+ +[\d.]+ [KMG]?Bytes/);
    // Intervals follow each other: no gap, no drift; the last one ends where the test did.
    const s = spans(report);
    expect(s).toHaveLength(2);
    expect(s[0]![0]).toBe(0);
    expect(s[1]![0]).toBe(s[0]![1]);
    expect(s[0]![1]).toBeGreaterThanOrEqual(1);
    expect(s[1]![1]).toBe(report.end.sum_sent.end);
    const summary = lines.slice(lines.lastIndexOf(SEPARATOR) + 1);
    expect(summary[0]).toBe('[ ID] Interval           Transfer     Bitrate         Retr');
    expect(summary.filter((l) => /sender$/.test(l)).map((l) => l.slice(0, 5))).toEqual(['[  1]', '[  3]', '[SUM]']);
    expect(summary.filter((l) => /receiver$/.test(l)).map((l) => l.slice(0, 5))).toEqual(['[  1]', '[  3]', '[SUM]']);
    expect(lines.slice(-2)).toEqual(['', 'iperf Done.']);
  }, 30_000);

  it('--bidir: [TX-C] and [RX-C] on every line, the reverse direction summed apart', async () => {
    const { lines } = await served({ ...base(), time: 1, bidirectional: true });
    expect(lines).toContain('[ ID][Role] Interval           Transfer     Bitrate         Retr  Cwnd');
    expect(lines.some((l) => /^\[ {2}1\]\[TX-C\] {3}0\.00-/.test(l))).toBe(true);
    expect(lines.some((l) => /^\[ {2}3\]\[RX-C\] {3}0\.00-/.test(l))).toBe(true);
    expect(lines.filter((l) => /\[TX-C\].*(sender|receiver)$/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /\[RX-C\].*(sender|receiver)$/.test(l))).toHaveLength(2);
  }, 30_000);

  it('-n 8M -i 1: the last, partial interval is printed and ends where the summary does', async () => {
    const { lines, report } = await served({ ...base(), bytes: 8 << 20, interval: 1 });
    const s = spans(report);
    expect(s.length).toBeGreaterThan(0);
    expect(s[s.length - 1]![1]).toBe(report.end.sum_sent.end);
    const last = lines.filter((l) => / sec /.test(l) && !/sender|receiver/.test(l)).pop()!;
    expect(last).toContain(`-${report.end.sum_sent.end.toFixed(2)}`);
    expect(report.end.sum_sent.bytes).toBe(8 << 20);
    expect(report.end.sum_received.bytes).toBe(8 << 20);
  }, 30_000);

  it('Retr and Cwnd come from the stack: the congestion window, RTT and retransmissions iperf3 reads from TCP_INFO', async () => {
    const { report } = await served({ ...base(), time: 1 });
    const stream = (report.intervals[0]!.streams as Json[])[0]!;
    expect(stream.snd_cwnd).toBeGreaterThan(0);
    expect(stream.snd_wnd).toBeGreaterThan(0);
    expect(stream.rtt).toBeGreaterThan(0);
    // TCP_INFO_v0 has no RTT variance or path MTU: -1, as iperf3 reports what its platform lacks.
    expect([stream.rttvar, stream.pmtu]).toEqual([-1, -1]);
    const sender = (report.end.streams as Json[])[0]!.sender;
    expect(sender.max_snd_cwnd).toBeGreaterThanOrEqual(stream.snd_cwnd);
    expect(sender.retransmits).toBe(report.intervals.reduce((n, i) => n + (i.streams as Json[])[0]!.retransmits, 0));
  }, 30_000);

  it('-V: the version, MSS, cookie, test parameters, CPU use and both congestion controls', async () => {
    const { lines } = await served({ ...base(), time: 1, verbose: true });
    const text = lines.join('\n');
    expect(lines[0]).toMatch(/^iperf 3\.12/);
    for (const re of [/^Control connection MSS 1448$/m, /^Time: \w{3}, \d\d \w{3} \d{4} [\d:]+ GMT$/m, /^ {6}Cookie: [a-z2-7]{36}$/m, /^ {6}TCP MSS: 1448 \(default\)$/m,
      /^Starting Test: protocol: TCP, 1 streams, 131072 byte blocks, omitting 0 seconds, 1 second test, tos 0$/m, /^Test Complete\. Summary Results:$/m,
      /^CPU Utilization: local\/sender [\d.]+% \([\d.]+%u\/[\d.]+%s\), remote\/receiver [\d.]+% \([\d.]+%u\/[\d.]+%s\)$/m,
      /^snd_tcp_congestion cubic$/m, /^rcv_tcp_congestion cubic$/m]) expect(text).toMatch(re);
  }, 30_000);

  it('-f m: rates in Mbits whatever their size; -f K in KBytes', async () => {
    const m = await served({ ...base(), time: 1, format: 'm' });
    expect(m.lines.filter((l) => / sec /.test(l)).every((l) => / Mbits\/sec/.test(l))).toBe(true);
    const k = await served({ ...base(), time: 1, format: 'K' });
    expect(k.lines.filter((l) => / sec /.test(l)).every((l) => / KBytes\/sec/.test(l))).toBe(true);
  }, 30_000);

  it('-C newreno: both sides\' data streams use the stack\'s NewReno; an unknown name fails before any data moves', async () => {
    const { report } = await served({ ...base(), time: 1, congestion: 'newreno' });
    expect([report.end.sender_tcp_congestion, report.end.receiver_tcp_congestion]).toEqual(['newreno', 'newreno']);
    const failed = server.nextReport();
    const err = await runIperf3Client({ ...base(), time: 1, congestion: 'no-such-cc' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Iperf3Error);
    expect(String(err)).toMatch(/unable to set the congestion control 'no-such-cc': .*STATUS_NOT_FOUND/);
    expect((await failed).error).not.toBeNull();
  }, 30_000);

  it('-w 64K: both sides\' streams have a 64 KiB send backlog and receive buffer', async () => {
    const { report, server: theirs } = await served({ ...base(), time: 1, window: 64 * 1024 });
    expect(report.start).toMatchObject({ sock_bufsize: 65536, sndbuf_actual: 65536, rcvbuf_actual: 65536 });
    expect(theirs.json.start).toMatchObject({ sock_bufsize: 65536, sndbuf_actual: 65536, rcvbuf_actual: 65536 });
    expect(report.end.sum_received.bytes).toBe(report.end.sum_sent.bytes);
  }, 30_000);
});

describe('retransmissions on a lossy path', () => {
  it('1 % loss each way: Retr counts what the stack sent again, per interval and in the sums', async () => {
    let seed = 7;
    const pair = stackPair({}, {}, (link) => new FaultInjectorLink(link, { seed: seed++, loss: 0.01 }));
    const a = await startWskSubsystem(createStackProvider(pair.a, { ownsStack: false }), { name: 'iperf3-loss-a' });
    const b = await startWskSubsystem(createStackProvider(pair.b, { ownsStack: false }), { name: 'iperf3-loss-b' });
    const server = await startIperf3Server({ subsystem: b, address: B_IP, port: 5201 });
    try {
      const lines: string[] = [];
      const report = await runIperf3Client({ subsystem: a, host: B_IP, port: 5201, time: 2, log: (l) => lines.push(l) });
      const total = report.end.sum_sent.retransmits!;
      expect(total).toBeGreaterThan(0);
      expect(report.intervals.reduce((n, i) => n + (i.sum as Json).retransmits, 0)).toBe(total);
      expect(lines.find((l) => /sender$/.test(l))).toMatch(new RegExp(`\\s${total}\\s+sender$`));
      expect(report.end.sum_received.bytes).toBe(report.end.sum_sent.bytes);
    } finally {
      await server.stop();
      await a.stop();
      await b.stop();
      pair.close();
    }
  }, 30_000);
});

describe('the client on the kernel provider (loopback)', () => {
  let k: WskSubsystem;
  let server: Iperf3Server;
  beforeAll(async () => {
    k = await startWskSubsystem(createKernelProvider(), { name: 'iperf3-text-kernel' });
    server = await startIperf3Server({ subsystem: k, address: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.stop();
    await k?.stop();
  });

  it('a host name goes through WskGetAddressInfo: localhost', async () => {
    const { lines, report } = await run({ subsystem: k, host: 'localhost', port: server.port, time: 1 });
    expect(lines[0]).toBe(`Connecting to host localhost, port ${server.port}`);
    expect(report.start.connecting_to).toEqual({ host: 'localhost', port: server.port });
    expect((report.start.connected[0] as Json).remote_host).toBe('127.0.0.1');
    const err = await runIperf3Client({ subsystem: k, host: 'no-such-host.invalid', port: server.port, time: 1 }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/unable to resolve host 'no-such-host\.invalid'/);
  }, 30_000);

  it('-u: the streams\' real local address, not 0.0.0.0', async () => {
    const { lines, report } = await run({ subsystem: k, host: '127.0.0.1', port: server.port, time: 1, udp: true });
    expect(lines[1]).toMatch(/^\[ {2}1\] local 127\.0\.0\.1 port \d+ connected to 127\.0\.0\.1 port \d+$/);
    expect((report.start.connected[0] as Json).local_host).toBe('127.0.0.1');
  }, 30_000);

  it('-B: every connection leaves from the bind address; one that is not local fails', async () => {
    const { report } = await run({ subsystem: k, host: '127.0.0.1', port: server.port, time: 1, bind: '127.0.0.1' });
    expect((report.start.connected[0] as Json).local_host).toBe('127.0.0.1');
    const err = await runIperf3Client({ subsystem: k, host: '127.0.0.1', port: server.port, time: 1, bind: '198.18.255.254' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Iperf3Error);
  }, 30_000);

  it('-C on node:net: it cannot choose, and says so; without -C the host\'s congestion control is reported', async () => {
    const { report } = await run({ subsystem: k, host: '127.0.0.1', port: server.port, time: 1 });
    expect(typeof report.end.sender_tcp_congestion).toBe('string');
    const err = await runIperf3Client({ subsystem: k, host: '127.0.0.1', port: server.port, time: 1, congestion: 'cubic' }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/unable to set the congestion control 'cubic': .*STATUS_NOT_SUPPORTED/);
  }, 30_000);
});

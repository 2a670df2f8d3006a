// An iperf3-compatible server written only against WSK: stock `iperf3 -c` (TCP, -R, --bidir,
// -P, -u with a bitrate, -O, -n/-k, -J, --get-server-output) runs its tests against it. One
// test at a time, like iperf3: a connection that arrives while a test runs is told
// ACCESS_DENIED. Incoming TCP connections are told apart by the server's state, as iperf3
// does: idle → a control connection; CREATE_STREAMS → a data stream (checked by its cookie).
import {
  AF_INET, AF_INET6, makeSockaddrIn, makeSockaddrIn6, sockaddrFamily, STATUS_SUCCESS, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM,
  type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_CLIENT_DATAGRAM_DISPATCH, type WskSubsystem,
} from '../../index.ts';
import { formatSockaddr, sockaddr, WskApp, WskError, type WskDatagram, type WskListener, type WskStream } from '../common/wsk-io.ts';
import { withTimeout } from '../common/timeout.ts';
import { ControlChannel, ControlClosedError } from './control-channel.ts';
import { countDatagram, tcpStreamEvents, TcpDataStream, UdpDataStream, type DataStream, type StreamRole } from './data-streams.ts';
import {
  ACCESS_DENIED, CLIENT_TERMINATE, COOKIE_SIZE, CREATE_STREAMS, cpuUtil, DISPLAY_RESULTS, EXCHANGE_RESULTS, IERECVPARAMS,
  IESTREAMLISTEN, IPERF3_DEFAULT_PORT, IPERF_DONE, PARAM_EXCHANGE, parseParams, parseResults, sameCookie, SERVER_ERROR,
  SERVER_TERMINATE, stateName, streamId, TEST_END, TEST_RUNNING, TEST_START, UDP_CONNECT_REPLY, type TestParams,
  type TestResults,
} from './iperf3-protocol.ts';
import { formatBytes, formatRate } from './units.ts';

export interface Iperf3ServerOptions {
  subsystem?: WskSubsystem;
  /** Address to listen on; default [::] (dual-stack). */
  address?: string;
  port?: number;
  /** Serve one test, then stop (iperf3 -s -1). */
  oneOff?: boolean;
  /** Seconds between the per-stream progress lines of a running test, as `iperf3 -s` prints them (0: none; default 1). */
  interval?: number;
  /** How long to wait for the cookie, the parameters and the data streams (stock iperf3 waits forever). */
  setupTimeoutMs?: number;
  log?: (line: string) => void;
}

/** What the server measured in one test. */
export interface ServerTestReport {
  client: string;
  protocol: 'tcp' | 'udp';
  reverse: boolean;
  bidirectional: boolean;
  streams: { id: number; role: StreamRole; bytes: number; seconds: number; bitsPerSecond: number; jitterMs?: number; lost?: number; packets?: number; outOfOrder?: number }[];
  /** Sum over the streams the server received on, and over those it sent on. */
  received: { bytes: number; bitsPerSecond: number };
  sent: { bytes: number; bitsPerSecond: number };
  /** Null when the test completed; otherwise why it did not. */
  error: string | null;
}

export interface Iperf3Server {
  readonly port: number;
  readonly reports: ServerTestReport[];
  /** The next test's report, once it has ended (completed or failed). */
  nextReport(): Promise<ServerTestReport>;
  /** Tells a running test's client SERVER_TERMINATE, closes everything and deregisters. */
  stop(): Promise<void>;
  /** Resolves once the server has stopped (after stop(), or after its one test with oneOff). */
  readonly stopped: Promise<void>;
}

const UNCONFIGURED = parseParams({ tcp: true }) as TestParams;

class Test {
  state = 0;
  params!: TestParams;
  cookie!: Uint8Array;
  readonly streams: DataStream[] = [];
  udpSocket: WskDatagram | null = null;
  readonly udpByPeer = new Map<number | string, UdpDataStream>();
  streamsReady!: () => void;
  readonly allStreams = new Promise<void>((resolve) => { this.streamsReady = resolve; });

  constructor(readonly control: ControlChannel, readonly client: string) {}

  get wanted(): number { return this.params.parallel * (this.params.bidirectional ? 2 : 1); }

  /** Normal: the server receives; -R: it sends; --bidir: the first half receive, the second half send. */
  nextRole(): StreamRole {
    const i = this.streams.length;
    if (this.params.bidirectional) return i < this.params.parallel ? 'receive' : 'send';
    return this.params.reverse ? 'send' : 'receive';
  }

  add(stream: DataStream): void {
    stream.id = streamId(this.streams.length);
    this.streams.push(stream);
    if (this.streams.length === this.wanted) this.streamsReady();
  }
}


export async function startIperf3Server(o: Iperf3ServerOptions = {}): Promise<Iperf3Server> {
  const log = o.log ?? (() => {});
  const setupTimeoutMs = o.setupTimeoutMs ?? 30_000;
  const intervalMs = (o.interval ?? 1) * 1000;
  const app = await WskApp.register(o.subsystem);
  let listener: WskListener;
  try {
    listener = await app.listen(o.address ? sockaddr(o.address, o.port ?? IPERF3_DEFAULT_PORT) : makeSockaddrIn6('::', o.port ?? IPERF3_DEFAULT_PORT));
  } catch (err) {
    await app.close();
    throw err;
  }
  const local = await listener.localAddress();
  const port = Number(formatSockaddr(local).split(':').pop());
  const reports: ServerTestReport[] = [];
  const waiters: ((r: ServerTestReport) => void)[] = [];
  let test: Test | null = null;
  let stopping = false;
  let stoppedResolve!: () => void;
  const stopped = new Promise<void>((resolve) => { stoppedResolve = resolve; });
  let running: Promise<void> = Promise.resolve();

  const report = (r: ServerTestReport): void => {
    reports.push(r);
    const w = waiters.shift();
    if (w) w(r);
  };

  /**
   * ACCESS_DENIED, then a graceful close that reads what the client sent (its cookie): closing
   * with unread data would reset the connection, and the reset can reach the client before it
   * reads the refusal ("connection reset by peer" instead of "the server is busy").
   */
  const refuse = async (conn: WskStream): Promise<void> => {
    try {
      await conn.send(Uint8Array.of(ACCESS_DENIED & 0xff));
      await conn.disconnect();
      const sink = new Uint8Array(4096);
      await withTimeout((async () => { while (await conn.receive(sink) > 0); })(), 2000, 'a refused client to close');
    } catch {
      // Gone or silent: the close below ends it either way.
    }
    await conn.close();
  };

  const udpEvents: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (ctx, _flags, list) => {
      const t = ctx as Test;
      for (let d = list; d; d = d.Next) {
        const key = peerKey(d.RemoteAddress);
        const stream = t.udpByPeer.get(key);
        if (stream) {
          if (stream.role === 'receive') countDatagram(stream, d, t.params);
        } else if (t.state === CREATE_STREAMS && t.streams.length < t.wanted) {
          // A new peer address during CREATE_STREAMS is the next stream's handshake; its content is not checked (as iperf3).
          const s = new UdpDataStream(t.nextRole(), t.params, structuredClone(d.RemoteAddress), false);
          s.socket = t.udpSocket;
          t.udpByPeer.set(key, s);
          void t.udpSocket!.sendTo(UDP_CONNECT_REPLY, s.remote).then(() => t.add(s), (err: unknown) => log(`iperf3 server: UDP handshake reply to ${formatSockaddr(s.remote)} failed: ${String(err)}`));
        }
      }
      return STATUS_SUCCESS;
    },
  };

  /** A data stream during CREATE_STREAMS: its cookie must be the control connection's. */
  const acceptTcpStream = async (t: Test, conn: WskStream, stream: TcpDataStream): Promise<void> => {
    const cookie = await withTimeout(new ControlChannel(conn).readExact(COOKIE_SIZE), setupTimeoutMs, 'a data stream\'s cookie').catch(() => null);
    if (!cookie || !sameCookie(cookie, t.cookie) || t.state !== CREATE_STREAMS || t.streams.length >= t.wanted) {
      await refuse(conn);
      return;
    }
    stream.role = t.nextRole();
    stream.params = t.params;
    await conn.enableEvents(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
    t.add(stream);
  };

  const runTest = async (t: Test): Promise<void> => {
    const ctl = t.control;
    let error: string | null = null;
    let startMs = 0;
    let endMs = 0;
    const cpuStart = process.cpuUsage();
    const timers: NodeJS.Timeout[] = [];
    try {
      t.cookie = await withTimeout(ctl.readExact(COOKIE_SIZE), setupTimeoutMs, 'the cookie');
      await ctl.writeState(PARAM_EXCHANGE);
      t.state = PARAM_EXCHANGE;
      const params = await withTimeout(ctl.readJson(), setupTimeoutMs, 'the test parameters').then(parseParams, (err: unknown) => {
        if (err instanceof ControlClosedError) throw err;
        return err instanceof Error ? err.message : String(err);
      });
      if (typeof params === 'string') {
        await ctl.writeBytes(serverError(IERECVPARAMS, 22 /* EINVAL */));
        throw new Error(params);
      }
      t.params = params;
      if (params.udp) {
        try {
          t.udpSocket = await openUdpSocket(app, local, udpEvents, t);
        } catch (err) {
          await ctl.writeBytes(serverError(IESTREAMLISTEN, 98 /* EADDRINUSE */));
          throw err;
        }
      }
      t.state = CREATE_STREAMS;
      await ctl.writeState(CREATE_STREAMS);
      // The control connection is watched from here on: a client that gives up ends the test.
      let nextState = ctl.readState();
      const early = await withTimeout(Promise.race([t.allStreams.then(() => null), nextState]), setupTimeoutMs, `${t.wanted} data stream(s)`);
      if (early !== null) throw new Error(`the client sent ${stateName(early)} before its data streams were up`);
      t.state = TEST_START;
      await ctl.writeState(TEST_START);
      startMs = performance.now();
      for (const s of t.streams) s.begin(startMs);
      t.state = TEST_RUNNING;
      await ctl.writeState(TEST_RUNNING);
      if (params.omit > 0) timers.push(setTimeout(() => { const now = performance.now(); startMs = now; for (const s of t.streams) s.resetCounts(now); }, params.omit * 1000));
      if (intervalMs > 0) timers.push(reportIntervals(t, intervalMs, log));
      // iperf3's safety net: a test that runs 40 s past its length is over.
      const limitMs = params.time > 0 ? (params.time + params.omit + 40) * 1000 : 0;
      for (;;) {
        const state = limitMs > 0 ? await withTimeout(nextState, limitMs, 'TEST_END') : await nextState;
        if (state === TEST_END) break;
        if (state === CLIENT_TERMINATE) throw new Error('the client terminated the test');
        if (state !== TEST_START) throw new Error(`unexpected ${stateName(state)} while the test runs`);
        nextState = ctl.readState();
      }
      endMs = performance.now();
      t.state = TEST_END;
      await Promise.all(t.streams.map((s) => s.end(endMs)));
      await Promise.all(t.streams.filter((s) => s instanceof TcpDataStream).map((s) => s.close()));
      await ctl.writeState(EXCHANGE_RESULTS);
      t.state = EXCHANGE_RESULTS;
      const theirs = parseResults(await withTimeout(ctl.readJson(), setupTimeoutMs, 'the client\'s results'));
      if (typeof theirs === 'string') throw new Error(theirs);
      const unknown = theirs.streams.find((s) => !t.streams.some((m) => m.id === s.id));
      if (unknown) throw new Error(`the client's results name stream ${unknown.id}, which this test does not have`);
      const ours: TestResults = {
        ...cpuUtil(cpuStart, endMs - startMs),
        sender_has_retransmits: t.streams.some((s) => s.role === 'send') ? 0 : -1,
        streams: t.streams.map((s) => s.result()),
      };
      const summary = summarize(t, null);
      if (params.get_server_output) ours.server_output_text = describe(summary).join('\n') + '\n';
      await ctl.writeJson(ours);
      await ctl.writeState(DISPLAY_RESULTS);
      t.state = DISPLAY_RESULTS;
      const done = await withTimeout(ctl.readState(), setupTimeoutMs, 'IPERF_DONE').catch((err: unknown) => (err instanceof ControlClosedError ? IPERF_DONE : Promise.reject(err)));
      if (done !== IPERF_DONE) log(`iperf3 server: the client ended with ${stateName(done)} instead of IPERF_DONE`);
    } catch (err) {
      error = err instanceof ControlClosedError ? 'the client closed the control connection before the test ended' : err instanceof Error ? err.message : String(err);
      if (stopping) await ctl.writeState(SERVER_TERMINATE).catch(() => {});
    } finally {
      for (const timer of timers) clearInterval(timer);
      if (!endMs) endMs = performance.now();
      for (const s of t.streams) if (s.counting) await s.end(endMs, 0);
      await Promise.all(t.streams.map((s) => s.close().catch(() => {})));
      for (const s of t.udpByPeer.values()) if (!t.streams.includes(s)) await s.close();
      await t.udpSocket?.close().catch(() => {});
      await ctl.stream.close().catch(() => {});
    }
    const r = summarize(t, error);
    for (const line of describe(r)) log(line);
    report(r);
  };

  const serve = async (): Promise<void> => {
    while (!stopping) {
      // Its role and parameters are set once it turns out to be a data stream (acceptTcpStream).
      const stream = new TcpDataStream('receive', UNCONFIGURED);
      let conn: WskStream;
      try {
        conn = await listener.accept(tcpStreamEvents, stream);
      } catch (err) {
        if (stopping) break;
        log(`iperf3 server: accept failed: ${err instanceof WskError ? err.message : String(err)}`);
        continue;
      }
      stream.socket = conn;
      if (test === null) {
        const t = new Test(new ControlChannel(conn), conn.remote ? formatSockaddr(conn.remote) : '?');
        test = t;
        log(`iperf3 server: accepted control connection from ${t.client}`);
        running = runTest(t).finally(() => {
          test = null;
          if (o.oneOff) void stop();
        });
      } else if (test.state === CREATE_STREAMS && test.params.tcp) {
        void acceptTcpStream(test, conn, stream).catch(() => conn.close());
      } else {
        void refuse(conn);
      }
    }
  };

  const stop = async (): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    await listener.close().catch(() => {});
    // A running test learns SERVER_TERMINATE; closing its control connection ends its waits.
    const t = test as Test | null;
    if (t) {
      await t.control.writeState(SERVER_TERMINATE).catch(() => {});
      await t.control.stream.close().catch(() => {});
    }
    await running;
    await app.close();
    stoppedResolve();
  };

  void serve();
  log(`iperf3 server listening on ${formatSockaddr(local)}`);
  return {
    port,
    reports,
    nextReport: () => new Promise((resolve) => waiters.push(resolve)),
    stop,
    stopped,
  };
}

/** A progress line per stream (and their sum) every interval, from the counts the streams keep. */
function reportIntervals(t: Test, intervalMs: number, log: (line: string) => void): NodeJS.Timeout {
  const origin = performance.now();
  let last = origin;
  const lastBytes = new Map<DataStream, number>();
  return setInterval(() => {
    const now = performance.now();
    const seconds = (now - last) / 1000;
    const span = `${((last - origin) / 1000).toFixed(2)}-${((now - origin) / 1000).toFixed(2)} sec`;
    let sum = 0;
    for (const s of t.streams) {
      // A count that went down was reset when the omit period ended.
      const before = lastBytes.get(s) ?? 0;
      const delta = s.bytes >= before ? s.bytes - before : s.bytes;
      lastBytes.set(s, s.bytes);
      sum += delta;
      log(`[${String(s.id).padStart(3)}] ${span}  ${formatBytes(delta)}  ${formatRate((delta * 8) / seconds)}${s.role === 'send' ? '  (sent)' : ''}`);
    }
    if (t.streams.length > 1) log(`[SUM] ${span}  ${formatBytes(sum)}  ${formatRate((sum * 8) / seconds)}`);
    last = now;
  }, intervalMs);
}

/**
 * A UDP peer's address as a map key, without building a string per datagram: IPv4 (or
 * v4-mapped IPv6) address and port as one number; other IPv6 peers as text.
 */
function peerKey(a: SOCKADDR): number | string {
  if (sockaddrFamily(a) === AF_INET) {
    const v4 = a as SOCKADDR_IN;
    const b = v4.sin_addr;
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) * 65536 + v4.sin_port;
  }
  const b = (a as SOCKADDR_IN6).sin6_addr;
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) mapped = b[i] === 0;
  if (mapped) {
    return (((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0) * 65536 + (a as SOCKADDR_IN6).sin6_port;
  }
  return formatSockaddr(a);
}

function serverError(iErrno: number, errno: number): Uint8Array {
  const b = new Uint8Array(9);
  const v = new DataView(b.buffer);
  b[0] = SERVER_ERROR & 0xff;
  v.setInt32(1, iErrno);
  v.setInt32(5, errno);
  return b;
}

/** The test's UDP socket on the listener's port; an IPv6 one where the provider has no IPv6 datagrams falls back to IPv4. */
async function openUdpSocket(app: WskApp, local: SOCKADDR, events: WSK_CLIENT_DATAGRAM_DISPATCH, t: Test): Promise<WskDatagram> {
  const port = Number(formatSockaddr(local).split(':').pop());
  let sock: WskDatagram;
  try {
    sock = await app.datagram(local, events, t);
  } catch (err) {
    if (sockaddrFamily(local) !== AF_INET6) throw err;
    sock = await app.datagram(makeSockaddrIn('0.0.0.0', port), events, t);
  }
  await sock.enableEvents(WSK_EVENT_RECEIVE_FROM);
  return sock;
}

function summarize(t: Test, error: string | null): ServerTestReport {
  const udp = t.params?.udp === true;
  const streams = t.streams.map((s) => {
    const seconds = Math.max(1e-9, (s.endMs - s.startMs) / 1000);
    const row: ServerTestReport['streams'][number] = { id: s.id, role: s.role, bytes: s.bytes, seconds, bitsPerSecond: (s.bytes * 8) / seconds };
    if (udp && s.role === 'receive') Object.assign(row, { jitterMs: s.jitter * 1000, lost: s.errors, packets: s.packets, outOfOrder: s.outOfOrder });
    return row;
  });
  const sum = (role: StreamRole): { bytes: number; bitsPerSecond: number } => {
    const rows = streams.filter((s) => s.role === role);
    const bytes = rows.reduce((a, s) => a + s.bytes, 0);
    const seconds = rows.reduce((a, s) => Math.max(a, s.seconds), 0);
    return { bytes, bitsPerSecond: seconds > 0 ? (bytes * 8) / seconds : 0 };
  };
  return {
    client: t.client, protocol: udp ? 'udp' : 'tcp', reverse: t.params?.reverse === true, bidirectional: t.params?.bidirectional === true,
    streams, received: sum('receive'), sent: sum('send'), error,
  };
}

/** The server's report lines (also what --get-server-output returns). */
export function describe(r: ServerTestReport): string[] {
  const lines = [`test from ${r.client}: ${r.protocol}${r.reverse ? ' reverse' : ''}${r.bidirectional ? ' bidirectional' : ''}, ${r.streams.length} stream(s)${r.error ? `: FAILED: ${r.error}` : ''}`];
  for (const s of r.streams) {
    const udp = s.jitterMs !== undefined ? `  jitter ${s.jitterMs.toFixed(3)} ms  lost ${s.lost}/${s.packets}` : '';
    lines.push(`[${String(s.id).padStart(3)}] ${s.role === 'send' ? 'sent    ' : 'received'} ${formatBytes(s.bytes)} in ${s.seconds.toFixed(2)} s = ${formatRate(s.bitsPerSecond)}${udp}`);
  }
  if (r.received.bytes > 0) lines.push(`[SUM] received ${formatBytes(r.received.bytes)} = ${formatRate(r.received.bitsPerSecond)}`);
  if (r.sent.bytes > 0) lines.push(`[SUM] sent     ${formatBytes(r.sent.bytes)} = ${formatRate(r.sent.bitsPerSecond)}`);
  return lines;
}

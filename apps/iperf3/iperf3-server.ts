// An iperf3-compatible server written only against WSK: stock `iperf3 -c` (TCP, -R, --bidir,
// -P, -u with a bitrate, -O, -n/-k, -w, -C, -J, --get-server-output) runs its tests against it.
// One test at a time, like iperf3: a connection that arrives while a test runs is told
// ACCESS_DENIED. Incoming TCP connections are told apart by the server's state, as iperf3
// does: idle → a control connection; CREATE_STREAMS → a data stream (checked by its cookie).
// It prints what `iperf3 -s` prints, and keeps each test's `iperf3 -s -J` report.
import {
  AF_INET, AF_INET6, IPPROTO_TCP, makeSockaddrIn, makeSockaddrIn6, SO_RCVBUF, SOL_SOCKET, sockaddrFamily, STATUS_SUCCESS, TCP_CONGESTION_ALGORITHM,
  WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM,
  type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_CLIENT_DATAGRAM_DISPATCH, type WskSubsystem,
} from '../../index.ts';
import {
  formatSockaddr, sockaddr, sockaddrHost, sockaddrPort, WskApp, WskError, type WskDatagram, type WskListener, type WskStream,
} from '../common/wsk-io.ts';
import { withTimeout } from '../common/timeout.ts';
import { ControlChannel, ControlClosedError } from './control-channel.ts';
import { countDatagram, tcpStreamEvents, TcpDataStream, UdpDataStream, type DataStream, type SendBudget, type StreamRole } from './data-streams.ts';
import {
  ACCESS_DENIED, CLIENT_TERMINATE, COOKIE_SIZE, CREATE_STREAMS, cpuUtil, DISPLAY_RESULTS, EXCHANGE_RESULTS, IERECVPARAMS,
  IESETBUF, IESETCONGESTION, IESTREAMLISTEN, IPERF3_DEFAULT_PORT, IPERF_DONE, PARAM_EXCHANGE, parseParams, parseResults, sameCookie,
  SERVER_ERROR, SERVER_TERMINATE, stateName, streamId, TEST_END, TEST_RUNNING, TEST_START, UDP_CONNECT_REPLY, type TestParams, type TestResults,
} from './iperf3-protocol.ts';
import { IPERF3_VERSION, startingTestLine, systemInfo, testStartJson, TestRun, timestamp, type Json } from './test-run.ts';
import type { UnitFormat } from './units.ts';

export interface Iperf3ServerOptions {
  subsystem?: WskSubsystem;
  /** Address to listen on; default [::] (dual-stack). */
  address?: string;
  port?: number;
  /** Serve one test, then stop (iperf3 -s -1). */
  oneOff?: boolean;
  /** Seconds between the interval reports of a running test, as `iperf3 -s -i` (0: one for the whole test; default 1). */
  interval?: number;
  /** -f: the unit of rates in the text. */
  format?: UnitFormat;
  /** -V: iperf3's verbose lines. */
  verbose?: boolean;
  /** -J: no text; each test's report is its iperf3 JSON (ServerTestReport.json), also what --get-server-output returns. */
  json?: boolean;
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
  /** What `iperf3 -s -J` prints for the test (with "error" when it failed). */
  json: Json;
}

export interface Iperf3Server {
  readonly port: number;
  readonly reports: ServerTestReport[];
  /** The next test's report, once it has ended (completed or failed). */
  nextReport(): Promise<ServerTestReport>;
  /** Resolves when the next test is running (TEST_RUNNING sent: its streams are connected). */
  nextStart(): Promise<void>;
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
  /** -J's start object, filled in as the test sets up. */
  readonly start: Json & { connected: Json[] } = { connected: [], version: IPERF3_VERSION, system_info: systemInfo() };
  run: TestRun | null = null;
  /** The server's sending streams share the client's -n / -k (iperf3's server stops sending there). */
  budget: SendBudget = { bytes: Infinity, blocks: Infinity };
  /** This test's text lines (what --get-server-output returns). */
  readonly lines: string[] = [];
  end: Json = {};
  congestionUsed: string | null = null;
  udpSocket: WskDatagram | null = null;
  readonly udpByPeer = new Map<number | string, UdpDataStream>();
  streamsReady!: () => void;
  /** A data stream could not be given what the client asked (-w, -C): the test ends with this error. */
  streamsFailed!: (err: Error) => void;
  readonly allStreams = new Promise<void>((resolve, reject) => { this.streamsReady = resolve; this.streamsFailed = reject; });

  /** `local`: the control connection's local address (where the client reached us); `log`: the server's text output. */
  constructor(readonly control: ControlChannel, readonly client: string, readonly local: SOCKADDR, private readonly log: (line: string) => void) {}

  /** Text lines of this test: printed, and kept for --get-server-output. */
  say(lines: string[]): void {
    for (const line of lines) {
      this.lines.push(line);
      this.log(line);
    }
  }

  /** What `iperf3 -s -J` prints for the test. */
  json(error: string | null): Json {
    return { start: this.start, intervals: this.run?.intervals ?? [], end: this.end, ...(error ? { error } : {}) };
  }

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
  const app = await WskApp.register(o.subsystem);
  let listener: WskListener;
  try {
    listener = await app.listen(o.address ? sockaddr(o.address, o.port ?? IPERF3_DEFAULT_PORT) : makeSockaddrIn6('::', o.port ?? IPERF3_DEFAULT_PORT));
  } catch (err) {
    await app.close();
    throw err;
  }
  const local = await listener.localAddress();
  const port = sockaddrPort(local);
  const reports: ServerTestReport[] = [];
  const waiters: ((r: ServerTestReport) => void)[] = [];
  const startWaiters: (() => void)[] = [];
  let test: Test | null = null;
  let testNumber = 0;
  let stopping = false;
  let stoppedResolve!: () => void;
  const stopped = new Promise<void>((resolve) => { stoppedResolve = resolve; });
  let running: Promise<void> = Promise.resolve();

  const banner = (): void => {
    if (o.json) return;
    testNumber++;
    const rule = '-'.repeat(59);
    for (const line of [rule, `Server listening on ${port} (test #${testNumber})`, rule]) log(line);
  };

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

  /** A stream joins the test: its start entry and its "connected" line (the local side as the client reached it). */
  const connected = (t: Test, s: DataStream, localAddress: SOCKADDR, remote: SOCKADDR): void => {
    t.start.connected.push({
      socket: s.id, local_host: sockaddrHost(localAddress), local_port: sockaddrPort(localAddress), remote_host: sockaddrHost(remote), remote_port: sockaddrPort(remote),
    });
    t.say([`[${String(s.id).padStart(3)}] local ${sockaddrHost(localAddress)} port ${sockaddrPort(localAddress)} connected to ${sockaddrHost(remote)} port ${sockaddrPort(remote)}`]);
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
          const s = new UdpDataStream(t.nextRole(), t.params, structuredClone(d.RemoteAddress), false, t.budget);
          s.socket = t.udpSocket;
          t.udpByPeer.set(key, s);
          void t.udpSocket!.sendTo(UDP_CONNECT_REPLY, s.remote).then(() => {
            t.add(s);
            connected(t, s, t.local, s.remote);
          }, (err: unknown) => log(`iperf3 server: UDP handshake reply to ${formatSockaddr(s.remote)} failed: ${String(err)}`));
        }
      }
      return STATUS_SUCCESS;
    },
  };

  /** A data stream during CREATE_STREAMS: its cookie must be the control connection's; then -w and -C as the client asked. */
  const acceptTcpStream = async (t: Test, conn: WskStream, stream: TcpDataStream): Promise<void> => {
    const cookie = await withTimeout(new ControlChannel(conn).readExact(COOKIE_SIZE), setupTimeoutMs, 'a data stream\'s cookie').catch(() => null);
    if (!cookie || !sameCookie(cookie, t.cookie) || t.state !== CREATE_STREAMS || t.streams.length >= t.wanted) {
      await refuse(conn);
      return;
    }
    stream.role = t.nextRole();
    stream.params = t.params;
    stream.budget = t.budget;
    // iperf3's server tells the client with SERVER_ERROR, and the test is over.
    const refuseOption = async (iErrno: number, errno: number, what: string, err: unknown): Promise<never> => {
      await t.control.writeBytes(serverError(iErrno, errno)).catch(() => {});
      const failure = new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      t.streamsFailed(failure);
      throw failure;
    };
    if (t.params.window) {
      await conn.setOption(SOL_SOCKET, SO_RCVBUF, t.params.window).catch((err: unknown) => refuseOption(IESETBUF, 22 /* EINVAL */, `unable to set the socket buffer to ${t.params.window}`, err));
    }
    if (t.params.congestion) {
      await conn.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, t.params.congestion)
        .catch((err: unknown) => refuseOption(IESETCONGESTION, 2 /* ENOENT */, `unable to set the congestion control '${t.params.congestion}'`, err));
    }
    await conn.enableEvents(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
    t.congestionUsed = await conn.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM);
    t.add(stream);
    connected(t, stream, await conn.localAddress(), conn.remote!);
  };

  const runTest = async (t: Test): Promise<void> => {
    const ctl = t.control;
    let error: string | null = null;
    let startMs = 0;
    let endMs = 0;
    let cpuStart = process.cpuUsage();
    try {
      t.cookie = await withTimeout(ctl.readExact(COOKIE_SIZE), setupTimeoutMs, 'the cookie');
      Object.assign(t.start, { timestamp: timestamp() });
      const remote = t.control.stream.remote;
      if (remote) Object.assign(t.start, { accepted_connection: { host: sockaddrHost(remote), port: sockaddrPort(remote) } });
      if (o.verbose) t.say([`Time: ${(t.start.timestamp as { time: string }).time}`]);
      t.say([`Accepted connection from ${remote ? sockaddrHost(remote) : '?'}, port ${remote ? sockaddrPort(remote) : 0}`]);
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
      const serverSends = params.reverse || params.bidirectional;
      if (serverSends) t.budget = { bytes: params.num || Infinity, blocks: params.blockcount || Infinity };
      const cookieText = new TextDecoder().decode(t.cookie.subarray(0, 36));
      Object.assign(t.start, { cookie: cookieText }, params.udp ? {} : { tcp_mss_default: (await ctl.stream.tcpInfo().catch(() => null))?.Mss ?? 0 }, { target_bitrate: params.bandwidth });
      if (o.verbose) t.say([`      Cookie: ${cookieText}`]);
      if (params.udp) {
        try {
          t.udpSocket = await openUdpSocket(app, local, udpEvents, t);
          if (params.window) await t.udpSocket.setOption(SOL_SOCKET, SO_RCVBUF, params.window);
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
      const first = t.streams[0]!;
      const firstSocket = first instanceof TcpDataStream ? first.socket! : t.udpSocket!;
      Object.assign(t.start, { sock_bufsize: params.window ?? 0, sndbuf_actual: first.sendBuffer, rcvbuf_actual: await firstSocket.getOption(SOL_SOCKET, SO_RCVBUF) });
      const sender = t.streams.find((s) => s.sender);
      const ownRetransmits = !params.udp && sender !== undefined && (await sender.tcpInfo()) !== null;
      t.state = TEST_START;
      await ctl.writeState(TEST_START);
      t.start.test_start = testStartJson(params);
      if (o.verbose) t.say([startingTestLine(params)]);
      t.run = new TestRun({
        role: 's', params, streams: t.streams, ownRetransmits, interval: o.interval ?? 1, format: o.format ?? 'a', verbose: o.verbose === true,
        emit: (lines) => t.say(lines),
      });
      cpuStart = process.cpuUsage();
      startMs = performance.now();
      t.run.start(startMs);
      t.state = TEST_RUNNING;
      await ctl.writeState(TEST_RUNNING);
      for (const w of startWaiters.splice(0)) w();
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
      await t.run.finish(endMs);
      // Senders wait for what they posted to be acknowledged, and the client counts until EXCHANGE_RESULTS: the counts agree.
      await Promise.all(t.streams.map((s) => s.end(endMs)));
      for (const s of t.streams) s.counting = false;
      const cpu = cpuUtil(cpuStart, endMs - startMs);
      // iperf3 closes its data sockets here; a WSK socket is closed once the client has ended its side too (in finally).
      await Promise.all(t.streams.map((s) => (s instanceof TcpDataStream ? s.finishSending() : undefined)));
      await ctl.writeState(EXCHANGE_RESULTS);
      t.state = EXCHANGE_RESULTS;
      const theirs = parseResults(await withTimeout(ctl.readJson(), setupTimeoutMs, 'the client\'s results'));
      if (typeof theirs === 'string') throw new Error(theirs);
      for (const r of theirs.streams) {
        const s = t.streams.find((m) => m.id === r.id);
        if (!s) throw new Error(`the client's results name stream ${r.id}, which this test does not have`);
        s.peer = r;
      }
      const summary = t.run.summary({
        cpu, remoteCpu: theirs, congestionUsed: t.congestionUsed, remoteCongestionUsed: theirs.congestion_used ?? null,
      }, theirs.sender_has_retransmits === 1);
      t.end = summary.json;
      t.say(summary.lines);
      const ours: TestResults = {
        ...cpu, sender_has_retransmits: !serverSends ? -1 : ownRetransmits ? 1 : 0,
        streams: t.streams.map((s) => s.result(ownRetransmits)),
      };
      if (t.congestionUsed) ours.congestion_used = t.congestionUsed;
      if (params.get_server_output) {
        if (o.json) ours.server_output_json = t.json(null);
        else ours.server_output_text = t.lines.join('\n') + '\n';
      }
      await ctl.writeJson(ours);
      await ctl.writeState(DISPLAY_RESULTS);
      t.state = DISPLAY_RESULTS;
      const done = await withTimeout(ctl.readState(), setupTimeoutMs, 'IPERF_DONE').catch((err: unknown) => (err instanceof ControlClosedError ? IPERF_DONE : Promise.reject(err)));
      if (done !== IPERF_DONE) log(`iperf3 server: the client ended with ${stateName(done)} instead of IPERF_DONE`);
    } catch (err) {
      error = err instanceof ControlClosedError ? 'the client closed the control connection before the test ended' : err instanceof Error ? err.message : String(err);
      if (stopping) await ctl.writeState(SERVER_TERMINATE).catch(() => {});
      if (!o.json) log(`iperf3: error - ${error}`);
    } finally {
      if (!endMs) endMs = performance.now();
      await t.run?.finish(endMs).catch(() => {});
      for (const s of t.streams) if (s.counting || s.sending) await s.end(endMs, 0);
      // The client closes its streams before it sends IPERF_DONE (and when told SERVER_TERMINATE):
      // wait a little for those ends, so that ours are graceful. A client that failed the test gets none.
      const peerMs = error === null || stopping ? 1000 : 0;
      await Promise.all(t.streams.map((s) => s.close(peerMs).catch(() => {})));
      for (const s of t.udpByPeer.values()) if (!t.streams.includes(s)) await s.close();
      await t.udpSocket?.close().catch(() => {});
      await ctl.close(peerMs).catch(() => {});
    }
    report(summarize(t, error));
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
        const t = new Test(new ControlChannel(conn), conn.remote ? formatSockaddr(conn.remote) : '?', await conn.localAddress().catch(() => local), o.json ? () => {} : log);
        test = t;
        running = runTest(t).finally(() => {
          test = null;
          if (o.oneOff) void stop();
          else if (!stopping) banner();
        });
      } else if (test.state === CREATE_STREAMS && test.params.tcp) {
        const t = test;
        void acceptTcpStream(t, conn, stream).catch(() => conn.close());
      } else {
        void refuse(conn);
      }
    }
  };

  const stop = async (): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    await listener.close().catch(() => {});
    // A running test learns SERVER_TERMINATE; closing its control connection (gracefully, so the
    // word is read before the end) ends its waits.
    const t = test as Test | null;
    if (t) {
      await t.control.writeState(SERVER_TERMINATE).catch(() => {});
      await t.control.close(1000).catch(() => {});
    }
    await running;
    await app.close();
    stoppedResolve();
  };

  void serve();
  if (o.verbose && !o.json) for (const line of [IPERF3_VERSION, systemInfo()]) log(line);
  banner();
  return {
    port,
    reports,
    nextReport: () => new Promise((resolve) => waiters.push(resolve)),
    nextStart: () => new Promise((resolve) => startWaiters.push(resolve)),
    stop,
    stopped,
  };
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
    streams, received: sum('receive'), sent: sum('send'), error, json: t.json(error),
  };
}

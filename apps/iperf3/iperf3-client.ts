// An iperf3-compatible client written only against WSK: runs a test against a stock `iperf3 -s`
// (or our server): TCP or UDP, reverse or bidirectional, parallel streams, a bitrate, an omit
// period, a duration or a byte/block limit, a socket buffer (-w) and a congestion control (-C).
// It prints what `iperf3 -c` prints (interval lines on the -i grid, per-stream and [SUM] lines,
// [TX-C]/[RX-C] with --bidir, the summary) and resolves with what `iperf3 -c -J` prints.
import { randomBytes } from 'node:crypto';
import {
  AF_INET6, IPPROTO_TCP, SO_RCVBUF, SOL_SOCKET, sockaddrFamily, STATUS_NOT_FOUND, TCP_CONGESTION_ALGORITHM, wskBufToBytes,
  WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type WskSubsystem,
} from '../../index.ts';
import { sockaddrHost, sockaddrPort, WskApp, WskError, type WskSocketHandle } from '../common/wsk-io.ts';
import { withTimeout } from '../common/timeout.ts';
import { ControlChannel, ControlClosedError } from './control-channel.ts';
import { tcpStreamEvents, TcpDataStream, udpStreamEvents, UdpDataStream, type DataStream, type SendBudget, type StreamRole } from './data-streams.ts';
import {
  ACCESS_DENIED, CREATE_STREAMS, cpuUtil, DEFAULT_TCP_LEN, DEFAULT_UDP_BANDWIDTH, DEFAULT_UDP_LEN, DISPLAY_RESULTS,
  EXCHANGE_RESULTS, IPERF3_DEFAULT_PORT, IPERF_DONE, iperfErrorText, isUdpConnectReply, makeCookie, PARAM_EXCHANGE, parseResults,
  SERVER_ERROR, SERVER_TERMINATE, stateName, streamId, TEST_END, TEST_RUNNING, TEST_START, UDP_CONNECT_MSG,
  type TestParams, type TestResults,
} from './iperf3-protocol.ts';
import { IPERF3_VERSION, startingTestLine, systemInfo, testStartJson, TestRun, timestamp, type Json } from './test-run.ts';
import type { UnitFormat } from './units.ts';

export interface Iperf3ClientOptions {
  subsystem?: WskSubsystem;
  /** The server: a host name (resolved with WskGetAddressInfo) or an address. */
  host: string;
  port?: number;
  /** -B: the local address of every connection. */
  bind?: string;
  udp?: boolean;
  /** Seconds (iperf3 -t); 0 with bytes or blocks. */
  time?: number;
  /** Total bytes to send, or to receive with reverse (-n). */
  bytes?: number;
  /** Total blocks (-k). */
  blocks?: number;
  parallel?: number;
  reverse?: boolean;
  bidirectional?: boolean;
  /** Bits per second per stream (-b); 0 = unlimited. UDP default 1 Mbit/s, as iperf3. */
  bandwidth?: number;
  /** Block or datagram size (-l). */
  len?: number;
  /** Seconds at the start not counted (-O). */
  omit?: number;
  /** -w: socket buffer bytes on both sides' data streams. */
  window?: number;
  /** -C: the congestion control of both sides' TCP data streams, by name. */
  congestion?: string;
  udp64?: boolean;
  getServerOutput?: boolean;
  /** Seconds between interval reports (-i; 0: one for the whole test). Default 1. */
  interval?: number;
  /** -f: the unit of rates (default 'a'). */
  format?: UnitFormat;
  /** -V: iperf3's verbose lines. */
  verbose?: boolean;
  /** How long to wait for the server at each setup step. */
  setupTimeoutMs?: number;
  /** iperf3's text output, line by line. */
  log?: (line: string) => void;
}

/** iperf3 -J's end.sum_sent / end.sum_received shape (and end.sum for UDP). */
export interface Iperf3Sum {
  start: number;
  end: number;
  seconds: number;
  bytes: number;
  bits_per_second: number;
  retransmits?: number;
  jitter_ms?: number;
  lost_packets?: number;
  packets?: number;
  lost_percent?: number;
  sender: boolean;
}

/** What `iperf3 -c -J` prints (iperf 3.12's layout); `error` only on failure. */
export interface Iperf3ClientReport {
  start: Json & { connected: Json[]; test_start?: Json };
  intervals: Json[];
  end: Json & { streams: Json[]; sum_sent: Iperf3Sum; sum_received: Iperf3Sum; sum?: Iperf3Sum; cpu_utilization_percent: Json };
  server_output_text?: string;
  server_output_json?: unknown;
  error?: string;
}

/** What the control watch reports instead of a state byte (no state byte is below -2). */
const CONTROL_CLOSED = -100;
const CONTROL_FAILED = -101;

export class Iperf3Error extends Error {
  override name = 'Iperf3Error';
  /** What -J prints for the failed test: the start so far and the error. */
  report: Partial<Iperf3ClientReport> | null = null;
}

/** Runs one test and resolves with the report; rejects with Iperf3Error saying what went wrong. */
export async function runIperf3Client(o: Iperf3ClientOptions): Promise<Iperf3ClientReport> {
  const log = o.log ?? (() => {});
  const emit = (lines: string[]): void => { for (const line of lines) log(line); };
  const udp = o.udp === true;
  const port = o.port ?? IPERF3_DEFAULT_PORT;
  const parallel = o.parallel ?? 1;
  const params: TestParams = {
    omit: o.omit ?? 0, time: o.bytes || o.blocks ? 0 : (o.time ?? 10), num: o.bytes ?? 0, blockcount: o.blocks ?? 0, parallel,
    len: o.len ?? (udp ? DEFAULT_UDP_LEN : DEFAULT_TCP_LEN), bandwidth: o.bandwidth ?? (udp ? DEFAULT_UDP_BANDWIDTH : 0),
    pacing_timer: 1000, client_version: '3.12',
  };
  // Flags are "on" by being present: a stock server reads `"reverse": false` as reverse.
  if (udp) params.udp = true; else params.tcp = true;
  if (o.reverse) params.reverse = true;
  if (o.bidirectional) params.bidirectional = true;
  if (o.window) params.window = o.window;
  if (o.congestion) params.congestion = o.congestion;
  if (o.udp64) params.udp_counters_64bit = true;
  if (o.getServerOutput) params.get_server_output = true;
  const setupTimeoutMs = o.setupTimeoutMs ?? 30_000;
  const start: Iperf3ClientReport['start'] = { connected: [], version: IPERF3_VERSION, system_info: systemInfo() };
  if (o.verbose) emit([IPERF3_VERSION, systemInfo()]);

  const app = await WskApp.register(o.subsystem);
  const streams: DataStream[] = [];
  let ctl: ControlChannel | null = null;
  try {
    const fail = (what: string): never => { throw new Iperf3Error(what); };
    const expectState = async (want: number, what: string): Promise<void> => {
      const state = await withTimeout(ctl!.readState(), setupTimeoutMs, what);
      if (state === want) return;
      if (state === ACCESS_DENIED) fail('the server is busy running a test; try again later');
      if (state === SERVER_ERROR) {
        const b = await ctl!.readExact(8);
        const v = new DataView(b.buffer, b.byteOffset);
        const text = iperfErrorText(v.getInt32(0));
        fail(`the server reported an error: ${text ?? `iperf error ${v.getInt32(0)}`} (errno ${v.getInt32(4)})`);
      }
      if (state === SERVER_TERMINATE) fail('the server has terminated');
      fail(`expected ${stateName(want)} from the server, got ${stateName(state)}`);
    };

    const { control, remote } = await connectControl(app, o.host, port, o.bind);
    ctl = new ControlChannel(control);
    const controlLocal = await control.localAddress();
    const mss = udp ? 0 : (await control.tcpInfo().catch(() => null))?.Mss ?? 0;
    if (o.verbose && !udp) log(`Control connection MSS ${mss}`);
    Object.assign(start, { timestamp: timestamp(), connecting_to: { host: o.host, port } });
    if (o.verbose) log(`Time: ${(start.timestamp as { time: string }).time}`);
    log(`Connecting to host ${o.host}, port ${port}`);
    if (o.reverse) log(`Reverse mode, remote host ${o.host} is sending`);
    const cookie = makeCookie((n) => randomBytes(n));
    const cookieText = new TextDecoder().decode(cookie.subarray(0, 36));
    Object.assign(start, { cookie: cookieText }, udp ? {} : { tcp_mss_default: mss }, { target_bitrate: params.bandwidth });
    if (o.verbose) {
      log(`      Cookie: ${cookieText}`);
      if (!udp) log(`      TCP MSS: ${mss} (default)`);
      if (params.bandwidth) log(`      Target Bitrate: ${params.bandwidth}`);
    }
    await ctl.writeBytes(cookie);
    await expectState(PARAM_EXCHANGE, 'PARAM_EXCHANGE');
    await ctl.writeJson(params);
    await expectState(CREATE_STREAMS, 'CREATE_STREAMS');

    // Data streams leave from the control connection's local address (what -B chose, or the route's), as iperf3's do.
    const local = o.bind ? anyPort(controlLocal) : null;
    const udpLocal = anyPort(controlLocal);
    const total = parallel * (o.bidirectional ? 2 : 1);
    const limited = !o.reverse || o.bidirectional;
    const budget: SendBudget = { bytes: limited && params.num ? params.num : Infinity, blocks: limited && params.blockcount ? params.blockcount : Infinity };
    let congestionUsed: string | null = null;
    for (let i = 0; i < total; i++) {
      const role: StreamRole = o.bidirectional ? (i < parallel ? 'send' : 'receive') : o.reverse ? 'receive' : 'send';
      const s = udp ? await openUdpStream(app, role, params, remote, udpLocal, setupTimeoutMs, budget) : await openTcpStream(app, role, params, remote, local, cookie, budget);
      s.id = streamId(i);
      streams.push(s);
      const socket = s instanceof TcpDataStream ? s.socket! : (s as UdpDataStream).socket!;
      const l = await socket.localAddress();
      start.connected.push({ socket: s.id, local_host: sockaddrHost(l), local_port: sockaddrPort(l), remote_host: sockaddrHost(remote), remote_port: port });
      log(`[${String(s.id).padStart(3)}] local ${sockaddrHost(l)} port ${sockaddrPort(l)} connected to ${sockaddrHost(remote)} port ${port}`);
      if (s instanceof TcpDataStream) congestionUsed = await s.socket!.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM);
    }
    const first = streams[0]!;
    Object.assign(start, {
      sock_bufsize: params.window ?? 0, sndbuf_actual: first.sendBuffer,
      rcvbuf_actual: await (first instanceof TcpDataStream ? first.socket! : (first as UdpDataStream).socket!).getOption(SOL_SOCKET, SO_RCVBUF),
    });
    const sender = streams.find((s) => s.sender);
    const ownRetransmits = !udp && sender !== undefined && (await sender.tcpInfo()) !== null;
    await expectState(TEST_START, 'TEST_START');
    start.test_start = testStartJson(params);
    if (o.verbose) log(startingTestLine(params));
    await expectState(TEST_RUNNING, 'TEST_RUNNING');

    const run = new TestRun({
      role: 'c', params, streams, ownRetransmits, interval: o.interval ?? 1, format: o.format ?? 'a', verbose: o.verbose === true, emit,
    });
    const cpuStart = process.cpuUsage();
    const startMs = performance.now();
    // The client ends the test: its timer, -n / -k reached, a stream that failed, or the server.
    let ended!: () => void;
    const end = new Promise<void>((resolve) => { ended = resolve; });
    const counted = streams.filter((s) => s.role === (o.reverse && !o.bidirectional ? 'receive' : 'send'));
    // Checked as bytes count (per block or indication): plain loops, nothing allocated.
    const limitReached = (): void => {
      if (run.omitting) return;
      let bytes = 0;
      let blocks = 0;
      for (let i = 0; i < counted.length; i++) { bytes += counted[i]!.bytes; blocks += counted[i]!.blocks; }
      if ((params.num > 0 && bytes >= params.num) || (params.blockcount > 0 && blocks >= params.blockcount)) ended();
    };
    const failedStream = (): TcpDataStream | undefined => streams.find((s): s is TcpDataStream => s instanceof TcpDataStream && (s.failure !== 0 || (s.peerClosed && s.sender)));
    for (const s of streams) {
      if (params.num > 0 || params.blockcount > 0) s.onCount = limitReached;
      s.onFailure = () => { if (failedStream()) ended(); };
    }
    const timer = params.time > 0 ? setTimeout(ended, (params.time + params.omit) * 1000) : null;
    const controlEvent = ctl.readState().then((state) => state, (err: unknown) => (err instanceof ControlClosedError ? CONTROL_CLOSED : CONTROL_FAILED));
    run.start(startMs);
    let early = await Promise.race([end.then(() => null), controlEvent]);
    if (timer) clearTimeout(timer);
    for (const s of streams) { s.onCount = null; s.onFailure = null; }
    // A server that stops closes its streams right after it says so: its word explains the closed stream.
    if (early === null && failedStream()) early = await withTimeout(controlEvent, 1000, 'the server').catch(() => null);
    if (early !== null) {
      if (early === SERVER_TERMINATE) fail('the server has terminated');
      if (early === CONTROL_CLOSED) fail('the server closed the control connection during the test');
      if (early === CONTROL_FAILED) fail('the control connection failed during the test');
      fail(`unexpected ${stateName(early)} during the test`);
    }
    const failed = failedStream();
    if (failed) fail(`stream ${failed.id} ended early (${failed.failure !== 0 ? `send failed: 0x${(failed.failure >>> 0).toString(16)}` : 'the server closed it'})`);
    const endMs = performance.now();
    await run.finish(endMs);
    // Senders wait for what they posted to be acknowledged; receivers count on until the server
    // answers TEST_END (it has stopped sending then), so both sides count the same bytes.
    await Promise.all(streams.map((s) => s.end(endMs)));
    const cpu = cpuUtil(cpuStart, endMs - startMs);
    await ctl.writeState(TEST_END);
    const next = await withTimeout(controlEvent, setupTimeoutMs, 'EXCHANGE_RESULTS');
    for (const s of streams) s.counting = false;
    if (next !== EXCHANGE_RESULTS) {
      if (next === SERVER_TERMINATE) fail('the server has terminated');
      fail(`expected EXCHANGE_RESULTS from the server, got ${next === CONTROL_CLOSED ? 'a closed connection' : next === CONTROL_FAILED ? 'a failed connection' : stateName(next)}`);
    }
    const ours: TestResults = {
      ...cpu, sender_has_retransmits: o.reverse && !o.bidirectional ? -1 : ownRetransmits ? 1 : 0,
      streams: streams.map((s) => s.result(ownRetransmits)),
    };
    if (congestionUsed) ours.congestion_used = congestionUsed;
    await ctl.writeJson(ours);
    const theirs = parseResults(await withTimeout(ctl.readJson(), setupTimeoutMs, 'the server\'s results'));
    if (typeof theirs === 'string') fail(`unable to receive results: ${theirs}`);
    const server = theirs as TestResults;
    for (const r of server.streams) {
      const s = streams.find((x) => x.id === r.id);
      if (!s) fail(`the server's results name stream ${r.id}, which this test does not have`);
      s!.peer = r;
    }
    await expectState(DISPLAY_RESULTS, 'DISPLAY_RESULTS');
    await Promise.all(streams.map((s) => s.close()));
    await ctl.writeState(IPERF_DONE);
    await ctl.close(1000);
    ctl = null;

    const summary = run.summary({
      cpu, remoteCpu: server, congestionUsed, remoteCongestionUsed: server.congestion_used ?? null,
    }, server.sender_has_retransmits === 1);
    emit(summary.lines);
    if (o.getServerOutput && server.server_output_json !== undefined) emit(['', 'Server JSON output:', JSON.stringify(server.server_output_json, null, '\t')]);
    else if (o.getServerOutput && server.server_output_text !== undefined) emit(['', 'Server output:', server.server_output_text]);
    emit(['', 'iperf Done.']);
    const report: Iperf3ClientReport = { start, intervals: run.intervals, end: summary.json as Iperf3ClientReport['end'] };
    if (o.getServerOutput && server.server_output_json !== undefined) report.server_output_json = server.server_output_json;
    else if (o.getServerOutput && server.server_output_text !== undefined) report.server_output_text = server.server_output_text;
    return report;
  } catch (err) {
    const e = err instanceof Iperf3Error ? err
      : new Iperf3Error(err instanceof ControlClosedError ? 'the server closed the control connection' : err instanceof Error ? err.message : String(err));
    e.report = { start, intervals: [], end: {} as Iperf3ClientReport['end'], error: e.message };
    throw e;
  } finally {
    await Promise.all(streams.map((s) => s.close().catch(() => {})));
    await ctl?.stream.close().catch(() => {});
    await app.close();
  }
}

/**
 * The control connection to the first of the host's addresses that answers (WskGetAddressInfo's
 * order), from the -B address when one is given.
 */
async function connectControl(app: WskApp, host: string, port: number, bind: string | undefined): Promise<{ control: Awaited<ReturnType<WskApp['connect']>>; remote: SOCKADDR }> {
  const addresses = await app.resolve(host, port).catch((err: unknown) => {
    const notFound = err instanceof WskError && err.status === STATUS_NOT_FOUND;
    throw new Iperf3Error(`unable to resolve host '${host}'${notFound ? ': no such name' : `: ${err instanceof Error ? err.message : String(err)}`}`);
  });
  let local: SOCKADDR | null = null;
  if (bind) {
    const mine = await app.resolve(bind, 0).catch(() => [] as SOCKADDR[]);
    if (mine.length === 0) throw new Iperf3Error(`unable to resolve the bind address '${bind}'`);
    local = mine[0]!;
  }
  const candidates = local ? addresses.filter((a) => sockaddrFamily(a) === sockaddrFamily(local!)) : addresses;
  if (candidates.length === 0) throw new Iperf3Error(`'${host}' has no address of the bind address ${bind}'s family`);
  let lastError: unknown = null;
  for (const remote of candidates) {
    try {
      return { control: await app.connect(remote, local), remote };
    } catch (err) {
      lastError = err;
    }
  }
  throw new Iperf3Error(`unable to connect to ${host}:${port}: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}

/** The options iperf3 sets on a data stream's socket before it connects: -w and -C. */
async function configureStream(s: WskSocketHandle, params: TestParams): Promise<void> {
  if (params.window) await s.setOption(SOL_SOCKET, SO_RCVBUF, params.window);
  if (params.congestion) {
    await s.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, params.congestion).catch((err: unknown) => {
      throw new Iperf3Error(`unable to set the congestion control '${params.congestion}': ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}

async function openTcpStream(
  app: WskApp, role: StreamRole, params: TestParams, remote: SOCKADDR, local: SOCKADDR | null, cookie: Uint8Array, budget: SendBudget,
): Promise<TcpDataStream> {
  const s = new TcpDataStream(role, params, budget);
  const conn = await app.connect(remote, local, tcpStreamEvents, s, (sock) => configureStream(sock, params));
  s.socket = conn;
  await conn.send(cookie);
  await conn.enableEvents(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
  return s;
}

/** A UDP stream: its own socket on the control connection's local address, and the 4-byte handshake answered by the server. */
async function openUdpStream(
  app: WskApp, role: StreamRole, params: TestParams, remote: SOCKADDR, local: SOCKADDR, timeoutMs: number, budget: SendBudget,
): Promise<UdpDataStream> {
  const s = new UdpDataStream(role, params, remote, true, budget);
  let answered!: () => void;
  const reply = new Promise<void>((resolve) => { answered = resolve; });
  let handshaking = true;
  const events = udpStreamEvents((d) => {
    if (!handshaking) return false;
    // Reordered data datagrams may come first in reverse mode (iperf3 tolerates a couple); only the reply ends the handshake.
    const b = wskBufToBytes(d.Buffer);
    if (isUdpConnectReply(b)) { handshaking = false; answered(); }
    return true;
  });
  s.socket = await app.datagram(local, events, s);
  try {
    if (params.window) await s.socket.setOption(SOL_SOCKET, SO_RCVBUF, params.window);
    await s.socket.enableEvents(WSK_EVENT_RECEIVE_FROM);
    await s.socket.sendTo(UDP_CONNECT_MSG, remote);
    await withTimeout(reply, timeoutMs, 'the server\'s UDP handshake reply');
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}

/** `a` with port 0: the same local address, any port. */
function anyPort(a: SOCKADDR): SOCKADDR {
  return sockaddrFamily(a) === AF_INET6 ? { ...(a as SOCKADDR_IN6), sin6_port: 0 } : { ...(a as SOCKADDR_IN), sin_port: 0 };
}

// An iperf3-compatible client written only against WSK: runs a test against a stock `iperf3 -s`
// (or our server): TCP or UDP, reverse or bidirectional, parallel streams, a bitrate, an omit
// period, a duration or a byte/block limit. The report follows iperf3's -J "end" section.
import { randomBytes } from 'node:crypto';
import {
  makeSockaddrIn, makeSockaddrIn6, sockaddrFamily, wskBufToBytes, AF_INET6, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, type SOCKADDR, type WskSubsystem,
} from '../../index.ts';
import { formatSockaddr, sockaddr, WskApp } from '../common/wsk-io.ts';
import { withTimeout } from '../common/timeout.ts';
import { ControlChannel, ControlClosedError } from './control-channel.ts';
import { tcpStreamEvents, TcpDataStream, udpStreamEvents, UdpDataStream, type DataStream, type SendBudget, type StreamRole } from './data-streams.ts';
import { formatBytes, formatRate } from './units.ts';
import {
  ACCESS_DENIED, CREATE_STREAMS, cpuUtil, DEFAULT_TCP_LEN, DEFAULT_UDP_BANDWIDTH, DEFAULT_UDP_LEN, DISPLAY_RESULTS,
  EXCHANGE_RESULTS, IPERF3_DEFAULT_PORT, IPERF_DONE, isUdpConnectReply, makeCookie, PARAM_EXCHANGE, parseResults,
  SERVER_ERROR, SERVER_TERMINATE, stateName, streamId, TEST_END, TEST_RUNNING, TEST_START, UDP_CONNECT_MSG, type StreamResult,
  type TestParams, type TestResults,
} from './iperf3-protocol.ts';

export interface Iperf3ClientOptions {
  subsystem?: WskSubsystem;
  host: string;
  port?: number;
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
  udp64?: boolean;
  getServerOutput?: boolean;
  /** Seconds between progress lines (0: none). */
  interval?: number;
  /** How long to wait for the server at each setup step. */
  setupTimeoutMs?: number;
  log?: (line: string) => void;
}

/** iperf3 -J's end.sum_sent / end.sum_received shape (and end.sum for UDP). */
export interface Iperf3Sum {
  start: number;
  end: number;
  seconds: number;
  bytes: number;
  bits_per_second: number;
  jitter_ms?: number;
  lost_packets?: number;
  packets?: number;
  lost_percent?: number;
}

export interface Iperf3ClientReport {
  start: { connected: { local: string; remote: string }[]; test_start: { protocol: 'TCP' | 'UDP'; num_streams: number; blksize: number; omit: number; duration: number; bytes: number; blocks: number; reverse: 0 | 1; bidir: 0 | 1 } };
  intervals: { start: number; end: number; bytes: number; bits_per_second: number }[];
  end: {
    streams: { id: number; role: 'sender' | 'receiver'; local: StreamResult; remote: StreamResult | null }[];
    sum_sent: Iperf3Sum;
    sum_received: Iperf3Sum;
    cpu_utilization_percent: { host_total: number; remote_total: number };
  };
  server_output_text?: string;
}

/** What the control watch reports instead of a state byte (no state byte is below -2). */
const CONTROL_CLOSED = -100;
const CONTROL_FAILED = -101;

export class Iperf3Error extends Error {
  override name = 'Iperf3Error';
}

/** Runs one test and resolves with the report; rejects with Iperf3Error saying what went wrong. */
export async function runIperf3Client(o: Iperf3ClientOptions): Promise<Iperf3ClientReport> {
  const log = o.log ?? (() => {});
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
  if (o.udp64) params.udp_counters_64bit = true;
  if (o.getServerOutput) params.get_server_output = true;
  const setupTimeoutMs = o.setupTimeoutMs ?? 30_000;
  const remote = sockaddr(o.host, port);

  const app = await WskApp.register(o.subsystem);
  const streams: DataStream[] = [];
  let ctl: ControlChannel | null = null;
  const timers: NodeJS.Timeout[] = [];
  try {
    const fail = (what: string): never => { throw new Iperf3Error(what); };
    const expectState = async (want: number, what: string): Promise<void> => {
      const state = await withTimeout(ctl!.readState(), setupTimeoutMs, what);
      if (state === want) return;
      if (state === ACCESS_DENIED) fail('the server is busy running a test; try again later');
      if (state === SERVER_ERROR) {
        const b = await ctl!.readExact(8);
        const v = new DataView(b.buffer, b.byteOffset);
        fail(`the server reported an error (iperf error ${v.getInt32(0)}, errno ${v.getInt32(4)})`);
      }
      if (state === SERVER_TERMINATE) fail('the server has terminated');
      fail(`expected ${stateName(want)} from the server, got ${stateName(state)}`);
    };

    const control = await app.connect(remote).catch((err: unknown) => fail(`unable to connect to ${o.host}:${port}: ${err instanceof Error ? err.message : String(err)}`));
    ctl = new ControlChannel(control);
    const cookie = makeCookie((n) => randomBytes(n));
    await ctl.writeBytes(cookie);
    await expectState(PARAM_EXCHANGE, 'PARAM_EXCHANGE');
    await ctl.writeJson(params);
    await expectState(CREATE_STREAMS, 'CREATE_STREAMS');

    const total = parallel * (o.bidirectional ? 2 : 1);
    const budget: SendBudget = { bytes: o.reverse || !params.num ? Infinity : params.num, blocks: o.reverse || !params.blockcount ? Infinity : params.blockcount };
    const connected: { local: string; remote: string }[] = [];
    for (let i = 0; i < total; i++) {
      const role: StreamRole = o.bidirectional ? (i < parallel ? 'send' : 'receive') : o.reverse ? 'receive' : 'send';
      const s = udp ? await openUdpStream(app, role, params, remote, setupTimeoutMs, budget) : await openTcpStream(app, role, params, remote, cookie, budget);
      s.id = streamId(i);
      streams.push(s);
      const local = s instanceof TcpDataStream ? await s.socket!.localAddress() : await (s as UdpDataStream).socket!.localAddress();
      connected.push({ local: formatSockaddr(local), remote: `${o.host}:${port}` });
      log(`[${String(s.id).padStart(3)}] local ${formatSockaddr(local)} connected to ${o.host}:${port} (${role === 'send' ? 'sending' : 'receiving'})`);
    }
    await expectState(TEST_START, 'TEST_START');
    await expectState(TEST_RUNNING, 'TEST_RUNNING');

    const cpuStart = process.cpuUsage();
    let startMs = performance.now();
    for (const s of streams) s.begin(startMs);
    const counted = streams.filter((s) => s.role === (o.reverse ? 'receive' : 'send'));
    const countedBytes = (): number => counted.reduce((a, s) => a + s.bytes, 0);
    const countedBlocks = (): number => counted.reduce((a, s) => a + s.blocks, 0);
    const intervals: Iperf3ClientReport['intervals'] = [];
    let omitting = params.omit > 0;
    let lastMark = { t: startMs, bytes: 0 };
    if (omitting) {
      timers.push(setTimeout(() => {
        omitting = false;
        startMs = performance.now();
        for (const s of streams) s.resetCounts(startMs);
        lastMark = { t: startMs, bytes: 0 };
      }, params.omit * 1000));
    }
    // The client ends the test: its timer, or -n / -k reached. The control connection is watched meanwhile.
    const endAtMs = params.time > 0 ? performance.now() + (params.time + params.omit) * 1000 : Infinity;
    const controlEvent = ctl.readState().then((state) => state, (err: unknown) => (err instanceof ControlClosedError ? CONTROL_CLOSED : CONTROL_FAILED));
    const intervalMs = (o.interval ?? 1) * 1000;
    for (;;) {
      const now = performance.now();
      if (now >= endAtMs) break;
      if (!omitting && ((params.num > 0 && countedBytes() >= params.num) || (params.blockcount > 0 && countedBlocks() >= params.blockcount))) break;
      const failed = streams.find((s) => s instanceof TcpDataStream && (s.failure !== 0 || (s.peerClosed && s.role === 'send')));
      if (failed) fail(`stream ${failed.id} ended early (${(failed as TcpDataStream).failure !== 0 ? `send failed: 0x${((failed as TcpDataStream).failure >>> 0).toString(16)}` : 'the server closed it'})`);
      let tick: NodeJS.Timeout | undefined;
      const state = await Promise.race([controlEvent, new Promise<null>((r) => { tick = setTimeout(() => r(null), Math.min(50, Math.max(1, endAtMs - now))); })]);
      clearTimeout(tick);
      if (state !== null) {
        if (state === SERVER_TERMINATE) fail('the server has terminated');
        if (state === CONTROL_CLOSED) fail('the server closed the control connection during the test');
        if (state === CONTROL_FAILED) fail('the control connection failed during the test');
        fail(`unexpected ${stateName(state)} during the test`);
      }
      if (intervalMs > 0 && !omitting && performance.now() - lastMark.t >= intervalMs) {
        const t = performance.now();
        const bytes = countedBytes();
        const row = { start: (lastMark.t - startMs) / 1000, end: (t - startMs) / 1000, bytes: bytes - lastMark.bytes, bits_per_second: ((bytes - lastMark.bytes) * 8) / ((t - lastMark.t) / 1000) };
        intervals.push(row);
        log(`[SUM] ${row.start.toFixed(2)}-${row.end.toFixed(2)} sec  ${formatBytes(row.bytes)}  ${formatRate(row.bits_per_second)}`);
        lastMark = { t, bytes };
      }
    }
    const endMs = performance.now();
    // Senders wait for their posted data to be acknowledged, so both sides count the same bytes.
    await Promise.all(streams.map((s) => s.end(endMs)));
    await ctl.writeState(TEST_END);
    const next = await withTimeout(controlEvent, setupTimeoutMs, 'EXCHANGE_RESULTS');
    if (next !== EXCHANGE_RESULTS) {
      if (next === SERVER_TERMINATE) fail('the server has terminated');
      fail(`expected EXCHANGE_RESULTS from the server, got ${next === CONTROL_CLOSED ? 'a closed connection' : next === CONTROL_FAILED ? 'a failed connection' : stateName(next)}`);
    }
    const ours: TestResults = {
      ...cpuUtil(cpuStart, endMs - startMs),
      sender_has_retransmits: streams.some((s) => s.role === 'send') ? 0 : -1,
      streams: streams.map((s) => s.result()),
    };
    await ctl.writeJson(ours);
    const theirs = parseResults(await withTimeout(ctl.readJson(), setupTimeoutMs, 'the server\'s results'));
    if (typeof theirs === 'string') fail(`unable to receive results: ${theirs}`);
    const server = theirs as TestResults;
    const unknown = server.streams.find((r) => !streams.some((s) => s.id === r.id));
    if (unknown) fail(`the server's results name stream ${unknown.id}, which this test does not have`);
    await expectState(DISPLAY_RESULTS, 'DISPLAY_RESULTS');
    await Promise.all(streams.map((s) => s.close()));
    await ctl.writeState(IPERF_DONE);
    await control.close();
    ctl = null;
    return buildReport(o, params, connected, intervals, streams, ours, server, startMs, endMs);
  } catch (err) {
    if (err instanceof Iperf3Error) throw err;
    if (err instanceof ControlClosedError) throw new Iperf3Error('the server closed the control connection');
    throw new Iperf3Error(err instanceof Error ? err.message : String(err));
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await Promise.all(streams.map((s) => s.close().catch(() => {})));
    await ctl?.stream.close().catch(() => {});
    await app.close();
  }
}

async function openTcpStream(app: WskApp, role: StreamRole, params: TestParams, remote: SOCKADDR, cookie: Uint8Array, budget: SendBudget): Promise<TcpDataStream> {
  const s = new TcpDataStream(role, params, budget);
  const conn = await app.connect(remote, null, tcpStreamEvents, s);
  s.socket = conn;
  await conn.send(cookie);
  await conn.enableEvents(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
  return s;
}

/** A UDP stream: its own socket, and the 4-byte handshake answered by the server. */
async function openUdpStream(app: WskApp, role: StreamRole, params: TestParams, remote: SOCKADDR, timeoutMs: number, budget: SendBudget): Promise<UdpDataStream> {
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
  const local = sockaddrFamily(remote) === AF_INET6 ? makeSockaddrIn6('::', 0) : makeSockaddrIn('0.0.0.0', 0);
  s.socket = await app.datagram(local, events, s);
  await s.socket.enableEvents(WSK_EVENT_RECEIVE_FROM);
  await s.socket.sendTo(UDP_CONNECT_MSG, remote);
  try {
    await withTimeout(reply, timeoutMs, 'the server\'s UDP handshake reply');
  } catch (err) {
    await s.close();
    throw err;
  }
  return s;
}


function buildReport(
  o: Iperf3ClientOptions, params: TestParams, connected: { local: string; remote: string }[], intervals: Iperf3ClientReport['intervals'],
  streams: DataStream[], ours: TestResults, server: TestResults, startMs: number, endMs: number,
): Iperf3ClientReport {
  const ownSeconds = (endMs - startMs) / 1000;
  const rows = streams.map((s) => ({
    id: s.id, role: s.role === 'send' ? 'sender' as const : 'receiver' as const,
    local: ours.streams.find((r) => r.id === s.id)!, remote: server.streams.find((r) => r.id === s.id) ?? null,
  }));
  const sum = (side: 'sender' | 'receiver', pick: 'local' | 'remote', udpFields: boolean): Iperf3Sum => {
    const picked = rows.filter((r) => r.role === side).map((r) => r[pick]).filter((r): r is StreamResult => r !== null);
    const bytes = picked.reduce((a, r) => a + r.bytes, 0);
    const seconds = picked.reduce((a, r) => Math.max(a, Number.isFinite(r.end_time) ? r.end_time - r.start_time : ownSeconds), 0) || ownSeconds;
    const out: Iperf3Sum = { start: 0, end: seconds, seconds, bytes, bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0 };
    if (udpFields) {
      const packets = picked.reduce((a, r) => a + r.packets, 0);
      const lost = picked.reduce((a, r) => a + r.errors, 0);
      out.jitter_ms = picked.length ? (picked.reduce((a, r) => a + r.jitter, 0) / picked.length) * 1000 : 0;
      out.lost_packets = lost;
      out.packets = packets;
      out.lost_percent = packets > 0 ? (100 * lost) / packets : 0;
    }
    return out;
  };
  const udp = params.udp === true;
  // What was sent is counted where it was sent, what was received where it arrived: our own
  // sending streams and the server's receiving ones, or the other way round.
  const clientSends = !o.reverse || o.bidirectional;
  const sum_sent = clientSends ? sum('sender', 'local', false) : sum('receiver', 'remote', false);
  const sum_received = clientSends ? sum('sender', 'remote', udp) : sum('receiver', 'local', udp);
  return {
    start: {
      connected,
      test_start: {
        protocol: udp ? 'UDP' : 'TCP', num_streams: params.parallel, blksize: params.len, omit: params.omit, duration: params.time,
        bytes: params.num, blocks: params.blockcount, reverse: o.reverse ? 1 : 0, bidir: o.bidirectional ? 1 : 0,
      },
    },
    intervals,
    end: {
      streams: rows,
      sum_sent,
      sum_received,
      cpu_utilization_percent: { host_total: ours.cpu_util_total, remote_total: server.cpu_util_total },
    },
    ...(server.server_output_text !== undefined ? { server_output_text: server.server_output_text } : {}),
  };
}

/** iperf3's closing lines for a report. */
export function describeClientReport(r: Iperf3ClientReport): string[] {
  const line = (label: string, s: Iperf3Sum): string => {
    const udp = s.jitter_ms !== undefined ? `  ${s.jitter_ms.toFixed(3)} ms  ${s.lost_packets}/${s.packets} (${(s.lost_percent ?? 0).toFixed(2)}%)` : '';
    return `[SUM] 0.00-${s.seconds.toFixed(2)} sec  ${formatBytes(s.bytes)}  ${formatRate(s.bits_per_second)}${udp}  ${label}`;
  };
  return [line('sender', r.end.sum_sent), line('receiver', r.end.sum_received)];
}

// The iperf3 wire protocol (as spoken by iperf 3.x, checked against 3.12): one TCP control
// connection carrying one-byte states and length-prefixed JSON, then data streams on the same
// port. Facts only here; the server and client are iperf3-server.ts and iperf3-client.ts.

export const IPERF3_DEFAULT_PORT = 5201;

/** Control states: one signed byte each, nothing frames them. */
export const TEST_START = 1;
export const TEST_RUNNING = 2;
export const TEST_END = 4;
export const PARAM_EXCHANGE = 9;
export const CREATE_STREAMS = 10;
export const SERVER_TERMINATE = 11;
export const CLIENT_TERMINATE = 12;
export const EXCHANGE_RESULTS = 13;
export const DISPLAY_RESULTS = 14;
export const IPERF_DONE = 16;
export const ACCESS_DENIED = -1;
export const SERVER_ERROR = -2;

const STATE_NAMES: Record<number, string> = {
  [TEST_START]: 'TEST_START', [TEST_RUNNING]: 'TEST_RUNNING', [TEST_END]: 'TEST_END', [PARAM_EXCHANGE]: 'PARAM_EXCHANGE',
  [CREATE_STREAMS]: 'CREATE_STREAMS', [SERVER_TERMINATE]: 'SERVER_TERMINATE', [CLIENT_TERMINATE]: 'CLIENT_TERMINATE',
  [EXCHANGE_RESULTS]: 'EXCHANGE_RESULTS', [DISPLAY_RESULTS]: 'DISPLAY_RESULTS', [IPERF_DONE]: 'IPERF_DONE',
  [ACCESS_DENIED]: 'ACCESS_DENIED', [SERVER_ERROR]: 'SERVER_ERROR',
};

export function stateName(state: number): string {
  return STATE_NAMES[state] ?? `unknown state ${state}`;
}

/** iperf's i_errno values we send in SERVER_ERROR (iperf_api.h). */
export const IESTREAMLISTEN = 202;
export const IERECVPARAMS = 114;
export const IESETBUF = 124;
export const IESETCONGESTION = 134;

/** What a SERVER_ERROR's i_errno means (iperf_error.c's words, for the ones a server sends at setup). */
export function iperfErrorText(iErrno: number): string | null {
  switch (iErrno) {
    case IERECVPARAMS: return 'unable to receive parameters from client';
    case IESETBUF: return 'unable to set socket buffer size';
    case IESETCONGESTION: return 'unable to set TCP_CONGESTION: Supplied congestion control algorithm not supported on this host';
    case IESTREAMLISTEN: return 'unable to start stream listener';
    default: return null;
  }
}

/** Cookie: 36 characters of the lower-case base32 alphabet and a NUL. */
export const COOKIE_SIZE = 37;
const COOKIE_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function makeCookie(random: (n: number) => Uint8Array): Uint8Array {
  const r = random(COOKIE_SIZE - 1);
  const cookie = new Uint8Array(COOKIE_SIZE);
  for (let i = 0; i < COOKIE_SIZE - 1; i++) cookie[i] = COOKIE_ALPHABET.charCodeAt(r[i]! % 32);
  return cookie;
}

/** Cookies compare as C strings (bytes up to the NUL). */
export function sameCookie(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < COOKIE_SIZE; i++) {
    if (a[i] !== b[i]) return false;
    if (a[i] === 0) return true;
  }
  return true;
}

/** UDP stream handshake: the int 0x36373839 / 0x39383736 in x86 byte order, as stock iperf3 writes them. */
export const UDP_CONNECT_MSG = Uint8Array.of(0x39, 0x38, 0x37, 0x36);
export const UDP_CONNECT_REPLY = Uint8Array.of(0x36, 0x37, 0x38, 0x39);
const UDP_CONNECT_REPLY_LEGACY = Uint8Array.of(0xb1, 0x68, 0xde, 0x3a);

export function isUdpConnectReply(b: Uint8Array): boolean {
  const same = (x: Uint8Array): boolean => b.byteLength === 4 && x.every((v, i) => b[i] === v);
  return same(UDP_CONNECT_REPLY) || same(UDP_CONNECT_REPLY_LEGACY);
}

/** Stream ids in creation order: 1, 3, 4, 5, ... (iperf adds 2 to the count of earlier streams). */
export function streamId(index: number): number {
  return index === 0 ? 1 : index + 2;
}

/** The parameters the client sends after PARAM_EXCHANGE. Flags mean "on" by being present. */
export interface TestParams {
  tcp?: true;
  udp?: true;
  omit: number;
  time: number;
  num: number;
  blockcount: number;
  parallel: number;
  reverse?: true;
  bidirectional?: true;
  len: number;
  bandwidth: number;
  pacing_timer?: number;
  /** -w: socket buffer bytes for every data stream (both sides). */
  window?: number;
  /** -C: the TCP congestion control both sides' data streams use. */
  congestion?: string;
  udp_counters_64bit?: true;
  get_server_output?: true;
  client_version?: string;
}

export const DEFAULT_TCP_LEN = 128 * 1024;
/** iperf3's UDP default length is the path MTU's payload; 1448 fits an Ethernet MTU with room for options. */
export const DEFAULT_UDP_LEN = 1448;
export const DEFAULT_UDP_BANDWIDTH = 1024 * 1024;
export const UDP_HEADER_SIZE = 12;
export const UDP_HEADER_SIZE_64 = 16;
export const MAX_UDP_LEN = 65507;

/** Reads and checks the parameters; a string is what is wrong with them. */
export function parseParams(json: unknown): TestParams | string {
  if (typeof json !== 'object' || json === null) return 'parameters are not a JSON object';
  const o = json as Record<string, unknown>;
  const int = (key: string, fallback: number): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    return typeof v === 'number' && Number.isFinite(v) ? asSigned(v) : NaN;
  };
  const udp = 'udp' in o;
  const p: TestParams = {
    omit: int('omit', 0), time: int('time', 10), num: int('num', 0), blockcount: int('blockcount', 0),
    parallel: int('parallel', 1), len: int('len', udp ? DEFAULT_UDP_LEN : DEFAULT_TCP_LEN),
    bandwidth: int('bandwidth', udp ? DEFAULT_UDP_BANDWIDTH : 0),
  };
  if (udp) p.udp = true; else p.tcp = true;
  if ('sctp' in o) return 'SCTP is not supported';
  if ('reverse' in o) p.reverse = true;
  if ('bidirectional' in o) p.bidirectional = true;
  if ('udp_counters_64bit' in o) p.udp_counters_64bit = true;
  if ('get_server_output' in o) p.get_server_output = true;
  if (typeof o.pacing_timer === 'number') p.pacing_timer = o.pacing_timer;
  if (o.window !== undefined) {
    if (typeof o.window !== 'number' || !Number.isInteger(o.window) || o.window < 0) return 'parameter window is not a non-negative integer';
    if (o.window > 0) p.window = o.window;
  }
  if (o.congestion !== undefined) {
    if (typeof o.congestion !== 'string' || !/^[\w.-]{1,32}$/.test(o.congestion)) return 'parameter congestion is not a congestion control name';
    p.congestion = o.congestion;
  }
  if (typeof o.client_version === 'string') p.client_version = o.client_version;
  for (const key of ['omit', 'time', 'num', 'blockcount', 'parallel', 'len', 'bandwidth'] as const) {
    if (!Number.isInteger(p[key]) || p[key] < 0) return `parameter ${key} is not a non-negative integer`;
  }
  if (p.parallel < 1 || p.parallel > 128) return `parallel ${p.parallel} is not from 1 to 128`;
  if (p.len < 1 || (udp && (p.len < headerSize(p) || p.len > MAX_UDP_LEN))) return `len ${p.len} is out of range`;
  return p;
}

/**
 * C writes -1 into its unsigned JSON integers as 2^64 - 1, which a double rounds to 2^64 (so
 * the difference is 0): anything from 2^63 up is a small negative, and -1 is the one C uses.
 */
export function asSigned(v: number): number {
  return v >= 2 ** 63 ? Math.min(-1, v - 2 ** 64) : v;
}

export function headerSize(p: Pick<TestParams, 'udp_counters_64bit'>): number {
  return p.udp_counters_64bit ? UDP_HEADER_SIZE_64 : UDP_HEADER_SIZE;
}

/** One side's view of a stream in the results exchange. */
export interface StreamResult {
  id: number;
  bytes: number;
  retransmits: number;
  jitter: number;
  errors: number;
  packets: number;
  start_time: number;
  end_time: number;
}

export interface TestResults {
  cpu_util_total: number;
  cpu_util_user: number;
  cpu_util_system: number;
  sender_has_retransmits: number;
  congestion_used?: string;
  streams: StreamResult[];
  server_output_text?: string;
  /** A server running with -J sends its JSON report instead of text. */
  server_output_json?: unknown;
}

/** Reads the peer's results; a string is what is missing. */
export function parseResults(json: unknown): TestResults | string {
  if (typeof json !== 'object' || json === null) return 'results are not a JSON object';
  const o = json as Record<string, unknown>;
  for (const key of ['cpu_util_total', 'cpu_util_user', 'cpu_util_system', 'sender_has_retransmits']) {
    if (typeof o[key] !== 'number') return `results lack ${key}`;
  }
  if (!Array.isArray(o.streams)) return 'results lack streams';
  const streams: StreamResult[] = [];
  for (const s of o.streams as Record<string, unknown>[]) {
    for (const key of ['id', 'bytes', 'retransmits', 'jitter', 'errors', 'packets']) {
      if (typeof s?.[key] !== 'number') return `a stream in the results lacks ${key}`;
    }
    streams.push({
      id: s.id as number, bytes: s.bytes as number, retransmits: asSigned(s.retransmits as number), jitter: s.jitter as number,
      errors: asSigned(s.errors as number), packets: asSigned(s.packets as number),
      start_time: typeof s.start_time === 'number' ? s.start_time : 0, end_time: typeof s.end_time === 'number' ? s.end_time : NaN,
    });
  }
  return {
    cpu_util_total: o.cpu_util_total as number, cpu_util_user: o.cpu_util_user as number, cpu_util_system: o.cpu_util_system as number,
    sender_has_retransmits: asSigned(o.sender_has_retransmits as number),
    congestion_used: typeof o.congestion_used === 'string' ? o.congestion_used : undefined,
    streams,
    server_output_text: typeof o.server_output_text === 'string' ? o.server_output_text : undefined,
    server_output_json: typeof o.server_output_json === 'object' && o.server_output_json !== null ? o.server_output_json : undefined,
  };
}

/** A JSON message: 4-byte big-endian length, then the JSON text. */
export function encodeJsonMessage(value: unknown): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(value));
  const out = new Uint8Array(4 + text.byteLength);
  new DataView(out.buffer).setUint32(0, text.byteLength);
  out.set(text, 4);
  return out;
}

/** The largest JSON message we accept (stock results with server output stay far below). */
export const MAX_JSON_MESSAGE = 1 << 20;

/** This side's CPU use as the results exchange and iperf3 -J carry it. */
export type CpuUtil = Pick<TestResults, 'cpu_util_total' | 'cpu_util_user' | 'cpu_util_system'>;

/** CPU use of this process between two process.cpuUsage() readings, in percent of `wallMs`. */
export function cpuUtil(start: NodeJS.CpuUsage, wallMs: number): CpuUtil {
  const used = process.cpuUsage(start);
  const pct = (us: number): number => (wallMs > 0 ? (us / 1000 / wallMs) * 100 : 0);
  return { cpu_util_total: pct(used.user + used.system), cpu_util_user: pct(used.user), cpu_util_system: pct(used.system) };
}

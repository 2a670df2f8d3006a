// ping on WSK: ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443 §4.1) through a raw datagram socket
// (WskSocket with SOCK_RAW, IPPROTO_ICMP or IPPROTO_ICMPV6; Microsoft's "TCP/IP raw sockets"
// page), on whatever subsystem it is given: the kernel provider, the userspace stack on a device,
// or the inner stack of a WireGuard tunnel. Output as iputils' ping prints it: one line per reply
// (`64 bytes from 198.19.0.1: icmp_seq=1 ttl=64 time=0.123 ms`), a line per ICMP error that
// quotes one of our requests, and the statistics at the end.
//
// What the socket sees (raw(7) where the Microsoft page is silent, RFC 3542 §3 for IPv6): an IPv4
// raw socket receives every ICMP packet for its address with the IPv4 header in front (the TTL is
// read there); an IPv6 raw socket receives the ICMPv6 message alone and its hop limit as
// IPV6_HOPLIMIT control information, and the provider fills in the ICMPv6 checksum (it covers a
// pseudo-header only the provider knows). Replies are matched by our identifier: a raw socket also
// sees other programs' echoes.
import {
  AF_INET6, IoAllocateMdl, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPV6, IPV6_HOPLIMIT, makeSockaddrIn, makeSockaddrIn6, NPI_WSK_INTERFACE_ID,
  SO_WSK_EVENT_CALLBACK, SOCK_RAW, sockaddrFamily, SOL_SOCKET, STATUS_SUCCESS, WSA_CMSG_DATA, WSA_CMSG_FIRSTHDR, WSA_CMSG_NXTHDR, WSAMSG,
  WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, wskBufToBytes,
  type SOCKADDR, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_DATAGRAM_DISPATCH,
  type WSK_SOCKET, type WskSubsystem,
} from '../../index.ts';
import { isIP } from 'node:net';
import { callWsk, sockaddrHost, WskApp, WskError } from '../common/wsk-io.ts';
import { formatRtt, pingSummary, type PingCounts } from './ping-report.ts';

const ECHO_REQUEST = 8;
const ECHO_REPLY = 0;
const DESTINATION_UNREACHABLE = 3;
const TIME_EXCEEDED = 11;
const ECHO6_REQUEST = 128;
const ECHO6_REPLY = 129;
const DESTINATION6_UNREACHABLE = 1;
const PACKET_TOO_BIG = 2;
const TIME6_EXCEEDED = 3;
const ICMP_HEADER = 8;
const IPV6_HEADER = 40;

export interface PingOptions {
  /** The subsystem to ping from (default: the process's default one). */
  subsystem?: WskSubsystem;
  /** An IPv4 or IPv6 address, or a name WskGetAddressInfo resolves (its first address). */
  host: string;
  /** Echo requests to send (-c); omitted, until `stop` settles. */
  count?: number;
  /** Milliseconds between requests (-i; default 1000). */
  intervalMs?: number;
  /** Milliseconds to wait for replies after the last request (-W; default 10000), as iputils lingers. */
  waitMs?: number;
  /** Data bytes after the ICMP header (-s; default 56, so 64-byte messages). */
  dataLength?: number;
  /** Settles on Ctrl-C: no more requests, the statistics at once. */
  stop?: Promise<unknown>;
  /** Where the output lines go. */
  out: (line: string) => void;
}

export interface PingResult extends PingCounts {
  /** 0 when at least one reply came, 1 when none did (iputils' codes; 2 for an error is the caller's). */
  exitCode: number;
}

let nextIdentifier = (process.pid * 7919) & 0xffff;

/** Pings `host` and resolves with the counts; rejects with WskError when the socket cannot be made (a provider without raw sockets, no privilege). */
export async function ping(o: PingOptions): Promise<PingResult> {
  const app = await WskApp.register(o.subsystem);
  try {
    const target = await resolveTarget(app, o.host);
    return await pingFrom(app, o, target);
  } finally {
    await app.close();
  }
}

async function resolveTarget(app: WskApp, host: string): Promise<SOCKADDR> {
  const family = isIP(host);
  if (family === 4) return makeSockaddrIn(host, 0);
  if (family === 6) return makeSockaddrIn6(host, 0);
  if (/^[\d.]+$/.test(host) || host.includes(':')) throw new Error('not an IPv4 or IPv6 address');
  const [first] = await app.resolve(host, 0);
  if (!first) throw new Error(`${host}: no address`);
  return first;
}

async function pingFrom(app: WskApp, o: PingOptions, target: SOCKADDR): Promise<PingResult> {
  const family = sockaddrFamily(target);
  const v6 = family === AF_INET6;
  const address = sockaddrHost(target);
  const identifier = nextIdentifier = (nextIdentifier + 1) & 0xffff;
  const dataLength = o.dataLength ?? 56;
  const intervalMs = o.intervalMs ?? 1000;
  const sentAt = new Map<number, number>();
  const answered = new Set<number>();
  const counts: PingCounts = { transmitted: 0, received: 0, duplicates: 0, errors: 0, rtts: [], elapsedMs: 0 };
  let allAnswered: (() => void) | null = null;

  const onMessage = (bytes: Uint8Array, from: SOCKADDR, hopLimit: number): void => {
    // IPv4: past the header (its TTL is the reply's); IPv6: the message alone.
    let at = 0;
    let ttl = hopLimit;
    if (!v6) {
      if (bytes.byteLength < 20 || bytes[0]! >>> 4 !== 4) return;
      at = (bytes[0]! & 0x0f) * 4;
      ttl = bytes[8]!;
    }
    if (bytes.byteLength < at + ICMP_HEADER) return;
    const type = bytes[at]!;
    if (type === (v6 ? ECHO6_REPLY : ECHO_REPLY)) {
      if (u16(bytes, at + 4) !== identifier) return;
      const sequence = u16(bytes, at + 6);
      const sent = sentAt.get(sequence);
      if (sent === undefined) return;
      const rtt = performance.now() - sent;
      const duplicate = answered.has(sequence);
      if (duplicate) counts.duplicates++;
      else { answered.add(sequence); counts.received++; counts.rtts.push(rtt); }
      o.out(`${bytes.byteLength - at} bytes from ${sockaddrHost(from)}: icmp_seq=${sequence}${ttl >= 0 ? ` ttl=${ttl}` : ''} time=${formatRtt(rtt)} ms${duplicate ? ' (DUP!)' : ''}`);
      if (o.count !== undefined && answered.size >= o.count) allAnswered?.();
      return;
    }
    const error = errorText(v6, type, bytes[at + 1]!);
    if (error === null) return;
    // The error quotes the offending packet: an IP header, then our echo request's first 8 bytes.
    const quoted = v6 ? at + ICMP_HEADER + IPV6_HEADER : at + ICMP_HEADER + ((bytes[at + ICMP_HEADER]! & 0x0f) * 4);
    if (bytes.byteLength < quoted + ICMP_HEADER || bytes[quoted] !== (v6 ? ECHO6_REQUEST : ECHO_REQUEST) || u16(bytes, quoted + 4) !== identifier) return;
    counts.errors++;
    o.out(`From ${sockaddrHost(from)} icmp_seq=${u16(bytes, quoted + 6)} ${error}`);
  };

  const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (_context, _flags, list: WSK_DATAGRAM_INDICATION | null) => {
      for (let d = list; d; d = d.Next) onMessage(wskBufToBytes(d.Buffer), d.RemoteAddress, hopLimitOf(d));
      return STATUS_SUCCESS;
    },
  };
  const socket = await must<WSK_SOCKET>('WskSocket(SOCK_RAW)', (irp) => app.Dispatch.WskSocket(
    app.Client, family, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, WSK_FLAG_DATAGRAM_SOCKET, null, dispatch, null, null, null, irp));
  const basic = socket.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;
  const datagram = socket.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  const t0 = performance.now();
  try {
    // The hop limit of IPv6 replies comes only as control information; a provider without it prints no ttl.
    if (v6) await callWsk((irp) => basic.WskControlSocket(socket, WskSetOption, IPV6_HOPLIMIT, IPPROTO_IPV6, 4, { value: 1 }, 0, null, null, irp));
    await must('WskBind', (irp) => datagram.WskBind(socket, v6 ? makeSockaddrIn6('::', 0) : makeSockaddrIn('0.0.0.0', 0), 0, irp));
    const events = { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM };
    const enabled = basic.WskControlSocket(socket, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, events, 0, null, null, null);
    if (enabled !== STATUS_SUCCESS) throw new WskError('SO_WSK_EVENT_CALLBACK', enabled);

    o.out(v6 ? `PING ${o.host} (${address}) ${dataLength} data bytes` : `PING ${o.host} (${address}) ${dataLength}(${dataLength + ICMP_HEADER + 20}) bytes of data.`);
    let stopped = false;
    // The one pending wait (an interval, or the linger): Ctrl-C or the last reply ends it early.
    const sleeper: { wake: (() => void) | null } = { wake: null };
    void o.stop?.then(() => { stopped = true; sleeper.wake?.(); });
    const pause = (ms: number): Promise<void> => new Promise((resolve) => {
      const timer = setTimeout(() => { sleeper.wake = null; resolve(); }, ms);
      sleeper.wake = () => { clearTimeout(timer); sleeper.wake = null; resolve(); };
    });
    for (let sequence = 1; !stopped && (o.count === undefined || sequence <= o.count); sequence++) {
      const status = await sendEcho(datagram, socket, target, v6, identifier, sequence & 0xffff, dataLength, sentAt);
      counts.transmitted++;
      if (status !== STATUS_SUCCESS) { counts.errors++; o.out(`ping: sendto ${address}: ${new WskError('WskSendTo', status).message}`); }
      if (o.count === undefined || sequence < o.count) await pause(intervalMs);
    }
    counts.elapsedMs = performance.now() - t0;
    if (!stopped && answered.size < counts.transmitted) {
      // Linger for the replies still out, at most waitMs; Ctrl-C ends the wait too.
      allAnswered = () => sleeper.wake?.();
      await pause(o.waitMs ?? 10_000);
    }
  } finally {
    await callWsk((irp) => basic.WskCloseSocket(socket, irp));
  }
  for (const line of pingSummary(o.host, counts)) o.out(line);
  return { ...counts, exitCode: counts.received > 0 ? 0 : 1 };
}

/** One echo request, as iputils builds it: identifier, sequence, then data bytes 0x00, 0x01, ... */
async function sendEcho(datagram: WSK_PROVIDER_DATAGRAM_DISPATCH, socket: WSK_SOCKET, to: SOCKADDR, v6: boolean, identifier: number, sequence: number,
  dataLength: number, sentAt: Map<number, number>): Promise<number> {
  const m = new Uint8Array(ICMP_HEADER + dataLength);
  m[0] = v6 ? ECHO6_REQUEST : ECHO_REQUEST;
  m[4] = identifier >> 8; m[5] = identifier & 0xff;
  m[6] = sequence >> 8; m[7] = sequence & 0xff;
  for (let i = 0; i < dataLength; i++) m[ICMP_HEADER + i] = i & 0xff;
  // ICMPv6's checksum is the provider's to fill in (RFC 3542 §3.1); ICMP's is ours (RFC 792).
  if (!v6) { const c = checksum(m); m[2] = c >> 8; m[3] = c & 0xff; }
  sentAt.set(sequence, performance.now());
  const r = await callWsk((irp) => datagram.WskSendTo(socket, { Mdl: IoAllocateMdl(m), Offset: 0, Length: m.byteLength }, 0, to, 0, null, irp));
  return r.status;
}

function hopLimitOf(d: WSK_DATAGRAM_INDICATION): number {
  if (!d.ControlInfo || d.ControlInfoLength === 0) return -1;
  const msg = WSAMSG();
  msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
  for (let h = WSA_CMSG_FIRSTHDR(msg); h; h = WSA_CMSG_NXTHDR(msg, h)) {
    if (h.cmsg_level === IPPROTO_IPV6 && h.cmsg_type === IPV6_HOPLIMIT) {
      const b = WSA_CMSG_DATA(h);
      return b[0]! | (b[1]! << 8);
    }
  }
  return -1;
}

/** iputils' words for the ICMP errors it reports (RFC 792, RFC 4443 §3), or null for other messages. */
function errorText(v6: boolean, type: number, code: number): string | null {
  if (v6) {
    if (type === DESTINATION6_UNREACHABLE) {
      return ['Destination unreachable: No route', 'Destination unreachable: Administratively prohibited', 'Destination unreachable: Beyond scope of source address',
        'Destination unreachable: Address unreachable', 'Destination unreachable: Port unreachable'][code] ?? `Destination unreachable: Unknown code ${code}`;
    }
    if (type === PACKET_TOO_BIG) return 'Packet too big';
    if (type === TIME6_EXCEEDED) return code === 0 ? 'Time exceeded: Hop limit' : 'Time exceeded: Defragmentation failure';
    return null;
  }
  if (type === DESTINATION_UNREACHABLE) {
    return ['Destination Net Unreachable', 'Destination Host Unreachable', 'Destination Protocol Unreachable', 'Destination Port Unreachable',
      'Frag needed and DF set', 'Source Route Failed'][code] ?? `Dest Unreachable, Bad Code: ${code}`;
  }
  if (type === TIME_EXCEEDED) return code === 0 ? 'Time to live exceeded' : 'Frag reassembly time exceeded';
  return null;
}

async function must<T>(what: string, fn: Parameters<typeof callWsk>[0]): Promise<T> {
  const r = await callWsk(fn);
  if (r.status !== STATUS_SUCCESS) throw new WskError(what, r.status);
  return r.information as T;
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

/** RFC 1071's Internet checksum. */
function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.byteLength; i += 2) sum += (b[i]! << 8) + (i + 1 < b.byteLength ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// SOCKADDR_IN / SOCKADDR_IN6 with Windows constants (AF_INET6 = 23, ws2def.h, R52) and the
// byte-order helpers a port needs. Ports in sin_port/sin6_port hold network byte order, exactly as
// in C (`sin_port = RtlUshortByteSwap(40007)`); addresses are byte arrays in network order.
import { isIP } from 'node:net';

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 23;
export type ADDRESS_FAMILY = number;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
/** ws2def.h IPPROTO_RAW: a raw socket that sends any protocol behind its own IPv4 header (IP_HDRINCL always on) and receives nothing. */
export const IPPROTO_RAW = 255;

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
export const SOCKADDR_STORAGE_SIZE = 128;

export interface SOCKADDR_IN {
  sin_family: number;
  /** Network byte order, as in C. */
  sin_port: number;
  /** 4 bytes, network order. */
  sin_addr: Uint8Array;
}

export interface SOCKADDR_IN6 {
  sin6_family: number;
  /** Network byte order, as in C. */
  sin6_port: number;
  sin6_flowinfo: number;
  /** 16 bytes, network order. */
  sin6_addr: Uint8Array;
  sin6_scope_id: number;
}

/** Room for any address: an output SOCKADDR the provider fills in place. */
export interface SOCKADDR_STORAGE {
  ss_family: number;
  // Once filled by the provider it holds one of the two shapes; optional members make reading it typed.
  sin_family?: number;
  sin_port?: number;
  sin_addr?: Uint8Array;
  sin6_family?: number;
  sin6_port?: number;
  sin6_flowinfo?: number;
  sin6_addr?: Uint8Array;
  sin6_scope_id?: number;
}

export type SOCKADDR = SOCKADDR_IN | SOCKADDR_IN6 | SOCKADDR_STORAGE;
export type PSOCKADDR = SOCKADDR;

export const in4addr_any = new Uint8Array(4);
export const in4addr_loopback = Uint8Array.of(127, 0, 0, 1);
export const in4addr_broadcast = Uint8Array.of(255, 255, 255, 255);
export const in6addr_any = new Uint8Array(16);
export const in6addr_loopback = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
export const INADDR_ANY = 0;
export const INADDR_LOOPBACK = 0x7f000001;

export function RtlUshortByteSwap(value: number): number {
  return ((value & 0xff) << 8) | ((value >>> 8) & 0xff);
}
export function RtlUlongByteSwap(value: number): number {
  return (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
}
// The host is little-endian (x86-64, arm64 Linux), so hton* and ntoh* are byte swaps.
export const htons = RtlUshortByteSwap;
export const ntohs = RtlUshortByteSwap;
export const htonl = RtlUlongByteSwap;
export const ntohl = RtlUlongByteSwap;

export function SOCKADDR_STORAGE(): SOCKADDR_STORAGE {
  return { ss_family: AF_UNSPEC };
}

/** The family of any SOCKADDR shape (sa_family in C). */
export function sockaddrFamily(addr: SOCKADDR): number {
  const a = addr as { sin6_family?: number; sin_family?: number; ss_family?: number };
  return a.sin6_family ?? a.sin_family ?? a.ss_family ?? AF_UNSPEC;
}

export function RtlIpv4StringToAddress(text: string): Uint8Array | null {
  if (isIP(text) !== 4) return null;
  return Uint8Array.from(text.split('.').map(Number));
}

export function RtlIpv6StringToAddress(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  const plain = zone >= 0 ? text.slice(0, zone) : text;
  if (isIP(plain) !== 6) return null;
  let head = plain;
  let tail = '';
  const double = plain.indexOf('::');
  if (double >= 0) { head = plain.slice(0, double); tail = plain.slice(double + 2); }
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = RtlIpv4StringToAddress(group)!;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else out.push(parseInt(group, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  const words = double >= 0 ? [...h, ...new Array(8 - h.length - t.length).fill(0), ...t] : h;
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => { bytes[2 * i] = w >>> 8; bytes[2 * i + 1] = w & 0xff; });
  return bytes;
}

export function RtlIpv4AddressToString(addr: Uint8Array): string {
  return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
}

export function RtlIpv6AddressToString(addr: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((addr[i]! << 8) | addr[i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${RtlIpv4AddressToString(addr.subarray(12))}`;
  }
  // RFC 5952: compress the longest run (length >= 2) of zero words.
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** SOCKADDR_IN builder: makeSockaddrIn('127.0.0.1', 40007) (port in host order). */
export function makeSockaddrIn(address: string | Uint8Array, port: number): SOCKADDR_IN {
  const bytes = typeof address === 'string' ? RtlIpv4StringToAddress(address) : address;
  if (!bytes || bytes.byteLength !== 4) throw new TypeError(`makeSockaddrIn: ${String(address)} is not an IPv4 address`);
  return { sin_family: AF_INET, sin_port: htons(port), sin_addr: Uint8Array.from(bytes) };
}

/** SOCKADDR_IN6 builder: makeSockaddrIn6('::1', 40007) (port in host order). */
export function makeSockaddrIn6(address: string | Uint8Array, port: number, scopeId = 0): SOCKADDR_IN6 {
  const bytes = typeof address === 'string' ? RtlIpv6StringToAddress(address) : address;
  if (!bytes || bytes.byteLength !== 16) throw new TypeError(`makeSockaddrIn6: ${String(address)} is not an IPv6 address`);
  return { sin6_family: AF_INET6, sin6_port: htons(port), sin6_flowinfo: 0, sin6_addr: Uint8Array.from(bytes), sin6_scope_id: scopeId };
}

/** Provider-side form of an address: host-order port, raw bytes. */
export interface Endpoint {
  family: typeof AF_INET | typeof AF_INET6;
  address: Uint8Array;
  port: number;
  flowinfo?: number;
  scopeId?: number;
}

/** Validates a caller's SOCKADDR; null when it is not a well-formed IPv4/IPv6 address. */
export function sockaddrToEndpoint(addr: SOCKADDR | null | undefined): Endpoint | null {
  if (!addr || typeof addr !== 'object') return null;
  if ('sin6_family' in addr) {
    const a = addr as SOCKADDR_IN6;
    if (a.sin6_family !== AF_INET6 || !(a.sin6_addr instanceof Uint8Array) || a.sin6_addr.byteLength !== 16) return null;
    return { family: AF_INET6, address: a.sin6_addr, port: ntohs(a.sin6_port & 0xffff), flowinfo: a.sin6_flowinfo ?? 0, scopeId: a.sin6_scope_id ?? 0 };
  }
  if ('sin_family' in addr) {
    const a = addr as SOCKADDR_IN;
    if (a.sin_family !== AF_INET || !(a.sin_addr instanceof Uint8Array) || a.sin_addr.byteLength !== 4) return null;
    return { family: AF_INET, address: a.sin_addr, port: ntohs(a.sin_port & 0xffff) };
  }
  return null;
}

export function endpointToSockaddr(ep: Endpoint): SOCKADDR_IN | SOCKADDR_IN6 {
  return ep.family === AF_INET
    ? { sin_family: AF_INET, sin_port: htons(ep.port), sin_addr: Uint8Array.from(ep.address) }
    : { sin6_family: AF_INET6, sin6_port: htons(ep.port), sin6_flowinfo: ep.flowinfo ?? 0, sin6_addr: Uint8Array.from(ep.address), sin6_scope_id: ep.scopeId ?? 0 };
}

/** Writes ep into a caller-supplied output SOCKADDR object, replacing whatever shape it had. */
export function writeSockaddr(target: SOCKADDR, ep: Endpoint): void {
  const t = target as unknown as Record<string, unknown>;
  for (const key of Object.keys(t)) delete t[key];
  Object.assign(t, endpointToSockaddr(ep));
}

export function endpointAddressString(ep: Endpoint): string {
  return ep.family === AF_INET ? RtlIpv4AddressToString(ep.address) : RtlIpv6AddressToString(ep.address);
}

/** "127.0.0.1:40007" / "[::1]:40007", for messages. */
export function formatEndpoint(ep: Endpoint): string {
  const a = endpointAddressString(ep);
  return ep.family === AF_INET ? `${a}:${ep.port}` : `[${a}]:${ep.port}`;
}

/** Endpoint from a textual address as Node reports it (v4-mapped stays IPv6 on AF_INET6 sockets). */
export function endpointFromText(address: string, port: number, family: typeof AF_INET | typeof AF_INET6): Endpoint {
  if (family === AF_INET6) {
    const bytes = RtlIpv6StringToAddress(address) ?? mapV4(RtlIpv4StringToAddress(address));
    return { family, address: bytes ?? new Uint8Array(16), port };
  }
  const v4 = RtlIpv4StringToAddress(address) ?? (address.startsWith('::ffff:') ? RtlIpv4StringToAddress(address.slice(7)) : null);
  return { family, address: v4 ?? new Uint8Array(4), port };
}

function mapV4(v4: Uint8Array | null): Uint8Array | null {
  if (!v4) return null;
  const out = new Uint8Array(16);
  out[10] = 0xff; out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

export function isWildcard(ep: Endpoint): boolean {
  return ep.address.every((b) => b === 0);
}

export function isLoopback(ep: Endpoint): boolean {
  if (ep.family === AF_INET) return ep.address[0] === 127;
  const a = ep.address;
  if (a.subarray(0, 15).every((b) => b === 0) && a[15] === 1) return true;
  return a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff && a[12] === 127;
}

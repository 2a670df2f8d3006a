// Control information, the ws2def.h way: control buffers of WSACMSGHDR objects laid out as on
// 64-bit Windows, the WSA_CMSG_* macros a port uses to walk and build them, IN_PKTINFO and
// IN6_PKTINFO (ws2ipdef.h), and what the provider puts in them and reads from them.
//
// Layout (ws2def.h, x64): WSACMSGHDR is { SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; }
// — 16 bytes, 8-byte aligned — followed by the data at WSA_CMSGDATA_ALIGN(16) = 16. A control
// buffer (PCMSGHDR here: the Uint8Array whose first byte is the first header) holds objects
// WSA_CMSG_SPACE(n) bytes apart; cmsg_len = WSA_CMSG_LEN(n) counts the header and the n data
// bytes without the padding. Integers are little-endian, addresses network order.
//
// What the provider reports (IPPROTO_IP socket options, IPV6_PKTINFO, WSARecvMsg pages; MsQuic's
// WSK datapath reads the same types):
//   IP_PKTINFO       → IP_PKTINFO   IN_PKTINFO  (destination address, arrival interface), IPv4 datagrams
//   IPV6_PKTINFO     → IPV6_PKTINFO IN6_PKTINFO, IPv6 datagrams
//   IP_RECVTOS       → IP_TOS   INT (all 8 bits: DSCP and ECN)
//   IP_ECN           → IP_ECN   INT (the 2 ECN bits); IP_RECVECN is the same option
//   IP_HOPLIMIT      → IP_TTL   INT; IP_RECVTTL is the same option
//   IPV6_RECVTCLASS  → IPV6_TCLASS INT;  IPV6_ECN → IPV6_ECN INT;  IPV6_HOPLIMIT → IPV6_HOPLIMIT INT
// A dual-stack AF_INET6 socket reports IPv4 datagrams with the IPPROTO_IP objects, so it needs
// IP_PKTINFO for those, as the IP_PKTINFO page says; IPPROTO_IPV6 options do not exist on an
// AF_INET socket (STATUS_INVALID_PARAMETER, WSAENOPROTOOPT's status).
//
// What a sender may pass (WSASendMsg and IN_PKTINFO pages): IN_PKTINFO (source address and
// interface; to an IPv4 or v4-mapped destination, on either family) and IN6_PKTINFO (AF_INET6
// sockets), IP_TOS / IPV6_TCLASS and IP_ECN / IPV6_ECN (an INT each, as MsQuic sends them). Every
// object is checked; a malformed buffer or one this provider does not understand fails the send
// with STATUS_INVALID_PARAMETER (WSAEINVAL; Linux's ip_cmsg_send refuses unknown IP-level types
// with EINVAL too) rather than being ignored.
import { STATUS_INVALID_PARAMETER, type NTSTATUS } from '../ntstatus.ts';
import { copyBytes } from '../mdl/copy-bytes.ts';
import {
  RECV_HOPLIMIT, RECV_PKTINFO, RECV_PKTINFO6, RECV_TCLASS, RECV_TOS, RECV_TTL, type DatagramInfo, type DatagramSendInfo,
} from '../provider.ts';
import { AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, type Endpoint, type SOCKADDR } from '../sockaddr.ts';
import {
  IP_ECN, IP_HOPLIMIT, IP_PKTINFO, IP_RECVTOS, IP_TOS, IP_TTL, IPV6_ECN, IPV6_HOPLIMIT, IPV6_PKTINFO, IPV6_RECVTCLASS,
  IPV6_TCLASS,
} from './constants.ts';

// ---- ws2def.h: buffers and the WSA_CMSG_* macros ------------------------------------------------

/** sizeof(WSACMSGHDR) on x64. */
export const SIZEOF_WSACMSGHDR = 16;
export const SIZEOF_IN_PKTINFO = 8;
export const SIZEOF_IN6_PKTINFO = 20;
export const SIZEOF_INT = 4;
/** TYPE_ALIGNMENT(WSACMSGHDR) and MAX_NATURAL_ALIGNMENT on x64. */
const ALIGNMENT = 8;

/** WSABUF { ULONG len; CHAR *buf; }: `buf` is the bytes, `len` how many of them count. */
export interface WSABUF { len: number; buf: Uint8Array | null }

/** WSAMSG (ws2def.h): what WSA_CMSG_FIRSTHDR/NXTHDR walk; only Control matters to them. */
export interface WSAMSG {
  name: SOCKADDR | null;
  namelen: number;
  lpBuffers: WSABUF[] | null;
  dwBufferCount: number;
  Control: WSABUF;
  dwFlags: number;
}

/** A zeroed WSAMSG, as `WSAMSG WsaMsgHdr = { 0 };`. */
export function WSAMSG(): WSAMSG {
  return { name: null, namelen: 0, lpBuffers: null, dwBufferCount: 0, Control: { len: 0, buf: null }, dwFlags: 0 };
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
function setU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff; b[at + 1] = (v >>> 8) & 0xff; b[at + 2] = (v >>> 16) & 0xff; b[at + 3] = (v >>> 24) & 0xff;
}

/**
 * A WSACMSGHDR in a control buffer: what `(PWSACMSGHDR)&CMsgBuffer[CMsgLen]` is in C. Its fields
 * read and write the buffer's bytes; WSA_CMSG_DATA(cmsg) gives its data.
 */
export class WSACMSGHDR {
  constructor(readonly buffer: Uint8Array, readonly offset = 0) {}
  /** SIZE_T: WSA_CMSG_LEN(data bytes). */
  get cmsg_len(): number { return u32(this.buffer, this.offset) + u32(this.buffer, this.offset + 4) * 0x100000000; }
  set cmsg_len(v: number) { setU32(this.buffer, this.offset, v % 0x100000000); setU32(this.buffer, this.offset + 4, Math.floor(v / 0x100000000)); }
  get cmsg_level(): number { return u32(this.buffer, this.offset + 8) | 0; }
  set cmsg_level(v: number) { setU32(this.buffer, this.offset + 8, v >>> 0); }
  get cmsg_type(): number { return u32(this.buffer, this.offset + 12) | 0; }
  set cmsg_type(v: number) { setU32(this.buffer, this.offset + 12, v >>> 0); }
}
export { WSACMSGHDR as CMSGHDR };

export const WSA_CMSGHDR_ALIGN = (length: number): number => (length + ALIGNMENT - 1) & ~(ALIGNMENT - 1);
export const WSA_CMSGDATA_ALIGN = (length: number): number => (length + ALIGNMENT - 1) & ~(ALIGNMENT - 1);

/** The first object of msg's control buffer, or null when Control.len cannot hold a header. */
export function WSA_CMSG_FIRSTHDR(msg: WSAMSG): WSACMSGHDR | null {
  return msg.Control.buf && msg.Control.len >= SIZEOF_WSACMSGHDR ? new WSACMSGHDR(msg.Control.buf, 0) : null;
}

/**
 * The object after `cmsg` (the first for null), or null when no further header fits in
 * Control.len. One deviation from the macro: a header whose cmsg_len is below the header's own
 * size ends the walk, where the C macro would return the same header forever.
 */
export function WSA_CMSG_NXTHDR(msg: WSAMSG, cmsg: WSACMSGHDR | null): WSACMSGHDR | null {
  if (!cmsg) return WSA_CMSG_FIRSTHDR(msg);
  const len = cmsg.cmsg_len;
  if (len < SIZEOF_WSACMSGHDR) return null;
  const next = cmsg.offset + WSA_CMSGHDR_ALIGN(len);
  if (next + SIZEOF_WSACMSGHDR > msg.Control.len) return null;
  return new WSACMSGHDR(cmsg.buffer, next);
}

/** The object's data: the bytes from WSA_CMSGDATA_ALIGN(sizeof(WSACMSGHDR)) to cmsg_len (a view). */
export function WSA_CMSG_DATA(cmsg: WSACMSGHDR): Uint8Array {
  const start = cmsg.offset + WSA_CMSGDATA_ALIGN(SIZEOF_WSACMSGHDR);
  const end = Math.min(cmsg.buffer.byteLength, Math.max(start, cmsg.offset + cmsg.cmsg_len));
  return cmsg.buffer.subarray(start, end);
}

/** Bytes an object with `length` data bytes takes in the buffer, padding included. */
export const WSA_CMSG_SPACE = (length: number): number => WSA_CMSGDATA_ALIGN(SIZEOF_WSACMSGHDR + WSA_CMSGHDR_ALIGN(length));
/** cmsg_len of an object with `length` data bytes. */
export const WSA_CMSG_LEN = (length: number): number => WSA_CMSGDATA_ALIGN(SIZEOF_WSACMSGHDR) + length;

// ws2def.h's names for the same macros (_WIN32_WINNT >= 0x0600).
export const CMSGHDR_ALIGN = WSA_CMSGHDR_ALIGN;
export const CMSGDATA_ALIGN = WSA_CMSGDATA_ALIGN;
export const CMSG_FIRSTHDR = WSA_CMSG_FIRSTHDR;
export const CMSG_NXTHDR = WSA_CMSG_NXTHDR;
export const CMSG_DATA = WSA_CMSG_DATA;
export const CMSG_SPACE = WSA_CMSG_SPACE;
export const CMSG_LEN = WSA_CMSG_LEN;

/** `*(PINT)WSA_CMSG_DATA(CMsg)`: the INT at the start of an object's data. */
export function cmsgInt(data: Uint8Array): number {
  return data.byteLength >= SIZEOF_INT ? u32(data, 0) | 0 : 0;
}
/** `*(PINT)WSA_CMSG_DATA(CMsg) = value`. */
export function setCmsgInt(data: Uint8Array, value: number): void {
  setU32(data, 0, value >>> 0);
}

/** IN_PKTINFO { IN_ADDR ipi_addr; ULONG ipi_ifindex; } over its 8 bytes (`(PIN_PKTINFO)WSA_CMSG_DATA(CMsg)`). */
export class IN_PKTINFO {
  constructor(readonly bytes: Uint8Array, readonly offset = 0) {}
  /** The 4 address bytes, network order (a view: writing it writes the buffer). */
  get ipi_addr(): Uint8Array { return this.bytes.subarray(this.offset, this.offset + 4); }
  set ipi_addr(v: Uint8Array) { this.bytes.set(v.subarray(0, 4), this.offset); }
  get ipi_ifindex(): number { return u32(this.bytes, this.offset + 4); }
  set ipi_ifindex(v: number) { setU32(this.bytes, this.offset + 4, v >>> 0); }
}

/** IN6_PKTINFO { IN6_ADDR ipi6_addr; ULONG ipi6_ifindex; } over its 20 bytes. */
export class IN6_PKTINFO {
  constructor(readonly bytes: Uint8Array, readonly offset = 0) {}
  get ipi6_addr(): Uint8Array { return this.bytes.subarray(this.offset, this.offset + 16); }
  set ipi6_addr(v: Uint8Array) { this.bytes.set(v.subarray(0, 16), this.offset); }
  get ipi6_ifindex(): number { return u32(this.bytes, this.offset + 16); }
  set ipi6_ifindex(v: number) { setU32(this.bytes, this.offset + 16, v >>> 0); }
}

// ---- the provider's side: receive options, received objects, send control ----------------------

// Receive options a datagram socket has on (SocketOptions.receiveControl bits).
export const RC_PKTINFO = 1;
export const RC_TOS = 2;
export const RC_ECN = 4;
export const RC_TTL = 8;
export const RC_PKTINFO6 = 16;
export const RC_TCLASS = 32;
export const RC_ECN6 = 64;
export const RC_HOPLIMIT = 128;

/** The RC_* bit of a receive-control option (level, code), or 0 when (level, code) is not one. */
export function receiveControlOption(level: number, code: number): number {
  if (level === IPPROTO_IP) {
    switch (code) {
      case IP_PKTINFO: return RC_PKTINFO;
      case IP_RECVTOS: return RC_TOS;
      case IP_ECN: return RC_ECN;
      case IP_HOPLIMIT: return RC_TTL;
    }
  } else if (level === IPPROTO_IPV6) {
    switch (code) {
      case IPV6_PKTINFO: return RC_PKTINFO6;
      case IPV6_RECVTCLASS: return RC_TCLASS;
      case IPV6_ECN: return RC_ECN6;
      case IPV6_HOPLIMIT: return RC_HOPLIMIT;
    }
  }
  return 0;
}

/** What the transport must report (DatagramInfo RECV_* bits) for these options. */
export function receiveInfoMask(rc: number): number {
  let m = 0;
  if (rc & RC_PKTINFO) m |= RECV_PKTINFO;
  if (rc & (RC_TOS | RC_ECN)) m |= RECV_TOS;
  if (rc & RC_TTL) m |= RECV_TTL;
  if (rc & RC_PKTINFO6) m |= RECV_PKTINFO6;
  if (rc & (RC_TCLASS | RC_ECN6)) m |= RECV_TCLASS;
  if (rc & RC_HOPLIMIT) m |= RECV_HOPLIMIT;
  return m;
}

/** Bytes of control info a datagram with `info` gets under options `rc` (0: none). */
function controlLength(rc: number, p: number): number {
  let n = 0;
  if ((rc & RC_PKTINFO) && (p & RECV_PKTINFO)) n += WSA_CMSG_SPACE(SIZEOF_IN_PKTINFO);
  if ((rc & RC_TOS) && (p & RECV_TOS)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  if ((rc & RC_ECN) && (p & RECV_TOS)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  if ((rc & RC_TTL) && (p & RECV_TTL)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  if ((rc & RC_PKTINFO6) && (p & RECV_PKTINFO6)) n += WSA_CMSG_SPACE(SIZEOF_IN6_PKTINFO);
  if ((rc & RC_TCLASS) && (p & RECV_TCLASS)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  if ((rc & RC_ECN6) && (p & RECV_TCLASS)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  if ((rc & RC_HOPLIMIT) && (p & RECV_HOPLIMIT)) n += WSA_CMSG_SPACE(SIZEOF_INT);
  return n;
}

/** A WSACMSGHDR's three fields written in place (cmsg_len's high half stays the 0 it was filled with): no object per datagram. */
function putHeader(b: Uint8Array, at: number, level: number, type: number, dataLength: number): number {
  setU32(b, at, WSA_CMSG_LEN(dataLength));
  setU32(b, at + 8, level >>> 0);
  setU32(b, at + 12, type >>> 0);
  return at + SIZEOF_WSACMSGHDR;
}

function putInt(b: Uint8Array, at: number, level: number, type: number, value: number): number {
  setU32(b, putHeader(b, at, level, type, SIZEOF_INT), value >>> 0);
  return at + WSA_CMSG_SPACE(SIZEOF_INT);
}

/**
 * Writes the control info a received datagram carries under options `rc` into out[at..] (which
 * must have MAX_RECEIVE_CONTROL bytes of room), padding zeroed; returns its length (0: none).
 * `info` is read now: it is the transport's and valid only during its onDatagram. Nothing is
 * allocated (the receive path calls this per datagram).
 */
export function writeControlInfo(rc: number, info: DatagramInfo, out: Uint8Array, at: number): number {
  const p = info.present;
  const length = controlLength(rc, p);
  if (length === 0) return 0;
  const b = out;
  b.fill(0, at, at + length);
  if ((rc & RC_PKTINFO) && (p & RECV_PKTINFO)) {
    const d = putHeader(b, at, IPPROTO_IP, IP_PKTINFO, SIZEOF_IN_PKTINFO);
    b[d] = info.local[0]!; b[d + 1] = info.local[1]!; b[d + 2] = info.local[2]!; b[d + 3] = info.local[3]!;
    setU32(b, d + 4, info.ifIndex >>> 0);
    at += WSA_CMSG_SPACE(SIZEOF_IN_PKTINFO);
  }
  if ((rc & RC_TOS) && (p & RECV_TOS)) at = putInt(b, at, IPPROTO_IP, IP_TOS, info.tos & 0xff);
  if ((rc & RC_ECN) && (p & RECV_TOS)) at = putInt(b, at, IPPROTO_IP, IP_ECN, info.tos & 3);
  if ((rc & RC_TTL) && (p & RECV_TTL)) at = putInt(b, at, IPPROTO_IP, IP_TTL, info.ttl & 0xff);
  if ((rc & RC_PKTINFO6) && (p & RECV_PKTINFO6)) {
    const d = putHeader(b, at, IPPROTO_IPV6, IPV6_PKTINFO, SIZEOF_IN6_PKTINFO);
    for (let i = 0; i < 16; i++) b[d + i] = info.local[i]!;
    setU32(b, d + 16, info.ifIndex >>> 0);
    at += WSA_CMSG_SPACE(SIZEOF_IN6_PKTINFO);
  }
  if ((rc & RC_TCLASS) && (p & RECV_TCLASS)) at = putInt(b, at, IPPROTO_IPV6, IPV6_TCLASS, info.tos & 0xff);
  if ((rc & RC_ECN6) && (p & RECV_TCLASS)) at = putInt(b, at, IPPROTO_IPV6, IPV6_ECN, info.tos & 3);
  if ((rc & RC_HOPLIMIT) && (p & RECV_HOPLIMIT)) putInt(b, at, IPPROTO_IPV6, IPV6_HOPLIMIT, info.ttl & 0xff);
  return length;
}

/** The most control info one datagram can carry: every receive option on at once. */
export const MAX_RECEIVE_CONTROL = controlLength(0xff, 0xff);

/** The control info as a new buffer of exactly its length, or null when there is none (tests and one-off callers). */
export function buildControlInfo(rc: number, info: DatagramInfo): Uint8Array | null {
  const length = controlLength(rc, info.present);
  if (length === 0) return null;
  const b = new Uint8Array(length);
  writeControlInfo(rc, info, b, 0);
  return b;
}

/**
 * Copies whole objects of `control` into a caller's buffer of `room` bytes (WskReceiveFrom's
 * ControlInfo/ControlLength). Returns the bytes copied; fewer than `length` means an object was
 * left out for want of room (MSG_CTRUNC).
 */
export function copyControlInfo(control: Uint8Array, out: Uint8Array | null, room: number, length = control.byteLength): number {
  const limit = out ? Math.min(room, out.byteLength) : 0;
  let at = 0;
  while (at + SIZEOF_WSACMSGHDR <= length) {
    // cmsg_len read in place (no WSACMSGHDR object: WskReceiveFrom copies per datagram).
    const space = WSA_CMSGHDR_ALIGN(u32(control, at) + u32(control, at + 4) * 0x100000000);
    // The last object needs no padding after it.
    const need = Math.min(space, length - at);
    if (at + need > limit) break;
    copyBytes(out!, at, control, at, need);
    at += space;
  }
  return Math.min(at, length);
}

function isV4Mapped(a: Uint8Array): boolean {
  if (a.byteLength !== 16) return false;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

function isUnspecified(a: Uint8Array): boolean {
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== 0) return false;
  return true;
}

/**
 * Reads a sender's control buffer (WskSendTo, WskSendMessages) for a datagram to `to` from a
 * socket of `family`: what it asks for, null when it asks for nothing, or the status that fails
 * the send (module comment).
 */
export function parseSendControl(family: number, to: Endpoint, ControlInfoLength: number, ControlInfo: Uint8Array | null): DatagramSendInfo | null | NTSTATUS {
  if (ControlInfoLength === 0) return null;
  if (!Number.isInteger(ControlInfoLength) || ControlInfoLength < 0 || !(ControlInfo instanceof Uint8Array) || ControlInfo.byteLength < ControlInfoLength) {
    return STATUS_INVALID_PARAMETER;
  }
  const toV4 = to.family === AF_INET || isV4Mapped(to.address);
  let source: Uint8Array | null = null;
  let ifIndex = 0;
  let tos = -1;
  let ecn = -1;
  let at = 0;
  while (at < ControlInfoLength) {
    if (at + SIZEOF_WSACMSGHDR > ControlInfoLength) return STATUS_INVALID_PARAMETER;
    const h = new WSACMSGHDR(ControlInfo, at);
    const len = h.cmsg_len;
    if (len < SIZEOF_WSACMSGHDR || at + len > ControlInfoLength) return STATUS_INVALID_PARAMETER;
    const data = ControlInfo.subarray(at + SIZEOF_WSACMSGHDR, at + len);
    const level = h.cmsg_level;
    const type = h.cmsg_type;
    if (level === IPPROTO_IP && type === IP_PKTINFO) {
      if (data.byteLength < SIZEOF_IN_PKTINFO || !toV4) return STATUS_INVALID_PARAMETER;
      const p = new IN_PKTINFO(data);
      source = isUnspecified(p.ipi_addr) ? null : p.ipi_addr.slice();
      ifIndex = p.ipi_ifindex;
    } else if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && family === AF_INET6) {
      if (data.byteLength < SIZEOF_IN6_PKTINFO) return STATUS_INVALID_PARAMETER;
      const p = new IN6_PKTINFO(data);
      const a = p.ipi6_addr;
      // To an IPv4 destination the source is IPv4 too: a v4-mapped one (or none).
      if (toV4 && !isUnspecified(a) && !isV4Mapped(a)) return STATUS_INVALID_PARAMETER;
      source = isUnspecified(a) ? null : toV4 ? a.slice(12, 16) : a.slice();
      ifIndex = p.ipi6_ifindex;
    } else if ((level === IPPROTO_IP && type === IP_TOS) || (level === IPPROTO_IPV6 && type === IPV6_TCLASS && family === AF_INET6)) {
      const v = cmsgInt(data);
      if (data.byteLength < SIZEOF_INT || v < 0 || v > 0xff) return STATUS_INVALID_PARAMETER;
      tos = v;
    } else if ((level === IPPROTO_IP && type === IP_ECN) || (level === IPPROTO_IPV6 && type === IPV6_ECN && family === AF_INET6)) {
      const v = cmsgInt(data);
      if (data.byteLength < SIZEOF_INT || v < 0 || v > 3) return STATUS_INVALID_PARAMETER;
      ecn = v;
    } else {
      return STATUS_INVALID_PARAMETER;
    }
    at += WSA_CMSGHDR_ALIGN(len);
  }
  // IP_ECN sets the two ECN bits of whatever TOS the datagram gets (none given: DSCP 0).
  if (ecn >= 0) tos = ((tos < 0 ? 0 : tos) & ~3) | ecn;
  if (source === null && ifIndex === 0 && tos < 0) return null;
  return { source, ifIndex, tos };
}

/**
 * WskSendEx / WskReceiveEx on a connection: TCP defines no control data. A buffer that is not
 * well formed is STATUS_INVALID_PARAMETER; well-formed objects are STATUS_NOT_SUPPORTED ("this
 * information might not be supported by all transports", the WskSendEx page). 'none': none given.
 */
export function checkStreamControl(ControlInfoLength: number, ControlInfo: Uint8Array | null): 'none' | 'objects' | NTSTATUS {
  if (ControlInfoLength === 0) return 'none';
  if (!Number.isInteger(ControlInfoLength) || ControlInfoLength < 0 || !(ControlInfo instanceof Uint8Array) || ControlInfo.byteLength < ControlInfoLength) {
    return STATUS_INVALID_PARAMETER;
  }
  for (let at = 0; at < ControlInfoLength;) {
    if (at + SIZEOF_WSACMSGHDR > ControlInfoLength) return STATUS_INVALID_PARAMETER;
    const len = new WSACMSGHDR(ControlInfo, at).cmsg_len;
    if (len < SIZEOF_WSACMSGHDR || at + len > ControlInfoLength) return STATUS_INVALID_PARAMETER;
    at += WSA_CMSGHDR_ALIGN(len);
  }
  return 'objects';
}

// IPv4 header (RFC 791): IHL respected, options validated (validateIpv4Options) and otherwise
// skipped, flags/fragment offset, header checksum (RFC 1071) verify/fill. Zero-copy view; payload
// bounds come from Total Length.
import { WireView, outOfBounds } from './view.ts';
import { checksumFold, checksumAdd, internetChecksum } from './checksum.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const IpProtocol = { ICMP: 1, IGMP: 2, TCP: 6, UDP: 17 } as const;
export const IPV4_MIN_HEADER_LENGTH = 20;
export const Ipv4Flags = { DF: 0x4000, MF: 0x2000 } as const;

/**
 * Byte offsets of the IPv4 header's fields from the header's start (RFC 791 §3.1). Every read or
 * write of a header field, inside wire/ or outside it, names its field here.
 */
export const Ipv4Field = {
  VERSION_IHL: 0, TOS: 1, TOTAL_LENGTH: 2, IDENTIFICATION: 4, FLAGS_FRAGMENT: 6, TTL: 8, PROTOCOL: 9, CHECKSUM: 10, SOURCE: 12, DESTINATION: 16,
} as const;

/** IHL × 4: the length in bytes of the IPv4 header at bytes[offset] (not checked here). */
export function ipv4HeaderLength(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! & 0x0f) << 2;
}

export class Ipv4Packet extends WireView {
  /**
   * Validate the header. `length` may exceed Total Length (Ethernet padding); it may not fall
   * short of it. Pass verifyChecksum=false when the link already verified it (offload).
   */
  static check(bytes: Uint8Array, offset: number, length: number, verifyChecksum = true): ParseError | null {
    if (outOfBounds(bytes, offset, length, IPV4_MIN_HEADER_LENGTH)) return ParseError.TRUNCATED;
    const vihl = bytes[offset]!;
    if (vihl >>> 4 !== 4) return ParseError.BAD_VERSION;
    const hl = (vihl & 0x0f) << 2;
    if (hl < IPV4_MIN_HEADER_LENGTH) return ParseError.BAD_HEADER_LENGTH;
    if (hl > length) return ParseError.TRUNCATED;
    const total = get16(bytes, offset + Ipv4Field.TOTAL_LENGTH);
    if (total < hl) return ParseError.BAD_TOTAL_LENGTH;
    if (total > length) return ParseError.TRUNCATED;
    if (verifyChecksum && checksumFold(checksumAdd(bytes, offset, hl)) !== 0xffff) return ParseError.BAD_CHECKSUM;
    return null;
  }

  get version(): number { return this.bytes[this.offset]! >>> 4; }
  get ihl(): number { return this.bytes[this.offset]! & 0x0f; }
  get headerLength(): number { return ipv4HeaderLength(this.bytes, this.offset); }
  get dscp(): number { return this.bytes[this.offset + Ipv4Field.TOS]! >>> 2; }
  get ecn(): number { return this.bytes[this.offset + Ipv4Field.TOS]! & 3; }
  get totalLength(): number { return get16(this.bytes, this.offset + Ipv4Field.TOTAL_LENGTH); }
  set totalLength(v: number) { set16(this.bytes, this.offset + Ipv4Field.TOTAL_LENGTH, v); }
  get identification(): number { return get16(this.bytes, this.offset + Ipv4Field.IDENTIFICATION); }
  set identification(v: number) { set16(this.bytes, this.offset + Ipv4Field.IDENTIFICATION, v); }
  /** The 3 flag bits (reserved, DF, MF) as 0..7. */
  get flags(): number { return this.bytes[this.offset + Ipv4Field.FLAGS_FRAGMENT]! >>> 5; }
  get dontFragment(): boolean { return (this.bytes[this.offset + Ipv4Field.FLAGS_FRAGMENT]! & 0x40) !== 0; }
  get moreFragments(): boolean { return (this.bytes[this.offset + Ipv4Field.FLAGS_FRAGMENT]! & 0x20) !== 0; }
  /** Fragment offset in 8-byte units. */
  get fragmentOffset(): number { return get16(this.bytes, this.offset + Ipv4Field.FLAGS_FRAGMENT) & 0x1fff; }
  get isFragment(): boolean { return (get16(this.bytes, this.offset + Ipv4Field.FLAGS_FRAGMENT) & 0x3fff) !== 0; }
  get ttl(): number { return this.bytes[this.offset + Ipv4Field.TTL]!; }
  set ttl(v: number) { this.bytes[this.offset + Ipv4Field.TTL] = v; }
  get protocol(): number { return this.bytes[this.offset + Ipv4Field.PROTOCOL]!; }
  get checksum(): number { return get16(this.bytes, this.offset + Ipv4Field.CHECKSUM); }
  set checksum(v: number) { set16(this.bytes, this.offset + Ipv4Field.CHECKSUM, v); }
  get src(): number { return get32(this.bytes, this.offset + Ipv4Field.SOURCE); }
  set src(v: number) { set32(this.bytes, this.offset + Ipv4Field.SOURCE, v); }
  get dst(): number { return get32(this.bytes, this.offset + Ipv4Field.DESTINATION); }
  set dst(v: number) { set32(this.bytes, this.offset + Ipv4Field.DESTINATION, v); }
  /** Absolute offset of the options (length optionsLength; may be 0). */
  get optionsOffset(): number { return this.offset + IPV4_MIN_HEADER_LENGTH; }
  get optionsLength(): number { return this.headerLength - IPV4_MIN_HEADER_LENGTH; }
  /** Absolute offset of the payload in `bytes`. */
  get payloadOffset(): number { return this.offset + this.headerLength; }
  get payloadLength(): number { return this.totalLength - this.headerLength; }

  verifyChecksum(): boolean {
    return checksumFold(checksumAdd(this.bytes, this.offset, this.headerLength)) === 0xffff;
  }
  fillChecksum(): void {
    set16(this.bytes, this.offset + Ipv4Field.CHECKSUM, 0);
    set16(this.bytes, this.offset + Ipv4Field.CHECKSUM, internetChecksum(this.bytes, this.offset, this.headerLength));
  }
}

/**
 * Write a 20-byte option-less IPv4 header with its checksum at `offset`; returns 20.
 * `flagsFragment` is the raw 16-bit flags+offset word (Ipv4Flags.DF by default).
 */
export function emitIpv4(buf: Uint8Array, offset: number, src: number, dst: number, protocol: number, payloadLength: number,
  ttl = 64, identification = 0, flagsFragment: number = Ipv4Flags.DF, tos = 0): number {
  buf[offset] = 0x45;
  buf[offset + Ipv4Field.TOS] = tos;
  set16(buf, offset + Ipv4Field.TOTAL_LENGTH, IPV4_MIN_HEADER_LENGTH + payloadLength);
  set16(buf, offset + Ipv4Field.IDENTIFICATION, identification);
  set16(buf, offset + Ipv4Field.FLAGS_FRAGMENT, flagsFragment);
  buf[offset + Ipv4Field.TTL] = ttl;
  buf[offset + Ipv4Field.PROTOCOL] = protocol;
  set16(buf, offset + Ipv4Field.CHECKSUM, 0);
  set32(buf, offset + Ipv4Field.SOURCE, src);
  set32(buf, offset + Ipv4Field.DESTINATION, dst);
  set16(buf, offset + Ipv4Field.CHECKSUM, internetChecksum(buf, offset, IPV4_MIN_HEADER_LENGTH));
  return IPV4_MIN_HEADER_LENGTH;
}

/** IPv4 option types (RFC 791 §3.1; router alert RFC 2113). */
export const Ipv4Option = { EOL: 0, NOP: 1, RECORD_ROUTE: 7, TIMESTAMP: 68, LSRR: 131, SSRR: 137, ROUTER_ALERT: 148 } as const;
/** Octets of one option: type, length, pointer (route and timestamp options), overflow/flags (timestamp). */
const OPT_LENGTH = 1;
const OPT_POINTER = 2;
const OPT_TS_FLAGS = 3;
/** Timestamp flags (RFC 791 §3.1, the low half of OPT_TS_FLAGS; the high half is the overflow count). */
const TS_ADDRESS_AND_TIME = 1;
const TS_PRESPECIFIED = 3;
const TS_OVERFLOW_MAX = 15;
/** Smallest length and pointer of the options that have them (a route or timestamp entry is 4 octets). */
const ROUTE_MIN_LENGTH = 3;
const ROUTE_MIN_POINTER = 4;
const TS_MIN_LENGTH = 4;
const TS_MIN_POINTER = 5;
const ROUTER_ALERT_LENGTH = 4;
const SEEN_RECORD_ROUTE = 1;
const SEEN_TIMESTAMP = 2;
const SEEN_SOURCE_ROUTE = 4;

/** validateIpv4Options: the options are well formed. */
export const IPV4_OPTIONS_VALID = -1;
/** validateIpv4Options: well formed, with a loose or strict source route. */
export const IPV4_OPTIONS_SOURCE_ROUTED = -2;

/**
 * Checks the options of the IPv4 header at bytes[offset..offset+headerLength) as Linux's
 * __ip_options_compile does for a received packet: EOL ends them (what follows is padding), NOP
 * is one octet, every other option needs a length of at least 2 that stays inside the header;
 * record route, timestamp, the source routes and router alert need their minimum length and a
 * pointer that leaves room for an entry (or points past a full option), and none of the first
 * three may appear twice (RFC 1812 §5.2.4.1 for source routes); a full timestamp option's
 * overflow count may not be 15. Other options are skipped by their length. Returns
 * IPV4_OPTIONS_VALID, IPV4_OPTIONS_SOURCE_ROUTED, or — when malformed — the offset from the
 * start of the header of the offending octet: the pointer of the ICMP Parameter Problem (RFC
 * 792) Linux answers with. Reads nothing outside the header; allocates nothing.
 */
export function validateIpv4Options(bytes: Uint8Array, offset: number, headerLength: number): number {
  const end = offset + headerLength;
  let seen = 0;
  let at = offset + IPV4_MIN_HEADER_LENGTH;
  while (at < end) {
    const type = bytes[at]!;
    if (type === Ipv4Option.EOL) break;
    if (type === Ipv4Option.NOP) { at++; continue; }
    const left = end - at;
    if (left < 2) return at - offset;
    const length = bytes[at + OPT_LENGTH]!;
    if (length < 2 || length > left) return at - offset;
    switch (type) {
      case Ipv4Option.LSRR:
      case Ipv4Option.SSRR:
        if (length < ROUTE_MIN_LENGTH) return at + OPT_LENGTH - offset;
        if (bytes[at + OPT_POINTER]! < ROUTE_MIN_POINTER) return at + OPT_POINTER - offset;
        if (seen & SEEN_SOURCE_ROUTE) return at - offset;
        seen |= SEEN_SOURCE_ROUTE;
        break;
      case Ipv4Option.RECORD_ROUTE: {
        if (seen & SEEN_RECORD_ROUTE) return at - offset;
        if (length < ROUTE_MIN_LENGTH) return at + OPT_LENGTH - offset;
        const pointer = bytes[at + OPT_POINTER]!;
        if (pointer < ROUTE_MIN_POINTER) return at + OPT_POINTER - offset;
        if (pointer <= length && pointer + 3 > length) return at + OPT_POINTER - offset;
        seen |= SEEN_RECORD_ROUTE;
        break;
      }
      case Ipv4Option.TIMESTAMP: {
        if (seen & SEEN_TIMESTAMP) return at - offset;
        if (length < TS_MIN_LENGTH) return at + OPT_LENGTH - offset;
        const pointer = bytes[at + OPT_POINTER]!;
        if (pointer < TS_MIN_POINTER) return at + OPT_POINTER - offset;
        const flags = bytes[at + OPT_TS_FLAGS]! & 0x0f;
        if (pointer <= length) {
          // Room left: a timestamp (4 octets), or an address and a timestamp (8).
          if (pointer + 3 > length) return at + OPT_POINTER - offset;
          if ((flags === TS_ADDRESS_AND_TIME || flags === TS_PRESPECIFIED) && pointer + 7 > length) return at + OPT_POINTER - offset;
        } else if (flags !== TS_PRESPECIFIED && bytes[at + OPT_TS_FLAGS]! >>> 4 === TS_OVERFLOW_MAX) {
          return at + OPT_TS_FLAGS - offset;
        }
        seen |= SEEN_TIMESTAMP;
        break;
      }
      case Ipv4Option.ROUTER_ALERT:
        if (length < ROUTER_ALERT_LENGTH) return at + OPT_LENGTH - offset;
        break;
    }
    at += length;
  }
  return seen & SEEN_SOURCE_ROUTE ? IPV4_OPTIONS_SOURCE_ROUTED : IPV4_OPTIONS_VALID;
}

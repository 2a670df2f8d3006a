// ICMPv6 (RFC 4443): echo, destination unreachable, packet too big, time exceeded, parameter
// problem; Neighbor Discovery messages and their options (RFC 4861 §4: RS, RA, NS, NA; source
// and target link-layer address, prefix information, MTU); the MLDv2 report (RFC 3810 §5.2).
// Zero-copy view. The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3), so every emitter
// and the check take its sum (checksum.ts pseudoHeaderSumV6). Addresses are written by the caller
// (Ipv6AddressTable.copyTo) at the named offsets before the checksum is filled.
import { WireView, outOfBounds } from './view.ts';
import { checksumAdd, checksumFold, internetChecksum } from './checksum.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const Icmpv6Type = {
  DEST_UNREACHABLE: 1, PACKET_TOO_BIG: 2, TIME_EXCEEDED: 3, PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128, ECHO_REPLY: 129, MLD_QUERY: 130, MLD_REPORT: 131, MLD_DONE: 132,
  ROUTER_SOLICITATION: 133, ROUTER_ADVERTISEMENT: 134, NEIGHBOR_SOLICITATION: 135, NEIGHBOR_ADVERTISEMENT: 136, REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;
export const Icmpv6UnreachableCode = { NO_ROUTE: 0, ADMIN: 1, BEYOND_SCOPE: 2, ADDRESS: 3, PORT: 4, SOURCE_POLICY: 5, REJECT_ROUTE: 6 } as const;
export const Icmpv6TimeExceededCode = { HOP_LIMIT: 0, REASSEMBLY: 1 } as const;
export const ICMPV6_HEADER_LENGTH = 8;
/** RFC 4443 §2.4(c): an error carries as much of the offending packet as fits in the minimum MTU. */
export const ICMPV6_ERROR_MAX = 1280;

/** Byte offsets of the ICMPv6 header's fields; the second word is read by type. */
export const Icmpv6Field = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENTIFIER: 4, SEQUENCE: 6, MTU: 4, POINTER: 4, REST: 4 } as const;

/** Offsets inside NDP messages (RFC 4861 §4.1–4.4), from the ICMPv6 header's start. */
export const NdpField = {
  /** NS / NA: the target address; NA: the R/S/O flags in the first byte of the second word. */
  NA_FLAGS: 4, TARGET: 8, NS_NA_OPTIONS: 24,
  RS_OPTIONS: 8,
  RA_CUR_HOP_LIMIT: 4, RA_FLAGS: 5, RA_ROUTER_LIFETIME: 6, RA_REACHABLE_TIME: 8, RA_RETRANS_TIMER: 12, RA_OPTIONS: 16,
  /** Redirect (§4.5): the better first hop (TARGET), the destination redirected, then options. */
  REDIRECT_DESTINATION: 24, REDIRECT_OPTIONS: 40,
} as const;
export const NdpNaFlags = { ROUTER: 0x80, SOLICITED: 0x40, OVERRIDE: 0x20 } as const;
export const NDP_NS_NA_LENGTH = 24;
export const NDP_RS_LENGTH = 8;
export const NDP_RA_LENGTH = 16;
export const NDP_REDIRECT_LENGTH = 40;

/** NDP option types (RFC 4861 §4.6); lengths count 8 octets, type and length included. */
export const NdpOption = { SOURCE_LINK_ADDRESS: 1, TARGET_LINK_ADDRESS: 2, PREFIX_INFORMATION: 3, REDIRECTED_HEADER: 4, MTU: 5 } as const;
export const NdpOptionField = { TYPE: 0, LENGTH: 1, LINK_ADDRESS: 2, MTU: 4 } as const;
/** A link-layer address option for Ethernet: 8 bytes. */
export const NDP_LINK_ADDRESS_OPTION_LENGTH = 8;
/** Prefix information option (RFC 4861 §4.6.2): 32 bytes. */
export const NdpPrefixField = { PREFIX_LENGTH: 2, FLAGS: 3, VALID_LIFETIME: 4, PREFERRED_LIFETIME: 8, PREFIX: 16 } as const;
export const NdpPrefixFlags = { ON_LINK: 0x80, AUTONOMOUS: 0x40 } as const;
export const NDP_PREFIX_OPTION_LENGTH = 32;

/** MLDv2 report (RFC 3810 §5.2): header, then records of (type, aux length, source count, group, sources). */
export const MldField = { RECORD_COUNT: 6, RECORDS: 8 } as const;
export const MldRecordField = { TYPE: 0, AUX_LENGTH: 1, SOURCE_COUNT: 2, GROUP: 4 } as const;
export const MLD_RECORD_LENGTH = 20;
/** MLD query (RFC 3810 §5.1): Maximum Response Code at 4, the Multicast Address at 8, then (MLDv2) S flag and QRV in byte 24. */
export const MldQueryField = { MAX_RESPONSE_CODE: 4, GROUP: 8, FLAGS_QRV: 24 } as const;
/** An MLDv1 query (RFC 2710 §3) is 24 bytes; an MLDv2 one at least 28 (RFC 3810 §8.1 tells them apart by length). */
export const MLDV1_QUERY_LENGTH = 24;
export const MLDV2_QUERY_LENGTH = 28;
/** Record types (RFC 3810 §5.2.12): EXCLUDE with no sources is "every source", a plain join. */
export const MldRecordType = { MODE_IS_INCLUDE: 1, MODE_IS_EXCLUDE: 2, CHANGE_TO_INCLUDE: 3, CHANGE_TO_EXCLUDE: 4 } as const;

export class Icmpv6Packet extends WireView {
  /**
   * `length` is the whole ICMPv6 message; `pseudoSum` the IPv6 pseudo-header sum for it
   * (pseudoHeaderSumV6At), or -1 when the device already verified the checksum.
   */
  static check(bytes: Uint8Array, offset: number, length: number, pseudoSum: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, ICMPV6_HEADER_LENGTH)) return ParseError.TRUNCATED;
    if (pseudoSum >= 0 && checksumFold(checksumAdd(bytes, offset, length, pseudoSum)) !== 0xffff) return ParseError.BAD_CHECKSUM;
    return null;
  }

  get type(): number { return this.bytes[this.offset]!; }
  get code(): number { return this.bytes[this.offset + Icmpv6Field.CODE]!; }
  get checksum(): number { return get16(this.bytes, this.offset + Icmpv6Field.CHECKSUM); }
  get identifier(): number { return get16(this.bytes, this.offset + Icmpv6Field.IDENTIFIER); }
  get sequence(): number { return get16(this.bytes, this.offset + Icmpv6Field.SEQUENCE); }
  /** Packet Too Big: the next-hop MTU (32 bits). */
  get mtu(): number { return get32(this.bytes, this.offset + Icmpv6Field.MTU); }
  /** Parameter Problem: the offset of the octet in error in the quoted packet (32 bits). */
  get pointer(): number { return get32(this.bytes, this.offset + Icmpv6Field.POINTER); }
  /** RFC 4443 §2.1: types 0–127 are errors. */
  get isError(): boolean { return this.type < 128; }
  get dataOffset(): number { return this.offset + ICMPV6_HEADER_LENGTH; }
  get dataLength(): number { return this.length - ICMPV6_HEADER_LENGTH; }
}

/** Fills the checksum of the ICMPv6 message buf[offset..+length) (everything else written). */
export function fillIcmpv6Checksum(buf: Uint8Array, offset: number, length: number, pseudoSum: number): void {
  set16(buf, offset + Icmpv6Field.CHECKSUM, 0);
  set16(buf, offset + Icmpv6Field.CHECKSUM, internetChecksum(buf, offset, length, pseudoSum));
}

/** Echo request/reply header; `dataLength` bytes of data already follow it. Returns 8. */
export function emitIcmpv6Echo(buf: Uint8Array, offset: number, type: number, identifier: number, sequence: number, dataLength: number, pseudoSum: number): number {
  buf[offset] = type;
  buf[offset + Icmpv6Field.CODE] = 0;
  set16(buf, offset + Icmpv6Field.IDENTIFIER, identifier);
  set16(buf, offset + Icmpv6Field.SEQUENCE, sequence);
  fillIcmpv6Checksum(buf, offset, ICMPV6_HEADER_LENGTH + dataLength, pseudoSum);
  return ICMPV6_HEADER_LENGTH;
}

/**
 * Error header (RFC 4443 §3): the quoted packet (`quotedLength` bytes) already follows it.
 * `info` is the MTU of a Packet Too Big or the pointer of a Parameter Problem, else unused. Returns 8.
 */
export function emitIcmpv6Error(buf: Uint8Array, offset: number, type: number, code: number, quotedLength: number, info: number, pseudoSum: number): number {
  buf[offset] = type;
  buf[offset + Icmpv6Field.CODE] = code;
  set32(buf, offset + Icmpv6Field.REST, type === Icmpv6Type.PACKET_TOO_BIG || type === Icmpv6Type.PARAMETER_PROBLEM ? info : 0);
  fillIcmpv6Checksum(buf, offset, ICMPV6_HEADER_LENGTH + quotedLength, pseudoSum);
  return ICMPV6_HEADER_LENGTH;
}

/** Writes an Ethernet link-layer address option (`mac` as halves); returns 8. */
export function emitNdpLinkAddressOption(buf: Uint8Array, offset: number, type: number, macHi: number, macLo: number): number {
  buf[offset + NdpOptionField.TYPE] = type;
  buf[offset + NdpOptionField.LENGTH] = 1;
  set16(buf, offset + NdpOptionField.LINK_ADDRESS, macHi);
  set32(buf, offset + NdpOptionField.LINK_ADDRESS + 2, macLo);
  return NDP_LINK_ADDRESS_OPTION_LENGTH;
}

/**
 * The NS/NA fixed part: type, code 0, the NA flags (0 for an NS); the target at NdpField.TARGET is
 * the caller's to write. Returns 24 (options follow).
 */
export function emitNdpNeighbor(buf: Uint8Array, offset: number, type: number, naFlags: number): number {
  buf[offset] = type;
  buf[offset + Icmpv6Field.CODE] = 0;
  set32(buf, offset + NdpField.NA_FLAGS, 0);
  buf[offset + NdpField.NA_FLAGS] = naFlags;
  return NDP_NS_NA_LENGTH;
}

/** A router solicitation's fixed part; returns 8 (options follow). */
export function emitNdpRouterSolicitation(buf: Uint8Array, offset: number): number {
  buf[offset] = Icmpv6Type.ROUTER_SOLICITATION;
  buf[offset + Icmpv6Field.CODE] = 0;
  set32(buf, offset + Icmpv6Field.REST, 0);
  return NDP_RS_LENGTH;
}

/**
 * RFC 4861 §4.6: every option has a non-zero length and stays inside bytes[start..end). True
 * when the options are well formed (a message with a malformed one is discarded whole, §7.1.1).
 */
export function ndpOptionsValid(bytes: Uint8Array, start: number, end: number): boolean {
  let at = start;
  while (at < end) {
    if (at + 2 > end) return false;
    const len = bytes[at + NdpOptionField.LENGTH]! << 3;
    if (len === 0 || at + len > end) return false;
    at += len;
  }
  return true;
}

/** The first option of `type` in (valid) options bytes[start..end), as its absolute offset, or -1. */
export function findNdpOption(bytes: Uint8Array, start: number, end: number, type: number): number {
  let at = start;
  while (at + 2 <= end) {
    const len = bytes[at + NdpOptionField.LENGTH]! << 3;
    if (len === 0) return -1;
    if (bytes[at]! === type && at + len <= end) return at;
    at += len;
  }
  return -1;
}

/** The next option of `type` after the one at `previous` (iterating prefix options), or -1. */
export function nextNdpOption(bytes: Uint8Array, previous: number, end: number, type: number): number {
  const len = bytes[previous + NdpOptionField.LENGTH]! << 3;
  return len === 0 ? -1 : findNdpOption(bytes, previous + len, end, type);
}

/**
 * MLDv2 report header with `records` records of MLD_RECORD_LENGTH bytes (no sources) following:
 * the caller writes each with emitMldRecord, then fills the checksum. Returns 8.
 */
export function emitMldv2Report(buf: Uint8Array, offset: number, records: number): number {
  buf[offset] = Icmpv6Type.MLDV2_REPORT;
  buf[offset + Icmpv6Field.CODE] = 0;
  set16(buf, offset + Icmpv6Field.CHECKSUM, 0);
  set16(buf, offset + Icmpv6Field.REST, 0);
  set16(buf, offset + MldField.RECORD_COUNT, records);
  return MldField.RECORDS;
}

/** One source-less record (type and group); the group at MldRecordField.GROUP is the caller's to write. Returns 20. */
export function emitMldRecord(buf: Uint8Array, offset: number, type: number): number {
  buf[offset + MldRecordField.TYPE] = type;
  buf[offset + MldRecordField.AUX_LENGTH] = 0;
  set16(buf, offset + MldRecordField.SOURCE_COUNT, 0);
  return MLD_RECORD_LENGTH;
}

// IPv6 header (RFC 8200 §3) and the extension-header chain (§4): hop-by-hop and destination
// options with the option-type high bits (§4.2), routing (type 0 refused as RFC 5095 asks,
// segments-left 0 ignored, §4.4), fragment (§4.5; atomic fragments per RFC 6946). Zero-copy view;
// the payload's bounds come from Payload Length. Nothing here throws or allocates: a malformed
// chain is a result code the caller counts (and answers with a Parameter Problem when the RFC asks).
import { WireView, outOfBounds } from './view.ts';
import { get16, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const IPV6_HEADER_LENGTH = 40;
/** RFC 8200 §5: every link carries at least this much; no path MTU goes below it. */
export const IPV6_MIN_MTU = 1280;

/** Byte offsets of the IPv6 header's fields from the header's start (RFC 8200 §3). */
export const Ipv6Field = {
  VERSION_CLASS_FLOW: 0, PAYLOAD_LENGTH: 4, NEXT_HEADER: 6, HOP_LIMIT: 7, SOURCE: 8, DESTINATION: 24,
} as const;

/** Next Header values (IANA "Assigned Internet Protocol Numbers"; the extension headers of RFC 8200 §4). */
export const Ipv6NextHeader = {
  HOP_BY_HOP: 0, TCP: 6, UDP: 17, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51, ICMPV6: 58, NO_NEXT_HEADER: 59, DESTINATION_OPTIONS: 60,
} as const;

/** Offsets in a hop-by-hop, destination options or routing header: Hdr Ext Len counts 8 octets beyond the first 8. */
export const Ipv6ExtensionField = { NEXT_HEADER: 0, LENGTH: 1, ROUTING_TYPE: 2, SEGMENTS_LEFT: 3, OPTIONS: 2 } as const;

/** Offsets in the fragment header (RFC 8200 §4.5). */
export const Ipv6FragmentField = { NEXT_HEADER: 0, RESERVED: 1, OFFSET_FLAGS: 2, IDENTIFICATION: 4 } as const;
export const IPV6_FRAGMENT_HEADER_LENGTH = 8;
/** In OFFSET_FLAGS: the offset (8-octet units) in the high 13 bits, M in bit 0. */
export const IPV6_FRAGMENT_MORE = 1;

/** Hop-by-hop / destination option types (RFC 8200 §4.2; router alert RFC 2711). */
export const Ipv6Option = { PAD1: 0, PADN: 1, ROUTER_ALERT: 5 } as const;

/** Results of walkIpv6Extensions. */
export const Ipv6Chain = {
  /** The chain ends at an upper-layer header (or a non-atomic fragment header: reassemble first). */
  OK: 0,
  /** An extension header runs past the packet. */
  TRUNCATED: 1,
  /** Discard and answer with a Parameter Problem (code and pointer in the chain). */
  PARAMETER_PROBLEM: 2,
  /** Discard silently (an unknown option of type 01xxxxxx). */
  DISCARD: 3,
} as const;

/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4), which the chain walk reports. */
export const Ipv6ProblemCode = { HEADER_FIELD: 0, NEXT_HEADER: 1, OPTION: 2, INCOMPLETE_CHAIN: 3 } as const;

/** What walkIpv6Extensions found; one object reused for every packet. Offsets are absolute in the bytes walked. */
export class Ipv6HeaderChain {
  /** The upper-layer protocol (or FRAGMENT when a real fragment stops the walk). */
  nextHeader = 0;
  /** Where the upper-layer header starts (or the fragment header). */
  upperOffset = 0;
  /** The byte that named nextHeader (the IPv6 header's Next Header, or an extension's). */
  nextHeaderField = 0;
  /** The fragment header of a real fragment (offset or M set), else -1. */
  fragment = -1;
  /** An atomic fragment (RFC 6946: offset 0, M clear) was passed over. */
  atomic = false;
  /** A router alert option was present in the hop-by-hop header (MLD). */
  routerAlert = false;
  /** For PARAMETER_PROBLEM: the ICMPv6 code and the pointer (from the IPv6 header's start). */
  problemCode = 0;
  problemPointer = 0;
  /** For PARAMETER_PROBLEM about an unknown option: false when the option's type (11xxxxxx) forbids answering a multicast destination. */
  problemToMulticast = true;
}

export class Ipv6Packet extends WireView {
  /** Validates the fixed header: `length` may exceed 40 + Payload Length (Ethernet padding) but not fall short of it. */
  static check(bytes: Uint8Array, offset: number, length: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, IPV6_HEADER_LENGTH)) return ParseError.TRUNCATED;
    if (bytes[offset]! >>> 4 !== 6) return ParseError.BAD_VERSION;
    if (IPV6_HEADER_LENGTH + get16(bytes, offset + Ipv6Field.PAYLOAD_LENGTH) > length) return ParseError.TRUNCATED;
    return null;
  }

  get version(): number { return this.bytes[this.offset]! >>> 4; }
  get trafficClass(): number { return (get16(this.bytes, this.offset) >>> 4) & 0xff; }
  get flowLabel(): number { return ((this.bytes[this.offset + 1]! & 0x0f) << 16) | get16(this.bytes, this.offset + 2); }
  get payloadLength(): number { return get16(this.bytes, this.offset + Ipv6Field.PAYLOAD_LENGTH); }
  get nextHeader(): number { return this.bytes[this.offset + Ipv6Field.NEXT_HEADER]!; }
  get hopLimit(): number { return this.bytes[this.offset + Ipv6Field.HOP_LIMIT]!; }
  set hopLimit(v: number) { this.bytes[this.offset + Ipv6Field.HOP_LIMIT] = v; }
  get sourceOffset(): number { return this.offset + Ipv6Field.SOURCE; }
  get destinationOffset(): number { return this.offset + Ipv6Field.DESTINATION; }
  get payloadOffset(): number { return this.offset + IPV6_HEADER_LENGTH; }
  /** The whole packet: header and payload. */
  get totalLength(): number { return IPV6_HEADER_LENGTH + this.payloadLength; }
}

/**
 * Writes the fixed header at `offset` except the addresses (the caller copies them in from the
 * address table: table.copyTo(id, buf, offset + Ipv6Field.SOURCE)). Returns 40.
 */
export function emitIpv6(buf: Uint8Array, offset: number, payloadLength: number, nextHeader: number, hopLimit: number, trafficClass = 0, flowLabel = 0): number {
  set32(buf, offset, (6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff));
  set16(buf, offset + Ipv6Field.PAYLOAD_LENGTH, payloadLength);
  buf[offset + Ipv6Field.NEXT_HEADER] = nextHeader;
  buf[offset + Ipv6Field.HOP_LIMIT] = hopLimit;
  return IPV6_HEADER_LENGTH;
}

/** Writes a fragment header (RFC 8200 §4.5): `fragmentOffset` in bytes (a multiple of 8). Returns 8. */
export function emitIpv6Fragment(buf: Uint8Array, offset: number, nextHeader: number, fragmentOffset: number, more: boolean, identification: number): number {
  buf[offset + Ipv6FragmentField.NEXT_HEADER] = nextHeader;
  buf[offset + Ipv6FragmentField.RESERVED] = 0;
  set16(buf, offset + Ipv6FragmentField.OFFSET_FLAGS, (fragmentOffset & 0xfff8) | (more ? IPV6_FRAGMENT_MORE : 0));
  set32(buf, offset + Ipv6FragmentField.IDENTIFICATION, identification);
  return IPV6_FRAGMENT_HEADER_LENGTH;
}

/** The extension headers this walk knows how to pass over. */
function isExtension(nh: number): boolean {
  return nh === Ipv6NextHeader.HOP_BY_HOP || nh === Ipv6NextHeader.ROUTING || nh === Ipv6NextHeader.FRAGMENT || nh === Ipv6NextHeader.DESTINATION_OPTIONS;
}

/**
 * RFC 7112 §5: whether the first fragment (offset 0) whose fragment header is at bytes[fragmentAt]
 * holds the whole header chain up to and including the upper-layer header, within bytes[..end).
 * The upper-layer header is taken as Linux's ipv6_frag_thdr_truncated does: TCP's 20 bytes,
 * UDP's 8, ICMPv6's 8, one byte of anything else, nothing after No Next Header.
 */
export function firstFragmentChainComplete(bytes: Uint8Array, fragmentAt: number, end: number): boolean {
  let nh = bytes[fragmentAt + Ipv6FragmentField.NEXT_HEADER]!;
  let at = fragmentAt + IPV6_FRAGMENT_HEADER_LENGTH;
  while (isExtension(nh)) {
    if (at + 8 > end) return false;
    const hlen = nh === Ipv6NextHeader.FRAGMENT ? IPV6_FRAGMENT_HEADER_LENGTH : (bytes[at + Ipv6ExtensionField.LENGTH]! + 1) << 3;
    if (at + hlen > end) return false;
    nh = bytes[at + Ipv6ExtensionField.NEXT_HEADER]!;
    at += hlen;
  }
  switch (nh) {
    case Ipv6NextHeader.TCP: return at + 20 <= end;
    case Ipv6NextHeader.UDP: case Ipv6NextHeader.ICMPV6: return at + 8 <= end;
    case Ipv6NextHeader.NO_NEXT_HEADER: return true;
    default: return at + 1 <= end;
  }
}

/**
 * Walks the extension headers of the IPv6 packet at bytes[offset..offset+length) (length: 40 +
 * Payload Length, already checked) as a host does (RFC 8200 §4, in order):
 * - hop-by-hop only right after the fixed header (§4.3; elsewhere: Parameter Problem code 1);
 * - options: Pad1/PadN skipped, router alert noted, unknown ones by their type's two high bits
 *   (§4.2: 00 skip, 01 discard, 10 discard and answer, 11 discard and answer unless multicast);
 * - routing: segments left 0 is ignored; otherwise (this host forwards nothing, and type 0 is
 *   deprecated by RFC 5095) Parameter Problem code 0 at the Routing Type field;
 * - fragment: an atomic fragment (offset 0, M clear) is passed over (RFC 6946 §4); any other ends
 *   the walk with `fragment` set, for reassembly.
 * Ends at the first upper-layer header. Reads nothing outside the packet; allocates nothing.
 * `judge` false only skips the headers (what an ICMPv6 error's quote or the question "is this an
 * ICMPv6 error?" needs): options and routing headers are not judged, fragments still stop it.
 */
export function walkIpv6Extensions(bytes: Uint8Array, offset: number, length: number, out: Ipv6HeaderChain, judge = true): number {
  const end = offset + length;
  out.fragment = -1;
  out.atomic = false;
  out.routerAlert = false;
  out.problemToMulticast = true;
  let field = offset + Ipv6Field.NEXT_HEADER;
  let nh = bytes[field]!;
  let at = offset + IPV6_HEADER_LENGTH;
  // Every extension header is at least 8 bytes, so the packet's length bounds the loop.
  while (isExtension(nh)) {
    if (judge && nh === Ipv6NextHeader.HOP_BY_HOP && at !== offset + IPV6_HEADER_LENGTH) {
      return problem(out, Ipv6ProblemCode.NEXT_HEADER, field - offset);
    }
    if (at + 8 > end) return Ipv6Chain.TRUNCATED;
    if (nh === Ipv6NextHeader.FRAGMENT) {
      const word = get16(bytes, at + Ipv6FragmentField.OFFSET_FLAGS);
      if ((word & 0xfff8) !== 0 || (word & IPV6_FRAGMENT_MORE) !== 0) {
        out.nextHeader = nh;
        out.nextHeaderField = field;
        out.upperOffset = at;
        out.fragment = at;
        return Ipv6Chain.OK;
      }
      out.atomic = true;
      field = at + Ipv6FragmentField.NEXT_HEADER;
      nh = bytes[field]!;
      at += IPV6_FRAGMENT_HEADER_LENGTH;
      continue;
    }
    const hlen = (bytes[at + Ipv6ExtensionField.LENGTH]! + 1) << 3;
    if (at + hlen > end) return Ipv6Chain.TRUNCATED;
    if (!judge) {
      // Skipped unread.
    } else if (nh === Ipv6NextHeader.ROUTING) {
      if (bytes[at + Ipv6ExtensionField.SEGMENTS_LEFT]! !== 0) {
        return problem(out, Ipv6ProblemCode.HEADER_FIELD, at + Ipv6ExtensionField.ROUTING_TYPE - offset);
      }
    } else {
      const r = walkOptions(bytes, offset, at + Ipv6ExtensionField.OPTIONS, at + hlen, out);
      if (r !== Ipv6Chain.OK) return r;
    }
    field = at + Ipv6ExtensionField.NEXT_HEADER;
    nh = bytes[field]!;
    at += hlen;
  }
  out.nextHeader = nh;
  out.nextHeaderField = field;
  out.upperOffset = at;
  return Ipv6Chain.OK;
}

/** The TLV options of one hop-by-hop or destination options header, bytes[at..end). */
function walkOptions(bytes: Uint8Array, ipOffset: number, at: number, end: number, out: Ipv6HeaderChain): number {
  while (at < end) {
    const type = bytes[at]!;
    if (type === Ipv6Option.PAD1) { at++; continue; }
    if (at + 2 > end) return Ipv6Chain.TRUNCATED;
    const len = bytes[at + 1]!;
    if (at + 2 + len > end) return Ipv6Chain.TRUNCATED;
    if (type === Ipv6Option.ROUTER_ALERT) out.routerAlert = true;
    else if (type !== Ipv6Option.PADN) {
      switch (type >>> 6) {
        case 0: break;
        case 1: return Ipv6Chain.DISCARD;
        case 2: return problem(out, Ipv6ProblemCode.OPTION, at - ipOffset);
        default:
          out.problemToMulticast = false;
          return problem(out, Ipv6ProblemCode.OPTION, at - ipOffset);
      }
    }
    at += 2 + len;
  }
  return Ipv6Chain.OK;
}

function problem(out: Ipv6HeaderChain, code: number, pointer: number): number {
  out.problemCode = code;
  out.problemPointer = pointer;
  return Ipv6Chain.PARAMETER_PROBLEM;
}

// ICMP for IPv4 (RFC 792): echo, destination unreachable (incl. RFC 1191 next-hop MTU for
// fragmentation needed), time exceeded, parameter problem, and the quoted datagram of error
// messages. Zero-copy view.
import { WireView, outOfBounds } from './view.ts';
import { checksumFold, checksumAdd, internetChecksum } from './checksum.ts';
import { get16, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const IcmpType = { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAMETER_PROBLEM: 12 } as const;
export const IcmpUnreachableCode = {
  NET: 0, HOST: 1, PROTOCOL: 2, PORT: 3, FRAG_NEEDED: 4, SOURCE_ROUTE_FAILED: 5,
} as const;
export const IcmpTimeExceededCode = { TTL: 0, REASSEMBLY: 1 } as const;
export const ICMP_HEADER_LENGTH = 8;
/** Byte offsets of the ICMP header's fields (RFC 792); the second word is read by type. */
export const Icmpv4Field = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENTIFIER: 4, SEQUENCE: 6, POINTER: 4, NEXT_HOP_MTU: 6, REST: 4 } as const;

export class Icmpv4Packet extends WireView {
  /** `length` is the whole ICMP message (the IPv4 payload length); the checksum covers all of it. */
  static check(bytes: Uint8Array, offset: number, length: number, verifyChecksum = true): ParseError | null {
    if (outOfBounds(bytes, offset, length, ICMP_HEADER_LENGTH)) return ParseError.TRUNCATED;
    if (verifyChecksum && checksumFold(checksumAdd(bytes, offset, length)) !== 0xffff) return ParseError.BAD_CHECKSUM;
    return null;
  }

  get type(): number { return this.bytes[this.offset]!; }
  set type(v: number) { this.bytes[this.offset] = v; }
  get code(): number { return this.bytes[this.offset + Icmpv4Field.CODE]!; }
  set code(v: number) { this.bytes[this.offset + Icmpv4Field.CODE] = v; }
  get checksum(): number { return get16(this.bytes, this.offset + Icmpv4Field.CHECKSUM); }
  set checksum(v: number) { set16(this.bytes, this.offset + Icmpv4Field.CHECKSUM, v); }
  /** Echo request/reply identifier. */
  get identifier(): number { return get16(this.bytes, this.offset + Icmpv4Field.IDENTIFIER); }
  set identifier(v: number) { set16(this.bytes, this.offset + Icmpv4Field.IDENTIFIER, v); }
  /** Echo request/reply sequence number. */
  get sequence(): number { return get16(this.bytes, this.offset + Icmpv4Field.SEQUENCE); }
  set sequence(v: number) { set16(this.bytes, this.offset + Icmpv4Field.SEQUENCE, v); }
  /** RFC 1191 next-hop MTU of a fragmentation-needed message (0 from pre-RFC 1191 routers). */
  get nextHopMtu(): number { return get16(this.bytes, this.offset + Icmpv4Field.NEXT_HOP_MTU); }
  /** Parameter problem (code 0): the offset in the quoted header of the octet in error. */
  get pointer(): number { return this.bytes[this.offset + Icmpv4Field.POINTER]!; }
  get isError(): boolean {
    const t = this.type;
    return t === IcmpType.DEST_UNREACHABLE || t === IcmpType.TIME_EXCEEDED || t === IcmpType.PARAMETER_PROBLEM;
  }
  /** Echo data, or the quoted IPv4 header + leading payload of an error: absolute offset and length. */
  get dataOffset(): number { return this.offset + ICMP_HEADER_LENGTH; }
  get dataLength(): number { return this.length - ICMP_HEADER_LENGTH; }
  /** Quoted datagram of an error message; parse it with Ipv4Packet.check(..., verifyChecksum) and allow truncation. */
  get quotedOffset(): number { return this.offset + ICMP_HEADER_LENGTH; }
  get quotedLength(): number { return this.length - ICMP_HEADER_LENGTH; }

  verifyChecksum(): boolean { return checksumFold(checksumAdd(this.bytes, this.offset, this.length)) === 0xffff; }
  fillChecksum(): void {
    set16(this.bytes, this.offset + Icmpv4Field.CHECKSUM, 0);
    set16(this.bytes, this.offset + Icmpv4Field.CHECKSUM, internetChecksum(this.bytes, this.offset, this.length));
  }
}

/**
 * Write an echo request/reply header; `dataLength` bytes of echo data must already sit after it
 * (the checksum covers them). Returns 8.
 */
export function emitIcmpEcho(buf: Uint8Array, offset: number, type: number, identifier: number, sequence: number, dataLength: number): number {
  buf[offset] = type;
  buf[offset + Icmpv4Field.CODE] = 0;
  set16(buf, offset + Icmpv4Field.CHECKSUM, 0);
  set16(buf, offset + Icmpv4Field.IDENTIFIER, identifier);
  set16(buf, offset + Icmpv4Field.SEQUENCE, sequence);
  set16(buf, offset + Icmpv4Field.CHECKSUM, internetChecksum(buf, offset, ICMP_HEADER_LENGTH + dataLength));
  return ICMP_HEADER_LENGTH;
}

/**
 * Write an error header (destination unreachable / time exceeded / parameter problem); the quoted
 * datagram (`quotedLength` bytes) must already follow it. `info` is the next-hop MTU of
 * FRAG_NEEDED (RFC 1191 §4) or the pointer of a parameter problem (RFC 792). Returns 8.
 */
export function emitIcmpError(buf: Uint8Array, offset: number, type: number, code: number, quotedLength: number, info = 0): number {
  buf[offset] = type;
  buf[offset + Icmpv4Field.CODE] = code;
  set16(buf, offset + Icmpv4Field.CHECKSUM, 0);
  set32(buf, offset + Icmpv4Field.REST, 0);
  if (type === IcmpType.DEST_UNREACHABLE && code === IcmpUnreachableCode.FRAG_NEEDED) set16(buf, offset + Icmpv4Field.NEXT_HOP_MTU, info);
  else if (type === IcmpType.PARAMETER_PROBLEM) buf[offset + Icmpv4Field.POINTER] = info;
  set16(buf, offset + Icmpv4Field.CHECKSUM, internetChecksum(buf, offset, ICMP_HEADER_LENGTH + quotedLength));
  return ICMP_HEADER_LENGTH;
}

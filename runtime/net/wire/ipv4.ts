// IPv4 header (RFC 791): IHL respected and options skipped, flags/fragment offset, header
// checksum (RFC 1071) verify/fill. Zero-copy view; payload bounds come from Total Length.
import { WireView, outOfBounds } from './view.ts';
import { checksumFold, checksumAdd, internetChecksum } from './checksum.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;
export const IPV4_MIN_HEADER_LENGTH = 20;
export const Ipv4Flags = { DF: 0x4000, MF: 0x2000 } as const;

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
    const total = get16(bytes, offset + 2);
    if (total < hl) return ParseError.BAD_TOTAL_LENGTH;
    if (total > length) return ParseError.TRUNCATED;
    if (verifyChecksum && checksumFold(checksumAdd(bytes, offset, hl)) !== 0xffff) return ParseError.BAD_CHECKSUM;
    return null;
  }

  get version(): number { return this.bytes[this.offset]! >>> 4; }
  get ihl(): number { return this.bytes[this.offset]! & 0x0f; }
  get headerLength(): number { return (this.bytes[this.offset]! & 0x0f) << 2; }
  get dscp(): number { return this.bytes[this.offset + 1]! >>> 2; }
  get ecn(): number { return this.bytes[this.offset + 1]! & 3; }
  get totalLength(): number { return get16(this.bytes, this.offset + 2); }
  set totalLength(v: number) { set16(this.bytes, this.offset + 2, v); }
  get identification(): number { return get16(this.bytes, this.offset + 4); }
  set identification(v: number) { set16(this.bytes, this.offset + 4, v); }
  /** The 3 flag bits (reserved, DF, MF) as 0..7. */
  get flags(): number { return this.bytes[this.offset + 6]! >>> 5; }
  get dontFragment(): boolean { return (this.bytes[this.offset + 6]! & 0x40) !== 0; }
  get moreFragments(): boolean { return (this.bytes[this.offset + 6]! & 0x20) !== 0; }
  /** Fragment offset in 8-byte units. */
  get fragmentOffset(): number { return get16(this.bytes, this.offset + 6) & 0x1fff; }
  get isFragment(): boolean { return (get16(this.bytes, this.offset + 6) & 0x3fff) !== 0; }
  get ttl(): number { return this.bytes[this.offset + 8]!; }
  set ttl(v: number) { this.bytes[this.offset + 8] = v; }
  get protocol(): number { return this.bytes[this.offset + 9]!; }
  get checksum(): number { return get16(this.bytes, this.offset + 10); }
  set checksum(v: number) { set16(this.bytes, this.offset + 10, v); }
  get src(): number { return get32(this.bytes, this.offset + 12); }
  set src(v: number) { set32(this.bytes, this.offset + 12, v); }
  get dst(): number { return get32(this.bytes, this.offset + 16); }
  set dst(v: number) { set32(this.bytes, this.offset + 16, v); }
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
    set16(this.bytes, this.offset + 10, 0);
    set16(this.bytes, this.offset + 10, internetChecksum(this.bytes, this.offset, this.headerLength));
  }
}

/**
 * Write a 20-byte option-less IPv4 header with its checksum at `offset`; returns 20.
 * `flagsFragment` is the raw 16-bit flags+offset word (Ipv4Flags.DF by default).
 */
export function emitIpv4(buf: Uint8Array, offset: number, src: number, dst: number, protocol: number, payloadLength: number,
  ttl = 64, identification = 0, flagsFragment: number = Ipv4Flags.DF, tos = 0): number {
  buf[offset] = 0x45;
  buf[offset + 1] = tos;
  set16(buf, offset + 2, IPV4_MIN_HEADER_LENGTH + payloadLength);
  set16(buf, offset + 4, identification);
  set16(buf, offset + 6, flagsFragment);
  buf[offset + 8] = ttl;
  buf[offset + 9] = protocol;
  set16(buf, offset + 10, 0);
  set32(buf, offset + 12, src);
  set32(buf, offset + 16, dst);
  set16(buf, offset + 10, internetChecksum(buf, offset, IPV4_MIN_HEADER_LENGTH));
  return IPV4_MIN_HEADER_LENGTH;
}

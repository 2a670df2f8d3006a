// UDP (RFC 768) over IPv4: header view, length check, pseudo-header checksum (0 = none sent;
// a computed 0 is sent as 0xffff). Zero-copy view.
import { WireView, outOfBounds } from './view.ts';
import { checksumFold, checksumAdd, internetChecksum, pseudoHeaderSumV4, transportChecksumValid } from './checksum.ts';
import { get16, set16 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const UDP_HEADER_LENGTH = 8;
/** Byte offsets of the UDP header's fields (RFC 768). */
export const UdpField = { SOURCE_PORT: 0, DESTINATION_PORT: 2, LENGTH: 4, CHECKSUM: 6 } as const;

export class UdpDatagram extends WireView {
  /** `length` is the IPv4 payload length. Checksum is verified when src/dst are given (signed or unsigned). */
  static check(bytes: Uint8Array, offset: number, length: number, src?: number, dst?: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, UDP_HEADER_LENGTH)) return ParseError.TRUNCATED;
    const ulen = get16(bytes, offset + UdpField.LENGTH);
    if (ulen < UDP_HEADER_LENGTH) return ParseError.BAD_LENGTH;
    if (ulen > length) return ParseError.TRUNCATED;
    if (src !== undefined && dst !== undefined && get16(bytes, offset + UdpField.CHECKSUM) !== 0 && !transportChecksumValid(bytes, offset, ulen, src, dst, 17)) {
      return ParseError.BAD_CHECKSUM;
    }
    return null;
  }

  get srcPort(): number { return get16(this.bytes, this.offset); }
  set srcPort(v: number) { set16(this.bytes, this.offset, v); }
  get dstPort(): number { return get16(this.bytes, this.offset + UdpField.DESTINATION_PORT); }
  set dstPort(v: number) { set16(this.bytes, this.offset + UdpField.DESTINATION_PORT, v); }
  /** UDP Length field: header + data. */
  get udpLength(): number { return get16(this.bytes, this.offset + UdpField.LENGTH); }
  get checksum(): number { return get16(this.bytes, this.offset + UdpField.CHECKSUM); }
  set checksum(v: number) { set16(this.bytes, this.offset + UdpField.CHECKSUM, v); }
  get payloadOffset(): number { return this.offset + UDP_HEADER_LENGTH; }
  get payloadLength(): number { return this.udpLength - UDP_HEADER_LENGTH; }

  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    const n = this.udpLength;
    return checksumFold(checksumAdd(this.bytes, this.offset, n, pseudoHeaderSumV4(src, dst, 17, n))) === 0xffff;
  }
  fillChecksum(src: number, dst: number): void {
    const n = this.udpLength;
    set16(this.bytes, this.offset + UdpField.CHECKSUM, 0);
    const c = internetChecksum(this.bytes, this.offset, n, pseudoHeaderSumV4(src, dst, 17, n));
    set16(this.bytes, this.offset + UdpField.CHECKSUM, c === 0 ? 0xffff : c);
  }
}

/**
 * Write a UDP header; the payload (`payloadLength` bytes) must already follow it when src/dst
 * are given (checksum computed, addresses signed or unsigned); without them the checksum is left 0 (none). Returns 8.
 */
export function emitUdp(buf: Uint8Array, offset: number, srcPort: number, dstPort: number, payloadLength: number, src?: number, dst?: number): number {
  const n = UDP_HEADER_LENGTH + payloadLength;
  set16(buf, offset, srcPort);
  set16(buf, offset + UdpField.DESTINATION_PORT, dstPort);
  set16(buf, offset + UdpField.LENGTH, n);
  set16(buf, offset + UdpField.CHECKSUM, 0);
  if (src !== undefined && dst !== undefined) {
    const c = internetChecksum(buf, offset, n, pseudoHeaderSumV4(src, dst, 17, n));
    set16(buf, offset + UdpField.CHECKSUM, c === 0 ? 0xffff : c);
  }
  return UDP_HEADER_LENGTH;
}

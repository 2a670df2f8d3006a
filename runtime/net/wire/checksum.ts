// Internet checksum (RFC 1071), IPv4 TCP/UDP pseudo-header sum (RFC 793 §3.1, RFC 768) and
// incremental update (RFC 1624 eqn. 3). Sums are unfolded numbers; nothing here allocates.

/** One's-complement partial sum of bytes[offset, offset+length) added to `initial` (unfolded). */
export function checksumAdd(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  // Long even-aligned runs: sum native 16-bit words (RFC 1071 §2(B): the sum is byte-order
  // independent up to a final byte swap), half the reads of the byte loop.
  if (length >= 64 && ((bytes.byteOffset + offset) & 1) === 0 && LITTLE_ENDIAN) {
    return initial + sumWords(bytes, offset, length);
  }
  return initial + sumBytes(bytes, offset, length);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// One Uint16Array per backing buffer, cached: frames come from the same arena.
let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint16Array<ArrayBufferLike> = new Uint16Array(0);

function sumWords(bytes: Uint8Array, offset: number, length: number): number {
  const buffer = bytes.buffer;
  if (buffer !== cachedBuffer) {
    cachedBuffer = buffer;
    cachedWords = new Uint16Array(buffer, 0, buffer.byteLength >>> 1);
  }
  const words = cachedWords;
  const start = (bytes.byteOffset + offset) >>> 1;
  const count = length >>> 1;
  const end = start + count;
  const end4 = end - 3;
  let sum = 0;
  let i = start;
  for (; i < end4; i += 4) sum += words[i]! + words[i + 1]! + words[i + 2]! + words[i + 3]!;
  for (; i < end; i++) sum += words[i]!;
  // Fold, then swap the bytes back to network order.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = ((sum & 0xff) << 8) | (sum >>> 8);
  if (length & 1) sum += bytes[offset + length - 1]! << 8; // odd trailing byte, padded with zero (RFC 1071 §4.1)
  return sum;
}

function sumBytes(bytes: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  let i = offset;
  const end = offset + length;
  const end8 = end - 7;
  // Unrolled: four 16-bit words per step. A double holds 2^53 / 65535 words before losing bits.
  for (; i < end8; i += 8) {
    sum += ((bytes[i]! << 8) | bytes[i + 1]!) + ((bytes[i + 2]! << 8) | bytes[i + 3]!)
      + ((bytes[i + 4]! << 8) | bytes[i + 5]!) + ((bytes[i + 6]! << 8) | bytes[i + 7]!);
  }
  const end2 = end - 1;
  for (; i < end2; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8; // odd trailing byte, padded with zero (RFC 1071 §4.1)
  return sum;
}

/** Fold an unfolded sum to 16 bits (end-around carry). */
export function checksumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value: ~fold(initial + sum of range) & 0xffff. Verify: result 0 means valid. */
export function internetChecksum(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  return ~checksumFold(checksumAdd(bytes, offset, length, initial)) & 0xffff;
}

/** Pseudo-header sum for TCP/UDP over IPv4: src, dst, zero, protocol, upper-layer length. */
export function pseudoHeaderSumV4(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from oldWord to newWord. */
export function checksumUpdate16(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFold(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (sequence number, address): two word updates. */
export function checksumUpdate32(oldChecksum: number, oldValue: number, newValue: number): number {
  const sum = (~oldChecksum & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff)
    + (newValue >>> 16) + (newValue & 0xffff);
  return ~checksumFold(sum) & 0xffff;
}

/** True when a TCP/UDP segment over IPv4 sums to 0xffff with its pseudo-header (RFC 9293 §3.1, RFC 768). */
export function transportChecksumValid(bytes: Uint8Array, offset: number, length: number, src: number, dst: number, protocol: number): boolean {
  return checksumFold(checksumAdd(bytes, offset, length, pseudoHeaderSumV4(src, dst, protocol, length))) === 0xffff;
}

/**
 * Pseudo-header sum for an upper layer over IPv6 (RFC 8200 §8.1) from the addresses' unfolded
 * word sums (Ipv6AddressTable.sum): the 32-bit upper-layer length and the next header.
 */
export function pseudoHeaderSumV6(srcSum: number, dstSum: number, nextHeader: number, length: number): number {
  return srcSum + dstSum + (length >>> 16) + (length & 0xffff) + nextHeader;
}

/** The same sum read from the addresses of the IPv6 header at bytes[ipOffset] (received packets). */
export function pseudoHeaderSumV6At(bytes: Uint8Array, ipOffset: number, nextHeader: number, length: number): number {
  // Source (offset 8) and destination (24) are adjacent: one 32-byte run.
  return checksumAdd(bytes, ipOffset + 8, 32, (length >>> 16) + (length & 0xffff) + nextHeader);
}

/** True when the upper-layer packet bytes[offset..+length) of the IPv6 packet at ipOffset sums to 0xffff with its pseudo-header. */
export function transportChecksumValidV6(bytes: Uint8Array, ipOffset: number, offset: number, length: number, nextHeader: number): boolean {
  return checksumFold(checksumAdd(bytes, offset, length, pseudoHeaderSumV6At(bytes, ipOffset, nextHeader, length))) === 0xffff;
}

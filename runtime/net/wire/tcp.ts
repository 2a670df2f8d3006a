// TCP header (RFC 9293) and options: MSS, window scale and timestamps (RFC 7323), SACK-permitted
// and SACK blocks (RFC 2018), NOP/EOL; unknown options skipped by length, malformed lengths rejected.
import { WireView, outOfBounds } from './view.ts';
import { checksumFold, checksumAdd, internetChecksum, pseudoHeaderSumV4, transportChecksumValid } from './checksum.ts';
import { get16, get32, set16, set32 } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const TcpFlags = {
  FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80,
} as const;
export const TcpOptionKind = {
  EOL: 0, NOP: 1, MSS: 2, WINDOW_SCALE: 3, SACK_PERMITTED: 4, SACK: 5, TIMESTAMPS: 8,
} as const;
export const TCP_MIN_HEADER_LENGTH = 20;
export const TCP_MAX_SACK_BLOCKS = 4;
/** Byte offsets of the TCP header's fields (RFC 9293 §3.1). */
export const TcpField = {
  SOURCE_PORT: 0, DESTINATION_PORT: 2, SEQUENCE: 4, ACKNOWLEDGMENT: 8, DATA_OFFSET: 12, FLAGS: 13, WINDOW: 14, CHECKSUM: 16, URGENT_POINTER: 18,
} as const;

/** Data Offset × 4: the length in bytes of the TCP header at bytes[offset] (not checked here). */
export function tcpHeaderLength(bytes: Uint8Array, offset: number): number {
  return (bytes[offset + TcpField.DATA_OFFSET]! >>> 4) << 2;
}

/** Parsed options, preallocated and reused: parseOptions() overwrites every field. */
export class TcpOptions {
  /** -1 when absent. */
  mss = -1;
  /** Shift count, -1 when absent (values above 14 are reported as sent; RFC 7323 §2.3 clamps). */
  windowScale = -1;
  sackPermitted = false;
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  /** SACK block i is [sackBlocks[2i], sackBlocks[2i+1]) in sequence space. */
  readonly sackBlocks = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);
  clear(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/**
 * Walk options in bytes[start, end). With `out` null only validates. Returns null or BAD_OPTION
 * (length byte missing, < 2, running past the header, or a known option with the wrong length).
 */
export function parseTcpOptions(bytes: Uint8Array, start: number, end: number, out: TcpOptions | null): ParseError | null {
  if (out !== null) out.clear();
  let i = start;
  // Numeric literals (not TcpOptionKind.*) keep the switch a jump table on the hot path.
  while (i < end) {
    const kind = bytes[i]!;
    if (kind === 0) break; // EOL
    if (kind === 1) { i++; continue; } // NOP
    if (i + 1 >= end) return ParseError.BAD_OPTION;
    const len = bytes[i + 1]!;
    if (len < 2 || i + len > end) return ParseError.BAD_OPTION;
    switch (kind) {
      case 2: // MSS
        if (len !== 4) return ParseError.BAD_OPTION;
        if (out !== null) out.mss = (bytes[i + 2]! << 8) | bytes[i + 3]!;
        break;
      case 3: // window scale
        if (len !== 3) return ParseError.BAD_OPTION;
        if (out !== null) out.windowScale = bytes[i + 2]!;
        break;
      case 4: // SACK-permitted
        if (len !== 2) return ParseError.BAD_OPTION;
        if (out !== null) out.sackPermitted = true;
        break;
      case 5: { // SACK
        const n = (len - 2) >>> 3;
        if (((len - 2) & 7) !== 0 || n < 1 || n > TCP_MAX_SACK_BLOCKS) return ParseError.BAD_OPTION;
        if (out !== null) {
          for (let k = 0; k < n; k++) {
            out.sackBlocks[2 * k] = get32(bytes, i + 2 + 8 * k);
            out.sackBlocks[2 * k + 1] = get32(bytes, i + 6 + 8 * k);
          }
          out.sackCount = n;
        }
        break;
      }
      case 8: // timestamps
        if (len !== 10) return ParseError.BAD_OPTION;
        if (out !== null) {
          out.hasTimestamps = true;
          out.tsVal = get32(bytes, i + 2);
          out.tsEcr = get32(bytes, i + 6);
        }
        break;
      default:
        break; // unknown: skipped by its length
    }
    i += len;
  }
  return null;
}

export class TcpSegment extends WireView {
  /**
   * `length` is the IPv4 payload length (the whole segment). Options are validated; the checksum
   * is verified when src/dst are given (signed or unsigned).
   */
  static check(bytes: Uint8Array, offset: number, length: number, src?: number, dst?: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, TCP_MIN_HEADER_LENGTH)) return ParseError.TRUNCATED;
    const hl = tcpHeaderLength(bytes, offset);
    if (hl < TCP_MIN_HEADER_LENGTH) return ParseError.BAD_HEADER_LENGTH;
    if (hl > length) return ParseError.TRUNCATED;
    if (hl > TCP_MIN_HEADER_LENGTH) {
      const e = parseTcpOptions(bytes, offset + TCP_MIN_HEADER_LENGTH, offset + hl, null);
      if (e !== null) return e;
    }
    if (src !== undefined && dst !== undefined && !transportChecksumValid(bytes, offset, length, src, dst, 6)) {
      return ParseError.BAD_CHECKSUM;
    }
    return null;
  }

  get srcPort(): number { return get16(this.bytes, this.offset); }
  set srcPort(v: number) { set16(this.bytes, this.offset, v); }
  get dstPort(): number { return get16(this.bytes, this.offset + TcpField.DESTINATION_PORT); }
  set dstPort(v: number) { set16(this.bytes, this.offset + TcpField.DESTINATION_PORT, v); }
  get seq(): number { return get32(this.bytes, this.offset + TcpField.SEQUENCE); }
  set seq(v: number) { set32(this.bytes, this.offset + TcpField.SEQUENCE, v); }
  get ack(): number { return get32(this.bytes, this.offset + TcpField.ACKNOWLEDGMENT); }
  set ack(v: number) { set32(this.bytes, this.offset + TcpField.ACKNOWLEDGMENT, v); }
  /** Data offset in 32-bit words. */
  get dataOffset(): number { return this.bytes[this.offset + TcpField.DATA_OFFSET]! >>> 4; }
  get headerLength(): number { return tcpHeaderLength(this.bytes, this.offset); }
  /** The 4 reserved bits (the last was NS, RFC 3540, historic). */
  get reserved(): number { return this.bytes[this.offset + TcpField.DATA_OFFSET]! & 0x0f; }
  /** CWR..FIN as TcpFlags bits. */
  get flags(): number { return this.bytes[this.offset + TcpField.FLAGS]!; }
  set flags(v: number) { this.bytes[this.offset + TcpField.FLAGS] = v; }
  get fin(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.FIN) !== 0; }
  get syn(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.SYN) !== 0; }
  get rst(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.RST) !== 0; }
  get psh(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.PSH) !== 0; }
  get ackFlag(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.ACK) !== 0; }
  get urg(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.URG) !== 0; }
  get ece(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.ECE) !== 0; }
  get cwr(): boolean { return (this.bytes[this.offset + TcpField.FLAGS]! & TcpFlags.CWR) !== 0; }
  get window(): number { return get16(this.bytes, this.offset + TcpField.WINDOW); }
  set window(v: number) { set16(this.bytes, this.offset + TcpField.WINDOW, v); }
  get checksum(): number { return get16(this.bytes, this.offset + TcpField.CHECKSUM); }
  set checksum(v: number) { set16(this.bytes, this.offset + TcpField.CHECKSUM, v); }
  get urgentPointer(): number { return get16(this.bytes, this.offset + TcpField.URGENT_POINTER); }
  set urgentPointer(v: number) { set16(this.bytes, this.offset + TcpField.URGENT_POINTER, v); }
  get optionsOffset(): number { return this.offset + TCP_MIN_HEADER_LENGTH; }
  get optionsLength(): number { return this.headerLength - TCP_MIN_HEADER_LENGTH; }
  get payloadOffset(): number { return this.offset + this.headerLength; }
  get payloadLength(): number { return this.length - this.headerLength; }
  /** Sequence space consumed: payload + SYN + FIN. */
  get segmentLength(): number { return this.payloadLength + (this.syn ? 1 : 0) + (this.fin ? 1 : 0); }

  parseOptions(out: TcpOptions): ParseError | null {
    return parseTcpOptions(this.bytes, this.offset + TCP_MIN_HEADER_LENGTH, this.offset + this.headerLength, out);
  }
  verifyChecksum(src: number, dst: number): boolean {
    return checksumFold(checksumAdd(this.bytes, this.offset, this.length, pseudoHeaderSumV4(src, dst, 6, this.length))) === 0xffff;
  }
  fillChecksum(src: number, dst: number): void {
    set16(this.bytes, this.offset + TcpField.CHECKSUM, 0);
    set16(this.bytes, this.offset + TcpField.CHECKSUM, internetChecksum(this.bytes, this.offset, this.length, pseudoHeaderSumV4(src, dst, 6, this.length)));
  }
}

/**
 * Write a TCP header with `optionsLength` bytes of options (a multiple of 4, written separately,
 * e.g. by emitTcpOptions, before or after this call). Checksum is left 0: call
 * TcpSegment.fillChecksum once the payload is in place. Returns the header length.
 */
export function emitTcp(buf: Uint8Array, offset: number, srcPort: number, dstPort: number, seq: number, ack: number,
  flags: number, window: number, optionsLength = 0, urgentPointer = 0): number {
  const hl = TCP_MIN_HEADER_LENGTH + optionsLength;
  set16(buf, offset, srcPort);
  set16(buf, offset + TcpField.DESTINATION_PORT, dstPort);
  set32(buf, offset + TcpField.SEQUENCE, seq);
  set32(buf, offset + TcpField.ACKNOWLEDGMENT, ack);
  buf[offset + TcpField.DATA_OFFSET] = (hl >>> 2) << 4;
  buf[offset + TcpField.FLAGS] = flags;
  set16(buf, offset + TcpField.WINDOW, window);
  set16(buf, offset + TcpField.CHECKSUM, 0);
  set16(buf, offset + TcpField.URGENT_POINTER, urgentPointer);
  return hl;
}

/**
 * Write the options present in `opts` in Linux's SYN layout (MSS, SACK-permitted+TS, NOP+wscale;
 * NOP-padded), then SACK blocks, padded to a multiple of 4. Returns the bytes written (<= 40).
 */
export function emitTcpOptions(buf: Uint8Array, offset: number, opts: TcpOptions): number {
  let i = offset;
  if (opts.mss >= 0) {
    buf[i] = TcpOptionKind.MSS; buf[i + 1] = 4; set16(buf, i + 2, opts.mss); i += 4;
  }
  if (opts.sackPermitted) {
    buf[i] = TcpOptionKind.SACK_PERMITTED; buf[i + 1] = 2; i += 2;
    if (!opts.hasTimestamps) { buf[i] = 1; buf[i + 1] = 1; i += 2; }
  }
  if (opts.hasTimestamps) {
    if (!opts.sackPermitted) { buf[i] = 1; buf[i + 1] = 1; i += 2; }
    buf[i] = TcpOptionKind.TIMESTAMPS; buf[i + 1] = 10; set32(buf, i + 2, opts.tsVal); set32(buf, i + 6, opts.tsEcr); i += 10;
  }
  if (opts.windowScale >= 0) {
    buf[i] = 1; buf[i + 1] = TcpOptionKind.WINDOW_SCALE; buf[i + 2] = 3; buf[i + 3] = opts.windowScale; i += 4;
  }
  const room = (40 - (i - offset) - 4) >>> 3; // blocks that still fit after NOP,NOP,kind,len
  const n = Math.min(opts.sackCount, TCP_MAX_SACK_BLOCKS, room);
  if (n > 0) {
    buf[i] = 1; buf[i + 1] = 1; buf[i + 2] = TcpOptionKind.SACK; buf[i + 3] = 2 + 8 * n; i += 4;
    for (let k = 0; k < n; k++) {
      set32(buf, i, opts.sackBlocks[2 * k]!); set32(buf, i + 4, opts.sackBlocks[2 * k + 1]!); i += 8;
    }
  }
  while ((i - offset) & 3) buf[i++] = TcpOptionKind.EOL;
  return i - offset;
}

// pcap capture for links: a classic libpcap file any tool opens (tshark, tcpdump, Wireshark),
// plus a LinkMiddleware that records everything crossing a link. Why classic pcap and not pcapng:
// it is 24 bytes of header and 16 per record and every reader supports it; a file holds one link
// type, Ethernet or (for IP-framed links such as raw IP sockets) raw IP.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../../runtime/net/clock.ts';
import { WskUsageError } from '../../runtime/errors.ts';
import { LinkMiddleware, type LinkDevice } from '../link.ts';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;
/** Bare IPv4/IPv6 packets (links with framing 'ip'). */
export const LINKTYPE_RAW = 101;
export const DEFAULT_SNAPLEN = 262144;
const FILE_HEADER = 24;
const RECORD_HEADER = 16;
/** Records up to this many bytes are copied without creating a view (a capture of headers allocates nothing). */
const SMALL_COPY = 256;
/** Flush threshold: large enough that writeSync is rare, small enough to stay in cache. */
const FLUSH_BYTES = 64 * 1024;

export interface PcapFileOptions {
  /** Bytes kept per frame; longer frames are cut and keep their orig_len. Default 262144. */
  snaplen?: number;
  /** LINKTYPE_ETHERNET (default) or LINKTYPE_RAW. */
  linkType?: number;
  /**
   * Wall time (ms since 1970) stamped on the first record. Default Date.now() at open. Pass 0 for
   * VirtualClock runs so the file is byte-for-byte reproducible.
   */
  epochMs?: number;
  /** Stop recording after this many frames (the file stays a valid pcap). Default: no limit. */
  maxFrames?: number;
  /**
   * Stop recording before the file would grow past this many bytes (headers included): the
   * first record that does not fit ends the capture. Default: no limit.
   */
  maxBytes?: number;
}

export class PcapFile {
  readonly snaplen: number;
  frames = 0;
  /** Original frame bytes recorded (before snaplen truncation). */
  bytes = 0;
  /** Bytes in the file (file header, record headers and captured bytes). */
  fileBytes = FILE_HEADER;
  /** maxFrames or maxBytes was reached: the file is closed and later frames went unrecorded. */
  limitReached = false;
  private readonly maxFrames: number;
  private readonly maxBytes: number;
  private fd: number;
  // A Buffer (not a plain Uint8Array) so records go in with Buffer.copy/writeUInt32LE, which
  // take offsets instead of needing a subarray object per frame.
  private buf: Buffer;
  private used = 0;
  private readonly epochMs: number;
  private readonly clockAtOpen: number;

  constructor(readonly path: string, private readonly clock: Clock, opts: PcapFileOptions = {}) {
    const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 14 || snaplen > 0x7fffffff) {
      throw new WskUsageError('PCAP_OPTIONS', `PcapFile: snaplen ${snaplen} is invalid; pass an integer >= 14 (default ${DEFAULT_SNAPLEN}).`);
    }
    this.snaplen = snaplen;
    this.maxFrames = limit('maxFrames', opts.maxFrames, 0);
    this.maxBytes = limit('maxBytes', opts.maxBytes, FILE_HEADER);
    this.epochMs = opts.epochMs ?? Date.now();
    this.clockAtOpen = clock.now();
    this.fd = openSync(path, 'w');
    this.buf = Buffer.allocUnsafe(FLUSH_BYTES + 2048);
    // Written little-endian: readers detect byte order from the magic.
    const b = this.buf;
    b.writeUInt32LE(PCAP_MAGIC_USEC, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeInt32LE(0, 8); // thiszone
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(snaplen, 16);
    b.writeUInt32LE(opts.linkType ?? LINKTYPE_ETHERNET, 20);
    this.used = FILE_HEADER;
  }

  get closed(): boolean { return this.fd < 0; }

  /**
   * Appends one record copied from `src[offset, offset+length)`. Records of up to 256 captured
   * bytes allocate nothing; longer ones cost one subarray view.
   */
  record(src: Uint8Array, offset: number, length: number): void {
    if (this.fd < 0) return;
    const cap = length < this.snaplen ? length : this.snaplen;
    if (this.frames >= this.maxFrames || this.fileBytes + RECORD_HEADER + cap > this.maxBytes) {
      this.limitReached = true;
      this.close();
      return;
    }
    this.reserve(RECORD_HEADER + cap);
    const ms = this.epochMs + (this.clock.now() - this.clockAtOpen);
    let sec = Math.floor(ms / 1000);
    let usec = Math.floor((ms - sec * 1000) * 1000);
    if (usec >= 1000000) { sec++; usec -= 1000000; } // float rounding at the second boundary
    const b = this.buf;
    let p = this.used;
    b.writeUInt32LE(sec >>> 0, p); // wraps in 2106, like every classic pcap
    b.writeUInt32LE(usec, p + 4);
    b.writeUInt32LE(cap, p + 8);
    b.writeUInt32LE(length, p + 12);
    p += RECORD_HEADER;
    if (cap <= SMALL_COPY) {
      // Header-sized records: a plain loop, because Buffer.copy and subarray make a view each.
      for (let i = 0; i < cap; i++) b[p + i] = src[offset + i]!;
    } else {
      b.set(src.subarray(offset, offset + cap), p);
    }
    this.used = p + cap;
    this.frames++;
    this.bytes += length;
    this.fileBytes += RECORD_HEADER + cap;
    if (this.used >= FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.fd < 0 || this.used === 0) return;
    let done = 0;
    while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
    this.used = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    this.flush();
    // Only a record bigger than the whole buffer (jumbo/TSO frame with a large snaplen) grows it.
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n + FLUSH_BYTES);
  }
}

function limit(name: string, value: number | undefined, min: number): number {
  if (value === undefined) return Infinity;
  if (!(value === Infinity || (Number.isInteger(value) && value >= min))) {
    throw new WskUsageError('PCAP_OPTIONS', `PcapFile: ${name} ${value} is invalid; pass an integer >= ${min}, or leave it out for no limit.`);
  }
  return value;
}

export interface PcapWriterOptions extends PcapFileOptions {
  path: string;
  /** Which frames to record. Default 'both'. */
  direction?: 'both' | 'rx' | 'tx';
}

/**
 * Records frames at this point of the middleware stack: received frames before they go up,
 * transmitted frames before they go down (so a fault injector stacked below still shows the
 * frames the stack meant to send; stack the writer below it to see what the wire carried).
 */
export class PcapWriterLink extends LinkMiddleware {
  readonly file: PcapFile;
  private readonly rx: boolean;
  private readonly tx: boolean;
  // Buffer over the whole arena (shares memory, no copy) so PcapFile.record can copy by offset.
  private readonly arenaBytes: Buffer;

  constructor(inner: LinkDevice, opts: PcapWriterOptions) {
    super(inner);
    const dir = opts.direction ?? 'both';
    if (dir !== 'both' && dir !== 'rx' && dir !== 'tx') {
      throw new WskUsageError('PCAP_OPTIONS', `PcapWriterLink: direction '${String(dir)}' is invalid; use 'both', 'rx' or 'tx'.`);
    }
    this.rx = dir !== 'tx';
    this.tx = dir !== 'rx';
    this.arenaBytes = Buffer.from(inner.arena.buffer);
    this.file = new PcapFile(opts.path, inner.clock, { linkType: inner.framing === 'ip' ? LINKTYPE_RAW : LINKTYPE_ETHERNET, ...opts });
  }

  protected override onInnerReceive(slots: Int32Array, count: number): void {
    if (this.rx) this.recordAll(slots, count);
    super.onInnerReceive(slots, count);
  }

  override transmit(slots: Int32Array, count: number): void {
    if (this.tx) this.recordAll(slots, count);
    this.inner.transmit(slots, count);
  }

  flush(): void { this.file.flush(); }

  override close(): void {
    this.file.close();
    this.inner.close();
  }

  private recordAll(slots: Int32Array, count: number): void {
    const arena = this.arena;
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      this.file.record(this.arenaBytes, arena.base(s) + arena.offsetOf(s), arena.lengthOf(s));
    }
  }
}

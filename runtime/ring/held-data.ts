// Held data: (slot, offset, length) references that a receive queue or a WSK_DATA_INDICATION
// keeps instead of copying payload out of the arena (docs/architecture.md §5, held data).
// Contract:
// - hold(slot, offset, length) retains the slot and returns a handle (a small integer), or -1
//   when the table is full (the caller copies or drops). Handles are stable: a handle keeps its
//   identity and bytes after a copy-out, so queue order is untouched.
// - release(handle) drops the slot reference (or the JS copy); releasing a free handle throws
//   WskUsageError HELD_NOT_HELD.
// - Copy-out: when the arena's free slots fall to `lowWaterSlots` or below, relievePressure()
//   copies held bytes into JS-owned Uint8Arrays, oldest-held first, and releases their slots until
//   the arena is above the threshold again. copyOuts / bytesCopied count it. Copy-out allocates
//   (it is the slow path that keeps capture from stalling); hold/release/offset/length do not.
// - Copy-out also serves a device that wants a slot back (arena.want(): a kernel receive ring
//   about to wrap onto a frame still held here): relievePressure() copies out every handle on a
//   wanted slot.
// - pin(handle) exempts bytes an application was handed (a retained WSK indication) from
//   copy-out: they must not move while it may read them.
// - Table metadata is typed arrays; the only per-handle object is the copy, when there is one.
import { WskUsageError } from '../errors.ts';
import type { SlotArena } from './slot-arena.ts';

export interface HeldDataOptions {
  /** Maximum simultaneously held references. */
  capacity: number;
  /** relievePressure() acts when arena.freeCount <= lowWaterSlots. Default: 1/8 of the free-list slots. */
  lowWaterSlots?: number;
}

const NONE = -1;
const COPIED = -2;

export class HeldDataTable {
  readonly arena: SlotArena;
  readonly capacity: number;
  lowWaterSlots: number;

  /** Slot index, NONE (free handle) or COPIED (bytes live in `copies`). */
  private readonly slots: Int32Array;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  /** Hold order, for oldest-first copy-out. */
  private readonly seqs: Float64Array;
  private readonly pinned: Uint8Array;
  /** Scratch for relievePressure(). */
  private readonly candidates: Int32Array;
  private readonly copies: (Uint8Array | null)[];
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private seq = 0;

  // Counters.
  holds = 0;
  copyOuts = 0;
  bytesCopied = 0;
  /** hold() calls refused because the table was full. */
  refused = 0;
  /** holdCopy() copies into a free-list slot. */
  movedToPool = 0;

  constructor(arena: SlotArena, opts: HeldDataOptions) {
    const capacity = opts.capacity;
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new WskUsageError('HELD_OPTIONS', 'HeldDataTable: capacity must be a positive integer.');
    }
    this.arena = arena;
    this.capacity = capacity;
    this.lowWaterSlots = opts.lowWaterSlots ?? Math.max(1, arena.poolSize >> 3);
    this.slots = new Int32Array(capacity).fill(NONE);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.pinned = new Uint8Array(capacity);
    this.candidates = new Int32Array(capacity);
    this.copies = new Array<Uint8Array | null>(capacity).fill(null);
    this.freeStack = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  /** Handles currently in use. */
  get count(): number {
    return this.capacity - this.freeTop;
  }

  /** True when the arena is at or below the low-water mark, or its device wants slots back. */
  get underPressure(): boolean {
    return this.arena.freeCount <= this.lowWaterSlots || this.arena.wantedCount > 0;
  }

  /** Holds bytes [offset, offset+length) of `slot` (offset relative to the slot start). */
  hold(slot: number, offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > this.arena.slotSize) {
      throw new WskUsageError('HELD_RANGE', `HeldDataTable.hold: [${offset}, ${offset + length}) exceeds the slot.`);
    }
    if (this.freeTop === 0) {
      this.refused++;
      return -1;
    }
    this.arena.retain(slot); // throws if the slot is not held by the caller
    const h = this.freeStack[--this.freeTop]!;
    this.slots[h] = slot;
    this.offsets[h] = offset;
    this.lengths[h] = length;
    this.seqs[h] = this.seq++;
    this.pinned[h] = 0;
    this.holds++;
    return h;
  }

  /**
   * Holds a copy of bytes [offset, offset+length) of `slot` in a free-list slot of the arena: for
   * bytes in a device slot (a kernel ring frame) that would otherwise stay held for long, such as
   * out-of-order data waiting for a retransmission, so the ring is not blocked. Falls back to a
   * JS-owned copy when the free list is down to its low-water mark (transmit needs those slots).
   * Counted in `movedToPool`.
   */
  holdCopy(slot: number, offset: number, length: number): number {
    const arena = this.arena;
    // The free list also feeds transmit: leave it the low-water reserve.
    const c = arena.freeCount > this.lowWaterSlots ? arena.alloc() : -1;
    if (c < 0) return this.holdBytes(arena.view(slot).slice(offset, offset + length));
    const at = Math.min(arena.headroom, arena.slotSize - length);
    const from = arena.base(slot) + offset;
    arena.all.copyWithin(arena.base(c) + at, from, from + length);
    const h = this.hold(c, at, length);
    arena.release(c); // the handle holds it now (or nobody, if the table was full)
    if (h >= 0) this.movedToPool++;
    return h;
  }

  /**
   * Takes ownership of a JS-owned buffer (data that never lived in a slot, e.g. a reassembled
   * datagram) under a handle, so holders treat both kinds alike. Nothing is copied.
   */
  holdBytes(bytes: Uint8Array): number {
    if (this.freeTop === 0) {
      this.refused++;
      return -1;
    }
    const h = this.freeStack[--this.freeTop]!;
    this.slots[h] = COPIED;
    this.copies[h] = bytes;
    this.offsets[h] = 0;
    this.lengths[h] = bytes.length;
    this.seqs[h] = this.seq++;
    this.pinned[h] = 0;
    this.holds++;
    return h;
  }

  /**
   * Pinned bytes are never copied out: an application was handed a view of them (a retained
   * WSK indication) and may read it until it releases.
   */
  pin(handle: number): void {
    this.live(handle, 'pin');
    this.pinned[handle] = 1;
  }

  /** Holds the slot's current frame (arena offset/length). */
  holdFrame(slot: number): number {
    return this.hold(slot, this.arena.offsets[slot]!, this.arena.lengths[slot]!);
  }

  /** The arena slot, or -1 once the bytes were copied out. */
  slotOf(handle: number): number {
    const s = this.live(handle, 'slotOf');
    return s === COPIED ? -1 : s;
  }

  isCopied(handle: number): boolean {
    return this.live(handle, 'isCopied') === COPIED;
  }

  /** Start of the bytes inside slotOf(handle)'s view (0 inside a copy). */
  offsetOf(handle: number): number {
    this.live(handle, 'offsetOf');
    return this.offsets[handle]!;
  }

  lengthOf(handle: number): number {
    this.live(handle, 'lengthOf');
    return this.lengths[handle]!;
  }

  /**
   * The held bytes as a Uint8Array: a view into the slot (creates one view object) or the
   * JS-owned copy. Valid until release(handle) or copyOut(handle).
   */
  bytes(handle: number): Uint8Array {
    const s = this.live(handle, 'bytes');
    const off = this.offsets[handle]!;
    const len = this.lengths[handle]!;
    if (s === COPIED) return this.copies[handle]!.subarray(off, off + len);
    return this.arena.view(s).subarray(off, off + len);
  }

  /**
   * Where the held bytes live, without making a view: the slot's view (made once by the arena) or
   * the JS-owned copy; they start offsetOf(handle) bytes into it. Valid as bytes() is.
   */
  storage(handle: number): Uint8Array {
    const s = this.live(handle, 'storage');
    return s === COPIED ? this.copies[handle]! : this.arena.view(s);
  }

  /** Copies up to `dst.length - dstOffset` held bytes into dst; returns the number copied. */
  read(handle: number, dst: Uint8Array, dstOffset = 0): number {
    const s = this.live(handle, 'read');
    const off = this.offsets[handle]!;
    let len = this.lengths[handle]!;
    const room = dst.length - dstOffset;
    if (len > room) len = room;
    if (len <= 0) return 0;
    const src = s === COPIED ? this.copies[handle]! : this.arena.view(s);
    dst.set(src.subarray(off, off + len), dstOffset);
    return len;
  }

  /** Drops `n` bytes from the front (the application read them); returns the bytes left. */
  advance(handle: number, n: number): number {
    this.live(handle, 'advance');
    const len = this.lengths[handle]!;
    if (n < 0 || n > len) {
      throw new WskUsageError('HELD_RANGE', `HeldDataTable.advance: ${n} exceeds the ${len} held bytes.`);
    }
    this.offsets[handle] = this.offsets[handle]! + n;
    return (this.lengths[handle] = len - n);
  }

  /** Drops bytes from the end, keeping the first `length` (an out-of-order segment trimmed to its neighbour). */
  truncate(handle: number, length: number): void {
    this.live(handle, 'truncate');
    if (length < 0 || length > this.lengths[handle]!) {
      throw new WskUsageError('HELD_RANGE', `HeldDataTable.truncate: ${length} is not within the ${this.lengths[handle]} held bytes.`);
    }
    this.lengths[handle] = length;
  }

  /** Releases the reference (slot refcount or copy) and frees the handle. */
  release(handle: number): void {
    const s = this.live(handle, 'release');
    if (s === COPIED) this.copies[handle] = null;
    else this.arena.release(s);
    this.slots[handle] = NONE;
    this.freeStack[this.freeTop++] = handle;
  }

  /**
   * Copies the held bytes into a JS-owned buffer and releases the slot. Returns the bytes
   * copied (0 if already copied). The handle stays valid.
   */
  copyOut(handle: number): number {
    const s = this.live(handle, 'copyOut');
    if (s === COPIED) return 0;
    const off = this.offsets[handle]!;
    const len = this.lengths[handle]!;
    const copy = new Uint8Array(len);
    copy.set(this.arena.view(s).subarray(off, off + len));
    this.copies[handle] = copy;
    this.offsets[handle] = 0;
    this.slots[handle] = COPIED;
    this.arena.release(s);
    this.copyOuts++;
    this.bytesCopied += len;
    return len;
  }

  /**
   * If the arena is at or below lowWaterSlots free, copies out held data, oldest first, until it
   * is above the mark or nothing in this table is left in a slot. Returns the number of copy-outs.
   * (A copy-out frees a slot only when this was its last holder.)
   */
  relievePressure(): number {
    let done = 0;
    if (this.arena.wantedCount > 0) done += this.relieveWanted();
    if (this.arena.freeCount > this.lowWaterSlots) return done;
    // One scan for the candidates, ordered oldest first; then copy until above the mark.
    const c = this.candidates;
    let n = 0;
    for (let h = 0; h < this.capacity; h++) {
      if (this.slots[h]! >= 0 && !this.pinned[h]) c[n++] = h;
    }
    const seqs = this.seqs;
    c.subarray(0, n).sort((a, b) => seqs[a]! - seqs[b]!);
    for (let i = 0; i < n && this.arena.freeCount <= this.lowWaterSlots; i++) {
      this.copyOut(c[i]!);
      done++;
    }
    return done;
  }

  /** Copies out every unpinned handle on a slot the device wants back; returns how many. */
  private relieveWanted(): number {
    const wanted = this.arena.wanted;
    let done = 0;
    for (let h = 0; h < this.capacity; h++) {
      const s = this.slots[h]!;
      if (s >= 0 && wanted[s] !== 0 && !this.pinned[h]) {
        this.copyOut(h);
        done++;
      }
    }
    return done;
  }

  /** Throws WskUsageError HELD_LEAK listing handles still held. For tests. */
  assertNoLeaks(): void {
    if (this.freeTop === this.capacity) return;
    const held: string[] = [];
    for (let h = 0; h < this.capacity; h++) {
      const s = this.slots[h]!;
      if (s !== NONE) held.push(s === COPIED ? `${h}(copied)` : `${h}(slot ${s})`);
    }
    throw new WskUsageError('HELD_LEAK', `HeldDataTable: ${held.length} handle(s) still held: ${held.join(', ')}.`);
  }

  private live(handle: number, op: string): number {
    const s = handle >= 0 && handle < this.capacity && (handle | 0) === handle ? this.slots[handle]! : NONE;
    if (s === NONE) {
      throw new WskUsageError('HELD_NOT_HELD', `HeldDataTable.${op}: handle ${handle} is not held (double release, or use after release).`);
    }
    return s;
  }
}

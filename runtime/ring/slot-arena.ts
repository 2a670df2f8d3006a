// Slot arena: one ArrayBuffer (or SharedArrayBuffer) cut into N fixed-size slots (docs/architecture.md §5).
// Contract:
// - A slot is an index 0..slotCount-1. alloc() returns a free slot with refcount 1 and its frame
//   set to (offset = headroom, length = 0), or -1 when exhausted (counted in `exhaustions`; the
//   caller counts the drop). retain() adds a holder; release() drops one and, at zero, returns the
//   slot to the free list. Releasing or retaining a slot that is not held throws WskUsageError
//   (code SLOT_NOT_HELD); an index out of range throws SLOT_INDEX.
// - Hot path allocates nothing: metadata lives in typed arrays (refcounts, frame offsets and
//   lengths, free-list stack), and view(slot)/dataView(slot) return objects created once at
//   construction. Headers are prepended into the headroom with prepend().
// - Metadata is owned by one thread (the stack's). `shared: true` only puts the bytes in a
//   SharedArrayBuffer so a worker or native link can fill slots in place.
// - Device slots (an AF_PACKET receive ring mapped over the start of an external `buffer`): the
//   first `deviceSlots` slots are never on the free list. The device hands slots out itself
//   (refcount 1, frame set: a native link writes the typed arrays) and reports how many with
//   deviceHandedOut(); when the last holder releases one, onDeviceRelease(slot) gives it back to
//   the device instead of the free list. A device that will soon need a slot it has
//   handed out marks it with want(); holders that can move their bytes elsewhere (the held-data
//   table's copy-out) do so for wanted slots, and the mark clears when the slot comes back.
//   Device slots may have a size of their own (`deviceSlotSize`: a ring of small frames for the
//   traffic's MTU-sized frames ahead of pool slots sized for 64 KiB segments) and sit in blocks
//   of `deviceSlotsPerBlock` (a kernel ring's blocks, each `deviceBlockSize` bytes, the frames
//   packed from its start); the memory is device blocks first, then pool slots, and
//   base()/view() know where each slot starts. Code that sizes a frame it builds uses `slotSize`,
//   which is what alloc() hands out.
// - Per-slot frame metadata travels with the slot: `flags` (FrameFlags in runtime/net/device.ts:
//   checksum state) and `segmentSizes` (the MSS of a TSO segment). alloc() clears both.
import { WskUsageError } from '../errors.ts';

export const DEFAULT_HEADROOM = 256;
/** 64 KiB frame + 256 B headroom, rounded up to a 64-byte multiple. */
export const DEFAULT_SLOT_SIZE = roundUp(65536 + DEFAULT_HEADROOM, 64);

export interface SlotArenaOptions {
  /** Number of slots (> 0). */
  slotCount: number;
  /** Bytes per slot, rounded up to a multiple of 64. Default DEFAULT_SLOT_SIZE. */
  slotSize?: number;
  /** Bytes reserved at the front of every slot for prepended headers. Default 256. */
  headroom?: number;
  /** Back the slots with a SharedArrayBuffer. Default false. */
  shared?: boolean;
  /** Use this memory (device slots, then the pool's, e.g. a native link's mapping) instead of allocating. */
  buffer?: ArrayBuffer;
  /** The first N slots belong to the device (see the file comment). Default 0. */
  deviceSlots?: number;
  /** Bytes per device slot, a multiple of 16 (default slotSize). */
  deviceSlotSize?: number;
  /** Device slots per block (default: all of them, in one block). */
  deviceSlotsPerBlock?: number;
  /** Bytes per block of device slots (default deviceSlotsPerBlock * deviceSlotSize). */
  deviceBlockSize?: number;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class SlotArena {
  readonly slotCount: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Per-slot holder count; 0 means free. */
  readonly refcounts: Int32Array;
  /** Per-slot start of the frame, relative to the slot's first byte. */
  readonly offsets: Uint32Array;
  /** Per-slot frame length in bytes. */
  readonly lengths: Uint32Array;
  /** Per-slot FrameFlags (runtime/net/device.ts). */
  readonly flags: Uint8Array;
  /** Per-slot TCP segment size of a frame that carries several (segmentation offload), else 0. */
  readonly segmentSizes: Uint16Array;
  /** Slots [0, deviceSlots) belong to the device. */
  readonly deviceSlots: number;
  /** Bytes per device slot (slotSize unless the device asked for its own size). */
  readonly deviceSlotSize: number;
  readonly deviceSlotsPerBlock: number;
  readonly deviceBlockSize: number;
  /** Where the pool slots start in `buffer`: after the device's blocks. */
  readonly poolBase: number;
  /** Gives a device slot back to its device once its last holder released it. */
  onDeviceRelease: ((slot: number) => void) | null = null;
  /** Per-slot 1 while the device wants the slot back soon. */
  readonly wanted: Uint8Array;
  /** Slots currently wanted. */
  wantedCount = 0;
  /** Device slots currently handed out. */
  deviceInUse = 0;

  // Counters (read-only to callers). allocs - releases === inUse.
  allocs = 0;
  /** Slots returned to the free list (refcount reached 0). */
  releases = 0;
  /** alloc() calls that found no free slot. */
  exhaustions = 0;
  highWater = 0;

  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly views: Uint8Array[];
  /** The whole arena as one view: copies between slots use copyWithin on it (no view per copy). */
  readonly all: Uint8Array;
  private readonly dataViews: DataView[];

  constructor(opts: SlotArenaOptions) {
    const slotCount = opts.slotCount;
    if (!Number.isInteger(slotCount) || slotCount <= 0 || slotCount > 0x7fffffff) {
      throw new WskUsageError('ARENA_OPTIONS', 'SlotArena: slotCount must be a positive integer.');
    }
    const headroom = opts.headroom ?? DEFAULT_HEADROOM;
    const slotSize = roundUp(opts.slotSize ?? DEFAULT_SLOT_SIZE, 64);
    if (!Number.isInteger(headroom) || headroom < 0 || headroom >= slotSize) {
      throw new WskUsageError('ARENA_OPTIONS', 'SlotArena: headroom must be an integer in [0, slotSize).');
    }
    const deviceSlots = opts.deviceSlots ?? 0;
    if (!Number.isInteger(deviceSlots) || deviceSlots < 0 || deviceSlots > slotCount) {
      throw new WskUsageError('ARENA_OPTIONS', 'SlotArena: deviceSlots must be an integer in [0, slotCount].');
    }
    const deviceSlotSize = opts.deviceSlotSize ?? slotSize;
    if (!Number.isInteger(deviceSlotSize) || deviceSlotSize <= headroom || deviceSlotSize % 16 !== 0) {
      throw new WskUsageError('ARENA_OPTIONS', 'SlotArena: deviceSlotSize must be a multiple of 16 larger than the headroom.');
    }
    const perBlock = opts.deviceSlotsPerBlock ?? Math.max(1, deviceSlots);
    const blockSize = opts.deviceBlockSize ?? perBlock * deviceSlotSize;
    if (!Number.isInteger(perBlock) || perBlock <= 0 || !Number.isInteger(blockSize) || blockSize < perBlock * deviceSlotSize) {
      throw new WskUsageError('ARENA_OPTIONS', 'SlotArena: a block of device slots must hold deviceSlotsPerBlock slots of deviceSlotSize.');
    }
    const poolBase = Math.ceil(deviceSlots / perBlock) * blockSize;
    const total = poolBase + (slotCount - deviceSlots) * slotSize;
    if (opts.buffer && opts.buffer.byteLength < total) {
      throw new WskUsageError('ARENA_OPTIONS', `SlotArena: the buffer holds ${opts.buffer.byteLength} bytes, ${total} are needed for ${slotCount} slots of ${slotSize}.`);
    }
    this.slotCount = slotCount;
    this.slotSize = slotSize;
    this.headroom = headroom;
    this.deviceSlots = deviceSlots;
    this.deviceSlotSize = deviceSlotSize;
    this.deviceSlotsPerBlock = perBlock;
    this.deviceBlockSize = blockSize;
    this.poolBase = poolBase;
    this.buffer = opts.buffer ?? (opts.shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
    this.refcounts = new Int32Array(slotCount);
    this.offsets = new Uint32Array(slotCount);
    this.lengths = new Uint32Array(slotCount);
    this.flags = new Uint8Array(slotCount);
    this.segmentSizes = new Uint16Array(slotCount);
    this.wanted = new Uint8Array(slotCount);
    const pool = slotCount - deviceSlots;
    this.freeStack = new Int32Array(pool);
    // Lowest index on top, so a fresh arena hands out deviceSlots, deviceSlots + 1, ...
    for (let i = 0; i < pool; i++) this.freeStack[i] = slotCount - 1 - i;
    this.freeTop = pool;
    this.all = new Uint8Array(this.buffer);
    this.views = new Array<Uint8Array>(slotCount);
    this.dataViews = new Array<DataView>(slotCount);
    for (let i = 0; i < slotCount; i++) {
      const size = i < deviceSlots ? deviceSlotSize : slotSize;
      this.views[i] = new Uint8Array(this.buffer, this.base(i), size);
      this.dataViews[i] = new DataView(this.buffer, this.base(i), size);
    }
  }

  /** Slots currently held (pool slots allocated plus device slots handed out). */
  get inUse(): number {
    return this.slotCount - this.deviceSlots - this.freeTop + this.deviceInUse;
  }

  /** Slots the free list serves (all but the device's). */
  get poolSize(): number {
    return this.slotCount - this.deviceSlots;
  }

  /** Slots on the free list. */
  get freeCount(): number {
    return this.freeTop;
  }

  /** A free slot with refcount 1 and an empty frame at `headroom`, or -1 when exhausted. */
  alloc(): number {
    if (this.freeTop === 0) {
      this.exhaustions++;
      return -1;
    }
    const slot = this.freeStack[--this.freeTop]!;
    this.refcounts[slot] = 1;
    this.offsets[slot] = this.headroom;
    this.lengths[slot] = 0;
    this.flags[slot] = 0;
    this.segmentSizes[slot] = 0;
    this.allocs++;
    const used = this.poolSize - this.freeTop;
    if (used > this.highWater) this.highWater = used;
    return slot;
  }

  /** Adds a holder to a held slot. */
  retain(slot: number): void {
    this.check(slot, 'retain');
    this.refcounts[slot]!++;
  }

  /** Drops a holder; the last one returns the slot to the free list. Returns the new refcount. */
  release(slot: number): number {
    this.check(slot, 'release');
    const rc = this.refcounts[slot]! - 1;
    this.refcounts[slot] = rc;
    if (rc === 0) {
      if (this.wanted[slot] !== 0) { this.wanted[slot] = 0; this.wantedCount--; }
      if (slot < this.deviceSlots) {
        this.deviceInUse--;
        this.onDeviceRelease!(slot);
      } else {
        this.freeStack[this.freeTop++] = slot;
        this.releases++;
      }
    }
    return rc;
  }

  /** True for a slot the device owns (its frames come back to it, not to the free list). */
  isDeviceSlot(slot: number): boolean {
    return slot < this.deviceSlots;
  }

  /**
   * Records `count` device slots handed out by the device, which already set their refcount to 1
   * and their frame (a native link writes the typed arrays directly).
   */
  deviceHandedOut(count: number): void {
    this.deviceInUse += count;
  }

  /** The device will need this held slot back soon: holders that can copy its bytes out should. */
  want(slot: number): void {
    if (this.wanted[slot] === 0 && this.refcounts[slot]! > 0) { this.wanted[slot] = 1; this.wantedCount++; }
  }

  /** The whole slot (slotSize bytes, deviceSlotSize for a device slot) as a Uint8Array created at construction. */
  view(slot: number): Uint8Array {
    return this.views[slot]!;
  }

  /** The whole slot as a DataView created at construction. */
  dataView(slot: number): DataView {
    return this.dataViews[slot]!;
  }

  /** Byte offset of the slot's first byte inside `buffer`. */
  base(slot: number): number {
    if (slot >= this.deviceSlots) return this.poolBase + (slot - this.deviceSlots) * this.slotSize;
    const perBlock = this.deviceSlotsPerBlock;
    const block = Math.floor(slot / perBlock);
    return block * this.deviceBlockSize + (slot - block * perBlock) * this.deviceSlotSize;
  }

  /** The slot whose memory holds byte `byteOffset` of `buffer` (-1: a block's unused tail). */
  slotAt(byteOffset: number): number {
    if (byteOffset >= this.poolBase) return this.deviceSlots + Math.floor((byteOffset - this.poolBase) / this.slotSize);
    const block = Math.floor(byteOffset / this.deviceBlockSize);
    const inBlock = Math.floor((byteOffset - block * this.deviceBlockSize) / this.deviceSlotSize);
    return inBlock < this.deviceSlotsPerBlock ? block * this.deviceSlotsPerBlock + inBlock : -1;
  }

  offsetOf(slot: number): number {
    return this.offsets[slot]!;
  }

  lengthOf(slot: number): number {
    return this.lengths[slot]!;
  }

  /** Sets the frame window inside the slot (relative to the slot start). */
  setFrame(slot: number, offset: number, length: number): void {
    const size = this.views[slot]!.byteLength;
    if (offset < 0 || length < 0 || offset + length > size) {
      throw new WskUsageError('SLOT_FRAME', `SlotArena.setFrame: [${offset}, ${offset + length}) exceeds slot size ${size}.`);
    }
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
  }

  /** Grows the frame by `bytes` at the front (header push); returns the new offset. */
  prepend(slot: number, bytes: number): number {
    const off = this.offsets[slot]! - bytes;
    if (off < 0) {
      throw new WskUsageError('SLOT_HEADROOM', `SlotArena.prepend: ${bytes} bytes do not fit in the remaining headroom.`);
    }
    this.offsets[slot] = off;
    this.lengths[slot] = this.lengths[slot]! + bytes;
    return off;
  }

  /** Shrinks the frame by `bytes` at the front (header consumed); returns the new offset. */
  consume(slot: number, bytes: number): number {
    const len = this.lengths[slot]!;
    if (bytes > len) {
      throw new WskUsageError('SLOT_FRAME', `SlotArena.consume: ${bytes} bytes exceed the frame length ${len}.`);
    }
    this.lengths[slot] = len - bytes;
    return (this.offsets[slot] = this.offsets[slot]! + bytes);
  }

  /** Throws WskUsageError SLOT_LEAK listing every slot still held. For tests and shutdown. */
  assertNoLeaks(): void {
    if (this.freeTop === this.poolSize && this.deviceInUse === 0) return;
    const held: string[] = [];
    for (let i = 0; i < this.slotCount; i++) {
      const rc = this.refcounts[i]!;
      if (rc !== 0) held.push(`${i}(refcount ${rc})`);
    }
    throw new WskUsageError('SLOT_LEAK', `SlotArena: ${held.length} slot(s) still held: ${held.join(', ')}.`);
  }

  private check(slot: number, op: string): void {
    if (!(slot >= 0 && slot < this.slotCount) || (slot | 0) !== slot) {
      throw new WskUsageError('SLOT_INDEX', `SlotArena.${op}: ${slot} is not a slot index (0..${this.slotCount - 1}).`);
    }
    if (this.refcounts[slot]! <= 0) {
      throw new WskUsageError('SLOT_NOT_HELD', `SlotArena.${op}: slot ${slot} is free (double release, or use after release).`);
    }
  }
}

// Descriptor ring: single-producer / single-consumer FIFO of slot indices (docs/architecture.md §5).
// Contract:
// - Capacity is a power of two. `head` (consumer) and `tail` (producer) are free-running 32-bit
//   counters kept in an Int32Array control block; entries live at index & (capacity - 1).
// - push()/pushBatch() never block: a full ring returns false / the number actually pushed, and
//   the producer counts the rest as drops. pop() returns -1 and popBatch() 0 when empty.
// - One call per batch; nothing is allocated after construction.
// - The control block and entries share one buffer. With `shared: true` it is a
//   SharedArrayBuffer and head/tail are published with Atomics, so the producer and the consumer
//   may run on different threads (DescriptorRing.attach(buffer) on the other side).
import { WskUsageError } from '../errors.ts';

const HEAD = 0;
const TAIL = 1;
const CAP = 2;
/** Int32 words before the entries (head, tail, capacity, pad). */
const CTRL_WORDS = 4;

function isBuffer(x: unknown): x is ArrayBuffer | SharedArrayBuffer {
  return x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer);
}

export interface DescriptorRingOptions {
  /** Power of two, >= 2. */
  capacity: number;
  shared?: boolean;
}

export class DescriptorRing {
  readonly capacity: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  private readonly mask: number;
  private readonly ctl: Int32Array;
  private readonly entries: Int32Array;

  constructor(opts: DescriptorRingOptions | ArrayBuffer | SharedArrayBuffer) {
    let buffer: ArrayBuffer | SharedArrayBuffer;
    let capacity: number;
    if (isBuffer(opts)) {
      buffer = opts;
      capacity = new Int32Array(buffer, 0, CTRL_WORDS)[CAP]!;
    } else {
      capacity = opts.capacity;
      if (!Number.isInteger(capacity) || capacity < 2 || capacity > 0x40000000 || (capacity & (capacity - 1)) !== 0) {
        throw new WskUsageError('RING_CAPACITY', `DescriptorRing: capacity ${capacity} must be a power of two >= 2.`);
      }
      const bytes = (CTRL_WORDS + capacity) * 4;
      buffer = opts.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      new Int32Array(buffer, 0, CTRL_WORDS)[CAP] = capacity;
    }
    if ((capacity & (capacity - 1)) !== 0 || capacity < 2 || buffer.byteLength < (CTRL_WORDS + capacity) * 4) {
      throw new WskUsageError('RING_CAPACITY', 'DescriptorRing.attach: the buffer does not hold a descriptor ring.');
    }
    this.buffer = buffer;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.ctl = new Int32Array(buffer, 0, CTRL_WORDS);
    this.entries = new Int32Array(buffer, CTRL_WORDS * 4, capacity);
  }

  /** Wraps a ring buffer created elsewhere (e.g. posted from another thread). */
  static attach(buffer: ArrayBuffer | SharedArrayBuffer): DescriptorRing {
    return new DescriptorRing(buffer);
  }

  /** Entries waiting to be popped. */
  get size(): number {
    return (Atomics.load(this.ctl, TAIL) - Atomics.load(this.ctl, HEAD)) | 0;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  get isFull(): boolean {
    return this.size >= this.capacity;
  }

  /** Producer: appends one slot index; false when full. */
  push(slot: number): boolean {
    const ctl = this.ctl;
    const tail = ctl[TAIL]!;
    if (((tail - Atomics.load(ctl, HEAD)) | 0) >= this.capacity) return false;
    this.entries[tail & this.mask] = slot;
    Atomics.store(ctl, TAIL, (tail + 1) | 0);
    return true;
  }

  /** Producer: appends src[start .. start+count) in order, as many as fit; returns how many. */
  pushBatch(src: Int32Array, start = 0, count = src.length - start): number {
    const ctl = this.ctl;
    const tail = ctl[TAIL]!;
    const free = this.capacity - ((tail - Atomics.load(ctl, HEAD)) | 0);
    const n = count < free ? count : free;
    if (n <= 0) return 0;
    const entries = this.entries;
    const mask = this.mask;
    for (let i = 0; i < n; i++) entries[(tail + i) & mask] = src[start + i]!;
    Atomics.store(ctl, TAIL, (tail + n) | 0);
    return n;
  }

  /** Consumer: the oldest slot index, or -1 when empty. */
  pop(): number {
    const ctl = this.ctl;
    const head = ctl[HEAD]!;
    if (Atomics.load(ctl, TAIL) === head) return -1;
    const slot = this.entries[head & this.mask]!;
    Atomics.store(ctl, HEAD, (head + 1) | 0);
    return slot;
  }

  /** Consumer: moves up to `max` (default into.length - start) entries into `into` at `start`; returns how many. */
  popBatch(into: Int32Array, start = 0, max = into.length - start): number {
    const ctl = this.ctl;
    const head = ctl[HEAD]!;
    const avail = (Atomics.load(ctl, TAIL) - head) | 0;
    const n = max < avail ? max : avail;
    if (n <= 0) return 0;
    const entries = this.entries;
    const mask = this.mask;
    for (let i = 0; i < n; i++) into[start + i] = entries[(head + i) & mask]!;
    Atomics.store(ctl, HEAD, (head + n) | 0);
    return n;
  }
}

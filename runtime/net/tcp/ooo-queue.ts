// Out-of-order receive queue (RFC 9293 §3.10.7.4 "segment arrives": segments beyond RCV.NXT are
// held until the gap fills) with SACK block generation (RFC 2018 §3-4).
//
// Entries are (seq, len, handle): `handle` is an opaque small integer owned by the caller (a
// held-data handle). The queue keeps entries sorted by sequence number in typed arrays, never
// overlapping: they start small and double (up to maxEntries) only while a hole keeps more
// segments waiting, and entries live at [base, base + n) so that delivering in order from the
// front is O(1) per segment. Overlap policy on insert (old bytes win, except whole containment):
// - the new segment is trimmed at the front against the stored segment that starts at or before
//   it, and at the back against the stored segment it runs into (ops.trimFront/trimBack);
// - a stored segment lying entirely inside the new one is released (ops.release) and replaced
//   by the new one, so one insert never has to split a segment;
// - a new segment covered entirely by stored bytes is a duplicate: insert returns false.
// insert returns false without calling any op when the segment is a duplicate, empty, or would
// exceed maxEntries/maxBytes (after trimming and replacement); the caller still owns `handle` and
// must release it. On true the queue owns `handle` until it is delivered or released.
// Sequence numbers are int32 compared modulo 2^32 (all entries must lie within 2^31 of each other,
// which holds for anything inside a receive window).

export interface OooQueueOps {
  /** Drop the first n bytes of the data held under handle. */
  trimFront(handle: number, n: number): void;
  /** Drop the last n bytes of the data held under handle. */
  trimBack(handle: number, n: number): void;
  /** Give the data held under handle back (the queue no longer references it). */
  release(handle: number): void;
}

export type OooDeliver = (handle: number, seq: number, len: number) => void;

const INITIAL_CAPACITY = 16;
/** Blocks remembered for repetition: a SACK option carries at most 4. */
const RECENT_MAX = 4;
const NO_ENTRIES = new Int32Array(0);

export class OooQueue {
  private seqs: Int32Array;
  private lens: Int32Array;
  private handles: Int32Array;
  /** Index of the first entry. */
  private base = 0;
  private n = 0;
  private total = 0;
  /** A sequence number inside each recently reported block, most recent first. */
  private readonly recent = new Int32Array(RECENT_MAX);
  private nRecent = 0;
  private readonly runScratch = new Int32Array(4 * RECENT_MAX);
  private readonly foundScratch = new Uint8Array(RECENT_MAX);

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly ops: OooQueueOps,
  ) {
    if (!(maxEntries >= 1) || !(maxBytes >= 1)) throw new RangeError('OooQueue: maxEntries and maxBytes must be >= 1');
    // Most connections never receive out of order: the arrays come with the first entry.
    this.seqs = NO_ENTRIES;
    this.lens = NO_ENTRIES;
    this.handles = NO_ENTRIES;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.total;
  }

  /** Segments held. */
  get count(): number {
    return this.n;
  }

  /** Sequence number of the i-th held segment in order (0 <= i < count). */
  seqAt(i: number): number {
    return this.seqs[this.base + i]! | 0;
  }

  /** Length of the i-th held segment. */
  lenAt(i: number): number {
    return this.lens[this.base + i]! | 0;
  }

  /** Handle of the i-th held segment. */
  handleAt(i: number): number {
    return this.handles[this.base + i]! | 0;
  }

  /**
   * Stores [seq, seq+len) under `handle`. See the file comment for the overlap policy. Returns
   * false (no op called; the caller keeps `handle`) for an empty or entirely duplicate segment or
   * when it would not fit.
   */
  insert(seq: number, len: number, handle: number): boolean {
    seq |= 0;
    len |= 0;
    if (len <= 0) return false;
    const seqs = this.seqs;
    const lens = this.lens;
    const b = this.base;
    const n = b + this.n; // entries are [b, n) in absolute indices below
    let start = seq;
    let end = (seq + len) | 0;
    // First stored entry whose end is after `start` (ends ascend: entries are sorted, disjoint).
    let lo = b;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (((seqs[mid]! + lens[mid]! - start) | 0) > 0) hi = mid;
      else lo = mid + 1;
    }
    let i = lo;
    let frontTrim = 0;
    if (i < n && ((seqs[i]! - start) | 0) <= 0) {
      // Stored entry i starts at or before us and ends after our start.
      const sEnd = (seqs[i]! + lens[i]!) | 0;
      if (((sEnd - end) | 0) >= 0) return false; // entirely duplicate
      frontTrim = (sEnd - start) | 0;
      start = sEnd;
      i++;
    }
    const first = i; // entries [first, k) lie inside the new segment and are replaced
    let removedBytes = 0;
    while (i < n && ((seqs[i]! - end) | 0) < 0) {
      const sEnd = (seqs[i]! + lens[i]!) | 0;
      if (((sEnd - end) | 0) <= 0) {
        removedBytes += lens[i]!;
        i++;
      } else {
        break;
      }
    }
    const k = i;
    let backTrim = 0;
    if (k < n && ((seqs[k]! - end) | 0) < 0) {
      backTrim = (end - seqs[k]!) | 0;
      end = seqs[k]! | 0;
    }
    const newLen = (end - start) | 0;
    if (newLen <= 0) return false; // covered by stored neighbours
    const removed = k - first;
    if (this.n - removed + 1 > this.maxEntries) return false;
    if (this.total - removedBytes + newLen > this.maxBytes) return false;

    // Commit.
    if (frontTrim > 0) this.ops.trimFront(handle, frontTrim);
    if (backTrim > 0) this.ops.trimBack(handle, backTrim);
    for (let j = first; j < k; j++) this.ops.release(this.handles[j]!);
    const shift = 1 - removed; // net change in entries at index `first`
    let at = first;
    let from = k;
    let to = n;
    if (shift > 0 && n === this.seqs.length) {
      // No room after the last entry: move the entries to the front, growing if they fill it.
      const moveBy = this.makeRoom();
      at -= moveBy;
      from -= moveBy;
      to -= moveBy;
    }
    const s2 = this.seqs;
    const l2 = this.lens;
    const h2 = this.handles;
    if (shift !== 0) {
      s2.copyWithin(at + 1, from, to);
      l2.copyWithin(at + 1, from, to);
      h2.copyWithin(at + 1, from, to);
    }
    s2[at] = start;
    l2[at] = newLen;
    h2[at] = handle;
    this.n += shift;
    this.total += newLen - removedBytes;
    return true;
  }

  /**
   * Moves the entries to index 0, doubling the arrays (up to maxEntries) when they are at least
   * half full. Returns by how much the entries moved down.
   */
  private makeRoom(): number {
    const b = this.base;
    const n = this.n;
    const cap = this.seqs.length;
    if (n * 2 >= cap && cap < this.maxEntries) {
      const bigger = Math.min(this.maxEntries, Math.max(INITIAL_CAPACITY, cap * 2));
      const grow = (a: Int32Array): Int32Array => { const g = new Int32Array(bigger); g.set(a.subarray(b, b + n)); return g; };
      this.seqs = grow(this.seqs);
      this.lens = grow(this.lens);
      this.handles = grow(this.handles);
    } else {
      this.seqs.copyWithin(0, b, b + n);
      this.lens.copyWithin(0, b, b + n);
      this.handles.copyWithin(0, b, b + n);
    }
    this.base = 0;
    return b;
  }

  /**
   * Pops every segment starting at or before rcvNxt, in order: segments entirely before rcvNxt
   * are released; a segment straddling rcvNxt has its old part trimmed (ops.trimFront) and is
   * delivered, advancing rcvNxt to its end. Ownership of a delivered handle passes to `deliver`.
   * Each entry is removed before `deliver` runs, so `deliver` may use the queue. Returns the new
   * rcvNxt.
   */
  takeInOrder(rcvNxt: number, deliver: OooDeliver): number {
    rcvNxt |= 0;
    while (this.n > 0 && ((this.seqs[this.base]! - rcvNxt) | 0) <= 0) {
      const b = this.base;
      const s = this.seqs[b]! | 0;
      const l = this.lens[b]! | 0;
      const h = this.handles[b]! | 0;
      this.removeFirst();
      const e = (s + l) | 0;
      if (((e - rcvNxt) | 0) <= 0) {
        this.ops.release(h);
        continue;
      }
      const skip = (rcvNxt - s) | 0;
      if (skip > 0) this.ops.trimFront(h, skip);
      deliver(h, rcvNxt, (e - rcvNxt) | 0);
      rcvNxt = e;
    }
    return rcvNxt;
  }

  /**
   * Records that [seq, …) just arrived out of order: its block goes to the front of the recency
   * list that sackBlocks reports from (RFC 2018 §4).
   */
  noteArrival(seq: number): void {
    const r = this.recent;
    const n = Math.min(this.nRecent, RECENT_MAX - 1);
    r.copyWithin(1, 0, n);
    r[0] = seq | 0;
    this.nRecent = n + 1;
  }

  /**
   * Writes up to `max` SACK blocks as (left, right) pairs into out[0..2*max), contiguous stored
   * segments merged into one block, as RFC 2018 §4 orders them: first the block holding the
   * segment that arrived last, then the most recently reported blocks, so that every block is
   * repeated in several ACKs (a sender that misses a middle block — four or more runs with three
   * blocks of room — retransmits it needlessly and, when it is reported later, takes it for
   * reordering); blocks never reported fill what room is left, lowest first. The recency list
   * becomes what was reported. Returns the number of blocks written.
   */
  sackBlocks(out: Int32Array, max: number): number {
    if (this.n === 0 || max <= 0) return 0;
    const n = this.base + this.n;
    const seqs = this.seqs;
    const lens = this.lens;
    const recent = this.recent;
    const nRecent = this.nRecent;
    const runs = this.runScratch; // [0, 2*RECENT_MAX): the run of recent[r]; then fill runs
    const found = this.foundScratch;
    found.fill(0);
    let fill = 0;
    for (let i = this.base; i < n; ) {
      const left = seqs[i]! | 0;
      let right = (left + lens[i]!) | 0;
      i++;
      while (i < n && seqs[i]! === right) {
        right = (right + lens[i]!) | 0;
        i++;
      }
      let reported = false;
      for (let r = 0; r < nRecent; r++) {
        const s = recent[r]!;
        if (found[r] === 0 && ((s - left) | 0) >= 0 && ((s - right) | 0) < 0) {
          found[r] = 1;
          runs[2 * r] = left;
          runs[2 * r + 1] = right;
          reported = true;
        }
      }
      if (!reported && fill < max && fill < RECENT_MAX) {
        runs[2 * (RECENT_MAX + fill)] = left;
        runs[2 * (RECENT_MAX + fill) + 1] = right;
        fill++;
      }
    }
    let k = 0;
    let kept = 0;
    for (let r = 0; r < nRecent; r++) {
      if (found[r] === 0) continue;
      const left = runs[2 * r]!;
      let seen = false;
      for (let j = 0; j < kept; j++) if (recent[j] === left) seen = true;
      if (seen) continue;
      recent[kept++] = left; // kept <= r: overwrites only entries already read
      if (k < max) {
        out[2 * k] = left;
        out[2 * k + 1] = runs[2 * r + 1]!;
        k++;
      }
    }
    for (let f = 0; f < fill && k < max; f++) {
      out[2 * k] = runs[2 * (RECENT_MAX + f)]!;
      out[2 * k + 1] = runs[2 * (RECENT_MAX + f) + 1]!;
      k++;
      if (kept < RECENT_MAX) recent[kept++] = out[2 * k - 2]!;
    }
    this.nRecent = kept;
    return k;
  }

  /** Releases every held segment. */
  clear(): void {
    const b = this.base;
    const n = this.n;
    this.n = 0;
    this.base = 0;
    this.total = 0;
    this.nRecent = 0;
    for (let i = b; i < b + n; i++) this.ops.release(this.handles[i]!);
  }

  private removeFirst(): void {
    this.total -= this.lens[this.base]!;
    this.n--;
    this.base = this.n === 0 ? 0 : this.base + 1;
  }
}

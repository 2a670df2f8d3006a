// Sender-side SACK scoreboard (RFC 6675 "A Conservative Loss Recovery Algorithm Based on
// Selective Acknowledgment (SACK) for TCP", SACK option per RFC 2018, D-SACK per RFC 2883).
//
// Holds the SACKed ranges above SND.UNA as sorted, disjoint, non-adjacent [start, end) pairs in
// preallocated Int32Arrays (capacity `maxBlocks` ranges). Sequence numbers are int32 compared
// modulo 2^32. Policies:
// - blocks ending at or below SND.UNA (D-SACK, RFC 2883, or stale) are ignored; a block straddling
//   SND.UNA is clipped to it; empty blocks and blocks ending beyond SND.MAX (when setSndMax was
//   called) are ignored as invalid (RFC 2018 / RFC 6675 §5);
// - when the scoreboard is full, a block that merges with nothing is dropped (under-counting
//   SACKed data only risks a spurious retransmission, never a stall).
// IsLost (RFC 6675 §4) is evaluated per hole: every unSACKed octet of one hole has the same SACKed
// data above it. The scoreboard keeps byte ranges, not segment boundaries, so "DupThresh
// discontiguous SACKed sequences above SeqNum" is counted as sum(ceil(rangeLength / SMSS)) over
// the SACKed ranges above it: each range holds at least that many segments (a lower bound, so the
// rule stays conservative), and a range of full-sized segments counts exactly.

export const DEFAULT_DUP_THRESH = 3;

const NO_RANGES = new Int32Array(0);

export class SackScoreboard {
  // Allocated with the first SACK block: most connections never see one.
  private starts = NO_RANGES;
  private ends = NO_RANGES;
  private n = 0;
  private total = 0;
  private una = 0;
  private unaSet = false;
  private sndMax = 0;
  private hasSndMax = false;

  constructor(readonly maxBlocks: number = 64) {
    if (!(maxBlocks >= 1)) throw new RangeError('SackScoreboard: maxBlocks must be >= 1');
  }

  /** SACKed bytes above SND.UNA. */
  get sackedBytes(): number {
    return this.total;
  }

  /** Number of disjoint SACKed ranges. */
  get rangeCount(): number {
    return this.n;
  }

  /** SND.UNA as last given to update/ackTo. */
  get sndUna(): number {
    return this.una;
  }

  /** End (exclusive) of the highest SACKed range; SND.UNA when nothing is SACKed. */
  get highSacked(): number {
    return this.n === 0 ? this.una : this.ends[this.n - 1]! | 0;
  }

  rangeStart(i: number): number {
    return this.starts[i]! | 0;
  }

  rangeEnd(i: number): number {
    return this.ends[i]! | 0;
  }

  /** Upper bound for valid SACK blocks (SND.MAX, the highest sequence number ever sent + 1). */
  setSndMax(sndMax: number): void {
    this.sndMax = sndMax | 0;
    this.hasSndMax = true;
  }

  /**
   * Advances SND.UNA to `sndUna` and merges `count` SACK blocks (left, right pairs in
   * blocks[0..2*count)). Returns the number of bytes newly SACKed.
   */
  update(sndUna: number, blocks: Int32Array, count: number): number {
    this.ackTo(sndUna);
    const una = this.una;
    let newly = 0;
    for (let b = 0; b < count; b++) {
      let left = blocks[2 * b]! | 0;
      const right = blocks[2 * b + 1]! | 0;
      if (((right - left) | 0) <= 0) continue; // empty or malformed
      if (((right - una) | 0) <= 0) continue; // D-SACK / stale: entirely at or below SND.UNA
      if (this.hasSndMax && ((right - this.sndMax) | 0) > 0) continue; // SACKs data never sent
      if (((left - una) | 0) < 0) left = una;
      newly += this.insert(left, right);
    }
    return newly;
  }

  /** Cumulative ACK to `sndUna`: drops SACKed ranges below it. Ignores an older sndUna. */
  ackTo(sndUna: number): void {
    sndUna |= 0;
    if (this.unaSet && ((sndUna - this.una) | 0) < 0) return;
    this.una = sndUna;
    this.unaSet = true;
    const starts = this.starts;
    const ends = this.ends;
    const n = this.n;
    let drop = 0;
    while (drop < n && ((ends[drop]! - sndUna) | 0) <= 0) {
      this.total -= (ends[drop]! - starts[drop]!) | 0;
      drop++;
    }
    if (drop > 0) {
      starts.copyWithin(0, drop, n);
      ends.copyWithin(0, drop, n);
      this.n = n - drop;
    }
    if (this.n > 0 && ((starts[0]! - sndUna) | 0) < 0) {
      this.total -= (sndUna - starts[0]!) | 0;
      starts[0] = sndUna;
    }
  }

  /** Whether the octet `seq` has been SACKed. */
  isSacked(seq: number): boolean {
    seq |= 0;
    const starts = this.starts;
    const ends = this.ends;
    for (let i = 0; i < this.n; i++) {
      if (((seq - ends[i]!) | 0) < 0) return ((seq - starts[i]!) | 0) >= 0;
    }
    return false;
  }

  /**
   * RFC 6675 §4 IsLost(seq): an unSACKed octet is lost when DupThresh discontiguous SACKed
   * segments lie above it, or more than (DupThresh - 1) * SMSS SACKed bytes do.
   */
  isLost(seq: number, mss: number, dupThresh: number = DEFAULT_DUP_THRESH): boolean {
    seq |= 0;
    const starts = this.starts;
    const ends = this.ends;
    const n = this.n;
    let i = 0;
    while (i < n && ((seq - ends[i]!) | 0) >= 0) i++;
    if (i === n) return false;
    if (((seq - starts[i]!) | 0) >= 0) return false; // SACKed
    const byteLimit = (dupThresh - 1) * mss;
    let bytes = 0;
    let segs = 0;
    for (; i < n; i++) {
      const len = (ends[i]! - starts[i]!) | 0;
      bytes += len;
      segs += ((len + mss - 1) / mss) | 0;
      if (segs >= dupThresh || bytes > byteLimit) return true;
    }
    return false;
  }

  /**
   * First sequence number s with from <= s < limit that is not SACKed (for NextSeg, RFC 6675 §4);
   * returns `limit` when every octet in [from, limit) is SACKed.
   */
  nextUnsacked(from: number, limit: number): number {
    let s = from | 0;
    limit |= 0;
    const starts = this.starts;
    const ends = this.ends;
    for (let i = 0; i < this.n; i++) {
      if (((s - ends[i]!) | 0) >= 0) continue; // range entirely below s
      if (((s - starts[i]!) | 0) < 0) break; // s sits in the hole before range i
      s = ends[i]! | 0; // s is SACKed: skip to the end of the range
    }
    return ((s - limit) | 0) < 0 ? s : limit;
  }

  /**
   * RFC 6675 §4 SetPipe: over every unSACKed octet S1 in [sndUna, sndNxt), pipe += 1 if
   * IsLost(S1) is false, and += 1 more if S1 was retransmitted (S1 < highRxt, highRxt being the
   * end of the highest retransmitted segment). Returns bytes.
   */
  pipe(sndUna: number, sndNxt: number, highRxt: number, mss: number, dupThresh: number = DEFAULT_DUP_THRESH): number {
    sndUna |= 0;
    sndNxt |= 0;
    highRxt |= 0;
    if (((sndNxt - sndUna) | 0) <= 0) return 0;
    const starts = this.starts;
    const ends = this.ends;
    // Ranges inside (sndUna, sndNxt): indices [lo, hi).
    let lo = 0;
    while (lo < this.n && ((ends[lo]! - sndUna) | 0) <= 0) lo++;
    let hi = lo;
    while (hi < this.n && ((starts[hi]! - sndNxt) | 0) < 0) hi++;
    const byteLimit = (dupThresh - 1) * mss;
    let pipe = 0;
    let bytesAbove = 0;
    let segsAbove = 0;
    // Walk holes from the top down, accumulating the SACKed data above each.
    let holeEnd = sndNxt;
    for (let i = hi - 1; i >= lo; i--) {
      const rs = ((starts[i]! - sndUna) | 0) < 0 ? sndUna : starts[i]! | 0;
      const re = ((ends[i]! - sndNxt) | 0) > 0 ? sndNxt : ends[i]! | 0;
      pipe += holeContribution(re, holeEnd, highRxt, segsAbove >= dupThresh || bytesAbove > byteLimit);
      const len = (re - rs) | 0;
      bytesAbove += len;
      segsAbove += ((len + mss - 1) / mss) | 0;
      holeEnd = rs;
    }
    return pipe + holeContribution(sndUna, holeEnd, highRxt, segsAbove >= dupThresh || bytesAbove > byteLimit);
  }

  /** Forgets every SACKed range (e.g. after an RTO, RFC 6675 §5.1 / RFC 2018 §8 reneging). */
  clear(): void {
    this.n = 0;
    this.total = 0;
  }

  /** Merges [left, right) (left < right, both above SND.UNA); returns newly covered bytes. */
  private insert(left: number, right: number): number {
    if (this.starts.length === 0) {
      this.starts = new Int32Array(this.maxBlocks);
      this.ends = new Int32Array(this.maxBlocks);
    }
    const starts = this.starts;
    const ends = this.ends;
    const n = this.n;
    let i = 0;
    while (i < n && ((ends[i]! - left) | 0) < 0) i++; // ranges ending before left (not adjacent)
    let j = i;
    let unionL = left;
    let unionR = right;
    let old = 0;
    while (j < n && ((starts[j]! - right) | 0) <= 0) {
      if (((starts[j]! - unionL) | 0) < 0) unionL = starts[j]! | 0;
      if (((ends[j]! - unionR) | 0) > 0) unionR = ends[j]! | 0;
      old += (ends[j]! - starts[j]!) | 0;
      j++;
    }
    if (j === i) {
      if (n === this.maxBlocks) return 0; // full: drop the block
      starts.copyWithin(i + 1, i, n);
      ends.copyWithin(i + 1, i, n);
      this.n = n + 1;
    } else if (j > i + 1) {
      starts.copyWithin(i + 1, j, n);
      ends.copyWithin(i + 1, j, n);
      this.n = n - (j - i - 1);
    }
    starts[i] = unionL;
    ends[i] = unionR;
    const newly = ((unionR - unionL) | 0) - old;
    this.total += newly;
    return newly;
  }
}

/** SetPipe's count for one hole [start, end): its bytes unless lost, plus those below highRxt. */
function holeContribution(start: number, end: number, highRxt: number, lost: boolean): number {
  const len = (end - start) | 0;
  if (len <= 0) return 0;
  let c = lost ? 0 : len;
  const rxt = (highRxt - start) | 0;
  if (rxt > 0) c += rxt < len ? rxt : len;
  return c;
}

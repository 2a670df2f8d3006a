// What was sent when, and what RACK concludes from it (RFC 8985 "The RACK-TLP Loss Detection
// Algorithm for TCP", §6). Read §2 and §6.2 first: a segment is lost when a segment sent after it
// has been delivered (cumulatively ACKed or SACKed) and more than RACK.rtt + RACK.reo_wnd has
// passed since it was sent — time, not three duplicate ACKs, decides.
//
// The record: the data sequence space from SND.UNA to the highest byte sent, as sorted,
// contiguous ranges [start, end), each with the time it was last (re)transmitted and flags
// (RETRANSMITTED, LOST, SACKED). New data appends a range (a whole TSO frame is one range, and a
// batch sent in one turn merges into one); a SACK block or a retransmission splits ranges at its
// edges, so a hole inside a 64 KiB super-segment is exactly the bytes the peer is missing, and
// they are retransmitted MSS by MSS (RFC 8985 §6.2 works per segment; a range of bytes with one
// send time behaves as the segments it was cut into). Preallocated typed arrays, grown by doubling
// (allocation only on growth, never per packet). Sequence numbers are int32 compared modulo 2^32.
import { seqGt, seqLt } from './seq.ts';

export const SENT_RETRANSMITTED = 1;
export const SENT_LOST = 2;
export const SENT_SACKED = 4;

/** RFC 8985 §6.2 step 4: recoveries a widened reordering window outlives its last D-SACK. */
const REO_WND_PERSIST = 16;
/** The window never exceeds SRTT anyway (reoWnd caps it); 8 quarters is two RTTs' worth of steps. */
const MAX_REO_WND_MULT = 8;

const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);

export class RackState {
  private starts = EMPTY_I32;
  private ends = EMPTY_I32;
  private times = EMPTY_F64;
  private flags = EMPTY_U8;
  /** Number of ranges. */
  n = 0;

  // RFC 8985 §6.1 per-connection state.
  /** RACK.xmit_ts: send time of the most recently sent segment that has been delivered. */
  xmitTs = -Infinity;
  /** RACK.end_seq: its end. */
  endSeq = 0;
  /** RACK.rtt: the RTT measured from it (ms). */
  rtt = 0;
  /** RACK.min_RTT (ms). */
  minRtt = Infinity;
  /** RACK.reord: reordering was seen (a never-retransmitted segment delivered below RACK.end_seq). */
  reord = false;
  /** RACK.reo_wnd_mult (§6.2 step 4): grows with D-SACKs, so a path that reorders more gets a wider window. */
  reoWndMult = 1;
  /** RACK.dsack_round: SND.NXT when the multiplier last grew (once per round trip); null when none is open. */
  dsackRound: number | null = null;
  /** RACK.reo_wnd_persist: recoveries left before the multiplier falls back to 1. */
  reoWndPersist = 0;

  /** Bytes in ranges marked LOST and not SACKed (waiting for retransmission). */
  lostBytes = 0;
  /** Bytes in SACKed ranges. */
  sackedBytes = 0;
  /** Bytes marked lost by the last detectLoss/markAllLost. */
  newlyLost = 0;

  clear(): void {
    this.n = 0;
    this.lostBytes = 0;
    this.sackedBytes = 0;
  }

  /** End of the highest byte recorded (SND.UNA's data end when empty: the caller knows it). */
  get highEnd(): number { return this.ends[this.n - 1]! | 0; }
  get isEmpty(): boolean { return this.n === 0; }

  start(i: number): number { return this.starts[i]! | 0; }
  end(i: number): number { return this.ends[i]! | 0; }
  time(i: number): number { return this.times[i]!; }
  flag(i: number): number { return this.flags[i]!; }

  /** New data [start, end) left at `now` (it must continue the record). */
  sent(start: number, end: number, now: number): void {
    const n = this.n;
    if (n > 0 && this.times[n - 1] === now && this.flags[n - 1] === 0 && (this.ends[n - 1]! | 0) === (start | 0)) {
      this.ends[n - 1] = end;
      return;
    }
    if (n === this.starts.length) this.grow();
    this.starts[n] = start;
    this.ends[n] = end;
    this.times[n] = now;
    this.flags[n] = 0;
    this.n = n + 1;
  }

  /** [start, end) was retransmitted at `now`: no longer lost, in flight again. */
  resent(start: number, end: number, now: number): void {
    const first = this.splitAt(start);
    const last = this.splitAt(end);
    for (let i = first; i < last; i++) {
      if ((this.flags[i]! & SENT_LOST) !== 0) this.lostBytes -= (this.ends[i]! - this.starts[i]!) | 0;
      this.flags[i] = (this.flags[i]! & ~SENT_LOST) | SENT_RETRANSMITTED;
      this.times[i] = now;
    }
    this.coalesce(first, last);
  }

  /**
   * Cumulative ACK: ranges below `una` are delivered (RACK-updated) and dropped.
   */
  ackTo(una: number, now: number): void {
    const cut = this.splitAt(una);
    for (let i = 0; i < cut; i++) {
      const f = this.flags[i]!;
      const len = (this.ends[i]! - this.starts[i]!) | 0;
      if ((f & SENT_SACKED) !== 0) { this.sackedBytes -= len; continue; }
      if ((f & SENT_LOST) !== 0) this.lostBytes -= len;
      this.delivered(i, now);
    }
    if (cut > 0) this.remove(0, cut);
  }

  /** A SACK block [left, right) (already validated against SND.UNA and SND.MAX): returns newly SACKed bytes. */
  sack(left: number, right: number, now: number): number {
    if (this.n === 0) return 0;
    if (seqLt(left, this.starts[0]! | 0)) left = this.starts[0]! | 0;
    if (seqGt(right, this.highEnd)) right = this.highEnd;
    if (!seqLt(left, right)) return 0;
    const first = this.splitAt(left);
    const last = this.splitAt(right);
    let newly = 0;
    for (let i = first; i < last; i++) {
      const f = this.flags[i]!;
      if ((f & SENT_SACKED) !== 0) continue;
      const len = (this.ends[i]! - this.starts[i]!) | 0;
      if ((f & SENT_LOST) !== 0) this.lostBytes -= len;
      this.flags[i] = (f & ~SENT_LOST) | SENT_SACKED;
      this.sackedBytes += len;
      newly += len;
      this.delivered(i, now);
    }
    this.coalesce(first, last);
    return newly;
  }

  /** RFC 8985 §6.2 step 2 (RACK_update) for a delivered range. */
  private delivered(i: number, now: number): void {
    const t = this.times[i]!;
    const end = this.ends[i]! | 0;
    const rtt = now - t;
    const retransmitted = (this.flags[i]! & SENT_RETRANSMITTED) !== 0;
    // Step 1 (reordering): a never-retransmitted segment delivered below one delivered before it.
    if (!retransmitted && seqLt(end, this.endSeq) && this.xmitTs !== -Infinity) this.reord = true;
    // A retransmission's ACK may be for the original: trust it only if it took at least min_RTT.
    if (retransmitted && rtt < this.minRtt) return;
    if (rtt < this.minRtt) this.minRtt = rtt;
    if (t > this.xmitTs || (t === this.xmitTs && seqGt(end, this.endSeq))) {
      this.xmitTs = t;
      this.endSeq = end;
      this.rtt = rtt;
    }
  }

  /**
   * RFC 8985 §6.2 step 4: the reordering window. Zero in recovery when no reordering was seen
   * (then time alone decides, as fast as DupThresh would); else a quarter RTT times the
   * multiplier, at most SRTT. The RFC's quarter of min_RTT becomes a quarter of SRTT once
   * reordering is seen: a packet that overtakes the others (netem-style reordering, which skips
   * the path's delay) drags min_RTT toward zero, and a window of min_RTT/4 then calls every
   * packet it overtook lost.
   */
  /** RFC 8985 §6.2 step 4 on each ACK: the multiplier grows at most once per round trip while D-SACKs arrive. */
  noteAck(dsack: boolean, sndUna: number, sndNxt: number): void {
    if (this.dsackRound !== null && !seqLt(sndUna, this.dsackRound)) this.dsackRound = null;
    if (this.dsackRound !== null || !dsack) return;
    this.dsackRound = sndNxt;
    if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
  }

  /** RFC 8985 §6.2 step 4: leaving fast or timeout recovery; 16 of them without a D-SACK reset the multiplier. */
  recoveryEnded(): void {
    if (--this.reoWndPersist <= 0) this.reoWndMult = 1;
  }

  reoWnd(inRecovery: boolean, srtt: number): number {
    if (!this.reord && inRecovery) return 0;
    const min = this.minRtt === Infinity ? 0 : this.minRtt;
    const base = this.reord ? Math.max(min, srtt) : min;
    return Math.min((this.reoWndMult * base) / 4, srtt);
  }

  /**
   * RFC 8985 §6.2 step 5 (RACK_detect_loss): marks lost every unSACKed range sent before
   * RACK.xmit_ts whose deadline passed. Returns the time until the latest pending deadline
   * (the reorder timer), or 0 when none is pending. `newlyLost` counts what it marked.
   */
  detectLoss(now: number, reoWnd: number): number {
    let timeout = 0;
    this.newlyLost = 0;
    if (this.xmitTs === -Infinity) return 0;
    const xmitTs = this.xmitTs;
    const endSeq = this.endSeq;
    const wait = this.rtt + reoWnd;
    for (let i = 0; i < this.n; i++) {
      const f = this.flags[i]!;
      if ((f & (SENT_SACKED | SENT_LOST)) !== 0) continue;
      const t = this.times[i]!;
      if (t > xmitTs || (t === xmitTs && !seqLt(this.starts[i]! | 0, endSeq))) continue; // not sent before it
      const remaining = t + wait - now;
      if (remaining <= 0) {
        this.flags[i] = f | SENT_LOST;
        const len = (this.ends[i]! - this.starts[i]!) | 0;
        this.lostBytes += len;
        this.newlyLost += len;
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    return timeout;
  }

  /** RFC 8985 §6.3: on a retransmission timeout every unSACKed range is lost. */
  markAllLost(): void {
    this.newlyLost = 0;
    for (let i = 0; i < this.n; i++) {
      const f = this.flags[i]!;
      if ((f & (SENT_SACKED | SENT_LOST)) !== 0) continue;
      this.flags[i] = f | SENT_LOST;
      const len = (this.ends[i]! - this.starts[i]!) | 0;
      this.lostBytes += len;
      this.newlyLost += len;
    }
  }

  /** Forgets the LOST marks (a loss found spurious): those bytes count as in flight again. */
  unmarkLost(): void {
    for (let i = 0; i < this.n; i++) this.flags[i] = this.flags[i]! & ~SENT_LOST;
    this.lostBytes = 0;
  }

  /** First byte of the first lost range at or above `from`, or -1 (as a flag, callers check the index). */
  firstLost(from: number): number {
    for (let i = 0; i < this.n; i++) {
      if ((this.flags[i]! & SENT_LOST) === 0 || !seqGt(this.ends[i]! | 0, from)) continue;
      return i;
    }
    return -1;
  }

  /** In flight (RFC 6675 pipe, as Linux counts it): recorded bytes neither SACKed nor waiting as lost. */
  pipe(): number {
    if (this.n === 0) return 0;
    return ((this.highEnd - (this.starts[0]! | 0)) | 0) - this.sackedBytes - this.lostBytes;
  }

  /** Index of the range starting at `seq`, splitting the range that contains it; n when seq is at or past the end. */
  private splitAt(seq: number): number {
    seq |= 0;
    const n = this.n;
    if (n === 0) return 0;
    if (!seqLt(seq, this.highEnd)) return n;
    if (!seqGt(seq, this.starts[0]! | 0)) return 0;
    // Binary search for the range containing seq (ranges are contiguous and sorted).
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seqGt(this.starts[mid]! | 0, seq)) hi = mid - 1; else lo = mid;
    }
    if ((this.starts[lo]! | 0) === seq) return lo;
    if (n === this.starts.length) this.grow();
    this.starts.copyWithin(lo + 2, lo + 1, n);
    this.ends.copyWithin(lo + 2, lo + 1, n);
    this.times.copyWithin(lo + 2, lo + 1, n);
    this.flags.copyWithin(lo + 2, lo + 1, n);
    this.starts[lo + 1] = seq;
    this.ends[lo + 1] = this.ends[lo]!;
    this.times[lo + 1] = this.times[lo]!;
    this.flags[lo + 1] = this.flags[lo]!;
    this.ends[lo] = seq;
    this.n = n + 1;
    return lo + 1;
  }

  /** Merges neighbours in [first - 1, last] that have the same time and flags (keeps the record short). */
  private coalesce(first: number, last: number): void {
    let i = Math.max(1, first);
    let end = Math.min(last + 1, this.n);
    while (i < end) {
      if (this.times[i] === this.times[i - 1] && this.flags[i] === this.flags[i - 1]) {
        this.ends[i - 1] = this.ends[i]!;
        this.remove(i, i + 1);
        end--;
      } else {
        i++;
      }
    }
  }

  private remove(from: number, to: number): void {
    const n = this.n;
    this.starts.copyWithin(from, to, n);
    this.ends.copyWithin(from, to, n);
    this.times.copyWithin(from, to, n);
    this.flags.copyWithin(from, to, n);
    this.n = n - (to - from);
  }

  private grow(): void {
    const cap = Math.max(16, this.starts.length * 2);
    const s = new Int32Array(cap); s.set(this.starts.subarray(0, this.n)); this.starts = s;
    const e = new Int32Array(cap); e.set(this.ends.subarray(0, this.n)); this.ends = e;
    const t = new Float64Array(cap); t.set(this.times.subarray(0, this.n)); this.times = t;
    const f = new Uint8Array(cap); f.set(this.flags.subarray(0, this.n)); this.flags = f;
  }
}

// NewReno congestion control (RFC 5681, with RFC 3465 Appropriate Byte Counting), and the base
// class of the other built-in controllers.
// - Initial window (RFC 6928 §2): IW = min(10*MSS, max(2*MSS, 14600)); ssthresh starts at
//   Infinity (RFC 5681 §3.1 "arbitrarily high") unless configured.
// - Slow start (RFC 5681 §3.1, RFC 3465 §2.2 with L = 2): while cwnd < ssthresh,
//   cwnd += min(acked, L*SMSS) per ACK. Bytes of an ACK that carry cwnd past ssthresh are
//   counted towards congestion avoidance.
// - Congestion avoidance (RFC 5681 §3.1 / RFC 3465 §2.1 byte counting): acked bytes accumulate
//   and cwnd grows by SMSS each time they reach cwnd — one SMSS per RTT.
// - Fast retransmit / recovery entry (RFC 5681 §3.2 eq. 4): ssthresh = max(FlightSize/2, 2*SMSS),
//   cwnd = ssthresh; the core inflates through RFC 6675 `pipe` (SACK) or its own NewReno
//   inflation (RFC 6582), and calls onRecoveryEnd, which deflates cwnd to ssthresh.
// - RTO (RFC 5681 §3.1 eq. 4 and loss window): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS.
//   "When a TCP sender detects segment loss using the retransmission timer and the given segment
//   has already been retransmitted by way of the retransmission timer at least once, the value of
//   ssthresh is held constant": back-to-back timeouts with no new ACK in between keep ssthresh.
//   A timeout before init (lost SYN or SYN-ACK) makes the initial window 1 SMSS (RFC 5681 §3.1,
//   RFC 6298 §5.7).
// - Spurious RTO (e.g. RFC 5682 F-RTO / RFC 3522 Eifel detection): cwnd and ssthresh from before
//   the timeout are restored (the RFC 4015 response, simplified to "undo").
// - Application-limited ACKs (RFC 7661 spirit): cwnd never grows beyond max(cwnd, 2*inFlight).
// - Idle restart (RFC 5681 §4.1): cwnd = min(cwnd, RW), RW = min(IW, cwnd).
import type { CongestionControl } from './congestion.ts';

/** RFC 6928 §2 initial window, bytes: min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

export interface NewRenoOptions {
  /** Initial ssthresh in bytes (default Infinity, RFC 5681 §3.1). */
  initialSsthresh?: number;
  /** RFC 3465 ABC limit L in segments for slow start (default 2). */
  abcLimit?: number;
}

export class NewRenoCongestionControl implements CongestionControl {
  readonly name: string = 'newreno';
  cwnd: number;
  ssthresh: number;
  /** Current sender MSS (SMSS), bytes. */
  mss: number;
  readonly initialSsthresh: number;
  readonly abcLimit: number;
  /** RFC 3465 §2.1 byte counter for congestion avoidance. */
  protected bytesAcked = 0;
  /** init() has run (the connection is established). */
  protected initialized = false;
  /** A timeout occurred before init (lost SYN / SYN-ACK): IW is 1 SMSS. */
  protected synTimedOut = false;
  /** An RTO fired and no new data has been acknowledged since (ssthresh is held on repeats). */
  protected inTimeout = false;
  /** cwnd / ssthresh before the last RTO, for onSpuriousTimeout (0 = nothing to undo). */
  protected undoCwnd = 0;
  protected undoSsthresh = 0;

  constructor(mss: number, options: NewRenoOptions = {}) {
    this.mss = mss;
    this.initialSsthresh = options.initialSsthresh ?? Infinity;
    this.abcLimit = options.abcLimit ?? 2;
    this.cwnd = initialWindow(mss);
    this.ssthresh = this.initialSsthresh;
  }

  init(mss: number, _now: number): void {
    this.mss = mss;
    this.cwnd = this.synTimedOut ? mss : initialWindow(mss);
    this.ssthresh = this.initialSsthresh;
    this.bytesAcked = 0;
    this.inTimeout = false;
    this.undoCwnd = 0;
    this.initialized = true;
  }

  onAck(ackedBytes: number, inFlight: number, rttMs: number, now: number, appLimited: boolean): void {
    this.inTimeout = false;
    const before = this.cwnd;
    let acked = ackedBytes;
    if (before < this.ssthresh) {
      // RFC 5681 §3.1 slow start with RFC 3465 §2.2 ABC: cwnd += min(N, L*SMSS).
      const inc = Math.min(acked, this.abcLimit * this.mss);
      if (before + inc <= this.ssthresh) {
        this.cwnd = before + inc;
        acked = 0;
      } else {
        acked -= this.ssthresh - before;
        this.cwnd = this.ssthresh;
      }
    }
    if (acked > 0) this.congestionAvoidance(acked, inFlight, rttMs, now);
    if (appLimited) {
      // RFC 7661 spirit: an application-limited sender does not validate a larger window.
      const cap = Math.max(before, 2 * inFlight);
      if (this.cwnd > cap) this.cwnd = cap;
    }
  }

  /**
   * Congestion avoidance for `ackedBytes` acknowledged while cwnd >= ssthresh (hook: CUBIC and
   * experimenters override it). RFC 3465 §2.1 byte counting: +1 SMSS per cwnd of acked bytes.
   */
  protected congestionAvoidance(ackedBytes: number, _inFlight: number, _rttMs: number, _now: number): void {
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onLoss(inFlight: number, _now: number): void {
    // RFC 5681 §3.2 step 2, eq. (4).
    this.ssthresh = Math.max(inFlight / 2, 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  /** Hook for experimenters; the core does the RFC 6675 / RFC 6582 accounting itself. */
  onRecoveryAck(_ackedBytes: number, _now: number): void {}

  onRecoveryEnd(_now: number): void {
    // RFC 6582 §3.2 step 3 (full acknowledgment): deflate the window to ssthresh.
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onTimeout(inFlight: number, _now: number): void {
    if (!this.initialized) this.synTimedOut = true;
    if (!this.inTimeout) {
      this.undoCwnd = this.cwnd;
      this.undoSsthresh = this.ssthresh;
      this.ssthresh = Math.max(inFlight / 2, 2 * this.mss); // RFC 5681 eq. (4)
    }
    this.cwnd = this.mss; // RFC 5681 §3.1: loss window LW = 1 SMSS
    this.bytesAcked = 0;
    this.inTimeout = true;
  }

  onSpuriousTimeout(_now: number): void {
    if (this.undoCwnd === 0) return;
    if (this.cwnd < this.undoCwnd) this.cwnd = this.undoCwnd;
    if (this.ssthresh < this.undoSsthresh) this.ssthresh = this.undoSsthresh;
    this.undoCwnd = 0;
    this.inTimeout = false;
  }

  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    this.mss = mss;
    if (!this.initialized) {
      this.cwnd = initialWindow(mss);
      return;
    }
    // cwnd stays in bytes, but must allow at least one full segment.
    if (this.cwnd < mss) this.cwnd = mss;
    if (this.ssthresh < 2 * mss) this.ssthresh = 2 * mss;
  }

  onIdleRestart(_now: number, _rtoMs: number): void {
    // RFC 5681 §4.1: the core calls this after an idle period longer than the RTO.
    const rw = Math.min(initialWindow(this.mss), this.cwnd);
    if (this.cwnd > rw) this.cwnd = rw;
    this.bytesAcked = 0;
  }
}

// CUBIC congestion control (RFC 9438), the default.
// Units: the RFC's formulas are in segments and seconds; state here is kept in bytes and
// milliseconds and converted at the formula (W in segments = bytes / SMSS, t in s = ms / 1000).
// - §4.1 constants: C = 0.4, beta_cubic = 0.7.
// - §4.2 window increase: W_cubic(t) = C*(t - K)^3 + W_max, K = cbrt((W_max - cwnd_epoch)/C),
//   t = time since the congestion-avoidance stage began (t_epoch, set at its first ACK). After a
//   multiplicative decrease cwnd_epoch = beta*W_max, so K = cbrt(W_max*(1-beta)/C). The target
//   is W_cubic(t + RTT) clipped to [cwnd, 1.5*cwnd]; each ACK adds (target - cwnd)/cwnd segments
//   per segment acknowledged (bytes: (target - cwnd) * acked / cwnd). RTT is the minimum RTT
//   sample seen; with no sample yet CUBIC grows like Reno (+1 SMSS per RTT).
// - §4.3 Reno-friendly region: W_est starts at cwnd_epoch and grows by
//   alpha_cubic * segments_acked / cwnd with alpha_cubic = 3(1-beta)/(1+beta), switching to 1
//   once W_est >= cwnd_prior; while W_cubic(t) < W_est, cwnd follows W_est (never shrinking).
// - §4.4 / §4.5 concave (cwnd < W_max) and convex (cwnd >= W_max) regions use the same rule.
// - §4.6 multiplicative decrease: cwnd_prior = cwnd; ssthresh = cwnd = max(cwnd*beta, 2*SMSS)
//   (the RFC allows cwnd in place of flight_size; the appLimited cap keeps cwnd honest);
//   the epoch restarts at the next congestion-avoidance ACK.
// - §4.7 fast convergence: W_max = cwnd*(1+beta)/2 when cwnd < W_max, else W_max = cwnd.
// - §4.8 timeout: ssthresh from beta as in §4.6, cwnd = 1 SMSS (RFC 5681); in the first
//   congestion-avoidance stage after it K = 0 and W_max = W_est = cwnd at the stage's start.
//   The same applies when no W_max is known yet (§4.10: slow start never ended in a loss).
// - §4.9 spurious timeout: the state from before the timeout is restored.
// - §4.10 slow start: RFC 5681 slow start with RFC 3465 ABC (HyStart++ not implemented).
import { NewRenoCongestionControl, type NewRenoOptions } from './congestion-newreno.ts';

export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;

export interface CubicOptions extends NewRenoOptions {
  /** RFC 9438 §4.1 C (default 0.4). */
  c?: number;
  /** RFC 9438 §4.1 beta_cubic (default 0.7). */
  beta?: number;
  /** RFC 9438 §4.7 fast convergence (default true). */
  fastConvergence?: boolean;
  /** RFC 9438 §4.3 Reno-friendly region (default true). */
  renoFriendly?: boolean;
}

export class CubicCongestionControl extends NewRenoCongestionControl {
  override readonly name: string = 'cubic';
  readonly c: number;
  readonly beta: number;
  /** RFC 9438 §4.3 alpha_cubic = 3(1-beta)/(1+beta). */
  readonly alphaCubic: number;
  readonly fastConvergence: boolean;
  readonly renoFriendly: boolean;

  /** W_max, bytes (0 = unknown). */
  wMax = 0;
  /** K, seconds. */
  k = 0;
  /** t_epoch, ms; -1 while no congestion-avoidance stage is running. */
  tEpoch = -1;
  /** cwnd at the start of the current congestion-avoidance stage, bytes. */
  cwndEpoch = 0;
  /** Reno-friendly estimate W_est, bytes. */
  wEst = 0;
  /** cwnd before the last window reduction, bytes (0 = none yet). */
  cwndPrior = 0;
  /** Minimum RTT sample seen, ms (Infinity = none). */
  minRtt = Infinity;
  /** Next stage uses K = 0 and W_max = cwnd_epoch (§4.8 after a timeout, §4.10 before any loss). */
  protected wMaxFromEpoch = true;

  // §4.9 undo state, saved at the RTO.
  protected undoWMax = 0;
  protected undoK = 0;
  protected undoTEpoch = -1;
  protected undoCwndEpoch = 0;
  protected undoWEst = 0;
  protected undoCwndPrior = 0;
  protected undoWMaxFromEpoch = false;

  constructor(mss: number, options: CubicOptions = {}) {
    super(mss, options);
    this.c = options.c ?? CUBIC_C;
    this.beta = options.beta ?? CUBIC_BETA;
    this.alphaCubic = (3 * (1 - this.beta)) / (1 + this.beta);
    this.fastConvergence = options.fastConvergence ?? true;
    this.renoFriendly = options.renoFriendly ?? true;
  }

  override init(mss: number, now: number): void {
    super.init(mss, now);
    this.wMax = 0;
    this.k = 0;
    this.tEpoch = -1;
    this.cwndEpoch = 0;
    this.wEst = 0;
    this.cwndPrior = 0;
    this.minRtt = Infinity;
    this.wMaxFromEpoch = true;
  }

  /** RFC 9438 eq. (1): W_cubic(t) in bytes for t seconds into the current stage. */
  wCubic(tSeconds: number): number {
    const d = tSeconds - this.k;
    return this.c * d * d * d * this.mss + this.wMax;
  }

  override onAck(ackedBytes: number, inFlight: number, rttMs: number, now: number, appLimited: boolean): void {
    if (rttMs >= 0 && rttMs < this.minRtt) this.minRtt = rttMs;
    super.onAck(ackedBytes, inFlight, rttMs, now, appLimited);
  }

  /** Starts a congestion-avoidance stage (t_epoch) at its first ACK. */
  protected startEpoch(now: number): void {
    const cwnd = this.cwnd;
    this.tEpoch = now;
    this.cwndEpoch = cwnd;
    this.wEst = cwnd; // §4.3 (and §4.8): W_est = cwnd_epoch
    if (this.wMaxFromEpoch) {
      // §4.8 / §4.10: K = 0, W_max = cwnd at the beginning of the stage.
      this.wMax = cwnd;
      this.k = 0;
      this.wMaxFromEpoch = false;
      if (this.cwndPrior === 0) this.cwndPrior = cwnd; // §4.10: no reduction yet
    } else {
      this.k = this.computeK();
    }
  }

  /** RFC 9438 eq. (2): K = cbrt((W_max - cwnd_epoch)/C), segments and seconds. */
  protected computeK(): number {
    const diff = this.wMax - this.cwndEpoch;
    return diff > 0 ? Math.cbrt(diff / this.mss / this.c) : 0;
  }

  protected override congestionAvoidance(ackedBytes: number, _inFlight: number, _rttMs: number, now: number): void {
    if (this.tEpoch < 0) this.startEpoch(now);
    const cwnd = this.cwnd;
    const mss = this.mss;
    // §4.3: W_est += alpha * segments_acked / cwnd (segments), alpha = 1 once W_est >= cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : this.alphaCubic;
    this.wEst += (alpha * ackedBytes * mss) / cwnd;
    const rtt = this.minRtt;
    if (rtt === Infinity) {
      // No RTT yet: the time-based curve cannot be placed; grow like Reno (1 SMSS per RTT).
      this.cwnd = cwnd + (mss * ackedBytes) / cwnd;
      return;
    }
    const t = (now - this.tEpoch) / 1000;
    if (this.renoFriendly && this.wCubic(t) < this.wEst) {
      // §4.3 Reno-friendly region: cwnd = W_est.
      if (this.wEst > cwnd) this.cwnd = this.wEst;
      return;
    }
    // §4.4 concave / §4.5 convex: target = W_cubic(t + RTT) clipped to [cwnd, 1.5*cwnd].
    const w = this.wCubic(t + rtt / 1000);
    const target = w < cwnd ? cwnd : w > 1.5 * cwnd ? 1.5 * cwnd : w;
    this.cwnd = cwnd + ((target - cwnd) * ackedBytes) / cwnd;
  }

  override onLoss(_inFlight: number, _now: number): void {
    const cwnd = this.cwnd;
    // §4.7 fast convergence.
    this.wMax = this.fastConvergence && cwnd < this.wMax ? (cwnd * (1 + this.beta)) / 2 : cwnd;
    this.wMaxFromEpoch = false;
    // §4.6 multiplicative decrease.
    this.cwndPrior = cwnd;
    this.ssthresh = Math.max(cwnd * this.beta, 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.tEpoch = -1;
    this.bytesAcked = 0;
  }

  override onTimeout(inFlight: number, now: number): void {
    if (!this.inTimeout) {
      this.undoWMax = this.wMax;
      this.undoK = this.k;
      this.undoTEpoch = this.tEpoch;
      this.undoCwndEpoch = this.cwndEpoch;
      this.undoWEst = this.wEst;
      this.undoCwndPrior = this.cwndPrior;
      this.undoWMaxFromEpoch = this.wMaxFromEpoch;
    }
    const cwnd = this.cwnd;
    const first = !this.inTimeout;
    super.onTimeout(inFlight, now); // cwnd = 1 SMSS, undo of cwnd/ssthresh, RFC 5681 ssthresh hold
    if (first) {
      // §4.8: ssthresh from beta_cubic as in §4.6.
      this.cwndPrior = cwnd;
      this.ssthresh = Math.max(cwnd * this.beta, 2 * this.mss);
      this.wMax = 0; // replaced at the next stage's start (below); a loss before then uses cwnd
    }
    this.wMaxFromEpoch = true;
    this.tEpoch = -1;
  }

  override onSpuriousTimeout(now: number): void {
    if (this.undoCwnd === 0) return;
    super.onSpuriousTimeout(now); // cwnd and ssthresh
    this.wMax = this.undoWMax;
    this.k = this.undoK;
    this.tEpoch = this.undoTEpoch;
    this.cwndEpoch = this.undoCwndEpoch;
    this.wEst = this.undoWEst;
    this.cwndPrior = this.undoCwndPrior;
    this.wMaxFromEpoch = this.undoWMaxFromEpoch;
  }

  override setMss(mss: number): void {
    super.setMss(mss);
    if (this.tEpoch >= 0) this.k = this.computeK();
  }

  override onIdleRestart(now: number, rtoMs: number): void {
    super.onIdleRestart(now, rtoMs);
    // The curve's origin moved: start a new stage (W_max kept) at the next congestion-avoidance ACK.
    this.tEpoch = -1;
  }
}

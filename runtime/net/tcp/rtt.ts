// Retransmission timer computation (RFC 6298). Times are milliseconds (fractional allowed).
// - Before any sample RTO is `initialRto` (1 s, RFC 6298 §2.1).
// - First sample R: SRTT = R, RTTVAR = R/2 (§2.2); later samples R': RTTVAR = 3/4 RTTVAR +
//   1/4 |SRTT - R'| (using the old SRTT), then SRTT = 7/8 SRTT + 1/8 R' (§2.3).
// - RTO = SRTT + max(G, 4 RTTVAR) with clock granularity G = 1 ms, clamped to [minRto, maxRto].
//   RFC 6298 §2.4 says a 1 s floor; we default to Linux's TCP_RTO_MIN of 200 ms (configurable).
//   The ceiling is 120 s (Linux TCP_RTO_MAX; RFC 6298 §2.5 allows any maximum >= 60 s).
// - On timer expiry the caller calls backoff(): RTO doubles up to maxRto (§5.5). A new sample
//   (or resetBackoff()) recomputes RTO from SRTT/RTTVAR, collapsing the backoff.
// The caller applies Karn's algorithm (§3): it never samples a retransmitted segment unless the
// measurement comes from the TCP timestamp option (RFC 7323 §4).

export const RTO_INITIAL_MS = 1000;
export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 120_000;
/** Clock granularity G (ms). */
export const RTO_CLOCK_GRANULARITY_MS = 1;

export interface RttEstimatorOptions {
  /** RTO floor in ms (default 200, Linux TCP_RTO_MIN). */
  minRto?: number;
  /** RTO ceiling in ms (default 120 000). */
  maxRto?: number;
  /** RTO before the first sample in ms (default 1000). */
  initialRto?: number;
}

export class RttEstimator {
  /** Smoothed RTT (ms); 0 before the first sample. */
  srtt = 0;
  /** RTT variation (ms); 0 before the first sample. */
  rttvar = 0;
  /** Current retransmission timeout (ms), backoff included. */
  rto: number;
  /** Number of samples taken. */
  samples = 0;
  /** Lowest sample seen (ms); Infinity before the first sample. */
  minRtt = Infinity;
  /** Most recent sample (ms); 0 before the first sample. */
  latestRtt = 0;
  /** Consecutive backoff() calls since the last sample or resetBackoff(). */
  backoffs = 0;
  readonly initialRto: number;
  private lo: number;
  private hi: number;

  constructor(options: RttEstimatorOptions = {}) {
    this.lo = options.minRto ?? RTO_MIN_MS;
    this.hi = options.maxRto ?? RTO_MAX_MS;
    this.initialRto = options.initialRto ?? RTO_INITIAL_MS;
    checkLimits(this.lo, this.hi);
    this.rto = this.clamp(this.initialRto);
  }

  /** RTO floor (ms). Setting it re-clamps the current RTO. */
  get minRto(): number {
    return this.lo;
  }

  set minRto(ms: number) {
    checkLimits(ms, this.hi);
    this.lo = ms;
    this.rto = this.clamp(this.rto);
  }

  /** RTO ceiling (ms). Setting it re-clamps the current RTO. */
  get maxRto(): number {
    return this.hi;
  }

  set maxRto(ms: number) {
    checkLimits(this.lo, ms);
    this.hi = ms;
    this.rto = this.clamp(this.rto);
  }

  /** Feeds one RTT measurement in ms. Negative or non-finite measurements are ignored. */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || rttMs === Infinity) return;
    if (this.samples === 0) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      const err = this.srtt - rttMs;
      this.rttvar = 0.75 * this.rttvar + 0.25 * (err < 0 ? -err : err);
      this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    }
    this.samples++;
    this.latestRtt = rttMs;
    if (rttMs < this.minRtt) this.minRtt = rttMs;
    this.backoffs = 0;
    this.rto = this.computeRto();
  }

  /** Retransmission timer expired: RTO = min(2 RTO, maxRto) (RFC 6298 §5.5). */
  backoff(): void {
    this.backoffs++;
    const doubled = this.rto * 2;
    this.rto = doubled > this.hi ? this.hi : doubled;
  }

  /** Drops any backoff: RTO from SRTT/RTTVAR, or the initial RTO if there is no sample yet. */
  resetBackoff(): void {
    this.backoffs = 0;
    this.rto = this.samples === 0 ? this.clamp(this.initialRto) : this.computeRto();
  }

  /** Forgets all samples (e.g. RFC 6298 §5.7 after a SYN timeout, with initialRto 3 s). */
  reset(initialRto: number = this.initialRto): void {
    this.srtt = 0;
    this.rttvar = 0;
    this.samples = 0;
    this.minRtt = Infinity;
    this.latestRtt = 0;
    this.backoffs = 0;
    this.rto = this.clamp(initialRto);
  }

  private computeRto(): number {
    const v = 4 * this.rttvar;
    return this.clamp(this.srtt + (v > RTO_CLOCK_GRANULARITY_MS ? v : RTO_CLOCK_GRANULARITY_MS));
  }

  private clamp(rto: number): number {
    return rto < this.lo ? this.lo : rto > this.hi ? this.hi : rto;
  }
}

function checkLimits(minRto: number, maxRto: number): void {
  if (!(minRto > 0) || !(maxRto >= minRto)) throw new RangeError('RttEstimator: need 0 < minRto <= maxRto');
}

import { describe, expect, it } from 'vitest';
import { WskUsageError } from '../../errors.ts';
import {
  congestionControlNames, createCongestionControl, initialWindow, registerCongestionControl,
  type CongestionControl,
} from './congestion.ts';
import { CubicCongestionControl } from './congestion-cubic.ts';
import { NewRenoCongestionControl } from './congestion-newreno.ts';

const MSS = 1460;

/** One RTT worth of ACKs: one ACK per full MSS of cwnd, spread evenly over `rtt` ms. */
function ackRound(cc: CongestionControl, now: number, rtt: number, rttSample = rtt): number {
  const n = Math.max(1, Math.floor(cc.cwnd / MSS));
  const inFlight = n * MSS;
  for (let i = 1; i <= n; i++) cc.onAck(MSS, inFlight, rttSample, now + (i * rtt) / n, false);
  return now + rtt;
}

/** Runs ACK rounds until `until` ms; calls `at` with the time after each round. */
function runUntil(cc: CongestionControl, now: number, until: number, rtt: number, at?: (t: number) => void): number {
  while (now < until - 1e-9) {
    now = ackRound(cc, now, rtt);
    at?.(now);
  }
  return now;
}

/** A CUBIC controller that just had a loss at W_max = wMaxSegs segments at time 0 and left recovery. */
function cubicAfterLoss(wMaxSegs: number, options = {}): CubicCongestionControl {
  const cc = new CubicCongestionControl(MSS, options);
  cc.init(MSS, 0);
  cc.cwnd = wMaxSegs * MSS;
  cc.onLoss(wMaxSegs * MSS, 0);
  cc.onRecoveryEnd(0);
  return cc;
}

describe('initial window (RFC 6928 §2: min(10*MSS, max(2*MSS, 14600)))', () => {
  it.each([
    [536, 5360], // 10 * 536
    [1460, 14600], // 10 * 1460 = 14600
    [8960, 17920], // jumbo: max(2 * 8960, 14600)
  ])('mss %i -> %i bytes, ssthresh Infinity (RFC 5681 §3.1)', (mss, iw) => {
    expect(initialWindow(mss)).toBe(iw);
    for (const name of ['newreno', 'cubic']) {
      const cc = createCongestionControl(name, mss);
      cc.init(mss, 0);
      expect(cc.cwnd).toBe(iw);
      expect(cc.ssthresh).toBe(Infinity);
    }
  });

  it('a configured initial ssthresh is used (RFC 5681 §3.1 "may be arbitrarily high")', () => {
    const cc = new NewRenoCongestionControl(MSS, { initialSsthresh: 20 * MSS });
    cc.init(MSS, 0);
    expect(cc.ssthresh).toBe(20 * MSS);
  });

  it('a timeout before init (lost SYN) makes the initial window 1 SMSS (RFC 5681 §3.1, RFC 6298 §5.7)', () => {
    const cc = createCongestionControl('cubic', MSS);
    cc.onTimeout(0, 0);
    cc.init(MSS, 1000);
    expect(cc.cwnd).toBe(MSS);
  });

  it('setMss before init recomputes IW; after init keeps cwnd in bytes but >= 1 SMSS', () => {
    const cc = createCongestionControl('newreno', 1460);
    cc.setMss(536);
    expect(cc.cwnd).toBe(5360);
    cc.init(536, 0);
    cc.setMss(9000);
    expect(cc.cwnd).toBe(9000);
  });
});

describe('NewReno (RFC 5681)', () => {
  it('slow start doubles cwnd per RTT of ACKs, one ACK per MSS (RFC 5681 §3.1)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    let now = 0;
    for (let round = 0; round < 5; round++) {
      const before = cc.cwnd;
      now = ackRound(cc, now, 50);
      expect(cc.cwnd).toBe(2 * before);
    }
    expect(cc.cwnd).toBe(10 * MSS * 32);
  });

  it('ABC limits a stretch ACK to L = 2 SMSS in slow start (RFC 3465 §2.2)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    cc.onAck(5 * MSS, 10 * MSS, 50, 50, false);
    expect(cc.cwnd).toBe(12 * MSS);
  });

  it('slow start stops at ssthresh; the excess of the ACK counts for congestion avoidance (RFC 5681 §3.1)', () => {
    const cc = new NewRenoCongestionControl(MSS, { initialSsthresh: 11 * MSS });
    cc.init(MSS, 0);
    cc.onAck(2 * MSS, 10 * MSS, 50, 50, false);
    expect(cc.cwnd).toBe(11 * MSS);
  });

  it('congestion avoidance adds 1 SMSS per RTT (RFC 5681 §3.1, RFC 3465 §2.1 byte counting)', () => {
    const cc = new NewRenoCongestionControl(MSS, { initialSsthresh: 20 * MSS });
    cc.init(MSS, 0);
    cc.cwnd = 20 * MSS;
    let now = 0;
    for (let round = 0; round < 10; round++) {
      const before = cc.cwnd;
      now = ackRound(cc, now, 50);
      expect(cc.cwnd).toBe(before + MSS);
    }
    expect(cc.cwnd).toBe(30 * MSS);
  });

  it('loss halves: ssthresh = cwnd = max(FlightSize/2, 2*SMSS); recovery end deflates to ssthresh (RFC 5681 §3.2 eq. 4, RFC 6582 §3.2)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onLoss(40 * MSS, 100);
    expect(cc.ssthresh).toBe(20 * MSS);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.onRecoveryAck?.(MSS, 110);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.cwnd = 25 * MSS; // whatever the core did meanwhile
    cc.onRecoveryEnd(150);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.onLoss(3 * MSS, 200);
    expect(cc.ssthresh).toBe(2 * MSS); // floor
  });

  it('timeout: cwnd = 1 SMSS, ssthresh = max(FlightSize/2, 2*SMSS), held on repeated timeouts (RFC 5681 §3.1)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onTimeout(30 * MSS, 1000);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(15 * MSS);
    cc.onTimeout(30 * MSS, 3000); // backed-off retransmission of the same segment
    expect(cc.ssthresh).toBe(15 * MSS);
    cc.onAck(MSS, MSS, 100, 3100, false);
    expect(cc.cwnd).toBe(2 * MSS); // slow start again
  });

  it('a spurious timeout restores cwnd and ssthresh (RFC 4015 response, simplified)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.ssthresh = 30 * MSS;
    cc.onTimeout(40 * MSS, 1000);
    cc.onSpuriousTimeout?.(1010);
    expect(cc.cwnd).toBe(40 * MSS);
    expect(cc.ssthresh).toBe(30 * MSS);
  });

  it('idle restart: cwnd = min(cwnd, RW = min(IW, cwnd)) (RFC 5681 §4.1)', () => {
    const cc = createCongestionControl('newreno', MSS);
    cc.init(MSS, 0);
    cc.cwnd = 50 * MSS;
    cc.onIdleRestart(10_000, 1000);
    expect(cc.cwnd).toBe(initialWindow(MSS));
    cc.cwnd = 4 * MSS;
    cc.onIdleRestart(20_000, 1000);
    expect(cc.cwnd).toBe(4 * MSS);
  });
});

describe('application-limited ACKs (RFC 7661 spirit: cwnd <= max(cwnd, 2*inFlight))', () => {
  for (const name of ['newreno', 'cubic']) {
    it(`${name}: no growth while inFlight is small, and at most 2*inFlight`, () => {
      const cc = createCongestionControl(name, MSS);
      cc.init(MSS, 0);
      for (let i = 0; i < 20; i++) cc.onAck(MSS, 3 * MSS, 50, i, true);
      expect(cc.cwnd).toBe(10 * MSS); // 2 * 3 MSS < cwnd: frozen
      for (let i = 0; i < 20; i++) cc.onAck(MSS, 8 * MSS, 50, 20 + i, true);
      expect(cc.cwnd).toBe(16 * MSS);
      cc.onAck(MSS, 16 * MSS, 50, 50, false);
      expect(cc.cwnd).toBe(17 * MSS); // not app-limited: slow start resumes
    });
  }

  it('cubic: app-limited in congestion avoidance does not grow cwnd', () => {
    const cc = cubicAfterLoss(100);
    for (let i = 0; i < 1000; i++) cc.onAck(MSS, 20 * MSS, 100, i * 10, true);
    expect(cc.cwnd).toBe(70 * MSS);
  });
});

describe('CUBIC (RFC 9438)', () => {
  const C = 0.4;
  const BETA = 0.7;
  /** Independent arithmetic: RFC 9438 eq. (1) and (2), segments and seconds. */
  const kOf = (wMax: number, cwndEpoch: number) => Math.pow((wMax - cwndEpoch) / C, 1 / 3);
  const wCubic = (t: number, k: number, wMax: number) => C * (t - k) ** 3 + wMax;

  it('is the default: registered first, name "cubic"', () => {
    expect(congestionControlNames()[0]).toBe('cubic');
    const cc = createCongestionControl('cubic', MSS);
    expect(cc).toBeInstanceOf(CubicCongestionControl);
    expect(cc.name).toBe('cubic');
  });

  it('loss: W_max = cwnd, ssthresh = cwnd = beta*cwnd, K = cbrt(W_max*(1-beta)/C) (§4.2, §4.6)', () => {
    const cc = cubicAfterLoss(1000);
    expect(cc.wMax).toBe(1000 * MSS);
    expect(cc.ssthresh).toBeCloseTo(700 * MSS, 6);
    expect(cc.cwnd).toBeCloseTo(700 * MSS, 6);
    expect(cc.tEpoch).toBe(-1); // epoch reset; the stage starts at the first CA ACK
    cc.onAck(MSS, 700 * MSS, 100, 1, false);
    expect(cc.tEpoch).toBe(1);
    expect(cc.k).toBeCloseTo(Math.pow((1000 * (1 - BETA)) / C, 1 / 3), 9); // 9.0856 s
    expect(cc.k).toBeCloseTo(9.0856, 3);
    // minimum floor 2*SMSS (§4.6)
    const small = cubicAfterLoss(2);
    expect(small.cwnd).toBe(2 * MSS);
  });

  it('cwnd follows W_cubic(t): concave up to W_max around t = K, convex beyond (§4.2, §4.4, §4.5)', () => {
    const rtt = 100;
    const cc = cubicAfterLoss(1000);
    const k = kOf(1000, 700);
    const samples = new Map<number, number>();
    runUntil(cc, 0, 14_000, rtt, (t) => samples.set(Math.round(t), cc.cwnd / MSS));
    // W_cubic at a few times, from the formula; cwnd lags the t+RTT target by at most ~1 RTT.
    for (const tMs of [1000, 3000, 6000, 9000, 12_000, 14_000]) {
      const expected = wCubic(tMs / 1000, k, 1000);
      const got = samples.get(tMs)!;
      expect(Math.abs(got - expected)).toBeLessThan(2.5);
      expect(got).toBeLessThanOrEqual(wCubic((tMs + rtt) / 1000, k, 1000) + 1e-6);
    }
    expect(wCubic(1, k, 1000)).toBeCloseTo(788.56, 1); // 0.4*(1-9.0856)^3 + 1000 = 1000 - 211.44
    // Concave before K: below W_max and growth per second shrinking.
    const g1 = samples.get(2000)! - samples.get(1000)!;
    const g2 = samples.get(5000)! - samples.get(4000)!;
    const g3 = samples.get(8000)! - samples.get(7000)!;
    expect(g1).toBeGreaterThan(g2);
    expect(g2).toBeGreaterThan(g3);
    expect(samples.get(8000)!).toBeLessThan(1000);
    // Plateau around K: close to W_max.
    expect(Math.abs(samples.get(9100)! - 1000)).toBeLessThan(1);
    // Convex beyond: above W_max and growth per second increasing.
    const g4 = samples.get(11_000)! - samples.get(10_000)!;
    const g5 = samples.get(14_000)! - samples.get(13_000)!;
    expect(samples.get(11_000)!).toBeGreaterThan(1000);
    expect(g4).toBeGreaterThan(samples.get(10_000)! - samples.get(9_000)!);
    expect(g5).toBeGreaterThan(g4);
  });

  it('the per-ACK increase is (target - cwnd)/cwnd with target clipped to [cwnd, 1.5*cwnd] (§4.4)', () => {
    const cc = cubicAfterLoss(1000, { renoFriendly: false });
    cc.onAck(MSS, 700 * MSS, 100, 0, false); // starts the epoch at t = 0
    const cwnd = cc.cwnd;
    const k = kOf(1000, 700);
    // one ACK at t = 2 s with RTT 100 ms: target = W_cubic(2.1)
    cc.onAck(MSS, 700 * MSS, 100, 2000, false);
    const target = wCubic(2.1, k, 1000) * MSS;
    expect(cc.cwnd).toBeCloseTo(cwnd + ((target - cwnd) / cwnd) * MSS, 6);
    // far in the future the target is capped at 1.5*cwnd
    const before = cc.cwnd;
    cc.onAck(MSS, 700 * MSS, 100, 100_000, false);
    expect(cc.cwnd).toBeCloseTo(before + ((1.5 * before - before) / before) * MSS, 6);
  });

  it('Reno-friendly region dominates at small RTT / early times: cwnd = W_est (§4.3)', () => {
    // RTT 1 ms: W_est grows alpha_cubic = 3(1-beta)/(1+beta) segments per RTT, far faster in time
    // than the cubic curve.
    const alpha = (3 * (1 - BETA)) / (1 + BETA);
    expect(alpha).toBeCloseTo(0.5294, 4);
    const cc = cubicAfterLoss(100);
    const k = kOf(100, 70);
    let now = 0;
    for (let round = 1; round <= 40; round++) now = ackRound(cc, now, 1);
    const west = 70 + alpha * 40; // ~91.2 segments, independent estimate
    expect(Math.abs(cc.cwnd / MSS - west)).toBeLessThan(1.5);
    expect(cc.cwnd / MSS).toBeGreaterThan(wCubic(now / 1000, k, 100) + 15); // W_cubic(0.04) ~ 70.9
    // Once W_est passes cwnd_prior (= 100), alpha becomes 1: 1 segment per RTT.
    for (let round = 0; round < 60; round++) now = ackRound(cc, now, 1);
    const before = cc.cwnd / MSS;
    for (let round = 0; round < 10; round++) now = ackRound(cc, now, 1);
    expect(cc.cwnd / MSS - before).toBeCloseTo(10, 0);
    // Without the Reno-friendly region, the same ACKs only follow the (flat, early) cubic curve.
    const pure = cubicAfterLoss(100, { renoFriendly: false });
    runUntil(pure, 0, 40, 1);
    expect(Math.abs(pure.cwnd / MSS - wCubic(0.04, k, 100))).toBeLessThan(1);
  });

  it('without any RTT sample it grows like Reno (1 SMSS per RTT)', () => {
    const cc = cubicAfterLoss(100);
    let now = 0;
    for (let r = 0; r < 5; r++) {
      const n = Math.floor(cc.cwnd / MSS);
      for (let i = 0; i < n; i++) cc.onAck(MSS, n * MSS, -1, ++now, false);
    }
    expect(cc.cwnd / MSS).toBeGreaterThan(74.5);
    expect(cc.cwnd / MSS).toBeLessThan(75.5);
    expect(cc.minRtt).toBe(Infinity);
  });

  it('fast convergence lowers W_max when a loss happens below the previous W_max (§4.7)', () => {
    const cc = cubicAfterLoss(100);
    expect(cc.wMax).toBe(100 * MSS);
    cc.cwnd = 90 * MSS; // grew back only to 90 segments before the next loss
    cc.onLoss(90 * MSS, 5000);
    expect(cc.wMax).toBeCloseTo((90 * (1 + BETA)) / 2 * MSS, 6); // 76.5 segments
    expect(cc.cwnd).toBeCloseTo(63 * MSS, 6);
    cc.onRecoveryEnd(5100);
    cc.onAck(MSS, 63 * MSS, 100, 5200, false);
    expect(cc.k).toBeCloseTo(kOf(76.5, 63), 9); // cbrt((W_max - cwnd_epoch)/C), §4.2
    // A loss above W_max sets W_max = cwnd.
    cc.cwnd = 120 * MSS;
    cc.onLoss(120 * MSS, 9000);
    expect(cc.wMax).toBe(120 * MSS);
    // Disabled: W_max = cwnd even below the previous W_max.
    const plain = cubicAfterLoss(100, { fastConvergence: false });
    plain.cwnd = 90 * MSS;
    plain.onLoss(90 * MSS, 5000);
    expect(plain.wMax).toBe(90 * MSS);
  });

  it('timeout: ssthresh = beta*cwnd, cwnd = 1 SMSS, epoch reset; next stage K = 0, W_max = cwnd_epoch (§4.8)', () => {
    const cc = cubicAfterLoss(100);
    runUntil(cc, 0, 2000, 100);
    expect(cc.tEpoch).toBeGreaterThanOrEqual(0);
    const cwnd = cc.cwnd;
    cc.onTimeout(cwnd, 2500);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBeCloseTo(cwnd * BETA, 6);
    expect(cc.tEpoch).toBe(-1);
    cc.onTimeout(MSS, 4500); // repeated RTO on the same data: ssthresh held (RFC 5681 §3.1)
    expect(cc.ssthresh).toBeCloseTo(cwnd * BETA, 6);
    // Slow start back to ssthresh, then the first congestion-avoidance ACK starts the stage.
    let now = 4600;
    while (cc.tEpoch < 0) now = ackRound(cc, now, 100);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(cc.cwndEpoch);
    expect(cc.cwndEpoch).toBeCloseTo(cwnd * BETA, 6);
    // Convex from the start: W_cubic(t) = C t^3 + W_max.
    const start = cc.tEpoch;
    const wm = cc.wMax / MSS;
    runUntil(cc, now, start + 8000, 100);
    expect(cc.cwnd / MSS).toBeGreaterThan(wm + C * 7.5 ** 3 - 3);
  });

  it('a spurious timeout restores the state from before it (§4.9)', () => {
    const cc = cubicAfterLoss(100);
    runUntil(cc, 0, 2000, 100);
    const snapshot = [cc.cwnd, cc.ssthresh, cc.wMax, cc.k, cc.tEpoch, cc.wEst];
    cc.onTimeout(cc.cwnd, 2500);
    cc.onSpuriousTimeout(2600);
    expect([cc.cwnd, cc.ssthresh, cc.wMax, cc.k, cc.tEpoch, cc.wEst]).toEqual(snapshot);
  });

  it('idle restart caps cwnd to the restart window and restarts the epoch (RFC 5681 §4.1)', () => {
    const cc = cubicAfterLoss(100);
    runUntil(cc, 0, 1000, 100);
    cc.onIdleRestart(60_000, 300);
    expect(cc.cwnd).toBe(initialWindow(MSS));
    expect(cc.tEpoch).toBe(-1);
    expect(cc.wMax).toBe(100 * MSS);
  });
});

describe('registry', () => {
  it("'cubic' and 'newreno' are registered", () => {
    expect(congestionControlNames()).toEqual(expect.arrayContaining(['cubic', 'newreno']));
    expect(createCongestionControl('newreno', MSS)).toBeInstanceOf(NewRenoCongestionControl);
    expect(createCongestionControl('newreno', MSS).name).toBe('newreno');
  });

  it('an unknown name throws WskUsageError TCP_CONGESTION listing the registered names', () => {
    let err: unknown;
    try {
      createCongestionControl('bbr', MSS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WskUsageError);
    expect((err as WskUsageError).code).toBe('TCP_CONGESTION');
    expect((err as Error).message).toContain("'bbr'");
    expect((err as Error).message).toContain('cubic, newreno');
    expect(() => registerCongestionControl('', (mss) => new NewRenoCongestionControl(mss))).toThrow(WskUsageError);
    expect(() => registerCongestionControl('x', 42 as never)).toThrow(WskUsageError);
  });

  it('a custom controller registered by name is created, with its hooks', () => {
    class CountingReno extends NewRenoCongestionControl {
      override readonly name = 'counting-reno';
      recoveryAcked = 0;
      override onRecoveryAck(ackedBytes: number): void {
        this.recoveryAcked += ackedBytes;
      }
    }
    registerCongestionControl('counting-reno', (mss) => new CountingReno(mss, { abcLimit: 1 }));
    expect(congestionControlNames()).toContain('counting-reno');
    const cc = createCongestionControl('counting-reno', 536);
    expect(cc).toBeInstanceOf(CountingReno);
    expect(cc.name).toBe('counting-reno');
    cc.init(536, 0);
    expect(cc.cwnd).toBe(5360);
    cc.onRecoveryAck?.(1000, 1);
    expect((cc as CountingReno).recoveryAcked).toBe(1000);
    cc.onAck(3 * 536, 10 * 536, 10, 2, false);
    expect(cc.cwnd).toBe(11 * 536); // abcLimit 1
    // Error message lists it too.
    expect(() => createCongestionControl('nope', MSS)).toThrow(/counting-reno/);
  });
});

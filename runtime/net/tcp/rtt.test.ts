import { describe, expect, it } from 'vitest';
import { RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS, RttEstimator } from './rtt.ts';

describe('RttEstimator (RFC 6298)', () => {
  it('starts with RTO 1 s and no samples', () => {
    const r = new RttEstimator();
    expect(r.rto).toBe(RTO_INITIAL_MS);
    expect(r.samples).toBe(0);
    expect(r.srtt).toBe(0);
    expect(r.rttvar).toBe(0);
    expect(r.minRtt).toBe(Infinity);
    expect(r.minRto).toBe(RTO_MIN_MS);
    expect(r.maxRto).toBe(RTO_MAX_MS);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR', () => {
    const r = new RttEstimator();
    r.sample(100);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.rto).toBe(300);
    expect(r.samples).toBe(1);
    expect(r.minRtt).toBe(100);
  });

  it('follows a known sequence of samples exactly (alpha 1/8, beta 1/4)', () => {
    const r = new RttEstimator();
    r.sample(100); // srtt 100, rttvar 50, rto 300
    r.sample(200);
    // rttvar = 3/4*50 + 1/4*|100-200| = 37.5 + 25 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
    expect(r.rttvar).toBe(62.5);
    expect(r.srtt).toBe(112.5);
    expect(r.rto).toBe(112.5 + 250);
    r.sample(80);
    // rttvar = 3/4*62.5 + 1/4*|112.5-80| = 46.875 + 8.125 = 55; srtt = 7/8*112.5 + 10 = 108.4375
    expect(r.rttvar).toBe(55);
    expect(r.srtt).toBe(108.4375);
    expect(r.rto).toBe(328.4375);
    expect(r.minRtt).toBe(80);
    expect(r.latestRtt).toBe(80);
    expect(r.samples).toBe(3);
  });

  it('applies the minRto floor and the clock granularity', () => {
    const r = new RttEstimator();
    r.sample(10); // 10 + 20 = 30 -> floor 200
    expect(r.rto).toBe(200);
    const fine = new RttEstimator({ minRto: 0.5 });
    fine.sample(8);
    for (let i = 0; i < 200; i++) fine.sample(8); // rttvar decays towards 0
    expect(fine.rttvar).toBeLessThan(0.25);
    expect(fine.srtt).toBe(8);
    expect(fine.rto).toBe(9); // SRTT + G (G = 1 ms dominates 4*RTTVAR)
  });

  it('minRto is configurable (RFC 6298 1 s floor)', () => {
    const r = new RttEstimator({ minRto: 1000 });
    r.sample(100);
    expect(r.rto).toBe(1000);
  });

  it('minRto and maxRto can be set after construction, re-clamping the RTO', () => {
    const r = new RttEstimator();
    r.minRto = 50;
    r.sample(10); // 10 + 20 = 30 -> 50
    expect(r.rto).toBe(50);
    r.minRto = 300;
    expect(r.rto).toBe(300);
    r.maxRto = 400;
    for (let i = 0; i < 5; i++) r.backoff();
    expect(r.rto).toBe(400);
    r.maxRto = 350;
    expect(r.rto).toBe(350);
    expect(() => (r.minRto = 0)).toThrow(RangeError);
    expect(() => (r.maxRto = 100)).toThrow(RangeError);
  });

  it('applies the maxRto ceiling', () => {
    const r = new RttEstimator();
    r.sample(100_000); // 100000 + 200000 -> 120000
    expect(r.rto).toBe(120_000);
  });

  it('backoff doubles up to the maximum; resetBackoff and a new sample collapse it', () => {
    const r = new RttEstimator();
    r.sample(100); // 300
    r.backoff();
    expect(r.rto).toBe(600);
    r.backoff();
    expect(r.rto).toBe(1200);
    expect(r.backoffs).toBe(2);
    for (let i = 0; i < 20; i++) r.backoff();
    expect(r.rto).toBe(120_000);
    r.resetBackoff();
    expect(r.rto).toBe(300);
    expect(r.backoffs).toBe(0);
    r.backoff();
    r.sample(100); // rttvar = 37.5, srtt 100 -> 250
    expect(r.rto).toBe(250);
    expect(r.backoffs).toBe(0);
  });

  it('backoff before any sample starts from the initial RTO; resetBackoff returns to it', () => {
    const r = new RttEstimator();
    r.backoff();
    r.backoff();
    expect(r.rto).toBe(4000);
    r.resetBackoff();
    expect(r.rto).toBe(1000);
  });

  it('reset forgets samples and can use a 3 s initial RTO (RFC 6298 §5.7)', () => {
    const r = new RttEstimator();
    r.sample(50);
    r.reset(3000);
    expect(r.samples).toBe(0);
    expect(r.rto).toBe(3000);
    expect(r.minRtt).toBe(Infinity);
  });

  it('ignores invalid samples', () => {
    const r = new RttEstimator();
    r.sample(-1);
    r.sample(NaN);
    r.sample(Infinity);
    expect(r.samples).toBe(0);
    expect(r.rto).toBe(1000);
    r.sample(0); // a zero RTT is valid: rto = 0 + max(1, 0) -> floor
    expect(r.samples).toBe(1);
    expect(r.rto).toBe(200);
  });

  it('rejects nonsense limits', () => {
    expect(() => new RttEstimator({ minRto: 0 })).toThrow(RangeError);
    expect(() => new RttEstimator({ minRto: 500, maxRto: 100 })).toThrow(RangeError);
  });
});

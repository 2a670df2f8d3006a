// The receive counter filter (RFC 6479 bitmap): new counters pass once, old ones within the window
// pass once in any order, anything older than the window or at the limit is refused.
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW, ReplayWindow } from './replay-window.ts';

describe('ReplayWindow', () => {
  it('accepts each counter once, in order or out of order within the window', () => {
    const w = new ReplayWindow();
    expect(w.accept(0)).toBe(true);
    expect(w.accept(0)).toBe(false);
    for (const c of [5, 3, 4, 1, 2]) expect(w.accept(c)).toBe(true);
    for (const c of [1, 2, 3, 4, 5]) expect(w.accept(c)).toBe(false);
  });

  it(`keeps exactly ${REPLAY_WINDOW} counters behind the highest (more than 2048)`, () => {
    expect(REPLAY_WINDOW).toBeGreaterThan(2048);
    const w = new ReplayWindow();
    const top = 100_000;
    expect(w.accept(top)).toBe(true);
    expect(w.accept(top - REPLAY_WINDOW)).toBe(true);
    expect(w.accept(top - REPLAY_WINDOW - 1)).toBe(false);
    expect(w.accept(top - REPLAY_WINDOW)).toBe(false);
  });

  it('forgets bits of blocks the window slid past (a jump clears them), never the live ones', () => {
    const w = new ReplayWindow();
    for (let c = 0; c < 64; c++) w.accept(c);
    expect(w.accept(64 + 8192 * 3)).toBe(true); // far jump: the whole ring is stale
    // Counters that share a ring position with old ones are new again.
    for (let c = 8192 * 3 + 32; c < 8192 * 3 + 64; c++) expect(w.accept(c)).toBe(true);
    const w2 = new ReplayWindow();
    for (let c = 0; c < 20_000; c += 3) expect(w2.accept(c)).toBe(true);
    const last = 19_998;
    const first = Math.ceil((last - REPLAY_WINDOW) / 3) * 3;
    for (let c = first; c <= last; c += 3) expect(w2.accept(c)).toBe(false); // seen
    for (let c = first + 1; c <= last; c += 3) expect(w2.accept(c)).toBe(true); // new, inside the window
    expect(w2.accept(first - 1)).toBe(false); // older than the window
  });

  it('resets', () => {
    const w = new ReplayWindow();
    expect(w.accept(39)).toBe(true);
    w.reset();
    expect(w.accept(39)).toBe(true);
  });
});

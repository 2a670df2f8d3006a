// The interval clock on a clock the test turns by hand: ticks are asked for at exact multiples
// of -i from the start, a late timer shifts nothing after it, missed ticks are skipped, the end
// of a timed test closes the last interval itself, and the omit period restarts the grid.
import { describe, expect, it } from 'vitest';
import { IntervalClock, type IntervalClockOptions } from './interval-clock.ts';

/** A hand-turned clock: `fire(late)` runs the pending timer `late` ms after the moment it asked for. */
function handClock(o: Pick<IntervalClockOptions, 'intervalMs' | 'omitMs' | 'endAfterMs'>) {
  let now = 0;
  let pending: { fn: () => void; at: number } | null = null;
  const events: string[] = [];
  const clock = new IntervalClock({
    ...o,
    now: () => now,
    setTimer: (fn, ms) => { pending = { fn, at: now + ms }; return pending; },
    clearTimer: () => { pending = null; },
    onInterval: (t, omitted) => events.push(`interval ${t}${omitted ? ' omitted' : ''}`),
    onOmitEnd: (t) => events.push(`omit end ${t}`),
  });
  return {
    clock, events,
    /** When the pending timer asked to run, or null. */
    get due(): number | null { return pending?.at ?? null; },
    fire(late = 0): void {
      const p = pending!;
      pending = null;
      now = p.at + late;
      p.fn();
    },
  };
}

describe('interval clock', () => {
  it('-t 3 -i 1: ticks at 1 s and 2 s however late the one before ran; none at 3 s (the end closes that interval)', () => {
    const c = handClock({ intervalMs: 1000, omitMs: 0, endAfterMs: 3000 });
    c.clock.start(0);
    expect(c.due).toBe(1000);
    c.fire(70);
    expect(c.due).toBe(2000);
    c.fire(5);
    expect(c.due).toBeNull();
    expect(c.events).toEqual(['interval 1070', 'interval 2005']);
  });

  it('-t 10 -i 3: 3, 6 and 9 s, then the end', () => {
    const c = handClock({ intervalMs: 3000, omitMs: 0, endAfterMs: 10_000 });
    c.clock.start(0);
    const asked: number[] = [];
    while (c.due !== null) { asked.push(c.due); c.fire(); }
    expect(asked).toEqual([3000, 6000, 9000]);
  });

  it('a stalled loop skips the ticks it missed instead of reporting empty intervals', () => {
    const c = handClock({ intervalMs: 1000, omitMs: 0, endAfterMs: Infinity });
    c.clock.start(0);
    c.fire(2500);
    expect(c.events).toEqual(['interval 3500']);
    expect(c.due).toBe(4000);
  });

  it('-O 2 -i 1: omitted intervals at 1 and 2 s, then the grid starts again where the omit period ended', () => {
    const c = handClock({ intervalMs: 1000, omitMs: 2000, endAfterMs: 12_000 });
    c.clock.start(0);
    c.fire();
    c.fire(3);
    expect(c.events).toEqual(['interval 1000 omitted', 'interval 2003 omitted', 'omit end 2003']);
    expect(c.due).toBe(3003);
  });

  it('-i 0: no ticks (the end reports the whole test as one interval)', () => {
    const c = handClock({ intervalMs: 0, omitMs: 0, endAfterMs: 10_000 });
    c.clock.start(0);
    expect(c.due).toBeNull();
  });

  it('stop() cancels the pending tick', () => {
    const c = handClock({ intervalMs: 1000, omitMs: 0, endAfterMs: Infinity });
    c.clock.start(0);
    c.clock.stop();
    expect(c.due).toBeNull();
  });
});

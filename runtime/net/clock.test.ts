// The real clock's timers: never early, sub-millisecond deadlines kept without Node's 1 ms floor
// (they are checked each event-loop turn), and re-arming or disarming cancels what was pending.
import { describe, expect, it } from 'vitest';
import { RealClock } from './clock.ts';

function fired(clock: RealClock, arm: (t: ReturnType<RealClock['createTimer']>) => void): Promise<number> {
  return new Promise((resolve) => { arm(clock.createTimer(() => resolve(clock.now()))); });
}

/** A timer of the same clock due at `at`: what was due before it has had its turn once it fires. */
const sentinel = (clock: RealClock, at: number): Promise<number> => fired(clock, (t) => t.arm(at));

describe('RealClock timers', () => {
  it('a deadline a fraction of a millisecond away fires at or after it, not before', async () => {
    const clock = new RealClock();
    for (let i = 0; i < 50; i++) {
      const at = clock.now() + 0.05 + (i % 10) * 0.09;
      expect(await fired(clock, (t) => t.arm(at))).toBeGreaterThanOrEqual(at);
    }
  });

  it('a deadline several milliseconds away fires at or after it', async () => {
    const clock = new RealClock();
    const at = clock.now() + 3.4;
    expect(await fired(clock, (t) => t.arm(at))).toBeGreaterThanOrEqual(at);
  });

  it('re-arming replaces the pending deadline, from a sub-millisecond one to a later one and back', async () => {
    const clock = new RealClock();
    let count = 0;
    const done = new Promise<number>((resolve) => {
      const t = clock.createTimer(() => { count++; resolve(clock.now()); });
      const start = clock.now();
      t.arm(start + 0.2);
      t.arm(start + 5);
      t.arm(start + 0.4);
    });
    const firedAt = await done;
    await sentinel(clock, firedAt + 6); // past the replaced 5 ms deadline
    expect(count).toBe(1);
  });

  it('a disarmed timer does not fire', async () => {
    const clock = new RealClock();
    let count = 0;
    const t = clock.createTimer(() => { count++; });
    t.arm(clock.now() + 0.2);
    t.disarm();
    const u = clock.createTimer(() => { count++; });
    u.arm(clock.now() + 2);
    u.disarm();
    await sentinel(clock, clock.now() + 3); // past both disarmed deadlines
    expect(count).toBe(0);
    expect(t.armed).toBe(false);
  });
});

// The clock of a running test: iperf3's stats timer and omit timer. Intervals end at exact
// multiples of -i from the start (after an omit period, from its end, as iperf3 resets its
// timers there), so a timer that runs late shortens nothing after it; ticks that a stalled event
// loop missed are skipped rather than reported as empty intervals. No tick is scheduled at or
// past the expected end of a timed test: the end itself closes the last interval, so a test of
// -t 10 reports 0-1 ... 9-10, never a sliver after 10.

export interface IntervalClockOptions {
  /** -i in milliseconds; 0: no interval reports (the end still closes one interval). */
  intervalMs: number;
  /** -O in milliseconds. */
  omitMs: number;
  /** When a timed test ends, in ms after start(); Infinity for -n / -k. */
  endAfterMs: number;
  /** An interval ended at `nowMs` (`omitted` during the omit period). */
  onInterval(nowMs: number, omitted: boolean): void;
  /** The omit period ended at `nowMs`: counts restart. */
  onOmitEnd(nowMs: number): void;
  /** The clock and the timer (injectable for tests). */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

export class IntervalClock {
  private origin = 0;
  private tick = 0;
  private nextTick = Infinity;
  private omitEndAt = Infinity;
  private endAt = Infinity;
  private timer: unknown = null;
  omitting = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (timer: unknown) => void;

  constructor(private readonly o: IntervalClockOptions) {
    this.now = o.now ?? (() => performance.now());
    this.setTimer = o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  start(nowMs: number): void {
    this.origin = nowMs;
    this.tick = 0;
    this.endAt = nowMs + this.o.endAfterMs;
    this.omitting = this.o.omitMs > 0;
    this.omitEndAt = this.omitting ? nowMs + this.o.omitMs : Infinity;
    this.advance(nowMs);
    this.arm();
  }

  stop(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.nextTick = Infinity;
    this.omitEndAt = Infinity;
  }

  /** The next tick after `nowMs` on the grid; Infinity when intervals are off or it would reach the end. */
  private advance(nowMs: number): void {
    if (this.o.intervalMs <= 0) { this.nextTick = Infinity; return; }
    do this.tick++; while (this.origin + this.tick * this.o.intervalMs <= nowMs);
    const next = this.origin + this.tick * this.o.intervalMs;
    this.nextTick = next >= this.endAt ? Infinity : next;
  }

  private arm(): void {
    const due = Math.min(this.nextTick, this.omitEndAt);
    if (due === Infinity) return;
    this.timer = this.setTimer(this.fire, Math.max(0, due - this.now()));
  }

  private readonly fire = (): void => {
    this.timer = null;
    const now = this.now();
    // An interval that ends with the omit period is still an omitted one (iperf3's timers run in that order).
    if (this.nextTick <= now && this.nextTick <= this.omitEndAt) {
      this.o.onInterval(now, this.omitting);
      this.advance(now);
    }
    if (this.omitEndAt <= now) {
      this.omitting = false;
      this.omitEndAt = Infinity;
      this.origin = now;
      this.tick = 0;
      this.o.onOmitEnd(now);
      this.advance(now);
    }
    this.arm();
  };
}

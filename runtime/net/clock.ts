// Time for the userspace stack and its links (docs/architecture.md §5, §7: one armed timer per stack, the
// smoltcp poll_at idea). Two clocks behind one interface:
// - RealClock: milliseconds from performance.now(); timers are Node timers.
// - VirtualClock: a simulated clock. Nothing happens until it is driven: run()/runFor() fire due
//   timers in deadline order and jump straight to the next deadline, so a 60-second lossy transfer
//   takes as long as its computation, and the same seed gives the same run.
// A ClockTimer is created once per consumer and re-armed; arming does not allocate on the virtual
// clock (an indexed heap of timer objects keyed by their deadline).
import { performance } from 'node:perf_hooks';
import { IndexedHeap } from './indexed-heap.ts';

export interface ClockTimer {
  /** Fire once at absolute time `at` (ms); re-arming replaces the previous deadline. */
  arm(at: number): void;
  disarm(): void;
  readonly armed: boolean;
  readonly deadline: number;
}

export interface Clock {
  /** Milliseconds (fractional) on this clock's time line. */
  now(): number;
  createTimer(fire: () => void): ClockTimer;
  /** Run `fn` soon, after the current batch (same turn on the virtual clock, setImmediate on the real one). */
  defer(fn: () => void): void;
  readonly virtual: boolean;
}

/**
 * Node's timers fire in whole milliseconds (a 0.3 ms setTimeout waits 1 ms or more), which is far
 * longer than a round trip on a LAN or veth: TCP's reorder timer (RFC 8985) is a fraction of the
 * RTT, and every lost segment it finds would wait a millisecond for nothing. A deadline less than
 * SPIN_BELOW_MS away is therefore checked on each event-loop turn (setImmediate, which still polls
 * I/O between checks) instead, for at most that long.
 */
const SPIN_BELOW_MS = 1;

class RealTimer implements ClockTimer {
  armed = false;
  deadline = Infinity;
  private handle: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  // Node may run a timer a fraction of a millisecond before its fractional deadline.
  private readonly onTimeout = (): void => {
    this.handle = null;
    this.expireOrWait();
  };
  private readonly onTurn = (): void => {
    this.immediate = null;
    this.expireOrWait();
  };
  constructor(private readonly clock: RealClock, private readonly fire: () => void) {}
  arm(at: number): void {
    if (this.armed && at === this.deadline) return;
    this.cancel();
    this.armed = true;
    this.deadline = at;
    this.schedule();
  }
  disarm(): void {
    this.cancel();
    this.armed = false;
    this.deadline = Infinity;
  }
  private schedule(): void {
    const delay = this.deadline - this.clock.now();
    if (delay < SPIN_BELOW_MS) {
      // Not unref'd: Node keeps the poll phase non-blocking only for referenced immediates, and
      // an unreferenced one would wait for the next I/O event. It holds the loop at most 1 ms.
      this.immediate = setImmediate(this.onTurn);
    } else {
      this.handle = setTimeout(this.onTimeout, delay);
      this.handle.unref?.();
    }
  }
  private cancel(): void {
    if (this.handle) clearTimeout(this.handle);
    if (this.immediate) clearImmediate(this.immediate);
    this.handle = null;
    this.immediate = null;
  }
  private expireOrWait(): void {
    if (this.clock.now() < this.deadline) { this.schedule(); return; }
    this.armed = false;
    this.deadline = Infinity;
    this.fire();
  }
}

export class RealClock implements Clock {
  readonly virtual = false;
  now(): number { return performance.now(); }
  createTimer(fire: () => void): ClockTimer { return new RealTimer(this, fire); }
  defer(fn: () => void): void { setImmediate(fn); }
}

class VirtualTimer implements ClockTimer {
  armed = false;
  deadline = Infinity;
  /** Position in the clock's heap, -1 when not armed. */
  heapIndex = -1;
  /** Arming order breaks ties so equal deadlines fire first-armed first (deterministic). */
  order = 0;
  constructor(private readonly clock: VirtualClock, readonly fire: () => void) {}
  arm(at: number): void { this.clock.schedule(this, Math.max(at, this.clock.now())); }
  disarm(): void { this.clock.unschedule(this); }
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  private time = 0;
  private readonly heap = new IndexedHeap<VirtualTimer>(
    (a, b) => a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order),
  );
  private orderCounter = 0;
  private deferred: (() => void)[] = [];
  /** Swapped with `deferred` while a batch of deferred calls runs (no shift() per call). */
  private running: (() => void)[] = [];
  /** Timers fired since construction. */
  fired = 0;

  constructor(start = 0) { this.time = start; }

  now(): number { return this.time; }
  createTimer(fire: () => void): ClockTimer { return new VirtualTimer(this, fire); }
  defer(fn: () => void): void { this.deferred.push(fn); }

  /** Deadline of the earliest armed timer, or Infinity. */
  nextDeadline(): number { return this.deferred.length > 0 ? this.time : this.heap.peek()?.deadline ?? Infinity; }

  /** Fire everything due at the current time (deferred work first), without advancing. */
  runDue(): number {
    let n = 0;
    for (;;) {
      if (this.deferred.length > 0) {
        const batch = this.deferred;
        this.deferred = this.running;
        this.running = batch;
        for (let i = 0; i < batch.length; i++) batch[i]!();
        n += batch.length;
        batch.length = 0;
        continue;
      }
      const top = this.heap.peek();
      if (!top || top.deadline > this.time) return n;
      this.unschedule(top);
      this.fired++;
      n++;
      top.fire();
    }
  }

  /**
   * Advance time up to `until` (absolute ms), firing timers in order; stops early when `done`
   * returns true after a step. Returns true if `done` was satisfied.
   */
  runUntil(until: number, done?: () => boolean): boolean {
    for (;;) {
      this.runDue();
      if (done?.()) return true;
      const next = this.nextDeadline();
      if (next > until) { this.time = Math.max(this.time, until); return done?.() ?? false; }
      this.time = next;
    }
  }

  /** Advance by `ms`. */
  runFor(ms: number, done?: () => boolean): boolean { return this.runUntil(this.time + ms, done); }

  /**
   * For code that also awaits promises (WSK completions run as microtasks): step timers and let
   * the microtask queue and I/O callbacks drain between steps, until `done` or `maxMs` of
   * virtual time passed.
   */
  async runAsync(maxMs: number, done: () => boolean): Promise<boolean> {
    const until = this.time + maxMs;
    for (;;) {
      this.runDue();
      await new Promise<void>((r) => setImmediate(r));
      if (done()) return true;
      if (this.deferred.length > 0) continue;
      const next = this.heap.peek()?.deadline ?? Infinity;
      if (next > until) { this.time = until; return done(); }
      this.time = Math.max(this.time, next);
    }
  }

  schedule(t: VirtualTimer, at: number): void {
    t.deadline = at;
    t.armed = true;
    t.order = this.orderCounter++;
    if (t.heapIndex >= 0) this.heap.update(t); else this.heap.push(t);
  }

  unschedule(t: VirtualTimer): void {
    this.heap.remove(t);
    t.armed = false;
    t.deadline = Infinity;
  }
}

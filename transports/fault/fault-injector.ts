// Fault-injector middleware: netem for links (loss, duplication, corruption, delay with jitter,
// reordering, rate limiting), driven by the link's clock so a VirtualClock run with the same seed
// replays the same faults exactly. Stack it on any LinkDevice (docs/architecture.md §2).
//
// Faults fall on wire packets, as a network's do: a frame larger than one packet — a TSO
// super-segment the stack left for the device to cut (arena.segmentSizes), or a receiving
// device's GRO aggregate (longer than the MTU) — is cut here into the packets the device would
// send (runtime/net/wire/offload.ts, Linux's software GSO), and loss, duplication, corruption,
// reordering, delay and the rate queue apply to each. The packets leave with finished checksums
// and no offload flags: the receiver verifies them, so a corrupted one is caught. Without any
// fault configured the injector is transparent and frames pass on whole, untouched.
//
// Hot-path rules (same as the stack's): one ClockTimer for the whole injector, queued frames in
// typed-array rings, no closures or objects per frame. Departures within a direction never go
// backwards (see enqueue), so a FIFO ring is already ordered by departure time and a heap would
// buy nothing.
import { WskUsageError } from '../../runtime/errors.ts';
import type { ClockTimer } from '../../runtime/net/clock.ts';
import { finishTransportChecksum, TcpSegmenter, type LinkHeaderLength } from '../../runtime/net/wire/offload.ts';
import { FrameFlags, LinkMiddleware, type LinkDevice } from '../link.ts';
import { Xoshiro128 } from '../../runtime/net/prng.ts';

export interface FaultOptions {
  /** PRNG seed: the same seed gives the same fault sequence for the same traffic. */
  seed: number;
  /** Probability [0,1] that a wire packet is dropped. */
  loss?: number;
  /** Base one-way delay in ms. */
  delayMs?: number;
  /** Uniform jitter in ms: each delay is delayMs ± jitterMs (never below 0). */
  jitterMs?: number;
  /** Probability [0,1] that a wire packet skips the delay (and rate queue) and leaves at once. */
  reorder?: number;
  /** Probability [0,1] that a wire packet is sent twice. */
  duplicate?: number;
  /** Probability [0,1] that one bit of a wire packet (past the link header) is flipped. */
  corrupt?: number;
  /** Link rate in bit/s (Ethernet frame bytes, no preamble/IFG); 0 or absent = unlimited. */
  rateBitsPerSecond?: number;
  /** Wire packets that may wait for delay/rate per direction; more are dropped. Default 1000. */
  queueLimit?: number;
  /** Which frames are faulted. Default 'tx'. */
  direction?: 'tx' | 'rx' | 'both';
}

/** Counts of wire packets (frames passed on whole by a transparent injector count as one each). */
export interface FaultCounters {
  /** Handed on (duplicates included). */
  passed: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  /** Waited in the delay/rate queue. */
  delayed: number;
  /** Dropped because the queue held queueLimit packets. */
  queueDrops: number;
  /** Frames larger than one packet that were cut into wire packets. */
  segmented: number;
  /** Wire packets those frames were cut into (lost ones included). */
  segments: number;
  /**
   * Frames larger than one packet that are not one valid IPv4 TCP segment, so nothing can cut
   * them: dropped, as the path would drop a packet above its MTU.
   */
  unsegmentable: number;
}

/** One direction's queue: slots and departure times in a ring, plus its delivery batches. */
class Lane {
  readonly slots: Int32Array;
  readonly times: Float64Array;
  head = 0;
  count = 0;
  /** Frames departing from one timer fire. */
  readonly out: Int32Array;
  /** Frames leaving in the same call they arrived in (no delay applies, or reordered). */
  now = new Int32Array(64);
  nowCount = 0;
  /** Last departure given to a delayed frame: later frames never leave before it (order kept). */
  lastDeparture = -Infinity;
  /** When the simulated wire finishes serializing the frames already scheduled. */
  busyUntil = -Infinity;

  constructor(readonly tx: boolean, limit: number) {
    this.slots = new Int32Array(limit);
    this.times = new Float64Array(limit);
    this.out = new Int32Array(limit);
  }
}

function checkProbability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new WskUsageError('FAULT_OPTIONS', `FaultInjectorLink: ${name} must be a probability in [0, 1] (got ${String(v)}); for 30 % pass 0.3.`);
  }
  return v;
}

function checkNonNegative(name: string, v: number | undefined, unit: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new WskUsageError('FAULT_OPTIONS', `FaultInjectorLink: ${name} must be a finite number >= 0 in ${unit} (got ${String(v)}); pass 0 or leave it out to disable.`);
  }
  return v;
}

export class FaultInjectorLink extends LinkMiddleware {
  readonly faults: FaultCounters = {
    passed: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0, queueDrops: 0, segmented: 0, segments: 0, unsegmentable: 0,
  };
  private readonly loss: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly reorder: number;
  private readonly duplicate: number;
  private readonly corrupt: number;
  private readonly rate: number;
  private readonly queueLimit: number;
  private readonly hasDelay: boolean;
  /** Nothing configured: frames go straight through without touching the PRNG. */
  private readonly transparent: boolean;
  private readonly rng: Xoshiro128;
  private readonly txLane: Lane | null;
  private readonly rxLane: Lane | null;
  private readonly timer: ClockTimer;
  /** The whole arena as bytes, so copies use copyWithin by offset (no subarray per frame). */
  private readonly arenaBytes: Uint8Array;
  private readonly segmenter = new TcpSegmenter();
  private readonly linkHeader: LinkHeaderLength;
  /** Longest frame that is one wire packet: the MTU plus the link header (and one VLAN tag). */
  private readonly largestPacket: number;
  private firing = false;
  private closed = false;

  constructor(inner: LinkDevice, opts: FaultOptions) {
    super(inner);
    if (typeof opts?.seed !== 'number' || !Number.isFinite(opts.seed)) {
      throw new WskUsageError('FAULT_OPTIONS', `FaultInjectorLink: seed must be a finite number (got ${String(opts?.seed)}); pass e.g. { seed: 1 } and change it to get another fault sequence.`);
    }
    this.loss = checkProbability('loss', opts.loss);
    this.reorder = checkProbability('reorder', opts.reorder);
    this.duplicate = checkProbability('duplicate', opts.duplicate);
    this.corrupt = checkProbability('corrupt', opts.corrupt);
    this.delayMs = checkNonNegative('delayMs', opts.delayMs, 'milliseconds');
    this.jitterMs = checkNonNegative('jitterMs', opts.jitterMs, 'milliseconds');
    this.rate = checkNonNegative('rateBitsPerSecond', opts.rateBitsPerSecond, 'bit/s');
    const limit = opts.queueLimit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1 << 24) {
      throw new WskUsageError('FAULT_OPTIONS', `FaultInjectorLink: queueLimit must be an integer in [1, 16777216] (got ${String(limit)}); it counts frames, default 1000.`);
    }
    const dir = opts.direction ?? 'tx';
    if (dir !== 'tx' && dir !== 'rx' && dir !== 'both') {
      throw new WskUsageError('FAULT_OPTIONS', `FaultInjectorLink: direction must be 'tx', 'rx' or 'both' (got ${String(dir)}).`);
    }
    this.queueLimit = limit;
    this.hasDelay = this.delayMs > 0 || this.jitterMs > 0;
    this.transparent = this.loss === 0 && this.duplicate === 0 && this.corrupt === 0 && !this.hasDelay && this.rate === 0;
    this.rng = new Xoshiro128(opts.seed);
    this.txLane = dir !== 'rx' ? new Lane(true, limit) : null;
    this.rxLane = dir !== 'tx' ? new Lane(false, limit) : null;
    this.arenaBytes = new Uint8Array(inner.arena.buffer);
    this.linkHeader = (inner.framing ?? 'ethernet') === 'ethernet' ? 14 : 0;
    this.largestPacket = inner.mtu + (this.linkHeader === 0 ? 0 : 18);
    this.timer = this.clock.createTimer(() => this.fire());
  }

  override transmit(slots: Int32Array, count: number): void {
    const lane = this.txLane;
    if (!lane || this.closed || this.transparent) {
      if (lane && !this.closed) this.faults.passed += count;
      this.inner.transmit(slots, count);
      return;
    }
    this.process(lane, slots, count);
  }

  protected override onInnerReceive(slots: Int32Array, count: number): void {
    const lane = this.rxLane;
    if (!lane || this.closed || this.transparent) {
      if (lane && !this.closed) this.faults.passed += count;
      super.onInnerReceive(slots, count);
      return;
    }
    this.process(lane, slots, count);
  }

  override close(): void {
    if (!this.closed) {
      this.closed = true;
      this.timer.disarm();
      for (const lane of [this.txLane, this.rxLane]) {
        if (!lane) continue;
        for (; lane.count > 0; lane.count--) {
          this.arena.release(lane.slots[lane.head]!);
          lane.head = lane.head + 1 === this.queueLimit ? 0 : lane.head + 1;
        }
      }
    }
    this.inner.close();
  }

  /** Frames still waiting for their departure time (both directions). */
  get queued(): number { return (this.txLane?.count ?? 0) + (this.rxLane?.count ?? 0); }

  private process(lane: Lane, slots: Int32Array, count: number): void {
    const arena = this.arena;
    // The PRNG is drawn in a fixed order per wire packet (loss, duplicate, corrupt, reorder,
    // jitter) and only for configured faults, so a seed's sequence depends only on options and
    // traffic.
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      if (arena.segmentSizes[s] !== 0 || arena.lengthOf(s) > this.largestPacket) { this.cut(lane, s); continue; }
      if (this.loss > 0 && this.rng.chance(this.loss)) { arena.release(s); this.faults.lost++; continue; }
      this.pass(lane, s);
    }
    if (lane.nowCount > 0) {
      const n = lane.nowCount;
      lane.nowCount = 0;
      this.deliver(lane, lane.now, n);
    }
  }

  /**
   * A frame larger than one packet becomes its wire packets, each decided on its own. The loss
   * draw comes first, so a lost packet is never built.
   */
  private cut(lane: Lane, s: number): void {
    const arena = this.arena;
    const g = this.segmenter;
    const f = this.faults;
    const off = arena.offsetOf(s);
    if (g.plan(this.arenaBytes, arena.base(s) + off, arena.lengthOf(s), this.linkHeader, arena.segmentSizes[s]!, this.inner.mtu) !== null) {
      f.unsegmentable++;
      arena.release(s);
      return;
    }
    const n = g.count;
    if (n > 1) { f.segmented++; f.segments += n; }
    for (let k = 0; k < n; k++) {
      if (this.loss > 0 && this.rng.chance(this.loss)) { f.lost++; continue; }
      if (n === 1) { this.pass(lane, s); return; }
      // A new slot per packet (alloc clears flags and segment size: its checksums are finished).
      const c = arena.alloc();
      if (c < 0) { this.countDrop(lane); continue; }
      arena.setFrame(c, off, g.packet(k, this.arenaBytes, arena.base(c) + off));
      this.pass(lane, c);
    }
    arena.release(s);
  }

  /** One wire packet that was not lost: duplicated, corrupted, then queued or sent. */
  private pass(lane: Lane, s: number): void {
    const rng = this.rng;
    let dup = -1;
    if (this.duplicate > 0 && rng.chance(this.duplicate)) {
      // A copy, not a second reference: the receiver owns its slot and may write into it.
      dup = this.copy(s);
      if (dup >= 0) this.faults.duplicated++; else this.countDrop(lane);
    }
    if (this.corrupt > 0 && rng.chance(this.corrupt)) {
      const byte = rng.nextI32();
      const bit = rng.nextI32() & 7;
      s = this.corruptFrame(lane, s, byte, bit);
      if (s < 0) { if (dup >= 0) this.enqueue(lane, dup); return; }
    }
    this.enqueue(lane, s);
    if (dup >= 0) this.enqueue(lane, dup);
  }

  private enqueue(lane: Lane, s: number): void {
    const now = this.clock.now();
    let t = now;
    if (this.hasDelay) {
      // netem's reorder: the chosen frame skips the delay (and the rate queue) and so overtakes
      // the frames still waiting.
      if (this.reorder > 0 && this.rng.chance(this.reorder)) { this.faults.reordered++; this.leaveNow(lane, s); return; }
      t = now + this.delayMs;
      if (this.jitterMs > 0) t += (((this.rng.nextI32() >>> 0) / 4294967296) * 2 - 1) * this.jitterMs;
      if (t < now) t = now;
      // Jitter alone never reorders (netem does the same once a rate is set): a frame waits for
      // the one before it. Reordering is what the reorder option is for.
      if (t < lane.lastDeparture) t = lane.lastDeparture;
    }
    if (t <= now && lane.count === 0 && this.rate === 0) { this.leaveNow(lane, s); return; }
    if (lane.count === this.queueLimit) { this.faults.queueDrops++; this.arena.release(s); return; }
    if (this.arena.isDeviceSlot(s)) {
      // A device's ring frame must go back soon (a kernel ring refills in order): wait in a copy.
      const c = this.copy(s);
      this.arena.release(s);
      if (c < 0) { this.countDrop(lane); return; }
      s = c;
    }
    if (this.rate > 0) {
      // Serialization: the frame starts when the wire is free and takes len*8/rate seconds.
      const start = t > lane.busyUntil ? t : lane.busyUntil;
      t = start + (this.arena.lengthOf(s) * 8000) / this.rate;
      lane.busyUntil = t;
    }
    lane.lastDeparture = t;
    let tail = lane.head + lane.count;
    if (tail >= this.queueLimit) tail -= this.queueLimit;
    lane.slots[tail] = s;
    lane.times[tail] = t;
    lane.count++;
    this.faults.delayed++;
    if (!this.firing && (!this.timer.armed || t < this.timer.deadline)) this.timer.arm(t);
  }

  private leaveNow(lane: Lane, s: number): void {
    if (lane.nowCount === lane.now.length) {
      // Grows only when a batch (plus its duplicates) is larger than any before.
      const bigger = new Int32Array(lane.now.length * 2);
      bigger.set(lane.now);
      lane.now = bigger;
    }
    lane.now[lane.nowCount++] = s;
  }

  private fire(): void {
    this.firing = true;
    this.drain(this.txLane);
    this.drain(this.rxLane);
    this.firing = false;
    if (this.closed) return;
    let next = Infinity;
    if (this.txLane && this.txLane.count > 0) next = this.txLane.times[this.txLane.head]!;
    if (this.rxLane && this.rxLane.count > 0) next = Math.min(next, this.rxLane.times[this.rxLane.head]!);
    if (next < Infinity) this.timer.arm(next);
  }

  private drain(lane: Lane | null): void {
    if (!lane || this.closed) return;
    const now = this.clock.now();
    let n = 0;
    // A real timer may fire a little early; frames not yet due stay and the timer is re-armed.
    while (lane.count > 0 && lane.times[lane.head]! <= now) {
      lane.out[n++] = lane.slots[lane.head]!;
      lane.head = lane.head + 1 === this.queueLimit ? 0 : lane.head + 1;
      lane.count--;
    }
    if (n > 0) this.deliver(lane, lane.out, n);
  }

  private deliver(lane: Lane, batch: Int32Array, n: number): void {
    this.faults.passed += n;
    if (lane.tx) { this.inner.transmit(batch, n); return; }
    super.onInnerReceive(batch, n);
  }

  /** A new slot holding the same frame at the same offset (always fits), or -1. */
  private copy(s: number): number {
    const arena = this.arena;
    const c = arena.alloc();
    if (c < 0) return -1;
    const off = arena.offsetOf(s);
    const len = arena.lengthOf(s);
    const from = arena.base(s) + off;
    this.arenaBytes.copyWithin(arena.base(c) + off, from, from + len);
    arena.setFrame(c, off, len);
    arena.flags[c] = arena.flags[s]!;
    arena.segmentSizes[c] = arena.segmentSizes[s]!;
    return c;
  }

  /**
   * Flips one bit after the link header. Why not anywhere: a flipped MAC would make the switch
   * flood or misdeliver the frame (or a NIC filter drop it), so the fault would show up as loss;
   * past the header it reaches the peer and tests its checksum handling, which is what
   * corruption is for. Returns the slot to send on (a private copy when the sender still holds a
   * reference, e.g. a TCP retransmit queue, whose bytes must stay intact), or -1.
   */
  /** `byteDraw` is the draw as int32 (see Xoshiro128.nextI32), read as unsigned here. */
  private corruptFrame(lane: Lane, s: number, byteDraw: number, bit: number): number {
    const arena = this.arena;
    const len = arena.lengthOf(s);
    const l2 = this.linkHeader;
    if (len <= l2) return s;
    if (arena.refcounts[s]! > 1) {
      const c = this.copy(s);
      arena.release(s);
      if (c < 0) { this.countDrop(lane); return -1; }
      s = c;
    }
    const start = arena.base(s) + arena.offsetOf(s);
    // The bit flips on the path, where checksums are finished: one left to the device is finished
    // first (else a memory link or veth would deliver the flipped bit as CHECKSUM_OK), and a
    // receiving device's word that it checked the frame no longer holds.
    if ((arena.flags[s]! & FrameFlags.CHECKSUM_PARTIAL) !== 0) finishTransportChecksum(this.arenaBytes, start, len, l2);
    arena.flags[s] = 0;
    const at = start + l2 + ((byteDraw >>> 0) % (len - l2));
    this.arenaBytes[at] = this.arenaBytes[at]! ^ (1 << bit);
    this.faults.corrupted++;
    return s;
  }

  /** Drops for want of a slot are the device's drops (device.ts: counted, not reported). */
  private countDrop(lane: Lane): void {
    if (lane.tx) this.inner.stats.txDrops++; else this.inner.stats.rxDrops++;
  }
}

// ARP neighbour cache (RFC 826, with the timers of RFC 1122 §2.3.2.1 and Linux's defaults):
// - an entry is INCOMPLETE while requests are outstanding (at most one request per second per
//   address, 3 tries), REACHABLE for `reachableMs` after a reply, then STALE: still used, but the
//   next use sends one refresh request; FAILED drops what waited and answers "unreachable" until
//   `failedHoldMs` passes.
// - packets waiting for resolution are held as slot references in a bounded per-entry queue
//   (64 frames, room for a fragmented 64 KiB datagram; the oldest is dropped when it overflows,
//   as Linux's unres_qlen does).
// - lookups are a Map from IPv4 address to an entry index; entry state lives in typed arrays, so
//   the steady state (a hit) allocates nothing. Addresses are signed 32-bit integers and MACs
//   are kept as two halves (high 16 bits, low 32 bits as int32) so that no value on the hit path
//   is a boxed number. The table is bounded; when full, the least recently used non-pending
//   entry is evicted.
// - The same cache serves NDP (RFC 4861 §7.3), keyed by IPv6 address ids instead of IPv4
//   addresses: given `delayFirstProbeMs`, a STALE entry that is used goes to DELAY, then PROBE
//   (unicast solicitations, maxTries of them), then FAILED with resolveFailed() — neighbour
//   unreachability detection. Without it (ARP) a used STALE entry sends one refresh request.
import type { SlotArena } from '../ring/slot-arena.ts';
import type { Clock } from './clock.ts';

export const ArpState = { FREE: 0, INCOMPLETE: 1, REACHABLE: 2, STALE: 3, FAILED: 4, DELAY: 5, PROBE: 6 } as const;

export interface ArpTimings {
  reachableMs: number;
  retransmitMs: number;
  maxTries: number;
  failedHoldMs: number;
}

export const DEFAULT_ARP_TIMINGS: ArpTimings = { reachableMs: 30_000, retransmitMs: 1000, maxTries: 3, failedHoldMs: 20_000 };

export interface ArpCallbacks {
  /** `unicast`: a NUD probe to the cached MAC (RFC 4861 §7.3.3), else a multicast solicitation / broadcast request. */
  sendRequest(ip: number, unicast: boolean): void;
  /** A waiting packet may leave now: its next hop resolved to entry `entry` (read its MAC halves). */
  flushPending(slot: number, entry: number): void;
  /** Resolution of `ip` gave up after maxTries requests (its waiting packets were dropped). */
  resolveFailed?(ip: number): void;
  /** The entry for `ip` is gone (expired, evicted, cleared): the owner of its key may drop it. */
  forget?(ip: number): void;
}

export class ArpCache {
  readonly capacity: number;
  readonly pendingPerEntry: number;
  private readonly index = new Map<number, number>();
  private readonly ips: Int32Array;
  /** MAC high 16 bits / low 32 bits (as int32) per entry. */
  readonly macHi: Int32Array;
  readonly macLo: Int32Array;
  private readonly states: Uint8Array;
  /** REACHABLE → STALE deadline, INCOMPLETE → next retransmit, FAILED → forget. */
  private readonly deadlines: Float64Array;
  private readonly tries: Uint8Array;
  private readonly lastUsed: Float64Array;
  /** Stale entries get one refresh request per reachable period. */
  private readonly refreshSent: Uint8Array;
  private readonly pending: Int32Array;
  private readonly pendingCount: Uint8Array;
  private readonly freeList: Int32Array;
  private freeTop: number;

  // Counters.
  requestsSent = 0;
  resolved = 0;
  failures = 0;
  pendingDrops = 0;
  evictions = 0;

  constructor(
    private readonly arena: SlotArena, private readonly clock: Clock, private readonly callbacks: ArpCallbacks,
    readonly timings: ArpTimings = DEFAULT_ARP_TIMINGS,
    capacity = 1024, pendingPerEntry = 64,
    /** NDP's DELAY_FIRST_PROBE_TIME (RFC 4861 §10); absent: ARP's behaviour (see the file comment). */
    private readonly delayFirstProbeMs = -1,
  ) {
    this.capacity = capacity;
    this.pendingPerEntry = pendingPerEntry;
    this.ips = new Int32Array(capacity);
    this.macHi = new Int32Array(capacity);
    this.macLo = new Int32Array(capacity);
    this.states = new Uint8Array(capacity);
    this.deadlines = new Float64Array(capacity);
    this.tries = new Uint8Array(capacity);
    this.lastUsed = new Float64Array(capacity);
    this.refreshSent = new Uint8Array(capacity);
    this.pending = new Int32Array(capacity * pendingPerEntry);
    this.pendingCount = new Uint8Array(capacity);
    this.freeList = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeList[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  get size(): number { return this.index.size; }

  /** The MAC for `ip` as a 48-bit number, or -1 (unknown / not resolved). Not for the hot path. */
  peek(ip: number): number {
    const e = this.index.get(ip | 0);
    if (e === undefined) return -1;
    const st = this.states[e]!;
    return st === ArpState.REACHABLE || st === ArpState.STALE || st === ArpState.DELAY || st === ArpState.PROBE ? this.macHi[e]! * 0x100000000 + (this.macLo[e]! >>> 0) : -1;
  }

  stateOf(ip: number): number {
    const e = this.index.get(ip | 0);
    return e === undefined ? ArpState.FREE : this.states[e]!;
  }

  /**
   * The entry whose MAC (macHi/macLo) `slot` goes to, or -1 when the slot was queued until
   * resolution (or dropped: then `lastResolveFailed` is true). The caller's reference moves to
   * the cache when -1.
   */
  resolve(ip: number, slot: number): number {
    this.lastResolveFailed = false;
    let e = this.index.get(ip);
    if (e !== undefined) {
      const st = this.states[e]!;
      // The hit path reads no clock (a fractional time is a boxed number): "last used" for
      // eviction is the last confirmation, refreshed by learn().
      if (st === ArpState.REACHABLE) return e;
      if (st === ArpState.STALE) {
        if (this.delayFirstProbeMs >= 0) {
          this.states[e] = ArpState.DELAY;
          this.deadlines[e] = this.clock.now() + this.delayFirstProbeMs;
          this.deadlineAdded = true;
        } else if (!this.refreshSent[e]) { this.refreshSent[e] = 1; this.requestsSent++; this.callbacks.sendRequest(ip, false); }
        return e;
      }
      if (st === ArpState.DELAY || st === ArpState.PROBE) return e;
      const now = this.clock.now();
      if (st === ArpState.FAILED) {
        if (now < this.deadlines[e]!) { this.dropSlot(slot); this.lastResolveFailed = true; return -1; }
        this.startResolving(e, now);
      }
      this.queue(e, slot);
      return -1;
    }
    const now = this.clock.now();
    e = this.allocEntry(ip, now);
    if (e < 0) { this.dropSlot(slot); this.lastResolveFailed = true; return -1; }
    this.startResolving(e, now);
    this.queue(e, slot);
    return -1;
  }

  lastResolveFailed = false;
  /** resolve() gave an entry that it returned a deadline (STALE → DELAY): the owner's timer should look at nextDeadline() again. */
  deadlineAdded = false;

  /**
   * Learn (ip → mac) from an ARP packet. `create` is true when the packet was for us (RFC 826:
   * merge always, add only if we are the target). Releases waiting packets. `confirmed` false (NDP:
   * an address learned from a solicitation or an unsolicited advertisement, RFC 4861 §7.2.3 and
   * §7.2.5) leaves a known entry with the same MAC as it is and makes a new or changed one STALE.
   */
  learn(ip: number, macHi: number, macLo: number, create: boolean, now: number, confirmed = true): void {
    ip |= 0;
    let e = this.index.get(ip);
    if (e === undefined) {
      if (!create) return;
      e = this.allocEntry(ip, now);
      if (e < 0) return;
    }
    const wasWaiting = this.states[e] === ArpState.INCOMPLETE;
    if (!confirmed) {
      const st = this.states[e]!;
      const known = st !== ArpState.FREE && st !== ArpState.INCOMPLETE && st !== ArpState.FAILED;
      if (known && this.macHi[e] === macHi && this.macLo[e] === macLo) return;
      this.states[e] = ArpState.STALE;
      this.deadlines[e] = Infinity;
    } else {
      this.states[e] = ArpState.REACHABLE;
      this.deadlines[e] = now + this.timings.reachableMs;
    }
    this.macHi[e] = macHi;
    this.macLo[e] = macLo;
    this.refreshSent[e] = 0;
    this.tries[e] = 0;
    this.lastUsed[e] = now;
    if (wasWaiting) this.resolved++;
    const n = this.pendingCount[e]!;
    if (n > 0) {
      this.pendingCount[e] = 0;
      const base = e * this.pendingPerEntry;
      for (let i = 0; i < n; i++) this.callbacks.flushPending(this.pending[base + i]!, e);
    }
  }

  /** Next time poll() has work, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const e of this.index.values()) {
      const st = this.states[e]!;
      if (st !== ArpState.FREE && this.deadlines[e]! < next) next = this.deadlines[e]!;
    }
    return next;
  }

  /** Timers: retransmit requests, give up after maxTries, age REACHABLE to STALE, forget FAILED. */
  poll(now: number): void {
    for (const [ip, e] of this.index) {
      if (this.deadlines[e]! > now) continue;
      const st = this.states[e]!;
      if (st === ArpState.INCOMPLETE || st === ArpState.PROBE) {
        if (this.tries[e]! >= this.timings.maxTries) {
          this.failures++;
          this.states[e] = ArpState.FAILED;
          this.deadlines[e] = now + this.timings.failedHoldMs;
          this.dropPending(e);
          this.callbacks.resolveFailed?.(ip);
        } else {
          this.tries[e]!++;
          this.deadlines[e] = now + this.timings.retransmitMs;
          this.requestsSent++;
          this.callbacks.sendRequest(ip, st === ArpState.PROBE);
        }
      } else if (st === ArpState.DELAY) {
        // RFC 4861 §7.3.3: no confirmation in DELAY_FIRST_PROBE_TIME: probe the cached address.
        this.states[e] = ArpState.PROBE;
        this.tries[e] = 1;
        this.deadlines[e] = now + this.timings.retransmitMs;
        this.requestsSent++;
        this.callbacks.sendRequest(ip, true);
      } else if (st === ArpState.REACHABLE) {
        this.states[e] = ArpState.STALE;
        this.deadlines[e] = Infinity;
      } else if (st === ArpState.FAILED) {
        this.freeEntry(ip, e);
      }
    }
  }

  /** Drops every entry and waiting packet (stack shutdown). */
  clear(): void {
    for (const [ip, e] of this.index) { this.dropPending(e); this.freeEntry(ip, e); }
  }

  private startResolving(e: number, now: number): void {
    this.states[e] = ArpState.INCOMPLETE;
    this.tries[e] = 1;
    this.deadlines[e] = now + this.timings.retransmitMs;
    this.requestsSent++;
    this.callbacks.sendRequest(this.ips[e]!, false);
  }

  private queue(e: number, slot: number): void {
    const base = e * this.pendingPerEntry;
    let n = this.pendingCount[e]!;
    if (n === this.pendingPerEntry) {
      this.dropSlot(this.pending[base]!);
      this.pending.copyWithin(base, base + 1, base + n);
      n--;
    }
    this.pending[base + n] = slot;
    this.pendingCount[e] = n + 1;
  }

  private dropPending(e: number): void {
    const base = e * this.pendingPerEntry;
    const n = this.pendingCount[e]!;
    for (let i = 0; i < n; i++) this.dropSlot(this.pending[base + i]!);
    this.pendingCount[e] = 0;
  }

  private dropSlot(slot: number): void {
    this.pendingDrops++;
    this.arena.release(slot);
  }

  private allocEntry(ip: number, now: number): number {
    if (this.freeTop === 0 && !this.evictOne()) return -1;
    const e = this.freeList[--this.freeTop]!;
    this.index.set(ip, e);
    this.ips[e] = ip;
    this.states[e] = ArpState.FREE;
    this.deadlines[e] = Infinity;
    this.lastUsed[e] = now;
    this.pendingCount[e] = 0;
    this.refreshSent[e] = 0;
    return e;
  }

  private evictOne(): boolean {
    let victimIp = -1;
    let victim = -1;
    for (const [ip, e] of this.index) {
      if (this.states[e] === ArpState.INCOMPLETE) continue;
      if (victim < 0 || this.lastUsed[e]! < this.lastUsed[victim]!) { victim = e; victimIp = ip; }
    }
    if (victim < 0) return false;
    this.evictions++;
    this.dropPending(victim);
    this.freeEntry(victimIp, victim);
    return true;
  }

  private freeEntry(ip: number, e: number): void {
    this.index.delete(ip);
    this.states[e] = ArpState.FREE;
    this.freeList[this.freeTop++] = e;
    this.callbacks.forget?.(ip);
  }
}

// The interface's multicast listener state and MLDv2 host behaviour (RFC 3810; read §6 "Protocol
// Description for Multicast Address Listeners" first). Groups are the interface's (interface-
// addresses.ts counts the sockets and addresses behind each); this file decides what to report
// and when. Every group is in EXCLUDE mode with no sources (we never filter by source: sockets
// join whole groups), so the records sent are:
// - state changes (§6.1): CHANGE_TO_EXCLUDE on a join, CHANGE_TO_INCLUDE on a leave, sent at once
//   and retransmitted [Robustness Variable] - 1 more times (RV transmissions in all) at random
//   intervals in (0, [Unsolicited Report Interval]]; a new change of the same group restarts its
//   count (§6.1: "the retransmission state for that multicast address is reset");
// - current state (§6.2): MODE_IS_EXCLUDE, answering a General Query after a random delay in
//   (0, Maximum Response Delay] (one report of every group), or a Multicast Address Specific
//   Query (that group), following §6.2's four rules for pending responses.
// Never reported (§6): the link-scope all-nodes group ff02::1, and groups of reserved (0) or
// interface-local (1) scope (the owner says which through `reported`).
// Before start() (DAD and the link-local address come first), joins are remembered and the first
// report carries them all.
// Not done: MLDv1 compatibility mode (§8: a 24-byte query is answered as an MLDv2 one) and
// source filtering (INCLUDE mode, source lists).
// Time comes from the clock (one ClockTimer for all groups, armed at the earliest deadline);
// delays from `random` (Math.random unless a test or the stack sets a seeded source). Slow path.
import type { Clock, ClockTimer } from '../clock.ts';
import { get16 } from '../wire/bytes.ts';
import { MLDV1_QUERY_LENGTH, MLDV2_QUERY_LENGTH, MldQueryField, MldRecordType } from '../wire/icmpv6.ts';

/** RFC 3810 §9.1: the Robustness Variable's default. */
export const DEFAULT_ROBUSTNESS = 2;
/** RFC 3810 §9.11: the Unsolicited Report Interval, 1 s. */
export const UNSOLICITED_REPORT_INTERVAL_MS = 1000;

/** What the listener needs of its IPv6 layer. */
export interface MldHost {
  readonly clock: Clock;
  /** Whether `group` is ever reported (RFC 3810 §6: not ff02::1, not scope 0 or 1). */
  reported(group: number): boolean;
  /** The id of the address at bytes[offset..+16), or 0 when it is not interned (no group of ours). */
  find(bytes: Uint8Array, offset: number): number;
  /** Keeps / lets go of an address id while a left group still has retransmissions due. */
  retain(id: number): void;
  release(id: number): void;
  /** One MLDv2 report with records (types[i], groups[i]) for i < count, sources none (the layer splits it to fit the MTU). */
  sendReport(types: readonly number[], groups: readonly number[], count: number): void;
}

/** One group's report state: `member` false while a leave's TO_IN record is still being retransmitted. */
class Listener {
  member = true;
  /** State-change transmissions still due, and when the next one is. */
  changesLeft = 0;
  changeAt = Infinity;
  /** A Multicast Address Specific Query's answer due (Infinity: none). */
  queryAt = Infinity;
  constructor(readonly group: number) {}
}

export class MulticastListener {
  private readonly listeners = new Map<number, Listener>();
  private timer: ClockTimer | null = null;
  private started = false;
  /** A General Query's answer due (the Interface Timer, §6.2). */
  private generalAt = Infinity;
  private readonly types: number[] = [];
  private readonly groups: number[] = [];
  /** Uniform in [0, 1): the source of report delays (a seeded one makes runs repeatable). */
  random: () => number = Math.random;
  /** §9.1: the querier's QRV once heard, else 2. */
  robustness = DEFAULT_ROBUSTNESS;
  // Counters (the reports sent are the stack's mldReportsSent).
  queriesIn = 0;
  malformed = 0;

  constructor(private readonly host: MldHost) {}

  /** Whether the interface listens to `group` (for tests and diagnostics). */
  isMember(group: number): boolean {
    return this.listeners.get(group)?.member === true;
  }

  /** When the group's next state-change or query answer is due (Infinity: nothing due), for tests. */
  reportDue(group: number): number {
    const l = this.listeners.get(group);
    return l ? Math.min(l.changeAt, l.queryAt) : Infinity;
  }

  /** The interface starts listening to `group` (its first reference, interface-addresses.ts). */
  join(group: number): void {
    if (!this.host.reported(group)) return;
    let l = this.listeners.get(group);
    if (l) l.member = true;
    else {
      l = new Listener(group);
      this.listeners.set(group, l);
      this.host.retain(group);
    }
    l.queryAt = Infinity;
    if (this.started) this.change(l);
  }

  /** The interface stops listening to `group` (its last reference went). */
  leave(group: number): void {
    const l = this.listeners.get(group);
    if (!l || !l.member) return;
    l.member = false;
    l.queryAt = Infinity;
    if (this.started) this.change(l);
    else this.forget(l);
  }

  /** The interface is up: one state-change report of every group joined so far, retransmitted as §6.1 says. */
  start(): void {
    if (this.started) return;
    this.started = true;
    let n = 0;
    for (const l of this.listeners.values()) {
      this.types[n] = MldRecordType.CHANGE_TO_EXCLUDE;
      this.groups[n++] = l.group;
    }
    if (n === 0) return;
    const at = this.retransmitAt();
    for (const l of this.listeners.values()) { l.changesLeft = this.robustness - 1; l.changeAt = l.changesLeft > 0 ? at : Infinity; }
    this.send(n);
    this.rearm();
  }

  /**
   * An MLD query (RFC 3810 §5.1, §6.2) at bytes[offset..+length) of the IPv6 packet at ipOffset,
   * already checked for hop limit 1 and a link-local source by the caller (§5.1.15).
   */
  query(bytes: Uint8Array, offset: number, length: number): void {
    if (length < MLDV1_QUERY_LENGTH) { this.malformed++; return; }
    this.queriesIn++;
    if (!this.started) return;
    const code = get16(bytes, offset + MldQueryField.MAX_RESPONSE_CODE);
    // §5.1.3: below 32768 the code is the delay in ms; above, a floating-point value (mant | 0x1000) << (exp + 3).
    const maxMs = code < 0x8000 ? code : ((code & 0xfff) | 0x1000) << (((code >>> 12) & 7) + 3);
    if (length >= MLDV2_QUERY_LENGTH) {
      // §9.1: a host takes the querier's robustness (QRV 0 means "above 7": keep ours).
      const qrv = bytes[offset + MldQueryField.FLAGS_QRV]! & 7;
      if (qrv !== 0) this.robustness = qrv;
    }
    const now = this.host.clock.now();
    // (0, maxMs]: 1 - random() is in (0, 1].
    const at = now + (1 - this.random()) * maxMs;
    // §6.2 rule 1: a General Query answer due sooner covers this query too.
    if (this.generalAt <= at) return;
    if (isUnspecified(bytes, offset + MldQueryField.GROUP)) {
      // Rule 2: the Interface Timer, replacing any pending General Query answer.
      this.generalAt = at;
    } else {
      const group = this.host.find(bytes, offset + MldQueryField.GROUP);
      const l = group !== 0 ? this.listeners.get(group) : undefined;
      if (!l || !l.member) return;
      // Rules 3 and 4: a pending answer for the group keeps the earlier of the two times.
      if (l.queryAt > at) l.queryAt = at;
    }
    this.rearm();
  }

  /** Stops the timer (the stack is closing). */
  close(): void {
    this.timer?.disarm();
  }

  /** A state change of `l` (§6.1): a report now, then robustness - 1 retransmissions. */
  private change(l: Listener): void {
    this.types[0] = l.member ? MldRecordType.CHANGE_TO_EXCLUDE : MldRecordType.CHANGE_TO_INCLUDE;
    this.groups[0] = l.group;
    l.changesLeft = this.robustness - 1;
    l.changeAt = l.changesLeft > 0 ? this.retransmitAt() : Infinity;
    this.send(1);
    if (!l.member && l.changesLeft === 0) this.forget(l);
    this.rearm();
  }

  private retransmitAt(): number {
    return this.host.clock.now() + (1 - this.random()) * UNSOLICITED_REPORT_INTERVAL_MS;
  }

  private onTimer(): void {
    const now = this.host.clock.now();
    let n = 0;
    if (this.generalAt <= now) {
      // §6.2: the Current State Report of every group we listen to.
      this.generalAt = Infinity;
      for (const l of this.listeners.values()) {
        if (!l.member) continue;
        this.types[n] = MldRecordType.MODE_IS_EXCLUDE;
        this.groups[n++] = l.group;
      }
      this.send(n);
      n = 0;
    }
    for (const l of [...this.listeners.values()]) {
      if (l.changeAt <= now) {
        this.types[n] = l.member ? MldRecordType.CHANGE_TO_EXCLUDE : MldRecordType.CHANGE_TO_INCLUDE;
        this.groups[n++] = l.group;
        l.changeAt = --l.changesLeft > 0 ? this.retransmitAt() : Infinity;
        if (l.queryAt <= now) l.queryAt = Infinity;
      } else if (l.queryAt <= now) {
        l.queryAt = Infinity;
        if (!l.member) continue;
        this.types[n] = MldRecordType.MODE_IS_EXCLUDE;
        this.groups[n++] = l.group;
      }
    }
    this.send(n);
    for (const l of [...this.listeners.values()]) if (!l.member && l.changesLeft <= 0) this.forget(l);
    this.rearm();
  }

  private forget(l: Listener): void {
    this.listeners.delete(l.group);
    this.host.release(l.group);
  }

  private send(count: number): void {
    if (count === 0) return;
    this.host.sendReport(this.types, this.groups, count);
  }

  private rearm(): void {
    let next = this.generalAt;
    for (const l of this.listeners.values()) next = Math.min(next, l.changeAt, l.queryAt);
    if (next === Infinity) { this.timer?.disarm(); return; }
    (this.timer ??= this.host.clock.createTimer(() => this.onTimer())).arm(next);
  }
}

function isUnspecified(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
}

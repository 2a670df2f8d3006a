// IPv4 multicast group membership of the userspace stack's one interface, and IGMPv2 host
// behaviour (RFC 2236; read §3 "Protocol Description" and §6 "Host State Diagram" first).
// Sockets join and leave through join()/leave() (reference counted: the interface is a member
// while any socket is). Each group is in one of §6's three states:
// - Non-Member: not in the table.
// - Delaying Member: a report is due when the group's timer fires — after a join (the repeat of
//   the unsolicited report, §3: "repeated once or twice after short delays", the Unsolicited
//   Report Interval of §8.10, 10 s) or after a query (a random delay in (0, Max Resp Time]).
// - Idle Member: nothing due.
// Transitions (§6): join → send a report, set the flag, start the timer (Delaying); query → start
// the timer, or restart it if the query's Max Resp Time is below what remains (§3); a report from
// another member heard while Delaying → stop the timer, clear the flag (suppression); the timer
// fires → send a report, set the flag (Idle); leave → send a Leave Group to all-routers only if
// the flag is set (we were the last host to report). All-hosts (224.0.0.1) is always a member and
// never reported (§6). Not done: the Router Alert option (RFC 2113; Linux takes IGMP without it)
// and IGMPv1 router compatibility (§4: a v1 query's Max Resp Time 0 is read as 10 s, as §2.2 says).
// Time comes from the stack's clock (one ClockTimer for all groups, armed at the earliest
// deadline); delays from `random` (Math.random unless a test or the stack sets a seeded source).
// Nothing is allocated per packet: groups are kept in a Map of small integers, a message is built
// in one reused buffer and copied into an arena slot by the stack (sendIgmp).
import type { Clock, ClockTimer } from './clock.ts';
import { internetChecksum } from './wire/checksum.ts';
import { get32s, set16, set32 } from './wire/bytes.ts';
import { IGMP_LENGTH, IgmpField } from './wire/igmp.ts';

export const ALL_HOSTS = 0xe0000001 | 0;
export const ALL_ROUTERS = 0xe0000002 | 0;
export const IGMP_MEMBERSHIP_QUERY = 0x11;
export const IGMP_V1_MEMBERSHIP_REPORT = 0x12;
export const IGMP_V2_MEMBERSHIP_REPORT = 0x16;
export const IGMP_LEAVE_GROUP = 0x17;
/** RFC 2236 §8.10: the Unsolicited Report Interval, 10 s. */
export const UNSOLICITED_REPORT_INTERVAL_MS = 10_000;
/** RFC 2236 §2.2: a Max Resp Time of 0 comes from an IGMPv1 router, whose hosts wait up to 10 s (100 tenths). */
const V1_MAX_RESP_TENTHS = 100;

/** 224.0.0.0/4 (RFC 5771). Addresses are signed 32-bit integers, as everywhere in the stack. */
export const isMulticast = (ip: number): boolean => (ip >>> 28) === 0xe;

/** What the group table needs of the stack: its clock, and a way to send one IGMP message (8 bytes) to `dst` with TTL 1. */
export interface IgmpSender {
  readonly clock: Clock;
  sendIgmp(dst: number, message: Uint8Array): void;
}

/** One group the interface is a member of (§6). */
class Membership {
  /** Sockets that joined it. */
  sockets = 1;
  /** Delaying Member while finite: when its report is due. */
  reportAt = Infinity;
  /** §6's flag: we sent the last report heard for the group (only then does leaving send a Leave). */
  lastReporter = false;
}

export class MulticastGroups {
  private readonly members = new Map<number, Membership>();
  private readonly message = new Uint8Array(IGMP_LENGTH);
  private timer: ClockTimer | null = null;
  /** Uniform in [0, 1): the source of report delays (a seeded one makes runs repeatable). */
  random: () => number = Math.random;
  // Counters.
  reportsOut = 0;
  leavesOut = 0;
  queriesIn = 0;
  reportsSuppressed = 0;
  igmpMalformed = 0;

  constructor(private readonly sender: IgmpSender) {}

  get size(): number { return this.members.size; }

  /** The interface receives datagrams sent to `group`. */
  isMember(group: number): boolean {
    return group === ALL_HOSTS || (this.members.size > 0 && this.members.has(group | 0));
  }

  /** When `group`'s report is due (Infinity: Idle Member or not a member), for tests and diagnostics. */
  reportDue(group: number): number {
    return this.members.get(group | 0)?.reportAt ?? Infinity;
  }

  join(group: number): void {
    group |= 0;
    const m = this.members.get(group);
    if (m) { m.sockets++; return; }
    const fresh = new Membership();
    this.members.set(group, fresh);
    if (group === ALL_HOSTS) return;
    this.report(group, fresh);
    this.delay(fresh, UNSOLICITED_REPORT_INTERVAL_MS);
  }

  leave(group: number): void {
    group |= 0;
    const m = this.members.get(group);
    if (!m) return;
    if (--m.sockets > 0) return;
    this.members.delete(group);
    if (group !== ALL_HOSTS && m.lastReporter) this.send(IGMP_LEAVE_GROUP, ALL_ROUTERS, group);
    if (m.reportAt !== Infinity) this.rearm();
  }

  /** An IGMP message received (bytes[offset .. offset+length), after the IPv4 header). */
  input(bytes: Uint8Array, offset: number, length: number): void {
    if (length < IGMP_LENGTH || internetChecksum(bytes, offset, length) !== 0) { this.igmpMalformed++; return; }
    const type = bytes[offset + IgmpField.TYPE]!;
    const group = get32s(bytes, offset + IgmpField.GROUP);
    if (type === IGMP_V2_MEMBERSHIP_REPORT || type === IGMP_V1_MEMBERSHIP_REPORT) {
      // Another member reported: ours is not needed (suppression), and it is the last reporter now.
      const m = this.members.get(group);
      if (!m || group === ALL_HOSTS) return;
      if (m.reportAt !== Infinity) { m.reportAt = Infinity; this.reportsSuppressed++; this.rearm(); }
      m.lastReporter = false;
      return;
    }
    if (type !== IGMP_MEMBERSHIP_QUERY) return;
    this.queriesIn++;
    const maxMs = (bytes[offset + IgmpField.MAX_RESPONSE_TIME]! || V1_MAX_RESP_TENTHS) * 100;
    if (group === 0) {
      // A General Query: every group we are a member of (§3).
      for (const [g, m] of this.members) if (g !== ALL_HOSTS) this.delay(m, maxMs);
    } else if (group !== ALL_HOSTS) {
      const m = this.members.get(group);
      if (m) this.delay(m, maxMs);
    }
  }

  /** Stops the timer (the stack is closing); memberships stay as they are. */
  close(): void {
    this.timer?.disarm();
  }

  /** Starts the group's timer at a random point in (0, maxMs], unless it already fires sooner (§3). */
  private delay(m: Membership, maxMs: number): void {
    const now = this.sender.clock.now();
    if (m.reportAt - now <= maxMs) return;
    // (0, maxMs]: 1 - random() is in (0, 1].
    m.reportAt = now + (1 - this.random()) * maxMs;
    this.rearm();
  }

  private onTimer(): void {
    const now = this.sender.clock.now();
    for (const [g, m] of this.members) {
      if (m.reportAt <= now) {
        m.reportAt = Infinity;
        this.report(g, m);
      }
    }
    this.rearm();
  }

  private rearm(): void {
    let next = Infinity;
    for (const m of this.members.values()) if (m.reportAt < next) next = m.reportAt;
    if (next === Infinity) { this.timer?.disarm(); return; }
    (this.timer ??= this.sender.clock.createTimer(() => this.onTimer())).arm(next);
  }

  private report(group: number, m: Membership): void {
    m.lastReporter = true;
    this.send(IGMP_V2_MEMBERSHIP_REPORT, group, group);
  }

  private send(type: number, dst: number, group: number): void {
    const m = this.message;
    m[IgmpField.TYPE] = type;
    m[IgmpField.MAX_RESPONSE_TIME] = 0;
    set16(m, IgmpField.CHECKSUM, 0);
    set32(m, IgmpField.GROUP, group);
    set16(m, IgmpField.CHECKSUM, internetChecksum(m, 0, IGMP_LENGTH));
    if (type === IGMP_LEAVE_GROUP) this.leavesOut++; else this.reportsOut++;
    this.sender.sendIgmp(dst, m);
  }
}

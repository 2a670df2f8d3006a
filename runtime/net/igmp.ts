// IPv4 multicast group membership of the userspace stack's one interface, and IGMPv2 host
// behaviour (RFC 2236; read §3 "Protocol Description" and §6 "Host State Diagram" first).
// Sockets join and leave through join()/leave() (reference counted: the interface is a member
// while any socket is); the first join sends an unsolicited Membership Report, the last leave a
// Leave Group to all-routers (224.0.0.2). A Membership Query is answered with a report for each
// group it asks about. All-hosts (224.0.0.1) is always a member and never reported (§6).
// Simplifications, each a MAY/SHOULD of §3 we do not do yet: the unsolicited report is sent once
// (not repeated after the Unsolicited Report Interval), query answers leave at once (no random
// delay up to Max Resp Time, hence no suppression by other hosts' reports), and the messages
// carry no Router Alert option (RFC 2113; Linux takes IGMP without it).
// Nothing is allocated per packet: groups are kept in a Map of small integers, a message is built
// in one reused buffer and copied into an arena slot by the stack (sendIgmp).
import { internetChecksum } from './wire/checksum.ts';
import { get32s, set16, set32 } from './wire/bytes.ts';
import { IGMP_LENGTH, IgmpField } from './wire/igmp.ts';

export const ALL_HOSTS = 0xe0000001 | 0;
export const ALL_ROUTERS = 0xe0000002 | 0;
export const IGMP_MEMBERSHIP_QUERY = 0x11;
export const IGMP_V2_MEMBERSHIP_REPORT = 0x16;
export const IGMP_LEAVE_GROUP = 0x17;

/** 224.0.0.0/4 (RFC 5771). Addresses are signed 32-bit integers, as everywhere in the stack. */
export const isMulticast = (ip: number): boolean => (ip >>> 28) === 0xe;

/** What the group table needs of the stack: a way to send one IGMP message (8 bytes) to `dst` with TTL 1. */
export interface IgmpSender {
  sendIgmp(dst: number, message: Uint8Array): void;
}

export class MulticastGroups {
  /** Group → how many sockets joined it. */
  private readonly members = new Map<number, number>();
  private readonly message = new Uint8Array(IGMP_LENGTH);
  // Counters.
  reportsOut = 0;
  leavesOut = 0;
  queriesIn = 0;
  igmpMalformed = 0;

  constructor(private readonly sender: IgmpSender) {}

  get size(): number { return this.members.size; }

  /** The interface receives datagrams sent to `group`. */
  isMember(group: number): boolean {
    return group === ALL_HOSTS || (this.members.size > 0 && this.members.has(group | 0));
  }

  join(group: number): void {
    group |= 0;
    const n = this.members.get(group) ?? 0;
    this.members.set(group, n + 1);
    if (n === 0 && group !== ALL_HOSTS) this.send(IGMP_V2_MEMBERSHIP_REPORT, group, group);
  }

  leave(group: number): void {
    group |= 0;
    const n = this.members.get(group);
    if (n === undefined) return;
    if (n > 1) { this.members.set(group, n - 1); return; }
    this.members.delete(group);
    if (group !== ALL_HOSTS) this.send(IGMP_LEAVE_GROUP, ALL_ROUTERS, group);
  }

  /** An IGMP message received (bytes[offset .. offset+length), after the IPv4 header). */
  input(bytes: Uint8Array, offset: number, length: number): void {
    if (length < IGMP_LENGTH || internetChecksum(bytes, offset, length) !== 0) { this.igmpMalformed++; return; }
    if (bytes[offset] !== IGMP_MEMBERSHIP_QUERY) return;
    this.queriesIn++;
    const group = get32s(bytes, offset + IgmpField.GROUP);
    if (group === 0) {
      // A General Query: every group we are a member of (§3).
      for (const g of this.members.keys()) if (g !== ALL_HOSTS) this.send(IGMP_V2_MEMBERSHIP_REPORT, g, g);
    } else if (group !== ALL_HOSTS && this.members.has(group)) {
      this.send(IGMP_V2_MEMBERSHIP_REPORT, group, group);
    }
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

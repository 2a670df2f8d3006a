// IGMPv2 host behaviour (RFC 2236 §3, §6) in virtual time with a seeded random source: what the
// group table sends, and when. Messages heard are built here with this file's own checksum.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './clock.ts';
import {
  ALL_HOSTS, ALL_ROUTERS, IGMP_LEAVE_GROUP, IGMP_MEMBERSHIP_QUERY, IGMP_V1_MEMBERSHIP_REPORT, IGMP_V2_MEMBERSHIP_REPORT, MulticastGroups,
  UNSOLICITED_REPORT_INTERVAL_MS,
} from './igmp.ts';
import { Xoshiro128 } from './prng.ts';

const G1 = 0xe1000001 | 0; // 225.0.0.1
const G2 = 0xe1000002 | 0;

interface Sent { at: number; type: number; dst: number; group: number }

function table(seed = 1): { groups: MulticastGroups; clock: VirtualClock; sent: Sent[] } {
  const clock = new VirtualClock();
  const sent: Sent[] = [];
  const groups = new MulticastGroups({
    clock,
    sendIgmp: (dst, m) => sent.push({ at: clock.now(), type: m[0]!, dst, group: ((m[4]! << 24) | (m[5]! << 16) | (m[6]! << 8) | m[7]!) | 0 }),
  });
  const prng = new Xoshiro128(seed);
  groups.random = () => prng.next();
  return { groups, clock, sent };
}

/** An IGMP message (RFC 2236 §2) with its RFC 1071 checksum. */
function message(type: number, maxRespTenths: number, group: number): Uint8Array {
  const m = new Uint8Array(8);
  m[0] = type; m[1] = maxRespTenths;
  m[4] = group >>> 24; m[5] = (group >>> 16) & 0xff; m[6] = (group >>> 8) & 0xff; m[7] = group & 0xff;
  let sum = 0;
  for (let i = 0; i < 8; i += 2) sum += (m[i]! << 8) | m[i + 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

const hear = (groups: MulticastGroups, m: Uint8Array) => groups.input(m, 0, m.byteLength);
const reports = (sent: Sent[]) => sent.filter((s) => s.type === IGMP_V2_MEMBERSHIP_REPORT);

describe('IGMPv2 host (RFC 2236)', () => {
  it('§3: a join sends an unsolicited report at once and repeats it once within the Unsolicited Report Interval (10 s), then is quiet; all-hosts is never reported', () => {
    const { groups, clock, sent } = table();
    groups.join(ALL_HOSTS);
    groups.join(G1);
    expect(sent).toEqual([{ at: 0, type: IGMP_V2_MEMBERSHIP_REPORT, dst: G1, group: G1 }]);
    const due = groups.reportDue(G1);
    expect(due).toBeGreaterThan(0);
    expect(due).toBeLessThanOrEqual(UNSOLICITED_REPORT_INTERVAL_MS);
    clock.runFor(60_000);
    expect(sent).toEqual([
      { at: 0, type: IGMP_V2_MEMBERSHIP_REPORT, dst: G1, group: G1 },
      { at: due, type: IGMP_V2_MEMBERSHIP_REPORT, dst: G1, group: G1 },
    ]);
    // The same seed gives the same delay.
    const again = table();
    again.groups.join(G1);
    expect(again.groups.reportDue(G1)).toBe(due);
  });

  it('§3: a General Query makes each group report once, at its own random time in (0, Max Resp Time]; a v1 query (Max Resp Time 0) allows 10 s', () => {
    const { groups, clock, sent } = table(7);
    groups.join(G1);
    groups.join(G2);
    clock.runFor(20_000); // the unsolicited reports and their repeats
    sent.length = 0;
    hear(groups, message(IGMP_MEMBERSHIP_QUERY, 20, 0)); // 2 s
    const t0 = clock.now();
    clock.runFor(5_000);
    const r = reports(sent);
    expect(r.map((s) => s.group).sort()).toEqual([G1, G2].sort());
    for (const s of r) { expect(s.at - t0).toBeGreaterThan(0); expect(s.at - t0).toBeLessThanOrEqual(2_000); }
    expect(r[0]!.at).not.toBe(r[1]!.at);
    sent.length = 0;
    hear(groups, message(IGMP_MEMBERSHIP_QUERY, 0, G1));
    const t1 = clock.now();
    clock.runFor(15_000);
    expect(reports(sent).length).toBe(1);
    expect(reports(sent)[0]!.at - t1).toBeLessThanOrEqual(10_000);
    expect(groups.queriesIn).toBe(2);
  });

  it('§3: a running timer is restarted only by a query whose Max Resp Time is below what remains of it', () => {
    const { groups, clock } = table(3);
    groups.join(G1);
    const unsolicited = groups.reportDue(G1);
    // Max Resp Time above what remains (the repeat is due within 10 s): the timer stays.
    hear(groups, message(IGMP_MEMBERSHIP_QUERY, 250, G1));
    expect(groups.reportDue(G1)).toBe(unsolicited);
    // 0.1 s: below it, so restarted within 0.1 s.
    hear(groups, message(IGMP_MEMBERSHIP_QUERY, 1, G1));
    expect(groups.reportDue(G1) - clock.now()).toBeLessThanOrEqual(100);
  });

  it('§3, §6: another member\'s report heard while our timer runs suppresses ours, and then leaving sends no Leave (we were not the last reporter)', () => {
    const { groups, clock, sent } = table(5);
    groups.join(G1);
    clock.runFor(20_000);
    sent.length = 0;
    hear(groups, message(IGMP_MEMBERSHIP_QUERY, 100, 0));
    expect(groups.reportDue(G1)).toBeLessThan(Infinity);
    hear(groups, message(IGMP_V2_MEMBERSHIP_REPORT, 0, G1));
    expect(groups.reportDue(G1)).toBe(Infinity);
    clock.runFor(20_000);
    expect(sent).toEqual([]);
    expect(groups.reportsSuppressed).toBe(1);
    groups.leave(G1);
    expect(sent).toEqual([]);
    expect(groups.isMember(G1)).toBe(false);
  });

  it('§6: the last socket to leave sends a Leave Group to all-routers when we sent the last report (an IGMPv1 report heard takes that role away too); an earlier leave sends nothing', () => {
    const { groups, clock, sent } = table(9);
    groups.join(G1);
    groups.join(G1);
    groups.join(G2);
    clock.runFor(20_000);
    sent.length = 0;
    groups.leave(G1);
    expect(sent).toEqual([]);
    groups.leave(G1);
    expect(sent).toEqual([{ at: clock.now(), type: IGMP_LEAVE_GROUP, dst: ALL_ROUTERS, group: G1 }]);
    hear(groups, message(IGMP_V1_MEMBERSHIP_REPORT, 0, G2));
    groups.leave(G2);
    expect(sent.length).toBe(1);
    expect(groups.size).toBe(0);
  });

  it('a checksum that does not add up, or a short message, is counted and ignored', () => {
    const { groups, sent } = table();
    groups.join(G1);
    const bad = message(IGMP_MEMBERSHIP_QUERY, 10, 0);
    bad[3]! ^= 1;
    hear(groups, bad);
    groups.input(message(IGMP_MEMBERSHIP_QUERY, 10, 0), 0, 7);
    expect(groups.igmpMalformed).toBe(2);
    expect(groups.queriesIn).toBe(0);
    expect(sent.length).toBe(1);
  });
});

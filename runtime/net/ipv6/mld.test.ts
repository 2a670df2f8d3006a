// MLDv2 host behaviour (RFC 3810 §6) in virtual time with a seeded random source: which records
// the listener reports, and when. Groups are small integers standing in for address ids; queries
// are built here byte by byte (RFC 3810 §5.1).
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.ts';
import { Xoshiro128 } from '../prng.ts';
import { MldRecordType } from '../wire/icmpv6.ts';
import { DEFAULT_ROBUSTNESS, MulticastListener, UNSOLICITED_REPORT_INTERVAL_MS } from './mld.ts';

const { MODE_IS_EXCLUDE: IS_EX, CHANGE_TO_EXCLUDE: TO_EX, CHANGE_TO_INCLUDE: TO_IN } = MldRecordType;
/** Group ids: ALL_NODES is never reported; G1, G2 are; the query for Gx names it by its last byte. */
const ALL_NODES = 1, G1 = 7, G2 = 8;

interface Report { at: number; records: [type: number, group: number][] }

function listener(seed = 1): { mld: MulticastListener; clock: VirtualClock; sent: Report[]; held: Map<number, number> } {
  const clock = new VirtualClock();
  const sent: Report[] = [];
  const held = new Map<number, number>();
  const mld = new MulticastListener({
    clock,
    reported: (g) => g !== ALL_NODES,
    // A query's Multicast Address names group id = its last byte (0 for ::).
    find: (b, at) => b[at + 15]!,
    retain: (id) => held.set(id, (held.get(id) ?? 0) + 1),
    release: (id) => { const n = held.get(id)! - 1; if (n === 0) held.delete(id); else held.set(id, n); },
    sendReport: (types, groups, count) => {
      const records: [number, number][] = [];
      for (let i = 0; i < count; i++) records.push([types[i]!, groups[i]!]);
      sent.push({ at: clock.now(), records });
    },
  });
  const prng = new Xoshiro128(seed);
  mld.random = () => prng.next();
  return { mld, clock, sent, held };
}

/** An MLDv2 query (28 bytes) with its Maximum Response Code, Multicast Address (group id in the last byte, 0: general) and QRV. */
function query(maxResponseCode: number, group: number, qrv = 2): Uint8Array {
  const q = new Uint8Array(28);
  q[0] = 130;
  q[4] = maxResponseCode >>> 8; q[5] = maxResponseCode & 0xff;
  if (group !== 0) { q[8] = 0xff; q[9] = 0x05; q[23] = group; }
  q[24] = qrv;
  return q;
}

const hear = (mld: MulticastListener, q: Uint8Array) => mld.query(q, 0, q.byteLength);

describe('MLDv2 listener (RFC 3810)', () => {
  it('§6.1: a join sends CHANGE_TO_EXCLUDE at once and [Robustness Variable] - 1 more within the Unsolicited Report Interval (1 s), then is quiet; all-nodes is never reported', () => {
    const { mld, clock, sent } = listener();
    mld.start();
    mld.join(ALL_NODES);
    expect(sent).toEqual([]);
    mld.join(G1);
    expect(sent).toEqual([{ at: 0, records: [[TO_EX, G1]] }]);
    const due = mld.reportDue(G1);
    expect(due).toBeGreaterThan(0);
    expect(due).toBeLessThanOrEqual(UNSOLICITED_REPORT_INTERVAL_MS);
    clock.runFor(60_000);
    expect(sent).toHaveLength(DEFAULT_ROBUSTNESS);
    expect(sent[1]).toEqual({ at: due, records: [[TO_EX, G1]] });
    expect(mld.isMember(G1)).toBe(true);
    // The same seed gives the same delay; another seed another one.
    const again = listener();
    again.mld.start();
    again.mld.join(G1);
    expect(again.mld.reportDue(G1)).toBe(due);
    const other = listener(99);
    other.mld.start();
    other.mld.join(G1);
    expect(other.mld.reportDue(G1)).not.toBe(due);
  });

  it('§6.1: a leave sends CHANGE_TO_INCLUDE at once and once more, holding the group id until the last one; a re-join during them reports CHANGE_TO_EXCLUDE', () => {
    const { mld, clock, sent, held } = listener();
    mld.start();
    mld.join(G1);
    clock.runFor(5000);
    sent.length = 0;
    clock.runFor(1000);
    mld.leave(G1);
    expect(sent).toEqual([{ at: 6000, records: [[TO_IN, G1]] }]);
    expect(mld.isMember(G1)).toBe(false);
    expect(held.get(G1)).toBe(1);
    clock.runFor(2000);
    expect(sent.map((r) => r.records)).toEqual([[[TO_IN, G1]], [[TO_IN, G1]]]);
    expect(held.has(G1)).toBe(false);
    // Leave, then join again before the retransmission: the next records say EXCLUDE.
    mld.join(G1);
    mld.leave(G1);
    mld.join(G1);
    clock.runFor(2000);
    expect(sent.slice(2).map((r) => r.records)).toEqual([[[TO_EX, G1]], [[TO_IN, G1]], [[TO_EX, G1]], [[TO_EX, G1]]]);
    expect(held.get(G1)).toBe(1);
  });

  it('start(): groups joined before the interface ran go out in one state-change report (retransmitted), none before', () => {
    const { mld, clock, sent } = listener();
    mld.join(ALL_NODES);
    mld.join(G1);
    mld.join(G2);
    mld.leave(G2);
    mld.join(G2);
    expect(sent).toEqual([]);
    mld.start();
    expect(sent).toEqual([{ at: 0, records: [[TO_EX, G1], [TO_EX, G2]] }]);
    clock.runFor(2000);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.records).toEqual([[TO_EX, G1], [TO_EX, G2]]);
  });

  it('§6.2: a General Query is answered after a random delay up to its Maximum Response Delay with MODE_IS_EXCLUDE for every group; a second one due later changes nothing (rule 1)', () => {
    const { mld, clock, sent } = listener();
    mld.join(G1);
    mld.join(G2);
    mld.start();
    clock.runFor(5000);
    sent.length = 0;
    hear(mld, query(10_000, 0));
    expect(sent).toEqual([]);
    const due = Math.min(mld.reportDue(G1), mld.reportDue(G2));
    expect(due).toBe(Infinity); // the Interface Timer, not a group's
    clock.runFor(10_000);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.at).toBeGreaterThan(5000);
    expect(sent[0]!.at).toBeLessThanOrEqual(15_000);
    expect(sent[0]!.records).toEqual([[IS_EX, G1], [IS_EX, G2]]);
    expect(mld.queriesIn).toBe(1);
  });

  it('§6.2 rules 3 and 4: a Multicast Address Specific Query is answered for that group only, at the earlier of two pending times; a query for a group not joined draws nothing', () => {
    const { mld, clock, sent } = listener(7);
    mld.join(G1);
    mld.join(G2);
    mld.start();
    clock.runFor(5000);
    sent.length = 0;
    hear(mld, query(0x7fff, 99));
    hear(mld, query(0x7fff, G2));
    const first = mld.reportDue(G2);
    expect(first).toBeGreaterThan(5000);
    expect(first).toBeLessThanOrEqual(5000 + 0x7fff);
    // A second query with a 1 ms Maximum Response Delay pulls the answer in.
    hear(mld, query(1, G2));
    const second = mld.reportDue(G2);
    expect(second).toBeLessThanOrEqual(5001);
    expect(mld.reportDue(G1)).toBe(Infinity);
    clock.runFor(60_000);
    expect(sent).toEqual([{ at: second, records: [[IS_EX, G2]] }]);
  });

  it('§5.1.3: a Maximum Response Code of 32768 or more is a floating-point delay; §9.1: the querier\'s QRV becomes our robustness', () => {
    const { mld, clock, sent } = listener();
    mld.join(G1);
    mld.start();
    clock.runFor(5000);
    sent.length = 0;
    // 0x8000 | exp 1 | mant 0: (0 | 0x1000) << (1 + 3) = 65536 ms.
    hear(mld, query(0x9000, G1, 3));
    const due = mld.reportDue(G1);
    expect(due).toBeGreaterThan(5000);
    expect(due).toBeLessThanOrEqual(5000 + 65536);
    expect(mld.robustness).toBe(3);
    clock.runFor(70_000);
    expect(sent).toHaveLength(1);
    // QRV 3: a leave is sent three times.
    sent.length = 0;
    mld.leave(G1);
    clock.runFor(5000);
    expect(sent.map((r) => r.records)).toEqual([[[TO_IN, G1]], [[TO_IN, G1]], [[TO_IN, G1]]]);
  });

  it('a query shorter than MLDv1\'s 24 bytes is counted and dropped; before start() queries are not answered', () => {
    const { mld, clock, sent } = listener();
    mld.join(G1);
    mld.query(new Uint8Array(20), 0, 20);
    expect(mld.malformed).toBe(1);
    hear(mld, query(10, 0));
    clock.runFor(1000);
    expect(sent).toEqual([]);
  });
});

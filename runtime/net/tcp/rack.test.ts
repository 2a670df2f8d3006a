// The transmit record and RACK's conclusions (RFC 8985 §6.2), on sequence numbers chosen to
// wrap around 2^32 where it matters.
import { describe, expect, it } from 'vitest';
import { RackState, SENT_LOST, SENT_RETRANSMITTED, SENT_SACKED } from './rack.ts';

function ranges(r: RackState): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let i = 0; i < r.n; i++) out.push([r.start(i), r.end(i), r.time(i), r.flag(i)]);
  return out;
}

describe('RackState record', () => {
  it('merges a batch sent in one turn into one range, and splits it exactly at SACK edges (a hole inside a TSO frame is only the missing bytes)', () => {
    const r = new RackState();
    r.sent(1000, 2000, 1);
    r.sent(2000, 65000, 1); // same turn: one range
    r.sent(65000, 66000, 2);
    expect(ranges(r)).toEqual([[1000, 65000, 1, 0], [65000, 66000, 2, 0]]);
    expect(r.sack(3000, 64000, 3)).toBe(61000);
    expect(ranges(r)).toEqual([[1000, 3000, 1, 0], [3000, 64000, 1, SENT_SACKED], [64000, 65000, 1, 0], [65000, 66000, 2, 0]]);
    expect(r.sack(3000, 64000, 3)).toBe(0); // again: nothing new
    expect(r.sackedBytes).toBe(61000);
    expect(r.pipe()).toBe(66000 - 1000 - 61000);
  });

  it('a cumulative ACK drops what it covers (splitting a range) and keeps the counts right', () => {
    const r = new RackState();
    r.sent(-2000, 2000, 1); // across the int32 sign and the 2^32 wrap as unsigned
    r.sack(0, 1000, 2);
    r.ackTo(-1000, 3);
    expect(ranges(r)).toEqual([[-1000, 0, 1, 0], [0, 1000, 1, SENT_SACKED], [1000, 2000, 1, 0]]);
    r.ackTo(1500, 4);
    expect(ranges(r)).toEqual([[1500, 2000, 1, 0]]);
    expect(r.sackedBytes).toBe(0);
    expect(r.pipe()).toBe(500);
  });

  it('RFC 8985 §6.2: a range sent before the most recently sent delivered one is lost once RACK.rtt + reo_wnd has passed; until then the reorder timer waits exactly the rest', () => {
    const r = new RackState();
    r.sent(0, 1000, 10);
    r.sent(1000, 2000, 11);
    r.sack(1000, 2000, 21); // RACK.rtt = 10, RACK.xmit_ts = 11
    expect(r.rtt).toBe(10);
    expect(r.detectLoss(21, 2)).toBeCloseTo(10 + 10 + 2 - 21); // 1 ms to go
    expect(r.newlyLost).toBe(0);
    expect(r.detectLoss(22, 2)).toBe(0);
    expect(r.newlyLost).toBe(1000);
    expect(r.lostBytes).toBe(1000);
    expect(r.pipe()).toBe(0);
    // The retransmission is in flight again, no longer lost.
    r.resent(0, 1000, 22);
    expect(ranges(r)[0]).toEqual([0, 1000, 22, SENT_RETRANSMITTED]);
    expect(r.pipe()).toBe(1000);
  });

  it('RFC 8985 §6.2 step 2: an ACK of a retransmission faster than min_RTT may be for the original, and is not taken as RACK.xmit_ts', () => {
    const r = new RackState();
    r.sent(0, 1000, 0);
    r.sent(1000, 2000, 0);
    r.sack(1000, 2000, 10); // min_RTT 10
    r.resent(0, 1000, 20);
    r.ackTo(1000, 21); // 1 ms after the retransmission: the original's ACK
    expect(r.xmitTs).toBe(0);
    expect(r.minRtt).toBe(10);
  });

  it('RFC 8985 §6.2 step 1/4: a never-retransmitted range delivered below RACK.end_seq is reordering; the window is then min_RTT/4 even in recovery, and 0 before it', () => {
    const r = new RackState();
    r.sent(0, 1000, 0);
    r.sent(1000, 2000, 1);
    r.sack(1000, 2000, 9);
    expect(r.reoWnd(true, 8)).toBe(0);
    r.ackTo(1000, 9.5); // the first arrives after the second: reordered
    expect(r.reord).toBe(true);
    expect(r.reoWnd(true, 8)).toBe(8 / 4);
    r.reoWndMult = 8;
    expect(r.reoWnd(true, 8)).toBe(8); // never more than SRTT
  });

  it('RFC 8985 §6.2 step 4: D-SACKs widen the window once per round trip, never mark reordering, and the width lasts 16 recoveries', () => {
    const r = new RackState();
    r.noteAck(true, 1000, 5000);
    r.noteAck(true, 2000, 6000); // same round trip: SND.UNA has not reached 5000
    expect(r.reoWndMult).toBe(2);
    expect(r.reord).toBe(false);
    r.noteAck(true, 5000, 9000); // the next round
    expect(r.reoWndMult).toBe(3);
    for (let i = 0; i < 15; i++) r.recoveryEnded();
    expect(r.reoWndMult).toBe(3);
    r.recoveryEnded();
    expect(r.reoWndMult).toBe(1);
  });

  it('RFC 8985 §6.3: a timeout marks everything unSACKed lost; an undo forgets the marks', () => {
    const r = new RackState();
    r.sent(0, 3000, 0);
    r.sack(1000, 2000, 1);
    r.markAllLost();
    expect(r.newlyLost).toBe(2000);
    expect(r.flag(0) & SENT_LOST).toBe(SENT_LOST);
    expect(r.pipe()).toBe(0);
    expect(r.firstLost(0)).toBe(0);
    expect(r.firstLost(1000)).toBe(2);
    r.unmarkLost();
    expect(r.lostBytes).toBe(0);
    expect(r.pipe()).toBe(2000);
  });

  it('grows past its first capacity without losing ranges', () => {
    const r = new RackState();
    for (let i = 0; i < 100; i++) r.sent(i * 100, i * 100 + 100, i);
    for (let i = 0; i < 100; i += 2) r.sack(i * 100 + 10, i * 100 + 20, 200);
    expect(r.n).toBe(100 + 2 * 50);
    expect(r.sackedBytes).toBe(500);
    r.ackTo(10_000, 300);
    expect(r.n).toBe(0);
    expect(r.sackedBytes).toBe(0);
  });
});

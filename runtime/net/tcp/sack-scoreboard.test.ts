import { describe, expect, it } from 'vitest';
import { SackScoreboard } from './sack-scoreboard.ts';

const MSS = 1000;
const blocks = (...pairs: number[]): Int32Array => Int32Array.from(pairs.map((x) => x | 0));

function ranges(sb: SackScoreboard): Array<[number, number]> {
  const r: Array<[number, number]> = [];
  for (let i = 0; i < sb.rangeCount; i++) r.push([sb.rangeStart(i), sb.rangeEnd(i)]);
  return r;
}

/**
 * RFC 6675-style scenario: ten 1000-byte segments, seg k covers [(k-1)*1000, k*1000); segments
 * 3 and 5 are lost, 1 and 2 were cumulatively ACKed (SND.UNA = 2000), the rest arrive in order.
 */
describe('SackScoreboard: ten segments, 3 and 5 lost', () => {
  it('accumulates SACK blocks, counting newly SACKed bytes', () => {
    const sb = new SackScoreboard();
    sb.setSndMax(10_000);
    expect(sb.update(2000, blocks(3000, 4000), 1)).toBe(1000); // seg 4
    expect(sb.update(2000, blocks(3000, 4000), 1)).toBe(0); // repeated
    expect(sb.update(2000, blocks(5000, 6000, 3000, 4000), 2)).toBe(1000); // seg 6
    expect(sb.update(2000, blocks(5000, 7000, 3000, 4000), 2)).toBe(1000); // seg 7
    expect(ranges(sb)).toEqual([[3000, 4000], [5000, 7000]]);
    expect(sb.sackedBytes).toBe(3000);
    expect(sb.highSacked).toBe(7000);
    expect(sb.isSacked(3000)).toBe(true);
    expect(sb.isSacked(3999)).toBe(true);
    expect(sb.isSacked(4000)).toBe(false);
    expect(sb.isSacked(2999)).toBe(false);
    expect(sb.isSacked(7000)).toBe(false);
  });

  it('IsLost: segment 3 becomes lost after three SACKed segments above it, segment 5 not yet', () => {
    const sb = new SackScoreboard();
    sb.update(2000, blocks(3000, 4000, 5000, 6000), 2);
    expect(sb.isLost(2000, MSS)).toBe(false); // 2 segments / 2000 bytes above: not > 2*SMSS
    sb.update(2000, blocks(5000, 7000), 1);
    expect(sb.isLost(2000, MSS)).toBe(true); // 3 segments above
    expect(sb.isLost(2500, MSS)).toBe(true); // any octet of the hole
    expect(sb.isLost(4000, MSS)).toBe(false); // only segs 6, 7 above
    expect(sb.isLost(3000, MSS)).toBe(false); // SACKed octets are never lost
    expect(sb.isLost(7000, MSS)).toBe(false); // nothing above
    sb.update(2000, blocks(5000, 8000), 1);
    expect(sb.isLost(4000, MSS)).toBe(true);
    expect(sb.isLost(4000, MSS, 4)).toBe(false); // DupThresh is a parameter
  });

  it('SetPipe counts in-flight, non-lost, plus retransmitted bytes', () => {
    const sb = new SackScoreboard();
    sb.update(2000, blocks(3000, 4000, 5000, 7000), 2);
    // holes: [2000,3000) lost (3 segs above); [4000,5000) not lost (2 segs); [7000,10000) in flight
    expect(sb.pipe(2000, 10_000, 2000, MSS)).toBe(0 + 1000 + 3000);
    // retransmit segment 3: HighRxt = 3000 -> counted once more
    expect(sb.pipe(2000, 10_000, 3000, MSS)).toBe(5000);
    // all SACKed except 3 and 5 (both lost), 3 retransmitted
    sb.update(2000, blocks(5000, 10_000), 1);
    expect(sb.pipe(2000, 10_000, 2000, MSS)).toBe(0);
    expect(sb.pipe(2000, 10_000, 3000, MSS)).toBe(1000);
    // retransmitting past a SACKed range only counts the unSACKed octets
    expect(sb.pipe(2000, 10_000, 5000, MSS)).toBe(2000);
    // a retransmitted octet that is not lost counts twice (RFC 6675 SetPipe (a) + (b))
    expect(sb.pipe(2000, 10_000, 5000, MSS, 10)).toBe(2000 + 2000);
  });

  it('SetPipe with nothing SACKed is the flight size (plus retransmissions)', () => {
    const sb = new SackScoreboard();
    expect(sb.pipe(2000, 10_000, 2000, MSS)).toBe(8000);
    expect(sb.pipe(2000, 10_000, 3000, MSS)).toBe(9000);
    expect(sb.pipe(2000, 2000, 2000, MSS)).toBe(0);
  });

  it('nextUnsacked finds holes for NextSeg', () => {
    const sb = new SackScoreboard();
    sb.update(2000, blocks(3000, 4000, 5000, 7000), 2);
    expect(sb.nextUnsacked(2000, 10_000)).toBe(2000);
    expect(sb.nextUnsacked(3000, 10_000)).toBe(4000);
    expect(sb.nextUnsacked(3500, 10_000)).toBe(4000);
    expect(sb.nextUnsacked(4500, 10_000)).toBe(4500);
    expect(sb.nextUnsacked(5000, 10_000)).toBe(7000);
    expect(sb.nextUnsacked(5500, 6500)).toBe(6500); // all SACKed up to the limit
    expect(sb.nextUnsacked(9000, 10_000)).toBe(9000);
  });

  it('cumulative ACKs drop and clip ranges', () => {
    const sb = new SackScoreboard();
    sb.update(2000, blocks(3000, 4000, 5000, 7000), 2);
    sb.ackTo(4000); // retransmitted seg 3 arrived
    expect(ranges(sb)).toEqual([[5000, 7000]]);
    expect(sb.sackedBytes).toBe(2000);
    sb.ackTo(6000);
    expect(ranges(sb)).toEqual([[6000, 7000]]);
    expect(sb.sackedBytes).toBe(1000);
    sb.ackTo(5000); // older: ignored
    expect(sb.sndUna).toBe(6000);
    expect(sb.sackedBytes).toBe(1000);
    sb.ackTo(7000);
    expect(sb.rangeCount).toBe(0);
    expect(sb.sackedBytes).toBe(0);
    expect(sb.highSacked).toBe(7000);
  });
});

describe('SackScoreboard: block validation and merging', () => {
  it('ignores D-SACK blocks below SND.UNA and clips a straddling block', () => {
    const sb = new SackScoreboard();
    expect(sb.update(2000, blocks(1000, 2000), 1)).toBe(0); // D-SACK (RFC 2883)
    expect(sb.update(2000, blocks(1500, 2500), 1)).toBe(500);
    expect(ranges(sb)).toEqual([[2000, 2500]]);
  });

  it('a D-SACK block inside an already SACKed range adds nothing', () => {
    const sb = new SackScoreboard();
    sb.update(0, blocks(3000, 5000), 1);
    expect(sb.update(0, blocks(3000, 4000, 3000, 5000), 2)).toBe(0);
    expect(ranges(sb)).toEqual([[3000, 5000]]);
  });

  it('ignores blocks beyond SND.MAX and empty/inverted blocks', () => {
    const sb = new SackScoreboard();
    sb.setSndMax(10_000);
    expect(sb.update(0, blocks(9000, 11_000), 1)).toBe(0);
    expect(sb.update(0, blocks(5000, 5000, 6000, 5000), 2)).toBe(0);
    expect(sb.update(0, blocks(9000, 10_000), 1)).toBe(1000);
  });

  it('merges overlapping and adjacent blocks, bridging ranges', () => {
    const sb = new SackScoreboard();
    sb.update(0, blocks(3000, 4000, 5000, 7000, 9000, 9500), 3);
    expect(sb.update(0, blocks(3500, 5500), 1)).toBe(1000);
    expect(ranges(sb)).toEqual([[3000, 7000], [9000, 9500]]);
    expect(sb.update(0, blocks(7000, 8000), 1)).toBe(1000); // adjacent
    expect(ranges(sb)).toEqual([[3000, 8000], [9000, 9500]]);
    expect(sb.update(0, blocks(1000, 9600), 1)).toBe(8600 - 5500); // swallows everything
    expect(ranges(sb)).toEqual([[1000, 9600]]);
    expect(sb.sackedBytes).toBe(8600);
  });

  it('drops non-merging blocks when full', () => {
    const sb = new SackScoreboard(2);
    sb.update(0, blocks(1000, 2000, 3000, 4000), 2);
    expect(sb.update(0, blocks(5000, 6000), 1)).toBe(0);
    expect(sb.update(0, blocks(4000, 4500), 1)).toBe(500); // merges: accepted
    expect(ranges(sb)).toEqual([[1000, 2000], [3000, 4500]]);
    sb.clear();
    expect(sb.rangeCount).toBe(0);
    expect(sb.sackedBytes).toBe(0);
  });

  it('IsLost counts small discontiguous SACKed segments', () => {
    const sb = new SackScoreboard();
    sb.update(0, blocks(1000, 1100, 1200, 1300), 2);
    expect(sb.isLost(500, MSS)).toBe(false);
    sb.update(0, blocks(1400, 1500), 1);
    expect(sb.isLost(500, MSS)).toBe(true); // three discontiguous SACKed sequences
    const one = new SackScoreboard();
    one.update(0, blocks(1000, 1300), 1);
    expect(one.isLost(500, MSS)).toBe(false); // one range, 300 bytes: not enough evidence
    one.update(0, blocks(1000, 3001), 1);
    expect(one.isLost(500, MSS)).toBe(true); // > 2*SMSS bytes
  });

  it('works across the 2^32 wrap', () => {
    const sb = new SackScoreboard();
    const una = -3000; // 0xfffff448
    sb.setSndMax(7000);
    expect(sb.update(una, blocks(-2000, -1000, 0, 2000), 2)).toBe(3000);
    expect(ranges(sb)).toEqual([[-2000, -1000], [0, 2000]]);
    expect(sb.highSacked).toBe(2000);
    expect(sb.isLost(-3000, MSS)).toBe(true);
    expect(sb.isLost(-1000, MSS)).toBe(false);
    expect(sb.nextUnsacked(-2000, 7000)).toBe(-1000);
    // holes: [-3000,-2000) lost; [-1000,0) not lost (2 segs above); [2000,7000) in flight
    expect(sb.pipe(una, 7000, una, MSS)).toBe(1000 + 5000);
    sb.ackTo(1000);
    expect(ranges(sb)).toEqual([[1000, 2000]]);
    expect(sb.sackedBytes).toBe(1000);
  });
});

import { describe, expect, it } from 'vitest';
import { OooQueue, type OooQueueOps } from './ooo-queue.ts';

/** Fake held-data table: each handle remembers the byte range it still covers. */
class FakeHeld implements OooQueueOps {
  readonly start = new Map<number, number>();
  readonly end = new Map<number, number>();
  readonly released: number[] = [];
  readonly log: string[] = [];
  private nextHandle = 1;

  hold(seq: number, len: number): number {
    const h = this.nextHandle++;
    this.start.set(h, seq | 0);
    this.end.set(h, (seq + len) | 0);
    return h;
  }
  trimFront(handle: number, n: number): void {
    this.log.push(`trimFront ${handle} ${n}`);
    this.start.set(handle, (this.start.get(handle)! + n) | 0);
  }
  trimBack(handle: number, n: number): void {
    this.log.push(`trimBack ${handle} ${n}`);
    this.end.set(handle, (this.end.get(handle)! - n) | 0);
  }
  release(handle: number): void {
    this.log.push(`release ${handle}`);
    expect(this.released).not.toContain(handle);
    this.released.push(handle);
  }
}

function entries(q: OooQueue): Array<[number, number]> {
  const r: Array<[number, number]> = [];
  for (let i = 0; i < q.count; i++) r.push([q.seqAt(i), q.lenAt(i)]);
  return r;
}

/** The queue's idea of each handle's range must match the fake's. */
function checkConsistent(q: OooQueue, held: FakeHeld): void {
  let sum = 0;
  for (let i = 0; i < q.count; i++) {
    const h = q.handleAt(i);
    expect(held.released).not.toContain(h);
    expect(held.start.get(h)).toBe(q.seqAt(i));
    expect(held.end.get(h)).toBe((q.seqAt(i) + q.lenAt(i)) | 0);
    if (i > 0) expect(((q.seqAt(i) - (q.seqAt(i - 1) + q.lenAt(i - 1))) | 0) >= 0).toBe(true);
    sum += q.lenAt(i);
  }
  expect(q.bytes).toBe(sum);
}

function setup(maxEntries = 16, maxBytes = 1 << 20) {
  const held = new FakeHeld();
  const q = new OooQueue(maxEntries, maxBytes, held);
  const put = (seq: number, len: number): boolean => {
    const h = held.hold(seq, len);
    const ok = q.insert(seq, len, h);
    checkConsistent(q, held);
    return ok;
  };
  return { held, q, put };
}

describe('OooQueue insert', () => {
  it('keeps disjoint segments sorted', () => {
    const { q, put } = setup();
    expect(put(300, 100)).toBe(true);
    expect(put(100, 100)).toBe(true);
    expect(put(500, 50)).toBe(true);
    expect(entries(q)).toEqual([[100, 100], [300, 100], [500, 50]]);
    expect(q.count).toBe(3);
    expect(q.bytes).toBe(250);
  });

  it('trims the front of a new segment against its predecessor (old bytes kept)', () => {
    const { q, held, put } = setup();
    put(100, 100);
    expect(put(150, 100)).toBe(true);
    expect(entries(q)).toEqual([[100, 100], [200, 50]]);
    expect(held.log).toEqual(['trimFront 2 50']);
  });

  it('trims the back of a new segment against its successor', () => {
    const { q, held, put } = setup();
    put(200, 100);
    expect(put(150, 100)).toBe(true);
    expect(entries(q)).toEqual([[150, 50], [200, 100]]);
    expect(held.log).toEqual(['trimBack 2 50']);
  });

  it('trims both ends to fill a gap exactly', () => {
    const { q, held, put } = setup();
    put(100, 100);
    put(300, 100);
    expect(put(150, 200)).toBe(true);
    expect(entries(q)).toEqual([[100, 100], [200, 100], [300, 100]]);
    expect(held.log).toEqual(['trimFront 3 50', 'trimBack 3 50']);
  });

  it('rejects entirely duplicate segments without calling any op', () => {
    const { q, held, put } = setup();
    put(100, 100);
    put(200, 100);
    expect(put(100, 100)).toBe(false);
    expect(put(120, 30)).toBe(false);
    expect(put(150, 100)).toBe(false); // covered by two adjacent stored segments
    expect(put(200, 0)).toBe(false);
    expect(held.log).toEqual([]);
    expect(entries(q)).toEqual([[100, 100], [200, 100]]);
  });

  it('replaces stored segments a new segment fully contains', () => {
    const { q, held, put } = setup();
    put(120, 10); // h1
    put(140, 10); // h2
    put(200, 50); // h3
    expect(put(100, 100)).toBe(true); // h4 contains h1, h2; ends where h3 starts
    expect(entries(q)).toEqual([[100, 100], [200, 50]]);
    expect(held.released).toEqual([1, 2]);
    expect(q.bytes).toBe(150);
  });

  it('mixes front trim, replacement and back trim', () => {
    const { q, held, put } = setup();
    put(100, 100); // h1 [100,200)
    put(220, 4); // h2 [220,224)
    put(300, 100); // h3 [300,400)
    expect(put(150, 200)).toBe(true); // h4 [150,350) -> [200,300), replaces h2
    expect(entries(q)).toEqual([[100, 100], [200, 100], [300, 100]]);
    expect(held.log).toEqual(['trimFront 4 50', 'trimBack 4 50', 'release 2']);
  });

  it('enforces maxEntries and maxBytes, leaving ownership with the caller', () => {
    const { q, held, put } = setup(2, 250);
    expect(put(100, 100)).toBe(true);
    expect(put(300, 100)).toBe(true);
    expect(put(500, 10)).toBe(false); // third entry
    expect(held.log).toEqual([]);
    // Replacing a contained entry keeps the count, so it is allowed when full (bytes 100 + 120).
    expect(put(290, 120)).toBe(true);
    expect(held.released).toEqual([2]);
    expect(entries(q)).toEqual([[100, 100], [290, 120]]);
    expect(q.count).toBe(2);
  });

  it('counts bytes after trimming and replacement against maxBytes', () => {
    const { q, held, put } = setup(4, 250);
    expect(put(100, 100)).toBe(true);
    expect(put(300, 100)).toBe(true);
    expect(put(290, 60 + 100)).toBe(false); // [290,450): replaces 100 bytes, adds 160 -> 260 > 250
    expect(put(290, 140)).toBe(true); // [290,430): 100 + 140 = 240
    expect(held.released).toEqual([2]);
    expect(q.bytes).toBe(240);
    expect(put(200, 80)).toBe(false); // 320 > 250
    expect(put(200, 10)).toBe(true);
    expect(q.count).toBe(3);
  });

  it('works across the 2^32 wrap', () => {
    const { q, put } = setup();
    const base = 0xffffff00 | 0;
    put((base + 0x80) | 0, 0x100); // straddles 0
    put(base, 0x40);
    expect(put((base + 0x20) | 0, 0x80)).toBe(true); // -> [base+0x40, base+0x80)
    expect(entries(q)).toEqual([
      [base, 0x40],
      [(base + 0x40) | 0, 0x40],
      [(base + 0x80) | 0, 0x100],
    ]);
  });
});

describe('OooQueue takeInOrder', () => {
  it('delivers contiguous segments starting at rcvNxt and stops at a gap', () => {
    const { q, held, put } = setup();
    put(100, 100);
    put(200, 50);
    put(400, 10);
    const got: Array<[number, number, number]> = [];
    const next = q.takeInOrder(100, (h, s, l) => got.push([h, s, l]));
    expect(next).toBe(250);
    expect(got).toEqual([[1, 100, 100], [2, 200, 50]]);
    expect(entries(q)).toEqual([[400, 10]]);
    expect(q.bytes).toBe(10);
    checkConsistent(q, held);
  });

  it('delivers nothing when the first segment is beyond rcvNxt', () => {
    const { q, put } = setup();
    put(100, 100);
    let calls = 0;
    expect(q.takeInOrder(50, () => calls++)).toBe(50);
    expect(calls).toBe(0);
    expect(q.count).toBe(1);
  });

  it('trims segments straddling rcvNxt and releases stale ones', () => {
    const { q, held, put } = setup();
    put(100, 50); // h1, entirely old
    put(150, 100); // h2, straddles 180
    put(250, 10); // h3
    const got: Array<[number, number, number]> = [];
    expect(q.takeInOrder(180, (h, s, l) => got.push([h, s, l]))).toBe(260);
    expect(held.log).toEqual(['release 1', 'trimFront 2 30']);
    expect(got).toEqual([[2, 180, 70], [3, 250, 10]]);
    expect(held.start.get(2)).toBe(180);
    expect(q.count).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('wraps rcvNxt past 2^32', () => {
    const { q, put } = setup();
    put(-10, 10);
    put(0, 10);
    expect(q.takeInOrder(-10, () => {})).toBe(10);
  });

  it('lets deliver re-enter the queue', () => {
    const { q, held, put } = setup();
    put(100, 10);
    put(120, 10);
    let next = q.takeInOrder(100, () => {
      if (q.count === 1) put(110, 10);
    });
    // The re-entrant insert at 110 happens after 100 was popped, and is then delivered too.
    expect(next).toBe(130);
    expect(q.count).toBe(0);
    next = q.takeInOrder(next, () => {});
    expect(next).toBe(130);
    checkConsistent(q, held);
  });
});

describe('OooQueue sackBlocks', () => {
  it('merges contiguous segments and reports the block of the latest arrival first', () => {
    const { q, put } = setup();
    put(100, 100);
    put(200, 100); // contiguous with the first
    put(400, 100);
    put(600, 50);
    const out = new Int32Array(8);
    q.noteArrival(400);
    expect(q.sackBlocks(out, 4)).toBe(3);
    expect(Array.from(out.subarray(0, 6))).toEqual([400, 500, 100, 300, 600, 650]);
    q.noteArrival(200);
    expect(q.sackBlocks(out, 4)).toBe(3);
    expect(Array.from(out.subarray(0, 6))).toEqual([100, 300, 400, 500, 600, 650]);
    q.noteArrival(620);
    expect(q.sackBlocks(out, 2)).toBe(2);
    expect(Array.from(out.subarray(0, 4))).toEqual([600, 650, 100, 300]);
  });

  it('repeats the most recently reported blocks before blocks never reported (RFC 2018 §4)', () => {
    // Four runs and room for three blocks: a middle run reported once must be repeated, or a
    // sender that lost that one ACK retransmits it and later takes its SACK for reordering.
    const { q, put } = setup();
    const out = new Int32Array(8);
    const arrive = (seq: number): number[] => { put(seq, 10); q.noteArrival(seq); return Array.from(out.subarray(0, 2 * q.sackBlocks(out, 3))); };
    arrive(100);
    arrive(300);
    arrive(500);
    expect(arrive(700)).toEqual([700, 710, 500, 510, 300, 310]);
    expect(arrive(710)).toEqual([700, 720, 500, 510, 300, 310]);
    expect(arrive(110)).toEqual([100, 120, 700, 720, 500, 510]);
    // 300 was reported in three ACKs in a row; now it gives way to newer blocks.
    expect(arrive(720)).toEqual([700, 730, 100, 120, 500, 510]);
  });

  it('drops blocks delivered in order from the recency list', () => {
    const { q, put } = setup();
    const out = new Int32Array(8);
    put(100, 10); q.noteArrival(100);
    put(300, 10); q.noteArrival(300);
    q.takeInOrder(100, () => {});
    expect(Array.from(out.subarray(0, 2 * q.sackBlocks(out, 4)))).toEqual([300, 310]);
  });

  it('falls back to ascending order with no arrival noted', () => {
    const { q, put } = setup();
    put(100, 10);
    put(200, 10);
    const out = new Int32Array(8);
    expect(q.sackBlocks(out, 4)).toBe(2);
    expect(Array.from(out.subarray(0, 4))).toEqual([100, 110, 200, 210]);
    expect(q.sackBlocks(out, 0)).toBe(0);
  });

  it('returns 0 when empty', () => {
    const { q } = setup();
    expect(q.sackBlocks(new Int32Array(8), 4)).toBe(0);
  });

  it('merges across the wrap', () => {
    const { q, put } = setup();
    put(-20, 20);
    put(0, 20);
    q.noteArrival(5);
    const out = new Int32Array(2);
    expect(q.sackBlocks(out, 1)).toBe(1);
    expect(Array.from(out)).toEqual([-20, 20]);
  });
});

describe('OooQueue clear', () => {
  it('releases everything', () => {
    const { q, held, put } = setup();
    put(100, 10);
    put(200, 10);
    q.clear();
    expect(held.released.sort()).toEqual([1, 2]);
    expect(q.count).toBe(0);
    expect(q.bytes).toBe(0);
  });

  it('rejects a zero-capacity queue', () => {
    const ops: OooQueueOps = { trimFront() {}, trimBack() {}, release() {} };
    expect(() => new OooQueue(0, 10, ops)).toThrow(RangeError);
  });
});

describe('OooQueue growth (a hole with thousands of segments behind it)', () => {
  it('keeps 5000 segments in order, grows only as needed, and delivers them all once the hole fills', () => {
    const held = new FakeHeld();
    const q = new OooQueue(8192, 64 << 20, held);
    const mss = 1448;
    // Segment 0 is lost; 1..5000 arrive, every other one first, then the rest (inserts in the middle).
    for (let i = 1; i <= 5000; i += 2) expect(q.insert(i * mss, mss, held.hold(i * mss, mss))).toBe(true);
    for (let i = 2; i <= 5000; i += 2) expect(q.insert(i * mss, mss, held.hold(i * mss, mss))).toBe(true);
    expect(q.count).toBe(5000);
    expect(q.bytes).toBe(5000 * mss);
    checkConsistent(q, held);
    const out = new Int32Array(8);
    expect((q.noteArrival(2 * mss), q.sackBlocks(out, 4))).toBe(1);
    expect([out[0], out[1]]).toEqual([mss, 5001 * mss]);
    const delivered: number[] = [];
    const next = q.takeInOrder(mss, (_h, seq, len) => { delivered.push(seq); expect(len).toBe(mss); });
    expect(next).toBe(5001 * mss);
    expect(delivered).toEqual(Array.from({ length: 5000 }, (_, i) => (i + 1) * mss));
    expect(q.count).toBe(0);
    expect(q.bytes).toBe(0);
    // Used again after draining: entries start over at the front.
    expect(q.insert(6000 * mss, mss, held.hold(6000 * mss, mss))).toBe(true);
    expect(entries(q)).toEqual([[6000 * mss, mss]]);
  });

  it('refuses the entry beyond maxEntries (the caller releases it)', () => {
    const held = new FakeHeld();
    const q = new OooQueue(40, 1 << 20, held);
    for (let i = 0; i < 40; i++) expect(q.insert(2 * i * 100, 100, held.hold(2 * i * 100, 100))).toBe(true);
    expect(q.insert(10_000, 100, held.hold(10_000, 100))).toBe(false);
    expect(q.count).toBe(40);
    checkConsistent(q, held);
  });
});

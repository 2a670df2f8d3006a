import { describe, expect, it } from 'vitest';
import { WskUsageError } from '../errors.ts';
import { DescriptorRing } from './descriptor-ring.ts';

describe('DescriptorRing', () => {
  it('requires a power-of-two capacity', () => {
    for (const capacity of [0, 1, 3, 100]) {
      expect(() => new DescriptorRing({ capacity })).toThrow(WskUsageError);
    }
    expect(new DescriptorRing({ capacity: 8 }).capacity).toBe(8);
  });

  it('is FIFO, reports full and empty', () => {
    const r = new DescriptorRing({ capacity: 4 });
    expect(r.isEmpty).toBe(true);
    expect(r.pop()).toBe(-1);
    for (const s of [10, 11, 12, 13]) expect(r.push(s)).toBe(true);
    expect(r.isFull).toBe(true);
    expect(r.push(14)).toBe(false);
    expect(r.size).toBe(4);
    expect([r.pop(), r.pop(), r.pop(), r.pop()]).toEqual([10, 11, 12, 13]);
    expect(r.pop()).toBe(-1);
    expect(r.popBatch(new Int32Array(4))).toBe(0);
  });

  it('wraps around many times and keeps order', () => {
    const r = new DescriptorRing({ capacity: 8 });
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 1000; round++) {
      const n = (round % 7) + 1;
      for (let i = 0; i < n; i++) expect(r.push(next++)).toBe(true);
      for (let i = 0; i < n; i++) expect(r.pop()).toBe(expected++);
    }
    expect(r.isEmpty).toBe(true);
  });

  it('keeps working when the head/tail counters wrap past 2^31', () => {
    const r = new DescriptorRing({ capacity: 4 });
    // Move both counters just below the 32-bit wrap, through the control block.
    const ctl = new Int32Array(r.buffer, 0, 2);
    ctl[0] = 0x7ffffffe;
    ctl[1] = 0x7ffffffe;
    for (let i = 0; i < 20; i++) {
      expect(r.push(i)).toBe(true);
      expect(r.push(i + 100)).toBe(true);
      expect(r.size).toBe(2);
      expect(r.pop()).toBe(i);
      expect(r.pop()).toBe(i + 100);
    }
  });

  it('pushBatch/popBatch move runs across the wrap point, partially when full', () => {
    const r = new DescriptorRing({ capacity: 8 });
    const out = new Int32Array(8);
    // Offset the indices so the next batch straddles the end of the entries array.
    expect(r.pushBatch(Int32Array.of(1, 2, 3, 4, 5))).toBe(5);
    expect(r.popBatch(out, 0, 5)).toBe(5);
    const src = Int32Array.from({ length: 10 }, (_, i) => 100 + i);
    expect(r.pushBatch(src)).toBe(8); // only 8 fit: the producer drops 2
    expect(r.pushBatch(src, 8)).toBe(0);
    expect(r.popBatch(out, 0, 3)).toBe(3);
    expect(Array.from(out.subarray(0, 3))).toEqual([100, 101, 102]);
    expect(r.pushBatch(src, 8, 2)).toBe(2);
    expect(r.popBatch(out)).toBe(7);
    expect(Array.from(out.subarray(0, 7))).toEqual([103, 104, 105, 106, 107, 108, 109]);
    expect(r.popBatch(out)).toBe(0);
  });

  it('attaches to a shared buffer from the other side', () => {
    const producer = new DescriptorRing({ capacity: 16, shared: true });
    expect(producer.buffer).toBeInstanceOf(SharedArrayBuffer);
    const consumer = DescriptorRing.attach(producer.buffer);
    expect(consumer.capacity).toBe(16);
    producer.pushBatch(Int32Array.of(7, 8, 9));
    const out = new Int32Array(4);
    expect(consumer.popBatch(out)).toBe(3);
    expect(Array.from(out.subarray(0, 3))).toEqual([7, 8, 9]);
    expect(producer.isEmpty).toBe(true);
  });
});

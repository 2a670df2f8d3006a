import { describe, expect, it } from 'vitest';
import { WskUsageError } from '../errors.ts';
import { HeldDataTable } from './held-data.ts';
import { SlotArena } from './slot-arena.ts';

function fillFrame(a: SlotArena, slot: number, len: number, seed: number): void {
  const v = a.view(slot);
  const off = a.headroom;
  for (let i = 0; i < len; i++) v[off + i] = (seed + i * 7) & 0xff;
  a.setFrame(slot, off, len);
}

function expected(len: number, seed: number): number[] {
  return Array.from({ length: len }, (_, i) => (seed + i * 7) & 0xff);
}

describe('HeldDataTable', () => {
  it('holds a slot range without copying and releases it', () => {
    const a = new SlotArena({ slotCount: 4, slotSize: 2048, headroom: 128 });
    const t = new HeldDataTable(a, { capacity: 8 });
    const s = a.alloc();
    fillFrame(a, s, 300, 1);
    const h = t.hold(s, 128 + 40, 200); // e.g. TCP payload after 40 B of headers
    expect(a.refcounts[s]).toBe(2);
    a.release(s); // the RX path lets go; the queue keeps the payload alive
    expect(a.inUse).toBe(1);
    const b = t.bytes(h);
    expect(b.buffer).toBe(a.buffer); // a view, not a copy
    expect(Array.from(b)).toEqual(expected(300, 1).slice(40, 240));
    expect(t.slotOf(h)).toBe(s);
    expect(t.advance(h, 50)).toBe(150);
    const dst = new Uint8Array(10);
    expect(t.read(h, dst)).toBe(10);
    expect(Array.from(dst)).toEqual(expected(300, 1).slice(90, 100));
    t.release(h);
    a.assertNoLeaks();
    t.assertNoLeaks();
  });

  it('copy-out keeps the bytes intact, frees the slot and is counted', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 4096, headroom: 64 });
    const t = new HeldDataTable(a, { capacity: 4 });
    const s = a.alloc();
    fillFrame(a, s, 1000, 9);
    const h = t.holdFrame(s);
    a.release(s);
    expect(t.copyOut(h)).toBe(1000);
    expect(a.inUse).toBe(0); // slot back on the free list
    a.view(s).fill(0); // the slot is reused: the copy must not change
    expect(t.isCopied(h)).toBe(true);
    expect(t.slotOf(h)).toBe(-1);
    expect(t.bytes(h).buffer).not.toBe(a.buffer);
    expect(Array.from(t.bytes(h))).toEqual(expected(1000, 9));
    expect(t.copyOut(h)).toBe(0); // idempotent
    expect(t.copyOuts).toBe(1);
    expect(t.bytesCopied).toBe(1000);
    t.advance(h, 999);
    expect(Array.from(t.bytes(h))).toEqual(expected(1000, 9).slice(999));
    t.release(h);
    t.assertNoLeaks();
    a.assertNoLeaks();
  });

  it('relievePressure copies out oldest-first until the arena is above the low-water mark', () => {
    const a = new SlotArena({ slotCount: 8, slotSize: 512, headroom: 0 });
    const t = new HeldDataTable(a, { capacity: 16, lowWaterSlots: 2 });
    const handles: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = a.alloc();
      fillFrame(a, s, 100 + i, i);
      handles.push(t.holdFrame(s));
      a.release(s);
    }
    expect(a.freeCount).toBe(2);
    expect(t.underPressure).toBe(true);
    expect(t.relievePressure()).toBe(1);
    expect(a.freeCount).toBe(3);
    expect(t.isCopied(handles[0]!)).toBe(true); // oldest went first
    expect(t.isCopied(handles[1]!)).toBe(false);
    expect(t.relievePressure()).toBe(0); // above the mark: nothing to do
    for (let i = 0; i < 6; i++) expect(Array.from(t.bytes(handles[i]!))).toEqual(expected(100 + i, i));
    for (const h of handles) t.release(h);
    a.assertNoLeaks();
    t.assertNoLeaks();
  });

  it('a copy-out of a shared slot only frees it with the last holder', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 512, headroom: 0 });
    const t = new HeldDataTable(a, { capacity: 4, lowWaterSlots: 1 });
    const s = a.alloc();
    fillFrame(a, s, 200, 3);
    const h1 = t.hold(s, 0, 100);
    const h2 = t.hold(s, 100, 100);
    a.release(s);
    expect(a.freeCount).toBe(1);
    expect(t.relievePressure()).toBe(2);
    expect(a.freeCount).toBe(2);
    expect(Array.from(t.bytes(h1))).toEqual(expected(200, 3).slice(0, 100));
    expect(Array.from(t.bytes(h2))).toEqual(expected(200, 3).slice(100));
    expect(t.bytesCopied).toBe(200);
    t.release(h1);
    t.release(h2);
    a.assertNoLeaks();
  });

  it('full table refuses, double release and leaks throw typed errors', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 512, headroom: 0 });
    const t = new HeldDataTable(a, { capacity: 1 });
    const s = a.alloc();
    const h = t.hold(s, 0, 10);
    expect(t.hold(s, 0, 10)).toBe(-1);
    expect(t.refused).toBe(1);
    expect(a.refcounts[s]).toBe(2);
    let err: unknown;
    try {
      t.assertNoLeaks();
    } catch (e) {
      err = e;
    }
    expect((err as WskUsageError).code).toBe('HELD_LEAK');
    t.release(h);
    try {
      t.release(h);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WskUsageError);
    expect((err as WskUsageError).code).toBe('HELD_NOT_HELD');
    expect(() => t.hold(s, 500, 100)).toThrow(WskUsageError);
    a.release(s);
    expect(() => t.hold(s, 0, 10)).toThrow(WskUsageError); // slot not held by the caller
    a.assertNoLeaks();
  });
});

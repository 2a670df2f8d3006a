import { describe, expect, it } from 'vitest';
import { WskUsageError } from '../errors.ts';
import { DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE, SlotArena } from './slot-arena.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WskUsageError);
    return (e as WskUsageError).code;
  }
  return undefined;
}

describe('SlotArena', () => {
  it('defaults fit a 64 KiB frame plus headroom', () => {
    expect(DEFAULT_SLOT_SIZE).toBeGreaterThanOrEqual(65536 + DEFAULT_HEADROOM);
    expect(DEFAULT_SLOT_SIZE % 64).toBe(0);
    const a = new SlotArena({ slotCount: 2 });
    expect(a.slotSize).toBe(DEFAULT_SLOT_SIZE);
    expect(a.buffer.byteLength).toBe(2 * DEFAULT_SLOT_SIZE);
    expect(a.view(1).byteOffset).toBe(DEFAULT_SLOT_SIZE);
  });

  it('can be backed by a SharedArrayBuffer', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 2048, headroom: 128, shared: true });
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.view(0).buffer).toBe(a.buffer);
  });

  it('alloc/retain/release track refcounts, counters and the high-water mark', () => {
    const a = new SlotArena({ slotCount: 4, slotSize: 2048, headroom: 128 });
    const s0 = a.alloc();
    const s1 = a.alloc();
    expect([s0, s1]).toEqual([0, 1]);
    expect(a.refcounts[s0]).toBe(1);
    expect(a.offsetOf(s0)).toBe(128);
    expect(a.lengthOf(s0)).toBe(0);
    a.retain(s0);
    expect(a.release(s0)).toBe(1);
    expect(a.inUse).toBe(2);
    expect(a.release(s0)).toBe(0);
    expect(a.inUse).toBe(1);
    expect(a.freeCount).toBe(3);
    // LIFO free list: the slot just released comes back first (still warm in cache).
    expect(a.alloc()).toBe(s0);
    expect(a.highWater).toBe(2);
    a.release(s0);
    a.release(s1);
    expect(a.allocs).toBe(3);
    expect(a.releases).toBe(3);
    expect(a.inUse).toBe(0);
    a.assertNoLeaks();
  });

  it('views are cached per slot, cover the slot, and do not overlap', () => {
    const a = new SlotArena({ slotCount: 3, slotSize: 1000, headroom: 64 });
    expect(a.slotSize).toBe(1024); // rounded to 64
    expect(a.view(2)).toBe(a.view(2));
    expect(a.dataView(2)).toBe(a.dataView(2));
    expect(a.view(2).byteLength).toBe(1024);
    a.view(1).fill(0xaa);
    expect(a.view(0)[1023]).toBe(0);
    expect(a.view(2)[0]).toBe(0);
    a.dataView(1).setUint16(0, 0x0800);
    expect(a.view(1)[0]).toBe(0x08);
  });

  it('frame window: setFrame, prepend into headroom, consume', () => {
    const a = new SlotArena({ slotCount: 1, slotSize: 2048, headroom: 128 });
    const s = a.alloc();
    a.setFrame(s, 128, 100);
    expect(a.prepend(s, 20)).toBe(108);
    expect(a.lengthOf(s)).toBe(120);
    expect(a.consume(s, 34)).toBe(142);
    expect(a.lengthOf(s)).toBe(86);
    expect(codeOf(() => a.prepend(s, 200))).toBe('SLOT_HEADROOM');
    expect(codeOf(() => a.setFrame(s, 2000, 100))).toBe('SLOT_FRAME');
    a.release(s);
  });

  it('exhaustion returns -1 and is counted', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 256, headroom: 0 });
    expect(a.alloc()).toBe(0);
    expect(a.alloc()).toBe(1);
    expect(a.alloc()).toBe(-1);
    expect(a.alloc()).toBe(-1);
    expect(a.exhaustions).toBe(2);
    expect(a.allocs).toBe(2);
    a.release(0);
    expect(a.alloc()).toBe(0);
    a.release(0);
    a.release(1);
    a.assertNoLeaks();
  });

  it('double release, retain of a free slot and bad indices throw typed errors', () => {
    const a = new SlotArena({ slotCount: 2, slotSize: 256, headroom: 0 });
    const s = a.alloc();
    a.release(s);
    expect(codeOf(() => a.release(s))).toBe('SLOT_NOT_HELD');
    expect(codeOf(() => a.retain(s))).toBe('SLOT_NOT_HELD');
    expect(codeOf(() => a.release(-1))).toBe('SLOT_INDEX');
    expect(codeOf(() => a.release(2))).toBe('SLOT_INDEX');
    expect(codeOf(() => a.release(0.5))).toBe('SLOT_INDEX');
    // The failed release did not corrupt the free list.
    expect(a.freeCount).toBe(2);
    expect(a.releases).toBe(1);
  });

  it('assertNoLeaks lists the slots still held', () => {
    const a = new SlotArena({ slotCount: 4, slotSize: 256, headroom: 0 });
    a.alloc();
    const s1 = a.alloc();
    a.retain(s1);
    let err: unknown;
    try {
      a.assertNoLeaks();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WskUsageError);
    expect((err as WskUsageError).code).toBe('SLOT_LEAK');
    expect((err as Error).message).toContain('0(refcount 1)');
    expect((err as Error).message).toContain('1(refcount 2)');
  });

  it('device slots of their own size come first: each view starts at base(), slotAt() finds the slot of a byte, alloc() serves only the pool', () => {
    const a = new SlotArena({ slotCount: 6, slotSize: 4096, headroom: 128, deviceSlots: 4, deviceSlotSize: 1024 });
    expect(a.buffer.byteLength).toBe(4 * 1024 + 2 * 4096);
    expect(a.poolBase).toBe(4096);
    expect([0, 3, 4, 5].map((s) => a.base(s))).toEqual([0, 3072, 4096, 8192]);
    expect([0, 3, 4, 5].map((s) => a.view(s).byteLength)).toEqual([1024, 1024, 4096, 4096]);
    expect([0, 3, 4, 5].map((s) => a.view(s).byteOffset)).toEqual([0, 3072, 4096, 8192]);
    expect([0, 1023, 1024, 4095, 4096, 8191, 8192].map((b) => a.slotAt(b))).toEqual([0, 0, 1, 3, 4, 4, 5]);
    expect([a.alloc(), a.alloc(), a.alloc()]).toEqual([4, 5, -1]);
    expect(codeOf(() => a.setFrame(0, 1000, 100))).toBe('SLOT_FRAME');
    a.setFrame(4, 1000, 100);
    a.release(4);
    a.release(5);
    a.assertNoLeaks();
    expect(codeOf(() => new SlotArena({ slotCount: 2, slotSize: 4096, deviceSlots: 1, deviceSlotSize: 100 }))).toBe('ARENA_OPTIONS');
  });

  it('device slots in blocks (a kernel ring of frames that do not fill their block): base(), views and slotAt() skip each block tail', () => {
    // Blocks of 4096 bytes holding 2 slots of 1600: 896 bytes at each block's end belong to no slot.
    const a = new SlotArena({ slotCount: 5, slotSize: 4096, headroom: 128, deviceSlots: 4, deviceSlotSize: 1600, deviceSlotsPerBlock: 2, deviceBlockSize: 4096 });
    expect(a.poolBase).toBe(8192);
    expect(a.buffer.byteLength).toBe(8192 + 4096);
    expect([0, 1, 2, 3, 4].map((s) => a.base(s))).toEqual([0, 1600, 4096, 5696, 8192]);
    expect([0, 1, 2, 3, 4].map((s) => a.view(s).byteLength)).toEqual([1600, 1600, 1600, 1600, 4096]);
    expect([0, 1599, 1600, 3199, 3200, 4096, 5696, 7295, 7296, 8192].map((b) => a.slotAt(b))).toEqual([0, 0, 1, 1, -1, 2, 3, 3, -1, 4]);
    expect(codeOf(() => new SlotArena({ slotCount: 5, slotSize: 4096, deviceSlots: 4, deviceSlotSize: 1600, deviceSlotsPerBlock: 3, deviceBlockSize: 4096 }))).toBe('ARENA_OPTIONS');
  });

  it('rejects bad options', () => {
    expect(codeOf(() => new SlotArena({ slotCount: 0 }))).toBe('ARENA_OPTIONS');
    expect(codeOf(() => new SlotArena({ slotCount: 1, slotSize: 256, headroom: 256 }))).toBe('ARENA_OPTIONS');
  });
});

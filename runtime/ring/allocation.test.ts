// Steady state allocates nothing per packet (docs/architecture.md §5): 1,000,000 cycles of
// alloc -> write -> push -> pop -> release must not grow the JS heap.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DescriptorRing } from './descriptor-ring.ts';
import { SlotArena } from './slot-arena.ts';
import { measureAllocation } from '../../test/helpers/allocation.ts';

const CYCLES = 1_000_000;

function cycles(a: SlotArena, r: DescriptorRing, n: number): number {
  let drops = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const s = a.alloc();
    if (s < 0) {
      drops++;
      continue;
    }
    const off = a.headroom;
    const v = a.view(s);
    v[off] = i & 0xff;
    a.dataView(s).setUint32(off + 4, i);
    a.setFrame(s, off, 64);
    if (!r.push(s)) {
      drops++;
      a.release(s);
      continue;
    }
    const got = r.pop();
    sum = (sum + a.view(got)[a.offsetOf(got)]! + a.dataView(got).getUint32(a.offsetOf(got) + 4)) | 0;
    a.release(got);
  }
  return drops + (sum & 0); // keep `sum` live
}

/** Runs body(CYCLES) after a warm-up; heapUsed growth and GC events seen during it. */
async function measure(body: (n: number) => unknown): Promise<{ perCycle: number; gcs: number; before: number; after: number; ns: number }> {
  const m = await measureAllocation(CYCLES, body);
  return { ...m, perCycle: m.perIteration };
}

describe('allocation', () => {
  it('the measurement notices a loop that allocates one small view per cycle', async () => {
    const a = new SlotArena({ slotCount: 4, slotSize: 2048, headroom: 128 });
    let x = 0;
    const m = await measure((n) => {
      for (let i = 0; i < n; i++) {
        const s = a.alloc();
        x += a.view(s).subarray(128, 192)[0]!;
        a.release(s);
      }
    });
    console.log(`control (subarray per cycle): ${m.perCycle.toFixed(2)} B/cycle by heapUsed, ${m.gcs} GC event(s)`);
    expect(x).toBe(0);
    // heapUsed alone can even go down when a scavenge runs; the GC events give it away.
    expect(m.gcs > 0 || m.perCycle >= 1).toBe(true);
  });

  it('1,000,000 alloc→write→push→pop→release cycles allocate < 1 byte per cycle', async () => {
    const a = new SlotArena({ slotCount: 64, slotSize: 2048, headroom: 128 });
    const r = new DescriptorRing({ capacity: 64 });
    let drops = 0;
    const m = await measure((n) => {
      drops += cycles(a, r, n);
    });
    const stats = v8.getHeapStatistics() as v8.HeapInfo & { total_allocated_bytes?: number };
    console.log(
      `ring allocation: ${m.perCycle.toFixed(4)} B/cycle (heapUsed ${m.before} -> ${m.after}, ` +
        `${m.gcs} GC event(s) during the loop, ${m.ns.toFixed(1)} ns/cycle, total_allocated_bytes ` +
        `${stats.total_allocated_bytes === undefined ? 'not available in this Node' : stats.total_allocated_bytes})`,
    );
    expect(drops).toBe(0);
    // Without a GC in between, heapUsed growth is what the loop allocated; a GC during the loop
    // would itself mean the young generation filled up (megabytes allocated).
    expect(m.gcs).toBe(0);
    expect(m.perCycle).toBeLessThan(1);
    a.assertNoLeaks();
    expect(a.allocs).toBe(CYCLES * 2); // warm-up 1M + measured 1M
  });
});

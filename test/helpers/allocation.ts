// Allocation measurement for hot-path proofs (design.md §3: steady state allocates nothing per
// packet): heapUsed growth over a loop, plus the GC events seen during it (a young-generation GC
// during the loop means megabytes were allocated, whatever heapUsed says afterwards).
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** True for a young-generation collection (a scavenge): what allocation in a loop causes. */
export function isScavenge(e: PerformanceEntry): boolean {
  return (e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR;
}

/**
 * Empties the young generation, so that the few bytes a measured loop allocates once cannot be
 * the ones that fill it (which would count as a GC the loop did not cause).
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export interface AllocationMeasurement {
  /** heapUsed growth per iteration, in bytes. */
  perIteration: number;
  /** Young-generation (scavenge) collections during the measured loop. */
  gcs: number;
  before: number;
  after: number;
  /** Wall time per iteration, in nanoseconds. */
  ns: number;
}

/** Warms `body` up (JIT), then runs body(iterations) once under measurement. */
export async function measureAllocation(iterations: number, body: (n: number) => unknown, warmup = 200_000): Promise<AllocationMeasurement> {
  for (let k = 0; k < 5; k++) body(warmup);
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    // Young-generation collections only: a scavenge during the loop means it allocated. A major
    // collection can be the end of incremental marking that the warm-up's allocations started.
    for (const e of list.getEntries()) if (isScavenge(e)) gcs++;
  });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((res) => setImmediate(res));
  collectGarbage();
  await new Promise((res) => setTimeout(res, 20));
  gcs = 0;
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  body(iterations);
  const ms = performance.now() - t0;
  const after = process.memoryUsage().heapUsed;
  // GC entries are delivered asynchronously: give the observer a turn before reading.
  await new Promise((res) => setTimeout(res, 20));
  obs.disconnect();
  return { perIteration: (after - before) / iterations, gcs, before, after, ns: (ms * 1e6) / iterations };
}

// Allocation measurement for hot-path proofs (design.md §3: steady state allocates nothing per
// packet): heapUsed growth over a loop, plus the GC events seen during it (a young-generation GC
// during the loop means megabytes were allocated, whatever heapUsed says afterwards).
import { PerformanceObserver } from 'node:perf_hooks';

export interface AllocationMeasurement {
  /** heapUsed growth per iteration, in bytes. */
  perIteration: number;
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
    gcs += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((res) => setImmediate(res));
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

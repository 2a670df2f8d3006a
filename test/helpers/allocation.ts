// Allocation measurement for hot-path proofs (docs/architecture.md §5: steady state allocates nothing per
// packet): heapUsed growth over a loop, plus the GC events seen during it (a young-generation GC
// during the loop means megabytes were allocated, whatever heapUsed says afterwards).
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { GCProfiler, getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
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

export interface WindowAllocation {
  /** Bytes allocated on the JS heap, compiled code aside, during the window: growth plus what every collection in it freed. */
  bytes: number;
  /** Young-generation collections during the window. */
  scavenges: number;
  /** Every collection during the window, by V8's name (Scavenge, MarkSweepCompact, ...). */
  collections: string[];
}

/** Used bytes of the heap's spaces other than compiled code (code_space, code_large_object_space). */
function dataUsed(spaces: readonly { name: string; used: number }[]): number {
  let used = 0;
  for (const s of spaces) if (!s.name.startsWith('code_')) used += s.used;
  return used;
}

const spacesNow = (): { name: string; used: number }[] => getHeapSpaceStatistics().map((s) => ({ name: s.space_name, used: s.space_used_size }));

/**
 * What the process allocates on the JS heap while `body` runs (asynchronous: the event loop and
 * whatever else the process does run meanwhile), whatever collections happen. Growth alone is
 * only right when nothing is collected, and V8 starts full collections on heuristics of its own
 * (a scavenge count misses them): the longer the window, as on a busy machine, the likelier one
 * frees the window's own garbage and hides it (seen: 256 KB less heap after a 500,000-frame flood
 * with no scavenge). Each collection's before/after sizes (v8.GCProfiler) put the freed bytes
 * back. Compiled code is left out: V8 keeps optimising on its own schedule (20-220 KB of code
 * space per window even after 1.5 million warm-up frames), which is not what the code under
 * test allocates.
 */
export async function measureWindow(body: () => Promise<void>): Promise<WindowAllocation> {
  collectGarbage();
  await new Promise((res) => setTimeout(res, 20));
  const profiler = new GCProfiler();
  profiler.start();
  const before = dataUsed(spacesNow());
  await body();
  const after = dataUsed(spacesNow());
  const { statistics } = profiler.stop();
  let freed = 0;
  let scavenges = 0;
  for (const s of statistics) {
    const sizes = (h: typeof s.beforeGC) => h.heapSpaceStatistics.map((x) => ({ name: x.spaceName, used: x.spaceUsedSize }));
    freed += dataUsed(sizes(s.beforeGC)) - dataUsed(sizes(s.afterGC));
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkSweep') scavenges++;
  }
  return { bytes: after - before + freed, scavenges, collections: statistics.map((s) => s.gcType) };
}

/**
 * Bytes of one empty object: what Node allocates on every turn of its event loop (its check
 * phase's Environment::RunAndClearNativeImmediates, src/env.cc, makes one for a callback scope
 * whether or not anything is queued). A window's allocation grows by this per turn, whatever
 * the code under test does.
 */
export function emptyObjectBytes(): number {
  const n = 16_384;
  const keep: object[] = new Array<object>(n).fill(Object.prototype);
  const fill = (): void => { for (let i = 0; i < n; i++) keep[i] = new Object(); };
  fill(); // the first run also allocates the loop's feedback and code
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  fill();
  return (process.memoryUsage().heapUsed - before) / n;
}

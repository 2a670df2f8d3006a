// The TCP segment path over IPv6 allocates no more than over IPv4 (docs/architecture.md §5:
// steady state allocates nothing per packet): the same bulk transfer on the memory link, in
// virtual time, one connection per family in turn, measured per segment sent. What both share
// is the baseline, about 215 B per segment today (a sampling heap profile names it: the view
// Tcb.copySendData takes of the application's buffer for each segment, about 98 B; the view the
// receiver reads each chunk through, about 96 B; the memory link's forwarding, about 16 B); the
// path object, the per-family lookups, the IPv6 address ids and the IPv6 layer's input and
// output must add nothing to it.
import { describe, expect, it } from 'vitest';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { bulkTransfer } from './helpers/net-pair.ts';
import { measureWindow } from './helpers/allocation.ts';

/** A connection of `family` between two stacks; `body(n)` moves n segments' worth of bytes A → B. */
function transfer(family: NetworkFamily): { body: (segments: number) => void; segments: () => number; close: () => void } {
  const t = bulkTransfer(family);
  return { body: (segments) => t.move(segments * t.client.mss), segments: () => t.pair.a.tcp!.counters.segmentsOut, close: () => t.close() };
}

describe('TCP over IPv6 allocation', () => {
  it('a bulk transfer allocates no more per segment over IPv6 than over IPv4 (steady state, 200,000 segments each; every collection counted back)', async () => {
    const perSegment: number[] = [];
    for (const family of [NetworkFamily.IPV4, NetworkFamily.IPV6]) {
      const t = transfer(family);
      for (let k = 0; k < 4; k++) t.body(50_000); // warm-up: JIT, window growth, arrays at their size
      const n0 = t.segments();
      const m = await measureWindow(async () => { t.body(200_000); });
      const segments = t.segments() - n0;
      perSegment.push(m.bytes / segments);
      console.log(`TCP over ${family === NetworkFamily.IPV4 ? 'IPv4' : 'IPv6'}: ${(m.bytes / segments).toFixed(2)} B/segment sent `
        + `(${segments} segments, ${m.scavenges} scavenge(s))`);
      t.close();
    }
    expect(perSegment[1]!).toBeLessThan(perSegment[0]! + 1);
  }, 300_000);
});

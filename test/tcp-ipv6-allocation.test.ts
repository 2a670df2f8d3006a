// The TCP segment path over IPv6 allocates no more than over IPv4 (docs/architecture.md §5:
// steady state allocates nothing per packet): the same bulk transfer on the memory link, in
// virtual time, one connection per family in turn, measured per segment sent. What both share
// is the baseline, about 215 B per segment today (a sampling heap profile names it: the view
// Tcb.copySendData takes of the application's buffer for each segment, about 98 B; the view the
// receiver reads each chunk through, about 96 B; the memory link's forwarding, about 16 B); the
// path object, the per-family lookups, the IPv6 address ids and the IPv6 layer's input and
// output must add nothing to it.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../runtime/net/clock.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../runtime/net/ipv6/address-table.ts';
import type { Tcb, TcpEvents } from '../runtime/net/tcp/tcb.ts';
import { B, A6_IP, B6_IP, simulatedIpv6, stackPair } from './helpers/net-pair.ts';
import { measureWindow } from './helpers/allocation.ts';

const CHUNK = 64 * 1024;

/** A connection of `family` between two stacks; `body(n)` moves n segments' worth of bytes A → B. */
function transfer(family: NetworkFamily): { body: (segments: number) => void; segments: () => number; close: () => void } {
  const clock = new VirtualClock();
  const pair = stackPair({ clock, slotCount: 8192 }, { tcp: { receiveBuffer: 4 << 20 } }, undefined, {}, simulatedIpv6(A6_IP), simulatedIpv6(B6_IP));
  const a = pair.a.tcp!;
  const b = pair.b.tcp!;
  let received = 0;
  const sink: TcpEvents = {
    onEstablished() {},
    onReadable(t) {
      // Zero copy, as the WSK layer reads: views over ring slots, given back once counted.
      for (let c = b.takeChunk(t); c; c = b.takeChunk(t)) {
        received += c.byteLength;
        if (b.takenHandle >= 0) b.releaseData(b.takenHandle);
      }
      b.windowUpdate(t);
    },
    onFin() {}, onClosed() {},
  };
  const quiet: TcpEvents = { onEstablished() {}, onReadable() {}, onFin() {}, onClosed() {} };
  b.listen(0, 80, 4, { onConnection: (t) => { t.events = sink; } }, { family });
  let to = B;
  if (family === NetworkFamily.IPV6) to = pair.a.ip.ip6!.table.intern(parseIpv6(B6_IP)!, 0);
  const client = a.connect(0, to, 80, quiet, 64, 0, family) as Tcb;
  clock.runFor(1000, () => client.state === 4);
  a.setNoDelay(client, true);
  const data = new Uint8Array(CHUNK).fill(3);
  const pieces = [data];
  return {
    body: (segments) => {
      const want = received + segments * client.mss;
      let posted = received;
      while (received < want) {
        while (posted < want && posted - received < 8 * CHUNK) { a.send(client, pieces, false, null); posted += CHUNK; }
        clock.runFor(10, () => received >= posted);
      }
    },
    segments: () => a.counters.segmentsOut,
    close: () => { a.closeAll(); b.closeAll(); clock.runFor(1); pair.close(); },
  };
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

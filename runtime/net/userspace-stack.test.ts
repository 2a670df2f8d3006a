// The composition root: a stack is built from plain data, and what the data says is what the
// peer sees (TCP or not, a seeded connection replayed exactly, a refused config touching nothing).
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './clock.ts';
import { MemoryNetwork } from '../../transports/memory/memory-network.ts';
import { createUserspaceStack, type UserspaceStackConfig } from './userspace-stack.ts';
import { A, B, stackPair } from '../../test/helpers/net-pair.ts';
import { WskUsageError } from '../errors.ts';
import { STATUS_SUCCESS } from '../ntstatus.ts';
import type { Tcb, TcpEvents } from './tcp/tcb.ts';

const QUIET: TcpEvents = { onEstablished() {}, onReadable() {}, onFin() {}, onClosed() {} };

/** What B's listener saw of the connection A opened: A's port and initial sequence number. */
function firstConnectionSeenByB(seedA: number | undefined): { port: number; irs: number } {
  const clock = new VirtualClock();
  const pair = stackPair({ clock }, {}, undefined, {}, seedA === undefined ? {} : { seed: seedA });
  let accepted: Tcb | null = null;
  pair.b.tcp!.listen(0, 80, 4, { onConnection: (t) => { accepted = t; t.events = QUIET; } });
  expect(typeof pair.a.tcp!.connect(0, B, 80, QUIET)).not.toBe('number');
  clock.runFor(100, () => accepted !== null);
  const seen = accepted as Tcb | null;
  expect(seen).not.toBeNull();
  const r = { port: seen!.remotePort, irs: seen!.irs };
  pair.close();
  clock.runFor(1);
  pair.network.arena.assertNoLeaks();
  return r;
}

describe('createUserspaceStack (the composition root)', () => {
  it('builds the same working stack from a structured clone of its config (what a worker thread would receive)', () => {
    const config: UserspaceStackConfig = {
      address: '198.18.0.1/24', secondary: ['198.18.0.3'], mtu: 1400, gratuitousArp: false,
      arp: { reachableMs: 10_000 }, reassembly: { maxDatagrams: 8 }, tcp: { congestionControl: 'newreno', receiveBuffer: 128 * 1024 }, seed: 7,
    };
    const clone = structuredClone(config);
    expect(clone).toEqual(config);
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const a = createUserspaceStack(net.createLink(), clone);
    const b = createUserspaceStack(net.createLink(), { address: '198.18.0.2/24' });
    expect(a.ip.iface.mtu).toBe(1400);
    expect(a.ip.ip4.isLocalAddress(0xc6120003 | 0)).toBe(true);
    const replies: number[] = [];
    b.ip.icmp.onEchoReply = (src, _id, seq) => { if (src === A) replies.push(seq); };
    expect(b.ip.icmp.ping(A, 1, 1)).toBe(STATUS_SUCCESS);
    clock.runFor(10, () => replies.length > 0);
    expect(replies).toEqual([1]);
    let established = false;
    b.tcp!.listen(0, 80, 4, { onConnection: (t) => { t.events = QUIET; } });
    a.tcp!.connect(0, B, 80, { ...QUIET, onEstablished() { established = true; } });
    clock.runFor(100, () => established);
    expect(established).toBe(true);
    expect(a.tcp!.options.congestionControl).toBe('newreno');
    a.close();
    b.close();
    clock.runFor(1);
    net.arena.assertNoLeaks();
  });

  it('tcp: false builds the network layer alone: a SYN to it is answered with ICMP protocol unreachable, not a reset', () => {
    const clock = new VirtualClock();
    const pair = stackPair({ clock }, {}, undefined, {}, {}, { tcp: false });
    expect(pair.b.tcp).toBeNull();
    let status = STATUS_SUCCESS;
    pair.a.tcp!.connect(0, B, 80, { ...QUIET, onClosed(_t, s) { status = s; } });
    clock.runFor(100);
    expect(pair.b.ip.counters.ipUnknownProtocol).toBe(1);
    expect(pair.a.ip.counters.icmpErrorsIn).toBe(1);
    expect(status).toBe(STATUS_SUCCESS); // RFC 1122 §4.2.3.9: a soft error, the SYN is retried
    pair.close();
    clock.runFor(1);
    pair.network.arena.assertNoLeaks();
  });

  it('the same seed gives the same connection on the wire (port and ISN); no seed gives a fresh one', () => {
    const first = firstConnectionSeenByB(42);
    expect(firstConnectionSeenByB(42)).toEqual(first);
    expect(firstConnectionSeenByB(43)).not.toEqual(first);
    expect(firstConnectionSeenByB(undefined)).not.toEqual(first);
  });

  it('a refused config throws its typed error before anything is attached or sent; the link still takes a good config', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const link = net.createLink();
    const refused: [UserspaceStackConfig, string][] = [
      [{ address: '198.18.0.1/24', tcp: { congestionControl: 'no-such-cc' } }, 'TCP_CONGESTION'],
      [{ address: '198.18.0.300/24' }, 'NET_CONFIG'],
    ];
    for (const [bad, code] of refused) {
      let err: unknown = null;
      try { createUserspaceStack(link, bad); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(WskUsageError);
      expect((err as WskUsageError).code).toBe(code);
    }
    clock.runFor(10);
    expect(link.stats.txFrames).toBe(0);
    const stack = createUserspaceStack(link, { address: '198.18.0.1/24' });
    clock.runFor(10);
    expect(link.stats.txFrames).toBe(1); // the gratuitous ARP
    stack.close();
    net.arena.assertNoLeaks();
  });
});

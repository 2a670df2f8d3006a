// Two userspace stacks with IPv6 on one memory link, in virtual time: duplicate address
// detection, neighbour resolution (NS/NA), echo both ways, link-local and global addresses,
// fragmented echo, and what a stack without IPv6 does with IPv6 (nothing).
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.ts';
import { stackPair, type StackPair } from '../../../test/helpers/net-pair.ts';
import { ArpState } from '../arp-cache.ts';
import { STATUS_SUCCESS } from '../../ntstatus.ts';
import { parseIpv6 } from './address-table.ts';
import type { Ipv6Layer } from './ipv6-layer.ts';
import { createUserspaceStack } from '../userspace-stack.ts';

const A6 = 'fd00:198:18::1';
const B6 = 'fd00:198:18::2';

/** Stacks a (A6) and b (B6) with IPv6 defaults (DAD on), TCP off, in virtual time. */
function pair(): { p: StackPair; clock: VirtualClock } {
  const clock = new VirtualClock();
  const p = stackPair({ clock }, { tcp: false }, undefined, {}, { ipv6: { addresses: [`${A6}/64`] } }, { ipv6: { addresses: [`${B6}/64`] } });
  return { p, clock };
}

function id(l: Ipv6Layer, text: string): number {
  return l.table.intern(parseIpv6(text)!, 0);
}

function done(p: StackPair): void {
  p.close();
  p.network.arena.assertNoLeaks();
}

describe('IPv6 layer on a memory link', () => {
  it('RFC 4862 §5.3/§5.4: a link-local address from the MAC and the configured one become usable after DAD', () => {
    const { p, clock } = pair();
    const a6 = p.a.ip.ip6!;
    // Tentative while DAD runs: nothing usable yet.
    expect(a6.addresses).toHaveLength(0);
    clock.runFor(1500);
    expect(a6.addresses.map((x) => a6.table.format(x))).toEqual(['fe80::ff:fe00:1', A6]);
    expect(p.a.ip.counters.ndpDadConflicts).toBe(0);
    // RFC 3810 §6.1: the start report and its one retransmission (Robustness Variable 2) within the Unsolicited Report Interval (1 s).
    expect(p.a.ip.counters.mldReportsSent).toBe(2);
    done(p);
  });

  it('RFC 4861 §7.2 and RFC 4443 §4: a ping resolves the neighbour and is answered, both ways', () => {
    const { p, clock } = pair();
    clock.runFor(1500);
    const a6 = p.a.ip.ip6!;
    const b6 = p.b.ip.ip6!;
    const replies: string[] = [];
    a6.onEchoReply = (src, ident, seq, data) => replies.push(`${a6.table.format(src)} ${ident} ${seq} ${data.length} ${data[99]}`);
    expect(a6.ping6(id(a6, B6), 7, 1, 100)).toBe(STATUS_SUCCESS);
    clock.runFor(10);
    expect(replies).toEqual([`${B6} 7 1 100 99`]);
    expect(a6.neighbours.stateOf(id(a6, B6))).toBe(ArpState.REACHABLE);
    // B learned A from the solicitation (STALE, RFC 4861 §7.2.3) and answered without asking again.
    expect(b6.neighbours.stateOf(id(b6, A6))).not.toBe(ArpState.FREE);
    expect(p.b.ip.counters.icmp6EchoRepliesSent).toBe(1);
    const back: number[] = [];
    b6.onEchoReply = (_src, _id, seq) => back.push(seq);
    b6.ping6(id(b6, A6), 8, 2, 8);
    clock.runFor(10);
    expect(back).toEqual([2]);
    done(p);
  });

  it('link-local to link-local, and a 4000-byte echo in fragments both ways (RFC 8200 §4.5)', () => {
    const { p, clock } = pair();
    clock.runFor(1500);
    const a6 = p.a.ip.ip6!;
    const b6 = p.b.ip.ip6!;
    const bLinkLocal = b6.addresses[0]!;
    const dst = a6.table.intern(b6.table.bytes(bLinkLocal), 0);
    const got: number[] = [];
    const from: string[] = [];
    a6.onEchoReply = (src, _i, seq, data) => { got.push(seq, data.length); from.push(a6.table.format(src)); };
    a6.ping6(dst, 1, 1, 16);
    a6.ping6(id(a6, B6), 1, 2, 4000);
    clock.runFor(10);
    expect(got).toEqual([1, 16, 2, 4000]);
    expect(from).toEqual([b6.table.format(bLinkLocal), B6]);
    expect(p.a.ip.counters.ip6FragmentsOut).toBe(3);
    expect(p.b.ip.counters.ip6Reassembled).toBe(1);
    expect(p.a.ip.counters.ip6Reassembled).toBe(1);
    done(p);
  });

  it('RFC 4862 §5.4.5: a stack started with an address another node has detects the duplicate, counts it and does not use it', () => {
    const { p, clock } = pair();
    clock.runFor(1500);
    const c = createUserspaceStack(p.network.createLink({ name: 'c' }), {
      address: '198.18.0.3/24', tcp: false, ipv6: { addresses: [`${A6}/64`] },
    });
    const conflicts: string[] = [];
    c.ip.ip6!.nd.onAddressConflict = (text) => conflicts.push(text);
    clock.runFor(1500);
    expect(conflicts).toEqual([A6]);
    expect(c.ip.counters.ndpDadConflicts).toBe(1);
    const c6 = c.ip.ip6!;
    expect(c6.addresses.map((x) => c6.table.format(x))).toEqual(['fe80::ff:fe00:3']);
    expect(c6.isLocal(c6.table.find(parseIpv6(A6)!, 0))).toBe(false);
    // A kept its address and still answers.
    expect(p.a.ip.ip6!.addresses).toHaveLength(2);
    c.close();
    done(p);
  });

  it('a stack without IPv6 sends no IPv6 and takes none', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock }, { tcp: false }, undefined, {}, { ipv6: { addresses: [`${A6}/64`] } }, {});
    clock.runFor(1500);
    expect(p.b.ip.ip6).toBeNull();
    const a6 = p.a.ip.ip6!;
    // A's solicitation for B's link-local (B has none) goes unanswered; B counts what it saw.
    a6.ping6(id(a6, 'fe80::ff:fe00:2'), 1, 1, 8);
    clock.runFor(4000);
    expect(p.b.ip.counters.rxNotForUs).toBeGreaterThan(0);
    expect(p.a.ip.counters.ip6In).toBe(0);
    expect(a6.neighbours.stateOf(id(a6, 'fe80::ff:fe00:2'))).toBe(ArpState.FAILED);
    done(p);
  });
});

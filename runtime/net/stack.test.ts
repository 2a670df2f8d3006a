// Two stacks on the memory link: ARP, ping and UDP in virtual and real time.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from './clock.ts';
import { ArpState } from './arp-cache.ts';
import { A, B, stackPair } from '../../test/helpers/net-pair.ts';
import type { UdpReceiver, UdpSocket } from './udp.ts';
import { STATUS_ACCESS_DENIED, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS } from '../ntstatus.ts';
import { parseIpv4 } from './wire/bytes.ts';

interface Got { data: Uint8Array; src: number; port: number; flags: number }

function collector(hold = false): UdpReceiver & { got: Got[]; handles: number[]; icmp: number[] } {
  const got: Got[] = [];
  const handles: number[] = [];
  const icmp: number[] = [];
  return {
    got, handles, icmp,
    onDatagram(s: UdpSocket, bytes, offset, length, src, port, flags) {
      got.push({ data: bytes.slice(offset, offset + length), src, port, flags });
      if (hold) handles.push(s.hold());
    },
    onIcmpError(_s, type, code) { icmp.push(type * 256 + code); },
  };
}

describe('userspace IPv4 stack on the memory link', () => {
  it('resolves ARP (gratuitous on start, request/reply) and answers ping, in virtual time', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock });
    clock.runFor(1);
    // Each stack saw the other's gratuitous ARP but did not cache it (not addressed to it).
    expect(p.a.ip.arp.cache.stateOf(B)).toBe(ArpState.FREE);
    const replies: number[] = [];
    p.a.ip.icmp.onEchoReply = (src, id, seq, data) => { expect(src).toBe(B); expect(id).toBe(7); expect(data.length).toBe(56); replies.push(seq); };
    for (let i = 0; i < 3; i++) expect(p.a.ip.icmp.ping(B, 7, i)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
    expect(replies).toEqual([0, 1, 2]);
    expect(p.a.ip.arp.cache.stateOf(B)).toBe(ArpState.REACHABLE);
    expect(p.b.ip.arp.cache.stateOf(A)).toBe(ArpState.REACHABLE);
    expect(p.a.ip.arp.cache.requestsSent).toBe(1);
    // Reachable ages to stale after 30 s; the next use refreshes with one request.
    clock.runFor(31_000);
    expect(p.a.ip.arp.cache.stateOf(B)).toBe(ArpState.STALE);
    p.a.ip.icmp.ping(B, 7, 3);
    clock.runFor(1);
    expect(replies).toEqual([0, 1, 2, 3]);
    expect(p.a.ip.arp.cache.stateOf(B)).toBe(ArpState.REACHABLE);
    p.close();
    p.network.arena.assertNoLeaks();
  });

  it('gives up ARP after 3 requests, drops the waiting packets, and holds FAILED for 20 s', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock });
    const ghost = parseIpv4('198.18.0.99');
    for (let i = 0; i < 70; i++) p.a.ip.icmp.ping(ghost, 1, i);
    expect(p.a.ip.arp.cache.pendingDrops).toBe(6); // queue of 64 per entry, oldest dropped
    clock.runFor(10_000);
    expect(p.a.ip.arp.cache.requestsSent).toBe(3);
    expect(p.a.ip.arp.cache.stateOf(ghost)).toBe(ArpState.FAILED);
    expect(p.a.ip.arp.cache.pendingDrops).toBe(70);
    p.a.ip.icmp.ping(ghost, 1, 99);
    expect(p.a.ip.arp.cache.pendingDrops).toBe(71);
    clock.runFor(21_000);
    expect(p.a.ip.arp.cache.stateOf(ghost)).toBe(ArpState.FREE);
    p.close();
    p.network.arena.assertNoLeaks();
  });

  it('exchanges UDP both ways with checksums; unbound port gets ICMP port unreachable reported to the sender socket', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock });
    const ra = collector();
    const rb = collector();
    const sa = p.a.ip.udp4.open(0, 0, ra)!;
    const sb = p.b.ip.udp4.open(0, 5000, rb)!;
    expect(sa.localPort).toBeGreaterThanOrEqual(49152);
    const msg = new TextEncoder().encode('hello over the ring');
    expect(p.a.ip.udp4.send(sa, [msg], 1, B, 5000)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
    expect(rb.got).toHaveLength(1);
    expect(rb.got[0]).toMatchObject({ src: A, port: sa.localPort, flags: 0 });
    expect(new TextDecoder().decode(rb.got[0]!.data)).toBe('hello over the ring');
    expect(p.b.ip.udp4.send(sb, [msg.subarray(0, 5), msg.subarray(5)], 2, A, sa.localPort)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
    expect(ra.got.map((g) => new TextDecoder().decode(g.data))).toEqual(['hello over the ring']);
    p.a.ip.udp4.send(sa, [msg], 1, B, 5001);
    clock.runFor(1);
    expect(p.b.ip.counters.udpNoPort).toBe(1);
    expect(p.b.ip.counters.icmpErrorsSent).toBe(1);
    expect(ra.icmp).toEqual([3 * 256 + 3]);
    expect(sa.icmpErrors).toBe(1);
    sa.close(); sb.close();
    p.close();
    p.network.arena.assertNoLeaks();
  });

  it('fragments a 20 000-byte datagram and reassembles it intact; broadcast needs the flag and arrives with MSG_BCAST', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock });
    const rb = collector(true);
    const sa = p.a.ip.udp4.open(0, 0, collector())!;
    p.b.ip.udp4.open(0, 6000, rb);
    const big = new Uint8Array(20_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    expect(p.a.ip.udp4.send(sa, [big], 1, B, 6000)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
    expect(p.a.ip.counters.fragmentsOut).toBe(14);
    expect(p.b.ip.reassembler.reassembled).toBe(1);
    expect(rb.got[0]!.data).toEqual(big);
    const bcast = parseIpv4('198.18.0.255');
    expect(p.a.ip.udp4.send(sa, [big.subarray(0, 10)], 1, bcast, 6000)).toBe(STATUS_ACCESS_DENIED);
    sa.broadcast = true;
    expect(p.a.ip.udp4.send(sa, [big.subarray(0, 10)], 1, bcast, 6000)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
    expect(rb.got[1]).toMatchObject({ src: A, flags: 0x400 });
    expect(p.a.ip.udp4.send(sa, [big.subarray(0, 10)], 1, parseIpv4('198.19.0.1'), 1)).toBe(STATUS_NETWORK_UNREACHABLE);
    for (const h of rb.handles) p.b.ip.held.release(h);
    p.close();
    p.network.arena.assertNoLeaks();
  });

  it('runs in real time too (setImmediate batches)', async () => {
    const p = stackPair();
    const rb = collector();
    const sa = p.a.ip.udp4.open(0, 0, collector())!;
    p.b.ip.udp4.open(0, 7000, rb);
    let pong = false;
    p.a.ip.icmp.onEchoReply = () => { pong = true; };
    p.a.ip.icmp.ping(B, 1, 1);
    p.a.ip.udp4.send(sa, [new Uint8Array([1, 2, 3])], 1, B, 7000);
    const t0 = Date.now();
    while ((!pong || rb.got.length === 0) && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 1));
    expect(pong).toBe(true);
    expect(Array.from(rb.got[0]!.data)).toEqual([1, 2, 3]);
    p.close();
    await new Promise((r) => setImmediate(r));
    p.network.arena.assertNoLeaks();
  });
});

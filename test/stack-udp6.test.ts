// UDP over IPv6 on the userspace stack (runtime/net/udp6.ts), two stacks on a memory link in
// virtual time: datagrams both ways with the source read from the IPv6 header, the mandatory
// checksum (RFC 8200 §8.1), Port Unreachable matched to the sender's socket (RFC 4443 §3.1),
// fragments out and reassembled, dual-stack sockets (IPV6_V6ONLY 0) beside IPv6-only ones in one
// port space; and through WSK, IN6_PKTINFO and IPV6_UNICAST_HOPS on send.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../runtime/net/clock.ts';
import { LinkMiddleware } from '../transports/link.ts';
import { stackPair, A_IP, B_IP, type StackPair } from './helpers/net-pair.ts';
import { parseIpv6, formatIpv6 } from '../runtime/net/ipv6/address-table.ts';
import type { Ipv6Network } from '../runtime/net/ipv6/ipv6-network.ts';
import { openUdpSocket, type UdpReceiver, type UdpSocket } from '../runtime/net/udp.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { Icmpv6Type, Icmpv6UnreachableCode } from '../runtime/net/wire/icmpv6.ts';
import { Ipv6Field } from '../runtime/net/wire/ipv6.ts';
import { parseIpv4 } from '../runtime/net/wire/bytes.ts';
import { STATUS_BUFFER_OVERFLOW, STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS } from '../runtime/ntstatus.ts';
import {
  AF_INET6, IN6_PKTINFO, IPPROTO_IPV6, IPV6_PKTINFO, IPV6_UNICAST_HOPS, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, makeSockaddrIn6,
  type WSK_PROVIDER_BASIC_DISPATCH,
} from '../index.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { openSession } from './helpers/wsk-session.ts';
import { call, until } from './helpers/wsk-call.ts';
import { controlBuffer } from './helpers/control-buffer.ts';
import { bind, buf, close, dgTable, socket } from './contract/fixtures.ts';

const A6 = 'fd00:198:18::1';
const B6 = 'fd00:198:18::2';

/** Zeroes the UDP checksum of the IPv6 datagrams b sends while `on` (a sender that "omits" it, as IPv4 allows and IPv6 does not). */
class ZeroUdp6Checksum extends LinkMiddleware {
  on = false;
  override transmit(slots: Int32Array, count: number): void {
    if (this.on) {
      for (let i = 0; i < count; i++) {
        const v = this.arena.view(slots[i]!);
        const at = this.arena.offsetOf(slots[i]!);
        if (v[at + 12] === 0x86 && v[at + 13] === 0xdd && v[at + 14 + Ipv6Field.NEXT_HEADER] === 17) { v[at + 14 + 40 + 6] = 0; v[at + 14 + 40 + 7] = 0; }
      }
    }
    super.transmit(slots, count);
  }
}

function world(): { p: StackPair; clock: VirtualClock; zero: () => ZeroUdp6Checksum } {
  const clock = new VirtualClock();
  let zero: ZeroUdp6Checksum | null = null;
  const p = stackPair({ clock }, { tcp: false }, (link, which) => (which === 'b' ? (zero = new ZeroUdp6Checksum(link)) : link), {},
    { ipv6: { addresses: [`${A6}/64`], dadTransmits: 0 } }, { ipv6: { addresses: [`${B6}/64`], dadTransmits: 0 } });
  return { p, clock, zero: () => zero! };
}

interface Got { text: string; from: string; port: number; v6: boolean; length: number; data?: Uint8Array }

function receiver(got: Got[], errors: string[] = []): UdpReceiver {
  return {
    onDatagram(s: UdpSocket, bytes, offset, length, srcIp, srcPort) {
      const ip = s.receivedHeader();
      const v6 = (bytes[ip]! >>> 4) === 6;
      const from = v6 ? formatIpv6(bytes, ip + Ipv6Field.SOURCE) : [24, 16, 8, 0].map((b) => (srcIp >>> b) & 0xff).join('.');
      const data = bytes.slice(offset, offset + length);
      got.push({ text: new TextDecoder().decode(data), from, port: srcPort, v6, length, data });
    },
    onIcmpError(_s, type, code, _ip, port, family) { errors.push(`${family === NetworkFamily.IPV6 ? 'v6' : 'v4'} ${type}/${code} port ${port}`); },
  };
}

const id = (ip6: Ipv6Network, text: string): number => ip6.table.intern(parseIpv6(text)!, 0);
const text = (s: string): Uint8Array[] => [new TextEncoder().encode(s)];

function done(p: StackPair): void {
  p.close();
  p.network.arena.assertNoLeaks();
}

describe('UDP over IPv6 on the userspace stack', () => {
  it('RFC 768 over RFC 8200: a datagram each way between two stacks, the source read in place from the IPv6 header', () => {
    const { p, clock } = world();
    const gotA: Got[] = [], gotB: Got[] = [];
    const a = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(gotA))!;
    const b = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 0, receiver(gotB))!;
    expect(p.b.udp6!.send(b, text('hello over v6'), 1, id(p.b.ip.ip6!, A6), 9000)).toBe(STATUS_SUCCESS);
    clock.runFor(10);
    expect(gotA.map(({ text, from, port, v6 }) => ({ text, from, port, v6 }))).toEqual([{ text: 'hello over v6', from: B6, port: b.localPort, v6: true }]);
    expect(p.a.udp6!.send(a, text('and back'), 1, id(p.a.ip.ip6!, B6), b.localPort)).toBe(STATUS_SUCCESS);
    clock.runFor(10);
    expect(gotB.map(({ text, from, port, v6 }) => ({ text, from, port, v6 }))).toEqual([{ text: 'and back', from: A6, port: 9000, v6: true }]);
    expect([p.a.udp6!.counters.in, p.a.udp6!.counters.out]).toEqual([1, 1]);
    a.close(); b.close();
    done(p);
  });

  it('RFC 8200 §8.1: a datagram with checksum 0 (none) is dropped and counted; a corrupted one too', () => {
    const { p, clock, zero } = world();
    const got: Got[] = [];
    const a = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(got))!;
    const b = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 0, receiver([]))!;
    const dst = id(p.b.ip.ip6!, A6);
    p.b.udp6!.send(b, text('resolves the neighbour first'), 1, dst, 9000);
    clock.runFor(10);
    zero().on = true;
    p.b.udp6!.send(b, text('no checksum'), 1, dst, 9000);
    clock.runFor(10);
    expect(got.map((g) => g.text)).toEqual(['resolves the neighbour first']);
    expect(p.a.udp6!.counters.badChecksum).toBe(1);
    a.close(); b.close();
    done(p);
  });

  it('RFC 4443 §3.1: a datagram to a port nobody has draws Port Unreachable, which reaches the sending socket only (RFC 5927 §5.1)', () => {
    const { p, clock } = world();
    const errors: string[] = [];
    const b = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 0, receiver([], errors))!;
    const other = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 0, receiver([], errors))!;
    p.b.udp6!.send(b, text('anyone?'), 1, id(p.b.ip.ip6!, A6), 9999);
    clock.runFor(10);
    expect(p.a.udp6!.counters.noPort).toBe(1);
    expect(errors).toEqual([`v6 ${Icmpv6Type.DEST_UNREACHABLE}/${Icmpv6UnreachableCode.PORT} port 9999`]);
    expect([b.icmpErrors, other.icmpErrors]).toEqual([1, 0]);
    b.close(); other.close();
    done(p);
  });

  it('RFC 8200 §4.5: a 6000-byte datagram leaves in fragments and arrives whole; IPV6_DONTFRAG refuses it instead (STATUS_BUFFER_OVERFLOW)', () => {
    const { p, clock } = world();
    const got: Got[] = [];
    const a = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(got))!;
    const b = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 0, receiver([]))!;
    const big = new Uint8Array(6000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    expect(p.b.udp6!.send(b, [big], 1, id(p.b.ip.ip6!, A6), 9000)).toBe(STATUS_SUCCESS);
    clock.runFor(10);
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]!.data!).equals(Buffer.from(big))).toBe(true);
    expect(p.b.ip.counters.ip6FragmentsOut).toBe(5);
    expect(p.a.ip.counters.ip6Reassembled).toBe(1);
    b.dontFragment6 = true;
    expect(p.b.udp6!.send(b, [big], 1, id(p.b.ip.ip6!, A6), 9000)).toBe(STATUS_BUFFER_OVERFLOW);
    a.close(); b.close();
    done(p);
  });

  it('one port space: a dual-stack socket (IPV6_V6ONLY 0, bound to ::) takes IPv4 and IPv6 datagrams; an IPv6-only one on another port takes no IPv4 (IPv4 there draws ICMP Port Unreachable); an IPv4 wildcard socket on the same port wins IPv4 over the dual-stack one', () => {
    const { p, clock } = world();
    const dual: Got[] = [], only: Got[] = [], v4: Got[] = [];
    const d = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(dual), false)!;
    const o = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9001, receiver(only), true)!;
    const b = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 7000, receiver([]))!;
    const b4 = p.b.ip.udp4.open(0, 7000, receiver([]))!;
    p.b.udp6!.send(b, text('v6 to dual'), 1, id(p.b.ip.ip6!, A6), 9000);
    p.b.ip.udp4.send(b4, text('v4 to dual'), 1, parseIpv4(A_IP), 9000);
    p.b.udp6!.send(b, text('v6 to only'), 1, id(p.b.ip.ip6!, A6), 9001);
    p.b.ip.udp4.send(b4, text('v4 to only'), 1, parseIpv4(A_IP), 9001);
    clock.runFor(10);
    expect(dual.map((g) => `${g.text} from ${g.from}:${g.port}`).sort()).toEqual([`v4 to dual from 198.18.0.2:7000`, `v6 to dual from ${B6}:7000`]);
    expect(only.map((g) => g.text)).toEqual(['v6 to only']);
    expect(b4.icmpErrors).toBe(1);
    const w = p.a.ip.udp4.open(0, 9000, receiver(v4))!;
    p.b.ip.udp4.send(b4, text('v4 again'), 1, parseIpv4(A_IP), 9000);
    clock.runFor(10);
    expect([v4.map((g) => g.text), dual.length]).toEqual([['v4 again'], 2]);
    for (const s of [d, o, b, b4, w]) s.close();
    done(p);
  });

  it('connected UDP over IPv6: the socket connected to a peer gets that peer\'s datagrams, an unconnected one on the same port the rest; closing it gives back the peer\'s address id', () => {
    const { p, clock } = world();
    const connectedGot: Got[] = [], otherGot: Got[] = [];
    const table = p.a.ip.ip6!.table;
    const other = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(otherGot))!;
    const connected = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 9000, receiver(connectedGot))!;
    const b1 = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 7001, receiver([]))!;
    const b2 = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 7002, receiver([]))!;
    // Nobody on A knows B6 yet: connecting interns it, closing gives it back.
    const interned = table.size;
    const once = openUdpSocket(p.a.ip, NetworkFamily.IPV6, 0, 0, receiver([]))!;
    expect(p.a.udp6!.connect(once, parseIpv6(B6)!, 0, 7001)).toBe(true);
    expect(table.size).toBe(interned + 1);
    once.close();
    expect(table.size).toBe(interned);
    expect(p.a.udp6!.connect(connected, parseIpv6(B6)!, 0, 7001)).toBe(true);
    p.b.udp6!.send(b1, text('from 7001'), 1, id(p.b.ip.ip6!, A6), 9000);
    p.b.udp6!.send(b2, text('from 7002'), 1, id(p.b.ip.ip6!, A6), 9000);
    clock.runFor(10);
    expect([connectedGot.map((g) => g.text), otherGot.map((g) => g.text)]).toEqual([['from 7001'], ['from 7002']]);
    for (const s of [connected, other, b1, b2]) s.close();
    done(p);
  });

  it('WSK AF_INET6 datagram socket (IPV6_V6ONLY, the default): IN6_PKTINFO on send picks the source (the link-local address here) and a source that is not ours is STATUS_INVALID_PARAMETER with nothing sent; without IPV6_UNICAST_HOPS the IPv6 layer default hop limit (a router advertisement\'s Cur Hop Limit, 33 here, RFC 4861 §6.3.4), with it its value (9); an IPv4 (v4-mapped) destination is STATUS_NETWORK_UNREACHABLE', async () => {
    const p = stackPair({}, { tcp: false }, undefined, {},
      { ipv6: { addresses: [`${A6}/64`], dadTransmits: 0 } }, { ipv6: { addresses: [`${B6}/64`], dadTransmits: 0 } });
    const w = await openSession(() => createStackProvider(p.a));
    const got: Got[] = [];
    const hops: number[] = [];
    const peer = openUdpSocket(p.b.ip, NetworkFamily.IPV6, 0, 7000, {
      onDatagram(s, bytes, offset, length, src, srcPort, flags) {
        hops.push(bytes[s.receivedHeader() + Ipv6Field.HOP_LIMIT]!);
        receiver(got).onDatagram(s, bytes, offset, length, src, srcPort, flags);
      },
    })!;
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect(await bind(dg, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    const linkLocal = p.a.ip.ip6!.table.format(p.a.ip.ip6!.addresses[0]!);
    p.a.ip.ip6!.defaultHopLimit = 33;
    const pktinfo = (address: string): Uint8Array => {
      const d = new Uint8Array(20);
      new IN6_PKTINFO(d).ipi6_addr = parseIpv6(address)!;
      return controlBuffer([IPPROTO_IPV6, IPV6_PKTINFO, d]);
    };
    const sendTo = (data: string, to: string, control: Uint8Array | null = null) =>
      call((irp) => dgTable(dg).WskSendTo(dg, buf(new TextEncoder().encode(data)), 0, makeSockaddrIn6(to, 7000), control?.byteLength ?? 0, control, irp));
    expect((await sendTo('plain', B6)).status).toBe(STATUS_SUCCESS);
    expect((await sendTo('from link-local', B6, pktinfo(linkLocal))).status).toBe(STATUS_SUCCESS);
    expect((await sendTo('forged', B6, pktinfo('fd00:198:18::77'))).status).toBe(STATUS_INVALID_PARAMETER);
    expect((await sendTo('to v4', `::ffff:${B_IP}`)).status).toBe(STATUS_NETWORK_UNREACHABLE);
    expect((await call((irp) => (dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, IPV6_UNICAST_HOPS, IPPROTO_IPV6, 4, 9, 0, null, null, irp))).status).toBe(STATUS_SUCCESS);
    expect((await sendTo('nine hops', B6)).status).toBe(STATUS_SUCCESS);
    await until(() => got.length === 3, 3000, 'three datagrams');
    expect(got.map((g) => `${g.text} from ${g.from}`)).toEqual([`plain from ${A6}`, `from link-local from ${linkLocal}`, `nine hops from ${A6}`]);
    expect(hops).toEqual([33, 33, 9]);
    peer.close();
    await close(dg);
    await w.close();
    p.close();
    p.network.arena.assertNoLeaks();
  });
});

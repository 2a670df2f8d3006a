// Behaviour of the IPv6 layer frame by frame through a HandLink (as ip-layer.test.ts does for
// IPv4): extension headers and the Parameter Problems RFC 8200 asks for, reassembly (RFC 5722,
// RFC 6946, the timeout), ICMPv6 errors in (Packet Too Big to the transport, path MTU) and out
// (RFC 4443 §2.4), Neighbor Discovery (RFC 4861: validation, defending an address), router
// advertisements (default router, prefixes, SLAAC, MTU). Each test names its RFC clause, checks
// what left on the wire and what transports saw, and ends with the arena leak check.
import { describe, expect, it } from 'vitest';
import { SlotArena } from '../../ring/slot-arena.ts';
import { HandLink } from '../../../test/helpers/hand-link.ts';
import { createUserspaceStack } from '../userspace-stack.ts';
import type { NetworkStack } from '../stack.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { ArpState } from '../arp-cache.ts';
import { emitEthernet, EtherType } from '../wire/ethernet.ts';
import { emitIpv6, Ipv6Field, Ipv6NextHeader } from '../wire/ipv6.ts';
import {
  emitIcmpv6Echo, emitIcmpv6Error, emitNdpLinkAddressOption, emitNdpNeighbor, fillIcmpv6Checksum, Icmpv6Type, MldRecordType, NdpNaFlags, NdpOption,
} from '../wire/icmpv6.ts';
import { get16, get32, set16, set32 } from '../wire/bytes.ts';
import { pseudoHeaderSumV6At } from '../wire/checksum.ts';
import { formatIpv6, parseIpv6 } from './address-table.ts';
import type { Ipv6Options } from './ipv6-layer.ts';
import { CHAIN6, FRAG1_6, FRAG2_6, hex, OPT10_6, RA6, RH0_6 } from '../wire/fixtures.ts';

const MAC_US = 0x020000000001;
const MAC_PEER = 0x020000000002;
const US = 'fd00:198:18::1';
const PEER = 'fd00:198:18::2';
const LL_PEER = 'fe80::ff:fe00:2';
const E = 14;

interface Rig { arena: SlotArena; link: HandLink; stack: NetworkStack; clock: HandLink['clock'] }

/**
 * A stack with IPv6 on a HandLink; what it sent at start is in `startFrames`, not in link.sent:
 * the first `startMs` (2 s: the repeats of its unsolicited advertisements, RFC 4861 §7.2.6,
 * RetransTimer 1 s apart, and of its MLDv2 report, RFC 3810 §6.1, within 1 s).
 */
function rig(v6: Partial<Ipv6Options> = {}, startMs = 2000): Rig & { startFrames: Uint8Array[] } {
  const arena = new SlotArena({ slotCount: 256, slotSize: 2048 });
  const link = new HandLink(arena, MAC_US);
  link.capture = true;
  const userspace = createUserspaceStack(link, {
    address: '198.18.0.1/24', gratuitousArp: false, tcp: false,
    ipv6: { addresses: [`${US}/64`], dadTransmits: 0, acceptRouterAdvertisements: false, ...v6 },
  });
  const stack = userspace.ip;
  // These tests watch what the layer hands a transport: a probe stands in for UDP over IPv6.
  stack.transports.unregister(NetworkFamily.IPV6, 17, userspace.udp6!);
  link.clock.runFor(startMs);
  const startFrames = link.sent.splice(0);
  return { arena, link, stack, clock: link.clock, startFrames };
}

function finish(r: Rig): void {
  r.stack.close();
  r.link.deliver();
  r.arena.assertNoLeaks();
}

function receive(r: Rig, ...frames: Uint8Array[]): void {
  for (const f of frames) expect(r.link.inject(f)).toBe(true);
  r.link.deliver();
  r.clock.runFor(0);
}

function id(r: Rig, text: string): number {
  return r.stack.ip6!.table.intern(parseIpv6(text)!, 0);
}

/** Ethernet + IPv6 from `src` to `dst` + `payload` (an ICMPv6 payload gets its checksum). */
function frame6(nh: number, payload: Uint8Array, o: { src?: string; dst?: string; hopLimit?: number; dstMac?: number } = {}): Uint8Array {
  const f = new Uint8Array(E + 40 + payload.length);
  emitEthernet(f, 0, o.dstMac ?? MAC_US, MAC_PEER, EtherType.IPV6);
  emitIpv6(f, E, payload.length, nh, o.hopLimit ?? 64);
  f.set(parseIpv6(o.src ?? PEER)!, E + Ipv6Field.SOURCE);
  f.set(parseIpv6(o.dst ?? US)!, E + Ipv6Field.DESTINATION);
  f.set(payload, E + 40);
  if (nh === Ipv6NextHeader.ICMPV6) fillIcmpv6Checksum(f, E + 40, payload.length, pseudoHeaderSumV6At(f, E, 58, payload.length));
  return f;
}

/** The ICMPv6 messages the stack sent, as [type, code, second word]. */
function icmpSent(r: Rig): number[][] {
  return r.link.sent.filter((f) => get16(f, 12) === EtherType.IPV6 && f[E + 6] === 58).map((f) => [f[E + 40]!, f[E + 41]!, get32(f, E + 44)]);
}

describe('IPv6 input: extension headers (RFC 8200 §4)', () => {
  it('RFC 6946: an atomic fragment behind hop-by-hop, destination options and routing (segments left 0) reaches the transport alone, at its upper-layer offset', () => {
    const r = rig();
    const got: number[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, { broadcast: false, input: (b, ip, len, _s, _m, at) => got.push(at - ip, len, b[ip + len - 1]!) });
    receive(r, hex(CHAIN6));
    expect(got).toEqual([40 + 32, 40 + 42, 0x69]);
    expect(r.stack.counters.ip6AtomicFragments).toBe(1);
    expect(r.stack.ip6!.reassembler.pending).toBe(0);
    finish(r);
  });

  it('RFC 5095 / §4.4: routing type 0 with segments left is refused with a Parameter Problem (code 0) pointing at the Routing Type', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    receive(r, hex(RH0_6));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.PARAMETER_PROBLEM, 0, 42]]);
    expect(r.stack.counters.ip6BadExtension).toBe(1);
    // The error quotes the packet from its IPv6 header.
    const err = r.link.sent[0]!;
    expect(formatIpv6(err, E + 24)).toBe(PEER);
    expect(err[E + 48]).toBe(0x60);
    finish(r);
  });

  it('§4.2: an unknown option of type 10 is answered even to a multicast destination; of type 11 only to unicast (RFC 4443 §2.4(e.3))', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    const toAllNodes = (type: number): Uint8Array => {
      const f = hex(OPT10_6);
      f[E + 42] = type;
      f.set(parseIpv6('ff02::1')!, E + 24);
      f.set([0x33, 0x33, 0, 0, 0, 1], 0);
      return f;
    };
    receive(r, toAllNodes(0x80));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.PARAMETER_PROBLEM, 2, 42]]);
    receive(r, toAllNodes(0xc0));
    expect(icmpSent(r)).toHaveLength(1);
    const eleven = hex(OPT10_6);
    eleven[E + 42] = 0xc0;
    receive(r, eleven);
    expect(icmpSent(r)).toHaveLength(2);
    expect(r.stack.counters.ip6BadExtension).toBe(3);
    finish(r);
  });

  it('§4: a Next Header no transport takes gets a Parameter Problem code 1 pointing at it; No Next Header (59) is dropped quietly', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    receive(r, frame6(253, new Uint8Array(8)), frame6(Ipv6NextHeader.NO_NEXT_HEADER, new Uint8Array(8)));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.PARAMETER_PROBLEM, 1, 6]]);
    expect(r.stack.counters.ip6UnknownProtocol).toBe(1);
    finish(r);
  });

  it('a packet to another address, a multicast group we did not join, or from a multicast source is counted and dropped', () => {
    const r = rig();
    const got: number[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, { broadcast: true, input: () => got.push(1) });
    receive(r, frame6(17, new Uint8Array(8), { dst: 'fd00:198:18::9' }), frame6(17, new Uint8Array(8), { dst: 'ff02::99', dstMac: 0x333300000099 }),
      frame6(17, new Uint8Array(8), { src: 'ff02::1' }));
    expect(got).toEqual([]);
    expect(r.stack.counters.ip6NotForUs).toBe(2);
    expect(r.stack.counters.ip6MartianSource).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });
});

describe('IPv6 reassembly (RFC 8200 §4.5)', () => {
  it('two fragments become one packet for the transport (slot -1, the fragment header gone)', () => {
    const r = rig();
    const got: string[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, {
      broadcast: false,
      input: (b, ip, len, slot, _m, at) => got.push(`${slot} ${len} ${at - ip} ${b[ip + Ipv6Field.NEXT_HEADER]} ${get16(b, ip + 4)}`),
    });
    receive(r, hex(FRAG2_6));
    expect(got).toEqual([]);
    receive(r, hex(FRAG1_6));
    expect(got).toEqual(['-1 64 40 17 24']);
    expect(r.stack.counters.ip6FragmentsIn).toBe(2);
    expect(r.stack.counters.ip6Reassembled).toBe(1);
    finish(r);
  });

  it('RFC 5722: overlapping fragments drop the whole datagram, silently', () => {
    const r = rig();
    const got: number[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, { broadcast: false, input: () => got.push(1) });
    const overlap = hex(FRAG2_6);
    set16(overlap, E + 40 + 2, 8); // offset 8: overlaps the first fragment's bytes 8..15
    receive(r, hex(FRAG1_6), overlap, hex(FRAG2_6));
    expect(got).toEqual([]);
    expect(r.stack.ip6!.reassembler.overlaps).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('a datagram not complete in 60 s is dropped with a Time Exceeded (code 1) quoting the first fragment', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    receive(r, hex(FRAG1_6));
    r.clock.runFor(59_000);
    expect(icmpSent(r)).toEqual([]);
    r.clock.runFor(1_500);
    expect(icmpSent(r)).toEqual([[Icmpv6Type.TIME_EXCEEDED, 1, 0]]);
    expect(r.stack.ip6!.reassembler.pending).toBe(0);
    expect(r.stack.counters.ip6ReassemblyFailed).toBe(1);
    finish(r);
  });

  it('RFC 7112 §5: a first fragment without the whole header chain (a destination options header cut short, 8 of TCP\'s 20 bytes) is dropped with a Parameter Problem code 3 pointing at 0; a whole chain waits for reassembly', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    /** A first fragment (offset 0, M set, id 7) whose fragmentable part is `rest`, behind a fragment header naming `next`. */
    const first = (next: number, rest: number[]): Uint8Array => Uint8Array.of(next, 0, 0, 1, 0, 0, 0, 7, ...rest);
    // Destination options of 16 bytes (length 1), only 8 of them here.
    receive(r, frame6(Ipv6NextHeader.FRAGMENT, first(Ipv6NextHeader.DESTINATION_OPTIONS, [17, 1, 1, 4, 0, 0, 0, 0])));
    receive(r, frame6(Ipv6NextHeader.FRAGMENT, first(Ipv6NextHeader.TCP, [0, 80, 0, 81, 0, 0, 0, 1])));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.PARAMETER_PROBLEM, 3, 0], [Icmpv6Type.PARAMETER_PROBLEM, 3, 0]]);
    expect(r.stack.ip6!.reassembler.pending).toBe(0);
    // An 8-byte destination options header and UDP's 8 bytes: complete, held for the rest.
    receive(r, frame6(Ipv6NextHeader.FRAGMENT, first(Ipv6NextHeader.DESTINATION_OPTIONS, [17, 0, 1, 4, 0, 0, 0, 0, 0, 80, 0, 81, 0, 20, 0, 0])));
    expect(icmpSent(r)).toHaveLength(2);
    expect(r.stack.ip6!.reassembler.pending).toBe(1);
    expect(r.stack.counters.ip6BadExtension).toBe(2);
    finish(r);
  });

  it('outputFragmented cuts a 3000-byte datagram into fragments of at most the path MTU, offsets in 8-byte units, one identification', () => {
    const r = rig();
    const ip6 = r.stack.ip6!;
    const peer = id(r, PEER);
    ip6.neighbours.learn(peer, 0x0200, 2, true, 0);
    const whole = new Uint8Array(3000).map((_, i) => i);
    ip6.outputFragmented(whole, 3000, ip6.sourceFor(peer), peer, 17, 0, 64);
    r.clock.runFor(0);
    const frags = r.link.sent.map((f) => [f.length - E, get16(f, E + 40 + 2) & 0xfff8, get16(f, E + 40 + 2) & 1, get32(f, E + 44)]);
    expect(frags).toEqual([[1496, 0, 1, frags[0]![3]], [1496, 1448, 1, frags[0]![3]], [40 + 8 + 104, 2896, 0, frags[0]![3]]]);
    expect(r.stack.counters.ip6FragmentsOut).toBe(3);
    finish(r);
  });
});

describe('ICMPv6 (RFC 4443)', () => {
  it('§3.2 / RFC 8201: a Packet Too Big quoting our UDP packet reaches the UDP transport, which lowers the path MTU (never below 1280) and the registry says so', () => {
    const r = rig();
    const ip6 = r.stack.ip6!;
    const seen: string[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, {
      broadcast: false, input: () => {},
      icmpError: (type, code, info, b, q, qhl) => {
        seen.push(`${type} ${code} ${info} ${qhl} ${get16(b, q + qhl + 2)}`);
        ip6.learnPathMtu(ip6.table.find(b, q + Ipv6Field.DESTINATION), info);
        return true;
      },
    });
    // The transport's socket keeps its peer interned (learnPathMtu takes ids).
    const far = id(r, 'fd00:198:99::5');
    const events: number[] = [];
    r.stack.transports.addEvents({ onPathMtu: (family, _a, mtu) => { if (family === NetworkFamily.IPV6) events.push(mtu); } });
    const quoted = new Uint8Array(40 + 8 + 100);
    emitIpv6(quoted, 0, 108, 17, 64);
    quoted.set(parseIpv6(US)!, 8);
    quoted.set(parseIpv6('fd00:198:99::5')!, 24);
    set16(quoted, 42, 5353);
    const ptb = (mtu: number): Uint8Array => {
      const m = new Uint8Array(8 + quoted.length);
      m.set(quoted, 8);
      emitIcmpv6Error(m, 0, Icmpv6Type.PACKET_TOO_BIG, 0, quoted.length, mtu, 0);
      return frame6(58, m, { src: 'fd00:198:18::fe' });
    };
    receive(r, ptb(1400), ptb(600));
    expect(seen).toEqual(['2 0 1400 40 5353', '2 0 600 40 5353']);
    expect(events).toEqual([1400, 1280]);
    expect(ip6.pathMtu(far)).toBe(1280);
    expect(r.stack.counters.icmp6ErrorsIn).toBe(2);
    finish(r);
  });

  it('RFC 8201: a Packet Too Big quoting our echo reply lowers the path MTU, and the next large reply leaves in fragments that fit', () => {
    const r = rig();
    const ip6 = r.stack.ip6!;
    const far = id(r, 'fd00:198:99::5');
    ip6.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    ip6.routers.push({ id: id(r, 'fe80::1'), validUntil: Infinity });
    ip6.neighbours.learn(id(r, 'fe80::1'), 0x0200, 3, true, 0);
    const quoted = new Uint8Array(40 + 8 + 32);
    emitIpv6(quoted, 0, 40, 58, 64);
    quoted.set(parseIpv6(US)!, 8);
    quoted.set(parseIpv6('fd00:198:99::5')!, 24);
    quoted[40] = Icmpv6Type.ECHO_REPLY;
    const m = new Uint8Array(8 + quoted.length);
    m.set(quoted, 8);
    emitIcmpv6Error(m, 0, Icmpv6Type.PACKET_TOO_BIG, 0, quoted.length, 1300, 0);
    receive(r, frame6(58, m, { src: 'fd00:198:18::fe' }));
    expect(ip6.pathMtu(far)).toBe(1300);
    const echo = new Uint8Array(8 + 1400);
    emitIcmpv6Echo(echo, 0, Icmpv6Type.ECHO_REQUEST, 1, 1, 1400, 0);
    r.link.sent.length = 0;
    receive(r, frame6(58, echo, { src: 'fd00:198:99::5' }));
    expect(r.link.sent.map((f) => f.length - E)).toEqual([1296, 40 + 8 + 1408 - 1248]);
    finish(r);
  });

  it('§2.4(e): no error about an ICMPv6 error; §2.4(f): errors are rate-limited', () => {
    const r = rig({ icmpErrorBurst: 3, icmpErrorsPerSecond: 1 });
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    // An error (Destination Unreachable) with an unknown option in front of it: no answer.
    const m = new Uint8Array(8 + 48);
    emitIcmpv6Error(m, 0, Icmpv6Type.DEST_UNREACHABLE, 4, 48, 0, 0);
    const inner = new Uint8Array(8 + m.length);
    inner.set([58, 0, 0x80, 4, 0, 0, 0, 0]);
    inner.set(m, 8);
    receive(r, frame6(Ipv6NextHeader.DESTINATION_OPTIONS, inner));
    expect(icmpSent(r)).toEqual([]);
    for (let i = 0; i < 6; i++) receive(r, frame6(253, new Uint8Array(8)));
    expect(icmpSent(r)).toHaveLength(3);
    expect(r.stack.counters.icmp6RateLimited).toBe(3);
    finish(r);
  });

  it('§4.2: an echo request to all-nodes is answered from our address; one to us echoes every byte', () => {
    const r = rig();
    r.stack.ip6!.neighbours.learn(id(r, LL_PEER), 0x0200, 2, true, 0);
    const echo = new Uint8Array(8 + 32).map((_, i) => i);
    emitIcmpv6Echo(echo, 0, Icmpv6Type.ECHO_REQUEST, 9, 3, 32, 0);
    receive(r, frame6(58, echo, { src: LL_PEER, dst: 'ff02::1', dstMac: 0x333300000001 }));
    const reply = r.link.sent[0]!;
    expect(reply[E + 40]).toBe(Icmpv6Type.ECHO_REPLY);
    expect(formatIpv6(reply, E + 8)).toBe('fe80::ff:fe00:1');
    expect(Array.from(reply.subarray(E + 48))).toEqual(Array.from(echo.subarray(8)));
    finish(r);
  });
});

describe('IPv6 to ourselves', () => {
  it('RFC 4291 §2.5.3: ::1 and our own addresses loop back inside the stack; ::1 from the link is dropped', () => {
    const r = rig();
    const ip6 = r.stack.ip6!;
    const got: string[] = [];
    ip6.onEchoReply = (src, _i, seq) => got.push(`${ip6.table.format(src)} ${seq}`);
    const loop = id(r, '::1');
    expect(ip6.isLocal(loop)).toBe(true);
    expect(ip6.sourceFor(loop)).toBe(loop);
    ip6.ping6(loop, 1, 1, 8);
    ip6.ping6(id(r, US), 1, 2, 8);
    r.clock.runFor(0);
    expect(got).toEqual(['::1 1', `${US} 2`]);
    expect(r.link.sent).toHaveLength(0);
    const echo = new Uint8Array(16);
    emitIcmpv6Echo(echo, 0, Icmpv6Type.ECHO_REQUEST, 1, 1, 8, 0);
    receive(r, frame6(58, echo, { dst: '::1' }));
    expect(r.stack.counters.ip6NotForUs).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });
});

describe('MLDv2 (RFC 3810)', () => {
  it('§6.1/§6.2: the start report (CHANGE_TO_EXCLUDE, sent twice); a General Query from a link-local querier is answered within its Maximum Response Delay, not at once, with MODE_IS_EXCLUDE for our solicited-node group (all-nodes never reported), hop limit 1, router alert', () => {
    const r = rig();
    const start = r.startFrames.filter((f) => f[E + 40 + 8] === Icmpv6Type.MLDV2_REPORT);
    expect(start.map((f) => f[E + 48 + 8])).toEqual([MldRecordType.CHANGE_TO_EXCLUDE, MldRecordType.CHANGE_TO_EXCLUDE]);
    const query = new Uint8Array(28);
    query[0] = Icmpv6Type.MLD_QUERY;
    set16(query, 4, 1000); // Maximum Response Code: 1000 ms
    const hbh = new Uint8Array(8 + 28);
    hbh.set([58, 0, 5, 2, 0, 0, 1, 0]);
    hbh.set(query, 8);
    const f = frame6(Ipv6NextHeader.HOP_BY_HOP, hbh, { src: 'fe80::1', dst: 'ff02::1', hopLimit: 1, dstMac: 0x333300000001 });
    fillIcmpv6Checksum(f, E + 48, 28, pseudoHeaderSumV6At(f, E, 58, 28));
    receive(r, f);
    const reports = () => r.link.sent.filter((x) => x[E + 6] === Ipv6NextHeader.HOP_BY_HOP && x[E + 48] === Icmpv6Type.MLDV2_REPORT);
    expect(reports()).toHaveLength(0);
    r.clock.runFor(1000);
    expect(reports()).toHaveLength(1);
    const rep = reports()[0]!;
    expect(rep[E + 7]).toBe(1);
    expect(formatIpv6(rep, E + 24)).toBe('ff02::16');
    expect(Array.from(rep.subarray(E + 40, E + 44))).toEqual([58, 0, 5, 2]);
    // One group: ff02::1:ff00:1 serves both fe80::ff:fe00:1 and fd00:198:18::1.
    expect(get16(rep, E + 48 + 6)).toBe(1);
    expect(rep[E + 48 + 8]).toBe(MldRecordType.MODE_IS_EXCLUDE);
    expect(formatIpv6(rep, E + 48 + 8 + 4)).toBe('ff02::1:ff00:1');
    finish(r);
  });
});

describe('Neighbor Discovery (RFC 4861) and autoconfiguration (RFC 4862)', () => {
  /** An NS or NA for `target` from `src` (link-layer option with MAC_PEER unless `option` is 0). */
  function neighbor(type: number, target: string, flags: number, o: { src?: string; dst?: string; hopLimit?: number; option?: number; dstMac?: number } = {}): Uint8Array {
    const option = o.option ?? (type === Icmpv6Type.NEIGHBOR_SOLICITATION ? NdpOption.SOURCE_LINK_ADDRESS : NdpOption.TARGET_LINK_ADDRESS);
    const m = new Uint8Array(option ? 32 : 24);
    emitNdpNeighbor(m, 0, type, flags);
    m.set(parseIpv6(target)!, 8);
    if (option) emitNdpLinkAddressOption(m, 24, option, 0x0200, 2);
    return frame6(58, m, { src: o.src ?? LL_PEER, dst: o.dst ?? 'fe80::ff:fe00:1', hopLimit: o.hopLimit ?? 255, dstMac: o.dstMac });
  }

  it('§7.2.3: a solicitation for our address is answered (Solicited, Override, our MAC) and its sender is learned STALE, DELAY once the answer used it', () => {
    const r = rig();
    receive(r, neighbor(Icmpv6Type.NEIGHBOR_SOLICITATION, US, 0, { dst: 'ff02::1:ff00:1', dstMac: 0x3333ff000001 }));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.NEIGHBOR_ADVERTISEMENT, 0, (NdpNaFlags.SOLICITED | NdpNaFlags.OVERRIDE) << 24]]);
    const na = r.link.sent[0]!;
    expect(formatIpv6(na, E + 48)).toBe(US);
    expect(formatIpv6(na, E + 24)).toBe(LL_PEER);
    expect(Array.from(na.subarray(E + 64 + 2, E + 64 + 8))).toEqual([2, 0, 0, 0, 0, 1]);
    // §7.3.3: learned STALE from the solicitation, then DELAY because the advertisement was sent through it.
    expect(r.stack.ip6!.neighbours.stateOf(id(r, LL_PEER))).toBe(ArpState.DELAY);
    finish(r);
  });

  it('§7.2.6: each usable address is advertised to all nodes (Override) MAX_NEIGHBOR_ADVERTISEMENT times, RetransTimer (1 s) apart, then no more', () => {
    const r = rig({}, 0);
    const unsolicited = (frames: Uint8Array[]) => frames.filter((f) => f[E + 6] === 58 && f[E + 40] === Icmpv6Type.NEIGHBOR_ADVERTISEMENT)
      .map((f) => `${formatIpv6(f, E + 48)} > ${formatIpv6(f, E + 24)} ${f[E + 44]! & NdpNaFlags.OVERRIDE ? 'O' : ''}`);
    const each = ['fe80::ff:fe00:1 > ff02::1 O', `${US} > ff02::1 O`];
    expect(unsolicited(r.startFrames)).toEqual(each);
    r.clock.runFor(999);
    expect(unsolicited(r.link.sent)).toEqual([]);
    r.clock.runFor(1);
    expect(unsolicited(r.link.sent.splice(0))).toEqual(each);
    r.clock.runFor(1000);
    expect(unsolicited(r.link.sent.splice(0))).toEqual(each);
    r.clock.runFor(30_000);
    expect(unsolicited(r.link.sent)).toEqual([]);
    finish(r);
  });

  it('§8: a Redirect from the current first hop moves an off-link destination to a better router (its MAC from the target link-layer option) or on-link; one from another router, or naming a global target, changes nothing', () => {
    const r = rig({ gateway: 'fe80::1' });
    const ip6 = r.stack.ip6!;
    ip6.neighbours.learn(id(r, 'fe80::1'), 0x0200, 1, true, 0);
    const macOfPing = (dst: string): string => {
      ip6.ping6(id(r, dst), 1, 1, 8);
      r.clock.runFor(0);
      const f = r.link.sent.splice(0).find((x) => x[E + 6] === 58 && x[E + 40] === Icmpv6Type.ECHO_REQUEST)!;
      return Array.from(f.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
    };
    /** A Redirect from `src` sending `destination` to `target`, with a target link-layer option of MAC 02:00:00:00:00:`mac`. */
    const redirect = (src: string, target: string, destination: string, mac: number): Uint8Array => {
      const m = new Uint8Array(48);
      m[0] = Icmpv6Type.REDIRECT;
      m.set(parseIpv6(target)!, 8);
      m.set(parseIpv6(destination)!, 24);
      emitNdpLinkAddressOption(m, 40, NdpOption.TARGET_LINK_ADDRESS, 0x0200, mac);
      return frame6(58, m, { src, hopLimit: 255 });
    };
    expect(macOfPing('2001:db8::5')).toBe('02:00:00:00:00:01');
    receive(r, redirect('fe80::7', 'fe80::9', '2001:db8::5', 9));
    receive(r, redirect('fe80::1', 'fd00:198:18::9', '2001:db8::5', 9));
    expect(macOfPing('2001:db8::5')).toBe('02:00:00:00:00:01');
    expect(r.stack.counters.ndpRedirects).toBe(0);
    receive(r, redirect('fe80::1', 'fe80::9', '2001:db8::5', 9));
    expect(ip6.nextHop(id(r, '2001:db8::5'))).toBe(id(r, 'fe80::9'));
    expect(macOfPing('2001:db8::5')).toBe('02:00:00:00:00:09');
    // On-link: the target is the destination itself.
    receive(r, redirect('fe80::1', '2001:db8::6', '2001:db8::6', 6));
    expect(macOfPing('2001:db8::6')).toBe('02:00:00:00:00:06');
    expect(r.stack.counters.ndpRedirects).toBe(2);
    // Other destinations still go to the default router.
    expect(macOfPing('2001:db8::7')).toBe('02:00:00:00:00:01');
    finish(r);
  });

  it('§7.1.1: a solicitation with a hop limit below 255 (from off-link) or from :: with a link-layer option is malformed and ignored', () => {
    const r = rig();
    receive(r, neighbor(Icmpv6Type.NEIGHBOR_SOLICITATION, US, 0, { hopLimit: 254 }),
      neighbor(Icmpv6Type.NEIGHBOR_SOLICITATION, US, 0, { src: '::', dst: 'ff02::1:ff00:1', dstMac: 0x3333ff000001 }));
    expect(r.link.sent).toHaveLength(0);
    expect(r.stack.counters.icmp6Malformed).toBe(2);
    finish(r);
  });

  it('RFC 4862 §5.4.3: a DAD probe (from ::) for an address we have is defended with an advertisement to all nodes, Solicited clear', () => {
    const r = rig();
    receive(r, neighbor(Icmpv6Type.NEIGHBOR_SOLICITATION, US, 0, { src: '::', dst: 'ff02::1:ff00:1', dstMac: 0x3333ff000001, option: 0 }));
    expect(icmpSent(r)).toEqual([[Icmpv6Type.NEIGHBOR_ADVERTISEMENT, 0, NdpNaFlags.OVERRIDE << 24]]);
    expect(formatIpv6(r.link.sent[0]!, E + 24)).toBe('ff02::1');
    finish(r);
  });

  it('RFC 4862 §5.4: while DAD runs, the address takes nothing but NDP; an advertisement for it is a conflict', () => {
    // Watched from the start, while the first probe's RetransTimer runs.
    const r = rig({ dadTransmits: 1 }, 0);
    const got: number[] = [];
    r.stack.transports.register(NetworkFamily.IPV6, 17, { broadcast: false, input: () => got.push(1) });
    const echo = new Uint8Array(16);
    emitIcmpv6Echo(echo, 0, Icmpv6Type.ECHO_REQUEST, 1, 1, 8, 0);
    receive(r, frame6(17, new Uint8Array(8)), frame6(58, echo));
    expect(got).toEqual([]);
    expect(r.stack.counters.ip6NotForUs).toBe(2);
    expect(r.stack.counters.icmp6EchoRepliesSent).toBe(0);
    receive(r, neighbor(Icmpv6Type.NEIGHBOR_ADVERTISEMENT, US, NdpNaFlags.OVERRIDE, { dst: 'ff02::1', dstMac: 0x333300000001 }));
    expect(r.stack.counters.ndpDadConflicts).toBe(1);
    r.clock.runFor(2000);
    expect(r.stack.ip6!.addresses.map((a) => r.stack.ip6!.table.format(a))).toEqual(['fe80::ff:fe00:1']);
    finish(r);
  });

  it('§6.3.4 / RFC 4862 §5.5.3: a router advertisement gives a default router, an on-link prefix, a SLAAC address (after DAD), the hop limit and the MTU', () => {
    const r = rig({ addresses: [], acceptRouterAdvertisements: true, dadTransmits: 1 });
    const ip6 = r.stack.ip6!;
    // At start: a router solicitation to all routers, from :: while the link-local address is tentative.
    const rs = r.startFrames.filter((f) => f[E + 40] === Icmpv6Type.ROUTER_SOLICITATION);
    expect(rs.map((f) => `${formatIpv6(f, E + 8)} > ${formatIpv6(f, E + 24)}`)).toEqual([':: > ff02::2']);
    r.clock.runFor(1500);
    receive(r, hex(RA6));
    expect(r.stack.counters.ndpRouterAdvertisements).toBe(1);
    expect(ip6.routers.map((x) => ip6.table.format(x.id))).toEqual(['fe80::1']);
    expect(ip6.defaultHopLimit).toBe(64);
    expect(ip6.mtu).toBe(1400);
    expect(ip6.isOnLink(id(r, 'fd00:198:18::77'))).toBe(true);
    expect(ip6.hasRoute(id(r, '2001:db8::1'))).toBe(true);
    r.clock.runFor(1500);
    expect(ip6.addresses.map((a) => ip6.table.format(a))).toEqual(['fe80::ff:fe00:1', 'fd00:198:18::ff:fe00:1']);
    expect(ip6.sourceFor(id(r, 'fd00:198:18::2'))).toBe(id(r, 'fd00:198:18::ff:fe00:1'));
    // ReachableTime and RetransTimer given by the router (RFC 4861 §6.3.4); lifetime 0 removes it as default router.
    expect(ip6.neighbours.timings.reachableMs).toBe(30_000);
    const timed = hex(RA6);
    timed[E + 40 + 4] = 33; // Cur Hop Limit
    set16(timed, E + 40 + 6, 0);
    set32(timed, E + 40 + 8, 10_000);
    set32(timed, E + 40 + 12, 500);
    fillIcmpv6Checksum(timed, E + 40, timed.length - E - 40, pseudoHeaderSumV6At(timed, E, 58, timed.length - E - 40));
    receive(r, timed);
    expect([ip6.neighbours.timings.reachableMs, ip6.neighbours.timings.retransmitMs, ip6.nd.timings.retransmitMs]).toEqual([10_000, 500, 500]);
    expect(ip6.defaultHopLimit).toBe(33);
    expect(ip6.routers).toEqual([]);
    finish(r);
  });

  it('§7.3.3: a used STALE entry goes DELAY, then PROBE with unicast solicitations, then FAILED with neighbourUnreachable', () => {
    const r = rig({ ndp: { delayFirstProbeMs: 5000, retransmitMs: 1000 } });
    const ip6 = r.stack.ip6!;
    const peer = id(r, PEER);
    const events: string[] = [];
    r.stack.transports.addEvents({ onNeighbourUnreachable: (f, a) => events.push(`${f} ${ip6.table.format(a)}`) });
    ip6.neighbours.learn(peer, 0x0200, 2, true, 0, false);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.STALE);
    ip6.ping6(peer, 1, 1, 8);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.DELAY);
    r.clock.runFor(5001);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.PROBE);
    const probes = (): Uint8Array[] => r.link.sent.filter((f) => f[E + 40] === Icmpv6Type.NEIGHBOR_SOLICITATION);
    expect(probes()).toHaveLength(1);
    // Unicast to the cached MAC and address (RFC 4861 §7.3.3), not to the solicited-node group.
    expect(Array.from(probes()[0]!.subarray(0, 6))).toEqual([2, 0, 0, 0, 0, 2]);
    expect(formatIpv6(probes()[0]!, E + 24)).toBe(PEER);
    r.clock.runFor(3001);
    expect(probes()).toHaveLength(3);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.FAILED);
    expect(events).toEqual([`${NetworkFamily.IPV6} ${PEER}`]);
    finish(r);
  });

  it('§7.2.5: a solicited advertisement confirms an entry (REACHABLE); an unsolicited one with a new MAC and Override makes it STALE', () => {
    const r = rig();
    const ip6 = r.stack.ip6!;
    const peer = id(r, LL_PEER);
    ip6.ping6(peer, 1, 1, 8);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.INCOMPLETE);
    receive(r, neighbor(Icmpv6Type.NEIGHBOR_ADVERTISEMENT, LL_PEER, NdpNaFlags.SOLICITED | NdpNaFlags.OVERRIDE));
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.REACHABLE);
    expect(r.link.sent.some((f) => f[E + 40] === Icmpv6Type.ECHO_REQUEST)).toBe(true);
    const moved = neighbor(Icmpv6Type.NEIGHBOR_ADVERTISEMENT, LL_PEER, NdpNaFlags.OVERRIDE, { dst: 'ff02::1', dstMac: 0x333300000001 });
    moved[E + 40 + 24 + 7] = 9;
    fillIcmpv6Checksum(moved, E + 40, 32, pseudoHeaderSumV6At(moved, E, 58, 32));
    receive(r, moved);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.STALE);
    expect(ip6.neighbours.peek(peer)).toBe(0x020000000009);
    finish(r);
  });
});

describe('IPv6 input never throws', () => {
  it('50,000 mutated IPv6 frames (every fixture, random bytes changed, lengths cut) are counted, never thrown', () => {
    const r = rig({ acceptRouterAdvertisements: true });
    r.stack.ip6!.neighbours.learn(id(r, PEER), 0x0200, 2, true, 0);
    r.stack.transports.register(NetworkFamily.IPV6, 17, { broadcast: true, input: () => {}, icmpError: () => true });
    const fixtures = [CHAIN6, FRAG1_6, FRAG2_6, OPT10_6, RH0_6, RA6].map(hex);
    let seed = 12345;
    const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
    for (let i = 0; i < 50_000; i++) {
      const f = fixtures[i % fixtures.length]!.slice();
      for (let k = next() % 4; k >= 0; k--) f[E + (next() % (f.length - E))] = next() & 0xff;
      const cut = next() % 8 === 0 ? E + (next() % (f.length - E)) : f.length;
      expect(r.link.inject(f, cut)).toBe(true);
      if (i % 32 === 31) { r.link.deliver(); r.clock.runFor(0); r.link.sent.length = 0; }
    }
    r.link.deliver();
    r.clock.runFor(120_000);
    const c = r.stack.counters;
    expect(c.receiverErrors).toBe(0);
    expect(c.ip6In + c.ip6Malformed).toBeGreaterThan(40_000);
    finish(r);
  });
});

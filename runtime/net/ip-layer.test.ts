// Behaviour of the IP layer of the userspace stack, driven frame by frame through a HandLink:
// reassembly, path MTU, ICMP, ARP, link/IP filtering and UDP demultiplexing. Every test checks the
// counters, what reached sockets and what left on the wire, and ends with the arena leak check.
import { describe, expect, it } from 'vitest';
import { SlotArena } from '../ring/slot-arena.ts';
import { HandLink } from '../../test/helpers/hand-link.ts';
import { A, A_IP, B } from '../../test/helpers/net-pair.ts';
import type { NetworkStack, StackOptions } from './stack.ts';
import { createUserspaceStack } from './userspace-stack.ts';
import { ArpState } from './arp-cache.ts';
import type { UdpReceiver, UdpSocket } from './udp.ts';
import { emitEthernet, EtherType } from './wire/ethernet.ts';
import { emitIpv4, IpProtocol, Ipv4Flags } from './wire/ipv4.ts';
import { emitUdp } from './wire/udp.ts';
import { emitIcmpEcho, emitIcmpError, IcmpType, IcmpUnreachableCode } from './wire/icmpv4.ts';
import { ArpOperation, emitArp } from './wire/arp.ts';
import { get16, get32, getMac, parseIpv4, set16 } from './wire/bytes.ts';
import { internetChecksum } from './wire/checksum.ts';
import { STATUS_SUCCESS } from '../ntstatus.ts';
import { NetworkFamily } from './transport-registry.ts';
import type { WskUsageError } from '../errors.ts';

const MAC_US = 0x020000000001;
const MAC_PEER = 0x020000000002;
const MAC_OTHER = 0x020000000003;
const BROADCAST_MAC = 0xffffffffffff;
const US = A;
const PEER = B;
const THIRD = parseIpv4('198.18.0.3') | 0;
const SUBNET_BCAST = parseIpv4('198.18.0.255') | 0;

// ---- fixtures ---------------------------------------------------------------------------------

interface Rig { arena: SlotArena; link: HandLink; stack: NetworkStack; clock: HandLink['clock'] }

/** A stack on a HandLink capturing what it sends; the peer's MAC is known unless `learnPeer` is false. */
function rig(opts: Partial<StackOptions> = {}, learnPeer = true): Rig {
  const arena = new SlotArena({ slotCount: 256, slotSize: 2048 });
  const link = new HandLink(arena, MAC_US);
  link.capture = true;
  const stack = createUserspaceStack(link, { address: `${A_IP}/24`, gratuitousArp: false, ...opts, tcp: false }).ip;
  if (learnPeer) {
    stack.arp.cache.learn(PEER, Math.floor(MAC_PEER / 0x100000000), MAC_PEER % 0x100000000 | 0, true, 0);
    stack.arp.cache.learn(THIRD, Math.floor(MAC_OTHER / 0x100000000), MAC_OTHER % 0x100000000 | 0, true, 0);
  }
  return { arena, link, stack, clock: link.clock };
}

function finish(r: Rig): void {
  r.stack.close();
  r.link.deliver();
  r.arena.assertNoLeaks();
}

/** Injects frames as one receive batch, then lets deferred work (flushes) run. */
function receive(r: Rig, ...frames: Uint8Array[]): void {
  for (const f of frames) expect(r.link.inject(f)).toBe(true);
  r.link.deliver();
  r.clock.runFor(0);
}

interface IpOpts { src?: number; dst?: number; id?: number; frag?: number; dstMac?: number; ihlOptions?: Uint8Array; ttl?: number }

/** Ethernet + IPv4 (optionally with header options) + `payload`. `frag` is the raw flags/offset word (default 0). */
function ipFrame(proto: number, payload: Uint8Array, o: IpOpts = {}): Uint8Array {
  const opt = o.ihlOptions ?? new Uint8Array(0);
  const hl = 20 + opt.length;
  const f = new Uint8Array(14 + hl + payload.length);
  emitEthernet(f, 0, o.dstMac ?? MAC_US, MAC_PEER, EtherType.IPV4);
  emitIpv4(f, 14, o.src ?? PEER, o.dst ?? US, proto, payload.length, o.ttl ?? 64, o.id ?? 0x1234, o.frag ?? 0);
  if (opt.length > 0) {
    f[14] = 0x40 | (hl >> 2);
    set16(f, 16, hl + payload.length);
    f.set(opt, 34);
    set16(f, 24, 0);
    set16(f, 24, internetChecksum(f, 14, hl));
  }
  f.set(payload, 14 + hl);
  return f;
}

/** UDP header + data with a valid checksum for (src, dst). */
function udpSegment(srcPort: number, dstPort: number, data: Uint8Array, src = PEER, dst = US): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u.set(data, 8);
  emitUdp(u, 0, srcPort, dstPort, data.length, src, dst);
  return u;
}

function udpFrame(srcPort: number, dstPort: number, data: Uint8Array, o: IpOpts = {}): Uint8Array {
  return ipFrame(IpProtocol.UDP, udpSegment(srcPort, dstPort, data, o.src ?? PEER, o.dst ?? US), o);
}

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** One fragment of an IPv4 payload: bytes [start, start+len) of `whole`, MF as given. */
function fragment(whole: Uint8Array, start: number, len: number, more: boolean, o: IpOpts = {}): Uint8Array {
  return ipFrame(IpProtocol.UDP, whole.subarray(start, start + len),
    { ...o, frag: (more ? Ipv4Flags.MF : 0) | (start >> 3) });
}

function fragmentProto(proto: number, whole: Uint8Array, start: number, len: number, more: boolean, o: IpOpts = {}): Uint8Array {
  return ipFrame(proto, whole.subarray(start, start + len), { ...o, frag: (more ? Ipv4Flags.MF : 0) | (start >> 3) });
}

function echoRequest(id: number, seq: number, dataLength: number, o: IpOpts = {}): Uint8Array {
  const m = new Uint8Array(8 + dataLength);
  for (let i = 0; i < dataLength; i++) m[8 + i] = i;
  emitIcmpEcho(m, 0, IcmpType.ECHO_REQUEST, id, seq, dataLength);
  return ipFrame(IpProtocol.ICMP, m, o);
}

/** An ICMP error (from PEER to us by default) quoting an IPv4 header src→dst plus 8 bytes of UDP header. */
function icmpErrorFrame(type: number, code: number, nextHopMtu: number, quotedSrc: number, quotedDst: number,
  sport = 40000, dport = 9000, quotedTotal = 1428): Uint8Array {
  const m = new Uint8Array(8 + 28);
  emitIpv4(m, 8, quotedSrc, quotedDst, IpProtocol.UDP, quotedTotal - 20, 64, 77, 0);
  set16(m, 28, sport);
  set16(m, 30, dport);
  set16(m, 32, quotedTotal - 20);
  emitIcmpError(m, 0, type, code, 28, nextHopMtu);
  return ipFrame(IpProtocol.ICMP, m);
}

/** An ICMP echo message (header + `data`), its checksum computed here with the RFC 1071 sum. */
function echoMessage(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type;
  set16(m, 4, id);
  set16(m, 6, seq);
  m.set(data, 8);
  set16(m, 2, internetChecksum(m, 0, m.length));
  return m;
}

/**
 * Puts the IPv4 fragments we sent (of protocol `proto`, all one datagram) back together as a
 * receiver would: same ID, every offset once, MF on all but the last, each header's checksum right.
 */
function reassembleSent(r: Rig, proto: number): { payload: Uint8Array; fragments: number; largest: number } {
  const frags = sentIp(r).filter((p) => p.proto === proto);
  expect(frags.length).toBeGreaterThan(0);
  let end = 0;
  let largest = 0;
  for (const f of frags) {
    expect(f.checksumOk).toBe(true);
    expect(f.id).toBe(frags[0]!.id);
    expect(f.dst).toBe(frags[0]!.dst);
    largest = Math.max(largest, f.totalLength);
    if ((f.flagsFrag & Ipv4Flags.MF) === 0) end = ((f.flagsFrag & 0x1fff) << 3) + f.payload.length;
  }
  const whole = new Uint8Array(end);
  const seen = new Uint8Array(end);
  for (const f of frags) {
    const at = (f.flagsFrag & 0x1fff) << 3;
    if (at + f.payload.length < end) expect(f.flagsFrag & Ipv4Flags.MF).toBe(Ipv4Flags.MF);
    expect(seen.subarray(at, at + f.payload.length).every((b) => b === 0)).toBe(true);
    seen.fill(1, at, at + f.payload.length);
    whole.set(f.payload, at);
  }
  expect(seen.every((b) => b === 1)).toBe(true);
  return { payload: whole, fragments: frags.length, largest };
}

function arpFrame(op: number, senderMac: number, senderIp: number, targetMac: number, targetIp: number, dstMac = BROADCAST_MAC): Uint8Array {
  const f = new Uint8Array(60);
  emitEthernet(f, 0, dstMac, senderMac, EtherType.ARP);
  emitArp(f, 14, op, senderMac, senderIp, targetMac, targetIp);
  return f;
}

interface SentIp {
  dstMac: number; srcMac: number; src: number; dst: number; proto: number; totalLength: number; id: number;
  flagsFrag: number; hl: number; payload: Uint8Array; checksumOk: boolean;
}

function etherTypeOf(f: Uint8Array): number { return get16(f, 12); }

/** IPv4 frames captured from the link (ARP and others skipped). */
function sentIp(r: Rig): SentIp[] {
  const out: SentIp[] = [];
  for (const f of r.link.sent) {
    if (etherTypeOf(f) !== EtherType.IPV4) continue;
    const hl = (f[14]! & 0x0f) << 2;
    const total = get16(f, 16);
    out.push({
      dstMac: getMac(f, 0), srcMac: getMac(f, 6), src: get32(f, 26) | 0, dst: get32(f, 30) | 0, proto: f[23]!, totalLength: total,
      id: get16(f, 18), flagsFrag: get16(f, 20), hl, payload: f.slice(14 + hl, 14 + total), checksumOk: internetChecksum(f, 14, hl) === 0,
    });
  }
  return out;
}

/** ICMP messages we sent: type, code, and the quoted bytes. */
function sentIcmp(r: Rig): { type: number; code: number; to: number; quoted: Uint8Array; valid: boolean }[] {
  return sentIp(r).filter((p) => p.proto === IpProtocol.ICMP).map((p) => ({
    type: p.payload[0]!, code: p.payload[1]!, to: p.dst, quoted: p.payload.subarray(8), valid: internetChecksum(p.payload, 0, p.payload.length) === 0,
  }));
}

function sentArp(r: Rig): Uint8Array[] {
  return r.link.sent.filter((f) => etherTypeOf(f) === EtherType.ARP);
}

interface Got { data: Uint8Array; src: number; port: number; flags: number }

function collector(): UdpReceiver & { got: Got[]; icmp: number[] } {
  const got: Got[] = [];
  const icmp: number[] = [];
  return {
    got, icmp,
    onDatagram(_s: UdpSocket, bytes, offset, length, src, port, flags) { got.push({ data: bytes.slice(offset, offset + length), src, port, flags }); },
    onIcmpError(_s, type, code) { icmp.push(type * 256 + code); },
  };
}

// ---- 1. reassembly ----------------------------------------------------------------------------

describe('IPv4 fragment reassembly (RFC 791 §3.2, RFC 815)', () => {
  it('RFC 791/815: out-of-order fragments (no duplicates) reassemble into one datagram delivered to the socket', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const data = pattern(3000);
    const whole = udpSegment(40000, 9000, data);
    // 3008 bytes of UDP: fragments [0,1480) [1480,2960) [2960,3008), delivered last, first, middle.
    receive(r, fragment(whole, 2960, 48, false), fragment(whole, 0, 1480, true), fragment(whole, 1480, 1480, true));
    expect(r.stack.reassembler.fragments).toBe(3);
    expect(r.stack.reassembler.reassembled).toBe(1);
    expect(r.stack.reassembler.pending).toBe(0);
    expect(r.stack.counters.udpIn).toBe(1);
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]).toMatchObject({ src: PEER, port: 40000, flags: 0 });
    expect(rx.got[0]!.data).toEqual(data);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 791: a reassembled datagram to a closed port gets Port Unreachable quoting a header with the fragment fields cleared', () => {
    const r = rig();
    const whole = udpSegment(40000, 9999, pattern(2000));
    receive(r, fragment(whole, 1480, whole.length - 1480, false), fragment(whole, 0, 1480, true));
    expect(r.stack.counters.udpNoPort).toBe(1);
    const icmp = sentIcmp(r);
    expect(icmp).toHaveLength(1);
    expect(icmp[0]).toMatchObject({ type: IcmpType.DEST_UNREACHABLE, code: IcmpUnreachableCode.PORT, to: PEER, valid: true });
    const q = icmp[0]!.quoted;
    expect(get16(q, 2)).toBe(20 + whole.length); // total length of the whole datagram
    expect(get16(q, 6)).toBe(0); // no MF, offset 0
    expect(internetChecksum(q, 0, 20)).toBe(0); // a consistent header
    finish(r);
  });

  it('RFC 791 (RFC 5722 policy): overlapping fragments drop the whole datagram; nothing reaches the socket', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const whole = udpSegment(40000, 9000, pattern(2992)); // 3000 bytes
    receive(r, fragment(whole, 0, 1480, true), fragment(whole, 1472, 1480, true)); // overlaps the first by 8 bytes
    expect(r.stack.reassembler.overlaps).toBe(1);
    expect(r.stack.reassembler.pending).toBe(0);
    // The rest of the datagram arrives: it starts a new assembly that never completes.
    receive(r, fragment(whole, 2952, 48, false));
    expect(r.stack.reassembler.reassembled).toBe(0);
    expect(rx.got).toHaveLength(0);
    expect(r.stack.counters.udpIn).toBe(0);
    // An exact duplicate drops only itself (Linux IPFRAG_DUP): the datagram still completes once.
    const r2 = whole.subarray(0);
    receive(r, fragment(r2, 0, 1480, true, { id: 9 }), fragment(r2, 0, 1480, true, { id: 9 }));
    expect(r.stack.reassembler.overlaps).toBe(1);
    expect(r.stack.reassembler.duplicates).toBe(1);
    expect(rx.got).toHaveLength(0);
    finish(r);
  });

  it('RFC 791: a fragment ending beyond 65 535 bytes, or a non-final fragment whose length is not a multiple of 8, is invalid', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const big = pattern(64);
    // Offset 65 512 (8189 units) + 64 bytes: ends past the largest IPv4 datagram.
    receive(r, ipFrame(IpProtocol.UDP, big, { frag: 8189, id: 1 }));
    expect(r.stack.reassembler.invalid).toBe(1);
    expect(r.stack.reassembler.pending).toBe(0);
    // A middle fragment of 1001 bytes.
    const whole = udpSegment(40000, 9000, pattern(3000));
    receive(r, fragment(whole, 0, 1480, true, { id: 2 }), fragment(whole, 1480, 1001, true, { id: 2 }));
    expect(r.stack.reassembler.invalid).toBe(2);
    // The invalid fragment discarded the datagram it belonged to.
    expect(r.stack.reassembler.pending).toBe(0);
    expect(rx.got).toHaveLength(0);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 791: a datagram whose first fragment carries options and whose whole length would exceed 65 535 is invalid', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const whole = udpSegment(40000, 9000, pattern(65515 - 8)); // 65 515 bytes of payload: fits only a 20-byte header
    const opt = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
    const frames: Uint8Array[] = [];
    for (let off = 0; off < whole.length; off += 1480) {
      const n = Math.min(1480, whole.length - off);
      frames.push(fragment(whole, off, n, off + n < whole.length, off === 0 ? { ihlOptions: opt } : {}));
    }
    receive(r, ...frames);
    expect(r.stack.reassembler.invalid).toBe(1);
    expect(r.stack.reassembler.reassembled).toBe(0);
    expect(r.stack.reassembler.pending).toBe(0);
    expect(rx.got).toHaveLength(0);
    finish(r);
  });

  it('RFC 791: the bound on datagrams in progress (maxDatagrams 2) refuses a third', () => {
    const r = rig({ reassembly: { maxDatagrams: 2 } });
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const w = [1, 2, 3].map((i) => udpSegment(40000, 9000, pattern(2000, i)));
    receive(r, fragment(w[0]!, 0, 1480, true, { id: 1 }), fragment(w[1]!, 0, 1480, true, { id: 2 }), fragment(w[2]!, 0, 1480, true, { id: 3 }));
    expect(r.stack.reassembler.pending).toBe(2);
    expect(r.stack.reassembler.refused).toBe(1);
    receive(r, fragment(w[2]!, 1480, w[2]!.length - 1480, false, { id: 3 }));
    expect(r.stack.reassembler.refused).toBe(2);
    receive(r, fragment(w[0]!, 1480, w[0]!.length - 1480, false, { id: 1 }));
    expect(rx.got.map((g) => g.data[0])).toEqual([pattern(1, 1)[0]]);
    expect(rx.got[0]!.data).toEqual(pattern(2000, 1));
    expect(r.stack.reassembler.pending).toBe(1);
    finish(r);
  });

  it('RFC 792/1122 §3.3.2: after 30 s an incomplete datagram with its first fragment gets Time Exceeded code 1; one without it gets nothing', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const w1 = udpSegment(40000, 9000, pattern(3000, 1));
    const w2 = udpSegment(40000, 9000, pattern(3000, 2));
    receive(r, fragment(w1, 0, 1480, true, { id: 1 }), fragment(w2, 1480, 1480, true, { id: 2 }));
    expect(r.stack.reassembler.pending).toBe(2);
    r.clock.runFor(29_999);
    expect(sentIcmp(r)).toHaveLength(0);
    r.clock.runFor(1);
    expect(r.stack.reassembler.timeouts).toBe(2);
    expect(r.stack.reassembler.pending).toBe(0);
    expect(r.stack.counters.icmpErrorsSent).toBe(1);
    const icmp = sentIcmp(r);
    expect(icmp).toHaveLength(1);
    expect(icmp[0]).toMatchObject({ type: IcmpType.TIME_EXCEEDED, code: 1, to: PEER, valid: true });
    // Quotes the first fragment's header (id 1) and its first 8 payload bytes (the UDP header).
    const q = icmp[0]!.quoted;
    expect(get16(q, 4)).toBe(1);
    expect(get32(q, 12) | 0).toBe(PEER);
    expect(Array.from(q.subarray(20, 28))).toEqual(Array.from(w1.subarray(0, 8)));
    expect(rx.got).toHaveLength(0);
    finish(r);
  });

  it('RFC 1122 §3.2.2: a timed-out fragmented ICMP error gets no Time Exceeded (no error about an error)', () => {
    const r = rig();
    const m = new Uint8Array(8 + 1600);
    emitIcmpError(m, 0, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.HOST, 1600);
    receive(r, fragmentProto(IpProtocol.ICMP, m, 0, 1480, true, { id: 5 }));
    r.clock.runFor(30_000);
    expect(r.stack.reassembler.timeouts).toBe(1);
    expect(r.stack.counters.icmpErrorsSent).toBe(0);
    expect(sentIcmp(r)).toHaveLength(0);
    finish(r);
  });
});

// ---- 2. path MTU ------------------------------------------------------------------------------

describe('path MTU discovery (RFC 1191)', () => {
  it('RFC 1191: Fragmentation Needed (next-hop MTU 1000) about our datagram lowers pathMtu; a 1400-byte send then leaves in ≤1000-byte fragments', () => {
    const r = rig();
    const rx = collector();
    const s = r.stack.udp4.open(0, 40000, rx)!;
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, US, PEER, 40000, 9000));
    expect(r.stack.counters.icmpErrorsIn).toBe(1);
    expect(r.stack.counters.pmtuUpdates).toBe(1);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1000);
    expect(r.stack.ip4.pathMtu(THIRD)).toBe(1500);
    // The socket that sent it hears about it (RFC 1122 §4.1.3.3).
    expect(rx.icmp).toEqual([3 * 256 + 4]);
    const data = pattern(1400);
    expect(r.stack.udp4.send(s, [data], 1, PEER, 9000)).toBe(STATUS_SUCCESS);
    r.clock.runFor(0);
    const frags = sentIp(r);
    expect(frags.length).toBe(2);
    expect(r.stack.counters.fragmentsOut).toBe(2);
    for (const f of frags) {
      expect(f.totalLength).toBeLessThanOrEqual(1000);
      expect(f.checksumOk).toBe(true);
      expect(f.id).toBe(frags[0]!.id);
      expect(f.dst).toBe(PEER);
    }
    expect(frags[0]!.flagsFrag).toBe(Ipv4Flags.MF);
    expect(frags[1]!.flagsFrag & Ipv4Flags.MF).toBe(0);
    // The fragments put together are the UDP datagram.
    const udp = new Uint8Array(8 + 1400);
    for (const f of frags) udp.set(f.payload, (f.flagsFrag & 0x1fff) << 3);
    expect(get16(udp, 2)).toBe(9000);
    expect(udp.subarray(8)).toEqual(data);
    // A datagram that fits the path MTU leaves whole.
    r.link.sent.length = 0;
    r.stack.udp4.send(s, [pattern(900)], 1, PEER, 9000);
    r.clock.runFor(0);
    expect(sentIp(r).map((f) => [f.totalLength, f.flagsFrag])).toEqual([[928, 0]]);
    s.close();
    finish(r);
  });

  it('RFC 5927 §5.1 / Linux __udp4_lib_err: Fragmentation Needed about a datagram no socket of ours sent changes nothing; one quoting a source that is not ours is malformed', () => {
    const r = rig();
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, US, PEER, 40000, 9000));
    expect(r.stack.counters.icmpErrorsIn).toBe(1);
    expect(r.stack.counters.icmpErrorsUnmatched).toBe(1);
    expect(r.stack.counters.pmtuUpdates).toBe(0);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    // A socket on another port does not make it ours.
    const rx = collector();
    const s = r.stack.udp4.open(0, 40001, rx)!;
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, US, PEER, 40000, 9000));
    expect(r.stack.counters.icmpErrorsUnmatched).toBe(2);
    expect(rx.icmp).toEqual([]);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, THIRD, PEER, 40001, 9000));
    expect(r.stack.counters.icmpMalformed).toBe(1);
    expect(r.stack.counters.icmpErrorsIn).toBe(2);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    expect(r.link.sent).toHaveLength(0);
    s.close();
    finish(r);
  });

  it('Linux ip_rt_min_pmtu: a next-hop MTU below 552 (even below RFC 791\'s 68) is raised to 552; one at or above the link MTU is ignored', () => {
    const r = rig();
    const s = r.stack.udp4.open(0, 40000, collector())!;
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 9000, US, PEER, 40000, 9000),
      icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1500, US, PEER, 40000, 9000));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 20, US, PEER, 40000, 9000));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(552);
    expect(r.stack.counters.pmtuUpdates).toBe(1);
    // Datagrams then leave in fragments of at most 552 bytes.
    expect(r.stack.udp4.send(s, [pattern(1000)], 1, PEER, 9000)).toBe(STATUS_SUCCESS);
    r.clock.runFor(0);
    const out = sentIp(r);
    expect(out.length).toBe(2);
    expect(Math.max(...out.map((f) => f.totalLength))).toBeLessThanOrEqual(552);
    s.close();
    finish(r);
  });

  it('RFC 1191 §6.3: a learned path MTU expires after 10 minutes; a new report after expiry is learned even if higher', () => {
    const r = rig();
    r.stack.udp4.open(0, 40000, collector()); // the socket the reports are about
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, US, PEER));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1000);
    r.clock.runFor(600_000 - 1);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1000);
    r.clock.runFor(1);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    // Expired entry not looked up before a new, higher report arrives: the new value must win.
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 800, US, THIRD));
    r.clock.runFor(600_000);
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1200, US, THIRD));
    expect(r.stack.ip4.pathMtu(THIRD)).toBe(1200);
    expect(r.stack.counters.pmtuUpdates).toBe(3);
    finish(r);
  });
});

// ---- 3. ICMP ----------------------------------------------------------------------------------

describe('ICMP (RFC 792, RFC 1122 §3.2.2)', () => {
  it('RFC 1122 §3.2.2.6: an echo request is answered, but not when sent to a broadcast address', () => {
    const r = rig();
    receive(r, echoRequest(7, 1, 32));
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(1);
    const reply = sentIcmp(r);
    expect(reply).toHaveLength(1);
    expect(reply[0]).toMatchObject({ type: IcmpType.ECHO_REPLY, code: 0, to: PEER, valid: true });
    r.link.sent.length = 0;
    receive(r, echoRequest(7, 2, 32, { dst: SUBNET_BCAST, dstMac: BROADCAST_MAC }), echoRequest(7, 3, 32, { dst: -1, dstMac: BROADCAST_MAC }));
    expect(r.stack.counters.icmpIn).toBe(3);
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 1122 §3.2.2.6: a 60 000-byte echo request, reassembled from 41 fragments, is answered with all of its data in fragments that fit the MTU', () => {
    const r = rig();
    const data = pattern(60_000, 3);
    const request = echoMessage(IcmpType.ECHO_REQUEST, 0x5151, 9, data);
    const frames: Uint8Array[] = [];
    for (let off = 0; off < request.length; off += 1480) {
      const n = Math.min(1480, request.length - off);
      frames.push(fragmentProto(IpProtocol.ICMP, request, off, n, off + n < request.length, { id: 0x7777 }));
    }
    expect(frames).toHaveLength(41);
    receive(r, ...frames);
    expect(r.stack.reassembler.reassembled).toBe(1);
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(1);
    expect(r.stack.counters.txTooBig).toBe(0);
    const reply = reassembleSent(r, IpProtocol.ICMP);
    expect(reply.fragments).toBe(41);
    expect(r.stack.counters.fragmentsOut).toBe(41);
    const m = reply.payload;
    expect(m.length).toBe(8 + data.length);
    expect([m[0], m[1], get16(m, 4), get16(m, 6)]).toEqual([IcmpType.ECHO_REPLY, 0, 0x5151, 9]);
    expect(internetChecksum(m, 0, m.length)).toBe(0);
    expect(Buffer.from(m.subarray(8)).equals(Buffer.from(data))).toBe(true);
    finish(r);
  });

  it('RFC 1122 §3.2.2.6 / RFC 1191: an echo reply is cut to the path MTU learned for its destination', () => {
    const r = rig();
    r.stack.udp4.open(0, 40000, collector());
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 1000, US, PEER, 40000, 9000));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1000);
    const data = pattern(1400, 5);
    receive(r, ipFrame(IpProtocol.ICMP, echoMessage(IcmpType.ECHO_REQUEST, 1, 2, data)));
    const reply = reassembleSent(r, IpProtocol.ICMP);
    expect(reply.fragments).toBe(2);
    expect(reply.largest).toBeLessThanOrEqual(1000);
    expect(Buffer.from(reply.payload.subarray(8)).equals(Buffer.from(data))).toBe(true);
    expect(internetChecksum(reply.payload, 0, reply.payload.length)).toBe(0);
    finish(r);
  });

  it('RFC 1122 §4.1.3.1: Port Unreachable for a closed port, not for a broadcast datagram', () => {
    const r = rig();
    const frame = udpFrame(40000, 9999, pattern(10));
    receive(r, frame);
    expect(r.stack.counters.udpNoPort).toBe(1);
    const icmp = sentIcmp(r);
    expect(icmp).toHaveLength(1);
    expect(icmp[0]).toMatchObject({ type: 3, code: 3, to: PEER, valid: true });
    expect(icmp[0]!.quoted).toEqual(frame.subarray(14)); // the whole (short) datagram is quoted
    r.link.sent.length = 0;
    receive(r, udpFrame(40000, 9999, pattern(10), { dst: SUBNET_BCAST, dstMac: BROADCAST_MAC }),
      udpFrame(40000, 9999, pattern(10), { dst: -1, dstMac: BROADCAST_MAC }));
    expect(r.stack.counters.udpNoPort).toBe(3);
    expect(r.stack.counters.icmpErrorsSent).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 1812 §4.3.2.8 / Linux icmp_ratelimit: ICMP errors are rate-limited by a token bucket (10/s, burst 5)', () => {
    const r = rig({ icmpErrorsPerSecond: 10, icmpErrorBurst: 5 });
    const frames = Array.from({ length: 20 }, (_, i) => udpFrame(40000, 10000 + i, pattern(4)));
    receive(r, ...frames);
    expect(r.stack.counters.udpNoPort).toBe(20);
    expect(r.stack.counters.icmpErrorsSent).toBe(5);
    expect(r.stack.counters.icmpRateLimited).toBe(15);
    expect(sentIcmp(r)).toHaveLength(5);
    r.clock.runFor(1000);
    receive(r, ...frames);
    expect(r.stack.counters.icmpErrorsSent).toBe(10);
    expect(r.stack.counters.icmpRateLimited).toBe(30);
    expect(sentIcmp(r)).toHaveLength(10);
    finish(r);
  });

  it('RFC 792: an unknown IP protocol (253) gets Protocol Unreachable (code 2), not when broadcast', () => {
    const r = rig();
    receive(r, ipFrame(253, pattern(16)));
    expect(r.stack.counters.ipUnknownProtocol).toBe(1);
    const icmp = sentIcmp(r);
    expect(icmp).toHaveLength(1);
    expect(icmp[0]).toMatchObject({ type: 3, code: IcmpUnreachableCode.PROTOCOL, to: PEER, valid: true });
    expect(icmp[0]!.quoted[9]).toBe(253);
    receive(r, ipFrame(253, pattern(16), { dst: SUBNET_BCAST, dstMac: BROADCAST_MAC }));
    expect(r.stack.counters.ipUnknownProtocol).toBe(2);
    expect(sentIcmp(r)).toHaveLength(1);
    finish(r);
  });

  it('RFC 1122 §3.2.2: no ICMP error about an ICMP error (a port-unreachable loop is impossible)', () => {
    const r = rig();
    // An ICMP error quoting a datagram we never sent from an open socket: accepted, nothing answered.
    receive(r, icmpErrorFrame(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PORT, 0, US, PEER, 1234, 5678));
    expect(r.stack.counters.icmpErrorsIn).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    expect(r.stack.counters.icmpErrorsSent).toBe(0);
    finish(r);
  });

  it('RFC 791 §3.1: an IPv4 header with options (IHL 6) still delivers its UDP payload', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const routerAlert = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
    const f = udpFrame(40000, 9000, pattern(17), { ihlOptions: routerAlert });
    expect(f[14]).toBe(0x46);
    receive(r, f);
    expect(r.stack.counters.ipIn).toBe(1);
    expect(r.stack.counters.udpIn).toBe(1);
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.data).toEqual(pattern(17));
    finish(r);
  });

  it('RFC 791/768: a bad IP header checksum is counted and dropped; a bad UDP checksum is counted; UDP checksum 0 (none) is accepted', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const badIp = udpFrame(40000, 9000, pattern(8));
    badIp[24]! ^= 0x01;
    receive(r, badIp);
    expect(r.stack.counters.ipBadChecksum).toBe(1);
    expect(r.stack.counters.ipIn).toBe(0);
    const badUdp = udpFrame(40000, 9000, pattern(8));
    badUdp[14 + 20 + 6]! ^= 0x10;
    receive(r, badUdp);
    expect(r.stack.counters.udpBadChecksum).toBe(1);
    expect(r.stack.counters.udpIn).toBe(0);
    const noSum = new Uint8Array(8 + 8);
    noSum.set(pattern(8), 8);
    emitUdp(noSum, 0, 40000, 9000, 8); // checksum left 0
    receive(r, ipFrame(IpProtocol.UDP, noSum));
    expect(r.stack.counters.udpIn).toBe(1);
    expect(rx.got.map((g) => Array.from(g.data))).toEqual([Array.from(pattern(8))]);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });
});

describe('IPv4 options (RFC 791 §3.1, RFC 1122 §3.2.1.8; as Linux ip_rcv_options)', () => {
  /** The ICMP messages we sent, with the second word of their header. */
  const sentIcmpWords = (r: Rig) => sentIp(r).filter((p) => p.proto === IpProtocol.ICMP).map((p) => ({
    type: p.payload[0]!, code: p.payload[1]!, pointer: p.payload[4]!, to: p.dst, quoted: p.payload.subarray(8),
    valid: internetChecksum(p.payload, 0, p.payload.length) === 0,
  }));

  it('RFC 792 / Linux __ip_options_compile: an option whose length runs past the header gets Parameter Problem (code 0) pointing at it, and the packet is dropped', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const bad = new Uint8Array([7, 8, 4, 0]); // record route claiming 8 bytes where 4 are left
    const echo = echoRequest(7, 1, 32, { ihlOptions: bad });
    receive(r, echo, udpFrame(40000, 9000, pattern(8), { ihlOptions: bad }));
    expect(r.stack.counters.icmpIn).toBe(0);
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(0);
    expect(r.stack.counters.udpIn).toBe(0);
    expect(rx.got).toHaveLength(0);
    expect(r.stack.counters.ipBadOptions).toBe(2);
    const sent = sentIcmpWords(r);
    expect(sent.map((m) => [m.type, m.code, m.pointer, m.to, m.valid])).toEqual([[12, 0, 20, PEER, true], [12, 0, 20, PEER, true]]);
    // It quotes the offending header, options included, and the start of the payload.
    expect(Array.from(sent[0]!.quoted.subarray(0, 32))).toEqual(Array.from(echo.subarray(14, 14 + 32)));
    finish(r);
  });

  it('Linux __ip_options_compile: the pointer names the offending octet — a short length, a bad pointer, a full timestamp overflow, a second record route', () => {
    const r = rig();
    const cases: [number[], number][] = [[[148, 2, 0, 0], 21], [[7, 3, 3, 0], 22], [[68, 4, 5, 0xf0], 23], [[7, 3, 4, 7, 3, 4, 0, 0], 23]];
    for (const [o] of cases) receive(r, echoRequest(7, 1, 8, { ihlOptions: new Uint8Array(o) }));
    expect(sentIcmpWords(r).map((m) => [m.type, m.pointer])).toEqual(cases.map(([, p]) => [12, p]));
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(0);
    expect(r.stack.counters.ipBadOptions).toBe(cases.length);
    finish(r);
  });

  it('RFC 791 §3.1: well-formed record route, timestamp, router alert, NOP/EOL padding and unknown options are accepted: every echo request is answered', () => {
    const r = rig();
    const good = [
      [7, 7, 4, 0, 0, 0, 0, 0], [7, 7, 8, 1, 2, 3, 4, 0], [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], [68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0],
      [148, 4, 0, 0], [1, 1, 1, 0], [0, 0xff, 0xff, 0xff], [136, 4, 0x12, 0x34],
    ];
    for (const [i, o] of good.entries()) receive(r, echoRequest(7, i, 8, { ihlOptions: new Uint8Array(o) }));
    expect(r.stack.counters.ipBadOptions).toBe(0);
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(good.length);
    expect(sentIcmpWords(r).map((m) => m.type)).toEqual(good.map(() => IcmpType.ECHO_REPLY));
    finish(r);
  });

  it('RFC 7126 §4.3–4.4 / Linux accept_source_route=0: a source-routed packet is dropped without an answer', () => {
    const r = rig();
    const lsrr = new Uint8Array([131, 7, 8, 198, 18, 0, 1, 0]); // route used up: we are its last hop
    receive(r, echoRequest(7, 1, 8, { ihlOptions: lsrr }), echoRequest(7, 2, 8, { ihlOptions: new Uint8Array([137, 7, 4, 198, 18, 0, 9, 0]) }));
    expect(r.stack.counters.icmpIn).toBe(0);
    expect(r.link.sent).toHaveLength(0);
    expect(r.stack.counters.ipSourceRouted).toBe(2);
    finish(r);
  });

  it('RFC 1812 §4.3.2.8: Parameter Problems are rate-limited like every ICMP error; none is sent about a broadcast or a non-initial fragment', () => {
    const r = rig({ icmpErrorsPerSecond: 10, icmpErrorBurst: 2 });
    const bad = new Uint8Array([148, 1, 0, 0]);
    receive(r, ...Array.from({ length: 5 }, (_, i) => echoRequest(7, i, 8, { ihlOptions: bad })));
    expect(r.stack.counters.ipBadOptions).toBe(5);
    expect(r.stack.counters.icmpRateLimited).toBe(3);
    expect(sentIcmpWords(r)).toHaveLength(2);
    r.link.sent.length = 0;
    r.clock.runFor(1000);
    receive(r, echoRequest(7, 9, 8, { ihlOptions: bad, dst: SUBNET_BCAST, dstMac: BROADCAST_MAC }),
      fragmentProto(IpProtocol.ICMP, pattern(64), 1480, 64, false, { ihlOptions: bad }));
    expect(r.stack.counters.ipBadOptions).toBe(7);
    expect(r.stack.reassembler.fragments).toBe(0);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });
});

// ---- 4. ARP -----------------------------------------------------------------------------------

describe('ARP (RFC 826)', () => {
  it('RFC 826: a request for another host is not answered and creates no entry; one for us is answered and creates one', () => {
    const r = rig({}, false);
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_PEER, PEER, 0, THIRD));
    expect(r.stack.counters.arpIn).toBe(1);
    expect(r.stack.counters.arpNotForUs).toBe(1);
    expect(r.stack.arp.cache.stateOf(PEER)).toBe(ArpState.FREE);
    expect(r.link.sent).toHaveLength(0);
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_PEER, PEER, 0, US));
    expect(r.stack.counters.arpRepliesSent).toBe(1);
    expect(r.stack.arp.cache.stateOf(PEER)).toBe(ArpState.REACHABLE);
    expect(r.stack.arp.cache.peek(PEER)).toBe(MAC_PEER);
    const replies = sentArp(r);
    expect(replies).toHaveLength(1);
    const f = replies[0]!;
    expect(getMac(f, 0)).toBe(MAC_PEER); // unicast back
    expect(getMac(f, 6)).toBe(MAC_US);
    expect(get16(f, 14 + 6)).toBe(ArpOperation.REPLY);
    expect(getMac(f, 14 + 8)).toBe(MAC_US);
    expect(get32(f, 14 + 14) | 0).toBe(US);
    expect(getMac(f, 14 + 18)).toBe(MAC_PEER);
    expect(get32(f, 14 + 24) | 0).toBe(PEER);
    // Now cached, a request for another host from the same sender refreshes (merges) without answering.
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_OTHER, PEER, 0, THIRD));
    expect(r.stack.arp.cache.peek(PEER)).toBe(MAC_OTHER);
    expect(sentArp(r)).toHaveLength(1);
    finish(r);
  });

  it('RFC 5227 §2.4: a packet claiming our address from another MAC is a conflict; our own echo is not', () => {
    const r = rig({}, false);
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_PEER, US, 0, US));
    expect(r.stack.counters.arpConflicts).toBe(1);
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_US, US, 0, US));
    expect(r.stack.counters.arpConflicts).toBe(1);
    expect(r.stack.arp.cache.size).toBe(0);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 5227 §2.1.1: a probe (sender IP 0.0.0.0) for our address is answered to the prober, and nothing is learned from it', () => {
    const r = rig({}, false);
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_OTHER, 0, 0, US));
    receive(r, arpFrame(ArpOperation.REQUEST, MAC_OTHER, 0, 0, THIRD)); // a probe for someone else
    const replies = sentArp(r);
    expect(replies).toHaveLength(1);
    const a = replies[0]!;
    expect(get16(a, 14 + 6)).toBe(ArpOperation.REPLY);
    expect(getMac(a, 0)).toBe(MAC_OTHER); // unicast to the prober
    expect(getMac(a, 14 + 8)).toBe(MAC_US);
    expect(get32(a, 14 + 14) | 0).toBe(US);
    expect(get32(a, 14 + 24)).toBe(0);
    expect(r.stack.arp.cache.size).toBe(0);
    expect(r.stack.counters.arpMalformed).toBe(0);
    finish(r);
  });

  it('RFC 826 / RFC 1812 §3.3.2: multicast sender MACs, truncated and garbage ARP are counted as malformed and ignored', () => {
    const r = rig({}, false);
    receive(r, arpFrame(ArpOperation.REQUEST, 0x01005e000001, PEER, 0, US));
    expect(r.stack.counters.arpMalformed).toBe(1);
    expect(r.stack.arp.cache.stateOf(PEER)).toBe(ArpState.FREE);
    const good = arpFrame(ArpOperation.REQUEST, MAC_PEER, PEER, 0, US);
    receive(r, good.slice(0, 14 + 20)); // truncated
    expect(r.stack.counters.arpMalformed).toBe(2);
    const badOp = good.slice();
    set16(badOp, 14 + 6, 3);
    const badHw = good.slice();
    set16(badHw, 14, 6);
    const badLen = good.slice();
    badLen[14 + 4] = 8;
    receive(r, badOp, badHw, badLen);
    expect(r.stack.counters.arpMalformed).toBe(5);
    expect(r.stack.counters.arpIn).toBe(1); // only the well-formed packet with the multicast sender parsed
    expect(r.stack.arp.cache.size).toBe(0);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 1122 §2.3.2.2: packets waiting for resolution are bounded (64, oldest dropped) and leave when the reply comes', () => {
    const r = rig({}, false);
    const s = r.stack.udp4.open(0, 40000, collector())!;
    for (let i = 0; i < 70; i++) expect(r.stack.udp4.send(s, [pattern(4, i)], 1, PEER, 9000)).toBe(STATUS_SUCCESS);
    r.clock.runFor(0);
    expect(r.stack.arp.cache.pendingDrops).toBe(6);
    expect(r.stack.arp.cache.stateOf(PEER)).toBe(ArpState.INCOMPLETE);
    const req = sentArp(r);
    expect(req).toHaveLength(1);
    expect(getMac(req[0]!, 0)).toBe(BROADCAST_MAC);
    expect(get32(req[0]!, 14 + 24) | 0).toBe(PEER);
    expect(sentIp(r)).toHaveLength(0);
    receive(r, arpFrame(ArpOperation.REPLY, MAC_PEER, PEER, MAC_US, US, MAC_US));
    const out = sentIp(r);
    expect(out).toHaveLength(64);
    expect(out.every((p) => p.dstMac === MAC_PEER)).toBe(true);
    // The oldest six were dropped: the first to leave is datagram 6.
    expect(out[0]!.payload.subarray(8)).toEqual(pattern(4, 6));
    s.close();
    finish(r);
  });

  it('RFC 5227 §3: the gratuitous ARP at start is a broadcast request with sender IP = target IP = our address', () => {
    const arena = new SlotArena({ slotCount: 16, slotSize: 2048 });
    const link = new HandLink(arena, MAC_US);
    link.capture = true;
    const stack = createUserspaceStack(link, { address: `${A_IP}/24`, tcp: false }).ip;
    link.clock.runFor(0);
    expect(stack.counters.arpOut).toBe(1);
    expect(link.sent).toHaveLength(1);
    const f = link.sent[0]!;
    expect(f.length).toBe(60);
    expect(getMac(f, 0)).toBe(BROADCAST_MAC);
    expect(getMac(f, 6)).toBe(MAC_US);
    expect(get16(f, 12)).toBe(EtherType.ARP);
    expect(get16(f, 14 + 6)).toBe(ArpOperation.REQUEST);
    expect(getMac(f, 14 + 8)).toBe(MAC_US);
    expect(get32(f, 14 + 14) | 0).toBe(US);
    expect(get32(f, 14 + 24) | 0).toBe(US);
    stack.close();
    arena.assertNoLeaks();
  });
});

// ---- 5. link and IP filtering -----------------------------------------------------------------

describe('link and IP filtering (RFC 894, RFC 1122 §3.3.6, IEEE 802.1Q)', () => {
  it('RFC 1122 §3.3.6: other unicast MACs, other IP destinations and unknown EtherTypes are counted and dropped; VLAN-tagged frames are parsed', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    receive(r, udpFrame(40000, 9000, pattern(5), { dstMac: MAC_OTHER }));
    expect(r.stack.counters.rxNotForUs).toBe(1);
    receive(r, udpFrame(40000, 9000, pattern(5), { dst: THIRD }));
    expect(r.stack.counters.ipNotForUs).toBe(1);
    // Unicast IP inside a link-layer broadcast is discarded too.
    receive(r, udpFrame(40000, 9000, pattern(5), { dstMac: BROADCAST_MAC }));
    expect(r.stack.counters.ipNotForUs).toBe(2);
    const v6 = udpFrame(40000, 9000, pattern(5));
    set16(v6, 12, EtherType.IPV6);
    receive(r, v6);
    expect(r.stack.counters.rxUnknownEtherType).toBe(1);
    expect(rx.got).toHaveLength(0);
    // VLAN 100: the payload after the tag is IPv4; padded to the Ethernet minimum.
    const inner = udpFrame(40000, 9000, pattern(5));
    const tagged = new Uint8Array(Math.max(64, inner.length + 4));
    emitEthernet(tagged, 0, MAC_US, MAC_PEER, EtherType.IPV4, 100);
    tagged.set(inner.subarray(14), 18);
    receive(r, tagged);
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.data).toEqual(pattern(5));
    expect(r.stack.counters.rxFrames).toBe(5);
    expect(r.stack.counters.udpIn).toBe(1);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });
});

describe('martian sources (RFC 1122 §3.2.1.3, RFC 1812 §5.3.7)', () => {
  it('RFC 1122 §3.2.1.3: echo requests, datagrams and fragments from 0/8, 127/8, broadcast, multicast or our own address are counted and dropped before any transport', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const martians = ['0.0.0.0', '0.1.2.3', '127.0.0.1', '127.200.0.9', '255.255.255.255', '198.18.0.255', '224.0.0.1', '239.255.0.1', A_IP];
    const whole = udpSegment(40000, 9000, pattern(2000));
    for (const [i, a] of martians.entries()) {
      const src = parseIpv4(a) | 0;
      receive(r, echoRequest(7, i, 16, { src }), udpFrame(40000, 9000, pattern(8), { src }),
        fragment(udpSegment(40000, 9000, pattern(2000), src), 0, 1480, true, { src, id: i }));
    }
    expect(r.stack.counters.icmpIn).toBe(0);
    expect(r.stack.counters.udpIn).toBe(0);
    expect(r.stack.reassembler.fragments).toBe(0); // no reassembly buffer taken by a martian
    expect(rx.got).toHaveLength(0);
    expect(r.link.sent).toHaveLength(0);
    expect(r.stack.counters.ipMartianSource).toBe(3 * martians.length);
    // The same traffic from the peer is taken.
    receive(r, echoRequest(7, 99, 16), udpFrame(40000, 9000, pattern(8)), fragment(whole, 0, 1480, true, { id: 99 }),
      fragment(whole, 1480, whole.length - 1480, false, { id: 99 }));
    expect(r.stack.counters.icmpEchoRepliesSent).toBe(1);
    expect(rx.got).toHaveLength(2);
    expect(r.stack.counters.ipMartianSource).toBe(3 * martians.length);
    finish(r);
  });

  it('Linux ip_route_input_slow: a class E source (240.0.0.0/4) is not martian; its datagram reaches the socket', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    receive(r, udpFrame(40000, 9000, pattern(8), { src: parseIpv4('240.1.2.3') | 0 }));
    expect(r.stack.counters.ipMartianSource).toBe(0);
    expect(rx.got.map((g) => g.src)).toEqual([parseIpv4('240.1.2.3') | 0]);
    finish(r);
  });

  it('the loopback path is not a link: a ping and a datagram from our own address to it are delivered', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const replies: number[][] = [];
    r.stack.icmp.onEchoReply = (src, id, seq, data) => { replies.push([src, id, seq, data.length]); };
    expect(r.stack.icmp.ping(US, 3, 4, 100)).toBe(STATUS_SUCCESS);
    const s = r.stack.udp4.open(0, 0, collector())!;
    expect(r.stack.udp4.send(s, [pattern(20)], 1, US, 9000)).toBe(STATUS_SUCCESS);
    r.clock.runFor(0);
    expect(replies).toEqual([[US, 3, 4, 100]]);
    expect(rx.got.map((g) => [g.src, g.data.length])).toEqual([[US, 20]]);
    expect(r.stack.counters.ipMartianSource).toBe(0);
    expect(r.link.sent).toHaveLength(0);
    s.close();
    finish(r);
  });
});

// ---- 6. UDP demultiplexing --------------------------------------------------------------------

describe('UDP demultiplexing (RFC 768; maps, never scans)', () => {
  it('RFC 768: a connected socket gets its peer\'s datagrams before a wildcard on the same port; other peers go to the wildcard', () => {
    const r = rig();
    const wild = collector();
    const conn = collector();
    r.stack.udp4.open(0, 9000, wild);
    const c = r.stack.udp4.open(0, 9000, conn)!;
    expect(r.stack.udp.connect(c, PEER, 40000)).toBe(true);
    receive(r, udpFrame(40000, 9000, pattern(3, 1)), udpFrame(40001, 9000, pattern(3, 2)),
      udpFrame(40000, 9000, pattern(3, 3), { src: THIRD }));
    expect(conn.got.map((g) => [g.src, g.port])).toEqual([[PEER, 40000]]);
    expect(wild.got.map((g) => [g.src, g.port])).toEqual([[PEER, 40001], [THIRD, 40000]]);
    expect(r.stack.counters.udpIn).toBe(3);
    expect(r.link.sent).toHaveLength(0);
    finish(r);
  });

  it('RFC 768: reconnecting a socket moves it to the new peer (the old 4-tuple no longer reaches it)', () => {
    const r = rig();
    const conn = collector();
    const c = r.stack.udp4.open(0, 9000, conn)!;
    expect(r.stack.udp.connect(c, PEER, 40000)).toBe(true);
    expect(r.stack.udp.connect(c, THIRD, 40000)).toBe(true);
    receive(r, udpFrame(40000, 9000, pattern(3, 1)), udpFrame(40000, 9000, pattern(3, 2), { src: THIRD }));
    expect(conn.got.map((g) => g.src)).toEqual([THIRD]);
    expect(r.stack.counters.udpNoPort).toBe(1);
    c.close();
    expect(r.stack.udp.size).toBe(0);
    expect(r.stack.udp.has(9000)).toBe(false);
    receive(r, udpFrame(40000, 9000, pattern(3, 3), { src: THIRD }));
    expect(conn.got).toHaveLength(1);
    expect(r.stack.counters.udpNoPort).toBe(2);
    finish(r);
  });

  it('RFC 1122 §4.1.3.4: a socket bound to the specific local address wins over a wildcard one, in either bind order', () => {
    const r = rig();
    const wild = collector();
    const spec = collector();
    r.stack.udp4.open(0, 9000, wild);
    r.stack.udp4.open(US, 9000, spec);
    const spec2 = collector();
    const wild2 = collector();
    r.stack.udp4.open(US, 9001, spec2);
    r.stack.udp4.open(0, 9001, wild2);
    receive(r, udpFrame(40000, 9000, pattern(3)), udpFrame(40000, 9001, pattern(3)));
    expect(spec.got).toHaveLength(1);
    expect(wild.got).toHaveLength(0);
    expect(spec2.got).toHaveLength(1);
    expect(wild2.got).toHaveLength(0);
    finish(r);
  });

  it('RFC 1122 §4.1.3.1: closing a socket unbinds it; its datagrams then get Port Unreachable', () => {
    const r = rig();
    const rx = collector();
    const s = r.stack.udp4.open(0, 9000, rx)!;
    const c = r.stack.udp4.open(0, 9000, rx)!;
    r.stack.udp.connect(c, PEER, 40000);
    receive(r, udpFrame(40000, 9000, pattern(3)));
    expect(rx.got).toHaveLength(1);
    c.close();
    s.close();
    expect(r.stack.udp.size).toBe(0);
    receive(r, udpFrame(40000, 9000, pattern(3)));
    expect(rx.got).toHaveLength(1);
    expect(r.stack.counters.udpNoPort).toBe(1);
    expect(sentIcmp(r).map((m) => [m.type, m.code])).toEqual([[3, 3]]);
    finish(r);
  });
});

describe('transport registry (transport-registry.ts)', () => {
  /** RFC 3692's experimental protocol number: nothing on the stack speaks it. */
  const EXPERIMENTAL = 253;

  it('a raw listener on UDP gets a copy of every UDP packet for us, header included, while the socket still gets its datagram', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    const seen: { src: number; proto: number; payload: string }[] = [];
    const raw = {
      input(bytes: Uint8Array, ip: number, length: number) {
        seen.push({ src: get32(bytes, ip + 12) | 0, proto: bytes[ip + 9]!, payload: new TextDecoder().decode(bytes.subarray(ip + 28, ip + length)) });
      },
    };
    r.stack.transports.addRawListener(NetworkFamily.IPV4, IpProtocol.UDP, raw);
    receive(r, udpFrame(40000, 9000, new TextEncoder().encode('to both')), udpFrame(40000, 9999, new TextEncoder().encode('no socket')));
    expect(seen).toEqual([{ src: PEER, proto: IpProtocol.UDP, payload: 'to both' }, { src: PEER, proto: IpProtocol.UDP, payload: 'no socket' }]);
    expect(rx.got.map((g) => new TextDecoder().decode(g.data))).toEqual(['to both']);
    // UDP still answers the port nobody bound: the raw copy does not take the packet from it.
    expect(sentIcmp(r).map((m) => [m.type, m.code])).toEqual([[IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PORT]]);
    r.stack.transports.removeRawListener(NetworkFamily.IPV4, IpProtocol.UDP, raw);
    receive(r, udpFrame(40000, 9000, new TextEncoder().encode('socket only')));
    expect(seen).toHaveLength(2);
    finish(r);
  });

  it('a protocol only a raw listener takes gets no "protocol unreachable"; once it leaves, the stack answers with one again', () => {
    const r = rig();
    const got: number[] = [];
    const raw = { input(_b: Uint8Array, _ip: number, length: number) { got.push(length); } };
    r.stack.transports.addRawListener(NetworkFamily.IPV4, EXPERIMENTAL, raw);
    receive(r, ipFrame(EXPERIMENTAL, pattern(40)));
    expect(got).toEqual([60]);
    expect(r.stack.counters.ipUnknownProtocol).toBe(0);
    expect(sentIcmp(r)).toEqual([]);
    r.stack.transports.removeRawListener(NetworkFamily.IPV4, EXPERIMENTAL, raw);
    receive(r, ipFrame(EXPERIMENTAL, pattern(40)));
    expect(r.stack.counters.ipUnknownProtocol).toBe(1);
    expect(sentIcmp(r).map((m) => [m.type, m.code])).toEqual([[IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PROTOCOL]]);
    finish(r);
  });

  it('a raw listener that throws is counted; the packet still reaches its transport', () => {
    const r = rig();
    const rx = collector();
    r.stack.udp4.open(0, 9000, rx);
    r.stack.transports.addRawListener(NetworkFamily.IPV4, IpProtocol.UDP, { input() { throw new Error('listener bug'); } });
    receive(r, udpFrame(40000, 9000, pattern(10)));
    expect(r.stack.counters.receiverErrors).toBe(1);
    expect(rx.got).toHaveLength(1);
    finish(r);
  });

  it('a registered transport takes its protocol and judges ICMP errors quoting it (RFC 5927 §5.1); a second one for the same protocol is refused', () => {
    const r = rig();
    const inputs: number[] = [];
    const judged: number[] = [];
    const handler = {
      broadcast: false,
      input(_b: Uint8Array, _ip: number, length: number) { inputs.push(length); },
      icmpError(type: number, code: number) { judged.push(type * 256 + code); return true; },
    };
    r.stack.transports.register(NetworkFamily.IPV4, EXPERIMENTAL, handler);
    receive(r, ipFrame(EXPERIMENTAL, pattern(12)), ipFrame(EXPERIMENTAL, pattern(12), { dst: SUBNET_BCAST, dstMac: BROADCAST_MAC }));
    expect(inputs).toEqual([32]); // broadcast: false keeps the broadcast copy away
    // An ICMP error quoting one of our packets of that protocol reaches the transport's judgement.
    const m = new Uint8Array(8 + 28);
    emitIpv4(m, 8, US, PEER, EXPERIMENTAL, 8, 64, 77, 0);
    emitIcmpError(m, 0, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.HOST, 28, 0);
    receive(r, ipFrame(IpProtocol.ICMP, m));
    expect(judged).toEqual([IcmpType.DEST_UNREACHABLE * 256 + IcmpUnreachableCode.HOST]);
    expect(r.stack.counters.icmpErrorsUnmatched).toBe(0);
    let err: unknown = null;
    try { r.stack.transports.register(NetworkFamily.IPV4, EXPERIMENTAL, { ...handler }); } catch (e) { err = e; }
    expect((err as WskUsageError).code).toBe('NET_REGISTRY');
    r.stack.transports.unregister(NetworkFamily.IPV4, EXPERIMENTAL, handler);
    receive(r, ipFrame(IpProtocol.ICMP, m));
    expect(r.stack.counters.icmpErrorsUnmatched).toBe(1);
    finish(r);
  });
});

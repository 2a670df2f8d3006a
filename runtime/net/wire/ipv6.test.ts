import { describe, expect, it } from 'vitest';
import {
  emitIpv6, emitIpv6Fragment, IPV6_HEADER_LENGTH, Ipv6Chain, Ipv6Field, Ipv6HeaderChain, Ipv6NextHeader, Ipv6Packet, Ipv6ProblemCode,
  walkIpv6Extensions,
} from './ipv6.ts';
import { ParseError } from './parse-error.ts';
import { pseudoHeaderSumV6, pseudoHeaderSumV6At, transportChecksumValidV6 } from './checksum.ts';
import { CHAIN6, ECHO6, FRAG1_6, HBH_LATE6, hex, OPT01_6, OPT10_6, RH0_6, toHex, UDP6_WHOLE } from './fixtures.ts';
import { Ipv6AddressTable, parseIpv6 } from '../ipv6/address-table.ts';

const E = 14;

function walk(frame: string): { r: number; ch: Ipv6HeaderChain; b: Uint8Array } {
  const b = hex(frame);
  expect(Ipv6Packet.check(b, E, b.length - E)).toBeNull();
  const ch = new Ipv6HeaderChain();
  const r = walkIpv6Extensions(b, E, IPV6_HEADER_LENGTH + new Ipv6Packet(b, E, b.length - E).payloadLength, ch);
  return { r, ch, b };
}

describe('ipv6 header (RFC 8200 §3)', () => {
  it('reads the fixed header of an echo request', () => {
    const b = hex(ECHO6);
    expect(Ipv6Packet.check(b, E, b.length - E)).toBeNull();
    const p = new Ipv6Packet(b, E, b.length - E);
    expect(p.version).toBe(6);
    expect(p.trafficClass).toBe(0);
    expect(p.flowLabel).toBe(0);
    expect(p.payloadLength).toBe(16);
    expect(p.nextHeader).toBe(Ipv6NextHeader.ICMPV6);
    expect(p.hopLimit).toBe(64);
    expect(p.totalLength).toBe(56);
    expect(b[p.sourceOffset]).toBe(0xfe);
    expect(p.payloadOffset).toBe(E + 40);
  });

  it('refuses short packets, another version, and a payload length past the bytes', () => {
    const b = hex(ECHO6);
    expect(Ipv6Packet.check(b, E, 39)).toBe(ParseError.TRUNCATED);
    expect(Ipv6Packet.check(b, E, b.length - E - 1)).toBe(ParseError.TRUNCATED);
    expect(Ipv6Packet.check(b, b.length - 10, 40)).toBe(ParseError.TRUNCATED);
    const v4 = b.slice();
    v4[E] = 0x45;
    expect(Ipv6Packet.check(v4, E, v4.length - E)).toBe(ParseError.BAD_VERSION);
  });

  it('emits the header the generator built (addresses from the table)', () => {
    const want = hex(UDP6_WHOLE);
    const out = new Uint8Array(want.length);
    out.set(want.subarray(40), 40);
    const t = new Ipv6AddressTable();
    emitIpv6(out, 0, 24, Ipv6NextHeader.UDP, 64);
    t.copyTo(t.intern(parseIpv6('fd00:198:18::2')!, 0), out, Ipv6Field.SOURCE);
    t.copyTo(t.intern(parseIpv6('fd00:198:18::1')!, 0), out, Ipv6Field.DESTINATION);
    expect(toHex(out)).toBe(UDP6_WHOLE);
    // Traffic class and flow label (RFC 6437) land in their bits.
    emitIpv6(out, 0, 24, 17, 64, 0xb8, 0xabcde);
    const p = new Ipv6Packet(out, 0, out.length);
    expect(p.trafficClass).toBe(0xb8);
    expect(p.flowLabel).toBe(0xabcde);
  });

  it('the pseudo-header sum from address sums equals the one read from the packet (RFC 8200 §8.1)', () => {
    const b = hex(UDP6_WHOLE);
    const t = new Ipv6AddressTable();
    const s = t.intern(b, Ipv6Field.SOURCE);
    const d = t.intern(b, Ipv6Field.DESTINATION);
    expect(pseudoHeaderSumV6(t.sum(s), t.sum(d), 17, 24) % 0xffff).toBe(pseudoHeaderSumV6At(b, 0, 17, 24) % 0xffff);
    expect(transportChecksumValidV6(b, 0, 40, 24, 17)).toBe(true);
    b[45] ^= 1;
    expect(transportChecksumValidV6(b, 0, 40, 24, 17)).toBe(false);
  });
});

describe('ipv6 extension headers (RFC 8200 §4)', () => {
  it('walks hop-by-hop, destination options (00-type unknown option skipped), routing with segments left 0 and an atomic fragment (RFC 6946)', () => {
    const { r, ch } = walk(CHAIN6);
    expect(r).toBe(Ipv6Chain.OK);
    expect(ch.nextHeader).toBe(Ipv6NextHeader.UDP);
    expect(ch.upperOffset).toBe(E + 40 + 8 + 8 + 8 + 8);
    expect(ch.nextHeaderField).toBe(E + 40 + 24);
    expect(ch.fragment).toBe(-1);
    expect(ch.atomic).toBe(true);
  });

  it('RFC 5095: routing type 0 with segments left is refused, Parameter Problem code 0 at the Routing Type', () => {
    const { r, ch } = walk(RH0_6);
    expect(r).toBe(Ipv6Chain.PARAMETER_PROBLEM);
    expect(ch.problemCode).toBe(Ipv6ProblemCode.HEADER_FIELD);
    expect(ch.problemPointer).toBe(42);
  });

  it('§4.2: an unknown option of type 10 is answered (even to multicast), 01 discarded silently, 11 answered only to unicast', () => {
    const ten = walk(OPT10_6);
    expect(ten.r).toBe(Ipv6Chain.PARAMETER_PROBLEM);
    expect(ten.ch.problemCode).toBe(Ipv6ProblemCode.OPTION);
    expect(ten.ch.problemPointer).toBe(42);
    expect(ten.ch.problemToMulticast).toBe(true);
    expect(walk(OPT01_6).r).toBe(Ipv6Chain.DISCARD);
    const eleven = hex(OPT10_6);
    eleven[E + 42] = 0xc0;
    const ch = new Ipv6HeaderChain();
    expect(walkIpv6Extensions(eleven, E, eleven.length - E, ch)).toBe(Ipv6Chain.PARAMETER_PROBLEM);
    expect(ch.problemToMulticast).toBe(false);
  });

  it('§4.3: hop-by-hop anywhere but first is an unrecognized Next Header (code 1) pointing at the byte that named it', () => {
    const { r, ch } = walk(HBH_LATE6);
    expect(r).toBe(Ipv6Chain.PARAMETER_PROBLEM);
    expect(ch.problemCode).toBe(Ipv6ProblemCode.NEXT_HEADER);
    expect(ch.problemPointer).toBe(40);
  });

  it('§4.5: a real fragment stops the walk at its header', () => {
    const { r, ch } = walk(FRAG1_6);
    expect(r).toBe(Ipv6Chain.OK);
    expect(ch.fragment).toBe(E + 40);
    expect(ch.nextHeaderField).toBe(E + Ipv6Field.NEXT_HEADER);
  });

  it('an extension header or option running past the packet is TRUNCATED; no input throws or reads outside', () => {
    const b = hex(CHAIN6);
    const ch = new Ipv6HeaderChain();
    for (let cut = 40; cut < b.length - E; cut++) {
      const r = walkIpv6Extensions(b, E, cut, ch);
      if (cut < 40 + 32) expect(r).toBe(Ipv6Chain.TRUNCATED);
    }
    // A bad option length inside the hop-by-hop header.
    const bad = hex(CHAIN6);
    bad[E + 40 + 3] = 9;
    expect(walkIpv6Extensions(bad, E, bad.length - E, ch)).toBe(Ipv6Chain.TRUNCATED);
    // Random bytes: a result, never an exception.
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      const r = hex(CHAIN6);
      for (let k = 0; k < 6; k++) { seed = (seed * 1103515245 + 12345) >>> 0; r[E + 6 + (seed % (r.length - E - 6))] = seed >>> 24; }
      expect(() => walkIpv6Extensions(r, E, r.length - E, ch)).not.toThrow();
    }
  });

  it('emits a fragment header (offset in bytes, M bit, identification)', () => {
    const out = new Uint8Array(8);
    emitIpv6Fragment(out, 0, 17, 1448, true, 0x01020304);
    expect(toHex(out)).toBe('110005a901020304');
  });
});

import { describe, expect, it } from 'vitest';
import { emitIcmpEcho, emitIcmpError, IcmpType, IcmpUnreachableCode, Icmpv4Packet } from './icmpv4.ts';
import { Ipv4Packet } from './ipv4.ts';
import { ParseError } from './parse-error.ts';
import { UdpDatagram } from './udp.ts';
import { ECHO, FRAGNEEDED, hex, IP_A, IP_B, PARAMPROB, TIMEEX, toHex } from './fixtures.ts';

describe('icmpv4 (RFC 792, RFC 1191)', () => {
  it('parses an echo request', () => {
    const b = hex(ECHO);
    expect(Icmpv4Packet.check(b, 34, 64)).toBeNull();
    const p = new Icmpv4Packet(b, 34, 64);
    expect(p.type).toBe(IcmpType.ECHO_REQUEST);
    expect(p.code).toBe(0);
    expect(p.checksum).toBe(0xeeb7);
    expect(p.identifier).toBe(0x1234);
    expect(p.sequence).toBe(1);
    expect(p.isError).toBe(false);
    expect(p.dataOffset).toBe(42);
    expect(p.dataLength).toBe(56);
    expect(b[p.dataOffset + 55]).toBe(55);
    expect(p.verifyChecksum()).toBe(true);
  });
  it('turns the request into a reply in place (RFC 792 echo)', () => {
    const b = hex(ECHO);
    const p = new Icmpv4Packet(b, 34, 64);
    p.type = IcmpType.ECHO_REPLY;
    expect(p.verifyChecksum()).toBe(false);
    p.fillChecksum();
    expect(p.checksum).toBe(0xf6b7);
    expect(Icmpv4Packet.check(b, 34, 64)).toBeNull();
  });
  it('emits a byte-identical echo request', () => {
    const want = hex(ECHO);
    const out = new Uint8Array(64);
    out.set(want.subarray(42), 8);
    expect(emitIcmpEcho(out, 0, IcmpType.ECHO_REQUEST, 0x1234, 1, 56)).toBe(8);
    expect(toHex(out)).toBe(toHex(want.subarray(34)));
  });
  it('parses fragmentation-needed with next-hop MTU and the quoted datagram', () => {
    const b = hex(FRAGNEEDED);
    expect(Icmpv4Packet.check(b, 34, 36)).toBeNull();
    const p = new Icmpv4Packet(b, 34, 36);
    expect(p.type).toBe(IcmpType.DEST_UNREACHABLE);
    expect(p.code).toBe(IcmpUnreachableCode.FRAG_NEEDED);
    expect(p.nextHopMtu).toBe(1400);
    expect(p.isError).toBe(true);
    expect(p.quotedOffset).toBe(42);
    expect(p.quotedLength).toBe(28);
    // The quoted header is intact but its datagram is cut: TRUNCATED is expected, fields still readable.
    expect(Ipv4Packet.check(b, p.quotedOffset, p.quotedLength, true)).toBe(ParseError.TRUNCATED);
    const q = new Ipv4Packet(b, p.quotedOffset, p.quotedLength);
    expect(q.src).toBe(IP_A);
    expect(q.dst).toBe(IP_B);
    expect(q.protocol).toBe(17);
    expect(q.totalLength).toBe(1428);
    expect(q.verifyChecksum()).toBe(true);
    const u = new UdpDatagram(b, q.payloadOffset, 8);
    expect(u.srcPort).toBe(40000);
    expect(u.dstPort).toBe(53);
  });
  it('parses time exceeded', () => {
    const b = hex(TIMEEX);
    expect(Icmpv4Packet.check(b, 34, 36)).toBeNull();
    const p = new Icmpv4Packet(b, 34, 36);
    expect(p.type).toBe(IcmpType.TIME_EXCEEDED);
    expect(p.code).toBe(0);
    expect(p.isError).toBe(true);
  });
  it('emits byte-identical error messages', () => {
    for (const [fx, type, code, mtu] of [[FRAGNEEDED, 3, 4, 1400], [TIMEEX, 11, 0, 0]] as const) {
      const want = hex(fx);
      const out = new Uint8Array(36);
      out.set(want.subarray(42), 8);
      expect(emitIcmpError(out, 0, type, code, 28, mtu)).toBe(8);
      expect(toHex(out)).toBe(toHex(want.subarray(34)));
    }
  });
  it('parses and emits a parameter problem: the pointer is the first octet after the checksum (RFC 792)', () => {
    const want = hex(PARAMPROB);
    expect(Icmpv4Packet.check(want, 34, 40)).toBeNull();
    const p = new Icmpv4Packet(want, 34, 40);
    expect([p.type, p.code, p.pointer, p.isError, p.quotedLength]).toEqual([IcmpType.PARAMETER_PROBLEM, 0, 20, true, 32]);
    const out = new Uint8Array(40);
    out.set(want.subarray(42), 8);
    expect(emitIcmpError(out, 0, IcmpType.PARAMETER_PROBLEM, 0, 32, 20)).toBe(8);
    expect(toHex(out)).toBe(toHex(want.subarray(34)));
  });
  it('rejects corruption and truncation', () => {
    const b = hex(ECHO);
    b[60]! ^= 1;
    expect(Icmpv4Packet.check(b, 34, 64)).toBe(ParseError.BAD_CHECKSUM);
    expect(Icmpv4Packet.check(b, 34, 64, false)).toBeNull();
    const g = hex(ECHO);
    for (let n = 0; n < 64; n++) expect(Icmpv4Packet.check(g, 34, n)).not.toBeNull();
    for (let n = 0; n < 8; n++) expect(Icmpv4Packet.check(g, 34, n)).toBe(ParseError.TRUNCATED);
    expect(Icmpv4Packet.check(g, 34, 65)).toBe(ParseError.TRUNCATED);
  });
});

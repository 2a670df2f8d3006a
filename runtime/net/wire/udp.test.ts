import { describe, expect, it } from 'vitest';
import { ParseError } from './parse-error.ts';
import { emitUdp, UdpDatagram } from './udp.ts';
import { hex, IP_A, IP_B, toHex, UDP } from './fixtures.ts';

describe('udp (RFC 768)', () => {
  it('parses every field and verifies the checksum', () => {
    const b = hex(UDP);
    expect(UdpDatagram.check(b, 34, 13, IP_A, IP_B)).toBeNull();
    const u = new UdpDatagram(b, 34, 13);
    expect(u.srcPort).toBe(40000);
    expect(u.dstPort).toBe(53);
    expect(u.udpLength).toBe(13);
    expect(u.checksum).toBe(0x9364);
    expect(u.payloadOffset).toBe(42);
    expect(u.payloadLength).toBe(5);
    expect(new TextDecoder().decode(b.subarray(42, 47))).toBe('hello');
    expect(u.verifyChecksum(IP_A, IP_B)).toBe(true);
    expect(u.verifyChecksum(IP_B, IP_A + 2)).toBe(false);
  });
  it('emits byte-identical datagrams, with and without checksum', () => {
    const want = hex(UDP).subarray(34);
    const out = new Uint8Array(13);
    out.set(want.subarray(8), 8);
    expect(emitUdp(out, 0, 40000, 53, 5, IP_A, IP_B)).toBe(8);
    expect(toHex(out)).toBe(toHex(want));
    emitUdp(out, 0, 40000, 53, 5);
    expect(out[6]).toBe(0);
    expect(out[7]).toBe(0);
    expect(UdpDatagram.check(out, 0, 13, IP_A, IP_B)).toBeNull(); // 0 = no checksum
    new UdpDatagram(out, 0, 13).fillChecksum(IP_A, IP_B);
    expect(toHex(out)).toBe(toHex(want));
  });
  it('sends a computed zero checksum as 0xffff', () => {
    // Choose the payload so the checksum computes to 0: put the complement in the payload.
    const out = new Uint8Array(10);
    emitUdp(out, 0, 1, 2, 2, IP_A, IP_B);
    const c = (out[6]! << 8) | out[7]!;
    out[8] = c >>> 8; out[9] = c & 0xff; // payload word = previous checksum -> new sum all-ones
    emitUdp(out, 0, 1, 2, 2, IP_A, IP_B);
    expect((out[6]! << 8) | out[7]!).toBe(0xffff);
    expect(UdpDatagram.check(out, 0, 10, IP_A, IP_B)).toBeNull();
  });
  it('rejects corruption, bad length and truncation', () => {
    const b = hex(UDP);
    b[44]! ^= 4;
    expect(UdpDatagram.check(b, 34, 13, IP_A, IP_B)).toBe(ParseError.BAD_CHECKSUM);
    expect(UdpDatagram.check(b, 34, 13)).toBeNull();
    const g = hex(UDP);
    for (let n = 0; n < 13; n++) expect(UdpDatagram.check(g, 34, n, IP_A, IP_B)).toBe(ParseError.TRUNCATED);
    g[38] = 0; g[39] = 7;
    expect(UdpDatagram.check(g, 34, 13)).toBe(ParseError.BAD_LENGTH);
    g[39] = 14;
    expect(UdpDatagram.check(g, 34, 13)).toBe(ParseError.TRUNCATED);
  });
});

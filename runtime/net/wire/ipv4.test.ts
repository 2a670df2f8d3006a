import { describe, expect, it } from 'vitest';
import { emitIpv4, IpProtocol, Ipv4Flags, Ipv4Packet } from './ipv4.ts';
import { ParseError } from './parse-error.ts';
import { DATA, ECHO, FRAGNEEDED, hex, IP_A, IP_B, IPOPTS, SYN, toHex, UDP } from './fixtures.ts';

describe('ipv4 (RFC 791)', () => {
  it('parses every header field of a TCP SYN', () => {
    const b = hex(SYN);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBeNull();
    const p = new Ipv4Packet(b, 14, b.length - 14);
    expect(p.version).toBe(4);
    expect(p.ihl).toBe(5);
    expect(p.headerLength).toBe(20);
    expect(p.dscp).toBe(0);
    expect(p.ecn).toBe(0);
    expect(p.totalLength).toBe(60);
    expect(p.identification).toBe(0x1c46);
    expect(p.flags).toBe(2);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.fragmentOffset).toBe(0);
    expect(p.isFragment).toBe(false);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(IpProtocol.TCP);
    expect(p.checksum).toBe(0x924e);
    expect(p.src).toBe(IP_A);
    expect(p.dst).toBe(IP_B);
    expect(p.optionsLength).toBe(0);
    expect(p.payloadOffset).toBe(34);
    expect(p.payloadLength).toBe(40);
    expect(p.verifyChecksum()).toBe(true);
  });
  it('respects IHL: options are skipped, payload starts after them', () => {
    const b = hex(IPOPTS);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBeNull();
    const p = new Ipv4Packet(b, 14, b.length - 14);
    expect(p.ihl).toBe(6);
    expect(p.optionsOffset).toBe(34);
    expect(p.optionsLength).toBe(4);
    expect(b[p.optionsOffset]).toBe(0x94); // router alert
    expect(p.payloadOffset).toBe(38);
    expect(p.payloadLength).toBe(10);
    expect(p.protocol).toBe(IpProtocol.UDP);
  });
  it('uses Total Length, not the (padded) frame length', () => {
    const b = hex(UDP + '00'.repeat(12));
    const p = new Ipv4Packet(b, 14, b.length - 14);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBeNull();
    expect(p.payloadLength).toBe(13);
  });
  it('reads fragment fields', () => {
    const b = hex(SYN);
    b[14 + 6] = 0x20 | 0x01; b[14 + 7] = 0x02; // MF, offset 0x102
    const p = new Ipv4Packet(b, 14, b.length - 14);
    expect(p.moreFragments).toBe(true);
    expect(p.dontFragment).toBe(false);
    expect(p.fragmentOffset).toBe(0x102);
    expect(p.isFragment).toBe(true);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_CHECKSUM);
    p.fillChecksum();
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBeNull();
    expect(new Ipv4Packet(hex(FRAGNEEDED), 14, 56).dontFragment).toBe(false);
  });
  it('emits byte-identical headers', () => {
    for (const [fx, proto, id, ff] of [[SYN, 6, 0x1c46, Ipv4Flags.DF], [DATA, 6, 0x0102, Ipv4Flags.DF], [ECHO, 1, 1, Ipv4Flags.DF], [FRAGNEEDED, 1, 2, 0]] as const) {
      const want = hex(fx);
      const tot = (want[16]! << 8) | want[17]!;
      const src = new Ipv4Packet(want, 14, want.length - 14).src;
      const dst = new Ipv4Packet(want, 14, want.length - 14).dst;
      const out = new Uint8Array(40);
      expect(emitIpv4(out, 10, src, dst, proto, tot - 20, 64, id, ff)).toBe(20);
      expect(toHex(out.subarray(10, 30))).toBe(toHex(want.subarray(14, 34)));
    }
  });
  it('checksum: known-good passes, corrupted fails, unverified when asked', () => {
    const b = hex(DATA);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBeNull();
    b[14 + 15]! ^= 0x80;
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_CHECKSUM);
    expect(Ipv4Packet.check(b, 14, b.length - 14, false)).toBeNull();
  });
  it('rejects bad version, IHL and total length', () => {
    const mk = (i: number, v: number) => { const b = hex(IPOPTS); b[14 + i] = v; return b; };
    let b = mk(0, 0x66);
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_VERSION);
    for (let ihl = 0; ihl < 5; ihl++) {
      b = mk(0, 0x40 | ihl);
      expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_HEADER_LENGTH);
    }
    b = mk(0, 0x4f); // 60-byte header in a 36-byte packet
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.TRUNCATED);
    b = mk(0, 0x48); // a 32-byte header fits in total length 34, but the checksum then covers other bytes
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_CHECKSUM);
    b = mk(3, 23); // total length < header length
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_TOTAL_LENGTH);
    b = mk(3, 0); b[14 + 2] = 0;
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.BAD_TOTAL_LENGTH);
    b = mk(3, 200); // total length past the frame
    expect(Ipv4Packet.check(b, 14, b.length - 14)).toBe(ParseError.TRUNCATED);
  });
  it('rejects every truncation 0..full-1 without throwing', () => {
    for (const fx of [SYN, IPOPTS, ECHO, DATA]) {
      const b = hex(fx);
      const full = b.length - 14;
      for (let n = 0; n < full; n++) expect(Ipv4Packet.check(b, 14, n)).not.toBeNull();
      expect(Ipv4Packet.check(b, 14, full)).toBeNull();
      // also with the backing array itself cut short
      for (let n = 0; n < full; n++) expect(Ipv4Packet.check(b.subarray(0, 14 + n), 14, n)).not.toBeNull();
    }
  });
});

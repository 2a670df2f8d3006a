import { describe, expect, it } from 'vitest';
import {
  emitIpv4, IpProtocol, IPV4_OPTIONS_SOURCE_ROUTED, IPV4_OPTIONS_VALID, Ipv4Flags, Ipv4Packet, validateIpv4Options,
} from './ipv4.ts';
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

describe('ipv4 options (RFC 791 §3.1, RFC 2113; as Linux __ip_options_compile checks a received packet)', () => {
  /** A 20-byte header (the option checks read nothing of it) followed by `options` at offset 7 of a buffer. */
  const header = (...options: number[]): Uint8Array => {
    const b = new Uint8Array(7 + 20 + options.length);
    b[7] = 0x40 | ((20 + options.length) >> 2);
    b.set(options, 27);
    return b;
  };
  const check = (...options: number[]): number => validateIpv4Options(header(...options), 7, 20 + options.length);

  it('well-formed options pass: NOP, EOL (then anything), record route with room or full, timestamps, router alert, unknown options by their length', () => {
    const ok: number[][] = [
      [1, 1, 1, 0],
      [0, 0xff, 0x07, 0x09], // after EOL the rest is padding, whatever it holds
      [7, 7, 4, 0, 0, 0, 0, 0], // record route, room for one address
      [7, 7, 8, 1, 2, 3, 4, 0], // record route, full (pointer past the end)
      [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamps only, room for two
      [68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0], // address and timestamp pairs, room for one
      [68, 8, 9, 0x30, 0, 0, 0, 0], // full, overflow 3
      [68, 8, 9, 0xf3, 0, 0, 0, 0], // full prespecified: its overflow is never counted
      [148, 4, 0, 0], // router alert
      [136, 4, 0x12, 0x34], // stream ID: not checked, skipped by length
      [130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // security: skipped by length
      [0x9e, 2, 1, 0], // an unknown option of 2 bytes, then NOP, EOL
    ];
    for (const o of ok) expect(check(...o), o.join(',')).toBe(IPV4_OPTIONS_VALID);
    expect(validateIpv4Options(header(), 7, 20)).toBe(IPV4_OPTIONS_VALID);
    expect(check(131, 7, 8, 198, 18, 0, 2, 0)).toBe(IPV4_OPTIONS_SOURCE_ROUTED); // loose source route, used up
    expect(check(137, 11, 4, 198, 18, 0, 9, 198, 18, 0, 2, 0)).toBe(IPV4_OPTIONS_SOURCE_ROUTED);
  });

  it('malformed options give the offset (from the header start) of the offending octet, the Parameter Problem pointer', () => {
    const bad: [number[], number][] = [
      [[7, 8, 4, 0], 20], // length runs past the header
      [[1, 1, 1, 7], 23], // a type octet with no room for a length
      [[136, 0, 0, 0], 20], // length 0
      [[148, 1, 0, 0], 20], // length 1
      [[148, 2, 0, 0], 21], // router alert shorter than 4
      [[68, 3, 5, 0], 21], // timestamp shorter than 4
      [[68, 8, 4, 0, 0, 0, 0, 0], 22], // timestamp pointer below 5
      [[68, 8, 5, 1, 0, 0, 0, 0], 22], // pointer leaves no room for an address-and-timestamp pair
      [[68, 6, 5, 0, 0, 0, 0, 0], 22], // pointer leaves no room for a timestamp
      [[68, 4, 5, 0xf0], 23], // full and the overflow counter is at 15
      [[7, 3, 3, 0], 22], // record route pointer below 4
      [[7, 2, 0, 0], 21], // record route shorter than 3
      [[7, 7, 5, 0, 0, 0, 0, 0], 22], // pointer leaves no room for an address
      [[7, 3, 4, 7, 3, 4, 0, 0], 23], // a second record route
      [[68, 4, 5, 0, 68, 4, 5, 0], 24], // a second timestamp
      [[131, 2, 0, 0], 21], // source route shorter than 3
      [[131, 3, 3, 0], 22], // source route pointer below 4
      [[131, 3, 4, 137, 3, 4, 0, 0], 23], // a second source route
    ];
    for (const [o, pointer] of bad) expect(check(...o), o.join(',')).toBe(pointer);
  });

  it('never reads past the header, whatever the bytes', () => {
    const b = new Uint8Array(60);
    for (let seed = 1; seed < 2000; seed++) {
      let x = seed;
      for (let i = 20; i < 60; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
      const hl = 24 + 4 * (seed % 10);
      const r = validateIpv4Options(b.subarray(0, hl), 0, hl);
      expect(r === IPV4_OPTIONS_VALID || r === IPV4_OPTIONS_SOURCE_ROUTED || (r >= 20 && r < hl)).toBe(true);
    }
  });
});

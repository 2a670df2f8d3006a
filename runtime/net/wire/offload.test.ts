import { describe, expect, it } from 'vitest';
import { finishTransportChecksum, TcpSegmenter } from './offload.ts';
import { ParseError } from './parse-error.ts';
import { GSO_PACKETS, GSO_SUPER, hex, SYN, toHex, UDP, UDP_PARTIAL, UDP_ZERO_FINISHED, UDP_ZERO_PARTIAL, VLAN } from './fixtures.ts';

describe('finishTransportChecksum (what a device does with CHECKSUM_PARTIAL)', () => {
  it('turns a pseudo-header sum into the full UDP checksum', () => {
    const b = hex(UDP_PARTIAL);
    expect(finishTransportChecksum(b, 0, b.length, 14)).toBeNull();
    expect(toHex(b)).toBe(UDP);
  });
  it('RFC 768: a UDP checksum that computes to zero is sent as all ones', () => {
    const b = hex(UDP_ZERO_PARTIAL);
    expect(finishTransportChecksum(b, 0, b.length, 14)).toBeNull();
    expect(toHex(b)).toBe(UDP_ZERO_FINISHED);
  });
  it('finishes TCP, also in a bare IP packet (no link header)', () => {
    const b = hex(GSO_PACKETS[2]);
    const want = toHex(b);
    b[50] = 0x8c; b[51] = 0x52; // the pseudo-header sum of this 36-byte segment (computed in Python)
    const ip = b.subarray(14);
    expect(finishTransportChecksum(ip, 0, ip.length, 0)).toBeNull();
    expect(toHex(b)).toBe(want);
  });
  it('leaves anything but an unfragmented IPv4 TCP/UDP packet untouched, without throwing', () => {
    const cases: [string, (b: Uint8Array) => void, ParseError][] = [
      [VLAN, () => {}, ParseError.UNSUPPORTED],
      [UDP_PARTIAL, (b) => { b[23] = 1; }, ParseError.UNSUPPORTED], // ICMP
      [UDP_PARTIAL, (b) => { b[20] = 0x20; }, ParseError.UNSUPPORTED], // MF: a first fragment
      [UDP_PARTIAL, (b) => { b[14] = 0x65; }, ParseError.BAD_VERSION],
    ];
    for (const [fx, edit, code] of cases) {
      const b = hex(fx);
      edit(b);
      const before = toHex(b);
      expect(finishTransportChecksum(b, 0, b.length, 14)).toBe(code);
      expect(toHex(b)).toBe(before);
    }
    const b = hex(UDP_PARTIAL);
    for (let n = 0; n < b.length; n++) expect(finishTransportChecksum(b, 0, n, 14)).not.toBeNull();
    const syn = hex(SYN);
    expect(finishTransportChecksum(syn, 0, 14 + 20 + 19, 14)).toBe(ParseError.TRUNCATED);
  });
});

describe('TcpSegmenter (Linux software GSO: tcp_gso_segment, inet_gso_segment)', () => {
  it('cuts a super-segment into the packets Linux makes of it: length, id, checksums, SEQ (wrapping), CWR first, PSH|FIN last', () => {
    const src = hex(GSO_SUPER);
    const g = new TcpSegmenter();
    expect(g.plan(src, 0, src.length, 14, 8)).toBeNull();
    expect([g.count, g.segmentSize, g.headerLength, g.payloadLength]).toEqual([3, 8, 66, 20]);
    for (let i = 0; i < 3; i++) {
      const out = new Uint8Array(100).fill(0xee);
      expect(g.packetLength(i)).toBe(GSO_PACKETS[i].length / 2);
      const n = g.packet(i, out, 7);
      expect(n).toBe(GSO_PACKETS[i].length / 2);
      expect(toHex(out.subarray(7, 7 + n)), `packet ${i}`).toBe(GSO_PACKETS[i]);
      expect(out[6]).toBe(0xee);
      expect(out[7 + n]).toBe(0xee);
    }
  });

  it('writes the packets in any order, packet 0 in place over the super-segment, into the same array without views', () => {
    const all = new Uint8Array(400);
    all.set(hex(GSO_SUPER), 10);
    const g = new TcpSegmenter();
    expect(g.plan(all, 10, GSO_SUPER.length / 2, 14, 8)).toBeNull();
    const at = [10, 200, 300];
    for (const i of [2, 0, 1]) g.packet(i, all, at[i]!);
    for (const i of [0, 1, 2]) expect(toHex(all.subarray(at[i]!, at[i]! + GSO_PACKETS[i].length / 2)), `packet ${i}`).toBe(GSO_PACKETS[i]);
  });

  it('in a bare IP packet (no link header), the same IP and TCP bytes', () => {
    const src = hex(GSO_SUPER).subarray(14);
    const g = new TcpSegmenter();
    expect(g.plan(src, 0, src.length, 0, 8)).toBeNull();
    const out = new Uint8Array(100);
    const n = g.packet(1, out, 0);
    expect(toHex(out.subarray(0, n))).toBe(GSO_PACKETS[1].slice(28));
  });

  it('segment size 0: as much as a packet of the MTU holds with these headers (a GRO aggregate has no segment size)', () => {
    const src = hex(GSO_SUPER);
    const g = new TcpSegmenter();
    // 20 + 32 + 8 = 60: the packets are those of segment size 8.
    expect(g.plan(src, 0, src.length, 14, 0, 60)).toBeNull();
    expect(g.count).toBe(3);
    const out = new Uint8Array(100);
    expect(toHex(out.subarray(0, g.packet(2, out, 0)))).toBe(GSO_PACKETS[2]);
    expect(g.plan(src, 0, src.length, 14, 0, 52)).toBe(ParseError.BAD_LENGTH); // no room for payload
    expect(g.count).toBe(0);
  });

  it('a segment that fits one packet is one packet, rewritten byte for byte but for its finished checksum', () => {
    const src = hex(GSO_SUPER);
    const g = new TcpSegmenter();
    expect(g.plan(src, 0, src.length, 14, 20)).toBeNull();
    expect(g.count).toBe(1);
    const out = new Uint8Array(100);
    const n = g.packet(0, out, 0);
    const want = hex(GSO_SUPER);
    expect(finishTransportChecksum(want, 0, want.length, 14)).toBeNull();
    expect(toHex(out.subarray(0, n))).toBe(toHex(want));
  });

  it('plans nothing for what is not one whole IPv4 TCP segment, and never throws', () => {
    const g = new TcpSegmenter();
    const edits: [(b: Uint8Array) => void, ParseError][] = [
      [(b) => { b[12] = 0x81; }, ParseError.UNSUPPORTED], // VLAN-tagged
      [(b) => { b[23] = 17; }, ParseError.UNSUPPORTED], // UDP
      [(b) => { b[20] = 0x40 | 0x20; }, ParseError.UNSUPPORTED], // DF|MF: a fragment
      [(b) => { b[46] = 0x40; }, ParseError.BAD_HEADER_LENGTH], // TCP data offset 4
      [(b) => { b[57] = 9; }, ParseError.BAD_OPTION], // timestamps option of length 9
    ];
    for (const [edit, code] of edits) {
      const b = hex(GSO_SUPER);
      edit(b);
      expect(g.plan(b, 0, b.length, 14, 8)).toBe(code);
      expect(g.count).toBe(0);
    }
    const b = hex(GSO_SUPER);
    for (let n = 0; n < b.length; n++) expect(g.plan(b, 0, n, 14, 8), `length ${n}`).not.toBeNull();
    for (let n = 0; n < b.length; n++) expect(g.plan(b.subarray(0, n), 0, n, 14, 8), `array cut at ${n}`).not.toBeNull();
  });
});

describe('IPv6 (RFC 8200: ipv6_gso_segment, a transport header right after the fixed header)', () => {
  /** Ethernet + IPv6 + TCP (12 bytes of options) + `payload` bytes, built here byte by byte; checksum field = `checksum`. */
  function frame6(payload: number, flags: number, checksum: number): Uint8Array {
    const f = new Uint8Array(14 + 40 + 32 + payload);
    f[12] = 0x86; f[13] = 0xdd;
    f[14] = 0x60; f[15] = 0x01; f[16] = 0x23; f[17] = 0x45; // version 6, flow label 0x12345
    f[18] = (32 + payload) >> 8; f[19] = (32 + payload) & 0xff;
    f[20] = 6; f[21] = 64;
    f.set([0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 22);
    f.set([0xfd, 0, 1, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 38);
    const t = 54;
    f.set([0xc0, 0x00, 0x00, 0x50, 0xff, 0xff, 0xfc, 0x00, 0, 0, 0, 1, 0x80, flags, 0x01, 0x00], t);
    f[t + 16] = checksum >> 8; f[t + 17] = checksum & 0xff;
    f.set([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9], t + 20); // NOP NOP timestamps
    for (let i = 0; i < payload; i++) f[t + 32 + i] = (i * 7) & 0xff;
    return f;
  }
  /** RFC 8200 §8.1 checksum check of the TCP segment in an Ethernet + IPv6 frame. */
  function tcp6ChecksumOk(f: Uint8Array): boolean {
    const len = (f[18]! << 8) | f[19]!;
    let sum = len + 6;
    for (let i = 22; i < 54; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
    for (let i = 54; i < 54 + len; i += 2) sum += (f[i]! << 8) | (i + 1 < 54 + len ? f[i + 1]! : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    return sum === 0xffff;
  }

  it('cuts an IPv6 super-segment: Payload Length per packet, SEQ advanced (wrapping), PSH|FIN last, every checksum over the IPv6 pseudo-header', () => {
    const src = frame6(2500, 0x19 /* FIN PSH ACK */, 0);
    const g = new TcpSegmenter();
    expect(g.plan(src, 0, src.length, 14, 1000)).toBeNull();
    expect([g.count, g.headerLength, g.payloadLength]).toEqual([3, 14 + 40 + 32, 2500]);
    const lengths: number[] = [];
    for (let i = 0; i < g.count; i++) {
      const out = new Uint8Array(g.packetLength(i));
      expect(g.packet(i, out, 0)).toBe(out.length);
      const n = out.length - 86;
      lengths.push(n);
      expect((out[18]! << 8) | out[19]!).toBe(32 + n);
      expect(out.subarray(14, 18)).toEqual(src.subarray(14, 18)); // version, class, flow label kept
      const seq = ((out[58]! << 24) | (out[59]! << 16) | (out[60]! << 8) | out[61]!) | 0;
      expect(seq).toBe((0xfffffc00 + i * 1000) | 0);
      expect(out[67]).toBe(i === 2 ? 0x19 : 0x10);
      expect(out.subarray(86)).toEqual(src.subarray(86 + i * 1000, 86 + i * 1000 + n));
      expect(tcp6ChecksumOk(out)).toBe(true);
    }
    expect(lengths).toEqual([1000, 1000, 500]);
  });

  it('finishTransportChecksum completes an IPv6 TCP checksum left as the pseudo-header sum; IPv6 with an extension header is left alone', () => {
    // The folded pseudo-header sum of this frame: addresses, length 32 + 100, next header 6.
    let pseudo = 32 + 100 + 6;
    const f0 = frame6(100, 0x18, 0);
    for (let i = 22; i < 54; i += 2) pseudo += (f0[i]! << 8) | f0[i + 1]!;
    while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
    const f = frame6(100, 0x18, pseudo);
    expect(finishTransportChecksum(f, 0, f.length, 14)).toBeNull();
    expect(tcp6ChecksumOk(f)).toBe(true);
    const ext = frame6(100, 0x18, pseudo);
    ext[20] = 60; // a destination options header first
    const before = toHex(ext);
    expect(finishTransportChecksum(ext, 0, ext.length, 14)).toBe(ParseError.UNSUPPORTED);
    expect(toHex(ext)).toBe(before);
  });
});

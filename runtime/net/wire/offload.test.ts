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

import { describe, expect, it } from 'vitest';
import { checksumAdd, checksumFold, checksumUpdate16, checksumUpdate32, internetChecksum, pseudoHeaderSumV4 } from './checksum.ts';
import { DATA, ECHO, hex, IP_A, IP_B, SYN, UDP } from './fixtures.ts';

describe('checksum (RFC 1071/1624)', () => {
  it('matches the RFC 1071 §3 worked example', () => {
    const b = hex('0001f203f4f5f6f7');
    expect(checksumAdd(b, 0, 8)).toBe(0x2ddf0);
    expect(checksumFold(checksumAdd(b, 0, 8))).toBe(0xddf2);
    expect(internetChecksum(b, 0, 8)).toBe(0x220d);
  });
  it('pads an odd trailing byte with zero and honours offset', () => {
    const b = hex('ff0001f203f4f5f6f7ab');
    expect(internetChecksum(b, 1, 9)).toBe(internetChecksum(hex('0001f203f4f5f6f7ab00'), 0, 10));
    expect(internetChecksum(b, 0, 0)).toBe(0xffff);
    expect(internetChecksum(hex('01'), 0, 1)).toBe(0xfeff);
  });
  it('verifies known-good IPv4 headers and rejects a corrupted one', () => {
    for (const f of [SYN, DATA, ECHO, UDP]) {
      const b = hex(f);
      expect(internetChecksum(b, 14, 20)).toBe(0);
      b[14 + 8]! ^= 0x01; // TTL bit flip
      expect(internetChecksum(b, 14, 20)).not.toBe(0);
    }
  });
  it('verifies TCP with the pseudo-header', () => {
    const b = hex(SYN);
    const len = b.length - 34;
    expect(internetChecksum(b, 34, len, pseudoHeaderSumV4(IP_A, IP_B, 6, len))).toBe(0);
    expect(internetChecksum(b, 34, len, pseudoHeaderSumV4(IP_B, IP_A + 1, 6, len))).not.toBe(0);
  });
  it('handles long buffers without losing carries', () => {
    const b = new Uint8Array(1 << 20).fill(0xff);
    expect(checksumFold(checksumAdd(b, 0, b.length))).toBe(0xffff);
    const c = new Uint8Array((1 << 20) + 3).fill(0xab);
    // reference: fold every step
    let s = 0;
    for (let i = 0; i + 1 < c.length; i += 2) { s += (c[i]! << 8) | c[i + 1]!; s = (s & 0xffff) + (s >>> 16); }
    s += c[c.length - 1]! << 8; s = (s & 0xffff) + (s >>> 16); s = (s & 0xffff) + (s >>> 16);
    expect(checksumFold(checksumAdd(c, 0, c.length))).toBe(s);
  });
  it('incremental update (RFC 1624) equals recomputation', () => {
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
    const b = hex(SYN);
    for (let n = 0; n < 2000; n++) {
      const hdr = b.subarray(14, 34);
      hdr[10] = 0; hdr[11] = 0;
      const c = internetChecksum(hdr, 0, 20);
      hdr[10] = c >>> 8; hdr[11] = c & 0xff;
      const w = 2 * (rnd() % 10);
      if (w === 10) continue;
      const oldW = (hdr[w]! << 8) | hdr[w + 1]!;
      const newW = rnd() & 0xffff;
      hdr[w] = newW >>> 8; hdr[w + 1] = newW & 0xff;
      const upd = checksumUpdate16(c, oldW, newW);
      hdr[10] = upd >>> 8; hdr[11] = upd & 0xff;
      expect(checksumFold(checksumAdd(hdr, 0, 20))).toBe(0xffff);
    }
    // RFC 1624 §4 example: HC 0xdd2f, m 0x5555 -> m' 0x3285 gives 0x0000
    expect(checksumUpdate16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });
  it('32-bit update equals recomputation (TCP sequence rewrite)', () => {
    const b = hex(DATA);
    const off = 34, len = b.length - off;
    const old = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
    const oldC = (b[off + 16]! << 8) | b[off + 17]!;
    const nv = 0xfedcba98;
    b[off + 4] = nv >>> 24; b[off + 5] = (nv >>> 16) & 0xff; b[off + 6] = (nv >>> 8) & 0xff; b[off + 7] = nv & 0xff;
    const c = checksumUpdate32(oldC, old, nv);
    b[off + 16] = c >>> 8; b[off + 17] = c & 0xff;
    expect(internetChecksum(b, off, len, pseudoHeaderSumV4(IP_A, IP_B, 6, len))).toBe(0);
  });
});

describe('checksumAdd word path', () => {
  it('sums native 16-bit words exactly as the byte loop does, at every alignment, length and initial value (RFC 1071 §2(B))', () => {
    const buf = new Uint8Array(4096 + 8);
    let x = 12345;
    for (let i = 0; i < buf.length; i++) { x = (x * 1103515245 + 12345) >>> 0; buf[i] = x >>> 24; }
    const slow = (b: Uint8Array, off: number, len: number, init: number): number => {
      let s = init;
      for (let i = 0; i + 1 < len; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
      if (len & 1) s += b[off + len - 1]! << 8;
      return checksumFold(s);
    };
    for (const off of [0, 1, 2, 3, 6, 290]) {
      for (const len of [0, 1, 63, 64, 65, 1500, 1501, 3800]) {
        for (const init of [0, 0x1234, 0x3fffe]) {
          expect(checksumFold(checksumAdd(buf, off, len, init)), `off ${off} len ${len}`).toBe(slow(buf, off, len, init));
        }
      }
    }
    const view = buf.subarray(3); // odd byteOffset: the byte loop handles it
    expect(checksumFold(checksumAdd(view, 1, 1000))).toBe(slow(view, 1, 1000, 0));
  });
});

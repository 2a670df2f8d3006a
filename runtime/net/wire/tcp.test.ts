import { describe, expect, it } from 'vitest';
import { ParseError } from './parse-error.ts';
import { emitTcp, emitTcpOptions, parseTcpOptions, TcpFlags, TcpOptions, TcpSegment } from './tcp.ts';
import { DATA, hex, IP_A, IP_B, SYN, SYNACK, toHex } from './fixtures.ts';

/** A 20-byte header followed by `opts` (hex, padded by the caller to a multiple of 4). */
function withOptions(opts: string): Uint8Array {
  const b = hex('9c4714510000000100000000' + (((20 + opts.length / 2) / 4) << 4).toString(16).padStart(2, '0') + '02ffff00000000' + opts);
  return b;
}

describe('tcp (RFC 9293, RFC 7323, RFC 2018)', () => {
  it('parses every header field of a SYN', () => {
    const b = hex(SYN);
    const len = b.length - 34;
    expect(TcpSegment.check(b, 34, len, IP_A, IP_B)).toBeNull();
    const t = new TcpSegment(b, 34, len);
    expect(t.srcPort).toBe(40007);
    expect(t.dstPort).toBe(5201);
    expect(t.seq).toBe(0xdeadbeef);
    expect(t.ack).toBe(0);
    expect(t.dataOffset).toBe(10);
    expect(t.headerLength).toBe(40);
    expect(t.reserved).toBe(0);
    expect(t.flags).toBe(TcpFlags.SYN);
    expect([t.fin, t.syn, t.rst, t.psh, t.ackFlag, t.urg, t.ece, t.cwr]).toEqual([false, true, false, false, false, false, false, false]);
    expect(t.window).toBe(64240);
    expect(t.checksum).toBe(0x72b0);
    expect(t.urgentPointer).toBe(0);
    expect(t.optionsOffset).toBe(54);
    expect(t.optionsLength).toBe(20);
    expect(t.payloadOffset).toBe(74);
    expect(t.payloadLength).toBe(0);
    expect(t.segmentLength).toBe(1);
    expect(t.verifyChecksum(IP_A, IP_B)).toBe(true);
  });
  it('parses SYN options: MSS, SACK-permitted, timestamps, NOP, window scale', () => {
    const b = hex(SYNACK);
    const t = new TcpSegment(b, 34, b.length - 34);
    const o = new TcpOptions();
    expect(t.parseOptions(o)).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.sackPermitted).toBe(true);
    expect(o.hasTimestamps).toBe(true);
    expect(o.tsVal).toBe(1);
    expect(o.tsEcr).toBe(0);
    expect(o.windowScale).toBe(7);
    expect(o.sackCount).toBe(0);
  });
  it('parses a data segment with timestamps and SACK blocks; one options object is reused', () => {
    const b = hex(DATA);
    const len = b.length - 34;
    expect(TcpSegment.check(b, 34, len, IP_A, IP_B)).toBeNull();
    const t = new TcpSegment(b, 34, len);
    expect(t.flags).toBe(TcpFlags.PSH | TcpFlags.ACK);
    expect(t.seq).toBe(100);
    expect(t.ack).toBe(200);
    expect(t.window).toBe(501);
    expect(t.payloadLength).toBe(12);
    expect(new TextDecoder().decode(b.subarray(t.payloadOffset, t.payloadOffset + t.payloadLength))).toBe('hello, wire!');
    const o = new TcpOptions();
    o.mss = 9; o.windowScale = 3; o.sackPermitted = true; // stale values must be cleared
    expect(t.parseOptions(o)).toBeNull();
    expect(o.mss).toBe(-1);
    expect(o.windowScale).toBe(-1);
    expect(o.sackPermitted).toBe(false);
    expect([o.hasTimestamps, o.tsVal, o.tsEcr]).toEqual([true, 100, 50]);
    expect(o.sackCount).toBe(2);
    expect(Array.from(o.sackBlocks.subarray(0, 4))).toEqual([1000, 2000, 3000, 4000]);
  });
  it('parses four SACK blocks, unknown options by length, and stops at EOL', () => {
    const four = '0522' + [1, 2, 3, 4, 5, 6, 7, 8].map((x) => x.toString(16).padStart(8, '0')).join('') + '0101';
    const o = new TcpOptions();
    let b = withOptions(four);
    expect(TcpSegment.check(b, 0, b.length)).toBeNull();
    expect(new TcpSegment(b, 0, b.length).parseOptions(o)).toBeNull();
    expect(o.sackCount).toBe(4);
    expect(Array.from(o.sackBlocks)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    b = withOptions('fe06aabbccdd' + '020405b4' + '0103030e' + '00ffffff'); // exp option, mss, wscale 14, EOL then junk
    expect(TcpSegment.check(b, 0, b.length)).toBeNull();
    expect(new TcpSegment(b, 0, b.length).parseOptions(o)).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.windowScale).toBe(14);
  });
  it('rejects malformed option lengths', () => {
    const bad = [
      '02000000', // MSS length 0
      '02010000', // length 1
      '01010102', // kind at the last byte with no length byte
      '020805b4', // MSS length runs past the header
      '0203050000000000', // MSS wrong length (3)
      '03040700', // window scale wrong length
      '04030000', // SACK-permitted wrong length
      '080800000001000000000000', // timestamps wrong length
      '0502000000000000', // SACK with no blocks
      '050600000001000000000000', // SACK length not 2+8n
      '052a' + '00'.repeat(40 + 2), // five SACK blocks (also longer than 40)
      'fe01', // unknown option with length 1
      'fe00', // unknown option with length 0
      '0101fe0700000000', // unknown option (length 7 at byte 2) running past an 8-byte option area
    ];
    for (const opt of bad) {
      const padded = opt + '00'.repeat((4 - ((opt.length / 2) % 4)) % 4);
      if (padded.length / 2 > 40) continue;
      const b = withOptions(padded);
      expect(TcpSegment.check(b, 0, b.length), opt).toBe(ParseError.BAD_OPTION);
      expect(parseTcpOptions(b, 20, b.length, new TcpOptions()), opt).toBe(ParseError.BAD_OPTION);
    }
    // a six-block SACK cannot fit 40 bytes; check directly against an end pointer
    const b = hex('0532' + '00'.repeat(48));
    expect(parseTcpOptions(b, 0, 40, null)).toBe(ParseError.BAD_OPTION);
  });
  it('rejects bad data offset and truncation; verifies checksum', () => {
    const b = hex(SYN);
    const len = b.length - 34;
    for (let n = 0; n < len; n++) expect(TcpSegment.check(b, 34, n, IP_A, IP_B)).not.toBeNull();
    for (let n = 0; n < 40; n++) expect(TcpSegment.check(b, 34, n)).toBe(ParseError.TRUNCATED);
    for (let d = 0; d < 5; d++) {
      const c = hex(SYN); c[34 + 12] = d << 4;
      expect(TcpSegment.check(c, 34, len)).toBe(ParseError.BAD_HEADER_LENGTH);
    }
    const c = hex(SYN); c[34 + 12] = 0xf0;
    expect(TcpSegment.check(c, 34, len)).toBe(ParseError.TRUNCATED);
    const d = hex(SYN); d[34 + 15]! ^= 1;
    expect(TcpSegment.check(d, 34, len, IP_A, IP_B)).toBe(ParseError.BAD_CHECKSUM);
    expect(TcpSegment.check(d, 34, len)).toBeNull();
  });
  it('emits byte-identical SYN and data segments', () => {
    for (const fx of [SYN, SYNACK, DATA]) {
      const want = hex(fx).subarray(34);
      const view = new TcpSegment(want, 0, want.length);
      const o = new TcpOptions();
      expect(view.parseOptions(o)).toBeNull();
      const out = new Uint8Array(want.length);
      const olen = emitTcpOptions(out, 20, o);
      expect(olen).toBe(view.optionsLength);
      const hl = emitTcp(out, 0, view.srcPort, view.dstPort, view.seq, view.ack, view.flags, view.window, olen);
      expect(hl).toBe(view.headerLength);
      out.set(want.subarray(hl), hl);
      new TcpSegment(out, 0, out.length).fillChecksum(IP_A, IP_B);
      expect(toHex(out)).toBe(toHex(want));
    }
  });
  it('emitTcpOptions round-trips other combinations and never exceeds 40 bytes', () => {
    const buf = new Uint8Array(60);
    const o = new TcpOptions();
    const back = new TcpOptions();
    for (let mask = 0; mask < 32; mask++) {
      o.clear();
      if (mask & 1) o.mss = 536;
      if (mask & 2) o.windowScale = 9;
      if (mask & 4) o.sackPermitted = true;
      if (mask & 8) { o.hasTimestamps = true; o.tsVal = 0xffffffff; o.tsEcr = 7; }
      if (mask & 16) { o.sackCount = 4; o.sackBlocks.set([10, 20, 30, 40, 50, 60, 70, 80]); }
      const n = emitTcpOptions(buf, 0, o);
      expect(n % 4).toBe(0);
      expect(n).toBeLessThanOrEqual(40);
      expect(parseTcpOptions(buf, 0, n, back)).toBeNull();
      expect([back.mss, back.windowScale, back.sackPermitted, back.hasTimestamps, back.tsVal, back.tsEcr])
        .toEqual([o.mss, o.windowScale, o.sackPermitted, o.hasTimestamps, o.tsVal, o.tsEcr]);
      if (mask & 16) expect(back.sackCount).toBeGreaterThanOrEqual(1);
    }
  });
});

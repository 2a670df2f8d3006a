import { describe, expect, it } from 'vitest';
import {
  COOKIE_TS_MAX_AGE_MS, decodeCookieTimestamp, decodeSynCookie, encodeCookieTimestamp, encodeSynCookie, IsnGenerator, isnTimer, sipHash24,
  SYN_COOKIE_PERIOD_MS,
} from './isn.ts';
import { Ipv6AddressTable, parseIpv6 } from '../ipv6/address-table.ts';
import { NetworkFamily } from '../transport-registry.ts';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const LIP = 0xc6120001 | 0; // 198.18.0.1 (hash input only)
const RIP = 0xc6130102 | 0; // 198.19.1.2 (negative as int32)

function hex64(out: Int32Array): string {
  return (out[1]! >>> 0).toString(16).padStart(8, '0') + (out[0]! >>> 0).toString(16).padStart(8, '0');
}

describe('sipHash24', () => {
  it('matches the reference vectors (key 00..0f, message 00..len-1)', () => {
    const key = new Int32Array(4);
    const dv = new DataView(KEY.buffer, KEY.byteOffset, 16);
    for (let i = 0; i < 4; i++) key[i] = dv.getInt32(4 * i, true);
    const msg = Uint8Array.from({ length: 64 }, (_, i) => i);
    const out = new Int32Array(2);
    const expected: Array<[number, string]> = [
      [0, '726fdb47dd0e0e31'],
      [1, '74f839c593dc67fd'],
      [7, 'ab0200f58b01d137'],
      [8, '93f5f5799a932462'],
      [15, 'a129ca6149be45e5'],
      [63, '958a324ceb064572'],
    ];
    for (const [len, want] of expected) {
      sipHash24(key, msg, len, out);
      expect(hex64(out)).toBe(want);
    }
  });
});

describe('IsnGenerator (RFC 6528)', () => {
  it('is deterministic for a fixed key and clock', () => {
    let t = 12_345.678;
    const a = new IsnGenerator(() => t, KEY);
    const b = new IsnGenerator(() => t, KEY);
    const x = a.next(LIP, 1234, RIP, 80);
    expect(b.next(LIP, 1234, RIP, 80)).toBe(x);
    expect(a.next(LIP, 1234, RIP, 80)).toBe(x);
    expect(x | 0).toBe(x);
    t = 0;
    expect(a.next(LIP, 1234, RIP, 80)).toBe(a.hash(0x49534e31, LIP, 1234, RIP, 80, 0));
  });

  it('differs between tuples and keys', () => {
    const now = (): number => 1000;
    const g = new IsnGenerator(now, KEY);
    const base = g.next(LIP, 1234, RIP, 80);
    const variants = [
      g.next(LIP, 1235, RIP, 80),
      g.next(LIP, 1234, RIP, 81),
      g.next(LIP + 1, 1234, RIP, 80),
      g.next(LIP, 1234, RIP + 1, 80),
      g.next(RIP, 80, LIP, 1234), // the reverse direction
      new IsnGenerator(now, Uint8Array.from({ length: 16 }, (_, i) => i + 1)).next(LIP, 1234, RIP, 80),
    ];
    for (const v of variants) expect(v).not.toBe(base);
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('advances with a 4 µs timer: 250 000 per second', () => {
    let t = 5_000;
    const g = new IsnGenerator(() => t, KEY);
    const x0 = g.next(LIP, 1234, RIP, 80);
    t += 1000;
    expect((g.next(LIP, 1234, RIP, 80) - x0) | 0).toBe(250_000);
    t += 0.004; // one tick
    expect((g.next(LIP, 1234, RIP, 80) - x0) | 0).toBe(250_001);
    expect(isnTimer(1)).toBe(250);
  });

  it('wraps the timer modulo 2^32 (after about 4.77 hours)', () => {
    const wrapMs = 2 ** 32 / 250; // 17 179 869.184 ms
    expect(isnTimer(wrapMs)).toBe(0);
    expect(isnTimer(wrapMs + 1)).toBe(250);
    expect(isnTimer(wrapMs - 0.004)).toBe(-1);
  });

  it('uses a random key by default and rejects a bad key', () => {
    const now = (): number => 0;
    const a = new IsnGenerator(now).next(LIP, 1, RIP, 2);
    const b = new IsnGenerator(now).next(LIP, 1, RIP, 2);
    expect(a).not.toBe(b); // 2^-32 chance of a false failure
    expect(() => new IsnGenerator(now, new Uint8Array(8))).toThrow(RangeError);
  });
});

describe('SYN cookies', () => {
  const g = new IsnGenerator(() => 0, KEY);
  const clientIsn = 0x9abcdef0 | 0;
  const t0 = 1_000_000;

  it('round-trips every MSS index', () => {
    for (let m = 0; m < 8; m++) {
      const c = encodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, m, t0);
      expect(c | 0).toBe(c);
      expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, t0)).toBe(m);
      expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, t0 + 1000)).toBe(m);
    }
  });

  it('is accepted in the next period and rejected when older', () => {
    const start = 64 * SYN_COOKIE_PERIOD_MS; // start of a period
    const c = encodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, 5, start);
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, start + SYN_COOKIE_PERIOD_MS - 1)).toBe(5);
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, start + 2 * SYN_COOKIE_PERIOD_MS - 1)).toBe(5);
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, start + 2 * SYN_COOKIE_PERIOD_MS)).toBe(-1);
    // 32 periods later the 5-bit counter matches again, but the hash covers the full counter
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, start + 32 * SYN_COOKIE_PERIOD_MS)).toBe(-1);
    // a cookie from the future (clock went backwards) is rejected too
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c, start - 1)).toBe(-1);
  });

  it('rejects tampered cookies and other connections', () => {
    const c = encodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, 3, t0);
    for (let bit = 0; bit < 32; bit++) {
      expect(decodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, c ^ (1 << bit), t0)).toBe(-1);
    }
    expect(decodeSynCookie(g, LIP, 80, RIP, 40000, (clientIsn + 1) | 0, c, t0)).toBe(-1);
    expect(decodeSynCookie(g, LIP, 80, RIP, 40001, clientIsn, c, t0)).toBe(-1);
    expect(decodeSynCookie(g, LIP, 81, RIP, 40000, clientIsn, c, t0)).toBe(-1);
    expect(decodeSynCookie(g, LIP, 80, RIP + 1, 40000, clientIsn, c, t0)).toBe(-1);
    const other = new IsnGenerator(() => 0, Uint8Array.from({ length: 16 }, (_, i) => 255 - i));
    expect(decodeSynCookie(other, LIP, 80, RIP, 40000, clientIsn, c, t0)).toBe(-1);
  });

  it('rejects an MSS index outside the 3-bit table', () => {
    expect(() => encodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, 8, t0)).toThrow(RangeError);
    expect(() => encodeSynCookie(g, LIP, 80, RIP, 40000, clientIsn, -1, t0)).toThrow(RangeError);
  });
});

describe('SYN cookie timestamps (options in the TSval, as Linux net/ipv4/syncookies.c)', () => {
  it('keeps the clock\'s high bits and puts window scale (bits 0-3, 0xf none) and SACK (bit 4) in the low 6 bits', () => {
    expect(encodeCookieTimestamp(0x12345fff, 7, true)).toBe(0x12345fd7);
    expect(encodeCookieTimestamp(0x12345fff, -1, false)).toBe(0x12345fcf);
    expect(encodeCookieTimestamp(0x12345fff, 0, false)).toBe(0x12345fc0);
    // RFC 7323 §2.3: a shift above 14 counts as 14 (15 would read as "no window scale").
    expect(encodeCookieTimestamp(0x12345fff, 15, false)).toBe(0x12345fce);
  });

  it('never runs ahead of the clock: when the bits exceed its low 6 bits it goes back one period of 64, across the int32 wrap too', () => {
    for (const now of [0x12345600, 0x12345617, 0x12345618, 0x1234563f, 0x7fffffc0 | 0, 5, -1]) {
      for (const [ws, sack] of [[7, true], [-1, true], [0, false], [14, false]] as const) {
        const ts = encodeCookieTimestamp(now, ws, sack);
        const behind = (now - ts) | 0;
        expect(behind >= 0 && behind < 64, `now ${now} ws ${ws} sack ${sack}: ts ${ts}`).toBe(true);
        expect(decodeCookieTimestamp(ts, now)).toBe((ws < 0 ? 0xf : ws) | (sack ? 0x10 : 0));
      }
    }
    expect(encodeCookieTimestamp(0x12345600, 7, true)).toBe(0x123455d7);
    expect(encodeCookieTimestamp(5, -1, true)).toBe(-33); // 0xffffffdf: 38 ms before 5
  });

  it('takes back only an echo from the cookie\'s lifetime: not ahead of the clock, at most two periods (+ 63 ms of rounding) behind it', () => {
    const now = 0x40000000;
    const ts = encodeCookieTimestamp(now, 7, true);
    expect(decodeCookieTimestamp(ts, now)).toBe(0x17);
    expect(decodeCookieTimestamp(ts, ts)).toBe(0x17);
    expect(decodeCookieTimestamp(ts, (ts - 1) | 0)).toBe(-1);
    expect(COOKIE_TS_MAX_AGE_MS).toBe(2 * SYN_COOKIE_PERIOD_MS + 63);
    expect(decodeCookieTimestamp(ts, (ts + COOKIE_TS_MAX_AGE_MS) | 0)).toBe(0x17);
    expect(decodeCookieTimestamp(ts, (ts + COOKIE_TS_MAX_AGE_MS + 1) | 0)).toBe(-1);
    expect(decodeCookieTimestamp((ts + 2 ** 31) | 0, now)).toBe(-1);
  });
});

describe('IPv6 (RFC 6528 over whole addresses, RFC 6437 flow labels)', () => {
  it('F takes all 16 bytes of each IPv6 address: ISNs, SYN cookies and flow labels change with any word of either address, and cookies round-trip', () => {
    const table = new Ipv6AddressTable();
    const g = new IsnGenerator(() => 1000, KEY);
    g.table = table;
    const ids = ['fd00:198:18::1', 'fd00:198:18::2', 'fd00:198:18::1:2', 'fd01:198:18::2', 'fe80::2']
      .map((t) => table.intern(parseIpv6(t)!, 0));
    const [l, r, ...others] = ids as [number, number, ...number[]];
    const base = g.next(l, 1234, r, 80, NetworkFamily.IPV6);
    for (const o of others) {
      expect(g.next(l, 1234, o, 80, NetworkFamily.IPV6)).not.toBe(base);
      expect(g.next(o, 1234, r, 80, NetworkFamily.IPV6)).not.toBe(base);
    }
    // Not the IPv4 function of the ids: ids are small integers, not addresses.
    expect(base).not.toBe(g.next(l, 1234, r, 80));
    const cookie = encodeSynCookie(g, l, 80, r, 40000, 777, 5, 1000, NetworkFamily.IPV6);
    expect(decodeSynCookie(g, l, 80, r, 40000, 777, cookie, 1000, NetworkFamily.IPV6)).toBe(5);
    expect(decodeSynCookie(g, l, 80, others[0]!, 40000, 777, cookie, 1000, NetworkFamily.IPV6)).toBe(-1);
    const label = g.flowLabel(l, 1234, r, 80, NetworkFamily.IPV6);
    expect(label).toBeGreaterThan(0);
    expect(label).toBeLessThan(1 << 20);
    expect(g.flowLabel(l, 1234, r, 80, NetworkFamily.IPV6)).toBe(label);
    expect(g.flowLabel(l, 1235, r, 80, NetworkFamily.IPV6)).not.toBe(label);
  });
});

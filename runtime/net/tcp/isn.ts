// Initial sequence numbers per RFC 6528 ("Defending against Sequence Number Attacks"):
//   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
// where M is a 4-microsecond timer (RFC 9293 §3.4.1) and F a keyed pseudorandom function.
// F is SipHash-2-4 (Aumasson & Bernstein; the PRF Linux uses for secure_tcp_seq), implemented
// here on pairs of signed 32-bit ints: no BigInt, no allocation per SYN, and a 128-bit key, which
// is what RFC 6528 asks of F. (HMAC-SHA256 from node:crypto would allocate a Hmac object and a
// Buffer per SYN and cost far more per call, for a 32-bit result.)
// The key is crypto.randomBytes(16) unless one is given (reproducible tests).
// IPv6 connections hash their whole 16-byte addresses (read from the stack's address table by
// id), never a shorter digest of them: a public digest would let an attacker pick an address
// that shares a victim's ISN offsets, which is what RFC 6528's keyed F is there to prevent.
//
// SYN cookies (RFC 4987 §3.6; layout after D. J. Bernstein's, bound to the client's ISN as Linux
// does): cookie = H1(tuple) + clientIsn + (t mod 32) << 27 | mssIndex << 24 | H2(tuple, t, mssIndex)
// & 0xffffff, where t counts 64-second periods. A cookie is accepted in its period and the next
// one (64-128 s of life); a tampered cookie passes with probability about 2^-24.
//
// The 32-bit cookie has no room for the SYN's other options. When the SYN carried timestamps
// (RFC 7323 §3), the SYN-ACK's TSval keeps them instead, in its low 6 bits (Linux
// net/ipv4/syncookies.c, cookie_init_timestamp): bits 0-3 the peer's window scale (0xf: none),
// bit 4 SACK-permitted, bit 5 ECN (never set: no ECN here). The peer echoes the TSval in the
// final ACK's TSecr. Without timestamps only the MSS survives, as in Linux.

import { randomBytes } from 'node:crypto';
import type { Ipv6AddressTable } from '../ipv6/address-table.ts';
import { NetworkFamily } from '../transport-registry.ts';

/** Length in ms of one SYN-cookie time period. */
export const SYN_COOKIE_PERIOD_MS = 64_000;
/** Number of MSS table entries a cookie can encode (3 bits). */
export const SYN_COOKIE_MSS_ENTRIES = 8;
/** Low TSval bits of a cookie SYN-ACK that hold the SYN's options. */
export const COOKIE_TS_BITS = 6;
const COOKIE_TS_MASK = (1 << COOKIE_TS_BITS) - 1;
/** Window scale field (bits 0-3) when the SYN had no window scale option. */
export const COOKIE_TS_NO_WSCALE = 0xf;
export const COOKIE_TS_SACK = 0x10;
export const COOKIE_TS_ECN = 0x20;
/**
 * Oldest TSecr (ms behind our timestamp clock) a cookie ACK may echo: a cookie lives at most two
 * periods, and its TSval was up to 2^6 - 1 ms behind the clock when sent.
 */
export const COOKIE_TS_MAX_AGE_MS = 2 * SYN_COOKIE_PERIOD_MS + COOKIE_TS_MASK;

const TAG_ISN = 0x49534e31; // 'ISN1'
const TAG_COOKIE1 = 0x434b4931; // 'CKI1'
const TAG_COOKIE2 = 0x434b4932; // 'CKI2'
const TAG_FLOW = 0x464c4f57; // 'FLOW'

// SipHash state: v0..v3 as (lo, hi) pairs, module-level scratch (single-threaded, non-reentrant).
let v0l = 0, v0h = 0, v1l = 0, v1h = 0, v2l = 0, v2h = 0, v3l = 0, v3h = 0;

function sipRound(): void {
  let lo: number, hi: number, t: number;
  // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
  lo = (v0l >>> 0) + (v1l >>> 0);
  v0h = (v0h + v1h + (lo > 0xffffffff ? 1 : 0)) | 0;
  v0l = lo | 0;
  t = (v1h << 13) | (v1l >>> 19);
  v1l = (v1l << 13) | (v1h >>> 19);
  v1h = t;
  v1l ^= v0l;
  v1h ^= v0h;
  t = v0l;
  v0l = v0h;
  v0h = t;
  // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
  lo = (v2l >>> 0) + (v3l >>> 0);
  v2h = (v2h + v3h + (lo > 0xffffffff ? 1 : 0)) | 0;
  v2l = lo | 0;
  t = (v3h << 16) | (v3l >>> 16);
  v3l = (v3l << 16) | (v3h >>> 16);
  v3h = t;
  v3l ^= v2l;
  v3h ^= v2h;
  // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
  lo = (v0l >>> 0) + (v3l >>> 0);
  v0h = (v0h + v3h + (lo > 0xffffffff ? 1 : 0)) | 0;
  v0l = lo | 0;
  t = (v3h << 21) | (v3l >>> 11);
  v3l = (v3l << 21) | (v3h >>> 11);
  v3h = t;
  v3l ^= v0l;
  v3h ^= v0h;
  // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
  lo = (v2l >>> 0) + (v1l >>> 0);
  v2h = (v2h + v1h + (lo > 0xffffffff ? 1 : 0)) | 0;
  v2l = lo | 0;
  t = (v1h << 17) | (v1l >>> 15);
  v1l = (v1l << 17) | (v1h >>> 15);
  v1h = t;
  v1l ^= v2l;
  v1h ^= v2h;
  hi = v2l;
  v2l = v2h;
  v2h = hi;
}

function le32(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

/**
 * SipHash-2-4 of msg[0..len) under the 128-bit key given as int32 words (k0 lo, k0 hi, k1 lo,
 * k1 hi; little-endian key bytes). Writes the 64-bit result to out[0] (low) and out[1] (high).
 */
export function sipHash24(key: Int32Array, msg: Uint8Array, len: number, out: Int32Array): void {
  const k0l = key[0]!, k0h = key[1]!, k1l = key[2]!, k1h = key[3]!;
  v0l = k0l ^ 0x70736575; v0h = k0h ^ 0x736f6d65;
  v1l = k1l ^ 0x6e646f6d; v1h = k1h ^ 0x646f7261;
  v2l = k0l ^ 0x6e657261; v2h = k0h ^ 0x6c796765;
  v3l = k1l ^ 0x79746573; v3h = k1h ^ 0x74656462;
  const whole = len & ~7;
  for (let o = 0; o < whole; o += 8) {
    const ml = le32(msg, o);
    const mh = le32(msg, o + 4);
    v3l ^= ml; v3h ^= mh;
    sipRound();
    sipRound();
    v0l ^= ml; v0h ^= mh;
  }
  // Final block: remaining bytes, length mod 256 in the top byte.
  let ml = 0;
  let mh = (len & 0xff) << 24;
  const rest = len - whole;
  for (let i = 0; i < rest; i++) {
    const b = msg[whole + i]!;
    if (i < 4) ml |= b << (8 * i);
    else mh |= b << (8 * (i - 4));
  }
  v3l ^= ml; v3h ^= mh;
  sipRound();
  sipRound();
  v0l ^= ml; v0h ^= mh;
  v2l ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  out[0] = v0l ^ v1l ^ v2l ^ v3l;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
}

export class IsnGenerator {
  private readonly key = new Int32Array(4);
  /** IPv4: addresses (8), ports (4), tag (4), extra (4); IPv6: addresses (32), ports, tag, extra. */
  private readonly msg = new Uint8Array(44);
  private readonly out = new Int32Array(2);
  /** Where IPv6 address ids are read (set by the engine when the stack has IPv6). */
  table: Ipv6AddressTable | null = null;

  /**
   * @param now clock in ms (fractional allowed), e.g. performance.now
   * @param key 16-byte secret; random when omitted
   */
  constructor(private readonly now: () => number, key?: Uint8Array) {
    const k = key ?? randomBytes(16);
    if (k.length !== 16) throw new RangeError('IsnGenerator: key must be 16 bytes');
    for (let i = 0; i < 4; i++) this.key[i] = le32(k, 4 * i);
  }

  /** RFC 6528 ISN for the connection (int32). Addresses are `family`'s (IPv6: ids of `table`). */
  next(localIp: number, localPort: number, remoteIp: number, remotePort: number, family: NetworkFamily = NetworkFamily.IPV4): number {
    return (isnTimer(this.now()) + this.hash(TAG_ISN, localIp, localPort, remoteIp, remotePort, 0, family)) | 0;
  }

  /**
   * Low 32 bits of SipHash-2-4(key, tuple, tag, extra): the keyed function F. `tag` separates
   * uses (ISN, cookie parts, flow labels); `extra` is any further 32-bit input.
   */
  hash(tag: number, localIp: number, localPort: number, remoteIp: number, remotePort: number, extra: number,
    family: NetworkFamily = NetworkFamily.IPV4): number {
    const m = this.msg;
    let at = 8;
    if (family === NetworkFamily.IPV4) {
      put32(m, 0, localIp);
      put32(m, 4, remoteIp);
    } else {
      const t = this.table!;
      for (let k = 0; k < 4; k++) {
        put32(m, k * 4, t.word(localIp, k));
        put32(m, 16 + k * 4, t.word(remoteIp, k));
      }
      at = 32;
    }
    m[at] = localPort & 0xff;
    m[at + 1] = (localPort >>> 8) & 0xff;
    m[at + 2] = remotePort & 0xff;
    m[at + 3] = (remotePort >>> 8) & 0xff;
    put32(m, at + 4, tag);
    put32(m, at + 8, extra);
    sipHash24(this.key, m, at + 12, this.out);
    return this.out[0]! | 0;
  }

  /** An IPv6 flow label for the connection (RFC 6437 §3: a keyed hash of the 4-tuple, constant for its life, never 0). */
  flowLabel(localIp: number, localPort: number, remoteIp: number, remotePort: number, family: NetworkFamily): number {
    return (this.hash(TAG_FLOW, localIp, localPort, remoteIp, remotePort, 0, family) & 0xfffff) || 1;
  }
}

/** M: the 4-microsecond timer at `nowMs` (250 ticks per ms), wrapped to int32. */
export function isnTimer(nowMs: number): number {
  return Math.floor(nowMs * 250) | 0;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function cookiePeriod(nowMs: number): number {
  return Math.floor(nowMs / SYN_COOKIE_PERIOD_MS) | 0;
}

function cookieBody(gen: IsnGenerator, localIp: number, localPort: number, remoteIp: number, remotePort: number, period: number, mssIndex: number,
  family: NetworkFamily): number {
  const h2 = gen.hash(TAG_COOKIE2, localIp, localPort, remoteIp, remotePort, (period << 3) | mssIndex, family);
  return ((period & 31) << 27) | (mssIndex << 24) | (h2 & 0xffffff);
}

/**
 * The ISN to send in a SYN-ACK when answering with a SYN cookie (int32). `clientIsn` is the
 * SYN's sequence number, `mssIndex` (0-7) an index into the caller's MSS table.
 */
export function encodeSynCookie(
  gen: IsnGenerator,
  localIp: number,
  localPort: number,
  remoteIp: number,
  remotePort: number,
  clientIsn: number,
  mssIndex: number,
  nowMs: number,
  family: NetworkFamily = NetworkFamily.IPV4,
): number {
  if (!(mssIndex >= 0 && mssIndex < SYN_COOKIE_MSS_ENTRIES)) throw new RangeError('encodeSynCookie: mssIndex must be 0-7');
  const h1 = gen.hash(TAG_COOKIE1, localIp, localPort, remoteIp, remotePort, 0, family);
  return (h1 + clientIsn + cookieBody(gen, localIp, localPort, remoteIp, remotePort, cookiePeriod(nowMs), mssIndex, family)) | 0;
}

/**
 * Checks a cookie returned in the handshake's final ACK: `cookie` is that ACK's ack number - 1,
 * `clientIsn` its sequence number - 1. Returns the MSS index, or -1 when the cookie is forged,
 * belongs to another connection, or is older than the previous 64 s period.
 */
export function decodeSynCookie(
  gen: IsnGenerator,
  localIp: number,
  localPort: number,
  remoteIp: number,
  remotePort: number,
  clientIsn: number,
  cookie: number,
  nowMs: number,
  family: NetworkFamily = NetworkFamily.IPV4,
): number {
  const h1 = gen.hash(TAG_COOKIE1, localIp, localPort, remoteIp, remotePort, 0, family);
  const body = (cookie - h1 - clientIsn) | 0;
  const t5 = body >>> 27;
  const mssIndex = (body >>> 24) & 7;
  const now = cookiePeriod(nowMs);
  for (let age = 0; age < 2; age++) {
    const period = (now - age) | 0;
    if ((period & 31) !== t5) continue;
    if (cookieBody(gen, localIp, localPort, remoteIp, remotePort, period, mssIndex, family) === body) return mssIndex;
  }
  return -1;
}

/**
 * TSval for a cookie SYN-ACK: our timestamp clock `tsNow` (ms, int32) with its low 6 bits replaced
 * by the SYN's options: `windowScale` (-1: none; above 14 taken as 14, RFC 7323 §2.3) and
 * SACK-permitted. Taken a period of 64 back when that would put it ahead of the clock, so the
 * timestamps that follow on the connection (the clock itself) never go back from it (RFC 7323
 * §5.5, PAWS at the peer), as Linux's cookie_init_timestamp rounds.
 */
export function encodeCookieTimestamp(tsNow: number, windowScale: number, sackPermitted: boolean): number {
  const options = (windowScale < 0 ? COOKIE_TS_NO_WSCALE : Math.min(windowScale, 14)) | (sackPermitted ? COOKIE_TS_SACK : 0);
  const ts = (tsNow & ~COOKIE_TS_MASK) | options;
  return ((ts - tsNow) | 0) > 0 ? (ts - (1 << COOKIE_TS_BITS)) | 0 : ts;
}

/**
 * The option bits (0-63) a cookie ACK's TSecr carries back, or -1 when the TSecr cannot be a TSval
 * we sent for a cookie still alive: ahead of our clock `tsNow`, or more than COOKIE_TS_MAX_AGE_MS
 * behind it. (Linux's cookie_timestamp_decode takes the bits as they come; this bound costs a
 * subtraction and turns away echoes that were never ours.)
 */
export function decodeCookieTimestamp(tsEcr: number, tsNow: number): number {
  const age = (tsNow - tsEcr) | 0;
  if (age < 0 || age > COOKIE_TS_MAX_AGE_MS) return -1;
  return tsEcr & COOKIE_TS_MASK;
}

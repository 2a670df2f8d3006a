// The WireGuard paper's §5.4 primitives over BLAKE2s: HASH (BLAKE2s-256), MAC (keyed BLAKE2s,
// 16 bytes), HMAC (HMAC-BLAKE2s, RFC 2104, 32 bytes) and KDF1/2/3 (HKDF, RFC 5869, with
// HMAC-BLAKE2s: extract τ0 = HMAC(key, input), then τi = HMAC(τ0, τ(i-1) || i)). Handshake-only:
// these allocate their results.
import { createHash, createHmac } from 'node:crypto';
import { blake2s } from './blake2s.ts';

export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return blake2s(parts, 16, key);
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** KDF_n(key, input): n 32-byte outputs. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = hmac(t0, prev, Uint8Array.of(i));
    out.push(prev);
  }
  return out;
}

// HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): the ChaCha20 core without the final addition,
// keyed by a 32-byte key and a 16-byte nonce, giving a 32-byte subkey. node:crypto has ChaCha20
// and ChaCha20-Poly1305 but not this step, which XChaCha20-Poly1305 (WireGuard's cookie reply)
// needs. Used once per cookie reply: clarity over speed.

function quarterRound(s: Uint32Array, a: number, b: number, c: number, d: number): void {
  s[a] = s[a]! + s[b]!; s[d] = rotl(s[d]! ^ s[a]!, 16);
  s[c] = s[c]! + s[d]!; s[b] = rotl(s[b]! ^ s[c]!, 12);
  s[a] = s[a]! + s[b]!; s[d] = rotl(s[d]! ^ s[a]!, 8);
  s[c] = s[c]! + s[d]!; s[b] = rotl(s[b]! ^ s[c]!, 7);
}

function rotl(x: number, n: number): number { return (x << n) | (x >>> (32 - n)); }

function readLE32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** The subkey for XChaCha20 from `key` (32 bytes) and the first 16 bytes of its 24-byte nonce. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  if (key.length !== 32 || nonce16.length < 16) throw new RangeError('HChaCha20 takes a 32-byte key and a 16-byte nonce');
  const s = new Uint32Array(16);
  // "expand 32-byte k" (RFC 8439 §2.3)
  s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
  for (let i = 0; i < 8; i++) s[4 + i] = readLE32(key, 4 * i);
  for (let i = 0; i < 4; i++) s[12 + i] = readLE32(nonce16, 4 * i);
  for (let i = 0; i < 10; i++) {
    quarterRound(s, 0, 4, 8, 12); quarterRound(s, 1, 5, 9, 13); quarterRound(s, 2, 6, 10, 14); quarterRound(s, 3, 7, 11, 15);
    quarterRound(s, 0, 5, 10, 15); quarterRound(s, 1, 6, 11, 12); quarterRound(s, 2, 7, 8, 13); quarterRound(s, 3, 4, 9, 14);
  }
  // The subkey is state words 0-3 and 12-15, little-endian.
  const out = new Uint8Array(32);
  const words = [0, 1, 2, 3, 12, 13, 14, 15];
  for (let i = 0; i < 8; i++) {
    const w = s[words[i]!]!;
    out[4 * i] = w; out[4 * i + 1] = w >>> 8; out[4 * i + 2] = w >>> 16; out[4 * i + 3] = w >>> 24;
  }
  return out;
}

// ChaCha20-Poly1305 (RFC 8439 §2.8) from node:crypto, and XChaCha20-Poly1305
// (draft-irtf-cfrg-xchacha-03 §2.3: HChaCha20 subkey, then ChaCha20-Poly1305 with the nonce's last
// 8 bytes after 4 zero bytes) for WireGuard's cookie replies.
//
// The transport data path goes through the ChaChaPoly interface with caller-provided buffers, so
// that a native path (OpenSSL's EVP through an addon, one call per batch) can replace the
// node:crypto one without touching the protocol. node:crypto itself allocates per call (a Cipher
// object, the update() output Buffer, the tag): that is the part of the data path's allocation
// that this module cannot remove.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { hchacha20 } from './hchacha20.ts';

export const TAG_LENGTH = 16;

export interface ChaChaPoly {
  /**
   * Encrypts src[srcOffset, +length) under key/nonce (12 bytes) with associated data `ad` and
   * writes ciphertext then the 16-byte tag at dst[dstOffset] (length + 16 bytes). src and dst may
   * be the same bytes (in place).
   */
  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array | null, src: Uint8Array, srcOffset: number, length: number, dst: Uint8Array, dstOffset: number): void;
  /**
   * Authenticates and decrypts src[srcOffset, +length) (ciphertext then tag) and writes
   * length - 16 bytes of plaintext at dst[dstOffset]; false (dst unspecified) if the tag does not
   * verify or length < 16. In place allowed.
   */
  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array | null, src: Uint8Array, srcOffset: number, length: number, dst: Uint8Array, dstOffset: number): boolean;
}

const TAG_OPTIONS = { authTagLength: TAG_LENGTH } as const;

export const nodeChaChaPoly: ChaChaPoly = {
  seal(key, nonce, ad, src, srcOffset, length, dst, dstOffset) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
    if (ad) c.setAAD(ad, { plaintextLength: length });
    const out = c.update(src.subarray(srcOffset, srcOffset + length));
    c.final();
    dst.set(out, dstOffset);
    dst.set(c.getAuthTag(), dstOffset + length);
  },
  open(key, nonce, ad, src, srcOffset, length, dst, dstOffset) {
    if (length < TAG_LENGTH) return false;
    const n = length - TAG_LENGTH;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
    d.setAuthTag(src.subarray(srcOffset + n, srcOffset + length));
    if (ad) d.setAAD(ad, { plaintextLength: n });
    const out = d.update(src.subarray(srcOffset, srcOffset + n));
    try {
      d.final();
    } catch {
      return false;
    }
    dst.set(out, dstOffset);
    return true;
  },
};

/** AEAD(key, counter, plaintext, ad) of the WireGuard paper: nonce = 4 zero bytes, 64-bit LE counter. New array. */
export function aeadEncrypt(key: Uint8Array, counter: number, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LENGTH);
  nodeChaChaPoly.seal(key, counterNonce(counter), ad, plaintext, 0, plaintext.length, out, 0);
  return out;
}

/** The inverse of aeadEncrypt; null if the ciphertext does not authenticate. */
export function aeadDecrypt(key: Uint8Array, counter: number, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (ciphertext.length < TAG_LENGTH) return null;
  const out = new Uint8Array(ciphertext.length - TAG_LENGTH);
  return nodeChaChaPoly.open(key, counterNonce(counter), ad, ciphertext, 0, ciphertext.length, out, 0) ? out : null;
}

/** Writes the 12-byte nonce for a 64-bit counter (below 2^53) into `nonce`. */
export function writeCounterNonce(nonce: Uint8Array, counter: number): void {
  nonce[0] = 0; nonce[1] = 0; nonce[2] = 0; nonce[3] = 0;
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x100000000) >>> 0;
  nonce[4] = lo; nonce[5] = lo >>> 8; nonce[6] = lo >>> 16; nonce[7] = lo >>> 24;
  nonce[8] = hi; nonce[9] = hi >>> 8; nonce[10] = hi >>> 16; nonce[11] = hi >>> 24;
}

function counterNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  writeCounterNonce(n, counter);
  return n;
}

function xNonce(nonce24: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(nonce24.subarray(16, 24), 4);
  return n;
}

/** XAEAD(key, nonce, plaintext, ad) with a 24-byte nonce. New array: ciphertext then tag. */
export function xaeadEncrypt(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LENGTH);
  nodeChaChaPoly.seal(hchacha20(key, nonce24), xNonce(nonce24), ad, plaintext, 0, plaintext.length, out, 0);
  return out;
}

/** The inverse of xaeadEncrypt; null if it does not authenticate. */
export function xaeadDecrypt(key: Uint8Array, nonce24: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (ciphertext.length < TAG_LENGTH) return null;
  const out = new Uint8Array(ciphertext.length - TAG_LENGTH);
  return nodeChaChaPoly.open(hchacha20(key, nonce24), xNonce(nonce24), ad, ciphertext, 0, ciphertext.length, out, 0) ? out : null;
}

// X25519 (RFC 7748) from node:crypto, on raw 32-byte keys, and keys in the format of `wg genkey` /
// `wg pubkey`: standard base64 of the 32 bytes (44 characters), private keys stored clamped.
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';

export const KEY_LENGTH = 32;

// DER wrappers for a raw X25519 key (RFC 8410: id-X25519 is 1.3.101.110).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function privateKeyObject(priv: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, priv]), format: 'der', type: 'pkcs8' });
}

/** RFC 7748 §5 clamping, as `wg genkey` applies before printing a private key. */
export function clampPrivateKey(k: Uint8Array): Uint8Array {
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

/** A fresh private key, clamped (what `wg genkey` prints, as bytes). */
export function generatePrivateKey(): Uint8Array {
  return clampPrivateKey(new Uint8Array(randomBytes(KEY_LENGTH)));
}

/** The public key of a private key (`wg pubkey`). */
export function publicKeyOf(priv: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(priv)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/**
 * X25519(scalar, u): the shared secret, or null when it is all zeros (a small-order public key;
 * WireGuard rejects those rather than derive keys from a known value).
 */
export function x25519(priv: Uint8Array, pub: Uint8Array): Uint8Array | null {
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' });
    const out = new Uint8Array(diffieHellman({ privateKey: privateKeyObject(priv), publicKey }));
    let acc = 0;
    for (const b of out) acc |= b;
    return acc === 0 ? null : out;
  } catch {
    return null; // OpenSSL refuses an all-zero result itself
  }
}

/** Parses a key in wg's base64 format; null unless it is exactly 32 bytes of canonical base64. */
export function parseKey(text: string): Uint8Array | null {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(t)) return null;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function formatKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

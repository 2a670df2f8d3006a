// ChaCha20-Poly1305 for the transport data path: the native addon over Node's OpenSSL when it is
// built (in place, nothing allocated per packet, no per-call Cipher object), node:crypto otherwise.
// Both pass the same RFC 8439 vectors (crypto.test.ts).
import { loadNativeAead } from '../../../transports/native/aead.ts';
import { nodeChaChaPoly, type ChaChaPoly } from './aead.ts';

/** Copies src into dst without making a view (dst.set(src.subarray(...)) would allocate one). */
function copy(src: Uint8Array, srcOffset: number, length: number, dst: Uint8Array, dstOffset: number): void {
  if (src === dst) dst.copyWithin(dstOffset, srcOffset, srcOffset + length);
  else for (let i = 0; i < length; i++) dst[dstOffset + i] = src[srcOffset + i]!;
}

/** The native AEAD behind the ChaChaPoly interface; throws LinkError ADDON_MISSING when not built. */
export function nativeChaChaPoly(): ChaChaPoly {
  const addon = loadNativeAead();
  return {
    seal(key, nonce, ad, src, srcOffset, length, dst, dstOffset) {
      if (src !== dst || srcOffset !== dstOffset) copy(src, srcOffset, length, dst, dstOffset);
      addon.seal(key, nonce, ad, dst, dstOffset, length);
    },
    open(key, nonce, ad, src, srcOffset, length, dst, dstOffset) {
      if (src === dst && srcOffset === dstOffset) return addon.open(key, nonce, ad, dst, dstOffset, length);
      // Out of place (never on the data path): the addon reads the tag after the ciphertext, which
      // dst need not have room for, so node:crypto does this one.
      return nodeChaChaPoly.open(key, nonce, ad, src, srcOffset, length, dst, dstOffset);
    },
  };
}

let chosen: ChaChaPoly | null = null;

/** The native AEAD if its addon is built, otherwise node:crypto's. */
export function defaultChaChaPoly(): ChaChaPoly {
  if (!chosen) {
    try {
      chosen = nativeChaChaPoly();
    } catch {
      chosen = nodeChaChaPoly;
    }
  }
  return chosen;
}

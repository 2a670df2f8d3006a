// The native ChaCha20-Poly1305 (aead.cc): in place, one call per packet, nothing allocated on the
// JavaScript heap. Native code lives under transports/ (docs/architecture.md §2); the WireGuard core takes it
// through its ChaChaPoly interface (apps/wireguard/crypto/native-aead.ts).
import { loadAddon } from './native.ts';

export interface NativeAead {
  /** Encrypts buf[offset, +length) in place and writes the 16-byte tag after it. Throws TypeError on bad arguments. */
  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array | null, buf: Uint8Array, offset: number, length: number): void;
  /** Authenticates and decrypts buf[offset, +length) (tag last) in place; false if it does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array | null, buf: Uint8Array, offset: number, length: number): boolean;
}

/** The addon; throws LinkError ADDON_MISSING (with the fix) when it was not built. */
export function loadNativeAead(): NativeAead {
  return loadAddon<NativeAead>('wsk_aead', 'native ChaCha20-Poly1305');
}

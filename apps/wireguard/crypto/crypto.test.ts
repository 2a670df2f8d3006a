// The WireGuard crypto against published vectors: RFC 7693 (BLAKE2s, its Appendix E self-test
// covers keyed and 16-byte digests), RFC 8439 §2.8.2 (ChaCha20-Poly1305), RFC 7748 §5.2/§6.1
// (X25519), draft-irtf-cfrg-xchacha-03 §2.2.1 and §A.3.1 (HChaCha20, XChaCha20-Poly1305).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Blake2s, blake2s } from './blake2s.ts';
import { hchacha20 } from './hchacha20.ts';
import { aeadDecrypt, nodeChaChaPoly, xaeadDecrypt, xaeadEncrypt, type ChaChaPoly } from './aead.ts';
import { nativeChaChaPoly } from './native-aead.ts';
import { clampPrivateKey, formatKey, generatePrivateKey, parseKey, publicKeyOf, x25519 } from './x25519.ts';
import { hash, hmac, kdf, mac } from './hash.ts';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const range = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => from + i);
const SUNSCREEN = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");

describe('BLAKE2s (RFC 7693)', () => {
  it('hashes "abc" as Appendix B says', () => {
    expect(toHex(blake2s([new TextEncoder().encode('abc')]))).toBe('508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  });

  it('passes the Appendix E self-test (digest lengths 16-32, keyed and unkeyed, inputs 0-1024 bytes)', () => {
    const seq = (len: number, seed: number): Uint8Array => {
      const out = new Uint8Array(len);
      let a = Math.imul(0xdead4bad, seed) >>> 0;
      let b = 1;
      for (let i = 0; i < len; i++) {
        const t = (a + b) >>> 0;
        a = b;
        b = t;
        out[i] = t >>> 24;
      }
      return out;
    };
    const grand = new Blake2s().init(32);
    for (const outLen of [16, 20, 28, 32]) {
      for (const inLen of [0, 3, 64, 65, 255, 1024]) {
        const input = seq(inLen, inLen);
        grand.update(blake2s([input], outLen));
        grand.update(blake2s([input], outLen, seq(outLen, outLen)));
      }
    }
    expect(toHex(grand.final(new Uint8Array(32)))).toBe('6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });

  it('agrees with node:crypto blake2s256 across block boundaries and split updates', () => {
    const data = range(0, 200);
    const h = new Blake2s();
    for (const n of [0, 1, 63, 64, 65, 128, 129, 200]) {
      const parts = [data.subarray(0, n >> 1), data.subarray(n >> 1, n)];
      expect(toHex(blake2s(parts))).toBe(createHash('blake2s256').update(data.subarray(0, n)).digest('hex'));
      h.init(32).update(data, 0, n);
      expect(toHex(h.final(new Uint8Array(32)))).toBe(createHash('blake2s256').update(data.subarray(0, n)).digest('hex'));
    }
  });

  it('refuses digest lengths and keys out of range', () => {
    expect(() => new Blake2s().init(33)).toThrow(RangeError);
    expect(() => new Blake2s().init(16, new Uint8Array(33))).toThrow(RangeError);
  });
});

describe('HASH, MAC, HMAC and KDF (WireGuard paper §5.4)', () => {
  it('HMAC-BLAKE2s is RFC 2104 over BLAKE2s-256 (checked against a by-hand construction)', () => {
    const key = range(1, 32);
    const msg = range(100, 77);
    const ipad = new Uint8Array(64).fill(0x36);
    const opad = new Uint8Array(64).fill(0x5c);
    for (let i = 0; i < 32; i++) { ipad[i] ^= key[i]!; opad[i] ^= key[i]!; }
    const inner = blake2s([ipad, msg]);
    expect(toHex(hmac(key, msg))).toBe(toHex(blake2s([opad, inner])));
  });

  it('KDF3 chains τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i-1) || i); KDF1 and KDF2 are its prefixes', () => {
    const key = range(7, 32);
    const input = range(9, 32);
    const t0 = hmac(key, input);
    const t1 = hmac(t0, Uint8Array.of(1));
    const t2 = hmac(t0, t1, Uint8Array.of(2));
    const t3 = hmac(t0, t2, Uint8Array.of(3));
    expect(kdf(3, key, input).map(toHex)).toEqual([t1, t2, t3].map(toHex));
    expect(kdf(2, key, input).map(toHex)).toEqual([t1, t2].map(toHex));
    expect(kdf(1, key, input).map(toHex)).toEqual([t1].map(toHex));
  });

  it('HASH is unkeyed BLAKE2s-256 of the concatenation; MAC is keyed BLAKE2s with 16 bytes', () => {
    expect(toHex(hash(range(0, 10), range(10, 70)))).toBe(toHex(blake2s([range(0, 80)])));
    const m = mac(range(0, 32), range(0, 5));
    expect(m.length).toBe(16);
    expect(toHex(m)).toBe(toHex(blake2s([range(0, 5)], 16, range(0, 32))));
  });
});

describe.each([
  ['node:crypto', nodeChaChaPoly],
  ['native addon over Node\'s OpenSSL', nativeChaChaPoly()],
] as [string, ChaChaPoly][])('ChaCha20-Poly1305 (RFC 8439 §2.8.2), %s', (_name, aead) => {
  const key = range(0x80, 32);
  const nonce = hex('070000004041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const ciphertext = hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
    1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116`);
  const tag = '1ae10b594f09e26a7e902ecbd0600691';

  it('seals the sunscreen text to the RFC ciphertext and tag, in place too', () => {
    const out = new Uint8Array(SUNSCREEN.length + 16);
    aead.seal(key, nonce, ad, SUNSCREEN, 0, SUNSCREEN.length, out, 0);
    expect(toHex(out)).toBe(toHex(ciphertext) + tag);
    const inPlace = new Uint8Array(8 + SUNSCREEN.length + 16);
    inPlace.set(SUNSCREEN, 8);
    aead.seal(key, nonce, ad, inPlace, 8, SUNSCREEN.length, inPlace, 8);
    expect(toHex(inPlace.subarray(8))).toBe(toHex(out));
    expect(aead.open(key, nonce, ad, inPlace, 8, out.length, inPlace, 8)).toBe(true);
    expect(new TextDecoder().decode(inPlace.subarray(8, 8 + SUNSCREEN.length))).toBe(new TextDecoder().decode(SUNSCREEN));
  });

  it('refuses a flipped bit anywhere, a wrong AD and a short input', () => {
    const sealed = new Uint8Array([...ciphertext, ...hex(tag)]);
    const out = new Uint8Array(sealed.length);
    for (const at of [0, 50, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at]! ^= 1;
      expect(aead.open(key, nonce, ad, bad, 0, bad.length, out, 0)).toBe(false);
    }
    expect(aead.open(key, nonce, range(0, 12), sealed, 0, sealed.length, out, 0)).toBe(false);
    expect(aead.open(key, nonce, ad, sealed, 0, 15, out, 0)).toBe(false);
  });

  it('AEAD(key, counter, ...) puts the 64-bit counter little-endian after four zero bytes', () => {
    const c = 0x0123456789ab;
    const sealed = new Uint8Array(3 + 16);
    aead.seal(key, hex('00000000ab8967452301000000'.slice(0, 24)), ad, range(1, 3), 0, 3, sealed, 0);
    expect(aeadDecrypt(key, c, sealed, ad)).toEqual(range(1, 3));
    expect(aeadDecrypt(key, c + 1, sealed, ad)).toBeNull();
  });
});

describe('native ChaCha20-Poly1305 misuse', () => {
  it('refuses bad arguments: seal throws a TypeError that says the shape, open returns false, nothing crashes', async () => {
    const { loadNativeAead } = await import('../../../transports/native/aead.ts');
    const addon = loadNativeAead();
    const key = new Uint8Array(32); const nonce = new Uint8Array(12); const buf = new Uint8Array(64);
    expect(() => addon.seal(key, nonce, null, buf, 0, 49)).toThrow(/length \+ 16 bytes must fit/);
    expect(() => addon.seal(key.subarray(1), nonce, null, buf, 0, 8)).toThrow(TypeError);
    expect(() => addon.seal(key, nonce, null, buf, -1, 8)).toThrow(TypeError);
    expect(() => addon.seal(key, nonce, 5 as unknown as null, buf, 0, 8)).toThrow(TypeError);
    expect(addon.open(key, nonce, null, buf, 0, 65)).toBe(false);
    expect(addon.open(key, new Uint8Array(8), null, buf, 0, 32)).toBe(false);
    expect(addon.open(key, nonce, null, buf, 0, 15)).toBe(false);
    expect(addon.open(key, nonce, null, new Uint16Array(32) as unknown as Uint8Array, 0, 32)).toBe(false);
    addon.seal(key, nonce, null, buf, 0, 48);
    expect(addon.open(key, nonce, null, buf, 0, 64)).toBe(true);
  });
});

describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03)', () => {
  it('HChaCha20 gives the §2.2.1 subkey', () => {
    const sub = hchacha20(range(0, 32), hex('000000090000004a0000000031415927'));
    expect(toHex(sub)).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });

  it('encrypts the §A.3.1 example to its ciphertext and tag, and back', () => {
    const key = range(0x80, 32);
    const nonce = range(0x40, 24);
    const ad = hex('50515253c0c1c2c3c4c5c6c7');
    const sealed = xaeadEncrypt(key, nonce, SUNSCREEN, ad);
    expect(toHex(sealed)).toBe(
      'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452'
      + '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e'
      + 'c0875924c1c7987947deafd8780acf49');
    expect(xaeadDecrypt(key, nonce, sealed, ad)).toEqual(SUNSCREEN);
    sealed[0]! ^= 1;
    expect(xaeadDecrypt(key, nonce, sealed, ad)).toBeNull();
  });
});

describe('X25519 (RFC 7748) and wg key format', () => {
  it('matches the §5.2 scalar multiplication vector (unclamped scalar in, clamped by the function)', () => {
    const out = x25519(hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'));
    expect(toHex(out!)).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });

  it('derives the §6.1 public keys and shared secret', () => {
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(publicKeyOf(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(publicKeyOf(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(x25519(alice, publicKeyOf(bob))!)).toBe(shared);
    expect(toHex(x25519(bob, publicKeyOf(alice))!)).toBe(shared);
  });

  it('returns null for a small-order public key (all-zero shared secret) instead of throwing', () => {
    expect(x25519(generatePrivateKey(), new Uint8Array(32))).toBeNull();
    expect(x25519(generatePrivateKey(), Uint8Array.of(1, ...new Uint8Array(31)))).toBeNull();
  });

  it('generates clamped private keys and round-trips the base64 format; refuses bad text', () => {
    const k = generatePrivateKey();
    expect(k[0]! & 7).toBe(0);
    expect(k[31]! & 0xc0).toBe(0x40);
    expect(clampPrivateKey(k.slice())).toEqual(k);
    const text = formatKey(k);
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(parseKey(text)).toEqual(k);
    expect(parseKey(text.slice(1))).toBeNull();
    expect(parseKey('not a key')).toBeNull();
    expect(parseKey(text.slice(0, 42) + 'B=')).toBeNull(); // non-canonical trailing bits
  });
});

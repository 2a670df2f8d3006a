// BLAKE2s (RFC 7693) with a key and any digest length from 1 to 32 bytes. node:crypto has only
// 'blake2s256' (unkeyed, 32 bytes); WireGuard's MAC1/MAC2 and cookies need keyed BLAKE2s with a
// 16-byte digest. One Blake2s object is reused (init, update, final): nothing is allocated per
// message after construction.

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// RFC 7693 §2.7: the message word schedule SIGMA, rounds 0-9.
const SIGMA = new Uint8Array([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);

const BLOCK = 64;

export class Blake2s {
  private readonly h = new Uint32Array(8);
  private readonly v = new Uint32Array(16);
  private readonly m = new Uint32Array(16);
  private readonly block = new Uint8Array(BLOCK);
  private fill = 0;
  /** Bytes compressed so far (t0/t1 of RFC 7693 kept as one number: messages stay far below 2^53). */
  private counted = 0;
  private outLen = 32;

  /** Starts a message: digest length 1-32 bytes, optional key up to 32 bytes (RFC 7693 §3.3). */
  init(outLen = 32, key?: Uint8Array): this {
    if (outLen < 1 || outLen > 32) throw new RangeError(`BLAKE2s digest length ${outLen} is outside 1..32`);
    const keyLen = key?.length ?? 0;
    if (keyLen > 32) throw new RangeError(`BLAKE2s key of ${keyLen} bytes is longer than 32`);
    this.h.set(IV);
    this.h[0] ^= 0x01010000 ^ (keyLen << 8) ^ outLen;
    this.outLen = outLen;
    this.fill = 0;
    this.counted = 0;
    if (key && keyLen > 0) {
      this.block.fill(0);
      this.block.set(key);
      this.fill = BLOCK;
    }
    return this;
  }

  update(data: Uint8Array, offset = 0, length = data.length - offset): this {
    const end = offset + length;
    for (let i = offset; i < end; i++) {
      if (this.fill === BLOCK) {
        this.counted += BLOCK;
        this.compress(false);
        this.fill = 0;
      }
      this.block[this.fill++] = data[i]!;
    }
    return this;
  }

  /** Writes the digest (outLen bytes) at out[offset]. */
  final(out: Uint8Array, offset = 0): Uint8Array {
    this.counted += this.fill;
    this.block.fill(0, this.fill);
    this.compress(true);
    const h = this.h;
    for (let i = 0; i < this.outLen; i++) out[offset + i] = h[i >>> 2]! >>> (8 * (i & 3));
    return out;
  }

  private compress(last: boolean): void {
    const { h, v, m, block } = this;
    for (let i = 0; i < 16; i++) {
      const j = i * 4;
      m[i] = block[j]! | (block[j + 1]! << 8) | (block[j + 2]! << 16) | (block[j + 3]! << 24);
    }
    for (let i = 0; i < 8; i++) { v[i] = h[i]!; v[i + 8] = IV[i]!; }
    v[12] ^= this.counted >>> 0;
    v[13] ^= Math.floor(this.counted / 0x100000000);
    if (last) v[14] = ~v[14]!;
    for (let r = 0; r < 10; r++) {
      const s = r * 16;
      g(v, m, 0, 4, 8, 12, SIGMA[s]!, SIGMA[s + 1]!);
      g(v, m, 1, 5, 9, 13, SIGMA[s + 2]!, SIGMA[s + 3]!);
      g(v, m, 2, 6, 10, 14, SIGMA[s + 4]!, SIGMA[s + 5]!);
      g(v, m, 3, 7, 11, 15, SIGMA[s + 6]!, SIGMA[s + 7]!);
      g(v, m, 0, 5, 10, 15, SIGMA[s + 8]!, SIGMA[s + 9]!);
      g(v, m, 1, 6, 11, 12, SIGMA[s + 10]!, SIGMA[s + 11]!);
      g(v, m, 2, 7, 8, 13, SIGMA[s + 12]!, SIGMA[s + 13]!);
      g(v, m, 3, 4, 9, 14, SIGMA[s + 14]!, SIGMA[s + 15]!);
    }
    for (let i = 0; i < 8; i++) h[i] ^= v[i]! ^ v[i + 8]!;
  }
}

// RFC 7693 §3.1, with BLAKE2s's rotations 16, 12, 8, 7.
function g(v: Uint32Array, m: Uint32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  v[a] = v[a]! + v[b]! + m[x]!;
  v[d] = rotr(v[d]! ^ v[a]!, 16);
  v[c] = v[c]! + v[d]!;
  v[b] = rotr(v[b]! ^ v[c]!, 12);
  v[a] = v[a]! + v[b]! + m[y]!;
  v[d] = rotr(v[d]! ^ v[a]!, 8);
  v[c] = v[c]! + v[d]!;
  v[b] = rotr(v[b]! ^ v[c]!, 7);
}

function rotr(x: number, n: number): number { return (x >>> n) | (x << (32 - n)); }

const shared = new Blake2s();

/** One-shot keyed BLAKE2s of the concatenation of `parts`, `outLen` bytes (a new array). */
export function blake2s(parts: readonly Uint8Array[], outLen = 32, key?: Uint8Array): Uint8Array {
  shared.init(outLen, key);
  for (const p of parts) shared.update(p);
  return shared.final(new Uint8Array(outLen));
}

// Seeded PRNG for fault injection and for a stack's seeded TCP randomness (userspace-stack.ts).
// Our own (not Math.random, not a dependency) so a seed names one exact sequence on every Node
// version and platform: a failing simulation is replayed by rerunning its seed. xoshiro128**
// (Blackman & Vigna): 32-bit integer ops only, which V8 runs without boxing; seeded through
// splitmix32 so nearby seeds (1, 2, 3) give unrelated streams.
export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
  }

  /**
   * The next draw as a signed 32-bit integer. The hot path draws with this (or chance()): a
   * value above 2^31, or a fraction, returned from a call V8 does not inline is boxed (a heap
   * allocation per draw); an int32 or a boolean never is.
   */
  nextI32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform 32-bit unsigned integer (the same draw as nextI32). */
  nextU32(): number { return this.nextI32() >>> 0; }

  /** Uniform in [0, 1). */
  next(): number { return (this.nextI32() >>> 0) / 4294967296; }

  /** True with probability p: next() < p, decided inside so nothing is boxed. */
  chance(p: number): boolean { return (this.nextI32() >>> 0) / 4294967296 < p; }

  /** Uniform integer in [0, n). */
  below(n: number): number { return Math.floor(this.next() * n); }
}

function rotl(x: number, k: number): number { return (x << k) | (x >>> (32 - k)); }

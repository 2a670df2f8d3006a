// TCP sequence-number arithmetic (RFC 9293 §3.4, RFC 1982 serial-number arithmetic).
// Sequence numbers are kept as signed 32-bit integers (`x | 0`) so V8 stores them as small
// integers; every comparison is modular: a < b iff (a - b) as int32 is negative. Two numbers
// exactly 2^31 apart have an undefined order (RFC 1982); TCP windows never get that large.

/** a < b (modulo 2^32). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b (modulo 2^32). */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b (modulo 2^32). */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b (modulo 2^32). */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n, wrapped to int32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) | 0;
}

/** a - b as a signed int32 distance. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** The later of a and b (modulo 2^32). */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a | 0 : b | 0;
}

/** The earlier of a and b (modulo 2^32). */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a | 0 : b | 0;
}

/** start <= s < start + len (modulo 2^32); len is an unsigned length below 2^31. */
export function seqInWindow(s: number, start: number, len: number): boolean {
  const off = (s - start) | 0;
  return off >= 0 && off < len;
}

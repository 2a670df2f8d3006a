// Layer: net/wire. Big-endian (network order, RFC 791 appendix B) byte accessors and address
// formatting shared by the wire views; no allocation except in the format/parse-text helpers.
export function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function set16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function get32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
/**
 * The same 32 bits as a signed integer: what the stack keeps addresses and sequence numbers as.
 * Unlike `get32(...) | 0` it never produces a number above 2^31, which V8 boxes (an allocation)
 * whenever the call is not inlined.
 */
export function get32s(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}
export function set32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
/** A 48-bit MAC address as a number (exact: below 2^53). */
export function getMac(b: Uint8Array, o: number): number {
  return get16(b, o) * 0x100000000 + get32(b, o + 2);
}
export function setMac(b: Uint8Array, o: number, mac: number): void {
  set16(b, o, Math.floor(mac / 0x100000000) & 0xffff);
  set32(b, o + 2, mac >>> 0);
}
export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
export function parseIpv4(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) return -1;
  let v = 0;
  for (const x of p) {
    const n = Number(x);
    if (!/^\d{1,3}$/.test(x) || n > 255) return -1;
    v = v * 256 + n;
  }
  return v >>> 0;
}
export function formatMac(m: number): string {
  const hi = Math.floor(m / 0x100000000);
  const lo = m >>> 0;
  const parts = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return parts.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
export function parseMac(s: string): number {
  const p = s.split(':');
  if (p.length !== 6 || !p.every((x) => /^[0-9a-fA-F]{2}$/.test(x))) return -1;
  return p.reduce((acc, x) => acc * 256 + parseInt(x, 16), 0);
}

// Quantities the way iperf3 prints them (its units.c): a lower-case format counts bits in powers
// of 1000 (k, m, g, t; 'a' picks the unit), an upper-case one bytes in powers of 1024 (K, M, G,
// T; 'A' picks). Transfers are always 'A'; rates follow -f (default 'a'). Four places at most:
// 2 decimals below 10, 1 below 100, none above.

/** iperf3's -f letters. */
export const UNIT_FORMATS = ['a', 'A', 'b', 'B', 'k', 'K', 'm', 'M', 'g', 'G', 't', 'T'] as const;
export type UnitFormat = (typeof UNIT_FORMATS)[number];

const BIT_LABELS = ['bit', 'Kbit', 'Mbit', 'Gbit', 'Tbit'];
const BYTE_LABELS = ['Byte', 'KByte', 'MByte', 'GByte', 'TByte'];
const FIXED: Record<string, number> = { b: 0, k: 1, m: 2, g: 3, t: 4 };

/** `bytes` (a count, or bytes per second) in `format`: "1.12 GByte", "9.53 Gbit" (iperf3 then appends "s" or "s/sec"). */
export function unitText(bytes: number, format: UnitFormat): string {
  const inBits = format === format.toLowerCase();
  const base = inBits ? 1000 : 1024;
  let value = inBits ? bytes * 8 : bytes;
  let unit = FIXED[format.toLowerCase()];
  if (unit === undefined) {
    unit = 0;
    for (let v = value; v >= base && unit < 4; v /= base) unit++;
  }
  value /= base ** unit;
  const digits = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
  return `${value.toFixed(digits).padStart(4)} ${(inBits ? BIT_LABELS : BYTE_LABELS)[unit]}`;
}

/** A transfer as iperf3 prints it: "1.12 GBytes". */
export function formatBytes(n: number): string {
  return `${unitText(n, 'A')}s`;
}

/** A rate in bits per second as iperf3 prints it: "9.53 Gbits/sec" (or in `format`'s unit). */
export function formatRate(bitsPerSecond: number, format: UnitFormat = 'a'): string {
  return `${unitText(bitsPerSecond / 8, format)}s/sec`;
}

// Small statistics and formatting shared by the benchmarks.

/** The median of the finite values (mean of the middle two for an even count); NaN if none. */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The p-quantile (0..1) by rank. */
export function pct(xs: readonly number[], p: number): number {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * p))]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** value / base, or NaN when either is missing. */
export function ratio(value: number, base: number): number {
  return Number.isFinite(value) && Number.isFinite(base) && base > 0 ? value / base : NaN;
}

export const fmt = (x: number | null | undefined, digits: number): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–');
export const fmtRatio = (x: number | null | undefined): string => (typeof x === 'number' && Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');

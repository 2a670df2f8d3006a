// The scale benchmark's curves (bench/scale.bench.ts): which figures are measured against which
// load, their medians over runs, ratios against node:net at the same load, and cliffs.
//
// A cliff is a point where a target's figure falls by more than half from the previous load's
// (or gives no figure after the previous one gave one). Only figures where higher is better are
// judged: throughput, request-responses per second and connections per second. Latency is judged
// through request-responses per second, because in a closed loop of N connections each round
// trip waits behind the other N - 1 (Little's law): p99 grows with N even when nothing breaks,
// while the rate only falls when something does.
import { median, ratio } from '../suite/stats.ts';

export type CurveKey = 'rx' | 'rrP50' | 'rrP99' | 'rrTps' | 'cps';
/** The load a curve is measured against: concurrent connections, or connections in flight (connect, exchange, close). */
export type LoadKind = 'connections' | 'inFlight';

export interface CurveInfo {
  key: CurveKey;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  load: LoadKind;
  /** Judged for cliffs (see the file comment). */
  cliffs: boolean;
  digits: number;
}

export const CURVES: readonly CurveInfo[] = [
  { key: 'rx', label: 'aggregate throughput peer→app', unit: 'Gbit/s', better: 'higher', load: 'connections', cliffs: true, digits: 2 },
  { key: 'rrP50', label: '64-byte request-response p50', unit: 'µs', better: 'lower', load: 'connections', cliffs: false, digits: 0 },
  { key: 'rrP99', label: '64-byte request-response p99', unit: 'µs', better: 'lower', load: 'connections', cliffs: false, digits: 0 },
  { key: 'rrTps', label: 'request-responses per second', unit: 'per s', better: 'higher', load: 'connections', cliffs: true, digits: 0 },
  { key: 'cps', label: 'connections per second', unit: 'per s', better: 'higher', load: 'inFlight', cliffs: true, digits: 0 },
];

export const LOAD_LABELS: Record<LoadKind, string> = {
  connections: 'concurrent connections',
  inFlight: 'connections in flight (connect, 64 B each way, close)',
};

/** One run of one target: per curve, the figure at each load (NaN: none). */
export type RunCurves = Record<CurveKey, Record<number, number>>;

export const noRunCurves = (): RunCurves => ({ rx: {}, rrP50: {}, rrP99: {}, rrTps: {}, cps: {} });

export interface PointResult {
  x: number;
  runs: (number | null)[];
  median: number | null;
  /** median / node:net's median at the same load. */
  ratio: number | null;
}

export interface CurveSeries { target: string; label: string; points: PointResult[] }

export interface CurveResult extends CurveInfo { loads: number[]; series: CurveSeries[] }

export interface Cliff {
  curve: CurveKey;
  target: string;
  /** The load where it fell, and the load before it. */
  x: number;
  previousX: number;
  from: number;
  /** null: no figure at all at this load. */
  to: number | null;
}

const nul = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Medians over runs and ratios against `baseline` for one curve; `targets` in display order. */
export function summariseCurve(
  info: CurveInfo, loads: readonly number[], targets: readonly { name: string; label: string }[],
  runs: ReadonlyMap<string, readonly RunCurves[]>, baseline = 'node:net',
): CurveResult {
  const med = (t: string, x: number): number => median((runs.get(t) ?? []).map((r) => r[info.key][x] ?? NaN));
  const series = targets.map((t) => ({
    target: t.name,
    label: t.label,
    points: loads.map((x) => ({
      x,
      runs: (runs.get(t.name) ?? []).map((r) => nul(r[info.key][x] ?? NaN)),
      median: nul(med(t.name, x)),
      ratio: nul(ratio(med(t.name, x), med(baseline, x))),
    })),
  }));
  return { ...info, loads: [...loads], series };
}

/** The cliffs in one target's points, in load order (see the file comment). */
export function findCliffs(points: readonly { x: number; median: number | null }[]): Omit<Cliff, 'curve' | 'target'>[] {
  const cliffs: Omit<Cliff, 'curve' | 'target'>[] = [];
  for (let i = 1; i < points.length; i++) {
    const prev = points[i - 1]!;
    const cur = points[i]!;
    if (prev.median === null || !(prev.median > 0)) continue;
    if (cur.median === null || cur.median < prev.median / 2) cliffs.push({ x: cur.x, previousX: prev.x, from: prev.median, to: cur.median });
  }
  return cliffs;
}

/** Every cliff on every judged curve. */
export function curveCliffs(curves: readonly CurveResult[]): Cliff[] {
  return curves.filter((c) => c.cliffs).flatMap((c) => c.series.flatMap((s) => findCliffs(s.points).map((k) => ({ curve: c.key, target: s.target, ...k }))));
}

export function describeCliff(c: Cliff, info: CurveInfo, label: string): string {
  const f = (v: number): string => v.toFixed(info.digits);
  return `${label}: ${info.label} ${c.to === null ? 'gave no figure' : `fell from ${f(c.from)} to ${f(c.to)} ${info.unit}`} going from ${c.previousX} to ${c.x} ${info.load === 'connections' ? 'connections' : 'in flight'}`;
}

// The scale benchmark's plots, each an SVG with its figures as CSV beside it: one line chart per
// curve (figure against load, a line per target, cliffs ringed), and a bar chart of memory per
// idle connection by part. Medians only; the ratios are in the JSON and the README table.
import { csvCell, niceTicks } from '../../apps/lab/svg-chart.ts';
import { svgBars } from '../svg-bars.ts';
import { curveChartSvg, curveCsv, type CurveChart } from '../svg-curves.ts';
import type { ScaleResult } from '../scale.bench.ts';
import { LOAD_LABELS, type CurveKey, type CurveResult } from './curves.ts';
import { MEMORY_PARTS, MEMORY_PART_SHORT } from './memory.ts';

export interface ChartFile { name: string; svg: string; csv: string; caption: string }

/** The curves that get a plot, with their file names. */
const PLOTTED: readonly { key: CurveKey; file: string; log: boolean }[] = [
  { key: 'rx', file: 'throughput', log: false },
  { key: 'rrP99', file: 'rr-p99', log: true },
  { key: 'rrTps', file: 'rr-rate', log: false },
  { key: 'cps', file: 'cps', log: false },
];

const column = (target: string, unit: string): string => `${target.replace(/[^a-z0-9]+/gi, '_')}_${unit.replace('µs', 'us').replace(/[^a-z0-9]+/gi, '_')}`.toLowerCase();

function subtitle(r: ScaleResult): string {
  return `${r.options.setup}, ${r.machine.cores} cores, ${r.machine.date.slice(0, 10)}; median of ${r.options.runs} run${r.options.runs === 1 ? '' : 's'}${r.options.quick ? ' (quick)' : ''}`;
}

function curveChart(r: ScaleResult, c: CurveResult, log: boolean): CurveChart {
  const series = c.series.filter((s) => !r.targets.find((t) => t.name === s.target)?.skipped);
  const cliffs = r.cliffs.filter((k) => k.curve === c.key);
  return {
    title: `${c.label} against ${LOAD_LABELS[c.load].split(' (')[0]}`,
    subtitle: subtitle(r),
    xLabel: `${LOAD_LABELS[c.load]} (log scale)`,
    yLabel: `${c.label.replace(/^64-byte request-response /, 'RR ')} (${c.unit}${log ? ', log scale' : ''}) ${c.better === 'higher' ? '↑' : '↓'}`,
    xColumn: c.load === 'connections' ? 'connections' : 'in_flight',
    curves: series.map((s) => ({ label: s.label, column: column(s.target, c.unit), x: s.points.map((p) => p.x), y: s.points.map((p) => p.median) })),
    yScale: log ? 'log' : 'linear',
    rings: cliffs.map((k) => ({ curve: series.findIndex((s) => s.target === k.target), x: k.x })).filter((x) => x.curve >= 0),
    ringLabel: 'cliff: under half the previous point',
  };
}

function memoryChart(r: ScaleResult): { svg: string; csv: string } {
  const ran = r.memory.filter((m) => !r.targets.find((t) => t.name === m.target)?.skipped);
  // The ring divided by the connections can be a hundred times the rest: its bars are cut at
  // about twice the tallest other part (and labelled with their value) so the rest stays readable.
  const rest = ran.flatMap((m) => MEMORY_PARTS.filter((p) => p !== 'ring' && p !== 'withRing').map((p) => m.perConnectionKiB[p] ?? 0));
  const svg = svgBars({
    title: `Memory per idle connection at ${r.options.measure.idle} connections (KiB; ${subtitle(r)})`,
    categories: MEMORY_PARTS.map((p) => MEMORY_PART_SHORT[p]),
    series: ran.map((m) => ({ name: m.label, values: MEMORY_PARTS.map((p) => m.perConnectionKiB[p]) })),
    yLabel: 'KiB per connection ↓',
    yCap: niceTicks(0, Math.max(1, 2 * Math.max(0, ...rest))).at(-1),
    width: 1000,
  });
  const header = ['part', ...ran.map((m) => `${m.target} KiB per connection`)];
  const rows: (string | number | null)[][] = MEMORY_PARTS.map((p) => [p, ...ran.map((m) => m.perConnectionKiB[p])]);
  rows.push(['ring_bytes_total', ...ran.map((m) => m.ringBytes)], ['connections_held', ...ran.map((m) => m.held)]);
  return { svg, csv: [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n' };
}

/** Every plot of `r` with its CSV; `name` is the file stem beside the JSON, e.g. scale-throughput. */
export function scaleCharts(r: ScaleResult, stem: string): ChartFile[] {
  const files: ChartFile[] = [];
  for (const p of PLOTTED) {
    const c = r.curves.find((x) => x.key === p.key);
    if (!c) continue;
    const chart = curveChart(r, c, p.log);
    files.push({ name: `${stem}-${p.file}`, svg: curveChartSvg(chart), csv: curveCsv(chart), caption: chart.title });
  }
  const mem = memoryChart(r);
  files.push({ name: `${stem}-memory`, ...mem, caption: `memory per idle connection at ${r.options.measure.idle} connections` });
  return files;
}

// The suite's chart: ratios against node:net, one group per metric, one bar per target, on a
// log scale around 1× (the arrows in the labels say which way is better). node:net is the 1×
// line rather than a bar (its ratio is 1 by definition: a bar of zero height). suiteCsv is the
// same figures as CSV, written beside the chart.
import type { SuiteResult } from '../suite.ts';
import { csvCell } from '../../apps/lab/svg-chart.ts';
import { svgBars } from '../svg-bars.ts';

const BASELINE = 'node:net';

export function suiteChart(r: SuiteResult): string {
  const metrics = r.metrics.filter((m) => m.headline);
  const targets = r.targets.filter((t) => !t.skipped && t.name !== BASELINE);
  const baseline = r.targets.find((t) => t.name === BASELINE);
  return svgBars({
    title: `Ratios against node:net (same run; ${r.options.setup}, ${r.machine.cores} cores, ${r.machine.date.slice(0, 10)})`,
    categories: metrics.map((m) => `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`),
    series: targets.map((t) => ({ name: t.label, values: metrics.map((m) => t.metrics[m.key].ratio) })),
    reference: 1,
    referenceLabel: `1× = ${baseline?.label ?? BASELINE}, the baseline`,
    yLabel: '× node:net (log scale)',
    log: true,
    yMin: 1 / 8,
    yCap: 32,
  });
}

/** One row per headline metric: its unit, then each target's median and ratio against node:net. */
export function suiteCsv(r: SuiteResult): string {
  const metrics = r.metrics.filter((m) => m.headline);
  const targets = r.targets.filter((t) => !t.skipped);
  const header = ['metric', 'label', 'unit', 'better', ...targets.flatMap((t) => [`${t.name} median`, `${t.name} ratio`])];
  const rows = metrics.map((m) => [m.key, m.label, m.unit, m.better, ...targets.flatMap((t) => [t.metrics[m.key].median, t.metrics[m.key].ratio])]);
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n';
}

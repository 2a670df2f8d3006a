// The suite's chart: ratios against node:net, one group per metric, one bar per target, on a
// log scale around 1× (the arrows in the labels say which way is better).
import type { SuiteResult } from '../suite.ts';
import { svgBars } from '../svg-bars.ts';

export function suiteChart(r: SuiteResult): string {
  const metrics = r.metrics.filter((m) => m.headline);
  const targets = r.targets.filter((t) => !t.skipped);
  return svgBars({
    title: `Ratios against node:net (same run; ${r.options.setup}, ${r.machine.cores} cores, ${r.machine.date.slice(0, 10)})`,
    categories: metrics.map((m) => `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`),
    series: targets.map((t) => ({ name: t.label, values: metrics.map((m) => t.metrics[m.key].ratio) })),
    reference: 1,
    yLabel: '× node:net (log scale)',
    log: true,
    yMin: 1 / 8,
    yCap: 32,
  });
}

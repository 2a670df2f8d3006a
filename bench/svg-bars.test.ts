// The benchmark chart as a reader sees it: the baseline is the 1× reference line named in the
// legend (not a bar of zero height), and no value label reaches past the plot into the category
// names, whichever way its bar points and however close to the axis's end it stops; the CSV
// beside it carries every target's median and ratio.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SuiteResult } from './suite.ts';
import { suiteChart, suiteCsv } from './suite/chart.ts';
import { svgBars } from './svg-bars.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/suite-fixture.json', import.meta.url), 'utf8')) as SuiteResult;

/** Vertical extent of each rotated value label, from its anchor and a generous width estimate. */
function valueLabels(svg: string): { text: string; top: number; bottom: number }[] {
  return [...svg.matchAll(/<text class="value" transform="translate\([^ ]+ ([^)]+)\) rotate\(-90\)" text-anchor="(start|end)"[^>]*>([^<]+)</g)].map((m) => {
    const y = Number(m[1]);
    const length = m[3]!.length * 9 * 0.65;
    return m[2] === 'start' ? { text: m[3]!, top: y - length, bottom: y } : { text: m[3]!, top: y, bottom: y + length };
  });
}

describe('svgBars', () => {
  it('keeps every value label inside the plot, above the category names, at both ends of a log axis', () => {
    const svg = svgBars({
      title: 'ratios', categories: ['peer→app ↑', 'app→peer ↑', 'memory ↓'], reference: 1, referenceLabel: '1× = baseline', log: true, yMin: 1 / 8, yCap: 8,
      series: [{ name: 'a', values: [0.16, 0.13, 5.9] }, { name: 'b', values: [0.05, 1.01, 7.9] }, { name: 'c', values: [40, 0.99, 6.5] }],
    });
    const axis = svg.match(/<line class="axis-y"[^>]* y1="([^"]+)" y2="([^"]+)"/)!;
    const [plotTop, plotBottom] = [Number(axis[1]), Number(axis[2])];
    const categoryTop = Math.min(...[...svg.matchAll(/<text class="category"[^>]* y="([^"]+)"/g)].map((m) => Number(m[1]) - 11));
    const labels = valueLabels(svg);
    expect(labels).toHaveLength(9);
    for (const l of labels) {
      expect(l.bottom, l.text).toBeLessThanOrEqual(plotBottom);
      expect(l.bottom, l.text).toBeLessThan(categoryTop);
      expect(l.top, l.text).toBeGreaterThanOrEqual(plotTop);
    }
    expect(svg).toContain('1× = baseline');
  });
});

describe('suiteChart', () => {
  it('draws node:net as the 1× line named in the legend, and a bar for every other target and metric', () => {
    const svg = suiteChart(fixture);
    expect(svg).not.toContain('>node:net (kernel TCP)<');
    expect(svg).toMatch(/1× = node:net \(kernel TCP\), the baseline/);
    expect(svg).toMatch(/stroke-dasharray/);
    const metrics = fixture.metrics.filter((m) => m.headline);
    const others = fixture.targets.filter((t) => !t.skipped && t.name !== 'node:net');
    const values = others.flatMap((t) => metrics.map((m) => t.metrics[m.key].ratio)).filter((v) => v !== null);
    expect(svg.match(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="[^"]+"><title>/g)).toHaveLength(values.length);
  });

  it('writes the same figures as CSV: a row per metric, a median and a ratio column per target', () => {
    const [header, ...rows] = suiteCsv(fixture).trim().split('\n').map((l) => l.split(','));
    const targets = fixture.targets.filter((t) => !t.skipped);
    expect(header).toEqual(['metric', 'label', 'unit', 'better', ...targets.flatMap((t) => [`${t.name} median`, `${t.name} ratio`])]);
    const metrics = fixture.metrics.filter((m) => m.headline);
    expect(rows.map((r) => r[0])).toEqual(metrics.map((m) => m.key));
    const rx = rows.find((r) => r[0] === 'rx')!;
    targets.forEach((t, i) => {
      expect(rx[4 + 2 * i] === '' ? null : Number(rx[4 + 2 * i])).toBe(t.metrics.rx.median);
      expect(rx[5 + 2 * i] === '' ? null : Number(rx[5 + 2 * i])).toBe(t.metrics.rx.ratio);
    });
  });
});

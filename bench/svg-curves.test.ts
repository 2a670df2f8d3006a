// The scale benchmark's line charts as a reader sees them, read back from the SVG text: a tick at
// every measured load on a log x axis, a y axis fitted to the data (from 0 for rates, 1-2-5 log
// steps around latencies that span decades), every point inside the plot, the legend beside it,
// ringed points where asked; and the CSV beside each chart holding exactly its curves.
import { describe, expect, it } from 'vitest';
import { curveAxes, curveChartSvg, curveCsv, logTicks, type CurveChart } from './svg-curves.ts';

function chart(over: Partial<CurveChart> = {}): CurveChart {
  return {
    title: 't', xLabel: 'connections', yLabel: 'Gbit/s', xColumn: 'connections',
    curves: [
      { label: 'node:net', column: 'node_net', x: [1, 10, 100, 1000], y: [3.2, 9.1, 8.7, 7.9] },
      { label: 'stack', column: 'stack', x: [1, 10, 100, 1000], y: [4.4, 11.8, null, 10.2] },
    ],
    ...over,
  };
}

const attrs = (tag: string): Record<string, number> => Object.fromEntries([...tag.matchAll(/ ([a-z-]+)="(-?[\d.]+)"/g)].map((m) => [m[1], Number(m[2])]));

function plotBox(svg: string): { x: number; y: number; width: number; height: number } {
  return attrs(svg.match(/<rect class="plot-area"[^>]*>/)![0]) as never;
}

describe('curveAxes', () => {
  it('puts an x tick at every measured load, whatever the steps', () => {
    expect(curveAxes(chart()).x.ticks).toEqual([1, 10, 100, 1000]);
    expect(curveAxes(chart({ curves: [{ label: 'a', column: 'a', x: [512, 1, 8, 32, 128], y: [1, 2, 3, 4, 5] }] })).x.ticks).toEqual([1, 8, 32, 128, 512]);
  });

  it('starts a linear y axis at 0 and ends it at the first nice step above the data', () => {
    const y = curveAxes(chart()).y;
    expect(y.log).toBe(false);
    expect(y.min).toBe(0);
    expect(y.max).toBeGreaterThanOrEqual(11.8);
    expect(y.max).toBeLessThanOrEqual(14);
  });

  it('fits a log y axis to the data on 1-2-5 steps: no decade of empty space on either side', () => {
    const y = curveAxes(chart({ yScale: 'log', curves: [{ label: 'p99', column: 'p', x: [1, 10, 100, 1000], y: [85, 140, 900, 23000] }] })).y;
    expect(y.log).toBe(true);
    expect(y.min).toBe(50);
    expect(y.max).toBe(50000);
    expect(logTicks(85, 23000)).toEqual([50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]);
    // Many decades: only the decades and the ends, so labels do not crowd.
    expect(logTicks(3, 2.1e6)).toEqual([2, 10, 100, 1000, 10000, 100000, 1000000, 5000000]);
  });
});

describe('curveChartSvg', () => {
  it('draws every point inside the plot, leaves a gap for a missing figure, and keeps the legend beside the plot', () => {
    for (const yScale of ['linear', 'log'] as const) {
      const svg = curveChartSvg(chart({ yScale }));
      const plot = plotBox(svg);
      const points = [...svg.matchAll(/<circle class="point"[^>]*>/g)].map((m) => attrs(m[0]));
      expect(points).toHaveLength(7);
      for (const p of points) {
        expect(p.cx).toBeGreaterThanOrEqual(plot.x);
        expect(p.cx).toBeLessThanOrEqual(plot.x + plot.width);
        expect(p.cy).toBeGreaterThanOrEqual(plot.y);
        expect(p.cy).toBeLessThanOrEqual(plot.y + plot.height);
      }
      // The stack's line breaks at 100 connections: two pieces.
      const d = svg.match(/<path class="series" data-column="stack" d="([^"]+)"/)![1]!;
      expect(d.match(/M/g)).toHaveLength(2);
      const legend = attrs(svg.match(/<rect class="legend-box"[^>]*>/)![0]);
      expect(legend.x).toBeGreaterThanOrEqual(plot.x + plot.width);
      const width = Number(svg.match(/<svg [^>]*width="(\d+)"/)![1]);
      expect(legend.x + legend.width).toBeLessThanOrEqual(width);
    }
  });

  it('places loads evenly by factor: 1, 10, 100, 1000 at equal steps', () => {
    const xs = [...curveChartSvg(chart()).matchAll(/<text class="tick-x" x="([^"]+)"/g)].map((m) => Number(m[1]));
    const steps = xs.slice(1).map((x, i) => x - xs[i]!);
    for (const s of steps) expect(s).toBeCloseTo(steps[0]!, 0);
  });

  it('rings the points asked for and names them in the legend', () => {
    const svg = curveChartSvg(chart({ rings: [{ curve: 0, x: 1000 }], ringLabel: 'cliff' }));
    const ring = attrs(svg.match(/<circle class="ring"[^>]*>/)![0]);
    const point = attrs(svg.match(/<circle class="point" data-column="node_net" data-x="1000"[^>]*>/)![0]);
    expect([ring.cx, ring.cy]).toEqual([point.cx, point.cy]);
    expect(svg).toContain('>cliff</text>');
  });
});

describe('curveCsv', () => {
  it('has the x column and one column per curve, a row per load, empty where a curve has no figure', () => {
    expect(curveCsv(chart())).toBe('connections,node_net,stack\n1,3.2,4.4\n10,9.1,11.8\n100,8.7,\n1000,7.9,10.2\n');
  });
});

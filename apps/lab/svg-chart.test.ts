// The lab's line charts as a reader sees them: the legend beside the plot (never over the data),
// axes fitted to the data (or from zero for rates), reference lines drawn where they belong or
// named in the legend when far off the data, event marks in their band under the plot, faint raw
// series under their mean, a wrapped subtitle; and the CSV beside each chart holding exactly the
// plotted series. Geometry is read back from the SVG text, not from the layout code.
import { describe, expect, it } from 'vitest';
import { chartCsv, type LineChart, lineChartSvg, movingAverage, textWidth } from './svg-chart.ts';

interface Box { x: number; y: number; width: number; height: number }

function rect(svg: string, cls: string): Box {
  const tag = svg.match(new RegExp(`<rect class="${cls}"[^>]*>`))![0];
  const attr = (n: string): number => Number(tag.match(new RegExp(` ${n}="([^"]+)"`))![1]);
  return { x: attr('x'), y: attr('y'), width: attr('width'), height: attr('height') };
}

const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

/** y tick values with their pixel positions, top to bottom. */
function yTicks(svg: string): { value: number; y: number }[] {
  return [...svg.matchAll(/<text class="tick-y" x="[^"]+" y="([^"]+)"[^>]*>([^<]+)</g)].map((m) => ({ y: Number(m[1]), value: Number(m[2]) }));
}

/** Pixel y of a value on the y axis, from the ticks drawn. */
function pixelOf(svg: string, v: number): number {
  const t = yTicks(svg);
  const [a, b] = [t[0]!, t[t.length - 1]!];
  return a.y + ((v - a.value) / (b.value - a.value)) * (b.y - a.y);
}

const times = Array.from({ length: 50 }, (_, i) => (i + 1) / 10);

function chart(over: Partial<LineChart> = {}): LineChart {
  return {
    title: 'RTT', xLabel: 'time (s)', yLabel: 'srtt (ms)', xColumn: 'time_s',
    series: [
      { label: 'flow 0 cubic', column: 'flow0_ms', x: times, y: times.map((t) => 20 + 5 * Math.abs(Math.sin(t))) },
      { label: 'flow 1 newreno', column: 'flow1_ms', x: times, y: times.map((t) => 21 + 3 * Math.abs(Math.cos(t))) },
    ],
    ...over,
  };
}

describe('lineChartSvg', () => {
  it('puts the legend in its own column beside the plot area, inside the picture, even with many long entries', () => {
    for (const flows of [1, 3, 24]) {
      const series = Array.from({ length: flows }, (_, i) => ({
        label: `flow ${i} with a rather long descriptive label that must wrap somewhere`, column: `f${i}`, x: times, y: times.map((t) => t * i),
      }));
      const svg = lineChartSvg(chart({
        series,
        references: [{ label: 'capacity 100 Mbit/s', column: 'cap', value: 3, color: '#000', dash: '8 4' }],
        marks: [{ label: 'segments retransmitted', short: 'retx', column: 'retx', x: times, count: times.map((_, i) => i % 3), color: '#f00' }],
      }));
      const plot = rect(svg, 'plot-area');
      const legend = rect(svg, 'legend-box');
      expect(overlaps(plot, legend)).toBe(false);
      expect(legend.x).toBeGreaterThanOrEqual(plot.x + plot.width);
      const [, w, h] = svg.match(/<svg [^>]*width="(\d+)" height="(\d+)"/)!.map(Number);
      expect(legend.x + legend.width).toBeLessThanOrEqual(w!);
      expect(legend.y + legend.height).toBeLessThanOrEqual(h!);
      expect(svg.match(/class="legend"/g)!.length).toBe(flows + 2);
    }
  });

  it('fits a y axis to the data when asked (RTT 20–25 ms is not squeezed against 0), and starts rates at 0', () => {
    const fitted = yTicks(lineChartSvg(chart({ yFromZero: false })));
    const lo = Math.min(...fitted.map((t) => t.value));
    const hi = Math.max(...fitted.map((t) => t.value));
    expect(lo).toBeGreaterThanOrEqual(18);
    expect(lo).toBeLessThanOrEqual(20);
    expect(hi).toBeGreaterThanOrEqual(25);
    expect(hi).toBeLessThanOrEqual(27);
    const fromZero = yTicks(lineChartSvg(chart()));
    expect(Math.min(...fromZero.map((t) => t.value))).toBe(0);
  });

  it('draws a reference line near the data at its value; one far off the data is named in the legend instead', () => {
    const near = { label: 'capacity 30', column: 'capacity', value: 30, color: '#000', dash: '8 4' };
    const far = { label: 'capacity 1000', column: 'capacity_far', value: 1000, color: '#000', dash: '8 4' };
    const svg = lineChartSvg(chart({ references: [near, far] }));
    const line = svg.match(/<line class="reference" data-column="capacity" x1="[^"]+" y1="([^"]+)"/);
    expect(line).not.toBeNull();
    expect(Number(line![1])).toBeCloseTo(pixelOf(svg, 30), 0);
    expect(Math.max(...yTicks(svg).map((t) => t.value))).toBeGreaterThanOrEqual(30);
    expect(Math.max(...yTicks(svg).map((t) => t.value))).toBeLessThan(100);
    expect(svg).not.toMatch(/class="reference" data-column="capacity_far"/);
    expect(svg).toMatch(/capacity 1000 — off the scale, above/);
  });

  it('marks events as bars in a band under the plot, one per interval with events, taller for more', () => {
    const x = [1, 2, 3, 4];
    const svg = lineChartSvg(chart({
      series: [{ label: 'a', column: 'a', x, y: [1, 2, 3, 4] }],
      marks: [{ label: 'lost', short: 'lost', column: 'lost', x, count: [0, 2, 0, 1], color: '#B00020' }],
    }));
    const plot = rect(svg, 'plot-area');
    const bars = [...svg.matchAll(/<rect class="mark"[^>]* x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)"/g)]
      .map((m) => ({ x: Number(m[1]), y: Number(m[2]), width: Number(m[3]), height: Number(m[4]) }));
    expect(bars).toHaveLength(2);
    for (const b of bars) expect(b.y).toBeGreaterThanOrEqual(plot.y + plot.height);
    expect(bars[0]!.height).toBeGreaterThan(bars[1]!.height);
    // The second interval's bar spans (1, 2] on the x axis: its right edge is left of the third's start.
    expect(bars[0]!.x + bars[0]!.width).toBeLessThan(bars[1]!.x);
    // Tick labels sit under the band.
    const tickY = Math.min(...[...svg.matchAll(/<text class="tick-x" x="[^"]+" y="([^"]+)"/g)].map((m) => Number(m[1])));
    expect(tickY - 11).toBeGreaterThan(Math.max(...bars.map((b) => b.y + b.height)));
  });

  it('draws a faint raw series under its mean and says what faint means in the legend', () => {
    const raw = times.map((t, i) => 10 + (i % 2 ? 3 : -3) + t);
    const svg = lineChartSvg(chart({
      series: [
        { label: null, column: 'raw', x: times, y: raw, style: 'faint' },
        { label: 'flow 0, 1 s mean', column: 'mean', x: times, y: movingAverage(raw, 10) },
      ],
      faintLabel: 'raw samples, every 100 ms',
    }));
    const faint = svg.indexOf('data-column="raw"');
    const mean = svg.indexOf('data-column="mean"');
    expect(faint).toBeGreaterThan(0);
    expect(faint).toBeLessThan(mean);
    expect(svg.match(/<path class="series" data-column="raw"[^>]*>/)![0]).toMatch(/stroke-opacity="0\.3"/);
    expect(svg).toContain('raw samples, every 100 ms');
    expect(svg.match(/class="legend"/g)).toHaveLength(2);
  });

  it('wraps a long subtitle within the picture', () => {
    const subtitle = 'bottleneck 100 Mbit/s each way · base RTT 20 ms · loss 1 % per packet each way · queue 100 packets · offloads off · 2 flows (cubic, newreno) · memory link, virtual time, seed 1';
    const svg = lineChartSvg(chart({ subtitle, width: 700 }));
    const lines = [...svg.matchAll(/<text class="subtitle"[^>]*>([^<]+)</g)].map((m) => m[1]!);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join(' ')).toBe(subtitle);
    for (const l of lines) expect(textWidth(l, 12)).toBeLessThanOrEqual(700);
    expect(rect(svg, 'plot-area').y).toBeGreaterThan(44 + 16 * (lines.length - 1));
  });

  it('leaves gaps for missing values and escapes text', () => {
    const svg = lineChartSvg({ title: 't & u', xLabel: 'x (s)', yLabel: 'y (ms)', xColumn: 'x', series: [{ label: 'a<b', column: 'a', x: [0, 1, 2, 3], y: [1, null, 2, 3] }] });
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('t &amp; u');
    expect(svg.match(/<path class="series"[^>]* d="[^"]*"/)![0]!.match(/M/g)).toHaveLength(2);
  });
});

describe('chartCsv', () => {
  it('has the x column, then a column per plotted series, reference and event row, with the plotted values', () => {
    const c = chart({
      references: [{ label: 'base RTT', column: 'base_rtt_ms', value: 20, color: '#000', dash: '8 4' }],
      marks: [{ label: 'lost', short: 'lost', column: 'lost', x: times, count: times.map((_, i) => i % 2), color: '#f00' }],
      yFromZero: false,
    });
    const svg = lineChartSvg(c);
    const rows = chartCsv(c).trim().split('\n').map((l) => l.split(','));
    const header = rows[0]!;
    expect(header).toEqual(['time_s', 'flow0_ms', 'flow1_ms', 'base_rtt_ms', 'lost']);
    // Every column the SVG draws is in the CSV.
    const drawn = new Set([...svg.matchAll(/data-column="([^"]+)"/g)].map((m) => m[1]!));
    expect([...drawn].sort()).toEqual(header.slice(1).sort());
    expect(rows).toHaveLength(times.length + 1);
    rows.slice(1).forEach((r, i) => {
      expect(Number(r[0])).toBe(times[i]);
      expect(Number(r[1])).toBe(c.series[0]!.y[i]);
      expect(Number(r[3])).toBe(20);
      expect(Number(r[4])).toBe(i % 2);
    });
  });

  it('joins series on their x values and leaves missing values empty', () => {
    const csv = chartCsv({
      title: 't', xLabel: 'x', yLabel: 'y', xColumn: 'x',
      series: [{ label: 'a', column: 'a', x: [1, 2], y: [10, null] }, { label: 'b, "c"', column: 'b,c', x: [2, 3], y: [20, 30] }],
    });
    expect(csv).toBe('x,a,"b,c"\n1,10,\n2,,20\n3,,30\n');
  });
});

describe('movingAverage', () => {
  it('averages over the window around each point, with shorter windows at the ends, and keeps gaps', () => {
    expect(movingAverage([1, 2, 3, 4, 5], 3)).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(movingAverage([1, null, 3, 5], 3)).toEqual([1, null, 4, 4]);
    // An even window takes one more sample after the point than before it.
    expect(movingAverage([0, 0, 4, 0, 0], 2)).toEqual([0, 2, 2, 0, 0]);
  });
});

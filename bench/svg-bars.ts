// A tiny dependency-free grouped bar chart as an SVG string: one group per category, one bar
// per series inside it, an optional horizontal reference line (e.g. 1.0 for ratios), value
// labels on the bars, a legend. Missing values (null/NaN) leave a gap. Bars beyond the axis are
// clipped and marked with their value, so one outlier does not flatten the rest. With `log`, the
// axis is logarithmic (base 2) and bars grow from the reference up or down: the natural picture
// for ratios, where 0.5× and 2× are equally far from 1×. A value label goes beyond its bar's
// end when it fits inside the plot, else inside the bar, so no label reaches the category names.
import { escapeXml as esc, textWidth } from '../apps/lab/svg-chart.ts';

export interface BarSeries { name: string; values: (number | null)[] }
export interface BarChartOptions {
  title: string;
  categories: string[];
  series: BarSeries[];
  /** Draws a dashed line at this value (e.g. 1 for ratios). */
  reference?: number;
  /** Legend entry for the reference line, e.g. the baseline a ratio chart divides by. */
  referenceLabel?: string;
  yLabel?: string;
  /** Top of the axis (default: the largest value, rounded up). */
  yMax?: number;
  /** Upper limit for the automatic top of the axis (taller bars are clipped and labelled). */
  yCap?: number;
  /** Logarithmic axis (base 2) from `yMin` to `yMax`, bars starting at `reference` (default 1). */
  log?: boolean;
  /** Bottom of a logarithmic axis (default 1/8). */
  yMin?: number;
  width?: number;
  height?: number;
  colors?: string[];
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];

const num = (x: number): string => (Math.round(x * 10) / 10).toString();

function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function svgBars(o: BarChartOptions): string {
  const W = o.width ?? 900;
  const H = o.height ?? 420;
  const colors = o.colors ?? PALETTE;
  const legendItems = o.series.length + (o.referenceLabel ? 1 : 0);
  const legendH = 18 * Math.ceil(legendItems / 3) + 8;
  const m = { left: 56, right: 16, top: o.log ? 72 : 40, bottom: 48 + legendH };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const finite = o.series.flatMap((s) => s.values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && (!o.log || v > 0));
  const log = o.log ?? false;
  const base = log ? (o.reference ?? 1) : 0;
  const yMin = log ? (o.yMin ?? 1 / 8) : 0;
  const yMax = o.yMax ?? (log
    ? Math.min(o.yCap ?? Infinity, 2 ** Math.ceil(Math.log2(Math.max(2 * base, ...finite))))
    : Math.min(o.yCap ?? Infinity, niceCeil(Math.max(o.reference ?? 0, ...finite, 0))));
  const clamp = (v: number): number => Math.max(yMin, Math.min(v, yMax));
  const y = log
    ? (v: number): number => m.top + ph - ((Math.log2(clamp(v)) - Math.log2(yMin)) / (Math.log2(yMax) - Math.log2(yMin))) * ph
    : (v: number): number => m.top + ph - (clamp(v) / yMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(o.title)}</text>`);
  // Grid and axis.
  const ticks: number[] = [];
  if (log) for (let v = yMin; v <= yMax * 1.0001; v *= 2) ticks.push(v);
  else for (let i = 0; i <= 5; i++) ticks.push((yMax * i) / 5);
  for (const v of ticks) {
    const yy = y(v);
    const label = log && v < 1 ? `1/${Math.round(1 / v)}` : String(Math.round(v * 100) / 100);
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${num(yy)}" y2="${num(yy)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${num(yy + 4)}" text-anchor="end" fill="#555">${esc(label)}</text>`);
  }
  if (o.yLabel) out.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.yLabel)}</text>`);
  out.push(`<line class="axis-y" x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`);
  // Bars.
  const gw = pw / Math.max(1, o.categories.length);
  const bw = (gw * 0.8) / Math.max(1, o.series.length);
  o.categories.forEach((cat, ci) => {
    const gx = m.left + ci * gw + gw * 0.1;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      if (typeof v !== 'number' || !Number.isFinite(v)) return;
      const x = gx + si * bw;
      const y0 = y(base);
      const yv = y(v);
      const top = Math.min(y0, yv);
      const clipped = v > yMax || v < yMin;
      out.push(`<rect x="${num(x)}" y="${num(top)}" width="${num(Math.max(1, bw - 1))}" height="${num(Math.max(1, Math.abs(y0 - yv)))}" fill="${colors[si % colors.length]}"><title>${esc(`${s.name} — ${cat}: ${v.toFixed(2)}`)}</title></rect>`);
      // Value labels run vertically from the bar's end, so neighbours never overlap: outward when
      // they fit inside the plot, else inward over the bar (never into the category names).
      const text = `${v.toFixed(2)}${clipped ? (v >= base ? '↑' : '↓') : ''}`;
      const room = textWidth(text, 9) + 3;
      const up = v >= base;
      const outward = up ? yv - room >= m.top : yv + room <= m.top + ph;
      const upward = up === outward;
      const ly = upward ? yv - 3 : yv + 3;
      const cx = num(x + bw / 2 + 3);
      out.push(`<text class="value" transform="translate(${cx} ${num(ly)}) rotate(-90)" text-anchor="${upward ? 'start' : 'end'}" font-size="9" fill="${clipped ? '#c00' : '#333'}">${text}</text>`);
    });
    out.push(`<text class="category" x="${num(m.left + ci * gw + gw / 2)}" y="${m.top + ph + 16}" text-anchor="middle" fill="#333">${esc(cat)}</text>`);
  });
  if (o.reference !== undefined) {
    const yy = num(y(o.reference));
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" stroke="#000" stroke-dasharray="5 4"/>`);
  }
  // Legend, under the category names: the series, then the reference line.
  const lw = pw / 3;
  const place = (i: number): [number, number] => [m.left + (i % 3) * lw, H - legendH + 4 + Math.floor(i / 3) * 18];
  o.series.forEach((s, si) => {
    const [lx, ly] = place(si);
    out.push(`<rect x="${num(lx)}" y="${ly}" width="12" height="12" fill="${colors[si % colors.length]}"/>`);
    out.push(`<text x="${num(lx + 17)}" y="${ly + 10}" fill="#333">${esc(s.name)}</text>`);
  });
  if (o.referenceLabel) {
    const [lx, ly] = place(o.series.length);
    out.push(`<line x1="${num(lx)}" x2="${num(lx + 12)}" y1="${ly + 6}" y2="${ly + 6}" stroke="#000" stroke-dasharray="3 2"/>`);
    out.push(`<text x="${num(lx + 17)}" y="${ly + 10}" fill="#333">${esc(o.referenceLabel)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

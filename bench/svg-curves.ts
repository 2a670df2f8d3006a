// Line charts of a figure against a load that grows by factors (connections 1, 10, 100, 1000; in
// flight 1, 8, 32, ...), as standalone SVG text, and the same data as CSV. The x axis is
// logarithmic with a tick at every measured load, so each step gets the same width; the y axis is
// fitted to the data: linear from 0 for rates, or logarithmic (1-2-5 ticks) for latencies that
// span decades. Points can be ringed and named in the legend (a cliff). The legend has its own
// column right of the plot, as in apps/lab/svg-chart.ts, whose text helpers this reuses.
import { PALETTE, csvCell, escapeXml as esc, formatTick, niceTicks, textWidth, wrapText } from '../apps/lab/svg-chart.ts';

export interface Curve {
  /** Legend text. */
  label: string;
  /** CSV column name (snake_case, with the unit). */
  column: string;
  x: readonly number[];
  /** null or non-finite: no figure at that load (a gap in the line). */
  y: readonly (number | null)[];
  color?: string;
}

export interface RingedPoint {
  /** Index into `curves`. */
  curve: number;
  x: number;
}

export interface CurveChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  xColumn: string;
  curves: readonly Curve[];
  /** 'linear' (default): from 0. 'log': fitted to the data on 1-2-5 steps. */
  yScale?: 'linear' | 'log';
  /** Points drawn with a ring, e.g. cliffs; `ringLabel` names them in the legend. */
  rings?: readonly RingedPoint[];
  ringLabel?: string;
  width?: number;
  height?: number;
}

export interface CurveAxes {
  /** Ticks at the measured loads; the axis spans them (log scale). */
  x: { min: number; max: number; ticks: number[] };
  y: { min: number; max: number; ticks: number[]; log: boolean };
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** 1-2-5 steps of 10^k from the largest at or under `lo` to the smallest at or over `hi` (lo > 0); decades only when that is more than 10 ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const steps: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)) + 1; k++) for (const m of [1, 2, 5]) steps.push(Number((m * 10 ** k).toPrecision(3)));
  const first = [...steps].reverse().find((s) => s <= lo)!;
  const last = steps.find((s) => s >= hi)!;
  const ticks = steps.filter((s) => s >= first && s <= last);
  if (ticks.length <= 10) return ticks;
  const decade = (s: number): boolean => Math.abs(Math.log10(s) - Math.round(Math.log10(s))) < 1e-9;
  return ticks.filter((s) => decade(s) || s === first || s === last);
}

/** The axes `chart` is drawn on; see the file comment. */
export function curveAxes(chart: CurveChart): CurveAxes {
  const xs = [...new Set(chart.curves.flatMap((c) => c.x).filter((v) => finite(v) && v > 0))].sort((a, b) => a - b);
  const xTicks = xs.length ? xs : [1, 10];
  const x = { min: xTicks[0]!, max: xTicks[xTicks.length - 1]! > xTicks[0]! ? xTicks[xTicks.length - 1]! : xTicks[0]! * 10, ticks: xTicks };
  const log = chart.yScale === 'log';
  const ys = chart.curves.flatMap((c) => c.y).filter((v): v is number => finite(v) && (!log || v > 0));
  if (log) {
    const lo = ys.length ? Math.min(...ys) : 1;
    const hi = ys.length ? Math.max(...ys) : 10;
    const ticks = logTicks(lo, hi > lo ? hi : lo * 2);
    return { x, y: { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, log } };
  }
  const ticks = niceTicks(0, Math.max(0, ...ys) || 1);
  return { x, y: { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks, log } };
}

const px = (v: number): string => String(Math.round(v * 10) / 10);
const FONT = 'font-family="sans-serif"';
const LEGEND_FONT = 11;
const LEGEND_LINE = 14;

/** The chart as SVG: grid, one polyline with dots per curve, ringed points, the legend beside the plot. */
export function curveChartSvg(chart: CurveChart): string {
  const A = curveAxes(chart);
  const width = chart.width ?? 900;
  const subtitle = chart.subtitle ? wrapText(chart.subtitle, 12, width - 40) : [];
  const entries: { label: string; color: string; ring: boolean }[] = chart.curves.map((c, i) => ({ label: c.label, color: c.color ?? PALETTE[i % PALETTE.length]!, ring: false }));
  if (chart.rings?.length) entries.push({ label: chart.ringLabel ?? 'ringed point', color: '#cc0000', ring: true });
  const textRoom = Math.min(240, Math.max(...entries.map((e) => textWidth(e.label, LEGEND_FONT))));
  const laid = entries.map((e) => ({ ...e, lines: wrapText(e.label, LEGEND_FONT, textRoom) }));
  const legendW = 36 + textRoom;
  const legendH = 8 + laid.reduce((h, e) => h + e.lines.length * LEGEND_LINE + 4, 0);
  const top = 34 + subtitle.length * 16 + 14;
  const bottom = 56;
  const height = Math.max(chart.height ?? 440, top + legendH + 20, top + 200 + bottom);
  const plot = { x: 76, y: top, width: width - 76 - legendW - 36, height: height - top - bottom };
  const legend = { x: plot.x + plot.width + 20, y: top, width: legendW, height: legendH };
  const pad = plot.width * 0.04;
  const lx = (v: number): number => Math.log10(v);
  const placeX = (v: number): number => plot.x + pad + ((lx(v) - lx(A.x.min)) / (lx(A.x.max) - lx(A.x.min))) * (plot.width - 2 * pad);
  const yv = (v: number): number => (A.y.log ? Math.log10(v) : v);
  const placeY = (v: number): number => plot.y + plot.height - ((yv(v) - yv(A.y.min)) / (yv(A.y.max) - yv(A.y.min))) * plot.height;
  const bottomY = plot.y + plot.height;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${esc(chart.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text class="title" x="${px(width / 2)}" y="24" text-anchor="middle" ${FONT} font-size="16" font-weight="bold">${esc(chart.title)}</text>`,
    ...subtitle.map((l, i) => `<text class="subtitle" x="${px(width / 2)}" y="${44 + i * 16}" text-anchor="middle" ${FONT} font-size="12" fill="#444444">${esc(l)}</text>`),
    `<rect class="plot-area" x="${px(plot.x)}" y="${px(plot.y)}" width="${px(plot.width)}" height="${px(plot.height)}" fill="none" stroke="none"/>`,
  ];
  for (const t of A.x.ticks) {
    const x = px(placeX(t));
    out.push(`<line x1="${x}" y1="${px(plot.y)}" x2="${x}" y2="${px(bottomY)}" stroke="#e6e6e6"/>`,
      `<text class="tick-x" x="${x}" y="${px(bottomY + 17)}" text-anchor="middle" ${FONT} font-size="11">${formatTick(t)}</text>`);
  }
  for (const t of A.y.ticks) {
    const y = px(placeY(t));
    out.push(`<line x1="${px(plot.x)}" y1="${y}" x2="${px(plot.x + plot.width)}" y2="${y}" stroke="#e6e6e6"/>`,
      `<text class="tick-y" x="${px(plot.x - 8)}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11">${formatTick(t)}</text>`);
  }
  const cy = px(plot.y + plot.height / 2);
  out.push(`<line class="axis" x1="${px(plot.x)}" y1="${px(bottomY)}" x2="${px(plot.x + plot.width)}" y2="${px(bottomY)}" stroke="#000"/>`,
    `<line class="axis" x1="${px(plot.x)}" y1="${px(plot.y)}" x2="${px(plot.x)}" y2="${px(bottomY)}" stroke="#000"/>`,
    `<text class="axis-label" x="${px(plot.x + plot.width / 2)}" y="${px(bottomY + 40)}" text-anchor="middle" ${FONT} font-size="13">${esc(chart.xLabel)}</text>`,
    `<text class="axis-label" x="18" y="${cy}" transform="rotate(-90 18 ${cy})" text-anchor="middle" ${FONT} font-size="13">${esc(chart.yLabel)}</text>`);
  chart.curves.forEach((c, i) => {
    const color = entries[i]!.color;
    let d = '';
    let pen = 'M';
    const dots: string[] = [];
    for (let k = 0; k < c.x.length; k++) {
      const v = c.y[k];
      if (!finite(v) || (A.y.log && v <= 0) || !(c.x[k]! > 0)) { pen = 'M'; continue; }
      const [x, y] = [px(placeX(c.x[k]!)), px(placeY(v))];
      d += `${pen}${x} ${y} `;
      pen = 'L';
      dots.push(`<circle class="point" data-column="${esc(c.column)}" data-x="${c.x[k]}" data-y="${v}" cx="${x}" cy="${y}" r="3" fill="${color}"><title>${esc(`${c.label} at ${c.x[k]}: ${+v.toPrecision(4)}`)}</title></circle>`);
    }
    out.push(`<path class="series" data-column="${esc(c.column)}" d="${d.trim()}" fill="none" stroke="${color}" stroke-width="1.8"/>`, ...dots);
  });
  for (const r of chart.rings ?? []) {
    const c = chart.curves[r.curve];
    const k = c ? c.x.indexOf(r.x) : -1;
    const v = k >= 0 ? c!.y[k] : null;
    if (!finite(v) || (A.y.log && v <= 0)) continue;
    out.push(`<circle class="ring" cx="${px(placeX(r.x))}" cy="${px(placeY(v))}" r="8" fill="none" stroke="#cc0000" stroke-width="2"/>`);
  }
  out.push(`<rect class="legend-box" x="${px(legend.x)}" y="${px(legend.y)}" width="${px(legend.width)}" height="${px(legend.height)}" fill="#ffffff" stroke="#cccccc"/>`);
  let ly = legend.y + 6;
  for (const e of laid) {
    const mid = ly + LEGEND_LINE / 2;
    const sx = legend.x + 6;
    const swatch = e.ring
      ? `<circle cx="${px(sx + 11)}" cy="${px(mid)}" r="6" fill="none" stroke="${e.color}" stroke-width="2"/>`
      : `<line x1="${px(sx)}" y1="${px(mid)}" x2="${px(sx + 22)}" y2="${px(mid)}" stroke="${e.color}" stroke-width="1.8"/><circle cx="${px(sx + 11)}" cy="${px(mid)}" r="3" fill="${e.color}"/>`;
    out.push(`<g class="legend">${swatch}${e.lines.map((t, i) => `<text x="${px(sx + 28)}" y="${px(mid + 4 + i * LEGEND_LINE)}" ${FONT} font-size="${LEGEND_FONT}">${esc(t)}</text>`).join('')}</g>`);
    ly += e.lines.length * LEGEND_LINE + 4;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The chart's data: the x column, then one column per curve (its `column`), a row per load; empty = no figure. */
export function curveCsv(chart: CurveChart): string {
  const xs = [...new Set(chart.curves.flatMap((c) => c.x))].sort((a, b) => a - b);
  const at = (c: Curve, x: number): number | null => { const k = c.x.indexOf(x); return k >= 0 ? (c.y[k] ?? null) : null; };
  const rows: (string | number | null)[][] = [[chart.xColumn, ...chart.curves.map((c) => c.column)]];
  for (const x of xs) rows.push([x, ...chart.curves.map((c) => at(c, x))]);
  return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

// Line charts as standalone SVG text, no dependencies, for the lab's time series (throughput,
// cwnd and ssthresh, RTT per flow), and the same data as CSV. The output opens in any browser;
// it is plain SVG 1.1 with inline attributes (no CSS, no scripts) so it also renders in viewers
// that ignore stylesheets, and it is deterministic text (same data ⇒ same bytes), which keeps
// seeded lab results diffable.
//
// What a chart carries besides its lines: a subtitle (the link's parameters), horizontal
// reference lines (capacity, fair share, a model's bound), and event marks (retransmissions,
// packets the link dropped) as small per-interval bars in a band under the plot. Nothing is
// drawn over the data but the data: the legend has its own column to the right of the plot, and
// a reference line far outside the data's range is named in the legend instead of stretching
// the axis (a 100 Mbit/s capacity line would squeeze 5–15 Mbit/s flows into a band).

export type SeriesStyle = 'line' | 'faint' | 'dashed';

export interface LineSeries {
  /** Legend text; null keeps it out of the legend (a raw series drawn faint under its mean). */
  label: string | null;
  /** CSV column name (snake_case, with the unit). */
  column: string;
  x: readonly number[];
  /** null (or a non-finite number) leaves a gap: e.g. no RTT sample yet. */
  y: readonly (number | null)[];
  color?: string;
  /** 'line' (default), 'faint' (raw samples under a smoothed line), 'dashed' (e.g. ssthresh). */
  style?: SeriesStyle;
}

/** A horizontal line at a value the experiment defines (capacity, fair share, base RTT, ...). */
export interface ReferenceLine {
  label: string;
  column: string;
  value: number;
  color: string;
  /** stroke-dasharray, e.g. '8 4'. */
  dash: string;
}

/** Events counted per sample interval, drawn as bars in a row of the band under the plot. */
export interface EventMarks {
  label: string;
  /** Row caption left of the band, a few characters. */
  short: string;
  column: string;
  /** The end of each interval (the series' sample times). */
  x: readonly number[];
  count: readonly number[];
  color: string;
}

export interface LineChart {
  title: string;
  /** Second line under the title (wrapped to the width), e.g. the link's parameters. */
  subtitle?: string;
  /** Axis captions with their unit, e.g. 'time (s)', 'throughput (Mbit/s)'. */
  xLabel: string;
  yLabel: string;
  /** CSV name of the x column, e.g. 'time_s'. */
  xColumn: string;
  series: readonly LineSeries[];
  references?: readonly ReferenceLine[];
  marks?: readonly EventMarks[];
  /** true (default): the y axis starts at 0 (rates, windows); false: fitted to the data (RTT). */
  yFromZero?: boolean;
  /** Legend text for the faint series, e.g. 'raw samples (every 100 ms)'. */
  faintLabel?: string;
  /** Pixels; defaults 960 × 520 (taller when the legend needs it). */
  width?: number;
  height?: number;
}

export interface Rect { x: number; y: number; width: number; height: number }

export interface LegendEntry {
  kind: 'line' | 'faint' | 'dashed' | 'reference' | 'mark';
  label: string;
  color: string;
  dash?: string;
}

export interface AxisRange { min: number; max: number; ticks: number[] }

export interface ChartLayout {
  width: number;
  height: number;
  subtitleLines: string[];
  plot: Rect;
  legend: Rect;
  /** The band of event rows under the plot (null: no marks). */
  marks: Rect | null;
  x: AxisRange;
  y: AxisRange;
  /** References inside the y range (drawn) and outside it (named in the legend only). */
  onScale: ReferenceLine[];
  offScale: { ref: ReferenceLine; side: 'above' | 'below' }[];
  legendEntries: { entry: LegendEntry; lines: string[] }[];
}

/** Colour-blind-safe palette (Okabe–Ito without black and yellow, which references and white need), cycled. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

const FONT = 'font-family="sans-serif"';
const LEGEND_FONT = 11;
const LEGEND_LINE = 14;
const LEGEND_MAX_WIDTH = 300;
const MARK_ROW = 12;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds coordinates to 0.1 px: enough for the eye, and short stable text. */
const px = (v: number): string => String(Math.round(v * 10) / 10);

/**
 * Width of text in a sans-serif font, estimated on the generous side (DejaVu Sans, the usual
 * Linux fallback, averages about 0.6 em per character in these labels), so that what is laid out
 * from it does not collide when rendered.
 */
export function textWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.62;
}

/** Greedy word wrap to a pixel width. */
export function wrapText(s: string, fontSize: number, maxWidth: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, fontSize) > maxWidth) { lines.push(line); line = word; } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** About `target` ticks on 1/2/5 × 10^k steps covering [min, max]. */
export function niceTicks(min: number, max: number, target = 6): number[] {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toFixed(decimals)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toFixed(decimals)));
  return ticks;
}

/** Tick text: thousands as k/M so axes of bytes stay narrow. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/**
 * Moving mean over `window` samples around each point (the point, (window-1)/2 before and the
 * rest after; fewer at the ends), ignoring gaps; a gap stays a gap. Rounded to 4 decimals.
 */
export function movingAverage(y: readonly (number | null)[], window: number): (number | null)[] {
  const before = Math.floor((window - 1) / 2);
  const after = window - 1 - before;
  return y.map((v, i) => {
    if (v === null || !Number.isFinite(v)) return null;
    let sum = 0;
    let n = 0;
    for (let k = Math.max(0, i - before); k <= Math.min(y.length - 1, i + after); k++) {
      const w = y[k];
      if (w !== null && w !== undefined && Number.isFinite(w)) { sum += w; n++; }
    }
    return Math.round((sum / n) * 1e4) / 1e4;
  });
}

function finiteRange(values: Iterable<number | null>): [number, number] | null {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return max === -Infinity ? null : [min, max];
}

function axisRange(lo: number, hi: number): AxisRange {
  const ticks = niceTicks(lo, hi);
  return { min: ticks[0]!, max: ticks[ticks.length - 1]!, ticks };
}

/**
 * The y range: the data's (from 0 unless fitted, padded a little when fitted), widened for each
 * reference line that lies within one data span of it; farther ones stay off the scale.
 */
function yAxis(chart: LineChart): { y: AxisRange; onScale: ReferenceLine[]; offScale: ChartLayout['offScale'] } {
  const fromZero = chart.yFromZero ?? true;
  const data = finiteRange(chart.series.flatMap((s) => s.y)) ?? [0, 1];
  let [lo, hi] = data;
  if (fromZero) { lo = Math.min(0, lo); hi = Math.max(0, hi); }
  const span = hi - lo > 0 ? hi - lo : Math.abs(hi) || 1;
  if (!fromZero) {
    const floor = lo >= 0 ? 0 : -Infinity;
    lo = Math.max(floor, lo - span * 0.05);
    hi += span * 0.05;
  }
  const onScale: ReferenceLine[] = [];
  const offScale: ChartLayout['offScale'] = [];
  for (const ref of chart.references ?? []) {
    if (!Number.isFinite(ref.value)) continue;
    if (ref.value > hi + span) offScale.push({ ref, side: 'above' });
    else if (ref.value < lo - span) offScale.push({ ref, side: 'below' });
    else onScale.push(ref);
  }
  for (const ref of onScale) { lo = Math.min(lo, ref.value); hi = Math.max(hi, ref.value); }
  return { y: axisRange(lo, hi), onScale, offScale };
}

function legendEntries(chart: LineChart, offScale: ChartLayout['offScale'], onScale: readonly ReferenceLine[]): LegendEntry[] {
  const entries: LegendEntry[] = [];
  chart.series.forEach((s, i) => {
    if (s.label === null) return;
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    entries.push({ kind: s.style ?? 'line', label: s.label, color });
  });
  if (chart.faintLabel && chart.series.some((s) => s.style === 'faint')) entries.push({ kind: 'faint', label: chart.faintLabel, color: '#555555' });
  for (const ref of onScale) entries.push({ kind: 'reference', label: ref.label, color: ref.color, dash: ref.dash });
  for (const { ref, side } of offScale) entries.push({ kind: 'reference', label: `${ref.label} — off the scale, ${side}`, color: ref.color, dash: ref.dash });
  for (const m of chart.marks ?? []) entries.push({ kind: 'mark', label: `${m.short}: ${m.label}`, color: m.color });
  return entries;
}

/** Where everything goes; lineChartSvg draws exactly this. */
export function lineChartLayout(chart: LineChart): ChartLayout {
  const width = chart.width ?? 960;
  const subtitleLines = chart.subtitle ? wrapText(chart.subtitle, 12, width - 40) : [];
  const top = 34 + subtitleLines.length * 16 + 14;
  const { y, onScale, offScale } = yAxis(chart);
  const entries = legendEntries(chart, offScale, onScale);
  const swatch = 30;
  const textRoom = Math.min(LEGEND_MAX_WIDTH - swatch - 10, Math.max(0, ...entries.map((e) => textWidth(e.label, LEGEND_FONT))));
  const legendEntriesLaid = entries.map((entry) => ({ entry, lines: wrapText(entry.label, LEGEND_FONT, textRoom) }));
  const legendWidth = swatch + textRoom + 10;
  const legendHeight = 8 + legendEntriesLaid.reduce((h, e) => h + e.lines.length * LEGEND_LINE + 4, 0);
  const rows = (chart.marks ?? []).length;
  const marksHeight = rows > 0 ? 8 + rows * MARK_ROW : 0;
  const bottom = marksHeight + 50;
  const left = 72;
  const height = Math.max(chart.height ?? 520, top + legendHeight + 20, top + 160 + bottom);
  const plot: Rect = { x: left, y: top, width: width - left - legendWidth - 36, height: height - top - bottom };
  const legend: Rect = { x: plot.x + plot.width + 20, y: top, width: legendWidth, height: legendHeight };
  const marks: Rect | null = rows > 0 ? { x: plot.x, y: plot.y + plot.height + 6, width: plot.width, height: rows * MARK_ROW } : null;
  const xData = finiteRange(chart.series.flatMap((s) => s.x)) ?? [0, 1];
  const x = axisRange(Math.min(0, xData[0]), xData[1]);
  return { width, height, subtitleLines, plot, legend, marks, x, y, onScale, offScale, legendEntries: legendEntriesLaid };
}

function strokeOf(style: SeriesStyle | 'reference', color: string, dash?: string): string {
  switch (style) {
    case 'faint': return `stroke="${color}" stroke-width="1" stroke-opacity="0.3"`;
    case 'dashed': return `stroke="${color}" stroke-width="1.5" stroke-dasharray="6 3"`;
    case 'reference': return `stroke="${color}" stroke-width="1.3" stroke-dasharray="${dash ?? '8 4'}"`;
    default: return `stroke="${color}" stroke-width="1.8"`;
  }
}

/** Lines over shared axes, reference lines, event marks under the plot, a legend beside it. */
export function lineChartSvg(chart: LineChart): string {
  const L = lineChartLayout(chart);
  const { plot: p } = L;
  const bottom = p.y + p.height;
  const placeX = (v: number): number => p.x + ((v - L.x.min) / (L.x.max - L.x.min)) * p.width;
  const placeY = (v: number): number => bottom - ((v - L.y.min) / (L.y.max - L.y.min)) * p.height;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect x="0" y="0" width="${L.width}" height="${L.height}" fill="#ffffff"/>`,
    `<text class="title" x="${px(L.width / 2)}" y="24" text-anchor="middle" ${FONT} font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  L.subtitleLines.forEach((line, i) => out.push(
    `<text class="subtitle" x="${px(L.width / 2)}" y="${44 + i * 16}" text-anchor="middle" ${FONT} font-size="12" fill="#444444">${escapeXml(line)}</text>`));
  out.push(`<rect class="plot-area" x="${px(p.x)}" y="${px(p.y)}" width="${px(p.width)}" height="${px(p.height)}" fill="none" stroke="none"/>`);

  // Axes: grid, ticks, captions. Tick labels sit under the marks band, so they never meet it.
  const tickTop = L.marks ? L.marks.y + L.marks.height : bottom;
  for (const t of L.x.ticks) {
    const x = px(placeX(t));
    out.push(`<line x1="${x}" y1="${px(p.y)}" x2="${x}" y2="${px(bottom)}" stroke="#e6e6e6"/>`,
      `<line x1="${x}" y1="${px(bottom)}" x2="${x}" y2="${px(bottom + 5)}" stroke="#000"/>`,
      `<text class="tick-x" x="${x}" y="${px(tickTop + 17)}" text-anchor="middle" ${FONT} font-size="11">${formatTick(t)}</text>`);
  }
  for (const t of L.y.ticks) {
    const y = px(placeY(t));
    out.push(`<line x1="${px(p.x)}" y1="${y}" x2="${px(p.x + p.width)}" y2="${y}" stroke="#e6e6e6"/>`,
      `<line x1="${px(p.x - 5)}" y1="${y}" x2="${px(p.x)}" y2="${y}" stroke="#000"/>`,
      `<text class="tick-y" x="${px(p.x - 8)}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11">${formatTick(t)}</text>`);
  }
  out.push(`<line class="axis" x1="${px(p.x)}" y1="${px(bottom)}" x2="${px(p.x + p.width)}" y2="${px(bottom)}" stroke="#000"/>`,
    `<line class="axis" x1="${px(p.x)}" y1="${px(p.y)}" x2="${px(p.x)}" y2="${px(bottom)}" stroke="#000"/>`,
    `<text class="axis-label" x="${px(p.x + p.width / 2)}" y="${px(tickTop + 38)}" text-anchor="middle" ${FONT} font-size="13">${escapeXml(chart.xLabel)}</text>`);
  const cy = px(p.y + p.height / 2);
  out.push(`<text class="axis-label" x="18" y="${cy}" transform="rotate(-90 18 ${cy})" text-anchor="middle" ${FONT} font-size="13">${escapeXml(chart.yLabel)}</text>`);

  // References under the data, then faint series under the solid ones.
  for (const ref of L.onScale) {
    const y = px(placeY(ref.value));
    out.push(`<line class="reference" data-column="${escapeXml(ref.column)}" x1="${px(p.x)}" y1="${y}" x2="${px(p.x + p.width)}" y2="${y}" ${strokeOf('reference', ref.color, ref.dash)}/>`);
  }
  const order = chart.series.map((s, i) => ({ s, i })).sort((a, b) => Number(b.s.style === 'faint') - Number(a.s.style === 'faint'));
  for (const { s, i } of order) {
    let d = '';
    let pen = 'M';
    for (let k = 0; k < s.x.length; k++) {
      const y = s.y[k];
      if (y === null || y === undefined || !Number.isFinite(y) || !Number.isFinite(s.x[k]!)) { pen = 'M'; continue; }
      d += `${pen}${px(placeX(s.x[k]!))} ${px(placeY(y))} `;
      pen = 'L';
    }
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    out.push(`<path class="series" data-column="${escapeXml(s.column)}" d="${d.trim()}" fill="none" ${strokeOf(s.style ?? 'line', color)}/>`);
  }

  // Event marks: one row each; a bar spans its interval, its height is the count against the row's largest.
  (chart.marks ?? []).forEach((m, row) => {
    const band = L.marks!;
    const rowBottom = band.y + (row + 1) * MARK_ROW - 2;
    out.push(`<text class="mark-label" x="${px(p.x - 6)}" y="${px(rowBottom)}" text-anchor="end" ${FONT} font-size="9">${escapeXml(m.short)}</text>`,
      `<line x1="${px(p.x)}" y1="${px(rowBottom)}" x2="${px(p.x + p.width)}" y2="${px(rowBottom)}" stroke="#dddddd"/>`);
    const most = Math.max(0, ...m.count);
    for (let k = 0; k < m.x.length; k++) {
      const c = m.count[k]!;
      if (!(c > 0)) continue;
      const end = m.x[k]!;
      const start = k > 0 ? m.x[k - 1]! : end - ((m.x[1] ?? end + 1) - end);
      const x0 = placeX(start);
      const h = Math.max(2, (c / most) * (MARK_ROW - 3));
      out.push(`<rect class="mark" data-column="${escapeXml(m.column)}" x="${px(x0)}" y="${px(rowBottom - h)}" width="${px(Math.max(1, placeX(end) - x0 - 0.3))}" height="${px(h)}" fill="${m.color}"/>`);
    }
  });

  // Legend in its own column to the right of the plot.
  const lg = L.legend;
  out.push(`<rect class="legend-box" x="${px(lg.x)}" y="${px(lg.y)}" width="${px(lg.width)}" height="${px(lg.height)}" fill="#ffffff" stroke="#cccccc"/>`);
  let ly = lg.y + 6;
  for (const { entry: e, lines } of L.legendEntries) {
    const mid = ly + LEGEND_LINE / 2;
    const sx = lg.x + 6;
    const swatch = e.kind === 'mark'
      ? `<rect x="${px(sx + 8)}" y="${px(mid - 5)}" width="5" height="10" fill="${e.color}"/>`
      : `<line x1="${px(sx)}" y1="${px(mid)}" x2="${px(sx + 22)}" y2="${px(mid)}" ${strokeOf(e.kind, e.color, e.dash)}/>`;
    out.push(`<g class="legend">${swatch}`
      + lines.map((t, i) => `<text x="${px(sx + 28)}" y="${px(mid + 4 + i * LEGEND_LINE)}" ${FONT} font-size="${LEGEND_FONT}">${escapeXml(t)}</text>`).join('')
      + '</g>');
    ly += lines.length * LEGEND_LINE + 4;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One CSV field: empty for no value, quoted when it holds a comma, quote or newline. */
export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The chart's data as CSV: the x column, then every series, reference line and event row in
 * drawing order (their `column` names), one row per x value any of them has; empty = no value.
 */
export function chartCsv(chart: LineChart): string {
  const columns: { name: string; at: Map<number, number | null> | ((x: number) => number) }[] = [];
  const xs = new Set<number>();
  const byX = (x: readonly number[], y: readonly (number | null)[]): Map<number, number | null> => {
    const m = new Map<number, number | null>();
    x.forEach((v, k) => { if (Number.isFinite(v)) { xs.add(v); m.set(v, y[k] ?? null); } });
    return m;
  };
  for (const s of chart.series) columns.push({ name: s.column, at: byX(s.x, s.y) });
  for (const r of chart.references ?? []) columns.push({ name: r.column, at: () => r.value });
  for (const m of chart.marks ?? []) columns.push({ name: m.column, at: byX(m.x, m.count) });
  const lines = [[chart.xColumn, ...columns.map((c) => c.name)].map(csvCell).join(',')];
  for (const x of [...xs].sort((a, b) => a - b)) {
    lines.push([x, ...columns.map((c) => (typeof c.at === 'function' ? c.at(x) : c.at.get(x)))].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

// Charts as standalone SVG text, no dependencies: line charts for the lab's time series
// (throughput, cwnd, RTT per flow) and bar charts for benchmark tables. The output opens in any
// browser; it is plain SVG 1.1 with inline attributes (no CSS, no scripts) so it also renders in
// viewers that ignore stylesheets, and it is deterministic text (same data ⇒ same bytes), which
// keeps seeded lab results diffable.

export interface LineSeries {
  label: string;
  x: readonly number[];
  /** null (or a non-finite number) leaves a gap: e.g. no RTT sample yet. */
  y: readonly (number | null)[];
}

export interface ChartFrame {
  title: string;
  /** Axis captions with their unit, e.g. 'time (s)', 'throughput (Mbit/s)'. */
  xLabel: string;
  yLabel: string;
  /** Pixels; defaults 800 × 450. */
  width?: number;
  height?: number;
}

export interface Bar {
  label: string;
  value: number;
  /** Bars of one series share a colour and a legend entry (e.g. 'kernel', 'stack'). */
  series?: string;
}

export interface BarChartOptions {
  title: string;
  /** Caption of the value axis with its unit, e.g. 'throughput (Gbit/s)'. */
  valueLabel: string;
  /** 'horizontal' (default) reads best with long labels; 'vertical' for a few short ones. */
  orientation?: 'horizontal' | 'vertical';
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito), cycled. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const FONT = 'font-family="sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds coordinates to 0.1 px: enough for the eye, and short stable text. */
const px = (v: number): string => String(Math.round(v * 10) / 10);

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

interface Plot { left: number; top: number; width: number; height: number }

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${px(width / 2)}" y="24" text-anchor="middle" ${FONT} font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function legend(out: string[], entries: readonly string[], right: number, top: number): void {
  // A backing box keeps the legend readable where lines run under it.
  out.push(`<rect x="${px(right - 156)}" y="${px(top + 2)}" width="152" height="${entries.length * 18 + 6}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`);
  entries.forEach((label, i) => {
    const y = top + 16 + i * 18;
    const color = PALETTE[i % PALETTE.length]!;
    out.push(`<g class="legend"><rect x="${px(right - 150)}" y="${px(y - 9)}" width="14" height="10" fill="${color}"/>`
      + `<text x="${px(right - 130)}" y="${px(y)}" ${FONT} font-size="12">${escapeXml(label)}</text></g>`);
  });
}

/** Ticks, grid lines and captions of one axis; `place` maps a value to pixels along it. */
function axis(out: string[], p: Plot, which: 'x' | 'y', ticks: readonly number[], place: (v: number) => number, caption: string): void {
  const bottom = p.top + p.height;
  if (which === 'x') {
    out.push(`<line class="axis" x1="${p.left}" y1="${bottom}" x2="${p.left + p.width}" y2="${bottom}" stroke="#000"/>`);
    for (const t of ticks) {
      const x = px(place(t));
      out.push(`<line x1="${x}" y1="${p.top}" x2="${x}" y2="${bottom}" stroke="#e0e0e0"/>`,
        `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#000"/>`,
        `<text x="${x}" y="${bottom + 18}" text-anchor="middle" ${FONT} font-size="11">${formatTick(t)}</text>`);
    }
    out.push(`<text class="axis-label" x="${px(p.left + p.width / 2)}" y="${bottom + 40}" text-anchor="middle" ${FONT} font-size="13">${escapeXml(caption)}</text>`);
  } else {
    out.push(`<line class="axis" x1="${p.left}" y1="${p.top}" x2="${p.left}" y2="${bottom}" stroke="#000"/>`);
    for (const t of ticks) {
      const y = px(place(t));
      out.push(`<line x1="${p.left}" y1="${y}" x2="${p.left + p.width}" y2="${y}" stroke="#e0e0e0"/>`,
        `<line x1="${p.left - 5}" y1="${y}" x2="${p.left}" y2="${y}" stroke="#000"/>`,
        `<text x="${p.left - 8}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11">${formatTick(t)}</text>`);
    }
    const cy = px(p.top + p.height / 2);
    out.push(`<text class="axis-label" x="18" y="${cy}" transform="rotate(-90 18 ${cy})" text-anchor="middle" ${FONT} font-size="13">${escapeXml(caption)}</text>`);
  }
}

function finiteRange(values: Iterable<number | null>, floorAtZero: boolean): [number, number] {
  let min = floorAtZero ? 0 : Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (max === -Infinity) return [0, 1];
  return [min, max];
}

/** One line per series over shared axes (y starts at 0), with a legend naming each series. */
export function lineChartSvg(series: readonly LineSeries[], frame: ChartFrame): string {
  const width = frame.width ?? 800;
  const height = frame.height ?? 450;
  const p: Plot = { left: 70, top: 40, width: width - 70 - 20, height: height - 40 - 55 };
  const xTicks = niceTicks(...finiteRange(series.flatMap((s) => s.x), false));
  const yTicks = niceTicks(...finiteRange(series.flatMap((s) => s.y), true));
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const placeX = (v: number): number => p.left + ((v - x0) / (x1 - x0)) * p.width;
  const placeY = (v: number): number => p.top + p.height - ((v - y0) / (y1 - y0)) * p.height;
  const out = svgOpen(width, height, frame.title);
  axis(out, p, 'x', xTicks, placeX, frame.xLabel);
  axis(out, p, 'y', yTicks, placeY, frame.yLabel);
  series.forEach((s, i) => {
    let d = '';
    let pen = 'M';
    for (let k = 0; k < s.x.length; k++) {
      const y = s.y[k];
      if (y === null || y === undefined || !Number.isFinite(y) || !Number.isFinite(s.x[k]!)) { pen = 'M'; continue; }
      d += `${pen}${px(placeX(s.x[k]!))} ${px(placeY(y))} `;
      pen = 'L';
    }
    out.push(`<path class="series" data-label="${escapeXml(s.label)}" d="${d.trim()}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`);
  });
  legend(out, series.map((s) => s.label), p.left + p.width, p.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One bar per entry, value axis from 0, coloured (and listed in a legend) by series. */
export function barChartSvg(bars: readonly Bar[], opts: BarChartOptions): string {
  const horizontal = (opts.orientation ?? 'horizontal') === 'horizontal';
  const width = opts.width ?? 800;
  const height = opts.height ?? (horizontal ? Math.max(200, 100 + bars.length * 28) : 450);
  const labelRoom = horizontal ? Math.min(260, 20 + 7 * Math.max(0, ...bars.map((b) => b.label.length))) : 70;
  const p: Plot = horizontal
    ? { left: labelRoom, top: 40, width: width - labelRoom - 20, height: height - 40 - 55 }
    : { left: 70, top: 40, width: width - 70 - 20, height: height - 40 - 90 };
  const ticks = niceTicks(...finiteRange(bars.map((b) => b.value), true));
  const [v0, v1] = [ticks[0]!, ticks[ticks.length - 1]!];
  const seriesNames = [...new Set(bars.map((b) => b.series ?? ''))];
  const colorOf = (b: Bar): string => PALETTE[seriesNames.indexOf(b.series ?? '') % PALETTE.length]!;
  const out = svgOpen(width, height, opts.title);
  const slot = (horizontal ? p.height : p.width) / Math.max(1, bars.length);
  const thick = slot * 0.7;
  if (horizontal) {
    const placeV = (v: number): number => p.left + ((v - v0) / (v1 - v0)) * p.width;
    axis(out, p, 'x', ticks, placeV, opts.valueLabel);
    out.push(`<line class="axis" x1="${p.left}" y1="${p.top}" x2="${p.left}" y2="${p.top + p.height}" stroke="#000"/>`);
    bars.forEach((b, i) => {
      const y = p.top + i * slot + (slot - thick) / 2;
      out.push(`<rect class="bar" x="${p.left}" y="${px(y)}" width="${px(placeV(b.value) - p.left)}" height="${px(thick)}" fill="${colorOf(b)}"><title>${escapeXml(`${b.label}: ${b.value}`)}</title></rect>`,
        `<text x="${p.left - 6}" y="${px(y + thick / 2)}" dy="4" text-anchor="end" ${FONT} font-size="11">${escapeXml(b.label)}</text>`,
        `<text x="${px(placeV(b.value) + 4)}" y="${px(y + thick / 2)}" dy="4" ${FONT} font-size="10">${formatTick(b.value)}</text>`);
    });
  } else {
    const placeV = (v: number): number => p.top + p.height - ((v - v0) / (v1 - v0)) * p.height;
    axis(out, p, 'y', ticks, placeV, opts.valueLabel);
    const bottom = p.top + p.height;
    out.push(`<line class="axis" x1="${p.left}" y1="${bottom}" x2="${p.left + p.width}" y2="${bottom}" stroke="#000"/>`);
    bars.forEach((b, i) => {
      const x = p.left + i * slot + (slot - thick) / 2;
      const cx = px(x + thick / 2);
      out.push(`<rect class="bar" x="${px(x)}" y="${px(placeV(b.value))}" width="${px(thick)}" height="${px(bottom - placeV(b.value))}" fill="${colorOf(b)}"><title>${escapeXml(`${b.label}: ${b.value}`)}</title></rect>`,
        `<text x="${cx}" y="${bottom + 14}" transform="rotate(30 ${cx} ${bottom + 14})" ${FONT} font-size="11">${escapeXml(b.label)}</text>`,
        `<text x="${cx}" y="${px(placeV(b.value) - 4)}" text-anchor="middle" ${FONT} font-size="10">${formatTick(b.value)}</text>`);
    });
  }
  if (seriesNames.length > 1 || seriesNames[0] !== '') legend(out, seriesNames, p.left + p.width, p.top);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

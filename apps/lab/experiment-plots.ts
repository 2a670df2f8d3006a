// The plots of a lab experiment (`wsk lab run`): throughput, congestion window with ssthresh,
// and RTT per flow over time, each as SVG with its data as CSV beside it (throughput.svg and
// throughput.csv, ...). Every chart names the link in its subtitle, marks the intervals with
// retransmissions and with packets the bottleneck dropped, and draws what the link's parameters
// predict: capacity and fair share, the Reno loss model of Mathis et al. (1997: throughput ≈
// MSS / RTT × √(3/2) / √p), the path's bandwidth-delay product with and without the queue, the
// base RTT with and without a full queue. Noisy series (throughput per sample, RTT) are drawn
// faint with a moving mean over them; cwnd keeps its raw sawtooth, which is the point of it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flowCongestionControls, type FlowRecord } from './experiment-flow.ts';
import type { ExperimentResults, ExperimentSpec } from './experiment.ts';
import { FRAME_OVERHEAD } from './netsim.ts';
import { chartCsv, type EventMarks, lineChartSvg, type LineChart, type LineSeries, movingAverage, PALETTE, type ReferenceLine } from './svg-chart.ts';

export const PLOT_NAMES = ['throughput', 'cwnd', 'rtt'] as const;
export type PlotName = (typeof PLOT_NAMES)[number];
/** The SVG files an experiment writes; each has a .csv of the same name beside it. */
export const PLOT_FILES = PLOT_NAMES.map((n) => `${n}.svg`);

/** An Ethernet frame of a full-sized segment on the lab's 1500-byte MTU, and the payload in it. */
const WIRE_FRAME = 1514;
const MSS = WIRE_FRAME - FRAME_OVERHEAD;
/** Flows beyond this share one retransmission row (a row per flow would outgrow the chart). */
const MARK_ROWS_PER_FLOW = 4;

/** Up to 4 significant digits, no trailing zeros. */
const num = (v: number): string => String(+v.toPrecision(4));
const percent = (p: number): string => `${num(p * 100)} %`;

/** The link and workload in one line: what a reader needs to interpret the plot. */
export function linkSubtitle(spec: ExperimentSpec): string {
  const l = spec.link;
  const parts = [l.rateMbps > 0 ? `bottleneck ${num(l.rateMbps)} Mbit/s each way` : 'no rate limit'];
  parts.push(`base RTT ${num(2 * l.delayMs)} ms${l.jitterMs > 0 ? ` (± ${num(l.jitterMs)} ms jitter each way)` : ''}`);
  if (l.loss > 0) parts.push(`loss ${percent(l.loss)} per packet each way`);
  if (l.reorder > 0) parts.push(`reorder ${percent(l.reorder)}`);
  if (l.duplicate > 0) parts.push(`duplicate ${percent(l.duplicate)}`);
  if (l.corrupt > 0) parts.push(`corrupt ${percent(l.corrupt)}`);
  if (l.rateMbps > 0) parts.push(`queue ${l.bufferPackets} packets`);
  parts.push(`offloads ${spec.offloads ? 'on (64 KiB TSO frames)' : 'off'}`);
  const ccs = flowCongestionControls(spec);
  const distinct = [...new Set(ccs)];
  parts.push(`${spec.workload.flows} flow${spec.workload.flows > 1 ? 's' : ''} ${distinct.length === 1 ? distinct[0] : `(${ccs.join(', ')})`}`);
  parts.push(spec.medium === 'memory' ? `memory link, virtual time, seed ${spec.seed}` : 'veth lab, real time, our stack (AF_PACKET) sending to Linux');
  return parts.join(' · ');
}

/** Samples per moving-mean window: about one second, at most a quarter of the run; 1 = no smoothing. */
export function smoothingWindow(sampleIntervalMs: number, samples: number): number {
  const w = Math.min(Math.round(1000 / sampleIntervalMs), Math.floor(samples / 4));
  return w >= 3 ? w : 1;
}

interface Flow { record: FlowRecord; key: string; name: string; color: string }

/** A noisy series: faint raw samples and a labelled moving mean over them (or the raw line alone). */
function smoothed(label: string, column: string, x: readonly number[], y: readonly (number | null)[], color: string, mean: Mean): LineSeries[] {
  if (mean.window === 1) return [{ label, column, x, y, color }];
  return [
    { label: null, column, x, y, color, style: 'faint' },
    { label: `${label}, ${mean.text} mean`, column: `${column}${mean.suffix}`, x, y: movingAverage(y, mean.window), color },
  ];
}

/** A moving mean: samples per window, '1 s' for legends, '_mean_1000ms' for CSV columns. */
interface Mean { window: number; text: string; suffix: string }

function eventMarks(r: ExperimentResults, flows: readonly Flow[]): EventMarks[] {
  const perInterval = (cumulative: readonly number[]): number[] => cumulative.map((v, k) => v - (k > 0 ? cumulative[k - 1]! : 0));
  const marks: EventMarks[] = [];
  if (flows.length <= MARK_ROWS_PER_FLOW) {
    for (const f of flows) {
      marks.push({ label: `segments ${f.name} retransmitted`, short: `retx ${f.record.summary.flow}`, column: `${f.key}_retransmits`, x: f.record.series.timeS, count: perInterval(f.record.series.retransmits), color: f.color });
    }
  } else {
    const total = flows[0]!.record.series.retransmits.map((_, k) => flows.reduce((n, f) => n + (f.record.series.retransmits[k] ?? 0), 0));
    marks.push({ label: 'segments retransmitted, all flows', short: 'retx', column: 'all_flows_retransmits', x: flows[0]!.record.series.timeS, count: perInterval(total), color: '#333333' });
  }
  const d = r.linkDrops;
  marks.push({ label: 'packets the link lost at random (both ways)', short: 'lost', column: 'link_lost_packets', x: d.timeS, count: d.lost, color: '#B00020' });
  marks.push({ label: 'packets dropped at the full queue (both ways)', short: 'queue', column: 'link_queue_drops', x: d.timeS, count: d.queueDrops, color: '#7F7F7F' });
  // A row with no event says nothing the legend could not: leave it out.
  return marks.filter((m) => m.count.some((c) => c > 0));
}

const REF = {
  primary: { color: '#000000', dash: '8 4' },
  secondary: { color: '#666666', dash: '3 3' },
  model: { color: '#7B3294', dash: '10 3 2 3' },
};

/** The three charts of an experiment, in PLOT_NAMES order. */
export function experimentCharts(r: ExperimentResults): { name: PlotName; chart: LineChart }[] {
  const spec = r.spec;
  const l = spec.link;
  const flows: Flow[] = r.flows.map((record, i) => {
    const cc = record.summary.congestionControl;
    return { record, key: `flow${record.summary.flow}_${cc}`, name: `flow ${record.summary.flow} ${cc}`, color: PALETTE[i % PALETTE.length]! };
  });
  const samples = Math.max(0, ...r.flows.map((f) => f.series.timeS.length));
  const window = smoothingWindow(spec.sampleIntervalMs, samples);
  const mean: Mean = { window, text: `${num((window * spec.sampleIntervalMs) / 1000)} s`, suffix: `_mean_${window * spec.sampleIntervalMs}ms` };
  const common = {
    subtitle: linkSubtitle(spec),
    xLabel: `time (s${spec.medium === 'memory' ? ', virtual' : ''})`,
    xColumn: 'time_s',
    marks: eventMarks(r, flows),
    faintLabel: `raw samples, every ${spec.sampleIntervalMs} ms`,
  };
  const baseRttMs = 2 * l.delayMs;
  const rateBps = l.rateMbps * 1e6;

  // Throughput: bytes acknowledged per interval, per flow and (for several flows) all together.
  const throughput: LineSeries[] = flows.flatMap((f) => smoothed(f.name, `${f.key}_mbps`, f.record.series.timeS, f.record.series.throughputMbps, f.color, mean));
  if (flows.length > 1) {
    const sum = flows[0]!.record.series.timeS.map((_, k) => Math.round(flows.reduce((s, f) => s + (f.record.series.throughputMbps[k] ?? 0), 0) * 1e4) / 1e4);
    const smooth = window > 1;
    throughput.push({
      label: `all flows${smooth ? `, ${mean.text} mean` : ''}`, column: `all_flows_mbps${smooth ? mean.suffix : ''}`,
      x: flows[0]!.record.series.timeS, y: smooth ? movingAverage(sum, window) : sum, color: '#000000',
    });
  }
  const throughputRefs: ReferenceLine[] = [];
  if (l.rateMbps > 0) {
    throughputRefs.push({ label: `capacity ${num(l.rateMbps)} Mbit/s`, column: 'capacity_mbps', value: l.rateMbps, ...REF.primary });
    if (flows.length > 1) {
      throughputRefs.push({ label: `fair share ${num(l.rateMbps / flows.length)} Mbit/s (capacity / ${flows.length})`, column: 'fair_share_mbps', value: l.rateMbps / flows.length, ...REF.secondary });
    }
  }
  if (l.loss > 0 && baseRttMs > 0) {
    const mathis = ((MSS * 8) / (baseRttMs / 1000)) * Math.sqrt(1.5 / l.loss) / 1e6;
    throughputRefs.push({ label: `Reno loss model (Mathis) ${num(mathis)} Mbit/s per flow`, column: 'mathis_reno_mbps', value: Math.round(mathis * 1e4) / 1e4, ...REF.model });
  }

  // cwnd with ssthresh dashed in the same colour (ssthresh has gaps while it is still infinite).
  const kib = (v: number | null): number | null => (v === null ? null : Math.round((v / 1024) * 100) / 100);
  const cwnd: LineSeries[] = flows.flatMap((f) => [
    { label: `${f.name} cwnd`, column: `${f.key}_cwnd_kib`, x: f.record.series.timeS, y: f.record.series.cwndBytes.map(kib), color: f.color },
    { label: `${f.name} ssthresh`, column: `${f.key}_ssthresh_kib`, x: f.record.series.timeS, y: f.record.series.ssthreshBytes.map(kib), color: f.color, style: 'dashed' as const },
  ]);
  const cwndRefs: ReferenceLine[] = [];
  if (rateBps > 0 && baseRttMs > 0) {
    // In payload bytes, as cwnd counts them.
    const bdp = (rateBps * (baseRttMs / 1000) / 8) * (MSS / WIRE_FRAME);
    const queue = l.bufferPackets * MSS;
    cwndRefs.push({ label: `BDP ${num(bdp / 1024)} KiB (rate × base RTT)`, column: 'bdp_kib', value: kib(bdp)!, ...REF.primary });
    cwndRefs.push({ label: `BDP + queue ${num((bdp + queue) / 1024)} KiB`, column: 'bdp_plus_queue_kib', value: kib(bdp + queue)!, ...REF.secondary });
  }

  // RTT: the sender's smoothed RTT, on an axis fitted to it.
  const rtt: LineSeries[] = flows.flatMap((f) => smoothed(f.name, `${f.key}_srtt_ms`, f.record.series.timeS, f.record.series.srttMs, f.color, mean));
  const rttRefs: ReferenceLine[] = [];
  if (baseRttMs > 0) rttRefs.push({ label: `base RTT ${num(baseRttMs)} ms`, column: 'base_rtt_ms', value: baseRttMs, ...REF.primary });
  if (rateBps > 0) {
    const full = baseRttMs + (l.bufferPackets * WIRE_FRAME * 8 * 1000) / rateBps;
    rttRefs.push({ label: `base RTT + full queue ${num(full)} ms`, column: 'rtt_full_queue_ms', value: Math.round(full * 1e4) / 1e4, ...REF.secondary });
  }

  const name = spec.name;
  return [
    { name: 'throughput', chart: { ...common, title: `Throughput per flow (bytes acknowledged) — ${name}`, yLabel: 'throughput (Mbit/s)', series: throughput, references: throughputRefs } },
    { name: 'cwnd', chart: { ...common, title: `Congestion window and ssthresh — ${name}`, yLabel: 'KiB', series: cwnd, references: cwndRefs } },
    { name: 'rtt', chart: { ...common, title: `Smoothed RTT at the sender — ${name}`, yLabel: 'srtt (ms)', series: rtt, references: rttRefs, yFromZero: false } },
  ];
}

/** Writes <plot>.svg and <plot>.csv for every chart into outDir. */
export function writeExperimentPlots(r: ExperimentResults, outDir: string): void {
  for (const { name, chart } of experimentCharts(r)) {
    writeFileSync(join(outDir, `${name}.svg`), lineChartSvg(chart));
    writeFileSync(join(outDir, `${name}.csv`), chartCsv(chart));
  }
}

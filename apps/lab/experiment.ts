// Network-lab experiments (`wsk lab run <file>`): a JSON description of a bottleneck, its
// impairments and a bulk TCP workload, run on the memory link in virtual time or on a veth lab,
// producing results.json, capture.pcap and plots of throughput, cwnd and RTT per flow (SVG, with
// their data as CSV beside them; experiment-plots.ts).
//
// The file (every key but name, medium, durationSeconds and workload.flows has a default):
//   {
//     "name": "cubic-vs-newreno",            letters, digits, . _ -; names the output directory
//     "description": "...",                  free text, copied to the results
//     "medium": "memory" | "veth",           memory: two userspace stacks on the memory link,
//                                            virtual time, deterministic by seed; veth: our stack
//                                            on AF_PACKET in a lab namespace sending to Linux (socat)
//     "durationSeconds": 30,                 (0, 3600] memory, (0, 120] veth (real time)
//     "seed": 1,                             integer; same seed ⇒ same results on memory
//     "sampleIntervalMs": 100,               [1, 60000]
//     "link": {                              the bottleneck: on A's link (memory) or the stack's
//                                            link (veth), both directions
//       "rateMbps": 100,                     0 = unlimited
//       "delayMs": 10, "jitterMs": 0,        one way, each direction (RTT ≈ 2 × delayMs)
//       "loss": 0.01, "reorder": 0, "duplicate": 0, "corrupt": 0,   probabilities per wire packet
//       "bufferPackets": 100                 queue beyond the packets in flight on the delay line
//     },
//     "offloads": false,                     true: our stacks hand their links 64 KiB TSO frames
//                                            with checksums left to the device (memory: the links
//                                            offer TSO; veth: PACKET_VNET_HDR and the veth pair's
//                                            offloads on); the fault injector cuts them into wire
//                                            packets, so faults and the queue still count packets
//     "workload": {
//       "flows": 2, "direction": "upload",   upload: A (our stack) sends; download: B sends
//                                            (memory only: on veth the sender must be our stack)
//       "bytesPerFlow": 50000000,            absent: send until the duration ends
//       "startIntervalMs": 0,                flow i starts at i × startIntervalMs
//       "receiveBufferBytes": 1048576        our receivers' window ceiling (on veth Linux picks
//                                            its own); each sender keeps 2× this posted
//     },
//     "congestionControl": "cubic" | ["cubic", "newreno"],   one for all flows, or one per flow
//     "capture": { "snaplen": 128, "maxFrames": 20000 }      0 frames: no capture file
//   }
// Why impairments are in-process on veth too: the seeded FaultInjectorLink on the stack's link in
// both media keeps them comparable, and needs no sch_netem (which many kernels, CI's among them,
// lack); the results say so.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FlowRecord, type LinkDropSeries, type WorkloadTotals, workloadTotals } from './experiment-flow.ts';
import type { CaptureReport } from './bounded-capture.ts';
import { runMemoryExperiment } from './experiment-memory.ts';
import { runVethExperiment } from './experiment-veth.ts';
import { writeExperimentPlots } from './experiment-plots.ts';

export { PLOT_FILES } from './experiment-plots.ts';

export const MEDIA = ['memory', 'veth'] as const;
export const CONGESTION_CONTROLS = ['cubic', 'newreno'] as const;
export const DIRECTIONS = ['upload', 'download'] as const;
export type Medium = (typeof MEDIA)[number];
export type CongestionControlName = (typeof CONGESTION_CONTROLS)[number];

export interface LinkImpairments {
  rateMbps: number;
  delayMs: number;
  jitterMs: number;
  loss: number;
  reorder: number;
  duplicate: number;
  corrupt: number;
  bufferPackets: number;
}

export interface Workload {
  flows: number;
  direction: (typeof DIRECTIONS)[number];
  bytesPerFlow?: number;
  startIntervalMs: number;
  receiveBufferBytes: number;
}

/** A validated experiment with every default filled in (what results.json records). */
export interface ExperimentSpec {
  name: string;
  description?: string;
  medium: Medium;
  durationSeconds: number;
  seed: number;
  sampleIntervalMs: number;
  link: LinkImpairments;
  /** Segmentation and checksum offload on our stacks' links (see the file comment). */
  offloads: boolean;
  workload: Workload;
  congestionControl: CongestionControlName | CongestionControlName[];
  capture: { snaplen: number; maxFrames: number };
}

/** What a medium reports besides the flows. */
export interface MediumReport {
  notes: string[];
  /** Fault injector counters (frames lost, queue drops, ...). */
  faults: Record<string, number>;
  capture: CaptureReport | null;
  /** Only on memory: every receiver got exactly the bytes sent (checked byte for byte). */
  intact?: boolean;
  lab?: { id: string; peerNamespace: string; stackNamespace: string };
}

export interface ExperimentResults {
  spec: ExperimentSpec;
  medium: MediumReport;
  flows: FlowRecord[];
  /** What the bottleneck dropped per sample interval (the plots' loss marks). */
  linkDrops: LinkDropSeries;
  summary: WorkloadTotals & { durationS: number; flows: FlowRecord['summary'][] };
}

export interface RunHooks {
  outDir: string;
  progress(line: string): void;
}

/** An experiment file that cannot run: each of `problems` says what to change (the message has one per line). */
export class ExperimentSpecError extends Error {
  override name = 'ExperimentSpecError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

// ---- validation ----------------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  readonly problems: string[] = [];
  /** Keys ('link.delayMs') that have a problem. */
  private readonly bad = new Set<string>();

  /** None of these keys has a problem. */
  valid(...keys: string[]): boolean {
    return keys.every((k) => !this.bad.has(k));
  }

  keys(obj: Json, where: string, allowed: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.problems.push(`unknown key '${where}${k}': allowed keys are ${allowed.join(', ')}`);
    }
  }

  object(obj: Json, key: string, where: string): Json {
    const v = obj[key];
    if (v === undefined) return {};
    if (isObject(v)) return v;
    this.problems.push(`'${where}${key}' must be an object, e.g. { ... }`);
    return {};
  }

  number(obj: Json, key: string, where: string, o: { min: number; max: number; integer?: boolean; minExclusive?: boolean; unit?: string; fallback?: number }): number {
    const v = obj[key];
    if (v === undefined) {
      if (o.fallback !== undefined) return o.fallback;
      this.problems.push(`'${where}${key}' is missing: give ${o.integer ? 'an integer' : 'a number'} ${rangeText(o)}`);
      this.bad.add(where + key);
      return NaN;
    }
    const bad = typeof v !== 'number' || !Number.isFinite(v) || (o.integer && !Number.isInteger(v))
      || (o.minExclusive ? v <= o.min : v < o.min) || v > o.max;
    if (bad) {
      this.problems.push(`'${where}${key}' is ${JSON.stringify(v)}: use ${o.integer ? 'an integer' : 'a number'} ${rangeText(o)}`);
      this.bad.add(where + key);
    }
    return v as number;
  }

  boolean(obj: Json, key: string, where: string, fallback: boolean): boolean {
    const v = obj[key];
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    this.problems.push(`'${where}${key}' is ${JSON.stringify(v)}: use true or false`);
    return fallback;
  }

  choice<T extends string>(obj: Json, key: string, where: string, allowed: readonly T[], fallback?: T): T {
    const v = obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    this.problems.push(`'${where}${key}' is ${v === undefined ? 'missing' : JSON.stringify(v)}: use one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    return allowed[0]!;
  }
}

function rangeText(o: { min: number; max: number; minExclusive?: boolean; unit?: string }): string {
  return `${o.minExclusive ? 'above' : 'from'} ${o.min} ${o.minExclusive ? 'up to' : 'to'} ${o.max}${o.unit ? ` (${o.unit})` : ''}`;
}

const TOP_KEYS = ['name', 'description', 'medium', 'durationSeconds', 'seed', 'sampleIntervalMs', 'link', 'offloads', 'workload', 'congestionControl', 'capture'];
const LINK_KEYS = ['rateMbps', 'delayMs', 'jitterMs', 'loss', 'reorder', 'duplicate', 'corrupt', 'bufferPackets'];
const WORKLOAD_KEYS = ['flows', 'direction', 'bytesPerFlow', 'startIntervalMs', 'receiveBufferBytes'];
const CAPTURE_KEYS = ['snaplen', 'maxFrames'];
const PROBABILITY = { min: 0, max: 1, minExclusive: false, unit: 'probability per wire packet: 0.01 is 1 %' };

/** Checks a parsed experiment file and fills in defaults; throws one error listing every problem. */
export function validateExperiment(raw: unknown): ExperimentSpec {
  if (!isObject(raw)) throw new ExperimentSpecError(['an experiment is a JSON object: { "name": ..., "medium": "memory", "durationSeconds": ..., "workload": { "flows": 1 } }']);
  const c = new Checker();
  c.keys(raw, '', TOP_KEYS);
  const name = raw.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    c.problems.push(`'name' is ${name === undefined ? 'missing' : JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-' (it names the output directory)`);
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') c.problems.push("'description' must be a string");
  const medium = c.choice(raw, 'medium', '', MEDIA);
  // Checks between two values run only when both are valid: an invalid one has its problem already,
  // and a second one derived from it ("longer than the experiment (-1 s)") would only mislead.
  const durationSeconds = c.number(raw, 'durationSeconds', '', { min: 0, minExclusive: true, max: medium === 'veth' ? 120 : 3600, unit: medium === 'veth' ? 'real seconds on veth' : 'virtual seconds' });
  const seed = c.number(raw, 'seed', '', { min: 0, max: 0x7fffffff, integer: true, fallback: 1 });
  const sampleIntervalMs = c.number(raw, 'sampleIntervalMs', '', { min: 1, max: 60_000, integer: true, unit: 'ms', fallback: 100 });
  if (c.valid('durationSeconds', 'sampleIntervalMs') && sampleIntervalMs > durationSeconds * 1000) c.problems.push(`'sampleIntervalMs' (${sampleIntervalMs}) is longer than the experiment (${durationSeconds} s): use at most ${durationSeconds * 1000}`);

  const l = c.object(raw, 'link', '');
  c.keys(l, 'link.', LINK_KEYS);
  const link: LinkImpairments = {
    rateMbps: c.number(l, 'rateMbps', 'link.', { min: 0, max: 100_000, unit: 'Mbit/s, 0 = unlimited', fallback: 0 }),
    delayMs: c.number(l, 'delayMs', 'link.', { min: 0, max: 10_000, unit: 'ms one way', fallback: 0 }),
    jitterMs: c.number(l, 'jitterMs', 'link.', { min: 0, max: 10_000, unit: 'ms', fallback: 0 }),
    loss: c.number(l, 'loss', 'link.', { ...PROBABILITY, max: 0.5, fallback: 0 }),
    reorder: c.number(l, 'reorder', 'link.', { ...PROBABILITY, fallback: 0 }),
    duplicate: c.number(l, 'duplicate', 'link.', { ...PROBABILITY, max: 0.5, fallback: 0 }),
    corrupt: c.number(l, 'corrupt', 'link.', { ...PROBABILITY, max: 0.5, fallback: 0 }),
    bufferPackets: c.number(l, 'bufferPackets', 'link.', { min: 1, max: 1_000_000, integer: true, unit: 'full-sized packets', fallback: 100 }),
  };
  const offloads = c.boolean(raw, 'offloads', '', false);
  if (c.valid('link.jitterMs', 'link.delayMs') && link.jitterMs > link.delayMs) c.problems.push(`'link.jitterMs' (${link.jitterMs}) exceeds 'link.delayMs' (${link.delayMs}): jitter is ± around the delay, use at most ${link.delayMs}`);

  const wRaw = raw.workload;
  if (!isObject(wRaw)) c.problems.push(`'workload' is ${wRaw === undefined ? 'missing' : 'not an object'}: give e.g. { "flows": 1 }`);
  const wl = isObject(wRaw) ? wRaw : {};
  c.keys(wl, 'workload.', WORKLOAD_KEYS);
  const workload: Workload = {
    flows: c.number(wl, 'flows', 'workload.', { min: 1, max: 64, integer: true }),
    direction: c.choice(wl, 'direction', 'workload.', DIRECTIONS, 'upload'),
    startIntervalMs: c.number(wl, 'startIntervalMs', 'workload.', { min: 0, max: 3_600_000, integer: true, unit: 'ms', fallback: 0 }),
    receiveBufferBytes: c.number(wl, 'receiveBufferBytes', 'workload.', { min: 16_384, max: 1 << 30, integer: true, unit: 'bytes', fallback: 1 << 20 }),
  };
  if (wl.bytesPerFlow !== undefined) {
    workload.bytesPerFlow = c.number(wl, 'bytesPerFlow', 'workload.', { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true, unit: 'bytes; leave it out to send for the whole duration' });
  }
  if (medium === 'veth' && workload.direction === 'download') {
    c.problems.push("'workload.direction' \"download\" is not supported on veth: the sender must be our stack to sample its cwnd and RTT; use \"upload\" (or medium \"memory\", where both ends are ours)");
  }

  let congestionControl: ExperimentSpec['congestionControl'] = 'cubic';
  const cc = raw.congestionControl;
  const ccHelp = `use ${CONGESTION_CONTROLS.map((n) => `"${n}"`).join(' or ')} for every flow, or an array with one of them per flow`;
  if (typeof cc === 'string' || cc === undefined) {
    congestionControl = c.choice(raw, 'congestionControl', '', CONGESTION_CONTROLS, 'cubic');
  } else if (Array.isArray(cc)) {
    if (c.valid('workload.flows') && cc.length !== workload.flows) c.problems.push(`'congestionControl' lists ${cc.length} names for ${workload.flows} flows: ${ccHelp}`);
    congestionControl = cc.map((_, i) => c.choice(cc as unknown as Json, String(i), 'congestionControl.', CONGESTION_CONTROLS));
  } else {
    c.problems.push(`'congestionControl' is ${JSON.stringify(cc)}: ${ccHelp}`);
  }

  const cap = c.object(raw, 'capture', '');
  c.keys(cap, 'capture.', CAPTURE_KEYS);
  const capture = {
    snaplen: c.number(cap, 'snaplen', 'capture.', { min: 64, max: 262_144, integer: true, unit: 'bytes kept per frame', fallback: 128 }),
    maxFrames: c.number(cap, 'maxFrames', 'capture.', { min: 0, max: 10_000_000, integer: true, unit: 'frames; 0 = no capture', fallback: 20_000 }),
  };

  if (c.problems.length > 0) throw new ExperimentSpecError(c.problems);
  return {
    name: name as string, ...(raw.description !== undefined ? { description: raw.description as string } : {}),
    medium, durationSeconds, seed, sampleIntervalMs, link, offloads, workload, congestionControl, capture,
  };
}

/** Reads and validates an experiment file; errors name the file. */
export function loadExperiment(path: string): ExperimentSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ExperimentSpecError([`cannot read experiment file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ExperimentSpecError([`${path} is not valid JSON: ${(err as Error).message}`]);
  }
  try {
    return validateExperiment(raw);
  } catch (err) {
    if (err instanceof ExperimentSpecError) throw new ExperimentSpecError(err.problems.map((p) => `${path}: ${p}`));
    throw err;
  }
}

// ---- running and writing ---------------------------------------------------------------------

/** Runs the experiment on its medium and writes results.json, capture.pcap and the plots (SVG and CSV) into hooks.outDir. */
export async function runExperiment(spec: ExperimentSpec, hooks: RunHooks): Promise<ExperimentResults> {
  mkdirSync(hooks.outDir, { recursive: true });
  const run = spec.medium === 'memory' ? runMemoryExperiment : runVethExperiment;
  const { medium, flows, linkDrops } = await run(spec, hooks);
  const lastT = Math.max(0, ...flows.map((f) => f.series.timeS[f.series.timeS.length - 1] ?? 0));
  const results: ExperimentResults = {
    spec, medium, flows, linkDrops,
    summary: { durationS: lastT, ...workloadTotals(flows), flows: flows.map((f) => f.summary) },
  };
  // Indented for reading, but each numeric series on one line: a 30 s run at 100 ms is 300 values per array.
  const json = JSON.stringify(results, null, 1).replace(/\[[\s\d.,eE+\-nul]*\]/g, (a) => a.replace(/\s+/g, ''));
  writeFileSync(join(hooks.outDir, 'results.json'), json + '\n');
  writeExperimentPlots(results, hooks.outDir);
  return results;
}

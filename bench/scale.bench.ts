// How cost grows with the work (`npm run bench:scale`): for node:net (the baseline), WSK on the
// kernel provider and WSK on the userspace stack over AF_PACKET, side by side in one run —
//   aggregate throughput (peer→app) and 64-byte request-response p50/p99 and rate against 1, 10,
//   100, 1000 concurrent connections; connections per second against 1, 8, 32, 128, 512 in flight;
//   memory per connection at 1000 idle connections, kernel socket memory and the stack's ring
//   included (bench/scale/memory.ts says how each part is counted).
// Each point is the median of --runs runs (default 3, target order rotated from run to run), each
// run in a fresh lab and app process (the suite's setup, bench/suite/targets.ts) after a warm-up;
// ratios against node:net at the same load. Cliffs (a figure under half the previous load's) are
// printed and recorded (bench/scale/curves.ts). Writes bench/results/scale.json, a plot per curve
// and one of memory, each an SVG with a CSV beside it (scale-*.svg/.csv), and with --readme the
// README section between the bench:scale markers. A benchmark: run it on a quiet machine, never as
// a test, never beside another benchmark.
//
//   npx tsx bench/scale.bench.ts [--quick] [--runs N] [--only wsk-kernel,wsk-stack-afpacket]
//                                [--connections 1,10,100,1000] [--in-flight 1,8,32,128,512]
//                                [--idle 1000] [--out file.json] [--readme] [--loopback]
//                                [--mtu 1500] [--offloads on|off]
import { cpus, platform, release } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_CPU, PEER_CPU, TARGET_LABELS, skipReason, runAsScript, type TargetName } from './suite/targets.ts';
import { CURVES, curveCliffs, describeCliff, summariseCurve, type Cliff, type CurveResult, type RunCurves } from './scale/curves.ts';
import { summariseMemory, type MemoryResult, type MemoryRun } from './scale/memory.ts';
import { measureScaleRun, type ScaleParams } from './scale/measure.ts';
import { scaleCharts } from './scale/charts.ts';
import { renderScaleSection, updateScaleReadme } from './scale/readme.ts';
import { fmt } from './suite/stats.ts';

export const SCALE_TARGETS: readonly TargetName[] = ['node:net', 'wsk-kernel', 'wsk-stack-afpacket'];

const FULL: ScaleParams = {
  connections: [1, 10, 100, 1000], inFlight: [1, 8, 32, 128, 512], seconds: 2, rounds: 20000, rrSeconds: 3,
  cps: { count: 8000, seconds: 2 }, idle: 1000,
};
const QUICK: ScaleParams = {
  connections: [1, 10, 100], inFlight: [1, 8, 32], seconds: 0.5, rounds: 1000, rrSeconds: 1,
  cps: { count: 1000, seconds: 0.5 }, idle: 200,
};

export interface ScaleOptions {
  quick?: boolean;
  runs?: number;
  /** Targets besides node:net (always run: the ratios divide by it); default SCALE_TARGETS. */
  only?: string[];
  connections?: number[];
  inFlight?: number[];
  idle?: number;
  out?: string;
  updateReadme?: boolean;
  loopback?: boolean;
  mtu?: number;
  offloads?: boolean;
  log: (line: string) => void;
}

export interface ScaleTargetResult {
  name: TargetName;
  label: string;
  skipped: string | null;
  errors: string[];
  /** Points that gave no figure, with what the peer said (per run). */
  problems: string[];
}

export interface ScaleResult {
  schema: 1;
  machine: { cpuModel: string; cores: number; kernel: string; platform: string; node: string; date: string; root: boolean };
  options: { quick: boolean; runs: number; setup: 'veth' | 'loopback'; mtu: number; offloads: boolean; measure: ScaleParams };
  setup: string;
  targets: ScaleTargetResult[];
  curves: CurveResult[];
  memory: MemoryResult[];
  cliffs: Cliff[];
  durationSeconds: number;
  files: { json: string; charts: { svg: string; csv: string; caption: string }[]; readme: string | null };
}

const REPO = fileURLToPath(new URL('..', import.meta.url));
const relative = (p: string): string => (p.startsWith(REPO) ? p.slice(REPO.length).replace(/^\//, '') : p);

export async function runScaleBench(options: ScaleOptions): Promise<ScaleResult> {
  const t0 = Date.now();
  const log = options.log;
  const quick = options.quick ?? false;
  const runs = Math.max(1, Math.floor(options.runs ?? 3));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const setup: 'veth' | 'loopback' = isRoot && !options.loopback ? 'veth' : 'loopback';
  const mtu = options.mtu ?? 1500;
  const offloads = options.offloads ?? true;
  const cores = cpus().length;
  const base = quick ? QUICK : FULL;
  const measure: ScaleParams = {
    ...base,
    connections: options.connections?.length ? options.connections : base.connections,
    inFlight: options.inFlight?.length ? options.inFlight : base.inFlight,
    idle: options.idle ?? base.idle,
  };
  for (const [name, xs] of [['--connections', measure.connections], ['--in-flight', measure.inFlight]] as const) {
    if (!xs.every((x) => Number.isInteger(x) && x > 0)) throw new Error(`${name}: positive integers, e.g. 1,10,100`);
  }
  const unknown = (options.only ?? []).filter((n) => !(SCALE_TARGETS as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`unknown target(s) ${unknown.join(', ')}; targets: ${SCALE_TARGETS.join(', ')}`);
  const wanted = options.only?.length ? SCALE_TARGETS.filter((t) => t === 'node:net' || options.only!.includes(t)) : [...SCALE_TARGETS];
  const skipped = new Map<TargetName, string>();
  for (const t of wanted) { const why = skipReason(t, setup, isRoot); if (why) skipped.set(t, why); }
  const active = wanted.filter((t) => !skipped.has(t));

  const setupLine = setup === 'loopback'
    ? `loopback: app side and node:net peer (bench/peer-net.mjs) in this host's namespace${cores >= 2 ? `; app side on CPU ${APP_CPU}, peer on CPU ${PEER_CPU}` : ''}`
    : `veth lab per target and run (MTU ${mtu}, offloads ${offloads ? 'on' : 'off'}), as in the suite: the node:net peer (bench/peer-net.mjs) in the peer namespace drives every load; `
      + `the app side in the stack namespace in a fresh process, node:net and WSK-on-kernel on a kernel address, WSK on the userspace stack on its own address`
      + `${cores >= 2 ? `; app side on CPU ${APP_CPU}, peer on CPU ${PEER_CPU}` : ''}`;
  log(`scale bench: ${active.join(', ')}; ${quick ? 'quick, ' : ''}${runs} run(s); connections ${measure.connections.join(',')}, in flight ${measure.inFlight.join(',')}, ${measure.idle} idle`);
  log(`setup: ${setupLine}`);
  for (const [t, why] of skipped) log(`skipped ${t}: ${why}`);

  const curveRuns = new Map<string, RunCurves[]>(active.map((t) => [t, []]));
  const memoryRuns = new Map<string, MemoryRun[]>(active.map((t) => [t, []]));
  const errors = new Map<TargetName, string[]>(active.map((t) => [t, []]));
  const problems = new Map<TargetName, string[]>(active.map((t) => [t, []]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < active.length; i++) {
      const t = active[(i + r) % active.length]!;
      const started = Date.now();
      log(`run ${r + 1}/${runs} ${t} ...`);
      try {
        const run = await measureScaleRun(t, { measure, mtu, offloads, setup }, cores, log);
        curveRuns.get(t)!.push(run.curves);
        if (run.memory) memoryRuns.get(t)!.push(run.memory);
        for (const p of run.problems) { problems.get(t)!.push(`run ${r + 1}: ${p}`); log(`  ${t} no figure from ${p}`); }
      } catch (err) {
        errors.get(t)!.push(`run ${r + 1}: ${(err as Error).message.split('\n')[0]}`);
      }
      log(`run ${r + 1}/${runs} ${t} done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  }

  const shown = wanted.map((t) => ({ name: t, label: TARGET_LABELS[t] }));
  const curves = CURVES.map((c) => summariseCurve(c, c.load === 'connections' ? measure.connections : measure.inFlight, shown, curveRuns));
  const memory = summariseMemory(shown, memoryRuns);
  const cliffs = curveCliffs(curves.map((c) => ({ ...c, series: c.series.filter((s) => !skipped.has(s.target as TargetName)) })));

  const jsonPath = resolve(options.out ?? `${REPO}/bench/results/${quick ? 'scale-quick' : 'scale'}.json`);
  const dir = dirname(jsonPath);
  const stem = basename(jsonPath).replace(/\.json$/, '');
  const doReadme = options.updateReadme === true;
  const result: ScaleResult = {
    schema: 1,
    machine: { cpuModel: cpus()[0]?.model ?? 'unknown', cores, kernel: release(), platform: platform(), node: process.version, date: new Date().toISOString(), root: isRoot },
    options: { quick, runs, setup, mtu, offloads, measure },
    setup: setupLine,
    targets: wanted.map((t) => ({ name: t, label: TARGET_LABELS[t], skipped: skipped.get(t) ?? null, errors: errors.get(t) ?? [], problems: problems.get(t) ?? [] })),
    curves,
    memory,
    cliffs,
    durationSeconds: 0,
    files: { json: relative(jsonPath), charts: [], readme: doReadme ? 'README.md' : null },
  };
  const charts = scaleCharts(result, stem);
  result.files.charts = charts.map((c) => ({ svg: relative(`${dir}/${c.name}.svg`), csv: relative(`${dir}/${c.name}.csv`), caption: c.caption }));
  result.durationSeconds = Math.round((Date.now() - t0) / 100) / 10;
  mkdirSync(dir, { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  for (const c of charts) {
    writeFileSync(`${dir}/${c.name}.svg`, c.svg);
    writeFileSync(`${dir}/${c.name}.csv`, c.csv);
  }
  if (doReadme) updateScaleReadme(`${REPO}/README.md`, result);

  log('');
  log(renderScaleSection(result));
  log('');
  const infos = new Map(CURVES.map((c) => [c.key, c]));
  for (const k of cliffs) log(`CLIFF ${describeCliff(k, infos.get(k.curve)!, k.target)}`);
  if (!cliffs.length) log('no cliffs');
  for (const m of memory) log(`memory ${m.target}: ${fmt(m.perConnectionKiB.withoutRing, 2)} KiB per connection without the ring, ${fmt(m.perConnectionKiB.withRing, 2)} with it`);
  log(`wrote ${result.files.json}, ${result.files.charts.map((c) => c.svg).join(', ')}${doReadme ? ', README.md section' : ''}; ${result.durationSeconds} s`);
  return result;
}

const list = (v: string): number[] => v.split(',').map((s) => Number(s.trim())).filter((x) => !Number.isNaN(x));

function parseArgs(argv: string[]): Omit<ScaleOptions, 'log'> {
  const o: Omit<ScaleOptions, 'log'> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--only') o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--connections') o.connections = list(val());
    else if (a === '--in-flight') o.inFlight = list(val());
    else if (a === '--idle') o.idle = Number(val());
    else if (a === '--out') o.out = val();
    else if (a === '--readme') o.updateReadme = true;
    else if (a === '--loopback') o.loopback = true;
    else if (a === '--mtu') o.mtu = Number(val());
    else if (a === '--offloads') o.offloads = val() !== 'off';
    else if (a === '--help' || a === '-h') {
      console.log('usage: npx tsx bench/scale.bench.ts [--quick] [--runs N] [--only targets] [--connections 1,10,100,1000] [--in-flight 1,8,32,128,512] [--idle N] [--out file.json] [--readme] [--loopback] [--mtu N] [--offloads on|off]');
      console.log(`targets: ${SCALE_TARGETS.join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (--help)`);
  }
  return o;
}

runAsScript(import.meta.url, () => runScaleBench({ ...parseArgs(process.argv.slice(2)), log: (l) => console.log(l) }));

// The benchmark suite (`npm run bench`, `wsk bench`): in one run, for every target — plain
// node:net (the baseline), WSK on the kernel provider, WSK on the userspace stack over each
// real-device link, and kernel iperf3 — throughput both ways, 64-byte request-response p50/p99,
// connections per second and memory per idle connection; a warm-up pass in every app process,
// then the median of --runs runs (target order rotated from run to run); ratios against node:net
// from the same run. Writes bench/results/suite.json, a chart and its figures beside it
// (suite.svg, suite.csv) and, only with --readme, the README table between the bench:suite
// markers (a full run's figures belong there: every target, not --quick). How each target is set
// up and why that is fair: bench/suite/targets.ts.
//
//   npx tsx bench/suite.ts [--quick] [--runs N] [--only node:net,wsk-stack-afpacket,...]
//                          [--out file.json] [--readme] [--loopback]
//                          [--mtu 1500] [--offloads on|off]
//                          [--metrics rx,tx,rrP50,rrP99,cps,memPerConn] [--concurrency N] [--cpu-prof DIR]
//                          [--link-options '{"ringFrames":1024}']
// --metrics, --concurrency, --link-options (for the userspace stack's links) and --cpu-prof (a V8
// profile of every app process, written into DIR; summarise with bench/profile-top.ts) are for
// development.
import { cpus, release, platform } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  METRICS, TARGETS, TARGET_LABELS, APP_CPU, PEER_CPU, measureTarget, noFigures, skipReason, runAsScript,
  type Figures, type MetricKey, type Params, type RunDetails, type RunParams, type TargetName,
} from './suite/targets.ts';
import { median, ratio } from './suite/stats.ts';
import { renderTable, updateReadmeFile } from './readme-table.ts';
import { suiteChart, suiteCsv } from './suite/chart.ts';

export { teardownLabs } from './suite/targets.ts';

export interface SuiteOptions {
  /** Short runs for development (figures are not comparable with a full run's). */
  quick?: boolean;
  /** Measured runs per target (default 3; the median is reported). */
  runs?: number;
  /** Targets to run (names of TARGETS); node:net is added when missing, for the ratios. */
  only?: string[];
  /** The JSON file (default bench/results/suite.json, suite-quick.json with quick); the chart goes beside it (.svg). */
  out?: string;
  /** Regenerate README.md's bench:suite table from this run (default: only for a full run of every target). */
  updateReadme?: boolean;
  /** Run over loopback even as root (only node:net, wsk-kernel and iperf3 can). */
  loopback?: boolean;
  mtu?: number;
  offloads?: boolean;
  /** Only these metrics (keys of METRICS; default all): for development and profiling. */
  metrics?: string[];
  /** Connections in flight for the connections-per-second figure (default 32). */
  concurrency?: number;
  /** Extra node flags for the app processes, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  appNodeFlags?: string[];
  /** Link options over the defaults for the userspace-stack targets, e.g. { ringFrames: 1024 }. */
  linkOptions?: Record<string, unknown>;
  log: (line: string) => void;
}

export interface MetricResult {
  /** Median of the runs; null when no run produced a figure. */
  median: number | null;
  runs: (number | null)[];
  /** median / node:net's median from this run (null for node:net's missing figures). */
  ratio: number | null;
}

export interface TargetResult {
  name: TargetName;
  label: string;
  /** Why it did not run (null: it ran). */
  skipped: string | null;
  errors: string[];
  metrics: Record<MetricKey, MetricResult>;
  /** Per run: what explains the figures (per-connection times of the connection test, the app's counters over the measured pass). */
  details: RunDetails[];
}

export interface SuiteResult {
  schema: 1;
  machine: { cpuModel: string; cores: number; kernel: string; platform: string; node: string; date: string; root: boolean };
  options: {
    quick: boolean; runs: number; setup: 'veth' | 'loopback'; mtu: number; offloads: boolean; measure: Params; warm: Params;
    linkOptions: Record<string, unknown> | null; metrics: string[] | null;
  };
  setup: string;
  metrics: typeof METRICS;
  targets: TargetResult[];
  /** The issue's quality bar, checked on this run. */
  checks: { name: string; target: TargetName; value: number | null; bound: string; pass: boolean | null }[];
  durationSeconds: number;
  files: { json: string; svg: string; readme: string | null };
}

const FULL: Params = { seconds: 2, rounds: 5000, conns: { count: 25000, seconds: 3, concurrency: 32 }, idle: 1000 };
const FULL_WARM: Params = { seconds: 1, rounds: 5000, conns: { count: 2000, seconds: 1, concurrency: 32 }, idle: 0 };
const QUICK: Params = { seconds: 0.5, rounds: 1000, conns: { count: 10000, seconds: 1, concurrency: 32 }, idle: 200 };
const QUICK_WARM: Params = { seconds: 0.3, rounds: 1000, conns: { count: 1000, seconds: 0.5, concurrency: 32 }, idle: 0 };

/** The stated bound for memory per idle connection (heap + external in the app's process). */
export const IDLE_CONNECTION_BOUND_KIB = 16;
/** The issue's bar for connections per second on the userspace stack against node:net. */
export const CPS_RATIO_BAR = 0.8;

const REPO = fileURLToPath(new URL('..', import.meta.url));

function setupText(setup: 'veth' | 'loopback', mtu: number, offloads: boolean, pinned: boolean): string {
  const cpu = pinned ? `app side on CPU ${APP_CPU}, peer on CPU ${PEER_CPU}` : 'no CPU pinning (one core)';
  if (setup === 'loopback') {
    return `loopback: app side and node:net peer (bench/peer-net.mjs) in this host's namespace; ${cpu}`;
  }
  return `veth lab per target and run (MTU ${mtu}, offloads ${offloads ? 'on' : 'off'}); the same node:net peer program `
    + `(bench/peer-net.mjs) in the peer namespace for every target; the app side in the stack namespace, in a fresh process: `
    + `node:net and WSK-on-kernel on a kernel address (198.18.0.3), WSK on the userspace stack on 198.18.0.2 (no kernel address); ${cpu}`;
}

/** Runs the suite; see the file comment. */
export async function runBenchSuite(options: SuiteOptions): Promise<SuiteResult> {
  const t0 = Date.now();
  const log = options.log;
  const quick = options.quick ?? false;
  const runs = Math.max(1, Math.floor(options.runs ?? 3));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const setup: 'veth' | 'loopback' = isRoot && !options.loopback ? 'veth' : 'loopback';
  const mtu = options.mtu ?? 1500;
  const offloads = options.offloads ?? true;
  const cores = cpus().length;
  const badMetric = (options.metrics ?? []).filter((k) => !METRICS.some((m) => m.key === k));
  if (badMetric.length) throw new Error(`unknown metric(s) ${badMetric.join(', ')}; metrics: ${METRICS.map((m) => m.key).join(', ')}`);
  // Over loopback the peer's ports are the host's (shared with everything else, no sysctl of our
  // own): fewer test connections keep TIME_WAIT from crowding them.
  const loopbackCap = (x: Params): Params => (setup === 'loopback' ? { ...x, conns: { ...x.conns, count: Math.min(x.conns.count, 5000) } } : x);
  const withConcurrency = (x: Params): Params => loopbackCap(options.concurrency ? { ...x, conns: { ...x.conns, concurrency: options.concurrency } } : x);
  const p: RunParams = {
    measure: withConcurrency(quick ? QUICK : FULL), warm: withConcurrency(quick ? QUICK_WARM : FULL_WARM), mtu, offloads, setup,
    metrics: options.metrics?.length ? (options.metrics as MetricKey[]) : undefined,
    appNodeFlags: options.appNodeFlags,
    linkOptions: options.linkOptions,
  };

  const unknown = (options.only ?? []).filter((n) => !(TARGETS as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`unknown target(s) ${unknown.join(', ')}; targets: ${TARGETS.join(', ')}`);
  const wanted = options.only?.length ? TARGETS.filter((t) => t === 'node:net' || options.only!.includes(t)) : [...TARGETS];
  const skipped = new Map<TargetName, string>();
  for (const t of wanted) { const why = skipReason(t, setup, isRoot); if (why) skipped.set(t, why); }
  const active = wanted.filter((t) => !skipped.has(t));

  const jsonPath = resolve(options.out ?? `${REPO}/bench/results/${quick ? 'suite-quick' : 'suite'}.json`);
  const svgPath = jsonPath.replace(/\.json$/, '') + '.svg';
  const setupLine = setupText(setup, mtu, offloads, cores >= 2);
  log(`bench suite: ${active.join(', ')}; ${quick ? 'quick, ' : ''}${runs} run(s) after a warm-up pass in every app process`);
  log(`setup: ${setupLine}`);
  for (const [t, why] of skipped) log(`skipped ${t}: ${why}`);

  const figures = new Map<TargetName, Figures[]>(active.map((t) => [t, []]));
  const details = new Map<TargetName, RunDetails[]>(active.map((t) => [t, []]));
  const errors = new Map<TargetName, string[]>(active.map((t) => [t, []]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < active.length; i++) {
      // Rotated order: whatever runs later pays for the machine state the earlier one left.
      const t = active[(i + r) % active.length]!;
      const started = Date.now();
      log(`run ${r + 1}/${runs} ${t} ...`);
      let f: Figures;
      const d: RunDetails = {};
      try {
        f = await measureTarget(t, p, cores, log, d);
      } catch (err) {
        errors.get(t)!.push(`run ${r + 1}: ${(err as Error).message.split('\n')[0]}`);
        f = noFigures();
      }
      figures.get(t)!.push(f);
      details.get(t)!.push(d);
      for (const problem of d.problems ?? []) log(`  ${t} no figure from ${problem}`);
      log(`run ${r + 1}/${runs} ${t}: ${METRICS.map((m) => `${m.key} ${Number.isFinite(f[m.key]) ? f[m.key].toFixed(m.digits) : '–'}`).join(', ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  }

  const nul = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const medians = new Map<TargetName, Figures>();
  for (const t of active) {
    const m = noFigures();
    for (const { key } of METRICS) m[key] = median(figures.get(t)!.map((f) => f[key]));
    medians.set(t, m);
  }
  const base = medians.get('node:net') ?? noFigures();
  const targets: TargetResult[] = wanted.map((t) => {
    const med = medians.get(t) ?? noFigures();
    const metrics = {} as Record<MetricKey, MetricResult>;
    for (const { key } of METRICS) {
      metrics[key] = { median: nul(med[key]), runs: (figures.get(t) ?? []).map((f) => nul(f[key])), ratio: nul(ratio(med[key], base[key])) };
    }
    return { name: t, label: TARGET_LABELS[t], skipped: skipped.get(t) ?? null, errors: errors.get(t) ?? [], metrics, details: details.get(t) ?? [] };
  });

  const checks: SuiteResult['checks'] = [];
  for (const t of targets) {
    if (t.skipped) continue;
    if (t.name.startsWith('wsk-stack-')) {
      const r = t.metrics.cps.ratio;
      checks.push({ name: 'connections per second vs node:net', target: t.name, value: r, bound: `≥ ${CPS_RATIO_BAR}×`, pass: r === null ? null : r >= CPS_RATIO_BAR });
    }
    if (t.name !== 'iperf3') {
      const v = t.metrics.memPerConn.median;
      checks.push({ name: 'heap+external per idle connection (KiB)', target: t.name, value: v, bound: `≤ ${IDLE_CONNECTION_BOUND_KIB} KiB`, pass: v === null ? null : v <= IDLE_CONNECTION_BOUND_KIB });
    }
  }

  // Never by default: an installed package's README is not ours to rewrite, nor is a clone's on a whim.
  const doReadme = options.updateReadme === true;
  const readmePath = `${REPO}/README.md`;
  const result: SuiteResult = {
    schema: 1,
    machine: {
      cpuModel: cpus()[0]?.model ?? 'unknown', cores, kernel: release(), platform: platform(), node: process.version,
      date: new Date().toISOString(), root: isRoot,
    },
    options: {
      quick, runs, setup, mtu, offloads, measure: p.measure, warm: p.warm,
      linkOptions: options.linkOptions ?? null, metrics: options.metrics?.length ? options.metrics : null,
    },
    setup: setupLine,
    metrics: METRICS,
    targets,
    checks,
    durationSeconds: Math.round((Date.now() - t0) / 100) / 10,
    files: { json: relative(jsonPath), svg: relative(svgPath), readme: doReadme ? 'README.md' : null },
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(svgPath, suiteChart(result));
  writeFileSync(svgPath.replace(/\.svg$/, '.csv'), suiteCsv(result));
  if (doReadme) updateReadmeFile(readmePath, result);

  log('');
  log(renderTable(result));
  log('');
  for (const c of checks) log(`check ${c.target}: ${c.name} ${c.value === null ? '–' : c.value.toFixed(2)} (${c.bound}): ${c.pass === null ? 'no figure' : c.pass ? 'pass' : 'FAIL'}`);
  for (const t of targets) for (const e of t.errors) log(`error ${t.name}: ${e}`);
  log(`wrote ${result.files.json}, ${result.files.svg}${doReadme ? ', README.md table' : ''}; ${result.durationSeconds} s`);
  return result;
}

function relative(p: string): string {
  return p.startsWith(REPO) ? p.slice(REPO.length).replace(/^\//, '') : p;
}

function parseArgs(argv: string[]): Omit<SuiteOptions, 'log'> {
  const o: Omit<SuiteOptions, 'log'> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--only') o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--out') o.out = val();
    else if (a === '--readme') o.updateReadme = true;
    else if (a === '--no-readme') o.updateReadme = false; // the default; still accepted
    else if (a === '--loopback') o.loopback = true;
    else if (a === '--mtu') o.mtu = Number(val());
    else if (a === '--offloads') o.offloads = val() !== 'off';
    else if (a === '--concurrency') o.concurrency = Number(val());
    else if (a === '--link-options') o.linkOptions = JSON.parse(val()) as Record<string, unknown>;
    else if (a === '--metrics') o.metrics = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--cpu-prof') o.appNodeFlags = ['--cpu-prof', `--cpu-prof-dir=${resolve(val())}`];
    else if (a === '--help' || a === '-h') {
      console.log('usage: npx tsx bench/suite.ts [--quick] [--runs N] [--only targets] [--out file.json] [--readme] [--loopback] [--mtu N] [--offloads on|off] [--metrics keys] [--concurrency N] [--cpu-prof DIR] [--link-options JSON]');
      console.log(`targets: ${TARGETS.join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (--help)`);
  }
  return o;
}

runAsScript(import.meta.url, () => runBenchSuite({ ...parseArgs(process.argv.slice(2)), log: (l) => console.log(l) }));

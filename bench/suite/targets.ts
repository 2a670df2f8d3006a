// The bench suite's targets and how one run of one target is measured.
//
// Setup (the fairest one we found on one machine; stated in the output and the JSON):
// - With root, every target runs over the same kind of veth lab (apps/lab/lab.ts: two
//   namespaces, MTU 1500, offloads on by default), a fresh lab per target and run. The Linux peer
//   is always the same program, bench/peer-net.mjs (node:net), in the peer namespace on CPU 0. The
//   app side runs in the stack namespace on CPU 1, in its own fresh process:
//     node:net        `peer-net.mjs serve` on a kernel address of the stack namespace (198.18.0.3)
//     wsk-kernel      bench/suite/app.ts, WSK on the kernel provider, same kernel address
//     wsk-stack-*     bench/suite/app.ts, WSK on the userspace stack over that link, 198.18.0.2
//                     (no kernel address owns it; the raw IP link gets lab.quietHostStack)
//     iperf3          `iperf3 -s` on the kernel address, `iperf3 -c` from the peer (throughput only)
// - Without root (or with --loopback) only node:net, wsk-kernel and iperf3 run, over loopback,
//   with the same programs and CPU placement; the veth targets are reported as skipped.
// Each app process first runs a short warm-up of every metric (V8 needs about a million packets
// before the stack's code is fast), then the measured pass. Every load is bounded in count and
// time and ends by itself; every child is ended by its pid; each lab is deleted by exact name in
// a finally.
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, type Lab, type LabUpOptions } from '../../apps/lab/lab.ts';
import { rawIpQuietRules } from '../../transports/raw-socket/raw-socket-link.ts';
import { JsonLineProcess, runJson, serve, tsNode, type Placement } from './procs.ts';
import { sleep } from './stats.ts';
import type { LinkKind } from './links.ts';

export type TargetName = 'node:net' | 'wsk-kernel' | 'wsk-stack-afpacket' | 'wsk-stack-pcap' | 'wsk-stack-raw' | 'iperf3';
export const TARGETS: readonly TargetName[] = ['node:net', 'wsk-kernel', 'wsk-stack-afpacket', 'wsk-stack-pcap', 'wsk-stack-raw', 'iperf3'];
export const TARGET_LABELS: Record<TargetName, string> = {
  'node:net': 'node:net (kernel TCP)',
  'wsk-kernel': 'WSK, kernel provider',
  'wsk-stack-afpacket': 'WSK, userspace stack, AF_PACKET',
  'wsk-stack-pcap': 'WSK, userspace stack, libpcap',
  'wsk-stack-raw': 'WSK, userspace stack, raw IP',
  iperf3: 'kernel iperf3',
};

export type MetricKey = 'rx' | 'tx' | 'rrP50' | 'rrP99' | 'cps' | 'memPerConn' | 'rssPerConn';
export interface MetricInfo { key: MetricKey; label: string; unit: string; better: 'higher' | 'lower'; digits: number; headline: boolean }
export const METRICS: readonly MetricInfo[] = [
  { key: 'rx', label: 'peer→app', unit: 'Gbit/s', better: 'higher', digits: 2, headline: true },
  { key: 'tx', label: 'app→peer', unit: 'Gbit/s', better: 'higher', digits: 2, headline: true },
  { key: 'rrP50', label: 'RR p50', unit: 'µs', better: 'lower', digits: 1, headline: true },
  { key: 'rrP99', label: 'RR p99', unit: 'µs', better: 'lower', digits: 1, headline: true },
  { key: 'cps', label: 'connect+close', unit: 'per s', better: 'higher', digits: 0, headline: true },
  { key: 'memPerConn', label: 'memory per idle conn', unit: 'KiB', better: 'lower', digits: 2, headline: true },
  { key: 'rssPerConn', label: 'RSS per idle conn', unit: 'KiB', better: 'lower', digits: 2, headline: false },
];
export type Figures = Record<MetricKey, number>;
export const noFigures = (): Figures => ({ rx: NaN, tx: NaN, rrP50: NaN, rrP99: NaN, cps: NaN, memPerConn: NaN, rssPerConn: NaN });

export interface Params {
  /** Seconds per throughput direction. */
  seconds: number;
  /** 64-byte request-responses on one connection (the first 10 % dropped by the peer). */
  rounds: number;
  /** Connections per second: at most `count` connections or `seconds`, `concurrency` in flight. */
  conns: { count: number; seconds: number; concurrency: number };
  /** Idle connections held for the memory figure. */
  idle: number;
}
export interface RunParams {
  measure: Params; warm: Params; mtu: number; offloads: boolean; setup: 'veth' | 'loopback';
  /** Only these metrics (default all); for development and profiling. */
  metrics?: readonly MetricKey[];
  /** Extra node flags for the app processes (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  appNodeFlags?: readonly string[];
  /** Link options over the defaults for the userspace stack's links. */
  linkOptions?: Record<string, unknown>;
}

/** What explains one run's figures; numbers only, absent when not measured. */
export interface RunDetails {
  /** The connection test as the peer saw it (per-connection times in ms, slow ones, failures) and the link's drops meanwhile. */
  conns?: Record<string, number>;
  /** The app's counters over the measured pass (userspace stack only): drops, retransmissions, copy-outs. */
  app?: Record<string, number>;
  /** After the idle connections closed at once: a 1 s connection test and the link's drops. */
  afterBurst?: Record<string, number>;
  /** Measurements that gave no figure, with the end of what the peer printed. */
  problems?: string[];
}

const PEER = fileURLToPath(new URL('../peer-net.mjs', import.meta.url));
const APP = fileURLToPath(new URL('./app.ts', import.meta.url));
export const STACK_IP = '198.18.0.2';
export const KERNEL_IP = '198.18.0.3';
export const APP_CPU = '1';
export const PEER_CPU = '0';

const linkOf = (t: TargetName): LinkKind | null => (t.startsWith('wsk-stack-') ? (t.slice('wsk-stack-'.length) as LinkKind) : null);

/** Why a target cannot run here, or null. */
export function skipReason(t: TargetName, setup: 'veth' | 'loopback', isRoot: boolean): string | null {
  const link = linkOf(t);
  if (t === 'iperf3' && !which('iperf3')) return 'iperf3 is not installed (apt-get install iperf3)';
  if (!link) return null;
  if (!isRoot) return 'needs root: the userspace stack runs on a veth lab between two network namespaces';
  if (setup === 'loopback') return 'the userspace stack needs the veth lab (not run with --loopback)';
  const addon = (n: string): boolean => existsSync(fileURLToPath(new URL(`../../transports/native/build/${n}.node`, import.meta.url)));
  if (link === 'afpacket' && !addon('wsk_afpacket')) return 'AF_PACKET addon not built (npm run build:native)';
  if (link === 'pcap' && !addon('wsk_pcap')) return 'libpcap addon not built (apt-get install libpcap-dev; npm run build:native)';
  return null;
}

function which(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(`${d}/${cmd}`));
}

export interface Env { lab: Lab | null; app: Placement; peer: Placement; host: string; appArgs: string[] }

/** Labs up right now, so an interrupted run can still delete them (teardownLabs). */
const liveLabs = new Set<Lab>();

/** Deletes every lab this process has up (by exact name); for signal handlers. */
export function teardownLabs(): void {
  for (const lab of liveLabs) { try { lab.down(); } catch { /* best effort on the way out */ } }
  liveLabs.clear();
}

/**
 * Runs a benchmark file's `main` when the file is the process's entry point (`moduleUrl`: its
 * import.meta.url); an interrupt deletes the lab that is up first (children in our process
 * group get the signal too). Exit code 0, 1 on an error, 130 on a signal.
 */
export function runAsScript(moduleUrl: string, main: () => Promise<unknown>): void {
  if (!process.argv[1] || resolvePath(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { teardownLabs(); console.error(`\n${sig}: lab deleted, stopping`); process.exit(130); });
  }
  main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
}

/** labUp, remembered until closeLab so that teardownLabs can still delete it. */
export function openLab(opts: LabUpOptions): Lab {
  const lab = labUp(opts);
  liveLabs.add(lab);
  return lab;
}

export function closeLab(lab: Lab): void {
  liveLabs.delete(lab);
  lab.down();
}

/** A fresh lab for one run of `t` (null over loopback) and where its app and peer run; closeLab(env.lab) deletes it. */
export function makeEnv(t: TargetName, p: Pick<RunParams, 'mtu' | 'offloads' | 'setup' | 'linkOptions'>, cpus: number): Env {
  const pin = (cpu: string): string | undefined => (cpus >= 2 ? cpu : undefined);
  if (p.setup === 'loopback') {
    return { lab: null, app: { cpu: pin(APP_CPU) }, peer: { cpu: pin(PEER_CPU) }, host: '127.0.0.1', appArgs: [] };
  }
  const lab = openLab({ mtu: p.mtu, offloads: p.offloads });
  try {
    const link = linkOf(t);
    // The peer is the active closer of every test connection, so its ports sit in TIME_WAIT for
    // 60 s; Linux gives connect() the even ports of ip_local_port_range first (14,000 by default)
    // and slows down sharply once they are taken. The whole range for the peer namespace keeps
    // the connection test measuring the app, not the peer's port search.
    lab.exec('peer', ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
    if (!link) lab.exec('stack', ['ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', lab.stackIf]);
    if (link === 'raw') lab.quietHostStack(rawIpQuietRules());
    return {
      lab,
      app: { ns: lab.stackNs, cpu: pin(APP_CPU) },
      peer: { ns: lab.peerNs, cpu: pin(PEER_CPU) },
      host: link ? STACK_IP : KERNEL_IP,
      appArgs: link ? [link, `${STACK_IP}/24`, lab.stackIf, ...(p.linkOptions ? [JSON.stringify(p.linkOptions)] : [])] : [],
    };
  } catch (err) {
    closeLab(lab);
    throw err;
  }
}

const num = (x: unknown): number => (typeof x === 'number' ? x : NaN);
/** argv of bench/peer-net.mjs with `args`, for runJson / JsonLineProcess in the peer's placement. */
export const peerNode = (args: string[]): string[] => [process.execPath, PEER, ...args];

/** Measures one run of one target in a fresh lab and a fresh app process. */
export async function measureTarget(t: TargetName, p: RunParams, cpus: number, log: (l: string) => void, details: RunDetails = {}): Promise<Figures> {
  const env = makeEnv(t, p, cpus);
  try {
    if (env.lab) await sleep(1200); // the veth carrier settles
    if (t === 'iperf3') return await iperf3(env, p.measure);
    const app = startApp(t, env, p.appNodeFlags);
    try {
      const ports = await appReady(app);
      const want = new Set<MetricKey>(p.metrics ?? METRICS.map((m) => m.key));
      await appPass(app, env, ports, p.warm, null, want, details);
      const before = await appCounters(app);
      const f = noFigures();
      await appPass(app, env, ports, p.measure, f, want, details);
      const after = await appCounters(app);
      const moved = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
      if (Object.keys(moved).length) details.app = moved;
      return f;
    } catch (err) {
      log(`  ${t}: ${(err as Error).message}`);
      throw err;
    } finally {
      await app.stop();
    }
  } finally {
    if (env.lab) closeLab(env.lab);
  }
}

export interface Ports { sink: number; source: number; echo: number }

/** The app side of `t` in its own fresh process (node:net: peer-net.mjs serve; else bench/suite/app.ts). */
export function startApp(t: TargetName, env: Env, nodeFlags: readonly string[] = []): JsonLineProcess {
  const flags = ['--expose-gc', ...nodeFlags];
  const argv = t === 'node:net'
    ? [process.execPath, ...flags, PEER, 'serve', env.host, '0']
    : tsNode(APP, t === 'wsk-kernel' ? ['wsk-kernel', env.host] : env.appArgs, flags);
  return new JsonLineProcess(env.app, argv);
}

/** Waits for the app's ready line; its three ports. */
export async function appReady(app: JsonLineProcess): Promise<Ports> {
  const ready = await app.next((o) => o.ready === true || 'error' in o, 60_000);
  if (!ready.ready) throw new Error(`app failed: ${String(ready.error).split('\n')[0]}`);
  return { sink: num(ready.sink), source: num(ready.source), echo: num(ready.echo) };
}

/** One pass of every metric against a running app; `into` null: a warm-up (figures dropped). */
/** The userspace stack's counters that explain a figure ({} for node:net and the kernel provider). */
async function appCounters(app: JsonLineProcess): Promise<Record<string, number>> {
  const s = (await app.ask('stats', (o) => 'stats' in o)).stats as Record<string, Record<string, number> | undefined>;
  const pick: [string, string, string][] = [
    ['link', 'rxDrops', 'linkRxDrops'], ['link', 'txDrops', 'linkTxDrops'], ['linkDetails', 'ringStalls', 'ringStalls'],
    ['linkDetails', 'ringWants', 'ringWants'], ['stack', 'heldCopyOuts', 'heldCopyOuts'],
    ['stack', 'txNoSlot', 'txNoSlot'], ['tcp', 'retransmits', 'tcpRetransmits'], ['tcp', 'synQueueOverflows', 'synQueueOverflows'],
    ['tcp', 'passiveOpens', 'passiveOpens'],
  ];
  const out: Record<string, number> = {};
  for (const [group, key, name] of pick) {
    const v = s[group]?.[key];
    if (typeof v === 'number') out[name] = v;
  }
  return out;
}

async function appPass(app: JsonLineProcess, env: Env, ports: Ports, m: Params, into: Figures | null, want: Set<MetricKey>, details: RunDetails): Promise<void> {
  const f = into ?? noFigures();
  const budget = (s: number): number => (s + 30) * 1000;
  /** Runs a peer mode; a run without `key` in its answer is noted (measured pass only). */
  const peer = async (args: string[], key: string, timeoutMs: number): Promise<Record<string, number>> => {
    const r = await runJson(env.peer, peerNode(args), timeoutMs);
    if (into && typeof r.figures[key] !== 'number') {
      (details.problems ??= []).push(`${args[0]}: exit ${r.code}: ${r.raw.trim().split('\n').slice(-2).join(' | ').slice(-300)}`);
    }
    return r.figures;
  };
  // peer → app: the peer's own rate from connect until the app closed after taking it all.
  if (want.has('rx')) f.rx = num((await peer(['send', env.host, String(ports.sink), String(m.seconds)], 'gbps', budget(m.seconds))).gbps);
  // app → peer.
  if (want.has('tx')) {
    await app.ask(`source ${m.seconds}`, (o) => o.ok === true);
    f.tx = num((await peer(['pull', env.host, String(ports.source)], 'gbps', budget(m.seconds))).gbps);
  }
  // Request-response on one connection.
  if (want.has('rrP50') || want.has('rrP99')) {
    const rr = await peer(['rr', env.host, String(ports.echo), String(m.rounds)], 'p50', 60_000);
    f.rrP50 = num(rr.p50);
    f.rrP99 = num(rr.p99);
  }
  // Connections per second: connect, 64-byte exchange, close, `concurrency` at a time.
  const c = m.conns;
  if (want.has('cps')) {
    const c0 = into ? await appCounters(app) : {};
    const r = await peer(['conns', env.host, String(ports.echo), String(c.count), String(c.seconds), String(c.concurrency)], 'cps', budget(c.seconds));
    f.cps = num(r.cps);
    if (into) {
      details.conns = {};
      for (const k of ['conns', 'failed', 'abandoned', 'stuck', 'p50ms', 'p99ms', 'maxms', 'over500ms']) if (typeof r[k] === 'number') details.conns[k] = r[k]!;
      const c1 = await appCounters(app);
      for (const k of ['linkRxDrops', 'ringStalls', 'tcpRetransmits']) if (k in c1) details.conns[k] = c1[k]! - (c0[k] ?? 0);
    }
  }
  // Memory per idle connection (last: the peer then closes them all at once): the app's heap +
  // external (and RSS) before and while the peer holds `idle` connections open, both after a
  // full GC.
  if (into && (want.has('memPerConn') || want.has('rssPerConn'))) {
    const mem = await idleMemory(app, env, ports, m.idle);
    f.memPerConn = mem.heapExternal;
    f.rssPerConn = mem.rss;
    // The peer closed those connections all at once: a short connection test right after shows
    // whether the app recovered from that burst (not a headline figure; see RunDetails).
    const before = await appCounters(app);
    const r = await peer(['conns', env.host, String(ports.echo), '1000', '1', String(m.conns.concurrency)], 'cps', budget(1));
    const after = await appCounters(app);
    details.afterBurst = { cps: num(r.cps), stuck: num(r.stuck), over500ms: num(r.over500ms), burstDrops: num(mem.burstDrops) };
    if ('linkRxDrops' in after) details.afterBurst.linkRxDrops = after.linkRxDrops! - (before.linkRxDrops ?? 0);
  }
}

async function idleMemory(app: JsonLineProcess, env: Env, ports: Ports, n: number): Promise<{ heapExternal: number; rss: number; burstDrops: number }> {
  type Mem = { heapUsed: number; external: number; rss: number };
  const sample = async (): Promise<Mem> => (await app.ask('mem', (o) => 'mem' in o)).mem as Mem;
  // Settle: connections of earlier phases gone.
  for (let i = 0; i < 50 && num((await app.ask('open', (o) => 'open' in o)).open) > 0; i++) await sleep(100);
  const before = await sample();
  const hold = new JsonLineProcess(env.peer, peerNode(['hold', env.host, String(ports.echo), String(n), '60']));
  try {
    const h = await hold.next((o) => 'holding' in o, 60_000);
    const holding = num(h.holding);
    if (!(holding > 0)) return { heapExternal: NaN, rss: NaN, burstDrops: NaN };
    // Wait until the app has accepted them all (bounded).
    let open = 0;
    for (let i = 0; i < 100; i++) {
      open = num((await app.ask('open', (o) => 'open' in o)).open);
      if (open >= holding) break;
      await sleep(100);
    }
    const after = await sample();
    const per = (a: number, b: number): number => (a - b) / open / 1024;
    const result = { heapExternal: per(after.heapUsed + after.external, before.heapUsed + before.external), rss: per(after.rss, before.rss), burstDrops: NaN };
    // The peer closes them all at once; wait (bounded) until the app has closed them too.
    const c0 = await appCounters(app);
    await hold.stop();
    for (let i = 0; i < 50 && num((await app.ask('open', (o) => 'open' in o)).open) > 0; i++) await sleep(100);
    const c1 = await appCounters(app);
    if ('linkRxDrops' in c1) result.burstDrops = c1.linkRxDrops! - (c0.linkRxDrops ?? 0);
    return result;
  } finally {
    await hold.stop();
  }
}

async function iperf3(env: Env, m: Params): Promise<Figures> {
  const one = async (reverse: boolean): Promise<number> => {
    const port = String(5201 + Math.floor(Math.random() * 500));
    const server = serve(env.app, ['iperf3', '-s', '-1', '-B', env.host, '-p', port]);
    try {
      await sleep(300);
      const r = await runJson(env.peer, ['iperf3', '-c', env.host, '-p', port, '-t', String(Math.max(1, Math.round(m.seconds))), '-J', ...(reverse ? ['-R'] : [])], (m.seconds + 30) * 1000);
      try {
        return JSON.parse(r.raw).end.sum_received.bits_per_second / 1e9;
      } catch {
        return NaN;
      }
    } finally {
      server.stop();
    }
  };
  return { ...noFigures(), rx: await one(false), tx: await one(true) };
}

// The lossy-path benchmark (issue 18; `npm run bench:loss`, `wsk bench --loss`): stock
// `iperf3 -c` in the Linux peer's namespace against our iperf3 server on the userspace stack over
// AF_PACKET, and against Linux's own `iperf3 -s` on the same device, with the loss applied by
// the Linux peer itself (nftables on its veth, both ways: apps/lab/lab.ts setLoss), per cell:
// loss 0.1 / 1 / 2 % each way × offloads on / off × direction (the peer sends, or -R: the server
// sends, which is where our stack is the sender). Per run: Gbit/s as iperf3 -J reports what
// arrived, and the sender's retransmitted segments and retransmission timeouts — Linux's from
// nstat in the sender's namespace (TcpRetransSegs, TcpExtTCPTimeouts), ours from the stack's TCP
// counters read through the server's `wsk stats` socket. Ratios ours/Linux per cell, medians of
// --runs runs; a run that has not ended in time is stopped by pid and recorded as stalled (0).
//
//   npx tsx bench/loss.bench.ts [--runs 3] [--seconds 3] [--loss 0.1,1,2] [--offloads on,off]
//                               [--directions to-server,from-server] [--out bench/results/loss.json] [--readme]
//
// One veth lab per cell (apps/lab, deleted by exact name in a finally and on a signal); the
// servers on CPU 1 in the stack namespace (ours on 198.18.0.2 with no kernel address, Linux's on
// the kernel address 198.18.0.3 beside it, as in bench/suite/targets.ts), the client on CPU 0;
// (a) and (b) alternate, the first of each run swapping. Our server gets one unmeasured warm-up
// run (1 s, before the loss is set: V8 compiles the stack's hot code in it); Linux needs none.
// Writes the JSON (default bench/results/loss.json) and prints the Markdown table
// (bench/loss-table.ts); the README's bench:loss block only with --readme.
import { cpus, release, platform } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LossCounts, PeerLossCounters } from '../apps/lab/lab.ts';
import { readStats, statsDirectory } from '../apps/cli/stats.ts';
import { APP_CPU, KERNEL_IP, PEER_CPU, STACK_IP, closeLab, openLab, runAsScript } from './suite/targets.ts';
import { JsonLineProcess, runJson, serve } from './suite/procs.ts';
import { median, ratio, sleep } from './suite/stats.ts';
import { renderLossTable, updateLossReadme } from './loss-table.ts';

export { teardownLabs } from './suite/targets.ts';

/** to-server: `iperf3 -c` sends to the server; from-server: `iperf3 -c -R`, the server sends. */
export type LossDirection = 'to-server' | 'from-server';
export const LOSS_DIRECTIONS: readonly LossDirection[] = ['to-server', 'from-server'];
/** ours: our iperf3 server on the userspace stack; linux: `iperf3 -s` on the kernel address. */
export type LossSide = 'ours' | 'linux';

export interface LossBenchOptions {
  /** Measured runs per side and cell (default 3; medians reported). */
  runs?: number;
  /** iperf3 -t per run (default 3). */
  seconds?: number;
  /** Percent lost each way (default 0.1, 1, 2). */
  losses?: number[];
  /** Offload settings to run (default on, off). */
  offloads?: boolean[];
  directions?: LossDirection[];
  /** The JSON file (default bench/results/loss.json). */
  out?: string;
  /** Regenerate README.md's bench:loss block from this run (default false). */
  updateReadme?: boolean;
  log: (line: string) => void;
}

/** One iperf3 run against one side. */
export interface LossRun {
  /** What arrived, as iperf3 -J reports it (end.sum_received); 0 for a stalled run. */
  gbps: number;
  /** The run did not end within its bound, or iperf3 reported an error. */
  stalled: boolean;
  /** Why it stalled, or what else went wrong (its counters could not be read); null: nothing. */
  error: string | null;
  /** Wall time of the iperf3 client, s. */
  seconds: number;
  /** iperf3's interval reports that moved no byte (a stall the run lived through). */
  zeroIntervals: number;
  /**
   * The sender's retransmitted data in MSS-sized segments over the run: Linux's TcpRetransSegs,
   * or our bytesRetransmitted / MSS (our counter `retransmits` counts sends, which may be GSO
   * segments of many MSS).
   */
  retransmits: number | null;
  /** The sender's retransmission timeouts over the run (TcpExtTCPTimeouts, or our `timeouts`). */
  timeouts: number | null;
  /** The sender's counters that moved over the run (nstat names for Linux, TcpCounters for ours). */
  sender: Record<string, number>;
  /** Our stack's counters that moved over the run, also when it received (side ours only). */
  stack?: Record<string, number>;
  /** What the peer's loss rules saw and took over the run. */
  peerLoss: PeerLossCounters | null;
  /** Our server was restarted after this run (it stalled). */
  restarted?: boolean;
}

export interface LossSideSummary {
  /** Median over the runs, stalled runs counted as 0. */
  gbps: number | null;
  stalls: number;
  retransmits: (number | null)[];
  timeouts: (number | null)[];
}

export interface LossCell {
  lossPercent: number;
  offloads: boolean;
  direction: LossDirection;
  runs: Record<LossSide, LossRun[]>;
  summary: Record<LossSide, LossSideSummary>;
  /** ours / linux of the medians. */
  ratio: number | null;
  errors: string[];
}

export interface LossResult {
  schema: 1;
  machine: { cpuModel: string; cores: number; kernel: string; platform: string; node: string; date: string };
  options: { runs: number; seconds: number; losses: number[]; offloads: boolean[]; directions: LossDirection[]; timeoutSeconds: number; warmupSeconds: number };
  setup: string;
  /** The issue's bar: ours ≥ this × Linux in every cell, with no stalled run. */
  goalRatio: number;
  cells: LossCell[];
  durationSeconds: number;
  files: { json: string; readme: string | null };
}

export const GOAL_RATIO = 0.8;
const MTU = 1500;
/** MSS with timestamps at MTU 1500 (both servers and iperf3 negotiate them): for our segment count. */
const MSS = MTU - 20 - 20 - 12;
const PORT = 5201;
const WARMUP_SECONDS = 1;
/** How long past -t a run may take before it counts as stalled. */
const GRACE_SECONDS = 20;
const REPO = fileURLToPath(new URL('..', import.meta.url));
const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));

/** Linux's counters worth keeping per run (nstat names; TcpExtTCPTimeouts are its RTOs). */
const NSTAT_KEYS = [
  'TcpRetransSegs', 'TcpExtTCPTimeouts', 'TcpExtTCPLossProbes', 'TcpExtTCPLossProbeRecovery', 'TcpExtTCPFastRetrans',
  'TcpExtTCPSlowStartRetrans', 'TcpExtTCPLostRetransmit', 'TcpExtTCPSpuriousRTOs', 'TcpExtTCPSackRecovery', 'TcpExtTCPLossUndo',
  'TcpExtTCPSACKReorder', 'TcpExtTCPDSACKRecv', 'TcpExtTCPDSACKOfoRecv', 'TcpExtTCPOFOQueue',
];

export function lossSetupText(o: LossResult['options']): string {
  return `one veth lab per cell (MTU ${MTU}); stock iperf3 -c -t ${o.seconds} in the peer namespace on CPU ${PEER_CPU}; `
    + `in the stack namespace on CPU ${APP_CPU}, on the same device: ours = \`wsk run iperf3-server --link afpacket\` `
    + `(the userspace stack on ${STACK_IP}, the CLI's defaults: a receive buffer autotuned from 256 KiB up to 6 MiB, CUBIC), Linux = \`iperf3 -s\` on the kernel `
    + `address ${KERNEL_IP}; the two alternate within each run; our server has a ${o.warmupSeconds} s warm-up run before the loss is set. `
    + 'Loss: the Linux peer\'s nftables on its veth lose the same share of IPv4 packets each way (Lab.setLoss in apps/lab/lab.ts: '
    + 'packets as the devices carry them, so with TSO/GSO one loss can take a burst of segments; the second table gives their mean size). '
    + `A run not over ${GRACE_SECONDS} s after -t is stopped and counted as stalled (0 Gbit/s).`;
}

interface OurServer { proc: JsonLineProcess; statsPath: string }

async function startOurServer(lab: Lab): Promise<OurServer> {
  const proc = new JsonLineProcess({ cpu: APP_CPU }, [
    process.execPath, WSK, 'run', 'iperf3-server', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf,
    '--ip', `${STACK_IP}/24`, '-p', String(PORT), '--json',
  ]);
  try {
    await proc.next((o) => 'listening' in o, 60_000);
  } catch (err) {
    await stopOurServer({ proc, statsPath: '' });
    throw err;
  }
  // taskset execs node, so the pid we hold is the one that names its stats socket.
  return { proc, statsPath: join(statsDirectory(), `wsk-${proc.child.pid}.sock`) };
}

async function stopOurServer(s: OurServer): Promise<void> {
  // SIGTERM unloads the server (a running test is told SERVER_TERMINATE); stop() ends it by pid after a grace.
  if (s.proc.child.exitCode === null && s.proc.child.signalCode === null) s.proc.child.kill('SIGTERM');
  await s.proc.stop(5000);
}

/** The stack's TCP and device counters from the server's stats socket, flattened (tcp.x, device.x). */
async function ourCounters(s: OurServer): Promise<Record<string, number>> {
  const snap = await readStats(s.statsPath);
  const out: Record<string, number> = {};
  for (const [group, values] of [['tcp', snap.tcp], ['device', snap.device]] as const) {
    for (const [k, v] of Object.entries(values ?? {})) if (typeof v === 'number') out[`${group}.${k}`] = v;
  }
  return out;
}

function nstat(lab: Lab, side: 'peer' | 'stack'): Record<string, number> {
  // -a: absolute values, -s: no history file (nstat keeps one per user, shared across namespaces).
  return (JSON.parse(lab.exec(side, ['nstat', '-asz', '--json'])) as { kernel: Record<string, number> }).kernel;
}

const moved = (after: Record<string, number>, before: Record<string, number>, keys = Object.keys(after)): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const k of keys) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
};

function lossDelta(after: PeerLossCounters | null, before: PeerLossCounters | null): PeerLossCounters | null {
  if (!after) return null;
  const d = (a: LossCounts, b: LossCounts | undefined): LossCounts => ({
    packets: a.packets - (b?.packets ?? 0), bytes: a.bytes - (b?.bytes ?? 0),
    lostPackets: a.lostPackets - (b?.lostPackets ?? 0), lostBytes: a.lostBytes - (b?.lostBytes ?? 0),
  });
  return { toStack: d(after.toStack, before?.toStack), fromStack: d(after.fromStack, before?.fromStack) };
}

interface Iperf3Report {
  error?: string;
  intervals?: { sum?: { bytes?: number } }[];
  end?: { sum_received?: { bits_per_second?: number } };
}

/** One `iperf3 -c` from the peer namespace; bounded by -t + GRACE_SECONDS. */
async function iperf3Client(lab: Lab, host: string, reverse: boolean, seconds: number): Promise<{ report: Iperf3Report | null; stallReason: string | null; wall: number }> {
  const t0 = Date.now();
  const r = await runJson({ ns: lab.peerNs, cpu: PEER_CPU }, ['iperf3', '-c', host, '-p', String(PORT), '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])], (seconds + GRACE_SECONDS) * 1000);
  const wall = (Date.now() - t0) / 1000;
  let report: Iperf3Report | null = null;
  try { report = JSON.parse(r.raw) as Iperf3Report; } catch { /* a client ended by pid prints no JSON */ }
  const gbps = report?.end?.sum_received?.bits_per_second;
  const stallReason = r.code === null ? `no end within ${seconds + GRACE_SECONDS} s`
    : report?.error ? `iperf3: ${report.error}`
      : r.code !== 0 || typeof gbps !== 'number' ? `iperf3 exit ${r.code}: ${r.raw.trim().split('\n').slice(-1)[0]?.slice(0, 200) ?? ''}`
        : null;
  return { report, stallReason, wall };
}

async function waitListening(lab: Lab, address: string): Promise<void> {
  const pattern = ` ${address}:${PORT} `;
  for (let i = 0; i < 100; i++) {
    if (lab.exec('stack', ['ss', '-ltnH']).includes(pattern)) return;
    await sleep(50);
  }
  throw new Error(`iperf3 -s on ${address}:${PORT} did not listen within 5 s`);
}

interface CellState { lab: Lab; ours: OurServer | null }

async function measureRun(cell: CellState, side: LossSide, direction: LossDirection, seconds: number): Promise<LossRun> {
  const { lab } = cell;
  const reverse = direction === 'from-server';
  // The sender: the peer's Linux TCP, or the server's (ours, or Linux in the stack namespace).
  const linuxSenderNs: 'peer' | 'stack' | null = !reverse ? 'peer' : side === 'linux' ? 'stack' : null;
  const lossBefore = lab.lossCounters();
  const nstatBefore = linuxSenderNs ? nstat(lab, linuxSenderNs) : {};
  let linuxServer: { stop(): void } | null = null;
  let ourBefore: Record<string, number> = {};
  if (side === 'linux') {
    linuxServer = serve({ ns: lab.stackNs, cpu: APP_CPU }, ['iperf3', '-s', '-1', '-B', KERNEL_IP, '-p', String(PORT)]);
  } else {
    cell.ours ??= await startOurServer(lab);
    ourBefore = await ourCounters(cell.ours);
  }
  try {
    if (linuxServer) await waitListening(lab, KERNEL_IP);
    const { report, stallReason, wall } = await iperf3Client(lab, side === 'ours' ? STACK_IP : KERNEL_IP, reverse, seconds);
    const run: LossRun = {
      gbps: stallReason ? 0 : report!.end!.sum_received!.bits_per_second! / 1e9,
      stalled: stallReason !== null,
      error: stallReason,
      seconds: wall,
      zeroIntervals: (report?.intervals ?? []).filter((i) => i.sum?.bytes === 0).length,
      retransmits: null,
      timeouts: null,
      sender: {},
      peerLoss: lossDelta(lab.lossCounters(), lossBefore),
    };
    if (linuxSenderNs) {
      run.sender = moved(nstat(lab, linuxSenderNs), nstatBefore, NSTAT_KEYS);
      run.retransmits = run.sender.TcpRetransSegs ?? 0;
      run.timeouts = run.sender.TcpExtTCPTimeouts ?? 0;
    }
    if (side === 'ours' && cell.ours) {
      try {
        run.stack = moved(await ourCounters(cell.ours), ourBefore);
        if (reverse) {
          run.sender = Object.fromEntries(Object.entries(run.stack).filter(([k]) => k.startsWith('tcp.')));
          run.retransmits = Math.ceil((run.stack['tcp.bytesRetransmitted'] ?? 0) / MSS);
          run.timeouts = run.stack['tcp.timeouts'] ?? 0;
        }
      } catch (err) {
        run.error = `${run.error ? `${run.error}; ` : ''}counters: ${(err as Error).message}`;
      }
      if (run.stalled) {
        // Its test may still be running (or stuck) with a peer that is gone: a fresh server.
        await stopOurServer(cell.ours);
        cell.ours = null;
        run.restarted = true;
      }
    }
    return run;
  } finally {
    linuxServer?.stop();
  }
}

const stalledRun = (error: string): LossRun => ({
  gbps: 0, stalled: true, error, seconds: 0, zeroIntervals: 0, retransmits: null, timeouts: null, sender: {}, peerLoss: null,
});

async function measureCell(lossPercent: number, offloads: boolean, direction: LossDirection, o: LossResult['options'], log: (l: string) => void): Promise<LossCell> {
  const cell: LossCell = {
    lossPercent, offloads, direction, runs: { ours: [], linux: [] }, errors: [], ratio: null,
    summary: { ours: { gbps: null, stalls: 0, retransmits: [], timeouts: [] }, linux: { gbps: null, stalls: 0, retransmits: [], timeouts: [] } },
  };
  const lab = openLab({ mtu: MTU, offloads });
  const state: CellState = { lab, ours: null };
  try {
    lab.exec('stack', ['ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', lab.stackIf]);
    await sleep(1200); // the veth carrier settles
    state.ours = await startOurServer(lab);
    const warm = await iperf3Client(lab, STACK_IP, direction === 'from-server', o.warmupSeconds);
    if (warm.stallReason) {
      cell.errors.push(`warm-up: ${warm.stallReason}`);
      await stopOurServer(state.ours);
      state.ours = null;
    }
    lab.setLoss({ toStackPercent: lossPercent, fromStackPercent: lossPercent });
    for (let r = 0; r < o.runs; r++) {
      const order: LossSide[] = r % 2 === 0 ? ['ours', 'linux'] : ['linux', 'ours'];
      for (const side of order) {
        let run: LossRun;
        try {
          run = await measureRun(state, side, direction, o.seconds);
        } catch (err) {
          // Recorded with the run (a failed run is a stalled one), not again as a cell error.
          run = stalledRun((err as Error).message.split('\n')[0]!);
          if (side === 'ours' && state.ours) { await stopOurServer(state.ours); state.ours = null; }
        }
        cell.runs[side].push(run);
        log(`  run ${r + 1} ${side.padEnd(5)} ${run.stalled ? `STALLED (${run.error})` : `${run.gbps.toFixed(3)} Gbit/s`}, `
          + `retransmits ${run.retransmits ?? '–'}, RTOs ${run.timeouts ?? '–'}, ${run.seconds.toFixed(1)} s`);
      }
    }
  } catch (err) {
    cell.errors.push((err as Error).message.split('\n')[0]!);
  } finally {
    if (state.ours) await stopOurServer(state.ours);
    closeLab(lab);
  }
  for (const side of ['ours', 'linux'] as const) {
    const runs = cell.runs[side];
    const m = median(runs.map((x) => x.gbps));
    cell.summary[side] = {
      gbps: Number.isFinite(m) ? m : null,
      stalls: runs.filter((x) => x.stalled).length,
      retransmits: runs.map((x) => x.retransmits),
      timeouts: runs.map((x) => x.timeouts),
    };
  }
  const q = ratio(cell.summary.ours.gbps ?? NaN, cell.summary.linux.gbps ?? NaN);
  cell.ratio = Number.isFinite(q) ? q : null;
  return cell;
}

/** Runs the benchmark; see the file comment. */
export async function runLossBench(options: LossBenchOptions): Promise<LossResult> {
  const t0 = Date.now();
  const log = options.log;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('the loss benchmark needs root: it builds veth labs between network namespaces (run as root)');
  }
  const o: LossResult['options'] = {
    runs: Math.max(1, Math.floor(options.runs ?? 3)),
    seconds: Math.max(1, Math.floor(options.seconds ?? 3)),
    losses: options.losses ?? [0.1, 1, 2],
    offloads: options.offloads ?? [true, false],
    directions: options.directions ?? [...LOSS_DIRECTIONS],
    timeoutSeconds: 0,
    warmupSeconds: WARMUP_SECONDS,
  };
  o.timeoutSeconds = o.seconds + GRACE_SECONDS;
  for (const p of o.losses) if (!(p >= 0 && p <= 100)) throw new Error(`invalid loss ${p}: give percentages from 0 to 100, e.g. 0.1,1,2`);
  const jsonPath = resolve(options.out ?? `${REPO}/bench/results/loss.json`);
  const setup = lossSetupText(o);
  log(`loss bench: losses ${o.losses.join(', ')} % each way × offloads ${o.offloads.map((x) => (x ? 'on' : 'off')).join('/')} × ${o.directions.join(', ')}; ${o.runs} run(s) of ${o.seconds} s per side`);
  log(`setup: ${setup}`);
  const cells: LossCell[] = [];
  for (const lossPercent of o.losses) {
    for (const offloads of o.offloads) {
      for (const direction of o.directions) {
        log(`cell: loss ${lossPercent} % each way, offloads ${offloads ? 'on' : 'off'}, ${direction}`);
        const cell = await measureCell(lossPercent, offloads, direction, o, log);
        for (const e of cell.errors) log(`  error: ${e}`);
        cells.push(cell);
      }
    }
  }
  const result: LossResult = {
    schema: 1,
    machine: { cpuModel: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release(), platform: platform(), node: process.version, date: new Date().toISOString() },
    options: o,
    setup,
    goalRatio: GOAL_RATIO,
    cells,
    durationSeconds: Math.round((Date.now() - t0) / 100) / 10,
    files: { json: jsonPath.startsWith(REPO) ? jsonPath.slice(REPO.length).replace(/^\//, '') : jsonPath, readme: options.updateReadme ? 'README.md' : null },
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n');
  if (options.updateReadme) updateLossReadme(`${REPO}/README.md`, result);
  log('');
  log(renderLossTable(result));
  log('');
  log(`wrote ${result.files.json}${options.updateReadme ? ', README.md bench:loss block' : ''}; ${result.durationSeconds} s`);
  return result;
}

function parseArgs(argv: string[]): Omit<LossBenchOptions, 'log'> {
  const o: Omit<LossBenchOptions, 'log'> = {};
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--runs') o.runs = Number(val());
    else if (a === '--seconds') o.seconds = Number(val());
    else if (a === '--loss') o.losses = list(val()).map(Number);
    else if (a === '--offloads') o.offloads = list(val()).map((x) => x !== 'off');
    else if (a === '--directions') {
      const d = list(val());
      const bad = d.filter((x) => !(LOSS_DIRECTIONS as readonly string[]).includes(x));
      if (bad.length) throw new Error(`unknown direction(s) ${bad.join(', ')}; directions: ${LOSS_DIRECTIONS.join(', ')}`);
      o.directions = d as LossDirection[];
    } else if (a === '--out') o.out = val();
    else if (a === '--readme') o.updateReadme = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npx tsx bench/loss.bench.ts [--runs N] [--seconds S] [--loss 0.1,1,2] [--offloads on,off] [--directions to-server,from-server] [--out file.json] [--readme]');
      process.exit(0);
    } else throw new Error(`unknown option ${a} (--help)`);
  }
  return o;
}

runAsScript(import.meta.url, () => runLossBench({ ...parseArgs(process.argv.slice(2)), log: (l) => console.log(l) }));

// One run of one target for the scale benchmark (bench/scale.bench.ts): a fresh lab and a fresh
// app process (bench/suite/targets.ts, the same placement as the suite), a short warm-up, then
// every point of every curve and the idle-memory figure, all driven by the Linux peer
// (bench/peer-net.mjs). Each load is bounded in count and time and ends by itself; the lab is
// deleted by name in a finally, and every child is ended by its pid.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { JsonLineProcess, runJson } from '../suite/procs.ts';
import { sleep } from '../suite/stats.ts';
import {
  appReady, closeLab, makeEnv, peerNode, startApp, type Env, type Ports, type TargetName,
} from '../suite/targets.ts';
import { noRunCurves, type RunCurves } from './curves.ts';
import { skmemBytes, slabObjectBytes, sockstatTcpPages, type MemoryRun } from './memory.ts';

export interface ScaleParams {
  /** Concurrent connections for throughput and request-response. */
  connections: number[];
  /** Connections in flight for connections per second. */
  inFlight: number[];
  /** Seconds of sending per throughput point. */
  seconds: number;
  /** Request-responses per point (all connections together), at most `rrSeconds`. */
  rounds: number;
  rrSeconds: number;
  /** Connections per second: at most `count` connections or `seconds` per point. */
  cps: { count: number; seconds: number };
  /** Idle connections held for the memory figure. */
  idle: number;
}

export interface ScaleRunParams {
  measure: ScaleParams;
  mtu: number;
  offloads: boolean;
  setup: 'veth' | 'loopback';
}

export interface ScaleRun {
  curves: RunCurves;
  memory: MemoryRun | null;
  /** Measurements that gave no figure, with what the peer said. */
  problems: string[];
}

const WARM = { connections: 10, seconds: 0.5, rounds: 2000, rrSeconds: 2, cps: { count: 2000, seconds: 1, concurrency: 32 } };
const num = (x: unknown): number => (typeof x === 'number' ? x : NaN);

/** Measures every point for `t` once; see the file comment. */
export async function measureScaleRun(t: TargetName, p: ScaleRunParams, cpus: number, log: (l: string) => void): Promise<ScaleRun> {
  const env = makeEnv(t, p, cpus);
  const run: ScaleRun = { curves: noRunCurves(), memory: null, problems: [] };
  try {
    if (env.lab) {
      // Thousands of connections per point, each leaving the peer's port in TIME_WAIT: let the
      // peer reuse them (it is the active closer) rather than search a crowded port range.
      env.lab.exec('peer', ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']);
      await sleep(1200); // the veth carrier settles
    }
    const app = startApp(t, env);
    try {
      const ports = await appReady(app);
      const peer = async (args: string[], key: string, timeoutMs: number, record: boolean): Promise<Record<string, number>> => {
        const r = await runJson(env.peer, peerNode(args), timeoutMs);
        if (record && typeof r.figures[key] !== 'number') {
          run.problems.push(`${args[0]} ${args.slice(3).join(' ')}: exit ${r.code}: ${r.raw.trim().split('\n').slice(-2).join(' | ').slice(-300)}`);
        }
        return r.figures;
      };
      const m = p.measure;
      // Warm-up: V8 compiles the hot paths before anything is measured.
      await peer(['many-send', env.host, String(ports.sink), String(WARM.connections), String(WARM.seconds)], 'gbps', 60_000, false);
      await peer(['many-rr', env.host, String(ports.echo), String(WARM.connections), String(WARM.rounds), String(WARM.rrSeconds)], 'p50', 60_000, false);
      await peer(['conns', env.host, String(ports.echo), String(WARM.cps.count), String(WARM.cps.seconds), String(WARM.cps.concurrency)], 'cps', 60_000, false);
      for (const n of m.connections) {
        await settle(app);
        const r = await peer(['many-send', env.host, String(ports.sink), String(n), String(m.seconds)], 'gbps', (m.seconds + 100) * 1000, true);
        run.curves.rx[n] = r.unfinished ? NaN : num(r.gbps);
        if (r.unfinished) run.problems.push(`many-send ${n}: ${r.unfinished} connections still open 30 s after the writers stopped`);
      }
      for (const n of m.connections) {
        await settle(app);
        const rounds = Math.max(m.rounds, 5 * n);
        const r = await peer(['many-rr', env.host, String(ports.echo), String(n), String(rounds), String(m.rrSeconds)], 'p50', (m.rrSeconds + 70) * 1000, true);
        run.curves.rrP50[n] = num(r.p50);
        run.curves.rrP99[n] = num(r.p99);
        run.curves.rrTps[n] = num(r.tps);
      }
      for (const c of m.inFlight) {
        await settle(app);
        const r = await peer(['conns', env.host, String(ports.echo), String(m.cps.count), String(m.cps.seconds), String(c)], 'cps', (m.cps.seconds + 30) * 1000, true);
        run.curves.cps[c] = num(r.cps);
        if (r.conns === 0) run.problems.push(`conns ${c} in flight: none completed in ${m.cps.seconds} s (${r.abandoned} abandoned, ${r.stuck} of them open over 500 ms)`);
      }
      run.memory = await idleMemory(app, env, ports, m.idle, t, run.problems);
      if (!run.memory) run.problems.push(`hold ${m.idle}: no connections held`);
      log(`  ${t}: ${summaryLine(run)}`);
      return run;
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

function summaryLine(run: ScaleRun): string {
  const c = run.curves;
  const f = (o: Record<number, number>, d: number): string => Object.entries(o).map(([x, v]) => `${x}:${Number.isFinite(v) ? v.toFixed(d) : '–'}`).join(' ');
  const mem = run.memory && run.memory.held > 0 ? `${((run.memory.processBytes + run.memory.kernelBufferBytes + run.memory.kernelObjectBytes) / run.memory.held / 1024).toFixed(2)} KiB/conn` : '–';
  return `Gbit/s ${f(c.rx, 2)}; p99 µs ${f(c.rrP99, 0)}; cps ${f(c.cps, 0)}; memory ${mem}`;
}

/** Waits (bounded) until the app holds no connection from an earlier point. */
async function settle(app: JsonLineProcess): Promise<void> {
  for (let i = 0; i < 50 && num((await app.ask('open', (o) => 'open' in o)).open) > 0; i++) await sleep(100);
}

/** `argv` in the app's namespace (this one over loopback); its stdout, '' when it failed. */
function inAppNs(env: Env, argv: string[]): string {
  try {
    return env.lab ? env.lab.exec('stack', argv) : execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  } catch {
    return '';
  }
}

async function idleMemory(app: JsonLineProcess, env: Env, ports: Ports, n: number, t: TargetName, problems: string[]): Promise<MemoryRun | null> {
  type Mem = { heapUsed: number; external: number };
  const sample = async (): Promise<number> => { const m = (await app.ask('mem', (o) => 'mem' in o)).mem as Mem; return m.heapUsed + m.external; };
  await settle(app);
  const before = await sample();
  const pagesBefore = sockstatTcpPages(inAppNs(env, ['cat', '/proc/net/sockstat']));
  const hold = new JsonLineProcess(env.peer, peerNode(['hold', env.host, String(ports.echo), String(n), '60']));
  try {
    const holding = num((await hold.next((o) => 'holding' in o, 60_000)).holding);
    if (!(holding > 0)) return null;
    let open = 0;
    for (let i = 0; i < 100; i++) {
      open = num((await app.ask('open', (o) => 'open' in o)).open);
      if (open >= holding) break;
      await sleep(100);
    }
    const after = await sample();
    const kernel = t === 'node:net' || t === 'wsk-kernel';
    // The app's sockets are the ones on its echo port (the peer's have it as their remote port).
    let kernelBufferBytes = 0;
    let kernelObjectBytes = 0;
    if (kernel) {
      const skmem = skmemBytes(inAppNs(env, ['ss', '-tmHn', 'state', 'established', `( sport = :${ports.echo} )`]));
      kernelBufferBytes = skmem.sockets >= open ? skmem.bytes : NaN;
      if (skmem.sockets < open) problems.push(`ss -tm: ${skmem.sockets} of the app's ${open} sockets listed (iproute2's ss needed)`);
      let slabinfo = '';
      try { slabinfo = readFileSync('/proc/slabinfo', 'utf8'); } catch { /* not root */ }
      const objects = slabObjectBytes(slabinfo);
      kernelObjectBytes = objects.found.length ? objects.bytes * open : NaN;
      if (!objects.found.length) problems.push('/proc/slabinfo unreadable (needs root): no kernel socket objects counted');
    }
    const stats = (await app.ask('stats', (o) => 'stats' in o)).stats as { ring?: { bytes?: number } };
    return {
      held: open,
      processBytes: after - before,
      kernelBufferBytes,
      kernelObjectBytes,
      ringBytes: num(stats.ring?.bytes) || 0,
      sockstatPages: sockstatTcpPages(inAppNs(env, ['cat', '/proc/net/sockstat'])) - pagesBefore,
    };
  } finally {
    await hold.stop();
  }
}

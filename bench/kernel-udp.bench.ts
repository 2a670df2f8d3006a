// WSK datagram sockets on the kernel provider (our recvmmsg/sendmmsg socket) against node:dgram,
// in one run: 64-byte request-response latency (p50/p99) and one-way throughput of 1472-byte
// datagrams, on loopback and over a veth pair between two network namespaces this benchmark
// creates (198.18.4.0/24) and deletes. Both ends of a measurement are the same kind — a node:dgram
// client against a node:dgram echo, a WSK client against a WSK echo — in processes of their own
// (bench/udp-end.ts) pinned to a CPU each (client CPU 0, server CPU 1). Request-response runs the
// two kinds in one client process, in alternating blocks of 500 rounds after a 1.5 s warm-up, so
// that a busy machine weighs on both alike; throughput runs one kind at a time and counts what the
// receiving end got during the sender's window. Ratios are WSK / node:dgram from the same run,
// each figure the median of --runs runs. Needs root for veth; every load is bounded in rounds or
// seconds.
//   npx tsx bench/kernel-udp.bench.ts [--seconds S] [--rounds N] [--runs N] [--paths loopback,veth] [--json file]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JsonLineProcess, runJson, tsNode, type Placement } from './suite/procs.ts';
import { fmt, fmtRatio, median, ratio } from './suite/stats.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('seconds', '1.5'));
const ROUNDS = Number(arg('rounds', '5000'));
const RUNS = Number(arg('runs', '3'));
const PATHS = arg('paths', 'loopback,veth').split(',') as PathKind[];
const JSON_OUT = arg('json', '');
const END = fileURLToPath(new URL('./udp-end.ts', import.meta.url));
const SIZE = 1472;
const PORT = 47001;

type PathKind = 'loopback' | 'veth';
type Kind = 'node' | 'wsk';
const LABEL: Record<Kind, string> = { node: 'node:dgram', wsk: 'WSK (kernel provider)' };

interface Path { kind: PathKind; client: Placement; server: Placement; serverIp: string; close(): void }

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

function loopback(): Path {
  return { kind: 'loopback', client: { cpu: '0' }, server: { cpu: '1' }, serverIp: '127.0.0.1', close: () => {} };
}

/** Two namespaces joined by a veth pair, kernel addresses on both ends; deleted by name on close. */
function veth(): Path {
  const id = process.pid;
  const a = `wskudpA-${id}`, b = `wskudpB-${id}`, va = `vua${id}`, vb = `vub${id}`;
  const close = (): void => {
    for (const ns of [a, b]) { try { sh(['ip', 'netns', 'del', ns]); } catch { /* not there */ } }
  };
  try {
    sh(['ip', 'netns', 'add', a]);
    sh(['ip', 'netns', 'add', b]);
    sh(['ip', 'link', 'add', va, 'type', 'veth', 'peer', 'name', vb]);
    sh(['ip', 'link', 'set', va, 'netns', a]);
    sh(['ip', 'link', 'set', vb, 'netns', b]);
    for (const [ns, dev, ip] of [[a, va, '198.18.4.1/24'], [b, vb, '198.18.4.2/24']] as const) {
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', ip, 'dev', dev]);
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    close();
    throw err;
  }
  return { kind: 'veth', client: { ns: a, cpu: '0' }, server: { ns: b, cpu: '1' }, serverIp: '198.18.4.2', close };
}

interface Figures { p50: number[]; p99: number[]; gbps: number[] }

async function server(path: Path, role: 'echo' | 'sink', kind: Kind, port = PORT): Promise<JsonLineProcess> {
  const p = new JsonLineProcess(path.server, tsNode(END, [role, kind, path.serverIp, String(port)]));
  await p.next((o) => 'listening' in o, 20_000);
  return p;
}

/** Request-response for both kinds in one client, blocks of rounds alternating (udp-end.ts rr). */
async function requestResponse(path: Path, figures: Record<Kind, Figures>): Promise<void> {
  const echoes = [await server(path, 'echo', 'node', PORT), await server(path, 'echo', 'wsk', PORT + 1)];
  const rr = await runJson(path.client, tsNode(END, ['rr', 'both', path.serverIp, String(PORT), String(PORT + 1), String(ROUNDS), '500']), 180_000);
  for (const e of echoes) await e.stop();
  const got = rr.figures as unknown as Record<Kind, { p50: number; p99: number } | undefined>;
  for (const k of ['node', 'wsk'] as const) {
    figures[k].p50.push(got[k]?.p50 ?? NaN);
    figures[k].p99.push(got[k]?.p99 ?? NaN);
  }
}

async function throughput(path: Path, kind: Kind, into: Figures): Promise<void> {
  const sink = await server(path, 'sink', kind);
  const src = await runJson(path.client, tsNode(END, ['source', kind, path.serverIp, String(PORT), String(SECONDS), String(SIZE)]), 60_000);
  // Datagrams still in flight when the sender stops arrive within a few milliseconds.
  await new Promise((r) => setTimeout(r, 100));
  const got = await sink.ask('count', (o) => 'bytes' in o);
  await sink.stop();
  const seconds = src.figures.seconds ?? SECONDS;
  into.gbps.push(((got.bytes as number) * 8) / (seconds * 1e9));
}

async function main(): Promise<void> {
  const results: Record<string, Record<Kind, { p50: number; p99: number; gbps: number }>> = {};
  const runs: Record<string, Record<Kind, Figures>> = {};
  console.log(`UDP on the kernel provider: WSK datagram sockets vs node:dgram — ${ROUNDS} request-responses of 64 B each (the kinds in alternating blocks of 500 in one client), ${SIZE}-byte datagrams for ${SECONDS} s one way (the kinds in alternating order); median of ${RUNS} runs; client on CPU 0, server on CPU 1`);
  console.log('| path | metric | node:dgram | WSK | ratio |');
  console.log('|---|---|---|---|---|');
  for (const kindOfPath of PATHS) {
    const path = kindOfPath === 'veth' ? veth() : loopback();
    const stop = (): void => { path.close(); process.exit(130); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const figures: Record<Kind, Figures> = { node: { p50: [], p99: [], gbps: [] }, wsk: { p50: [], p99: [], gbps: [] } };
      for (let run = 0; run < RUNS; run++) {
        await requestResponse(path, figures);
        const order: Kind[] = run % 2 === 0 ? ['node', 'wsk'] : ['wsk', 'node'];
        for (const k of order) await throughput(path, k, figures[k]);
      }
      const sum = (k: Kind) => ({ p50: median(figures[k].p50), p99: median(figures[k].p99), gbps: median(figures[k].gbps) });
      const n = sum('node'), w = sum('wsk');
      results[kindOfPath] = { node: n, wsk: w };
      runs[kindOfPath] = figures;
      console.log(`| ${kindOfPath} | request-response p50 (µs) | ${fmt(n.p50, 1)} | ${fmt(w.p50, 1)} | ${fmtRatio(ratio(w.p50, n.p50))} |`);
      console.log(`| ${kindOfPath} | request-response p99 (µs) | ${fmt(n.p99, 1)} | ${fmt(w.p99, 1)} | ${fmtRatio(ratio(w.p99, n.p99))} |`);
      console.log(`| ${kindOfPath} | throughput (Gbit/s) | ${fmt(n.gbps, 2)} | ${fmt(w.gbps, 2)} | ${fmtRatio(ratio(w.gbps, n.gbps))} |`);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      path.close();
    }
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, runs: RUNS, size: SIZE, labels: LABEL, results, perRun: runs }, null, 2));
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

// Throughput and latency over a veth pair between two network namespaces (issue 6), all in one
// run: kernel TCP (iperf3) and node:net between the namespaces as baselines, then WSK on the
// userspace stack over each real-device link (AF_PACKET ring, libpcap, raw IP sockets), both
// directions, at MTU 1500 and 9000, with the veth offloads on and off; request-response p50/p99
// against node:net (TCP) and node:dgram (UDP). Ratios are against node:net measured in the same
// run; each figure is the median of --runs runs (order rotated), after a warm-up.
//
// Placement (stated because on a 2-core machine it decides every figure): the side under test —
// this process with the userspace stack, or the baseline's server in the stack namespace — runs
// on CPU 1, the Linux peer programs on CPU 0. Needs root. Traffic stays inside the lab's
// namespaces (198.18.0.0/15); every load is bounded in time or rounds.
//
//   npx tsx bench/veth.bench.ts [--seconds S] [--rounds N] [--runs N] [--links afpacket,pcap,raw]
//                               [--configs 1500/on,1500/off,9000/on,9000/off] [--json file]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labUp, type Lab } from '../apps/lab/lab.ts';
import { rawIpQuietRules } from '../transports/raw-socket/raw-socket-link.ts';
import type { LinkDevice } from '../runtime/net/device.ts';
import { createUserspaceStack } from '../runtime/net/userspace-stack.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { WskSubsystem } from '../runtime/wsk/subsystem.ts';
import { startTrafficServer, startUdpEcho } from './wsk-traffic.ts';
import { openLink as openDeviceLink, type LinkKind } from './suite/links.ts';
import { runJson, serve as serveIn, type JsonOutput } from './suite/procs.ts';
import { median, sleep } from './suite/stats.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('seconds', '2'));
const ROUNDS = Number(arg('rounds', '5000'));
const RUNS = Number(arg('runs', '3'));
const LINKS = arg('links', 'afpacket,pcap,raw').split(',') as LinkKind[];
const CONFIGS = arg('configs', '1500/on,1500/off,9000/on').split(',').map((c) => {
  const [mtu, off] = c.split('/');
  return { mtu: Number(mtu), offloads: off !== 'off' };
});
const JSON_OUT = arg('json', '');
const PEER = fileURLToPath(new URL('./peer-net.mjs', import.meta.url));
const SIDE_CPU = '1';
const PEER_CPU = '0';
const STACK_IP = '198.18.0.2';
const KERNEL_IP = '198.18.0.3';

type Kind = 'iperf3' | 'node' | LinkKind;

interface Figures { rx: number; tx: number; tcpP50: number; tcpP99: number; udpP50: number; udpP99: number }
const NONE: Figures = { rx: NaN, tx: NaN, tcpP50: NaN, tcpP99: NaN, udpP50: NaN, udpP99: NaN };

/** Runs argv in a namespace pinned to a CPU; resolves with the last JSON line it printed. */
const run = (ns: string, cpu: string, argv: string[], timeoutMs = 60_000): Promise<JsonOutput> => runJson({ ns, cpu }, argv, timeoutMs);

/** A server in the stack namespace for the baselines; ended by pid. */
const serve = (lab: Lab, argv: string[]): { stop(): void } => serveIn({ ns: lab.stackNs, cpu: SIDE_CPU }, argv);

async function iperf3(lab: Lab): Promise<Figures> {
  const one = async (reverse: boolean): Promise<number> => {
    const server = serve(lab, ['iperf3', '-s', '-1', '-B', KERNEL_IP]);
    await sleep(300);
    const r = await run(lab.peerNs, PEER_CPU, ['iperf3', '-c', KERNEL_IP, '-t', String(Math.max(1, Math.round(SECONDS))), '-J', ...(reverse ? ['-R'] : [])]);
    server.stop();
    try {
      return JSON.parse(r.raw).end.sum_received.bits_per_second / 1e9;
    } catch {
      return NaN;
    }
  };
  return { ...NONE, rx: await one(false), tx: await one(true) };
}

async function nodeBaseline(lab: Lab): Promise<Figures> {
  const sink = run(lab.stackNs, SIDE_CPU, ['node', PEER, 'sink', '5001', KERNEL_IP]);
  await sleep(300);
  await run(lab.peerNs, PEER_CPU, ['node', PEER, 'send', KERNEL_IP, '5001', String(SECONDS)]);
  const rx = (await sink).figures.gbps ?? NaN;
  const source = run(lab.stackNs, SIDE_CPU, ['node', PEER, 'source', '5002', String(SECONDS), KERNEL_IP]);
  await sleep(300);
  const tx = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'pull', KERNEL_IP, '5002'])).figures.gbps ?? NaN;
  await source;
  const echo = serve(lab, ['node', PEER, 'echo', '5003', KERNEL_IP]);
  await sleep(300);
  const tcp = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'rr', KERNEL_IP, '5003', String(ROUNDS)])).figures;
  echo.stop();
  const uecho = serve(lab, ['node', PEER, 'udp-echo', '5004', KERNEL_IP]);
  await sleep(300);
  const udp = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'udp-rr', KERNEL_IP, '5004', String(ROUNDS)])).figures;
  uecho.stop();
  return { rx, tx, tcpP50: tcp.p50 ?? NaN, tcpP99: tcp.p99 ?? NaN, udpP50: udp.p50 ?? NaN, udpP99: udp.p99 ?? NaN };
}

function openLink(kind: LinkKind, lab: Lab): LinkDevice {
  if (kind === 'raw') lab.quietHostStack(rawIpQuietRules());
  return openDeviceLink(kind, lab.stackIf, lab.stackNs, `${STACK_IP}/24`);
}

/** WSK applications on the userspace stack against the same peer programs. */
async function stackRun(kind: LinkKind, lab: Lab, seconds = SECONDS, rounds = ROUNDS): Promise<Figures> {
  const link = openLink(kind, lab);
  // A receive buffer as large as Linux lets its own sockets grow (tcp_rmem max 6 MiB).
  const stack = createUserspaceStack(link, { address: `${STACK_IP}/24`, tcp: { receiveBuffer: 4 << 20 } });
  const subsystem = new WskSubsystem(createStackProvider(stack), { name: `bench-${kind}`, registerWithNmr: false });
  await subsystem.start();
  try {
    const sink = await startTrafficServer(subsystem, { address: STACK_IP, port: 5001, mode: 'sink' });
    await run(lab.peerNs, PEER_CPU, ['node', PEER, 'send', STACK_IP, '5001', String(seconds)]);
    const rx = (await Promise.race([sink.nextResult(), sleep(10_000).then(() => ({ gbps: NaN }))])).gbps;
    const source = await startTrafficServer(subsystem, { address: STACK_IP, port: 5002, mode: 'source', seconds });
    const tx = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'pull', STACK_IP, '5002'])).figures.gbps ?? NaN;
    const echo = await startTrafficServer(subsystem, { address: STACK_IP, port: 5003, mode: 'echo' });
    const tcp = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'rr', STACK_IP, '5003', String(rounds)])).figures;
    const uecho = await startUdpEcho(subsystem, STACK_IP, 5004);
    const udp = (await run(lab.peerNs, PEER_CPU, ['node', PEER, 'udp-rr', STACK_IP, '5004', String(rounds)])).figures;
    for (const s of [sink, source, echo, uecho]) await s.stop();
    return { rx, tx, tcpP50: tcp.p50 ?? NaN, tcpP99: tcp.p99 ?? NaN, udpP50: udp.p50 ?? NaN, udpP99: udp.p99 ?? NaN };
  } finally {
    await subsystem.stop();
  }
}

async function measure(kind: Kind, mtu: number, offloads: boolean, warm = false): Promise<Figures> {
  const lab = labUp({ mtu, offloads });
  try {
    // The baselines' server side: a kernel address next to the stack's on the same veth end.
    lab.exec('stack', ['ip', 'addr', 'add', `${KERNEL_IP}/24`, 'dev', lab.stackIf]);
    await sleep(1200); // the veth carrier settles
    if (kind === 'iperf3') return await iperf3(lab);
    if (kind === 'node') return await nodeBaseline(lab);
    return await stackRun(kind, lab, warm ? 0.5 : SECONDS, warm ? 20_000 : ROUNDS);
  } finally {
    lab.down();
  }
}

const LABELS: Record<Kind, string> = {
  iperf3: 'kernel TCP (iperf3)', node: 'node:net / node:dgram', afpacket: 'WSK on stack, AF_PACKET', pcap: 'WSK on stack, libpcap', raw: 'WSK on stack, raw IP',
};

async function main(): Promise<void> {
  execFileSync('taskset', ['-cp', SIDE_CPU, String(process.pid)], { stdio: 'ignore' });
  const kinds: Kind[] = ['iperf3', 'node', ...LINKS];
  const results: { mtu: number; offloads: boolean; rows: { kind: Kind; label: string; figures: Figures; runs: Figures[] }[] }[] = [];
  for (const { mtu, offloads } of CONFIGS) {
    // V8 optimises the stack's code only after about a million packets.
    for (const k of LINKS) await measure(k, mtu, offloads, true);
    const runs = new Map<Kind, Figures[]>(kinds.map((k) => [k, []]));
    for (let r = 0; r < RUNS; r++) {
      for (let i = 0; i < kinds.length; i++) {
        const k = kinds[(i + r) % kinds.length]!;
        const f = await measure(k, mtu, offloads);
        runs.get(k)!.push(f);
        process.stderr.write(`mtu ${mtu} offloads ${offloads ? 'on' : 'off'} run ${r + 1} ${k}: ${JSON.stringify(f)}\n`);
      }
    }
    const rows = kinds.map((k) => {
      const rs = runs.get(k)!;
      const m = (key: keyof Figures): number => median(rs.map((f) => f[key]));
      return { kind: k, label: LABELS[k], runs: rs, figures: { rx: m('rx'), tx: m('tx'), tcpP50: m('tcpP50'), tcpP99: m('tcpP99'), udpP50: m('udpP50'), udpP99: m('udpP99') } };
    });
    results.push({ mtu, offloads, rows });
  }
  const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const ratio = (x: number, base: number): string => (Number.isFinite(x) && Number.isFinite(base) && base > 0 ? `${(x / base).toFixed(2)}×` : '–');
  console.log(`veth, ${SECONDS} s per direction, ${ROUNDS} request-responses of 64 B; median of ${RUNS} runs; ratios vs node:net (node:dgram for UDP) in the same run; side under test on CPU ${SIDE_CPU}, peer on CPU ${PEER_CPU}\n`);
  for (const { mtu, offloads, rows } of results) {
    const base = rows.find((r) => r.kind === 'node')!.figures;
    console.log(`MTU ${mtu}, offloads ${offloads ? 'on' : 'off'}\n`);
    console.log('| path | peer→side Gbit/s | ratio | side→peer Gbit/s | ratio | TCP RR p50 µs | ratio | TCP RR p99 µs | UDP RR p50 µs | ratio | UDP RR p99 µs |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const { label, figures: f } of rows) {
      console.log(`| ${label} | ${fmt(f.rx)} | ${ratio(f.rx, base.rx)} | ${fmt(f.tx)} | ${ratio(f.tx, base.tx)} | ${fmt(f.tcpP50, 1)} | ${ratio(f.tcpP50, base.tcpP50)} | ${fmt(f.tcpP99, 1)} | ${fmt(f.udpP50, 1)} | ${ratio(f.udpP50, base.udpP50)} | ${fmt(f.udpP99, 1)} |`);
    }
    console.log('');
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, runs: RUNS, placement: { side: SIDE_CPU, peer: PEER_CPU }, results }, null, 2));
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

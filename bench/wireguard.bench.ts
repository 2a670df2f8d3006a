// Tunnel throughput and latency through our WireGuard peer against wireguard-go ↔ wireguard-go,
// on one veth lab in one run (issue 15's figure). The lab's peer namespace holds the Linux side:
// wireguard-go (198.18.0.1, tunnel 198.19.0.1) with two peers, and the stock iperf3 client and
// ping. The stack namespace holds the two sides under test, both up for the whole run:
//   - baseline: a second wireguard-go (kernel address 198.18.0.2, port 51821, tunnel 198.19.0.2)
//     with the kernel's `iperf3 -s` on its tunnel address;
//   - ours: `wsk run wireguard --serve iperf3-server` (tunnel 198.19.0.3), on the kernel provider
//     (198.18.0.2, port 51822) or with --provider stack on the userspace stack over AF_PACKET
//     (198.18.0.3).
// Each run measures both targets in alternating order: iperf3 -c -t S to the side (it receives)
// and -R (it sends), and a ping train's median RTT (ICMP echo answered by the side's tunnel
// stack: the kernel's, or our inner stack). Figures are medians over --runs; ratios are ours over
// wireguard-go's from the same run. Placement: the sides under test on CPU 1, the Linux peer's
// programs on CPU 0 (wireguard-go is pinned like everything else). Needs root, wireguard-go, wg,
// iperf3. Traffic stays inside the lab's namespaces (198.18.0.0/15); every load is bounded in time
// (iperf3 -t) or count (ping -c), and every process started is ended by pid or with the lab.
//
//   npx tsx bench/wireguard.bench.ts [--seconds S] [--runs N] [--pings N] [--provider kernel|stack] [--json file]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, type Lab } from '../apps/lab/lab.ts';
import { formatKey, generatePrivateKey, publicKeyOf } from '../apps/wireguard/crypto/x25519.ts';
import { placed, runJson } from './suite/procs.ts';
import { fmt, fmtRatio, median, ratio, sleep } from './suite/stats.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('seconds', '3'));
const RUNS = Number(arg('runs', '3'));
const PINGS = Number(arg('pings', '200'));
const PROVIDER = arg('provider', 'kernel') as 'kernel' | 'stack';
const JSON_OUT = arg('json', '');
const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const SIDE_CPU = '1';
const PEER_CPU = '0';
const LINUX_OUTER = '198.18.0.1';
const KERNEL_OUTER = '198.18.0.2';
const STACK_OUTER = '198.18.0.3';
const LINUX_INNER = '198.19.0.1';
const TARGETS = { 'wireguard-go': '198.19.0.2', ours: '198.19.0.3' } as const;
type Target = keyof typeof TARGETS;

interface Figures { toSideMbps: number; fromSideMbps: number; pingP50Us: number }

function sh(lab: Lab, side: 'peer' | 'stack', argv: string[]): string {
  return lab.exec(side, argv);
}

function startPinned(ns: string, cpu: string, argv: string[]): { child: ChildProcess; out: () => string } {
  const full = placed({ ns, cpu }, argv);
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  child.on('error', () => {});
  return { child, out: () => out };
}

async function waitFor(what: () => boolean, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(50);
  }
}

/** wireguard-go on `ifname` in a namespace, configured with `wg setconf` from `conf`, its tunnel address set. */
async function wireguardGo(lab: Lab, side: 'peer' | 'stack', ifname: string, conf: string, inner: string): Promise<void> {
  lab.spawn(side, ['taskset', '-c', side === 'peer' ? PEER_CPU : SIDE_CPU, 'wireguard-go', '-f', ifname]);
  await waitFor(() => existsSync(`/var/run/wireguard/${ifname}.sock`), 10_000, `wireguard-go ${ifname}`);
  sh(lab, side, ['wg', 'setconf', ifname, conf]);
  sh(lab, side, ['ip', 'addr', 'add', `${inner}/24`, 'dev', ifname]);
  sh(lab, side, ['ip', 'link', 'set', ifname, 'up']);
}

async function iperf3(lab: Lab, target: string, reverse: boolean, seconds: number): Promise<number> {
  const r = await runJson({ ns: lab.peerNs, cpu: PEER_CPU }, ['iperf3', '-c', target, '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])], (seconds + 20) * 1000);
  try {
    return (JSON.parse(r.raw) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } catch {
    return NaN;
  }
}

async function pingP50(lab: Lab, target: string): Promise<number> {
  const r = await runJson({ ns: lab.peerNs, cpu: PEER_CPU }, ['ping', '-c', String(PINGS), '-i', '0.005', '-W', '1', target], PINGS * 50 + 10_000);
  const times = [...r.raw.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  return times.length > PINGS / 2 ? median(times) : NaN;
}

async function measure(lab: Lab, target: Target): Promise<Figures> {
  const ip = TARGETS[target];
  return { toSideMbps: await iperf3(lab, ip, false, SECONDS), fromSideMbps: await iperf3(lab, ip, true, SECONDS), pingP50Us: await pingP50(lab, ip) };
}

async function main(): Promise<void> {
  const lab = labUp({ id: `wg${process.pid % 100000}`, peerAddress: `${LINUX_OUTER}/24`, stackAddress: `${STACK_OUTER}/24` });
  const dir = mkdtempSync(join(tmpdir(), 'wsk-wg-bench-'));
  let ours: { child: ChildProcess; out: () => string } | null = null;
  try {
    const keys = { linux: generatePrivateKey(), baseline: generatePrivateKey(), ours: generatePrivateKey() };
    const pub = (k: Uint8Array): string => formatKey(publicKeyOf(k));
    const ourOuter = PROVIDER === 'kernel' ? KERNEL_OUTER : STACK_OUTER;
    sh(lab, 'stack', ['ip', 'addr', 'add', `${KERNEL_OUTER}/24`, 'dev', lab.stackIf]);
    const write = (name: string, lines: string[]): string => { const f = join(dir, name); writeFileSync(f, lines.join('\n') + '\n'); return f; };
    const linuxConf = write('linux.conf', [
      '[Interface]', `PrivateKey = ${formatKey(keys.linux)}`, 'ListenPort = 51820',
      '[Peer]', `PublicKey = ${pub(keys.baseline)}`, `AllowedIPs = ${TARGETS['wireguard-go']}/32`, `Endpoint = ${KERNEL_OUTER}:51821`,
      '[Peer]', `PublicKey = ${pub(keys.ours)}`, `AllowedIPs = ${TARGETS.ours}/32`, `Endpoint = ${ourOuter}:51822`,
    ]);
    const baselineConf = write('baseline.conf', [
      '[Interface]', `PrivateKey = ${formatKey(keys.baseline)}`, 'ListenPort = 51821',
      '[Peer]', `PublicKey = ${pub(keys.linux)}`, `AllowedIPs = ${LINUX_INNER}/32`, `Endpoint = ${LINUX_OUTER}:51820`,
    ]);
    const ourConf = write('ours.conf', [
      '[Interface]', `PrivateKey = ${formatKey(keys.ours)}`, 'ListenPort = 51822', `Address = ${TARGETS.ours}/24`,
      '[Peer]', `PublicKey = ${pub(keys.linux)}`, `AllowedIPs = ${LINUX_INNER}/32`, `Endpoint = ${LINUX_OUTER}:51820`,
    ]);
    await wireguardGo(lab, 'peer', `wgl${lab.id}`.slice(0, 15), linuxConf, LINUX_INNER);
    await wireguardGo(lab, 'stack', `wgb${lab.id}`.slice(0, 15), baselineConf, TARGETS['wireguard-go']);
    lab.spawn('stack', ['taskset', '-c', SIDE_CPU, 'iperf3', '-s', '-B', TARGETS['wireguard-go']]);
    const wskArgs = ['run', 'wireguard', '--conf', ourConf, '--serve', 'iperf3-server'];
    ours = PROVIDER === 'kernel'
      ? startPinned(lab.stackNs, SIDE_CPU, [process.execPath, WSK, ...wskArgs])
      : startPinned('', SIDE_CPU, [process.execPath, WSK, ...wskArgs, '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', `${STACK_OUTER}/24`]);
    const o = ours;
    await waitFor(() => /iperf3-server serving/.test(o.out()) || o.child.exitCode !== null, 30_000, 'wsk run wireguard');
    if (o.child.exitCode !== null) throw new Error(`wsk run wireguard exited: ${o.out()}`);
    // Warm-up (handshakes, V8's optimisation): one short transfer each way to each side, not counted.
    for (const t of Object.keys(TARGETS) as Target[]) { await iperf3(lab, TARGETS[t], false, 1); await iperf3(lab, TARGETS[t], true, 1); }
    const results: Record<Target, Figures[]> = { 'wireguard-go': [], ours: [] };
    for (let run = 0; run < RUNS; run++) {
      const order: Target[] = run % 2 === 0 ? ['wireguard-go', 'ours'] : ['ours', 'wireguard-go'];
      for (const t of order) {
        const f = await measure(lab, t);
        results[t].push(f);
        console.error(`run ${run + 1}/${RUNS} ${t}: to side ${fmt(f.toSideMbps, 0)} Mbit/s, from side ${fmt(f.fromSideMbps, 0)} Mbit/s, ping p50 ${fmt(f.pingP50Us, 0)} µs`);
      }
    }
    const med = (t: Target, k: keyof Figures): number => median(results[t].map((f) => f[k]));
    const rows: [string, keyof Figures, string][] = [
      ['iperf3 into the side (it receives), Mbit/s', 'toSideMbps', 'higher is better'],
      ['iperf3 -R (the side sends), Mbit/s', 'fromSideMbps', 'higher is better'],
      ['ping through the tunnel, p50 µs', 'pingP50Us', 'lower is better'],
    ];
    console.log(`\nWireGuard tunnel on a veth lab: ours (wsk run wireguard, ${PROVIDER === 'kernel' ? 'kernel provider' : 'userspace stack over AF_PACKET'}) vs wireguard-go, against wireguard-go; medians of ${RUNS} alternating runs of ${SECONDS} s\n`);
    console.log('| figure | wireguard-go | ours | ours / wireguard-go |');
    console.log('|---|---|---|---|');
    for (const [label, k, better] of rows) {
      const base = med('wireguard-go', k);
      const value = med('ours', k);
      // A ratio ≥ 1 is ours doing better in both kinds of row.
      const r = k === 'pingP50Us' ? ratio(base, value) : ratio(value, base);
      console.log(`| ${label} | ${fmt(base, 0)} | ${fmt(value, 0)} | ${fmtRatio(r)} (${better}${k === 'pingP50Us' ? '; shown as theirs/ours' : ''}) |`);
    }
    if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ provider: PROVIDER, seconds: SECONDS, runs: RUNS, pings: PINGS, results }, null, 2));
  } finally {
    if (ours && ours.child.exitCode === null) {
      ours.child.kill('SIGTERM');
      await Promise.race([new Promise((r) => ours!.child.once('close', r)), sleep(5000)]);
      if (ours.child.exitCode === null) ours.child.kill('SIGKILL');
    }
    lab.down();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

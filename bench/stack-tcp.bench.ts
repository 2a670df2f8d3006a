// TCP on the userspace stack against node:net, in one run: bulk throughput one way (fixed time)
// and 64-byte request-response latency. The stack runs two engines on the memory link (real time,
// in-process: what the TCP and ring cost, without a kernel), with MTU-sized segments and with
// 64 KiB segmentation offload (as veth carries GSO segments whole); node:net runs over loopback.
// With --ipv6 the stack rows run again over IPv6 (fd00:198:18::1 -> ::2) and print their ratio
// to the IPv4 row of the same run.
//   npx tsx bench/stack-tcp.bench.ts [--seconds S] [--rounds N] [--runs N] [--json file] [--stack-only] [--ipv6]
import * as net from 'node:net';
import { writeFileSync } from 'node:fs';
import { MemoryNetwork } from '../transports/memory/memory-network.ts';
import { createUserspaceStack } from '../runtime/net/userspace-stack.ts';
import type { Tcb, TcpEvents } from '../runtime/net/tcp/tcb.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../runtime/net/ipv6/address-table.ts';
import { A6_IP, B6_IP, simulatedIpv6 } from '../apps/lab/stack-pair.ts';
import { STATUS_SUCCESS } from '../runtime/ntstatus.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 2);
const ROUNDS = arg('rounds', 5000);
const RUNS = arg('runs', 3);
const CHUNK = 64 * 1024;
const jsonIndex = process.argv.indexOf('--json');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

interface Result { gbps: number; p50: number; p99: number }

async function nodeNet(): Promise<Result> {
  let bytes = 0;
  let echo = false;
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => { if (echo) s.write(d); else bytes += d.length; });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise<void>((r) => c.once('connect', r));
  const chunk = Buffer.alloc(CHUNK, 7);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  while (performance.now() < end) {
    if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
  }
  const ms = performance.now() - t0;
  const gbps = (bytes * 8) / (ms * 1e6);
  echo = true;
  const samples: number[] = [];
  const msg = Buffer.alloc(64, 1);
  await new Promise((r) => setTimeout(r, 50));
  c.removeAllListeners('data');
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    const got = new Promise<void>((r) => { let n = 0; const on = (d: Buffer) => { n += d.length; if (n >= 64) { c.off('data', on); r(); } }; c.on('data', on); });
    c.write(msg);
    await got;
    samples.push((performance.now() - t) * 1000);
  }
  c.destroy();
  server.close();
  return { gbps, p50: pct(samples, 0.5), p99: pct(samples, 0.99) };
}

const IPV6 = process.argv.includes('--ipv6');

async function stackTcp(tso = false, ipv6 = false): Promise<Result> {
  const network = tso
    ? new MemoryNetwork({ slotCount: 1024, slotSize: 65536 + 1024, rxRingCapacity: 1024, batchSize: 256 })
    : new MemoryNetwork({ slotCount: 16384, rxRingCapacity: 16384, batchSize: 256 });
  const capabilities = tso ? { tsoMaxBytes: 65536 } : {};
  const a = createUserspaceStack(network.createLink({ capabilities }), { address: '198.18.0.1/24', ...(ipv6 ? simulatedIpv6(A6_IP) : {}) });
  const b = createUserspaceStack(network.createLink({ capabilities }),
    { address: '198.18.0.2/24', tcp: { receiveBuffer: 4 << 20 }, ...(ipv6 ? simulatedIpv6(B6_IP) : {}) });
  const ea = a.tcp!;
  const eb = b.tcp!;
  let bytes = 0;
  let echo = false;
  let server: Tcb | null = null;
  const serverEvents: TcpEvents = {
    onEstablished() {},
    onReadable(t) {
      // Zero copy, as the WSK layer reads: views over ring slots, given back once used.
      for (let c = eb.takeChunk(t); c; c = eb.takeChunk(t)) {
        const h = eb.takenHandle;
        if (echo) eb.send(t, [c.slice()], true, null); else bytes += c.length;
        if (h >= 0) eb.releaseData(h);
      }
      eb.windowUpdate(t);
    },
    onFin() {}, onClosed() {},
  };
  const family = ipv6 ? NetworkFamily.IPV6 : NetworkFamily.IPV4;
  eb.listen(0, 5001, 16, { onConnection: (t) => { server = t; t.events = serverEvents; } }, { family });
  let onClient: ((n: number) => void) | null = null;
  const clientEvents: TcpEvents = {
    onEstablished() {},
    onReadable(t) { for (const c of ea.take(t) ?? []) onClient?.(c.length); },
    onFin() {}, onClosed() {},
  };
  const to = ipv6 ? a.ip.ip6!.table.intern(parseIpv6(B6_IP)!, 0) : b.ip.address;
  const client = ea.connect(0, to, 5001, clientEvents, 64, 0, family) as Tcb;
  while (!server || client.state !== 4) await new Promise((r) => setImmediate(r));
  ea.setNoDelay(client, true);
  const chunk = new Uint8Array(CHUNK).fill(7);
  let outstanding = 0;
  const done = (status: number): void => { if (status === STATUS_SUCCESS) outstanding--; };
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  while (performance.now() < end) {
    // Keep the ideal send backlog posted, as a WSK application would (sends complete on ACK).
    const backlog = Math.max(client.idealSendBacklog, 4 * CHUNK);
    while (outstanding * CHUNK < backlog) { outstanding++; ea.send(client, [chunk], false, done); }
    await new Promise((r) => setImmediate(r));
  }
  const ms = performance.now() - t0;
  const gbps = (bytes * 8) / (ms * 1e6);
  while (outstanding > 0) await new Promise((r) => setImmediate(r));
  echo = true;
  const samples: number[] = [];
  const msg = new Uint8Array(64).fill(1);
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    const got = new Promise<void>((r) => { let n = 0; onClient = (k) => { n += k; if (n >= 64) r(); }; });
    ea.send(client, [msg], true, null);
    await got;
    samples.push((performance.now() - t) * 1000);
  }
  a.close();
  b.close();
  return { gbps, p50: pct(samples, 0.5), p99: pct(samples, 0.99) };
}

async function main(): Promise<void> {
  if (process.argv.includes('--stack-only')) { console.log(await stackTcp(false, IPV6)); return; }
  const kinds: Record<string, () => Promise<Result>> = {
    'node:net (loopback)': nodeNet,
    'stack TCP (memory link)': () => stackTcp(false),
    'stack TCP, 64 KiB TSO': () => stackTcp(true),
    ...(IPV6 ? { 'stack TCP over IPv6': () => stackTcp(false, true), 'stack TCP over IPv6, TSO': () => stackTcp(true, true) } : {}),
  };
  const names = Object.keys(kinds);
  const figures = new Map(names.map((k) => [k, { gbps: [] as number[], p50: [] as number[], p99: [] as number[] }]));
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < names.length; i++) {
      const k = names[(i + run) % names.length]!;
      const r = await kinds[k]();
      const f = figures.get(k)!;
      f.gbps.push(r.gbps); f.p50.push(r.p50); f.p99.push(r.p99);
    }
  }
  const base = figures.get('node:net (loopback)')!;
  const b = { gbps: median(base.gbps), p50: median(base.p50), p99: median(base.p99) };
  console.log(`TCP one way ${SECONDS} s with ${CHUNK / 1024} KiB writes; request-response 64 B × ${ROUNDS}; median of ${RUNS} runs; ratios vs node:net`);
  console.log('kind                      | Gbit/s  ratio | RR p50 µs ratio | RR p99 µs ratio');
  const rows = [];
  for (const k of names) {
    const f = figures.get(k)!;
    const r = { kind: k, gbps: median(f.gbps), p50: median(f.p50), p99: median(f.p99) };
    rows.push(r);
    console.log(`${k.padEnd(25)} | ${r.gbps.toFixed(2).padStart(6)} ${(r.gbps / b.gbps).toFixed(2).padStart(5)}× | ${r.p50.toFixed(1).padStart(8)} ${(r.p50 / b.p50).toFixed(2).padStart(5)}× | ${r.p99.toFixed(1).padStart(8)} ${(r.p99 / b.p99).toFixed(2).padStart(5)}×`);
  }
  if (IPV6) {
    // The bar: IPv6 within 10 % of IPv4 on the same link, in the same run.
    for (const [v6, v4] of [['stack TCP over IPv6', 'stack TCP (memory link)'], ['stack TCP over IPv6, TSO', 'stack TCP, 64 KiB TSO']] as const) {
      const x = rows.find((r) => r.kind === v6)!;
      const y = rows.find((r) => r.kind === v4)!;
      console.log(`${v6} / IPv4: Gbit/s ${(x.gbps / y.gbps).toFixed(2)}×, RR p50 ${(x.p50 / y.p50).toFixed(2)}×, RR p99 ${(x.p99 / y.p99).toFixed(2)}×`);
    }
  }
  if (jsonIndex > 0) writeFileSync(process.argv[jsonIndex + 1]!, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, runs: RUNS, rows }, null, 2));
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

// The userspace stack's datagram path (issue 4), in one run:
// 1. wire parse rate: Ethernet + IPv4 + UDP/TCP/ICMP/ARP checks with checksums, per frame;
// 2. stack receive rate: frames through a stack into a UDP socket (no link);
// 3. UDP throughput, one way, 1472-byte datagrams for a fixed time: node:dgram on loopback (the
//    baseline), the stack API over the memory link, WSK datagram sockets on the kernel provider
//    and WSK datagram sockets on the userspace stack over the memory link — the stack's two over
//    IPv4 and over IPv6 (1452-byte datagrams there: the same 1500-byte packets);
// 4. UDP request-response latency (64 bytes each way, one at a time): p50/p99 for the same six.
// Ratios are against node:dgram measured in the same run, and IPv6 against IPv4 for the stack's
// rows. Bounded in time and count.
//   npx tsx bench/stack-udp.bench.ts [--seconds S] [--rounds N] [--runs N] [--json file] [--only <kind>]
import * as dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { STATUS_SUCCESS, createKernelProvider, type TransportProvider } from '../index.ts';
import { wskUdpEnd } from './wsk-udp-end.ts';
import { MemoryNetwork } from '../transports/memory/memory-network.ts';
import type { NetworkStack } from '../runtime/net/stack.ts';
import { createUserspaceStack, type UserspaceStack } from '../runtime/net/userspace-stack.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { openUdpSocket } from '../runtime/net/udp.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../runtime/net/ipv6/address-table.ts';
import { SlotArena } from '../runtime/ring/slot-arena.ts';
import { ArpPacket, EthernetFrame, EtherType, Icmpv4Packet, Ipv4Packet, TcpSegment, UdpDatagram } from '../runtime/net/wire/index.ts';
import { ARP, DATA, ECHO, hex, UDP } from '../runtime/net/wire/fixtures.ts';
import { emitEthernet } from '../runtime/net/wire/ethernet.ts';
import { emitIpv4, IpProtocol } from '../runtime/net/wire/ipv4.ts';
import { emitUdp } from '../runtime/net/wire/udp.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 1.5);
const ROUNDS = arg('rounds', 5000);
const RUNS = arg('runs', 3);
const SIZE = 1472;
/** The same 1500-byte packet over IPv6 (a 40-byte header instead of 20). */
const SIZE6 = 1452;
const A6 = 'fd00:198:18::1';
const B6 = 'fd00:198:18::2';
const jsonIndex = process.argv.indexOf('--json');
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

// ---- 1. parse rate ----------------------------------------------------------------------------

function parseRate(): number {
  const frames = [UDP, DATA, ECHO, ARP].map(hex);
  const eth = new EthernetFrame();
  const ip = new Ipv4Packet();
  let acc = 0;
  const pass = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const f = frames[i & 3]!;
      if (EthernetFrame.check(f, 0, f.length) !== null) continue;
      eth.reset(f, 0, f.length);
      const po = eth.payloadOffset;
      const pl = f.length - po;
      if (eth.etherType === EtherType.ARP) { acc += ArpPacket.check(f, po, pl) ?? 1; continue; }
      if (Ipv4Packet.check(f, po, pl) !== null) continue;
      ip.reset(f, po, pl);
      const to = ip.payloadOffset;
      const tl = ip.payloadLength;
      const p = ip.protocol;
      const r = p === 17 ? UdpDatagram.check(f, to, tl, ip.src, ip.dst) : p === 6 ? TcpSegment.check(f, to, tl, ip.src, ip.dst) : Icmpv4Packet.check(f, to, tl);
      acc += r ?? 1;
    }
  };
  pass(2_000_000);
  const n = 10_000_000;
  const t0 = performance.now();
  pass(n);
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (acc === 0) throw new Error('parse loop optimised away');
  return ns;
}

// ---- 2. stack receive rate ------------------------------------------------------------------

function stackRxRate(): number {
  const arena = new SlotArena({ slotCount: 256, slotSize: 2048 });
  const clockless = { now: () => 0, createTimer: () => ({ arm() {}, disarm() {}, armed: false, deadline: Infinity }), defer: (fn: () => void) => fn(), virtual: true };
  const mac = 0x020000000002;
  let sent = 0;
  const link = {
    name: 'bench', arena, clock: clockless, mtu: 1500, mac, stats: { rxFrames: 0, rxBytes: 0, rxBatches: 0, rxDrops: 0, txFrames: 0, txBytes: 0, txBatches: 0, txDrops: 0 },
    capabilities: { rxChecksumVerified: false, txChecksumOffload: false, tsoMaxBytes: 0 },
    attach() {}, transmit(s: Int32Array, c: number) { sent += c; for (let i = 0; i < c; i++) arena.release(s[i]!); }, close() {},
  };
  const stack = createUserspaceStack(link, { address: '198.18.0.2/24', gratuitousArp: false, tcp: false }).ip;
  let bytes = 0;
  stack.udp4.open(0, 9000, { onDatagram(_s, _b, _o, length) { bytes += length; } });
  const f = new Uint8Array(14 + 28 + 64);
  emitUdp(f, 34, 40000, 9000, 64, 0xc6120001, 0xc6120002);
  emitIpv4(f, 14, 0xc6120001, 0xc6120002, IpProtocol.UDP, 72);
  emitEthernet(f, 0, mac, 0x020000000001, EtherType.IPV4);
  const batch = new Int32Array(64);
  const run = (frames: number): void => {
    for (let done = 0; done < frames; done += 64) {
      for (let i = 0; i < 64; i++) {
        const s = arena.alloc();
        arena.view(s).set(f, arena.headroom);
        arena.setFrame(s, arena.headroom, f.length);
        batch[i] = s;
      }
      stack.nic.onReceive(batch, 64);
    }
  };
  run(500_000);
  const n = 3_000_000;
  const t0 = performance.now();
  run(n);
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (bytes === 0 || sent !== 0) throw new Error('stack RX bench saw no data');
  stack.close();
  return ns;
}

// ---- endpoints: one interface over node:dgram, the stack API and WSK -------------------------

interface UdpEnd {
  port: number;
  /** Sends as many datagrams as it can this turn (up to `max`); returns how many left. */
  send(bytes: Uint8Array, toPort: number, max: number): number;
  onReceive: ((bytes: number) => void) | null;
  close(): Promise<void>;
}

interface Pair { a: UdpEnd; b: UdpEnd; close(): Promise<void> }

async function dgramPair(): Promise<Pair> {
  const end = async (): Promise<UdpEnd> => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.setRecvBufferSize(4 << 20);
    s.setSendBufferSize(4 << 20);
    const e: UdpEnd = {
      port: s.address().port,
      send: (bytes, toPort, max) => { for (let i = 0; i < max; i++) s.send(bytes, toPort, '127.0.0.1'); return max; },
      onReceive: null,
      close: () => new Promise<void>((r) => s.close(() => r())),
    };
    s.on('message', (m) => e.onReceive?.(m.length));
    return e;
  };
  const a = await end();
  const b = await end();
  return { a, b, close: async () => { await a.close(); await b.close(); } };
}

/** `ipv6`: the stacks get fd00:198:18::1 and ::2 too (no duplicate address detection: usable at once). */
function memoryStacks(ipv6 = false): { network: MemoryNetwork; a: UserspaceStack; b: UserspaceStack } {
  const network = new MemoryNetwork({ slotCount: 8192, rxRingCapacity: 8192, batchSize: 256 });
  const v6 = (address: string) => (ipv6 ? { ipv6: { addresses: [`${address}/64`], dadTransmits: 0, acceptRouterAdvertisements: false } } : {});
  const a = createUserspaceStack(network.createLink(), { address: '198.18.0.1/24', tcp: false, ...v6(A6) });
  const b = createUserspaceStack(network.createLink(), { address: '198.18.0.2/24', tcp: false, ...v6(B6) });
  return { network, a, b };
}

async function stackApiPair(): Promise<Pair> {
  const { a, b } = memoryStacks();
  const end = (stack: NetworkStack, peer: NetworkStack): UdpEnd => {
    const pieces: Uint8Array[] = [new Uint8Array(0)];
    const e: UdpEnd = {
      port: 0,
      send: (bytes, toPort, max) => {
        pieces[0] = bytes;
        let n = 0;
        while (n < max && stack.udp4.send(sock, pieces, 1, peer.address, toPort) === STATUS_SUCCESS) n++;
        return n;
      },
      onReceive: null,
      close: async () => sock.close(),
    };
    const sock = stack.udp4.open(0, 0, { onDatagram(_s, _b, _o, length) { e.onReceive?.(length); } })!;
    e.port = sock.localPort;
    return e;
  };
  const ea = end(a.ip, b.ip);
  const eb = end(b.ip, a.ip);
  // Resolve ARP both ways before measuring.
  ea.send(new Uint8Array(1), eb.port, 1);
  eb.send(new Uint8Array(1), ea.port, 1);
  for (let i = 0; i < 10; i++) await turn();
  return { a: ea, b: eb, close: async () => { a.close(); b.close(); } };
}

/** The stack API over IPv6: UDP sockets on :: sending through udp6 to the other stack's address. */
async function stackApiPair6(): Promise<Pair> {
  const { a, b } = memoryStacks(true);
  const end = (stack: UserspaceStack, peer: string): UdpEnd => {
    const pieces: Uint8Array[] = [new Uint8Array(0)];
    const udp6 = stack.udp6!;
    const dst = udp6.ip6.table.intern(parseIpv6(peer)!, 0);
    const e: UdpEnd = {
      port: 0,
      send: (bytes, toPort, max) => {
        pieces[0] = bytes;
        let n = 0;
        while (n < max && udp6.send(sock, pieces, 1, dst, toPort) === STATUS_SUCCESS) n++;
        return n;
      },
      onReceive: null,
      close: async () => sock.close(),
    };
    const sock = openUdpSocket(stack.ip, NetworkFamily.IPV6, 0, 0, { onDatagram(_s, _b, _o, length) { e.onReceive?.(length); } })!;
    e.port = sock.localPort;
    return e;
  };
  const ea = end(a, B6);
  const eb = end(b, A6);
  // Resolve the neighbours both ways before measuring.
  ea.send(new Uint8Array(1), eb.port, 1);
  eb.send(new Uint8Array(1), ea.port, 1);
  for (let i = 0; i < 10; i++) await turn();
  return { a: ea, b: eb, close: async () => { a.close(); b.close(); } };
}

/** A WSK datagram socket on `provider` (bench/wsk-udp-end.ts), bound to an ephemeral port. */
function wskEnd(provider: TransportProvider, bindIp: string, peerIp: string): Promise<UdpEnd> {
  return wskUdpEnd(provider, bindIp, 0, peerIp);
}

async function wskKernelPair(): Promise<Pair> {
  const a = await wskEnd(createKernelProvider(), '127.0.0.1', '127.0.0.1');
  const b = await wskEnd(createKernelProvider(), '127.0.0.1', '127.0.0.1');
  return { a, b, close: async () => { await a.close(); await b.close(); } };
}

async function wskStackPair(ipv6 = false): Promise<Pair> {
  const { a, b } = memoryStacks(ipv6);
  const ea = await wskEnd(createStackProvider(a), ipv6 ? A6 : '198.18.0.1', ipv6 ? B6 : '198.18.0.2');
  const eb = await wskEnd(createStackProvider(b), ipv6 ? B6 : '198.18.0.2', ipv6 ? A6 : '198.18.0.1');
  ea.send(new Uint8Array(1), eb.port, 1);
  eb.send(new Uint8Array(1), ea.port, 1);
  for (let i = 0; i < 10; i++) await turn();
  return { a: ea, b: eb, close: async () => { await ea.close(); await eb.close(); } };
}

// ---- 3. throughput and 4. request-response -----------------------------------------------------

async function throughput(pair: Pair, size: number): Promise<{ gbps: number; sent: number; received: number }> {
  const payload = new Uint8Array(size);
  let received = 0;
  let bytes = 0;
  pair.b.onReceive = (n) => { received++; bytes += n; };
  let sent = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  while (performance.now() < end) {
    sent += pair.a.send(payload, pair.b.port, 64);
    await turn();
  }
  const ms = performance.now() - t0;
  for (let i = 0; i < 20; i++) await turn(); // late arrivals are not counted in the rate
  pair.b.onReceive = null;
  return { gbps: (bytes * 8) / (ms * 1e6), sent, received };
}

async function requestResponse(pair: Pair): Promise<{ p50: number; p99: number }> {
  const msg = new Uint8Array(64);
  pair.b.onReceive = () => { pair.b.send(msg, pair.a.port, 1); };
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const got = new Promise<void>((res) => { pair.a.onReceive = () => res(); });
    pair.a.send(msg, pair.b.port, 1);
    const timeout = new Promise<void>((res) => setTimeout(res, 200));
    await Promise.race([got, timeout]);
    samples.push((performance.now() - t0) * 1000);
  }
  pair.a.onReceive = null;
  pair.b.onReceive = null;
  return { p50: pct(samples, 0.5), p99: pct(samples, 0.99) };
}

type Kind = 'node:dgram' | 'stack API (memory link)' | 'stack API over IPv6' | 'WSK on kernel provider' | 'WSK on userspace stack' | 'WSK on stack over IPv6';
const makers: Record<Kind, () => Promise<Pair>> = {
  'node:dgram': dgramPair,
  'stack API (memory link)': stackApiPair,
  'stack API over IPv6': stackApiPair6,
  'WSK on kernel provider': wskKernelPair,
  'WSK on userspace stack': () => wskStackPair(),
  'WSK on stack over IPv6': () => wskStackPair(true),
};
/** The IPv6 rows and the IPv4 row each is compared with. */
const IPV4_OF: Partial<Record<Kind, Kind>> = { 'stack API over IPv6': 'stack API (memory link)', 'WSK on stack over IPv6': 'WSK on userspace stack' };

async function main(): Promise<void> {
  const only = process.argv.indexOf('--only');
  if (only > 0) {
    // Profiling aid: one kind, request-response only.
    const pair = await makers[process.argv[only + 1] as Kind]();
    const rr = await requestResponse(pair);
    await pair.close();
    console.log(`${process.argv[only + 1]}: RR p50 ${rr.p50.toFixed(1)} µs, p99 ${rr.p99.toFixed(1)} µs`);
    return;
  }
  const parseNs = parseRate();
  const rxNs = stackRxRate();
  const kinds = Object.keys(makers) as Kind[];
  const figures = new Map<Kind, { gbps: number[]; loss: number[]; p50: number[]; p99: number[] }>(kinds.map((k) => [k, { gbps: [], loss: [], p50: [], p99: [] }]));
  for (let run = 0; run < RUNS; run++) {
    // Rotate the order so that no kind always runs first (2 cores, noisy neighbours).
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[(i + run) % kinds.length]!;
      const pair = await makers[k]();
      const t = await throughput(pair, IPV4_OF[k] ? SIZE6 : SIZE);
      await pair.close();
      // A fresh pair: datagrams the receiver had not read when the throughput window closed
      // (node:dgram drops and queues under that load) would each draw an early "reply" and make
      // round trips look shorter than they are.
      const rrPair = await makers[k]();
      const rr = await requestResponse(rrPair);
      await rrPair.close();
      const f = figures.get(k)!;
      f.gbps.push(t.gbps);
      f.loss.push(t.sent > 0 ? 1 - t.received / t.sent : 0);
      f.p50.push(rr.p50);
      f.p99.push(rr.p99);
    }
  }
  const base = figures.get('node:dgram')!;
  const b = { gbps: median(base.gbps), p50: median(base.p50), p99: median(base.p99) };
  console.log(`wire parse (Ethernet+IPv4+transport checks with checksums): ${parseNs.toFixed(1)} ns/frame = ${(1000 / parseNs).toFixed(1)} M frames/s`);
  console.log(`stack receive (64-byte UDP into a socket, batches of 64): ${rxNs.toFixed(1)} ns/frame = ${(1000 / rxNs).toFixed(2)} M frames/s`);
  console.log(`UDP, ${SIZE}-byte datagrams for ${SECONDS} s; request-response 64 B × ${ROUNDS}; median of ${RUNS} runs; ratios vs node:dgram (throughput: higher is better, latency: lower is better)`);
  console.log('kind                        | Gbit/s  ratio | loss   | RR p50 µs ratio | RR p99 µs ratio');
  const rows: Record<string, unknown>[] = [];
  for (const k of kinds) {
    const f = figures.get(k)!;
    const r = { kind: k, gbps: median(f.gbps), loss: median(f.loss), p50: median(f.p50), p99: median(f.p99) };
    rows.push({ ...r, gbpsRatio: r.gbps / b.gbps, p50Ratio: r.p50 / b.p50, p99Ratio: r.p99 / b.p99 });
    console.log(`${k.padEnd(27)} | ${r.gbps.toFixed(2).padStart(6)} ${(r.gbps / b.gbps).toFixed(2).padStart(5)}× | ${(r.loss * 100).toFixed(1).padStart(5)}% | ${r.p50.toFixed(1).padStart(8)} ${(r.p50 / b.p50).toFixed(2).padStart(5)}× | ${r.p99.toFixed(1).padStart(8)} ${(r.p99 / b.p99).toFixed(2).padStart(5)}×`);
  }
  // Packets per second is what the stack's cost is: IPv6 rows carry 20 bytes less per packet.
  for (const [v6, v4] of Object.entries(IPV4_OF) as [Kind, Kind][]) {
    const f6 = figures.get(v6)!, f4 = figures.get(v4)!;
    const pps = (f: { gbps: number[] }, size: number): number => (median(f.gbps) * 1e9) / 8 / size;
    console.log(`${v6} / IPv4: packets/s ${(pps(f6, SIZE6) / pps(f4, SIZE)).toFixed(2)}×, RR p50 ${(median(f6.p50) / median(f4.p50)).toFixed(2)}×, p99 ${(median(f6.p99) / median(f4.p99)).toFixed(2)}×`);
  }
  if (jsonIndex > 0) {
    writeFileSync(process.argv[jsonIndex + 1]!, JSON.stringify({ parseNsPerFrame: parseNs, stackRxNsPerFrame: rxNs, seconds: SECONDS, rounds: ROUNDS, runs: RUNS, rows }, null, 2));
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

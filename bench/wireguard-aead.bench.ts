// What the WireGuard data path costs, and how much of it is node:crypto's per-call overhead (issue
// 15 says to measure before writing a native AEAD path). In one run, alternating, medians of --runs:
//  1. ChaCha20-Poly1305 seal, one call per packet (64, 512, 1420 bytes), through node:crypto and
//     through the native addon over Node's OpenSSL (transports/native/aead.cc), against the same
//     bytes sealed in place by the native addon in one 256 KiB call (the baseline: OpenSSL's own
//     per-byte cost; node:crypto's one big call also copies into a new 256 KiB Buffer).
//     The ratio is how many times the per-packet call costs what its bytes do.
//  2. The whole data path of two devices back to back (seal, send, open, replay check, AllowedIPs,
//     deliver) with node:crypto and with the native AEAD, against a copying stand-in AEAD (the
//     protocol core alone).
// Bounded: a fixed packet count per measurement.
//   npx tsx bench/wireguard-aead.bench.ts [--runs N] [--packets N]
import { VirtualClock } from '../runtime/net/clock.ts';
import { nodeChaChaPoly, writeCounterNonce, type ChaChaPoly } from '../apps/wireguard/crypto/aead.ts';
import { nativeChaChaPoly } from '../apps/wireguard/crypto/native-aead.ts';
import { publicKeyOf } from '../apps/wireguard/crypto/x25519.ts';
import { WireGuardDevice } from '../apps/wireguard/device.ts';
import { Endpoint } from '../apps/wireguard/endpoint.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('runs', 5);
const PACKETS = arg('packets', 20_000);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(12);

const native = nativeChaChaPoly();

function perPacketSeal(aead: ChaChaPoly, size: number): number {
  const buf = new Uint8Array(size + 16);
  const t0 = performance.now();
  for (let i = 0; i < PACKETS; i++) { writeCounterNonce(nonce, i); aead.seal(key, nonce, null, buf, 0, size, buf, 0); }
  return ((performance.now() - t0) * 1e6) / PACKETS;
}

function bulkSealPerPacket(size: number): number {
  const bulk = 256 * 1024;
  const buf = new Uint8Array(bulk + 16);
  const calls = Math.max(1, Math.round((PACKETS * size) / bulk));
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) { writeCounterNonce(nonce, i); native.seal(key, nonce, null, buf, 0, bulk, buf, 0); }
  return ((performance.now() - t0) * 1e6) / ((calls * bulk) / size);
}

const copyingAead: ChaChaPoly = {
  seal(_k, _n, _ad, _src, _so, len, dst, d) { dst.fill(0, d + len, d + len + 16); },
  open(_k, _n, _ad, _src, _so, len) { return len >= 16; },
};

function dataPath(aead: ChaChaPoly, size: number): () => number {
  const clock = new VirtualClock();
  const kA = new Uint8Array(32).fill(1); const kB = new Uint8Array(32).fill(2);
  const epA = Endpoint.parse('198.18.0.1:51820')!; const epB = Endpoint.parse('198.18.0.2:51820')!;
  const queue: [Uint8Array, Endpoint, 'a' | 'b'][] = [];
  let direct = false;
  let delivered = 0;
  const b = new WireGuardDevice({ privateKey: kB, clock, aead, sendDatagram: (_t, by, o, l) => { queue.push([by.slice(o, o + l), epB, 'a']); }, deliverPacket: () => { delivered++; } });
  const a = new WireGuardDevice({
    privateKey: kA, clock, aead, deliverPacket: () => {},
    sendDatagram: (_t, by, o, l) => { if (direct) b.receiveDatagram(by, o, l, epA); else queue.push([by.slice(o, o + l), epA, 'b']); },
  });
  a.addPeer({ publicKey: publicKeyOf(kB), endpoint: epB, allowedIps: ['198.19.0.2/32'] });
  b.addPeer({ publicKey: publicKeyOf(kA), allowedIps: ['198.19.0.1/32'] });
  const p = new Uint8Array(size);
  p[0] = 0x45; p[2] = size >>> 8; p[3] = size & 0xff;
  p.set([198, 19, 0, 1, 198, 19, 0, 2], 12);
  a.sendPacket(p, 0, p.length);
  while (queue.length) { const [by, f, t] = queue.shift()!; (t === 'a' ? a : b).receiveDatagram(by, 0, by.length, f); }
  direct = true;
  return () => {
    const before = delivered;
    const t0 = performance.now();
    for (let i = 0; i < PACKETS; i++) a.sendPacket(p, 0, p.length);
    const ns = ((performance.now() - t0) * 1e6) / PACKETS;
    if (delivered - before !== PACKETS) throw new Error(`delivered ${delivered - before} of ${PACKETS}`);
    return ns;
  };
}

const sizes = [64, 512, 1420];
const rows: string[] = [];
for (const size of sizes) {
  perPacketSeal(nodeChaChaPoly, size); perPacketSeal(native, size); bulkSealPerPacket(size); // warm up
  const viaNode: number[] = []; const viaNative: number[] = []; const bulk: number[] = [];
  for (let r = 0; r < RUNS; r++) { viaNode.push(perPacketSeal(nodeChaChaPoly, size)); viaNative.push(perPacketSeal(native, size)); bulk.push(bulkSealPerPacket(size)); }
  const b = median(bulk);
  rows.push(`| seal ${size} B, node:crypto | ${median(viaNode).toFixed(0)} ns | ${b.toFixed(0)} ns (bulk) | ${(median(viaNode) / b).toFixed(2)}x |`);
  rows.push(`| seal ${size} B, native | ${median(viaNative).toFixed(0)} ns | ${b.toFixed(0)} ns (bulk) | ${(median(viaNative) / b).toFixed(2)}x |`);
}
for (const size of sizes) {
  const withNode = dataPath(nodeChaChaPoly, size);
  const withNative = dataPath(native, size);
  const core = dataPath(copyingAead, size);
  withNode(); withNative(); core();
  const n: number[] = []; const v: number[] = []; const c: number[] = [];
  for (let r = 0; r < RUNS; r++) { n.push(withNode()); v.push(withNative()); c.push(core()); }
  rows.push(`| data path A→B ${size} B, node:crypto | ${median(n).toFixed(0)} ns | ${median(c).toFixed(0)} ns (core) | ${(median(n) / median(c)).toFixed(2)}x |`);
  rows.push(`| data path A→B ${size} B, native | ${median(v).toFixed(0)} ns | ${median(c).toFixed(0)} ns (core) | ${(median(v) / median(c)).toFixed(2)}x |`);
}
console.log(`WireGuard AEAD cost, medians of ${RUNS} alternating runs of ${PACKETS} packets`);
console.log('| measurement | per packet | baseline per packet | ratio |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);

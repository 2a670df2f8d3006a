// The transport data path allocates nothing per packet (design: steady state allocates nothing per
// packet): two devices wired back to back, packets sealed by one and opened, replay-checked,
// routed and delivered by the other. Measured three ways: with a stand-in AEAD that only copies
// (the protocol core alone), with the native AEAD over Node's OpenSSL (the default data path), and
// with node:crypto's ChaCha20-Poly1305, which allocates per call by its API (a Cipher object and
// output Buffers): that one is measured and reported, not bounded.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { measureAllocation } from '../../test/helpers/allocation.ts';
import { ipv4Packet, seededBytes } from '../../test/helpers/wg-sim-network.ts';
import { nodeChaChaPoly, type ChaChaPoly } from './crypto/aead.ts';
import { nativeChaChaPoly } from './crypto/native-aead.ts';
import { publicKeyOf } from './crypto/x25519.ts';
import { WireGuardDevice } from './device.ts';
import { Endpoint } from './endpoint.ts';

/** Copies plaintext through and writes a zero tag; opens anything. Allocation-free. */
const copyingAead: ChaChaPoly = {
  seal(_k, _n, _ad, src, so, len, dst, d) { if (src !== dst || so !== d) dst.copyWithin(d, so, so + len); dst.fill(0, d + len, d + len + 16); },
  open(_k, _n, _ad, src, so, len, dst, d) { if (len < 16) return false; if (src !== dst || so !== d) dst.copyWithin(d, so, so + len - 16); return true; },
};

function backToBack(aead: ChaChaPoly) {
  const clock = new VirtualClock();
  const keyA = new Uint8Array(32); seededBytes(1)(keyA);
  const keyB = new Uint8Array(32); seededBytes(2)(keyB);
  const epA = Endpoint.parse('198.18.0.1:51820')!;
  const epB = Endpoint.parse('198.18.0.2:51820')!;
  let delivered = 0;
  let checksum = 0;
  const queue: { bytes: Uint8Array; from: Endpoint; to: 'a' | 'b' }[] = [];
  let direct = false;
  const b: WireGuardDevice = new WireGuardDevice({
    privateKey: keyB, clock, aead, random: seededBytes(4),
    sendDatagram: (_to, bytes, off, len) => { queue.push({ bytes: bytes.slice(off, off + len), from: epB, to: 'a' }); },
    deliverPacket: (_p, bytes, off, len) => { delivered++; checksum = (checksum + bytes[off + len - 1]!) | 0; },
  });
  const a: WireGuardDevice = new WireGuardDevice({
    privateKey: keyA, clock, aead, random: seededBytes(3),
    // In the measured loop the datagram goes straight into B (another device: no re-entry).
    sendDatagram: (_to, bytes, off, len) => {
      if (direct) b.receiveDatagram(bytes, off, len, epA);
      else queue.push({ bytes: bytes.slice(off, off + len), from: epA, to: 'b' });
    },
    deliverPacket: () => {},
  });
  a.addPeer({ publicKey: publicKeyOf(keyB), endpoint: epB, allowedIps: ['198.19.0.2/32'] });
  b.addPeer({ publicKey: publicKeyOf(keyA), allowedIps: ['198.19.0.1/32'] });
  const pump = (): void => {
    while (queue.length > 0) {
      const d = queue.shift()!;
      (d.to === 'a' ? a : b).receiveDatagram(d.bytes, 0, d.bytes.length, d.from);
    }
  };
  const packet = ipv4Packet('198.19.0.1', '198.19.0.2', 1400 - 20, 7);
  a.sendPacket(packet, 0, packet.length); // handshake, staged packet, confirmation
  pump();
  direct = true;
  return { a, b, packet, delivered: () => delivered, checksum: () => checksum };
}

describe('WireGuard data path allocation', () => {
  it('1,000,000 packets sealed, sent, opened, replay-checked and delivered allocate nothing per packet in the protocol core', async () => {
    const { a, b, packet, delivered } = backToBack(copyingAead);
    expect(delivered()).toBe(1);
    const run = (n: number): void => { for (let i = 0; i < n; i++) a.sendPacket(packet, 0, packet.length); };
    const m = await measureAllocation(1_000_000, run, 300_000); // 1.5 million warm-up packets: V8 is still optimising after 500,000
    expect(delivered()).toBe(1 + 5 * 300_000 + 1_000_000);
    expect(b.stats.rxReplayed + b.stats.rxBadAuth + b.stats.rxNotAllowed).toBe(0);
    // Nothing per packet: heap growth well under a byte per packet and no young-generation GC.
    console.log(`wireguard core data path: ${m.perIteration.toFixed(3)} B/packet, ${m.gcs} scavenges, ${m.ns.toFixed(0)} ns/packet (copying AEAD)`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
    a.close(); b.close();
  }, 60_000);

  it('1,000,000 packets through the native ChaCha20-Poly1305 (the default) allocate nothing per packet', async () => {
    const { a, b, packet, delivered } = backToBack(nativeChaChaPoly());
    const run = (n: number): void => { for (let i = 0; i < n; i++) a.sendPacket(packet, 0, packet.length); };
    const m = await measureAllocation(1_000_000, run, 300_000);
    expect(delivered()).toBe(1 + 5 * 300_000 + 1_000_000);
    expect(b.stats.rxBadAuth + b.stats.rxReplayed).toBe(0);
    console.log(`wireguard data path, native AEAD: ${m.perIteration.toFixed(3)} B/packet, ${m.gcs} scavenges, ${m.ns.toFixed(0)} ns/packet (seal + open, 1400-byte packets)`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
    a.close(); b.close();
  }, 120_000);

  it('with node:crypto ChaCha20-Poly1305 the allocation per packet is node:crypto\'s own (measured and reported)', async () => {
    const { a, b, packet, delivered } = backToBack(nodeChaChaPoly);
    const run = (n: number): void => { for (let i = 0; i < n; i++) a.sendPacket(packet, 0, packet.length); };
    const m = await measureAllocation(100_000, run, 20_000);
    expect(delivered()).toBe(1 + 5 * 20_000 + 100_000);
    expect(b.stats.rxBadAuth).toBe(0);
    console.log(`wireguard data path with node:crypto AEAD: ${m.gcs} scavenges over 100,000 packets, ${m.ns.toFixed(0)} ns/packet (seal + open, 1400-byte packets)`);
    a.close(); b.close();
  }, 60_000);
});

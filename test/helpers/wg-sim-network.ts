// A seeded in-memory UDP "network" for WireGuard devices in virtual time: each datagram is copied,
// then dropped with the loss probability or delivered after the delay by a VirtualClock timer.
// Hooks let a test watch, hold back, replay or tamper with datagrams. Same seed, same run.
import type { VirtualClock } from '../../runtime/net/clock.ts';
import { Endpoint } from '../../apps/wireguard/endpoint.ts';
import { WireGuardDevice, type WireGuardDeviceOptions } from '../../apps/wireguard/device.ts';
import type { Peer } from '../../apps/wireguard/peer.ts';

/** mulberry32: a small seeded 32-bit generator (not cryptographic; for repeatable tests only). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededBytes(seed: number): (out: Uint8Array) => void {
  const r = seededRandom(seed);
  return (out) => { for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256); };
}

export interface SimDatagram {
  from: Endpoint;
  to: Endpoint;
  bytes: Uint8Array;
}

export interface SimNode {
  device: WireGuardDevice;
  /** The node's outer address; change it to make the node roam. */
  address: Endpoint;
  /** Inner packets delivered to this node, copied. */
  delivered: { peer: Peer; packet: Uint8Array }[];
}

export class SimNetwork {
  readonly nodes: SimNode[] = [];
  lossRate = 0;
  delayMs = 10;
  /** Every datagram put on the network (before loss), copied. */
  readonly log: SimDatagram[] = [];
  /** Return false to drop a datagram (after it is logged); may modify its bytes. */
  filter: ((d: SimDatagram) => boolean) | null = null;
  dropped = 0;
  private readonly rand: () => number;

  constructor(readonly clock: VirtualClock, seed: number) {
    this.rand = seededRandom(seed);
  }

  addNode(address: string, options: Omit<WireGuardDeviceOptions, 'clock' | 'sendDatagram' | 'deliverPacket'>): SimNode {
    const node: SimNode = { device: null as unknown as WireGuardDevice, address: Endpoint.parse(address)!, delivered: [] };
    node.device = new WireGuardDevice({
      ...options,
      clock: this.clock,
      sendDatagram: (to, bytes, offset, length) => this.send(node.address, to, bytes.slice(offset, offset + length)),
      deliverPacket: (peer, bytes, offset, length) => { node.delivered.push({ peer, packet: bytes.slice(offset, offset + length) }); },
    });
    this.nodes.push(node);
    return node;
  }

  /** Puts a datagram on the network as if `from` sent it (also for replays and forgeries). */
  send(from: Endpoint, to: Endpoint, bytes: Uint8Array): void {
    const d: SimDatagram = { from: new Endpoint().copyFrom(from), to: new Endpoint().copyFrom(to), bytes };
    this.log.push(d);
    if (this.filter && !this.filter(d)) { this.dropped++; return; }
    if (this.lossRate > 0 && this.rand() < this.lossRate) { this.dropped++; return; }
    const t = this.clock.createTimer(() => this.deliver(d));
    t.arm(this.clock.now() + this.delayMs);
  }

  private deliver(d: SimDatagram): void {
    const node = this.nodes.find((n) => n.address.equals(d.to));
    if (!node) { this.dropped++; return; }
    const copy = d.bytes.slice();
    node.device.receiveDatagram(copy, 0, copy.length, d.from);
  }
}

/** A minimal IPv4 packet (header checksum left zero: the WireGuard core does not check it). */
export function ipv4Packet(src: string, dst: string, payloadLength: number, fill = 0): Uint8Array {
  const p = new Uint8Array(20 + payloadLength).fill(fill, 20);
  p[0] = 0x45;
  p[2] = p.length >>> 8; p[3] = p.length & 0xff;
  p[8] = 64; p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  return p;
}

/** A minimal IPv6 packet (next header UDP, no checksum: the WireGuard core does not check it). */
export function ipv6Packet(src: Uint8Array, dst: Uint8Array, payloadLength: number, fill = 0): Uint8Array {
  const p = new Uint8Array(40 + payloadLength).fill(fill, 40);
  p[0] = 0x60;
  p[4] = payloadLength >>> 8; p[5] = payloadLength & 0xff;
  p[6] = 17; p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  return p;
}

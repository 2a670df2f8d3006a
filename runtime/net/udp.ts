// UDP endpoints of the userspace stack (RFC 768; RFC 1122 §4.1). Demultiplexing never scans:
// a Map from local port to a PortBinding, which holds connected sockets in a Map keyed by
// (remote address, remote port) and the unconnected ones in bind order. A unicast datagram goes
// to the connected socket for its 4-tuple, else the most recent unconnected socket whose local
// address matches (specific before wildcard); broadcasts go to every unconnected socket on the
// port that matches.
import type { Ipv4Stack } from './stack.ts';

export const UDP_MSG_BCAST = 0x0400;

/** IPv4 addresses here are signed 32-bit integers (`| 0`), as everywhere in the stack. */
export interface UdpReceiver {
  /**
   * A datagram for `socket`: payload bytes[offset .. offset+length) (a view over a ring slot or
   * a reassembled JS buffer). The storage belongs to the stack once this returns, unless the
   * receiver called socket.hold() during the call. `flags` carries UDP_MSG_BCAST.
   */
  onDatagram(socket: UdpSocket, bytes: Uint8Array, offset: number, length: number, srcIp: number, srcPort: number, flags: number): void;
  /** An ICMP error about a datagram this socket sent (RFC 1122 §4.1.3.3: pass it up). */
  onIcmpError?(socket: UdpSocket, type: number, code: number, remoteIp: number, remotePort: number): void;
}

export class UdpSocket {
  remoteIp = 0;
  remotePort = 0;
  broadcast = false;
  /** The IPv4 header's TTL and TOS byte (control info may override the TOS per datagram), and DF. */
  ttl = 64;
  tos = 0;
  dontFragment = false;
  /** IP_MULTICAST_TTL and IP_MULTICAST_LOOP (RFC 1112 §6.1 defaults: 1, and loop on). */
  multicastTtl = 1;
  multicastLoop = true;
  /** The groups this socket joined (stack.groups counts the interface's memberships). */
  readonly groups: number[] = [];
  closed = false;
  // Counters.
  datagramsIn = 0;
  bytesIn = 0;
  datagramsOut = 0;
  bytesOut = 0;
  icmpErrors = 0;
  lastIcmpType = -1;
  lastIcmpCode = -1;

  constructor(readonly stack: Ipv4Stack, readonly localIp: number, readonly localPort: number, public receiver: UdpReceiver) {}

  get connected(): boolean { return this.remotePort !== 0; }

  /** Inside onDatagram only: keeps the datagram's storage; returns a handle of stack.held, or -1 (table full). */
  hold(): number { return this.stack.holdCurrent(); }

  /**
   * Inside onDatagram only: the offset of the datagram's IPv4 header in the `bytes` onDatagram
   * got — its TOS (+1), TTL (+8) and destination address (+16), for control info.
   */
  receivedHeader(): number { return this.stack.currentIpHeader(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let i = 0; i < this.groups.length; i++) this.stack.groups.leave(this.groups[i]!);
    this.groups.length = 0;
    this.stack.udp.unbind(this);
  }
}

class PortBinding {
  readonly unconnected: UdpSocket[] = [];
  /** Remote address → remote port → socket. Two levels keep every key a small integer (no boxing). */
  readonly connected = new Map<number, Map<number, UdpSocket>>();
  connectedCount = 0;
}

export class UdpTable {
  private readonly ports = new Map<number, PortBinding>();
  private nextEphemeral = 49152;

  // Counters.
  noPort = 0;

  has(port: number): boolean { return this.ports.has(port); }

  /** A free port in the IANA dynamic range (RFC 6335), or 0 when all are taken. */
  ephemeralPort(): number {
    for (let i = 0; i < 16384; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === 65535 ? 49152 : p + 1;
      if (!this.ports.has(p)) return p;
    }
    return 0;
  }

  bind(s: UdpSocket): void {
    let b = this.ports.get(s.localPort);
    if (!b) { b = new PortBinding(); this.ports.set(s.localPort, b); }
    b.unconnected.push(s);
  }

  /** Fixes the remote end (connected UDP): the socket moves to the 4-tuple map. */
  connect(s: UdpSocket, remoteIp: number, remotePort: number): boolean {
    const b = this.ports.get(s.localPort);
    if (!b) return false;
    remoteIp |= 0;
    const taken = b.connected.get(remoteIp)?.get(remotePort);
    if (taken === s) return true;
    if (taken) return false;
    // Fix: reconnecting an already connected socket must drop its old 4-tuple entry; before, the
    // old peer kept reaching it, connectedCount drifted and close() left a stale binding behind.
    if (s.connected) {
      const old = b.connected.get(s.remoteIp);
      if (old?.get(s.remotePort) === s) {
        old.delete(s.remotePort);
        b.connectedCount--;
        if (old.size === 0) b.connected.delete(s.remoteIp);
      }
    }
    let byPort = b.connected.get(remoteIp);
    if (!byPort) { byPort = new Map(); b.connected.set(remoteIp, byPort); }
    const i = b.unconnected.indexOf(s);
    if (i >= 0) b.unconnected.splice(i, 1);
    s.remoteIp = remoteIp;
    s.remotePort = remotePort;
    byPort.set(remotePort, s);
    b.connectedCount++;
    return true;
  }

  unbind(s: UdpSocket): void {
    const b = this.ports.get(s.localPort);
    if (!b) return;
    if (s.connected) {
      const byPort = b.connected.get(s.remoteIp);
      if (byPort?.get(s.remotePort) === s) {
        byPort.delete(s.remotePort);
        b.connectedCount--;
        if (byPort.size === 0) b.connected.delete(s.remoteIp);
      }
    } else {
      const i = b.unconnected.indexOf(s);
      if (i >= 0) b.unconnected.splice(i, 1);
    }
    if (b.unconnected.length === 0 && b.connectedCount === 0) this.ports.delete(s.localPort);
  }

  /** The socket a unicast datagram belongs to, or null. */
  lookup(localIp: number, localPort: number, remoteIp: number, remotePort: number): UdpSocket | null {
    const b = this.ports.get(localPort);
    if (!b) return null;
    if (b.connectedCount > 0) {
      const s = b.connected.get(remoteIp)?.get(remotePort);
      if (s && (s.localIp === 0 || s.localIp === localIp)) return s;
    }
    let wildcard: UdpSocket | null = null;
    const list = b.unconnected;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]!;
      if (s.localIp === localIp) return s;
      if (s.localIp === 0 && !wildcard) wildcard = s;
    }
    return wildcard;
  }

  /** Unconnected sockets on a port (broadcast delivery); the array is the table's, do not keep it. */
  listeners(localPort: number): readonly UdpSocket[] | null {
    return this.ports.get(localPort)?.unconnected ?? null;
  }

  get size(): number {
    let n = 0;
    for (const b of this.ports.values()) n += b.unconnected.length + b.connectedCount;
    return n;
  }
}

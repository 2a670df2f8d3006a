// UDP endpoints of the userspace stack (RFC 768; RFC 1122 §4.1), for both families. Demultiplexing
// never scans: a Map from local port to a PortBinding, which holds connected sockets in a Map per
// family keyed by (remote address, remote port) and the unconnected ones in bind order. A unicast
// datagram goes to the connected socket for its 4-tuple, else the most recent unconnected socket
// whose local address matches (specific before wildcard, an IPv4 wildcard before a dual-stack
// one, as Linux's compute_score ranks them); broadcasts go to every unconnected socket on the
// port that matches.
//
// One port space for both families, as on Linux and Windows: an IPv6 socket (family IPV6, its
// local address an id of stack.ip6.table, 0 for ::) sits beside the IPv4 ones on its port. One
// with v6Only false bound to :: is dual-stack: it also takes IPv4 datagrams (as ::ffff:a.b.c.d,
// RFC 4291 §2.5.5.2), so it is in the port's IPv4 list too. UDP over IPv4 is in udp4.ts, over
// IPv6 in udp6.ts.
import type { NetworkStack } from './stack.ts';
import { leaveStackGroups } from './memberships.ts';
import { NetworkFamily } from './transport-registry.ts';
import type { Ipv6AddressTable } from './ipv6/address-table.ts';

export const UDP_MSG_BCAST = 0x0400;

/** IPv4 addresses here are signed 32-bit integers (`| 0`), as everywhere in the stack; IPv6 ones ids. */
export interface UdpReceiver {
  /**
   * A datagram for `socket`: payload bytes[offset .. offset+length) (a view over a ring slot or
   * a reassembled JS buffer). The storage belongs to the stack once this returns, unless the
   * receiver called socket.hold() during the call. `flags` carries UDP_MSG_BCAST. An IPv6
   * datagram has `srcIp` 0: its source is the 16 bytes at socket.receivedHeader() + 8 (read in
   * place; the header's version nibble tells the families apart on a dual-stack socket).
   */
  onDatagram(socket: UdpSocket, bytes: Uint8Array, offset: number, length: number, srcIp: number, srcPort: number, flags: number): void;
  /**
   * An ICMP error about a datagram this socket sent (RFC 1122 §4.1.3.3: pass it up). For an
   * ICMPv6 error (`family` IPV6) the types are ICMPv6's and `remoteIp` is 0.
   */
  onIcmpError?(socket: UdpSocket, type: number, code: number, remoteIp: number, remotePort: number, family?: NetworkFamily): void;
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
  /** IPv6 (udp6.ts): IPV6_UNICAST_HOPS (-1: the layer's default), IPV6_TCLASS, IPV6_DONTFRAG. */
  hopLimit = -1;
  trafficClass = 0;
  dontFragment6 = false;
  /** IPV6_MULTICAST_HOPS and IPV6_MULTICAST_LOOP (RFC 3493 §5.2 defaults: 1, and loop on). */
  multicastHops = 1;
  multicastLoop6 = true;
  /** The family of the connected remote address (connect()). */
  remoteFamily: NetworkFamily = NetworkFamily.IPV4;
  /** The groups this socket joined (stack.groups counts the interface's memberships), and its IPv6 ones (ids; ip6.addrs counts them). */
  readonly groups: number[] = [];
  readonly groups6: number[] = [];
  closed = false;
  // Counters.
  datagramsIn = 0;
  bytesIn = 0;
  datagramsOut = 0;
  bytesOut = 0;
  icmpErrors = 0;
  lastIcmpType = -1;
  lastIcmpCode = -1;

  /**
   * `family` IPV6: `localIp` is an id of stack.ip6.table (0: ::); `v6Only` false with :: makes
   * the socket dual-stack (IPV6_V6ONLY 0). IPv4 sockets ignore v6Only.
   */
  constructor(readonly stack: NetworkStack, readonly localIp: number, readonly localPort: number, public receiver: UdpReceiver,
    readonly family: NetworkFamily = NetworkFamily.IPV4, readonly v6Only = true) {}

  get connected(): boolean { return this.remotePort !== 0; }

  /** Takes IPv4 datagrams: an IPv4 socket, or a dual-stack IPv6 one (bound to ::, IPV6_V6ONLY 0). */
  get takesIpv4(): boolean {
    return this.family === NetworkFamily.IPV4 || (!this.v6Only && this.localIp === 0);
  }

  /** Inside onDatagram only: keeps the datagram's storage; returns a handle of stack.held, or -1 (table full). */
  hold(): number { return this.stack.delivery.hold(); }

  /**
   * Inside onDatagram only: the offset of the datagram's IP header in the `bytes` onDatagram got
   * — IPv4: its TOS (+1), TTL (+8) and destination address (+16); IPv6: its traffic class (the
   * 8 bits after the version nibble), hop limit (+7), source (+8) and destination (+24) — for
   * control info and the sender's address.
   */
  receivedHeader(): number { return this.stack.delivery.ipHeader(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    leaveStackGroups(this.stack, this);
    this.stack.udp.unbind(this);
    // An IPv6 remote was interned by connect (udp6.ts connectUdp6).
    if (this.connected && this.remoteFamily === NetworkFamily.IPV6) this.stack.ip6?.table.release(this.remoteIp);
  }
}

/**
 * Opens a UDP socket of `family` on `localIp` (an IPv4 address or an IPv6 id; 0: the wildcard);
 * port 0 picks an ephemeral port. Null when the port space is exhausted.
 */
export function openUdpSocket(stack: NetworkStack, family: NetworkFamily, localIp: number, localPort: number, receiver: UdpReceiver, v6Only = true): UdpSocket | null {
  const port = localPort === 0 ? stack.udp.ephemeralPort() : localPort;
  if (port === 0) return null;
  const s = new UdpSocket(stack, family === NetworkFamily.IPV4 ? localIp | 0 : localIp, port, receiver, family, v6Only);
  stack.udp.bind(s);
  return s;
}

class PortBinding {
  /** Sockets that take IPv4 datagrams (IPv4 ones and dual-stack IPv6 ones), unconnected, in bind order. */
  readonly unconnected: UdpSocket[] = [];
  /** IPv6 sockets (dual-stack ones too), unconnected, in bind order. */
  readonly unconnected6: UdpSocket[] = [];
  /** Per family of the remote address: remote address → remote port → socket. Two levels keep every key a small integer (no boxing). */
  readonly connected = [new Map<number, Map<number, UdpSocket>>(), new Map<number, Map<number, UdpSocket>>()];
  connectedCount = 0;

  get empty(): boolean {
    return this.unconnected.length === 0 && this.unconnected6.length === 0 && this.connectedCount === 0;
  }
}

function removeFrom(list: UdpSocket[], s: UdpSocket): void {
  const i = list.indexOf(s);
  if (i >= 0) list.splice(i, 1);
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
    if (s.takesIpv4) b.unconnected.push(s);
    if (s.family === NetworkFamily.IPV6) b.unconnected6.push(s);
  }

  /**
   * Fixes the remote end (connected UDP): the socket moves to the 4-tuple map of the remote's
   * family. An IPv6 remote is an id the caller keeps interned while the socket is connected.
   */
  connect(s: UdpSocket, remoteIp: number, remotePort: number, family: NetworkFamily = NetworkFamily.IPV4): boolean {
    const b = this.ports.get(s.localPort);
    if (!b) return false;
    remoteIp |= 0;
    const map = b.connected[family]!;
    const taken = map.get(remoteIp)?.get(remotePort);
    if (taken === s) return true;
    if (taken) return false;
    // Fix: reconnecting an already connected socket must drop its old 4-tuple entry; before, the
    // old peer kept reaching it, connectedCount drifted and close() left a stale binding behind.
    if (s.connected) this.dropConnected(b, s);
    let byPort = map.get(remoteIp);
    if (!byPort) { byPort = new Map(); map.set(remoteIp, byPort); }
    removeFrom(b.unconnected, s);
    removeFrom(b.unconnected6, s);
    s.remoteIp = remoteIp;
    s.remotePort = remotePort;
    s.remoteFamily = family;
    byPort.set(remotePort, s);
    b.connectedCount++;
    return true;
  }

  private dropConnected(b: PortBinding, s: UdpSocket): void {
    const map = b.connected[s.remoteFamily]!;
    const byPort = map.get(s.remoteIp);
    if (byPort?.get(s.remotePort) !== s) return;
    byPort.delete(s.remotePort);
    b.connectedCount--;
    if (byPort.size === 0) map.delete(s.remoteIp);
  }

  unbind(s: UdpSocket): void {
    const b = this.ports.get(s.localPort);
    if (!b) return;
    if (s.connected) {
      this.dropConnected(b, s);
    } else {
      removeFrom(b.unconnected, s);
      removeFrom(b.unconnected6, s);
    }
    if (b.empty) this.ports.delete(s.localPort);
  }

  /** The socket an IPv4 unicast datagram belongs to, or null. */
  lookup(localIp: number, localPort: number, remoteIp: number, remotePort: number): UdpSocket | null {
    const b = this.ports.get(localPort);
    if (!b) return null;
    if (b.connectedCount > 0) {
      const s = b.connected[NetworkFamily.IPV4]!.get(remoteIp)?.get(remotePort);
      if (s && (s.localIp === 0 || s.localIp === localIp)) return s;
    }
    let wildcard: UdpSocket | null = null;
    const list = b.unconnected;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]!;
      // A dual-stack socket's localIp is 0 (::), so it is only ever a wildcard here.
      if (s.localIp === localIp && s.family === NetworkFamily.IPV4) return s;
      if (s.localIp === 0 && (!wildcard || (wildcard.family !== NetworkFamily.IPV4 && s.family === NetworkFamily.IPV4))) wildcard = s;
    }
    return wildcard;
  }

  /**
   * The socket an IPv6 unicast datagram belongs to, or null. `localId`: the destination's id (0
   * when not interned); the remote address is read at remote[remoteAt..+16) and looked up in the
   * address table only when the port has connected sockets (most datagrams never pay for it).
   */
  lookup6(table: Ipv6AddressTable, localId: number, localPort: number, remote: Uint8Array, remoteAt: number, remotePort: number): UdpSocket | null {
    const b = this.ports.get(localPort);
    if (!b) return null;
    if (b.connectedCount > 0) {
      const remoteId = table.find(remote, remoteAt);
      const s = remoteId !== 0 ? b.connected[NetworkFamily.IPV6]!.get(remoteId)?.get(remotePort) : undefined;
      if (s && s.family === NetworkFamily.IPV6 && (s.localIp === 0 || s.localIp === localId)) return s;
    }
    let wildcard: UdpSocket | null = null;
    const list = b.unconnected6;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]!;
      if (s.localIp !== 0 && s.localIp === localId) return s;
      if (s.localIp === 0 && !wildcard) wildcard = s;
    }
    return wildcard;
  }

  /** Unconnected sockets on a port that take IPv4 (broadcast delivery); the array is the table's, do not keep it. */
  listeners(localPort: number): readonly UdpSocket[] | null {
    return this.ports.get(localPort)?.unconnected ?? null;
  }

  /** Unconnected IPv6 sockets on a port (multicast delivery); the array is the table's, do not keep it. */
  listeners6(localPort: number): readonly UdpSocket[] | null {
    return this.ports.get(localPort)?.unconnected6 ?? null;
  }

  /**
   * The sockets on a port, connected or not (slow path: bind-time conflict checks across
   * families, which the WSK layer's own address table does not see).
   */
  holders(localPort: number): UdpSocket[] {
    const b = this.ports.get(localPort);
    if (!b) return [];
    const out = new Set<UdpSocket>([...b.unconnected, ...b.unconnected6]);
    for (const map of b.connected) for (const byPort of map.values()) for (const s of byPort.values()) out.add(s);
    return [...out];
  }

  get size(): number {
    let n = 0;
    for (const b of this.ports.values()) {
      n += b.unconnected.length + b.connectedCount;
      for (const s of b.unconnected6) if (!s.takesIpv4) n++;
    }
    return n;
  }
}

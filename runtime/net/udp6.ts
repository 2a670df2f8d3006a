// UDP over IPv6 (RFC 768 with RFC 8200 §8.1): the transport registered for (IPV6, 17) on a stack
// with IPv6 (stack.ip6). Sockets live in the stack's one UDP table (udp.ts: one port space for
// both families); IPv4 UDP is in udp4.ts.
//
// Receive: the IPv6 layer hands over each datagram after its extension headers and reassembly;
// the UDP checksum is mandatory over IPv6 (RFC 8200 §8.1: a zero checksum is dropped and
// counted), then the datagram goes to the connected socket for its 4-tuple, else the most recent
// unconnected socket bound to its destination, else one bound to ::. Nobody there: an ICMPv6
// Port Unreachable (RFC 4443 §3.1, code 4) unless it was sent to a group. A datagram to a group
// the interface is in goes to every unconnected socket on the port bound to :: or to that group
// (Linux's default IPV6_MULTICAST_ALL). The receiver reads the source address in place from the
// IPv6 header (UdpSocket.receivedHeader() + 8): nothing is allocated per datagram.
//
// Send: to a group with IPV6_MULTICAST_HOPS (default 1) and, with IPV6_MULTICAST_LOOP (default on),
// a copy for this host when the interface listens to the group. One slot when the datagram fits the path MTU, else fragments (outputFragmented, RFC 8200
// §4.5) unless IPV6_DONTFRAG asks for a failure (STATUS_BUFFER_OVERFLOW, Linux's EMSGSIZE). The
// flow label is a hash of the addresses and ports (RFC 6437 §3: one label per flow, no state).
//
// ICMPv6 errors quoting our datagrams reach the socket they quote (RFC 5927 §5.1: an error that
// matches none changes nothing); a Packet Too Big also lowers the path MTU (RFC 8201 §4).
import { STATUS_BUFFER_OVERFLOW, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import type { NetworkStack } from './stack.ts';
import type { Ipv6Network } from './ipv6/ipv6-network.ts';
import { NetworkFamily, type TransportHandler } from './transport-registry.ts';
import type { UdpSocket } from './udp.ts';
import { ETHERNET_HEADER_LENGTH } from './wire/ethernet.ts';
import { UDP_HEADER_LENGTH, UdpDatagram, UdpField, emitUdp } from './wire/udp.ts';
import { get16, set16 } from './wire/bytes.ts';
import { IPV6_HEADER_LENGTH, Ipv6Field, Ipv6NextHeader } from './wire/ipv6.ts';
import { Icmpv6Type, Icmpv6UnreachableCode } from './wire/icmpv6.ts';
import { internetChecksum } from './wire/checksum.ts';

const UDP_PROTOCOL = Ipv6NextHeader.UDP;

export interface Udp6Counters {
  in: number;
  out: number;
  /** Shorter than a UDP header, or a UDP length beyond the packet. */
  malformed: number;
  /** A wrong checksum, or none (0): RFC 8200 §8.1 makes it mandatory over IPv6. */
  badChecksum: number;
  noPort: number;
  /** ICMPv6 errors that matched a socket. */
  icmpErrors: number;
}

/** The first word of the address of `id`, unsigned top byte: 0xff for a multicast address (RFC 4291 §2.7). */
function isMulticast6(ip6: Ipv6Network, id: number): boolean {
  return (ip6.table.word(id, 0) >>> 24) === 0xff;
}

export class Udp6 implements TransportHandler {
  readonly broadcast = true;
  readonly counters: Udp6Counters = { in: 0, out: 0, malformed: 0, badChecksum: 0, noPort: 0, icmpErrors: 0 };
  private readonly udpView = new UdpDatagram();
  private scratch: Uint8Array | null = null;

  constructor(readonly stack: NetworkStack, readonly ip6: Ipv6Network) {
    stack.transports.register(NetworkFamily.IPV6, UDP_PROTOCOL, this);
  }

  /** Connected UDP towards the IPv6 address at address[offset..+16): interned while connected (UdpSocket.close releases it). */
  connect(s: UdpSocket, address: Uint8Array, offset: number, port: number): boolean {
    const id = this.ip6.table.intern(address, offset);
    if (id === 0) return false;
    const was = s.connected && s.remoteFamily === NetworkFamily.IPV6 ? s.remoteIp : 0;
    if (!this.stack.udp.connect(s, id, port, NetworkFamily.IPV6)) { this.ip6.table.release(id); return false; }
    if (was !== 0) this.ip6.table.release(was);
    return true;
  }

  // ---- receive (TransportHandler) -------------------------------------------------------------

  input(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number, multicast: boolean, off: number): void {
    const c = this.counters;
    if (UdpDatagram.check(bytes, off, ipOffset + ipLength - off) !== null) { c.malformed++; return; }
    const udpLength = get16(bytes, off + UdpField.LENGTH);
    if (get16(bytes, off + UdpField.CHECKSUM) === 0 || !this.ip6.transportChecksumOk(slot, bytes, ipOffset, off, udpLength, UDP_PROTOCOL)) {
      c.badChecksum++;
      return;
    }
    c.in++;
    const u = this.udpView.reset(bytes, off, udpLength);
    const srcPort = u.srcPort;
    const dstPort = u.dstPort;
    const payload = u.payloadOffset;
    const length = u.payloadLength;
    const table = this.ip6.table;
    const dst = this.ip6.rxDestination;
    if (multicast) {
      const list = this.stack.udp.listeners6(dstPort);
      if (!list || list.length === 0) { c.noPort++; return; }
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        if (s.localIp === 0 || (dst !== 0 && s.localIp === dst)) this.deliver(s, slot, bytes, ipOffset, payload, length, srcPort);
      }
      return;
    }
    const s = this.stack.udp.lookup6(table, dst, dstPort, bytes, ipOffset + Ipv6Field.SOURCE, srcPort);
    if (!s) {
      c.noPort++;
      this.ip6.sendIcmpError6(bytes, ipOffset, ipLength, Icmpv6Type.DEST_UNREACHABLE, Icmpv6UnreachableCode.PORT, 0);
      return;
    }
    this.deliver(s, slot, bytes, ipOffset, payload, length, srcPort);
  }

  private deliver(s: UdpSocket, slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number, srcPort: number): void {
    s.datagramsIn++;
    s.bytesIn += length;
    const stack = this.stack;
    stack.delivery.begin(slot, bytes, ipOffset, offset, length);
    try {
      s.receiver.onDatagram(s, bytes, offset, length, 0, srcPort, 0);
    } catch {
      // A receiver bug must not take the stack down; it is counted.
      stack.counters.receiverErrors++;
    }
    stack.delivery.end();
  }

  icmpError(type: number, code: number, info: number, bytes: Uint8Array, q: number, qhl: number): boolean {
    const table = this.ip6.table;
    const local = table.find(bytes, q + Ipv6Field.SOURCE);
    if (local === 0 || !this.ip6.isLocal(local)) return false;
    const dstPort = get16(bytes, q + qhl + UdpField.DESTINATION_PORT);
    const s = this.stack.udp.lookup6(table, local, get16(bytes, q + qhl + UdpField.SOURCE_PORT), bytes, q + Ipv6Field.DESTINATION, dstPort);
    if (!s || s.family !== NetworkFamily.IPV6) return false;
    if (type === Icmpv6Type.PACKET_TOO_BIG) {
      // Held for the call: the layer interns what it keeps.
      const dst = table.intern(bytes, q + Ipv6Field.DESTINATION);
      if (dst !== 0) { this.ip6.learnPathMtu(dst, info); table.release(dst); }
    }
    this.counters.icmpErrors++;
    s.icmpErrors++;
    s.lastIcmpType = type;
    s.lastIcmpCode = code;
    s.receiver.onIcmpError?.(s, type, code, 0, dstPort, NetworkFamily.IPV6);
    return true;
  }

  // ---- send -----------------------------------------------------------------------------------

  /**
   * Sends one datagram of `pieces[0..count)` to `dst` (an id the caller holds for the call) port
   * `dstPort`. `source` (0: the socket's address, else the layer's choice for `dst`) and
   * `trafficClass` (-1: the socket's) are what IPV6_PKTINFO and IPV6_TCLASS control info ask for.
   * STATUS_SUCCESS once queued for the link.
   */
  send(s: UdpSocket, pieces: readonly Uint8Array[], count: number, dst: number, dstPort: number, source = 0, trafficClass = -1): NTSTATUS {
    const stack = this.stack;
    const ip6 = this.ip6;
    const c = stack.counters;
    if (stack.nic.closed || s.closed) return STATUS_INVALID_DEVICE_STATE;
    let length = 0;
    for (let i = 0; i < count; i++) length += pieces[i]!.byteLength;
    // No jumbograms (RFC 2675): the UDP length field must hold the datagram.
    if (length > 65535 - UDP_HEADER_LENGTH) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    if (!ip6.hasRoute(dst)) { c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
    const src = source !== 0 ? source : s.localIp !== 0 ? s.localIp : ip6.sourceFor(dst);
    if (src === 0) { c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
    const multicast = isMulticast6(ip6, dst);
    const hopLimit = multicast ? s.multicastHops : s.hopLimit >= 0 ? s.hopLimit : ip6.defaultHopLimit;
    const loop = multicast && s.multicastLoop6;
    const tclass = trafficClass >= 0 ? trafficClass : s.trafficClass;
    const udpLength = UDP_HEADER_LENGTH + length;
    const mtu = ip6.isLocal(dst) ? 65535 : ip6.pathMtu(dst);
    if (s.dontFragment6 && IPV6_HEADER_LENGTH + udpLength > mtu) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    const table = ip6.table;
    // RFC 8200 §8.1 pseudo-header: both addresses, the upper-layer length, the next header.
    const pseudo = table.sum(src) + table.sum(dst) + udpLength + UDP_PROTOCOL;
    const arena = stack.arena;
    const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV6_HEADER_LENGTH + UDP_HEADER_LENGTH;
    if (IPV6_HEADER_LENGTH + udpLength <= mtu && start + length <= arena.slotSize) {
      const slot = arena.alloc();
      if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
      const view = arena.view(slot);
      let at = start;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; view.set(p, at); at += p.byteLength; }
      const udpAt = start - UDP_HEADER_LENGTH;
      emitUdp6(view, udpAt, s.localPort, dstPort, udpLength, pseudo);
      arena.setFrame(slot, udpAt, udpLength);
      ip6.output(slot, src, dst, UDP_PROTOCOL, tclass, hopLimit, flowLabel(table.hash(src), table.hash(dst), s.localPort, dstPort), loop);
    } else {
      const whole = (this.scratch ??= new Uint8Array(65536));
      let at = UDP_HEADER_LENGTH;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; whole.set(p, at); at += p.byteLength; }
      emitUdp6(whole, 0, s.localPort, dstPort, udpLength, pseudo);
      const status = ip6.outputFragmented(whole, udpLength, src, dst, UDP_PROTOCOL, tclass, hopLimit, loop);
      if (status !== STATUS_SUCCESS) return status;
    }
    s.datagramsOut++;
    s.bytesOut += length;
    this.counters.out++;
    return STATUS_SUCCESS;
  }
}

/** The UDP header with its IPv6 checksum (a computed 0 goes out as 0xffff: 0 would mean "none", RFC 8200 §8.1). */
function emitUdp6(buf: Uint8Array, offset: number, srcPort: number, dstPort: number, udpLength: number, pseudo: number): void {
  emitUdp(buf, offset, srcPort, dstPort, udpLength - UDP_HEADER_LENGTH);
  const sum = internetChecksum(buf, offset, udpLength, pseudo);
  set16(buf, offset + UdpField.CHECKSUM, sum === 0 ? 0xffff : sum);
}

/** RFC 6437 §3: a 20-bit label from the flow's addresses and ports, never 0 (0 means "no label"). */
function flowLabel(srcHash: number, dstHash: number, srcPort: number, dstPort: number): number {
  let h = Math.imul(srcHash ^ Math.imul(dstHash, 0x9e3779b1), 0x85ebca6b) ^ ((srcPort << 16) | dstPort);
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) & 0xfffff) || 1;
}

// UDP over IPv4 (RFC 768, RFC 1122 §4.1): the transport registered for (IPV4, 17). Sockets live
// in the stack's one UDP table (udp.ts: one port space for both families); IPv6 is in udp6.ts.
//
// Receive: the IPv4 layer hands over each datagram after its checks and reassembly; a checksum
// of 0 means none was sent (RFC 768). A unicast datagram goes to the socket the table finds for
// its 4-tuple; nobody there: an ICMP Port Unreachable (rate-limited by the ICMP layer). A
// broadcast goes to every unconnected socket on the port bound to the wildcard, the destination
// or the interface's address; a datagram to a group to every unconnected socket on the port
// that joined it. Payload is handed over as a view over the ring slot (DatagramDelivery lets the
// receiver keep it); nothing is allocated per datagram.
//
// Send: one slot when the datagram fits the path MTU, else the whole datagram built once for its
// checksum and cut into fragments (RFC 791 §3.2), unless IP_DONTFRAGMENT asks for a failure.
//
// ICMP errors quoting our datagrams reach the socket they quote (RFC 5927 §5.1: an error that
// matches none changes nothing); a Fragmentation Needed also lowers the path MTU (RFC 1191).
import {
  STATUS_ACCESS_DENIED, STATUS_BUFFER_OVERFLOW, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_NETWORK_UNREACHABLE,
  STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import type { NetworkStack } from './stack.ts';
import type { DatagramDelivery } from './datagram-delivery.ts';
import type { NetworkInterface } from './network-interface.ts';
import type { Ipv4Layer } from './ipv4/ipv4-layer.ts';
import { NetworkFamily, type TransportHandler } from './transport-registry.ts';
import { UDP_MSG_BCAST, openUdpSocket, type UdpReceiver, type UdpSocket, type UdpTable } from './udp.ts';
import { isMulticast } from './igmp.ts';
import { ETHERNET_HEADER_LENGTH } from './wire/ethernet.ts';
import { IpProtocol, IPV4_MIN_HEADER_LENGTH, Ipv4Field } from './wire/ipv4.ts';
import { IcmpType, IcmpUnreachableCode } from './wire/icmpv4.ts';
import { emitUdp, UDP_HEADER_LENGTH, UdpDatagram, UdpField } from './wire/udp.ts';
import { get16, get32s } from './wire/bytes.ts';

const ETH_IP_UDP = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;

export class Udp4 implements TransportHandler {
  readonly broadcast = true;
  private readonly nic: NetworkInterface;
  private readonly ip4: Ipv4Layer;
  private readonly udp: UdpTable;
  private readonly delivery: DatagramDelivery;
  private readonly udpView = new UdpDatagram();

  constructor(private readonly stack: NetworkStack) {
    this.nic = stack.nic;
    this.ip4 = stack.ip4;
    this.udp = stack.udp;
    this.delivery = stack.delivery;
    stack.transports.register(NetworkFamily.IPV4, IpProtocol.UDP, this);
  }

  /** Opens a UDP socket; port 0 picks an ephemeral port. Returns null when the port space is exhausted. */
  open(localIp: number, localPort: number, receiver: UdpReceiver): UdpSocket | null {
    return openUdpSocket(this.stack, NetworkFamily.IPV4, localIp, localPort, receiver);
  }

  // ---- receive (TransportHandler) -------------------------------------------------------------

  input(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number, broadcast: boolean, off: number): void {
    const c = this.nic.counters;
    const src = get32s(bytes, ipOffset + Ipv4Field.SOURCE);
    const dst = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
    const udpLength = ipOffset + ipLength - off;
    if (UdpDatagram.check(bytes, off, udpLength) !== null) { c.udpMalformed++; return; }
    // Checksum 0: none sent (RFC 768). Verified here rather than in check(), which wants unsigned addresses.
    if (get16(bytes, off + UdpField.CHECKSUM) !== 0 && !this.ip4.transportChecksumOk(slot, bytes, off, get16(bytes, off + UdpField.LENGTH), src, dst, IpProtocol.UDP)) {
      c.udpBadChecksum++;
      return;
    }
    c.udpIn++;
    const u = this.udpView.reset(bytes, off, udpLength);
    const srcPort = u.srcPort;
    const dstPort = u.dstPort;
    const payload = u.payloadOffset;
    const len = u.payloadLength;
    if (broadcast) {
      const list = this.udp.listeners(dstPort);
      if (!list || list.length === 0) { c.udpNoPort++; return; }
      if (isMulticast(dst)) {
        // To every unconnected socket on the port that joined the group, whichever of our addresses it is bound to.
        for (let i = 0; i < list.length; i++) {
          const s = list[i]!;
          if (s.groups.indexOf(dst) >= 0) this.deliver(s, slot, bytes, ipOffset, payload, len, src, srcPort, 0);
        }
        return;
      }
      const address = this.ip4.iface.address;
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        if (s.localIp === 0 || s.localIp === dst || s.localIp === address) this.deliver(s, slot, bytes, ipOffset, payload, len, src, srcPort, UDP_MSG_BCAST);
      }
      return;
    }
    const s = this.udp.lookup(dst, dstPort, src, srcPort);
    if (!s) {
      c.udpNoPort++;
      this.ip4.icmp.sendError(bytes, ipOffset, ipLength, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PORT, 0);
      return;
    }
    this.deliver(s, slot, bytes, ipOffset, payload, len, src, srcPort, 0);
  }

  private deliver(s: UdpSocket, slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number, src: number, srcPort: number,
    flags: number): void {
    s.datagramsIn++;
    s.bytesIn += length;
    this.delivery.begin(slot, bytes, ipOffset, offset, length);
    try {
      s.receiver.onDatagram(s, bytes, offset, length, src, srcPort, flags);
    } catch {
      // A receiver bug must not take the stack down; it is counted.
      this.nic.counters.receiverErrors++;
    }
    this.delivery.end();
  }

  /** UDP's judgement of an ICMP error quoting one of its datagrams (TransportHandler). */
  icmpError(type: number, code: number, nextHopMtu: number, bytes: Uint8Array, q: number, qhl: number): boolean {
    const qdst = get32s(bytes, q + Ipv4Field.DESTINATION);
    const dport = get16(bytes, q + qhl + UdpField.DESTINATION_PORT);
    const s = this.udp.lookup(get32s(bytes, q + Ipv4Field.SOURCE), get16(bytes, q + qhl + UdpField.SOURCE_PORT), qdst, dport);
    if (!s) return false;
    // Linux __udp4_lib_err: the path MTU is learned for a matching socket, whatever its DF setting.
    if (type === IcmpType.DEST_UNREACHABLE && code === IcmpUnreachableCode.FRAG_NEEDED) this.ip4.learnPathMtu(qdst, nextHopMtu, get16(bytes, q + Ipv4Field.TOTAL_LENGTH));
    s.icmpErrors++;
    s.lastIcmpType = type;
    s.lastIcmpCode = code;
    s.receiver.onIcmpError?.(s, type, code, qdst, dport);
    return true;
  }

  // ---- send -----------------------------------------------------------------------------------

  /**
   * Sends one UDP datagram made of `pieces[0..count)`. Returns STATUS_SUCCESS once the datagram
   * is queued for the link (UDP gives no delivery guarantee), or why it cannot leave. `source`
   * (one of our addresses; 0: the socket's, else the interface's) and `tos` are what IN_PKTINFO
   * and IP_TOS control info ask for (-1: the socket's TOS). TTL and DF are the socket's.
   */
  send(s: UdpSocket, pieces: readonly Uint8Array[], count: number, dst: number, dstPort: number, source = 0, tos = -1): NTSTATUS {
    const c = this.nic.counters;
    const ip4 = this.ip4;
    const arena = this.nic.arena;
    dst |= 0;
    if (tos < 0) tos = s.tos;
    if (this.nic.closed || s.closed) return STATUS_INVALID_DEVICE_STATE;
    let length = 0;
    for (let i = 0; i < count; i++) length += pieces[i]!.byteLength;
    if (length > 65535 - IPV4_MIN_HEADER_LENGTH - UDP_HEADER_LENGTH) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    const broadcast = ip4.isBroadcast(dst);
    if (broadcast && !s.broadcast) return STATUS_ACCESS_DENIED;
    if (!broadcast ? !ip4.hasRoute(dst) : this.nic.linkState !== 'up') {
      c.txNoRoute++;
      return STATUS_NETWORK_UNREACHABLE;
    }
    const src = source !== 0 ? source | 0 : s.localIp === 0 ? ip4.iface.address : s.localIp;
    const udpLength = UDP_HEADER_LENGTH + length;
    const mtu = ip4.isLocalDestination(dst) ? 65535 : ip4.pathMtu(dst);
    // To a group: its own TTL (IP_MULTICAST_TTL), and a copy for this host's members (IP_MULTICAST_LOOP).
    const multicast = isMulticast(dst);
    const ttl = multicast ? s.multicastTtl : s.ttl;
    // IP_DONTFRAGMENT: what does not fit the path MTU fails as Linux's EMSGSIZE does (RFC 1191 §3).
    if (s.dontFragment && IPV4_MIN_HEADER_LENGTH + udpLength > mtu) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    if (IPV4_MIN_HEADER_LENGTH + udpLength <= mtu && ETH_IP_UDP + length + arena.headroom <= arena.slotSize) {
      const slot = arena.alloc();
      if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
      const view = arena.view(slot);
      const start = arena.headroom + ETH_IP_UDP;
      let at = start;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; view.set(p, at); at += p.byteLength; }
      const udpAt = start - UDP_HEADER_LENGTH;
      emitUdp(view, udpAt, s.localPort, dstPort, length, src, dst);
      arena.setFrame(slot, udpAt, udpLength);
      ip4.output(slot, src, dst, IpProtocol.UDP, 0, broadcast, -1, s.dontFragment, tos, ttl,
        multicast && s.multicastLoop && ip4.groups.isMember(dst));
    } else {
      // Slow path: the whole datagram once in scratch (for its checksum), then cut into fragments.
      const whole = ip4.fragmentScratch();
      let at = UDP_HEADER_LENGTH;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; whole.set(p, at); at += p.byteLength; }
      emitUdp(whole, 0, s.localPort, dstPort, length, src, dst);
      const status = ip4.outputFragmented(whole, udpLength, src, dst, IpProtocol.UDP, mtu, broadcast, tos, ttl);
      if (status !== STATUS_SUCCESS) return status;
    }
    s.datagramsOut++;
    s.bytesOut += length;
    c.udpOut++;
    return STATUS_SUCCESS;
  }
}

// Raw sockets of the userspace stack (SOCK_RAW): Microsoft's "TCP/IP raw sockets" page, with
// Linux's raw(7) and raw6 (RFC 3542 §3) where that page is silent. A socket is IPv4 or IPv6 for
// its life (`family`); IPv4 first, then what IPv6 does differently.
//
// Receive: every IPv4 packet the stack accepts for itself (after reassembly) is offered, header
// included, to each raw socket whose protocol is the packet's and whose bound address is the
// packet's destination or the wildcard; the protocol's own handling (UDP sockets, ICMP echo
// replies, ...) goes on as if no raw socket existed, except that a protocol nobody else knows
// draws no Protocol Unreachable while a raw socket of that protocol is open (Linux's raw_local_deliver). TCP is
// never offered (Windows refuses to bind a raw IPPROTO_TCP socket) and IPPROTO_RAW (255) is
// send-only. The packet is handed over as a view (zero copy); the receiver keeps it with hold(),
// as a UDP receiver does.
//
// Send: without IP_HDRINCL the stack builds the header with the socket's protocol, TTL (or
// multicast TTL), TOS and DF, and fragments what exceeds the path MTU, as for UDP. With
// IP_HDRINCL the application's header goes out as written except for the fields raw(7) says the
// kernel fills: total length and checksum always, identification and source address when 0; a
// packet larger than the path MTU is refused (EMSGSIZE there), never fragmented.
//
// IPv6 (RFC 3542 §3): a packet is delivered without its IPv6 header and extension headers — the
// upper-layer message alone, its source and destination read from the header in place
// (receivedHeader()) — and sent the same way, behind a header the stack builds (no IPV6_HDRINCL).
// For IPPROTO_ICMPV6 the stack computes the checksum on send and verifies it on receive (RFC 3542
// §3.1: the kernel does it for ICMPv6, as Linux's raw6 sockets with their fixed checksum offset 2).
import {
  STATUS_ACCESS_DENIED, STATUS_BUFFER_OVERFLOW, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
  STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { IPPROTO_RAW } from '../sockaddr.ts';
import type { NetworkStack } from './stack.ts';
import { leaveStackGroups } from './memberships.ts';
import { isMulticast } from './igmp.ts';
import { IPV4_MIN_HEADER_LENGTH, IpProtocol, Ipv4Field } from './wire/ipv4.ts';
import { NetworkFamily, type RawListener } from './transport-registry.ts';
import { ETHERNET_HEADER_LENGTH } from './wire/ethernet.ts';
import { get16, get32s, set16, set32 } from './wire/bytes.ts';
import { internetChecksum } from './wire/checksum.ts';
import { IPV6_HEADER_LENGTH, Ipv6Chain, Ipv6Field, Ipv6HeaderChain, Ipv6NextHeader, walkIpv6Extensions } from './wire/ipv6.ts';
import { Icmpv6Field } from './wire/icmpv6.ts';
import type { Ipv6Network } from './ipv6/ipv6-network.ts';

/** IPV6_MULTICAST_HOPS' default (RFC 3493 §5.2): datagrams to a group stay on the link. */
export const DEFAULT_MULTICAST_HOPS = 1;

export interface RawReceiver {
  /**
   * A packet for `socket`: bytes[offset .. offset+length), an IPv4 packet starting with its IPv4
   * header, or an IPv6 packet's upper-layer message (its header at socket.receivedHeader()) — a
   * view over a ring slot or a reassembly buffer. The storage is the stack's once this returns,
   * unless the receiver called socket.hold() during the call.
   */
  onPacket(socket: RawSocket, bytes: Uint8Array, offset: number, length: number): void;
}

export class RawSocket implements RawListener {
  /** The header the stack builds without IP_HDRINCL: TTL, TOS, DF; multicast TTL and loop as for UDP. */
  ttl = 64;
  tos = 0;
  dontFragment = false;
  multicastTtl = 1;
  multicastLoop = true;
  /** IPv6's header fields (IPV6_UNICAST_HOPS -1: the layer's default; IPV6_TCLASS; IPV6_DONTFRAG). */
  hopLimit = -1;
  trafficClass = 0;
  dontFragment6 = false;
  broadcast = false;
  /** IPV6_MULTICAST_HOPS and IPV6_MULTICAST_LOOP, as for UDP. */
  multicastHops = DEFAULT_MULTICAST_HOPS;
  multicastLoop6 = true;
  /**
   * The groups this socket joined. IPv4: it receives a multicast packet only for one of them (as
   * Linux's raw sockets). IPv6 (ids): they keep the interface in the group; a raw socket receives
   * whatever the interface takes, as UDP over IPv6 does (Linux's default IPV6_MULTICAST_ALL).
   */
  readonly groups: number[] = [];
  readonly groups6: number[] = [];
  /** IP_HDRINCL: the application writes the IPv4 header (always so for IPPROTO_RAW). */
  headerIncluded: boolean;
  closed = false;
  packetsIn = 0;
  packetsOut = 0;

  /** IPv6 only: where the walk of a received packet's extension headers lands (one per socket, reused). */
  private chain: Ipv6HeaderChain | null = null;

  /** `family` IPV6: `localIp` is an id of stack.ip6.table (0: ::). */
  constructor(readonly stack: NetworkStack, readonly protocol: number, readonly localIp: number, public receiver: RawReceiver,
    readonly family: NetworkFamily = NetworkFamily.IPV4) {
    this.headerIncluded = protocol === IPPROTO_RAW && family === NetworkFamily.IPV4;
  }

  /** Inside onPacket only: keeps the packet's storage; a handle of stack.held, or -1 (table full). */
  hold(): number { return this.stack.delivery.hold(); }

  /** Inside onPacket only: where the packet's IP header starts in the `bytes` onPacket got. */
  receivedHeader(): number { return this.stack.delivery.ipHeader(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    leaveStackGroups(this.stack, this);
    this.stack.transports.removeRawListener(this.family, this.protocol, this);
  }

  /** Starts receiving: a copy of every packet of the protocol (none for TCP, as Winsock; none for IPPROTO_RAW, send-only as raw(7)). */
  open(): void {
    if (this.protocol === IpProtocol.TCP || this.protocol === IPPROTO_RAW) return;
    if (this.family === NetworkFamily.IPV6) this.chain = new Ipv6HeaderChain();
    this.stack.transports.addRawListener(this.family, this.protocol, this);
  }

  /** RawListener: the packet bytes[ipOffset..+ipLength) of our protocol, if it is for our address (and a group we joined). */
  input(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number): void {
    if (this.family === NetworkFamily.IPV6) { this.input6(bytes, ipOffset, ipLength, slot); return; }
    const dst = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
    if ((this.localIp !== 0 && this.localIp !== dst) || (isMulticast(dst) && this.groups.indexOf(dst) < 0)) return;
    this.packetsIn++;
    const stack = this.stack;
    stack.delivery.begin(slot, bytes, ipOffset, ipOffset, ipLength);
    try {
      this.receiver.onPacket(this, bytes, ipOffset, ipLength);
    } finally {
      stack.delivery.end();
    }
  }

  /**
   * An IPv6 packet of our protocol (the layer checked it and reassembled it): the upper-layer
   * message after the extension headers goes up if it is for our address (or we are bound to ::)
   * and, for ICMPv6, if its checksum holds.
   */
  private input6(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number): void {
    const stack = this.stack;
    const ip6 = stack.ip6;
    if (!ip6 || (this.localIp !== 0 && !ip6.table.matches(this.localIp, bytes, ipOffset + Ipv6Field.DESTINATION))) return;
    const ch = this.chain!;
    if (walkIpv6Extensions(bytes, ipOffset, ipLength, ch) !== Ipv6Chain.OK || ch.fragment >= 0) return;
    const at = ch.upperOffset;
    const length = ipOffset + ipLength - at;
    if (this.protocol === Ipv6NextHeader.ICMPV6 && !ip6.transportChecksumOk(slot, bytes, ipOffset, at, length, this.protocol)) return;
    this.packetsIn++;
    stack.delivery.begin(slot, bytes, ipOffset, at, length);
    try {
      this.receiver.onPacket(this, bytes, at, length);
    } finally {
      stack.delivery.end();
    }
  }
}

/** The whole datagram for the fragmenting path; one per process, as the stack's own. */
let scratch: Uint8Array | null = null;

/**
 * Sends one datagram of `pieces[0..count)` from a raw socket to `dst`. `source` (one of our
 * addresses; 0: the socket's, else the interface's) and `tos` (-1: the socket's) are what
 * IN_PKTINFO and IP_TOS control info ask for; with IP_HDRINCL the header's own fields rule.
 */
export function sendRaw(stack: NetworkStack, s: RawSocket, pieces: readonly Uint8Array[], count: number, dst: number, source = 0, tos = -1): NTSTATUS {
  if (stack.nic.closed || s.closed) return STATUS_INVALID_DEVICE_STATE;
  let length = 0;
  for (let i = 0; i < count; i++) length += pieces[i]!.byteLength;
  if (s.headerIncluded) return sendHeaderIncluded(stack, s, pieces, count, length);
  dst |= 0;
  const c = stack.counters;
  if (length > 65535 - IPV4_MIN_HEADER_LENGTH) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  const broadcast = stack.ip4.isBroadcast(dst);
  if (broadcast && !s.broadcast) return STATUS_ACCESS_DENIED;
  if (!(broadcast ? stack.nic.linkState === 'up' : stack.ip4.hasRoute(dst))) { c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
  const src = source !== 0 ? source | 0 : s.localIp !== 0 ? s.localIp : stack.address;
  const multicast = isMulticast(dst);
  const ttl = multicast ? s.multicastTtl : s.ttl;
  const mtu = stack.ip4.isLocalDestination(dst) ? 65535 : stack.ip4.pathMtu(dst);
  if (s.dontFragment && IPV4_MIN_HEADER_LENGTH + length > mtu) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  const arena = stack.arena;
  const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
  if (IPV4_MIN_HEADER_LENGTH + length <= mtu && start + length <= arena.slotSize) {
    const slot = arena.alloc();
    if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    copyPieces(arena.view(slot), start, pieces, count);
    arena.setFrame(slot, start, length);
    stack.ip4.output(slot, src, dst, s.protocol, 0, broadcast, -1, s.dontFragment, tos >= 0 ? tos : s.tos, ttl,
      multicast && s.multicastLoop && stack.groups.isMember(dst));
  } else {
    const whole = (scratch ??= new Uint8Array(65536));
    copyPieces(whole, 0, pieces, count);
    const status = stack.ip4.outputFragmented(whole, length, src, dst, s.protocol, mtu, broadcast, tos >= 0 ? tos : s.tos, ttl);
    if (status !== STATUS_SUCCESS) return status;
  }
  s.packetsOut++;
  return STATUS_SUCCESS;
}

/** IP_HDRINCL: the packet as the application built it, with raw(7)'s fields filled in. */
function sendHeaderIncluded(stack: NetworkStack, s: RawSocket, pieces: readonly Uint8Array[], count: number, length: number): NTSTATUS {
  const c = stack.counters;
  const arena = stack.arena;
  const at = arena.headroom + ETHERNET_HEADER_LENGTH;
  if (length > 65535) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  if (length < IPV4_MIN_HEADER_LENGTH) return STATUS_INVALID_PARAMETER;
  // The version and header length are read once the packet is in its slot (pieces may split them).
  if (at + length > arena.slotSize) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  const slot = arena.alloc();
  if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
  const v = arena.view(slot);
  copyPieces(v, at, pieces, count);
  const hl = (v[at]! & 0x0f) << 2;
  const dst = get32s(v, at + 16);
  if ((v[at]! >>> 4) !== 4 || hl < IPV4_MIN_HEADER_LENGTH || hl > length) { arena.release(slot); return STATUS_INVALID_PARAMETER; }
  const broadcast = stack.ip4.isBroadcast(dst);
  if (broadcast && !s.broadcast) { arena.release(slot); return STATUS_ACCESS_DENIED; }
  if (!(broadcast ? stack.nic.linkState === 'up' : stack.ip4.hasRoute(dst))) { arena.release(slot); c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
  const mtu = stack.ip4.isLocalDestination(dst) ? 65535 : stack.ip4.pathMtu(dst);
  if (length > mtu) { arena.release(slot); c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  set16(v, at + 2, length);
  if (get16(v, at + 4) === 0) set16(v, at + 4, stack.ip4.nextIpId());
  if (get32s(v, at + 12) === 0) set32(v, at + 12, s.localIp !== 0 ? s.localIp : stack.address);
  set16(v, at + 10, 0);
  set16(v, at + 10, internetChecksum(v, at, hl));
  arena.setFrame(slot, at, length);
  stack.ip4.route(slot, dst, broadcast, isMulticast(dst) && s.multicastLoop && stack.groups.isMember(dst));
  s.packetsOut++;
  return STATUS_SUCCESS;
}

function copyPieces(to: Uint8Array, at: number, pieces: readonly Uint8Array[], count: number): void {
  for (let i = 0; i < count; i++) { const p = pieces[i]!; to.set(p, at); at += p.byteLength; }
}

/**
 * Sends one IPv6 packet whose upper-layer message is `pieces[0..count)` from a raw IPv6 socket to
 * `dst` (an id the caller holds for the call). `source` (an id of ours; 0: the socket's, else the
 * layer's choice) and `trafficClass` (-1: the socket's) are what IPV6_PKTINFO and IPV6_TCLASS
 * control info ask for. An ICMPv6 message gets its checksum here (RFC 3542 §3.1).
 */
export function sendRaw6(stack: NetworkStack, ip6: Ipv6Network, s: RawSocket, pieces: readonly Uint8Array[], count: number, dst: number, source = 0, trafficClass = -1): NTSTATUS {
  if (stack.nic.closed || s.closed) return STATUS_INVALID_DEVICE_STATE;
  const c = stack.counters;
  let length = 0;
  for (let i = 0; i < count; i++) length += pieces[i]!.byteLength;
  if (length > 65535) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  const icmp = s.protocol === Ipv6NextHeader.ICMPV6;
  // Linux's rawv6_push_pending_frames: EINVAL when the checksum field does not fit.
  if (icmp && length < Icmpv6Field.CHECKSUM + 2) return STATUS_INVALID_PARAMETER;
  if (!ip6.hasRoute(dst)) { c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
  const src = source !== 0 ? source : s.localIp !== 0 ? s.localIp : ip6.sourceFor(dst);
  if (src === 0) { c.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
  const table = ip6.table;
  const multicast = (table.word(dst, 0) >>> 24) === 0xff;
  const hopLimit = multicast ? s.multicastHops : s.hopLimit >= 0 ? s.hopLimit : ip6.defaultHopLimit;
  const loop = multicast && s.multicastLoop6;
  const tclass = trafficClass >= 0 ? trafficClass : s.trafficClass;
  const mtu = ip6.isLocal(dst) ? 65535 : ip6.pathMtu(dst);
  if (s.dontFragment6 && IPV6_HEADER_LENGTH + length > mtu) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
  const pseudo = table.sum(src) + table.sum(dst) + length + s.protocol;
  const arena = stack.arena;
  const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV6_HEADER_LENGTH;
  if (IPV6_HEADER_LENGTH + length <= mtu && start + length <= arena.slotSize) {
    const slot = arena.alloc();
    if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    const v = arena.view(slot);
    copyPieces(v, start, pieces, count);
    if (icmp) fillChecksum6(v, start, length, pseudo);
    arena.setFrame(slot, start, length);
    ip6.output(slot, src, dst, s.protocol, tclass, hopLimit, 0, loop);
  } else {
    const whole = (scratch ??= new Uint8Array(65536));
    copyPieces(whole, 0, pieces, count);
    if (icmp) fillChecksum6(whole, 0, length, pseudo);
    const status = ip6.outputFragmented(whole, length, src, dst, s.protocol, tclass, hopLimit, loop);
    if (status !== STATUS_SUCCESS) return status;
  }
  s.packetsOut++;
  return STATUS_SUCCESS;
}

function fillChecksum6(buf: Uint8Array, at: number, length: number, pseudo: number): void {
  set16(buf, at + Icmpv6Field.CHECKSUM, 0);
  set16(buf, at + Icmpv6Field.CHECKSUM, internetChecksum(buf, at, length, pseudo));
}

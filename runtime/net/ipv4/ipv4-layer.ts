// The IPv4 network layer (RFC 791, RFC 1122 §3) on the interface: input (header checks, martian
// sources, options, bounded reassembly, dispatch through the transport registry), output (IP ids,
// fragmentation, routes, loopback, next-hop resolution through ARP) and path MTU (RFC 1191). ICMP
// is in icmpv4-layer.ts, ARP in arp.ts, reassembly in reassembly.ts, IGMP in ../igmp.ts; the
// interface (../network-interface.ts) hands it frames of EtherType 0x0800 (or bare version-4
// packets) and sends what it frames.
//
// Contract:
// - Hot path: input() and output() allocate nothing; the header is read in place through a view
//   created once. Fragments are the slow path (reassembly buffers, fragmentation scratch).
// - Addresses are signed 32-bit integers (`| 0`): V8 keeps them as small integers, where unsigned
//   addresses above 2^31 would be boxed numbers on every call that passes one.
// - input(): bytes[offset..+length) is borrowed for the call; transports receive it as the
//   registry says (transport-registry.ts). Malformed packets are counted and dropped, never thrown.
// - output()/route(): take the slot reference.
import type { ParsedInterface } from '../config.ts';
import type { StackCounters } from '../counters.ts';
import type { SlotArena } from '../../ring/slot-arena.ts';
import type { Clock } from '../clock.ts';
import { FrameFlags, type LinkState } from '../device.ts';
import type { ArpTimings } from '../arp-cache.ts';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from './reassembly.ts';
import type { NetworkInterface } from '../network-interface.ts';
import { NetworkFamily, type TransportRegistry } from '../transport-registry.ts';
import { MulticastGroups, isMulticast, type IgmpSender } from '../igmp.ts';
import { Arp } from './arp.ts';
import { Icmpv4Layer, type Icmpv4Options } from './icmpv4-layer.ts';
import { EtherType, ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import {
  emitIpv4, IpProtocol, Ipv4Flags, Ipv4Packet, IPV4_MIN_HEADER_LENGTH, IPV4_OPTIONS_SOURCE_ROUTED, IPV4_OPTIONS_VALID,
  validateIpv4Options, Ipv4Field, ipv4HeaderLength,
} from '../wire/ipv4.ts';
import { IcmpType, IcmpUnreachableCode } from '../wire/icmpv4.ts';
import { TcpField } from '../wire/tcp.ts';
import { UdpField } from '../wire/udp.ts';
import { get16, get32s } from '../wire/bytes.ts';
import { checksumFold, pseudoHeaderSumV4, transportChecksumValid } from '../wire/checksum.ts';
import { STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS } from '../../ntstatus.ts';

const LIMITED_BROADCAST = -1;
/** The TTL of what the stack sends unless a socket's IP_TTL says otherwise (Linux's default, ip(7)). */
const DEFAULT_IP_TTL = 64;
/** Linux's ip_rt_mtu_expires: a learned path MTU is forgotten after 10 minutes (RFC 1191 §6.3). */
const PMTU_EXPIRY_MS = 10 * 60_000;
/** Linux's ip_rt_min_pmtu (net/ipv4/route.c): the smallest path MTU ICMP may teach us. */
const MIN_PATH_MTU = 552;

export interface Ipv4Options extends Icmpv4Options {
  arp?: Partial<ArpTimings>;
  reassembly?: Partial<ReassemblyLimits>;
}

export class Ipv4Layer implements IgmpSender {
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly counters: StackCounters;
  readonly transports: TransportRegistry;
  readonly arp: Arp;
  readonly icmp: Icmpv4Layer;
  readonly reassembler: Reassembler;
  /** The interface's IPv4 multicast memberships and IGMPv2 (igmp.ts). */
  readonly groups: MulticastGroups;
  /** Learned path MTUs (RFC 1191) by destination; entries expire after 10 minutes. */
  readonly pathMtus = new Map<number, { mtu: number; expires: number }>();

  private ipId = 1;
  private readonly ipView = new Ipv4Packet();
  private scratch: Uint8Array | null = null;
  /** RFC 792: Time Exceeded (fragment reassembly) quoting the first fragment of a datagram that timed out. */
  private readonly reassemblyTimedOut = (header: Uint8Array, headerLength: number, firstPayload: Uint8Array): void =>
    this.icmp.sendReassemblyTimeExceeded(header, headerLength, firstPayload);

  constructor(readonly nic: NetworkInterface, readonly iface: ParsedInterface, options: Ipv4Options) {
    this.arena = nic.arena;
    this.clock = nic.clock;
    this.counters = nic.counters;
    this.transports = nic.transports;
    this.groups = new MulticastGroups(this);
    this.arp = new Arp(nic, this, options.arp);
    this.icmp = new Icmpv4Layer(nic, this, options);
    this.reassembler = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...options.reassembly });
  }

  /** Drops reassembly and neighbour state and leaves the groups (the interface is closing). */
  close(): void {
    this.groups.close();
    this.arp.cache.clear();
    this.reassembler.clear();
  }

  /** The earliest reassembly deadline (the interface's one timer). */
  nextDeadline(): number {
    return this.reassembler.nextDeadline();
  }

  poll(now: number): void {
    this.reassembler.poll(now, this.reassemblyTimedOut);
  }

  /** A 64 KiB buffer for a datagram built whole before it is cut into fragments (the slow path). */
  fragmentScratch(): Uint8Array {
    return (this.scratch ??= new Uint8Array(65536));
  }

  // ---- addresses ----------------------------------------------------------------------------

  /** True for the interface's address and its secondary addresses (InterfaceConfig.secondary). */
  isLocalAddress(ip: number): boolean {
    ip |= 0;
    if (ip === this.iface.address) return true;
    const extra = this.iface.secondary;
    for (let i = 0; i < extra.length; i++) if (extra[i] === ip) return true;
    return false;
  }

  isLocalDestination(dst: number): boolean {
    return dst === this.iface.address || (this.iface.secondary.length > 0 && this.isLocalAddress(dst));
  }

  /** The limited broadcast or the interface's directed broadcast. */
  isBroadcast(dst: number): boolean {
    return dst === LIMITED_BROADCAST || dst === this.iface.broadcast;
  }

  /**
   * A source no packet from a link may carry: RFC 1122 §3.2.1.3 says a host MUST discard 0/8
   * ("this network", which Linux's ip_route_input_slow drops even towards the limited broadcast
   * DHCP servers listen on — we serve no DHCP) and 127/8 (loopback); RFC 1812 §5.3.7 adds
   * broadcast and multicast sources; and our own address is Linux's fib_validate_source rule
   * (accept_local off): only the loopback path carries it, from the link it is a spoof (LAND).
   * Class E (240/4) is not martian: Linux takes it as unicast since 2.6.25. On a /31 (RFC 3021)
   * the "broadcast" is the peer's address.
   */
  private isMartianSource(src: number): boolean {
    const top = src >>> 24;
    return top === 0 || top === 127 || (top & 0xf0) === 0xe0 || src === LIMITED_BROADCAST || this.isLocalDestination(src)
      || (src === this.iface.broadcast && this.iface.prefixLength < 31);
  }

  // ---- input --------------------------------------------------------------------------------

  /** `fromLink` is false for the loopback path, whose packets come from our own address. */
  input(slot: number, bytes: Uint8Array, offset: number, length: number, linkBroadcast: boolean, fromLink: boolean): void {
    const c = this.counters;
    const err = Ipv4Packet.check(bytes, offset, length, !this.nic.device.capabilities.rxChecksumVerified);
    if (err !== null) {
      if (err === 5) c.ipBadChecksum++; else c.ipMalformed++;
      return;
    }
    c.ipIn++;
    const ip = this.ipView.reset(bytes, offset, get16(bytes, offset + Ipv4Field.TOTAL_LENGTH));
    const dst = get32s(bytes, offset + Ipv4Field.DESTINATION);
    // A group we are a member of is taken as a broadcast is: never answered with an ICMP error, never TCP.
    const broadcast = this.isBroadcast(dst) || (isMulticast(dst) && this.groups.isMember(dst));
    if (!broadcast && !this.isLocalDestination(dst)) { c.ipNotForUs++; return; }
    if (linkBroadcast && !broadcast) { c.ipNotForUs++; return; }
    // Before reassembly and the transports: a martian holds no reassembly buffer and gets no answer.
    if (fromLink && this.isMartianSource(get32s(bytes, offset + Ipv4Field.SOURCE))) { c.ipMartianSource++; return; }
    const hl = ip.headerLength;
    if (hl > IPV4_MIN_HEADER_LENGTH && !this.optionsAcceptable(bytes, offset, hl, ip.length, broadcast)) return;
    if (ip.isFragment) {
      const whole = this.reassembler.add(bytes, offset, this.clock.now());
      this.nic.rearm();
      if (!whole) return;
      this.deliver(-1, whole.bytes, 0, whole.length, broadcast);
      return;
    }
    this.deliver(slot, bytes, offset, ip.length, broadcast);
  }

  /**
   * Linux's ip_rcv_options, for every packet (each fragment too) before reassembly: malformed
   * options (validateIpv4Options) are counted and dropped with a Parameter Problem pointing at the
   * octet in error (RFC 1122 §3.2.2.5; rate-limited and never about a broadcast, like every ICMP
   * error); a source route is dropped silently, as a Linux host does (accept_source_route 0;
   * RFC 7126 §4.3–4.4 recommends dropping LSRR and SSRR).
   */
  private optionsAcceptable(bytes: Uint8Array, offset: number, headerLength: number, length: number, broadcast: boolean): boolean {
    const v = validateIpv4Options(bytes, offset, headerLength);
    if (v === IPV4_OPTIONS_VALID) return true;
    if (v === IPV4_OPTIONS_SOURCE_ROUTED) { this.counters.ipSourceRouted++; return false; }
    this.counters.ipBadOptions++;
    if (!broadcast) this.icmp.sendError(bytes, offset, length, IcmpType.PARAMETER_PROBLEM, 0, v);
    return false;
  }

  private deliver(slot: number, bytes: Uint8Array, offset: number, length: number, broadcast: boolean): void {
    const c = this.counters;
    const hl = ipv4HeaderLength(bytes, offset);
    const proto = bytes[offset + Ipv4Field.PROTOCOL]!;
    const raw = this.transports.rawListeners(NetworkFamily.IPV4, proto);
    if (raw !== null) this.nic.deliverRaw(raw, slot, bytes, offset, length);
    if (proto === IpProtocol.ICMP) { this.icmp.input(bytes, offset, hl, length, broadcast); return; }
    if (proto === IpProtocol.IGMP) { this.groups.input(bytes, offset + hl, length - hl); return; }
    const h = this.transports.handler(NetworkFamily.IPV4, proto);
    if (h !== null && (h.broadcast || !broadcast)) { h.input(bytes, offset, length, slot, broadcast, offset + hl); return; }
    // A raw listener took it: no "protocol unreachable", as Linux's ip_local_deliver_finish.
    if (raw !== null) return;
    c.ipUnknownProtocol++;
    if (!broadcast) this.icmp.sendError(bytes, offset, length, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PROTOCOL, 0);
  }

  /**
   * Whether the TCP/UDP segment at bytes[offset..+length) may be taken: the device vouches for it
   * (capability, or this frame's FrameFlags.CHECKSUM_OK), its checksum is right, or — on a
   * device that cannot tell (rxUnfinishedChecksums) — it holds exactly the pseudo-header sum a
   * local sender with checksum offload leaves for the hardware (counted).
   */
  transportChecksumOk(slot: number, bytes: Uint8Array, offset: number, length: number, src: number, dst: number, protocol: number): boolean {
    const caps = this.nic.device.capabilities;
    if (caps.rxChecksumVerified || (slot >= 0 && (this.arena.flags[slot]! & FrameFlags.CHECKSUM_OK) !== 0)) return true;
    if (caps.rxUnfinishedChecksums) {
      // Checked first: it costs nothing, where summing a 64 KiB segment costs tens of µs.
      const field = get16(bytes, offset + (protocol === IpProtocol.TCP ? TcpField.CHECKSUM : UdpField.CHECKSUM));
      const partial = checksumFold(pseudoHeaderSumV4(src, dst, protocol, length));
      // 0xffff and 0 are the same number in one's complement.
      if (field === partial || (partial === 0xffff && field === 0)) {
        this.counters.rxUnfinishedChecksums++;
        return true;
      }
    }
    return transportChecksumValid(bytes, offset, length, src, dst, protocol);
  }

  // ---- path MTU and routes ------------------------------------------------------------------

  /**
   * Lowers the path MTU towards `dst` after a Fragmentation Needed that a transport has matched to
   * one of its sockets or connections. RFC 1191 §5: an old router sends 0; then the next plateau
   * below the quoted length. Linux's __ip_rt_update_pmtu raises anything below ip_rt_min_pmtu
   * (552 = 512 + 20 + 20) to it, so a bogus report (below RFC 791's 68, or 1) cannot shrink
   * segments to nothing; a value at or above the current MTU reports no smaller path and is ignored.
   */
  learnPathMtu(dst: number, nextHopMtu: number, quotedTotalLength: number): void {
    dst |= 0;
    let mtu = nextHopMtu;
    if (mtu === 0) mtu = quotedTotalLength > 1492 ? 1492 : quotedTotalLength > 1006 ? 1006 : 576;
    if (mtu < MIN_PATH_MTU) mtu = MIN_PATH_MTU;
    if (mtu >= this.iface.mtu) return;
    const cur = this.pathMtus.get(dst);
    // Fix: an expired entry (not yet pruned by pathMtu()) must not block a new, higher report.
    if (cur && cur.mtu <= mtu && cur.expires > this.clock.now()) return;
    this.pathMtus.set(dst, { mtu, expires: this.clock.now() + PMTU_EXPIRY_MS });
    this.counters.pmtuUpdates++;
    this.transports.pathMtu(NetworkFamily.IPV4, dst, mtu);
  }

  /** True when `dst` is ours, on the interface's subnet, a broadcast, or reachable through the gateway. */
  hasRoute(dst: number): boolean {
    dst |= 0;
    if (this.nic.linkState !== 'up') return this.isLocalDestination(dst) || (dst >>> 24) === 127;
    // A point-to-point (IP-framed) link has no neighbours: whatever is not ours goes to its far
    // end, which routes it (a WireGuard tunnel: by its peers' AllowedIPs).
    return this.nic.ipFraming || this.isLocalDestination(dst) || (dst >>> 24) === 127 || this.isBroadcast(dst) || isMulticast(dst)
      || (dst & this.iface.netmask) === this.iface.network || this.iface.gateway !== 0;
  }

  /** The MTU towards `dst`: the interface MTU lowered by what ICMP taught us. */
  pathMtu(dst: number): number {
    if (this.pathMtus.size === 0) return this.iface.mtu;
    dst |= 0;
    const e = this.pathMtus.get(dst);
    if (!e) return this.iface.mtu;
    if (e.expires <= this.clock.now()) { this.pathMtus.delete(dst); return this.iface.mtu; }
    return e.mtu;
  }

  // ---- output -------------------------------------------------------------------------------

  /** The next IPv4 identification (raw.ts too). */
  nextIpId(): number {
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    return id;
  }

  /**
   * Prepends an IPv4 header to the slot's frame (its payload) and sends it. `fragment` is the
   * flags/offset word; 0 means an unfragmented datagram, sent with DF clear so that routers may
   * fragment it (UDP), like Linux with IP_PMTUDISC_DONT. The slot reference is consumed.
   */
  output(slot: number, src: number, dst: number, protocol: number, fragment: number, broadcast: boolean, id = -1, dontFragment = false, tos = 0,
    ttl = DEFAULT_IP_TTL, multicastLoop = false): void {
    const arena = this.arena;
    dst |= 0;
    const payload = arena.lengthOf(slot);
    const at = arena.prepend(slot, IPV4_MIN_HEADER_LENGTH);
    emitIpv4(arena.view(slot), at, src, dst, protocol, payload, ttl, id >= 0 ? id : this.nextIpId(), fragment | (dontFragment ? Ipv4Flags.DF : 0), tos);
    this.route(slot, dst, broadcast, multicastLoop);
  }

  /**
   * Sends the IPv4 packet that fills the slot's frame (header included: output()'s, or one a raw
   * socket's application built) towards `dst`: looped back when it is ours, else framed for its
   * next hop. The slot reference is consumed.
   */
  route(slot: number, dst: number, broadcast: boolean, multicastLoop = false): void {
    const nic = this.nic;
    dst |= 0;
    this.counters.ipOut++;
    if (multicastLoop) nic.loopbackCopy(slot);
    if (this.isLocalDestination(dst) || (dst >>> 24) === 127) { nic.loopback(slot); return; }
    // Bare IP: the host's own routing and neighbour tables deliver it.
    if (nic.ipFraming) { nic.queueTx(slot); return; }
    if (broadcast) { nic.emitFrame(slot, 0xffff, -1, EtherType.IPV4); return; }
    // The group's MAC: 01:00:5e and the low 23 bits of the address (RFC 1112 §6.4).
    if (isMulticast(dst)) { nic.emitFrame(slot, 0x0100, 0x5e000000 | (dst & 0x7fffff), EtherType.IPV4); return; }
    const onLink = (dst & this.iface.netmask) === this.iface.network;
    const nextHop = onLink ? dst : this.iface.gateway;
    if (nextHop === 0) { this.counters.txNoRoute++; this.arena.release(slot); return; }
    const cache = this.arp.cache;
    const e = cache.resolve(nextHop, slot);
    if (e < 0) { nic.rearm(); return; }
    nic.emitFrame(slot, cache.macHi[e]!, cache.macLo[e]!, EtherType.IPV4);
  }

  /**
   * Cuts the transport datagram whole[0..total) — built complete beforehand, so that its checksum
   * covers all of it — into fragments of at most `mtu` bytes (RFC 791 §3.2, one IP ID), DF clear.
   * Every fragment's slot is checked for before the first leaves: all of them go, or none.
   */
  outputFragmented(whole: Uint8Array, total: number, src: number, dst: number, protocol: number, mtu: number,
    broadcast: boolean, tos = 0, ttl = DEFAULT_IP_TTL): NTSTATUS {
    const arena = this.arena;
    const perFragment = (Math.min(mtu, arena.slotSize - arena.headroom - ETHERNET_HEADER_LENGTH - 4) - IPV4_MIN_HEADER_LENGTH) & ~7;
    const fragments = Math.ceil(total / perFragment);
    if (arena.freeCount < fragments) { this.counters.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    const id = this.nextIpId();
    for (let off = 0; off < total; off += perFragment) {
      const n = Math.min(perFragment, total - off);
      const slot = arena.alloc();
      const view = arena.view(slot);
      const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
      view.set(whole.subarray(off, off + n), start);
      arena.setFrame(slot, start, n);
      const more = off + n < total ? Ipv4Flags.MF : 0;
      this.output(slot, src, dst, protocol, more | (off >> 3), broadcast, id, false, tos, ttl);
      this.counters.fragmentsOut++;
    }
    return STATUS_SUCCESS;
  }

  /** IgmpSender: one IGMP message from the interface's address to `dst`, TTL 1 (RFC 2236 §2). */
  sendIgmp(dst: number, message: Uint8Array): void {
    if (this.nic.closed || this.nic.linkState !== 'up') return;
    const arena = this.arena;
    const slot = arena.alloc();
    if (slot < 0) { this.counters.txNoSlot++; return; }
    const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    arena.view(slot).set(message, start);
    arena.setFrame(slot, start, message.byteLength);
    this.output(slot, this.iface.address, dst, IpProtocol.IGMP, 0, false, -1, false, 0, 1);
  }

  /** The link changed state. */
  linkChanged(state: LinkState): void {
    // Neighbours may have moved while the link was down: learn them again.
    if (state !== 'up') this.arp.cache.clear();
  }
}

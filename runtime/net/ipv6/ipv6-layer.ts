// The IPv6 network layer of the userspace stack (RFC 8200), beside the IPv4 one in ../ipv4/:
// receive (header check, extension headers, reassembly, for-us test, dispatch through the
// transport registry), send (header, next hop, neighbour resolution, fragmentation), path MTU
// (RFC 8201). ICMPv6 lives in icmpv6-layer.ts, Neighbor Discovery in neighbour-discovery.ts,
// reassembly in reassembly6.ts, the interface's addresses in interface-addresses.ts.
//
// Read first: RFC 8200 §4 (extension headers, in the order input() follows them), RFC 4861 §7
// (what neighbour-discovery.ts answers), RFC 4443 §2.4 (when an error may be sent).
//
// Contract (besides Ipv6Network's, ipv6-network.ts):
// - Built by NetworkStack when StackOptions.ipv6 is given; it shares the interface's link, arena,
//   clock, counters, transport registry, transmit batch and one timer (Ipv6Host, implemented by
//   NetworkInterface in ../network-interface.ts). Frames of
//   EtherType 0x86DD (and bare packets of version 6 on an IP-framed link) come to input().
// - Hot path: input() and output() allocate nothing: addresses are ids found in place, views
//   and the header-chain result are created once. Fragments and NDP are the slow path.
// - Malformed packets are counted and dropped; nothing on the receive path throws.
import type { SlotArena } from '../../ring/slot-arena.ts';
import type { Clock } from '../clock.ts';
import type { StackCounters } from '../counters.ts';
import { FrameFlags, type LinkDevice, type LinkState } from '../device.ts';
import { ArpCache, ArpState, DEFAULT_ARP_TIMINGS, type ArpTimings } from '../arp-cache.ts';
import { NetworkFamily, type RawListener, type TransportRegistry } from '../transport-registry.ts';
import type { Ipv6InterfaceConfig } from '../config.ts';
import { WskUsageError } from '../../errors.ts';
import { STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS } from '../../ntstatus.ts';
import { EtherType, ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import {
  emitIpv6, emitIpv6Fragment, firstFragmentChainComplete, IPV6_FRAGMENT_HEADER_LENGTH, IPV6_HEADER_LENGTH, IPV6_MIN_MTU, Ipv6Chain, Ipv6Field,
  Ipv6FragmentField, Ipv6HeaderChain,
  Ipv6NextHeader, Ipv6Packet, Ipv6ProblemCode, walkIpv6Extensions,
} from '../wire/ipv6.ts';
import { Icmpv6Type } from '../wire/icmpv6.ts';
import { TcpField } from '../wire/tcp.ts';
import { UdpField } from '../wire/udp.ts';
import { get16 } from '../wire/bytes.ts';
import { checksumFold, pseudoHeaderSumV6At, transportChecksumValidV6 } from '../wire/checksum.ts';
import { Ipv6AddressTable, parseIpv6, parseIpv6Prefix } from './address-table.ts';
import type { Ipv6Network } from './ipv6-network.ts';
import { AddressRole, ALL_NODES, InterfaceAddresses, linkLocalFromMac } from './interface-addresses.ts';
import { Icmpv6Layer, type Echo6ReplyHandler } from './icmpv6-layer.ts';
import { NeighbourDiscovery, type NdpTimings, DEFAULT_NDP_TIMINGS } from './neighbour-discovery.ts';
import { MulticastListener } from './mld.ts';
import { Xoshiro128 } from '../prng.ts';
import { Reassembler6, DEFAULT_REASSEMBLY6_LIMITS, type Reassembly6Limits } from './reassembly6.ts';

/** What the IPv6 layer uses of the interface it lives on (implemented by NetworkInterface). */
export interface Ipv6Host {
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly device: LinkDevice;
  readonly counters: StackCounters;
  readonly transports: TransportRegistry;
  readonly ipFraming: boolean;
  readonly linkState: LinkState;
  readonly closed: boolean;
  /** The interface MTU (InterfaceConfig.mtu or the device's). */
  readonly linkMtu: number;
  /** Prepends an Ethernet header of `etherType` to `slot` for the MAC given as halves, and queues it. */
  emitFrame(slot: number, dstHi: number, dstLo: number, etherType: number): void;
  /** Queues a finished frame (IP framing: a bare packet). */
  queueTx(slot: number): void;
  /** Receives the IP packet in `slot` on the next clock step (to ourselves). */
  loopback(slot: number): void;
  /** The stack's timer should look at nextDeadline() again. */
  rearm(): void;
  /** A copy of the packet to each raw listener. */
  deliverRaw(raw: readonly RawListener[], slot: number, bytes: Uint8Array, offset: number, length: number): void;
}

export interface Ipv6Options extends Ipv6InterfaceConfig {
  /** Neighbour cache timings (RFC 4861 §10 defaults). */
  ndp?: Partial<NdpTimings>;
  reassembly?: Partial<Reassembly6Limits>;
  /** ICMPv6 error rate limit (token bucket; Linux: icmpv6_time 1 s for a burst, here the IPv4 stack's numbers). */
  icmpErrorsPerSecond?: number;
  icmpErrorBurst?: number;
  /** Answer echo requests (default true). */
  echoReply?: boolean;
  /** Seeds MLD's random report delays (mld.ts) so a simulation replays exactly; omitted, Math.random. */
  seed?: number;
}

/** Linux's ip6_rt_mtu_expires: a learned path MTU is forgotten after 10 minutes (RFC 8201 §4). */
const PMTU_EXPIRY_MS = 10 * 60_000;
const DEFAULT_HOP_LIMIT = 64;
/** Redirects remembered at once (a bound on what a flood of valid-looking Redirects can make us keep). */
const MAX_REDIRECTS = 1024;

export class Ipv6Layer implements Ipv6Network {
  readonly table = new Ipv6AddressTable();
  rxDestination = 0;
  rxSource = 0;
  readonly addrs: InterfaceAddresses;
  readonly neighbours: ArpCache;
  readonly icmp: Icmpv6Layer;
  readonly nd: NeighbourDiscovery;
  /** The interface's multicast listener state and MLDv2 reports (mld.ts). */
  readonly mld: MulticastListener;
  readonly reassembler: Reassembler6;
  /** Learned path MTUs (RFC 8201) by destination id. */
  readonly pathMtus = new Map<number, { mtu: number; expires: number }>();
  defaultHopLimit = DEFAULT_HOP_LIMIT;
  /** On-link prefixes (RFC 4861 §6.3.4): the configured addresses' and those routers advertise. */
  readonly prefixes: { id: number; length: number; validUntil: number }[] = [];
  /** Default routers: the configured gateway (forever) and advertising routers (until their lifetime ends). */
  readonly routers: { id: number; validUntil: number }[] = [];
  readonly macHi: number;
  readonly macLo: number;
  readonly allNodes: number;
  /** A router's MTU option (Infinity: none). */
  advertisedMtu = Infinity;
  /** Redirected destinations (RFC 4861 §8.3): destination id → its first hop (the destination itself when on-link); both ids held. */
  readonly redirects = new Map<number, number>();

  private readonly chain = new Ipv6HeaderChain();
  private fragmentId = 1;
  private scratch: Uint8Array | null = null;

  constructor(readonly host: Ipv6Host, options: Ipv6Options) {
    const mac = host.device.mac;
    this.macHi = Math.floor(mac / 0x100000000) & 0xffff;
    this.macLo = mac % 0x100000000 | 0;
    this.addrs = new InterfaceAddresses(this.table);
    this.allNodes = this.addrs.join(ALL_NODES);
    const timings = { ...DEFAULT_NDP_TIMINGS, ...options.ndp };
    const arpTimings: ArpTimings = { ...DEFAULT_ARP_TIMINGS, reachableMs: timings.reachableMs, retransmitMs: timings.retransmitMs, maxTries: timings.maxMulticastSolicit };
    this.neighbours = new ArpCache(host.arena, host.clock, {
      sendRequest: (id, unicast) => this.nd.sendSolicitation(id, unicast),
      flushPending: (slot, e) => this.host.emitFrame(slot, this.neighbours.macHi[e]!, this.neighbours.macLo[e]!, EtherType.IPV6),
      resolveFailed: (id) => { host.transports.neighbourUnreachable(NetworkFamily.IPV6, id); this.forgetRedirectsVia(id); },
      forget: (id) => this.table.release(id),
    }, arpTimings, 1024, 64, timings.delayFirstProbeMs);
    this.icmp = new Icmpv6Layer(this, options);
    this.nd = new NeighbourDiscovery(this, timings, options.acceptRouterAdvertisements ?? true, options.dadTransmits ?? 1);
    this.mld = new MulticastListener({
      clock: host.clock,
      // RFC 3810 §6: never all-nodes, nor a group of reserved (0) or interface-local (1) scope.
      reported: (g) => g !== this.allNodes && ((this.table.word(g, 0) >>> 16) & 0xf) > 1,
      find: (b, at) => this.table.find(b, at),
      retain: (id) => this.table.retain(id),
      release: (id) => this.table.release(id),
      sendReport: (types, groups, count) => this.nd.sendMldReport(types, groups, count),
    });
    if (options.seed !== undefined) {
      const rng = new Xoshiro128(options.seed);
      this.mld.random = () => rng.next();
    }
    this.addrs.onGroupChange = (g, joined) => { if (joined) this.mld.join(g); else this.mld.leave(g); };
    this.reassembler = new Reassembler6({ ...DEFAULT_REASSEMBLY6_LIMITS, ...options.reassembly });
    // The link-local address first (RFC 4862 §5.3), then the configured ones.
    if (!host.ipFraming) this.nd.addAddress(linkLocalFromMac(mac), 64, Infinity);
    for (const text of options.addresses ?? []) {
      const { address, prefixLength } = parseIpv6Prefix(text);
      if (address[0] === 0xff) throw new WskUsageError('NET_CONFIG', `"${text}" is a multicast address; give the interface a unicast address, e.g. fd00:198:18::2/64.`);
      this.nd.addAddress(address, prefixLength, Infinity);
      this.addPrefix(address, prefixLength, Infinity);
    }
    if (options.gateway !== undefined) {
      const g = parseIpv6(options.gateway);
      if (!g || g[0] === 0xff) throw new WskUsageError('NET_CONFIG', `IPv6 gateway "${options.gateway}" is not a unicast IPv6 address; write it as in RFC 4291, e.g. fe80::1.`);
      this.routers.push({ id: this.table.intern(g, 0), validUntil: Infinity });
    }
  }

  /** Starts what a new interface does (RFC 4862 §5.4, RFC 4861 §6.3.7, RFC 3810): DAD, MLD reports, router solicitation. */
  start(): void {
    this.nd.start();
  }

  get addresses(): readonly number[] { return this.addrs.usable; }

  /** The link MTU, lowered by a router's MTU option (RFC 4861 §6.3.4). */
  get mtu(): number { return Math.min(this.host.linkMtu, this.advertisedMtu); }

  isLocal(id: number): boolean {
    const r = this.addrs.roleOf(id);
    return r === AddressRole.ADDRESS || r === AddressRole.TENTATIVE;
  }

  /** Whether `id` is a multicast address (ff00::/8). */
  isMulticast(id: number): boolean {
    return (this.table.word(id, 0) >>> 24) === 0xff;
  }

  /** Whether `id` is link-local unicast (fe80::/10) or link-local multicast (ff02::/16). */
  isLinkScope(id: number): boolean {
    const w = this.table.word(id, 0);
    return (w >>> 22) === 0x3fa || (w >>> 16) === 0xff02;
  }

  sourceFor(dst: number): number {
    // To ourselves (::1 included): from the address itself.
    if (this.addrs.roleOf(dst) === AddressRole.ADDRESS) return dst;
    const usable = this.addrs.usable;
    if (usable.length === 0) return 0;
    const linkLocal = (this.table.word(usable[0]!, 0) >>> 22) === 0x3fa ? usable[0]! : 0;
    if (dst !== 0 && this.isLinkScope(dst) && linkLocal !== 0) return linkLocal;
    // RFC 6724 rules 2 and 8, simplified: a global address, the one sharing the longest prefix.
    let best = 0, bestLength = -1;
    for (let i = 0; i < usable.length; i++) {
      const a = usable[i]!;
      if (a === linkLocal) continue;
      const n = dst === 0 ? 0 : this.commonPrefix(a, dst);
      if (n > bestLength) { best = a; bestLength = n; }
    }
    return best !== 0 ? best : linkLocal;
  }

  hasRoute(dst: number): boolean {
    if (this.isLocal(dst)) return true;
    if (this.host.linkState !== 'up') return false;
    // A point-to-point (IP-framed) link has no neighbours and no router: whatever is not ours goes
    // to its far end, which routes it (a WireGuard tunnel: by its peers' AllowedIPs).
    return this.host.ipFraming || this.isMulticast(dst) || this.isOnLink(dst) || this.defaultRouter() !== 0;
  }

  pathMtu(dst: number): number {
    const link = this.mtu;
    if (this.pathMtus.size === 0) return link;
    const e = this.pathMtus.get(dst);
    if (!e) return link;
    if (e.expires <= this.host.clock.now()) { this.pathMtus.delete(dst); this.table.release(dst); return link; }
    return e.mtu;
  }

  learnPathMtu(dst: number, mtu: number): void {
    // RFC 8201 §4: never below the IPv6 minimum; a report at or above the link MTU teaches nothing.
    if (mtu < IPV6_MIN_MTU) mtu = IPV6_MIN_MTU;
    if (mtu >= this.mtu || dst === 0) return;
    const now = this.host.clock.now();
    const cur = this.pathMtus.get(dst);
    if (cur && cur.mtu <= mtu && cur.expires > now) return;
    if (!cur) this.table.retain(dst);
    this.pathMtus.set(dst, { mtu, expires: now + PMTU_EXPIRY_MS });
    this.host.counters.pmtuUpdates++;
    this.host.transports.pathMtu(NetworkFamily.IPV6, dst, mtu);
  }

  transportChecksumOk(slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number, protocol: number): boolean {
    const caps = this.host.device.capabilities;
    if (caps.rxChecksumVerified || (slot >= 0 && (this.host.arena.flags[slot]! & FrameFlags.CHECKSUM_OK) !== 0)) return true;
    if (caps.rxUnfinishedChecksums) {
      const field = get16(bytes, offset + (protocol === Ipv6NextHeader.TCP ? TcpField.CHECKSUM : UdpField.CHECKSUM));
      const partial = checksumFold(pseudoHeaderSumV6At(bytes, ipOffset, protocol, length));
      if (field === partial || (partial === 0xffff && field === 0)) {
        this.host.counters.rxUnfinishedChecksums++;
        return true;
      }
    }
    return transportChecksumValidV6(bytes, ipOffset, offset, length, protocol);
  }

  // ---- receive (RFC 8200 §4) ----------------------------------------------------------------

  /**
   * One IPv6 packet at bytes[offset..offset+length) (Ethernet padding allowed). `linkMulticast`:
   * it came in a multicast frame; `fromLink`: from the wire (not looped back).
   */
  input(slot: number, bytes: Uint8Array, offset: number, length: number, linkMulticast: boolean, fromLink: boolean): void {
    const c = this.host.counters;
    if (Ipv6Packet.check(bytes, offset, length) !== null) { c.ip6Malformed++; return; }
    c.ip6In++;
    const ipLength = IPV6_HEADER_LENGTH + get16(bytes, offset + Ipv6Field.PAYLOAD_LENGTH);
    const dstAt = offset + Ipv6Field.DESTINATION;
    const srcAt = offset + Ipv6Field.SOURCE;
    const multicast = bytes[dstAt] === 0xff;
    const dst = this.table.find(bytes, dstAt);
    const role = this.addrs.roleOf(dst);
    if (multicast ? role !== AddressRole.GROUP : (role !== AddressRole.ADDRESS && role !== AddressRole.TENTATIVE) || linkMulticast) {
      c.ip6NotForUs++;
      return;
    }
    // A multicast source is never valid (RFC 4291 §2.7); our own address from the wire is a loop or a forgery.
    if (bytes[srcAt] === 0xff) { c.ip6MartianSource++; return; }
    const src = this.table.find(bytes, srcAt);
    if (fromLink) {
      // ::1 never crosses a link (RFC 4291 §2.5.3), either way.
      if (dst === this.addrs.loopback) { c.ip6NotForUs++; return; }
      if (src !== 0 && this.addrs.roleOf(src) === AddressRole.ADDRESS) { c.ip6MartianSource++; return; }
    }
    this.rxDestination = dst;
    this.rxSource = src;
    const ch = this.chain;
    const r = walkIpv6Extensions(bytes, offset, ipLength, ch);
    if (r !== Ipv6Chain.OK) {
      if (r === Ipv6Chain.TRUNCATED) { c.ip6Malformed++; return; }
      c.ip6BadExtension++;
      if (r === Ipv6Chain.PARAMETER_PROBLEM) {
        this.icmp.sendError(bytes, offset, ipLength, Icmpv6Type.PARAMETER_PROBLEM, ch.problemCode, ch.problemPointer,
          ch.problemCode === Ipv6ProblemCode.OPTION && ch.problemToMulticast);
      }
      return;
    }
    // RFC 4862 §5.4: a tentative address takes nothing but neighbour solicitations and advertisements.
    if (role === AddressRole.TENTATIVE && !(ch.nextHeader === Ipv6NextHeader.ICMPV6 && ch.upperOffset < offset + ipLength
      && (bytes[ch.upperOffset] === Icmpv6Type.NEIGHBOR_SOLICITATION || bytes[ch.upperOffset] === Icmpv6Type.NEIGHBOR_ADVERTISEMENT))) {
      c.ip6NotForUs++;
      return;
    }
    if (ch.fragment >= 0) {
      c.ip6FragmentsIn++;
      // RFC 7112 §5 (RFC 8200 §4.5): a first fragment without the whole header chain is dropped, with a
      // Parameter Problem code 3 pointing at 0 (RFC 4443 §3.4 as RFC 7112 updates it).
      if ((get16(bytes, ch.fragment + Ipv6FragmentField.OFFSET_FLAGS) & 0xfff8) === 0 && !firstFragmentChainComplete(bytes, ch.fragment, offset + ipLength)) {
        c.ip6BadExtension++;
        this.icmp.sendError(bytes, offset, ipLength, Icmpv6Type.PARAMETER_PROBLEM, Ipv6ProblemCode.INCOMPLETE_CHAIN, 0, false);
        return;
      }
      this.reassemble(bytes, offset, ipLength, ch.fragment, ch.nextHeaderField, multicast);
      return;
    }
    if (ch.atomic) c.ip6AtomicFragments++;
    this.deliver(slot, bytes, offset, ipLength, multicast, ch.nextHeader, ch.upperOffset, ch.nextHeaderField);
  }

  private deliver(slot: number, bytes: Uint8Array, offset: number, ipLength: number, multicast: boolean, nh: number, upper: number, nhField: number): void {
    const c = this.host.counters;
    const reg = this.host.transports;
    const raw = reg.rawListeners(NetworkFamily.IPV6, nh);
    if (raw !== null) this.host.deliverRaw(raw, slot, bytes, offset, ipLength);
    if (nh === Ipv6NextHeader.ICMPV6) { this.icmp.input(slot, bytes, offset, ipLength, upper, multicast); return; }
    // RFC 8200 §4.7: nothing follows; not an error.
    if (nh === Ipv6NextHeader.NO_NEXT_HEADER) return;
    const h = reg.handler(NetworkFamily.IPV6, nh);
    if (h !== null && (h.broadcast || !multicast)) { h.input(bytes, offset, ipLength, slot, multicast, upper); return; }
    if (raw !== null) return;
    // RFC 8200 §4: an unrecognized Next Header is answered with a Parameter Problem, code 1, pointing at it.
    c.ip6UnknownProtocol++;
    this.icmp.sendError(bytes, offset, ipLength, Icmpv6Type.PARAMETER_PROBLEM, Ipv6ProblemCode.NEXT_HEADER, nhField - offset, false);
  }

  private reassemble(bytes: Uint8Array, offset: number, ipLength: number, fragmentAt: number, nextHeaderField: number, multicast: boolean): void {
    const c = this.host.counters;
    const now = this.host.clock.now();
    const before = this.reassembler.failures;
    const whole = this.reassembler.add(bytes, offset, ipLength, fragmentAt, nextHeaderField, now, this.icmp);
    c.ip6ReassemblyFailed += this.reassembler.failures - before;
    this.host.rearm();
    if (whole === null) return;
    c.ip6Reassembled++;
    const ch = this.chain;
    const r = walkIpv6Extensions(whole, 0, whole.length, ch);
    // A fragment header inside a reassembled packet, or a chain that is wrong now it is whole: drop.
    if (r !== Ipv6Chain.OK || ch.fragment >= 0) { c.ip6BadExtension++; return; }
    this.deliver(-1, whole, 0, whole.length, multicast, ch.nextHeader, ch.upperOffset, ch.nextHeaderField);
  }

  // ---- send ---------------------------------------------------------------------------------

  /** Where an upper-layer packet starts in a new slot: room for Ethernet and the IPv6 header (plus `extra`). */
  upperStart(extra = 0): number {
    return this.host.arena.headroom + ETHERNET_HEADER_LENGTH + IPV6_HEADER_LENGTH + extra;
  }

  output(slot: number, src: number, dst: number, nextHeader: number, trafficClass: number, hopLimit: number, flowLabel: number, multicastLoop = false): void {
    const arena = this.host.arena;
    const payload = arena.lengthOf(slot);
    const at = arena.prepend(slot, IPV6_HEADER_LENGTH);
    const v = arena.view(slot);
    emitIpv6(v, at, payload, nextHeader, hopLimit, trafficClass, flowLabel);
    this.table.copyTo(src, v, at + Ipv6Field.SOURCE);
    this.table.copyTo(dst, v, at + Ipv6Field.DESTINATION);
    this.route(slot, dst, multicastLoop);
  }

  /**
   * Sends the IPv6 packet filling the slot's frame to `dst` (its destination): loopback, multicast
   * MAC or the next hop's; with `multicastLoop`, a copy of a packet to a group we listen to is received here too.
   */
  route(slot: number, dst: number, multicastLoop = false): void {
    const host = this.host;
    host.counters.ip6Out++;
    if (this.isLocal(dst)) { host.loopback(slot); return; }
    if (multicastLoop && this.addrs.roleOf(dst) === AddressRole.GROUP) this.loopbackCopy(slot);
    if (host.closed || host.linkState !== 'up') { host.counters.txNoRoute++; host.arena.release(slot); return; }
    if (host.ipFraming) { host.queueTx(slot); return; }
    // A group's MAC: 33:33 and the address's low 32 bits (RFC 2464 §7).
    if (this.isMulticast(dst)) { host.emitFrame(slot, 0x3333, this.table.word(dst, 3), EtherType.IPV6); return; }
    const nextHop = this.nextHop(dst);
    if (nextHop === 0) { host.counters.txNoRoute++; host.arena.release(slot); return; }
    const n = this.neighbours;
    const e = this.resolve(nextHop, slot);
    if (e < 0) { host.rearm(); return; }
    if (n.deadlineAdded) { n.deadlineAdded = false; host.rearm(); }
    host.emitFrame(slot, n.macHi[e]!, n.macLo[e]!, EtherType.IPV6);
  }

  /** A copy of the IPv6 packet in `slot` for this host (IPV6_MULTICAST_LOOP); dropped, counted, when no slot is free. */
  private loopbackCopy(slot: number): void {
    const arena = this.host.arena;
    const copy = arena.alloc();
    if (copy < 0) { this.host.counters.loopbackDrops++; return; }
    const at = arena.offsetOf(slot);
    const n = arena.lengthOf(slot);
    arena.view(copy).set(arena.view(slot).subarray(at, at + n), at);
    arena.setFrame(copy, at, n);
    this.host.loopback(copy);
  }

  /** The neighbour cache's resolve(); a new entry holds a reference to its address id (released by the cache's forget). */
  private resolve(id: number, slot: number): number {
    if (this.neighbours.stateOf(id) === ArpState.FREE) this.table.retain(id);
    return this.neighbours.resolve(id, slot);
  }

  outputFragmented(whole: Uint8Array, length: number, src: number, dst: number, nextHeader: number, trafficClass: number, hopLimit: number,
    multicastLoop = false): NTSTATUS {
    const arena = this.host.arena;
    const mtu = this.isLocal(dst) ? 65535 : this.pathMtu(dst);
    const room = Math.min(mtu, arena.slotSize - arena.headroom - ETHERNET_HEADER_LENGTH - 4);
    // RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes.
    const perFragment = (room - IPV6_HEADER_LENGTH - IPV6_FRAGMENT_HEADER_LENGTH) & ~7;
    const fragments = Math.ceil(length / perFragment);
    if (arena.freeCount < fragments) { this.host.counters.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    // RFC 7739: identifications need only be unique per (source, destination) while fragments live; a counter is.
    const id = this.fragmentId;
    this.fragmentId = (this.fragmentId + 1) >>> 0 || 1;
    for (let off = 0; off < length; off += perFragment) {
      const n = Math.min(perFragment, length - off);
      const slot = arena.alloc();
      const start = this.upperStart(IPV6_FRAGMENT_HEADER_LENGTH);
      const v = arena.view(slot);
      v.set(whole.subarray(off, off + n), start);
      emitIpv6Fragment(v, start - IPV6_FRAGMENT_HEADER_LENGTH, nextHeader, off, off + n < length, id);
      arena.setFrame(slot, start - IPV6_FRAGMENT_HEADER_LENGTH, n + IPV6_FRAGMENT_HEADER_LENGTH);
      this.host.counters.ip6FragmentsOut++;
      this.output(slot, src, dst, Ipv6NextHeader.FRAGMENT, trafficClass, hopLimit, 0, multicastLoop);
    }
    return STATUS_SUCCESS;
  }

  /** A 64 KiB buffer for building a whole datagram before it is cut (slow path). */
  scratchBuffer(): Uint8Array {
    return (this.scratch ??= new Uint8Array(65536));
  }

  // ---- ICMPv6 entry points (icmpv6-layer.ts) --------------------------------------------------

  /** Sends an echo request (ping -6) with `dataLength` bytes of pattern data from sourceFor(dst). */
  ping6(dst: number, identifier: number, sequence: number, dataLength = 56): NTSTATUS {
    return this.icmp.ping(dst, identifier, sequence, dataLength);
  }

  set onEchoReply(handler: Echo6ReplyHandler | null) { this.icmp.onEchoReply = handler; }
  get onEchoReply(): Echo6ReplyHandler | null { return this.icmp.onEchoReply; }

  /**
   * An ICMPv6 error about the received packet bytes[ipOffset..+ipLength) (UDP's port unreachable,
   * for one): never about an ICMPv6 error or a packet from :: or a multicast source, never to a
   * multicast destination unless `evenIfMulticast` (RFC 4443 §2.4(e): Packet Too Big, Parameter
   * Problem code 2), rate-limited.
   */
  sendIcmpError6(bytes: Uint8Array, ipOffset: number, ipLength: number, type: number, code: number, info: number, evenIfMulticast = false): void {
    this.icmp.sendError(bytes, ipOffset, ipLength, type, code, info, evenIfMulticast || type === Icmpv6Type.PACKET_TOO_BIG);
  }

  // ---- routing ------------------------------------------------------------------------------

  /** Ipv6Network.nextHop: a Redirect's first hop for `dst` (RFC 4861 §8.3), else `dst` on-link, else the default router (0: none). */
  nextHop(dst: number): number {
    if (this.redirects.size > 0) {
      const r = this.redirects.get(dst);
      if (r !== undefined) return r;
    }
    return this.isOnLink(dst) ? dst : this.defaultRouter();
  }

  /** Packets to `dst` go to `target` from now on (a Redirect, neighbour-discovery.ts); at most MAX_REDIRECTS, the oldest forgotten first. */
  redirect(dst: number, target: number): void {
    const old = this.redirects.get(dst);
    if (old === target) return;
    if (old !== undefined) this.table.release(old);
    else {
      if (this.redirects.size >= MAX_REDIRECTS) this.forgetRedirect(this.redirects.keys().next().value!);
      this.table.retain(dst);
    }
    this.table.retain(target);
    this.redirects.set(dst, target);
  }

  /** The neighbour `id` did not answer: destinations redirected to it go back to the routing table. */
  private forgetRedirectsVia(id: number): void {
    if (this.redirects.size === 0) return;
    for (const [dst, target] of [...this.redirects]) if (target === id) this.forgetRedirect(dst);
  }

  /** Every redirect (the link went down, or the stack closes: the first hops may have changed). */
  private forgetRedirects(): void {
    for (const dst of [...this.redirects.keys()]) this.forgetRedirect(dst);
  }

  private forgetRedirect(dst: number): void {
    const target = this.redirects.get(dst);
    if (target === undefined) return;
    this.redirects.delete(dst);
    this.table.release(target);
    this.table.release(dst);
  }

  /** On the link: link-local, or inside an on-link prefix. */
  isOnLink(id: number): boolean {
    if ((this.table.word(id, 0) >>> 22) === 0x3fa) return true;
    const p = this.prefixes;
    for (let i = 0; i < p.length; i++) if (this.commonPrefix(id, p[i]!.id) >= p[i]!.length) return true;
    return false;
  }

  /** The first default router whose neighbour entry has not failed (RFC 4861 §6.3.6), or 0. */
  defaultRouter(): number {
    const r = this.routers;
    let fallback = 0;
    for (let i = 0; i < r.length; i++) {
      const id = r[i]!.id;
      if (this.neighbours.stateOf(id) !== ArpState.FAILED) return id;
      if (fallback === 0) fallback = id;
    }
    return fallback;
  }

  /** Leading bits `a` and `b` share (0..128). */
  commonPrefix(a: number, b: number): number {
    const t = this.table;
    for (let k = 0; k < 4; k++) {
      const x = t.word(a, k) ^ t.word(b, k);
      if (x !== 0) return k * 32 + Math.clz32(x);
    }
    return 128;
  }

  /** Adds (or refreshes) an on-link prefix: the address's first `length` bits. */
  addPrefix(address: Uint8Array, length: number, validUntil: number): void {
    const p = address.slice();
    for (let bit = length; bit < 128; bit++) p[bit >> 3]! &= ~(0x80 >> (bit & 7));
    const found = this.table.find(p, 0);
    for (const e of this.prefixes) {
      if (e.id === found && e.length === length) { e.validUntil = validUntil; return; }
    }
    const id = this.table.intern(p, 0);
    if (id === 0) return; // ::/n is no prefix we route by
    this.prefixes.push({ id, length, validUntil });
  }

  // ---- timers -------------------------------------------------------------------------------

  nextDeadline(): number {
    return Math.min(this.neighbours.nextDeadline(), this.reassembler.nextDeadline(), this.nd.nextDeadline());
  }

  poll(now: number): void {
    this.neighbours.poll(now);
    const failed = this.reassembler.failures;
    this.reassembler.poll(now, this.icmp);
    this.host.counters.ip6ReassemblyFailed += this.reassembler.failures - failed;
    this.nd.poll(now);
  }

  /** The link went down: neighbours may have moved. */
  linkChanged(state: LinkState): void {
    if (state !== 'up') {
      this.neighbours.clear();
      this.forgetRedirects();
    }
  }

  close(): void {
    this.forgetRedirects();
    this.mld.close();
    this.neighbours.clear();
    this.reassembler.clear();
  }

}

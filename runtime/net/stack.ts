// The userspace IPv4 stack on one link device (docs/architecture.md §2, §5): Ethernet, ARP, IPv4 with
// bounded reassembly and path MTU, ICMP, UDP. Transports (UDP here, TCP, raw listeners) take
// their packets, ICMP errors and network events through `transports` (transport-registry.ts).
//
// Hot path: one onReceive call per batch; every frame is parsed in place through views created
// once; nothing is allocated per frame (proved by test/net-allocation.test.ts). Datagram payload
// is handed to sockets as a view over the ring slot; a socket that keeps it calls hold() and the
// slot stays referenced until released. Transmitted frames collect in one batch, sent at the end
// of the receive batch or on the next clock step. One timer for the whole stack (ARP, reassembly).
// Malformed or foreign frames are counted and dropped; nothing on the receive path throws.
// IPv4 addresses are signed 32-bit integers (`| 0`) and MACs are handled as (high 16, low 32)
// halves: V8 keeps both as small integers, where unsigned addresses above 2^31 or 48-bit MACs
// would be boxed numbers — an allocation on every call that passes one.
import type { SlotArena } from '../ring/slot-arena.ts';
import { HeldDataTable } from '../ring/held-data.ts';
import type { Clock, ClockTimer } from './clock.ts';
import { FrameFlags, type LinkDevice, type LinkReceiver, type LinkState } from './device.ts';
import { ArpCache, DEFAULT_ARP_TIMINGS, type ArpTimings } from './arp-cache.ts';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from './reassembly.ts';
import { parseInterface, type InterfaceConfig, type ParsedInterface } from './config.ts';
import { newStackCounters, type StackCounters } from './counters.ts';
import { Ipv6Layer, type Ipv6Host, type Ipv6Options } from './ipv6/ipv6-layer.ts';
import { NetworkFamily, TransportRegistry, type RawListener } from './transport-registry.ts';
import { UDP_MSG_BCAST, UdpTable, openUdpSocket, type UdpReceiver, type UdpSocket } from './udp.ts';
import { MulticastGroups, isMulticast } from './igmp.ts';
import { EthernetFrame, EtherType, emitEthernet, ETHERNET_HEADER_LENGTH, EthernetField } from './wire/ethernet.ts';
import { ArpOperation, ArpPacket, emitArp, ARP_LENGTH, ArpField } from './wire/arp.ts';
import {
  emitIpv4, IpProtocol, Ipv4Flags, Ipv4Packet, IPV4_MIN_HEADER_LENGTH, IPV4_OPTIONS_SOURCE_ROUTED, IPV4_OPTIONS_VALID,
  validateIpv4Options, Ipv4Field, ipv4HeaderLength,
} from './wire/ipv4.ts';
import {
  emitIcmpEcho, emitIcmpError, ICMP_HEADER_LENGTH, IcmpTimeExceededCode, IcmpType, IcmpUnreachableCode, Icmpv4Packet,
} from './wire/icmpv4.ts';
import { TcpField } from './wire/tcp.ts';
import { emitUdp, UDP_HEADER_LENGTH, UdpDatagram, UdpField } from './wire/udp.ts';
import { get16, get32s, set16, set32 } from './wire/bytes.ts';
import { checksumFold, internetChecksum, pseudoHeaderSumV4, transportChecksumValid } from './wire/checksum.ts';
import {
  STATUS_ACCESS_DENIED, STATUS_BUFFER_OVERFLOW, STATUS_INSUFFICIENT_RESOURCES, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS,
  STATUS_INVALID_DEVICE_STATE, type NTSTATUS,
} from '../ntstatus.ts';

export const BROADCAST_MAC = 0xffffffffffff;
const LIMITED_BROADCAST = -1;
/** The TTL of what the stack sends unless a socket's IP_TTL says otherwise (Linux's default, ip(7)). */
const DEFAULT_IP_TTL = 64;
const ETH_IP_UDP = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;
/** RFC 1812 §4.3.2.3: an ICMP error quotes as much as fits in 576 bytes. */
const ICMP_ERROR_MAX = 576;
/** Linux's ip_rt_mtu_expires: a learned path MTU is forgotten after 10 minutes (RFC 1191 §6.3). */
const PMTU_EXPIRY_MS = 10 * 60_000;
/** Linux's ip_rt_min_pmtu (net/ipv4/route.c): the smallest path MTU ICMP may teach us. */
const MIN_PATH_MTU = 552;

export interface StackOptions extends InterfaceConfig {
  arp?: Partial<ArpTimings>;
  reassembly?: Partial<ReassemblyLimits>;
  /** ICMP error rate limit (token bucket; Linux: 1000/s, burst 50). */
  icmpErrorsPerSecond?: number;
  icmpErrorBurst?: number;
  /** Capacity of the held-data table (datagrams kept by sockets). Default: arena slots. */
  heldCapacity?: number;
  /** Send a gratuitous ARP at start (default true). */
  gratuitousArp?: boolean;
  /** Answer echo requests (default true). */
  echoReply?: boolean;
  /** IPv6 on the interface (InterfaceConfig.ipv6, with the layer's timings and limits). */
  ipv6?: Ipv6Options;
}

export type EchoReplyHandler = (src: number, identifier: number, sequence: number, data: Uint8Array) => void;

export class Ipv4Stack implements LinkReceiver, Ipv6Host {
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly iface: ParsedInterface;
  readonly counters: StackCounters = newStackCounters();
  readonly udp = new UdpTable();
  /** The interface's IPv4 multicast memberships and IGMPv2 (igmp.ts). */
  readonly groups: MulticastGroups = new MulticastGroups(this);
  readonly arp: ArpCache;
  readonly reassembler: Reassembler;
  readonly held: HeldDataTable;
  /** Learned path MTUs (RFC 1191) by destination; entries expire after 10 minutes. */
  readonly pathMtus = new Map<number, { mtu: number; expires: number }>();
  onEchoReply: EchoReplyHandler | null = null;
  /**
   * Who takes each IP protocol (UDP registers itself here; TCP and raw listeners from outside),
   * who judges ICMP errors quoting it, and who hears of batch ends, link changes, unreachable
   * neighbours and path MTU changes.
   */
  readonly transports = new TransportRegistry();
  /** IPv6 on this interface (StackOptions.ipv6; it implements Ipv6Network), or null: the stack then drops IPv6 frames (counted). */
  ip6: Ipv6Layer | null = null;
  /** The device's state as last reported; while it is not 'up' there is no route (sends are refused). */
  linkState: LinkState;
  closed = false;
  /** The link carries bare IPv4 packets (a raw IP socket, tun): no Ethernet header, no ARP. */
  readonly ipFraming: boolean;

  private readonly macHi: number;
  private readonly macLo: number;
  private readonly timer: ClockTimer;
  private readonly tx: Int32Array;
  private txCount = 0;
  private flushScheduled = false;
  private inBatch = false;
  private readonly flushBound = (): void => this.flushTx();
  private readonly loop: Int32Array;
  private loopCount = 0;
  private loopScheduled = false;
  private readonly loopBound = (): void => this.runLoopback();
  private ipId = 1;
  private icmpTokens: number;
  private icmpStamp: number;
  private readonly icmpRate: number;
  private readonly icmpBurst: number;
  private readonly echoReply: boolean;
  /** The datagram being delivered (for UdpSocket.hold()). */
  private curSlot = -1;
  private curBytes: Uint8Array | null = null;
  private curOffset = 0;
  private curLength = 0;
  private curIpOffset = 0;
  private readonly eth = new EthernetFrame();
  private readonly arpView = new ArpPacket();
  private readonly ipView = new Ipv4Packet();
  private readonly icmpView = new Icmpv4Packet();
  private readonly udpView = new UdpDatagram();
  private scratch: Uint8Array | null = null;

  constructor(readonly device: LinkDevice, options: StackOptions) {
    this.arena = device.arena;
    this.clock = device.clock;
    this.iface = parseInterface(options, device.mtu);
    this.macHi = Math.floor(device.mac / 0x100000000) & 0xffff;
    this.macLo = device.mac % 0x100000000 | 0;
    this.arp = new ArpCache(this.arena, this.clock, {
      sendRequest: (ip) => this.sendArp(ArpOperation.REQUEST, 0, ip),
      flushPending: (slot, e) => this.emitFrame(slot, this.arp.macHi[e]!, this.arp.macLo[e]!, EtherType.IPV4),
      resolveFailed: (ip) => this.transports.neighbourUnreachable(NetworkFamily.IPV4, ip),
    }, { ...DEFAULT_ARP_TIMINGS, ...options.arp });
    this.reassembler = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...options.reassembly });
    this.held = new HeldDataTable(this.arena, { capacity: options.heldCapacity ?? this.arena.slotCount });
    this.timer = this.clock.createTimer(() => this.onTimer());
    this.tx = new Int32Array(256);
    this.loop = new Int32Array(256);
    this.icmpRate = options.icmpErrorsPerSecond ?? 1000;
    this.icmpBurst = options.icmpErrorBurst ?? 50;
    this.icmpTokens = this.icmpBurst;
    this.icmpStamp = this.clock.now();
    this.echoReply = options.echoReply ?? true;
    this.ipFraming = device.framing === 'ip';
    this.linkState = device.state ?? 'up';
    this.transports.register(NetworkFamily.IPV4, IpProtocol.UDP, {
      broadcast: true,
      input: (bytes, ipOffset, ipLength, slot, broadcast) => this.inputUdp(slot, bytes, ipOffset, ipLength, broadcast),
      icmpError: (type, code, info, bytes, q, qhl) => this.udpIcmpError(type, code, info, bytes, q, qhl),
    });
    if (options.ipv6) {
      this.ip6 = new Ipv6Layer(this, {
        icmpErrorsPerSecond: options.icmpErrorsPerSecond, icmpErrorBurst: options.icmpErrorBurst, echoReply: options.echoReply, ...options.ipv6,
      });
    }
    device.attach(this);
    if ((options.gratuitousArp ?? true) && !this.ipFraming) {
      this.sendArp(ArpOperation.REQUEST, 0, this.iface.address);
      for (const a of this.iface.secondary) this.sendArp(ArpOperation.REQUEST, 0, a, a);
    }
    this.ip6?.start();
  }

  /** Ipv6Host: the interface MTU. */
  get linkMtu(): number { return this.iface.mtu; }

  /** The device's report (LinkReceiver): 'gone' is final; transports hear of it through the registry's events. */
  onLinkState(state: LinkState, reason: string): void {
    if (this.linkState === 'gone' || this.linkState === state) return;
    this.linkState = state;
    this.counters.linkStateChanges++;
    // Neighbours may have moved while the link was down: learn them again.
    if (state !== 'up') this.arp.clear();
    this.ip6?.linkChanged(state);
    this.transports.linkChange(state, reason);
  }

  get address(): number { return this.iface.address; }
  get mac(): number { return this.device.mac; }

  /** True for the interface's address and its secondary addresses (InterfaceConfig.secondary). */
  isLocalAddress(ip: number): boolean {
    ip |= 0;
    if (ip === this.iface.address) return true;
    const extra = this.iface.secondary;
    for (let i = 0; i < extra.length; i++) if (extra[i] === ip) return true;
    return false;
  }

  /** Stops the stack: drops waiting packets and timers, detaches from the device. */
  close(): void {
    if (this.closed) return;
    this.flushTx();
    this.closed = true;
    this.timer.disarm();
    this.groups.close();
    this.arp.clear();
    this.reassembler.clear();
    this.ip6?.close();
    for (let i = 0; i < this.loopCount; i++) this.arena.release(this.loop[i]!);
    this.loopCount = 0;
    this.device.attach(null);
  }

  // ---- receive ----------------------------------------------------------------------------

  onReceive(slots: Int32Array, count: number): void {
    this.inBatch = true;
    const arena = this.arena;
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!;
      if (!this.closed) this.inputFrame(slot, arena.view(slot), arena.offsetOf(slot), arena.lengthOf(slot));
      arena.release(slot);
    }
    this.inBatch = false;
    this.endBatch();
  }

  /** True while a receive batch is processed: what is sent now leaves with the batch's transmit batch. */
  get receiving(): boolean { return this.inBatch; }

  private endBatch(): void {
    this.transports.batchEnd();
    this.relieve();
    this.flushTx();
  }

  /** LinkReceiver: copies held data out of slots the arena runs short of or the device wants back. */
  relieve(): void {
    if (this.held.underPressure) this.counters.heldCopyOuts += this.held.relievePressure();
  }

  private inputFrame(slot: number, bytes: Uint8Array, offset: number, length: number): void {
    const c = this.counters;
    c.rxFrames++;
    if (this.ipFraming) {
      const version = length > 0 ? bytes[offset]! >>> 4 : 0;
      if (version === 6 && this.ip6 !== null) { this.ip6.input(slot, bytes, offset, length, false, true); return; }
      if (length < IPV4_MIN_HEADER_LENGTH || version !== 4) { c.rxMalformed++; return; }
      this.inputIpv4(slot, bytes, offset, length, false, true);
      return;
    }
    if (EthernetFrame.check(bytes, offset, length) !== null) { c.rxMalformed++; return; }
    const eth = this.eth.reset(bytes, offset, length);
    const hi = get16(bytes, offset + EthernetField.DESTINATION);
    const lo = get32s(bytes, offset + EthernetField.DESTINATION + 2);
    // The broadcast address, or an IPv4 group address (01:00:5e and a 0 bit, RFC 1112 §6.4):
    // the IPv4 layer takes such a frame only for a broadcast or a group the interface is a member of.
    const broadcast = (hi === 0xffff && lo === -1) || (hi === 0x0100 && (lo >>> 23) === 0xbc);
    // 33:33 and a group's low 32 bits (RFC 2464 §7): IPv6 multicast, for the IPv6 layer to judge.
    const multicast6 = hi === 0x3333 && this.ip6 !== null;
    if (!broadcast && !multicast6 && (hi !== this.macHi || lo !== this.macLo)) { c.rxNotForUs++; return; }
    const type = eth.etherType;
    const p = eth.payloadOffset;
    const n = length - (p - offset);
    if (type === EtherType.IPV4) { if (!multicast6) this.inputIpv4(slot, bytes, p, n, broadcast, true); else c.rxNotForUs++; }
    else if (type === EtherType.IPV6 && this.ip6 !== null) this.ip6.input(slot, bytes, p, n, broadcast || multicast6, true);
    else if (type === EtherType.ARP) this.inputArp(bytes, p, n);
    else c.rxUnknownEtherType++;
  }

  private inputArp(bytes: Uint8Array, offset: number, length: number): void {
    const c = this.counters;
    if (ArpPacket.check(bytes, offset, length) !== null) { c.arpMalformed++; return; }
    c.arpIn++;
    const a = this.arpView.reset(bytes, offset, length);
    const senderIp = a.senderProtocolAddr | 0;
    const senderHi = get16(bytes, offset + ArpField.SENDER_HARDWARE);
    const senderLo = get32s(bytes, offset + ArpField.SENDER_HARDWARE + 2);
    const target = a.targetProtocolAddr | 0;
    if (this.isLocalAddress(senderIp)) {
      // Someone else claims our address (or our own gratuitous ARP echoed back by a hub).
      if (senderHi !== this.macHi || senderLo !== this.macLo) c.arpConflicts++;
      return;
    }
    // A sender MAC with the group bit (multicast/broadcast) is bogus (RFC 1812 §3.3.2).
    if ((senderHi & 0x0100) !== 0) { c.arpMalformed++; return; }
    const forUs = this.isLocalAddress(target);
    if (senderIp === 0) {
      // RFC 5227 probe: someone checks whether our address is taken. Answer (as Linux does,
      // to the prober's MAC with target IP 0) but learn nothing from it.
      if (forUs && a.operation === ArpOperation.REQUEST) {
        this.sendArp(ArpOperation.REPLY, senderHi * 0x100000000 + (senderLo >>> 0), 0, target);
        c.arpRepliesSent++;
      } else {
        c.arpNotForUs++;
      }
      return;
    }
    this.arp.learn(senderIp, senderHi, senderLo, forUs, this.clock.now());
    if (forUs && a.operation === ArpOperation.REQUEST) {
      this.sendArp(ArpOperation.REPLY, senderHi * 0x100000000 + (senderLo >>> 0), senderIp, target);
      c.arpRepliesSent++;
    } else if (!forUs) {
      c.arpNotForUs++;
    }
    this.rearm();
  }

  /** @internal (raw.ts too) */
  isLocalDestination(dst: number): boolean {
    return dst === this.iface.address || (this.iface.secondary.length > 0 && this.isLocalAddress(dst));
  }

  /** @internal (raw.ts too): the limited broadcast or the interface's directed broadcast. */
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

  /** `fromLink` is false for the loopback path, whose packets come from our own address. */
  private inputIpv4(slot: number, bytes: Uint8Array, offset: number, length: number, linkBroadcast: boolean, fromLink: boolean): void {
    const c = this.counters;
    const err = Ipv4Packet.check(bytes, offset, length, !this.device.capabilities.rxChecksumVerified);
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
      this.rearm();
      if (!whole) return;
      this.deliverIpv4(-1, whole.bytes, 0, whole.length, broadcast);
      return;
    }
    this.deliverIpv4(slot, bytes, offset, ip.length, broadcast);
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
    if (!broadcast) this.sendIcmpError(bytes, offset, length, IcmpType.PARAMETER_PROBLEM, 0, v);
    return false;
  }

  private deliverIpv4(slot: number, bytes: Uint8Array, offset: number, length: number, broadcast: boolean): void {
    const c = this.counters;
    const hl = ipv4HeaderLength(bytes, offset);
    const proto = bytes[offset + Ipv4Field.PROTOCOL]!;
    const raw = this.transports.rawListeners(NetworkFamily.IPV4, proto);
    if (raw !== null) this.deliverRaw(raw, slot, bytes, offset, length);
    if (proto === IpProtocol.ICMP) { this.inputIcmp(bytes, offset, hl, length, broadcast); return; }
    if (proto === IpProtocol.IGMP) { this.groups.input(bytes, offset + hl, length - hl); return; }
    const h = this.transports.handler(NetworkFamily.IPV4, proto);
    if (h !== null && (h.broadcast || !broadcast)) { h.input(bytes, offset, length, slot, broadcast, offset + hl); return; }
    // A raw listener took it: no "protocol unreachable", as Linux's ip_local_deliver_finish.
    if (raw !== null) return;
    c.ipUnknownProtocol++;
    if (!broadcast) this.sendIcmpError(bytes, offset, length, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PROTOCOL, 0);
  }

  /** @internal (Ipv6Host too): a copy of the packet to each raw listener of its protocol (borrowed for the call, as transports get it). */
  deliverRaw(raw: readonly RawListener[], slot: number, bytes: Uint8Array, offset: number, length: number): void {
    for (let i = 0; i < raw.length; i++) {
      try {
        raw[i]!.input(bytes, offset, length, slot);
      } catch {
        this.counters.receiverErrors++;
      }
    }
  }

  private inputUdp(slot: number, bytes: Uint8Array, ipOffset: number, ipLength: number, broadcast: boolean): void {
    const c = this.counters;
    const hl = ipv4HeaderLength(bytes, ipOffset);
    const src = get32s(bytes, ipOffset + Ipv4Field.SOURCE);
    const dst = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
    const off = ipOffset + hl;
    if (UdpDatagram.check(bytes, off, ipLength - hl) !== null) { c.udpMalformed++; return; }
    // Checksum 0: none sent (RFC 768). Verified here rather than in check(), which wants unsigned addresses.
    if (get16(bytes, off + UdpField.CHECKSUM) !== 0 && !this.transportChecksumOk(slot, bytes, off, get16(bytes, off + UdpField.LENGTH), src, dst, IpProtocol.UDP)) {
      c.udpBadChecksum++;
      return;
    }
    c.udpIn++;
    const u = this.udpView.reset(bytes, off, ipLength - hl);
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
          if (s.groups.indexOf(dst) >= 0) this.deliverUdp(s, slot, bytes, ipOffset, payload, len, src, srcPort, 0);
        }
        return;
      }
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        if (s.localIp === 0 || s.localIp === dst || s.localIp === this.iface.address) this.deliverUdp(s, slot, bytes, ipOffset, payload, len, src, srcPort, UDP_MSG_BCAST);
      }
      return;
    }
    const s = this.udp.lookup(dst, dstPort, src, srcPort);
    if (!s) {
      c.udpNoPort++;
      this.sendIcmpError(bytes, ipOffset, ipLength, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PORT, 0);
      return;
    }
    this.deliverUdp(s, slot, bytes, ipOffset, payload, len, src, srcPort, 0);
  }

  private deliverUdp(s: UdpSocket, slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number, src: number, srcPort: number,
    flags: number): void {
    s.datagramsIn++;
    s.bytesIn += length;
    this.beginDelivery(slot, bytes, ipOffset, offset, length);
    try {
      s.receiver.onDatagram(s, bytes, offset, length, src, srcPort, flags);
    } catch {
      // A receiver bug must not take the stack down; it is counted.
      this.counters.receiverErrors++;
    }
    this.endDelivery();
  }

  /**
   * @internal (UDP here, raw.ts): bytes[offset..+length) is being handed to a socket, its IPv4
   * header at ipOffset, so that holdCurrent() and currentIpHeader() can answer until endDelivery().
   */
  beginDelivery(slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number): void {
    this.curSlot = slot;
    this.curBytes = bytes;
    this.curIpOffset = ipOffset;
    this.curOffset = offset;
    this.curLength = length;
  }

  /** @internal */
  endDelivery(): void {
    this.curBytes = null;
  }

  /**
   * Whether the TCP/UDP segment at bytes[offset..+length) may be taken: the device vouches for it
   * (capability, or this frame's FrameFlags.CHECKSUM_OK), its checksum is right, or — on a
   * device that cannot tell (rxUnfinishedChecksums) — it holds exactly the pseudo-header sum a
   * local sender with checksum offload leaves for the hardware (counted).
   */
  transportChecksumOk(slot: number, bytes: Uint8Array, offset: number, length: number, src: number, dst: number, protocol: number): boolean {
    const caps = this.device.capabilities;
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

  /**
   * @internal UdpSocket.receivedHeader(): where the IPv4 header of the datagram being delivered
   * starts in the bytes onDatagram got (its TOS, TTL and destination), or -1 outside a delivery.
   */
  currentIpHeader(): number {
    return this.curBytes ? this.curIpOffset : -1;
  }

  /** @internal UdpSocket.hold(): keep the datagram being delivered. */
  holdCurrent(): number {
    const bytes = this.curBytes;
    if (!bytes) return -1;
    let h: number;
    if (this.curSlot >= 0) h = this.held.hold(this.curSlot, this.curOffset - (bytes.byteOffset - this.arena.base(this.curSlot)), this.curLength);
    else h = this.held.holdBytes(bytes.subarray(this.curOffset, this.curOffset + this.curLength));
    if (h < 0) this.counters.heldRefused++;
    return h;
  }

  private inputIcmp(bytes: Uint8Array, ipOffset: number, hl: number, ipLength: number, broadcast: boolean): void {
    const c = this.counters;
    const off = ipOffset + hl;
    const len = ipLength - hl;
    if (Icmpv4Packet.check(bytes, off, len, !this.device.capabilities.rxChecksumVerified) !== null) { c.icmpMalformed++; return; }
    c.icmpIn++;
    const m = this.icmpView.reset(bytes, off, len);
    const type = m.type;
    const src = get32s(bytes, ipOffset + Ipv4Field.SOURCE);
    if (type === IcmpType.ECHO_REQUEST) {
      // Linux's icmp_echo_ignore_broadcasts default: no smurf amplifier.
      if (broadcast || !this.echoReply) return;
      // From the address that was pinged (a secondary one too), as Linux's icmp_reply does.
      const pinged = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
      if (this.sendEcho(IcmpType.ECHO_REPLY, pinged, src, m.identifier, m.sequence, bytes, m.dataOffset, m.dataLength)) c.icmpEchoRepliesSent++;
    } else if (type === IcmpType.ECHO_REPLY) {
      c.icmpEchoRepliesIn++;
      this.onEchoReply?.(src, m.identifier, m.sequence, bytes.subarray(m.dataOffset, m.dataOffset + m.dataLength));
    } else if (type === IcmpType.DEST_UNREACHABLE || type === IcmpType.TIME_EXCEEDED) {
      this.inputIcmpError(type, m.code, m.nextHopMtu, bytes, m.quotedOffset, m.quotedLength);
    }
  }

  private inputIcmpError(type: number, code: number, nextHopMtu: number, bytes: Uint8Array, q: number, qlen: number): void {
    const c = this.counters;
    // The quoted header must be ours; its checksum is not rechecked (routers may have changed TTL).
    if (qlen < IPV4_MIN_HEADER_LENGTH || bytes[q]! >>> 4 !== 4) { c.icmpMalformed++; return; }
    const qhl = ipv4HeaderLength(bytes, q);
    if (qhl < IPV4_MIN_HEADER_LENGTH || qlen < qhl + 8) { c.icmpMalformed++; return; }
    if (!this.isLocalAddress(get32s(bytes, q + Ipv4Field.SOURCE))) { c.icmpMalformed++; return; }
    c.icmpErrorsIn++;
    // RFC 5927 §5.1: anyone can forge an error, so it acts only through the socket or connection
    // it quotes — as Linux's protocol handlers (tcp_v4_err, __udp4_lib_err) do — and one that
    // matches none changes nothing, not even the path MTU towards its destination.
    const proto = bytes[q + Ipv4Field.PROTOCOL]!;
    const raw = this.transports.rawListeners(NetworkFamily.IPV4, proto);
    if (raw !== null) {
      for (let i = 0; i < raw.length; i++) {
        try { raw[i]!.icmpError?.(type, code, nextHopMtu, bytes, q, qhl); } catch { c.receiverErrors++; }
      }
    }
    const h = this.transports.handler(NetworkFamily.IPV4, proto);
    const matched = h !== null && h.icmpError !== undefined && h.icmpError(type, code, nextHopMtu, bytes, q, qhl);
    if (!matched) c.icmpErrorsUnmatched++;
  }

  /** UDP's judgement of an ICMP error quoting one of its datagrams (the registry's icmpError). */
  private udpIcmpError(type: number, code: number, nextHopMtu: number, bytes: Uint8Array, q: number, qhl: number): boolean {
    const qdst = get32s(bytes, q + Ipv4Field.DESTINATION);
    const dport = get16(bytes, q + qhl + UdpField.DESTINATION_PORT);
    const s = this.udp.lookup(get32s(bytes, q + Ipv4Field.SOURCE), get16(bytes, q + qhl + UdpField.SOURCE_PORT), qdst, dport);
    if (!s) return false;
    // Linux __udp4_lib_err: the path MTU is learned for a matching socket, whatever its DF setting.
    if (type === IcmpType.DEST_UNREACHABLE && code === IcmpUnreachableCode.FRAG_NEEDED) this.learnPathMtu(qdst, nextHopMtu, get16(bytes, q + Ipv4Field.TOTAL_LENGTH));
    s.icmpErrors++;
    s.lastIcmpType = type;
    s.lastIcmpCode = code;
    s.receiver.onIcmpError?.(s, type, code, qdst, dport);
    return true;
  }

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

  /** True when `dst` is ours, on the interface's subnet, a broadcast, reachable through the gateway, or anything on a point-to-point (IP-framed) link, whose far end routes. */
  hasRoute(dst: number): boolean {
    dst |= 0;
    if (this.linkState !== 'up') return this.isLocalDestination(dst) || (dst >>> 24) === 127;
    return this.ipFraming || this.isLocalDestination(dst) || (dst >>> 24) === 127 || this.isBroadcast(dst) || isMulticast(dst)
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

  // ---- transmit ---------------------------------------------------------------------------

  /** Opens a UDP socket; port 0 picks an ephemeral port. Returns null when the port space is exhausted. */
  openUdp(localIp: number, localPort: number, receiver: UdpReceiver): UdpSocket | null {
    return openUdpSocket(this, NetworkFamily.IPV4, localIp, localPort, receiver);
  }

  /**
   * Sends one UDP datagram made of `pieces[0..count)`. Returns STATUS_SUCCESS once the datagram
   * is queued for the link (UDP gives no delivery guarantee), or why it cannot leave. `source`
   * (one of our addresses; 0: the socket's, else the interface's) and `tos` are what IN_PKTINFO
   * and IP_TOS control info ask for (-1: the socket's TOS). TTL and DF are the socket's.
   */
  sendUdp(s: UdpSocket, pieces: readonly Uint8Array[], count: number, dst: number, dstPort: number, source = 0, tos = -1): NTSTATUS {
    const c = this.counters;
    dst |= 0;
    if (tos < 0) tos = s.tos;
    if (this.closed || s.closed) return STATUS_INVALID_DEVICE_STATE;
    let length = 0;
    for (let i = 0; i < count; i++) length += pieces[i]!.byteLength;
    if (length > 65535 - IPV4_MIN_HEADER_LENGTH - UDP_HEADER_LENGTH) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    const broadcast = this.isBroadcast(dst);
    if (broadcast && !s.broadcast) return STATUS_ACCESS_DENIED;
    if (!broadcast ? !this.hasRoute(dst) : this.linkState !== 'up') {
      c.txNoRoute++;
      return STATUS_NETWORK_UNREACHABLE;
    }
    const src = source !== 0 ? source | 0 : s.localIp === 0 ? this.iface.address : s.localIp;
    const udpLength = UDP_HEADER_LENGTH + length;
    const mtu = this.isLocalDestination(dst) ? 65535 : this.pathMtu(dst);
    // To a group: its own TTL (IP_MULTICAST_TTL), and a copy for this host's members (IP_MULTICAST_LOOP).
    const multicast = isMulticast(dst);
    const ttl = multicast ? s.multicastTtl : s.ttl;
    // IP_DONTFRAGMENT: what does not fit the path MTU fails as Linux's EMSGSIZE does (RFC 1191 §3).
    if (s.dontFragment && IPV4_MIN_HEADER_LENGTH + udpLength > mtu) { c.txTooBig++; return STATUS_BUFFER_OVERFLOW; }
    if (IPV4_MIN_HEADER_LENGTH + udpLength <= mtu && ETH_IP_UDP + length + this.arena.headroom <= this.arena.slotSize) {
      const slot = this.arena.alloc();
      if (slot < 0) { c.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
      const view = this.arena.view(slot);
      const start = this.arena.headroom + ETH_IP_UDP;
      let at = start;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; view.set(p, at); at += p.byteLength; }
      const udpAt = start - UDP_HEADER_LENGTH;
      emitUdp(view, udpAt, s.localPort, dstPort, length, src, dst);
      this.arena.setFrame(slot, udpAt, udpLength);
      this.outputIpv4(slot, src, dst, IpProtocol.UDP, 0, broadcast, -1, s.dontFragment, tos, ttl,
        multicast && s.multicastLoop && this.groups.isMember(dst));
    } else {
      // Slow path: the whole datagram once in scratch (for its checksum), then cut into fragments.
      const whole = (this.scratch ??= new Uint8Array(65536));
      let at = UDP_HEADER_LENGTH;
      for (let i = 0; i < count; i++) { const p = pieces[i]!; whole.set(p, at); at += p.byteLength; }
      emitUdp(whole, 0, s.localPort, dstPort, length, src, dst);
      const status = this.sendFragmented(whole, udpLength, src, dst, IpProtocol.UDP, mtu, broadcast, tos, ttl);
      if (status !== STATUS_SUCCESS) return status;
    }
    s.datagramsOut++;
    s.bytesOut += length;
    c.udpOut++;
    return STATUS_SUCCESS;
  }

  /**
   * Cuts the transport datagram whole[0..total) — built complete beforehand, so that its checksum
   * covers all of it — into fragments of at most `mtu` bytes (RFC 791 §3.2, one IP ID), DF clear.
   * Every fragment's slot is checked for before the first leaves: all of them go, or none.
   */
  /** @internal (raw.ts too) */
  sendFragmented(whole: Uint8Array, total: number, src: number, dst: number, protocol: number, mtu: number,
    broadcast: boolean, tos = 0, ttl = DEFAULT_IP_TTL): NTSTATUS {
    const perFragment = (Math.min(mtu, this.arena.slotSize - this.arena.headroom - ETHERNET_HEADER_LENGTH - 4) - IPV4_MIN_HEADER_LENGTH) & ~7;
    const fragments = Math.ceil(total / perFragment);
    if (this.arena.freeCount < fragments) { this.counters.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    const id = this.nextIpId();
    for (let off = 0; off < total; off += perFragment) {
      const n = Math.min(perFragment, total - off);
      const slot = this.arena.alloc();
      const view = this.arena.view(slot);
      const start = this.arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
      view.set(whole.subarray(off, off + n), start);
      this.arena.setFrame(slot, start, n);
      const more = off + n < total ? Ipv4Flags.MF : 0;
      this.outputIpv4(slot, src, dst, protocol, more | (off >> 3), broadcast, id, false, tos, ttl);
      this.counters.fragmentsOut++;
    }
    return STATUS_SUCCESS;
  }

  /** @internal (raw.ts too): the next IPv4 identification. */
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
  outputIpv4(slot: number, src: number, dst: number, protocol: number, fragment: number, broadcast: boolean, id = -1, dontFragment = false, tos = 0,
    ttl = DEFAULT_IP_TTL, multicastLoop = false): void {
    const arena = this.arena;
    dst |= 0;
    const payload = arena.lengthOf(slot);
    const at = arena.prepend(slot, IPV4_MIN_HEADER_LENGTH);
    emitIpv4(arena.view(slot), at, src, dst, protocol, payload, ttl, id >= 0 ? id : this.nextIpId(), fragment | (dontFragment ? Ipv4Flags.DF : 0), tos);
    this.routeIpv4(slot, dst, broadcast, multicastLoop);
  }

  /**
   * Sends the IPv4 packet that fills the slot's frame (header included: outputIpv4's, or one a raw
   * socket's application built) towards `dst`: looped back when it is ours, else framed for its
   * next hop. The slot reference is consumed.
   */
  routeIpv4(slot: number, dst: number, broadcast: boolean, multicastLoop = false): void {
    const arena = this.arena;
    dst |= 0;
    this.counters.ipOut++;
    if (multicastLoop) this.loopbackCopy(slot);
    if (this.isLocalDestination(dst) || (dst >>> 24) === 127) { this.loopback(slot); return; }
    // Bare IP: the host's own routing and neighbour tables deliver it.
    if (this.ipFraming) { this.queueTx(slot); return; }
    if (broadcast) { this.emitFrame(slot, 0xffff, -1, EtherType.IPV4); return; }
    // The group's MAC: 01:00:5e and the low 23 bits of the address (RFC 1112 §6.4).
    if (isMulticast(dst)) { this.emitFrame(slot, 0x0100, 0x5e000000 | (dst & 0x7fffff), EtherType.IPV4); return; }
    const onLink = (dst & this.iface.netmask) === this.iface.network;
    const nextHop = onLink ? dst : this.iface.gateway;
    if (nextHop === 0) { this.counters.txNoRoute++; arena.release(slot); return; }
    const e = this.arp.resolve(nextHop, slot);
    if (e < 0) { this.rearm(); return; }
    this.emitFrame(slot, this.arp.macHi[e]!, this.arp.macLo[e]!, EtherType.IPV4);
  }

  /** @internal (Ipv6Host): prepends the Ethernet header (destination MAC as halves) and queues the frame for the next transmit batch. */
  emitFrame(slot: number, dstHi: number, dstLo: number, etherType: number): void {
    const at = this.arena.prepend(slot, ETHERNET_HEADER_LENGTH);
    const v = this.arena.view(slot);
    set16(v, at + EthernetField.DESTINATION, dstHi);
    set32(v, at + EthernetField.DESTINATION + 2, dstLo);
    set16(v, at + EthernetField.SOURCE, this.macHi);
    set32(v, at + EthernetField.SOURCE + 2, this.macLo);
    set16(v, at + EthernetField.ETHER_TYPE, etherType);
    this.queueTx(slot);
  }

  /** @internal (Ipv6Host) */
  queueTx(slot: number): void {
    if (this.closed) { this.arena.release(slot); return; }
    this.tx[this.txCount++] = slot;
    if (this.txCount === this.tx.length) this.flushTx();
    else if (!this.inBatch && !this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.defer(this.flushBound);
    }
  }

  /** Sends the pending transmit batch now (one device call). */
  flushTx(): void {
    this.flushScheduled = false;
    const n = this.txCount;
    if (n === 0) return;
    this.txCount = 0;
    this.counters.txFrames += n;
    this.counters.txBatches++;
    this.device.transmit(this.tx, n);
  }

  /** Packets to ourselves skip the link; they are received on the next clock step, as a batch. */
  /** A copy of the IPv4 packet in `slot` for this host (a multicast datagram's IP_MULTICAST_LOOP copy); dropped when no slot is free. */
  private loopbackCopy(slot: number): void {
    const arena = this.arena;
    const copy = arena.alloc();
    if (copy < 0) { this.counters.loopbackDrops++; return; }
    const from = arena.view(slot);
    const to = arena.view(copy);
    const at = arena.offsetOf(slot);
    const n = arena.lengthOf(slot);
    for (let i = at; i < at + n; i++) to[i] = from[i]!;
    arena.setFrame(copy, at, n);
    this.loopback(copy);
  }

  /** IgmpSender: one IGMP message from the interface's address to `dst`, TTL 1 (RFC 2236 §2). */
  sendIgmp(dst: number, message: Uint8Array): void {
    if (this.closed || this.linkState !== 'up') return;
    const slot = this.arena.alloc();
    if (slot < 0) { this.counters.txNoSlot++; return; }
    const start = this.arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    this.arena.view(slot).set(message, start);
    this.arena.setFrame(slot, start, message.byteLength);
    this.outputIpv4(slot, this.iface.address, dst, IpProtocol.IGMP, 0, false, -1, false, 0, 1);
  }

  /** @internal (Ipv6Host): the IP packet in `slot` is received on the next clock step, in a batch of its own. */
  loopback(slot: number): void {
    if (this.loopCount === this.loop.length) { this.counters.loopbackDrops++; this.arena.release(slot); return; }
    this.loop[this.loopCount++] = slot;
    if (!this.loopScheduled) {
      this.loopScheduled = true;
      this.clock.defer(this.loopBound);
    }
  }

  private runLoopback(): void {
    this.loopScheduled = false;
    const n = this.loopCount;
    if (n === 0) return;
    this.loopCount = 0;
    this.inBatch = true;
    const arena = this.arena;
    for (let i = 0; i < n; i++) {
      const slot = this.loop[i]!;
      if (!this.closed) {
        const v = arena.view(slot);
        const at = arena.offsetOf(slot);
        if (this.ip6 !== null && (v[at]! >>> 4) === 6) this.ip6.input(slot, v, at, arena.lengthOf(slot), false, false);
        else this.inputIpv4(slot, v, at, arena.lengthOf(slot), false, false);
      }
      arena.release(slot);
    }
    this.inBatch = false;
    this.endBatch();
  }

  /** Copies bytes[offset..+length) into `slot` at `at` — within the arena by copyWithin (no view created). */
  private copyIn(slot: number, at: number, bytes: Uint8Array, offset: number, length: number): void {
    const arena = this.arena;
    if (bytes.buffer === arena.buffer) {
      const src = bytes.byteOffset + offset;
      arena.all.copyWithin(arena.base(slot) + at, src, src + length);
    } else {
      arena.view(slot).set(bytes.subarray(offset, offset + length), at);
    }
  }

  /** `ourIp`: the sender protocol address (the address a request asked for, for a reply). */
  private sendArp(operation: number, targetMac: number, targetIp: number, ourIp: number = this.iface.address): void {
    if (this.ipFraming) return;
    const slot = this.arena.alloc();
    if (slot < 0) { this.counters.txNoSlot++; return; }
    const view = this.arena.view(slot);
    const at = this.arena.headroom;
    const dstMac = operation === ArpOperation.REPLY ? targetMac : BROADCAST_MAC;
    emitEthernet(view, at, dstMac, this.device.mac, EtherType.ARP);
    emitArp(view, at + ETHERNET_HEADER_LENGTH, operation, this.device.mac, ourIp, targetMac, targetIp);
    // Pad to the 60-byte Ethernet minimum, as NICs do.
    view.fill(0, at + ETHERNET_HEADER_LENGTH + ARP_LENGTH, at + 60);
    this.arena.setFrame(slot, at, 60);
    this.counters.arpOut++;
    this.queueTx(slot);
  }

  /** Sends an ICMP echo request (ping) with `dataLength` bytes of pattern data. */
  ping(dst: number, identifier: number, sequence: number, dataLength = 56): NTSTATUS {
    dst |= 0;
    const slot = this.arena.alloc();
    if (slot < 0) { this.counters.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    const view = this.arena.view(slot);
    const start = this.arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    for (let i = 0; i < dataLength; i++) view[start + ICMP_HEADER_LENGTH + i] = i & 0xff;
    emitIcmpEcho(view, start, IcmpType.ECHO_REQUEST, identifier, sequence, dataLength);
    this.arena.setFrame(slot, start, ICMP_HEADER_LENGTH + dataLength);
    this.counters.icmpEchoRequestsSent++;
    this.outputIpv4(slot, this.iface.address, dst, IpProtocol.ICMP, 0, this.isBroadcast(dst));
    return STATUS_SUCCESS;
  }

  /**
   * An echo message carrying bytes[dataOffset..+dataLength) — a ring slot's, or a reassembly
   * buffer's when the request came in fragments. RFC 1122 §3.2.2.6: the reply MUST return all the
   * data, so one larger than the path MTU (or a slot) leaves in fragments, as Linux's echo reply
   * does (its ICMP socket does not set DF); false when it could not be sent.
   */
  private sendEcho(type: number, src: number, dst: number, identifier: number, sequence: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    const start = this.arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    const icmpLength = ICMP_HEADER_LENGTH + dataLength;
    const mtu = this.isLocalDestination(dst) ? 65535 : this.pathMtu(dst);
    if (start + icmpLength > this.arena.slotSize || IPV4_MIN_HEADER_LENGTH + icmpLength > mtu) {
      // The request fitted one datagram with a header of at least 20 bytes, so the reply does too.
      const whole = (this.scratch ??= new Uint8Array(65536));
      whole.set(bytes.subarray(dataOffset, dataOffset + dataLength), ICMP_HEADER_LENGTH);
      emitIcmpEcho(whole, 0, type, identifier, sequence, dataLength);
      return this.sendFragmented(whole, icmpLength, src, dst, IpProtocol.ICMP, mtu, false) === STATUS_SUCCESS;
    }
    const slot = this.arena.alloc();
    if (slot < 0) { this.counters.txNoSlot++; return false; }
    const view = this.arena.view(slot);
    this.copyIn(slot, start + ICMP_HEADER_LENGTH, bytes, dataOffset, dataLength);
    emitIcmpEcho(view, start, type, identifier, sequence, dataLength);
    this.arena.setFrame(slot, start, icmpLength);
    this.outputIpv4(slot, src, dst, IpProtocol.ICMP, 0, false);
    return true;
  }

  /**
   * An ICMP error about the packet at bytes[offset..offset+length) (RFC 1122 §3.2.2: never about
   * an ICMP error, a broadcast, a non-initial fragment, or a source that is not a unicast host),
   * rate-limited by a token bucket.
   */
  sendIcmpError(bytes: Uint8Array, offset: number, length: number, type: number, code: number, info: number): void {
    const c = this.counters;
    const hl = ipv4HeaderLength(bytes, offset);
    const src = get32s(bytes, offset + Ipv4Field.SOURCE);
    if ((get16(bytes, offset + Ipv4Field.FLAGS_FRAGMENT) & 0x1fff) !== 0 || src === 0 || this.isBroadcast(src) || (src >>> 28) >= 0xe) return;
    if (bytes[offset + Ipv4Field.PROTOCOL] === IpProtocol.ICMP) {
      const t = length > hl ? bytes[offset + hl]! : 0;
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY) return;
    }
    const now = this.clock.now();
    this.icmpTokens = Math.min(this.icmpBurst, this.icmpTokens + ((now - this.icmpStamp) * this.icmpRate) / 1000);
    this.icmpStamp = now;
    if (this.icmpTokens < 1) { c.icmpRateLimited++; return; }
    this.icmpTokens -= 1;
    const quoted = Math.min(length, ICMP_ERROR_MAX - IPV4_MIN_HEADER_LENGTH - ICMP_HEADER_LENGTH);
    const slot = this.arena.alloc();
    if (slot < 0) { c.txNoSlot++; return; }
    const view = this.arena.view(slot);
    const start = this.arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    view.set(bytes.subarray(offset, offset + quoted), start + ICMP_HEADER_LENGTH);
    emitIcmpError(view, start, type, code, quoted, info);
    this.arena.setFrame(slot, start, ICMP_HEADER_LENGTH + quoted);
    c.icmpErrorsSent++;
    this.outputIpv4(slot, this.iface.address, src, IpProtocol.ICMP, 0, false);
  }

  // ---- timers -----------------------------------------------------------------------------

  /** @internal (Ipv6Host): arms the stack's one timer at the earliest deadline of ARP, reassembly and IPv6. */
  rearm(): void {
    if (this.closed) return;
    let next = Math.min(this.arp.nextDeadline(), this.reassembler.nextDeadline());
    if (this.ip6 !== null) next = Math.min(next, this.ip6.nextDeadline());
    if (next === Infinity) this.timer.disarm();
    else if (!this.timer.armed || this.timer.deadline !== next) this.timer.arm(next);
  }

  private onTimer(): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.arp.poll(now);
    this.ip6?.poll(now);
    this.reassembler.poll(now, (header, headerLength, firstPayload) => {
      // RFC 792: Time Exceeded (fragment reassembly) quoting the first fragment.
      const q = new Uint8Array(headerLength + firstPayload.length);
      q.set(header.subarray(0, headerLength));
      q.set(firstPayload, headerLength);
      set16(q, 2, q.length);
      set16(q, 6, 0);
      set16(q, 10, 0);
      set16(q, 10, internetChecksum(q, 0, headerLength));
      this.sendIcmpError(q, 0, q.length, IcmpType.TIME_EXCEEDED, IcmpTimeExceededCode.REASSEMBLY, 0);
    });
    this.rearm();
    this.flushTx();
  }
}

// TCP on the userspace stack (RFC 9293): connection table, listeners, the API the WSK provider
// uses (connect, listen, send, shutdown, abort, read), and timers.
// - Demultiplexing never scans: per family, remote address → (local port, remote port) → TCB,
//   then the family's listener on the local port (Maps with small-integer keys, no boxing; an
//   IPv6 address is its address-table id). A dual-stack listener (IPv6 wildcard, V6ONLY off)
//   sits in both families' listener maps; local ports are one space for both families, as in
//   Linux (an ephemeral port is free only when no connection or listener of either family has it).
// - Each TCB has a path (ip-path.ts) with its family, addresses, header length and pseudo-header
//   sum: input and output never branch on the family past the first lookup.
// - One armed clock timer for all connections (docs/architecture.md §5): each TCB has one deadline (the
//   earliest of its retransmission/persist, delayed-ACK, keepalive and TIME-WAIT timers) kept in
//   a binary heap.
// Input processing is in tcp-input.ts, segment building in tcp-output.ts.
import type { NetworkStack } from '../stack.ts';
import type { Clock, ClockTimer } from '../clock.ts';
import type { LinkState } from '../device.ts';
import { IpProtocol, Ipv4Field } from '../wire/ipv4.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { IcmpType, IcmpUnreachableCode } from '../wire/icmpv4.ts';
import { get16, get32s } from '../wire/bytes.ts';
import { TcpOptions, TCP_MIN_HEADER_LENGTH, TcpField } from '../wire/tcp.ts';
import {
  STATUS_ADDRESS_ALREADY_EXISTS, STATUS_CONNECTION_ABORTED, STATUS_CONNECTION_REFUSED, STATUS_HOST_UNREACHABLE,
  STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_IO_TIMEOUT, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS,
  type NTSTATUS,
} from '../../ntstatus.ts';
import { WskUsageError } from '../../errors.ts';
import { createCongestionControl } from './congestion.ts';
import { RttEstimator } from './rtt.ts';
import { OooQueue, type OooQueueOps } from './ooo-queue.ts';
import { IsnGenerator } from './isn.ts';
import { SendRequest, Tcb, TcpState, type SendDone, type TcpEvents } from './tcb.ts';
import { output, sendAck, sendReset, sendSyn, sendWindowProbe, retransmitFirst } from './tcp-output.ts';
import { tcpInput, tcpInput6 } from './tcp-input.ts';
import { IpPath, ipHeaderLength } from './ip-path.ts';
import { Ipv6Field } from '../wire/ipv6.ts';
import { Icmpv6Type, Icmpv6UnreachableCode } from '../wire/icmpv6.ts';
import type { Ipv6Network } from '../ipv6/ipv6-network.ts';
import { onLossTimer, timeoutRecovery } from './tcp-recovery.ts';
import { newTcpCounters, type TcpCounters } from './tcp-counters.ts';
import { IndexedHeap } from '../indexed-heap.ts';

export interface TcpOptionsConfig {
  /** Congestion control by name (default 'cubic'; 'newreno' built in; others registered by experimenters). */
  congestionControl: string;
  sack: boolean;
  timestamps: boolean;
  windowScaling: boolean;
  /** Receive buffer per connection at the start, bytes (the advertised window's ceiling until autotuning raises it). */
  receiveBuffer: number;
  /**
   * Receive buffer autotuning's ceiling (Linux tcp_rmem[2]): the buffer grows toward it while the
   * owner reads faster each round trip. Default 6 MiB; when only receiveBuffer is given, equal to
   * it (a fixed buffer, as SO_RCVBUF fixes Linux's).
   */
  receiveBufferMax: number;
  /** Out-of-order data kept per connection, bytes (bounded reassembly). Default: the receive buffer, at least 256 KiB. */
  outOfOrderBytes: number;
  /** TIME-WAIT duration (2 MSL), ms. */
  timeWaitMs: number;
  /** SYN transmissions before a connect fails with STATUS_IO_TIMEOUT. */
  synRetries: number;
  /** RTO expirations without progress before the connection fails (Linux tcp_retries2). */
  maxRetransmits: number;
  delayedAckMs: number;
  minRtoMs: number;
  /** Challenge ACKs per second (RFC 5961 §7). */
  challengeAckLimit: number;
  /** Answer SYNs with cookies when a listener's SYN queue is full (RFC 4987 §3.6). */
  synCookies: boolean;
}

export const DEFAULT_TCP_OPTIONS: TcpOptionsConfig = {
  congestionControl: 'cubic', sack: true, timestamps: true, windowScaling: true, receiveBuffer: 256 * 1024,
  receiveBufferMax: 6 << 20, outOfOrderBytes: 256 * 1024, timeWaitMs: 60_000, synRetries: 6, maxRetransmits: 15, delayedAckMs: 40, minRtoMs: 200,
  challengeAckLimit: 1000, synCookies: true,
};

export interface TcpListenerEvents {
  /** A connection completed the handshake; attach events to it (tcb.events) or abort it. */
  onConnection(tcb: Tcb): void;
}

export interface TcpListenOptions {
  /** The family of `localIp` (default IPv4). */
  family?: NetworkFamily;
  /**
   * IPV6_V6ONLY of the listening socket (default true, as Windows sets it): false on the IPv6
   * wildcard takes IPv4 connections too (their TCBs are IPv4; the WSK layer shows the peer as
   * ::ffff:a.b.c.d). Ignored for IPv4 and for a specific IPv6 address.
   */
  v6Only?: boolean;
}

export class TcpListener {
  /** Connections in SYN-RECEIVED (the SYN queue). */
  synQueue = 0;
  closed = false;
  /** IP_TTL and IP_TOS: its IPv4 SYN-ACKs carry them and the IPv4 connections it opens inherit them. */
  ttl = 64;
  tos = 0;
  /** IPV6_UNICAST_HOPS (-1: the IPv6 layer's default hop limit, ip-path.ts) and IPV6_TCLASS, the same for its IPv6 connections (a dual-stack listener has both kinds). */
  readonly ipv6Header = { ttl: -1, tos: 0 };
  /**
   * `localIp`: the family's representation, 0 for the wildcard. `family` IPV6 with `dualStack`:
   * it takes IPv4 connections too.
   */
  constructor(readonly localIp: number, readonly localPort: number, readonly backlog: number, readonly events: TcpListenerEvents,
    readonly family: NetworkFamily = NetworkFamily.IPV4, readonly dualStack = false) {}

  /** The TTL and TOS (hop limit and traffic class) of its segments and connections of `family`. */
  headerFor(family: NetworkFamily): { ttl: number; tos: number } {
    return family === NetworkFamily.IPV4 ? this : this.ipv6Header;
  }
}

/** The engine's random inputs: a fraction in [0, 1), and the 16-byte ISN secret (undefined: IsnGenerator draws it from node:crypto). */
export interface TcpEntropy {
  random(): number;
  isnKey(): Uint8Array | undefined;
}

const SYSTEM_ENTROPY: TcpEntropy = { random: Math.random, isnKey: () => undefined };

const EPHEMERAL_LOW = 49152;
const EPHEMERAL_COUNT = 16384;

/** Segments one coalesced ACK may cover (design note in ackSoon). */
const ACK_COALESCE_SEGMENTS = 32;

export class TcpEngine {
  readonly clock: Clock;
  readonly options: TcpOptionsConfig;
  readonly counters: TcpCounters = newTcpCounters();
  /** Where receive autotuning stops: receiveBufferMax, or less when the link's arena cannot hold it. */
  readonly receiveBufferCeiling: number;
  /** How every connection's out-of-order queue trims and frees held data (one set, not one per connection). */
  private readonly oooOps: OooQueueOps = {
    trimFront: (h, n) => { this.stack.held.advance(h, n); },
    trimBack: (h, n) => { const held = this.stack.held; held.truncate(h, held.lengthOf(h) - n); },
    release: (h) => { this.stack.held.release(h); },
  };
  /** Per family (NetworkFamily index): remote address → ((localPort << 16) | remotePort) → TCB. */
  private readonly connections = [new Map<number, Map<number, Tcb>>(), new Map<number, Map<number, Tcb>>()];
  /** Per family: local port → listener (a dual-stack listener is in both). */
  private readonly listeners = [new Map<number, TcpListener>(), new Map<number, TcpListener>()];
  /** The path of a segment sent without a connection (resets, SYN cookies); opened and closed around each. */
  private readonly scratchPath: IpPath;
  /** Local ports in use by connections (active opens and accepted), with a count. */
  private readonly portUse = new Map<number, number>();
  private connectionCount = 0;
  private readonly heap = new IndexedHeap<Tcb>((a, b) => a.deadline < b.deadline);
  private readonly timer: ClockTimer;
  readonly isn: IsnGenerator;
  /** Random offset of our timestamp clock (RFC 7323 §5.4 recommends not exposing uptime). */
  readonly tsOffset: number;
  readonly rxOptions = new TcpOptions();
  readonly txOptions = new TcpOptions();
  /** The options of a SYN answered with a cookie, as its final ACK brings them back (tcp-input.ts). */
  readonly cookieSynOptions = new TcpOptions();
  readonly sackScratch = new Int32Array(8);
  readonly sackIn = new Int32Array(8);
  private challengeAcks = 0;
  private challengeWindowStart = 0;
  private nextEphemeral: number;

  /**
   * `entropy`: where the random inputs come from (timestamp offset, first ephemeral port, then
   * the ISN key); a seeded simulation passes its own (userspace-stack.ts, config.seed).
   */
  constructor(readonly stack: NetworkStack, options: Partial<TcpOptionsConfig> = {}, entropy: TcpEntropy = SYSTEM_ENTROPY) {
    this.clock = stack.clock;
    this.options = { ...DEFAULT_TCP_OPTIONS, ...options };
    // Everything in the window may arrive behind one lost segment: keep it, as Linux does
    // (bounded by the receive buffer), rather than drop it and have it all sent again.
    if (options.receiveBufferMax === undefined && options.receiveBuffer !== undefined) this.options.receiveBufferMax = options.receiveBuffer;
    this.options.receiveBufferMax = Math.max(this.options.receiveBufferMax, this.options.receiveBuffer);
    if (options.outOfOrderBytes === undefined) this.options.outOfOrderBytes = Math.max(DEFAULT_TCP_OPTIONS.outOfOrderBytes, this.options.receiveBufferMax);
    // Every received frame holds an arena slot until it is read (or copied out): a window larger
    // than a quarter of the arena in MTU-sized frames would outrun a link without segmentation
    // offload (libpcap, raw IP: 1024 slots), which then drops what the window invited. Linux
    // bounds its window by the memory its buffers really take (skb truesize) for the same reason.
    this.receiveBufferCeiling = Math.min(this.options.receiveBufferMax,
      Math.max(this.options.receiveBuffer, (stack.arena.slotCount >> 2) * this.mssForMtu()));
    createCongestionControl(this.options.congestionControl, 1460); // unknown names fail here, with the list
    this.timer = this.clock.createTimer(() => this.onTimer());
    this.tsOffset = (entropy.random() * 0x7fffffff) | 0;
    this.nextEphemeral = EPHEMERAL_LOW + Math.floor(entropy.random() * EPHEMERAL_COUNT);
    this.isn = new IsnGenerator(() => this.clock.now(), entropy.isnKey());
    this.scratchPath = new IpPath(stack);
    stack.transports.register(NetworkFamily.IPV4, IpProtocol.TCP, {
      broadcast: false,
      input: (bytes, ipOffset, ipLength, slot, _broadcast, transportOffset) => tcpInput(this, bytes, ipOffset, ipLength, slot, transportOffset),
      icmpError: (type, code, info, bytes, q, qhl) => this.onIcmpError(type, code, info, bytes, q, qhl),
    });
    const ip6 = stack.ip6;
    if (ip6) {
      this.isn.table = ip6.table;
      stack.transports.register(NetworkFamily.IPV6, IpProtocol.TCP, {
        broadcast: false,
        input: (bytes, ipOffset, ipLength, slot, _multicast, transportOffset) => tcpInput6(this, ip6, bytes, ipOffset, ipLength, slot, transportOffset),
        icmpError: (type, code, info, bytes, q, qhl) => this.onIcmpv6Error(type, code, info, bytes, q, qhl),
      });
    }
    stack.transports.addEvents({
      onBatchEnd: () => this.flushAcks(),
      onLinkChange: (state) => this.onLinkChange(state),
      onNeighbourUnreachable: (family, ip) => this.onNeighbourUnreachable(family, ip),
      onPathMtu: (family, dst, mtu) => this.onPathMtu(family, dst, mtu),
    });
  }

  /** Connections owed an ACK at the end of the current receive batch. */
  private readonly acksDue: Tcb[] = [];

  /**
   * Acknowledges now, or — inside a receive batch — once at its end (docs/architecture.md §5: ACKs coalesce
   * per batch): one ACK then covers every segment of the batch, and if the owner answers with
   * data during the batch, that segment carries the ACK and none is sent alone.
   */
  ackSoon(tcb: Tcb): void {
    // While holes are open, a batch of hundreds of segments must not leave the sender's SACK-driven
    // recovery without news for the whole batch: like GRO's 64 KiB, an ACK at least every
    // ACK_COALESCE_SEGMENTS. In-order data keeps one ACK per batch (each ACK costs the receiver a
    // send, and on veth the sender's processing too, where a CPU-bound receiver has none to spare).
    if (!this.stack.nic.receiving || (tcb.unackedSegments >= ACK_COALESCE_SEGMENTS && tcb.ooo.count > 0)) { sendAck(this, tcb); return; }
    if (tcb.ackDue) return;
    tcb.ackDue = true;
    this.acksDue.push(tcb);
  }

  private flushAcks(): void {
    const list = this.acksDue;
    for (let i = 0; i < list.length; i++) {
      const tcb = list[i]!;
      if (tcb.ackDue && tcb.state !== TcpState.CLOSED) sendAck(this, tcb);
      tcb.ackDue = false;
    }
    list.length = 0;
  }

  /**
   * A device that disappeared takes its connections with it: the local system aborts them
   * (STATUS_CONNECTION_ABORTED), as nothing can be sent or received any more. A device that is
   * down is weathered like loss (retransmissions, then STATUS_IO_TIMEOUT after maxRetransmits);
   * when it comes back up, outstanding data is retransmitted at once instead of after a
   * backed-off RTO.
   */
  private onLinkChange(state: LinkState): void {
    if (state === 'down') return;
    const now = this.clock.now();
    for (const tcb of this.connectionList()) {
      if (state === 'gone') { this.abort(tcb, STATUS_CONNECTION_ABORTED); continue; }
      if (tcb.rtoAt !== Infinity) { tcb.rtoAt = now; this.reschedule(tcb); }
    }
  }

  /**
   * An ICMP error quoting a segment of ours, as Linux's tcp_v4_err takes it: believed only when the
   * quoted 4-tuple is a connection and the quoted sequence number lies in SND.UNA..SND.NXT (RFC
   * 5927 §5.1), so that a blind attacker has to hit the send window, as with a RST (RFC 5961).
   * Fragmentation Needed then lowers the path MTU (RFC 1191); unreachables and Time Exceeded are
   * soft errors (RFC 1122 §4.2.3.9): the connection carries on, and the error becomes its status
   * if it later times out. Returns false when no connection takes it.
   */
  private onIcmpError(type: number, code: number, info: number, bytes: Uint8Array, q: number, qhl: number): boolean {
    const t = q + qhl;
    const remoteIp = get32s(bytes, q + Ipv4Field.DESTINATION);
    const tcb = this.icmpTarget(NetworkFamily.IPV4, remoteIp, bytes, t);
    if (tcb === null) return false;
    if (tcb.state === TcpState.TIME_WAIT) return true; // nothing left to send: Linux ignores it too
    if (type === IcmpType.DEST_UNREACHABLE) {
      if (code === IcmpUnreachableCode.FRAG_NEEDED) { this.stack.ip4.learnPathMtu(remoteIp, info, get16(bytes, q + Ipv4Field.TOTAL_LENGTH)); return true; }
      // Linux's icmp_err_convert, in NTSTATUS: net codes (0, 6, 9, 11), port (3), and the host ones.
      tcb.softError = code === 0 || code === 6 || code === 9 || code === 11 ? STATUS_NETWORK_UNREACHABLE
        : code === IcmpUnreachableCode.PORT ? STATUS_CONNECTION_REFUSED : STATUS_HOST_UNREACHABLE;
    } else if (type === IcmpType.TIME_EXCEEDED) {
      tcb.softError = STATUS_HOST_UNREACHABLE;
    }
    return true;
  }

  /**
   * The connection an ICMP error quoting our segment (its TCP header at bytes[t..]) is about, or
   * null: believed only for a connection whose SND.UNA..SND.MAX holds the quoted sequence number.
   */
  private icmpTarget(family: NetworkFamily, remote: number, bytes: Uint8Array, t: number): Tcb | null {
    const tcb = this.lookup(remote, get16(bytes, t + TcpField.SOURCE_PORT), get16(bytes, t + TcpField.DESTINATION_PORT), family);
    if (!tcb || tcb.state === TcpState.CLOSED) return null;
    if (tcb.state === TcpState.TIME_WAIT) return tcb;
    // between(seq, snd_una, snd_nxt), both ends included; SND.MAX, as our SND.NXT steps back on a retransmission timeout.
    if ((get32s(bytes, t + TcpField.SEQUENCE) - tcb.sndUna) >>> 0 > (tcb.sndMax - tcb.sndUna) >>> 0) {
      this.counters.outOfWindowIcmps++;
      return null;
    }
    return tcb;
  }

  /**
   * An ICMPv6 error quoting a segment of ours, as Linux's tcp_v6_err takes it (the same window
   * check as for ICMPv4). Packet Too Big lowers the path MTU (RFC 8201 §4) and with it the MSS of
   * every connection to that destination. Destination Unreachable and Parameter Problem take
   * Linux's icmpv6_err_convert: the codes it calls fatal (administratively prohibited, port
   * unreachable, source address failed policy, reject route; every Parameter Problem) fail a
   * connection still opening (SYN-SENT), as tcp_v6_err does; otherwise, and for the other codes
   * and Time Exceeded, they are soft errors (RFC 1122 §4.2.3.9), the status the connection fails
   * with if it later times out.
   */
  private onIcmpv6Error(type: number, code: number, info: number, bytes: Uint8Array, q: number, qhl: number): boolean {
    const ip6 = this.stack.ip6!;
    const remote = ip6.table.find(bytes, q + Ipv6Field.DESTINATION);
    if (remote === 0) return false;
    const tcb = this.icmpTarget(NetworkFamily.IPV6, remote, bytes, q + qhl);
    if (tcb === null) return false;
    if (tcb.state === TcpState.TIME_WAIT) return true;
    let status: NTSTATUS;
    let fatal = false;
    switch (type) {
      case Icmpv6Type.PACKET_TOO_BIG:
        ip6.learnPathMtu(remote, info);
        // The layer's path MTU event reaches onPathMtu too; asking again changes nothing then.
        this.onPathMtu(NetworkFamily.IPV6, remote, ip6.pathMtu(remote));
        return true;
      case Icmpv6Type.DEST_UNREACHABLE:
        switch (code) {
          case Icmpv6UnreachableCode.NO_ROUTE: status = STATUS_NETWORK_UNREACHABLE; break;
          case Icmpv6UnreachableCode.PORT: status = STATUS_CONNECTION_REFUSED; fatal = true; break;
          case Icmpv6UnreachableCode.ADMIN: case Icmpv6UnreachableCode.SOURCE_POLICY: case Icmpv6UnreachableCode.REJECT_ROUTE:
            status = STATUS_ACCESS_DENIED; fatal = true; break;
          default: status = STATUS_HOST_UNREACHABLE; // beyond scope, address unreachable, codes yet unknown
        }
        break;
      case Icmpv6Type.TIME_EXCEEDED: status = STATUS_HOST_UNREACHABLE; break;
      case Icmpv6Type.PARAMETER_PROBLEM: status = STATUS_CONNECTION_ABORTED; fatal = true; break;
      default: return false;
    }
    if (fatal && tcb.state === TcpState.SYN_SENT) this.close(tcb, status);
    else tcb.softError = status;
    return true;
  }

  /**
   * The next hop towards some connections did not answer ARP (RFC 1122 §2.3.2.1: the link layer
   * reports the failure). A connect still in SYN-SENT fails with STATUS_HOST_UNREACHABLE, as
   * Linux's connect() fails with EHOSTUNREACH a few seconds in, instead of retrying SYNs for a
   * minute into a black hole; an established connection takes it as a soft error (RFC 1122
   * §4.2.3.9), its status should it later time out.
   */
  private onNeighbourUnreachable(family: NetworkFamily, ip: number): void {
    const { gateway, netmask, network } = this.stack.iface;
    const ip6: Ipv6Network | null = this.stack.ip6;
    for (const [remote, m] of [...this.connections[family]!]) {
      if (family === NetworkFamily.IPV4) {
        const onLink = (remote & netmask) === network;
        if (ip === gateway ? onLink : remote !== ip) continue;
      } else if (remote !== ip && ip6?.nextHop(remote) !== ip) {
        continue;
      }
      for (const tcb of [...m.values()]) {
        if (tcb.state === TcpState.SYN_SENT) this.close(tcb, STATUS_HOST_UNREACHABLE);
        else tcb.softError = STATUS_HOST_UNREACHABLE;
      }
    }
  }

  /**
   * RFC 1191 §6.3 / RFC 8201-style: a smaller path MTU shrinks the segments of every connection to
   * that destination at once, and the segment that was too big is sent again at the new size.
   */
  private onPathMtu(family: NetworkFamily, dst: number, mtu: number): void {
    const m = this.connections[family]!.get(dst | 0);
    if (!m) return;
    for (const tcb of m.values()) {
      const mss = Math.max(64, mtu - tcb.path.headerLength - TCP_MIN_HEADER_LENGTH - (tcb.tsEnabled ? 12 : 0));
      if (mss >= tcb.mss) continue;
      tcb.mss = mss;
      if (tcb.sendSegmentMax < mss || this.stack.device.capabilities.tsoMaxBytes === 0) tcb.sendSegmentMax = mss;
      tcb.cc.setMss(mss);
      this.counters.pmtuShrinks++;
      if (tcb.sndUna !== tcb.sndMax && tcb.state >= TcpState.ESTABLISHED) {
        tcb.rttTiming = false;
        retransmitFirst(this, tcb);
      }
    }
    this.stack.nic.flushTx();
  }

  get size(): number { return this.connectionCount; }

  /** MSS we announce: the interface MTU minus the family's IP header and TCP's (IpPath.announcedMss for a connection). */
  mssForMtu(family: NetworkFamily = NetworkFamily.IPV4): number {
    return this.stack.iface.mtu - ipHeaderLength(family) - TCP_MIN_HEADER_LENGTH;
  }

  // ---- table ----------------------------------------------------------------------------

  /** The connection of a 4-tuple; addresses are `family`'s (IPv6: address-table ids). */
  lookup(remoteIp: number, localPort: number, remotePort: number, family: NetworkFamily = NetworkFamily.IPV4): Tcb | undefined {
    return this.connections[family]!.get(remoteIp)?.get(((localPort << 16) | remotePort) | 0);
  }

  /** The listener that takes segments of `family` to the local port (a dual-stack IPv6 listener for IPv4 too). */
  listenerFor(localPort: number, family: NetworkFamily = NetworkFamily.IPV4): TcpListener | undefined {
    return this.listeners[family]!.get(localPort);
  }

  /**
   * The scratch path for a segment sent without a connection (tcp-output.ts opens it for each
   * and closes it after output), with the flow label the 4-tuple's connection would have.
   */
  replyPath(family: NetworkFamily, localIp: number, localPort: number, remoteIp: number, remotePort: number): IpPath {
    const path = this.scratchPath;
    path.open(family, localIp, remoteIp, family === NetworkFamily.IPV4 ? 0 : this.isn.flowLabel(localIp, localPort, remoteIp, remotePort, family));
    return path;
  }

  private insert(tcb: Tcb): void {
    const connections = this.connections[tcb.family]!;
    let m = connections.get(tcb.remoteIp);
    if (!m) { m = new Map(); connections.set(tcb.remoteIp, m); }
    m.set(((tcb.localPort << 16) | tcb.remotePort) | 0, tcb);
    this.portUse.set(tcb.localPort, (this.portUse.get(tcb.localPort) ?? 0) + 1);
    this.connectionCount++;
  }

  /** Removes the TCB from every table and timer and gives back what it holds. */
  remove(tcb: Tcb): void {
    const connections = this.connections[tcb.family]!;
    const m = connections.get(tcb.remoteIp);
    const key = ((tcb.localPort << 16) | tcb.remotePort) | 0;
    if (m?.get(key) !== tcb) return;
    m.delete(key);
    if (m.size === 0) connections.delete(tcb.remoteIp);
    const n = (this.portUse.get(tcb.localPort) ?? 1) - 1;
    if (n === 0) this.portUse.delete(tcb.localPort); else this.portUse.set(tcb.localPort, n);
    this.connectionCount--;
    tcb.rtoAt = tcb.delackAt = tcb.keepAliveAt = tcb.timeWaitAt = Infinity;
    this.reschedule(tcb);
    tcb.ooo.clear();
    for (const h of tcb.rcvHandles) if (h >= 0) this.stack.held.release(h);
    tcb.rcvQueue.length = 0;
    tcb.rcvHandles.length = 0;
    tcb.rcvQueued = 0;
    if (tcb.listener) {
      (tcb.listener as TcpListener).synQueue--;
      tcb.listener = null;
    }
    tcb.path.close();
  }

  /**
   * The window scale we announce (RFC 7323 §2.3): the smallest shift with which the 16-bit window
   * covers the largest receive buffer autotuning may reach on this link; 0 with window scaling off. One value for every connection, so a
   * SYN cookie's SYN-ACK announces what the connection it opens will use.
   */
  windowShift(): number {
    if (!this.options.windowScaling) return 0;
    let shift = 0;
    while (shift < 14 && (65535 << shift) < this.receiveBufferCeiling) shift++;
    return shift;
  }

  /** A TCB with its machinery, not yet in the table; its path holds the addresses (`family`'s) until remove(). */
  newTcb(localIp: number, localPort: number, remoteIp: number, remotePort: number, family: NetworkFamily = NetworkFamily.IPV4): Tcb {
    const path = new IpPath(this.stack);
    path.open(family, localIp, remoteIp, family === NetworkFamily.IPV4 ? 0 : this.isn.flowLabel(localIp, localPort, remoteIp, remotePort, family));
    const tcb = new Tcb(path, localPort, remotePort);
    tcb.mss = Math.min(536, path.announcedMss());
    tcb.rcvBufSize = this.options.receiveBuffer;
    tcb.wantWindowScale = this.options.windowScaling;
    tcb.rcvShift = this.windowShift();
    tcb.rtt = new RttEstimator({ minRto: this.options.minRtoMs });
    tcb.cc = createCongestionControl(this.options.congestionControl, tcb.mss);
    tcb.ccName = this.options.congestionControl;
    // Entries for the byte limit in segments of 512 bytes or more (the arrays grow on demand).
    tcb.ooo = new OooQueue(Math.max(64, this.options.outOfOrderBytes >> 9), this.options.outOfOrderBytes, this.oooOps);
    tcb.lastReceiveAt = this.clock.now();
    tcb.createdAt = tcb.lastReceiveAt;
    return tcb;
  }

  /**
   * The connection's congestion control by registered name (Linux TCP_CONGESTION): before the
   * handshake the new one starts fresh; on an open connection it takes over the current window
   * and threshold, as Linux's tcp_reinit_congestion_control keeps the connection going. False for
   * a name nobody registered.
   */
  setCongestionControl(tcb: Tcb, name: string): boolean {
    if (tcb.ccName === name) return true;
    let cc;
    try { cc = createCongestionControl(name, tcb.mss); } catch { return false; }
    const old = tcb.cc;
    if (old && tcb.state !== TcpState.SYN_SENT && tcb.state !== TcpState.SYN_RECEIVED && tcb.state !== TcpState.CLOSED) {
      cc.init(tcb.mss, this.clock.now());
      cc.cwnd = old.cwnd;
      cc.ssthresh = old.ssthresh;
    }
    tcb.cc = cc;
    tcb.ccName = name;
    return true;
  }

  /** SO_RCVBUF on a connection: a fixed receive buffer (autotuning stops), bounded by the window scale every connection announces. */
  setReceiveBuffer(tcb: Tcb, bytes: number): void {
    tcb.rcvBufLocked = true;
    tcb.rcvBufSize = Math.max(2 * tcb.mss, Math.min(bytes, 65535 << tcb.rcvShift));
    this.windowUpdate(tcb);
  }

  /** SO_SNDBUF on a connection: at most `bytes` in flight (at least one MSS, so that data always moves). */
  setSendBuffer(tcb: Tcb, bytes: number): void {
    tcb.sndBufSize = Math.max(tcb.mss, bytes);
    output(this, tcb);
  }

  // ---- API ----------------------------------------------------------------------------------

  /**
   * Passive open on a local port: `localIp` the wildcard (0) or one of our addresses, of
   * options.family. A port has at most one listener per family; a dual-stack listener (IPv6
   * wildcard with v6Only false) needs the port free in both (canListen tells beforehand).
   */
  listen(localIp: number, localPort: number, backlog: number, events: TcpListenerEvents, options: TcpListenOptions = {}): TcpListener {
    const family = options.family ?? NetworkFamily.IPV4;
    const dualStack = family === NetworkFamily.IPV6 && localIp === 0 && options.v6Only === false;
    if (!this.canListen(localPort, family, !dualStack)) {
      throw new WskUsageError('TCP_LISTEN', `port ${localPort} already has a listener`);
    }
    const l = new TcpListener(localIp | 0, localPort, Math.max(1, backlog), events, family, dualStack);
    this.listeners[family]!.set(localPort, l);
    if (dualStack) this.listeners[NetworkFamily.IPV4]!.set(localPort, l);
    return l;
  }

  /** Whether listen() would take the port: no listener of `family` on it (with v6Only false on IPv6, of IPv4 either). */
  canListen(localPort: number, family: NetworkFamily, v6Only = true): boolean {
    if (this.listeners[family]!.has(localPort)) return false;
    return family === NetworkFamily.IPV4 || v6Only || !this.listeners[NetworkFamily.IPV4]!.has(localPort);
  }

  closeListener(l: TcpListener): void {
    if (l.closed) return;
    l.closed = true;
    for (const map of this.listeners) if (map.get(l.localPort) === l) map.delete(l.localPort);
  }

  /** A connection or listener of either family has the port. */
  portInUse(port: number): boolean {
    return this.listeners[0]!.has(port) || this.listeners[1]!.has(port) || this.portUse.has(port);
  }

  /** An ephemeral port (RFC 6056 algorithm 1-like: random start, sequential search), or 0. */
  ephemeralPort(): number {
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p + 1 >= EPHEMERAL_LOW + EPHEMERAL_COUNT ? EPHEMERAL_LOW : p + 1;
      if (!this.portInUse(p)) return p;
    }
    return 0;
  }

  /**
   * Active open: sends the SYN (with IP header TTL/hop limit `ttl` and TOS/traffic class `tos`);
   * events.onEstablished or onClosed(status) follows. `remoteIp` and `localIp` are `family`'s;
   * `localIp` 0 takes the interface's address (IPv6: the source the layer picks for the remote,
   * RFC 6724). STATUS_NETWORK_UNREACHABLE when IPv6 has no source address for the remote.
   */
  connect(localPort: number, remoteIp: number, remotePort: number, events: TcpEvents, ttl = 64, tos = 0,
    family: NetworkFamily = NetworkFamily.IPV4, localIp = 0): Tcb | NTSTATUS {
    remoteIp |= 0;
    let local = localIp | 0;
    if (local === 0 && family === NetworkFamily.IPV4) {
      local = this.stack.address;
    } else if (local === 0) {
      local = this.stack.ip6?.sourceFor(remoteIp) ?? 0;
      if (local === 0) return STATUS_NETWORK_UNREACHABLE;
    }
    const port = localPort === 0 ? this.ephemeralPort() : localPort;
    if (port === 0) return STATUS_INSUFFICIENT_RESOURCES;
    if (this.lookup(remoteIp, port, remotePort, family)) return STATUS_ADDRESS_ALREADY_EXISTS;
    const tcb = this.newTcb(local, port, remoteIp, remotePort, family);
    tcb.events = events;
    tcb.ttl = ttl;
    tcb.tos = tos;
    tcb.iss = this.isn.next(local, port, remoteIp, remotePort, family);
    tcb.sndUna = tcb.iss;
    tcb.sndNxt = tcb.iss;
    tcb.sndMax = tcb.iss;
    tcb.state = TcpState.SYN_SENT;
    this.insert(tcb);
    this.counters.activeOpens++;
    sendSyn(this, tcb);
    return tcb;
  }

  /**
   * Queues a send request by reference (R40: no provider buffering); `done` runs once all its
   * bytes are acknowledged, or with the failure status if the connection dies first.
   */
  send(tcb: Tcb, pieces: readonly Uint8Array[], nodelay: boolean, done: SendDone | null, token?: unknown): SendRequest | NTSTATUS {
    if (!tcb.canSend) return STATUS_INVALID_DEVICE_STATE;
    const r = new SendRequest(pieces, done, token);
    r.start = tcb.sendEndOffset;
    tcb.sendEndOffset += r.length;
    tcb.sendQueue.push(r);
    // Nothing to transmit: completes once everything before it is acknowledged.
    if (r.length === 0 && tcb.sendQueue.length === 1) this.completeSends(tcb);
    if (tcb.state !== TcpState.SYN_SENT && tcb.state !== TcpState.SYN_RECEIVED) {
      // WSK_FLAG_NODELAY: this send (and what is queued) leaves now; the socket option stays as set.
      if (nodelay) tcb.nodelay = true;
      output(this, tcb);
      tcb.nodelay = tcb.nodelayOption;
    }
    return r;
  }

  setNoDelay(tcb: Tcb, enable: boolean): void {
    tcb.nodelayOption = enable;
    tcb.nodelay = enable;
    if (enable) output(this, tcb);
  }

  /** Graceful close of our direction: FIN after the queued data (RFC 9293 §3.10.4). */
  shutdown(tcb: Tcb): NTSTATUS {
    if (tcb.finQueued) return STATUS_SUCCESS;
    switch (tcb.state) {
      case TcpState.SYN_SENT:
        this.close(tcb, STATUS_CONNECTION_ABORTED);
        return STATUS_SUCCESS;
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
        tcb.finQueued = true;
        if (tcb.state === TcpState.ESTABLISHED) tcb.state = TcpState.FIN_WAIT_1;
        break;
      case TcpState.CLOSE_WAIT:
        tcb.finQueued = true;
        tcb.state = TcpState.LAST_ACK;
        break;
      default:
        return STATUS_INVALID_DEVICE_STATE;
    }
    output(this, tcb);
    return STATUS_SUCCESS;
  }

  /**
   * Abortive close: RST to the peer (when synchronized), everything dropped, onClosed(status).
   * With failSends false the pending sends are dropped without their callbacks (the owner is
   * tearing down and settles its own requests, e.g. WSK cancelling IRPs).
   */
  abort(tcb: Tcb, status: NTSTATUS = STATUS_CONNECTION_ABORTED, failSends = true): void {
    if (tcb.state === TcpState.CLOSED) return;
    const st = tcb.state;
    if (st !== TcpState.SYN_SENT && st !== TcpState.TIME_WAIT && st !== TcpState.LISTEN) sendReset(this, tcb);
    if (!failSends) tcb.sendQueue.length = 0;
    this.close(tcb, status);
  }

  /** Takes every in-order byte waiting as chunks the caller owns (copies of held bytes); reopens the window if it grew enough. */
  take(tcb: Tcb): Uint8Array[] | null {
    if (tcb.rcvQueued === 0) return null;
    const chunks: Uint8Array[] = [];
    for (let c = this.takeChunk(tcb); c; c = this.takeChunk(tcb)) {
      const h = this.takenHandle;
      if (h >= 0) { chunks.push(c.slice()); this.releaseData(h); } else chunks.push(c);
    }
    this.windowUpdate(tcb);
    return chunks;
  }

  /** The held-data handle of the chunk takeChunk() returned last, or -1 for a chunk the caller owns. */
  takenHandle = -1;

  /**
   * Takes the oldest waiting chunk, or null; call windowUpdate() after a run of these. A chunk
   * still in its ring slot comes as a view, with takenHandle >= 0, valid until the stack's next
   * batch: a holder reads it again with stack.held.bytes(handle) (it may have been copied out of
   * the ring), pins it (held.pin) if an application keeps a view, and gives it back with
   * releaseData(handle).
   */
  takeChunk(tcb: Tcb): Uint8Array | null {
    if (tcb.rcvQueue.length === 0) { this.takenHandle = -1; return null; }
    let c = tcb.rcvQueue.shift()!;
    const h = tcb.rcvHandles.shift()!;
    this.takenHandle = h;
    if (h >= 0) c = this.stack.held.bytes(h);
    tcb.rcvQueued -= c!.byteLength;
    tcb.bytesRead += c!.byteLength;
    return c;
  }

  /** Gives back a zero-copy chunk from takeChunk(). */
  releaseData(handle: number): void {
    this.stack.held.release(handle);
  }

  /** After the owner read: a window update when the window grew by two segments or half the buffer (RFC 1122 §4.2.3.3). */
  windowUpdate(tcb: Tcb): void {
    if (!tcb.canReceive) return;
    if (tcb.rcvBufSize < this.receiveBufferCeiling && !tcb.rcvBufLocked) this.autotuneReceiveBuffer(tcb);
    const advertised = (tcb.rcvAdvEdge - tcb.rcvNxt) | 0;
    const free = tcb.rcvBufSize - tcb.rcvQueued - (tcb.ooo ? tcb.ooo.bytes : 0);
    if (free - advertised >= Math.min(2 * tcb.mss, tcb.rcvBufSize >> 1)) this.ackSoon(tcb);
  }

  /**
   * Receive buffer autotuning (Linux tcp_rcv_space_adjust, "dynamic right-sizing"): once per round
   * trip (at least a millisecond), when the owner read more than in the last one, the buffer grows
   * so the window covers twice that plus room for the sender to grow — faster while the rate
   * rises — up to receiveBufferMax, never down. Only the limit moves: nothing is allocated.
   */
  private autotuneReceiveBuffer(tcb: Tcb): void {
    const now = this.clock.now();
    if (tcb.rcvSpaceAt < 0) {
      tcb.rcvSpaceAt = now;
      tcb.rcvSpace = 10 * tcb.mss;
      tcb.rcvSpaceRead = tcb.bytesRead;
      return;
    }
    if (now - tcb.rcvSpaceAt < Math.max(tcb.rtt.srtt, 1)) return;
    const copied = tcb.bytesRead - tcb.rcvSpaceRead;
    if (copied > tcb.rcvSpace) {
      let window = 2 * copied + 16 * tcb.mss;
      window += (2 * window * (copied - tcb.rcvSpace)) / tcb.rcvSpace;
      if (window > tcb.rcvBufSize) tcb.rcvBufSize = Math.min(this.receiveBufferCeiling, Math.ceil(window));
      tcb.rcvSpace = copied;
    }
    tcb.rcvSpaceRead = tcb.bytesRead;
    tcb.rcvSpaceAt = now;
  }

  setKeepAlive(tcb: Tcb, enabled: boolean, idleMs: number, intervalMs: number, count: number): void {
    tcb.keepAlive = { enabled, idleMs, intervalMs, count };
    tcb.keepAliveProbes = 0;
    tcb.keepAliveAt = enabled && tcb.state >= TcpState.ESTABLISHED ? tcb.lastReceiveAt + idleMs : Infinity;
    this.reschedule(tcb);
  }

  // ---- state changes used by input -----------------------------------------------------------

  /** Adds a passive-open TCB (SYN-RECEIVED) to the table. */
  addPassive(tcb: Tcb): void {
    this.insert(tcb);
    this.counters.passiveOpens++;
  }

  /** The connection is over for its owner; TIME-WAIT keeps the TCB (without owner) for 2 MSL. */
  close(tcb: Tcb, status: NTSTATUS): void {
    const events = tcb.events;
    tcb.events = null;
    if (tcb.state !== TcpState.TIME_WAIT) {
      tcb.state = TcpState.CLOSED;
      this.remove(tcb);
      this.failSends(tcb, status);
    }
    if (status !== STATUS_SUCCESS) this.counters.aborts++;
    events?.onClosed(tcb, status);
  }

  enterTimeWait(tcb: Tcb): void {
    tcb.state = TcpState.TIME_WAIT;
    tcb.rtoAt = tcb.delackAt = tcb.keepAliveAt = Infinity;
    tcb.timeWaitAt = this.clock.now() + this.options.timeWaitMs;
    this.reschedule(tcb);
    this.completeSends(tcb);
    const events = tcb.events;
    tcb.events = null;
    events?.onClosed(tcb, STATUS_SUCCESS);
  }

  /** Completes every send request whose bytes are all acknowledged. */
  completeSends(tcb: Tcb): void {
    const q = tcb.sendQueue;
    while (q.length > 0) {
      const r = q[0]!;
      if (r.start + r.length > tcb.sndUnaOffset) break;
      q.shift();
      r.done?.(STATUS_SUCCESS, r.token);
    }
  }

  /** Sends still pending on a connection that died complete with its status. */
  private failSends(tcb: Tcb, status: NTSTATUS): void {
    const q = tcb.sendQueue.splice(0, tcb.sendQueue.length);
    for (const r of q) r.done?.(status === STATUS_SUCCESS ? STATUS_CONNECTION_ABORTED : status, r.token);
  }

  /** RFC 5961 §7: challenge ACKs are rate-limited per stack. */
  challengeAck(tcb: Tcb): void {
    const now = this.clock.now();
    if (now - this.challengeWindowStart >= 1000) { this.challengeWindowStart = now; this.challengeAcks = 0; }
    if (++this.challengeAcks > this.options.challengeAckLimit) { this.counters.challengeAcksLimited++; return; }
    this.counters.challengeAcks++;
    sendAck(this, tcb);
  }

  // ---- timers -----------------------------------------------------------------------------

  armRto(tcb: Tcb): void {
    tcb.rtoAt = this.clock.now() + tcb.rtt.rto;
    this.reschedule(tcb);
  }

  /** Recomputes the TCB's deadline from its timers and fixes its heap position. */
  reschedule(tcb: Tcb): void {
    const d = Math.min(tcb.rtoAt, tcb.delackAt, tcb.keepAliveAt, tcb.timeWaitAt, tcb.lossAt);
    if (d === Infinity) {
      this.heap.remove(tcb);
      tcb.deadline = Infinity;
    } else if (tcb.heapIndex < 0) {
      tcb.deadline = d;
      this.heap.push(tcb);
    } else if (d !== tcb.deadline) {
      tcb.deadline = d;
      this.heap.update(tcb);
    }
    this.armClock();
  }

  private armClock(): void {
    const top = this.heap.peek();
    if (!top) { if (this.timer.armed) this.timer.disarm(); return; }
    if (!this.timer.armed || this.timer.deadline !== top.deadline) this.timer.arm(top.deadline);
  }

  private onTimer(): void {
    // ACKs that arrived while the event loop stalled first: they may cancel what is due (a TLP or RTO).
    this.stack.device.pollInput?.();
    const now = this.clock.now();
    for (let guard = 0; guard < 100_000; guard++) {
      const top = this.heap.peek();
      if (!top || top.deadline > now) break;
      this.runTimers(top, now);
      if (top.heapIndex === 0 && top.deadline <= now) {
        // Nothing re-armed it (e.g. a timer fired without a state change): stop it spinning.
        this.heap.remove(top);
        top.deadline = Infinity;
      }
    }
    this.armClock();
    this.stack.nic.flushTx();
  }

  private runTimers(tcb: Tcb, now: number): void {
    if (tcb.timeWaitAt <= now) {
      tcb.timeWaitAt = Infinity;
      tcb.state = TcpState.CLOSED;
      this.remove(tcb);
      return;
    }
    if (tcb.delackAt <= now) {
      tcb.delackAt = Infinity;
      sendAck(this, tcb);
    }
    if (tcb.lossAt <= now) {
      tcb.lossAt = Infinity;
      onLossTimer(this, tcb, now);
      if (tcb.state === TcpState.CLOSED) return;
    }
    if (tcb.rtoAt <= now) {
      tcb.rtoAt = Infinity;
      this.onRetransmitTimeout(tcb);
      if (tcb.state === TcpState.CLOSED) return;
    }
    if (tcb.keepAliveAt <= now) {
      tcb.keepAliveAt = Infinity;
      this.onKeepAlive(tcb, now);
      if (tcb.state === TcpState.CLOSED) return;
    }
    this.reschedule(tcb);
  }

  private onRetransmitTimeout(tcb: Tcb): void {
    const st = tcb.state;
    if (st === TcpState.SYN_SENT || st === TcpState.SYN_RECEIVED) {
      if (tcb.synSent >= this.options.synRetries) {
        this.counters.connectTimeouts++;
        if (tcb.listener) { tcb.state = TcpState.CLOSED; this.remove(tcb); return; }
        this.close(tcb, tcb.softError || STATUS_IO_TIMEOUT);
        return;
      }
      tcb.rtt.backoff();
      sendSyn(this, tcb);
      return;
    }
    if (tcb.persist) {
      // Zero-window probe with backoff; a window that never opens is not an error (RFC 1122 §4.2.2.17).
      sendWindowProbe(this, tcb);
      this.counters.windowProbes++;
      tcb.rtt.backoff();
      this.armRto(tcb);
      return;
    }
    if (tcb.sndUna === tcb.sndMax) return; // nothing outstanding
    if (tcb.backoffs === 0) tcb.timeoutEpisodes++;
    tcb.backoffs++;
    tcb.timeouts++;
    this.counters.timeouts++;
    if (tcb.backoffs > this.options.maxRetransmits) {
      this.abort(tcb, tcb.softError || STATUS_IO_TIMEOUT);
      return;
    }
    // RFC 6298 §5.5–5.7 and RFC 5681 §3.1: back off and shrink to the loss window.
    tcb.rttTiming = false;
    tcb.rtt.backoff();
    tcb.dupAcks = 0;
    tcb.inflation = 0;
    const onlyFin = tcb.finSent && ((tcb.sndUna + 1) | 0) === tcb.sndMax && tcb.dataEndSeq === tcb.sndUna;
    if (tcb.sackEnabled && !onlyFin) {
      // Everything unSACKed is lost and goes out again in slow start; SACKed data stays delivered.
      timeoutRecovery(this, tcb, this.clock.now());
      output(this, tcb);
      if (tcb.rtoAt === Infinity || tcb.rtoAt <= this.clock.now()) this.armRto(tcb);
      return;
    }
    // Without SACK: go back to SND.UNA.
    tcb.cc.onTimeout(tcb.inFlight, this.clock.now());
    tcb.inRecovery = false;
    tcb.sndNxt = tcb.sndUna;
    tcb.finSent = false; // resent after the data (or alone, when only the FIN is outstanding)
    retransmitFirstAfterTimeout(this, tcb);
    this.armRto(tcb);
  }

  private onKeepAlive(tcb: Tcb, now: number): void {
    const k = tcb.keepAlive;
    if (!k.enabled || tcb.state < TcpState.ESTABLISHED || tcb.state === TcpState.TIME_WAIT) return;
    if (now - tcb.lastReceiveAt < k.idleMs) { tcb.keepAliveAt = tcb.lastReceiveAt + k.idleMs; return; }
    if (tcb.keepAliveProbes >= k.count) {
      this.counters.keepAliveTimeouts++;
      this.abort(tcb, STATUS_IO_TIMEOUT);
      return;
    }
    tcb.keepAliveProbes++;
    this.counters.keepAliveProbes++;
    sendWindowProbe(this, tcb); // SEG.SEQ = SND.UNA - 1, no data: the peer answers with an ACK
    tcb.keepAliveAt = now + k.intervalMs;
  }

  /** Every connection and listener dropped (stack shutdown): owners get STATUS_CONNECTION_ABORTED. */
  /** Every open connection (for statistics such as `wsk stats`; allocates, not for the hot path). */
  connectionList(): Tcb[] {
    const out: Tcb[] = [];
    for (const connections of this.connections) for (const m of connections.values()) for (const tcb of m.values()) out.push(tcb);
    return out;
  }

  closeAll(): void {
    for (const tcb of this.connectionList()) this.abort(tcb);
    for (const map of this.listeners) map.clear();
  }
}

/** After an RTO, resend from SND.UNA (go-back-N through the normal output path). */
function retransmitFirstAfterTimeout(e: TcpEngine, tcb: Tcb): void {
  if (tcb.dataEndSeq === tcb.sndUna && !tcb.finQueued) { retransmitFirst(e, tcb); return; }
  output(e, tcb);
}

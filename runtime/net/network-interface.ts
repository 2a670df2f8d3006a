// The interface of the userspace stack: one link device and what both IP families share on it
// (gVisor's NIC, smoltcp's Interface). It owns the device's receive and transmit edges, the
// Ethernet framing, the transmit batch and its flush, the loopback queue, the link state, the
// held-data table, the counters, the transport registry and the stack's one timer. The family
// layers (ipv4/ipv4-layer.ts with ipv4/arp.ts, ipv6/ipv6-layer.ts) hang off it; it implements
// what the IPv6 layer needs of its host (Ipv6Host).
//
// Contract:
// - Receive (LinkReceiver): one onReceive call per batch. Each frame is dispatched by EtherType
//   (IPv4, ARP, IPv6) or, on an IP-framed link (raw IP socket, tun), by the IP version nibble, to
//   the family layer, which borrows the bytes for the call; the slot reference is released here
//   afterwards (a layer that keeps data holds it through `held`). Foreign and malformed frames
//   are counted and dropped; nothing on the receive path throws or allocates.
// - Transmit: a layer hands a finished frame (emitFrame prepends the Ethernet header first) to
//   queueTx, which takes the slot reference. Frames leave in one device call per batch: at the
//   end of a receive batch, when the batch array is full, or on the next clock step.
// - Loopback: packets to ourselves skip the link and are received on the next clock step, as a
//   batch of their own, never re-entrantly inside the send.
// - One timer for the stack: rearm() arms it at the earliest deadline of the family layers
//   (ARP, reassembly, NDP); it polls them when it fires.
// - MACs are handled as (high 16, low 32) halves: V8 keeps both as small integers, where a 48-bit
//   number would be a boxed heap number on every call that passes one.
import type { SlotArena } from '../ring/slot-arena.ts';
import { HeldDataTable } from '../ring/held-data.ts';
import type { Clock, ClockTimer } from './clock.ts';
import type { LinkDevice, LinkReceiver, LinkState } from './device.ts';
import { newStackCounters, type StackCounters } from './counters.ts';
import { TransportRegistry, type RawListener } from './transport-registry.ts';
import type { Ipv4Layer } from './ipv4/ipv4-layer.ts';
import type { Arp } from './ipv4/arp.ts';
import type { Ipv6Host, Ipv6Layer } from './ipv6/ipv6-layer.ts';
import { EthernetFrame, EtherType, ETHERNET_HEADER_LENGTH, EthernetField } from './wire/ethernet.ts';
import { IPV4_MIN_HEADER_LENGTH } from './wire/ipv4.ts';
import { get16, get32s, set16, set32 } from './wire/bytes.ts';

export interface NetworkInterfaceOptions {
  /** The interface MTU (InterfaceConfig.mtu, else the device's). */
  mtu: number;
  /** Capacity of the held-data table (datagrams kept by sockets). Default: arena slots. */
  heldCapacity?: number;
}

export class NetworkInterface implements LinkReceiver, Ipv6Host {
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly counters: StackCounters = newStackCounters();
  readonly held: HeldDataTable;
  /**
   * Who takes each IP protocol (UDP, TCP, raw listeners register), who judges ICMP errors quoting
   * it, and who hears of batch ends, link changes, unreachable neighbours and path MTU changes.
   */
  readonly transports = new TransportRegistry();
  /** The link carries bare IP packets (a raw IP socket, tun): no Ethernet header, no ARP. */
  readonly ipFraming: boolean;
  /** Ipv6Host: the interface MTU. */
  readonly linkMtu: number;
  /** The device's MAC as (high 16, low 32) halves. */
  readonly macHi: number;
  readonly macLo: number;
  /** The device's state as last reported; while it is not 'up' there is no route (sends are refused). */
  linkState: LinkState;
  closed = false;
  /** The family layers frames are dispatched to (attach()); IPv6 is null when the interface has none (its frames are counted and dropped). */
  ip4!: Ipv4Layer;
  arp!: Arp;
  ip6: Ipv6Layer | null = null;

  private readonly timer: ClockTimer;
  private readonly tx = new Int32Array(256);
  private txCount = 0;
  private flushScheduled = false;
  private inBatch = false;
  private readonly flushBound = (): void => this.flushTx();
  private readonly loop = new Int32Array(256);
  private loopCount = 0;
  private loopScheduled = false;
  private readonly loopBound = (): void => this.runLoopback();
  private readonly eth = new EthernetFrame();

  constructor(readonly device: LinkDevice, options: NetworkInterfaceOptions) {
    this.arena = device.arena;
    this.clock = device.clock;
    this.linkMtu = options.mtu;
    this.macHi = Math.floor(device.mac / 0x100000000) & 0xffff;
    this.macLo = device.mac % 0x100000000 | 0;
    this.held = new HeldDataTable(this.arena, { capacity: options.heldCapacity ?? this.arena.slotCount });
    this.timer = this.clock.createTimer(() => this.onTimer());
    this.ipFraming = device.framing === 'ip';
    this.linkState = device.state ?? 'up';
  }

  /** Sets the family layers received frames go to (before the device is attached). */
  setLayers(ip4: Ipv4Layer, arp: Arp, ip6: Ipv6Layer | null): void {
    this.ip4 = ip4;
    this.arp = arp;
    this.ip6 = ip6;
  }

  /** Starts receiving from the device. */
  attach(): void {
    this.device.attach(this);
  }

  get mac(): number { return this.device.mac; }

  /** True while a receive batch is processed: what is sent now leaves with the batch's transmit batch. */
  get receiving(): boolean { return this.inBatch; }

  /** The device's report (LinkReceiver): 'gone' is final; transports hear of it through the registry's events. */
  onLinkState(state: LinkState, reason: string): void {
    if (this.linkState === 'gone' || this.linkState === state) return;
    this.linkState = state;
    this.counters.linkStateChanges++;
    this.ip4.linkChanged(state);
    this.ip6?.linkChanged(state);
    this.transports.linkChange(state, reason);
  }

  /** Stops the interface: drops waiting packets and timers, stops the family layers, detaches from the device. */
  close(): void {
    if (this.closed) return;
    this.flushTx();
    this.closed = true;
    this.timer.disarm();
    this.ip4.close();
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
      this.ip4.input(slot, bytes, offset, length, false, true);
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
    if (type === EtherType.IPV4) { if (!multicast6) this.ip4.input(slot, bytes, p, n, broadcast, true); else c.rxNotForUs++; }
    else if (type === EtherType.IPV6 && this.ip6 !== null) this.ip6.input(slot, bytes, p, n, broadcast || multicast6, true);
    else if (type === EtherType.ARP) this.arp.input(bytes, p, n);
    else c.rxUnknownEtherType++;
  }

  /** A copy of the packet to each raw listener of its protocol (borrowed for the call, as transports get it). */
  deliverRaw(raw: readonly RawListener[], slot: number, bytes: Uint8Array, offset: number, length: number): void {
    for (let i = 0; i < raw.length; i++) {
      try {
        raw[i]!.input(bytes, offset, length, slot);
      } catch {
        this.counters.receiverErrors++;
      }
    }
  }

  // ---- transmit ---------------------------------------------------------------------------

  /** Prepends the Ethernet header (destination MAC as halves) and queues the frame for the next transmit batch. */
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

  /** Queues a finished frame (IP framing: a bare packet) for the next transmit batch; the slot reference is taken. */
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

  // ---- loopback ---------------------------------------------------------------------------

  /** The IP packet in `slot` is received on the next clock step, in a batch of its own; the slot reference is taken. */
  loopback(slot: number): void {
    if (this.loopCount === this.loop.length) { this.counters.loopbackDrops++; this.arena.release(slot); return; }
    this.loop[this.loopCount++] = slot;
    if (!this.loopScheduled) {
      this.loopScheduled = true;
      this.clock.defer(this.loopBound);
    }
  }

  /** A copy of the IP packet in `slot` for this host (a multicast datagram's IP_MULTICAST_LOOP copy); dropped when no slot is free. */
  loopbackCopy(slot: number): void {
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
        else this.ip4.input(slot, v, at, arena.lengthOf(slot), false, false);
      }
      arena.release(slot);
    }
    this.inBatch = false;
    this.endBatch();
  }

  // ---- timer ------------------------------------------------------------------------------

  /** Arms the stack's one timer at the earliest deadline of the family layers (ARP, reassembly, IPv6). */
  rearm(): void {
    if (this.closed) return;
    let next = Math.min(this.arp.cache.nextDeadline(), this.ip4.nextDeadline());
    if (this.ip6 !== null) next = Math.min(next, this.ip6.nextDeadline());
    if (next === Infinity) this.timer.disarm();
    else if (!this.timer.armed || this.timer.deadline !== next) this.timer.arm(next);
  }

  private onTimer(): void {
    if (this.closed) return;
    const now = this.clock.now();
    this.arp.cache.poll(now);
    this.ip6?.poll(now);
    this.ip4.poll(now);
    this.rearm();
    this.flushTx();
  }
}

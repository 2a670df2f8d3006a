// The memory link (issue 4): several stacks in one process wired through the ring. A
// MemoryNetwork is an Ethernet switch with one slot arena shared by every port, so a frame moves
// from sender to receiver without a copy: the transmitted slot reference is handed to the
// destination port's descriptor ring and delivered there as part of a batch on the next clock
// step (setImmediate in real time, the same instant in virtual time). Broadcast and unknown
// unicast are flooded (every extra port gets its own copy, so receivers may write their slot).
// Faults, delay and rate limits come from the fault-injector middleware stacked on a port.
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { DescriptorRing } from '../../runtime/ring/descriptor-ring.ts';
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import { FrameFlags, newLinkStats, type LinkCapabilities, type LinkDevice, type LinkReceiver, type LinkStats } from '../../runtime/net/device.ts';
import { WskUsageError } from '../../runtime/errors.ts';

export interface MemoryNetworkOptions {
  /** Default: a RealClock. Pass a VirtualClock for simulated time. */
  clock?: Clock;
  /** Slots in the shared arena (default 4096). */
  slotCount?: number;
  /** Bytes per slot (default: 2 KiB, enough for MTU 1500 + headroom; raise for jumbo/TSO). */
  slotSize?: number;
  /** Per-port receive ring capacity, a power of two (default 4096: a burst as large as the default arena). */
  rxRingCapacity?: number;
  /** Frames per onReceive call (default 64). */
  batchSize?: number;
}

export interface MemoryLinkOptions {
  name?: string;
  /** 48-bit MAC; default 02:00:00:00:00:<port number>. */
  mac?: number;
  /** Default 1500. */
  mtu?: number;
  capabilities?: Partial<LinkCapabilities>;
}

const ETHERNET_OVERHEAD = 18; // header + one VLAN tag

export class MemoryNetwork {
  readonly clock: Clock;
  readonly arena: SlotArena;
  readonly batchSize: number;
  readonly rxRingCapacity: number;
  private readonly ports: MemoryLink[] = [];
  private readonly byMac = new Map<number, MemoryLink>();
  /** Flooded frames dropped because no slot was free for the copy. */
  floodCopyDrops = 0;

  constructor(opts: MemoryNetworkOptions = {}) {
    this.clock = opts.clock ?? new RealClock();
    this.arena = new SlotArena({ slotCount: opts.slotCount ?? 4096, slotSize: opts.slotSize ?? 2048 });
    this.batchSize = opts.batchSize ?? 64;
    this.rxRingCapacity = opts.rxRingCapacity ?? 4096;
  }

  createLink(opts: MemoryLinkOptions = {}): MemoryLink {
    const index = this.ports.length + 1;
    const mac = opts.mac ?? 0x020000000000 + index;
    if (this.byMac.has(mac)) throw new WskUsageError('LINK_OPTIONS', `MemoryNetwork: MAC ${mac.toString(16)} is already on this network; give each link its own mac.`);
    const mtu = opts.mtu ?? 1500;
    const largest = Math.max(mtu, opts.capabilities?.tsoMaxBytes ?? 0);
    if (largest + ETHERNET_OVERHEAD + this.arena.headroom > this.arena.slotSize) {
      throw new WskUsageError('LINK_OPTIONS', `MemoryNetwork: frames of ${largest} bytes (MTU or tsoMaxBytes) do not fit in ${this.arena.slotSize}-byte slots; pass a larger slotSize to the network.`);
    }
    const link = new MemoryLink(this, opts.name ?? `mem${index}`, mac, mtu, {
      rxChecksumVerified: false, txChecksumOffload: false, tsoMaxBytes: 0, ...opts.capabilities,
    });
    this.ports.push(link);
    this.byMac.set(mac, link);
    return link;
  }

  /** @internal Switches one transmitted slot (the reference is consumed). */
  forward(from: MemoryLink, slot: number): void {
    const arena = this.arena;
    // Like veth: an unfinished (offloaded) checksum arrives as one the receiver need not check.
    arena.flags[slot] = (arena.flags[slot]! & FrameFlags.CHECKSUM_PARTIAL) !== 0 ? FrameFlags.CHECKSUM_OK : 0;
    const bytes = arena.view(slot);
    const off = arena.offsetOf(slot);
    if ((bytes[off]! & 1) === 0) {
      let mac = 0;
      for (let i = 0; i < 6; i++) mac = mac * 256 + bytes[off + i]!;
      const to = this.byMac.get(mac);
      if (to) {
        if (to === from || to.closed) { arena.release(slot); return; }
        to.enqueue(slot);
        return;
      }
    }
    // Broadcast, multicast or unknown unicast: flood.
    let first: MemoryLink | null = null;
    for (const port of this.ports) {
      if (port === from || port.closed) continue;
      if (!first) { first = port; continue; }
      const copy = arena.alloc();
      if (copy < 0) { this.floodCopyDrops++; port.stats.rxDrops++; continue; }
      const len = arena.lengthOf(slot);
      arena.view(copy).set(bytes.subarray(off, off + len), arena.headroom);
      arena.setFrame(copy, arena.headroom, len);
      arena.flags[copy] = arena.flags[slot]!;
      port.enqueue(copy);
    }
    if (first) first.enqueue(slot); else arena.release(slot);
  }
}

export class MemoryLink implements LinkDevice {
  readonly stats: LinkStats = newLinkStats();
  readonly arena: SlotArena;
  readonly clock: Clock;
  closed = false;
  private receiver: LinkReceiver | null = null;
  private readonly rx: DescriptorRing;
  private readonly batch: Int32Array;
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(
    private readonly network: MemoryNetwork, readonly name: string, readonly mac: number, readonly mtu: number,
    readonly capabilities: LinkCapabilities,
  ) {
    this.arena = network.arena;
    this.clock = network.clock;
    this.rx = new DescriptorRing({ capacity: network.rxRingCapacity });
    this.batch = new Int32Array(network.batchSize);
  }

  attach(receiver: LinkReceiver | null): void { this.receiver = receiver; }

  transmit(slots: Int32Array, count: number): void {
    const arena = this.arena;
    // With segmentation offload the link carries TCP segments up to tsoMaxBytes whole, as veth
    // does with GSO/GRO between namespaces: nothing in memory needs them cut to the MTU.
    const max = Math.max(this.mtu, this.capabilities.tsoMaxBytes) + ETHERNET_OVERHEAD;
    this.stats.txBatches++;
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!;
      const len = arena.lengthOf(slot);
      if (this.closed || len > max || len < 14) { this.stats.txDrops++; arena.release(slot); continue; }
      this.stats.txFrames++;
      this.stats.txBytes += len;
      this.network.forward(this, slot);
    }
  }

  /** @internal */
  enqueue(slot: number): void {
    if (!this.rx.push(slot)) { this.stats.rxDrops++; this.arena.release(slot); return; }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.defer(this.flushBound);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const arena = this.arena;
    for (;;) {
      const n = this.rx.popBatch(this.batch);
      if (n === 0) return;
      let bytes = 0;
      for (let i = 0; i < n; i++) bytes += arena.lengthOf(this.batch[i]!);
      if (!this.receiver || this.closed) {
        this.stats.rxDrops += n;
        for (let i = 0; i < n; i++) arena.release(this.batch[i]!);
        continue;
      }
      this.stats.rxFrames += n;
      this.stats.rxBytes += bytes;
      this.stats.rxBatches++;
      this.receiver.onReceive(this.batch, n);
    }
  }

  /**
   * Frames already queued for this link, now (LinkDevice.pollInput). Real time only: a virtual
   * clock has no stalls and runs deferred deliveries in order, and simulations must replay exactly.
   */
  pollInput(): void {
    if (this.flushScheduled && !this.clock.virtual) this.flush();
  }

  close(): void {
    this.closed = true;
    for (let s = this.rx.pop(); s >= 0; s = this.rx.pop()) { this.stats.rxDrops++; this.arena.release(s); }
  }
}

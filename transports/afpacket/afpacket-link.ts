// The AF_PACKET link (design.md §3): the userspace stack on a real Linux network device through
// a packet socket. The native half (afpacket.cc) owns the socket, the PACKET_MMAP receive ring
// and sendmmsg; this half is the LinkDevice the stack sees.
//
// Contract, beyond device.ts:
// - Zero copy on receive. The arena's first `ringFrames` slots ARE the kernel's ring frames
//   (SlotArena deviceSlots over the native mapping). A batch hands frames out in place; the
//   receiver's last release gives the frame back to the kernel (tp_status = TP_STATUS_KERNEL).
//   The kernel fills frames strictly in ring order and stops at one still held, so before each
//   batch the link asks for held frames back (arena.want, see askForHeldFrames): the stack copies
//   unpinned held data out of them. Bytes pinned by an
//   application (a retained WSK indication) never move; if the ring comes round to them the
//   kernel drops packets until WskRelease (kernelDrops counts it).
// - Offloads (`offloads`, default on): PACKET_VNET_HDR. Received frames carry the sender's
//   checksum state (FrameFlags.CHECKSUM_OK for a local sender's unfinished checksum or one the
//   device verified) and may be a peer's whole GSO segment (up to 64 KiB); transmitted TCP
//   segments of several MSS leave as one GSO frame the kernel cuts (tsoMaxBytes), with
//   checksums the kernel finishes (txChecksumOffload).
// - Transmit: one sendmmsg per batch. A full socket buffer keeps the rest queued in order until
//   the socket is writable again; errors drop frames and count them, never throw.
// - Link state (DeviceLink): also checked at once on socket errors and failed sends; a deleted
//   namespace takes its veth pair, and so our device, with it ('gone').
// - Opening needs root or CAP_NET_RAW; every failure is a LinkError that says the fix.
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import type { LinkCapabilities, LinkStats } from '../../runtime/net/device.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { encodeBpf, stackFilter } from './bpf.ts';
import { LinkError, loadAddon, withNetns } from '../native/native.ts';
import { DeviceLink, explainOpenError, watchDevice } from '../native/device-link.ts';

export interface AfPacketLinkOptions {
  /** The device, e.g. `vb-<lab id>`. */
  ifname: string;
  /** Open the device inside this network namespace (`ip netns` name); the process stays where it is. */
  netns?: string;
  /** Frames in the kernel's receive ring (default 512: at 17k connections a second, 256 frames overflowed during a garbage collection and each lost SYN cost the peer a 1 s retransmission). */
  ringFrames?: number;
  /** Slots for transmitted frames and copies (default 1024). */
  poolSlots?: number;
  /** Bytes per ring frame and slot, a multiple of 4096 (default 69632: a 64 KiB GSO frame plus headers). */
  slotSize?: number;
  /** The stack's MAC (48-bit number). Default: the device's own; another one turns on promiscuous mode. */
  mac?: number;
  /** Checksum and segmentation offload through PACKET_VNET_HDR (default true). */
  offloads?: boolean;
  /**
   * IPv4 addresses the stack answers to (its address, its subnet broadcast): a BPF filter then
   * lets only ARP and IPv4 to these into the ring. Default: no filter.
   */
  acceptAddresses?: string[];
  /** Skip the device's qdisc on transmit (faster; bypasses tc/netem on this side). Default false. */
  qdiscBypass?: boolean;
  /**
   * Keep reading the ring this many microseconds after a batch before sleeping (busy polling,
   * like SO_BUSY_POLL): fewer wakeups and lower latency for a steady flow, at the price of CPU
   * time; best with the process on its own core. Default 50; 0 turns it off.
   */
  busyPollUs?: number;
  /** Frames per onReceive call (default 256). */
  batchSize?: number;
  /** How often the device's state is checked, ms (default 500). */
  statePollMs?: number;
  clock?: Clock;
}

interface NativePacketSocket {
  readonly buffer: ArrayBuffer;
  readonly stats: Float64Array;
  attach(arrays: Record<string, ArrayBufferView>, onBatch: (count: number) => void, onEvent: (kind: number, errno: number) => void): void;
  send(count: number): number;
  wantWritable(): void;
  readKernelStats(): void;
  close(): void;
}

interface AfPacketAddon {
  PacketSocket: new (options: object) => NativePacketSocket;
}

// Mirrors of afpacket.cc.
const EVENT_ERROR = 1;
const EVENT_WRITABLE = 2;
const ST = {
  RX_TRUNCATED: 2, RX_VLAN: 3, RX_GSO_UNSUPPORTED: 4, TX_FRAMES: 5, TX_BYTES: 6, TX_ERRORS: 7, TX_AGAIN: 8,
  TX_LAST_ERRNO: 9, TX_SYSCALLS: 10, WAKEUPS: 11, KERNEL_PACKETS: 12, KERNEL_DROPS: 13, BUSY_POLLED: 14,
} as const;
const ENXIO = 6;
const ENODEV = 19;
const ENETDOWN = 100;
/** tpacket2_hdr, sockaddr_ll alignment and the virtio-net header before a frame's data. */
const RING_FRAME_OVERHEAD = 64 + 10;
const ETHERNET_OVERHEAD = 18;
const DEFAULT_SLOT_SIZE = 69632;

/** Counters beyond LinkStats, for `wsk stats` and the benchmarks. */
export interface AfPacketStats {
  /** Frames the kernel dropped because the ring was full or blocked (PACKET_STATISTICS). */
  kernelDrops: number;
  kernelPackets: number;
  /** Frames larger than a slot (dropped). */
  rxTruncated: number;
  /** Frames with a VLAN tag the device had stripped (not ours; dropped). */
  rxVlan: number;
  /** GSO frames of a kind the stack does not take (UDP, IPv6; dropped). */
  rxGsoUnsupported: number;
  /** Times a held frame near the kernel's write position was asked back (copy-out). */
  ringWants: number;
  /**
   * Batches after which the kernel's next frame was still held (data an application keeps in a
   * retained indication): the ring is frozen there and the kernel drops until it is released.
   */
  ringStalls: number;
  /** sendmmsg calls and how often the socket buffer was full. */
  txSyscalls: number;
  txAgain: number;
  /** Event-loop wakeups (one per readiness edge). */
  wakeups: number;
  /** Batches found by busy polling instead of a wakeup. */
  busyPolled: number;
}

export class AfPacketLink extends DeviceLink {
  readonly arena: SlotArena;
  readonly mtu: number;
  readonly mac: number;
  readonly capabilities: LinkCapabilities;
  readonly framing = 'ethernet' as const;
  readonly ringFrames: number;
  private readonly sock: NativePacketSocket;
  private readonly native: Float64Array;
  private readonly rxBatch: Int32Array;
  private readonly status: Int32Array;
  private readonly slotWords: number;
  private readonly lookahead: number;
  private ringWants = 0;
  private ringStalls = 0;
  private lastTxErrors = 0;

  constructor(opts: AfPacketLinkOptions) {
    const ringFrames = opts.ringFrames ?? 512;
    const poolSlots = opts.poolSlots ?? 1024;
    const slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    if (!Number.isInteger(ringFrames) || ringFrames < 8 || !Number.isInteger(poolSlots) || poolSlots < 64) {
      throw new LinkError('OPEN_FAILED', 'AF_PACKET link: ringFrames must be an integer >= 8 and poolSlots >= 64.');
    }
    if (!Number.isInteger(slotSize) || slotSize % 4096 !== 0) {
      throw new LinkError('OPEN_FAILED', `AF_PACKET link: slotSize ${slotSize} must be a multiple of 4096 (the kernel's ring blocks are pages).`);
    }
    const clock = opts.clock ?? new RealClock();
    if (clock.virtual) throw new LinkError('OPEN_FAILED', 'AF_PACKET link: a real device runs in real time; use a RealClock (or none).');
    const addon = loadAddon<AfPacketAddon>('wsk_afpacket', 'AF_PACKET link');
    const watch = watchDevice(opts.ifname, opts.netns, 'AF_PACKET link');
    super(opts.ifname, clock, watch, poolSlots, opts.statePollMs ?? 500);
    if (!watch.ethernet) {
      watch.close();
      throw explainOpenError(Object.assign(new Error(''), { code: 'ENOTETHER' }), 'AF_PACKET link', opts.ifname, opts.netns);
    }
    if (watch.mtu + ETHERNET_OVERHEAD + RING_FRAME_OVERHEAD > slotSize) {
      watch.close();
      throw new LinkError('MTU_TOO_LARGE', `device ${opts.ifname} has MTU ${watch.mtu}, larger than ring frames of ${slotSize} bytes hold: pass slotSize >= ${Math.ceil((watch.mtu + ETHERNET_OVERHEAD + RING_FRAME_OVERHEAD) / 4096) * 4096}`);
    }
    const deviceMac = watch.macHi * 0x100000000 + (watch.macLo >>> 0);
    const offloads = opts.offloads ?? true;
    const filter = opts.acceptAddresses?.length ? encodeBpf(stackFilter(opts.acceptAddresses.map(parseIpv4))) : undefined;
    try {
      // Frames for another MAC reach a real NIC's packet sockets only in promiscuous mode.
      this.sock = withNetns(opts.netns, () => new addon.PacketSocket({
        ifname: opts.ifname, ringFrames, poolSlots, slotSize, vnetHeader: offloads, qdiscBypass: opts.qdiscBypass ?? false,
        busyPollUs: opts.busyPollUs ?? 50,
        promiscuous: opts.mac !== undefined && opts.mac !== deviceMac, filter,
      }));
    } catch (err) {
      watch.close();
      throw explainOpenError(err, 'AF_PACKET link', opts.ifname, opts.netns);
    }
    this.mac = opts.mac ?? deviceMac;
    this.mtu = watch.mtu;
    this.ringFrames = ringFrames;
    this.capabilities = { rxChecksumVerified: false, txChecksumOffload: offloads, tsoMaxBytes: offloads ? 65536 : 0 };
    this.arena = new SlotArena({ slotCount: ringFrames + poolSlots, slotSize, buffer: this.sock.buffer, deviceSlots: ringFrames });
    this.status = new Int32Array(this.sock.buffer, 0, (ringFrames * slotSize) >> 2);
    this.slotWords = slotSize >> 2;
    this.arena.onDeviceRelease = (slot) => { Atomics.store(this.status, slot * this.slotWords, 0); };
    this.lookahead = Math.max(1, ringFrames >> 2);
    this.native = this.sock.stats;
    this.rxBatch = new Int32Array(opts.batchSize ?? 256);
    this.sock.attach({
      refcounts: this.arena.refcounts, offsets: this.arena.offsets, lengths: this.arena.lengths, flags: this.arena.flags,
      segmentSizes: this.arena.segmentSizes, rxBatch: this.rxBatch, txSlots: this.txSlots,
    }, (count) => this.onBatch(count), (kind, errno) => this.onEvent(kind, errno));
    this.startWatching();
  }

  get stats(): LinkStats {
    const n = this.native;
    if (!this.closed) this.sock.readKernelStats();
    this.linkStats.txFrames = n[ST.TX_FRAMES]!;
    this.linkStats.txBytes = n[ST.TX_BYTES]!;
    return this.publishStats(n[ST.RX_TRUNCATED]! + n[ST.RX_VLAN]! + n[ST.RX_GSO_UNSUPPORTED]! + n[ST.KERNEL_DROPS]!, n[ST.TX_ERRORS]!);
  }

  /** Counters particular to this link (the kernel's ring statistics among them). */
  get details(): AfPacketStats {
    const n = this.native;
    if (!this.closed) this.sock.readKernelStats();
    return {
      kernelDrops: n[ST.KERNEL_DROPS]!, kernelPackets: n[ST.KERNEL_PACKETS]!, rxTruncated: n[ST.RX_TRUNCATED]!, rxVlan: n[ST.RX_VLAN]!,
      rxGsoUnsupported: n[ST.RX_GSO_UNSUPPORTED]!, ringWants: this.ringWants, ringStalls: this.ringStalls, txSyscalls: n[ST.TX_SYSCALLS]!,
      txAgain: n[ST.TX_AGAIN]!,
      wakeups: n[ST.WAKEUPS]!, busyPolled: n[ST.BUSY_POLLED]!,
    };
  }

  private onBatch(count: number): void {
    const arena = this.arena;
    const batch = this.rxBatch;
    arena.deviceHandedOut(count);
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += arena.lengths[batch[i]!]!;
    const s = this.linkStats;
    s.rxFrames += count;
    s.rxBytes += bytes;
    s.rxBatches++;
    this.deliver(batch, count);
    let head = batch[count - 1]! + 1;
    if (head === this.ringFrames) head = 0;
    if (this.askForHeldFrames(head)) {
      this.receiver?.relieve?.();
      // Still held (bytes an application keeps): the kernel stops here until they are released.
      if (arena.refcounts[head]! > 0) this.ringStalls++;
    }
  }

  /**
   * The kernel fills frames in ring order from `head` and stops at one still held. After a batch,
   * held frames are asked back (arena.want: the stack copies their data out) when the kernel
   * reaches them soon (within a quarter ring), or — nearest, i.e. oldest, first — while more than
   * a quarter of the ring is held, so that an application holding more than the ring (a receive
   * window larger than it, and nobody reading) leaves room for the next burst and never stalls
   * capture. Returns whether any are wanted.
   */
  private askForHeldFrames(head: number): boolean {
    const arena = this.arena;
    const refcounts = arena.refcounts;
    const frames = this.ringFrames;
    let held = 0;
    for (let f = 0; f < frames; f++) if (refcounts[f]! > 0) held++;
    if (held === 0) return false;
    let excess = held - (frames >> 2);
    for (let k = 0, f = head; k < frames && (k < this.lookahead || excess > 0); k++, f = f + 1 === frames ? 0 : f + 1) {
      if (refcounts[f]! === 0) continue;
      excess--;
      if (arena.wanted[f] === 0) { arena.want(f); this.ringWants++; }
    }
    return arena.wantedCount > 0;
  }

  protected sendNative(count: number): number {
    const sent = this.sock.send(count);
    const errors = this.native[ST.TX_ERRORS]!;
    if (errors !== this.lastTxErrors) {
      // A device that went down or away shows first as failed sends.
      this.lastTxErrors = errors;
      const errno = this.native[ST.TX_LAST_ERRNO]!;
      if (errno === ENETDOWN || errno === ENXIO || errno === ENODEV) queueMicrotask(() => this.checkState('send failed'));
    }
    return sent;
  }

  protected wantWritable(): void { this.sock.wantWritable(); }

  protected closeNative(): void { this.sock.close(); }

  private onEvent(kind: number, errno: number): void {
    if (kind === EVENT_WRITABLE) this.flushPending();
    else if (kind === EVENT_ERROR) this.checkState(`socket error ${errno}`);
  }
}

// The AF_PACKET link (docs/architecture.md §5): the userspace stack on a real Linux network device through
// a packet socket. The native half (afpacket.cc) owns the socket, the PACKET_MMAP receive ring
// and sendmmsg; this half is the LinkDevice the stack sees.
//
// Contract, beyond device.ts:
// - Zero copy on receive. The arena's first `ringFrames` slots ARE the kernel's ring frames
//   (SlotArena deviceSlots over the native mapping). A batch hands frames out in place; the
//   receiver's last release gives the frame back to the kernel (tp_status = TP_STATUS_KERNEL).
//   The kernel fills frames strictly in ring order and stops at one still held, so after each
//   batch the link asks for held frames back (arena.want, see askForHeldFrames): the stack copies
//   unpinned held data out of them. Bytes pinned by an
//   application (a retained WSK indication) never move; if the ring comes round to them the
//   kernel drops packets until WskRelease (kernelDrops counts it).
// - Bursts. Ring frames are sized for the device's MTU (frameSize, 1600 bytes at MTU 1500, 40 to
//   a 64 KiB block), so the ring's 24 MiB hold 15360 frames: a burst of thousands of peers'
//   RSTs, SYNs or requests fits where 512 frames of 68 KiB overflowed. A frame larger than a ring
//   frame (a peer's GSO segment, up to 64 KiB) waits on the socket's receive queue
//   (gsoQueueBytes, 256 MiB: a limit, not an allocation; see DEFAULT_GSO_QUEUE_BYTES) and is read,
//   in ring order, into a pool slot set aside for it (rxSpares, refilled after every batch while
//   more than an eighth of the pool is free, so transmit never runs dry); the kernel writes it
//   once, where the stack parses it. Such frames held unread in pool slots are what the held-data
//   table copies out when the pool falls to that eighth (runtime/ring/held-data.ts), so the
//   spares refill as long as nothing an application pinned fills the pool; a queued frame with
//   no spare is dropped (rxNoSlot).
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
import { DEFAULT_HEADROOM, SlotArena } from '../../runtime/ring/slot-arena.ts';
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import type { LinkCapabilities, LinkStats } from '../../runtime/net/device.ts';
import type { ReceiveFilter } from '../../runtime/net/receive-filter.ts';
import { compileReceiveFilter, encodeBpf } from './bpf.ts';
import { LinkError, loadAddon, withNetns } from '../native/native.ts';
import { DeviceLink, explainOpenError, watchDevice } from '../native/device-link.ts';

export interface AfPacketLinkOptions {
  /** The device, e.g. `vb-<lab id>`. */
  ifname: string;
  /** Open the device inside this network namespace (`ip netns` name); the process stays where it is. */
  netns?: string;
  /**
   * Frames in the kernel's receive ring, rounded up to whole blocks (default: as many as 24 MiB
   * hold, 15360 at MTU 1500 — a burst of 1500 peers closing at once overflowed 512 frames, and a
   * lost RST is never repeated).
   */
  ringFrames?: number;
  /**
   * Bytes per ring frame, a multiple of 16 from 256 (default: what an MTU-sized frame needs).
   * Larger frames take the queue (gsoQueueBytes).
   */
  frameSize?: number;
  /** Bytes of larger-than-frame frames (GSO segments) the kernel may queue for us (default 256 MiB). */
  gsoQueueBytes?: number;
  /** Slots for transmitted frames, queued large frames and copies (default 1024). */
  poolSlots?: number;
  /** Bytes per pool slot, a multiple of 4096 (default 69632: a 64 KiB GSO frame plus headers). */
  slotSize?: number;
  /** The stack's MAC (48-bit number). Default: the device's own; another one turns on promiscuous mode. */
  mac?: number;
  /** Checksum and segmentation offload through PACKET_VNET_HDR (default true). */
  offloads?: boolean;
  /**
   * What the stack takes (receiveFilterFor(config) from the stack's own config): compiled to a
   * BPF program, it keeps everything else out of the ring. Default: no filter.
   */
  filter?: ReceiveFilter;
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
  /** Drains the ring's filled frames now (onBatch runs inside the call). */
  poll(): void;
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
  RX_QUEUED: 15, RX_NO_SLOT: 16, RING_CONSUMED: 17,
} as const;
/** Pool slots kept ready for queued frames (afpacket.cc MAX_RX_COPIES). */
const RX_SPARES = 64;
const ENXIO = 6;
const ENODEV = 19;
const ENETDOWN = 100;
/** tpacket2_hdr, sockaddr_ll alignment and the virtio-net header before a frame's data. */
const RING_FRAME_OVERHEAD = 64 + 10;
const ETHERNET_OVERHEAD = 18;
const DEFAULT_SLOT_SIZE = 69632;
const DEFAULT_RING_BYTES = 24 << 20;
/**
 * The socket receive buffer for GSO frames waiting in ring order: a limit the kernel counts skb
 * memory against (truesize, well above the bytes), not memory taken up front. Every peer's GSO
 * burst lands here, so it must hold what all connections may send at once: with 10 MiB, 1000
 * Linux senders into one stack overflowed it and the frames were dropped after the ring had
 * announced them (rxTruncated 22942 in 3 s, 760 sender timeouts, 0.17 Gbit/s); with 256 MiB none
 * was (2.2 Gbit/s; bench/scale.bench.ts, 1000 connections). Linux's own TCP would let those
 * sockets take up to tcp_mem, hundreds of MiB.
 */
const DEFAULT_GSO_QUEUE_BYTES = 256 << 20;

/** A ring frame that holds a frame of `mtu`, in the kernel's 16-byte steps (TPACKET_ALIGNMENT). */
function ringFrameSize(mtu: number): number {
  return Math.ceil((mtu + ETHERNET_OVERHEAD + RING_FRAME_OVERHEAD) / 16) * 16;
}

/**
 * The ring's blocks: 64 KiB (the kernel allocates each as 2^n contiguous pages, so a power of two
 * wastes nothing), or the next power of two that holds one frame.
 */
function ringBlockSize(frameSize: number): number {
  let size = 65536;
  while (size < frameSize) size *= 2;
  return size;
}

/** Counters beyond LinkStats, for `wsk stats` and the benchmarks. */
export interface AfPacketStats {
  /** Frames the kernel dropped because the ring was full or blocked (PACKET_STATISTICS). */
  kernelDrops: number;
  kernelPackets: number;
  /**
   * Frames cut short (dropped): larger than a ring frame while the kernel's queue for them
   * (gsoQueueBytes) was full, or larger than a pool slot.
   */
  rxTruncated: number;
  /** Frames larger than a ring frame, read from the kernel's queue into a pool slot. */
  rxQueued: number;
  /** Such frames dropped because the pool had no slot to spare for them. */
  rxNoSlot: number;
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
  /** Bytes per ring frame (arena.deviceSlotSize). */
  readonly frameSize: number;
  private readonly sock: NativePacketSocket;
  private readonly native: Float64Array;
  private readonly rxBatch: Int32Array;
  /** [0] = count, then pool slots set aside for queued frames (afpacket.cc Arrays.rxSpares). */
  private readonly rxSpares = new Int32Array(RX_SPARES + 1);
  private readonly poolReserve: number;
  private readonly status: Int32Array;
  private readonly lookahead: number;
  /** Ring positions (counted from the start, like RING_CONSUMED) askForHeldFrames has looked at. */
  private scanned = 0;
  private ringWants = 0;
  private ringStalls = 0;
  private lastTxErrors = 0;

  constructor(opts: AfPacketLinkOptions) {
    const poolSlots = opts.poolSlots ?? 1024;
    const slotSize = opts.slotSize ?? DEFAULT_SLOT_SIZE;
    if (!Number.isInteger(poolSlots) || poolSlots < 64) {
      throw new LinkError('OPEN_FAILED', 'AF_PACKET link: poolSlots must be an integer >= 64.');
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
      throw new LinkError('MTU_TOO_LARGE', `device ${opts.ifname} has MTU ${watch.mtu}, larger than its pool slots of ${slotSize} bytes hold: pass slotSize >= ${Math.ceil((watch.mtu + ETHERNET_OVERHEAD + RING_FRAME_OVERHEAD) / 4096) * 4096}`);
    }
    const frameSize = opts.frameSize ?? ringFrameSize(watch.mtu);
    if (!Number.isInteger(frameSize) || frameSize < 256 || frameSize % 16 !== 0
      || (opts.ringFrames !== undefined && (!Number.isInteger(opts.ringFrames) || opts.ringFrames < 8))) {
      watch.close();
      throw new LinkError('OPEN_FAILED', `AF_PACKET link: frameSize ${frameSize} must be a multiple of 16 from 256, and ringFrames an integer >= 8.`);
    }
    const blockSize = ringBlockSize(frameSize);
    const framesPerBlock = Math.floor(blockSize / frameSize);
    const blocks = Math.ceil((opts.ringFrames ?? framesPerBlock * (DEFAULT_RING_BYTES / blockSize)) / framesPerBlock);
    const ringFrames = blocks * framesPerBlock;
    const deviceMac = watch.macHi * 0x100000000 + (watch.macLo >>> 0);
    const offloads = opts.offloads ?? true;
    const filter = opts.filter ? encodeBpf(compileReceiveFilter(opts.filter)) : undefined;
    try {
      // Frames for another MAC reach a real NIC's packet sockets only in promiscuous mode.
      this.sock = withNetns(opts.netns, () => new addon.PacketSocket({
        ifname: opts.ifname, ringFrames, frameSize, blockSize, poolSlots, slotSize, headroom: DEFAULT_HEADROOM,
        gsoQueueBytes: opts.gsoQueueBytes ?? DEFAULT_GSO_QUEUE_BYTES, vnetHeader: offloads, qdiscBypass: opts.qdiscBypass ?? false,
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
    this.frameSize = frameSize;
    this.capabilities = { rxChecksumVerified: false, txChecksumOffload: offloads, tsoMaxBytes: offloads ? 65536 : 0 };
    this.arena = new SlotArena({
      slotCount: ringFrames + poolSlots, slotSize, buffer: this.sock.buffer, deviceSlots: ringFrames, deviceSlotSize: frameSize,
      deviceSlotsPerBlock: framesPerBlock, deviceBlockSize: blockSize,
    });
    this.status = new Int32Array(this.sock.buffer, 0, (blocks * blockSize) >> 2);
    this.arena.onDeviceRelease = (slot) => { Atomics.store(this.status, this.arena.base(slot) >> 2, 0); };
    this.lookahead = Math.max(1, ringFrames >> 2);
    this.poolReserve = poolSlots >> 3;
    this.native = this.sock.stats;
    this.rxBatch = new Int32Array(opts.batchSize ?? 256);
    this.refillSpares();
    this.sock.attach({
      refcounts: this.arena.refcounts, offsets: this.arena.offsets, lengths: this.arena.lengths, flags: this.arena.flags,
      segmentSizes: this.arena.segmentSizes, rxBatch: this.rxBatch, txSlots: this.txSlots, rxSpares: this.rxSpares,
    }, (count) => this.onBatch(count), (kind, errno) => this.onEvent(kind, errno));
    this.startWatching();
  }

  get stats(): LinkStats {
    const n = this.native;
    if (!this.closed) this.sock.readKernelStats();
    this.linkStats.txFrames = n[ST.TX_FRAMES]!;
    this.linkStats.txBytes = n[ST.TX_BYTES]!;
    return this.publishStats(
      n[ST.RX_TRUNCATED]! + n[ST.RX_NO_SLOT]! + n[ST.RX_VLAN]! + n[ST.RX_GSO_UNSUPPORTED]! + n[ST.KERNEL_DROPS]!, n[ST.TX_ERRORS]!);
  }

  /** Counters particular to this link (the kernel's ring statistics among them). */
  get details(): AfPacketStats {
    const n = this.native;
    if (!this.closed) this.sock.readKernelStats();
    return {
      kernelDrops: n[ST.KERNEL_DROPS]!, kernelPackets: n[ST.KERNEL_PACKETS]!, rxTruncated: n[ST.RX_TRUNCATED]!,
      rxQueued: n[ST.RX_QUEUED]!, rxNoSlot: n[ST.RX_NO_SLOT]!, rxVlan: n[ST.RX_VLAN]!,
      rxGsoUnsupported: n[ST.RX_GSO_UNSUPPORTED]!, ringWants: this.ringWants, ringStalls: this.ringStalls, txSyscalls: n[ST.TX_SYSCALLS]!,
      txAgain: n[ST.TX_AGAIN]!,
      wakeups: n[ST.WAKEUPS]!, busyPolled: n[ST.BUSY_POLLED]!,
    };
  }

  private onBatch(count: number): void {
    const arena = this.arena;
    const batch = this.rxBatch;
    const frames = this.ringFrames;
    let bytes = 0;
    let ring = 0;
    for (let i = 0; i < count; i++) {
      const slot = batch[i]!;
      bytes += arena.lengths[slot]!;
      if (slot < frames) ring++;
    }
    // Queued frames came in spare pool slots, already counted by arena.alloc().
    arena.deviceHandedOut(ring);
    const s = this.linkStats;
    s.rxFrames += count;
    s.rxBytes += bytes;
    s.rxBatches++;
    this.deliver(batch, count);
    this.refillSpares();
    const consumed = this.native[ST.RING_CONSUMED]!;
    if (this.askForHeldFrames(consumed)) {
      this.receiver?.relieve?.();
      // Still held (bytes an application keeps): the kernel stops here until they are released.
      if (arena.refcounts[consumed % frames]! > 0) this.ringStalls++;
    }
  }

  /** Sets pool slots aside for the queued frames of the next batches, leaving transmit its share. */
  private refillSpares(): void {
    const spares = this.rxSpares;
    const arena = this.arena;
    let count = spares[0]!;
    while (count < RX_SPARES && arena.freeCount > this.poolReserve) spares[++count] = arena.alloc();
    spares[0] = count;
  }

  /**
   * The kernel fills frames in ring order from the head (`consumed` frames from the start) and
   * stops at one still held. After a batch, held frames are asked back (arena.want: the stack
   * copies their data out) when the kernel reaches them soon (within a quarter ring), or —
   * nearest, i.e. oldest, first — while more than a quarter of the ring is held, so that an
   * application holding more than the ring (a receive window larger than it, and nobody reading)
   * leaves room for the next burst and never stalls capture. Returns whether any are wanted.
   *
   * A frame ahead of the head can only be released, never taken, until the head passes it: each
   * position is looked at once, when it comes within reach, so a batch costs what it consumed,
   * not the ring's 15360 frames.
   */
  private askForHeldFrames(consumed: number): boolean {
    const arena = this.arena;
    const refcounts = arena.refcounts;
    const frames = this.ringFrames;
    const reach = consumed + this.lookahead;
    const held = arena.deviceInUse;
    if (held === 0) {
      this.scanned = reach;
      return false;
    }
    for (let p = Math.max(this.scanned, consumed); p < reach; p++) {
      const f = p % frames;
      if (refcounts[f]! > 0 && arena.wanted[f] === 0) { arena.want(f); this.ringWants++; }
    }
    this.scanned = reach;
    let excess = held - (frames >> 2);
    for (let k = 0, f = consumed % frames; k < frames && excess > 0; k++, f = f + 1 === frames ? 0 : f + 1) {
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

  pollInput(): void { if (!this.closed) this.sock.poll(); }

  protected closeNative(): void {
    this.sock.close();
    const spares = this.rxSpares;
    for (let i = spares[0]!; i > 0; i--) this.arena.release(spares[i]!);
    spares[0] = 0;
  }

  private onEvent(kind: number, errno: number): void {
    if (kind === EVENT_WRITABLE) this.flushPending();
    else if (kind === EVENT_ERROR) this.checkState(`socket error ${errno}`);
  }
}

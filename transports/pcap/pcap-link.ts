// The libpcap link: the userspace stack on any device libpcap can open (the native half, pcap.cc,
// says why it is our own addon rather than the `pcap` package).
//
// Contract, beyond device.ts and DeviceLink:
// - Receive: libpcap's immediate-mode ring → one copy per frame, in C, into a free slot of this
//   link's arena that JavaScript set aside (rxSlots) → one onReceive per batch. When the arena
//   has no free slot, capture pauses (frames wait in libpcap's buffer, which drops when full and
//   counts it) and resumes as soon as slots are back.
// - libpcap gives no checksum state: a local peer with checksum offload (veth) sends frames whose
//   TCP/UDP checksum is only the pseudo-header sum, so the link declares rxUnfinishedChecksums
//   and the stack accepts exactly that value (counted). Frames up to 64 KiB (a peer's GSO
//   segments) are taken whole; nothing is offloaded on transmit (no GSO through libpcap).
// - Transmit: pcap_inject per frame, a whole batch per JavaScript call.
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import type { LinkCapabilities, LinkStats } from '../../runtime/net/device.ts';
import type { ReceiveFilter } from '../../runtime/net/receive-filter.ts';
import { compileReceiveFilter, encodeBpf } from '../afpacket/bpf.ts';
import { LinkError, loadAddon, withNetns } from '../native/native.ts';
import { DeviceLink, explainOpenError, watchDevice } from '../native/device-link.ts';

export interface PcapLinkOptions {
  ifname: string;
  /** Open the device inside this network namespace (`ip netns` name). */
  netns?: string;
  /** Slots of the link's arena (default 1024). */
  slotCount?: number;
  /** Bytes per slot (default 69632: a 64 KiB GSO frame plus headroom). */
  slotSize?: number;
  /** The stack's MAC; default the device's own; another one turns on promiscuous mode. */
  mac?: number;
  /**
   * What the stack takes (receiveFilterFor(config) from the stack's own config): compiled to a
   * BPF program, it keeps everything else out of the ring. Default: no filter.
   */
  filter?: ReceiveFilter;
  /**
   * libpcap's kernel buffer in bytes (default 32 MiB). On a device with segmentation offload
   * libpcap cuts it into 64 KiB frames, so this is about 500 frames: a burst larger than that
   * is dropped (and counted in details.dropped).
   */
  bufferSize?: number;
  /** Frames per onReceive call (default 256). */
  batchSize?: number;
  statePollMs?: number;
  clock?: Clock;
}

interface NativePcapHandle {
  readonly stats: Float64Array;
  readonly libpcap: string;
  attach(arrays: Record<string, unknown>, onBatch: (count: number) => void, onError: (message: string) => void): void;
  send(count: number): number;
  resume(): void;
  readStats(): void;
  close(): void;
}

interface PcapAddon {
  PcapHandle: new (options: object) => NativePcapHandle;
  version: string;
}

// Mirrors of pcap.cc.
const ST = {
  RX_TRUNCATED: 2, TX_FRAMES: 3, TX_BYTES: 4, TX_ERRORS: 5, TX_AGAIN: 6, TX_LAST_ERRNO: 7, WAKEUPS: 8,
  PCAP_RECV: 9, PCAP_DROP: 10, PCAP_IFDROP: 11,
} as const;
const RETRY_MS = 1;

export interface PcapStats {
  /** pcap_stats: packets libpcap saw, dropped for lack of buffer, dropped by the interface. */
  received: number;
  dropped: number;
  interfaceDropped: number;
  rxTruncated: number;
  txAgain: number;
  wakeups: number;
  /** Times capture paused because the arena had no free slot. */
  pauses: number;
  /** Reads libpcap failed (the device went down or away), and the last message. */
  captureErrors: number;
  lastCaptureError: string;
  libpcap: string;
}

export class PcapLink extends DeviceLink {
  readonly arena: SlotArena;
  readonly mtu: number;
  readonly mac: number;
  readonly capabilities: LinkCapabilities;
  readonly framing = 'ethernet' as const;
  private readonly handle: NativePcapHandle;
  private readonly native: Float64Array;
  private readonly rxSlots: Int32Array;
  /** control[0]: how many rxSlots (from the front) are free slots the native half may fill. */
  private readonly control = new Int32Array(1);
  private pauses = 0;
  private captureErrors = 0;
  private lastCaptureError = '';
  private retryTimer: NodeJS.Timeout | null = null;
  private writeRetry: NodeJS.Timeout | null = null;

  constructor(opts: PcapLinkOptions) {
    const clock = opts.clock ?? new RealClock();
    if (clock.virtual) throw new LinkError('OPEN_FAILED', 'libpcap link: a real device runs in real time; use a RealClock (or none).');
    const addon = loadAddon<PcapAddon>('wsk_pcap', 'libpcap link');
    const watch = watchDevice(opts.ifname, opts.netns, 'libpcap link');
    const slotCount = opts.slotCount ?? 1024;
    super(opts.ifname, clock, watch, slotCount, opts.statePollMs ?? 500);
    const deviceMac = watch.macHi * 0x100000000 + (watch.macLo >>> 0);
    const filter = opts.filter ? encodeBpf(compileReceiveFilter(opts.filter)) : undefined;
    try {
      this.handle = withNetns(opts.netns, () => new addon.PcapHandle({
        ifname: opts.ifname, promiscuous: opts.mac !== undefined && opts.mac !== deviceMac, filter, bufferSize: opts.bufferSize,
      }));
    } catch (err) {
      watch.close();
      throw explainOpenError(err, 'libpcap link', opts.ifname, opts.netns);
    }
    this.mac = opts.mac ?? deviceMac;
    this.mtu = watch.mtu;
    this.capabilities = { rxChecksumVerified: false, rxUnfinishedChecksums: true, txChecksumOffload: false, tsoMaxBytes: 0 };
    this.arena = new SlotArena({ slotCount, slotSize: opts.slotSize ?? 69632 });
    this.native = this.handle.stats;
    this.rxSlots = new Int32Array(opts.batchSize ?? 256);
    this.refill();
    this.handle.attach({
      arena: this.arena.buffer, slotSize: this.arena.slotSize, headroom: this.arena.headroom, offsets: this.arena.offsets,
      lengths: this.arena.lengths, rxSlots: this.rxSlots, control: this.control, txSlots: this.txSlots,
    }, (count) => this.onBatch(count), (message) => this.onCaptureError(message));
    this.startWatching();
  }

  /** libpcap failed to read (device down or gone): capture is paused until the device is back. */
  private onCaptureError(message: string): void {
    this.captureErrors++;
    this.lastCaptureError = message;
    this.checkState(`capture error: ${message}`);
    if (this.state === 'up') this.scheduleResume();
  }

  private scheduleResume(): void {
    if (!this.retryTimer && !this.closed) this.retryTimer = setTimeout(this.retryCapture, RETRY_MS);
  }

  protected override onStateChange(): void {
    if (this.state === 'up') this.scheduleResume();
  }

  get stats(): LinkStats {
    const n = this.native;
    if (!this.closed) this.handle.readStats();
    this.linkStats.txFrames = n[ST.TX_FRAMES]!;
    this.linkStats.txBytes = n[ST.TX_BYTES]!;
    return this.publishStats(n[ST.RX_TRUNCATED]! + n[ST.PCAP_DROP]! + n[ST.PCAP_IFDROP]!, n[ST.TX_ERRORS]!);
  }

  get details(): PcapStats {
    const n = this.native;
    if (!this.closed) this.handle.readStats();
    return {
      received: n[ST.PCAP_RECV]!, dropped: n[ST.PCAP_DROP]!, interfaceDropped: n[ST.PCAP_IFDROP]!, rxTruncated: n[ST.RX_TRUNCATED]!,
      txAgain: n[ST.TX_AGAIN]!, wakeups: n[ST.WAKEUPS]!, pauses: this.pauses, captureErrors: this.captureErrors,
      lastCaptureError: this.lastCaptureError, libpcap: this.handle.libpcap,
    };
  }

  /** Tops rxSlots up with free slots; the filled ones stay at the front. */
  private refill(): void {
    const slots = this.rxSlots;
    let filled = this.control[0]!;
    while (filled < slots.length) {
      const slot = this.arena.alloc();
      if (slot < 0) break;
      slots[filled++] = slot;
    }
    this.control[0] = filled;
  }

  private onBatch(count: number): void {
    const arena = this.arena;
    const slots = this.rxSlots;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += arena.lengths[slots[i]!]!;
    const s = this.linkStats;
    s.rxFrames += count;
    s.rxBytes += bytes;
    s.rxBatches++;
    this.deliver(slots, count);
    // The receiver owns slots [0, count) now; the unused ones move to the front.
    const filled = this.control[0]!;
    slots.copyWithin(0, count, filled);
    this.control[0] = filled - count;
    this.refill();
    if (this.control[0] === 0 && !this.retryTimer && !this.closed) {
      // The native half pauses capture with no slot to fill: look again shortly.
      this.pauses++;
      this.scheduleResume();
    }
  }

  private readonly retryCapture = (): void => {
    this.retryTimer = null;
    if (this.closed || this.state !== 'up') return;
    this.refill();
    if (this.control[0] === 0) { this.scheduleResume(); return; }
    this.handle.resume();
  };

  protected sendNative(count: number): number { return this.handle.send(count); }

  protected wantWritable(): void {
    // libpcap offers no writable notification: try again shortly.
    if (this.writeRetry) return;
    this.writeRetry = setTimeout(() => { this.writeRetry = null; this.flushPending(); }, RETRY_MS);
  }

  protected closeNative(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.writeRetry) clearTimeout(this.writeRetry);
    this.retryTimer = this.writeRetry = null;
    this.handle.close();
    // The slots set aside for capture go back to the arena.
    for (let i = 0; i < this.control[0]!; i++) this.arena.release(this.rxSlots[i]!);
    this.control[0] = 0;
  }
}

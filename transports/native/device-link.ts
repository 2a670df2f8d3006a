// What the links on real devices (AF_PACKET, libpcap, raw IP sockets) share above their native
// halves: the transmit queue that waits out a full socket buffer, the device's state ('up',
// 'down', 'gone') reported to the receiver, the LinkStats bookkeeping, and the errors that say
// how to fix a device that cannot be opened.
//
// Transmit contract (device.ts): the link owns every slot passed to transmit(). A subclass's
// sendNative(n) sends txSlots[0..n) and returns how many it consumed (sent, or dropped for an
// error and counted); the rest met a full socket buffer and wait here, in order, until the
// subclass calls flushPending() (socket writable again, or a retry timer). Frames that arrive
// while others wait queue behind them. While the device is not 'up' everything is dropped.
//
// State: checked every `statePollMs` through a DeviceWatch (a socket in the device's namespace),
// and at once when a subclass reports trouble (checkState). 'down' = administratively down, as
// Linux sees it (a lost carrier is weathered like loss); 'gone' = deleted, which is final and
// closes the link.
import type { SlotArena } from '../../runtime/ring/slot-arena.ts';
import type { Clock } from '../../runtime/net/clock.ts';
import {
  newLinkStats, type LinkCapabilities, type LinkDevice, type LinkReceiver, type LinkState, type LinkStats,
} from '../../runtime/net/device.ts';
import { FIX_PRIVILEGE, LinkError, loadAddon, withNetns, type NativeError } from './native.ts';

export interface DeviceWatch {
  readonly ifindex: number;
  readonly mtu: number;
  readonly ethernet: boolean;
  readonly macHi: number;
  readonly macLo: number;
  /** IFF_* flags, or -errno (-ENODEV once the device is gone). */
  state(): number;
  close(): void;
}

interface SupportAddon {
  DeviceWatch: new (ifname: string) => DeviceWatch;
}

const IFF_UP = 0x1;
const TX_BATCH = 256;

/** Turns a native open failure into a LinkError that names the fix. */
export function explainOpenError(err: unknown, what: string, ifname: string, netns: string | undefined): LinkError {
  if (err instanceof LinkError) return err;
  const e = err as NativeError;
  const where = netns ? ` in network namespace ${netns}` : '';
  const ipCmd = `ip${netns ? ` -n ${netns}` : ''}`;
  switch (e.code) {
    case 'EPERM':
    case 'EACCES':
      return new LinkError('NOT_PERMITTED', `${what} on ${ifname}: ${FIX_PRIVILEGE}`, { cause: err });
    case 'ENODEV':
      return new LinkError('NO_DEVICE', `no device '${ifname}'${where}: see \`${ipCmd} link show\``, { cause: err });
    case 'ENETDOWN':
      return new LinkError('DEVICE_DOWN', `device ${ifname} is down: ${ipCmd} link set ${ifname} up`, { cause: err });
    case 'ENOTETHER':
      return new LinkError('NOT_ETHERNET', `device ${ifname} is not an Ethernet device: use the raw IP link (transports/raw-socket) for tun and other IP-only devices`, { cause: err });
    case 'ENOMEM':
      return new LinkError('RING_MEMORY', `${what} on ${ifname}: the kernel could not allocate the receive ring; ask for fewer or smaller frames`, { cause: err });
    default:
      return new LinkError('OPEN_FAILED', `${what} on ${ifname}${where}: ${e.message}`, { cause: err });
  }
}

/** Opens a DeviceWatch on `ifname` inside `netns`; refuses a device that is down. */
export function watchDevice(ifname: string, netns: string | undefined, what: string): DeviceWatch {
  const addon = loadAddon<SupportAddon>('wsk_afpacket', what);
  let watch: DeviceWatch;
  try {
    watch = withNetns(netns, () => new addon.DeviceWatch(ifname));
  } catch (err) {
    throw explainOpenError(err, what, ifname, netns);
  }
  const flags = watch.state();
  if (flags >= 0 && (flags & IFF_UP) === 0) {
    watch.close();
    throw explainOpenError(Object.assign(new Error('down'), { code: 'ENETDOWN' }), what, ifname, netns);
  }
  return watch;
}

export abstract class DeviceLink implements LinkDevice {
  abstract readonly arena: SlotArena;
  abstract readonly mtu: number;
  abstract readonly mac: number;
  abstract readonly capabilities: LinkCapabilities;
  abstract readonly framing: 'ethernet' | 'ip';
  protected readonly linkStats: LinkStats = newLinkStats();
  protected receiver: LinkReceiver | null = null;
  protected closed = false;
  /** Frames dropped above the native half (device not up, queue full, no receiver). */
  protected jsTxDrops = 0;
  protected jsRxDrops = 0;
  /** What sendNative() sends: slots [0, n). */
  protected readonly txSlots = new Int32Array(TX_BATCH);
  private readonly pending: Int32Array;
  private pendingHead = 0;
  private pendingCount = 0;
  private currentState: LinkState = 'up';
  private stateTimer: NodeJS.Timeout | null = null;
  /** Drops middlewares added to stats directly (they count slot shortages as device drops). */
  private addedRxDrops = 0;
  private addedTxDrops = 0;
  /** What publishStats last wrote, to tell such additions apart. */
  private shownRxDrops = 0;
  private shownTxDrops = 0;

  protected constructor(
    readonly name: string, readonly clock: Clock, protected readonly watch: DeviceWatch | null, pendingCapacity: number,
    private readonly statePollMs: number,
  ) {
    this.pending = new Int32Array(pendingCapacity);
  }

  /** Starts the state poll; subclasses call it last in their constructor (a failed open leaves no timer). */
  protected startWatching(): void {
    if (!this.watch || this.stateTimer) return;
    this.stateTimer = setInterval(() => this.checkState('device state poll'), this.statePollMs);
    this.stateTimer.unref();
  }

  /** Sends txSlots[0..count); returns how many were consumed (the rest wait for flushPending). */
  protected abstract sendNative(count: number): number;
  /** Asks to be told (by a call to flushPending) when sending may work again. */
  protected abstract wantWritable(): void;
  protected abstract closeNative(): void;

  get state(): LinkState { return this.currentState; }

  attach(receiver: LinkReceiver | null): void { this.receiver = receiver; }

  transmit(slots: Int32Array, count: number): void {
    const arena = this.arena;
    this.linkStats.txBatches++;
    if (this.closed || this.currentState !== 'up') {
      this.jsTxDrops += count;
      for (let i = 0; i < count; i++) arena.release(slots[i]!);
      return;
    }
    if (this.pendingCount > 0) {
      // Keep order behind what already waits for the socket.
      for (let i = 0; i < count; i++) this.queue(slots[i]!);
      return;
    }
    let i = 0;
    while (i < count) {
      const k = Math.min(count - i, TX_BATCH);
      for (let j = 0; j < k; j++) this.txSlots[j] = slots[i + j]!;
      const sent = this.sendNative(k);
      for (let j = 0; j < sent; j++) arena.release(this.txSlots[j]!);
      i += sent;
      if (sent < k) break;
    }
    if (i < count) {
      for (; i < count; i++) this.queue(slots[i]!);
      this.wantWritable();
    }
  }

  private queue(slot: number): void {
    const cap = this.pending.length;
    if (this.pendingCount === cap) { this.jsTxDrops++; this.arena.release(slot); return; }
    let at = this.pendingHead + this.pendingCount;
    if (at >= cap) at -= cap;
    this.pending[at] = slot;
    this.pendingCount++;
  }

  /** Sends what waits, in order, until the socket is full again. */
  protected flushPending(): void {
    const cap = this.pending.length;
    while (this.pendingCount > 0 && !this.closed) {
      const k = Math.min(this.pendingCount, TX_BATCH);
      for (let j = 0, at = this.pendingHead; j < k; j++, at = at + 1 === cap ? 0 : at + 1) this.txSlots[j] = this.pending[at]!;
      const sent = this.sendNative(k);
      for (let j = 0; j < sent; j++) this.arena.release(this.txSlots[j]!);
      this.pendingHead = (this.pendingHead + sent) % cap;
      this.pendingCount -= sent;
      if (sent < k) { this.wantWritable(); return; }
    }
  }

  private dropPending(): void {
    const cap = this.pending.length;
    while (this.pendingCount > 0) {
      this.arena.release(this.pending[this.pendingHead]!);
      this.pendingHead = this.pendingHead + 1 === cap ? 0 : this.pendingHead + 1;
      this.pendingCount--;
      this.jsTxDrops++;
    }
  }

  /**
   * Fills linkStats from the native half's drop counts (frames and bytes are kept there already),
   * keeping what a middleware added to the fields in between.
   */
  protected publishStats(nativeRxDrops: number, nativeTxDrops: number): LinkStats {
    const s = this.linkStats;
    this.addedRxDrops += s.rxDrops - this.shownRxDrops;
    this.addedTxDrops += s.txDrops - this.shownTxDrops;
    s.rxDrops = this.shownRxDrops = this.addedRxDrops + this.jsRxDrops + nativeRxDrops;
    s.txDrops = this.shownTxDrops = this.addedTxDrops + this.jsTxDrops + nativeTxDrops;
    return s;
  }

  /** Hands a received batch to the receiver, or drops it (counted) when there is none. */
  protected deliver(slots: Int32Array, count: number): void {
    const receiver = this.receiver;
    if (!receiver || this.closed) {
      this.jsRxDrops += count;
      for (let i = 0; i < count; i++) this.arena.release(slots[i]!);
      return;
    }
    receiver.onReceive(slots, count);
  }

  /** Reads the device's state and reports a change to the receiver. */
  protected checkState(why: string): void {
    if (this.closed || !this.watch) return;
    const r = this.watch.state();
    let next: LinkState;
    let reason: string;
    if (r < 0) {
      next = 'gone';
      reason = `device ${this.name} no longer exists (${why})`;
    } else if ((r & IFF_UP) === 0) {
      next = 'down';
      reason = `device ${this.name} is down`;
    } else {
      next = 'up';
      reason = `device ${this.name} is up`;
    }
    if (next === this.currentState) return;
    this.currentState = next;
    if (next !== 'up') this.dropPending();
    if (next === 'gone') this.shutDown();
    this.onStateChange();
    this.receiver?.onLinkState?.(next, reason);
  }

  /** For subclasses: the state just changed (this.state). */
  protected onStateChange(): void {}

  private shutDown(): void {
    this.closed = true;
    if (this.stateTimer) clearInterval(this.stateTimer);
    this.stateTimer = null;
    this.watch?.close();
    this.closeNative();
  }

  /** Stops the link: later transmits are dropped; frames the stack still holds stay readable until released. */
  close(): void {
    if (this.closed) return;
    this.dropPending();
    this.shutDown();
  }

  abstract readonly stats: LinkStats;
}

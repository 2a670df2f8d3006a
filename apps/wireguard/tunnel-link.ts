// The tunnel side of a WireGuard device as a link (runtime/net/device.ts): an IP-framed link
// (framing 'ip', no Ethernet, no ARP) under a second userspace stack, so any WSK app runs inside
// the tunnel. Decrypted inner packets come in through deliver() (the device's deliverPacket);
// what the inner stack transmits goes to `sendPacket` (the device's).
//
// Ownership and re-entrancy (device.ts's rules, and the device's contract in device.ts of
// apps/wireguard):
//  - deliver(bytes, offset, length) copies the packet into a slot of this link's arena right
//    away (the bytes are lent for the call) and only queues it: the device forbids re-entering it
//    from deliverPacket, and the stack may answer (transmit) from inside onReceive. The queued
//    slots go to the receiver in one batch when flush() runs — the WSK driver calls it after each
//    receive batch — or, if nobody does, in a microtask after the delivering call returned.
//  - transmit(slots, count): each slot's packet goes to `sendPacket` (which copies it out: the
//    device seals it into its own buffer) and the slot is released.
//  - No free slot on deliver: the packet is dropped and counted (rxDrops).
// Checksums: inner packets arrive authenticated by Poly1305, so the link vouches for them
// (rxChecksumVerified, as Linux marks decrypted WireGuard packets CHECKSUM_UNNECESSARY); outgoing
// ones carry real checksums (the far side's tunnel may check them).
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import { newLinkStats, type LinkCapabilities, type LinkDevice, type LinkReceiver, type LinkStats } from '../../runtime/net/device.ts';
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { copyBytes } from '../../runtime/mdl/copy-bytes.ts';

export interface TunnelLinkOptions {
  /** The tunnel's MTU: the inner stack's largest IP packet (the device's MTU, default 1420). */
  mtu?: number;
  /** Where the inner stack's packets go (the device's sendPacket). */
  sendPacket(bytes: Uint8Array, offset: number, length: number): unknown;
  clock?: Clock;
  name?: string;
  /** Slots in the link's arena (default 2048). */
  slotCount?: number;
}

const HEADROOM = 256;

export class TunnelLink implements LinkDevice {
  readonly name: string;
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly mtu: number;
  readonly mac = 0;
  readonly framing = 'ip' as const;
  readonly capabilities: LinkCapabilities = { rxChecksumVerified: true, txChecksumOffload: false, tsoMaxBytes: 0 };
  readonly stats: LinkStats = newLinkStats();
  private receiver: LinkReceiver | null = null;
  /** Slots delivered and not yet handed to the receiver; at most every slot of the arena. */
  private readonly queued: Int32Array;
  private queuedCount = 0;
  private flushQueued = false;
  private closed = false;
  private readonly sendPacket: TunnelLinkOptions['sendPacket'];
  private readonly flushBound = (): void => { this.flushQueued = false; this.flush(); };

  constructor(options: TunnelLinkOptions) {
    this.mtu = options.mtu ?? 1420;
    this.name = options.name ?? 'wg0';
    this.clock = options.clock ?? new RealClock();
    this.sendPacket = options.sendPacket;
    const slotCount = options.slotCount ?? 2048;
    this.arena = new SlotArena({ slotCount, slotSize: this.mtu + HEADROOM + 64, headroom: HEADROOM });
    this.queued = new Int32Array(slotCount);
  }

  attach(receiver: LinkReceiver | null): void { this.receiver = receiver; }

  /** Takes one decrypted inner packet (the device's deliverPacket); see the contract above. */
  deliver(bytes: Uint8Array, offset: number, length: number): void {
    if (this.closed || length > this.mtu || length === 0) { this.stats.rxDrops++; return; }
    const slot = this.arena.alloc();
    if (slot < 0) { this.stats.rxDrops++; return; }
    const at = this.arena.offsetOf(slot);
    copyBytes(this.arena.view(slot), at, bytes, offset, length);
    this.arena.setFrame(slot, at, length);
    this.queued[this.queuedCount++] = slot;
    this.stats.rxFrames++;
    this.stats.rxBytes += length;
    if (!this.flushQueued) { this.flushQueued = true; queueMicrotask(this.flushBound); }
  }

  /** Hands the queued packets to the receiver in one batch (outside any device callback). */
  flush(): void {
    const n = this.queuedCount;
    if (n === 0) return;
    this.queuedCount = 0;
    this.stats.rxBatches++;
    if (this.receiver === null) {
      this.stats.rxDrops += n;
      for (let i = 0; i < n; i++) this.arena.release(this.queued[i]!);
      return;
    }
    this.receiver.onReceive(this.queued, n);
  }

  transmit(slots: Int32Array, count: number): void {
    const arena = this.arena;
    if (count > 0) this.stats.txBatches++;
    for (let i = 0; i < count; i++) {
      const slot = slots[i]!;
      const length = arena.lengthOf(slot);
      if (this.closed) this.stats.txDrops++;
      else {
        this.sendPacket(arena.view(slot), arena.offsetOf(slot), length);
        this.stats.txFrames++;
        this.stats.txBytes += length;
      }
      arena.release(slot);
    }
  }

  close(): void {
    this.closed = true;
  }
}

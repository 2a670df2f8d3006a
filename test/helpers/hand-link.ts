// A link device driven by hand: a test "receives" frames by filling slots and calling
// receiver.onReceive, and sees what the stack transmits (copied out, then released).
import type { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { newLinkStats, type LinkDevice, type LinkReceiver } from '../../runtime/net/device.ts';

export class HandLink implements LinkDevice {
  readonly name = 'hand';
  readonly clock = new VirtualClock();
  readonly mtu = 1500;
  readonly capabilities = { rxChecksumVerified: false, txChecksumOffload: false, tsoMaxBytes: 0 };
  readonly stats = newLinkStats();
  receiver: LinkReceiver | null = null;
  transmitted = 0;
  /** Copies of transmitted frames, when `capture` is on. */
  readonly sent: Uint8Array[] = [];
  capture = false;
  private readonly batch = new Int32Array(64);
  private batched = 0;

  constructor(readonly arena: SlotArena, readonly mac: number) {}

  attach(r: LinkReceiver | null): void { this.receiver = r; }

  transmit(slots: Int32Array, count: number): void {
    this.transmitted += count;
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      if (this.capture) {
        const off = this.arena.offsetOf(s);
        this.sent.push(this.arena.view(s).slice(off, off + this.arena.lengthOf(s)));
      }
      this.arena.release(s);
    }
  }

  /** Queues one frame for the next deliver(); delivers by itself when a batch is full. */
  inject(frame: Uint8Array, length = frame.length): boolean {
    const slot = this.arena.alloc();
    if (slot < 0) return false;
    this.arena.view(slot).set(frame.subarray(0, length), this.arena.headroom);
    this.arena.setFrame(slot, this.arena.headroom, length);
    this.batch[this.batched++] = slot;
    if (this.batched === this.batch.length) this.deliver();
    return true;
  }

  /** Hands the queued frames to the receiver as one batch. */
  deliver(): void {
    const n = this.batched;
    this.batched = 0;
    if (n === 0) return;
    if (!this.receiver) { for (let i = 0; i < n; i++) this.arena.release(this.batch[i]!); return; }
    this.receiver.onReceive(this.batch, n);
  }

  close(): void {}
}

// A link device driven by hand: a test "receives" frames by filling slots and calling
// receiver.onReceive, and sees what the stack transmits (copied out, then released).
import type { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { checksumAdd, checksumFold } from '../../runtime/net/wire/checksum.ts';
import { get16, set16 } from '../../runtime/net/wire/bytes.ts';
import { EtherType } from '../../runtime/net/wire/ethernet.ts';
import { IpProtocol } from '../../runtime/net/wire/ipv4.ts';
import { FrameFlags, newLinkStats, type LinkCapabilities, type LinkDevice, type LinkReceiver } from '../../runtime/net/device.ts';

export interface HandLinkOptions {
  mtu?: number;
  /** Segmentation offload: the stack may hand frames of up to this many bytes (and then leaves checksums partial). */
  tsoMaxBytes?: number;
}

export class HandLink implements LinkDevice {
  readonly name = 'hand';
  readonly clock = new VirtualClock();
  readonly mtu: number;
  readonly capabilities: LinkCapabilities;
  readonly stats = newLinkStats();
  receiver: LinkReceiver | null = null;
  transmitted = 0;
  /** Copies of transmitted frames, when `capture` is on. */
  readonly sent: Uint8Array[] = [];
  /** Per captured frame: the segment size of a TSO frame (0 for an ordinary frame). */
  readonly sentSegmentSizes: number[] = [];
  capture = false;
  private readonly batch = new Int32Array(64);
  private batched = 0;

  constructor(readonly arena: SlotArena, readonly mac: number, options: HandLinkOptions = {}) {
    this.mtu = options.mtu ?? 1500;
    const tso = options.tsoMaxBytes ?? 0;
    this.capabilities = { rxChecksumVerified: false, txChecksumOffload: tso > 0, tsoMaxBytes: tso };
  }

  attach(r: LinkReceiver | null): void { this.receiver = r; }

  transmit(slots: Int32Array, count: number): void {
    this.transmitted += count;
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      if (this.capture) {
        const off = this.arena.offsetOf(s);
        const frame = this.arena.view(s).slice(off, off + this.arena.lengthOf(s));
        if ((this.arena.flags[s]! & FrameFlags.CHECKSUM_PARTIAL) !== 0) finishChecksum(frame);
        this.sent.push(frame);
        this.sentSegmentSizes.push(this.arena.segmentSizes[s]!);
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

/**
 * What a device does with a CHECKSUM_PARTIAL frame (Ethernet + IPv4 + TCP/UDP): the stack left
 * the pseudo-header sum in the checksum field; the sum over the transport bytes completes it.
 * (A TSO frame gets one checksum over all of it: the tests read its bytes, not its checksum.)
 */
function finishChecksum(f: Uint8Array): void {
  if (f.length < 34 || get16(f, 12) !== EtherType.IPV4) return;
  const l4 = 14 + ((f[14]! & 0x0f) << 2);
  const at = f[23] === IpProtocol.TCP ? l4 + 16 : f[23] === IpProtocol.UDP ? l4 + 6 : -1;
  if (at < 0 || at + 2 > f.length) return;
  set16(f, at, ~checksumFold(checksumAdd(f, l4, f.length - l4, 0)) & 0xffff);
}

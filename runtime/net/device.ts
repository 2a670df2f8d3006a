// The link-device contract between the userspace stack and whatever moves its frames (design.md
// §2: transports implement LinkDevice; runtime/net only knows this file). transports/link.ts
// re-exports it with the middleware base.
//
// Ownership (gVisor's rule: say who owns a packet after hand-off):
// - Frames are slots of `device.arena`; a slot's frame is (arena.offsetOf, arena.lengthOf),
//   starting at the Ethernet header.
// - receive: the device calls receiver.onReceive(slots, count) once per batch; each listed slot
//   carries one reference that now belongs to the receiver, which releases it (or keeps it for a
//   queue or a WSK indication and releases it later). The array is the device's and is reused
//   after the call returns.
// - transmit: the caller passes one reference per slot; the device owns it from then on and
//   releases it once the frame is sent or dropped (drops are counted, never reported per frame).
//   The device (or a middleware) may write into the frame only while its reference is the only
//   one (arena.refcounts[slot] === 1): a stack may keep another, e.g. for retransmission.
// - A receiver may transmit on the same device from inside onReceive (replies, ACKs); devices
//   must accept that re-entrant call.
// - A middleware's own drops (fault injection) are in its own counters; `stats` is the device's.
import type { SlotArena } from '../ring/slot-arena.ts';
import type { Clock } from './clock.ts';

export interface LinkCapabilities {
  /** Received frames had their IP/TCP/UDP checksums verified by the device (do not recheck). */
  rxChecksumVerified: boolean;
  /** The device fills IPv4 header and TCP/UDP checksums on transmit (leave them for it). */
  txChecksumOffload: boolean;
  /** Largest TCP segment the device cuts into MTU-sized frames (0 = no segmentation offload). */
  tsoMaxBytes: number;
}

export interface LinkStats {
  rxFrames: number;
  rxBytes: number;
  rxBatches: number;
  /** Frames the device dropped on receive (ring full, slot exhausted, filter). */
  rxDrops: number;
  txFrames: number;
  txBytes: number;
  txBatches: number;
  /** Frames the device dropped on transmit (queue full, link down, too large). */
  txDrops: number;
}

export function newLinkStats(): LinkStats {
  return { rxFrames: 0, rxBytes: 0, rxBatches: 0, rxDrops: 0, txFrames: 0, txBytes: 0, txBatches: 0, txDrops: 0 };
}

export interface LinkReceiver {
  onReceive(slots: Int32Array, count: number): void;
}

export interface LinkDevice {
  readonly name: string;
  /** Slots this device fills on receive and accepts on transmit. */
  readonly arena: SlotArena;
  readonly clock: Clock;
  /** Largest IP packet (Ethernet payload) the device carries. */
  readonly mtu: number;
  /** The device's Ethernet address (48 bits in a number). */
  readonly mac: number;
  readonly capabilities: LinkCapabilities;
  readonly stats: LinkStats;
  /** One receiver per device; frames before attach are dropped and counted. */
  attach(receiver: LinkReceiver | null): void;
  transmit(slots: Int32Array, count: number): void;
  /** Stops the device: later transmits are dropped; held receive frames stay valid. */
  close(): void;
}

// The link-device contract between the userspace stack and whatever moves its frames (docs/architecture.md
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
// - Per-frame metadata rides in the arena (arena.flags / arena.segmentSizes, see FrameFlags): a
//   receiving device says which frames need no checksum check; a transmitting stack says which
//   frames carry an unfinished checksum and how a large TCP segment is to be cut.
// - Link state: a device that can go down tells its receiver through onLinkState ('down' while
//   the device is administratively or physically down, 'up' when it is back, 'gone' once it no
//   longer exists, which is final). Transmits while not up are dropped and counted.
import type { SlotArena } from '../ring/slot-arena.ts';
import type { Clock } from './clock.ts';

/** Bits of arena.flags[slot]. alloc() clears them; a receiving device sets them per frame. */
export const FrameFlags = {
  /**
   * Receive: the device vouches for the frame's TCP/UDP checksum — verified by hardware, or left
   * unfinished by a sender on the same host that offloaded it (the bytes are as sent).
   */
  CHECKSUM_OK: 1,
  /**
   * Transmit: the TCP/UDP checksum field holds only the pseudo-header sum; the device (with
   * txChecksumOffload) finishes it. A memory link turns this into CHECKSUM_OK at the receiver,
   * as veth does.
   */
  CHECKSUM_PARTIAL: 2,
} as const;

export type LinkState = 'up' | 'down' | 'gone';

export interface LinkCapabilities {
  /** Received frames had their IP/TCP/UDP checksums verified by the device (do not recheck). */
  rxChecksumVerified: boolean;
  /**
   * Frames may arrive with a local sender's unfinished checksum (the pseudo-header sum a sender
   * with checksum offload leaves in place) and the device cannot say which (libpcap, raw IP
   * sockets): a TCP/UDP checksum equal to that sum is accepted, and counted.
   */
  rxUnfinishedChecksums?: boolean;
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
  /**
   * The device marked slots it needs back (arena.want): copy out what can be moved, now. A
   * kernel ring that came round to frames the receiver still holds calls this after a batch.
   */
  relieve?(): void;
  /** The device went down, came back up, or disappeared for good. */
  onLinkState?(state: LinkState, reason: string): void;
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
  /** 'up' unless the device reported otherwise (devices that cannot go down are always 'up'). */
  readonly state?: LinkState;
  /**
   * 'ethernet' (default): frames start at the Ethernet header. 'ip': bare IPv4 packets, for
   * links below which the host routes and resolves neighbours itself (raw IP sockets, tun).
   */
  readonly framing?: 'ethernet' | 'ip';
  /** One receiver per device; frames before attach are dropped and counted. */
  attach(receiver: LinkReceiver | null): void;
  transmit(slots: Int32Array, count: number): void;
  /** Stops the device: later transmits are dropped; held receive frames stay valid. */
  close(): void;
  /**
   * Delivers, now, the frames the device already holds (a ring's filled frames), as a receive
   * batch. Called before acting on a timeout: after an event-loop stall Node runs expired timers
   * before it polls for I/O, and an ACK waiting in the ring must be seen before the retransmission
   * it makes unnecessary. Devices without a ring to look at leave it out.
   */
  pollInput?(): void;
}

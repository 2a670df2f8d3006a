// The datagram being handed to a socket right now (UDP over either family, raw sockets), so that
// the receiver can keep it (UdpSocket.hold()) or read its IP header (UdpSocket.receivedHeader())
// from inside its callback without the stack allocating anything per datagram.
//
// Contract: begin() before the receiver's callback, end() after it (also when it threw); hold()
// and ipHeader() answer only in between. hold() references the ring slot through the held-data
// table, or copies a reassembled datagram (no slot) into it.
import type { HeldDataTable } from '../ring/held-data.ts';
import type { SlotArena } from '../ring/slot-arena.ts';
import type { StackCounters } from './counters.ts';

export class DatagramDelivery {
  private slot = -1;
  private bytes: Uint8Array | null = null;
  private offset = 0;
  private length = 0;
  private ipOffset = 0;

  constructor(private readonly arena: SlotArena, private readonly held: HeldDataTable, private readonly counters: StackCounters) {}

  /** bytes[offset..+length) is being handed to a socket, its IP header at ipOffset; `slot` -1: a reassembled buffer. */
  begin(slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number): void {
    this.slot = slot;
    this.bytes = bytes;
    this.ipOffset = ipOffset;
    this.offset = offset;
    this.length = length;
  }

  end(): void {
    this.bytes = null;
  }

  /** Where the IP header of the datagram being delivered starts in its bytes, or -1 outside a delivery. */
  ipHeader(): number {
    return this.bytes ? this.ipOffset : -1;
  }

  /** Keeps the datagram being delivered: a handle of the held-data table, or -1 (outside a delivery, or the table is full). */
  hold(): number {
    const bytes = this.bytes;
    if (!bytes) return -1;
    let h: number;
    if (this.slot >= 0) h = this.held.hold(this.slot, this.offset - (bytes.byteOffset - this.arena.base(this.slot)), this.length);
    else h = this.held.holdBytes(bytes.subarray(this.offset, this.offset + this.length));
    if (h < 0) this.counters.heldRefused++;
    return h;
  }
}

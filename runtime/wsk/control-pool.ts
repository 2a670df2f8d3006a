// Storage for the control info of a datagram socket's received datagrams, so that the receive
// path allocates nothing per datagram once the socket is warm. Each datagram that carries control
// info takes one slot of MAX_RECEIVE_CONTROL bytes and keeps it for as long as the datagram is
// the socket's or the application's: queued, handed to WskReceiveFrom (copied out, then given
// back), indicated (given back when the indication returns, unless retained) or retained (given
// back when that element is released — R33: each element's control info stays valid until then,
// like its bytes). Slots come in chunks of CHUNK_SLOTS, each chunk one buffer with a view per
// slot made once; a socket that holds more grows by a chunk (the only allocation, bounded by the
// most it ever held at once).
import { MAX_RECEIVE_CONTROL } from './control-info.ts';

const CHUNK_SLOTS = 32;

export class ControlPool {
  private readonly views: Uint8Array[] = [];
  private readonly free: number[] = [];

  /** A free slot's number (grows the pool when none is free). */
  take(): number {
    if (this.free.length === 0) this.grow();
    return this.free.pop()!;
  }

  /** Slot `slot`'s bytes: a view of MAX_RECEIVE_CONTROL bytes, the same object every time. */
  view(slot: number): Uint8Array {
    return this.views[slot]!;
  }

  give(slot: number): void {
    this.free.push(slot);
  }

  /** Slots taken and not given back (tests). */
  get inUse(): number {
    return this.views.length - this.free.length;
  }

  private grow(): void {
    const buffer = new ArrayBuffer(CHUNK_SLOTS * MAX_RECEIVE_CONTROL);
    const first = this.views.length;
    for (let i = 0; i < CHUNK_SLOTS; i++) this.views.push(new Uint8Array(buffer, i * MAX_RECEIVE_CONTROL, MAX_RECEIVE_CONTROL));
    // Lowest numbers first out: a quiet socket keeps reusing the same few slots.
    for (let i = CHUNK_SLOTS - 1; i >= 0; i--) this.free.push(first + i);
  }
}

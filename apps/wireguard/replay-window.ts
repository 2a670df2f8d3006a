// The receive counter filter of a session: a sliding window over the highest counter seen,
// RFC 6479's bitmap of 32-bit blocks, where advancing the window clears whole blocks instead of
// shifting bits. 256 blocks keep the last 8160 counters (the ring minus the block being filled),
// as WireGuard's implementations keep about 8 000. Allocation-free after construction.

const BLOCK_BITS = 32;
const BLOCKS = 256; // a power of two: indices wrap with a mask
const MASK = BLOCKS - 1;
export const REPLAY_WINDOW = (BLOCKS - 1) * BLOCK_BITS;

export class ReplayWindow {
  private readonly bitmap = new Uint32Array(BLOCKS);
  /** Highest counter accepted so far (0 before any, which bit 0 tells apart). */
  private last = 0;

  /**
   * True, and the counter is marked seen, if `counter` is new and not older than the window; call
   * only after the packet authenticated (an unauthenticated counter must not move the window).
   * The caller refuses counters at REJECT_AFTER_MESSAGES and above itself: that limit is not a
   * small integer, and passing it to a call V8 did not inline makes a heap number per packet.
   */
  accept(counter: number): boolean {
    const block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.last) {
      const current = Math.floor(this.last / BLOCK_BITS);
      const advance = Math.min(block - current, BLOCKS);
      for (let i = 1; i <= advance; i++) this.bitmap[(current + i) & MASK] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW) {
      return false;
    }
    const index = block & MASK;
    const bit = 1 << (counter % BLOCK_BITS);
    if ((this.bitmap[index]! & bit) !== 0) return false;
    this.bitmap[index]! |= bit;
    return true;
  }

  reset(): void {
    this.bitmap.fill(0);
    this.last = 0;
  }
}

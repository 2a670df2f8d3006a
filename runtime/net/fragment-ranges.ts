// What the IPv4 and IPv6 reassemblers (ipv4/reassembly.ts, ipv6/reassembly6.ts) share: one datagram's
// payload as fragments place it, which 8-byte units have arrived, and the rules every fragment
// meets — a consistent end (the last fragment fixes it, RFC 791 / RFC 8200 §4.5), and an overlap
// dropping the whole datagram while an exact duplicate drops only itself (RFC 5722).
export const Placement = { PLACED: 0, DUPLICATE: 1, OVERLAP: 2, INVALID: 3 } as const;
export type Placement = typeof Placement[keyof typeof Placement];

export class FragmentRanges {
  /** Payload bytes at their offsets. */
  readonly data: Uint8Array;
  /** One bit per 8-byte unit received. */
  readonly units: Uint8Array;
  /** Payload length once the last fragment (more-fragments clear) arrived, else -1. */
  total = -1;
  received = 0;
  /** Highest end offset seen. */
  maxEnd = 0;
  /** (start, end) of every fragment held, to tell an exact duplicate from an overlap. */
  readonly ranges: number[] = [];
  deadline = 0;

  constructor(maxPayload: number) {
    this.data = new Uint8Array(maxPayload);
    this.units = new Uint8Array((maxPayload + 63) >> 6);
  }

  /** Whether every byte up to the last fragment's end has arrived. */
  get complete(): boolean { return this.total >= 0 && this.received === this.total; }

  /**
   * Places the fragment payload bytes[from..+end-start) at `start`; `more`: the more-fragments
   * flag. Nothing is stored unless PLACED; on OVERLAP or INVALID the caller drops the datagram.
   */
  place(bytes: Uint8Array, from: number, start: number, end: number, more: boolean): Placement {
    if (!more) {
      if ((this.total >= 0 && this.total !== end) || end < this.maxEnd) return Placement.INVALID;
      this.total = end;
    } else if (this.total >= 0 && end > this.total) {
      return Placement.INVALID;
    }
    const firstUnit = start >> 3;
    const lastUnit = (end - 1) >> 3;
    for (let u = firstUnit; u <= lastUnit; u++) {
      if (this.units[u >> 3]! & (1 << (u & 7))) {
        for (let i = 0; i < this.ranges.length; i += 2) {
          if (this.ranges[i] === start && this.ranges[i + 1] === end) return Placement.DUPLICATE;
        }
        return Placement.OVERLAP;
      }
    }
    this.ranges.push(start, end);
    for (let u = firstUnit; u <= lastUnit; u++) this.units[u >> 3]! |= 1 << (u & 7);
    this.data.set(bytes.subarray(from, from + end - start), start);
    this.received += end - start;
    if (end > this.maxEnd) this.maxEnd = end;
    return Placement.PLACED;
  }
}

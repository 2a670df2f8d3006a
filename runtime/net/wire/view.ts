// The common shape of every wire format: a re-pointable view (bytes, offset, length) over a
// frame, so the hot path parses each frame with the same objects and allocates nothing.

export class WireView {
  constructor(public bytes: Uint8Array = new Uint8Array(0), public offset = 0, public length = 0) {}

  reset(bytes: Uint8Array, offset: number, length: number): this {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    return this;
  }
}

/** True when [offset, offset + length) is not inside bytes or is shorter than `minimum`. */
export function outOfBounds(bytes: Uint8Array, offset: number, length: number, minimum: number): boolean {
  return offset < 0 || length < minimum || offset + length > bytes.length;
}

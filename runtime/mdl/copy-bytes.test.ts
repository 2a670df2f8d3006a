// copyBytes against TypedArray#set on every alignment pair and lengths around the word steps,
// on views at odd offsets into shared buffers (as MDL and slot views are).
import { describe, expect, it } from 'vitest';
import { copyBytes } from './copy-bytes.ts';

describe('copyBytes', () => {
  it('copies like set(subarray) for every alignment of source and destination and lengths 0-70 and 1452', () => {
    const source = new Uint8Array(new ArrayBuffer(4096), 3, 2000);
    for (let i = 0; i < source.length; i++) source[i] = (i * 31 + 7) & 0xff;
    const backing = new ArrayBuffer(4096);
    for (const n of [...Array(71).keys(), 1452]) {
      for (let sOff = 0; sOff < 4; sOff++) {
        for (let dOff = 0; dOff < 4; dOff++) {
          const dst = new Uint8Array(backing, 1, 3000).fill(0xee);
          const want = new Uint8Array(3000).fill(0xee);
          copyBytes(dst, dOff + 8, source, sOff + 5, n);
          want.set(source.subarray(sOff + 5, sOff + 5 + n), dOff + 8);
          expect(dst).toEqual(want);
        }
      }
    }
  });
});

// Byte copies on the data path without an allocation per call. `dst.set(src.subarray(...))`
// makes a view object per call, and Buffer#copy makes one inside (Node 20); a byte loop allocates
// nothing but costs about 3 µs per 1452 bytes. This copies 4 bytes at a step through Int32Array
// views over whole ArrayBuffers (made once per buffer: a two-entry cache in front, as a copy has a
// source and a destination, and behind it a WeakMap for callers that copy into many buffers in
// turn, as WskReceiveFrom does into each IRP's own), falling back to DataViews when the two addresses are not equally
// aligned. Measured on the development machine, 1452 bytes: about 0.6 µs aligned, 1-1.7 µs
// unaligned (against 0.24 µs for set+subarray with its allocation).

interface Views { words: Int32Array; data: DataView }

let bufferA: ArrayBufferLike | null = null;
let viewsA: Views | null = null;
let bufferB: ArrayBufferLike | null = null;
let viewsB: Views | null = null;

const known = new WeakMap<ArrayBufferLike, Views>();

function viewsOf(buffer: ArrayBufferLike): Views {
  if (buffer === bufferA) return viewsA!;
  if (buffer === bufferB) return viewsB!;
  let views = known.get(buffer);
  if (views === undefined) {
    views = { words: new Int32Array(buffer, 0, buffer.byteLength >>> 2), data: new DataView(buffer) };
    known.set(buffer, views);
  }
  bufferB = bufferA; viewsB = viewsA;
  bufferA = buffer;
  viewsA = views;
  return views;
}

/** dst[dOff..dOff+n) = src[sOff..sOff+n) (the ranges must not overlap). */
export function copyBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, n: number): void {
  if (n < 32) {
    for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i]!;
    return;
  }
  let da = dst.byteOffset + dOff;
  let sa = src.byteOffset + sOff;
  const d = viewsOf(dst.buffer);
  const s = viewsOf(src.buffer);
  let i = 0;
  if ((da & 3) === (sa & 3)) {
    for (; (da & 3) !== 0 && i < n; i++, da++, sa++) dst[dOff + i] = src[sOff + i]!;
    const words = (n - i) >>> 2;
    const dw = d.words;
    const sw = s.words;
    const dWord = da >>> 2;
    const sWord = sa >>> 2;
    for (let w = 0; w < words; w++) dw[dWord + w] = sw[sWord + w]!;
    i += words << 2;
  } else {
    const dv = d.data;
    const sv = s.data;
    for (; i + 4 <= n; i += 4) dv.setInt32(da + i, sv.getInt32(sa + i, true), true);
  }
  for (; i < n; i++) dst[dOff + i] = src[sOff + i]!;
}

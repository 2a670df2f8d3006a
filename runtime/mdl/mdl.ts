// MDLs over byte buffers (wdm.h names). An MDL describes one contiguous range of a Uint8Array;
// Next links chains. WSK_BUF {Mdl, Offset, Length} addresses a byte range of a chain, with
// Offset inside the first MDL (wsk.h WSK_BUF, R39).
import { WskUsageError } from '../errors.ts';
import type { IRP } from '../irp/irp.ts';

export class MDL {
  Next: MDL | null = null;
  /** The bytes this MDL maps (MappedSystemVa for the whole range). */
  readonly buffer: Uint8Array;
  readonly ByteCount: number;
  readonly ByteOffset = 0;
  /** @internal */ freed = false;
  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
    this.ByteCount = buffer.byteLength;
  }
}
export type PMDL = MDL;

/**
 * IoAllocateMdl(VirtualAddress, Length, SecondaryBuffer, ChargeQuota, Irp): VirtualAddress is
 * the Uint8Array holding the data (a view: no copy); Length may be less than its size.
 */
export function IoAllocateMdl(
  VirtualAddress: Uint8Array, Length: number = VirtualAddress.byteLength,
  SecondaryBuffer = false, _ChargeQuota = false, Irp: IRP | null = null,
): MDL {
  if (!(VirtualAddress instanceof Uint8Array)) {
    throw new WskUsageError('MDL_BUFFER', 'IoAllocateMdl: VirtualAddress must be a Uint8Array (or a Buffer).');
  }
  if (!Number.isInteger(Length) || Length < 0 || Length > VirtualAddress.byteLength) {
    throw new WskUsageError('MDL_LENGTH', `IoAllocateMdl: Length ${Length} does not fit the ${VirtualAddress.byteLength}-byte buffer.`);
  }
  const mdl = new MDL(Length === VirtualAddress.byteLength ? VirtualAddress : VirtualAddress.subarray(0, Length));
  if (Irp) {
    if (!SecondaryBuffer || !Irp.MdlAddress) {
      Irp.MdlAddress = mdl;
    } else {
      let last = Irp.MdlAddress;
      while (last.Next) last = last.Next;
      last.Next = mdl;
    }
  }
  return mdl;
}

export function IoFreeMdl(Mdl: MDL): void {
  Mdl.freed = true;
}

// Memory is always resident here: the build/lock calls exist so ports stay mechanical.
export function MmBuildMdlForNonPagedPool(_Mdl: MDL): void {}
export function MmProbeAndLockPages(_Mdl: MDL, _AccessMode = 0, _Operation = 0): void {}
export function MmUnlockPages(_Mdl: MDL): void {}
export const IoReadAccess = 0;
export const IoWriteAccess = 1;
export const IoModifyAccess = 2;
export const NormalPagePriority = 16;

export function MmGetSystemAddressForMdlSafe(Mdl: MDL, _Priority = NormalPagePriority): Uint8Array {
  return Mdl.buffer;
}
export function MmGetMdlByteCount(Mdl: MDL): number {
  return Mdl.ByteCount;
}
export function MmGetMdlVirtualAddress(Mdl: MDL): Uint8Array {
  return Mdl.buffer;
}

export interface WSK_BUF {
  Mdl: MDL | null;
  Offset: number;
  Length: number;
}
export type PWSK_BUF = WSK_BUF;

/** Total bytes a chain maps. */
export function mdlChainByteCount(mdl: MDL | null): number {
  let n = 0;
  for (let m = mdl; m; m = m.Next) n += m.ByteCount;
  return n;
}

/**
 * Checks a WSK_BUF against R39 and returns null when it is well formed, else a reason. The
 * reason goes into nothing but tests and debug logs; callers map it to STATUS_INVALID_PARAMETER.
 */
export function validateWskBuf(buf: WSK_BUF | null | undefined): string | null {
  if (!buf) return 'WSK_BUF is missing';
  if (!Number.isInteger(buf.Length) || buf.Length < 0) return 'Length is not a non-negative integer';
  if (!Number.isInteger(buf.Offset) || buf.Offset < 0) return 'Offset is not a non-negative integer';
  if (!buf.Mdl) return buf.Length === 0 ? null : 'Mdl is NULL with a non-zero Length';
  if (buf.Mdl.freed) return 'the MDL was freed';
  if (buf.Offset > buf.Mdl.ByteCount || (buf.Offset === buf.Mdl.ByteCount && buf.Length > 0)) {
    return 'Offset does not lie in the first MDL';
  }
  if (buf.Offset + buf.Length > mdlChainByteCount(buf.Mdl)) return 'Length runs past the end of the MDL chain';
  return null;
}

/** Calls visit(bytes) for each contiguous piece of the WSK_BUF, in order, without copying. */
export function forEachWskBufSegment(buf: WSK_BUF, visit: (bytes: Uint8Array) => void): void {
  let remaining = buf.Length;
  let offset = buf.Offset;
  for (let m = buf.Mdl; m && remaining > 0; m = m.Next) {
    const take = Math.min(m.ByteCount - offset, remaining);
    if (take > 0) visit(offset === 0 && take === m.ByteCount ? m.buffer : m.buffer.subarray(offset, offset + take));
    remaining -= take;
    offset = 0;
  }
}

/** The WSK_BUF's bytes as views (no copy): one array per contiguous piece. */
export function wskBufSegments(buf: WSK_BUF): Uint8Array[] {
  const out: Uint8Array[] = [];
  let remaining = buf.Length;
  let offset = buf.Offset;
  for (let m = buf.Mdl; m && remaining > 0; m = m.Next) {
    const take = Math.min(m.ByteCount - offset, remaining);
    if (take > 0) out.push(offset === 0 && take === m.ByteCount ? m.buffer : m.buffer.subarray(offset, offset + take));
    remaining -= take;
    offset = 0;
  }
  return out;
}

/**
 * Copies src into the WSK_BUF starting `at` bytes into it; returns the number of bytes copied
 * (bounded by the room left in the buffer).
 */
export function copyIntoWskBuf(buf: WSK_BUF, at: number, src: Uint8Array): number {
  let skip = buf.Offset + at;
  let room = buf.Length - at;
  let srcPos = 0;
  for (let m = buf.Mdl; m && room > 0 && srcPos < src.byteLength; m = m.Next) {
    if (skip >= m.ByteCount) { skip -= m.ByteCount; continue; }
    const take = Math.min(m.ByteCount - skip, room, src.byteLength - srcPos);
    m.buffer.set(src.subarray(srcPos, srcPos + take), skip);
    srcPos += take;
    room -= take;
    skip = 0;
  }
  return srcPos;
}

/** One contiguous copy of the WSK_BUF's bytes (used where a transport needs one buffer). */
export function wskBufToBytes(buf: WSK_BUF): Uint8Array {
  const segments = wskBufSegments(buf);
  if (segments.length === 1) return segments[0]!;
  const out = new Uint8Array(buf.Length);
  let pos = 0;
  for (const s of segments) { out.set(s, pos); pos += s.byteLength; }
  return out;
}

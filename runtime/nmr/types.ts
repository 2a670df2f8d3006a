// NMR structures and callback types (netioddk.h / netiodef.h names and layouts). Pointers are
// object references that the registrar keeps, never copies (R54); C out-parameters to pointers
// are `{ value }` holders the callee sets (docs/architecture.md §3). The *_SIZE constants are sizeof on x64,
// the values a port from C puts into the Length/Size fields.
import type { NTSTATUS } from '../ntstatus.ts';

declare const handleBrand: unique symbol;
/** C HANDLE: an opaque token, compared by identity and never inspected. */
export type HANDLE = { readonly [handleBrand]: 'HANDLE' };
/** C PHANDLE out-parameter. */
export interface PHANDLE {
  value: HANDLE | null;
}

/** Out-parameter holder for `PVOID *` / `CONST VOID **`. */
export interface POINTER_HOLDER {
  value: unknown;
}

export interface GUID {
  Data1: number;
  Data2: number;
  Data3: number;
  Data4: Uint8Array | number[];
}
export type NPIID = GUID;
export type PNPIID = NPIID;

export interface LUID {
  LowPart: number;
  HighPart: number;
}

export const MIT_GUID = 1;
export const MIT_IF_LUID = 2;
export type NPI_MODULEID_TYPE = typeof MIT_GUID | typeof MIT_IF_LUID;

export interface NPI_MODULEID {
  Length: number;
  Type: NPI_MODULEID_TYPE;
  /** Union member used when Type == MIT_GUID. */
  Guid?: GUID;
  /** Union member used when Type == MIT_IF_LUID. */
  IfLuid?: LUID;
}
export type PNPI_MODULEID = NPI_MODULEID;

export interface NPI_REGISTRATION_INSTANCE {
  Version: number;
  Size: number;
  NpiId: NPIID;
  ModuleId: NPI_MODULEID;
  /** Implementation number, usually 0. */
  Number: number;
  /** NPI-defined; for WSK providers a WSK_PROVIDER_CHARACTERISTICS (R60), for WSK clients NULL. */
  NpiSpecificCharacteristics: unknown;
}
export type PNPI_REGISTRATION_INSTANCE = NPI_REGISTRATION_INSTANCE;

export type NPI_CLIENT_ATTACH_PROVIDER_FN = (
  NmrBindingHandle: HANDLE,
  ClientContext: unknown,
  ProviderRegistrationInstance: NPI_REGISTRATION_INSTANCE,
) => NTSTATUS;
export type NPI_CLIENT_DETACH_PROVIDER_FN = (ClientBindingContext: unknown) => NTSTATUS;
export type NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN = (ClientBindingContext: unknown) => void;

export type NPI_PROVIDER_ATTACH_CLIENT_FN = (
  NmrBindingHandle: HANDLE,
  ProviderContext: unknown,
  ClientRegistrationInstance: NPI_REGISTRATION_INSTANCE,
  ClientBindingContext: unknown,
  ClientDispatch: unknown,
  ProviderBindingContext: POINTER_HOLDER,
  ProviderDispatch: POINTER_HOLDER,
) => NTSTATUS;
export type NPI_PROVIDER_DETACH_CLIENT_FN = (ProviderBindingContext: unknown) => NTSTATUS;
export type NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN = (ProviderBindingContext: unknown) => void;

export type PNPI_CLIENT_ATTACH_PROVIDER_FN = NPI_CLIENT_ATTACH_PROVIDER_FN;
export type PNPI_CLIENT_DETACH_PROVIDER_FN = NPI_CLIENT_DETACH_PROVIDER_FN;
export type PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN = NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN;
export type PNPI_PROVIDER_ATTACH_CLIENT_FN = NPI_PROVIDER_ATTACH_CLIENT_FN;
export type PNPI_PROVIDER_DETACH_CLIENT_FN = NPI_PROVIDER_DETACH_CLIENT_FN;
export type PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN = NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN;

export interface NPI_CLIENT_CHARACTERISTICS {
  Version: number;
  Length: number;
  ClientAttachProvider: PNPI_CLIENT_ATTACH_PROVIDER_FN;
  ClientDetachProvider: PNPI_CLIENT_DETACH_PROVIDER_FN;
  ClientCleanupBindingContext: PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN | null;
  ClientRegistrationInstance: NPI_REGISTRATION_INSTANCE;
}
export type PNPI_CLIENT_CHARACTERISTICS = NPI_CLIENT_CHARACTERISTICS;

export interface NPI_PROVIDER_CHARACTERISTICS {
  Version: number;
  Length: number;
  ProviderAttachClient: PNPI_PROVIDER_ATTACH_CLIENT_FN;
  ProviderDetachClient: PNPI_PROVIDER_DETACH_CLIENT_FN;
  ProviderCleanupBindingContext: PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN | null;
  ProviderRegistrationInstance: NPI_REGISTRATION_INSTANCE;
}
export type PNPI_PROVIDER_CHARACTERISTICS = NPI_PROVIDER_CHARACTERISTICS;

// sizeof(...) on x64: USHORT,USHORT,pad,3 pointers = 32, + the embedded 40-byte instance.
export const NPI_REGISTRATION_INSTANCE_SIZE = 40;
export const NPI_CLIENT_CHARACTERISTICS_SIZE = 72;
export const NPI_PROVIDER_CHARACTERISTICS_SIZE = 72;
export const NPI_MODULEID_SIZE = 24;

/** Compares GUID contents, as C code does with IsEqualGUID / memcmp (R55). */
export function guidEquals(a: GUID, b: GUID): boolean {
  if (a === b) return true;
  if (a.Data1 >>> 0 !== b.Data1 >>> 0 || a.Data2 !== b.Data2 || a.Data3 !== b.Data3) return false;
  if (a.Data4.length !== 8 || b.Data4.length !== 8) return false;
  for (let i = 0; i < 8; i++) if (a.Data4[i] !== b.Data4[i]) return false;
  return true;
}

const GUID_PATTERN = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** Parses the registry form '{2227E803-8D8B-11D4-ABAD-009027719E09}' (braces optional). */
export function guidFromString(text: string): GUID {
  const m = GUID_PATTERN.exec(text);
  if (m === null) throw new TypeError(`guidFromString: '${text}' is not of the form {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`);
  const tail = m[4]! + m[5]!;
  const Data4 = new Uint8Array(8);
  for (let i = 0; i < 8; i++) Data4[i] = parseInt(tail.slice(2 * i, 2 * i + 2), 16);
  return { Data1: parseInt(m[1]!, 16), Data2: parseInt(m[2]!, 16), Data3: parseInt(m[3]!, 16), Data4 };
}

/** Registry form, upper case with braces (for logs and error messages). */
export function guidToString(g: GUID): string {
  const hex = (v: number, digits: number) => v.toString(16).toUpperCase().padStart(digits, '0');
  const d4 = Array.from(g.Data4, (b) => hex(b, 2)).join('');
  return `{${hex(g.Data1 >>> 0, 8)}-${hex(g.Data2, 4)}-${hex(g.Data3, 4)}-${d4.slice(0, 4)}-${d4.slice(4)}}`;
}

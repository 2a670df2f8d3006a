// Conversions between provider Endpoints and what node:net speaks (address text with an optional
// %zone, 4/6 families), Node and errno errors → NTSTATUS, and which addresses are the host's own
// (an IN_PKTINFO source must be). No sockets, no DNS (every text handed to Node from here is a
// numeric address, so Node never resolves it).
import { networkInterfaces } from 'node:os';
import { ProviderError } from '../../runtime/provider.ts';
import {
  ntStatusFromErrno,
  STATUS_CONNECTION_ABORTED,
  STATUS_INVALID_HANDLE,
  STATUS_INVALID_PARAMETER,
  STATUS_PIPE_DISCONNECTED,
  type NTSTATUS,
} from '../../runtime/ntstatus.ts';
import { AF_INET, AF_INET6, endpointAddressString, endpointFromText, type Endpoint } from '../../runtime/sockaddr.ts';

export type Family = typeof AF_INET | typeof AF_INET6;

/** Node's numeric family (4/6) for a Windows family (2/23). */
export function nodeFamily(family: Family): 4 | 6 {
  return family === AF_INET ? 4 : 6;
}

/**
 * Numeric address text for Node. IPv6 with a scope id gets "%ifname" (libuv on Linux resolves the
 * zone with if_nametoindex, so a numeric zone would be ignored).
 */
export function hostText(ep: Endpoint): string {
  const text = endpointAddressString(ep);
  if (ep.family !== AF_INET6 || !ep.scopeId) return text;
  return `${text}%${interfaceNameOf(ep.scopeId) ?? ep.scopeId}`;
}

/**
 * Address text to reach `ep` from a socket of family `socketFamily`: an IPv4 endpoint on an IPv6
 * socket becomes ::ffff:a.b.c.d, a v4-mapped endpoint on an IPv4 socket becomes a.b.c.d;
 * null when the address cannot be expressed in that family.
 */
export function hostTextFor(ep: Endpoint, socketFamily: Family): string | null {
  if (ep.family === socketFamily) return hostText(ep);
  if (socketFamily === AF_INET6) return `::ffff:${endpointAddressString(ep)}`;
  const a = ep.address;
  const mapped = a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
  return mapped ? `${a[12]}.${a[13]}.${a[14]}.${a[15]}` : null;
}

/** Endpoint from address text as Node reports it (undefined → the unspecified address). */
export function endpointOf(address: string | undefined, port: number | undefined, family: Family): Endpoint {
  const text = address ?? (family === AF_INET ? '0.0.0.0' : '::');
  const zone = text.indexOf('%');
  const ep = endpointFromText(zone >= 0 ? text.slice(0, zone) : text, port ?? 0, family);
  if (family === AF_INET6) {
    ep.flowinfo = 0;
    ep.scopeId = zone >= 0 ? scopeIdOf(text.slice(zone + 1)) : 0;
  }
  return ep;
}

interface LocalAddresses { v4: Set<number>; loopback4: [network: number, mask: number][]; v6: Set<string>; read: number }
let locals: LocalAddresses | null = null;

function readLocalAddresses(): LocalAddresses {
  const out: LocalAddresses = { v4: new Set(), loopback4: [], v6: new Set(), read: Date.now() };
  for (const entries of Object.values(networkInterfaces())) {
    for (const e of entries ?? []) {
      if (String(e.family) === 'IPv4' || String(e.family) === '4') {
        const a = v4Number(endpointFromText(e.address, 0, AF_INET).address);
        out.v4.add(a);
        // Linux owns the whole prefix of a loopback address (local 127.0.0.0/8 dev lo).
        if (e.internal) { const m = v4Number(endpointFromText(e.netmask, 0, AF_INET).address); out.loopback4.push([(a & m) >>> 0, m]); }
      } else {
        out.v6.add(Buffer.from(endpointFromText(e.address.split('%')[0]!, 0, AF_INET6).address).toString('hex'));
      }
    }
  }
  return out;
}

function v4Number(a: Uint8Array): number {
  return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
}

function lookupLocal(l: LocalAddresses, address: Uint8Array): boolean {
  if (address.byteLength === 4) {
    const a = v4Number(address);
    return l.v4.has(a) || l.loopback4.some(([net, mask]) => ((a & mask) >>> 0) === net);
  }
  return l.v6.has(Buffer.from(address).toString('hex'));
}

/**
 * Whether `address` (4 or 16 bytes) is one of the host's own: an IN_PKTINFO source must be
 * (IN_PKTINFO page; Linux refuses others only later, with ENETUNREACH or EINVAL depending on the
 * route). The list is read again, at most once a second, when an address is not in it.
 */
export function isLocalAddress(address: Uint8Array): boolean {
  if (locals && lookupLocal(locals, address)) return true;
  if (!locals || Date.now() - locals.read > 1000) locals = readLocalAddresses();
  return lookupLocal(locals, address);
}

function scopeIdOf(zone: string): number {
  if (/^\d+$/.test(zone)) return Number(zone);
  for (const entry of networkInterfaces()[zone] ?? []) if (entry.scopeid) return entry.scopeid;
  return 0;
}

function interfaceNameOf(scopeId: number): string | null {
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    if (entries?.some((e) => e.scopeid === scopeId)) return name;
  }
  return null;
}

/** NTSTATUS for anything Node throws or passes to a callback (errno codes, plus Node's own codes). */
export function statusFromError(err: unknown): NTSTATUS {
  const e = err as { code?: unknown; info?: { code?: unknown } } | null | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  switch (code) {
    case 'ERR_STREAM_DESTROYED': case 'ERR_SOCKET_CLOSED': return STATUS_CONNECTION_ABORTED;
    case 'ERR_STREAM_WRITE_AFTER_END': return STATUS_PIPE_DISCONNECTED;
    case 'ERR_SOCKET_DGRAM_NOT_RUNNING': return STATUS_INVALID_HANDLE;
    case 'ERR_SOCKET_BUFFER_SIZE':
      return typeof e?.info?.code === 'string' ? ntStatusFromErrno(e.info.code) : STATUS_INVALID_PARAMETER;
    case 'ERR_INVALID_ARG_TYPE': case 'ERR_INVALID_ARG_VALUE': case 'ERR_SOCKET_BAD_PORT': case 'ERR_OUT_OF_RANGE':
      return STATUS_INVALID_PARAMETER;
    case 'ENODATA': case 'EAI_NODATA': return ntStatusFromErrno('ENOTFOUND');
    default: return ntStatusFromErrno(code);
  }
}

export function providerError(err: unknown, context: string): ProviderError {
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError(statusFromError(err), `${context}: ${message}`);
}

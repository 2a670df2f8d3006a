// WskGetAddressInfo / WskFreeAddressInfo / WskGetNameInfo through the provider's resolver, which
// for the kernel provider is the host's getaddrinfo (R51). Unresolvable names complete
// with STATUS_NOT_FOUND, as observed on Windows 8+ (docs/wsk-rules.md, choice B); Information is 0 (choice C).
import { readFileSync } from 'node:fs';
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED, STATUS_INVALID_PARAMETER, STATUS_NOT_FOUND, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import { ProviderError } from '../provider.ts';
import {
  AF_INET, AF_INET6, AF_UNSPEC, IPPROTO_TCP, IPPROTO_UDP, RtlIpv4StringToAddress, RtlIpv6StringToAddress, SOCK_DGRAM,
  SOCK_STREAM, SOCKADDR_IN6_SIZE, SOCKADDR_IN_SIZE, SOCKADDR_STORAGE_SIZE, endpointAddressString, endpointToSockaddr,
  in4addr_loopback, in6addr_loopback, sockaddrToEndpoint, type Endpoint, type SOCKADDR,
} from '../sockaddr.ts';
import { AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE, NI_DGRAM, NI_NAMEREQD, NI_NUMERICHOST, NI_NUMERICSERV, NS_ALL, NS_DNS } from './constants.ts';
import { beginIrp, completeIrp, failIrp, pendIrp } from './completion.ts';
import type { ADDRINFOEXW, Holder, PADDRINFOEXW, PEPROCESS, PETHREAD, UNICODE_STRING } from './types.ts';
import type { WskClientObject } from './client.ts';

interface ServiceEntry { name: string; port: number; proto: string }
let services: ServiceEntry[] | null = null;
function serviceTable(): ServiceEntry[] {
  if (services) return services;
  services = [];
  try {
    for (const line of readFileSync('/etc/services', 'utf8').split('\n')) {
      const m = /^([\w.+-]+)\s+(\d+)\/(tcp|udp)/.exec(line);
      if (m) services.push({ name: m[1]!, port: Number(m[2]), proto: m[3]! });
    }
  } catch { /* no services database: numeric services only */ }
  return services;
}

function servicePort(name: string, numericOnly: boolean): number | null {
  if (/^\d+$/.test(name)) { const p = Number(name); return p <= 65535 ? p : null; }
  if (numericOnly) return null;
  return serviceTable().find((e) => e.name === name)?.port ?? null;
}

const allocated = new WeakSet<ADDRINFOEXW>();
const text = (u: UNICODE_STRING | null): string => (u ? u.Buffer.slice(0, u.Length / 2).replace(/\0.*$/, '') : '');

export function WskGetAddressInfoImpl(
  client: WskClientObject, NodeName: UNICODE_STRING | null, ServiceName: UNICODE_STRING | null, NameSpace: number,
  Hints: ADDRINFOEXW | null, Result: Holder<PADDRINFOEXW>, OwningProcess: PEPROCESS, OwningThread: PETHREAD, Irp: IRP | null,
): NTSTATUS {
  if (!Irp) return STATUS_INVALID_PARAMETER;
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskGetAddressInfo');
  const node = text(NodeName);
  const service = text(ServiceName);
  if ((OwningThread && !OwningProcess) || (!node && !service) || !Result) return fail(STATUS_INVALID_PARAMETER);
  if (NameSpace !== NS_ALL && NameSpace !== NS_DNS) return fail(STATUS_INVALID_PARAMETER);
  const flags = Hints?.ai_flags ?? 0;
  const family = Hints?.ai_family ?? AF_UNSPEC;
  if (family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6) return fail(STATUS_INVALID_PARAMETER);
  const port = service ? servicePort(service, (flags & AI_NUMERICSERV) !== 0) : 0;
  beginIrp(Irp, 'WskGetAddressInfo');
  let cancelled = false;
  const status = pendIrp(Irp, () => { cancelled = true; completeIrp(Irp, STATUS_CANCELLED, 0); });
  if (Irp.completed || cancelled) return status;
  const finish = (s: NTSTATUS, list: PADDRINFOEXW): void => {
    if (cancelled) return;
    if (s === STATUS_SUCCESS) Result.value = list;
    completeIrp(Irp, s, 0);
  };
  if (port === null) { queueMicrotask(() => finish(STATUS_NOT_FOUND, null)); return status; }
  lookup(client, node, family, flags).then(
    (endpoints) => finish(endpoints.length ? STATUS_SUCCESS : STATUS_NOT_FOUND, buildList(endpoints, port, Hints, flags, node)),
    (err: unknown) => finish(err instanceof ProviderError ? err.status : STATUS_NOT_FOUND, null),
  );
  return status;
}

async function lookup(client: WskClientObject, node: string, family: number, flags: number): Promise<Endpoint[]> {
  const fams = family === AF_UNSPEC ? [AF_INET6, AF_INET] : [family];
  if (!node) {
    // No node: the wildcard for AI_PASSIVE, else loopback (getaddrinfo semantics).
    return fams.map((f) => ({
      family: f as 2 | 23, port: 0,
      address: flags & AI_PASSIVE ? new Uint8Array(f === AF_INET ? 4 : 16) : Uint8Array.from(f === AF_INET ? in4addr_loopback : in6addr_loopback),
    }));
  }
  const v4 = RtlIpv4StringToAddress(node);
  const v6 = RtlIpv6StringToAddress(node);
  if (v4 && fams.includes(AF_INET)) return [{ family: AF_INET, address: v4, port: 0 }];
  if (v6 && fams.includes(AF_INET6)) return [{ family: AF_INET6, address: v6, port: 0 }];
  if (v4 || v6 || (flags & AI_NUMERICHOST)) return [];
  return client.subsystem.provider.resolver.lookup(node, family);
}

function buildList(endpoints: Endpoint[], port: number, hints: ADDRINFOEXW | null, flags: number, node: string): PADDRINFOEXW {
  const socktypes = hints?.ai_socktype ? [hints.ai_socktype] : [SOCK_STREAM, SOCK_DGRAM];
  let head: ADDRINFOEXW | null = null;
  let tail: ADDRINFOEXW | null = null;
  for (const ep of endpoints) {
    for (const socktype of socktypes) {
      const item: ADDRINFOEXW = {
        ai_flags: 0, ai_family: ep.family, ai_socktype: socktype,
        ai_protocol: hints?.ai_protocol || (socktype === SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP),
        ai_addrlen: ep.family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE,
        ai_canonname: head === null && (flags & AI_CANONNAME) ? node : null,
        ai_addr: endpointToSockaddr({ ...ep, port }), ai_blob: null, ai_bloblen: 0, ai_provider: null, ai_next: null,
      };
      allocated.add(item);
      if (tail) tail.ai_next = item; else head = item;
      tail = item;
    }
  }
  return head;
}

export function WskFreeAddressInfoImpl(AddrInfo: PADDRINFOEXW): void {
  for (let a = AddrInfo; a; a = a.ai_next) allocated.delete(a);
}

function writeUnicode(target: UNICODE_STRING, value: string): boolean {
  if ((value.length + 1) * 2 > target.MaximumLength) return false;
  target.Buffer = value;
  target.Length = value.length * 2;
  return true;
}

export function WskGetNameInfoImpl(
  client: WskClientObject, SockAddr: SOCKADDR | null, SockAddrLength: number, NodeName: UNICODE_STRING | null,
  ServiceName: UNICODE_STRING | null, Flags: number, OwningProcess: PEPROCESS, OwningThread: PETHREAD, Irp: IRP | null,
): NTSTATUS {
  if (!Irp) return STATUS_INVALID_PARAMETER;
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskGetNameInfo');
  const ep = sockaddrToEndpoint(SockAddr);
  if (!ep || (!NodeName && !ServiceName) || SockAddrLength > SOCKADDR_STORAGE_SIZE || (OwningThread && !OwningProcess)) {
    return fail(STATUS_INVALID_PARAMETER);
  }
  if (SockAddrLength < (ep.family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE)) return fail(STATUS_INVALID_PARAMETER);
  beginIrp(Irp, 'WskGetNameInfo');
  let cancelled = false;
  const status = pendIrp(Irp, () => { cancelled = true; completeIrp(Irp, STATUS_CANCELLED, 0); });
  if (Irp.completed || cancelled) return status;
  const numeric = endpointAddressString(ep);
  const proto = Flags & NI_DGRAM ? 'udp' : 'tcp';
  const serviceText = Flags & NI_NUMERICSERV ? String(ep.port)
    : serviceTable().find((e) => e.port === ep.port && e.proto === proto)?.name ?? String(ep.port);
  const hostPromise: Promise<string | null> = Flags & NI_NUMERICHOST
    ? Promise.resolve(numeric)
    : client.subsystem.provider.resolver.reverse(ep).then((r) => r.host, () => null);
  hostPromise.then((host) => {
    if (cancelled) return;
    if (host === null && (Flags & NI_NAMEREQD)) return completeIrp(Irp, STATUS_NOT_FOUND, 0);
    if (NodeName && !writeUnicode(NodeName, host ?? numeric)) return completeIrp(Irp, STATUS_BUFFER_OVERFLOW, 0);
    if (ServiceName && !writeUnicode(ServiceName, serviceText)) return completeIrp(Irp, STATUS_BUFFER_OVERFLOW, 0);
    completeIrp(Irp, STATUS_SUCCESS, 0);
  });
  return status;
}

// WSK_CLIENT: one application registration bound to one subsystem, and the client-level
// dispatch (WSK_PROVIDER_DISPATCH; R16, R17, R20, R28, R49, R50).
import { IoAllocateIrp, IoFreeIrp, IoSetCompletionRoutine, type IRP } from '../irp/irp.ts';
import {
  STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED, STATUS_DEVICE_NOT_READY, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_HANDLE,
  STATUS_INVALID_PARAMETER, STATUS_MORE_PROCESSING_REQUIRED, STATUS_NOT_SUPPORTED, STATUS_PENDING, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, sockaddrFamily, type SOCKADDR,
} from '../sockaddr.ts';
import { guidEquals } from '../nmr/types.ts';
import {
  CONNECTION_EVENTS, NPI_WSK_INTERFACE_ID, SIZEOF_WSK_TRANSPORT, WSK_CACHE_SD, WSK_EVENT_ACCEPT, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE,
  WSK_EVENT_RECEIVE_FROM, WSK_EVENT_SEND_BACKLOG, WSK_FLAG_BASIC_SOCKET, WSK_FLAG_CONNECTION_SOCKET,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_STREAM_SOCKET, WSK_RELEASE_SD, WSK_SET_STATIC_EVENT_CALLBACKS,
  WSK_TDI_BEHAVIOR, WSK_TDI_DEVICENAME_MAPPING, WSK_TRANSPORT_LIST_CHANGE, WSK_TRANSPORT_LIST_QUERY,
} from './constants.ts';
import { beginIrp, completeIrp, completeIrpInline, failIrp, pendIrp } from './completion.ts';
import { WskFreeAddressInfoImpl, WskGetAddressInfoImpl, WskGetNameInfoImpl } from './name-resolution.ts';
import { dispatchTableFor, WSK_PROVIDER_CONNECTION_DISPATCH_TABLE } from './socket-dispatch.ts';
import { WskSocketObject, type Category } from './socket.ts';
import type { WskSubsystem } from './subsystem.ts';
import type {
  EPROCESS, PSECURITY_DESCRIPTOR, PSIZE_T, SECURITY_DESCRIPTOR, WSK_CLIENT_CONNECTION_DISPATCH, WSK_CLIENT_NPI,
  WSK_EVENT_CALLBACK_CONTROL, WSK_PROVIDER_DISPATCH, WSK_TRANSPORT,
} from './types.ts';

const CATEGORY_BY_FLAG = new Map<number, Category>([
  [WSK_FLAG_BASIC_SOCKET, 'basic'], [WSK_FLAG_LISTEN_SOCKET, 'listen'], [WSK_FLAG_CONNECTION_SOCKET, 'connection'],
  [WSK_FLAG_DATAGRAM_SOCKET, 'datagram'], [WSK_FLAG_STREAM_SOCKET, 'stream'],
]);
const STATIC_EVENTS_BY_CATEGORY: Record<Category, number> = {
  basic: 0, listen: WSK_EVENT_ACCEPT, datagram: WSK_EVENT_RECEIVE_FROM, stream: 0,
  connection: CONNECTION_EVENTS,
};

/** The process the runtime runs as, for OwningProcess == NULL. */
export const CurrentProcess: EPROCESS = Object.freeze({ ProcessName: 'wsk-runtime' });
export function PsGetCurrentProcess(): EPROCESS { return CurrentProcess; }

export class WskClientObject {
  readonly sockets = new Set<WskSocketObject>();
  staticEvents = 0;
  socketEverCreated = false;
  /** Client-level IRPs still pending (WSK_TRANSPORT_LIST_CHANGE). */
  readonly listChangeIrps = new Set<IRP>();
  private readonly cachedSds = new WeakSet<object>();
  private idleWaiters: Array<() => void> = [];
  /** False once WskDeregister / NMR detach has begun: new client-level calls are refused. */
  active = true;
  readonly Dispatch: WSK_PROVIDER_DISPATCH;

  constructor(readonly subsystem: WskSubsystem, readonly npi: WSK_CLIENT_NPI, version: number) {
    this.Dispatch = makeProviderDispatch(version);
  }

  createSocketObject(flags: number, family: number, socketType: number, protocol: number, context: unknown, dispatch: unknown, owner: EPROCESS | null): WskSocketObject {
    const category = CATEGORY_BY_FLAG.get(flags)!;
    const s = new WskSocketObject(this, category, family, socketType, protocol, context, dispatch, owner ?? CurrentProcess, dispatchTableFor(category));
    this.sockets.add(s);
    this.socketEverCreated = true;
    return s;
  }

  forgetSocket(s: WskSocketObject): void {
    this.sockets.delete(s);
    this.checkIdle();
  }

  isCachedSecurityDescriptor(sd: unknown): boolean {
    return sd === null || (typeof sd === 'object' && sd !== null && this.cachedSds.has(sd));
  }

  cacheSecurityDescriptor(sd: SECURITY_DESCRIPTOR): SECURITY_DESCRIPTOR {
    const cached = Object.freeze({ ...sd });
    this.cachedSds.add(cached);
    return cached;
  }

  releaseSecurityDescriptor(sd: unknown): boolean {
    return typeof sd === 'object' && sd !== null && this.cachedSds.delete(sd);
  }

  get idle(): boolean {
    return this.sockets.size === 0 && this.listChangeIrps.size === 0;
  }

  /** Resolves once every socket is closed and every client-level IRP completed (R6). */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (!this.idle) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Deregistration: cancels WSK_TRANSPORT_LIST_CHANGE IRPs (R6). */
  beginShutdown(): void {
    this.active = false;
    for (const irp of [...this.listChangeIrps]) {
      this.listChangeIrps.delete(irp);
      completeIrp(irp, STATUS_CANCELLED, 0, () => this.checkIdle());
    }
  }

  /** Transport list changed: completes pending WSK_TRANSPORT_LIST_CHANGE IRPs. */
  notifyTransportListChange(): void {
    for (const irp of [...this.listChangeIrps]) {
      this.listChangeIrps.delete(irp);
      completeIrp(irp, STATUS_SUCCESS, 0, () => this.checkIdle());
    }
  }
}

function asClient(Client: unknown): WskClientObject | null {
  return Client instanceof WskClientObject && Client.active ? Client : null;
}

/** A call with a foreign client (STATUS_INVALID_HANDLE) or one being deregistered (STATUS_DEVICE_NOT_READY). */
function refuseClient(Client: unknown, Irp: IRP | null, what: string): NTSTATUS {
  if (!Irp) return STATUS_INVALID_PARAMETER;
  return failIrp(Irp, Client instanceof WskClientObject ? STATUS_DEVICE_NOT_READY : STATUS_INVALID_HANDLE, what);
}

function validTriple(category: Category, family: number, type: number, protocol: number): boolean {
  if (family !== AF_INET && family !== AF_INET6) return false;
  const tcp = type === SOCK_STREAM && (protocol === IPPROTO_TCP || protocol === 0);
  const udp = type === SOCK_DGRAM && (protocol === IPPROTO_UDP || protocol === 0);
  // A raw socket names its IP protocol: Winsock refuses 0 for SOCK_RAW ("TCP/IP raw sockets" page).
  const raw = type === SOCK_RAW && protocol > 0 && protocol <= 255;
  switch (category) {
    case 'basic': return tcp || udp || raw;
    // Windows creates a UDP "listening" socket and fails its bind (observed: Wine's driver_netio.c test).
    case 'listen': return tcp || udp;
    case 'datagram': return udp || raw;
    case 'connection': case 'stream': return tcp;
  }
}

function WskSocket(
  Client: unknown, AddressFamily: number, SocketType: number, Protocol: number, Flags: number, SocketContext: unknown,
  Dispatch: unknown, OwningProcess: EPROCESS | null, _OwningThread: unknown, SecurityDescriptor: PSECURITY_DESCRIPTOR, Irp: IRP | null,
): NTSTATUS {
  if (!Irp) return STATUS_INVALID_PARAMETER;
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskSocket');
  const client = asClient(Client);
  if (!client) return refuseClient(Client, Irp, 'WskSocket');
  const category = CATEGORY_BY_FLAG.get(Flags);
  if (!category) return fail(STATUS_INVALID_PARAMETER);
  if (!validTriple(category, AddressFamily, SocketType, Protocol)) return fail(STATUS_INVALID_PARAMETER);
  const supported = client.subsystem.provider.transports().some((t) => t.family === AddressFamily && t.socketType === SocketType);
  if (!supported) return fail(STATUS_NOT_SUPPORTED);
  if (category === 'basic' && (SocketContext != null || Dispatch != null)) return fail(STATUS_INVALID_PARAMETER);
  if (!client.isCachedSecurityDescriptor(SecurityDescriptor)) return fail(STATUS_INVALID_PARAMETER);
  beginIrp(Irp, 'WskSocket');
  const protocol = Protocol || (SocketType === SOCK_DGRAM ? IPPROTO_UDP : SocketType === SOCK_STREAM ? IPPROTO_TCP : 0);
  const s = client.createSocketObject(Flags, AddressFamily, SocketType, protocol, SocketContext, Dispatch, OwningProcess);
  s.options.securityDescriptor = SecurityDescriptor;
  // R17/R28: events start disabled, except those enabled statically for the category.
  s.staticEvents = client.staticEvents & STATIC_EVENTS_BY_CATEGORY[category];
  s.enabledEvents = s.staticEvents;
  completeIrp(Irp, STATUS_SUCCESS, s);
  return STATUS_PENDING;
}

/** Runs one socket call with an internal IRP and gives its IoStatus to `next`. */
function step(call: (irp: IRP) => NTSTATUS, next: (status: NTSTATUS, info: unknown) => void): void {
  const irp = IoAllocateIrp(1);
  IoSetCompletionRoutine(irp, (_d, i) => {
    const { Status, Information } = i.IoStatus;
    IoFreeIrp(i);
    next(Status, Information);
    return STATUS_MORE_PROCESSING_REQUIRED;
  }, null, true, true, true);
  call(irp);
}

function WskSocketConnect(
  Client: unknown, SocketType: number, Protocol: number, LocalAddress: SOCKADDR, RemoteAddress: SOCKADDR, Flags: number,
  SocketContext: unknown, Dispatch: WSK_CLIENT_CONNECTION_DISPATCH | null, OwningProcess: EPROCESS | null, OwningThread: unknown,
  SecurityDescriptor: PSECURITY_DESCRIPTOR, Irp: IRP | null,
): NTSTATUS {
  if (!Irp) return STATUS_INVALID_PARAMETER;
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskSocketConnect');
  if (Flags !== 0 || !LocalAddress || !RemoteAddress) return fail(STATUS_INVALID_PARAMETER);
  const family = sockaddrFamily(LocalAddress);
  const client = asClient(Client);
  if (!client) return refuseClient(Client, Irp, 'WskSocketConnect');
  if (!validTriple('connection', family, SocketType, Protocol)) return fail(STATUS_INVALID_PARAMETER);
  if (!client.isCachedSecurityDescriptor(SecurityDescriptor)) return fail(STATUS_INVALID_PARAMETER);
  beginIrp(Irp, 'WskSocketConnect');
  let socket: WskSocketObject | null = null;
  const status = pendIrp(Irp, () => {
    if (socket) step((i) => WSK_PROVIDER_CONNECTION_DISPATCH_TABLE.Basic.WskCloseSocket(socket!, i), () => {});
    completeIrp(Irp, STATUS_CANCELLED, 0);
  });
  const abandon = (failure: NTSTATUS): void => {
    if (Irp.completed || Irp.Cancel) return;
    const s = socket!;
    step((i) => WSK_PROVIDER_CONNECTION_DISPATCH_TABLE.Basic.WskCloseSocket(s, i), () => {});
    completeIrp(Irp, failure, 0);
  };
  step((i) => WskSocket(client, family, SocketType, Protocol, WSK_FLAG_CONNECTION_SOCKET, SocketContext, Dispatch, OwningProcess, OwningThread, SecurityDescriptor, i), (st, info) => {
    if (st !== STATUS_SUCCESS) { if (!Irp.completed) completeIrp(Irp, st, 0); return; }
    socket = info as WskSocketObject;
    if (Irp.completed) { abandon(STATUS_CANCELLED); return; }
    step((i) => WSK_PROVIDER_CONNECTION_DISPATCH_TABLE.WskBind(socket!, LocalAddress, 0, i), (bst) => {
      if (bst !== STATUS_SUCCESS) return abandon(bst);
      step((i) => WSK_PROVIDER_CONNECTION_DISPATCH_TABLE.WskConnect(socket!, RemoteAddress, 0, i), (cst) => {
        if (cst !== STATUS_SUCCESS) return abandon(cst);
        if (!Irp.completed) completeIrp(Irp, STATUS_SUCCESS, socket);
      });
    });
  });
  return status;
}

function WskControlClient(
  Client: unknown, ControlCode: number, InputSize: number, InputBuffer: unknown, OutputSize: number, OutputBuffer: unknown,
  OutputSizeReturned: PSIZE_T | null, Irp: IRP | null,
): NTSTATUS {
  const client = asClient(Client);
  const inline = (status: NTSTATUS, bytes = 0): NTSTATUS => {
    if (Irp) {
      beginIrp(Irp, 'WskControlClient');
      if (status !== STATUS_SUCCESS) return completeIrpInline(Irp, status, bytes);
      completeIrp(Irp, status, bytes);
      return STATUS_PENDING;
    }
    if (OutputSizeReturned) OutputSizeReturned.value = bytes;
    return status;
  };
  if (!client) return inline(Client instanceof WskClientObject ? STATUS_DEVICE_NOT_READY : STATUS_INVALID_HANDLE);
  // Every code but WSK_TRANSPORT_LIST_CHANGE takes no IRP (R23).
  if (ControlCode !== WSK_TRANSPORT_LIST_CHANGE && Irp) return inline(STATUS_INVALID_PARAMETER);
  switch (ControlCode) {
    case WSK_TRANSPORT_LIST_QUERY: {
      const list = client.subsystem.provider.transports();
      const needed = list.length * SIZEOF_WSK_TRANSPORT;
      if (!OutputBuffer || OutputSize < needed || !Array.isArray(OutputBuffer)) return inline(STATUS_BUFFER_OVERFLOW, needed);
      const out = OutputBuffer as WSK_TRANSPORT[];
      out.length = 0;
      for (const t of list) out.push({ Version: 0x0100, SocketType: t.socketType, Protocol: t.protocol, AddressFamily: t.family, ProviderId: client.subsystem.providerId });
      return inline(STATUS_SUCCESS, needed);
    }
    case WSK_TRANSPORT_LIST_CHANGE: {
      if (!Irp) return STATUS_INVALID_PARAMETER;
      beginIrp(Irp, 'WskControlClient');
      client.listChangeIrps.add(Irp);
      return pendIrp(Irp, (irp) => { client.listChangeIrps.delete(irp); completeIrp(irp, STATUS_CANCELLED, 0); });
    }
    case WSK_CACHE_SD: {
      const holder = InputBuffer as { value?: unknown } | null;
      const sd = holder && 'value' in holder ? holder.value : InputBuffer;
      if (!sd || typeof sd !== 'object' || !OutputBuffer || typeof OutputBuffer !== 'object') return inline(STATUS_INVALID_PARAMETER);
      (OutputBuffer as { value: unknown }).value = client.cacheSecurityDescriptor(sd as SECURITY_DESCRIPTOR);
      return inline(STATUS_SUCCESS, 8);
    }
    case WSK_RELEASE_SD: {
      const holder = InputBuffer as { value?: unknown } | null;
      const sd = holder && 'value' in holder ? holder.value : InputBuffer;
      return inline(client.releaseSecurityDescriptor(sd) ? STATUS_SUCCESS : STATUS_INVALID_PARAMETER);
    }
    case WSK_TDI_DEVICENAME_MAPPING:
    case WSK_TDI_BEHAVIOR:
      // No TDI transports exist here: accepted and ignored, but only before any socket (§6).
      return inline(client.socketEverCreated ? STATUS_INVALID_DEVICE_STATE : STATUS_SUCCESS);
    case WSK_SET_STATIC_EVENT_CALLBACKS: {
      const control = InputBuffer as WSK_EVENT_CALLBACK_CONTROL | null;
      if (!control || !control.NpiId || !guidEquals(control.NpiId, NPI_WSK_INTERFACE_ID)) return inline(STATUS_INVALID_PARAMETER);
      const valid = WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE_FROM | WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_SEND_BACKLOG;
      if ((control.EventMask & ~valid) !== 0 || control.EventMask === 0) return inline(STATUS_INVALID_PARAMETER);
      // R28: only before the client has created any socket (docs/wsk-rules.md, choice H: STATUS_INVALID_DEVICE_STATE).
      if (client.socketEverCreated) return inline(STATUS_INVALID_DEVICE_STATE);
      client.staticEvents |= control.EventMask;
      return inline(STATUS_SUCCESS);
    }
    default:
      return inline(STATUS_INVALID_PARAMETER);
  }
}

function makeProviderDispatch(version: number): WSK_PROVIDER_DISPATCH {
  return Object.freeze<WSK_PROVIDER_DISPATCH>({
    Version: version,
    Reserved: 0,
    WskSocket,
    WskSocketConnect,
    WskControlClient,
    WskGetAddressInfo: (Client, NodeName, ServiceName, NameSpace, _Provider, Hints, Result, OwningProcess, OwningThread, Irp) => {
      const client = asClient(Client);
      if (!client) return refuseClient(Client, Irp, 'WskGetAddressInfo');
      return WskGetAddressInfoImpl(client, NodeName, ServiceName, NameSpace, Hints, Result, OwningProcess, OwningThread, Irp);
    },
    WskFreeAddressInfo: (_Client, AddrInfo) => WskFreeAddressInfoImpl(AddrInfo),
    WskGetNameInfo: (Client, SockAddr, SockAddrLength, NodeName, ServiceName, Flags, OwningProcess, OwningThread, Irp) => {
      const client = asClient(Client);
      if (!client) return refuseClient(Client, Irp, 'WskGetNameInfo');
      return WskGetNameInfoImpl(client, SockAddr, SockAddrLength, NodeName, ServiceName, Flags, OwningProcess, OwningThread, Irp);
    },
  });
}

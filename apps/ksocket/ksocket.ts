/*
 * ksocket: a port of the socket layer of KSOCKET (wbenny/KSOCKET, `src/ksocket/ksocket.c` and
 * `ksocket.h`), a small BSD-flavoured wrapper over WSK. Read it next to the
 * C: the KSOCKET structure, the function names, their parameters and the order of the WSK calls
 * are those of ksocket.c. Every Ks* call owns one IRP and one SynchronizationEvent KEVENT (the
 * KSOCKET_ASYNC_CONTEXT): the IRP's completion routine signals the event and returns
 * STATUS_MORE_PROCESSING_REQUIRED, the call goes to the WSK dispatch table, and a
 * STATUS_PENDING result is waited for on the event, after which IoStatus holds the outcome.
 *
 * What differs from the C, and why:
 *  - KeWaitForSingleObject, WskCaptureProviderNPI and WskDeregister return promises in this
 *    runtime (docs/architecture.md §3), so every function that waits is async: NTSTATUS-returning ones
 *    resolve with the NTSTATUS, and KsDestroy (VOID in C) resolves once WskDeregister returned.
 *  - Out-parameters follow the runtime's one rule: `PKSOCKET *Socket`, `PADDRINFOEXW *Result`
 *    and the in/out `PULONG Length` are `{ value }` holders; `PSOCKADDR` outputs are SOCKADDR
 *    objects the provider fills in place.
 *  - KsInitialize takes an optional WSK subsystem (WskRegister's optional 3rd parameter), so the
 *    same port runs on the kernel provider or on the userspace stack; the C has only netio.sys.
 *  - If WskCaptureProviderNPI fails, KsInitialize deregisters before returning the failure: the C
 *    leaves the global WSK_REGISTRATION registered, after which no KsInitialize can succeed.
 *  - If WskSocket fails, KsCreateSocket frees the socket's IRP (the C leaks it and the KSOCKET).
 *  - Pool allocations (ExAllocatePoolWithTag/ExFreePoolWithTag, MEMORY_TAG) become objects the
 *    garbage collector reclaims; IRPs and MDLs are still freed with IoFreeIrp/IoFreeMdl, as the
 *    runtime checks their ownership. The __try/__except around MmProbeAndLockPages has nothing to
 *    catch here (a Uint8Array is always resident), so STATUS_ACCESS_VIOLATION cannot occur.
 *
 * Like the C, the layer keeps one global registration: KsInitialize twice without KsDestroy is
 * WskRegister on a registered block, which WSK leaves undefined (R1) and this runtime reports by
 * throwing WskUsageError 'WSK_ALREADY_REGISTERED'.
 */
import {
  Executive, IoAllocateIrp, IoAllocateMdl, IoFreeIrp, IoFreeMdl, IoReuseIrp, IoSetCompletionRoutine, IoWriteAccess,
  KEVENT, KeInitializeEvent, KeResetEvent, KernelMode, KeSetEvent, KeWaitForSingleObject, MAKE_WSK_VERSION,
  MmProbeAndLockPages, MmUnlockPages, NT_SUCCESS, AF_INET, IO_NO_INCREMENT, STATUS_MORE_PROCESSING_REQUIRED,
  STATUS_PENDING, STATUS_UNSUCCESSFUL, SynchronizationEvent, WSK_FLAG_CONNECTION_SOCKET,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION,
  WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI, in4addr_any,
  type ADDRINFOEXW, type Holder, type IRP, type NTSTATUS, type PADDRINFOEXW, type PDEVICE_OBJECT, type PWSK_SOCKET,
  type SOCKADDR, type SOCKADDR_IN, type UNICODE_STRING, type WSK_BUF, type WSK_CLIENT_DISPATCH, type WSK_CLIENT_NPI,
  type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH,
  type WskSubsystem,
} from '../../index.ts';

// ---------------------------------------------------------------------------------------------
// Structures

interface KSOCKET_ASYNC_CONTEXT {
  CompletionEvent: KEVENT;
  Irp: IRP;
}

export interface KSOCKET {
  WskSocket: PWSK_SOCKET;
  // The C union of the four provider dispatch table pointers: one object, read through the
  // category's table type (WskBind and Basic exist in every one of them, as in the C layout).
  WskDispatch: WSK_PROVIDER_CONNECTION_DISPATCH | WSK_PROVIDER_LISTEN_DISPATCH | WSK_PROVIDER_DATAGRAM_DISPATCH;
  AsyncContext: KSOCKET_ASYNC_CONTEXT;
}
export type PKSOCKET = KSOCKET;

// ---------------------------------------------------------------------------------------------
// Variables

const WskRegistration = WSK_REGISTRATION();
const WskProvider = WSK_PROVIDER_NPI();
const WskDispatch: WSK_CLIENT_DISPATCH = { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null };

// ---------------------------------------------------------------------------------------------
// Private functions

// VOID where the C returns NTSTATUS: its only failure is IoAllocateIrp returning NULL
// (STATUS_INSUFFICIENT_RESOURCES), and IoAllocateIrp here throws instead of returning NULL.
function KspAsyncContextAllocate(): KSOCKET_ASYNC_CONTEXT {
  const CompletionEvent = new KEVENT();
  KeInitializeEvent(CompletionEvent, SynchronizationEvent, false);

  const Irp = IoAllocateIrp(1, false);

  // KspAsyncContextCompletionRoutine will set the CompletionEvent.
  IoSetCompletionRoutine(Irp, KspAsyncContextCompletionRoutine, CompletionEvent, true, true, true);
  return { CompletionEvent, Irp };
}

function KspAsyncContextFree(AsyncContext: KSOCKET_ASYNC_CONTEXT): void {
  IoFreeIrp(AsyncContext.Irp);
}

function KspAsyncContextReset(AsyncContext: KSOCKET_ASYNC_CONTEXT): void {
  // A reused IRP needs its completion routine set again (IoReuseIrp clears it), and the event
  // may still be signalled by a call that failed before pending (R10 completes its IRP too).
  KeResetEvent(AsyncContext.CompletionEvent);
  IoReuseIrp(AsyncContext.Irp, STATUS_UNSUCCESSFUL);
  IoSetCompletionRoutine(AsyncContext.Irp, KspAsyncContextCompletionRoutine, AsyncContext.CompletionEvent, true, true, true);
}

function KspAsyncContextCompletionRoutine(_DeviceObject: PDEVICE_OBJECT, _Irp: IRP, CompletionEvent: KEVENT): NTSTATUS {
  KeSetEvent(CompletionEvent, IO_NO_INCREMENT, false);
  return STATUS_MORE_PROCESSING_REQUIRED;
}

// The C updates *Status in place and returns it; returning it is enough here. With any other
// status the IRP has already completed (its completion routine ran inside the call, as WDM has
// it), so the IRP is free again for IoReuseIrp or IoFreeIrp, as in the C.
async function KspAsyncContextWaitForCompletion(AsyncContext: KSOCKET_ASYNC_CONTEXT, Status: NTSTATUS): Promise<NTSTATUS> {
  if (Status === STATUS_PENDING) {
    await KeWaitForSingleObject(AsyncContext.CompletionEvent, Executive, KernelMode, false, null);
    Status = AsyncContext.Irp.IoStatus.Status;
  }
  return Status;
}

// ---------------------------------------------------------------------------------------------
// Public functions

export async function KsInitialize(subsystem?: WskSubsystem): Promise<NTSTATUS> {
  // Register as a WSK client.
  const WskClient: WSK_CLIENT_NPI = { ClientContext: null, Dispatch: WskDispatch };
  const Status = WskRegister(WskClient, WskRegistration, subsystem);
  if (!NT_SUCCESS(Status)) return Status;

  // Capture the provider NPI.
  const Captured = await WskCaptureProviderNPI(WskRegistration, WSK_INFINITE_WAIT, WskProvider);
  if (!NT_SUCCESS(Captured)) await WskDeregister(WskRegistration);
  return Captured;
}

export async function KsDestroy(): Promise<void> {
  // Release the provider NPI instance.
  WskReleaseProviderNPI(WskRegistration);
  // Deregister as a WSK client (waits until every socket is closed).
  await WskDeregister(WskRegistration);
}

export async function KsGetAddrInfo(
  NodeName: UNICODE_STRING | null, ServiceName: UNICODE_STRING | null, Hints: ADDRINFOEXW | null, Result: Holder<PADDRINFOEXW>,
): Promise<NTSTATUS> {
  const AsyncContext = KspAsyncContextAllocate();

  let Status = WskProvider.Dispatch!.WskGetAddressInfo(
    WskProvider.Client,   // Client
    NodeName,             // NodeName
    ServiceName,          // ServiceName
    0,                    // NameSpace (NS_ALL)
    null,                 // Provider
    Hints,                // Hints
    Result,               // Result
    null,                 // OwningProcess
    null,                 // OwningThread
    AsyncContext.Irp,     // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(AsyncContext, Status);

  KspAsyncContextFree(AsyncContext);
  return Status;
}

export function KsFreeAddrInfo(AddrInfo: PADDRINFOEXW): void {
  WskProvider.Dispatch!.WskFreeAddressInfo(WskProvider.Client, AddrInfo);
}

export async function KsCreateSocket(
  Socket: Holder<PKSOCKET | null>, AddressFamily: number, SocketType: number, Protocol: number, Flags: number,
): Promise<NTSTATUS> {
  const AsyncContext = KspAsyncContextAllocate();

  // No socket context and no client dispatch table: KSOCKET uses no event callbacks.
  let Status = WskProvider.Dispatch!.WskSocket(
    WskProvider.Client,   // Client
    AddressFamily,        // AddressFamily
    SocketType,           // SocketType
    Protocol,             // Protocol
    Flags,                // Flags
    null,                 // SocketContext
    null,                 // Dispatch
    null,                 // OwningProcess
    null,                 // OwningThread
    null,                 // SecurityDescriptor
    AsyncContext.Irp,     // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(AsyncContext, Status);

  // Save the socket instance and the socket dispatch table.
  if (NT_SUCCESS(Status)) {
    const WskSocket = AsyncContext.Irp.IoStatus.Information as PWSK_SOCKET;
    Socket.value = { WskSocket, WskDispatch: WskSocket.Dispatch as KSOCKET['WskDispatch'], AsyncContext };
  } else {
    KspAsyncContextFree(AsyncContext);
  }
  return Status;
}

export function KsCreateConnectionSocket(Socket: Holder<PKSOCKET | null>, AddressFamily: number, SocketType: number, Protocol: number): Promise<NTSTATUS> {
  return KsCreateSocket(Socket, AddressFamily, SocketType, Protocol, WSK_FLAG_CONNECTION_SOCKET);
}

export function KsCreateListenSocket(Socket: Holder<PKSOCKET | null>, AddressFamily: number, SocketType: number, Protocol: number): Promise<NTSTATUS> {
  return KsCreateSocket(Socket, AddressFamily, SocketType, Protocol, WSK_FLAG_LISTEN_SOCKET);
}

export function KsCreateDatagramSocket(Socket: Holder<PKSOCKET | null>, AddressFamily: number, SocketType: number, Protocol: number): Promise<NTSTATUS> {
  return KsCreateSocket(Socket, AddressFamily, SocketType, Protocol, WSK_FLAG_DATAGRAM_SOCKET);
}

export async function KsCloseSocket(Socket: PKSOCKET): Promise<NTSTATUS> {
  KspAsyncContextReset(Socket.AsyncContext);

  // WskCloseSocket sits in the Basic part of every provider table.
  let Status = (Socket.WskDispatch as WSK_PROVIDER_CONNECTION_DISPATCH).Basic.WskCloseSocket(Socket.WskSocket, Socket.AsyncContext.Irp);
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);

  KspAsyncContextFree(Socket.AsyncContext);
  return Status;
}

export async function KsBind(Socket: PKSOCKET, LocalAddress: SOCKADDR): Promise<NTSTATUS> {
  KspAsyncContextReset(Socket.AsyncContext);

  let Status = (Socket.WskDispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskBind(
    Socket.WskSocket,           // Socket
    LocalAddress,               // LocalAddress
    0,                          // Flags (reserved)
    Socket.AsyncContext.Irp,    // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);
  return Status;
}

export async function KsAccept(
  Socket: PKSOCKET, NewSocket: Holder<PKSOCKET | null>, LocalAddress: SOCKADDR | null, RemoteAddress: SOCKADDR | null,
): Promise<NTSTATUS> {
  KspAsyncContextReset(Socket.AsyncContext);

  let Status = (Socket.WskDispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskAccept(
    Socket.WskSocket,           // ListenSocket
    0,                          // Flags
    null,                       // AcceptSocketContext
    null,                       // AcceptSocketDispatch
    LocalAddress,               // LocalAddress
    RemoteAddress,              // RemoteAddress
    Socket.AsyncContext.Irp,    // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);

  // Save the socket instance and the socket dispatch table.
  if (NT_SUCCESS(Status)) {
    const WskSocket = Socket.AsyncContext.Irp.IoStatus.Information as PWSK_SOCKET;
    NewSocket.value = { WskSocket, WskDispatch: WskSocket.Dispatch as KSOCKET['WskDispatch'], AsyncContext: KspAsyncContextAllocate() };
  }
  return Status;
}

export async function KsConnect(Socket: PKSOCKET, RemoteAddress: SOCKADDR): Promise<NTSTATUS> {
  const Dispatch = Socket.WskDispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
  KspAsyncContextReset(Socket.AsyncContext);

  // Bind the socket to the IPv4 wildcard first, as the C does: KsConnect therefore connects
  // AF_INET sockets only (an AF_INET6 socket fails this bind), a limit kept from the original.
  const LocalAddress: SOCKADDR_IN = { sin_family: AF_INET, sin_addr: Uint8Array.from(in4addr_any), sin_port: 0 };
  let Status = Dispatch.WskBind(
    Socket.WskSocket,           // Socket
    LocalAddress,               // LocalAddress
    0,                          // Flags (reserved)
    Socket.AsyncContext.Irp,    // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);
  if (!NT_SUCCESS(Status)) return Status;

  // Reset the async context (again). WskSocketConnect would do socket+bind+connect in one call.
  KspAsyncContextReset(Socket.AsyncContext);
  Status = Dispatch.WskConnect(
    Socket.WskSocket,           // Socket
    RemoteAddress,              // RemoteAddress
    0,                          // Flags (reserved)
    Socket.AsyncContext.Irp,    // Irp
  );
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);
  return Status;
}

export async function KsSendRecv(Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number, Send: boolean): Promise<NTSTATUS> {
  // Wrap the buffer into the "WSK buffer".
  const WskBuffer: WSK_BUF = { Offset: 0, Length: Length.value, Mdl: IoAllocateMdl(Buffer, Length.value, false, false, null) };
  MmProbeAndLockPages(WskBuffer.Mdl!, KernelMode, IoWriteAccess);

  KspAsyncContextReset(Socket.AsyncContext);

  // User flags go to WSK unchanged, as in the C.
  const Dispatch = Socket.WskDispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
  let Status = Send
    ? Dispatch.WskSend(Socket.WskSocket, WskBuffer, Flags, Socket.AsyncContext.Irp)
    : Dispatch.WskReceive(Socket.WskSocket, WskBuffer, Flags, Socket.AsyncContext.Irp);
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);

  // Set the number of bytes sent / received.
  if (NT_SUCCESS(Status)) Length.value = Socket.AsyncContext.Irp.IoStatus.Information as number;

  MmUnlockPages(WskBuffer.Mdl!);
  IoFreeMdl(WskBuffer.Mdl!);
  return Status;
}

export async function KsSendRecvUdp(
  Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number, RemoteAddress: SOCKADDR | null, Send: boolean,
): Promise<NTSTATUS> {
  const WskBuffer: WSK_BUF = { Offset: 0, Length: Length.value, Mdl: IoAllocateMdl(Buffer, Length.value, false, false, null) };
  MmProbeAndLockPages(WskBuffer.Mdl!, KernelMode, IoWriteAccess);

  KspAsyncContextReset(Socket.AsyncContext);

  const Dispatch = Socket.WskDispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  let Status = Send
    ? Dispatch.WskSendTo(
      Socket.WskSocket,         // Socket
      WskBuffer,                // Buffer
      Flags,                    // Flags (reserved)
      RemoteAddress,            // RemoteAddress
      0,                        // ControlInfoLength
      null,                     // ControlInfo
      Socket.AsyncContext.Irp,  // Irp
    )
    : Dispatch.WskReceiveFrom(
      Socket.WskSocket,         // Socket
      WskBuffer,                // Buffer
      Flags,                    // Flags (reserved)
      RemoteAddress,            // RemoteAddress
      null,                     // ControlLength
      null,                     // ControlInfo
      null,                     // ControlFlags
      Socket.AsyncContext.Irp,  // Irp
    );
  Status = await KspAsyncContextWaitForCompletion(Socket.AsyncContext, Status);

  if (NT_SUCCESS(Status)) Length.value = Socket.AsyncContext.Irp.IoStatus.Information as number;

  MmUnlockPages(WskBuffer.Mdl!);
  IoFreeMdl(WskBuffer.Mdl!);
  return Status;
}

export function KsSend(Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number): Promise<NTSTATUS> {
  return KsSendRecv(Socket, Buffer, Length, Flags, true);
}

export function KsRecv(Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number): Promise<NTSTATUS> {
  return KsSendRecv(Socket, Buffer, Length, Flags, false);
}

export function KsSendTo(Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number, RemoteAddress: SOCKADDR | null): Promise<NTSTATUS> {
  return KsSendRecvUdp(Socket, Buffer, Length, Flags, RemoteAddress, true);
}

export function KsRecvFrom(Socket: PKSOCKET, Buffer: Uint8Array, Length: Holder<number>, Flags: number, RemoteAddress: SOCKADDR | null): Promise<NTSTATUS> {
  return KsSendRecvUdp(Socket, Buffer, Length, Flags, RemoteAddress, false);
}

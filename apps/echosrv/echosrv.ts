/*
 * echosrv: a port of Microsoft's WSK echo server sample, `network/wsk/echosrv/wsksmple.c`
 * (microsoft/Windows-driver-samples @ 26a27df80772dbcfd69e6449b671d5c29eb5aedc).
 * It accepts connections on a dual-stack AF_INET6 listener ([::]:40007 by default,
 * IPv4 peers arrive v4-mapped) and echoes every byte back until the peer closes its half, then
 * disconnects gracefully and closes. Read it next to the C: names, structures, call order and
 * arguments are those of wsksmple.c, and every WSK result is taken from the IRP in a completion
 * routine that returns STATUS_MORE_PROCESSING_REQUIRED and only enqueues the next operation.
 *
 * What differs from the C, and why:
 *  - Worker thread → worker queue. The SLIST (InterlockedPushEntrySList/InterlockedFlushSList)
 *    and the PsCreateSystemThread worker become a FIFO array drained by one async loop on the
 *    event loop, still woken through a SynchronizationEvent KEVENT. A handler that waits (only
 *    OpStartListen, which waits on a KEVENT after each WSK call) is awaited, so that compound
 *    operation still runs alone, as on the worker thread. Stopping the queue awaits the loop
 *    instead of the thread object.
 *  - DriverEntry → `echosrvStart(options)`, WskSampleUnload (DriverUnload) → `echosrvStop()`,
 *    which returns a promise resolving after WskDeregister returned (i.e. after every socket,
 *    accepted ones included, is closed — so it waits for connected peers to disconnect) and the
 *    worker has drained. WskDeregister/WskCaptureProviderNPI/KeWaitForSingleObject are promises.
 *  - Options: `port` (the C hard-codes 40007 = 0x479c in network order), `subsystem` (WskRegister's
 *    optional 3rd parameter: which WSK subsystem instance to register with), `log`/`trace`
 *    (WPP DoTraceMessage: TRCERROR and milestones always, per-operation TRCINFO with `trace`).
 *  - Additions, not in the sample:
 *      · `echosrvListening()` reports how the first OpStartListen ended (the C only traces it);
 *        SetupListeningSocket records its status for that.
 *      · `echosrvStop({ forceClose: true })` (also callable while a stop is already waiting)
 *        does what the sample's unload comment says a full application must do: it enumerates
 *        the open connection sockets and closes them abortively. For each one it enqueues
 *        WskSampleOpAbort, which issues WskDisconnect(WSK_FLAG_ABORTIVE) with an IRP of its own
 *        from the worker; the pending receive/send/disconnect IRPs then fail and the sample's own
 *        path (OpClose → WskCloseSocket → OpFree) closes the socket, so a socket is still closed
 *        only when no other call can be issued on it. While force-closing, the accept event
 *        refuses new connections (STATUS_REQUEST_NOT_ACCEPTED).
 *      · `echosrvStats()`: live connection count and errors thrown by operation handlers (a
 *        bugcheck in the kernel; here it is logged, recorded and the worker goes on).
 */
import {
  AF_INET6, Executive, IoAllocateIrp, IoAllocateMdl, IoFreeIrp, IoFreeMdl, IoReuseIrp, IoSetCompletionRoutine,
  IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, KEVENT, KeInitializeEvent, KernelMode, KeSetEvent, KeWaitForSingleObject,
  MAKE_WSK_VERSION, MmBuildMdlForNonPagedPool, NPI_WSK_INTERFACE_ID, NT_SUCCESS, SOCK_STREAM, STATUS_INSUFFICIENT_RESOURCES,
  STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
  SynchronizationEvent, WSK_EVENT_ACCEPT, WSK_FLAG_ABORTIVE, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT,
  WSK_PROVIDER_NPI, WSK_REGISTRATION, WSK_SET_STATIC_EVENT_CALLBACKS, WskCaptureProviderNPI, WskDeregister,
  WskRegister, WskReleaseProviderNPI, WskSetOption, htons, in6addr_any, ntohs, ntStatusName,
  type Holder, type IRP, type MDL, type NTSTATUS, type PDEVICE_OBJECT, type PVOID, type PWSK_SOCKET,
  type SOCKADDR, type SOCKADDR_IN6, type WSK_BUF, type WSK_CLIENT_CONNECTION_DISPATCH, type WSK_CLIENT_DISPATCH,
  type WSK_CLIENT_LISTEN_DISPATCH, type WSK_CLIENT_NPI, type WSK_EVENT_CALLBACK_CONTROL,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH,
  type WskSubsystem,
} from '../../index.ts';

// ---------------------------------------------------------------------------------------------
// Options (DriverEntry has none; these replace the constants and WPP tracing of the C)

export interface EchosrvOptions {
  /** TCP port to listen on, [::]:port dual-stack (default 40007, as in the sample). */
  port?: number;
  /** WSK subsystem to register with (WskRegister's optional 3rd parameter); default: the default one. */
  subsystem?: WskSubsystem;
  /**
   * Where trace messages go (default: nowhere). `error` is TRCERROR; `info` is a milestone
   * (LOADED, listening, UNLOAD START/END) or, with `trace`, a per-operation TRCINFO message.
   */
  log?: (message: string, level: EchosrvLogLevel) => void;
  /** Also log per-operation TRCINFO messages (verbose). */
  trace?: boolean;
}

export type EchosrvLogLevel = 'error' | 'info';

export interface EchosrvStopOptions {
  /** Addition: close open connection sockets abortively instead of waiting for peers. */
  forceClose?: boolean;
}

export interface EchosrvListenResult {
  /** STATUS_SUCCESS once the listening socket is bound, else the failing status. */
  Status: NTSTATUS;
  Port: number;
}

export interface EchosrvStats {
  /** Connection socket contexts not yet freed. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Errors thrown by operation handlers (should stay empty). */
  errors: unknown[];
}

export const ECHOSRV_DEFAULT_PORT = 40007;

// ---------------------------------------------------------------------------------------------
// Software tracing (WPP in the C)

const TRCERROR = 1;
const TRCINFO = 2;
const TRCMILESTONE = 3; // addition: always logged, as 'info'
let WskSampleLog: (message: string, level: EchosrvLogLevel) => void = () => {};
let WskSampleTrace = false;

/** TRCERROR and milestones always; TRCINFO only with `trace`. A function message is built only when logged. */
function DoTraceMessage(level: number, message: string | (() => string)): void {
  if (level === TRCINFO && !WskSampleTrace) return;
  WskSampleLog(typeof message === 'function' ? message() : message, level === TRCERROR ? 'error' : 'info');
}

// ---------------------------------------------------------------------------------------------
// Structures

// Default length for data buffers used in send and receive operations
const WSKSAMPLE_DATA_BUFFER_LENGTH = 2048;

// Function type for socket operation handling routines. OpStartListen waits, so it may return a promise.
type PWSKSAMPLE_OP_HANDLER_FN = (SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT) => void | Promise<void>;

// A work queue processed by one worker loop (SLIST + KEVENT + worker thread in the C)
interface WSKSAMPLE_WORK_QUEUE {
  // List head: FIFO of queued operation contexts (the SLIST, already in FIFO order)
  Head: WSKSAMPLE_SOCKET_OP_CONTEXT[];
  // Wake up event
  Event: KEVENT;
  // Worker can exit safely only if queue is empty and Stop is TRUE
  Stop: boolean;
  // The worker loop (the worker thread pointer in the C)
  Thread: Promise<void> | null;
}

// Context for a WSK socket operation
interface WSKSAMPLE_SOCKET_OP_CONTEXT {
  // Handler for the operation (the queue linkage is the Head array)
  OpHandler: PWSKSAMPLE_OP_HANDLER_FN | null;
  // The WSK socket context
  SocketContext: WSKSAMPLE_SOCKET_CONTEXT;
  // IRP to use for the operation
  Irp: IRP | null;
  // Data buffer and MDL used by send and receive operations
  DataBuffer: Uint8Array | null;
  DataMdl: MDL | null;
  BufferLength: number; // size of the buffer
  DataLength: number; // length of actual data stored in the buffer
}

// Maximum number of operations that can be outstanding on a socket at any time
const WSKSAMPLE_OP_COUNT = 2;

// Context for a WSK socket
interface WSKSAMPLE_SOCKET_CONTEXT {
  // The WSK socket
  Socket: PWSK_SOCKET | null;
  // Work queue used for enqueueing operations on the socket
  WorkQueue: WSKSAMPLE_WORK_QUEUE;
  // Socket is being closed.
  Closing: boolean;
  // Peer has gracefully disconnected its half of the connection and we are
  // about to disconnect (or have disconnected) our half.
  Disconnecting: boolean;
  // Stop accepting incoming connections. Valid for listening sockets only.
  StopListening: boolean;
  // Embedded array of contexts for outstanding operations on the socket
  OpContext: WSKSAMPLE_SOCKET_OP_CONTEXT[];
  // Addition: a number for trace messages (the C prints the pointer)
  Id: number;
}

// ---------------------------------------------------------------------------------------------
// Globals

// Client-level callback table
const WskSampleClientDispatch: WSK_CLIENT_DISPATCH = Object.freeze({
  Version: MAKE_WSK_VERSION(1, 0), // This sample uses WSK version 1.0
  Reserved: 0,
  WskClientEvent: null, // WskClientEvent callback is not required in WSK version 1.0
});

// WSK Registration object
let WskSampleRegistration: WSK_REGISTRATION = WSK_REGISTRATION();

// Socket-level callback table for listening sockets
const WskSampleClientListenDispatch: WSK_CLIENT_LISTEN_DISPATCH = Object.freeze({
  WskAcceptEvent: WskSampleAcceptEvent,
  WskInspectEvent: null, // required only if conditional-accept is used
  WskAbortEvent: null, // required only if conditional-accept is used
});

// Global reference to the socket context for the listening socket
let WskSampleListeningSocketContext: WSKSAMPLE_SOCKET_CONTEXT | null = null;

// Global work queue used for enqueueing all socket operations
let WskSampleWorkQueue: WSKSAMPLE_WORK_QUEUE = newWorkQueue();

// IPv6 wildcard address and the port to listen on (0x479c = 40007 in network byte order in the C)
let IPv6ListeningAddress: SOCKADDR_IN6 = makeListeningAddress(ECHOSRV_DEFAULT_PORT);

// Additions: lifecycle of this module instance
let WskSampleLoaded = false;
let WskSampleUnloadPromise: Promise<void> | null = null;
let WskSampleForceClosing = false;
let WskSampleListenStatus: NTSTATUS = STATUS_UNSUCCESSFUL;
let WskSampleListenDone: ((result: EchosrvListenResult) => void) | null = null;
let WskSampleListenPromise: Promise<EchosrvListenResult> | null = null;
const WskSampleConnectionContexts = new Set<WSKSAMPLE_SOCKET_CONTEXT>();
let WskSampleAccepted = 0;
let WskSampleErrors: unknown[] = [];
let WskSampleNextId = 0;

function newWorkQueue(): WSKSAMPLE_WORK_QUEUE {
  return { Head: [], Event: new KEVENT(), Stop: false, Thread: null };
}

function makeListeningAddress(port: number): SOCKADDR_IN6 {
  return { sin6_family: AF_INET6, sin6_port: htons(port), sin6_flowinfo: 0, sin6_addr: Uint8Array.from(in6addr_any), sin6_scope_id: 0 };
}

// ---------------------------------------------------------------------------------------------
// DriverEntry / DriverUnload

/**
 * DriverEntry: registers with WSK, starts the worker and enqueues OpStartListen. Returns at once,
 * like DriverEntry; `echosrvListening()` tells when (and whether) the listener is up.
 */
export function echosrvStart(options: EchosrvOptions = {}): NTSTATUS {
  if (WskSampleLoaded) throw new Error('echosrv is already running in this process; call echosrvStop() first.');
  const port = options.port ?? ECHOSRV_DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`echosrv: port must be 1..65535 (got ${port})`);
  WskSampleLog = options.log ?? (() => {});
  WskSampleTrace = options.trace ?? false;
  WskSampleRegistration = WSK_REGISTRATION();
  WskSampleWorkQueue = newWorkQueue();
  IPv6ListeningAddress = makeListeningAddress(port);
  WskSampleUnloadPromise = null;
  WskSampleForceClosing = false;
  WskSampleListenStatus = STATUS_UNSUCCESSFUL;
  WskSampleConnectionContexts.clear();
  WskSampleAccepted = 0;
  WskSampleErrors = [];
  WskSampleListenPromise = new Promise((resolve) => { WskSampleListenDone = resolve; });

  // Allocate a socket context that will be used for queueing an operation
  // to setup a listening socket that will accept incoming connections
  WskSampleListeningSocketContext = WskSampleAllocateSocketContext(WskSampleWorkQueue, 0);
  if (WskSampleListeningSocketContext === null) return STATUS_INSUFFICIENT_RESOURCES;

  // Register with WSK.
  const wskClientNpi: WSK_CLIENT_NPI = { ClientContext: null, Dispatch: WskSampleClientDispatch };
  let status = WskRegister(wskClientNpi, WskSampleRegistration, options.subsystem);
  if (!NT_SUCCESS(status)) {
    WskSampleFreeSocketContext(WskSampleListeningSocketContext);
    WskSampleListeningSocketContext = null;
    return status;
  }

  // Initialize and start the global work queue
  status = WskSampleStartWorkQueue(WskSampleWorkQueue);
  if (!NT_SUCCESS(status)) {
    void WskDeregister(WskSampleRegistration);
    WskSampleFreeSocketContext(WskSampleListeningSocketContext);
    WskSampleListeningSocketContext = null;
    return status;
  }

  // Enqueue the first operation to setup the listening socket
  WskSampleEnqueueOp(WskSampleListeningSocketContext.OpContext[0]!, WskSampleOpStartListen);

  WskSampleLoaded = true;
  DoTraceMessage(TRCMILESTONE, 'LOADED');
  return STATUS_SUCCESS;
}

/** Addition: resolves once the first OpStartListen has finished, with its outcome. */
export function echosrvListening(): Promise<EchosrvListenResult> {
  if (!WskSampleListenPromise) return Promise.reject(new Error('echosrv was never started'));
  return WskSampleListenPromise;
}

/** Addition: what is open right now. */
export function echosrvStats(): EchosrvStats {
  return { connections: WskSampleConnectionContexts.size, accepted: WskSampleAccepted, errors: [...WskSampleErrors] };
}

/**
 * DriverUnload (WskSampleUnload): stops listening, then WskDeregister, which returns only once
 * every socket — the accepted ones too — is closed, i.e. once the connected peers have
 * disconnected; then stops the worker. `forceClose` (addition) closes open connections
 * abortively first; it may also be given to a second call while the first one is waiting.
 */
export function echosrvStop(options: EchosrvStopOptions = {}): Promise<void> {
  if (!WskSampleLoaded && !WskSampleUnloadPromise) return Promise.reject(new Error('echosrv is not running'));
  if (!WskSampleUnloadPromise) {
    WskSampleUnloadPromise = WskSampleUnload().finally(() => { WskSampleLoaded = false; });
  }
  if (options.forceClose) WskSampleForceCloseConnections();
  return WskSampleUnloadPromise;
}

// Driver unload routine
async function WskSampleUnload(): Promise<void> {
  DoTraceMessage(TRCMILESTONE, 'UNLOAD START');

  // Enqueue an operation to stop listening for any new connections. This will close the
  // listening socket, but there may still be connection-oriented sockets that are open. The
  // WskDeregister call below will wait until all sockets including the connection-oriented
  // ones that were accepted over the listening socket are closed, i.e. until the last
  // connection is disconnected by the peer (or force-closed, see echosrvStop).
  WskSampleEnqueueOp(WskSampleListeningSocketContext!.OpContext[1]!, WskSampleOpStopListen);

  // Deregister with WSK. This waits until all the references to the WSK provider NPI are
  // released and all the sockets are closed. If the worker has not set up the listener yet,
  // its WskCaptureProviderNPI call fails and the work queue is flushed and cleaned up properly.
  await WskDeregister(WskSampleRegistration);

  // All sockets are closed, so no operation can be outstanding: the worker can stop once the
  // queue is empty. Signal it to stop and wait for it.
  await WskSampleStopWorkQueue(WskSampleWorkQueue);

  DoTraceMessage(TRCMILESTONE, 'UNLOAD END');
}

// ---------------------------------------------------------------------------------------------
// Work queue

// Initialize a given work queue and start the worker for it
function WskSampleStartWorkQueue(WorkQueue: WSKSAMPLE_WORK_QUEUE): NTSTATUS {
  WorkQueue.Head = [];
  KeInitializeEvent(WorkQueue.Event, SynchronizationEvent, false);
  WorkQueue.Stop = false;
  WorkQueue.Thread = WskSampleWorkerThread(WorkQueue);
  return STATUS_SUCCESS;
}

// Stop a given work queue and wait for its worker to exit
async function WskSampleStopWorkQueue(WorkQueue: WSKSAMPLE_WORK_QUEUE): Promise<void> {
  WorkQueue.Stop = true;
  KeSetEvent(WorkQueue.Event, 0, false);
  await WorkQueue.Thread;
}

// Allocate and setup a socket context
function WskSampleAllocateSocketContext(WorkQueue: WSKSAMPLE_WORK_QUEUE, BufferLength: number): WSKSAMPLE_SOCKET_CONTEXT | null {
  // Allocate and setup a socket context with optional data buffers, and attach the socket to
  // the given work queue (a socket always uses the same work queue).
  const socketContext: WSKSAMPLE_SOCKET_CONTEXT = {
    Socket: null, WorkQueue, Closing: false, Disconnecting: false, StopListening: false, OpContext: [], Id: ++WskSampleNextId,
  };
  try {
    for (let i = 0; i < WSKSAMPLE_OP_COUNT; i++) {
      const op: WSKSAMPLE_SOCKET_OP_CONTEXT = {
        OpHandler: null, SocketContext: socketContext, Irp: null, DataBuffer: null, DataMdl: null, BufferLength: 0, DataLength: 0,
      };
      socketContext.OpContext.push(op);
      op.Irp = IoAllocateIrp(1, false);
      if (BufferLength > 0) {
        op.DataBuffer = new Uint8Array(BufferLength); // ExAllocatePoolZero(NonPagedPool, ...)
        op.DataMdl = IoAllocateMdl(op.DataBuffer, BufferLength, false, false, null);
        MmBuildMdlForNonPagedPool(op.DataMdl);
        op.BufferLength = BufferLength;
      }
    }
    DoTraceMessage(TRCINFO, () => `AllocateSocketContext: #${socketContext.Id}`);
    return socketContext;
  } catch (err) {
    DoTraceMessage(TRCERROR, `AllocateSocketContext: FAIL ${String(err)}`);
    WskSampleFreeSocketContext(socketContext);
    return null;
  }
}

// Cleanup and free a socket context
function WskSampleFreeSocketContext(SocketContext: WSKSAMPLE_SOCKET_CONTEXT): void {
  // Socket context is freed only after all the WSK calls on the socket are completed and all
  // enqueued operations for the socket are dequeued. So, we can safely free the Irp, Mdl, and
  // data buffer pointed by the socket operation contexts.
  for (const op of SocketContext.OpContext) {
    if (op.Irp !== null) { IoFreeIrp(op.Irp); op.Irp = null; }
    if (op.DataMdl !== null) { IoFreeMdl(op.DataMdl); op.DataMdl = null; }
    op.DataBuffer = null;
  }
  WskSampleConnectionContexts.delete(SocketContext);
  DoTraceMessage(TRCINFO, () => `FreeSocketContext: #${SocketContext.Id}`);
}

// Enqueue an operation on a socket
function WskSampleEnqueueOp(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT, OpHandler: PWSKSAMPLE_OP_HANDLER_FN): void {
  const workQueue = SocketOpContext.SocketContext.WorkQueue;
  SocketOpContext.OpHandler = OpHandler;
  if (workQueue.Head.push(SocketOpContext) === 1) {
    DoTraceMessage(TRCINFO, () => `EnqueueOp: #${SocketOpContext.SocketContext.Id} ${OpHandler.name} SetEvent`);
    // Work queue was empty. So, signal the work queue event in case the worker is waiting on
    // the event for more operations.
    KeSetEvent(workQueue.Event, 0, false);
  } else {
    DoTraceMessage(TRCINFO, () => `EnqueueOp: #${SocketOpContext.SocketContext.Id} ${OpHandler.name}`);
  }
}

// Worker which drains and processes a given work queue (a system thread in the C)
async function WskSampleWorkerThread(workQueue: WSKSAMPLE_WORK_QUEUE): Promise<void> {
  for (;;) {
    // Flush all the queued operations into a local list (already in FIFO order)
    const listEntry = workQueue.Head.splice(0);

    if (listEntry.length === 0) {
      // There's no work to do. If we are allowed to stop, then stop.
      if (workQueue.Stop) {
        DoTraceMessage(TRCINFO, 'WorkerThread: exit');
        break;
      }
      DoTraceMessage(TRCINFO, 'WorkerThread: wait');
      // Otherwise, wait for more operations to be enqueued.
      await KeWaitForSingleObject(workQueue.Event, Executive, KernelMode, false, null);
      continue;
    }

    DoTraceMessage(TRCINFO, () => `WorkerThread: process ${listEntry.length}`);

    // Now process the list of operations one by one
    for (const socketOpContext of listEntry) {
      const opHandler = socketOpContext.OpHandler!;
      try {
        const pending = opHandler(socketOpContext);
        if (pending) await pending;
      } catch (err) {
        // A bugcheck in the kernel: record it, say it, and keep the worker alive.
        WskSampleErrors.push(err);
        DoTraceMessage(TRCERROR, `WorkerThread: ${opHandler.name} threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Listening socket

// Operation handler for creating and setting up a listening socket
async function WskSampleOpStartListen(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): Promise<void> {
  const wskProviderNpi = WSK_PROVIDER_NPI();

  // This operation is made up of multiple WSK calls, and no other operations are processed
  // until this compound operation is finished (the worker awaits it).

  // Capture the WSK Provider NPI
  const status = await WskCaptureProviderNPI(WskSampleRegistration, WSK_INFINITE_WAIT, wskProviderNpi);

  if (NT_SUCCESS(status)) {
    // Create a listening socket
    await WskSampleSetupListeningSocket(wskProviderNpi, SocketOpContext);

    // Release the WSK provider NPI since we won't use it anymore
    WskReleaseProviderNPI(WskSampleRegistration);
  } else {
    // WskCaptureProviderNPI fails if WskDeregister is called from the unload routine before
    // the WSK subsystem becomes ready.
    WskSampleListenStatus = status;
    DoTraceMessage(TRCERROR, `OpStartListen: WskCaptureProviderNPI failed ${ntStatusName(status)}`);
  }

  // Addition: report the first outcome to echosrvListening().
  WskSampleListenDone?.({ Status: WskSampleListenStatus, Port: ntohs(IPv6ListeningAddress.sin6_port) });
  WskSampleListenDone = null;
}

// Create and prepare a listening socket for accepting incoming connections
async function WskSampleSetupListeningSocket(WskProviderNpi: WSK_PROVIDER_NPI, SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): Promise<void> {
  let status: NTSTATUS;
  const compEvent = new KEVENT();
  let listeningSocket: PWSK_SOCKET | null = null;
  let dispatch: WSK_PROVIDER_LISTEN_DISPATCH | null = null;
  const socketContext = SocketOpContext.SocketContext;
  const irp = SocketOpContext.Irp!;

  KeInitializeEvent(compEvent, SynchronizationEvent, false);

  failexit: {
    if (socketContext.Socket !== null) {
      // There's already a socket: WskAcceptEvent indicated a NULL AcceptSocket, i.e. the
      // listening socket is no longer functional. Close it and try to create a new one.
      if (socketContext.StopListening) {
        // Listening socket is already being closed because the driver is being unloaded.
        return;
      }

      IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
      IoSetCompletionRoutine(irp, WskSampleSyncIrpCompletionRoutine, compEvent, true, true, true);
      (socketContext.Socket.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH).Basic.WskCloseSocket(socketContext.Socket, irp);
      await KeWaitForSingleObject(compEvent, Executive, KernelMode, false, null);
      if (!NT_SUCCESS(irp.IoStatus.Status)) DoTraceMessage(TRCERROR, `SetupListeningSocket: WskCloseSocket ${ntStatusName(irp.IoStatus.Status)}`);
      socketContext.Socket = null;

      IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
    } else {
      // First, configure the WSK client such that WskAcceptEvent callback will be
      // automatically enabled on the listening socket upon creation.
      const callbackControl: WSK_EVENT_CALLBACK_CONTROL = { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_ACCEPT };
      status = WskProviderNpi.Dispatch!.WskControlClient(
        WskProviderNpi.Client,
        WSK_SET_STATIC_EVENT_CALLBACKS,
        16, // sizeof(callbackControl)
        callbackControl,
        0,
        null,
        null,
        null,
      );
      if (!NT_SUCCESS(status)) {
        WskSampleListenStatus = status;
        DoTraceMessage(TRCERROR, `SetupListeningSocket: WSK_SET_STATIC_EVENT_CALLBACKS FAIL ${ntStatusName(status)}`);
        break failexit;
      }
    }

    // Create a listening socket over AF_INET6 address family. Put the socket into dual-family
    // mode by setting IPV6_V6ONLY option to FALSE so that AF_INET traffic is also handled.

    IoSetCompletionRoutine(irp, WskSampleSyncIrpCompletionRoutine, compEvent, true, true, true);

    // We do not need to check the return status since the actual completion status will be
    // captured from the IRP after the IRP is completed.
    WskProviderNpi.Dispatch!.WskSocket(
      WskProviderNpi.Client,
      AF_INET6,
      SOCK_STREAM,
      IPPROTO_TCP,
      WSK_FLAG_LISTEN_SOCKET,
      socketContext,
      WskSampleClientListenDispatch,
      null, // Process
      null, // Thread
      null, // SecurityDescriptor
      irp,
    );

    await KeWaitForSingleObject(compEvent, Executive, KernelMode, false, null);

    if (!NT_SUCCESS(irp.IoStatus.Status)) {
      WskSampleListenStatus = irp.IoStatus.Status;
      DoTraceMessage(TRCERROR, `SetupListeningSocket: WskSocket FAIL ${ntStatusName(irp.IoStatus.Status)}`);
      break failexit;
    }

    listeningSocket = irp.IoStatus.Information as PWSK_SOCKET;
    dispatch = listeningSocket.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;

    // Set IPV6_V6ONLY to FALSE before the bind operation
    const optionValue: Holder<number> = { value: 0 };

    IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(irp, WskSampleSyncIrpCompletionRoutine, compEvent, true, true, true);

    dispatch.Basic.WskControlSocket(
      listeningSocket,
      WskSetOption,
      IPV6_V6ONLY,
      IPPROTO_IPV6,
      4, // sizeof(optionValue)
      optionValue,
      0,
      null,
      null,
      irp,
    );

    await KeWaitForSingleObject(compEvent, Executive, KernelMode, false, null);

    if (!NT_SUCCESS(irp.IoStatus.Status)) {
      WskSampleListenStatus = irp.IoStatus.Status;
      DoTraceMessage(TRCERROR, `SetupListeningSocket: IPV6_V6ONLY FAIL ${ntStatusName(irp.IoStatus.Status)}`);
      break failexit;
    }

    // Bind the socket to the wildcard address. Once bind is completed, the WSK provider makes
    // WskAcceptEvent callbacks as connections arrive.
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(irp, WskSampleSyncIrpCompletionRoutine, compEvent, true, true, true);

    dispatch.WskBind(listeningSocket, IPv6ListeningAddress as SOCKADDR, 0, irp);

    await KeWaitForSingleObject(compEvent, Executive, KernelMode, false, null);

    if (!NT_SUCCESS(irp.IoStatus.Status)) {
      WskSampleListenStatus = irp.IoStatus.Status;
      DoTraceMessage(TRCERROR, `SetupListeningSocket: WskBind FAIL ${ntStatusName(irp.IoStatus.Status)}`);
      break failexit;
    }

    // Store the WSK socket in the socket context only if everything has succeeded. Otherwise,
    // the listening WSK socket, if one was created successfully, is closed below.
    socketContext.Socket = listeningSocket;
    WskSampleListenStatus = STATUS_SUCCESS;

    DoTraceMessage(TRCMILESTONE, `listening on [::]:${ntohs(IPv6ListeningAddress.sin6_port)} (dual-stack: IPv4 and IPv6)`);
    return;
  }

  // failexit:
  if (listeningSocket && dispatch) {
    IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(irp, WskSampleSyncIrpCompletionRoutine, compEvent, true, true, true);
    dispatch.Basic.WskCloseSocket(listeningSocket, irp);
    await KeWaitForSingleObject(compEvent, Executive, KernelMode, false, null);
  }
}

// IRP completion routine used for synchronously waiting for completion
function WskSampleSyncIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, _Irp: IRP, Context: KEVENT): NTSTATUS {
  const compEvent = Context;
  KeSetEvent(compEvent, 2, false);
  return STATUS_MORE_PROCESSING_REQUIRED;
}

// Operation handler for stopping listening
function WskSampleOpStopListen(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  DoTraceMessage(TRCINFO, () => `OpStopListen: #${socketContext.Id}`);

  socketContext.StopListening = true;

  if (socketContext.Socket === null) {
    // Listening socket was NOT created due to some failure.
    // All we need to do is to free up the socket context.
    WskSampleEnqueueOp(SocketOpContext, WskSampleOpFree);
  } else {
    // Enqueue an operation to close the listening socket
    WskSampleEnqueueOp(SocketOpContext, WskSampleOpClose);
  }
}

// Listening socket callback which is invoked whenever a new connection arrives.
function WskSampleAcceptEvent(
  SocketContext: PVOID,
  _Flags: number,
  _LocalAddress: SOCKADDR,
  _RemoteAddress: SOCKADDR,
  AcceptSocket: PWSK_SOCKET | null,
  AcceptSocketContext: Holder<PVOID>,
  AcceptSocketDispatch: Holder<WSK_CLIENT_CONNECTION_DISPATCH | null>,
): NTSTATUS {
  const listeningSocketContext = SocketContext as WSKSAMPLE_SOCKET_CONTEXT;

  if (AcceptSocket === null) {
    // The listening socket is no longer functional. Close it and create a new one: the
    // callback is invoked with a NULL AcceptSocket only *once*, so the operation context that
    // was used for the first OpStartListen can be used again.
    WskSampleEnqueueOp(listeningSocketContext.OpContext[0]!, WskSampleOpStartListen);
    return STATUS_REQUEST_NOT_ACCEPTED;
  }

  // Addition: while force-closing on unload, refuse new connections.
  if (WskSampleForceClosing) return STATUS_REQUEST_NOT_ACCEPTED;

  // Allocate socket context for the newly accepted socket.
  const socketContext = WskSampleAllocateSocketContext(WskSampleWorkQueue, WSKSAMPLE_DATA_BUFFER_LENGTH);
  if (socketContext === null) return STATUS_REQUEST_NOT_ACCEPTED;

  socketContext.Socket = AcceptSocket;
  WskSampleConnectionContexts.add(socketContext);
  WskSampleAccepted++;

  DoTraceMessage(TRCINFO, () => `AcceptEvent: #${socketContext.Id}`);

  // Enqueue receive operations on the accepted socket. Whenever a receive completes with data,
  // the data is echoed back via a send; whenever a send completes, a new receive is issued.
  // This continues until the connection is closed by the peer.
  for (let i = 0; i < WSKSAMPLE_OP_COUNT; i++) {
    WskSampleEnqueueOp(socketContext.OpContext[i]!, WskSampleOpReceive);
  }

  // Since we will not use any callbacks on the accepted socket, we specify no socket context
  // or callback dispatch table for the accepted socket.
  AcceptSocketContext.value = null;
  AcceptSocketDispatch.value = null;

  return STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// Connection sockets

// Operation handler for issuing a receive request on a connected socket
function WskSampleOpReceive(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  if (socketContext.Closing || socketContext.Disconnecting) {
    // Do not call WskReceive if socket is being disconnected or closed.
    // The operation context will not be used any more.
    DoTraceMessage(TRCINFO, () => `OpReceive: #${socketContext.Id} SKIP`);
  } else {
    const dispatch = socketContext.Socket!.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const wskbuf: WSK_BUF = { Offset: 0, Length: SocketOpContext.BufferLength, Mdl: SocketOpContext.DataMdl };

    IoReuseIrp(SocketOpContext.Irp!, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(SocketOpContext.Irp!, WskSampleReceiveIrpCompletionRoutine, SocketOpContext, true, true, true);

    DoTraceMessage(TRCINFO, () => `OpReceive: #${socketContext.Id} ${wskbuf.Length}`);

    // No need to check the return status here. The IRP completion routine will take action
    // based on the completion status.
    dispatch.WskReceive(socketContext.Socket!, wskbuf, 0, SocketOpContext.Irp!);
  }
}

// IRP completion routine for WskReceive requests
function WskSampleReceiveIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, Irp: IRP, Context: WSKSAMPLE_SOCKET_OP_CONTEXT): NTSTATUS {
  const socketOpContext = Context;
  const socketContext = socketOpContext.SocketContext;

  DoTraceMessage(TRCINFO, () => `ReceiveIrpCompletionRoutine: #${socketContext.Id} ${ntStatusName(Irp.IoStatus.Status)} ${String(Irp.IoStatus.Information)}`);

  if (!NT_SUCCESS(Irp.IoStatus.Status)) {
    // Receive failed. Enqueue an operation to close the socket
    WskSampleEnqueueOp(socketOpContext, WskSampleOpClose);
  } else if (Irp.IoStatus.Information === 0) {
    // Successful receive completion with 0 bytes means the peer has gracefully disconnected
    // its half of the connection. So, we enqueue an operation to disconnect our half.
    WskSampleEnqueueOp(socketOpContext, WskSampleOpDisconnect);
  } else {
    // Receive has completed with some data. Enqueue an operation to send the data back; the
    // data buffer is attached to the operation context, we just remember the length.
    socketOpContext.DataLength = Irp.IoStatus.Information as number;
    WskSampleEnqueueOp(socketOpContext, WskSampleOpSend);
  }

  return STATUS_MORE_PROCESSING_REQUIRED;
}

// Operation handler for issuing a send request on a connected socket
function WskSampleOpSend(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  if (socketContext.Closing || socketContext.Disconnecting) {
    // Do not call WskSend if socket is being disconnected or closed.
    // The operation context will not be used any more.
    DoTraceMessage(TRCINFO, () => `OpSend: #${socketContext.Id} SKIP`);
  } else {
    const dispatch = socketContext.Socket!.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const wskbuf: WSK_BUF = { Offset: 0, Length: SocketOpContext.DataLength, Mdl: SocketOpContext.DataMdl };

    IoReuseIrp(SocketOpContext.Irp!, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(SocketOpContext.Irp!, WskSampleSendIrpCompletionRoutine, SocketOpContext, true, true, true);

    DoTraceMessage(TRCINFO, () => `OpSend: #${socketContext.Id} ${wskbuf.Length}`);

    dispatch.WskSend(socketContext.Socket!, wskbuf, 0, SocketOpContext.Irp!);
  }
}

// IRP completion routine for WskSend requests
function WskSampleSendIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, Irp: IRP, Context: WSKSAMPLE_SOCKET_OP_CONTEXT): NTSTATUS {
  const socketOpContext = Context;
  const socketContext = socketOpContext.SocketContext;

  DoTraceMessage(TRCINFO, () => `SendIrpCompletionRoutine: #${socketContext.Id} ${ntStatusName(Irp.IoStatus.Status)} ${String(Irp.IoStatus.Information)}`);

  if (!NT_SUCCESS(Irp.IoStatus.Status)) {
    // Send failed. Enqueue an operation to close the socket.
    WskSampleEnqueueOp(socketOpContext, WskSampleOpClose);
  } else {
    // Send succeeded. Enqueue an operation to receive more data.
    WskSampleEnqueueOp(socketOpContext, WskSampleOpReceive);
  }

  return STATUS_MORE_PROCESSING_REQUIRED;
}

// Operation handler for issuing a disconnect request on a connected socket
function WskSampleOpDisconnect(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  if (socketContext.Closing || socketContext.Disconnecting) {
    // Do not call WskDisconnect if socket is already being disconnected or closed. A disconnect
    // operation may get enqueued multiple times as a result of multiple outstanding receive
    // requests getting completed with success and 0 bytes.
    DoTraceMessage(TRCINFO, () => `OpDisconnect: #${socketContext.Id} SKIP`);
  } else {
    const dispatch = socketContext.Socket!.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;

    socketContext.Disconnecting = true;

    IoReuseIrp(SocketOpContext.Irp!, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(SocketOpContext.Irp!, WskSampleDisconnectIrpCompletionRoutine, SocketOpContext, true, true, true);

    DoTraceMessage(TRCINFO, () => `OpDisconnect: #${socketContext.Id}`);

    dispatch.WskDisconnect(socketContext.Socket!, null, 0, SocketOpContext.Irp!);
  }
}

// IRP completion routine for WskDisconnect requests
function WskSampleDisconnectIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, Irp: IRP, Context: WSKSAMPLE_SOCKET_OP_CONTEXT): NTSTATUS {
  const socketOpContext = Context;
  const socketContext = socketOpContext.SocketContext;

  DoTraceMessage(TRCINFO, () => `DisconnectIrpCompletionRoutine: #${socketContext.Id} ${ntStatusName(Irp.IoStatus.Status)}`);

  // Disconnect completed. Enqueue an operation to close the socket.
  WskSampleEnqueueOp(socketOpContext, WskSampleOpClose);

  return STATUS_MORE_PROCESSING_REQUIRED;
}

// Operation handler for closing a socket
function WskSampleOpClose(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  if (socketContext.Closing) {
    // Do not call WskCloseSocket if socket is already being closed. A close operation may get
    // enqueued multiple times as a result of multiple outstanding send/receive/disconnect
    // operations getting completed with failure.
    DoTraceMessage(TRCINFO, () => `OpClose: #${socketContext.Id} SKIP`);
  } else {
    socketContext.Closing = true;

    // C: (PWSK_PROVIDER_BASIC_DISPATCH)Socket->Dispatch — works on every category's table.
    const dispatch = socketContext.Socket!.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;

    IoReuseIrp(SocketOpContext.Irp!, STATUS_UNSUCCESSFUL);
    IoSetCompletionRoutine(SocketOpContext.Irp!, WskSampleCloseIrpCompletionRoutine, SocketOpContext, true, true, true);

    DoTraceMessage(TRCINFO, () => `OpClose: #${socketContext.Id}`);

    dispatch.WskCloseSocket(socketContext.Socket!, SocketOpContext.Irp!);
  }
}

// IRP completion routine for WskCloseSocket requests
function WskSampleCloseIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, Irp: IRP, Context: WSKSAMPLE_SOCKET_OP_CONTEXT): NTSTATUS {
  const socketOpContext = Context;
  const socketContext = socketOpContext.SocketContext;

  // WskCloseSocket can never fail.
  if (!NT_SUCCESS(Irp.IoStatus.Status)) {
    WskSampleErrors.push(new Error(`WskCloseSocket completed with ${ntStatusName(Irp.IoStatus.Status)}`));
    DoTraceMessage(TRCERROR, `CloseIrpCompletionRoutine: #${socketContext.Id} ASSERT failed: ${ntStatusName(Irp.IoStatus.Status)}`);
  }

  DoTraceMessage(TRCINFO, () => `CloseIrpCompletionRoutine: #${socketContext.Id} ${ntStatusName(Irp.IoStatus.Status)}`);

  // Enqueue an operation to free the socket context. The completion of WskCloseSocket
  // guarantees that there are no outstanding requests or callbacks on the socket, but there may
  // still be queued operations not yet issued over the socket, so "free" goes behind them
  // (they are skipped since the socket context is marked as closing).
  WskSampleEnqueueOp(socketOpContext, WskSampleOpFree);

  return STATUS_MORE_PROCESSING_REQUIRED;
}

// Operation handler for freeing the context block for a closed socket
function WskSampleOpFree(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;

  DoTraceMessage(TRCINFO, () => `OpFree: #${socketContext.Id}`);

  if (!(socketContext.Closing || socketContext.StopListening)) {
    throw new Error(`OpFree: socket context #${socketContext.Id} is neither closing nor stopping`);
  }
  WskSampleFreeSocketContext(socketContext);
}

// ---------------------------------------------------------------------------------------------
// Addition: abortive close of open connections on unload (echosrvStop({ forceClose: true }))

function WskSampleForceCloseConnections(): void {
  if (WskSampleForceClosing) return;
  WskSampleForceClosing = true;
  DoTraceMessage(TRCMILESTONE, `UNLOAD: closing ${WskSampleConnectionContexts.size} open connection(s) abortively`);
  for (const socketContext of WskSampleConnectionContexts) {
    // Both operation contexts may be in use (an IRP outstanding or queued), so the abort gets an
    // operation context and an IRP of its own; its completion routine frees the IRP.
    const abortOp: WSKSAMPLE_SOCKET_OP_CONTEXT = {
      OpHandler: null, SocketContext: socketContext, Irp: IoAllocateIrp(1, false), DataBuffer: null, DataMdl: null,
      BufferLength: 0, DataLength: 0,
    };
    WskSampleEnqueueOp(abortOp, WskSampleOpAbort);
  }
}

// Operation handler for an abortive disconnect. The outstanding receive/send/disconnect IRPs then
// complete with an error (or a receive with 0 bytes) and the sample's own path closes the socket.
function WskSampleOpAbort(SocketOpContext: WSKSAMPLE_SOCKET_OP_CONTEXT): void {
  const socketContext = SocketOpContext.SocketContext;
  const irp = SocketOpContext.Irp!;

  if (socketContext.Closing || !WskSampleConnectionContexts.has(socketContext)) {
    // Already being closed (or closed and freed): nothing to abort.
    DoTraceMessage(TRCINFO, () => `OpAbort: #${socketContext.Id} SKIP`);
    IoFreeIrp(irp);
    SocketOpContext.Irp = null;
    return;
  }

  const dispatch = socketContext.Socket!.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
  IoSetCompletionRoutine(irp, WskSampleAbortIrpCompletionRoutine, SocketOpContext, true, true, true);
  DoTraceMessage(TRCINFO, () => `OpAbort: #${socketContext.Id}`);
  const status = dispatch.WskDisconnect(socketContext.Socket!, null, WSK_FLAG_ABORTIVE, irp);
  if (status !== STATUS_PENDING && !NT_SUCCESS(status)) {
    DoTraceMessage(TRCINFO, () => `OpAbort: #${socketContext.Id} ${ntStatusName(status)}`);
  }
}

// IRP completion routine for the abortive WskDisconnect
function WskSampleAbortIrpCompletionRoutine(_Reserved: PDEVICE_OBJECT, Irp: IRP, Context: WSKSAMPLE_SOCKET_OP_CONTEXT): NTSTATUS {
  DoTraceMessage(TRCINFO, () => `AbortIrpCompletionRoutine: #${Context.SocketContext.Id} ${ntStatusName(Irp.IoStatus.Status)}`);
  Context.Irp = null;
  IoFreeIrp(Irp);
  return STATUS_MORE_PROCESSING_REQUIRED;
}

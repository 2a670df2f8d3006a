// The provider-side socket object behind every PWSK_SOCKET (wsk.h WSK_SOCKET). One class holds
// the state of all five categories; the category files (listen, connection, datagram, stream)
// implement the dispatch functions over it. Event callbacks go through invokeEvent so that close
// and event-disable can wait for callbacks in progress (R26, R38) and nothing starts after close.
import type { IRP } from '../irp/irp.ts';
import { STATUS_CANCELLED, STATUS_FILE_FORCED_CLOSED, STATUS_INVALID_HANDLE, type NTSTATUS } from '../ntstatus.ts';
import { AF_INET, IPPROTO_RAW, SOCK_RAW, type Endpoint } from '../sockaddr.ts';
import { SEND_HOP_LIMIT, SEND_TCLASS, SEND_TOS, SEND_TTL, type TransportConnection, type TransportDatagram, type TransportListener } from '../provider.ts';
import { completeIrp, rethrowClientError } from './completion.ts';
import type { Binding } from './address-sharing.ts';
import type { WskClientObject } from './client.ts';
import { RetainedElements } from './retained.ts';
import { DatagramPool, DatagramQueue } from './datagram-pool.ts';
import type { ControlPool } from './control-pool.ts';
import type {
  EPROCESS, PVOID, SECURITY_DESCRIPTOR, WSK_CLIENT_CONNECTION_DISPATCH, WSK_DATA_INDICATION,
  WSK_INSPECT_ID, WSK_SOCKET,
} from './types.ts';

export type Category = 'basic' | 'listen' | 'connection' | 'datagram' | 'stream';
export type SocketState = 'open' | 'forced' | 'closing' | 'closed';

/** A pending IRP with its cancel action; `settle` completes it exactly once. */
export interface PendingOp {
  irp: IRP;
  done: boolean;
  /** Its neighbours in the socket's list of pending ops (trackPending), null when not in it. */
  prevPending: PendingOp | null;
  nextPending: PendingOp | null;
}

export interface ReceiveRequest extends PendingOp {
  buffer: import('../mdl/mdl.ts').WSK_BUF;
  flags: number;
  filled: number;
  socket: WskSocketObject;
}

export interface SendRequest extends PendingOp { length: number; socket: WskSocketObject }

export interface AcceptRequest extends PendingOp {
  context: PVOID;
  dispatch: WSK_CLIENT_CONNECTION_DISPATCH | null;
  local: import('../sockaddr.ts').SOCKADDR | null;
  remote: import('../sockaddr.ts').SOCKADDR | null;
}

export interface PendedInspection {
  connection: TransportConnection;
  id: WSK_INSPECT_ID;
  relay: import('./connection.ts').ConnectionRelay;
}

export interface SocketOptions {
  reuseAddress: boolean;
  exclusiveAddressUse: boolean;
  conditionalAccept: boolean;
  keepAlive: boolean;
  receiveBufferSize: number;
  /** SO_RCVBUF was set (not the default): a connection is given it as its receive buffer. */
  receiveBufferSet: boolean;
  /** TCP_CONGESTION_ALGORITHM set on the socket, or null for the provider's default. */
  congestionAlgorithm: string | null;
  broadcast: boolean;
  v6Only: boolean;
  noDelay: boolean;
  keepIdle: number;
  keepInterval: number;
  keepCount: number;
  fastOpen: boolean;
  securityDescriptor: SECURITY_DESCRIPTOR | null;
  /** Receive control info asked for (IP_PKTINFO, IP_RECVTOS, ...): RC_* bits of control-info.ts. */
  receiveControl: number;
  /**
   * Datagram send options (IP_TTL, IP_TOS, IP_DONTFRAGMENT, IP_UNICAST_IF, SO_SNDBUF, IP_MULTICAST_*,
   * IPV6_UNICAST_HOPS, IPV6_TCLASS, IPV6_DONTFRAG, IP_HDRINCL) by the provider's SEND_* number; the ones set
   * are given to the transport when it exists (bind) and at once afterwards.
   */
  sendOptions: number[];
  /** Bit (1 << SEND_*) for each send option set on this socket. */
  sendOptionsSet: number;
}

export const DEFAULT_RECEIVE_BUFFER = 256 * 1024;
export const DEFAULT_SEND_BUFFER = 256 * 1024;
/** The TTL (and IPv6 hop limit) both providers send with unless IP_TTL/IPV6_UNICAST_HOPS say otherwise (Linux's default, ip(7), ipv6(7)). */
export const DEFAULT_TTL = 64;

export class WskSocketObject implements WSK_SOCKET {
  readonly Dispatch: unknown;
  state: SocketState = 'open';
  /** Events enabled (SO_WSK_EVENT_CALLBACK or static) and those that can never be disabled. */
  enabledEvents = 0;
  staticEvents = 0;
  /** Connection events enabled on a listening socket, for sockets accepted via WskAcceptEvent (R29). */
  acceptedConnectionEvents = 0;
  callbackDepth = 0;
  readonly afterCallbacks: Array<() => void> = [];
  /** Pending ops, oldest first: a list through the ops themselves, so that tracking one allocates nothing. */
  pendingHead: PendingOp | null = null;
  pendingTail: PendingOp | null = null;
  local: Endpoint | null = null;
  binding: Binding | null = null;
  bindInProgress = false;
  readonly options: SocketOptions;

  // listen
  listener: TransportListener | null = null;
  readonly acceptRequests: AcceptRequest[] = [];
  readonly pendedInspections = new Map<string, PendedInspection>();
  inspectSerial = 0;
  // stream: which flow a stream socket committed to (R19)
  committed: 'listen' | 'connect' | null = null;

  // connection
  connection: TransportConnection | null = null;
  remote: Endpoint | null = null;
  connecting = false;
  readonly receiveQueue: Uint8Array[] = [];
  /** The transport's handle for each receiveQueue chunk (-1: none), given back once consumed. */
  readonly receiveHandles: number[] = [];
  receiveOffset = 0;
  receiveBytes = 0;
  readonly receiveRequests: ReceiveRequest[] = [];
  /** After a partial accept or STATUS_DATA_NOT_ACCEPTED, until a WskReceive completes (R31). */
  indicationsPaused = false;
  indicationScheduled = false;
  /** A WskReceiveEvent is running: its bytes are still in the queue, so nothing else may take them. */
  indicating = false;
  /** Data indication elements the application holds, each with the transport handle of its bytes (-1: none). */
  readonly retained = new RetainedElements<WSK_DATA_INDICATION, number>();
  readonly sends = new Set<SendRequest>();
  peerEnded = false;
  disconnectIndicated = false;
  localShutdown = false;
  disconnectPending: PendingOp | null = null;
  abortStatus: NTSTATUS | null = null;
  silent = false;
  transportPaused = false;
  inspectId: WSK_INSPECT_ID | null = null;

  // datagram
  datagram: TransportDatagram | null = null;
  /** The transport after close, kept so that retained indications can still be released (R33). */
  closedDatagram: TransportDatagram | null = null;
  /** Datagrams received and not yet taken by a WskReceiveFrom or an indication, oldest first. */
  readonly datagramQueue = new DatagramQueue();
  datagramQueueBytes = 0;
  readonly receiveFromRequests: import('./datagram.ts').ReceiveFromRequest[] = [];
  /** WskReceiveFrom requests done with, for the next call. */
  readonly freeReceiveFroms: import('./datagram.ts').ReceiveFromRequest[] = [];
  /** Received datagrams' records, with the indication elements the application holds (datagram-pool.ts). */
  readonly datagramPool: DatagramPool = new DatagramPool(this);
  /** Where received datagrams' control info lives (control-pool.ts); made when the first one arrives. */
  controlPool: ControlPool | null = null;
  fixedRemote: Endpoint | null = null;
  sendToAddress: Endpoint | null = null;
  /** WskSendTo's RemoteAddress read into this (no endpoint per send). */
  readonly sendDestination: Endpoint = { family: AF_INET, address: new Uint8Array(4), port: 0, flowinfo: 0, scopeId: 0 };
  /** A datagram's bytes as the transport's pieces when one MDL holds them (the transport reads it during sendTo only). */
  readonly onePiece: Uint8Array[] = [new Uint8Array(0)];
  /** Datagram sends done with, for the next WskSendTo/WskSendMessages. */
  readonly freeSends: import('./datagram.ts').DatagramSend[] = [];
  droppedDatagrams = 0;

  constructor(
    readonly client: WskClientObject,
    readonly category: Category,
    readonly family: number,
    readonly socketType: number,
    readonly protocol: number,
    public SocketContext: PVOID,
    public clientDispatch: unknown,
    readonly owner: EPROCESS | null,
    dispatch: unknown,
  ) {
    this.Dispatch = dispatch;
    this.options = {
      reuseAddress: false, exclusiveAddressUse: false, conditionalAccept: false, keepAlive: false,
      receiveBufferSize: DEFAULT_RECEIVE_BUFFER, receiveBufferSet: false, congestionAlgorithm: null, broadcast: false, v6Only: family === 23 ? true : false,
      noDelay: false, keepIdle: 7200, keepInterval: 1, keepCount: 10, fastOpen: false, securityDescriptor: null, receiveControl: 0,
      // By SEND_* number: -, TTL, TOS, DF, unicast interface, send buffer, multicast TTL, multicast loop, multicast interface,
      // hop limit, traffic class, IPv6 don't-fragment, header included (IPPROTO_RAW raw sockets always include it, raw(7)),
      // IPv6 multicast hops, multicast loop and multicast interface.
      sendOptions: [0, DEFAULT_TTL, 0, 0, 0, DEFAULT_SEND_BUFFER, 1, 1, 0, DEFAULT_TTL, 0, 0, socketType === SOCK_RAW && protocol === IPPROTO_RAW ? 1 : 0, 1, 1, 0],
      sendOptionsSet: 0,
    };
  }

  get usable(): boolean {
    return this.state === 'open';
  }

  /** Status for a call on a socket that is not usable, or null when it is. */
  unusableStatus(): NTSTATUS | null {
    if (this.state === 'open') return null;
    return this.state === 'forced' ? STATUS_FILE_FORCED_CLOSED : STATUS_INVALID_HANDLE;
  }
}

/** The IP-header options a TCP socket has set (IP_TTL, IP_TOS, IPV6_UNICAST_HOPS, IPV6_TCLASS), for its connect or listen. */
export function ipHeaderOptions(s: WskSocketObject): [number, number][] {
  const out: [number, number][] = [];
  for (const option of [SEND_TTL, SEND_TOS, SEND_HOP_LIMIT, SEND_TCLASS]) {
    if (s.options.sendOptionsSet & (1 << option)) out.push([option, s.options.sendOptions[option]!]);
  }
  return out;
}

/** Resolves a PWSK_SOCKET argument to our object, or null for anything else. */
export function asSocket(Socket: unknown): WskSocketObject | null {
  return Socket instanceof WskSocketObject ? Socket : null;
}

export function isEventEnabled(s: WskSocketObject, flag: number): boolean {
  return (s.enabledEvents & flag) !== 0;
}

/**
 * Runs a client event callback. Nothing runs once close has begun (R38); work queued in
 * afterCallbacks (close and event-disable completions) runs once the outermost callback returns.
 */
export function invokeEvent<T>(s: WskSocketObject, call: () => T, fallback: T): T {
  if (!enterCallback(s)) return fallback;
  try {
    return call();
  } catch (err) {
    rethrowClientError(err);
    return fallback;
  } finally {
    leaveCallback(s);
  }
}

/**
 * invokeEvent in two halves, for a hot path that calls the client without making a closure:
 * `if (enterCallback(s)) try { ... } finally { leaveCallback(s) }`. False: the socket is closing.
 */
export function enterCallback(s: WskSocketObject): boolean {
  if (s.state === 'closing' || s.state === 'closed') return false;
  s.callbackDepth++;
  return true;
}

export function leaveCallback(s: WskSocketObject): void {
  if (--s.callbackDepth === 0 && s.afterCallbacks.length > 0) {
    const work = s.afterCallbacks.splice(0);
    for (const w of work) w();
  }
}

/** Runs `work` now, or after the callback in progress on this socket has returned. */
export function afterCallbacks(s: WskSocketObject, work: () => void): void {
  if (s.callbackDepth === 0) work();
  else s.afterCallbacks.push(work);
}

export function trackPending<T extends PendingOp>(s: WskSocketObject, op: T): T {
  op.prevPending = s.pendingTail;
  op.nextPending = null;
  if (s.pendingTail) s.pendingTail.nextPending = op; else s.pendingHead = op;
  s.pendingTail = op;
  return op;
}

/** Completes a pending op exactly once; false if it was already settled. */
export function settle(s: WskSocketObject, op: PendingOp, status: NTSTATUS, information: import('../irp/irp.ts').ULONG_PTR = 0): boolean {
  if (op.done) return false;
  op.done = true;
  const prev = op.prevPending;
  const next = op.nextPending;
  if (prev) prev.nextPending = next; else if (s.pendingHead === op) s.pendingHead = next;
  if (next) next.prevPending = prev; else if (s.pendingTail === op) s.pendingTail = prev;
  op.prevPending = op.nextPending = null;
  completeIrp(op.irp, status, information);
  return true;
}

export function cancelAllPending(s: WskSocketObject, status: NTSTATUS = STATUS_CANCELLED): void {
  // settle completes later (completeIrp), so nothing joins the list while it is walked.
  for (let op = s.pendingHead; op !== null;) {
    const next = op.nextPending;
    settle(s, op, status, 0);
    op = next;
  }
}


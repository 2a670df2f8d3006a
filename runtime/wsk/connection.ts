// Connection-oriented sockets (R31, R39–R43, R47, R48): send with WSK's
// no-buffering contract, receive by IRP or WskReceiveEvent, graceful and abortive disconnect.
// WskSend's IRP completes once the transport no longer needs the MDL's bytes: for the kernel
// provider that is when the host socket has taken them (R40: "sent").
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_CANCELLED, STATUS_CONNECTION_ABORTED, STATUS_CONNECTION_RESET, STATUS_DATA_NOT_ACCEPTED,
  STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_PENDING,
  STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { copyIntoWskBuf, validateWskBuf, wskBufSegments, IoAllocateMdl, type WSK_BUF } from '../mdl/mdl.ts';
import type { ConnectionSink, TransportConnection } from '../provider.ts';
import { ProviderError, SEND_BUFFER } from '../provider.ts';
import {
  WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_SEND_BACKLOG, WSK_FLAG_ABORTIVE, WSK_FLAG_DRAIN,
  WSK_FLAG_NODELAY, WSK_FLAG_WAITALL,
} from './constants.ts';
import { beginIrp, completeIrp, failIrp, pendIrp, pendIrpWith } from './completion.ts';
import {
  invokeEvent, isEventEnabled, settle, trackPending, type ReceiveRequest, type SendRequest, type WskSocketObject,
} from './socket.ts';
import type { WSK_CLIENT_CONNECTION_DISPATCH, WSK_DATA_INDICATION } from './types.ts';

function connectionDispatch(s: WskSocketObject): WSK_CLIENT_CONNECTION_DISPATCH | null {
  if (s.category === 'stream') {
    return (s.clientDispatch as { Connect?: WSK_CLIENT_CONNECTION_DISPATCH | null } | null)?.Connect ?? null;
  }
  return s.clientDispatch as WSK_CLIENT_CONNECTION_DISPATCH | null;
}

/** Wires an established transport connection to the socket (through `relay` when it was queued). */
export function attachConnection(s: WskSocketObject, connection: TransportConnection, relay: ConnectionRelay | null = null): void {
  s.connection = connection;
  s.remote = connection.remoteEndpoint;
  s.local = connection.localEndpoint;
  if (s.options.keepAlive) connection.setKeepAlive(true, s.options.keepIdle, s.options.keepInterval, s.options.keepCount);
  if (s.options.noDelay) connection.setNoDelay(true);
  if (s.options.receiveBufferSet) connection.setReceiveBufferSize?.(s.options.receiveBufferSize);
  if (s.options.sendOptionsSet & (1 << SEND_BUFFER)) connection.setSendBufferSize?.(s.options.sendOptions[SEND_BUFFER]!);
  if (s.options.congestionAlgorithm !== null) connection.setCongestionControl?.(s.options.congestionAlgorithm);
  const sink: ConnectionSink = {
    onData: (chunk, handle) => onData(s, chunk, handle ?? -1),
    onEnd: () => onEnd(s),
    onAbort: (status) => onAbort(s, status),
    onSendBacklog: (bytes) => indicateSendBacklog(s, bytes),
  };
  if (relay) relay.bind(sink); else connection.attach(sink);
}

/**
 * Holds what a connection delivers while it waits in an accept queue or an inspection, and
 * replays it to the socket that finally takes it: nothing that arrived early is lost.
 */
export class ConnectionRelay implements ConnectionSink {
  private target: ConnectionSink | null = null;
  private readonly held: Uint8Array[] = [];
  private readonly heldHandles: number[] = [];
  private heldBytes = 0;
  private ended = false;
  abortStatus: NTSTATUS | null = null;
  onEarlyAbort: (() => void) | null = null;

  constructor(private readonly connection: TransportConnection) {
    connection.attach(this);
  }

  onData(chunk: Uint8Array, handle = -1): void {
    if (this.target) return this.target.onData(chunk, handle);
    this.held.push(chunk);
    this.heldHandles.push(handle);
    this.heldBytes += chunk.byteLength;
    if (this.heldBytes >= 64 * 1024) this.connection.pauseReceive();
  }

  onEnd(): void {
    if (this.target) return this.target.onEnd();
    this.ended = true;
  }

  onAbort(status: NTSTATUS): void {
    if (this.target) return this.target.onAbort(status);
    this.abortStatus = status;
    this.onEarlyAbort?.();
  }

  onSendBacklog(bytes: number): void {
    this.target?.onSendBacklog?.(bytes);
  }

  bind(target: ConnectionSink): void {
    this.target = target;
    const paused = this.heldBytes >= 64 * 1024;
    const handles = this.heldHandles.splice(0);
    const chunks = this.held.splice(0);
    for (let i = 0; i < chunks.length; i++) target.onData(chunks[i]!, handles[i]!);
    this.heldBytes = 0;
    if (this.ended) target.onEnd();
    if (this.abortStatus !== null) target.onAbort(this.abortStatus);
    else if (paused) this.connection.resumeReceive();
  }
}

export function indicateSendBacklog(s: WskSocketObject, bytes: number): void {
  if (!isEventEnabled(s, WSK_EVENT_SEND_BACKLOG)) return;
  const fn = connectionDispatch(s)?.WskSendBacklogEvent;
  if (fn) invokeEvent(s, () => fn(s.SocketContext, bytes), STATUS_SUCCESS);
}

// ---------- receive path ----------

/** Gives a zero-copy chunk back to the transport (also after the connection is gone). */
function giveBack(s: WskSocketObject, handle: number): void {
  if (handle >= 0) s.connection?.releaseData?.(handle);
}

/** Drops everything buffered, giving the transport its chunks back. */
function dropBuffered(s: WskSocketObject): void {
  for (const h of s.receiveHandles) giveBack(s, h);
  s.receiveQueue.length = 0;
  s.receiveHandles.length = 0;
  s.receiveBytes = 0;
  s.receiveOffset = 0;
}

function onData(s: WskSocketObject, chunk: Uint8Array, handle: number): void {
  if (s.state === 'closing' || s.state === 'closed' || chunk.byteLength === 0 || s.silent) {
    if (handle >= 0) s.connection?.releaseData?.(handle);
    return;
  }
  s.receiveQueue.push(chunk);
  s.receiveHandles.push(handle);
  s.receiveBytes += chunk.byteLength;
  deliver(s);
  applyFlowControl(s);
}

function onEnd(s: WskSocketObject): void {
  s.peerEnded = true;
  deliver(s);
}

function onAbort(s: WskSocketObject, status: NTSTATUS): void {
  if (s.abortStatus !== null) return;
  s.abortStatus = status;
  dropBuffered(s);
  for (const r of s.receiveRequests.splice(0)) settle(s, r, r.filled > 0 ? STATUS_SUCCESS : status, r.filled);
  for (const send of [...s.sends]) { s.sends.delete(send); settle(s, send, status, 0); }
  if (s.disconnectPending) settle(s, s.disconnectPending, status, 0);
  s.disconnectPending = null;
  if (!s.disconnectIndicated) {
    s.disconnectIndicated = true;
    const fn = connectionDispatch(s)?.WskDisconnectEvent;
    if (fn && isEventEnabled(s, WSK_EVENT_DISCONNECT)) invokeEvent(s, () => fn(s.SocketContext, WSK_FLAG_ABORTIVE), STATUS_SUCCESS);
  }
}

function applyFlowControl(s: WskSocketObject): void {
  const c = s.connection;
  if (!c) return;
  const over = s.receiveBytes >= s.options.receiveBufferSize;
  if (over && !s.transportPaused) { s.transportPaused = true; c.pauseReceive(); }
  else if (!over && s.transportPaused) { s.transportPaused = false; c.resumeReceive(); }
}

/**
 * The i-th buffered chunk's bytes now: a zero-copy chunk is read through its handle, because the
 * transport may have copied it out of its ring since it arrived.
 */
function bufferedChunk(s: WskSocketObject, i: number): Uint8Array {
  const h = s.receiveHandles[i]!;
  return h >= 0 && s.connection?.heldBytes ? s.connection.heldBytes(h) : s.receiveQueue[i]!;
}

/**
 * Takes up to `max` buffered bytes into `sink(bytes)`, in order. A chunk taken whole goes back to
 * the transport, or, when `keep` is given, its handle (-1 for none) is appended there instead.
 */
function takeBuffered(s: WskSocketObject, max: number, sink: (bytes: Uint8Array) => void, keep: number[] | null = null): number {
  let taken = 0;
  while (taken < max && s.receiveQueue.length > 0) {
    const head = bufferedChunk(s, 0);
    const available = head.byteLength - s.receiveOffset;
    const n = Math.min(available, max - taken);
    sink(head.subarray(s.receiveOffset, s.receiveOffset + n));
    taken += n;
    if (n === available) {
      s.receiveQueue.shift();
      const h = s.receiveHandles.shift()!;
      if (keep) keep.push(h); else giveBack(s, h);
      s.receiveOffset = 0;
    } else {
      s.receiveOffset += n;
    }
  }
  s.receiveBytes -= taken;
  return taken;
}

/** Moves buffered data to queued receives first (R30), then to WskReceiveEvent (R31). */
export function deliver(s: WskSocketObject): void {
  // A WskReceive posted from inside WskReceiveEvent waits until the indication has been settled.
  if (s.indicating) return;
  while (s.receiveRequests.length > 0) {
    const r = s.receiveRequests[0]!;
    if (r.flags & WSK_FLAG_DRAIN) {
      takeBuffered(s, Infinity, () => {});
      if (!s.peerEnded) break;
    } else if (s.receiveBytes > 0) {
      // Each chunk lands after the previous one: the running offset, not r.filled (updated after).
      let at = r.filled;
      r.filled += takeBuffered(s, r.buffer.Length - r.filled, (b) => { at += copyIntoWskBuf(r.buffer, at, b); });
      if ((r.flags & WSK_FLAG_WAITALL) && r.filled < r.buffer.Length && !s.peerEnded) break;
    } else if (!s.peerEnded) {
      break;
    }
    s.receiveRequests.shift();
    settle(s, r, STATUS_SUCCESS, (r.flags & WSK_FLAG_DRAIN) ? 0 : r.filled);
    // A completed WskReceive resumes indications (R31).
    s.indicationsPaused = false;
  }
  if (s.receiveRequests.length === 0) indicate(s);
  applyFlowControl(s);
  maybeIndicateDisconnect(s);
}

function indicate(s: WskSocketObject): void {
  if (s.indicationsPaused || s.receiveBytes === 0 || !isEventEnabled(s, WSK_EVENT_RECEIVE)) return;
  const fn = connectionDispatch(s)?.WskReceiveEvent;
  if (!fn) return;
  // One indication carries everything buffered, as a chain of views (no copy).
  let head: WSK_DATA_INDICATION | null = null;
  let tail: WSK_DATA_INDICATION | null = null;
  const total = s.receiveBytes;
  let offset = s.receiveOffset;
  const elements = s.retained;
  elements.begin();
  for (let i = 0; i < s.receiveQueue.length; i++) {
    const chunk = bufferedChunk(s, i);
    const view = offset === 0 ? chunk : chunk.subarray(offset);
    offset = 0;
    const node: WSK_DATA_INDICATION = { Next: null, Buffer: { Mdl: IoAllocateMdl(view), Offset: 0, Length: view.byteLength } };
    if (tail) tail.Next = node; else head = node;
    tail = node;
    elements.add(node);
  }
  const accepted = { value: total };
  s.indicating = true;
  let status: NTSTATUS;
  try {
    status = invokeEvent(s, () => fn(s.SocketContext, 0, head, total, accepted), STATUS_DATA_NOT_ACCEPTED);
  } finally {
    s.indicating = false;
  }
  if (s.state === 'closing' || s.state === 'closed') { elements.end(); return; }
  if (status === STATUS_PENDING) {
    // R33: element i's view stays valid until that element is released — its chunk goes back to
    // the transport then, and must not be moved out of the ring before.
    const handles = takenHandles;
    handles.length = 0;
    takeBuffered(s, total, ignoreBytes, handles);
    for (let i = 0; i < handles.length; i++) {
      const h = handles[i]!;
      if (elements.releasedDuring(i)) giveBack(s, h);
      else {
        if (h >= 0) s.connection?.pinData?.(h);
        elements.keep(i, h);
      }
    }
  } else if (status === STATUS_SUCCESS) {
    const n = Math.max(0, Math.min(total, Number(accepted.value)));
    takeBuffered(s, n, ignoreBytes);
    if (n < total) s.indicationsPaused = true;
  } else {
    s.indicationsPaused = true;
  }
  elements.end();
  if (s.receiveRequests.length > 0) scheduleDeliver(s);
}

/** Scratch for indicate(): the handles of the chunks a retained indication took (one indication at a time). */
const takenHandles: number[] = [];
const ignoreBytes = (_bytes: Uint8Array): void => {};

function maybeIndicateDisconnect(s: WskSocketObject): void {
  if (!s.peerEnded || s.disconnectIndicated || s.receiveBytes > 0 || s.abortStatus !== null) return;
  s.disconnectIndicated = true;
  const fn = connectionDispatch(s)?.WskDisconnectEvent;
  if (fn && isEventEnabled(s, WSK_EVENT_DISCONNECT)) invokeEvent(s, () => fn(s.SocketContext, 0), STATUS_SUCCESS);
}

// ---------- dispatch functions ----------

/** Checks shared by send/receive/disconnect; returns an error status or null. */
function connectedStatus(s: WskSocketObject): NTSTATUS | null {
  if (s.category === 'stream' && s.committed === 'listen') return STATUS_INVALID_DEVICE_STATE;
  if (!s.connection) return STATUS_INVALID_DEVICE_STATE;
  return null;
}

// The send and receive paths run per request: no closures are made there (under tsx every
// closure creation also pays for a name-keeping wrapper), state travels in the request.

function sendPreconditions(s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number): NTSTATUS | null {
  if (validateWskBuf(Buffer)) return STATUS_INVALID_PARAMETER;
  if (Flags & ~WSK_FLAG_NODELAY) return STATUS_NOT_SUPPORTED;
  const notConnected = connectedStatus(s);
  if (notConnected !== null) return notConnected;
  if (s.silent || s.localShutdown) return STATUS_INVALID_DEVICE_STATE;
  return s.abortStatus;
}

export function WskSendImpl(s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number, Irp: IRP): NTSTATUS {
  const problem = sendPreconditions(s, Buffer, Flags);
  if (problem !== null) return failIrp(Irp, problem, 'WskSend');
  beginIrp(Irp, 'WskSend');
  const req: SendRequest = trackPending(s, { irp: Irp, done: false, prevPending: null, nextPending: null, length: Buffer!.Length, socket: s });
  s.sends.add(req);
  const status = pendIrpWith(Irp, cancelSend, req);
  if (req.done) return STATUS_PENDING;
  if (req.length === 0) { s.sends.delete(req); settle(s, req, STATUS_SUCCESS, 0); return status; }
  s.connection!.send(wskBufSegments(Buffer!), (Flags & WSK_FLAG_NODELAY) !== 0 || s.options.noDelay, onSendDone, req);
  return status;
}

/** Cancelling a send aborts the connection: part of it may already be on the wire. */
function cancelSend(req: SendRequest): void {
  const s = req.socket;
  s.sends.delete(req);
  abortConnection(s, STATUS_CONNECTION_ABORTED);
  settle(s, req, STATUS_CANCELLED, 0);
}

function onSendDone(result: NTSTATUS, req: SendRequest): void {
  const s = req.socket;
  s.sends.delete(req);
  settle(s, req, result, result === STATUS_SUCCESS ? req.length : 0);
  if (s.sends.size === 0) continueDisconnect(s);
}

function receivePreconditions(s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number): NTSTATUS | null {
  if (validateWskBuf(Buffer)) return STATUS_INVALID_PARAMETER;
  if (Flags & ~(WSK_FLAG_WAITALL | WSK_FLAG_DRAIN)) return STATUS_NOT_SUPPORTED;
  if ((Flags & WSK_FLAG_WAITALL) && (Flags & WSK_FLAG_DRAIN)) return STATUS_INVALID_PARAMETER;
  if ((Flags & WSK_FLAG_DRAIN) && Buffer!.Length !== 0) return STATUS_INVALID_PARAMETER;
  const notConnected = connectedStatus(s);
  if (notConnected !== null) return notConnected;
  if (s.silent) return STATUS_INVALID_DEVICE_STATE;
  return s.abortStatus;
}

export function WskReceiveImpl(s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number, Irp: IRP): NTSTATUS {
  const problem = receivePreconditions(s, Buffer, Flags);
  if (problem !== null) return failIrp(Irp, problem, 'WskReceive');
  beginIrp(Irp, 'WskReceive');
  const req: ReceiveRequest = trackPending(s, { irp: Irp, done: false, prevPending: null, nextPending: null, buffer: Buffer!, flags: Flags, filled: 0, socket: s });
  // A zero-length receive completes at once and resumes indications (R31).
  if (Buffer!.Length === 0 && !(Flags & WSK_FLAG_DRAIN)) {
    settle(s, req, STATUS_SUCCESS, 0);
    s.indicationsPaused = false;
    scheduleDeliver(s);
    return STATUS_PENDING;
  }
  s.receiveRequests.push(req);
  const status = pendIrpWith(Irp, cancelReceive, req);
  if (!req.done) deliver(s);
  return status;
}

function cancelReceive(req: ReceiveRequest): void {
  const s = req.socket;
  const i = s.receiveRequests.indexOf(req);
  if (i >= 0) s.receiveRequests.splice(i, 1);
  // Bytes already placed in the buffer are reported, not lost.
  settle(s, req, req.filled > 0 ? STATUS_SUCCESS : STATUS_CANCELLED, req.filled);
}

/** Re-runs delivery from the event loop, outside the caller's stack (never re-entrant). */
export function scheduleDeliver(s: WskSocketObject): void {
  if (s.indicationScheduled) return;
  s.indicationScheduled = true;
  setImmediate(() => {
    s.indicationScheduled = false;
    if (s.state === 'open' && s.connection) deliver(s);
  });
}

export function WskDisconnectImpl(s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number, Irp: IRP): NTSTATUS {
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskDisconnect');
  if (Flags & ~WSK_FLAG_ABORTIVE) return fail(STATUS_NOT_SUPPORTED);
  if ((Flags & WSK_FLAG_ABORTIVE) && Buffer) return fail(STATUS_INVALID_PARAMETER);
  if (Buffer && validateWskBuf(Buffer)) return fail(STATUS_INVALID_PARAMETER);
  const notConnected = connectedStatus(s);
  if (notConnected !== null) return fail(notConnected);
  if (s.silent) return fail(STATUS_INVALID_DEVICE_STATE);
  if (Flags & WSK_FLAG_ABORTIVE) {
    beginIrp(Irp, 'WskDisconnect');
    abortConnection(s, STATUS_CONNECTION_ABORTED);
    completeIrp(Irp, STATUS_SUCCESS, 0);
    return STATUS_PENDING;
  }
  if (s.abortStatus !== null) return fail(s.abortStatus);
  if (s.localShutdown) return fail(STATUS_INVALID_DEVICE_STATE);
  beginIrp(Irp, 'WskDisconnect');
  s.localShutdown = true;
  const op = trackPending(s, { irp: Irp, done: false, prevPending: null, nextPending: null });
  s.disconnectPending = op;
  const status = pendIrp(Irp, () => { s.disconnectPending = null; settle(s, op, STATUS_CANCELLED, 0); });
  if (Buffer && Buffer.Length > 0) {
    const pieces = wskBufSegments(Buffer);
    s.connection!.send(pieces, true, continueDisconnectAfterSend, s);
  } else continueDisconnect(s);
  return status;
}

function continueDisconnectAfterSend(_status: NTSTATUS, s: WskSocketObject): void {
  continueDisconnect(s);
}

/** A graceful disconnect goes out once every earlier send has been handed over. */
function continueDisconnect(s: WskSocketObject): void {
  const op = s.disconnectPending;
  if (!op || op.done || s.sends.size > 0 || !s.connection) return;
  s.connection.shutdown((result) => {
    if (s.disconnectPending === op) s.disconnectPending = null;
    settle(s, op, result, 0);
  });
}

/** Abortive disconnect: RST, cancel sends, no further send or receive (R42, R43). */
export function abortConnection(s: WskSocketObject, status: NTSTATUS): void {
  if (!s.connection || s.abortStatus !== null) return;
  s.abortStatus = status;
  s.connection.abort();
  for (const send of [...s.sends]) { s.sends.delete(send); settle(s, send, STATUS_CANCELLED, 0); }
  for (const r of s.receiveRequests.splice(0)) settle(s, r, r.filled > 0 ? STATUS_SUCCESS : status, r.filled);
  if (s.disconnectPending) { settle(s, s.disconnectPending, STATUS_CANCELLED, 0); s.disconnectPending = null; }
  dropBuffered(s);
}

/** WskCloseSocket on a connection: abortive unless fully disconnected both ways (R43). */
export function closeConnection(s: WskSocketObject): void {
  const c = s.connection;
  if (!c) return;
  if (s.abortStatus !== null) return;
  if (s.localShutdown && s.peerEnded && !s.disconnectPending && s.sends.size === 0) c.close();
  else abortConnection(s, STATUS_CONNECTION_ABORTED);
}

/** WskRelease: the elements of `DataIndication`, whatever grouping the application chose (retained.ts). */
export function WskReleaseDataImpl(s: WskSocketObject, DataIndication: WSK_DATA_INDICATION | null): NTSTATUS {
  return s.retained.release(DataIndication, giveBack, s);
}

export function connectFailureStatus(err: unknown): NTSTATUS {
  return err instanceof ProviderError ? err.status : STATUS_CONNECTION_RESET;
}

// Listening sockets (R17, R24, R29, R30, R34, R35, R37): connections are
// offered to a queued WskAccept first, then to WskAcceptEvent, else they wait in the accept
// queue. Conditional accept asks WskInspectEvent first. On the kernel provider the host has
// completed the handshake before inspection, so a rejected peer sees a reset, not silence.
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_CANCELLED, STATUS_FILE_FORCED_CLOSED, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
  STATUS_PENDING, STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { endpointToSockaddr, writeSockaddr, type Endpoint, type SOCKADDR } from '../sockaddr.ts';
import type { TransportConnection } from '../provider.ts';
import {
  CONNECTION_EVENTS, WSK_EVENT_ACCEPT, WSK_EVENT_SEND_BACKLOG, WSK_FLAG_CONNECTION_SOCKET,
  WskInspectAccept, WskInspectPend, WskInspectReject,
} from './constants.ts';
import { beginIrp, completeIrp, failIrp, pendIrp } from './completion.ts';
import { attachConnection, ConnectionRelay, indicateSendBacklog } from './connection.ts';
import {
  invokeEvent, ipHeaderOptions, isEventEnabled, settle, trackPending, type AcceptRequest, type WskSocketObject,
} from './socket.ts';
import type {
  Holder, PVOID, WSK_CLIENT_CONNECTION_DISPATCH, WSK_CLIENT_LISTEN_DISPATCH, WSK_INSPECT_ID,
} from './types.ts';

const ACCEPT_QUEUE_LIMIT = 4096;

interface Waiting {
  connection: TransportConnection;
  relay: ConnectionRelay;
  inspectId: WSK_INSPECT_ID | null;
}

function listenDispatch(s: WskSocketObject): WSK_CLIENT_LISTEN_DISPATCH | null {
  if (s.category === 'stream') return (s.clientDispatch as { Listen?: WSK_CLIENT_LISTEN_DISPATCH | null } | null)?.Listen ?? null;
  return s.clientDispatch as WSK_CLIENT_LISTEN_DISPATCH | null;
}

const inspectKey = (id: WSK_INSPECT_ID): string => `${id.Key}:${id.SerialNumber}`;
const waitingQueue = new WeakMap<WskSocketObject, Waiting[]>();

function queueOf(s: WskSocketObject): Waiting[] {
  let q = waitingQueue.get(s);
  if (!q) waitingQueue.set(s, (q = []));
  return q;
}

export function startListening(s: WskSocketObject, local: Endpoint): Promise<Endpoint> {
  return s.client.subsystem.provider.listen(local, { v6Only: s.options.v6Only, backlog: 511, keepAlive: s.options.keepAlive, sendOptions: ipHeaderOptions(s) }, {
    onConnection: (connection) => onConnection(s, connection),
    onError: (status) => onListenerError(s, status),
  }).then((listener) => {
    if (s.state !== 'open') { listener.close(); return listener.localEndpoint; }
    s.listener = listener;
    return listener.localEndpoint;
  });
}

function onListenerError(s: WskSocketObject, _status: NTSTATUS): void {
  if (s.state !== 'open') return;
  // R37: one failure indication, then the socket only answers STATUS_FILE_FORCED_CLOSED.
  const fn = listenDispatch(s)?.WskAcceptEvent;
  if (fn && isEventEnabled(s, WSK_EVENT_ACCEPT)) {
    invokeEvent(s, () => fn(s.SocketContext, 0, endpointToSockaddr(s.local!), endpointToSockaddr(s.local!), null, { value: null }, { value: null }), STATUS_SUCCESS);
  }
  if (s.state === 'open') s.state = 'forced';
  for (const r of s.acceptRequests.splice(0)) settle(s, r, STATUS_FILE_FORCED_CLOSED, 0);
}

function onConnection(s: WskSocketObject, connection: TransportConnection): void {
  if (s.state !== 'open' || (s.category === 'stream' && s.committed !== 'listen')) { connection.abort(); return; }
  const relay = new ConnectionRelay(connection);
  const inspect = listenDispatch(s)?.WskInspectEvent;
  if (!s.options.conditionalAccept || !inspect) {
    offer(s, { connection, relay, inspectId: null });
    return;
  }
  const serial = ++s.inspectSerial;
  const id: WSK_INSPECT_ID = { Key: serial, SerialNumber: serial };
  // The client gets its own copy: identification is by contents (R35).
  const action = invokeEvent(s, () => inspect(s.SocketContext, endpointToSockaddr(connection.localEndpoint), endpointToSockaddr(connection.remoteEndpoint), { ...id }), WskInspectReject);
  if (action === WskInspectAccept) {
    offer(s, { connection, relay, inspectId: id });
  } else if (action === WskInspectPend) {
    s.pendedInspections.set(inspectKey(id), { connection, id, relay });
    relay.onEarlyAbort = () => {
      if (s.pendedInspections.delete(inspectKey(id))) indicateAbort(s, id);
    };
  } else {
    connection.abort();
  }
}

function indicateAbort(s: WskSocketObject, id: WSK_INSPECT_ID): void {
  const fn = listenDispatch(s)?.WskAbortEvent;
  if (fn) invokeEvent(s, () => fn(s.SocketContext, { ...id }), STATUS_SUCCESS);
}

/** Gives a connection to a queued WskAccept, else WskAcceptEvent, else the accept queue (R30). */
function offer(s: WskSocketObject, w: Waiting): void {
  if (w.relay.abortStatus !== null) {
    if (w.inspectId) indicateAbort(s, w.inspectId);
    return;
  }
  const request = s.acceptRequests.shift();
  if (request) {
    const accepted = newAcceptedSocket(s, w, request.context, request.dispatch, 0);
    if (request.local) writeSockaddr(request.local, w.connection.localEndpoint);
    if (request.remote) writeSockaddr(request.remote, w.connection.remoteEndpoint);
    settle(s, request, STATUS_SUCCESS, accepted);
    attachConnection(accepted, w.connection, w.relay);
    return;
  }
  const fn = listenDispatch(s)?.WskAcceptEvent;
  if (fn && isEventEnabled(s, WSK_EVENT_ACCEPT)) {
    const events = s.acceptedConnectionEvents | (s.client.staticEvents & CONNECTION_EVENTS);
    const accepted = newAcceptedSocket(s, w, null, null, events);
    const context: Holder<PVOID> = { value: null };
    const dispatch: Holder<WSK_CLIENT_CONNECTION_DISPATCH | null> = { value: null };
    const status = invokeEvent(s, () => fn(s.SocketContext, 0, endpointToSockaddr(w.connection.localEndpoint),
      endpointToSockaddr(w.connection.remoteEndpoint), accepted, context, dispatch), STATUS_REQUEST_NOT_ACCEPTED);
    if (status === STATUS_SUCCESS) {
      accepted.SocketContext = context.value;
      accepted.clientDispatch = dispatch.value;
      if (accepted.state === 'open') {
        attachConnection(accepted, w.connection, w.relay);
        if (isEventEnabled(accepted, WSK_EVENT_SEND_BACKLOG)) indicateSendBacklog(accepted, w.connection.idealSendBacklog());
      }
    } else {
      // R34: the provider closes a rejected socket; the client must not touch it.
      accepted.client.forgetSocket(accepted);
      accepted.state = 'closed';
      w.connection.abort();
    }
    return;
  }
  const queue = queueOf(s);
  if (queue.length >= ACCEPT_QUEUE_LIMIT) { w.connection.abort(); return; }
  queue.push(w);
  w.relay.onEarlyAbort = () => {
    const i = queue.indexOf(w);
    if (i >= 0) queue.splice(i, 1);
    if (w.inspectId) indicateAbort(s, w.inspectId);
  };
}

function newAcceptedSocket(s: WskSocketObject, w: Waiting, context: PVOID, dispatch: unknown, events: number): WskSocketObject {
  const accepted = s.client.createSocketObject(WSK_FLAG_CONNECTION_SOCKET, s.family, s.socketType, s.protocol, context, dispatch, s.owner);
  accepted.enabledEvents = events;
  accepted.staticEvents = s.client.staticEvents & CONNECTION_EVENTS;
  // R24: keepalive and receive buffer are inherited from the listener (and the congestion control, as on Linux).
  accepted.options.keepAlive = s.options.keepAlive;
  accepted.options.receiveBufferSize = s.options.receiveBufferSize;
  accepted.options.receiveBufferSet = s.options.receiveBufferSet;
  accepted.options.congestionAlgorithm = s.options.congestionAlgorithm;
  accepted.options.keepIdle = s.options.keepIdle;
  accepted.options.keepInterval = s.options.keepInterval;
  accepted.options.keepCount = s.options.keepCount;
  accepted.options.noDelay = s.options.noDelay;
  // IP_TTL, IP_TOS, IPV6_UNICAST_HOPS, IPV6_TCLASS and SO_SNDBUF too (the transport's connection already carries the IP ones).
  accepted.options.sendOptions = s.options.sendOptions.slice();
  accepted.options.sendOptionsSet = s.options.sendOptionsSet;
  accepted.inspectId = w.inspectId;
  w.relay.onEarlyAbort = null;
  return accepted;
}

/** Offers queued connections again (accept event enabled, or a WskAccept arrived). */
export function drainAcceptQueue(s: WskSocketObject): void {
  const queue = queueOf(s);
  while (queue.length > 0 && s.state === 'open' && (s.acceptRequests.length > 0 || isEventEnabled(s, WSK_EVENT_ACCEPT))) {
    offer(s, queue.shift()!);
  }
}

export function WskAcceptImpl(
  s: WskSocketObject, Flags: number, AcceptSocketContext: PVOID, AcceptSocketDispatch: WSK_CLIENT_CONNECTION_DISPATCH | null,
  LocalAddress: SOCKADDR | null, RemoteAddress: SOCKADDR | null, Irp: IRP,
): NTSTATUS {
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskAccept');
  if (Flags !== 0) return fail(STATUS_INVALID_PARAMETER);
  if (s.category === 'stream' && s.committed !== 'listen') return fail(STATUS_INVALID_DEVICE_STATE);
  if (!s.listener && !s.bindInProgress) return fail(STATUS_INVALID_DEVICE_STATE);
  beginIrp(Irp, 'WskAccept');
  const request: AcceptRequest = trackPending(s, { irp: Irp, done: false, prevPending: null, nextPending: null, context: AcceptSocketContext, dispatch: AcceptSocketDispatch, local: LocalAddress, remote: RemoteAddress });
  s.acceptRequests.push(request);
  const status = pendIrp(Irp, () => {
    const i = s.acceptRequests.indexOf(request);
    if (i >= 0) s.acceptRequests.splice(i, 1);
    settle(s, request, STATUS_CANCELLED, 0);
  });
  if (!request.done) drainAcceptQueue(s);
  return status;
}

export function WskInspectCompleteImpl(s: WskSocketObject, InspectID: WSK_INSPECT_ID | null, Action: number, Irp: IRP): NTSTATUS {
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskInspectComplete');
  if (!InspectID || (Action !== WskInspectAccept && Action !== WskInspectReject)) return fail(STATUS_INVALID_PARAMETER);
  if (!s.options.conditionalAccept) return fail(STATUS_INVALID_DEVICE_STATE);
  beginIrp(Irp, 'WskInspectComplete');
  const key = inspectKey(InspectID);
  const pended = s.pendedInspections.get(key);
  // An inspection that was aborted (or never existed) establishes nothing, whatever the action.
  if (!pended) { completeIrp(Irp, STATUS_SUCCESS, 0); return STATUS_PENDING; }
  s.pendedInspections.delete(key);
  completeIrp(Irp, STATUS_SUCCESS, 0);
  if (Action === WskInspectAccept) {
    offer(s, { connection: pended.connection, relay: pended.relay, inspectId: pended.id });
  } else {
    pended.connection.abort();
  }
  return STATUS_PENDING;
}

/** Listener side of WskCloseSocket: stop listening, refuse what waits, cancel accepts. */
export function closeListener(s: WskSocketObject): void {
  s.listener?.close();
  s.listener = null;
  for (const w of queueOf(s).splice(0)) w.connection.abort();
  for (const p of s.pendedInspections.values()) p.connection.abort();
  s.pendedInspections.clear();
  s.acceptRequests.length = 0;
}


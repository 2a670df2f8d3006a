// The five provider dispatch tables (wsk.h) and the checks every socket call shares:
// a foreign or closed socket, a missing IRP (STATUS_INVALID_PARAMETER, nothing completed: R10),
// a socket that is no longer functional (STATUS_FILE_FORCED_CLOSED: R37).
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
  STATUS_PENDING, STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { validateWskBuf, wskBufSegments, type WSK_BUF } from '../mdl/mdl.ts';
import { sockaddrToEndpoint, writeSockaddr, type SOCKADDR } from '../sockaddr.ts';
import { beginIrp, completeIrp, completeIrpInline, failIrp, pendIrp } from './completion.ts';
import { WskBindImpl, releaseBinding } from './bind.ts';
import {
  WskDisconnectImpl, WskReceiveImpl, WskReleaseDataImpl, WskSendImpl, attachConnection, closeConnection,
  connectFailureStatus, indicateSendBacklog,
} from './connection.ts';
import { WskReceiveFromImpl, WskReleaseDatagramsImpl, WskSendMessagesImpl, WskSendToImpl, closeDatagram } from './datagram.ts';
import { WskAcceptImpl, WskInspectCompleteImpl, closeListener, startListening } from './listen.ts';
import { WskControlSocketImpl } from './control-socket.ts';
import { checkStreamControl } from './control-info.ts';
import { WSK_EVENT_SEND_BACKLOG } from './constants.ts';
import {
  afterCallbacks, asSocket, cancelAllPending, ipHeaderOptions, isEventEnabled, settle, trackPending, type Category, type WskSocketObject,
} from './socket.ts';
import type {
  PCMSGHDR, PULONG, WSK_PROVIDER_BASIC_DISPATCH, WSK_PROVIDER_CONNECTION_DISPATCH, WSK_PROVIDER_DATAGRAM_DISPATCH,
  WSK_PROVIDER_LISTEN_DISPATCH, WSK_PROVIDER_STREAM_DISPATCH,
} from './types.ts';

type Entered = WskSocketObject | NTSTATUS;

/** Common entry checks; returns the socket, or the status the call returns. */
function enter(Socket: unknown, Irp: IRP | null, what: string, categories: Category[]): Entered {
  const s = asSocket(Socket);
  if (!Irp) return STATUS_INVALID_PARAMETER;
  if (!s) return failIrp(Irp, STATUS_INVALID_HANDLE, what);
  const unusable = s.unusableStatus();
  if (unusable !== null) return failIrp(Irp, unusable, what);
  if (!categories.includes(s.category)) return failIrp(Irp, STATUS_INVALID_PARAMETER, what);
  return s;
}

const BINDABLE: Category[] = ['listen', 'connection', 'datagram', 'stream'];
const CONNECTED: Category[] = ['connection', 'stream'];
const LISTENING: Category[] = ['listen', 'stream'];
const STREAM: Category[] = ['stream'];
const DATAGRAM: Category[] = ['datagram'];

function WskControlSocket(
  Socket: unknown, RequestType: number, ControlCode: number, Level: number, InputSize: number, InputBuffer: unknown,
  OutputSize: number, OutputBuffer: unknown, OutputSizeReturned: { value: number } | null, Irp: IRP | null,
): NTSTATUS {
  const s = asSocket(Socket);
  const unusable = s ? s.unusableStatus() : STATUS_INVALID_HANDLE;
  if (unusable !== null) return Irp ? failIrp(Irp, unusable, 'WskControlSocket') : unusable;
  return WskControlSocketImpl({ s: s!, request: RequestType, code: ControlCode, level: Level, inSize: InputSize, input: InputBuffer, outSize: OutputSize, output: OutputBuffer, returned: OutputSizeReturned, irp: Irp });
}

function WskCloseSocket(Socket: unknown, Irp: IRP | null): NTSTATUS {
  const s = asSocket(Socket);
  if (!Irp) return STATUS_INVALID_PARAMETER;
  if (!s || s.state === 'closing' || s.state === 'closed') return failIrp(Irp, STATUS_INVALID_HANDLE, 'WskCloseSocket');
  beginIrp(Irp, 'WskCloseSocket');
  s.state = 'closing';
  // R43: pending IRPs complete STATUS_CANCELLED, before the abortive disconnect could fail them.
  cancelAllPending(s);
  closeListener(s);
  closeConnection(s);
  closeDatagram(s);
  releaseBinding(s);
  // R38: completes only after callbacks in progress on this socket have returned.
  afterCallbacks(s, () => {
    s.state = 'closed';
    completeIrp(Irp, STATUS_SUCCESS, 0, () => s.client.forgetSocket(s));
  });
  return STATUS_PENDING;
}

function WskBind(Socket: unknown, LocalAddress: SOCKADDR | null, Flags: number, Irp: IRP | null): NTSTATUS {
  const s = enter(Socket, Irp, 'WskBind', BINDABLE);
  return typeof s === 'number' ? s : WskBindImpl(s, LocalAddress, Flags, Irp!);
}

function WskGetLocalAddress(Socket: unknown, LocalAddress: SOCKADDR | null, Irp: IRP | null): NTSTATUS {
  const s = enter(Socket, Irp, 'WskGetLocalAddress', BINDABLE);
  if (typeof s === 'number') return s;
  beginIrp(Irp!, 'WskGetLocalAddress');
  if (!LocalAddress) return completeIrpInline(Irp!, STATUS_INVALID_PARAMETER);
  if (!s.local) return completeIrpInline(Irp!, STATUS_INVALID_DEVICE_STATE);
  writeSockaddr(LocalAddress, s.local);
  completeIrp(Irp!, STATUS_SUCCESS, 0);
  return STATUS_PENDING;
}

function WskGetRemoteAddress(Socket: unknown, RemoteAddress: SOCKADDR | null, Irp: IRP | null): NTSTATUS {
  const s = enter(Socket, Irp, 'WskGetRemoteAddress', CONNECTED);
  if (typeof s === 'number') return s;
  beginIrp(Irp!, 'WskGetRemoteAddress');
  if (!RemoteAddress) return completeIrpInline(Irp!, STATUS_INVALID_PARAMETER);
  if (!s.remote) return completeIrpInline(Irp!, STATUS_INVALID_DEVICE_STATE);
  writeSockaddr(RemoteAddress, s.remote);
  completeIrp(Irp!, STATUS_SUCCESS, 0);
  return STATUS_PENDING;
}

/** WskConnect and WskConnectEx (R18, R19, R46, R47). */
function connect(Socket: unknown, RemoteAddress: SOCKADDR | null, Buffer: WSK_BUF | null, Flags: number, Irp: IRP | null, what: string): NTSTATUS {
  const s = enter(Socket, Irp, what, CONNECTED);
  if (typeof s === 'number') return s;
  const irp = Irp!;
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(irp, status, what);
  if (Flags !== 0) return fail(STATUS_INVALID_PARAMETER);
  if (Buffer && validateWskBuf(Buffer)) return fail(STATUS_INVALID_PARAMETER);
  if (Buffer && Buffer.Length > 65535) return fail(STATUS_BUFFER_OVERFLOW);
  const remote = sockaddrToEndpoint(RemoteAddress);
  if (!remote || remote.family !== s.family) return fail(STATUS_INVALID_PARAMETER);
  if (!s.local || s.bindInProgress) return fail(STATUS_INVALID_DEVICE_STATE);
  if (s.connection || s.connecting || s.committed === 'listen') return fail(STATUS_INVALID_DEVICE_STATE);
  if (s.category === 'stream') s.committed = 'connect';
  beginIrp(irp, what);
  s.connecting = true;
  const op = trackPending(s, { irp, done: false, prevPending: null, nextPending: null });
  const status = pendIrp(irp, () => { s.connecting = false; settle(s, op, STATUS_CANCELLED, 0); });
  const pieces = Buffer && Buffer.Length > 0 ? wskBufSegments(Buffer).map((p) => Uint8Array.from(p)) : null;
  const local = s.local;
  s.client.subsystem.provider.connect(local, remote, {
    keepAlive: s.options.keepAlive, noDelay: s.options.noDelay, v6Only: s.options.v6Only, congestionControl: s.options.congestionAlgorithm,
    sendOptions: ipHeaderOptions(s),
  })
    .then((connection) => {
      s.connecting = false;
      if (op.done || s.state !== 'open') { connection.abort(); return; }
      attachConnection(s, connection);
      if (s.binding) s.binding.endpoint = connection.localEndpoint;
      const done = (): void => {
        settle(s, op, STATUS_SUCCESS, 0);
        if (isEventEnabled(s, WSK_EVENT_SEND_BACKLOG)) indicateSendBacklog(s, connection.idealSendBacklog());
      };
      if (pieces) connection.send(pieces, true, (r) => (r === STATUS_SUCCESS ? done() : settle(s, op, r, 0)));
      else done();
    }, (err: unknown) => {
      s.connecting = false;
      settle(s, op, connectFailureStatus(err), 0);
    });
  return status;
}

function WskListen(Socket: unknown, Irp: IRP | null): NTSTATUS {
  const s = enter(Socket, Irp, 'WskListen', STREAM);
  if (typeof s === 'number') return s;
  const irp = Irp!;
  beginIrp(irp, 'WskListen');
  if (!s.local || s.committed || s.bindInProgress) return completeIrpInline(irp, STATUS_INVALID_DEVICE_STATE);
  s.committed = 'listen';
  s.bindInProgress = true;
  startListening(s, s.local).then(() => {
    s.bindInProgress = false;
    completeIrp(irp, s.state === 'open' ? STATUS_SUCCESS : (s.unusableStatus() ?? STATUS_SUCCESS), 0);
  }, (err: unknown) => {
    s.bindInProgress = false;
    completeIrp(irp, connectFailureStatus(err), 0);
  });
  return STATUS_PENDING;
}

const Basic: WSK_PROVIDER_BASIC_DISPATCH = Object.freeze<WSK_PROVIDER_BASIC_DISPATCH>({ WskControlSocket, WskCloseSocket });

const WskAccept: WSK_PROVIDER_LISTEN_DISPATCH['WskAccept'] = (ListenSocket, Flags, ctx, disp, local, remote, Irp) => {
  const s = enter(ListenSocket, Irp, 'WskAccept', LISTENING);
  return typeof s === 'number' ? s : WskAcceptImpl(s, Flags, ctx, disp, local, remote, Irp!);
};
const WskInspectComplete: WSK_PROVIDER_LISTEN_DISPATCH['WskInspectComplete'] = (ListenSocket, InspectID, Action, Irp) => {
  const s = enter(ListenSocket, Irp, 'WskInspectComplete', LISTENING);
  return typeof s === 'number' ? s : WskInspectCompleteImpl(s, InspectID, Action, Irp!);
};
const WskConnect: WSK_PROVIDER_CONNECTION_DISPATCH['WskConnect'] = (Socket, RemoteAddress, Flags, Irp) =>
  connect(Socket, RemoteAddress, null, Flags, Irp, 'WskConnect');
const WskConnectEx: WSK_PROVIDER_CONNECTION_DISPATCH['WskConnectEx'] = (Socket, RemoteAddress, Buffer, Flags, Irp) =>
  connect(Socket, RemoteAddress, Buffer, Flags, Irp, 'WskConnectEx');
const WskSend: WSK_PROVIDER_CONNECTION_DISPATCH['WskSend'] = (Socket, Buffer, Flags, Irp) => {
  const s = enter(Socket, Irp, 'WskSend', CONNECTED);
  return typeof s === 'number' ? s : WskSendImpl(s, Buffer, Flags, Irp!);
};
const WskReceive: WSK_PROVIDER_CONNECTION_DISPATCH['WskReceive'] = (Socket, Buffer, Flags, Irp) => {
  const s = enter(Socket, Irp, 'WskReceive', CONNECTED);
  return typeof s === 'number' ? s : WskReceiveImpl(s, Buffer, Flags, Irp!);
};
const WskDisconnect: WSK_PROVIDER_CONNECTION_DISPATCH['WskDisconnect'] = (Socket, Buffer, Flags, Irp) => {
  const s = enter(Socket, Irp, 'WskDisconnect', CONNECTED);
  return typeof s === 'number' ? s : WskDisconnectImpl(s, Buffer, Flags, Irp!);
};
/** Retained lists outlive close (R33), so only the socket's identity is checked. */
const WskReleaseData: WSK_PROVIDER_CONNECTION_DISPATCH['WskRelease'] = (Socket, DataIndication) => {
  const s = asSocket(Socket);
  return s ? WskReleaseDataImpl(s, DataIndication) : STATUS_INVALID_PARAMETER;
};
// The WskSendEx/WskReceiveEx slots (Microsoft's WskSendEx/WskReceiveEx pages; docs/wsk-rules.md, choice D): TCP defines no control data, so they behave as
// WskSend/WskReceive; control objects given to WskSendEx are refused (checkStreamControl) and
// WskReceiveEx reports none.
const WskSendEx: WSK_PROVIDER_CONNECTION_DISPATCH['WskSendEx'] = (Socket, Buffer, Flags, ControlInfoLength, ControlInfo, Irp) => {
  const s = enter(Socket, Irp, 'WskSendEx', CONNECTED);
  if (typeof s === 'number') return s;
  const control = checkStreamControl(ControlInfoLength, ControlInfo);
  if (control !== 'none') return failIrp(Irp!, control === 'objects' ? STATUS_NOT_SUPPORTED : control, 'WskSendEx');
  return WskSendImpl(s, Buffer, Flags, Irp!);
};
const WskReceiveEx: WSK_PROVIDER_CONNECTION_DISPATCH['WskReceiveEx'] = (Socket, Buffer, Flags, ControlInfoLength: PULONG | null, _ControlInfo: PCMSGHDR, ControlFlags, Irp) => {
  const s = enter(Socket, Irp, 'WskReceiveEx', CONNECTED);
  if (typeof s === 'number') return s;
  if (ControlFlags) return failIrp(Irp!, STATUS_INVALID_PARAMETER, 'WskReceiveEx');
  if (ControlInfoLength) ControlInfoLength.value = 0;
  return WskReceiveImpl(s, Buffer, Flags, Irp!);
};

export const WSK_PROVIDER_BASIC_DISPATCH_TABLE: WSK_PROVIDER_BASIC_DISPATCH = Basic;

export const WSK_PROVIDER_LISTEN_DISPATCH_TABLE: WSK_PROVIDER_LISTEN_DISPATCH = <WSK_PROVIDER_LISTEN_DISPATCH>({
  Basic, WskBind, WskAccept, WskInspectComplete, WskGetLocalAddress,
});

export const WSK_PROVIDER_DATAGRAM_DISPATCH_TABLE: WSK_PROVIDER_DATAGRAM_DISPATCH = <WSK_PROVIDER_DATAGRAM_DISPATCH>({
  Basic,
  WskBind,
  WskSendTo: (Socket, Buffer, Flags, RemoteAddress, ControlInfoLength, ControlInfo, Irp) => {
    const s = enter(Socket, Irp, 'WskSendTo', DATAGRAM);
    return typeof s === 'number' ? s : WskSendToImpl(s, Buffer, Flags, RemoteAddress, ControlInfoLength, ControlInfo, Irp!);
  },
  WskReceiveFrom: (Socket, Buffer, Flags, RemoteAddress, ControlLength, ControlInfo, ControlFlags, Irp) => {
    const s = enter(Socket, Irp, 'WskReceiveFrom', DATAGRAM);
    return typeof s === 'number' ? s : WskReceiveFromImpl(s, Buffer, Flags, RemoteAddress, ControlLength, ControlInfo, ControlFlags, Irp!);
  },
  WskRelease: (Socket, DatagramIndication) => {
    const s = asSocket(Socket);
    return s ? WskReleaseDatagramsImpl(s, DatagramIndication) : STATUS_INVALID_PARAMETER;
  },
  WskGetLocalAddress,
  WskSendMessages: (Socket, BufferList, Flags, RemoteAddress, ControlInfoLength, ControlInfo, Irp) => {
    const s = enter(Socket, Irp, 'WskSendMessages', DATAGRAM);
    return typeof s === 'number' ? s : WskSendMessagesImpl(s, BufferList, Flags, RemoteAddress, ControlInfoLength, ControlInfo, Irp!);
  },
});

export const WSK_PROVIDER_CONNECTION_DISPATCH_TABLE: WSK_PROVIDER_CONNECTION_DISPATCH = <WSK_PROVIDER_CONNECTION_DISPATCH>({
  Basic, WskBind, WskConnect, WskGetLocalAddress, WskGetRemoteAddress, WskSend, WskReceive, WskDisconnect,
  WskRelease: WskReleaseData, WskConnectEx, WskSendEx, WskReceiveEx,
});

export const WSK_PROVIDER_STREAM_DISPATCH_TABLE: WSK_PROVIDER_STREAM_DISPATCH = <WSK_PROVIDER_STREAM_DISPATCH>({
  Basic, WskBind, WskAccept, WskConnect, WskListen, WskSend, WskReceive, WskDisconnect, WskRelease: WskReleaseData,
  WskGetLocalAddress, WskGetRemoteAddress, WskConnectEx, WskSendEx, WskReceiveEx,
});

/**
 * C reaches WskControlSocket/WskCloseSocket of any table by casting it to
 * PWSK_PROVIDER_BASIC_DISPATCH (Basic is the first member). The same cast works here: every
 * table also carries the two functions, non-enumerable so the struct's members stay as in wsk.h.
 */
for (const table of [WSK_PROVIDER_LISTEN_DISPATCH_TABLE, WSK_PROVIDER_DATAGRAM_DISPATCH_TABLE, WSK_PROVIDER_CONNECTION_DISPATCH_TABLE, WSK_PROVIDER_STREAM_DISPATCH_TABLE]) {
  Object.defineProperties(table, {
    WskControlSocket: { value: WskControlSocket, enumerable: false },
    WskCloseSocket: { value: WskCloseSocket, enumerable: false },
  });
  Object.freeze(table);
}

export function dispatchTableFor(category: Category): unknown {
  switch (category) {
    case 'basic': return WSK_PROVIDER_BASIC_DISPATCH_TABLE;
    case 'listen': return WSK_PROVIDER_LISTEN_DISPATCH_TABLE;
    case 'connection': return WSK_PROVIDER_CONNECTION_DISPATCH_TABLE;
    case 'datagram': return WSK_PROVIDER_DATAGRAM_DISPATCH_TABLE;
    case 'stream': return WSK_PROVIDER_STREAM_DISPATCH_TABLE;
  }
}


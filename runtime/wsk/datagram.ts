// Datagram sockets (R30, R32, R33, R44, R45): receive by WskReceiveFrom IRP
// first, then WskReceiveFromEvent, else a queue bounded by SO_RCVBUF (overflow is counted and
// dropped, as a datagram transport does). Fixed remote address filters receives; fixed sendto
// address only sets the default destination. Control info (control-info.ts) is built when a
// datagram arrives, for the options on at that moment, and travels with it to the indication
// (ControlInfo/ControlInfoLength) or the WskReceiveFrom buffer; a sender's control info is read
// and checked before anything is sent.
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_CANCELLED, STATUS_DATA_NOT_ACCEPTED, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_PENDING,
  STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { validateWskBuf, wskBufSegments, type WSK_BUF } from '../mdl/mdl.ts';
import { AF_INET, AF_INET6, SOCK_RAW, htons, ntohs, writeSockaddr, type Endpoint, type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6 } from '../sockaddr.ts';
import { MSG_CTRUNC, MSG_TRUNC, WSK_EVENT_RECEIVE_FROM } from './constants.ts';
import { copyControlInfo, parseSendControl, receiveInfoMask, writeControlInfo } from './control-info.ts';
import { ControlPool } from './control-pool.ts';
import { copyBytes } from '../mdl/copy-bytes.ts';
import { DatagramState, type ReceivedDatagram } from './datagram-pool.ts';
import { beginIrp, failIrp, pendIrpWith, rethrowClientError } from './completion.ts';
import {
  enterCallback, isEventEnabled, leaveCallback, settle, trackPending, type PendingOp,
  type WskSocketObject,
} from './socket.ts';
import { SEND_HEADER_INCLUDED, type DatagramInfo, type DatagramSendInfo } from '../provider.ts';
import type { PCMSGHDR, PULONG, WSK_BUF_LIST, WSK_CLIENT_DATAGRAM_DISPATCH, WSK_DATAGRAM_INDICATION } from './types.ts';

export function startDatagram(s: WskSocketObject, local: Endpoint): Promise<Endpoint> {
  return s.client.subsystem.provider.bindDatagram(local, {
    v6Only: s.options.v6Only, reuseAddress: s.options.reuseAddress, receiveBufferSize: s.options.receiveBufferSize,
    broadcast: s.options.broadcast, receiveInfo: receiveInfoMask(s.options.receiveControl),
    ...(s.socketType === SOCK_RAW ? { rawProtocol: s.protocol } : {}),
  }, {
    onDatagram: (bytes, offset, length, from, flags, info) => onDatagram(s, bytes, offset, length, from, flags, info),
    onError: () => { if (s.state === 'open') s.state = 'forced'; },
  }).then((dg) => {
    if (s.state !== 'open') { dg.close(); return dg.localEndpoint; }
    // Send options set before the transport existed (an IP_UNICAST_IF the host lacks fails the bind).
    const set = s.options.sendOptionsSet;
    try {
      for (let option = 1; (set >>> option) !== 0; option++) if (set & (1 << option)) dg.setSendOption(option, s.options.sendOptions[option]!);
    } catch (err) {
      dg.close();
      throw err;
    }
    s.datagram = dg;
    return dg.localEndpoint;
  });
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  if (a.family !== b.family || a.port !== b.port || a.address.byteLength !== b.address.byteLength) return false;
  for (let i = 0; i < a.address.byteLength; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

function onDatagram(s: WskSocketObject, bytes: Uint8Array, offset: number, length: number, from: Endpoint, flags: number, info: DatagramInfo): void {
  if (s.state !== 'open') return;
  if (s.fixedRemote && !sameEndpoint(s.fixedRemote, from)) return;
  if (s.datagramQueueBytes + length > s.options.receiveBufferSize && s.receiveFromRequests.length === 0) {
    // Only queued datagrams count against the buffer; an event may still take this one.
    if (!isEventEnabled(s, WSK_EVENT_RECEIVE_FROM)) { s.droppedDatagrams++; return; }
  }
  const d = s.datagramPool.take();
  const generation = d.generation;
  d.fill(bytes, offset, length, from, flags);
  if (s.options.receiveControl !== 0) takeControl(s, d, info);
  s.datagramQueue.push(d);
  s.datagramQueueBytes += length;
  deliverDatagrams(s);
  // Still queued, or retained by the indication: keep the transport's storage (zero copy). A
  // record given back meanwhile (consumed, or released) may already be another datagram's.
  if (d.generation !== generation || d.state === DatagramState.FREE || !s.datagram?.hold) return;
  d.hold = s.datagram.hold();
  if (d.hold < 0) {
    // The transport cannot keep more (its table has one handle per ring slot, so only many
    // sockets holding one broadcast datagram get here): take a private copy rather than lose it.
    // A retained indication already handed out would still point at the slot, so the stack
    // sizes the table to make this unreachable for unicast traffic.
    d.bytes = bytes.slice(offset, offset + length);
    d.offset = 0;
  } else if (d.state === DatagramState.RETAINED) {
    s.datagram.pin?.(d.hold);
  }
}

/** Writes the datagram's control info into a slot of the socket's pool (nothing allocated once the pool is warm). */
function takeControl(s: WskSocketObject, d: ReceivedDatagram, info: DatagramInfo): void {
  const pool = (s.controlPool ??= new ControlPool());
  const slot = pool.take();
  const view = pool.view(slot);
  const length = writeControlInfo(s.options.receiveControl, info, view, 0);
  if (length === 0) { pool.give(slot); return; }
  d.control = view;
  d.controlLength = length;
  d.controlSlot = slot;
}

/** Points the record at where its bytes are now (a queued datagram may have been copied out of the ring). */
function locate(s: WskSocketObject, d: ReceivedDatagram): void {
  const t = s.datagram;
  if (d.hold >= 0 && t?.heldStorage) {
    d.bytes = t.heldStorage(d.hold);
    d.offset = t.heldOffset!(d.hold);
  }
}

/** The datagram is over: its control slot, the transport's storage and the record go back. */
function finish(s: WskSocketObject, d: ReceivedDatagram): void {
  if (d.controlSlot >= 0) {
    s.controlPool!.give(d.controlSlot);
    d.controlSlot = -1;
  }
  if (d.hold >= 0) {
    (s.datagram ?? s.closedDatagram)?.release?.(d.hold);
    d.hold = -1;
  }
  s.datagramPool.give(d);
}

function redeliver(s: WskSocketObject): void {
  if (s.state === 'open') deliverDatagrams(s);
}

export function deliverDatagrams(s: WskSocketObject): void {
  // A WskReceiveFrom posted from inside WskReceiveFromEvent waits for the indication to settle.
  if (s.indicating) return;
  const queue = s.datagramQueue;
  while (queue.length > 0 && s.receiveFromRequests.length > 0) {
    const d = queue.shift();
    s.datagramQueueBytes -= d.length;
    completeReceiveFrom(s, s.receiveFromRequests.shift()!, d);
    finish(s, d);
  }
  if (queue.length === 0 || !isEventEnabled(s, WSK_EVENT_RECEIVE_FROM)) return;
  const fn = (s.clientDispatch as WSK_CLIENT_DATAGRAM_DISPATCH | null)?.WskReceiveFromEvent;
  if (!fn) return;
  // The list is the records' own elements, linked afresh (datagram-pool.ts).
  let head: WSK_DATAGRAM_INDICATION | null = null;
  let tail: WSK_DATAGRAM_INDICATION | null = null;
  let flags = 0;
  const indicated = queue.length;
  for (let i = 0; i < indicated; i++) {
    const d = queue.at(i);
    locate(s, d);
    const node = d.present();
    d.state = DatagramState.INDICATED;
    flags |= d.flags;
    if (tail) tail.Next = node; else head = node;
    tail = node;
  }
  const pool = s.datagramPool;
  pool.indicated = indicated;
  // invokeEvent without a closure per indication (the receive path).
  let status: NTSTATUS = STATUS_DATA_NOT_ACCEPTED;
  if (enterCallback(s)) {
    s.indicating = true;
    try {
      status = fn(s.SocketContext, flags, head);
    } catch (err) {
      rethrowClientError(err);
      status = STATUS_DATA_NOT_ACCEPTED;
    } finally {
      s.indicating = false;
      leaveCallback(s);
    }
  }
  pool.indicated = 0;
  if (s.state !== 'open') return;
  if (status === STATUS_DATA_NOT_ACCEPTED) {
    // Not taken: they stay queued (released ones too: the release did not count).
    for (let i = 0; i < indicated; i++) queue.at(i).state = DatagramState.QUEUED;
    // R32: enabled through SO_WSK_EVENT_CALLBACK → disabled until re-enabled; static stays on.
    if (!(s.staticEvents & WSK_EVENT_RECEIVE_FROM)) s.enabledEvents &= ~WSK_EVENT_RECEIVE_FROM;
    return;
  }
  // Only what was indicated is consumed; datagrams that arrived meanwhile stay queued.
  for (let i = 0; i < indicated; i++) {
    const d = queue.shift();
    s.datagramQueueBytes -= d.length;
    if (status === STATUS_PENDING && d.state === DatagramState.INDICATED) {
      // R33: each element's bytes stay valid until that element is released — pinned in the
      // ring, never copied out.
      d.state = DatagramState.RETAINED;
      pool.retained++;
      if (d.hold >= 0) s.datagram?.pin?.(d.hold);
    } else {
      finish(s, d);
    }
  }
  if (queue.length > 0 || s.receiveFromRequests.length > 0) setImmediate(redeliver, s);
}

/** A WskReceiveFrom waiting for a datagram. The socket keeps settled ones for the next call. */
export class ReceiveFromRequest implements PendingOp {
  irp!: IRP;
  done = false;
  prevPending: PendingOp | null = null;
  nextPending: PendingOp | null = null;
  buffer!: WSK_BUF;
  remote: SOCKADDR | null = null;
  controlLength: PULONG | null = null;
  /** The caller's control buffer (ControlInfo) and its room (ControlLength's value at the call). */
  control: Uint8Array | null = null;
  controlRoom = 0;
  controlFlags: PULONG | null = null;
  constructor(readonly socket: WskSocketObject) {}
}

/** Completes `r` and gives it back to its socket. */
function settleReceiveFrom(r: ReceiveFromRequest, status: NTSTATUS, information: number): void {
  settle(r.socket, r, status, information);
  r.remote = r.controlLength = r.control = r.controlFlags = null;
  r.socket.freeReceiveFroms.push(r);
}

function cancelReceiveFrom(r: ReceiveFromRequest): void {
  const list = r.socket.receiveFromRequests;
  const i = list.indexOf(r);
  if (i >= 0) {
    // splice would make an array of what it removed.
    for (let j = i + 1; j < list.length; j++) list[j - 1] = list[j]!;
    list.pop();
  }
  settleReceiveFrom(r, STATUS_CANCELLED, 0);
}

/**
 * The sender into the caller's RemoteAddress: in place when it already has the shape (its own
 * address array, as a previous WskReceiveFrom or makeSockaddrIn left it), else rebuilt (writeSockaddr).
 */
function writeRemote(target: SOCKADDR, ep: Endpoint): void {
  if (ep.family === AF_INET) {
    const t = target as SOCKADDR_IN;
    if (t.sin_family === AF_INET && t.sin_addr instanceof Uint8Array && t.sin_addr.byteLength === 4 && !('sin6_family' in t) && !('ss_family' in t)) {
      t.sin_port = htons(ep.port);
      t.sin_addr.set(ep.address);
      return;
    }
  } else {
    const t = target as SOCKADDR_IN6;
    if (t.sin6_family === AF_INET6 && t.sin6_addr instanceof Uint8Array && t.sin6_addr.byteLength === 16 && !('sin_family' in t) && !('ss_family' in t)) {
      t.sin6_port = htons(ep.port);
      t.sin6_flowinfo = ep.flowinfo ?? 0;
      t.sin6_scope_id = ep.scopeId ?? 0;
      t.sin6_addr.set(ep.address);
      return;
    }
  }
  writeSockaddr(target, ep);
}

/**
 * copyIntoWskBuf (mdl.ts) from src[srcOffset, srcOffset + length), without making a view
 * (copyBytes): WskReceiveFrom copies per datagram. Returns the number of bytes copied.
 */
function copyRangeIntoWskBuf(buf: WSK_BUF, src: Uint8Array, srcOffset: number, length: number): number {
  let skip = buf.Offset;
  let room = buf.Length;
  let done = 0;
  for (let m = buf.Mdl; m && room > 0 && done < length; m = m.Next) {
    if (skip >= m.ByteCount) { skip -= m.ByteCount; continue; }
    const take = Math.min(m.ByteCount - skip, room, length - done);
    copyBytes(m.buffer, skip, src, srcOffset + done, take);
    done += take;
    room -= take;
    skip = 0;
  }
  return done;
}

function completeReceiveFrom(s: WskSocketObject, r: ReceiveFromRequest, d: ReceivedDatagram): void {
  locate(s, d);
  const copied = copyRangeIntoWskBuf(r.buffer, d.bytes, d.offset, d.length);
  if (r.remote) writeRemote(r.remote, d.from);
  if (r.controlLength) {
    // R45: whole objects while they fit the caller's ControlLength bytes; MSG_CTRUNC for the rest.
    const controlCopied = d.control ? copyControlInfo(d.control, r.control, r.controlRoom, d.controlLength) : 0;
    r.controlLength.value = controlCopied;
    if (r.controlFlags) r.controlFlags.value = d.flags | (copied < d.length ? MSG_TRUNC : 0) | (controlCopied < d.controlLength ? MSG_CTRUNC : 0);
  }
  settleReceiveFrom(r, STATUS_SUCCESS, copied);
}

function boundStatus(s: WskSocketObject): NTSTATUS | null {
  return s.datagram ? null : STATUS_INVALID_DEVICE_STATE;
}

export function WskReceiveFromImpl(
  s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlLength: PULONG | null, ControlInfo: PCMSGHDR, ControlFlags: PULONG | null, Irp: IRP,
): NTSTATUS {
  if (validateWskBuf(Buffer) || Flags !== 0) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskReceiveFrom');
  const unbound = boundStatus(s);
  if (unbound !== null) return failIrp(Irp, unbound, 'WskReceiveFrom');
  beginIrp(Irp, 'WskReceiveFrom');
  // ControlLength's in-value is the room in ControlInfo; NULL ControlLength: no control info (R45).
  const controlRoom = ControlLength ? Math.max(0, Number(ControlLength.value) || 0) : 0;
  const control = ControlLength && ControlInfo instanceof Uint8Array ? ControlInfo : null;
  const r = s.freeReceiveFroms.pop() ?? new ReceiveFromRequest(s);
  r.irp = Irp;
  r.done = false;
  r.buffer = Buffer!;
  r.remote = RemoteAddress;
  r.controlLength = ControlLength;
  r.control = control;
  r.controlRoom = controlRoom;
  r.controlFlags = ControlFlags;
  trackPending(s, r);
  s.receiveFromRequests.push(r);
  const status = pendIrpWith(Irp, cancelReceiveFrom, r);
  if (!r.done) deliverDatagrams(s);
  return status;
}

/**
 * sockaddrToEndpoint without an allocation: fills `into` (whose address becomes the SOCKADDR's own
 * array, not a copy, as sockaddrToEndpoint (sockaddr.ts) does) and returns it, or null. For a caller that
 * uses the endpoint before its next call only (the datagram send path).
 */
function sockaddrIntoEndpoint(addr: SOCKADDR | null | undefined, into: Endpoint): Endpoint | null {
  if (!addr || typeof addr !== 'object') return null;
  const a6 = addr as SOCKADDR_IN6;
  if ('sin6_family' in addr) {
    if (a6.sin6_family !== AF_INET6 || !(a6.sin6_addr instanceof Uint8Array) || a6.sin6_addr.byteLength !== 16) return null;
    into.family = AF_INET6;
    into.address = a6.sin6_addr;
    into.port = ntohs(a6.sin6_port & 0xffff);
    into.flowinfo = a6.sin6_flowinfo ?? 0;
    into.scopeId = a6.sin6_scope_id ?? 0;
    return into;
  }
  const a4 = addr as SOCKADDR_IN;
  if ('sin_family' in addr) {
    if (a4.sin_family !== AF_INET || !(a4.sin_addr instanceof Uint8Array) || a4.sin_addr.byteLength !== 4) return null;
    into.family = AF_INET;
    into.address = a4.sin_addr;
    into.port = ntohs(a4.sin_port & 0xffff);
    into.flowinfo = 0;
    into.scopeId = 0;
    return into;
  }
  return null;
}

/** Where to send: RemoteAddress read into the socket's scratch endpoint (its address the SOCKADDR's own array), or the fixed address. */
function destinationFor(s: WskSocketObject, RemoteAddress: SOCKADDR | null): Endpoint | null {
  if (RemoteAddress) {
    const ep = sockaddrIntoEndpoint(RemoteAddress, s.sendDestination);
    return ep && ep.family === s.family ? ep : null;
  }
  return s.fixedRemote ?? s.sendToAddress;
}

/**
 * One WskSendTo/WskSendMessages in flight: its datagrams' completions are counted into it. The
 * socket keeps the ones whose datagrams have all reported (settled or not: a cancelled send's
 * datagrams still report) for the next call.
 */
export class DatagramSend implements PendingOp {
  irp!: IRP;
  done = false;
  prevPending: PendingOp | null = null;
  nextPending: PendingOp | null = null;
  remaining = 0;
  total = 0;
  failed: NTSTATUS = STATUS_SUCCESS;
  constructor(readonly socket: WskSocketObject) {}
}

function takeSend(s: WskSocketObject, irp: IRP, datagrams: number): DatagramSend {
  const op = s.freeSends.pop() ?? new DatagramSend(s);
  op.irp = irp;
  op.done = false;
  op.remaining = datagrams;
  op.total = 0;
  op.failed = STATUS_SUCCESS;
  return trackPending(s, op);
}

// The send path makes no closure per request: the transport hands the request back as a token.
function onDatagramSent(result: NTSTATUS, bytes: number, op: DatagramSend): void {
  if (result !== STATUS_SUCCESS) { if (op.failed === STATUS_SUCCESS) op.failed = result; } else op.total += bytes;
  if (--op.remaining === 0) finishSend(op);
}

function finishSend(op: DatagramSend): void {
  settle(op.socket, op, op.failed, op.failed === STATUS_SUCCESS ? op.total : 0);
  op.socket.freeSends.push(op);
}

function cancelDatagramSend(op: DatagramSend): void {
  settle(op.socket, op, STATUS_CANCELLED, 0);
}

/** The IPv4 header an IP_HDRINCL socket must put first (RFC 791 §3.1): shorter is refused before anything is sent. */
const IPV4_HEADER_MIN = 20;
const NO_BYTES = new Uint8Array(0);

/**
 * The WSK_BUF's bytes as the transport's pieces: the socket's one-element array when one MDL
 * holds them all (the usual case; a view of part of it is the one object made), else an array of
 * their own. The transport reads the array during sendTo only.
 */
function piecesOf(s: WskSocketObject, buf: WSK_BUF): Uint8Array[] {
  const m = buf.Mdl;
  if (m === null || buf.Offset + buf.Length > m.ByteCount) return wskBufSegments(buf);
  const one = s.onePiece;
  one[0] = buf.Offset === 0 && buf.Length === m.ByteCount ? m.buffer : m.buffer.subarray(buf.Offset, buf.Offset + buf.Length);
  return one;
}

function sendDatagrams(s: WskSocketObject, irp: IRP, what: string, first: WSK_BUF | null, list: WSK_BUF_LIST | null, to: Endpoint, info: DatagramSendInfo | null): NTSTATUS {
  let n = first ? 1 : 0;
  for (let b = list; b; b = b.Next) n++;
  if (s.options.sendOptions[SEND_HEADER_INCLUDED] === 1) {
    if (first && first.Length < IPV4_HEADER_MIN) return failIrp(irp, STATUS_INVALID_PARAMETER, what);
    for (let b = list; b; b = b.Next) if (b.Buffer.Length < IPV4_HEADER_MIN) return failIrp(irp, STATUS_INVALID_PARAMETER, what);
  }
  beginIrp(irp, what);
  const op = takeSend(s, irp, n);
  const status = pendIrpWith(irp, cancelDatagramSend, op);
  if (n === 0) finishSend(op);
  const t = s.datagram!;
  if (first) t.sendTo(piecesOf(s, first), to, onDatagramSent, info, op);
  for (let b = list; b; b = b.Next) t.sendTo(piecesOf(s, b.Buffer), to, onDatagramSent, info, op);
  s.onePiece[0] = NO_BYTES;
  return status;
}

export function WskSendToImpl(
  s: WskSocketObject, Buffer: WSK_BUF | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlInfoLength: number, ControlInfo: PCMSGHDR, Irp: IRP,
): NTSTATUS {
  if (validateWskBuf(Buffer) || Flags !== 0) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskSendTo');
  const unbound = boundStatus(s);
  if (unbound !== null) return failIrp(Irp, unbound, 'WskSendTo');
  const to = destinationFor(s, RemoteAddress);
  if (!to) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskSendTo');
  const info = parseSendControl(s.family, to, ControlInfoLength, ControlInfo);
  if (typeof info === 'number') return failIrp(Irp, info, 'WskSendTo');
  return sendDatagrams(s, Irp, 'WskSendTo', Buffer!, null, to, info);
}

export function WskSendMessagesImpl(
  s: WskSocketObject, BufferList: WSK_BUF_LIST | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlInfoLength: number, ControlInfo: PCMSGHDR, Irp: IRP,
): NTSTATUS {
  if (!BufferList || Flags !== 0) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskSendMessages');
  for (let b: WSK_BUF_LIST | null = BufferList; b; b = b.Next) {
    if (validateWskBuf(b.Buffer)) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskSendMessages');
  }
  const unbound = boundStatus(s);
  if (unbound !== null) return failIrp(Irp, unbound, 'WskSendMessages');
  const to = destinationFor(s, RemoteAddress);
  if (!to) return failIrp(Irp, STATUS_INVALID_PARAMETER, 'WskSendMessages');
  // One control buffer for every datagram of the list (the WskSendMessages page).
  const info = parseSendControl(s.family, to, ControlInfoLength, ControlInfo);
  if (typeof info === 'number') return failIrp(Irp, info, 'WskSendMessages');
  return sendDatagrams(s, Irp, 'WskSendMessages', null, BufferList, to, info);
}

/** WskRelease: the elements of `list`, whatever grouping the application chose (datagram-pool.ts, retained.ts). */
export function WskReleaseDatagramsImpl(s: WskSocketObject, list: WSK_DATAGRAM_INDICATION | null): NTSTATUS {
  return s.datagramPool.release(list, finish, s);
}

export function closeDatagram(s: WskSocketObject): void {
  // Queued datagrams go back to the transport. Retained indications stay valid after close and
  // are still released by WskRelease, as on connection sockets (R33).
  while (s.datagramQueue.length > 0) finish(s, s.datagramQueue.shift());
  s.closedDatagram = s.datagram;
  s.datagram?.close();
  s.datagram = null;
  s.datagramQueueBytes = 0;
  s.receiveFromRequests.length = 0;
}

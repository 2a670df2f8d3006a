// A WSK client's bulk operations for the interop tests, written the way a driver would: IRPs with
// completion routines, several WskSend requests kept posted (sends complete when acknowledged on
// the userspace stack), WskReceive into one buffer until the peer's FIN (Information 0).
import {
  AF_INET, AF_INET6, IPPROTO_UDP, NPI_WSK_INTERFACE_ID, SOCK_DGRAM, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_ABORTIVE, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, makeSockaddrIn, makeSockaddrIn6,
  type NTSTATUS, type SOCKADDR, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_SOCKET,
} from '../../index.ts';
import { wskBufToBytes } from '../../runtime/mdl/mdl.ts';
import { bind, buf, connTable, dgTable, socket } from '../contract/fixtures.ts';
import { call, start } from './wsk-call.ts';
import type { WskSession } from './wsk-session.ts';

export class WskCallError extends Error {
  constructor(readonly what: string, readonly status: NTSTATUS) {
    super(`${what}: 0x${(status >>> 0).toString(16).padStart(8, '0')}`);
  }
}

function check(what: string, status: NTSTATUS): void {
  if (status !== STATUS_SUCCESS) throw new WskCallError(what, status);
}

/** A connection socket bound to `localAddress`, connected to remote:port. */
/** An IPv6 `remote` (text with a colon) opens an AF_INET6 socket; `localAddress` is then IPv6 too. */
export async function wskConnect(w: WskSession, localAddress: string, remote: string, port: number, timeoutMs = 10_000): Promise<WSK_SOCKET> {
  const v6 = remote.includes(':');
  const sock = await socket(w, WSK_FLAG_CONNECTION_SOCKET, v6 ? AF_INET6 : AF_INET);
  const address = (a: string, p: number): SOCKADDR => (v6 ? makeSockaddrIn6(a, p) : makeSockaddrIn(a, p));
  try {
    check('WskBind', await bind(sock, address(localAddress, 0)));
    check('WskConnect', (await call((irp) => connTable(sock).WskConnect(sock, address(remote, port), 0, irp), timeoutMs)).status);
  } catch (err) {
    await wskClose(sock);
    throw err;
  }
  return sock;
}

/** Sends all of `data` with up to `depth` WskSend requests of `chunk` bytes posted; each must complete in full. */
export async function wskSendAll(sock: WSK_SOCKET, data: Uint8Array, chunk = 256 * 1024, depth = 8, timeoutMs = 60_000): Promise<void> {
  const C = connTable(sock);
  const pending = new Set<Promise<void>>();
  for (let off = 0; off < data.byteLength; off += chunk) {
    const piece = data.subarray(off, Math.min(off + chunk, data.byteLength));
    const p = start<number>((irp) => C.WskSend(sock, buf(piece), 0, irp), timeoutMs).done.then((r) => {
      check('WskSend', r.status);
      if (r.information !== piece.byteLength) throw new Error(`WskSend completed ${r.information} of ${piece.byteLength} bytes`);
    });
    const tracked: Promise<void> = p.finally(() => pending.delete(tracked));
    pending.add(tracked);
    if (pending.size >= depth) await Promise.race(pending);
  }
  await Promise.all(pending);
}

/** Receives until the peer's graceful close (a WskReceive completing with 0 bytes); returns everything. */
export async function wskReceiveAll(sock: WSK_SOCKET, timeoutMs = 60_000): Promise<Buffer> {
  const C = connTable(sock);
  const block = new Uint8Array(256 * 1024);
  const parts: Buffer[] = [];
  for (;;) {
    const r = await call<number>((irp) => C.WskReceive(sock, buf(block), 0, irp), timeoutMs);
    check('WskReceive', r.status);
    if (r.information === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(block.subarray(0, r.information)));
  }
}

export async function wskDisconnect(sock: WSK_SOCKET, abortive = false): Promise<NTSTATUS> {
  return (await call((irp) => connTable(sock).WskDisconnect(sock, null, abortive ? WSK_FLAG_ABORTIVE : 0, irp), 30_000)).status;
}

export async function wskClose(sock: WSK_SOCKET): Promise<NTSTATUS> {
  return (await call((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(sock, irp), 30_000)).status;
}

export interface UdpEndpoint {
  sock: WSK_SOCKET;
  /** Datagrams received so far (copies), in arrival order. */
  received: Buffer[];
  sendTo(data: Uint8Array, address: string, port: number): Promise<NTSTATUS>;
  close(): Promise<NTSTATUS>;
}

/** A datagram socket on localAddress:port whose WskReceiveFromEvent keeps a copy of each datagram. */
export async function wskUdp(w: WskSession, localAddress: string, port: number): Promise<UdpEndpoint> {
  const received: Buffer[] = [];
  const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (_ctx, _flags, list) => {
      for (let d: WSK_DATAGRAM_INDICATION | null = list; d; d = d.Next) received.push(Buffer.from(wskBufToBytes(d.Buffer)));
      return STATUS_SUCCESS;
    },
  };
  const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, events, null, null, null, irp));
  check('WskSocket', r.status);
  const sock = r.information;
  check('WskBind', (await call((irp) => dgTable(sock).WskBind(sock, makeSockaddrIn(localAddress, port), 0, irp))).status);
  (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  return {
    sock,
    received,
    sendTo: async (data, address, p) => (await call((irp) => dgTable(sock).WskSendTo(sock, buf(data), 0, makeSockaddrIn(address, p), 0, null, irp))).status,
    close: () => wskClose(sock),
  };
}

// Building blocks for the contract suite: sockets of each category made through the WSK API
// itself, so that every assertion is about what a WSK application sees.
import {
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IoAllocateMdl, SOCK_DGRAM, SOCK_STREAM, SOCKADDR_STORAGE, STATUS_SUCCESS,
  WSK_FLAG_BASIC_SOCKET, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, makeSockaddrIn, makeSockaddrIn6, ntohs,
  type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_BUF, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_CONNECTION_DISPATCH,
  type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call } from '../helpers/wsk-call.ts';
import type { WskSession } from '../helpers/wsk-session.ts';
import type { ContractTarget, PeerServer, PeerSocket } from './target.ts';

export const listenTable = (s: WSK_SOCKET): WSK_PROVIDER_LISTEN_DISPATCH => s.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
export const connTable = (s: WSK_SOCKET): WSK_PROVIDER_CONNECTION_DISPATCH => s.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
export const dgTable = (s: WSK_SOCKET): WSK_PROVIDER_DATAGRAM_DISPATCH => s.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;

export function buf(bytes: Uint8Array, length = bytes.byteLength, offset = 0): WSK_BUF {
  return { Mdl: IoAllocateMdl(bytes), Offset: offset, Length: length };
}

/** Kernel loopback (127.0.0.1 / ::1), for tests outside the target-parametrized suite. */
export function loopback(family: number, port = 0): SOCKADDR {
  return family === AF_INET ? makeSockaddrIn('127.0.0.1', port) : makeSockaddrIn6('::1', port);
}

/** The target's host address (where WSK sockets under test bind) as a SOCKADDR with `port`. */
export function hostSockaddr(target: ContractTarget, family: number, port = 0): SOCKADDR {
  const address = target.hostAddress(family);
  return family === AF_INET ? makeSockaddrIn(address, port) : makeSockaddrIn6(address, port);
}

/**
 * The socket a test uses when it needs "some socket" and the rule does not depend on its
 * category: a TCP connection socket where the target has streams, else a UDP datagram socket.
 */
export function anySocketKind(target: ContractTarget): { type: number; protocol: number; flags: number } {
  return target.streams
    ? { type: SOCK_STREAM, protocol: IPPROTO_TCP, flags: WSK_FLAG_CONNECTION_SOCKET }
    : { type: SOCK_DGRAM, protocol: IPPROTO_UDP, flags: WSK_FLAG_DATAGRAM_SOCKET };
}

/** A socket of anySocketKind(target). */
export async function anySocket(w: WskSession, target: ContractTarget, family = AF_INET): Promise<WSK_SOCKET> {
  return socket(w, anySocketKind(target).flags, family);
}

/** A basic socket: TCP where the target has streams, else UDP. */
export async function basicSocket(w: WskSession, target: ContractTarget, family = AF_INET): Promise<WSK_SOCKET> {
  const { type, protocol } = anySocketKind(target);
  const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, family, type, protocol, WSK_FLAG_BASIC_SOCKET, null, null, null, null, null, irp));
  if (r.status !== STATUS_SUCCESS) throw new Error(`WskSocket (basic) failed: ${r.status}`);
  return r.information;
}

export function portOf(addr: SOCKADDR): number {
  return ntohs('sin_port' in addr ? (addr as SOCKADDR_IN).sin_port : (addr as SOCKADDR_IN6).sin6_port);
}

export async function socket(w: WskSession, flags: number, family = AF_INET, context: unknown = null, dispatch: unknown = null): Promise<WSK_SOCKET> {
  const type = flags === WSK_FLAG_DATAGRAM_SOCKET ? SOCK_DGRAM : SOCK_STREAM;
  const proto = type === SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
  const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, family, type, proto, flags, context, dispatch, null, null, null, irp));
  if (r.status !== STATUS_SUCCESS) throw new Error(`WskSocket failed: ${r.status}`);
  return r.information;
}

export async function expectOk(p: Promise<{ status: number }>, what = 'call'): Promise<void> {
  const r = await p;
  if (r.status !== STATUS_SUCCESS) throw new Error(`${what} failed: 0x${(r.status >>> 0).toString(16)}`);
}

export async function bind(s: WSK_SOCKET, addr: SOCKADDR): Promise<number> {
  return (await call((irp) => (s.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskBind(s, addr, 0, irp))).status;
}

export async function localPort(s: WSK_SOCKET): Promise<number> {
  const out = SOCKADDR_STORAGE();
  await expectOk(call((irp) => (s.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskGetLocalAddress(s, out, irp)), 'WskGetLocalAddress');
  return portOf(out);
}

/** A bound listening socket on the target host address; returns it and its port. */
export async function listener(w: WskSession, target: ContractTarget, family = AF_INET, context: unknown = null, dispatch: unknown = null): Promise<{ sock: WSK_SOCKET; port: number }> {
  const sock = await socket(w, WSK_FLAG_LISTEN_SOCKET, family, context, dispatch);
  const st = await bind(sock, hostSockaddr(target, family));
  if (st !== STATUS_SUCCESS) throw new Error(`bind failed ${st}`);
  return { sock, port: await localPort(sock) };
}

/** The target's TCP peer address (outside WSK) as a SOCKADDR with `port`. */
export function peerSockaddr(target: ContractTarget, family: number, port = 0): SOCKADDR {
  const address = target.peerAddress(family);
  return family === AF_INET ? makeSockaddrIn(address, port) : makeSockaddrIn6(address, port);
}

/** A WSK connection socket connected to a TCP server on the target's peer side; returns both ends. */
export async function connectedPair(w: WskSession, target: ContractTarget, family = AF_INET, context: unknown = null, dispatch: unknown = null): Promise<{ sock: WSK_SOCKET; peer: PeerSocket; server: PeerServer }> {
  const server = await target.tcpServer(family);
  const peerP = server.next();
  const sock = await socket(w, WSK_FLAG_CONNECTION_SOCKET, family, context, dispatch);
  await expectOk(Promise.resolve({ status: await bind(sock, hostSockaddr(target, family)) }), 'bind');
  await expectOk(call((irp) => connTable(sock).WskConnect(sock, peerSockaddr(target, family, server.port), 0, irp)), 'WskConnect');
  const peer = await peerP;
  peer.on('error', () => {});
  await server.close();
  return { sock, peer, server };
}

/** A TCP connection from the target's peer side to a WSK listener on `port` (errors are the test's to observe). */
export function peerConnect(target: ContractTarget, port: number, family = AF_INET): PeerSocket {
  const peer = target.tcpConnect(family, port);
  peer.on('error', () => {});
  return peer;
}

/** A WSK socket accepted (by WskAccept) from a TCP client on the target's peer side. */
export async function acceptedPair(w: WskSession, target: ContractTarget, family = AF_INET): Promise<{ sock: WSK_SOCKET; peer: PeerSocket; listen: WSK_SOCKET }> {
  const { sock: listen, port } = await listener(w, target, family);
  const peer = peerConnect(target, port, family);
  const r = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
  if (r.status !== STATUS_SUCCESS) throw new Error('accept failed');
  return { sock: r.information, peer, listen };
}

export async function close(s: WSK_SOCKET): Promise<number> {
  return (await call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(s, irp))).status;
}

export function readAll(peer: PeerSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    peer.on('data', (d) => chunks.push(d));
    peer.once('end', () => resolve(Buffer.concat(chunks)));
    peer.once('error', reject);
  });
}

export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}

export { AF_INET, AF_INET6 };

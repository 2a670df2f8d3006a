// R16–R25: categories, events off by default, bind-before-use, stream commitment,
// WskSocketConnect, address sharing, option timing, IRP requirements, inheritance, dual stack.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY, SOCK_DGRAM, SOCK_STREAM, SOCKADDR_STORAGE,
  SO_EXCLUSIVEADDRUSE, SO_KEEPALIVE, SO_RCVBUF, SO_REUSEADDR, SOL_SOCKET, STATUS_ACCESS_DENIED, STATUS_ADDRESS_ALREADY_EXISTS,
  STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_REQUEST_NOT_ACCEPTED,
  STATUS_SUCCESS, WSK_FLAG_BASIC_SOCKET, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET,
  WSK_FLAG_STREAM_SOCKET, WskGetOption, WskSetOption, NPI_WSK_INTERFACE_ID, makeSockaddrIn, makeSockaddrIn6, sharingOutcome,
  type Binding, type SharingMode, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_STREAM_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import {
  anySocketKind, basicSocket, bind, buf, close, connTable, dgTable, hostSockaddr, listenTable, listener, localPort, peerConnect, portOf, socket,
} from './fixtures.ts';
import type { ContractTarget } from './target.ts';

const setUlong = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));
const getUlong = async (s: WSK_SOCKET, level: number, code: number): Promise<number> => {
  const out = { value: -1 };
  const r = await call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskGetOption, code, level, 0, null, 4, out, null, irp));
  expect(r.status).toBe(STATUS_SUCCESS);
  return out.value;
};

export function socketsContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (family: number, port = 0) => hostSockaddr(target, family, port);
  const hostIp = target.hostAddress(AF_INET);
  describe('sockets (R16–R25)', () => {
    it('R16: Flags select the category and Dispatch is that category\'s table; basic sockets cannot be bound', async () => {
      const w = await openSession(factory);
      const kind = anySocketKind(target);
      const basic = await basicSocket(w, target);
      expect(Object.keys(basic.Dispatch as object).sort()).toEqual(['WskCloseSocket', 'WskControlSocket']);
      const tcp: WSK_SOCKET[] = [];
      if (target.streams) {
        const listen = await socket(w, WSK_FLAG_LISTEN_SOCKET);
        expect(Object.keys(listen.Dispatch as object)).toEqual(['Basic', 'WskBind', 'WskAccept', 'WskInspectComplete', 'WskGetLocalAddress']);
        tcp.push(listen);
      }
      const conn = target.streams ? await socket(w, WSK_FLAG_CONNECTION_SOCKET) : null;
      if (conn) {
        expect(Object.keys(conn.Dispatch as object)).toEqual(['Basic', 'WskBind', 'WskConnect', 'WskGetLocalAddress', 'WskGetRemoteAddress', 'WskSend', 'WskReceive', 'WskDisconnect', 'WskRelease', 'WskConnectEx', 'WskSendEx', 'WskReceiveEx']);
        tcp.push(conn);
      }
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(Object.keys(dg.Dispatch as object)).toEqual(['Basic', 'WskBind', 'WskSendTo', 'WskReceiveFrom', 'WskRelease', 'WskGetLocalAddress', 'WskSendMessages']);
      if (target.streams) {
        const stream = await socket(w, WSK_FLAG_STREAM_SOCKET);
        expect(Object.keys(stream.Dispatch as object)).toEqual(['Basic', 'WskBind', 'WskAccept', 'WskConnect', 'WskListen', 'WskSend', 'WskReceive', 'WskDisconnect', 'WskRelease', 'WskGetLocalAddress', 'WskGetRemoteAddress', 'WskConnectEx', 'WskSendEx', 'WskReceiveEx']);
        tcp.push(stream);
      }
      if (conn) {
        // Wrong category: a connection function on a datagram socket.
        const wrong = await call((irp) => connTable(conn).WskSend(dg, buf(new Uint8Array(1)), 0, irp));
        expect(wrong.status).toBe(STATUS_INVALID_PARAMETER);
      }
      // Invalid flags, and bad family/type/protocol triples.
      for (const [flags, type, proto] of [[3, SOCK_STREAM, IPPROTO_TCP], [WSK_FLAG_CONNECTION_SOCKET, SOCK_DGRAM, IPPROTO_UDP], [WSK_FLAG_DATAGRAM_SOCKET, SOCK_STREAM, IPPROTO_TCP]] as const) {
        const r = await call((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, type, proto, flags, null, null, null, null, null, irp));
        expect(r.status).toBe(STATUS_INVALID_PARAMETER);
      }
      // A basic socket takes no context or dispatch.
      const b2 = await call((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, kind.type, kind.protocol, WSK_FLAG_BASIC_SOCKET, {}, null, null, null, null, irp));
      expect(b2.status).toBe(STATUS_INVALID_PARAMETER);
      // Windows creates a UDP "listening" socket but its bind completes STATUS_NOT_IMPLEMENTED (obs.).
      const udpListen = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp));
      expect(udpListen.status).toBe(STATUS_SUCCESS);
      expect(await bind(udpListen.information, host(AF_INET))).toBe(STATUS_NOT_IMPLEMENTED);
      if (target.streams) {
        // KSOCKET creates its listener with protocol 0.
        const proto0 = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, 0, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp));
        expect(proto0.status).toBe(STATUS_SUCCESS);
        tcp.push(proto0.information);
      }
      for (const s of [basic, dg, udpListen.information, ...tcp]) expect(await close(s)).toBe(STATUS_SUCCESS);
      await w.close();
    });

    it('R18/R47: listen, connect and datagram I/O need a bind; local address before bind is STATUS_INVALID_DEVICE_STATE', async () => {
      const w = await openSession(factory);
      const conn = target.streams ? await socket(w, WSK_FLAG_CONNECTION_SOCKET) : null;
      if (conn) {
        expect((await call((irp) => connTable(conn).WskGetLocalAddress(conn, SOCKADDR_STORAGE(), irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => connTable(conn).WskGetRemoteAddress(conn, SOCKADDR_STORAGE(), irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => connTable(conn).WskConnect(conn, host(AF_INET, 9), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        // TCP wildcard bind: the port is chosen at bind time, the IP at connect time (R47).
        expect(await bind(conn, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
        const after = SOCKADDR_STORAGE();
        await call((irp) => connTable(conn).WskGetLocalAddress(conn, after, irp));
        expect(portOf(after)).toBeGreaterThan(0);
      }
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect((await call((irp) => dgTable(dg).WskGetLocalAddress(dg, SOCKADDR_STORAGE(), irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect((await call((irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(4)), 0, host(AF_INET, 9), 0, null, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect((await call((irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(4)), 0, null, null, null, null, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
      const listen = target.streams ? await socket(w, WSK_FLAG_LISTEN_SOCKET) : null;
      if (listen) {
        expect((await call((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        // A bind with the wrong family, or a second bind, is refused.
        expect(await bind(listen, makeSockaddrIn6('::1', 0))).toBe(STATUS_INVALID_PARAMETER);
      }
      if (conn) expect(await bind(conn, host(AF_INET))).toBe(STATUS_INVALID_DEVICE_STATE);
      // The same for the datagram socket: wrong family, then bind, then a second bind.
      expect(await bind(dg, makeSockaddrIn6('::', 0))).toBe(STATUS_INVALID_PARAMETER);
      expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
      expect(await bind(dg, host(AF_INET))).toBe(STATUS_INVALID_DEVICE_STATE);
      for (const s of [conn, dg, listen]) if (s) await close(s);
      await w.close();
    });

    if (target.streams) {
      it('R19: a stream socket commits to listen or connect, after which the other flow fails', async () => {
        const w = await openSession(factory);
        const st = await socket(w, WSK_FLAG_STREAM_SOCKET);
        const t = st.Dispatch as WSK_PROVIDER_STREAM_DISPATCH;
        expect((await call((irp) => t.WskListen(st, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect(await bind(st, host(AF_INET))).toBe(STATUS_SUCCESS);
        expect((await call((irp) => t.WskListen(st, irp))).status).toBe(STATUS_SUCCESS);
        const port = await localPort(st);
        expect((await call((irp) => t.WskConnect(st, host(AF_INET, port), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => t.WskSend(st, buf(new Uint8Array(1)), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        // The listening stream socket accepts.
        const peer = peerConnect(target, port);
        const acc = await call<WSK_SOCKET>((irp) => t.WskAccept(st, 0, null, null, null, null, irp));
        expect(acc.status).toBe(STATUS_SUCCESS);
        // A connecting stream socket can no longer listen or accept.
        const st2 = await socket(w, WSK_FLAG_STREAM_SOCKET);
        const t2 = st2.Dispatch as WSK_PROVIDER_STREAM_DISPATCH;
        await bind(st2, host(AF_INET));
        expect((await call((irp) => t2.WskConnect(st2, host(AF_INET, port), 0, irp))).status).toBe(STATUS_SUCCESS);
        expect((await call((irp) => t2.WskListen(st2, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => t2.WskAccept(st2, 0, null, null, null, null, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        const acc2 = await call<WSK_SOCKET>((irp) => t.WskAccept(st, 0, null, null, null, null, irp));
        peer.destroy();
        for (const s of [acc.information, acc2.information, st2, st]) await close(s);
        await w.close();
      });

      it('R19/R17: a listening stream socket indicates WskAcceptEvent through WSK_CLIENT_STREAM_DISPATCH.Listen', async () => {
        const w = await openSession(factory);
        const accepted: WSK_SOCKET[] = [];
        const streamDispatch = {
          Listen: { WskAcceptEvent: (_c: unknown, _f: number, _l: unknown, _r: unknown, sock: WSK_SOCKET | null) => { accepted.push(sock!); return STATUS_SUCCESS; }, WskInspectEvent: null, WskAbortEvent: null },
          Connect: null,
        };
        const st = await socket(w, WSK_FLAG_STREAM_SOCKET, AF_INET, null, streamDispatch);
        const t = st.Dispatch as WSK_PROVIDER_STREAM_DISPATCH;
        await bind(st, host(AF_INET));
        expect((await call((irp) => t.WskListen(st, irp))).status).toBe(STATUS_SUCCESS);
        const ctl = (st.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(st, WskSetOption, 0x4002, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: 0x200 }, 0, null, null, null);
        expect(ctl).toBe(STATUS_SUCCESS);
        const peer = peerConnect(target, await localPort(st));
        const deadline = Date.now() + 5000;
        while (accepted.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        expect(accepted.length).toBe(1);
        peer.destroy();
        await close(accepted[0]!); await close(st);
        await w.close();
      });
    }

    if (target.streams) {
      it('R20: WskSocketConnect creates, binds and connects in one call, family from LocalAddress, Flags 0', async () => {
        const w = await openSession(factory);
        // The family comes from LocalAddress: IPv6 where the target has it, else IPv4.
        const family = target.ipv6 ? AF_INET6 : AF_INET;
        const { sock: listen, port } = await listener(w, target, family);
        const bad = await call((irp) => w.Dispatch.WskSocketConnect(w.Client, SOCK_STREAM, IPPROTO_TCP, host(family), host(family, port), 1, null, null, null, null, null, irp));
        expect(bad.status).toBe(STATUS_INVALID_PARAMETER);
        const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocketConnect(w.Client, SOCK_STREAM, IPPROTO_TCP, host(family), host(family, port), 0, null, null, null, null, null, irp));
        expect(r.status).toBe(STATUS_SUCCESS);
        const remote = SOCKADDR_STORAGE();
        await call((irp) => connTable(r.information).WskGetRemoteAddress(r.information, remote, irp));
        expect(family === AF_INET6 ? remote.sin6_family : remote.sin_family).toBe(family);
        expect(portOf(remote)).toBe(port);
        const refused = await call((irp) => w.Dispatch.WskSocketConnect(w.Client, SOCK_STREAM, IPPROTO_TCP, host(AF_INET), host(AF_INET, 1), 0, null, null, null, null, null, irp));
        expect(refused.status).toBe(0xc0000236 | 0);
        const acc = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        for (const s of [r.information, acc.information, listen]) await close(s);
        await w.close();
      });
    }

    it('R21: the address-sharing table decides every pair of binds', () => {
      const modes: SharingMode[] = ['none', 'reuse', 'exclusive'];
      const mk = (mode: SharingMode, wildcard: boolean): Binding => ({
        protocol: 17, mode, securityDescriptor: null, owner: null,
        endpoint: { family: AF_INET, address: wildcard ? new Uint8Array(4) : Uint8Array.of(127, 0, 0, 1), port: 5000 },
      });
      const I = STATUS_ADDRESS_ALREADY_EXISTS, S = STATUS_SUCCESS, D = STATUS_ACCESS_DENIED;
      // With no owner identity the CHECK cells deny (default SD forbids sharing).
      const expected = [
        [I, S, I, S, I, S], [D, I, D, D, D, I], [D, S, S, S, D, S],
        [D, D, S, S, D, D], [I, I, I, I, I, I], [D, I, D, I, D, I],
      ];
      const rows = modes.flatMap((m) => [mk(m, true), mk(m, false)]);
      rows.forEach((first, i) => rows.forEach((second, j) => expect(sharingOutcome(first, second)).toBe(expected[i]![j])));
    });

    it('R21: binds through WSK follow the table (two datagram sockets on one port)', async () => {
      const w = await openSession(factory);
      const a = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(a, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
      const port = await localPort(a);
      const b = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(b, makeSockaddrIn('0.0.0.0', port))).toBe(STATUS_ADDRESS_ALREADY_EXISTS);
      const c = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect((await setUlong(c, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1)).status).toBe(STATUS_SUCCESS);
      expect(await bind(c, makeSockaddrIn('0.0.0.0', port))).toBe(STATUS_ADDRESS_ALREADY_EXISTS);
      for (const s of [a, b, c]) await close(s);
      // The first socket gone, the port is free again.
      const d = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(d, makeSockaddrIn(hostIp, port))).toBe(STATUS_SUCCESS);
      await close(d);
      await w.close();
    });

    it('R22: SO_REUSEADDR, SO_EXCLUSIVEADDRUSE and IPV6_V6ONLY only before bind (STATUS_INVALID_DEVICE_STATE after)', async () => {
      const w = await openSession(factory);
      // A listener where the target has streams, else a datagram socket; IPv6 where supported.
      const flags = target.streams ? WSK_FLAG_LISTEN_SOCKET : WSK_FLAG_DATAGRAM_SOCKET;
      const family = target.ipv6 ? AF_INET6 : AF_INET;
      const sock = await socket(w, flags, family);
      expect(await bind(sock, host(family))).toBe(STATUS_SUCCESS);
      const options: Array<readonly [number, number]> = [[SOL_SOCKET, SO_REUSEADDR], [SOL_SOCKET, SO_EXCLUSIVEADDRUSE]];
      if (family === AF_INET6) options.push([IPPROTO_IPV6, IPV6_V6ONLY]);
      for (const [level, code] of options) {
        expect((await setUlong(sock, level, code, 1)).status).toBe(STATUS_INVALID_DEVICE_STATE);
      }
      const fresh = await socket(w, flags, family);
      expect((await setUlong(fresh, SOL_SOCKET, SO_REUSEADDR, 1)).status).toBe(STATUS_SUCCESS);
      expect(await getUlong(fresh, SOL_SOCKET, SO_REUSEADDR)).toBe(1);
      await close(sock); await close(fresh);
      await w.close();
    });

    it('R23: options that need an IRP refuse a NULL IRP with STATUS_REQUEST_NOT_ACCEPTED', async () => {
      const w = await openSession(factory);
      const s = await socket(w, target.streams ? WSK_FLAG_LISTEN_SOCKET : WSK_FLAG_DATAGRAM_SOCKET);
      const t = s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;
      expect(t.WskControlSocket(s, WskSetOption, SO_REUSEADDR, SOL_SOCKET, 4, { value: 1 }, 0, null, null, null)).toBe(STATUS_REQUEST_NOT_ACCEPTED);
      expect(t.WskControlSocket(s, WskGetOption, SO_RCVBUF, SOL_SOCKET, 0, null, 4, { value: 0 }, null, null)).toBe(STATUS_REQUEST_NOT_ACCEPTED);
      await close(s);
      await w.close();
    });

    if (target.streams) {
      it('R24: SO_KEEPALIVE and SO_RCVBUF set on a listener are inherited by accepted sockets', async () => {
        const w = await openSession(factory);
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET);
        expect((await setUlong(s, SOL_SOCKET, SO_KEEPALIVE, 1)).status).toBe(STATUS_SUCCESS);
        expect((await setUlong(s, SOL_SOCKET, SO_RCVBUF, 12345)).status).toBe(STATUS_SUCCESS);
        await bind(s, host(AF_INET));
        const peer = peerConnect(target, await localPort(s));
        const acc = await call<WSK_SOCKET>((irp) => listenTable(s).WskAccept(s, 0, null, null, null, null, irp));
        expect(await getUlong(acc.information, SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
        expect(await getUlong(acc.information, SOL_SOCKET, SO_RCVBUF)).toBe(12345);
        expect(await getUlong(acc.information, IPPROTO_TCP, 1)).toBe(0);
        peer.destroy();
        await close(acc.information); await close(s);
        await w.close();
      });
    }

    if (target.streams && target.dualStack) {
      it('R25: an AF_INET6 listener with IPV6_V6ONLY=0 accepts IPv4 peers as v4-mapped addresses', async () => {
        const w = await openSession(factory);
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET6);
        expect((await setUlong(s, IPPROTO_IPV6, IPV6_V6ONLY, 0)).status).toBe(STATUS_SUCCESS);
        expect(await bind(s, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
        const port = await localPort(s);
        const peer = peerConnect(target, port);
        const remote = SOCKADDR_STORAGE();
        const acc = await call<WSK_SOCKET>((irp) => listenTable(s).WskAccept(s, 0, null, null, null, remote, irp));
        expect(acc.status).toBe(STATUS_SUCCESS);
        expect(remote.sin6_family).toBe(AF_INET6);
        const v4 = target.peerAddress(AF_INET).split('.').map(Number);
        expect(Array.from(remote.sin6_addr!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...v4]);
        peer.destroy();
        await close(acc.information); await close(s);
        await w.close();
      });
    }
  });
}

// IP_TTL and IP_TOS (IPPROTO_IP socket options page) and IPV6_UNICAST_HOPS/IPV6_TCLASS (IPPROTO_IPV6
// socket options page) on TCP sockets (issue 13), on every provider with streams: set before bind,
// before connect or listen and afterwards, read back, and inherited by the sockets a listener
// accepts (Windows copies a listening socket's options into accepted sockets; Linux copies the
// IP header fields too). What the wire shows is in test/interop/tcp-ip-options.test.ts.
import { describe, expect, it } from 'vitest';
import {
  IPPROTO_IP, IPPROTO_IPV6, IP_TOS, IP_TTL, IPV6_TCLASS, IPV6_UNICAST_HOPS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, WSK_FLAG_CONNECTION_SOCKET,
  WSK_FLAG_LISTEN_SOCKET, WskGetOption, WskSetOption, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import { AF_INET, AF_INET6, bind, close, connTable, expectOk, hostSockaddr, listenTable, localPort, peerConnect, peerSockaddr, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';

const control = (s: WSK_SOCKET) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket;
const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => control(s)(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));
async function getOpt(s: WSK_SOCKET, level: number, code: number): Promise<{ status: number; value: number }> {
  const out = { value: -1 };
  const r = await call((irp) => control(s)(s, WskGetOption, code, level, 0, null, 4, out, null, irp));
  return { status: r.status, value: out.value };
}
const ok = (value: number) => ({ status: STATUS_SUCCESS, value });

export function tcpIpOptionsContract(target: ContractTarget): void {
  if (!target.streams) return;
  const { factory } = target;

  describe('IP_TTL and IP_TOS on TCP sockets (issue 13; IPPROTO_IP socket options page)', () => {
    it('a connection socket sets them before bind and connect, reads them back (defaults 64 and 0), and sets them again once connected', async () => {
      const w = await openSession(factory);
      const server = await target.tcpServer(AF_INET);
      const peerP = server.next();
      const s = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
      expect([await getOpt(s, IPPROTO_IP, IP_TTL), await getOpt(s, IPPROTO_IP, IP_TOS)]).toEqual([ok(64), ok(0)]);
      await expectOk(setOpt(s, IPPROTO_IP, IP_TTL, 42), 'IP_TTL before bind');
      expect(await bind(s, hostSockaddr(target, AF_INET))).toBe(STATUS_SUCCESS);
      await expectOk(setOpt(s, IPPROTO_IP, IP_TOS, 0x28), 'IP_TOS before connect');
      await expectOk(call((irp) => connTable(s).WskConnect(s, peerSockaddr(target, AF_INET, server.port), 0, irp)), 'WskConnect');
      const peer = await peerP;
      peer.on('error', () => {});
      expect([await getOpt(s, IPPROTO_IP, IP_TTL), await getOpt(s, IPPROTO_IP, IP_TOS)]).toEqual([ok(42), ok(0x28)]);
      await expectOk(setOpt(s, IPPROTO_IP, IP_TTL, 7), 'IP_TTL when connected');
      await expectOk(setOpt(s, IPPROTO_IP, IP_TOS, 0), 'IP_TOS when connected');
      expect([await getOpt(s, IPPROTO_IP, IP_TTL), await getOpt(s, IPPROTO_IP, IP_TOS)]).toEqual([ok(7), ok(0)]);
      expect((await setOpt(s, IPPROTO_IP, IP_TTL, 0)).status).toBe(STATUS_INVALID_PARAMETER);
      expect(await getOpt(s, IPPROTO_IP, IP_TTL)).toEqual(ok(7));
      peer.destroy();
      await server.close();
      await close(s);
      await w.close();
    });

    it('a listening socket\'s IP_TTL and IP_TOS, set before bind or after it, are the accepted socket\'s', async () => {
      const w = await openSession(factory);
      const l = await socket(w, WSK_FLAG_LISTEN_SOCKET);
      await expectOk(setOpt(l, IPPROTO_IP, IP_TTL, 99), 'IP_TTL on the listener');
      expect(await bind(l, hostSockaddr(target, AF_INET))).toBe(STATUS_SUCCESS);
      await expectOk(setOpt(l, IPPROTO_IP, IP_TOS, 0x20), 'IP_TOS on the bound listener');
      const peer = peerConnect(target, await localPort(l));
      const r = await call<WSK_SOCKET>((irp) => listenTable(l).WskAccept(l, 0, null, null, null, null, irp));
      expect(r.status).toBe(STATUS_SUCCESS);
      const accepted = r.information;
      expect([await getOpt(accepted, IPPROTO_IP, IP_TTL), await getOpt(accepted, IPPROTO_IP, IP_TOS)]).toEqual([ok(99), ok(0x20)]);
      peer.destroy();
      await close(accepted); await close(l);
      await w.close();
    });

    if (target.ipv6) {
      it('IPV6_UNICAST_HOPS and IPV6_TCLASS on an AF_INET6 connection socket: set before connect, read back, set once connected (IPPROTO_IPV6 socket options page); refused on an AF_INET one', async () => {
        const w = await openSession(factory);
        const server = await target.tcpServer(AF_INET6);
        const peerP = server.next();
        const s = await socket(w, WSK_FLAG_CONNECTION_SOCKET, AF_INET6);
        await expectOk(setOpt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 33), 'IPV6_UNICAST_HOPS');
        await expectOk(setOpt(s, IPPROTO_IPV6, IPV6_TCLASS, 0x48), 'IPV6_TCLASS');
        expect(await bind(s, hostSockaddr(target, AF_INET6))).toBe(STATUS_SUCCESS);
        await expectOk(call((irp) => connTable(s).WskConnect(s, peerSockaddr(target, AF_INET6, server.port), 0, irp)), 'WskConnect');
        const peer = await peerP;
        peer.on('error', () => {});
        await expectOk(setOpt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 34), 'IPV6_UNICAST_HOPS when connected');
        expect([await getOpt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS), await getOpt(s, IPPROTO_IPV6, IPV6_TCLASS)]).toEqual([ok(34), ok(0x48)]);
        const v4 = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        expect((await setOpt(v4, IPPROTO_IPV6, IPV6_TCLASS, 1)).status).toBe(STATUS_INVALID_PARAMETER);
        peer.destroy();
        await server.close();
        await close(v4); await close(s);
        await w.close();
      });
    }
  });
}

// R49–R51: client controls, cached security descriptors, name resolution through the
// provider's resolver. Only 'localhost' (in /etc/hosts) and numeric addresses are resolved:
// tests never query a DNS server.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AI_CANONNAME, AI_NUMERICHOST, AI_PASSIVE, IPPROTO_TCP, IPPROTO_UDP, NI_NAMEREQD, NI_NUMERICHOST, NI_NUMERICSERV,
  NS_ALL, SIO_ADDRESS_LIST_QUERY, SOCK_DGRAM, SOCK_STREAM, SO_WSK_SECURITY, SOL_SOCKET, STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED,
  STATUS_INVALID_PARAMETER, STATUS_NOT_FOUND, STATUS_PENDING, STATUS_SUCCESS, WSK_CACHE_SD,
  WSK_FLAG_LISTEN_SOCKET, WSK_RELEASE_SD, WSK_TDI_BEHAVIOR, WSK_TRANSPORT_LIST_CHANGE, WSK_TRANSPORT_LIST_QUERY,
  WskGetOption, WskIoctl, WskSetOption, PsGetCurrentProcess, UNICODE_STRING, makeSockaddrIn, ntohs,
  type ADDRINFOEXW, type PADDRINFOEXW, type SECURITY_DESCRIPTOR, type SOCKET_ADDRESS_LIST, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_TRANSPORT, type WSK_SOCKET,
} from '../../index.ts';
import { call, cancel, sleep, start } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import { anySocket, anySocketKind, close, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';

const hints = (family: number, flags = 0): ADDRINFOEXW => ({
  ai_flags: flags, ai_family: family, ai_socktype: SOCK_STREAM, ai_protocol: IPPROTO_TCP, ai_addrlen: 0,
  ai_canonname: null, ai_addr: null, ai_blob: null, ai_bloblen: 0, ai_provider: null, ai_next: null,
});

export function clientControlsContract(target: ContractTarget): void {
  const { factory } = target;
  const hostIp = target.hostAddress(AF_INET);
  describe('client controls and name resolution (R49–R51)', () => {
    it('R49: WSK_TRANSPORT_LIST_QUERY reports the required size, then the triples; WSK_TRANSPORT_LIST_CHANGE pends and is cancelled by deregistration', async () => {
      const w = await openSession(factory);
      const size = { value: 0 };
      expect(w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_QUERY, 0, null, 0, null, size, null)).toBe(STATUS_BUFFER_OVERFLOW);
      expect(size.value % 28).toBe(0);
      const list: WSK_TRANSPORT[] = [];
      expect(w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_QUERY, 0, null, size.value, list, size, null)).toBe(STATUS_SUCCESS);
      if (target.streams && target.ipv6) {
        expect(list.some((t) => t.AddressFamily === AF_INET6 && t.SocketType === SOCK_STREAM && t.Protocol === IPPROTO_TCP)).toBe(true);
      }
      expect(list.some((t) => t.AddressFamily === AF_INET && t.SocketType === SOCK_DGRAM && t.Protocol === IPPROTO_UDP)).toBe(true);
      expect(w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_CHANGE, 0, null, 0, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      const change = start((irp) => w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_CHANGE, 0, null, 0, null, null, irp));
      expect(change.returned).toBe(STATUS_PENDING);
      await sleep(20);
      expect(change.completed()).toBe(false);
      await w.close();
      expect((await change.done).status).toBe(STATUS_CANCELLED);
    });

    it('R23/R49: client controls other than WSK_TRANSPORT_LIST_CHANGE take no IRP; TDI controls only before the first socket', async () => {
      const w = await openSession(factory);
      const r = await call((irp) => w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_QUERY, 0, null, 0, null, null, irp));
      expect(r.status).toBe(STATUS_INVALID_PARAMETER);
      expect(w.Dispatch.WskControlClient(w.Client, WSK_TDI_BEHAVIOR, 4, { value: 1 }, 0, null, null, null)).toBe(STATUS_SUCCESS);
      const s = await anySocket(w, target);
      expect(w.Dispatch.WskControlClient(w.Client, WSK_TDI_BEHAVIOR, 4, { value: 1 }, 0, null, null, null)).toBe(0xc0000184 | 0);
      await close(s);
      await w.close();
    });

    it('R50: only cached security descriptors are accepted (WskSocket, SO_WSK_SECURITY); get returns a cached copy released by WSK_RELEASE_SD', async () => {
      const w = await openSession(factory);
      const raw: SECURITY_DESCRIPTOR = { Owner: PsGetCurrentProcess(), Allowed: 'Everyone' };
      // A TCP listener where the target has streams, else a datagram socket.
      const kind = target.streams ? { type: SOCK_STREAM, protocol: IPPROTO_TCP, flags: WSK_FLAG_LISTEN_SOCKET } : anySocketKind(target);
      const notCached = await call((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, kind.type, kind.protocol, kind.flags, null, null, null, null, raw, irp));
      expect(notCached.status).toBe(STATUS_INVALID_PARAMETER);
      const cached = { value: null as SECURITY_DESCRIPTOR | null };
      expect(w.Dispatch.WskControlClient(w.Client, WSK_CACHE_SD, 8, { value: raw }, 8, cached, null, null)).toBe(STATUS_SUCCESS);
      const a = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, 2, 17, 4, null, null, null, null, cached.value, irp));
      expect(a.status).toBe(STATUS_SUCCESS);
      const da = a.information.Dispatch as WSK_PROVIDER_BASIC_DISPATCH & { WskBind: Function };
      expect((await call((irp) => (a.information.Dispatch as { WskBind: (s: unknown, a: unknown, f: number, i: unknown) => number }).WskBind(a.information, makeSockaddrIn(hostIp, 0), 0, irp))).status).toBe(STATUS_SUCCESS);
      const got = { value: null as unknown };
      expect((await call((irp) => da.WskControlSocket(a.information, WskGetOption, SO_WSK_SECURITY, SOL_SOCKET, 0, null, 8, got, null, irp))).status).toBe(STATUS_SUCCESS);
      expect(w.Dispatch.WskControlClient(w.Client, WSK_RELEASE_SD, 8, got, 0, null, null, null)).toBe(STATUS_SUCCESS);
      const b = await socket(w, 4);
      expect((await call((irp) => (b.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(b, WskSetOption, SO_WSK_SECURITY, SOL_SOCKET, 8, raw, 0, null, null, irp))).status).toBe(STATUS_INVALID_PARAMETER);
      await close(a.information); await close(b);
      expect(w.Dispatch.WskControlClient(w.Client, WSK_RELEASE_SD, 8, cached, 0, null, null, null)).toBe(STATUS_SUCCESS);
      await w.close();
    });

    it('R51: WskGetAddressInfo resolves localhost and numeric hosts with ports; NULL IRP is refused untouched; unresolvable is STATUS_NOT_FOUND', async () => {
      const w = await openSession(factory);
      const result: { value: PADDRINFOEXW } = { value: null };
      expect(w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('localhost'), UNICODE_STRING('80'), NS_ALL, null, hints(AF_INET), result, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      const r = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('localhost'), UNICODE_STRING('8080'), NS_ALL, null, hints(AF_INET, AI_CANONNAME), result, null, null, irp));
      expect([r.returned, r.status, r.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
      const first = result.value!;
      expect([first.ai_family, first.ai_addrlen, first.ai_canonname]).toEqual([AF_INET, 16, 'localhost']);
      expect(ntohs((first.ai_addr as { sin_port: number }).sin_port)).toBe(8080);
      w.Dispatch.WskFreeAddressInfo(w.Client, result.value);
      const v6 = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('::1'), UNICODE_STRING('http'), NS_ALL, null, hints(0), result, null, null, irp));
      expect(v6.status).toBe(STATUS_SUCCESS);
      expect([result.value!.ai_family, result.value!.ai_addrlen, ntohs((result.value!.ai_addr as { sin6_port: number }).sin6_port)]).toEqual([AF_INET6, 28, 80]);
      const passive = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, null, UNICODE_STRING('9'), NS_ALL, null, hints(AF_INET, AI_PASSIVE), result, null, null, irp));
      expect(passive.status).toBe(STATUS_SUCCESS);
      expect(Array.from((result.value!.ai_addr as { sin_addr: Uint8Array }).sin_addr)).toEqual([0, 0, 0, 0]);
      const nf = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('not-a-number.example'), null, NS_ALL, null, hints(AF_INET, AI_NUMERICHOST), result, null, null, irp));
      expect(nf.status).toBe(STATUS_NOT_FOUND);
      const badService = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('127.0.0.1'), UNICODE_STRING('no-such-service-xyz'), NS_ALL, null, hints(AF_INET), result, null, null, irp));
      expect(badService.status).toBe(STATUS_NOT_FOUND);
      const threadOnly = await call((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('localhost'), null, NS_ALL, null, hints(AF_INET), result, null, { Process: PsGetCurrentProcess() }, irp));
      expect(threadOnly.status).toBe(STATUS_INVALID_PARAMETER);
      const pending = start((irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING('localhost'), null, NS_ALL, null, hints(AF_INET), result, null, null, irp));
      cancel(pending);
      expect((await pending.done).status).toBe(STATUS_CANCELLED);
      await w.close();
    });

    it('R51: WskGetNameInfo gives numeric or host names into caller UNICODE_STRINGs, with buffer checks', async () => {
      const w = await openSession(factory);
      const node = UNICODE_STRING(null, 64), service = UNICODE_STRING(null, 16);
      const addr = makeSockaddrIn('127.0.0.1', 80);
      const n1 = await call((irp) => w.Dispatch.WskGetNameInfo(w.Client, addr, 16, node, service, NI_NUMERICHOST | NI_NUMERICSERV, null, null, irp));
      expect([n1.status, node.Buffer, service.Buffer]).toEqual([STATUS_SUCCESS, '127.0.0.1', '80']);
      const n2 = await call((irp) => w.Dispatch.WskGetNameInfo(w.Client, addr, 16, node, service, NI_NAMEREQD, null, null, irp));
      expect([n2.status, node.Buffer, service.Buffer]).toEqual([STATUS_SUCCESS, 'localhost', 'http']);
      const tiny = UNICODE_STRING(null, 3);
      expect((await call((irp) => w.Dispatch.WskGetNameInfo(w.Client, addr, 16, tiny, null, NI_NUMERICHOST, null, null, irp))).status).toBe(STATUS_BUFFER_OVERFLOW);
      expect((await call((irp) => w.Dispatch.WskGetNameInfo(w.Client, addr, 16, null, null, 0, null, null, irp))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await call((irp) => w.Dispatch.WskGetNameInfo(w.Client, addr, 200, node, null, 0, null, null, irp))).status).toBe(STATUS_INVALID_PARAMETER);
      expect(w.Dispatch.WskGetNameInfo(w.Client, addr, 16, node, null, 0, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      await w.close();
    });

    it('R23: SIO_ADDRESS_LIST_QUERY takes no IRP, reports the size needed, then the local addresses', async () => {
      const w = await openSession(factory);
      const s = await anySocket(w, target);
      const t = s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;
      const needed = { value: 0 };
      expect(t.WskControlSocket(s, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, null, 0, null, needed, null)).toBe(STATUS_BUFFER_OVERFLOW);
      expect(needed.value).toBeGreaterThan(8);
      const list = { iAddressCount: 0, Address: [] } as SOCKET_ADDRESS_LIST;
      expect(t.WskControlSocket(s, WskIoctl, SIO_ADDRESS_LIST_QUERY, 0, 0, null, needed.value, list, needed, null)).toBe(STATUS_SUCCESS);
      expect(list.Address.some((a) => Array.from((a.lpSockaddr as { sin_addr: Uint8Array }).sin_addr).join('.') === hostIp)).toBe(true);
      await close(s);
      await w.close();
    });
  });
}

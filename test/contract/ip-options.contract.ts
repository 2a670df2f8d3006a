// IP-level and socket options drivers set on datagram sockets (issue 13, deliverable 4), on every
// provider: IP_TTL, IP_TOS, IP_DONTFRAGMENT, IP_UNICAST_IF (Microsoft's "IPPROTO_IP socket
// options" page), IPV6_UNICAST_HOPS, IPV6_TCLASS, IPV6_DONTFRAG ("IPPROTO_IPV6 socket options"; on
// providers with IPv6), SO_SNDBUF ("SOL_SOCKET socket options"), and IPv4 multicast; numbers from ws2ipdef.h/ws2def.h,
// set and read through WskControlSocket (WskSetOption/WskGetOption, the WskControlSocket page).
// What the wire shows (TTL, TOS, DF seen by a Linux peer) is in test/interop/ip-options.test.ts.
import { describe, expect, it } from 'vitest';
import {
  IPPROTO_IP, IPPROTO_IPV6, IP_ADD_MEMBERSHIP, IP_DONTFRAGMENT, IP_DROP_MEMBERSHIP, IP_HOPLIMIT, IP_MREQ, IP_MULTICAST_IF, IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL, IP_RECVTOS, IP_TOS, IP_TTL, IP_UNICAST_IF, IPV6_ADD_MEMBERSHIP, IPV6_DONTFRAG, IPV6_DROP_MEMBERSHIP, IPV6_HOPLIMIT, IPV6_MREQ,
  IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP, IPV6_RECVTCLASS, IPV6_TCLASS, IPV6_UNICAST_HOPS, NPI_WSK_INTERFACE_ID, SIZEOF_IP_MREQ,
  SIZEOF_IPV6_MREQ, SO_SNDBUF,
  SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_BUFFER_OVERFLOW, STATUS_INVALID_DEVICE_STATE,
  STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
  WSACMSGHDR, WSAMSG, WSA_CMSG_DATA, WSA_CMSG_FIRSTHDR, WSA_CMSG_LEN, WSA_CMSG_NXTHDR, WSA_CMSG_SPACE, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WskGetOption, WskSetOption, cmsgInt, htonl, makeSockaddrIn, makeSockaddrIn6, setCmsgInt,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, until } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import { AF_INET, AF_INET6, bind, buf, close, dgTable, expectOk, hostSockaddr, localPort, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';
import { rawSocket, type Packet } from './raw.contract.ts';

const control = (s: WSK_SOCKET) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket;

const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number, inSize = 4) =>
  call((irp) => control(s)(s, WskSetOption, code, level, inSize, { value }, 0, null, null, irp));

async function getOpt(s: WSK_SOCKET, level: number, code: number, outSize = 4): Promise<{ status: number; value: number }> {
  const out = { value: -1 };
  const r = await call((irp) => control(s)(s, WskGetOption, code, level, 0, null, outSize, out, null, irp));
  return { status: r.status, value: out.value };
}

// IP_UNICAST_IF takes the IPv4 interface index in network byte order (htonl; IPPROTO_IP socket options page).

/** A dotted quad as the DWORD IP_MULTICAST_IF takes: an IN_ADDR, its bytes in memory order. */
const inAddrDword = (text: string): number => new DataView(Uint8Array.from(text.split('.').map(Number)).buffer).getUint32(0, true);

/** A DWORD option: its name, level and number, the default both providers report, a value set before bind, one set after. */
type OptionRow = [name: string, level: number, code: number, initial: number, before: number, after: number];

/** IPPROTO_IP and SOL_SOCKET options of an AF_INET datagram socket (interface 1: loopback in every namespace, the stack's only interface). */
const ipv4Rows = (hostIp: string): OptionRow[] => [
  ['IP_TTL', IPPROTO_IP, IP_TTL, 64, 9, 200],
  ['IP_TOS', IPPROTO_IP, IP_TOS, 0, 0x20, 0],
  ['IP_DONTFRAGMENT', IPPROTO_IP, IP_DONTFRAGMENT, 0, 1, 0],
  ['IP_UNICAST_IF', IPPROTO_IP, IP_UNICAST_IF, 0, htonl(1), 0],
  ['SO_SNDBUF', SOL_SOCKET, SO_SNDBUF, 256 * 1024, 65536, 131072],
  ['IP_MULTICAST_TTL', IPPROTO_IP, IP_MULTICAST_TTL, 1, 5, 2],
  ['IP_MULTICAST_LOOP', IPPROTO_IP, IP_MULTICAST_LOOP, 1, 0, 1],
  ['IP_MULTICAST_IF', IPPROTO_IP, IP_MULTICAST_IF, 0, inAddrDword(hostIp), 0],
];

/** IPPROTO_IPV6 options of an AF_INET6 datagram socket (IPV6_MULTICAST_IF: an interface index in host order, 1 the loopback or the stack's one interface). */
const IPV6_ROWS: OptionRow[] = [
  ['IPV6_UNICAST_HOPS', IPPROTO_IPV6, IPV6_UNICAST_HOPS, 64, 21, 22],
  ['IPV6_TCLASS', IPPROTO_IPV6, IPV6_TCLASS, 0, 0x48, 0x20],
  ['IPV6_DONTFRAG', IPPROTO_IPV6, IPV6_DONTFRAG, 0, 1, 0],
  ['IPV6_MULTICAST_HOPS', IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1, 5, 2],
  ['IPV6_MULTICAST_LOOP', IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1, 0, 1],
  ['IPV6_MULTICAST_IF', IPPROTO_IPV6, IPV6_MULTICAST_IF, 0, 1, 0],
];

/** Each row on one fresh datagram socket: the default, set before bind, kept through bind, set after it, read back. */
async function setAndReadBack(target: ContractTarget, family: number, rows: OptionRow[]): Promise<void> {
  const w = await openSession(target.factory);
  const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, family);
  for (const [name, level, code, initial] of rows) expect(await getOpt(dg, level, code), `${name} default`).toEqual({ status: STATUS_SUCCESS, value: initial });
  for (const [name, level, code, , before] of rows) expect((await setOpt(dg, level, code, before)).status, `${name} before bind`).toBe(STATUS_SUCCESS);
  expect(await bind(dg, hostSockaddr(target, family))).toBe(STATUS_SUCCESS);
  for (const [name, level, code, , before] of rows) expect(await getOpt(dg, level, code), `${name} after bind`).toEqual({ status: STATUS_SUCCESS, value: before });
  for (const [name, level, code, , , after] of rows) {
    expect((await setOpt(dg, level, code, after)).status, `${name} set when bound`).toBe(STATUS_SUCCESS);
    expect(await getOpt(dg, level, code), `${name} read when bound`).toEqual({ status: STATUS_SUCCESS, value: after });
  }
  await close(dg);
  await w.close();
}

export function ipOptionsContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (port = 0) => hostSockaddr(target, AF_INET, port);

  describe('IP-level and socket options on datagram sockets (issue 13: IP_TTL, IP_TOS, IP_DONTFRAGMENT, IP_UNICAST_IF, SO_SNDBUF)', () => {
    it('the ws2ipdef.h/ws2def.h numbers: IP_TTL 4, IP_TOS 3, IP_DONTFRAGMENT 14, IP_UNICAST_IF 31 at IPPROTO_IP 0; SO_SNDBUF 0x1001 at SOL_SOCKET 0xffff', () => {
      expect([IPPROTO_IP, IP_TTL, IP_TOS, IP_DONTFRAGMENT, IP_UNICAST_IF, SOL_SOCKET, SO_SNDBUF]).toEqual([0, 4, 3, 14, 31, 0xffff, 0x1001]);
    });

    it('each is a DWORD a datagram socket sets before bind, keeps through bind, sets again after it and reads back, IP_MULTICAST_TTL/LOOP/IF too (IPPROTO_IP and SOL_SOCKET socket options pages)', async () => {
      await setAndReadBack(target, AF_INET, ipv4Rows(target.hostAddress(AF_INET)));
    });

    if (target.ipv6) {
      it('IPV6_UNICAST_HOPS (4, default 64), IPV6_TCLASS (39, default 0), IPV6_DONTFRAG (14, default 0), IPV6_MULTICAST_HOPS (10, default 1), IPV6_MULTICAST_LOOP (11, default 1) and IPV6_MULTICAST_IF (9, default 0) at IPPROTO_IPV6 (41): an AF_INET6 datagram socket sets them before and after bind and reads them back (IPPROTO_IPV6 socket options page)', async () => {
        expect([IPPROTO_IPV6, IPV6_UNICAST_HOPS, IPV6_TCLASS, IPV6_DONTFRAG, IPV6_MULTICAST_IF, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP]).toEqual([41, 4, 39, 14, 9, 10, 11]);
        await setAndReadBack(target, AF_INET6, IPV6_ROWS);
      });
    }

    it('a datagram leaves with the socket\'s IP_TTL and IP_TOS (the receiver\'s IP_HOPLIMIT and IP_RECVTOS objects say which); IP_TOS control info overrides the TOS for one datagram (IPPROTO_IP socket options page, WSASendMsg page)', async () => {
      const w = await openSession(factory);
      const got: { data: string; objects: [number, number, number][] }[] = [];
      const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list) => {
          for (let d = list; d; d = d.Next) {
            const msg = WSAMSG();
            msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
            const objects: [number, number, number][] = [];
            for (let h = WSA_CMSG_FIRSTHDR(msg); h; h = WSA_CMSG_NXTHDR(msg, h)) objects.push([h.cmsg_level, h.cmsg_type, cmsgInt(WSA_CMSG_DATA(h))]);
            const b = d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
            got.push({ data: Buffer.from(b).toString(), objects });
          }
          return STATUS_SUCCESS;
        },
      };
      const rx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, events);
      for (const code of [IP_RECVTOS, IP_HOPLIMIT]) await expectOk(setOpt(rx, IPPROTO_IP, code, 1), `option ${code}`);
      expect(await bind(rx, host())).toBe(STATUS_SUCCESS);
      expect(control(rx)(rx, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
        .toBe(STATUS_SUCCESS);
      const rxPort = await localPort(rx);
      const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      await expectOk(setOpt(tx, IPPROTO_IP, IP_TTL, 37), 'IP_TTL before bind');
      await expectOk(setOpt(tx, IPPROTO_IP, IP_TOS, 0x28), 'IP_TOS before bind');
      expect(await bind(tx, host())).toBe(STATUS_SUCCESS);
      await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from('one')), 0, host(rxPort), 0, null, irp)), 'first WskSendTo');
      await until(() => got.length === 1, 5000, 'the first datagram');
      await expectOk(setOpt(tx, IPPROTO_IP, IP_TTL, 99), 'IP_TTL after bind');
      const cmsg = new Uint8Array(WSA_CMSG_SPACE(4));
      const h = new WSACMSGHDR(cmsg, 0);
      h.cmsg_len = WSA_CMSG_LEN(4); h.cmsg_level = IPPROTO_IP; h.cmsg_type = IP_TOS;
      setCmsgInt(WSA_CMSG_DATA(h), 0xb8);
      await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from('two')), 0, host(rxPort), cmsg.byteLength, cmsg, irp)), 'second WskSendTo');
      await until(() => got.length === 2, 5000, 'the second datagram');
      expect(got).toEqual([
        { data: 'one', objects: [[IPPROTO_IP, IP_TOS, 0x28], [IPPROTO_IP, IP_TTL, 37]] },
        { data: 'two', objects: [[IPPROTO_IP, IP_TOS, 0xb8], [IPPROTO_IP, IP_TTL, 99]] },
      ]);
      await close(tx); await close(rx);
      await w.close();
    });

    it('misuse gets STATUS_INVALID_PARAMETER (a TTL of 0 or 256, a TOS of 256, an input shorter than a DWORD, an interface that does not exist, IP_DONTFRAGMENT on a connection socket, the options at IPPROTO_IPV6 on an AF_INET socket) or STATUS_BUFFER_OVERFLOW (an output shorter than a DWORD), never an exception, and the value stays', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(dg, host())).toBe(STATUS_SUCCESS);
      expect((await setOpt(dg, IPPROTO_IP, IP_TTL, 0)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IP, IP_TTL, 256)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IP, IP_TTL, 50, 2)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IP, IP_TOS, 256)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IP, IP_UNICAST_IF, htonl(999_999))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await getOpt(dg, IPPROTO_IP, IP_TTL, 2)).status).toBe(STATUS_BUFFER_OVERFLOW);
      expect(await getOpt(dg, IPPROTO_IP, IP_TTL)).toEqual({ status: STATUS_SUCCESS, value: 64 });
      expect(await getOpt(dg, IPPROTO_IP, IP_TOS)).toEqual({ status: STATUS_SUCCESS, value: 0 });
      expect(await getOpt(dg, IPPROTO_IP, IP_UNICAST_IF)).toEqual({ status: STATUS_SUCCESS, value: 0 });
      if (target.streams) {
        const tcp = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        // IP_TTL and IP_TOS apply to TCP sockets too (tcp-ip-options.contract.ts); these do not.
        expect((await setOpt(tcp, IPPROTO_IP, IP_DONTFRAGMENT, 1)).status).toBe(STATUS_INVALID_PARAMETER);
        expect((await getOpt(tcp, IPPROTO_IP, IP_DONTFRAGMENT)).status).toBe(STATUS_INVALID_PARAMETER);
        await close(tcp);
      }
      await close(dg);
      await w.close();
    });

    if (target.ipv6) {
      it('the receiver\'s IPV6_HOPLIMIT and IPV6_TCLASS objects show the IPV6_UNICAST_HOPS and IPV6_TCLASS an AF_INET6 socket sent with; a hop limit of 0 or 256 or a class of 256 is STATUS_INVALID_PARAMETER and the value stays (IPPROTO_IPV6 socket options page)', async () => {
        const w = await openSession(factory);
        const host6 = (port = 0) => hostSockaddr(target, AF_INET6, port);
        const got: [number, number, number][][] = [];
        const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
          WskReceiveFromEvent: (_c, _f, list) => {
            for (let d = list; d; d = d.Next) {
              const msg = WSAMSG();
              msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
              const objects: [number, number, number][] = [];
              for (let h = WSA_CMSG_FIRSTHDR(msg); h; h = WSA_CMSG_NXTHDR(msg, h)) objects.push([h.cmsg_level, h.cmsg_type, cmsgInt(WSA_CMSG_DATA(h))]);
              got.push(objects);
            }
            return STATUS_SUCCESS;
          },
        };
        const rx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, events);
        for (const code of [IPV6_RECVTCLASS, IPV6_HOPLIMIT]) await expectOk(setOpt(rx, IPPROTO_IPV6, code, 1), `option ${code}`);
        expect(await bind(rx, host6())).toBe(STATUS_SUCCESS);
        expect(control(rx)(rx, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
          .toBe(STATUS_SUCCESS);
        const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
        await expectOk(setOpt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 21), 'IPV6_UNICAST_HOPS');
        expect(await bind(tx, host6())).toBe(STATUS_SUCCESS);
        await expectOk(setOpt(tx, IPPROTO_IPV6, IPV6_TCLASS, 0x48), 'IPV6_TCLASS');
        const rxPort = await localPort(rx);
        await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from('six')), 0, host6(rxPort), 0, null, irp)), 'WskSendTo');
        await until(() => got.length === 1, 5000, 'the datagram');
        expect(got[0]).toEqual([[IPPROTO_IPV6, IPV6_TCLASS, 0x48], [IPPROTO_IPV6, IPV6_HOPLIMIT, 21]]);
        // Misuse: hop limit 0 or 256, class 256: STATUS_INVALID_PARAMETER, the value stays.
        expect((await setOpt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 0)).status).toBe(STATUS_INVALID_PARAMETER);
        expect((await setOpt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 256)).status).toBe(STATUS_INVALID_PARAMETER);
        expect((await setOpt(tx, IPPROTO_IPV6, IPV6_TCLASS, 256)).status).toBe(STATUS_INVALID_PARAMETER);
        expect(await getOpt(tx, IPPROTO_IPV6, IPV6_UNICAST_HOPS)).toEqual({ status: STATUS_SUCCESS, value: 21 });
        await close(tx); await close(rx);
        await w.close();
      });
    }

    it('the IPPROTO_IPV6 ones on an AF_INET socket: STATUS_INVALID_PARAMETER, set or get (IPPROTO_IPV6 socket options page: they apply to IPv6 sockets)', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      for (const code of [IPV6_UNICAST_HOPS, IPV6_TCLASS, IPV6_DONTFRAG]) {
        expect((await setOpt(dg, IPPROTO_IPV6, code, 1)).status, `set ${code}`).toBe(STATUS_INVALID_PARAMETER);
        expect((await getOpt(dg, IPPROTO_IPV6, code)).status, `get ${code}`).toBe(STATUS_INVALID_PARAMETER);
      }
      await close(dg);
      await w.close();
    });

    it('an IP_UNICAST_IF set before bind naming an interface that does not exist fails the bind with STATUS_INVALID_PARAMETER', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      await expectOk(setOpt(dg, IPPROTO_IP, IP_UNICAST_IF, htonl(999_999)), 'IP_UNICAST_IF before bind');
      expect(await bind(dg, host())).toBe(STATUS_INVALID_PARAMETER);
      await close(dg);
      await w.close();
    });
  });
}

/** An IP_MREQ for `group` on `iface` (dotted quads). */
function mreq(group: string, iface: string): IP_MREQ {
  const m = new IP_MREQ();
  m.imr_multiaddr = Uint8Array.from(group.split('.').map(Number));
  m.imr_interface = Uint8Array.from(iface.split('.').map(Number));
  return m;
}

const setMembership = (s: WSK_SOCKET, code: number, m: IP_MREQ | Uint8Array, inSize = SIZEOF_IP_MREQ) =>
  call((irp) => control(s)(s, WskSetOption, code, IPPROTO_IP, inSize, m, 0, null, null, irp));

export function multicastContract(target: ContractTarget): void {
  const { factory } = target;
  const hostIp = target.hostAddress(AF_INET);
  const host = (port = 0) => hostSockaddr(target, AF_INET, port);

  describe('IPv4 multicast on datagram sockets (issue 13: IP_ADD/DROP_MEMBERSHIP, IP_MULTICAST_IF/TTL/LOOP)', () => {
    it('the ws2ipdef.h numbers: IP_MULTICAST_IF 9, IP_MULTICAST_TTL 10, IP_MULTICAST_LOOP 11, IP_ADD_MEMBERSHIP 12, IP_DROP_MEMBERSHIP 13; IP_MREQ is 8 bytes', () => {
      expect([IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, SIZEOF_IP_MREQ]).toEqual([9, 10, 11, 12, 13, 8]);
    });

    it('a socket that joined 239.255.13.1 (IP_ADD_MEMBERSHIP, IP_MREQ on the host address) receives what another socket of this host sends to the group, with its IP_MULTICAST_TTL; after IP_DROP_MEMBERSHIP nothing more (IP_ADD_MEMBERSHIP page)', async () => {
      const w = await openSession(factory);
      const group = '239.255.13.1';
      const got: { data: string; ttl: number }[] = [];
      const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list) => {
          for (let d = list; d; d = d.Next) {
            const msg = WSAMSG();
            msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
            let ttl = -1;
            for (let h = WSA_CMSG_FIRSTHDR(msg); h; h = WSA_CMSG_NXTHDR(msg, h)) if (h.cmsg_type === IP_TTL) ttl = cmsgInt(WSA_CMSG_DATA(h));
            const b = d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
            got.push({ data: Buffer.from(b).toString(), ttl });
          }
          return STATUS_SUCCESS;
        },
      };
      const rx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, events);
      await expectOk(setOpt(rx, IPPROTO_IP, IP_HOPLIMIT, 1), 'IP_HOPLIMIT');
      expect(await bind(rx, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
      const port = await localPort(rx);
      expect(control(rx)(rx, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
        .toBe(STATUS_SUCCESS);
      await expectOk(setMembership(rx, IP_ADD_MEMBERSHIP, mreq(group, hostIp)), 'IP_ADD_MEMBERSHIP');
      const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      // The host address's interface (loopback for the kernel provider): nothing leaves the host.
      await expectOk(setOpt(tx, IPPROTO_IP, IP_MULTICAST_IF, inAddrDword(hostIp)), 'IP_MULTICAST_IF');
      await expectOk(setOpt(tx, IPPROTO_IP, IP_MULTICAST_TTL, 3), 'IP_MULTICAST_TTL');
      expect(await bind(tx, host())).toBe(STATUS_SUCCESS);
      const sendTo = async (text: string, to: string): Promise<void> =>
        expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from(text)), 0, makeSockaddrIn(to, port), 0, null, irp)), `WskSendTo ${text}`);
      await sendTo('to-group', group);
      await until(() => got.length === 1, 5000, 'the group datagram');
      await expectOk(setMembership(rx, IP_DROP_MEMBERSHIP, mreq(group, hostIp)), 'IP_DROP_MEMBERSHIP');
      await sendTo('after-drop', group);
      // A unicast datagram behind it: once it is in, the group one would have been too.
      await sendTo('unicast', hostIp);
      await until(() => got.length >= 2, 5000, 'the unicast datagram');
      expect(got).toEqual([{ data: 'to-group', ttl: 3 }, { data: 'unicast', ttl: 64 }]);
      await close(tx); await close(rx);
      await w.close();
    });

    it('misuse: a group outside 224.0.0.0/4, an input shorter than IP_MREQ, an interface that is not there, a drop of a group not joined, IP_MULTICAST_TTL 256, reading IP_ADD_MEMBERSHIP: STATUS_INVALID_PARAMETER; before bind STATUS_INVALID_DEVICE_STATE; a second join STATUS_ADDRESS_ALREADY_ASSOCIATED', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, mreq('239.255.13.2', hostIp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(await bind(dg, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, mreq('198.18.0.9', hostIp))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, mreq('239.255.13.2', hostIp), 4)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, new Uint8Array(4), 4)).status).toBe(STATUS_INVALID_PARAMETER);
      // Interface index 999999 in the 0.0.0.x form.
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, mreq('239.255.13.2', '0.15.66.63'))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership(dg, IP_DROP_MEMBERSHIP, mreq('239.255.13.2', hostIp))).status).toBe(STATUS_INVALID_PARAMETER);
      await expectOk(setMembership(dg, IP_ADD_MEMBERSHIP, mreq('239.255.13.2', hostIp)), 'IP_ADD_MEMBERSHIP');
      expect((await setMembership(dg, IP_ADD_MEMBERSHIP, mreq('239.255.13.2', hostIp))).status).toBe(STATUS_ADDRESS_ALREADY_ASSOCIATED);
      expect((await setOpt(dg, IPPROTO_IP, IP_MULTICAST_TTL, 256)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await getOpt(dg, IPPROTO_IP, IP_ADD_MEMBERSHIP, SIZEOF_IP_MREQ)).status).toBe(STATUS_INVALID_PARAMETER);
      await expectOk(setMembership(dg, IP_DROP_MEMBERSHIP, mreq('239.255.13.2', hostIp)), 'IP_DROP_MEMBERSHIP');
      await close(dg);
      await w.close();
    });
  });
}

/** An IPV6_MREQ for `group` on interface index `iface`. */
function mreq6(group: string, iface: number): IPV6_MREQ {
  const m = new IPV6_MREQ();
  m.ipv6mr_multiaddr = makeSockaddrIn6(group, 0).sin6_addr;
  m.ipv6mr_interface = iface;
  return m;
}

const setMembership6 = (s: WSK_SOCKET, code: number, m: IPV6_MREQ | Uint8Array, inSize = SIZEOF_IPV6_MREQ) =>
  call((irp) => control(s)(s, WskSetOption, code, IPPROTO_IPV6, inSize, m, 0, null, null, irp));

/**
 * IPv6 multicast on AF_INET6 datagram sockets (IPPROTO_IPV6 socket options page: IPV6_ADD_MEMBERSHIP,
 * IPV6_DROP_MEMBERSHIP with an IPV6_MREQ, IPV6_MULTICAST_HOPS/LOOP/IF). Registered for targets
 * whose peer is on a link that carries IPv6 multicast (the userspace stack's memory link; the
 * kernel's loopback has none).
 */
export function multicast6Contract(target: ContractTarget): void {
  const { factory } = target;
  const GROUP = 'ff15::13:1';

  describe('IPv6 multicast on datagram sockets (IPV6_ADD/DROP_MEMBERSHIP, IPV6_MULTICAST_HOPS/LOOP/IF)', () => {
    it('the ws2ipdef.h numbers: IPV6_ADD_MEMBERSHIP 12, IPV6_DROP_MEMBERSHIP 13; IPV6_MREQ is 20 bytes', () => {
      expect([IPV6_ADD_MEMBERSHIP, IPV6_DROP_MEMBERSHIP, SIZEOF_IPV6_MREQ]).toEqual([12, 13, 20]);
    });

    it('a socket bound to [::] that joined a group receives what the peer and another socket of this host (IPV6_MULTICAST_HOPS 3, looped back) send to it, not what goes to a group nobody joined; after IPV6_DROP_MEMBERSHIP nothing more', async () => {
      const w = await openSession(factory);
      const got: { data: string; hops: number }[] = [];
      const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list) => {
          for (let d = list; d; d = d.Next) {
            const msg = WSAMSG();
            msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
            let hops = -1;
            for (let h = WSA_CMSG_FIRSTHDR(msg); h; h = WSA_CMSG_NXTHDR(msg, h)) if (h.cmsg_type === IPV6_HOPLIMIT) hops = cmsgInt(WSA_CMSG_DATA(h));
            const b = d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
            got.push({ data: Buffer.from(b).toString(), hops });
          }
          return STATUS_SUCCESS;
        },
      };
      const rx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, events);
      await expectOk(setOpt(rx, IPPROTO_IPV6, IPV6_HOPLIMIT, 1), 'IPV6_HOPLIMIT');
      expect(await bind(rx, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
      const port = await localPort(rx);
      expect(control(rx)(rx, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
        .toBe(STATUS_SUCCESS);
      await expectOk(setMembership6(rx, IPV6_ADD_MEMBERSHIP, mreq6(GROUP, 0)), 'IPV6_ADD_MEMBERSHIP');
      const peer = await target.udpPeer(AF_INET6);
      await peer.send(Buffer.from('peer-to-group'), port, GROUP);
      await until(() => got.length === 1, 5000, 'the peer\'s group datagram');
      const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
      await expectOk(setOpt(tx, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 3), 'IPV6_MULTICAST_HOPS');
      await expectOk(setOpt(tx, IPPROTO_IPV6, IPV6_MULTICAST_IF, 1), 'IPV6_MULTICAST_IF');
      expect(await bind(tx, hostSockaddr(target, AF_INET6))).toBe(STATUS_SUCCESS);
      const sendTo = async (text: string, to: string): Promise<void> =>
        expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from(text)), 0, makeSockaddrIn6(to, port), 0, null, irp)), `WskSendTo ${text}`);
      await sendTo('to-group', GROUP);
      await until(() => got.length === 2, 5000, 'the looped-back group datagram');
      await peer.send(Buffer.from('peer-to-other-group'), port, 'ff15::13:2');
      await expectOk(setMembership6(rx, IPV6_DROP_MEMBERSHIP, mreq6(GROUP, 0)), 'IPV6_DROP_MEMBERSHIP');
      await peer.send(Buffer.from('peer-after-drop'), port, GROUP);
      await sendTo('after-drop', GROUP);
      // A unicast datagram behind them: once it is in, the group ones would have been too.
      await sendTo('unicast', target.hostAddress(AF_INET6));
      await until(() => got.length >= 3, 5000, 'the unicast datagram');
      expect(got).toEqual([{ data: 'peer-to-group', hops: 1 }, { data: 'to-group', hops: 3 }, { data: 'unicast', hops: 64 }]);
      await close(tx); await close(rx);
      await peer.close();
      await w.close();
    });

    it('IPV6_MULTICAST_LOOP 0: what this host sends to a group it joined is not received here', async () => {
      const w = await openSession(factory);
      const got: string[] = [];
      const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list) => {
          for (let d = list; d; d = d.Next) got.push(Buffer.from(d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length)).toString());
          return STATUS_SUCCESS;
        },
      };
      const rx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, events);
      expect(await bind(rx, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
      const port = await localPort(rx);
      expect(control(rx)(rx, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
        .toBe(STATUS_SUCCESS);
      await expectOk(setMembership6(rx, IPV6_ADD_MEMBERSHIP, mreq6(GROUP, 0)), 'IPV6_ADD_MEMBERSHIP');
      const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
      await expectOk(setOpt(tx, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0), 'IPV6_MULTICAST_LOOP');
      expect(await bind(tx, hostSockaddr(target, AF_INET6))).toBe(STATUS_SUCCESS);
      for (const [text, to] of [['not-looped', GROUP], ['unicast', target.hostAddress(AF_INET6)]]) {
        await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from(text!)), 0, makeSockaddrIn6(to!, port), 0, null, irp)), text);
      }
      await until(() => got.length >= 1, 5000, 'the unicast datagram');
      expect(got).toEqual(['unicast']);
      await close(tx); await close(rx);
      await w.close();
    });

    it('a raw AF_INET6 socket (protocol 253) that joined a group receives what another raw socket of this host sends there (looped back), and after IPV6_DROP_MEMBERSHIP no more', async () => {
      const w = await openSession(factory);
      const host6 = target.hostAddress(AF_INET6);
      const got: Packet[] = [];
      const rx = await rawSocket(w, '::', 253, got, [], AF_INET6);
      await expectOk(setMembership6(rx, IPV6_ADD_MEMBERSHIP, mreq6(GROUP, 0)), 'IPV6_ADD_MEMBERSHIP');
      const tx = await rawSocket(w, host6, 253, null, [[IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 4]], AF_INET6);
      const send = (text: string, to: string) => expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from(text)), 0, makeSockaddrIn6(to, 0), 0, null, irp)), text);
      await send('raw-to-group', GROUP);
      await until(() => got.length === 1, 5000, 'the group packet');
      await expectOk(setMembership6(rx, IPV6_DROP_MEMBERSHIP, mreq6(GROUP, 0)), 'IPV6_DROP_MEMBERSHIP');
      await send('raw-after-drop', GROUP);
      await send('raw-unicast', host6);
      await until(() => got.length >= 2, 5000, 'the unicast packet');
      expect(got.map((p) => Buffer.from(p.bytes).toString())).toEqual(['raw-to-group', 'raw-unicast']);
      await close(tx); await close(rx);
      await w.close();
    });

    it('misuse: a group outside ff00::/8, an input shorter than IPV6_MREQ, an interface that is not there, a drop of a group not joined, an AF_INET socket, IPV6_MULTICAST_HOPS 256, IPV6_MULTICAST_IF 999999: STATUS_INVALID_PARAMETER; before bind STATUS_INVALID_DEVICE_STATE; a second join STATUS_ADDRESS_ALREADY_ASSOCIATED', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 0))).status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(await bind(dg, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('fd00::13:3', 0))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 0), 16)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, new Uint8Array(16), 16)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 999999))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setMembership6(dg, IPV6_DROP_MEMBERSHIP, mreq6('ff15::13:3', 0))).status).toBe(STATUS_INVALID_PARAMETER);
      await expectOk(setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 0)), 'IPV6_ADD_MEMBERSHIP');
      expect((await setMembership6(dg, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 0))).status).toBe(STATUS_ADDRESS_ALREADY_ASSOCIATED);
      expect((await setOpt(dg, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 256)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await setOpt(dg, IPPROTO_IPV6, IPV6_MULTICAST_IF, 999999)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await getOpt(dg, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, SIZEOF_IPV6_MREQ)).status).toBe(STATUS_INVALID_PARAMETER);
      await expectOk(setMembership6(dg, IPV6_DROP_MEMBERSHIP, mreq6('ff15::13:3', 0)), 'IPV6_DROP_MEMBERSHIP');
      const v4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET);
      expect(await bind(v4, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
      expect((await setMembership6(v4, IPV6_ADD_MEMBERSHIP, mreq6('ff15::13:3', 0))).status).toBe(STATUS_INVALID_PARAMETER);
      await close(v4); await close(dg);
      await w.close();
    });
  });
}

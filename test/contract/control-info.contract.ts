// Control info on datagram sockets (issue 13), on every provider: the IP_PKTINFO family of
// options, WSACMSGHDR objects on WskReceiveFromEvent indications and in WskReceiveFrom, IN_PKTINFO
// and IP_TOS/IP_ECN on WskSendTo/WskSendMessages, and the statuses misuse gets. What each test
// follows: Microsoft's IP_PKTINFO, IPV6_PKTINFO and IPPROTO_IP socket options pages, IN_PKTINFO,
// WSASendMsg, WSK_DATAGRAM_INDICATION, WskReceiveFrom, WskSendTo and WskSendEx pages; ws2def.h and
// ws2ipdef.h for the layout and the numbers.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, IN6_PKTINFO, IN_PKTINFO, IPPROTO_IP, IPPROTO_IPV6, IP_ECN, IP_HOPLIMIT, IP_PKTINFO, IP_RECVTOS, IP_TOS, IP_TTL,
  IPV6_ECN, IPV6_PKTINFO, IPV6_RECVTCLASS, IPV6_TCLASS, IPV6_V6ONLY, MSG_CTRUNC, NPI_WSK_INTERFACE_ID,
  SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, WSACMSGHDR, WSAMSG,
  WSA_CMSG_DATA, WSA_CMSG_FIRSTHDR, WSA_CMSG_NXTHDR, WSA_CMSG_SPACE, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_CONNECTION_SOCKET,
  WSK_FLAG_DATAGRAM_SOCKET, WskGetOption, WskSetOption, cmsgInt, makeSockaddrIn, makeSockaddrIn6, setCmsgInt,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, until } from '../helpers/wsk-call.ts';
import type { SOCKADDR } from '../../runtime/sockaddr.ts';
import { openSession, type WskSession } from '../helpers/wsk-session.ts';
import { bind, buf, close, connTable, connectedPair, dgTable, expectOk, hostSockaddr, localPort, portOf, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';
import { controlBuffer } from '../helpers/control-buffer.ts';

const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));

async function getOpt(s: WSK_SOCKET, level: number, code: number): Promise<{ status: number; value: number }> {
  const out = { value: -1 };
  const r = await call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskGetOption, code, level, 0, null, 4, out, null, irp));
  return { status: r.status, value: out.value };
}

interface Received { data: string; control: Uint8Array | null; controlLength: number; port: number }

/** What a WskReceiveFromEvent saw of each datagram, copied during the callback. */
interface Inbox { readonly got: Received[]; readonly dispatch: WSK_CLIENT_DATAGRAM_DISPATCH }

function inbox(): Inbox {
  const got: Received[] = [];
  return {
    got,
    dispatch: {
      WskReceiveFromEvent: (_ctx, _flags, list) => {
        for (let d = list; d; d = d.Next) {
          const bytes = d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
          got.push({
            data: Buffer.from(bytes).toString(), control: d.ControlInfo ? d.ControlInfo.slice(0, d.ControlInfoLength) : null,
            controlLength: d.ControlInfoLength, port: portOf(d.RemoteAddress),
          });
        }
        return STATUS_SUCCESS;
      },
    },
  };
}

/** A bound datagram socket whose WskReceiveFromEvent fills `box`. */
async function eventSocket(w: WskSession, address: SOCKADDR, box: Inbox,
  family = AF_INET, options: [number, number][] = []): Promise<{ sock: WSK_SOCKET; port: number }> {
  const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, family, null, box.dispatch);
  for (const [level, code] of options) await expectOk(setOpt(sock, level, code, 1), `option ${level}/${code}`);
  expect(await bind(sock, address)).toBe(STATUS_SUCCESS);
  const st = (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  expect(st).toBe(STATUS_SUCCESS);
  return { sock, port: await localPort(sock) };
}

/** The objects of a control buffer as [level, type, data] (walked with the ws2def.h macros). */
function objects(control: Uint8Array | null): [number, number, Uint8Array][] {
  const out: [number, number, Uint8Array][] = [];
  if (!control) return out;
  const msg = WSAMSG();
  msg.Control = { len: control.byteLength, buf: control };
  for (let c = WSA_CMSG_FIRSTHDR(msg); c; c = WSA_CMSG_NXTHDR(msg, c)) out.push([c.cmsg_level, c.cmsg_type, WSA_CMSG_DATA(c).slice()]);
  return out;
}

function inPktinfo(address: string, ifIndex = 0): Uint8Array {
  const d = new Uint8Array(8);
  const p = new IN_PKTINFO(d);
  p.ipi_addr = makeSockaddrIn(address, 0).sin_addr;
  p.ipi_ifindex = ifIndex;
  return d;
}

function int(v: number): Uint8Array {
  const d = new Uint8Array(4);
  setCmsgInt(d, v);
  return d;
}

const ipText = (a: Uint8Array): string => Array.from(a).join('.');

export function controlInfoContract(target: ContractTarget): void {
  const { factory } = target;
  const hostIp = target.hostAddress(AF_INET);
  const host = (port = 0) => hostSockaddr(target, AF_INET, port);

  describe('control info (issue 13: ws2def.h control buffers, IP_PKTINFO, IP_RECVTOS/IP_ECN)', () => {
    it('IP_PKTINFO (IPPROTO_IP, 19) is a DWORD boolean on datagram sockets, before and after bind; refused on connection sockets and, as IPV6_PKTINFO, on AF_INET sockets (IP_PKTINFO page)', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await getOpt(dg, IPPROTO_IP, IP_PKTINFO)).toEqual({ status: STATUS_SUCCESS, value: 0 });
      expect((await setOpt(dg, IPPROTO_IP, IP_PKTINFO, 1)).status).toBe(STATUS_SUCCESS);
      expect(await bind(dg, host())).toBe(STATUS_SUCCESS);
      expect(await getOpt(dg, IPPROTO_IP, IP_PKTINFO)).toEqual({ status: STATUS_SUCCESS, value: 1 });
      for (const code of [IP_RECVTOS, IP_ECN, IP_HOPLIMIT]) {
        expect((await setOpt(dg, IPPROTO_IP, code, 1)).status).toBe(STATUS_SUCCESS);
        expect((await getOpt(dg, IPPROTO_IP, code)).value).toBe(1);
      }
      expect((await setOpt(dg, IPPROTO_IP, IP_PKTINFO, 0)).status).toBe(STATUS_SUCCESS);
      expect((await getOpt(dg, IPPROTO_IP, IP_PKTINFO)).value).toBe(0);
      // The IPPROTO_IPV6 twins do not exist on an AF_INET socket.
      expect((await setOpt(dg, IPPROTO_IPV6, IPV6_PKTINFO, 1)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await getOpt(dg, IPPROTO_IPV6, IPV6_RECVTCLASS)).status).toBe(STATUS_INVALID_PARAMETER);
      if (target.streams) {
        const tcp = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        expect((await setOpt(tcp, IPPROTO_IP, IP_PKTINFO, 1)).status).toBe(STATUS_INVALID_PARAMETER);
        await close(tcp);
      }
      await close(dg);
      await w.close();
    });

    it('IP_PKTINFO on: each WskReceiveFromEvent datagram carries one IN_PKTINFO with the address the peer sent to and the arrival interface; off: ControlInfo NULL, ControlInfoLength 0 (WSK_DATAGRAM_INDICATION page)', async () => {
      const w = await openSession(factory);
      const on = inbox(), off = inbox();
      const a = await eventSocket(w, makeSockaddrIn('0.0.0.0', 0), on, AF_INET, [[IPPROTO_IP, IP_PKTINFO]]);
      const b = await eventSocket(w, host(), off);
      const peer = await target.udpPeer(AF_INET);
      await peer.send(Buffer.from('to-host'), a.port, hostIp);
      await peer.send(Buffer.from('to-second'), a.port, target.secondaryAddress);
      await peer.send(Buffer.from('plain'), b.port, hostIp);
      await until(() => on.got.length === 2 && off.got.length === 1, 5000, 'three datagrams');
      const byData = new Map(on.got.map((g) => [g.data, g]));
      for (const [data, to] of [['to-host', hostIp], ['to-second', target.secondaryAddress]] as const) {
        const g = byData.get(data)!;
        expect(g.controlLength).toBe(WSA_CMSG_SPACE(8));
        const [[level, type, payload]] = objects(g.control) as [[number, number, Uint8Array]];
        expect([level, type, payload.byteLength]).toEqual([IPPROTO_IP, IP_PKTINFO, 8]);
        const p = new IN_PKTINFO(payload);
        expect(ipText(p.ipi_addr)).toBe(to);
        expect(p.ipi_ifindex).toBeGreaterThan(0);
      }
      expect(off.got[0]).toMatchObject({ data: 'plain', control: null, controlLength: 0 });
      await peer.close();
      await close(a.sock); await close(b.sock);
      await w.close();
    });

    it('WskReceiveFrom fills ControlInfo and sets ControlLength; a short buffer gets whole objects only and MSG_CTRUNC; a NULL ControlLength ignores ControlInfo (WskReceiveFrom page)', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      await expectOk(setOpt(dg, IPPROTO_IP, IP_PKTINFO, 1), 'IP_PKTINFO');
      await expectOk(setOpt(dg, IPPROTO_IP, IP_HOPLIMIT, 1), 'IP_HOPLIMIT');
      expect(await bind(dg, host())).toBe(STATUS_SUCCESS);
      const port = await localPort(dg);
      const peer = await target.udpPeer(AF_INET);
      for (const text of ['one', 'two', 'three']) await peer.send(Buffer.from(text), port, hostIp);
      const receive = async (room: number | null) => {
        const data = new Uint8Array(16), control = new Uint8Array(64);
        const length = room === null ? null : { value: room };
        const flags = { value: -1 };
        const r = await call<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(data), 0, null, length, control, flags, irp));
        return { status: r.status, bytes: r.information, length: length?.value, flags: flags.value, control };
      };
      // Room for both objects: IN_PKTINFO then IP_TTL (IP_HOPLIMIT's object).
      const full = await receive(64);
      expect([full.status, full.bytes, full.length]).toEqual([STATUS_SUCCESS, 3, WSA_CMSG_SPACE(8) + WSA_CMSG_SPACE(4)]);
      expect(full.flags & MSG_CTRUNC).toBe(0);
      const got = objects(full.control.subarray(0, full.length));
      expect(got.map(([l, t]) => [l, t])).toEqual([[IPPROTO_IP, IP_PKTINFO], [IPPROTO_IP, IP_TTL]]);
      expect(ipText(new IN_PKTINFO(got[0]![2]).ipi_addr)).toBe(hostIp);
      expect(cmsgInt(got[1]![2])).toBeGreaterThan(0);
      // Room for the first object only.
      const short = await receive(WSA_CMSG_SPACE(8) + 8);
      expect([short.status, short.length, short.flags & MSG_CTRUNC]).toEqual([STATUS_SUCCESS, WSA_CMSG_SPACE(8), MSG_CTRUNC]);
      // No ControlLength: the datagram alone, ControlInfo untouched.
      const none = await receive(null);
      expect([none.status, none.bytes, none.flags]).toEqual([STATUS_SUCCESS, 5, -1]);
      expect(none.control.every((x) => x === 0)).toBe(true);
      await peer.close();
      await close(dg);
      await w.close();
    });

    it('WskSendTo honours IN_PKTINFO: the peer sees the source address asked for; WskSendMessages applies one control buffer to every datagram of the list (IN_PKTINFO, WSASendMsg pages)', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(dg, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
      const port = await localPort(dg);
      const peer = await target.udpPeer(AF_INET);
      const to = makeSockaddrIn(peer.address, peer.port);
      for (const source of [target.secondaryAddress, hostIp]) {
        const control = controlBuffer([IPPROTO_IP, IP_PKTINFO, inPktinfo(source)]);
        const r = await call<number>((irp) => dgTable(dg).WskSendTo(dg, buf(Buffer.from(`from ${source}`)), 0, to, control.byteLength, control, irp));
        expect([r.status, r.information]).toEqual([STATUS_SUCCESS, `from ${source}`.length]);
        const got = await peer.next();
        expect([Buffer.from(got.data).toString(), got.address, got.port]).toEqual([`from ${source}`, source, port]);
      }
      const control = controlBuffer([IPPROTO_IP, IP_PKTINFO, inPktinfo(target.secondaryAddress)]);
      const list = { Next: { Next: null, Buffer: buf(Buffer.from('m2')) }, Buffer: buf(Buffer.from('m1')) };
      const sm = await call<number>((irp) => dgTable(dg).WskSendMessages(dg, list, 0, to, control.byteLength, control, irp));
      expect([sm.status, sm.information]).toEqual([STATUS_SUCCESS, 4]);
      const two = [await peer.next(), await peer.next()];
      expect(two.map((g) => `${Buffer.from(g.data).toString()} ${g.address}`).sort()).toEqual([`m1 ${target.secondaryAddress}`, `m2 ${target.secondaryAddress}`]);
      await peer.close();
      await close(dg);
      await w.close();
    });

    it('IP_TOS and IP_ECN sent as control info arrive as IP_TOS (IP_RECVTOS), IP_ECN (IP_ECN) and IP_TTL (IP_HOPLIMIT) objects (IPPROTO_IP socket options page)', async () => {
      const w = await openSession(factory);
      const box = inbox();
      const rx = await eventSocket(w, host(), box, AF_INET, [[IPPROTO_IP, IP_RECVTOS], [IPPROTO_IP, IP_ECN], [IPPROTO_IP, IP_HOPLIMIT]]);
      const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(tx, host())).toBe(STATUS_SUCCESS);
      // DSCP 46 (EF) through IP_TOS, ECT(1) through IP_ECN: the byte on the wire is 0xb9.
      const control = controlBuffer([IPPROTO_IP, IP_TOS, int(46 << 2)], [IPPROTO_IP, IP_ECN, int(1)]);
      await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from('marked')), 0, host(rx.port), control.byteLength, control, irp)), 'WskSendTo');
      await until(() => box.got.length === 1, 5000, 'the marked datagram');
      const got = objects(box.got[0]!.control);
      expect(got.map(([l, t, d]) => [l, t, cmsgInt(d)])).toEqual([[IPPROTO_IP, IP_TOS, 0xb9], [IPPROTO_IP, IP_ECN, 1], [IPPROTO_IP, IP_TTL, 64]]);
      await close(tx); await close(rx.sock);
      await w.close();
    });

    it('misuse: an unknown control type, a malformed cmsg_len, ControlInfoLength past the buffer, IPV6_PKTINFO on an AF_INET socket, a source that is not local: STATUS_INVALID_PARAMETER, never an exception, nothing sent (WSASendMsg page)', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(dg, host())).toBe(STATUS_SUCCESS);
      const peer = await target.udpPeer(AF_INET);
      const to = makeSockaddrIn(peer.address, peer.port);
      const unknown = controlBuffer([IPPROTO_IP, 9999, int(1)]);
      const short = controlBuffer([IPPROTO_IP, IP_TOS, int(4)]);
      new WSACMSGHDR(short).cmsg_len = 8;
      const wrongLevel = controlBuffer([IPPROTO_IPV6, IPV6_PKTINFO, new Uint8Array(20)]);
      // 198.18.99.99 is inside the benchmark range and none of this host's addresses.
      const foreign = controlBuffer([IPPROTO_IP, IP_PKTINFO, inPktinfo('198.18.99.99')]);
      const noInterface = controlBuffer([IPPROTO_IP, IP_PKTINFO, inPktinfo('0.0.0.0', 999999)]);
      const cases: [string, number, Uint8Array | null][] = [
        ['unknown type', unknown.byteLength, unknown], ['cmsg_len 8', short.byteLength, short], ['length past buffer', short.byteLength + 8, short],
        ['NULL buffer', 24, null], ['wrong level', wrongLevel.byteLength, wrongLevel], ['foreign source', foreign.byteLength, foreign],
        ['no such interface', noInterface.byteLength, noInterface],
      ];
      for (const [what, length, control] of cases) {
        const r = await call((irp) => dgTable(dg).WskSendTo(dg, buf(Buffer.from(what)), 0, to, length, control, irp));
        expect([what, r.status, r.completions]).toEqual([what, STATUS_INVALID_PARAMETER, 1]);
      }
      const list = { Next: null, Buffer: buf(Buffer.from('listed')) };
      expect((await call((irp) => dgTable(dg).WskSendMessages(dg, list, 0, to, unknown.byteLength, unknown, irp))).status).toBe(STATUS_INVALID_PARAMETER);
      // The first datagram the peer gets is the good one sent after them all.
      await expectOk(call((irp) => dgTable(dg).WskSendTo(dg, buf(Buffer.from('after')), 0, to, 0, null, irp)), 'WskSendTo');
      expect(Buffer.from((await peer.next()).data).toString()).toBe('after');
      await peer.close();
      await close(dg);
      await w.close();
    });

    if (target.streams) {
      it('WskSendEx: control objects TCP does not define are STATUS_NOT_SUPPORTED, a malformed buffer STATUS_INVALID_PARAMETER; WskReceiveEx reports ControlInfoLength 0 (WskSendEx, WskReceiveEx pages)', async () => {
        const w = await openSession(factory);
        const { sock, peer } = await connectedPair(w, target);
        const t = connTable(sock);
        const objectsBuf = controlBuffer([IPPROTO_IP, IP_TOS, int(4)]);
        expect((await call((irp) => t.WskSendEx(sock, buf(Buffer.from('x')), 0, objectsBuf.byteLength, objectsBuf, irp))).status).toBe(STATUS_NOT_SUPPORTED);
        expect((await call((irp) => t.WskSendEx(sock, buf(Buffer.from('x')), 0, 7, objectsBuf, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        const sent = await call<number>((irp) => t.WskSendEx(sock, buf(Buffer.from('plain')), 0, 0, null, irp));
        expect([sent.status, sent.information]).toEqual([STATUS_SUCCESS, 5]);
        const echoed = new Promise<void>((resolve) => peer.once('data', (d: Buffer) => { peer.write(d); resolve(); }));
        await echoed;
        const data = new Uint8Array(8);
        const length = { value: 64 };
        const r = await call<number>((irp) => t.WskReceiveEx(sock, buf(data), 0, length, new Uint8Array(64), null, irp));
        expect([r.status, r.information, length.value]).toEqual([STATUS_SUCCESS, 5, 0]);
        peer.destroy();
        await close(sock);
        await w.close();
      });
    }

    if (target.ipv6) {
      it('dual-stack AF_INET6: IPv4 datagrams carry IN_PKTINFO (IP_PKTINFO is what asks for them), IPv6 ones IN6_PKTINFO; IPV6_TCLASS and IPV6_ECN go out and come back as objects (IPV6_PKTINFO, IP_PKTINFO pages)', async () => {
        const w = await openSession(factory);
        const box = inbox();
        const dual = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, box.dispatch);
        await expectOk(setOpt(dual, IPPROTO_IPV6, IPV6_V6ONLY, 0), 'IPV6_V6ONLY');
        for (const [level, code] of [[IPPROTO_IPV6, IPV6_PKTINFO], [IPPROTO_IP, IP_PKTINFO], [IPPROTO_IPV6, IPV6_RECVTCLASS], [IPPROTO_IPV6, IPV6_ECN]]) {
          await expectOk(setOpt(dual, level!, code!, 1), `option ${level}/${code}`);
        }
        expect(await bind(dual, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
        (dual.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dual, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
          { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
        const port = await localPort(dual);
        const v4 = await target.udpPeer(AF_INET);
        await v4.send(Buffer.from('over-v4'), port, target.hostAddress(AF_INET));
        await until(() => box.got.length === 1, 5000, 'the IPv4 datagram');
        const [pk4] = objects(box.got[0]!.control);
        expect([pk4![0], pk4![1], ipText(new IN_PKTINFO(pk4![2]).ipi_addr)]).toEqual([IPPROTO_IP, IP_PKTINFO, target.hostAddress(AF_INET)]);
        // An IPv6 sender on its own socket marks its datagram with IPV6_TCLASS and IPV6_ECN.
        const tx = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
        expect(await bind(tx, hostSockaddr(target, AF_INET6))).toBe(STATUS_SUCCESS);
        const control = controlBuffer([IPPROTO_IPV6, IPV6_TCLASS, int(10 << 2)], [IPPROTO_IPV6, IPV6_ECN, int(2)]);
        await expectOk(call((irp) => dgTable(tx).WskSendTo(tx, buf(Buffer.from('over-v6')), 0, hostSockaddr(target, AF_INET6, port), control.byteLength, control, irp)), 'WskSendTo v6');
        await until(() => box.got.length === 2, 5000, 'the IPv6 datagram');
        const got = objects(box.got[1]!.control);
        expect(got.map(([l, t]) => [l, t])).toEqual([[IPPROTO_IPV6, IPV6_PKTINFO], [IPPROTO_IPV6, IPV6_TCLASS], [IPPROTO_IPV6, IPV6_ECN]]);
        const p6 = new IN6_PKTINFO(got[0]![2]);
        expect(Array.from(p6.ipi6_addr)).toEqual(Array.from(makeSockaddrIn6(target.hostAddress(AF_INET6), 0).sin6_addr));
        expect([cmsgInt(got[1]![2]), cmsgInt(got[2]![2])]).toEqual([(10 << 2) | 2, 2]);
        await v4.close();
        await close(tx); await close(dual);
        await w.close();
      });
    }
  });
}


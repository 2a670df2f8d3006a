// Raw sockets (issue 13, deliverable 5) on every provider: WskSocket with SOCK_RAW makes a datagram
// socket for one IP protocol, as Winsock's raw sockets behave (Microsoft's "TCP/IP raw sockets"
// page; Linux's raw(7) where that page is silent): an IPv4 raw socket receives a copy of each
// packet of its protocol for its address, IPv4 header included; it sends its protocol's payload
// behind a header the provider builds from the socket's IP_TTL/IP_TOS, or with IP_HDRINCL
// (IPPROTO_IP socket options page) the header the application built, with total length and
// checksum always and identification and source address when 0 filled in. Packets here are
// built and checked with this file's own checksum, not the providers'.
import { describe, expect, it } from 'vitest';
import {
  IN_PKTINFO, IPPROTO_ICMP, IPPROTO_ICMPV6, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, WSK_EVENT_RECEIVE_FROM, IPPROTO_IP, IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP, IP_HDRINCL, IP_PKTINFO, IP_TOS, IP_TTL,
  SOCK_RAW, STATUS_ACCESS_DENIED, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, WSAMSG, WSA_CMSG_DATA, WSA_CMSG_FIRSTHDR, WSK_FLAG_CONNECTION_SOCKET,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_STREAM_SOCKET, WskGetOption, WskSetOption, makeSockaddrIn, makeSockaddrIn6,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, until } from '../helpers/wsk-call.ts';
import { openSession, type WskSession } from '../helpers/wsk-session.ts';
import { AF_INET, AF_INET6, bind, buf, close, dgTable, expectOk, hostSockaddr, portOf, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';

/** RFC 3692's number for experiments: no provider knows it, so only raw sockets see it. */
export const EXPERIMENTAL_PROTOCOL = 253;

export const control = (s: WSK_SOCKET) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket;
export const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => control(s)(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));
async function getOpt(s: WSK_SOCKET, level: number, code: number): Promise<{ status: number; value: number }> {
  const out = { value: -1 };
  const r = await call((irp) => control(s)(s, WskGetOption, code, level, 0, null, 4, out, null, irp));
  return { status: r.status, value: out.value };
}

/** RFC 1071, independent of the providers' checksum code. */
export function checksum(b: Uint8Array, from = 0, to = b.byteLength): number {
  let sum = 0;
  for (let i = from; i < to; i += 2) sum += (b[i]! << 8) + (i + 1 < to ? b[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
export const ip = (b: Uint8Array, at: number): string => Array.from(b.subarray(at, at + 4)).join('.');

export interface Packet { bytes: Uint8Array; from: string; port: number; pktinfo: string | null }

/** A raw socket of `protocol` bound to `address`, whose WskReceiveFromEvent copies what it gets into `got`. */
export async function rawSocket(w: WskSession, address: string, protocol: number, got: Packet[] | null = null, options: [number, number, number][] = [],
  family = AF_INET): Promise<WSK_SOCKET> {
  const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH | null = got && {
    WskReceiveFromEvent: (_c, _f, list) => {
      for (let d = list; d; d = d.Next) {
        let pktinfo: string | null = null;
        if (d.ControlInfo) {
          const msg = WSAMSG();
          msg.Control = { len: d.ControlInfoLength, buf: d.ControlInfo };
          const h = WSA_CMSG_FIRSTHDR(msg);
          if (h && h.cmsg_level === IPPROTO_IP && h.cmsg_type === IP_PKTINFO) pktinfo = Array.from(new IN_PKTINFO(WSA_CMSG_DATA(h)).ipi_addr).join('.');
        }
        const bytes = d.Buffer.Mdl!.buffer.slice(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
        const sin = d.RemoteAddress as { sin_addr?: Uint8Array; sin6_addr?: Uint8Array };
        const from = sin.sin_addr ? Array.from(sin.sin_addr).join('.') : Buffer.from(sin.sin6_addr!).toString('hex');
        got.push({ bytes, from, port: portOf(d.RemoteAddress), pktinfo });
      }
      return STATUS_SUCCESS;
    },
  };
  const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, family, SOCK_RAW, protocol, WSK_FLAG_DATAGRAM_SOCKET, null, dispatch, null, null, null, irp));
  if (r.status !== STATUS_SUCCESS) throw new Error(`WskSocket(SOCK_RAW, ${protocol}) failed: 0x${(r.status >>> 0).toString(16)}`);
  const s = r.information;
  for (const [level, code, value] of options) await expectOk(setOpt(s, level, code, value), `option ${code}`);
  expect(await bind(s, family === AF_INET ? makeSockaddrIn(address, 0) : makeSockaddrIn6(address, 0))).toBe(STATUS_SUCCESS);
  if (got) {
    const events = { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM };
    expect(control(s)(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, events, 0, null, null, null)).toBe(STATUS_SUCCESS);
  }
  return s;
}

export const sendTo = (s: WSK_SOCKET, bytes: Uint8Array, to: string) =>
  call((irp) => dgTable(s).WskSendTo(s, buf(bytes), 0, makeSockaddrIn(to, 0), 0, null, irp));

/** An ICMP echo request (RFC 792) with its checksum; type 128 makes an ICMPv6 one (RFC 4443 §4.1), whose checksum the host fills in (RFC 3542 §3.1). */
function echoRequest(identifier: number, sequence: number, data: Uint8Array, type = 8): Uint8Array {
  const m = new Uint8Array(8 + data.byteLength);
  m[0] = type;
  m[4] = identifier >> 8; m[5] = identifier & 0xff; m[6] = sequence >> 8; m[7] = sequence & 0xff;
  m.set(data, 8);
  if (type !== 8) return m;
  const c = checksum(m);
  m[2] = c >> 8; m[3] = c & 0xff;
  return m;
}

export function rawContract(target: ContractTarget): void {
  const { factory } = target;
  const host = target.hostAddress(AF_INET);

  describe('raw sockets (issue 13: SOCK_RAW datagram sockets, IP_HDRINCL; the "TCP/IP raw sockets" page)', () => {
    it('WskSocket with SOCK_RAW makes a datagram socket for an IP protocol; protocol 0, or a connection, listen or stream socket, is STATUS_INVALID_PARAMETER', async () => {
      const w = await openSession(factory);
      const make = (flags: number, protocol: number) =>
        call((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_RAW, protocol, flags, null, null, null, null, null, irp));
      for (const protocol of [IPPROTO_ICMP, IPPROTO_UDP, EXPERIMENTAL_PROTOCOL, IPPROTO_RAW]) {
        const r = await make(WSK_FLAG_DATAGRAM_SOCKET, protocol);
        expect(r.status, `protocol ${protocol}`).toBe(STATUS_SUCCESS);
        await close(r.information as WSK_SOCKET);
      }
      expect((await make(WSK_FLAG_DATAGRAM_SOCKET, 0)).status).toBe(STATUS_INVALID_PARAMETER);
      for (const flags of [WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_STREAM_SOCKET]) {
        expect((await make(flags, IPPROTO_ICMP)).status, `flags ${flags}`).toBe(STATUS_INVALID_PARAMETER);
      }
      await w.close();
    });

    it('an ICMP echo request sent on a raw IPPROTO_ICMP socket draws the echo reply, received with its IPv4 header and IP_PKTINFO control info', async () => {
      const w = await openSession(factory);
      const got: Packet[] = [];
      const s = await rawSocket(w, host, IPPROTO_ICMP, got, [[IPPROTO_IP, IP_PKTINFO, 1]]);
      const identifier = (process.pid ^ 0x5a5a) & 0xffff;
      const data = new TextEncoder().encode('raw socket echo');
      // The request carries no IPv4 header: the provider builds it (protocol 1).
      await expectOk(sendTo(s, echoRequest(identifier, 7, data), host), 'WskSendTo');
      const isReply = (p: Packet) => p.bytes[20] === 0 && u16(p.bytes, 24) === identifier;
      await until(() => got.some(isReply), 5000, 'the echo reply');
      const reply = got.find(isReply)!;
      const b = reply.bytes;
      expect(b[0]).toBe(0x45);
      expect(b[9]).toBe(IPPROTO_ICMP);
      expect(u16(b, 2)).toBe(b.byteLength);
      expect(checksum(b, 0, 20)).toBe(0);
      expect([ip(b, 12), ip(b, 16)]).toEqual([host, host]);
      expect(checksum(b, 20)).toBe(0);
      expect(u16(b, 26)).toBe(7);
      expect(Buffer.from(b.subarray(28)).toString()).toBe('raw socket echo');
      expect({ from: reply.from, port: reply.port, pktinfo: reply.pktinfo }).toEqual({ from: host, port: 0, pktinfo: host });
      await close(s);
      await w.close();
    });

    it('without IP_HDRINCL the header carries the socket\'s protocol, IP_TTL and IP_TOS; a raw socket of that (made-up) protocol receives it whole', async () => {
      const w = await openSession(factory);
      const got: Packet[] = [];
      const rx = await rawSocket(w, host, EXPERIMENTAL_PROTOCOL, got);
      const tx = await rawSocket(w, host, EXPERIMENTAL_PROTOCOL, null, [[IPPROTO_IP, IP_TTL, 17], [IPPROTO_IP, IP_TOS, 0x10]]);
      const payload = new TextEncoder().encode('protocol 253, header by the provider');
      await expectOk(sendTo(tx, payload, host), 'WskSendTo');
      await until(() => got.length > 0, 5000, 'the packet');
      const b = got[0]!.bytes;
      expect({ version: b[0]! >> 4, tos: b[1], length: u16(b, 2), ttl: b[8], protocol: b[9], src: ip(b, 12), dst: ip(b, 16) })
        .toEqual({ version: 4, tos: 0x10, length: b.byteLength, ttl: 17, protocol: EXPERIMENTAL_PROTOCOL, src: host, dst: host });
      expect(checksum(b, 0, (b[0]! & 0x0f) * 4)).toBe(0);
      expect(Buffer.from(b.subarray((b[0]! & 0x0f) * 4)).toString()).toBe('protocol 253, header by the provider');
      await close(tx); await close(rx);
      await w.close();
    });

    it('with IP_HDRINCL the application\'s header is sent as written, with total length and checksum filled in, and identification and source address when they are 0 (raw(7))', async () => {
      const w = await openSession(factory);
      const got: Packet[] = [];
      const rx = await rawSocket(w, host, EXPERIMENTAL_PROTOCOL, got);
      const tx = await rawSocket(w, host, EXPERIMENTAL_PROTOCOL, null, [[IPPROTO_IP, IP_HDRINCL, 1]]);
      expect(await getOpt(tx, IPPROTO_IP, IP_HDRINCL)).toEqual({ status: STATUS_SUCCESS, value: 1 });
      const payload = new TextEncoder().encode('header by the application');
      const p = new Uint8Array(20 + payload.byteLength);
      // Version 4, IHL 5, TOS 0x48, total length/identification/checksum/source left 0, TTL 33.
      p[0] = 0x45; p[1] = 0x48; p[8] = 33; p[9] = EXPERIMENTAL_PROTOCOL;
      p.set(host.split('.').map(Number), 16);
      p.set(payload, 20);
      await expectOk(sendTo(tx, p, host), 'WskSendTo');
      // A second one with its own identification and source: those stay as written.
      const q = p.slice();
      q[4] = 0x12; q[5] = 0x34;
      q.set(host.split('.').map(Number), 12);
      await expectOk(sendTo(tx, q, host), 'WskSendTo');
      await until(() => got.length >= 2, 5000, 'both packets');
      const [a, b] = [got[0]!.bytes, got[1]!.bytes];
      expect({ tos: a[1], length: u16(a, 2), ttl: a[8], protocol: a[9], src: ip(a, 12), dst: ip(a, 16) })
        .toEqual({ tos: 0x48, length: a.byteLength, ttl: 33, protocol: EXPERIMENTAL_PROTOCOL, src: host, dst: host });
      expect(u16(a, 4)).not.toBe(0);
      expect(checksum(a, 0, 20)).toBe(0);
      expect(Buffer.from(a.subarray(20)).toString()).toBe('header by the application');
      expect(u16(b, 4)).toBe(0x1234);
      expect(checksum(b, 0, 20)).toBe(0);
      await close(tx); await close(rx);
      await w.close();
    });

    it('a raw IPPROTO_UDP socket receives a copy of a UDP datagram, IPv4 and UDP headers included, while the UDP socket it was sent to receives it too', async () => {
      const w = await openSession(factory);
      const got: Packet[] = [];
      const raw = await rawSocket(w, host, IPPROTO_UDP, got);
      const peer = await target.udpPeer(AF_INET);
      const udp = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(udp, hostSockaddr(target, AF_INET))).toBe(STATUS_SUCCESS);
      await expectOk(call((irp) => dgTable(udp).WskSendTo(udp, buf(new TextEncoder().encode('to the peer')), 0, makeSockaddrIn(peer.address, peer.port), 0, null, irp)), 'WskSendTo');
      const first = await peer.next();
      await peer.send(new TextEncoder().encode('copied to raw'), first.port, host);
      const ours = (p: Packet) => p.bytes.byteLength >= 28 && u16(p.bytes, 20) === peer.port && u16(p.bytes, 22) === first.port;
      await until(() => got.some(ours), 5000, 'the raw copy');
      const b = got.find(ours)!.bytes;
      expect({ protocol: b[9], udpLength: u16(b, 24), data: Buffer.from(b.subarray(28)).toString() })
        .toEqual({ protocol: IPPROTO_UDP, udpLength: 8 + 13, data: 'copied to raw' });
      const r = await call((irp) => dgTable(udp).WskReceiveFrom(udp, buf(new Uint8Array(64)), 0, null, null, null, null, irp));
      expect({ status: r.status, bytes: r.information }).toEqual({ status: STATUS_SUCCESS, bytes: 13 });
      await peer.close();
      await close(udp); await close(raw);
      await w.close();
    });

    if (target.ipv6) {
      it('an ICMPv6 echo request sent on an AF_INET6 raw IPPROTO_ICMPV6 socket draws the echo reply, received without the IPv6 header (RFC 3542 §3: IPv6 raw sockets never see it)', async () => {
        const w = await openSession(factory);
        const got: Packet[] = [];
        const host6 = target.hostAddress(AF_INET6);
        const s = await rawSocket(w, host6, IPPROTO_ICMPV6, got, [], AF_INET6);
        const identifier = (process.pid ^ 0x6a6a) & 0xffff;
        await expectOk(call((irp) => dgTable(s).WskSendTo(s, buf(echoRequest(identifier, 9, new TextEncoder().encode('six'), 128)), 0, makeSockaddrIn6(host6, 0), 0, null, irp)), 'WskSendTo');
        const isReply = (p: Packet) => p.bytes[0] === 129 && u16(p.bytes, 4) === identifier;
        await until(() => got.some(isReply), 5000, 'the echo reply');
        const b = got.find(isReply)!.bytes;
        expect({ sequence: u16(b, 6), data: Buffer.from(b.subarray(8)).toString(), port: got.find(isReply)!.port }).toEqual({ sequence: 9, data: 'six', port: 0 });
        await close(s);
        await w.close();
      });
    }

    it('misuse gets the Windows NTSTATUS, never an exception: IP_HDRINCL on a UDP socket, a send shorter than an IPv4 header with IP_HDRINCL (STATUS_INVALID_PARAMETER), binding a raw IPPROTO_TCP socket (STATUS_ACCESS_DENIED); IPPROTO_RAW has IP_HDRINCL on', async () => {
      const w = await openSession(factory);
      const udp = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect((await setOpt(udp, IPPROTO_IP, IP_HDRINCL, 1)).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await getOpt(udp, IPPROTO_IP, IP_HDRINCL)).status).toBe(STATUS_INVALID_PARAMETER);
      const tx = await rawSocket(w, host, EXPERIMENTAL_PROTOCOL, null, [[IPPROTO_IP, IP_HDRINCL, 1]]);
      const r = await sendTo(tx, new Uint8Array(19), host);
      expect({ returned: r.returned, status: r.status, bytes: r.information }).toEqual({ returned: STATUS_INVALID_PARAMETER, status: STATUS_INVALID_PARAMETER, bytes: 0 });
      const raw = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_RAW, IPPROTO_RAW, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp));
      expect(await getOpt(raw.information, IPPROTO_IP, IP_HDRINCL)).toEqual({ status: STATUS_SUCCESS, value: 1 });
      const tcp = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_RAW, IPPROTO_TCP, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp));
      expect(await bind(tcp.information, hostSockaddr(target, AF_INET))).toBe(STATUS_ACCESS_DENIED);
      for (const s of [udp, tx, raw.information, tcp.information]) await close(s);
      await w.close();
    });
  });
}

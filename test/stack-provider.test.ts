// WSK datagram sockets on the userspace stack: what the shared contract suite cannot show on
// loopback — broadcast (SO_BROADCAST, MSG_BCAST; R45), routing through a gateway,
// fragmentation of large datagrams, pressure on the ring, dual-stack AF_INET6 datagram sockets
// and the port space both families share, and clear refusals for what the stack does not offer
// (TCP when made without it, AF_INET6 datagrams without IPv6, foreign addresses).
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY, MSG_BCAST, SOCK_DGRAM, SOCK_RAW, SO_REUSEADDR, STATUS_ADDRESS_ALREADY_ASSOCIATED, makeSockaddrIn6, NPI_WSK_INTERFACE_ID, SOCK_STREAM, SO_BROADCAST, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
  STATUS_ACCESS_DENIED, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_PENDING, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WskSetOption, makeSockaddrIn,
  SOCKADDR_STORAGE, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../index.ts';
import { createStackProvider, type StackProviderOptions } from '../runtime/net/stack-provider.ts';
import type { UserspaceStackConfig } from '../runtime/net/userspace-stack.ts';
import { parseIpv4 } from '../runtime/net/wire/bytes.ts';
import { call, until } from './helpers/wsk-call.ts';
import { openSession, type WskSession } from './helpers/wsk-session.ts';
import { A_IP, B_IP, stackPair, type StackPair } from './helpers/net-pair.ts';
import { bind, buf, close, dgTable, localPort, socket } from './contract/fixtures.ts';

const setOption = (s: WSK_SOCKET, option: number, value: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, option, SOL_SOCKET, 4, value, 0, null, null, irp));

async function world(opts: Partial<UserspaceStackConfig> = {}, providerOptions: StackProviderOptions = {}, aOpts: Partial<UserspaceStackConfig> = {}): Promise<{ pair: StackPair; w: WskSession; done(): Promise<void> }> {
  const pair = stackPair({}, opts, undefined, {}, aOpts);
  const w = await openSession(() => createStackProvider(pair.a, providerOptions));
  return {
    pair, w,
    done: async () => {
      await w.close();
      pair.b.close();
      pair.network.arena.assertNoLeaks();
    },
  };
}

describe('WSK datagram sockets on the userspace stack', () => {
  it('R45/SO_BROADCAST: sending to the subnet broadcast needs SO_BROADCAST (STATUS_ACCESS_DENIED without); a received broadcast carries MSG_BCAST', async () => {
    const { pair, w, done } = await world();
    const got: { text: string; flags: number }[] = [];
    const peer = pair.b.ip.udp4.open(0, 7000, { onDatagram(_s, b, o, l, _src, _sp, flags) { got.push({ text: new TextDecoder().decode(b.subarray(o, o + l)), flags }); } })!;
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(dg, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    const msg = buf(new TextEncoder().encode('to everyone'));
    const bcast = makeSockaddrIn('198.18.0.255', 7000);
    expect((await call((irp) => dgTable(dg).WskSendTo(dg, msg, 0, bcast, 0, null, irp))).status).toBe(STATUS_ACCESS_DENIED);
    expect((await setOption(dg, SO_BROADCAST, 1)).status).toBe(STATUS_SUCCESS);
    const sent = await call<number>((irp) => dgTable(dg).WskSendTo(dg, msg, 0, bcast, 0, null, irp));
    expect([sent.status, sent.information]).toEqual([STATUS_SUCCESS, 11]);
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ text: 'to everyone', flags: MSG_BCAST });

    // The other way: a broadcast from the peer reaches a WskReceiveFrom with MSG_BCAST in ControlFlags.
    const port = await localPort(dg);
    const data = new Uint8Array(64);
    const from = SOCKADDR_STORAGE();
    const controlLength = { value: 0 };
    const controlFlags = { value: 0 };
    const pending = call<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(data), 0, from, controlLength, null, controlFlags, irp));
    peer.broadcast = true;
    expect(pair.b.ip.udp4.send(peer, [new TextEncoder().encode('hello all')], 1, parseIpv4('255.255.255.255'), port)).toBe(STATUS_SUCCESS);
    const r = await pending;
    expect([r.status, r.information]).toEqual([STATUS_SUCCESS, 9]);
    expect(controlFlags.value & MSG_BCAST).toBe(MSG_BCAST);
    peer.close();
    await close(dg);
    await done();
  });

  it('sends beyond the subnet go to the gateway\'s MAC; a 30 000-byte datagram is fragmented and arrives whole', async () => {
    const { pair, w, done } = await world({ gateway: B_IP });
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(dg, makeSockaddrIn('0.0.0.0', 0))).toBe(STATUS_SUCCESS);
    const far = await call((irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(10)), 0, makeSockaddrIn('198.19.0.7', 9), 0, null, irp));
    expect(far.status).toBe(STATUS_SUCCESS);
    // B is the gateway: it received the frame on its MAC, but does not forward (not for its IP).
    await until(() => pair.b.ip.counters.ipNotForUs === 1);
    expect(pair.a.ip.arp.cache.peek(pair.b.ip.address)).toBe(pair.b.ip.mac);

    let whole: Uint8Array | null = null;
    const peer = pair.b.ip.udp4.open(0, 7001, { onDatagram(_s, b, o, l) { whole = b.slice(o, o + l); } })!;
    const big = new Uint8Array(30_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const r = await call<number>((irp) => dgTable(dg).WskSendTo(dg, buf(big), 0, makeSockaddrIn(B_IP, 7001), 0, null, irp));
    expect([r.status, r.information]).toEqual([STATUS_SUCCESS, 30_000]);
    await until(() => whole !== null);
    expect(whole).toEqual(big);
    expect(pair.a.ip.counters.fragmentsOut).toBe(21);
    peer.close();
    await close(dg);
    await done();
  });

  it('queued datagrams survive ring pressure: they are copied out of the ring (counted) instead of holding it, and arrive intact', async () => {
    const pair = stackPair({ slotCount: 64 });
    const w = await openSession(() => createStackProvider(pair.a));
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(dg, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    const port = await localPort(dg);
    const peer = pair.b.ip.udp4.open(0, 0, { onDatagram() {} })!;
    // Nobody receives yet: every datagram waits in the socket's queue, held in the ring.
    // 60 datagrams in a 64-slot ring: without copy-out the ring would be full.
    for (let i = 0; i < 60; i++) {
      const d = new Uint8Array(100).fill(i);
      expect(pair.b.ip.udp4.send(peer, [d], 1, pair.a.ip.address, port)).toBe(STATUS_SUCCESS);
      if (i % 4 === 3) await new Promise((r) => setImmediate(r));
    }
    await until(() => pair.a.ip.counters.udpIn === 60);
    expect(pair.a.ip.counters.heldCopyOuts).toBeGreaterThan(0);
    expect(pair.network.arena.freeCount).toBeGreaterThan(pair.a.ip.held.lowWaterSlots);
    for (let i = 0; i < 60; i++) {
      const data = new Uint8Array(200);
      const r = await call<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(data), 0, null, null, null, null, irp));
      expect(r.information).toBe(100);
      expect(data.subarray(0, 100).every((x) => x === i)).toBe(true);
    }
    peer.close();
    await close(dg);
    await w.close();
    pair.b.close();
    pair.network.arena.assertNoLeaks();
  });

  it('what a provider does not offer (TCP of either family when made with tcp: false, AF_INET6 datagram and raw sockets without IPv6) is refused at WskSocket with STATUS_NOT_SUPPORTED (R49: not in the transport list); binding an address the stack does not own is STATUS_INVALID_PARAMETER', async () => {
    const { w, done } = await world({ tcp: false });
    for (const family of [AF_INET, AF_INET6]) {
      for (const flags of [WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_CONNECTION_SOCKET]) {
        const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, family, SOCK_STREAM, IPPROTO_TCP, flags, null, null, null, null, null, irp));
        expect([r.returned, r.status]).toEqual([STATUS_NOT_SUPPORTED, STATUS_NOT_SUPPORTED]);
      }
    }
    // No IPv6 on the interface: no AF_INET6 datagram or raw transport either.
    for (const [type, protocol] of [[SOCK_DGRAM, IPPROTO_UDP], [SOCK_RAW, 58]] as const) {
      const v6 = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET6, type, protocol, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp));
      expect(v6.status).toBe(STATUS_NOT_SUPPORTED);
    }
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(dg, makeSockaddrIn('198.18.0.77', 0))).toBe(STATUS_INVALID_PARAMETER);
    await close(dg);
    await done();
  });

  it('R33 with a busy peer: a retained indication keeps its bytes while later datagrams flow through the same ring', async () => {
    const { pair, w, done } = await world();
    const lists: WSK_DATAGRAM_INDICATION[] = [];
    let retain = true;
    const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = { WskReceiveFromEvent: (_c, _f, l) => { lists.push(l!); return retain ? STATUS_PENDING : STATUS_SUCCESS; } };
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch);
    expect(await bind(dg, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    expect((dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
      { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null)).toBe(STATUS_SUCCESS);
    const port = await localPort(dg);
    const peer = pair.b.ip.udp4.open(0, 0, { onDatagram() {} })!;
    pair.b.ip.udp4.send(peer, [new TextEncoder().encode('keep me')], 1, pair.a.ip.address, port);
    await until(() => lists.length === 1);
    const { Mdl, Offset, Length } = lists[0]!.Buffer;
    const kept = Mdl!.buffer.subarray(Offset, Offset + Length);
    retain = false;
    for (let i = 0; i < 3000; i++) {
      pair.b.ip.udp4.send(peer, [new Uint8Array(300).fill(0xee)], 1, pair.a.ip.address, port);
      if (i % 64 === 63) await new Promise((r) => setImmediate(r));
    }
    await until(() => lists.length >= 2 && pair.a.ip.counters.udpIn === 3001);
    expect(new TextDecoder().decode(kept)).toBe('keep me');
    expect(dgTable(dg).WskRelease(dg, lists[0]!)).toBe(STATUS_SUCCESS);
    peer.close();
    await close(dg);
    await done();
  });

  it('dual-stack AF_INET6 datagram socket: IPV6_V6ONLY 0 on :: talks to IPv4 peers as ::ffff:a.b.c.d; IPV6_V6ONLY (the default) on a v4-mapped address is refused; one port space with AF_INET sockets, shared only when both set SO_REUSEADDR', async () => {
    const { pair, w, done } = await world({}, {}, { ipv6: { addresses: ['fd00:198:18::1/64'], dadTransmits: 0 } });
    const setUlong = (s: WSK_SOCKET, level: number, option: number, value: number) =>
      call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, option, level, 4, value, 0, null, null, irp));
    const mappedOnly = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect(await bind(mappedOnly, makeSockaddrIn6(`::ffff:${A_IP}`, 0))).toBe(STATUS_INVALID_PARAMETER);
    const dual = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect((await setUlong(dual, IPPROTO_IPV6, IPV6_V6ONLY, 0)).status).toBe(STATUS_SUCCESS);
    expect(await bind(dual, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    const port = await localPort(dual);
    const got: string[] = [];
    const peer = pair.b.ip.udp4.open(0, 7001, { onDatagram(_s, b, o, l) { got.push(new TextDecoder().decode(b.subarray(o, o + l))); } })!;
    pair.b.ip.udp4.send(peer, [new TextEncoder().encode('hello')], 1, parseIpv4(A_IP), port);
    const from = SOCKADDR_STORAGE();
    const data = new Uint8Array(16);
    const r = await call<number>((irp) => dgTable(dual).WskReceiveFrom(dual, buf(data), 0, from, null, null, null, irp));
    expect([r.information, from.sin6_family, Array.from(from.sin6_addr!)]).toEqual([5, AF_INET6, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...B_IP.split('.').map(Number)]]);
    expect((await call((irp) => dgTable(dual).WskSendTo(dual, buf(new TextEncoder().encode('back')), 0, makeSockaddrIn6(`::ffff:${B_IP}`, 7001), 0, null, irp))).status).toBe(STATUS_SUCCESS);
    await until(() => got.length === 1, 2000, 'the reply');
    expect(got).toEqual(['back']);
    // The dual-stack socket holds the port for IPv4 too: an AF_INET socket cannot take it...
    const v4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(v4, makeSockaddrIn('0.0.0.0', port))).toBe(STATUS_ADDRESS_ALREADY_ASSOCIATED);
    // ...while an IPv6-only socket on another port leaves it to one.
    const only = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect(await bind(only, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    const v4beside = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    expect(await bind(v4beside, makeSockaddrIn('0.0.0.0', await localPort(only)))).toBe(STATUS_SUCCESS);
    // Sharing on purpose: both set SO_REUSEADDR.
    const reuse6 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    const reuse4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    for (const s of [reuse6, reuse4]) expect((await setOption(s, SO_REUSEADDR, 1)).status).toBe(STATUS_SUCCESS);
    expect((await setUlong(reuse6, IPPROTO_IPV6, IPV6_V6ONLY, 0)).status).toBe(STATUS_SUCCESS);
    expect(await bind(reuse6, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    expect(await bind(reuse4, makeSockaddrIn(A_IP, await localPort(reuse6)))).toBe(STATUS_SUCCESS);
    peer.close();
    for (const s of [mappedOnly, dual, v4, only, v4beside, reuse6, reuse4]) await close(s);
    await done();
  });
});

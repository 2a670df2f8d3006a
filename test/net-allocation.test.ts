// Issue 4 quality bar: the stack's receive path allocates nothing per frame in steady state, and
// nothing is copied between the link and a retained WskReceiveFromEvent indication.
import { describe, expect, it } from 'vitest';
import { SlotArena } from '../runtime/ring/slot-arena.ts';
import type { NetworkStack } from '../runtime/net/stack.ts';
import { HandLink } from './helpers/hand-link.ts';
import { createUserspaceStack } from '../runtime/net/userspace-stack.ts';
import { openUdpSocket, type UdpSocket } from '../runtime/net/udp.ts';
import { emitEthernet, EtherType } from '../runtime/net/wire/ethernet.ts';
import { emitIpv4, IpProtocol } from '../runtime/net/wire/ipv4.ts';
import { emitUdp } from '../runtime/net/wire/udp.ts';
import { emitIcmpEcho, IcmpType } from '../runtime/net/wire/icmpv4.ts';
import { measureAllocation, measureWindow } from './helpers/allocation.ts';
import { get32s } from '../runtime/net/wire/bytes.ts';
import {
  AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, IPV6_HOPLIMIT, IPV6_PKTINFO, IPV6_RECVTCLASS, IPV6_V6ONLY, IP_HOPLIMIT, IP_PKTINFO, IP_RECVTOS,
  IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED,
  STATUS_PENDING, STATUS_SUCCESS, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WskSetOption, makeSockaddrIn,
  makeSockaddrIn6, type IRP, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_BUF, type WSK_BUF_LIST,
  type WSK_CLIENT_CONNECTION_DISPATCH, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATA_INDICATION, type WSK_DATAGRAM_INDICATION,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../index.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { openSession } from './helpers/wsk-session.ts';
import { bind, close, connTable as connectionTable, dgTable, listenTable, localPort, socket } from './contract/fixtures.ts';
import { stackConnect } from './helpers/stack-socket.ts';
import { A_IP, stackPair } from './helpers/net-pair.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../runtime/net/ipv6/address-table.ts';
import { ECHO6_GLOBAL, hex, UDP6_ALL_NODES, CHAIN6 } from '../runtime/net/wire/fixtures.ts';
import { call, until } from './helpers/wsk-call.ts';

const FRAMES = 1_000_000;
const BATCH = 64;
const MAC_US = 0x020000000001;
const MAC_PEER = 0x020000000002;
const US = 0xc6120001;
const PEER = 0xc6120002;
const PEER_IP = '198.18.0.2';

function udpFrame(payload: number, badChecksum = false): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload);
  for (let i = 0; i < payload; i++) f[42 + i] = i;
  emitUdp(f, 34, 40000, 9000, payload, PEER, US);
  if (badChecksum) f[40] ^= 0x55;
  emitIpv4(f, 14, PEER, US, IpProtocol.UDP, 8 + payload);
  emitEthernet(f, 0, MAC_US, MAC_PEER, EtherType.IPV4);
  return f;
}

function echoFrame(): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 56);
  emitIcmpEcho(f, 34, IcmpType.ECHO_REQUEST, 1, 1, 56);
  emitIpv4(f, 14, PEER, US, IpProtocol.ICMP, 64);
  emitEthernet(f, 0, MAC_US, MAC_PEER, EtherType.IPV4);
  return f;
}

/** Feeds `frames` frames to the stack in batches of BATCH, cycling through `templates`, each copied into a fresh slot. */
function frameFeeder(arena: SlotArena, stack: NetworkStack, templates: readonly Uint8Array[]): (frames: number) => void {
  const batch = new Int32Array(BATCH);
  return (frames) => {
    for (let done = 0; done < frames; done += BATCH) {
      for (let i = 0; i < BATCH; i++) {
        const slot = arena.alloc();
        const t = templates[(done + i) % templates.length]!;
        arena.view(slot).set(t, arena.headroom);
        arena.setFrame(slot, arena.headroom, t.length);
        batch[i] = slot;
      }
      stack.nic.onReceive(batch, BATCH);
    }
  };
}

/** A stack with IPv4 and IPv6 (fd00:198:18::1) on a HandLink, the peer's MAC known in both families, and a WSK session on its provider. */
async function dualStackSession() {
  const arena = new SlotArena({ slotCount: 1024, slotSize: 2048 });
  const link = new HandLink(arena, MAC_US);
  const userspace = createUserspaceStack(link, {
    address: `${A_IP}/24`, gratuitousArp: false, tcp: false,
    ipv6: { addresses: ['fd00:198:18::1/64'], dadTransmits: 0, acceptRouterAdvertisements: false },
  });
  const stack = userspace.ip;
  stack.arp.cache.learn(PEER, MAC_PEER / 0x100000000, MAC_PEER % 0x100000000, true, 0);
  const ip6 = stack.ip6!;
  ip6.neighbours.learn(ip6.table.intern(parseIpv6('fd00:198:18::2')!, 0), MAC_PEER / 0x100000000, MAC_PEER % 0x100000000, true, 0);
  // What the interface announced at start is not counted.
  stack.nic.flushTx();
  link.transmitted = 0;
  const w = await openSession(() => createStackProvider(userspace));
  return { arena, link, stack, w };
}

describe('allocation and zero copy on the receive path (issue 4 quality bar)', () => {
  it('1,000,000 received frames (UDP to a socket that holds some and reads each header\'s TOS, TTL and destination, pings answered, bad checksums, foreign MACs) allocate nothing per frame', async () => {
    const arena = new SlotArena({ slotCount: 1024, slotSize: 2048 });
    const link = new HandLink(arena, MAC_US);
    const stack = createUserspaceStack(link, { address: `${A_IP}/24`, gratuitousArp: false, tcp: false }).ip;
    stack.arp.cache.learn(PEER, MAC_PEER / 0x100000000, MAC_PEER % 0x100000000, true, 0);
    let sum = 0;
    let lastHold = -1;
    let n = 0;
    stack.udp4.open(0, 9000, {
      onDatagram(s: UdpSocket, bytes, offset, length) {
        sum = (sum + bytes[offset + length - 1]!) | 0;
        // What control info is made of (IP_PKTINFO's destination, IP_RECVTOS, IP_HOPLIMIT), read in place.
        const ip = s.receivedHeader();
        sum = (sum + bytes[ip + 1]! + bytes[ip + 8]! + get32s(bytes, ip + 16)) | 0;
        // Every 8th datagram is kept (as a queued WSK datagram would be) and let go at the next.
        if ((++n & 7) === 0) {
          if (lastHold >= 0) stack.held.release(lastHold);
          lastHold = s.hold();
        }
      },
    });
    const templates = [udpFrame(64), udpFrame(512), echoFrame(), udpFrame(64, true), udpFrame(64)];
    templates[4]![0] = 0x03; // another host's MAC
    const run = frameFeeder(arena, stack, templates);
    const m = await measureAllocation(FRAMES, run);
    const c = stack.counters;
    console.log(`stack RX path: ${m.perIteration.toFixed(4)} B/frame by heapUsed, ${m.gcs} GC event(s), ${m.ns.toFixed(0)} ns/frame ` +
      `(udpIn ${c.udpIn}, echo replies ${c.icmpEchoRepliesSent}, bad checksums ${c.udpBadChecksum}, not for us ${c.rxNotForUs})`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
    expect(c.udpBadChecksum).toBeGreaterThan(0);
    expect(c.rxNotForUs).toBeGreaterThan(0);
    expect(link.transmitted).toBe(c.icmpEchoRepliesSent);
    expect(sum).not.toBe(0);
    stack.held.release(lastHold);
    stack.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('IPv6: 1,000,000 received frames (UDP behind extension headers to a socket that holds some and reads each one\'s source, traffic class, hop limit and destination in place, all-nodes multicast to a socket on ::, checksums checked, pings answered, bad checksums, foreign destinations) allocate nothing per frame', async () => {
    const arena = new SlotArena({ slotCount: 1024, slotSize: 2048 });
    const link = new HandLink(arena, MAC_US);
    const userspace = createUserspaceStack(link, {
      address: `${A_IP}/24`, gratuitousArp: false, tcp: false,
      ipv6: { addresses: ['fd00:198:18::1/64'], dadTransmits: 0, acceptRouterAdvertisements: false },
    });
    const stack = userspace.ip;
    const ip6 = stack.ip6!;
    const peer = ip6.table.intern(parseIpv6('fd00:198:18::2')!, 0);
    ip6.neighbours.learn(peer, MAC_PEER / 0x100000000, MAC_PEER % 0x100000000, true, 0);
    // What the interface announced at start (MLDv2 report, unsolicited advertisements) is not counted.
    stack.nic.flushTx();
    link.transmitted = 0;
    let sum = 0;
    let lastHold = -1;
    let n = 0;
    const receiver = {
      onDatagram(s: UdpSocket, bytes: Uint8Array, offset: number, length: number) {
        // What IPV6_PKTINFO, IPV6_TCLASS, IPV6_HOPLIMIT and the sender's address are made of, read in place.
        const ip = s.receivedHeader();
        sum = (sum + bytes[offset + length - 1]! + bytes[ip + 1]! + bytes[ip + 7]! + bytes[ip + 8 + 15]! + bytes[ip + 24 + 15]!) | 0;
        // Every 8th datagram is kept (as a queued WSK datagram would be) and let go at the next.
        if ((++n & 7) === 0) {
          if (lastHold >= 0) stack.held.release(lastHold);
          lastHold = s.hold();
        }
      },
    };
    // CHAIN6 goes to port 53 of fd00:198:18::1, UDP6_ALL_NODES to port 9000 of ff02::1.
    const dns = openUdpSocket(stack, NetworkFamily.IPV6, 0, 53, receiver)!;
    const group = openUdpSocket(stack, NetworkFamily.IPV6, 0, 9000, receiver)!;
    const g = (s: string): Uint8Array => hex(s);
    const foreign = g(CHAIN6);
    foreign[14 + 24 + 15] = 9; // fd00:198:18::9: not ours
    const badSum = g(CHAIN6);
    badSum[badSum.length - 1]! ^= 0x55;
    const templates = [g(CHAIN6), g(ECHO6_GLOBAL), badSum, foreign, g(UDP6_ALL_NODES)];
    const run = frameFeeder(arena, stack, templates);
    const m = await measureAllocation(FRAMES, run);
    const c = stack.counters;
    const u = userspace.udp6!.counters;
    console.log(`stack IPv6 RX path: ${m.perIteration.toFixed(4)} B/frame by heapUsed, ${m.gcs} GC event(s), ${m.ns.toFixed(0)} ns/frame ` +
      `(ip6In ${c.ip6In}, UDP delivered ${u.in}, bad checksums ${u.badChecksum}, echo replies ${c.icmp6EchoRepliesSent}, not for us ${c.ip6NotForUs})`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
    expect(u.badChecksum).toBeGreaterThan(0);
    expect(c.ip6NotForUs).toBeGreaterThan(0);
    expect(u.in).toBe(2 * u.badChecksum);
    expect(dns.datagramsIn + group.datagramsIn).toBe(u.in);
    expect(dns.datagramsIn).toBe(group.datagramsIn);
    expect(link.transmitted).toBe(c.icmp6EchoRepliesSent);
    expect(sum).not.toBe(0);
    stack.held.release(lastHold);
    dns.close();
    group.close();
    stack.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('control info costs no allocation: 200,000 datagrams indicated to WskReceiveFromEvent with IP_PKTINFO, IP_RECVTOS and IP_HOPLIMIT on (every 8th retained until the next) allocate no more per datagram than with them off; each one\'s IN_PKTINFO names our address', async () => {
    const arena = new SlotArena({ slotCount: 1024, slotSize: 2048 });
    const link = new HandLink(arena, MAC_US);
    const userspace = createUserspaceStack(link, { address: `${A_IP}/24`, gratuitousArp: false, tcp: false });
    const stack = userspace.ip;
    const w = await openSession(() => createStackProvider(userspace));
    let seen = 0;
    let wrongDestination = 0;
    let retained: WSK_DATAGRAM_INDICATION | null = null;
    let retainedOn: WSK_SOCKET | null = null;
    const sockets: WSK_SOCKET[] = [];
    const dispatch = (which: number): WSK_CLIENT_DATAGRAM_DISPATCH => ({
      WskReceiveFromEvent: (_c, _f, list) => {
        const d = list!;
        seen++;
        // IN_PKTINFO's ipi_addr: the first object's data, 16 bytes in (read in place, as a C driver does).
        if (which === 1 && (d.ControlInfoLength !== 72 || get32s(d.ControlInfo!, 16) !== (US | 0))) wrongDestination++;
        if ((seen & 7) !== 0) return STATUS_SUCCESS;
        if (retained) { retained.Next = null; dgTable(retainedOn!).WskRelease(retainedOn!, retained); }
        retained = d;
        retainedOn = sockets[which]!;
        return STATUS_PENDING;
      },
    });
    for (const which of [0, 1]) {
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch(which));
      if (which === 1) {
        for (const code of [IP_PKTINFO, IP_RECVTOS, IP_HOPLIMIT]) {
          expect((await call((irp) => (dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, code, IPPROTO_IP, 4, { value: 1 }, 0, null, null, irp))).status).toBe(STATUS_SUCCESS);
        }
      }
      expect(await bind(dg, makeSockaddrIn(A_IP, 9000 + which))).toBe(STATUS_SUCCESS);
      expect((dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
        { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null)).toBe(STATUS_SUCCESS);
      sockets.push(dg);
    }
    const frames = [udpFrame(64), udpFrame(64)];
    emitUdp(frames[1]!, 34, 40000, 9001, 64, PEER, US); // the second socket's port, checksum and all
    const batch = new Int32Array(BATCH);
    const run = (which: number, n: number): void => {
      const t = frames[which]!;
      for (let done = 0; done < n; done += BATCH) {
        for (let i = 0; i < BATCH; i++) {
          const slot = arena.alloc();
          arena.view(slot).set(t, arena.headroom);
          arena.setFrame(slot, arena.headroom, t.length);
          batch[i] = slot;
        }
        stack.nic.onReceive(batch, BATCH);
      }
    };
    const N = 200_000;
    const perDatagram: number[] = [];
    for (const which of [0, 1]) {
      run(which, N); // warm-up: JIT, and the control pool reaches its working size
      const m = await measureWindow(async () => { run(which, N); });
      perDatagram.push(m.bytes / N);
    }
    console.log(`WSK datagram receive path: ${perDatagram[0]!.toFixed(1)} B/datagram without control info, ${perDatagram[1]!.toFixed(1)} with IP_PKTINFO+IP_RECVTOS+IP_HOPLIMIT`);
    expect(seen).toBe(4 * N);
    expect(wrongDestination).toBe(0);
    // A control buffer of its own would cost a typed array and its store (over 100 bytes) per datagram.
    expect(perDatagram[1]! - perDatagram[0]!).toBeLessThan(8);
    // Nothing per datagram either way: the indication, its WSK_BUF, MDL and RemoteAddress are pooled.
    expect(perDatagram[0]!).toBeLessThan(16);
    expect(perDatagram[1]!).toBeLessThan(16);
    if (retained) { (retained as WSK_DATAGRAM_INDICATION).Next = null; dgTable(retainedOn!).WskRelease(retainedOn!, retained); }
    for (const dg of sockets) await close(dg);
    await w.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('the WSK datagram receive path allocates under 16 B per datagram: 99,968 datagrams each to an AF_INET socket and to a dual-stack AF_INET6 one (IPv6 behind extension headers, and IPv4 as ::ffff:a.b.c.d), control info off then on, every 8th retained and released four at a time relinked in reverse', async () => {
    const { arena, stack, w } = await dualStackSession();
    let seen = 0;
    let wrong = 0;
    // Four retained elements, released together (their own chain, relinked newest first).
    const held: WSK_DATAGRAM_INDICATION[] = [];
    let heldCount = 0;
    let heldOn: WSK_SOCKET | null = null;
    const releaseHeld = (): void => {
      for (let i = heldCount - 1; i > 0; i--) held[i]!.Next = held[i - 1]!;
      held[0]!.Next = null;
      if (dgTable(heldOn!).WskRelease(heldOn!, held[heldCount - 1]!) !== STATUS_SUCCESS) wrong++;
      heldCount = 0;
    };
    const dispatch = (family: number): WSK_CLIENT_DATAGRAM_DISPATCH => ({
      WskReceiveFromEvent: (_c, _f, list) => {
        const d = list!;
        seen++;
        // The bytes (udpFrame's 0, 1, 2, ... or CHAIN6's "hi") and the sender, read in place.
        const b = d.Buffer;
        const last = b.Mdl!.buffer[b.Offset + b.Length - 1]!;
        if (d.Next !== null || (b.Length === 64 ? last !== 63 : b.Length !== 2 || last !== 0x69)) wrong++;
        if (family === AF_INET ? (d.RemoteAddress as SOCKADDR_IN).sin_addr[3] !== 2 : (d.RemoteAddress as SOCKADDR_IN6).sin6_addr[15] !== 2) wrong++;
        if ((seen & 7) !== 0) return STATUS_SUCCESS;
        if (heldCount === 4) releaseHeld();
        held[heldCount++] = d;
        heldOn = sockets[family === AF_INET ? 0 : 1]!;
        return STATUS_PENDING;
      },
    });
    const setOption = async (dg: WSK_SOCKET, level: number, code: number, value: number): Promise<void> => {
      expect((await call((irp) => (dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, code, level, 4, { value }, 0, null, null, irp))).status).toBe(STATUS_SUCCESS);
    };
    const s4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch(AF_INET));
    expect(await bind(s4, makeSockaddrIn(A_IP, 9000))).toBe(STATUS_SUCCESS);
    const s6 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, dispatch(AF_INET6));
    await setOption(s6, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    expect(await bind(s6, makeSockaddrIn6('::', 53))).toBe(STATUS_SUCCESS);
    const sockets = [s4, s6];
    for (const dg of sockets) {
      expect((dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
        { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null)).toBe(STATUS_SUCCESS);
    }
    const toPort53 = udpFrame(64);
    emitUdp(toPort53, 34, 40000, 53, 64, PEER, US);
    const feeds = [frameFeeder(arena, stack, [udpFrame(64)]), frameFeeder(arena, stack, [hex(CHAIN6), toPort53])];
    let worst = 0;
    const N = 1562 * BATCH;
    const perDatagram: string[] = [];
    for (const control of [false, true]) {
      if (control) {
        for (const code of [IP_PKTINFO, IP_RECVTOS, IP_HOPLIMIT]) await setOption(s4, IPPROTO_IP, code, 1);
        for (const code of [IPV6_PKTINFO, IPV6_RECVTCLASS, IPV6_HOPLIMIT]) await setOption(s6, IPPROTO_IPV6, code, 1);
      }
      for (const family of [AF_INET, AF_INET6]) {
        const feed = feeds[family === AF_INET ? 0 : 1]!;
        feed(N); // warm-up: JIT, and the socket's pools reach their working size
        const m = await measureWindow(async () => { feed(N); });
        perDatagram.push(`${family === AF_INET ? 'AF_INET' : 'AF_INET6'}${control ? ' with control info' : ''} ${(m.bytes / N).toFixed(1)}`);
        worst = Math.max(worst, m.bytes / N);
      }
    }
    console.log(`WSK datagram receive path, B/datagram: ${perDatagram.join(', ')}`);
    expect(worst).toBeLessThan(16);
    expect(seen).toBe(8 * N);
    expect(wrong).toBe(0);
    if (heldCount > 0) releaseHeld();
    for (const dg of sockets) await close(dg);
    await w.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('the WskReceiveFrom path allocates under 16 B per datagram: 99,968 datagrams each into IRPs posted 64 at a time on an AF_INET socket with IP_PKTINFO and a dual-stack AF_INET6 one with IPV6_PKTINFO (IPv6 and v4-mapped peers), the sender and control info read back', async () => {
    const { arena, stack, w } = await dualStackSession();
    const s4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET);
    const s6 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    const setOption = async (dg: WSK_SOCKET, level: number, code: number, value: number): Promise<void> => {
      expect((await call((irp) => (dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, code, level, 4, { value }, 0, null, null, irp))).status).toBe(STATUS_SUCCESS);
    };
    await setOption(s4, IPPROTO_IP, IP_PKTINFO, 1);
    await setOption(s6, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    await setOption(s6, IPPROTO_IPV6, IPV6_PKTINFO, 1);
    expect(await bind(s4, makeSockaddrIn(A_IP, 9000))).toBe(STATUS_SUCCESS);
    expect(await bind(s6, makeSockaddrIn6('::', 53))).toBe(STATUS_SUCCESS);
    // Per posted IRP, made once: its buffer and MDL, RemoteAddress, ControlLength and ControlFlags.
    const posts = Array.from({ length: BATCH }, () => {
      const bytes = new Uint8Array(128);
      return {
        irp: IoAllocateIrp(1, false), buf: { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: 128 } as WSK_BUF, bytes,
        control: new Uint8Array(64), controlLength: { value: 0 }, controlFlags: { value: 0 },
        from4: makeSockaddrIn('0.0.0.0', 0), from6: makeSockaddrIn6('::', 0),
      };
    });
    let completed = 0;
    let wrong = 0;
    const onComplete = (_d: unknown, irp: IRP): number => {
      completed++;
      const n = irp.IoStatus.Information as number;
      if (irp.IoStatus.Status !== STATUS_SUCCESS || (n !== 64 && n !== 2)) wrong++;
      return STATUS_MORE_PROCESSING_REQUIRED;
    };
    const toPort53 = udpFrame(64);
    emitUdp(toPort53, 34, 40000, 53, 64, PEER, US);
    const feeds = [frameFeeder(arena, stack, [udpFrame(64)]), frameFeeder(arena, stack, [hex(CHAIN6), toPort53])];
    const receiver = (dg: WSK_SOCKET, family: number) => async (n: number): Promise<void> => {
      const t = dgTable(dg);
      const feed = feeds[family === AF_INET ? 0 : 1]!;
      for (let done = 0; done < n; done += BATCH) {
        for (const p of posts) {
          IoReuseIrp(p.irp, STATUS_SUCCESS);
          IoSetCompletionRoutine(p.irp, onComplete, null, true, true, true);
          p.controlLength.value = 64;
          t.WskReceiveFrom(dg, p.buf, 0, family === AF_INET ? p.from4 : p.from6, p.controlLength, p.control, p.controlFlags, p.irp);
        }
        feed(BATCH);
        await Promise.resolve(); // the completions (a microtask queued before this one)
        // IN_PKTINFO's / IN6_PKTINFO's address, and the sender, as the application reads them.
        const p = posts[BATCH - 1]!;
        if (family === AF_INET ? (get32s(p.control, 16) !== (US | 0) || p.from4.sin_addr[3] !== 2) : p.from6.sin6_addr[15] !== 2) wrong++;
        // A v4-mapped datagram (64 bytes) carries no IPV6_PKTINFO: IPv4 facts only, as on Windows.
        if (p.controlLength.value === 0 && (family === AF_INET || p.irp.IoStatus.Information === 2)) wrong++;
      }
    };
    const N = 1562 * BATCH;
    const results: string[] = [];
    let worst = 0;
    for (const [name, dg, family] of [['AF_INET', s4, AF_INET], ['AF_INET6', s6, AF_INET6]] as const) {
      const receive = receiver(dg, family);
      for (let k = 0; k < 3; k++) await receive(N); // warm-up: JIT, and the pools reach their working size
      const m = await measureWindow(() => receive(N));
      results.push(`${name} ${(m.bytes / N).toFixed(1)}`);
      worst = Math.max(worst, m.bytes / N);
    }
    console.log(`WskReceiveFrom path, B/datagram: ${results.join(', ')}`);
    expect(worst).toBeLessThan(16);
    expect(completed).toBe(8 * N);
    expect(wrong).toBe(0);
    for (const dg of [s4, s6]) await close(dg);
    await w.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('the WSK datagram send path allocates under 16 B per datagram: 199,936 datagrams each by WskSendTo and by WskSendMessages (64 a call) from AF_INET and AF_INET6 sockets, IRPs reused', async () => {
    const { arena, link, stack, w } = await dualStackSession();
    const s4 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET);
    expect(await bind(s4, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    const s6 = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect(await bind(s6, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    let completed = 0;
    let failed = 0;
    const onComplete = (_d: unknown, irp: IRP): number => {
      completed++;
      if (irp.IoStatus.Status !== STATUS_SUCCESS) failed++;
      return STATUS_MORE_PROCESSING_REQUIRED;
    };
    const irps: IRP[] = Array.from({ length: BATCH }, () => IoAllocateIrp(1, false));
    const payload = new Uint8Array(64).fill(7);
    const whole: WSK_BUF = { Mdl: IoAllocateMdl(payload), Offset: 0, Length: 64 };
    const list: WSK_BUF_LIST[] = Array.from({ length: BATCH }, () => ({ Next: null, Buffer: whole }));
    for (let i = 0; i + 1 < BATCH; i++) list[i]!.Next = list[i + 1]!;
    const reuse = (irp: IRP): IRP => {
      IoReuseIrp(irp, STATUS_SUCCESS);
      IoSetCompletionRoutine(irp, onComplete, null, true, true, true);
      return irp;
    };
    const sender = (dg: WSK_SOCKET, to: SOCKADDR_IN | SOCKADDR_IN6, messages: boolean) => async (n: number): Promise<void> => {
      const t = dgTable(dg);
      for (let done = 0; done < n; done += BATCH) {
        if (messages) t.WskSendMessages(dg, list[0]!, 0, to, 0, null, reuse(irps[0]!));
        else for (let i = 0; i < BATCH; i++) t.WskSendTo(dg, whole, 0, to, 0, null, reuse(irps[i]!));
        stack.nic.flushTx();
        await Promise.resolve(); // the completions (a microtask queued before this one)
      }
    };
    // Twice the other tests' count: the first window runs about 5 B/datagram above the others (seen on a busy machine, not explained yet); one-off costs weigh half as much so.
    const N = 3124 * BATCH;
    const results: string[] = [];
    let worst = 0;
    let calls = 0;
    for (const [name, dg, to] of [['AF_INET', s4, makeSockaddrIn(PEER_IP, 9000)], ['AF_INET6', s6, makeSockaddrIn6('fd00:198:18::2', 9000)]] as const) {
      for (const messages of [false, true]) {
        const send = sender(dg, to, messages);
        for (let k = 0; k < 3; k++) await send(N); // warm-up: JIT (its feedback is heap too), and the pools reach their working size
        const m = await measureWindow(() => send(N));
        calls += 4 * (messages ? N / BATCH : N); // three warm-up runs and the measured one
        results.push(`${messages ? 'WskSendMessages' : 'WskSendTo'} ${name} ${(m.bytes / N).toFixed(1)}`);
        worst = Math.max(worst, m.bytes / N);
      }
    }
    console.log(`WSK datagram send path, B/datagram: ${results.join(', ')}`);
    expect(worst).toBeLessThan(16);
    expect(completed).toBe(calls);
    expect(failed).toBe(0);
    expect(link.transmitted).toBe(16 * N);
    for (const dg of [s4, s6]) await close(dg);
    await w.close();
    arena.assertNoLeaks();
  }, 120_000);

  it('a retained WskReceiveFromEvent indication points into the ring slot the link filled (no copy) until WskRelease', async () => {
    const pair = stackPair();
    const w = await openSession(() => createStackProvider(pair.a));
    const lists: WSK_DATAGRAM_INDICATION[] = [];
    const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = { WskReceiveFromEvent: (_c, _f, l) => { lists.push(l!); return STATUS_PENDING; } };
    const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch);
    expect(await bind(dg, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    const port = await localPort(dg);
    expect((dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
      { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null)).toBe(STATUS_SUCCESS);
    const peer = pair.b.ip.udp4.open(0, 0, { onDatagram() {} })!;
    const payload = new TextEncoder().encode('zero-copy from the ring');
    const freeBefore = pair.network.arena.freeCount;
    pair.b.ip.udp4.send(peer, [payload], 1, pair.a.ip.address, port);
    await until(() => lists.length === 1);
    const { Mdl, Offset, Length } = lists[0]!.Buffer;
    const view = Mdl!.buffer.subarray(Offset, Offset + Length);
    const arena = pair.network.arena;
    // The MDL maps the arena (the slot's view), the WSK_BUF's Offset/Length the datagram inside one slot.
    expect(view.buffer).toBe(arena.buffer);
    const slot = Math.floor(view.byteOffset / arena.slotSize);
    expect(view.byteOffset + view.byteLength).toBeLessThanOrEqual(arena.base(slot) + arena.slotSize);
    expect(arena.refcounts[slot]).toBe(1); // held for the application, nothing else
    expect(new TextDecoder().decode(view)).toBe('zero-copy from the ring');
    expect(arena.freeCount).toBe(freeBefore - 1);
    expect(dgTable(dg).WskRelease(dg, lists[0]!)).toBe(STATUS_SUCCESS);
    expect(arena.refcounts[slot]).toBe(0);
    expect(arena.freeCount).toBe(freeBefore);
    await close(dg);
    await w.close();
    pair.b.close();
    arena.assertNoLeaks();
  });

  it('a retained WskReceiveEvent indication on a TCP connection points into the ring slots the link filled (no copy) until WskRelease', async () => {
    const pair = stackPair();
    const w = await openSession(() => createStackProvider(pair.a));
    const peerTcp = pair.b.tcp!;
    const lists: WSK_DATA_INDICATION[] = [];
    const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
      WskReceiveEvent: (_c, _f, l) => { if (l) lists.push(l); return STATUS_PENDING; },
      WskDisconnectEvent: null, WskSendBacklogEvent: null,
    };
    const listen = await socket(w, WSK_FLAG_LISTEN_SOCKET);
    expect(await bind(listen, makeSockaddrIn(A_IP, 0))).toBe(STATUS_SUCCESS);
    const port = await localPort(listen);
    const peer = stackConnect(peerTcp, port, A_IP);
    peer.on('error', () => {});
    const acc = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, dispatch, null, null, irp));
    expect(acc.status).toBe(STATUS_SUCCESS);
    const sock = acc.information;
    expect((sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
      { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE }, 0, null, null, null)).toBe(STATUS_SUCCESS);
    const arena = pair.network.arena;
    const freeBefore = arena.freeCount;
    peer.write(Buffer.from('zero-copy TCP payload'));
    await until(() => lists.length === 1);
    const view = lists[0]!.Buffer.Mdl!.buffer;
    expect(new TextDecoder().decode(view)).toBe('zero-copy TCP payload');
    expect(view.buffer).toBe(arena.buffer);
    const slot = Math.floor(view.byteOffset / arena.slotSize);
    expect(view.byteOffset + view.byteLength).toBeLessThanOrEqual(arena.base(slot) + arena.slotSize);
    expect(arena.refcounts[slot]).toBe(1); // held for the application only
    expect(connectionTable(sock).WskRelease(sock, lists[0]!)).toBe(STATUS_SUCCESS);
    expect(arena.refcounts[slot]).toBe(0);
    // An ACK the stack is sending for that data holds a transmit slot until it has left the link.
    await until(() => arena.freeCount >= freeBefore, 5000, 'the arena back to its free count');
    peer.destroy();
    await close(sock);
    await close(listen);
    await w.close();
    pair.b.close();
    await new Promise((r) => setImmediate(r));
    arena.assertNoLeaks();
  });
});

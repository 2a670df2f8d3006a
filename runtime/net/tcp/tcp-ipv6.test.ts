// TCP over IPv6 between two userspace stacks on the memory link, in virtual time: what a user
// sees (NTSTATUS, bytes intact) and what the wire carries (RFC 8200 §8.1 pseudo-header, §8.3 MSS,
// RFC 6437 flow label), checked from the frames themselves, not from the code under test.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.ts';
import type { LinkDevice } from '../device.ts';
import { LinkMiddleware } from '../../../transports/link.ts';
import { A, A6_IP as A6, B, B6_IP as B6, simulatedIpv6, stackPair, type StackPair } from '../../../test/helpers/net-pair.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { parseIpv6 } from '../ipv6/address-table.ts';
import type { TcpEngine, TcpOptionsConfig } from './tcp-engine.ts';
import { Tcb, TcpState, type TcpEvents } from './tcb.ts';
import {
  STATUS_CONNECTION_REFUSED, STATUS_HOST_UNREACHABLE, STATUS_IO_TIMEOUT, STATUS_SUCCESS, type NTSTATUS,
} from '../../ntstatus.ts';

const ETHERTYPE_IPV6 = 0x86dd;

interface Peer extends TcpEvents {
  tcb: Tcb | null;
  received: Uint8Array[];
  bytes: number;
  established: boolean;
  closed: NTSTATUS | null;
}

function peer(engine: () => TcpEngine): Peer {
  const p: Peer = {
    tcb: null, received: [], bytes: 0, established: false, closed: null,
    onEstablished(t) { p.tcb = t; p.established = true; },
    onReadable(t) { for (const c of engine().take(t) ?? []) { p.received.push(c); p.bytes += c.length; } },
    onFin() {},
    onClosed(_t, s) { p.closed = s; },
  };
  return p;
}

/** A copy of every frame a stack transmits; with `dropTcp` set, its IPv6 TCP frames go no further (neighbour discovery still does). */
class Tap extends LinkMiddleware {
  dropTcp = false;
  constructor(inner: LinkDevice, private readonly seen: (bytes: Uint8Array) => void) { super(inner); }
  override transmit(slots: Int32Array, count: number): void {
    const a = this.arena;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      const off = a.offsetOf(s);
      const frame = a.view(s).slice(off, off + a.lengthOf(s));
      this.seen(frame);
      if (this.dropTcp && parseTcp6(frame)) { a.release(s); continue; }
      slots[kept++] = s;
    }
    if (kept > 0) super.transmit(slots, kept);
  }
}

interface World {
  clock: VirtualClock;
  pair: StackPair;
  a: TcpEngine;
  b: TcpEngine;
  /** Frames A sent. */
  aFrames: Uint8Array[];
  /** Sits on A's link. */
  aTap: Tap;
  /** A connects to B's IPv6 address (the remote's id held only while the call makes the TCB, which takes its own). */
  connect6(port: number, events: TcpEvents): Tcb | NTSTATUS;
  run(ms: number, done?: () => boolean): boolean;
  close(): void;
}

function world(tcp: Partial<TcpOptionsConfig> = {}): World {
  const clock = new VirtualClock();
  const aFrames: Uint8Array[] = [];
  let aTap: Tap | null = null;
  const pair = stackPair({ clock, slotCount: 4096 }, { tcp }, (link, which) => (which === 'a' ? (aTap = new Tap(link, (f) => aFrames.push(f))) : link), {},
    simulatedIpv6(A6), simulatedIpv6(B6));
  const w: World = {
    clock, pair, a: pair.a.tcp!, b: pair.b.tcp!, aFrames, aTap: aTap!,
    connect6: (port, events) => {
      const table = pair.a.ip.ip6!.table;
      const id = table.intern(parseIpv6(B6)!, 0);
      const r = pair.a.tcp!.connect(0, id, port, events, 64, 0, NetworkFamily.IPV6);
      table.release(id);
      return r;
    },
    run: (ms, done) => clock.runFor(ms, done),
    close: () => {
      w.a.closeAll();
      w.b.closeAll();
      clock.runFor(1);
      pair.close();
      pair.network.arena.assertNoLeaks();
    },
  };
  // Let the stacks' start-up (unsolicited advertisements, MLD reports) settle.
  w.run(10);
  return w;
}

function pattern(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

/** A TCP segment in an Ethernet + IPv6 frame, read straight from the bytes (RFC 8200 §3, RFC 9293 §3.1). */
interface Wire6 { flowLabel: number; flags: number; mssOption: number; checksumOk: boolean; srcPort: number; dstPort: number; length: number }

function parseTcp6(f: Uint8Array): Wire6 | null {
  if (f.length < 14 + 40 + 20 || ((f[12]! << 8) | f[13]!) !== ETHERTYPE_IPV6 || f[14 + 6] !== 6) return null;
  const ip = 14;
  const payload = (f[ip + 4]! << 8) | f[ip + 5]!;
  const t = ip + 40;
  // RFC 8200 §8.1: source, destination, upper-layer length (32 bits), three zero bytes, next header.
  let sum = 0;
  for (let i = ip + 8; i < ip + 40; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  sum += payload + 6;
  for (let i = t; i < t + payload; i += 2) sum += (f[i]! << 8) | (i + 1 < t + payload ? f[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const dataOffset = (f[t + 12]! >> 4) * 4;
  let mssOption = 0;
  for (let o = t + 20; o < t + dataOffset;) {
    const kind = f[o]!;
    if (kind === 0) break;
    if (kind === 1) { o++; continue; }
    if (kind === 2) mssOption = (f[o + 2]! << 8) | f[o + 3]!;
    o += f[o + 1]!;
  }
  return {
    flowLabel: ((f[ip + 1]! & 0x0f) << 16) | (f[ip + 2]! << 8) | f[ip + 3]!,
    flags: f[t + 13]!, mssOption, checksumOk: sum === 0xffff,
    srcPort: (f[t]! << 8) | f[t + 1]!, dstPort: (f[t + 2]! << 8) | f[t + 3]!, length: payload - dataOffset,
  };
}

/** The last IPv6 TCP frame A sent that `match` accepts. */
function lastFrame(w: World, match: (x: Wire6) => boolean): Uint8Array {
  for (let i = w.aFrames.length - 1; i >= 0; i--) {
    const x = parseTcp6(w.aFrames[i]!);
    if (x && match(x)) return w.aFrames[i]!;
  }
  throw new Error('no such frame');
}

/**
 * B sends A an ICMPv6 error (RFC 4443 §2.1: type, code, checksum, a 32-bit field, then as much of
 * the invoking packet as fits in 1280 bytes) quoting `frame`, an Ethernet frame A sent; the
 * checksum is summed here over the RFC 8200 §8.1 pseudo-header.
 */
function icmpv6ErrorFromB(w: World, type: number, code: number, field: number, frame: Uint8Array): void {
  const quoted = frame.subarray(14, Math.min(frame.length, 14 + 1280 - 40 - 8));
  const msg = new Uint8Array(8 + quoted.length);
  msg[0] = type;
  msg[1] = code;
  msg[4] = field >>> 24; msg[5] = (field >>> 16) & 0xff; msg[6] = (field >>> 8) & 0xff; msg[7] = field & 0xff;
  msg.set(quoted, 8);
  let sum = msg.length + 58;
  for (const a of [parseIpv6(B6)!, parseIpv6(A6)!]) for (let i = 0; i < 16; i += 2) sum += (a[i]! << 8) | a[i + 1]!;
  for (let i = 0; i < msg.length; i += 2) sum += (msg[i]! << 8) | (i + 1 < msg.length ? msg[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const ck = ~sum & 0xffff;
  msg[2] = ck >> 8; msg[3] = ck & 0xff;
  const b = w.pair.b.ip;
  const ip6 = b.ip6!;
  const slot = b.arena.alloc();
  const start = b.arena.headroom + 14 + 40;
  b.arena.view(slot).set(msg, start);
  b.arena.setFrame(slot, start, msg.length);
  ip6.output(slot, ip6.table.find(parseIpv6(B6)!, 0), ip6.table.find(parseIpv6(A6)!, 0), 58, 0, 64, 0);
  b.nic.flushTx();
}

describe('TCP over IPv6 (memory link, virtual time)', () => {
  it('RFC 8200 §8.1/§8.3, RFC 6437: a connection over IPv6 moves 1 MiB both ways intact; the SYN announces MTU − 60; every checksum covers the IPv6 pseudo-header; one non-zero flow label for the connection', () => {
    const w = world();
    const server = peer(() => w.b);
    const client = peer(() => w.a);
    w.b.listen(0, 80, 16, { onConnection: (t) => { t.events = server; server.tcb = t; server.established = true; } }, { family: NetworkFamily.IPV6 });
    const r = w.connect6(80, client);
    expect(r).toBeInstanceOf(Tcb);
    w.run(1000, () => client.established && server.established);
    expect(client.established && server.established).toBe(true);
    const c = client.tcb!;
    const s = server.tcb!;
    expect([c.family, s.family]).toEqual([NetworkFamily.IPV6, NetworkFamily.IPV6]);
    expect(w.pair.a.ip.ip6!.table.format(c.localIp)).toBe(A6);
    expect(w.pair.b.ip.ip6!.table.format(s.remoteIp)).toBe(A6);
    expect(c.mss).toBe(1500 - 60 - 12);
    const up = pattern(1 << 20, 1);
    const down = pattern(1 << 20, 2);
    let upDone: NTSTATUS | null = null;
    let downDone: NTSTATUS | null = null;
    w.a.send(c, [up], false, (st) => { upDone = st; });
    w.b.send(s, [down], false, (st) => { downDone = st; });
    w.run(60_000, () => server.bytes === up.length && client.bytes === down.length && upDone !== null && downDone !== null);
    expect(Buffer.concat(server.received).equals(Buffer.from(up))).toBe(true);
    expect(Buffer.concat(client.received).equals(Buffer.from(down))).toBe(true);
    expect([upDone, downDone]).toEqual([STATUS_SUCCESS, STATUS_SUCCESS]);
    const segments = w.aFrames.map(parseTcp6).filter((x): x is Wire6 => x !== null && x.dstPort === 80);
    expect(segments.length).toBeGreaterThan(700);
    const syn = segments.find((x) => (x.flags & 0x02) !== 0)!;
    expect(syn.mssOption).toBe(1500 - 60);
    expect(segments.every((x) => x.checksumOk)).toBe(true);
    expect(new Set(segments.map((x) => x.flowLabel)).size).toBe(1);
    expect(syn.flowLabel).not.toBe(0);
    expect(Math.max(...segments.map((x) => x.length))).toBe(c.mss);
    w.close();
  });

  it('a dual-stack listener ([::], V6ONLY off) takes IPv4 and IPv6 connections on one port; a V6ONLY listener takes IPv6 only, and an IPv4 listener may share its port', () => {
    const w = world();
    const accepted: Tcb[] = [];
    const quiet = (): TcpEvents => peer(() => w.b);
    const dual = w.b.listen(0, 80, 16, { onConnection: (t) => { t.events = quiet(); accepted.push(t); } }, { family: NetworkFamily.IPV6, v6Only: false });
    expect(w.b.canListen(80, NetworkFamily.IPV4)).toBe(false);
    const c4 = peer(() => w.a);
    const c6 = peer(() => w.a);
    w.a.connect(0, B, 80, c4);
    w.connect6(80, c6);
    w.run(1000, () => accepted.length === 2);
    expect(accepted.map((t) => t.family).sort()).toEqual([NetworkFamily.IPV4, NetworkFamily.IPV6]);
    expect(accepted.find((t) => t.family === NetworkFamily.IPV4)!.remoteIp).toBe(A);
    w.b.closeListener(dual);

    // V6ONLY: IPv4 SYNs to the port are refused, and an IPv4 listener can take the port beside it.
    const v6only = w.b.listen(0, 81, 16, { onConnection: (t) => { t.events = quiet(); accepted.push(t); } }, { family: NetworkFamily.IPV6, v6Only: true });
    const refused = peer(() => w.a);
    w.a.connect(0, B, 81, refused);
    w.run(1000, () => refused.closed !== null);
    expect(refused.closed).toBe(STATUS_CONNECTION_REFUSED);
    expect(w.b.canListen(81, NetworkFamily.IPV4)).toBe(true);
    const beside = w.b.listen(0, 81, 16, { onConnection: (t) => { t.events = quiet(); accepted.push(t); } });
    const again4 = peer(() => w.a);
    const again6 = peer(() => w.a);
    w.a.connect(0, B, 81, again4);
    w.connect6(81, again6);
    w.run(1000, () => again4.established && again6.established);
    expect(again4.established && again6.established).toBe(true);
    expect(accepted).toHaveLength(4);
    w.b.closeListener(v6only);
    w.b.closeListener(beside);
    w.close();
  });

  it('RFC 9293 §3.10.7.1 over IPv6: a SYN to a closed port is answered with RST (STATUS_CONNECTION_REFUSED)', () => {
    const w = world();
    const refused = peer(() => w.a);
    w.connect6(81, refused);
    w.run(1000, () => refused.closed !== null);
    expect(refused.closed).toBe(STATUS_CONNECTION_REFUSED);
    expect(w.b.counters.noListener).toBe(1);
    expect(w.b.counters.resetsSent).toBe(1);
    w.close();
  });

  it('a connect to an on-link IPv6 neighbour that never answers neighbour solicitations fails with STATUS_HOST_UNREACHABLE', () => {
    const w = world();
    const p = peer(() => w.a);
    const table = w.pair.a.ip.ip6!.table;
    const silent = table.intern(parseIpv6('fd00:198:18::99')!, 0);
    const r = w.a.connect(0, silent, 80, p, 64, 0, NetworkFamily.IPV6);
    table.release(silent);
    expect(r).toBeInstanceOf(Tcb);
    w.run(120_000, () => p.closed !== null);
    expect(p.closed).toBe(STATUS_HOST_UNREACHABLE);
    w.close();
  });

  it('a connection holds its IPv6 addresses while it lives and gives them back when freed (after TIME-WAIT): a second connection leaves both address tables as the first did', () => {
    const w = world();
    const tableA = w.pair.a.ip.ip6!.table;
    const tableB = w.pair.b.ip.ip6!.table;
    const server = peer(() => w.b);
    w.b.listen(0, 80, 16, { onConnection: (t) => { t.events = server; server.tcb = t; server.established = true; } }, { family: NetworkFamily.IPV6 });
    const cycle = (): void => {
      server.closed = null;
      server.established = false;
      const client = peer(() => w.a);
      w.connect6(80, client);
      w.run(1000, () => client.established && server.established);
      expect(server.established).toBe(true);
      // Held by both TCBs: the ids name the same addresses throughout.
      expect(tableB.format(server.tcb!.remoteIp)).toBe(A6);
      w.a.shutdown(client.tcb!);
      w.b.shutdown(server.tcb!);
      w.run(1000, () => client.closed !== null && server.closed !== null);
      expect([client.closed, server.closed]).toEqual([STATUS_SUCCESS, STATUS_SUCCESS]);
      w.run(61_000, () => w.a.size + w.b.size === 0);
      expect(w.a.size + w.b.size).toBe(0);
    };
    cycle(); // neighbours learned: their cache keeps its own references from now on
    const sizes = [tableA.size, tableB.size];
    cycle();
    expect([tableA.size, tableB.size]).toEqual(sizes);
    w.close();
  });

  it('RFC 8201 §4: a Packet Too Big quoting a segment in the send window lowers the path MTU and the MSS (MTU − 60 − 12); what follows fits 1280-byte packets and arrives intact', () => {
    const w = world();
    const server = peer(() => w.b);
    const client = peer(() => w.a);
    w.b.listen(0, 80, 16, { onConnection: (t) => { t.events = server; server.tcb = t; server.established = true; } }, { family: NetworkFamily.IPV6 });
    w.connect6(80, client);
    w.run(1000, () => client.established && server.established);
    const c = client.tcb!;
    // The first flight goes nowhere, so its segments stay in the send window for the error to quote.
    w.aTap.dropTcp = true;
    const data = pattern(256 * 1024, 5);
    w.a.send(c, [data], false, null);
    w.run(1);
    const big = lastFrame(w, (x) => x.length > 1300);
    expect(big).toBeDefined();
    icmpv6ErrorFromB(w, 2, 0, 1280, big);
    w.run(5);
    expect(c.mss).toBe(1280 - 60 - 12);
    expect(w.pair.a.ip.ip6!.pathMtu(c.remoteIp)).toBe(1280);
    w.aTap.dropTcp = false;
    const before = w.aFrames.length;
    w.run(60_000, () => server.bytes === data.length);
    expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
    const after = w.aFrames.slice(before).filter((f) => parseTcp6(f) !== null);
    expect(after.length).toBeGreaterThan(100);
    expect(Math.max(...after.map((f) => f.length - 14))).toBeLessThanOrEqual(1280);
    w.close();
  });

  it('tcp_v6_err: Destination Unreachable (port) quoting our SYN fails the connect with STATUS_CONNECTION_REFUSED; address unreachable is a soft error, the status of the connect\'s later timeout', () => {
    const w = world({ synRetries: 2 });
    w.aTap.dropTcp = true;
    const hard = peer(() => w.a);
    const t = w.connect6(80, hard) as Tcb;
    w.run(1);
    const syn = lastFrame(w, (x) => x.srcPort === t.localPort);
    icmpv6ErrorFromB(w, 1, 4, 0, syn);
    w.run(10, () => hard.closed !== null);
    expect(hard.closed).toBe(STATUS_CONNECTION_REFUSED);

    const soft = peer(() => w.a);
    const u = w.connect6(80, soft) as Tcb;
    w.run(1);
    icmpv6ErrorFromB(w, 1, 3, 0, lastFrame(w, (x) => x.srcPort === u.localPort));
    w.run(10);
    expect(soft.closed).toBeNull();
    expect(u.state).toBe(TcpState.SYN_SENT);
    w.run(60_000, () => soft.closed !== null);
    expect(soft.closed).toBe(STATUS_HOST_UNREACHABLE);
    expect(soft.closed).not.toBe(STATUS_IO_TIMEOUT);
    w.close();
  });

  it('a connection to the stack\'s own IPv6 address, and to ::1, is looped back and carries data', () => {
    const w = world();
    const table = w.pair.a.ip.ip6!.table;
    for (const [target, port] of [[A6, 90], ['::1', 91]] as const) {
      const server = peer(() => w.a);
      w.a.listen(0, port, 4, { onConnection: (t) => { t.events = server; server.tcb = t; server.established = true; } }, { family: NetworkFamily.IPV6 });
      const client = peer(() => w.a);
      const id = table.intern(parseIpv6(target)!, 0);
      const c = w.a.connect(0, id, port, client, 64, 0, NetworkFamily.IPV6) as Tcb;
      table.release(id);
      w.run(1000, () => client.established && server.established);
      expect(table.format(c.localIp)).toBe(target);
      w.a.send(c, [pattern(100_000, 4)], false, null);
      w.run(1000, () => server.bytes === 100_000);
      expect(Buffer.concat(server.received).equals(Buffer.from(pattern(100_000, 4)))).toBe(true);
    }
    w.close();
  });

  it('RFC 4987 §3.6 over IPv6: a full SYN queue answers with SYN cookies hashed over the whole addresses; the connections open and carry data', () => {
    const w = world();
    const servers: Peer[] = [];
    w.b.listen(0, 80, 1, { onConnection: (t) => { const p = peer(() => w.b); p.tcb = t; p.established = true; t.events = p; servers.push(p); } }, { family: NetworkFamily.IPV6 });
    const clients = Array.from({ length: 4 }, () => {
      const p = peer(() => w.a);
      p.tcb = w.connect6(80, p) as Tcb;
      return p;
    });
    w.run(2000, () => clients.every((c) => c.established) && servers.length === 4);
    expect(servers).toHaveLength(4);
    expect(w.b.counters.synCookiesSent).toBeGreaterThanOrEqual(3);
    expect(w.b.counters.synCookiesAccepted).toBe(w.b.counters.synCookiesSent);
    for (const [i, c] of clients.entries()) w.a.send(c.tcb!, [new TextEncoder().encode(`hello ${i}`)], false, null);
    w.run(1000, () => servers.every((s) => s.bytes > 0));
    expect(servers.map((s) => Buffer.concat(s.received).toString()).sort()).toEqual([0, 1, 2, 3].map((i) => `hello ${i}`));
    expect(servers.every((s) => s.tcb!.state === TcpState.ESTABLISHED)).toBe(true);
    w.close();
  });
});

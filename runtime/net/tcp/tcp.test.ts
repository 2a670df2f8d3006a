// TCP between two userspace stacks on the memory link, in virtual time: handshake, transfer,
// orderly and abortive close, resets, retransmission under loss, flow control, keepalive.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock.ts';
import type { LinkDevice } from '../device.ts';
import { FaultInjectorLink, type FaultOptions } from '../../../transports/fault/fault-injector.ts';
import { Xoshiro128 } from '../prng.ts';
import { LinkMiddleware } from '../../../transports/link.ts';
import { parseSegment, type Segment } from '../../../test/helpers/tcp-checker.ts';
import { B, stackPair, type StackPair } from '../../../test/helpers/net-pair.ts';
import { TcpEngine, type TcpOptionsConfig } from './tcp-engine.ts';
import { emitEthernet, EtherType } from '../wire/ethernet.ts';
import { emitIpv4, IpProtocol } from '../wire/ipv4.ts';
import { emitIcmpError, IcmpType, IcmpUnreachableCode } from '../wire/icmpv4.ts';
import { set16, set32 } from '../wire/bytes.ts';
import { Tcb, TcpState, type TcpEvents } from './tcb.ts';
import {
  STATUS_CONNECTION_REFUSED, STATUS_CONNECTION_RESET, STATUS_HOST_UNREACHABLE, STATUS_IO_TIMEOUT, STATUS_SUCCESS, type NTSTATUS,
} from '../../ntstatus.ts';

interface Peer extends TcpEvents {
  tcb: Tcb | null;
  received: Uint8Array[];
  bytes: number;
  fin: boolean;
  established: boolean;
  closed: NTSTATUS | null;
  /** Stop taking data (flow control test). */
  hold: boolean;
  text(): string;
}

function peer(engine: () => TcpEngine): Peer {
  const p: Peer = {
    tcb: null, received: [], bytes: 0, fin: false, established: false, closed: null, hold: false,
    text: () => Buffer.concat(p.received).toString(),
    onEstablished(t) { p.tcb = t; p.established = true; },
    onReadable(t) {
      if (p.hold) return;
      for (const c of engine().take(t) ?? []) { p.received.push(c); p.bytes += c.length; }
    },
    onFin() { p.fin = true; },
    onClosed(_t, s) { p.closed = s; },
  };
  return p;
}

interface World {
  clock: VirtualClock;
  pair: StackPair;
  a: TcpEngine;
  b: TcpEngine;
  run(ms: number, done?: () => boolean): boolean;
  close(): void;
}

function world(faults: Omit<FaultOptions, 'seed'> | null = null, tcp: Partial<TcpOptionsConfig> = {}, seed = 1, tso = 0): World {
  const clock = new VirtualClock();
  const injectors: FaultInjectorLink[] = [];
  const wrap = (link: LinkDevice, which: 'a' | 'b'): LinkDevice => {
    if (!faults) return link;
    const f = new FaultInjectorLink(link, { seed: seed * 2 + (which === 'a' ? 0 : 1), ...faults });
    injectors.push(f);
    return f;
  };
  const pair = tso > 0
    ? stackPair({ clock, slotCount: 1024, slotSize: tso + 1024 }, { tcp }, wrap, { capabilities: { tsoMaxBytes: tso } })
    : stackPair({ clock, slotCount: 8192 }, { tcp }, wrap);
  const a = pair.a.tcp!;
  const b = pair.b.tcp!;
  return {
    clock, pair, a, b,
    run: (ms, done) => clock.runFor(ms, done),
    close: () => {
      a.closeAll();
      b.closeAll();
      clock.runFor(1);
      pair.close();
      for (const f of injectors) f.close();
      pair.network.arena.assertNoLeaks();
    },
  };
}

/** Server on B:80 accepting one connection into `server`; client on A connecting. */
function open(w: World): { client: Peer; server: Peer } {
  const server = peer(() => w.b);
  const client = peer(() => w.a);
  w.b.listen(0, 80, 16, { onConnection: (t) => { t.events = server; server.tcb = t; server.established = true; } });
  const r = w.a.connect(0, B, 80, client);
  expect(r).toBeInstanceOf(Tcb);
  client.tcb = r as Tcb;
  w.run(1000, () => client.established && server.established);
  return { client, server };
}

/** Shows the test every frame its stack transmits (a copy, and the frame's TSO segment size). */
class Tap extends LinkMiddleware {
  constructor(inner: LinkDevice, private readonly seen: (bytes: Uint8Array, segmentSize: number) => void) { super(inner); }
  override transmit(slots: Int32Array, count: number): void {
    const a = this.arena;
    for (let i = 0; i < count; i++) {
      const s = slots[i]!;
      const off = a.offsetOf(s);
      this.seen(a.view(s).slice(off, off + a.lengthOf(s)), a.segmentSizes[s]!);
    }
    super.transmit(slots, count);
  }
}

function pattern(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

describe('TCP on the userspace stack (memory link, virtual time)', () => {
  it('RFC 9293 §3.5: three-way handshake negotiates MSS, window scale, SACK and timestamps', () => {
    const w = world();
    const { client, server } = open(w);
    expect(client.established && server.established).toBe(true);
    const c = client.tcb!;
    const s = server.tcb!;
    expect(c.state).toBe(TcpState.ESTABLISHED);
    expect(s.state).toBe(TcpState.ESTABLISHED);
    expect(c.mss).toBe(1460 - 12);
    expect(c.sackEnabled && c.tsEnabled && s.sackEnabled && s.tsEnabled).toBe(true);
    expect(c.sndShift).toBe(s.rcvShift);
    expect(c.rcvNxt).toBe((s.iss + 1) | 0);
    expect(s.rcvNxt).toBe((c.iss + 1) | 0);
    w.close();
  });

  it('transfers 4 MiB both ways intact; WskSend-style requests complete once acknowledged', () => {
    const w = world();
    const { client, server } = open(w);
    const up = pattern(4 << 20, 1);
    const down = pattern(4 << 20, 2);
    let upDone: NTSTATUS | null = null;
    let downDone: NTSTATUS | null = null;
    w.a.send(client.tcb!, [up.subarray(0, 1000), up.subarray(1000)], false, (s) => { upDone = s; });
    w.b.send(server.tcb!, [down], false, (s) => { downDone = s; });
    w.run(60_000, () => server.bytes === up.length && client.bytes === down.length && upDone !== null && downDone !== null);
    expect(Buffer.concat(server.received).equals(Buffer.from(up))).toBe(true);
    expect(Buffer.concat(client.received).equals(Buffer.from(down))).toBe(true);
    expect([upDone, downDone]).toEqual([STATUS_SUCCESS, STATUS_SUCCESS]);
    expect(w.a.counters.retransmits + w.b.counters.retransmits).toBe(0);
    w.close();
  });

  it('segmentation offload: on a link offering 64 KiB TSO, segments of several MSS leave whole; 8 MiB arrive intact, also through 1 % loss', () => {
    for (const faults of [null, { loss: 0.01, delayMs: 5 }]) {
      const w = world(faults, {}, 5, 65536);
      const { client, server } = open(w);
      expect(client.tcb!.sendSegmentMax).toBe(Math.floor((65536 - 52) / client.tcb!.mss) * client.tcb!.mss);
      const data = pattern(8 << 20, 9);
      let done: NTSTATUS | null = null;
      w.a.send(client.tcb!, [data], false, (s) => { done = s; });
      w.run(600_000, () => server.bytes === data.length && done !== null);
      expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
      expect(done).toBe(STATUS_SUCCESS);
      // Far fewer segments than 8 MiB / MSS (retransmissions after losses are MSS-sized). Through
      // 1 % loss per wire packet (the injector cuts TSO frames) a loss event hits about one
      // frame in three, so recoveries are many and windows small: fewer segments than MSS-sized
      // pieces still shows the offload in use.
      expect(w.a.counters.segmentsOut).toBeLessThan((8 << 20) / client.tcb!.mss / (faults ? 1 : 4));
      w.close();
    }
  });

  it('RFC 2018 §4: TSO frames through a lossy path lose single wire packets, so the receiver SACKs holes of one MSS each', () => {
    // A's frames are recorded above its fault injector (TSO frames whole), B's below nothing.
    // Replaying the injector's seed over A's frames, one loss draw per wire packet, names the
    // packets lost; B's ACKs after the first flight must show exactly those holes.
    const seed = 10;
    const loss = 0.2;
    const clock = new VirtualClock();
    const aFrames: { t: number; bytes: Uint8Array; segmentSize: number }[] = [];
    const bSent: { t: number; seg: Segment | null }[] = [];
    const injectors: FaultInjectorLink[] = [];
    const pair = stackPair({ clock, slotCount: 1024, slotSize: 65536 + 1024 }, {}, (link, which) => {
      if (which === 'b') return new Tap(link, (bytes) => bSent.push({ t: clock.now(), seg: parseSegment(bytes) }));
      const f = new FaultInjectorLink(link, { seed, loss, delayMs: 10 });
      injectors.push(f);
      return new Tap(f, (bytes, segmentSize) => aFrames.push({ t: clock.now(), bytes, segmentSize }));
    }, { capabilities: { tsoMaxBytes: 65536, txChecksumOffload: true } });
    const w: World = {
      clock, pair, a: pair.a.tcp!, b: pair.b.tcp!, run: (ms, done) => clock.runFor(ms, done),
      close: () => {
        w.a.closeAll(); w.b.closeAll(); clock.runFor(1); pair.close();
        for (const f of injectors) f.close();
        pair.network.arena.assertNoLeaks();
      },
    };
    const { client } = open(w);
    expect(client.established).toBe(true);
    const mss = client.tcb!.mss;
    const t0 = clock.now();
    w.a.send(client.tcb!, [pattern(512 * 1024, 3)], false, null);
    // The first flight reaches B at t0 + 10 ms; what A sends on B's ACKs reaches it at t0 + 20 ms.
    w.run(15);

    // The wire packets of A's first flight, in the order the injector decides them.
    const rng = new Xoshiro128(seed);
    const flight: { seq: number; len: number; lost: boolean }[] = [];
    let tsoFrames = 0;
    for (const f of aFrames) {
      const seg = parseSegment(f.bytes);
      const len = seg?.payload.length ?? 0;
      const n = f.segmentSize > 0 && len > f.segmentSize ? Math.ceil(len / f.segmentSize) : 1;
      if (n > 1 && f.t === t0) tsoFrames++;
      for (let k = 0; k < n; k++) {
        const lost = rng.next() < loss;
        if (f.t === t0 && seg && len > 0) {
          const size = n > 1 ? Math.min(f.segmentSize, len - k * f.segmentSize) : len;
          flight.push({ seq: (seg.seq + k * f.segmentSize) >>> 0, len: size, lost });
        }
      }
    }
    expect(tsoFrames, 'the first flight leaves as TSO frames').toBeGreaterThan(0);
    const firstLost = flight.findIndex((p) => p.lost);
    expect(firstLost, 'the seed loses a packet of the first flight').toBeGreaterThanOrEqual(0);
    expect(flight.slice(firstLost).some((p) => !p.lost), 'and delivers one after it').toBe(true);
    // The runs B holds above its cumulative ACK: [start, end) of consecutive delivered packets.
    const runs: [number, number][] = [];
    for (const p of flight.slice(firstLost)) {
      if (p.lost) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === p.seq) last[1] = (p.seq + p.len) >>> 0; else runs.push([p.seq, (p.seq + p.len) >>> 0]);
    }
    for (const p of flight) if (p.len !== mss && p !== flight[flight.length - 1]) expect.fail(`a packet of ${p.len} bytes inside the flight`);

    const acks = bSent.filter((x) => x.t > t0 && x.seg && x.seg.payload.length === 0).map((x) => x.seg!);
    const last = acks[acks.length - 1]!;
    expect(last.ack, 'B acknowledges up to the first lost packet').toBe(flight[firstLost]!.seq);
    const blocks = last.options.sack ?? [];
    expect(blocks.length, `SACK blocks ${JSON.stringify(blocks)} for runs ${JSON.stringify(runs)}`).toBe(Math.min(3, runs.length));
    expect(blocks[0], 'the first block is the most recent run (RFC 2018 §4)').toEqual(runs[runs.length - 1]);
    for (const b of blocks) expect(runs, `block ${b[0]}-${b[1]} is one run of delivered packets`).toContainEqual(b);
    w.close();
  });

  it('RFC 1191: ICMP fragmentation-needed lowers the MSS of connections to that host and the transfer continues intact', () => {
    const w = world();
    const { client, server } = open(w);
    expect(client.tcb!.mss).toBe(1448);
    // A router reports a 1000-byte next hop for a full-sized segment A → B.
    const arena = w.pair.network.arena;
    const slot = arena.alloc();
    const v = arena.view(slot);
    const at = arena.headroom;
    const q = at + 14 + 20 + 8;
    emitIpv4(v, q, w.pair.a.ip.address, B, IpProtocol.TCP, 1480);
    set16(v, q + 20, client.tcb!.localPort);
    set16(v, q + 22, 80);
    set32(v, q + 24, client.tcb!.sndUna); // RFC 5927 §5.1: only a quote inside SND.UNA..SND.NXT is believed
    emitIcmpError(v, at + 14 + 20, IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.FRAG_NEEDED, 28, 1000);
    emitIpv4(v, at + 14, B, w.pair.a.ip.address, IpProtocol.ICMP, 36);
    emitEthernet(v, at, w.pair.a.ip.mac, w.pair.b.ip.mac, EtherType.IPV4);
    arena.setFrame(slot, at, 14 + 20 + 36);
    w.pair.a.ip.nic.onReceive(Int32Array.of(slot), 1);
    expect(w.pair.a.ip.ip4.pathMtu(B)).toBe(1000);
    expect(client.tcb!.mss).toBe(1000 - 40 - 12);
    expect(w.a.counters.pmtuShrinks).toBe(1);
    const data = pattern(1 << 20, 11);
    let done: NTSTATUS | null = null;
    w.a.send(client.tcb!, [data], false, (st) => { done = st; });
    w.run(60_000, () => server.bytes === data.length && done !== null);
    expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
    expect(w.a.counters.segmentsOut).toBeGreaterThanOrEqual(Math.ceil(data.length / (1000 - 52)));
    w.close();
  });

  it('RFC 9293 §3.6: orderly close both ways, half-close keeps the other direction, TIME-WAIT ends after 2 MSL', () => {
    const w = world(null, { timeWaitMs: 60_000 });
    const { client, server } = open(w);
    w.a.send(client.tcb!, [new TextEncoder().encode('request')], false, null);
    w.a.shutdown(client.tcb!);
    w.run(1000, () => server.fin);
    expect(server.text()).toBe('request');
    expect(server.tcb!.state).toBe(TcpState.CLOSE_WAIT);
    expect(client.tcb!.state).toBe(TcpState.FIN_WAIT_2);
    // Half-closed: the server still answers.
    w.b.send(server.tcb!, [new TextEncoder().encode('response')], false, null);
    w.b.shutdown(server.tcb!);
    w.run(1000, () => client.fin && server.closed !== null);
    expect(client.text()).toBe('response');
    expect(server.closed).toBe(STATUS_SUCCESS);
    expect(client.closed).toBe(STATUS_SUCCESS);
    expect(client.tcb!.state).toBe(TcpState.TIME_WAIT);
    expect(w.a.size).toBe(1);
    w.run(61_000);
    expect(w.a.size).toBe(0);
    expect(w.b.size).toBe(0);
    w.close();
  });

  it('RFC 9293 §3.10.7.1: a SYN to a closed port is answered with RST (STATUS_CONNECTION_REFUSED); an abort resets the peer (STATUS_CONNECTION_RESET)', () => {
    const w = world();
    const refused = peer(() => w.a);
    w.a.connect(0, B, 81, refused);
    w.run(1000, () => refused.closed !== null);
    expect(refused.closed).toBe(STATUS_CONNECTION_REFUSED);
    expect(w.b.counters.noListener).toBe(1);
    const { client, server } = open(w);
    w.a.abort(client.tcb!);
    w.run(1000, () => server.closed !== null);
    expect(server.closed).toBe(STATUS_CONNECTION_RESET);
    expect(w.a.size + w.b.size).toBe(0);
    w.close();
  });

  it('Linux tcp_rcv_space_adjust: by default the receive buffer grows past its initial 256 KiB while the reader keeps up (10 ms RTT), up to what the link\'s arena holds, and the transfer beats a fixed 256 KiB buffer; an explicit buffer stays fixed', () => {
    const transfer = (tcp: Partial<TcpOptionsConfig>): { ms: number; rcvBuf: number; shift: number; ceiling: number } => {
      const w = world({ delayMs: 5 }, tcp);
      const { client, server } = open(w);
      const data = pattern(16 << 20);
      const t0 = w.clock.now();
      w.a.send(client.tcb!, [data], false, null);
      w.run(120_000, () => server.bytes === data.length);
      expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
      const out = { ms: w.clock.now() - t0, rcvBuf: server.tcb!.rcvBufSize, shift: server.tcb!.rcvShift, ceiling: w.b.receiveBufferCeiling };
      w.close();
      return out;
    };
    const tuned = transfer({});
    const fixed = transfer({ receiveBuffer: 256 * 1024 });
    expect(fixed.rcvBuf).toBe(256 * 1024);
    expect(fixed.shift).toBe(3);
    // The ceiling: 6 MiB, or a quarter of the arena in MTU-sized frames (8192 slots here: about 3 MB).
    expect(tuned.ceiling).toBe(Math.min(6 << 20, 2048 * 1460));
    expect(65535 << tuned.shift).toBeGreaterThanOrEqual(tuned.ceiling);
    expect(tuned.rcvBuf).toBeGreaterThan(256 * 1024);
    expect(tuned.rcvBuf).toBeLessThanOrEqual(tuned.ceiling);
    expect(tuned.ms).toBeLessThan(fixed.ms);
  });

  it('RFC 4987 §3.6: a full SYN queue answers with SYN cookies; those connections open on the final ACK with window scaling, SACK and timestamps, and carry data', () => {
    const w = world();
    const servers: Peer[] = [];
    w.b.listen(0, 80, 1, { onConnection: (t) => { const p = peer(() => w.b); p.tcb = t; p.established = true; t.events = p; servers.push(p); } });
    const clients = Array.from({ length: 5 }, () => {
      const p = peer(() => w.a);
      p.tcb = w.a.connect(0, B, 80, p) as Tcb;
      return p;
    });
    w.run(2000, () => clients.every((c) => c.established) && servers.length === 5);
    expect(clients.every((c) => c.established)).toBe(true);
    expect(servers).toHaveLength(5);
    expect(w.b.counters.synCookiesSent).toBeGreaterThanOrEqual(4);
    expect(w.b.counters.synCookiesAccepted).toBe(w.b.counters.synCookiesSent);
    // Cookie or not, every connection has window scaling (the shift that covers the autotuning ceiling), SACK and timestamps.
    const opts = (t: Tcb): string => `ws ${t.sndShift}/${t.rcvShift} sack ${t.sackEnabled} ts ${t.tsEnabled}`;
    const ws = w.b.windowShift();
    expect(ws).toBeGreaterThan(3);
    expect([...servers, ...clients].map((p) => opts(p.tcb!))).toEqual(Array(10).fill(`ws ${ws}/${ws} sack true ts true`));
    for (const [i, c] of clients.entries()) w.a.send(c.tcb!, [new TextEncoder().encode(`hello ${i}`)], false, null);
    w.run(1000, () => servers.every((s) => s.bytes > 0));
    expect(servers.map((s) => s.text()).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `hello ${i}`));
    w.close();
  });

  it('a connect to a host that answers ARP but never a SYN fails with STATUS_IO_TIMEOUT after its SYN retries', () => {
    const w = world(null, { synRetries: 3 });
    const p = peer(() => w.a);
    // A neighbour entry with a MAC nobody owns: frames leave, nothing comes back.
    w.pair.a.ip.arp.cache.learn((B + 5) | 0, 0x0200, 0x00000099, true, w.clock.now());
    w.a.connect(0, (B + 5) | 0, 80, p);
    w.run(120_000, () => p.closed !== null);
    expect(p.closed).toBe(STATUS_IO_TIMEOUT);
    w.close();
  });

  it('a connect to an on-link host that never answers ARP fails with STATUS_HOST_UNREACHABLE when ARP gives up', () => {
    const w = world(null, { synRetries: 3 });
    const p = peer(() => w.a);
    w.a.connect(0, (B + 5) | 0, 80, p);
    w.run(120_000, () => p.closed !== null);
    expect(p.closed).toBe(STATUS_HOST_UNREACHABLE);
    w.close();
  });

  for (const [name, tcp] of [['SACK + CUBIC', {}], ['NewReno without SACK', { sack: false, congestionControl: 'newreno' }]] as const) {
    it(`${name}: 2 MiB through 3 % loss, reordering and duplication arrive intact (RFC 6675 / RFC 6582 recovery, RFC 6298 RTO)`, () => {
      const w = world({ loss: 0.03, delayMs: 10, jitterMs: 2, reorder: 0.02, duplicate: 0.01 }, tcp, 3);
      const { client, server } = open(w);
      const data = pattern(2 << 20, 3);
      let done: NTSTATUS | null = null;
      w.a.send(client.tcb!, [data], false, (s) => { done = s; });
      w.run(600_000, () => server.bytes === data.length && done !== null);
      expect(server.bytes).toBe(data.length);
      expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
      expect(done).toBe(STATUS_SUCCESS);
      expect(w.a.counters.retransmits).toBeGreaterThan(0);
      expect(w.a.counters.fastRetransmits).toBeGreaterThan(0);
      w.close();
    });
  }

  it('SO_SNDBUF (setSendBuffer): no more than the send buffer is ever in flight, the ideal send backlog says so, and a transfer still arrives intact, slower than without it on a 10 ms path', () => {
    const transfer = (sndBuf: number): { ms: number; maxInFlight: number; isb: number } => {
      const w = world({ delayMs: 5 });
      const { client, server } = open(w);
      const tcb = client.tcb!;
      if (sndBuf > 0) w.a.setSendBuffer(tcb, sndBuf);
      const data = pattern(512 * 1024);
      const t0 = w.clock.now();
      let maxInFlight = 0;
      w.a.send(tcb, [data], false, null);
      w.run(60_000, () => { maxInFlight = Math.max(maxInFlight, tcb.inFlight); return server.bytes === data.length; });
      expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
      // Once the congestion window has grown past it, the send buffer is what the backlog says.
      const out = { ms: w.clock.now() - t0, maxInFlight, isb: tcb.idealSendBacklog };
      w.close();
      return out;
    };
    const limited = transfer(16 * 1024);
    const free = transfer(0);
    expect(limited.maxInFlight).toBeLessThanOrEqual(16 * 1024);
    expect(limited.maxInFlight).toBeGreaterThan(8 * 1024);
    expect(limited.isb).toBe(16 * 1024);
    expect(free.maxInFlight).toBeGreaterThan(32 * 1024);
    // 512 KiB at 16 KiB per 10 ms round trip: at least 32 round trips.
    expect(limited.ms).toBeGreaterThanOrEqual(320);
    expect(limited.ms).toBeGreaterThan(2 * free.ms);
  });

  it('flow control: a receiver that stops reading closes the window; the sender probes and resumes when it reads', () => {
    const w = world(null, { receiveBuffer: 64 * 1024 });
    const { client, server } = open(w);
    server.hold = true;
    const data = pattern(512 * 1024, 5);
    let done: NTSTATUS | null = null;
    w.a.send(client.tcb!, [data], false, (s) => { done = s; });
    w.run(5_000);
    expect(server.tcb!.rcvQueued).toBeLessThanOrEqual(64 * 1024);
    expect(client.tcb!.sndWnd).toBe(0);
    w.run(20_000);
    expect(w.a.counters.windowProbes).toBeGreaterThan(0);
    server.hold = false;
    server.onReadable(server.tcb!);
    for (let i = 0; i < 200 && done === null; i++) { w.run(100); server.onReadable(server.tcb!); }
    expect(done).toBe(STATUS_SUCCESS);
    expect(Buffer.concat(server.received).equals(Buffer.from(data))).toBe(true);
    w.close();
  });

  it('keepalive: probes an idle connection and gives up with STATUS_IO_TIMEOUT when the peer is gone', () => {
    const w = world();
    const { client, server } = open(w);
    w.a.setKeepAlive(client.tcb!, true, 10_000, 1_000, 3);
    w.run(30_000);
    expect(client.closed).toBeNull();
    expect(w.a.counters.keepAliveProbes).toBeGreaterThan(0);
    // The peer vanishes without a word.
    w.b.remove(server.tcb!);
    w.pair.b.close();
    w.run(60_000, () => client.closed !== null);
    expect(client.closed).toBe(STATUS_IO_TIMEOUT);
    w.close();
  });
});

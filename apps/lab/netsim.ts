// Deterministic network simulation for the TCP engine, in virtual time (the idea of smoltcp's
// tests/netsim.rs): two userspace stacks on the memory link, fault injectors for loss, delay,
// a rate-limited bottleneck with a bounded queue, reordering, duplication and corruption, and a
// bulk transfer checked byte for byte. Everything random is seeded (fault PRNGs, the engines'
// ISN key, timestamp offset and ephemeral port start), so the same spec gives the same numbers
// on every run and every machine: the results table can be checked in and compared.
// With segmentation offload (TransferSpec.tsoBytes) the stacks hand their links 64 KiB TCP frames,
// as on AF_PACKET with offloads, and the fault injectors cut them into wire packets: loss then
// falls on single packets inside a TSO frame, as on a real lossy path.
// The building blocks (buildNet, Source, Sink, faultOptions) also drive `wsk lab run`'s memory
// medium (experiment-memory.ts), which samples the same connections over time.
import { VirtualClock } from '../../runtime/net/clock.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { FaultInjectorLink, type FaultOptions } from '../../transports/fault/fault-injector.ts';
import { A6_IP, B, B6_IP, simulatedIpv6, stackPair, type StackPair } from './stack-pair.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import type { MemoryLinkOptions, MemoryNetworkOptions } from '../../transports/memory/memory-network.ts';
import { TcpEngine, type TcpOptionsConfig } from '../../runtime/net/tcp/tcp-engine.ts';
import { Tcb, type TcpEvents } from '../../runtime/net/tcp/tcb.ts';
import { STATUS_SUCCESS, type NTSTATUS } from '../../runtime/ntstatus.ts';

export { A6_IP, B6_IP };

/** Ethernet + IPv4 + TCP (with the timestamp option) bytes around each full-sized segment. */
export const FRAME_OVERHEAD = 14 + 20 + 20 + 12;
const FULL_FRAME = 1500 + 14;

export interface LinkSpec {
  /** Loss probability per frame, each direction. */
  loss: number;
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Bottleneck rate, bit/s, each direction. */
  rateBitsPerSecond: number;
  /**
   * Bottleneck buffer in full-sized frames, on top of the frames in flight on the delay line
   * (the injector counts delayed frames against its queue limit, as netem does; without the
   * pipe allowance a 20 ms path at 100 Mbit/s would drop for want of queue before any
   * congestion).
   */
  bufferFrames: number;
  reorder?: number;
  duplicate?: number;
  corrupt?: number;
  jitterMs?: number;
}

export interface TransferSpec {
  name: string;
  congestionControl: 'cubic' | 'newreno';
  receiveBuffer: number;
  link: LinkSpec;
  /** Bytes sent from A to B. */
  bytes: number;
  seed: number;
  /** Bytes per send request (each has its own completion). Default 64 KiB. */
  requestBytes?: number;
  /** Virtual-time limit, ms. Default 600 s. A transfer still running then is reported as it stands (received < bytes). */
  limitMs?: number;
  /**
   * Segmentation and checksum offload on both stacks' links (AF_PACKET's PACKET_VNET_HDR): TCP
   * segments of up to this many bytes leave as one frame with the checksum left to the device,
   * and the fault injectors cut them into wire packets. Default 0: MTU-sized frames.
   */
  tsoBytes?: number;
  /**
   * TCP_NODELAY on the sender (default true, as bulk senders set it): with Nagle the stream's
   * last partial segment waits for the ACK of everything before it, which the receiver delays
   * by delayedAckMs (40 ms) — a constant tail that would dominate the short-RTT cells.
   */
  noDelay?: boolean;
  /** The connection runs over IPv6 (fd00:198:18::1 → fd00:198:18::2) instead of IPv4. Default false. */
  ipv6?: boolean;
}

export interface TransferResult {
  spec: TransferSpec;
  /** Goodput over virtual time, Mbit/s (first send to last byte at the receiver). */
  mbps: number;
  virtualMs: number;
  wallMs: number;
  received: number;
  /** Offset of the first byte that differs from what was sent, -1 if none. */
  firstMismatch: number;
  /** Bytes delivered past the end of what was sent. */
  excess: number;
  sendRequests: number;
  /** Completion statuses of the send requests, in completion order. */
  sendStatuses: NTSTATUS[];
  /** Both sides saw onClosed(STATUS_SUCCESS) after the graceful close. */
  closedCleanly: boolean;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  faults: { lost: number; queueDrops: number; reordered: number; duplicated: number; corrupted: number };
  /** Segments the receiver rejected for a bad checksum. */
  malformed: number;
  /** TSO frames the injectors cut into wire packets (0 without offload). */
  segmented: number;
}

/** Deterministic pseudo-random payload. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

/** Jain's fairness index: (Σx)² / (n·Σx²), 1 when all equal, 1/n when one takes everything. */
export function jain(xs: readonly number[]): number {
  let s = 0;
  let s2 = 0;
  for (const x of xs) { s += x; s2 += x * x; }
  return s2 === 0 ? 1 : (s * s) / (xs.length * s2);
}

export function faultOptions(link: LinkSpec, seed: number, direction: FaultOptions['direction'] = 'tx'): FaultOptions {
  const pipeFrames = Math.ceil((link.delayMs + (link.jitterMs ?? 0)) * link.rateBitsPerSecond / 1000 / (FULL_FRAME * 8));
  return {
    seed, direction,
    loss: link.loss, delayMs: link.delayMs, jitterMs: link.jitterMs, rateBitsPerSecond: link.rateBitsPerSecond,
    queueLimit: link.bufferFrames + pipeFrames + 1,
    reorder: link.reorder, duplicate: link.duplicate, corrupt: link.corrupt,
  };
}

export interface Net {
  clock: VirtualClock;
  pair: StackPair;
  a: TcpEngine;
  b: TcpEngine;
  injectors: FaultInjectorLink[];
  /** Aborts what is left, closes stacks and injectors, then checks arena and held-data tables for leaks. */
  close(): void;
}

/** Slots of a network whose links carry TSO frames: each slot holds a whole frame, so fewer of them. */
const TSO_SLOTS = 2048;

export function buildNet(
  tcp: Partial<TcpOptionsConfig>, seed: number, wrap: (link: LinkDevice, which: 'a' | 'b', injectors: FaultInjectorLink[]) => LinkDevice,
  tsoBytes = 0, ipv6 = false,
): Net {
  const clock = new VirtualClock();
  const injectors: FaultInjectorLink[] = [];
  const netOpts: MemoryNetworkOptions = tsoBytes > 0 ? { clock, slotCount: TSO_SLOTS, slotSize: tsoBytes + 1024 } : { clock, slotCount: 8192 };
  const linkOpts: MemoryLinkOptions = tsoBytes > 0 ? { capabilities: { tsoMaxBytes: tsoBytes, txChecksumOffload: true } } : {};
  // Each TCP's random inputs (ISN key, timestamp offset, ephemeral port start) come from the seed.
  const pair = stackPair(netOpts, { tcp }, (l, w) => wrap(l, w, injectors), linkOpts,
    { seed: seed * 4 + 1, ...(ipv6 ? simulatedIpv6(A6_IP) : {}) }, { seed: seed * 4 + 2, ...(ipv6 ? simulatedIpv6(B6_IP) : {}) });
  const a = pair.a.tcp!;
  const b = pair.b.tcp!;
  return {
    clock, pair, a, b, injectors,
    close: () => {
      a.closeAll();
      b.closeAll();
      clock.runFor(1);
      pair.a.ip.held.assertNoLeaks();
      pair.b.ip.held.assertNoLeaks();
      pair.close();
      for (const f of injectors) f.close();
      pair.network.arena.assertNoLeaks();
    },
  };
}

/**
 * Receives a stream and compares it with what was sent as it arrives: `total` bytes of `block`
 * repeated (a stream longer than the block, even an endless one, needs no buffer of its size).
 */
export class Sink implements TcpEvents {
  tcb: Tcb | null = null;
  received = 0;
  firstMismatch = -1;
  excess = 0;
  doneAt = NaN;
  fin = false;
  closed: NTSTATUS | null = null;
  constructor(private readonly engine: TcpEngine, private readonly block: Uint8Array, private readonly total = block.length) {}
  onEstablished(t: Tcb): void { this.tcb = t; }
  onReadable(t: Tcb): void {
    const block = this.block;
    for (const c of this.engine.take(t) ?? []) {
      const room = Math.max(0, Math.min(c.length, this.total - this.received));
      if (room < c.length) this.excess += c.length - room;
      if (this.firstMismatch < 0) {
        let at = this.received % block.length;
        for (let i = 0; i < room; i++, at++) {
          if (at === block.length) at = 0;
          if (c[i] !== block[at]) { this.firstMismatch = this.received + i; break; }
        }
      }
      this.received += c.length;
    }
    if (this.received >= this.total && Number.isNaN(this.doneAt)) this.doneAt = this.engine.clock.now();
  }
  onFin(): void { this.fin = true; }
  onClosed(_t: Tcb, s: NTSTATUS): void { this.closed = s; }
}

export interface SourceOptions {
  /** Bytes per send request (each has its own completion). */
  requestBytes: number;
  /** Bytes to send: `block` repeated; Infinity streams until the connection is closed. Default block.length. */
  total?: number;
  /**
   * Bytes posted and not yet completed, at most (requests are topped up as they complete).
   * Default Infinity: everything is posted at start. An endless stream needs a bound; a little
   * above the peer's receive window keeps the sender from ever being application-limited.
   */
  window?: number;
  /** start() as soon as the connection is established (flows that start on their own schedule). */
  autoStart?: boolean;
}

/** Sends `total` bytes of `block` repeated, as a series of requests, once started. */
export class Source implements TcpEvents {
  tcb: Tcb | null = null;
  established = false;
  fin = false;
  closed: NTSTATUS | null = null;
  statuses: NTSTATUS[] = [];
  requests = 0;
  startedAt = NaN;
  /** Bytes handed to the engine so far. */
  posted = 0;
  private completed = 0;
  private readonly requestBytes: number;
  private readonly total: number;
  private readonly window: number;
  private readonly autoStart: boolean;
  private readonly topUp = (): void => this.post();
  constructor(private readonly engine: TcpEngine, private readonly block: Uint8Array, opts: SourceOptions) {
    this.requestBytes = opts.requestBytes;
    this.total = opts.total ?? block.length;
    this.window = opts.window ?? Infinity;
    this.autoStart = opts.autoStart ?? false;
  }
  onEstablished(t: Tcb): void {
    this.tcb = t;
    this.established = true;
    // Deferred: the first sends leave after the handshake's input processing, not inside it.
    if (this.autoStart) this.engine.clock.defer(() => this.start());
  }
  onReadable(t: Tcb): void { this.engine.take(t); }
  onFin(): void { this.fin = true; }
  onClosed(_t: Tcb, s: NTSTATUS): void { this.closed = s; }
  start(): void {
    this.startedAt = this.engine.clock.now();
    this.post();
  }
  get sendsDone(): boolean { return this.posted >= this.total && this.statuses.length === this.requests; }

  private post(): void {
    const tcb = this.tcb!;
    const block = this.block;
    while (this.posted < this.total && this.posted - this.completed < this.window && this.closed === null) {
      const at = this.posted % block.length;
      const piece = block.subarray(at, Math.min(block.length, at + this.requestBytes, at + this.total - this.posted));
      const r = this.engine.send(tcb, [piece], false, (s) => this.onSent(s, piece.length));
      if (typeof r === 'number') throw new Error(`send failed with status 0x${(r >>> 0).toString(16)}`);
      this.requests++;
      this.posted += piece.length;
    }
  }

  private onSent(status: NTSTATUS, bytes: number): void {
    this.statuses.push(status);
    this.completed += bytes;
    // Not from inside the engine's ACK processing: the next request goes out after it.
    if (this.window !== Infinity && status === STATUS_SUCCESS) this.engine.clock.defer(this.topUp);
  }
}

/** One bulk transfer A → B through a lossy, delayed, rate-limited path (both directions faulted). */
export function runTransfer(spec: TransferSpec): TransferResult {
  const wall0 = performance.now();
  const tcp: Partial<TcpOptionsConfig> = { congestionControl: spec.congestionControl, receiveBuffer: spec.receiveBuffer };
  const net = buildNet(tcp, spec.seed, (link, which, injectors) => {
    const f = new FaultInjectorLink(link, faultOptions(spec.link, spec.seed * 2 + (which === 'a' ? 0 : 1)));
    injectors.push(f);
    return f;
  }, spec.tsoBytes, spec.ipv6);
  const data = pattern(spec.bytes, spec.seed);
  const sink = new Sink(net.b, data);
  const source = new Source(net.a, data, { requestBytes: spec.requestBytes ?? 64 * 1024 });
  const family = spec.ipv6 ? NetworkFamily.IPV6 : NetworkFamily.IPV4;
  net.b.listen(0, 80, 16, { onConnection: (t) => { t.events = sink; sink.tcb = t; } }, { family });
  let c: Tcb | NTSTATUS;
  if (spec.ipv6) {
    // The remote's id is held while connect() makes the TCB, which takes a reference of its own.
    const table = net.pair.a.ip.ip6!.table;
    const to = table.intern(parseIpv6(B6_IP)!, 0);
    c = net.a.connect(0, to, 80, source, 64, 0, family);
    table.release(to);
  } else {
    c = net.a.connect(0, B, 80, source);
  }
  if (!(c instanceof Tcb)) throw new Error(`connect failed with status 0x${(c >>> 0).toString(16)}`);
  net.clock.runFor(30_000, () => source.established && sink.tcb !== null);
  if (!source.established || !sink.tcb) throw new Error(`${spec.name}: handshake did not complete in 30 s of virtual time`);
  if (spec.noDelay ?? true) net.a.setNoDelay(source.tcb!, true);
  source.start();
  const limit = spec.limitMs ?? 600_000;
  net.clock.runFor(limit, () => sink.received >= data.length && source.sendsDone);
  const virtualMs = (Number.isNaN(sink.doneAt) ? net.clock.now() : sink.doneAt) - source.startedAt;
  // Graceful close both ways.
  let closedCleanly = false;
  if (source.sendsDone && sink.tcb) {
    net.a.shutdown(source.tcb!);
    net.clock.runFor(60_000, () => sink.fin);
    net.b.shutdown(sink.tcb);
    net.clock.runFor(60_000, () => source.closed !== null && sink.closed !== null);
    closedCleanly = source.closed === STATUS_SUCCESS && sink.closed === STATUS_SUCCESS;
  }
  const fa = { lost: 0, queueDrops: 0, reordered: 0, duplicated: 0, corrupted: 0 };
  for (const f of net.injectors) {
    fa.lost += f.faults.lost; fa.queueDrops += f.faults.queueDrops; fa.reordered += f.faults.reordered;
    fa.duplicated += f.faults.duplicated; fa.corrupted += f.faults.corrupted;
  }
  const result: TransferResult = {
    spec,
    mbps: (sink.received * 8) / virtualMs / 1000,
    virtualMs, wallMs: 0,
    received: sink.received, firstMismatch: sink.firstMismatch, excess: sink.excess,
    sendRequests: source.requests, sendStatuses: source.statuses, closedCleanly,
    retransmits: net.a.counters.retransmits, fastRetransmits: net.a.counters.fastRetransmits, timeouts: net.a.counters.timeouts,
    faults: fa,
    malformed: net.b.counters.malformed + net.a.counters.malformed,
    segmented: net.injectors.reduce((n, f) => n + f.faults.segmented, 0),
  };
  net.close();
  result.wallMs = performance.now() - wall0;
  return result;
}

export interface SharedSpec {
  name: string;
  congestionControl: 'cubic' | 'newreno';
  receiveBuffer: number;
  flows: number;
  /** Bytes per flow. */
  bytes: number;
  /** Flow i starts i × staggerMs after the first. */
  staggerMs: number;
  /** Measurement starts this long after the last flow started (convergence). */
  warmupMs: number;
  link: LinkSpec;
  seed: number;
}

export interface SharedResult {
  spec: SharedSpec;
  /** Per flow: Mbit/s over the window in which every flow was running (last start + warm-up → first finish). */
  windowMbps: number[];
  /** Per flow: Mbit/s over its own transfer. */
  flowMbps: number[];
  jain: number;
  /** Sum of windowMbps. */
  aggregateMbps: number;
  windowMs: number;
  intact: boolean[];
  sendsOk: boolean[];
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  queueDrops: number;
  wallMs: number;
}

/**
 * N flows A → B sharing one bottleneck: a single fault injector on A's link (both directions:
 * data leaves through its rate-limited tx queue, ACKs come back through its delayed rx lane).
 */
export function runShared(spec: SharedSpec): SharedResult {
  const wall0 = performance.now();
  const tcp: Partial<TcpOptionsConfig> = { congestionControl: spec.congestionControl, receiveBuffer: spec.receiveBuffer };
  const net = buildNet(tcp, spec.seed, (link, which, injectors) => {
    if (which === 'b') return link;
    const f = new FaultInjectorLink(link, faultOptions(spec.link, spec.seed * 2, 'both'));
    injectors.push(f);
    return f;
  });
  const sinks: Sink[] = [];
  const sources: Source[] = [];
  const byPort = new Map<number, Sink>();
  for (let i = 0; i < spec.flows; i++) {
    const data = pattern(spec.bytes, spec.seed * 100 + i);
    sinks.push(new Sink(net.b, data));
    sources.push(new Source(net.a, data, { requestBytes: 64 * 1024 }));
  }
  net.b.listen(0, 80, 64, {
    onConnection: (t) => {
      const s = byPort.get(t.remotePort);
      if (!s) throw new Error(`unexpected connection from port ${t.remotePort}`);
      t.events = s;
      s.tcb = t;
    },
  });
  for (let i = 0; i < spec.flows; i++) {
    const c = net.a.connect(0, B, 80, sources[i]!);
    if (!(c instanceof Tcb)) throw new Error(`connect failed with status 0x${(c >>> 0).toString(16)}`);
    byPort.set(c.localPort, sinks[i]!);
  }
  net.clock.runFor(30_000, () => sources.every((s) => s.established) && sinks.every((s) => s.tcb !== null));
  if (!sinks.every((s) => s.tcb !== null)) throw new Error(`${spec.name}: handshakes did not complete`);
  const t0 = net.clock.now();
  sources[0]!.start();
  for (let i = 1; i < spec.flows; i++) {
    net.clock.runUntil(t0 + i * spec.staggerMs);
    sources[i]!.start();
  }
  net.clock.runFor(spec.warmupMs);
  const lastStart = net.clock.now();
  const atLastStart = sinks.map((s) => s.received);
  net.clock.runFor(600_000, () => sinks.some((s) => s.received >= spec.bytes));
  const firstFinish = net.clock.now();
  const windowMs = firstFinish - lastStart;
  const windowMbps = sinks.map((s, i) => ((s.received - atLastStart[i]!) * 8) / windowMs / 1000);
  net.clock.runFor(600_000, () => sinks.every((s) => s.received >= spec.bytes) && sources.every((s) => s.sendsDone));
  const flowMbps = sinks.map((s, i) => (s.received * 8) / (s.doneAt - sources[i]!.startedAt) / 1000);
  const result: SharedResult = {
    spec, windowMbps, flowMbps, jain: jain(windowMbps), aggregateMbps: windowMbps.reduce((x, y) => x + y, 0), windowMs,
    intact: sinks.map((s) => s.received === spec.bytes && s.firstMismatch < 0 && s.excess === 0),
    sendsOk: sources.map((s) => s.sendsDone && s.statuses.every((x) => x === STATUS_SUCCESS)),
    retransmits: net.a.counters.retransmits, fastRetransmits: net.a.counters.fastRetransmits, timeouts: net.a.counters.timeouts,
    queueDrops: net.injectors.reduce((n, f) => n + f.faults.queueDrops, 0),
    wallMs: 0,
  };
  net.close();
  result.wallMs = performance.now() - wall0;
  return result;
}

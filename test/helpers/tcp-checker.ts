// Hand-built TCP segments for the userspace stack, in the spirit of gVisor's checker package:
// - buildSegment(): a compact description ({ seq, ack, flags, window, options, payload }) becomes a
//   full Ethernet/IPv4/TCP frame with correct checksums, addressed to the stack under test;
// - parseSegment(): a captured frame back into the same shape;
// - expectSegment(): checks only the fields given, with a readable message listing every mismatch;
// - Rig: one NetworkStack (198.18.0.1) + TcpEngine on a HandLink, the peer 198.18.0.2's MAC
//   pre-learned, and handshakes by hand for passive (engine.listen) and active (engine.connect) opens.
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { HandLink, type HandLinkOptions } from './hand-link.ts';
import { A, B } from './net-pair.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import { createUserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { TcpEngine, type TcpListener, type TcpOptionsConfig } from '../../runtime/net/tcp/tcp-engine.ts';
import type { Tcb, TcpEvents } from '../../runtime/net/tcp/tcb.ts';
import { emitEthernet, EtherType } from '../../runtime/net/wire/ethernet.ts';
import { emitIpv4, IpProtocol } from '../../runtime/net/wire/ipv4.ts';
import { emitTcp, emitTcpOptions, parseTcpOptions, TcpFlags, TcpOptions } from '../../runtime/net/wire/tcp.ts';
import { formatIpv4, get16, get32, getMac, set16, set32 } from '../../runtime/net/wire/bytes.ts';
import { internetChecksum, pseudoHeaderSumV4, transportChecksumValid } from '../../runtime/net/wire/checksum.ts';
import type { NTSTATUS } from '../../runtime/ntstatus.ts';

export const MAC_US = 0x020000000001;
export const MAC_PEER = 0x020000000002;
export const US = A;
export const PEER = B;
/** Offset of the TCP header in a frame built here (Ethernet 14 + IPv4 20). */
export const TCP_AT = 34;

export const { FIN, SYN, RST, PSH, ACK, URG } = TcpFlags;

export interface SegOptions {
  mss?: number;
  ws?: number;
  sackPermitted?: boolean;
  /** [TSval, TSecr] */
  ts?: [number, number];
  /** SACK blocks [left, right). */
  sack?: [number, number][];
}

export interface SegSpec {
  srcPort?: number;
  dstPort?: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: SegOptions;
  /** Raw option bytes (a multiple of 4), instead of `options`: for malformed segments. */
  rawOptions?: Uint8Array;
  payload?: Uint8Array;
}

/** A parsed segment: sequence numbers unsigned. `options` holds only the options present. */
export interface Segment {
  srcMac: number;
  dstMac: number;
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  dataOffset: number;
  options: SegOptions;
  payload: Uint8Array;
  checksumOk: boolean;
}

export interface FrameAddress { src?: number; dst?: number; srcMac?: number; dstMac?: number }

/** Ethernet/IPv4/TCP frame for `s`, from PEER to US by default, checksums correct. */
export function buildSegment(s: SegSpec, a: FrameAddress = {}): Uint8Array {
  const src = a.src ?? PEER;
  const dst = a.dst ?? US;
  const opt = new Uint8Array(40);
  let optLength = 0;
  if (s.rawOptions) {
    opt.set(s.rawOptions);
    optLength = s.rawOptions.length;
  } else if (s.options) {
    const o = new TcpOptions();
    o.clear();
    const so = s.options;
    if (so.mss !== undefined) o.mss = so.mss;
    if (so.ws !== undefined) o.windowScale = so.ws;
    if (so.sackPermitted) o.sackPermitted = true;
    if (so.ts) { o.hasTimestamps = true; o.tsVal = so.ts[0] >>> 0; o.tsEcr = so.ts[1] >>> 0; }
    if (so.sack) {
      o.sackCount = so.sack.length;
      so.sack.forEach(([l, r], i) => { o.sackBlocks[2 * i] = l >>> 0; o.sackBlocks[2 * i + 1] = r >>> 0; });
    }
    optLength = emitTcpOptions(opt, 0, o);
  }
  const payload = s.payload ?? new Uint8Array(0);
  const tcpLength = 20 + optLength + payload.length;
  const f = new Uint8Array(TCP_AT + tcpLength);
  emitEthernet(f, 0, a.dstMac ?? MAC_US, a.srcMac ?? MAC_PEER, EtherType.IPV4);
  emitIpv4(f, 14, src, dst, IpProtocol.TCP, tcpLength, 64, 0x4242);
  emitTcp(f, TCP_AT, s.srcPort ?? 40000, s.dstPort ?? 80, s.seq >>> 0, (s.ack ?? 0) >>> 0, s.flags, s.window ?? 65535, optLength);
  f.set(opt.subarray(0, optLength), TCP_AT + 20);
  f.set(payload, TCP_AT + 20 + optLength);
  fixTcpChecksum(f);
  return f;
}

/** What an ICMP error quotes of a segment we sent (US → PEER): the ports and sequence number. */
export interface QuotedSegment { srcPort: number; dstPort: number; seq: number; totalLength?: number }

/**
 * An ICMP error from a router (PEER) to US about a TCP segment we sent: the quoted
 * IPv4 header and the first 8 bytes of TCP (RFC 792), `info` the second word of the ICMP header
 * (the next-hop MTU of Fragmentation Needed, RFC 1191 §4). Checksums computed here.
 */
export function buildIcmpErrorAbout(type: number, code: number, info: number, q: QuotedSegment): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 28);
  emitEthernet(f, 0, MAC_US, MAC_PEER, EtherType.IPV4);
  emitIpv4(f, 14, PEER, US, IpProtocol.ICMP, 8 + 28, 64, 0x4343, 0);
  const m = 34;
  f[m] = type;
  f[m + 1] = code;
  set32(f, m + 4, info);
  emitIpv4(f, m + 8, US, PEER, IpProtocol.TCP, (q.totalLength ?? 1500) - 20, 64, 0x1111);
  set16(f, m + 28, q.srcPort);
  set16(f, m + 30, q.dstPort);
  set32(f, m + 32, q.seq >>> 0);
  set16(f, m + 2, internetChecksum(f, m, 8 + 28));
  return f;
}

/** Recomputes the TCP checksum of a frame built here (after a test edited its bytes). */
export function fixTcpChecksum(f: Uint8Array): void {
  const len = f.length - TCP_AT;
  set16(f, TCP_AT + 16, 0);
  set16(f, TCP_AT + 16, internetChecksum(f, TCP_AT, len, pseudoHeaderSumV4(get32(f, 26), get32(f, 30), IpProtocol.TCP, len)));
}

/** The TCP segment in an Ethernet/IPv4 frame, or null for anything else (ARP, UDP, ICMP). */
export function parseSegment(f: Uint8Array): Segment | null {
  if (f.length < 34 || get16(f, 12) !== EtherType.IPV4 || f[23] !== IpProtocol.TCP) return null;
  const ihl = (f[14]! & 0x0f) << 2;
  const total = get16(f, 16);
  const t = 14 + ihl;
  const len = total - ihl;
  const src = get32(f, 26);
  const dst = get32(f, 30);
  const dataOffset = f[t + 12]! >>> 4;
  const hl = dataOffset << 2;
  const o = new TcpOptions();
  const options: SegOptions = {};
  if (hl > 20 && parseTcpOptions(f, t + 20, t + hl, o) === null) {
    if (o.mss >= 0) options.mss = o.mss;
    if (o.windowScale >= 0) options.ws = o.windowScale;
    if (o.sackPermitted) options.sackPermitted = true;
    if (o.hasTimestamps) options.ts = [o.tsVal >>> 0, o.tsEcr >>> 0];
    if (o.sackCount > 0) {
      options.sack = [];
      for (let i = 0; i < o.sackCount; i++) options.sack.push([o.sackBlocks[2 * i]! >>> 0, o.sackBlocks[2 * i + 1]! >>> 0]);
    }
  }
  return {
    srcMac: getMac(f, 6), dstMac: getMac(f, 0), src, dst,
    srcPort: get16(f, t), dstPort: get16(f, t + 2), seq: get32(f, t + 4) >>> 0, ack: get32(f, t + 8) >>> 0,
    flags: f[t + 13]!, window: get16(f, t + 14), dataOffset, options,
    payload: f.slice(t + hl, t + len),
    checksumOk: transportChecksumValid(f, t, len, src, dst, IpProtocol.TCP),
  };
}

export function flagNames(flags: number): string {
  const names: string[] = [];
  for (const [n, v] of Object.entries(TcpFlags)) if (flags & v) names.push(n);
  return names.length > 0 ? names.join('|') : '(none)';
}

export function describeSegment(s: Segment): string {
  const o = s.options;
  const opts: string[] = [];
  if (o.mss !== undefined) opts.push(`mss ${o.mss}`);
  if (o.ws !== undefined) opts.push(`ws ${o.ws}`);
  if (o.sackPermitted) opts.push('sackOK');
  if (o.ts) opts.push(`ts ${o.ts[0]}/${o.ts[1]}`);
  if (o.sack) opts.push(`sack ${o.sack.map(([l, r]) => `${l}-${r}`).join(',')}`);
  return `${formatIpv4(s.src)}:${s.srcPort} > ${formatIpv4(s.dst)}:${s.dstPort} [${flagNames(s.flags)}] seq ${s.seq} ack ${s.ack}`
    + ` win ${s.window} len ${s.payload.length}${opts.length ? ` <${opts.join(', ')}>` : ''}${s.checksumOk ? '' : ' BAD-CHECKSUM'}`;
}

/** Fields to check; undefined ones are not checked. Sequence numbers may be given signed or unsigned. */
export interface SegExpect {
  src?: number;
  dst?: number;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** Exactly these flags. */
  flags?: number;
  /** At least these flags set. */
  flagsSet?: number;
  /** None of these flags set. */
  flagsClear?: number;
  window?: number;
  payloadLength?: number;
  payload?: Uint8Array;
  /** Each given option checked; `null` = must be absent. ts entries that are undefined are not checked. */
  options?: {
    mss?: number | null; ws?: number | null; sackPermitted?: boolean; ts?: [number | undefined, number | undefined] | null;
    sack?: [number, number][] | null;
  };
  /** Exactly the listed option kinds are present (and no others). */
  onlyOptions?: ('mss' | 'ws' | 'sackPermitted' | 'ts' | 'sack')[];
}

export class SegmentMismatch extends Error {}

/** Checks only the fields in `want`; throws one error listing every mismatch and the whole segment. */
export function expectSegment(frame: Uint8Array | Segment | undefined, want: SegExpect, what = 'segment'): Segment {
  if (frame === undefined) throw new SegmentMismatch(`${what}: expected a TCP segment, but none was sent`);
  const s = frame instanceof Uint8Array ? parseSegment(frame) : frame;
  if (!s) throw new SegmentMismatch(`${what}: expected a TCP segment, got a non-TCP frame`);
  const bad: string[] = [];
  const u = (v: number): number => v >>> 0;
  const num = (name: string, got: number, exp: number | undefined, fmt: (v: number) => string = String): void => {
    if (exp !== undefined && got !== exp) bad.push(`${name}: expected ${fmt(exp)}, got ${fmt(got)}`);
  };
  if (!s.checksumOk) bad.push('checksum: invalid');
  num('src', s.src, want.src === undefined ? undefined : u(want.src), formatIpv4);
  num('dst', s.dst, want.dst === undefined ? undefined : u(want.dst), formatIpv4);
  num('srcPort', s.srcPort, want.srcPort);
  num('dstPort', s.dstPort, want.dstPort);
  num('seq', s.seq, want.seq === undefined ? undefined : u(want.seq));
  num('ack', s.ack, want.ack === undefined ? undefined : u(want.ack));
  num('flags', s.flags, want.flags, flagNames);
  if (want.flagsSet !== undefined && (s.flags & want.flagsSet) !== want.flagsSet) {
    bad.push(`flags: expected ${flagNames(want.flagsSet)} set, got ${flagNames(s.flags)}`);
  }
  if (want.flagsClear !== undefined && (s.flags & want.flagsClear) !== 0) {
    bad.push(`flags: expected ${flagNames(want.flagsClear)} clear, got ${flagNames(s.flags)}`);
  }
  num('window', s.window, want.window);
  num('payload length', s.payload.length, want.payloadLength ?? want.payload?.length);
  if (want.payload && s.payload.length === want.payload.length && !Buffer.from(s.payload).equals(Buffer.from(want.payload))) {
    bad.push('payload: bytes differ');
  }
  const wo = want.options;
  if (wo) {
    const o = s.options;
    const opt = (name: string, got: number | undefined, exp: number | null | undefined): void => {
      if (exp === undefined) return;
      if (exp === null) { if (got !== undefined) bad.push(`option ${name}: expected absent, got ${got}`); return; }
      if (got !== exp) bad.push(`option ${name}: expected ${exp}, got ${got ?? 'absent'}`);
    };
    opt('mss', o.mss, wo.mss);
    opt('ws', o.ws, wo.ws);
    if (wo.sackPermitted !== undefined && (o.sackPermitted ?? false) !== wo.sackPermitted) {
      bad.push(`option sackPermitted: expected ${wo.sackPermitted ? 'present' : 'absent'}`);
    }
    if (wo.ts === null && o.ts) bad.push(`option ts: expected absent, got ${o.ts.join('/')}`);
    if (wo.ts) {
      if (!o.ts) bad.push('option ts: expected present, got absent');
      else {
        if (wo.ts[0] !== undefined && o.ts[0] !== u(wo.ts[0])) bad.push(`option ts: TSval expected ${u(wo.ts[0])}, got ${o.ts[0]}`);
        if (wo.ts[1] !== undefined && o.ts[1] !== u(wo.ts[1])) bad.push(`option ts: TSecr expected ${u(wo.ts[1])}, got ${o.ts[1]}`);
      }
    }
    if (wo.sack === null && o.sack) bad.push(`option sack: expected absent, got ${JSON.stringify(o.sack)}`);
    if (wo.sack) {
      const exp = wo.sack.map(([l, r]) => [u(l), u(r)]);
      if (JSON.stringify(o.sack ?? []) !== JSON.stringify(exp)) {
        bad.push(`option sack: expected ${JSON.stringify(exp)}, got ${JSON.stringify(o.sack ?? 'absent')}`);
      }
    }
  }
  if (want.onlyOptions) {
    const present = Object.keys(s.options).sort();
    const exp = [...want.onlyOptions].sort();
    if (JSON.stringify(present) !== JSON.stringify(exp)) bad.push(`options: expected exactly [${exp}], got [${present}]`);
  }
  if (bad.length > 0) throw new SegmentMismatch(`${what} mismatch:\n  ${bad.join('\n  ')}\n  segment: ${describeSegment(s)}`);
  return s;
}

// ---- rig ----------------------------------------------------------------------------------------

/** Records what the engine tells a connection's owner; reads nothing by itself (tests call take). */
export class Recorder implements TcpEvents {
  tcb: Tcb | null = null;
  established = 0;
  readable = 0;
  fin = 0;
  closed: NTSTATUS | null = null;
  onEstablished(t: Tcb): void { this.tcb = t; this.established++; }
  onReadable(): void { this.readable++; }
  onFin(): void { this.fin++; }
  onClosed(_t: Tcb, s: NTSTATUS): void { this.closed = s; }
}

/** The peer's view of one connection: its own sequence state, filled into the segments it sends. */
export class PeerConn {
  /** Peer's next sequence number (our RCV.NXT once we have everything). */
  seq = 0;
  /** What the peer acknowledges: our next sequence number. */
  ack = 0;
  /** Our ISS (from the SYN or SYN-ACK). */
  ourIss = 0;
  /** Peer's ISS. */
  iss = 0;
  window = 65535;
  /** Timestamps in use: the peer's TSval clock and the last TSval it saw from us. */
  ts = false;
  tsVal = 1000;
  tsEcr = 0;
  tcb!: Tcb;
  readonly events = new Recorder();
  constructor(readonly rig: Rig, public localPort: number, readonly peerPort: number) {}

  /** A segment of this connection with the peer's state as defaults (ACK flag, current seq/ack, timestamps). */
  spec(s: Partial<SegSpec> = {}): SegSpec {
    const options: SegOptions = { ...(this.ts ? { ts: [this.tsVal, this.tsEcr] as [number, number] } : {}), ...s.options };
    return {
      srcPort: this.peerPort, dstPort: this.localPort, seq: this.seq, ack: this.ack, flags: ACK, window: this.window,
      ...s, options,
    };
  }

  /** Sends a segment (defaults from the peer state); the peer's seq does not move. */
  send(s: Partial<SegSpec> = {}): void {
    this.rig.receive(buildSegment(this.spec(s)));
  }

  /** Sends `payload` at the peer's seq and advances it. */
  sendData(payload: Uint8Array, s: Partial<SegSpec> = {}): void {
    this.send({ payload, ...s });
    this.seq = (this.seq + payload.length + ((s.flags ?? 0) & FIN ? 1 : 0)) >>> 0;
  }

  /** The peer acknowledges up to `ack` (our sequence space). */
  ackTo(ack: number, s: Partial<SegSpec> = {}): void {
    this.ack = ack >>> 0;
    this.send(s);
  }

  /** Learns TSval from a segment we sent (what the peer will echo). */
  observe(s: Segment): void {
    if (s.options.ts) this.tsEcr = s.options.ts[0];
  }
}

export interface HandshakeOptions {
  localPort?: number;
  peerPort?: number;
  peerIss?: number;
  window?: number;
  /** Options on the peer's SYN (or SYN-ACK); default MSS 1460, ws 7, SACK-permitted, timestamps. */
  options?: SegOptions;
  /** Window on the peer's final ACK (or SYN-ACK) and afterwards. */
  ackWindow?: number;
}

export const FULL_SYN_OPTIONS: SegOptions = { mss: 1460, ws: 7, sackPermitted: true, ts: [1000, 0] };

export class Rig {
  readonly arena: SlotArena;
  readonly link: HandLink;
  readonly stack: NetworkStack;
  readonly engine: TcpEngine;
  listener: TcpListener | null = null;
  readonly accepted: Tcb[] = [];
  /** Every segment taken from the link so far (for debugging). */
  readonly log: Segment[] = [];

  constructor(tcp: Partial<TcpOptionsConfig> = {}, slotCount = 256, link: HandLinkOptions = {}) {
    const frameMax = Math.max(link.mtu ?? 1500, link.tsoMaxBytes ?? 0) + 14;
    this.arena = new SlotArena({ slotCount, slotSize: Math.max(2048, (frameMax + 256 + 63) & ~63) });
    this.link = new HandLink(this.arena, MAC_US, link);
    this.link.capture = true;
    // A fixed 256 KiB receive buffer (no autotuning) unless a test asks otherwise: window checks stay exact.
    const stack = createUserspaceStack(this.link, { address: `${formatIpv4(US)}/24`, gratuitousArp: false, tcp: { receiveBuffer: 256 * 1024, ...tcp } });
    this.stack = stack.ip;
    this.engine = stack.tcp!;
    this.stack.arp.cache.learn(PEER, Math.floor(MAC_PEER / 0x100000000), MAC_PEER % 0x100000000 | 0, true, 0);
  }

  get clock(): HandLink['clock'] { return this.link.clock; }
  now(): number { return this.clock.now(); }

  /** Injects frames as one receive batch and lets deferred work (the transmit flush) run. */
  receive(...frames: Uint8Array[]): void {
    for (const f of frames) if (!this.link.inject(f)) throw new Error('Rig: no free slot to inject a frame');
    this.link.deliver();
    this.clock.runFor(0);
  }

  /** TCP segments transmitted since the last call (non-TCP frames dropped). */
  take(): Segment[] {
    this.clock.runFor(0);
    const out: Segment[] = [];
    this.link.sentSegmentSizes.length = 0;
    for (const f of this.link.sent.splice(0)) {
      const s = parseSegment(f);
      if (s) { out.push(s); this.log.push(s); }
    }
    return out;
  }

  /** Exactly one segment was sent, matching `want`. */
  expectOne(want: SegExpect, what = 'segment', conn?: PeerConn): Segment {
    const got = this.take();
    if (got.length !== 1) {
      throw new SegmentMismatch(`${what}: expected exactly one segment, got ${got.length}${got.map((s) => `\n  ${describeSegment(s)}`).join('')}`);
    }
    const s = expectSegment(got[0], want, what);
    conn?.observe(s);
    return s;
  }

  /** Nothing was sent. */
  expectNone(what = 'nothing sent'): void {
    const got = this.take();
    if (got.length !== 0) throw new SegmentMismatch(`${what}: expected no segment, got ${got.length}${got.map((s) => `\n  ${describeSegment(s)}`).join('')}`);
  }

  /** Runs virtual time until a segment is sent (or `maxMs` passed); returns the time it left, or -1. */
  runUntilSent(maxMs: number): number {
    const ok = this.clock.runFor(maxMs, () => this.link.sent.some((f) => parseSegment(f) !== null));
    return ok ? this.now() : -1;
  }

  listen(port = 80, backlog = 16): TcpListener {
    this.listener = this.engine.listen(0, port, backlog, { onConnection: (t) => { this.accepted.push(t); } });
    return this.listener;
  }

  /**
   * Passive open by hand: the peer sends SYN (with `options`), we check the SYN-ACK, the peer ACKs.
   * Returns the peer's connection state; `synAck` is the parsed SYN-ACK.
   */
  passiveOpen(h: HandshakeOptions = {}): { conn: PeerConn; synAck: Segment } {
    const localPort = h.localPort ?? 80;
    if (!this.engine.listenerFor(localPort)) this.listen(localPort);
    const conn = new PeerConn(this, localPort, h.peerPort ?? 40000);
    const options = h.options ?? FULL_SYN_OPTIONS;
    conn.iss = (h.peerIss ?? 0x10000000) >>> 0;
    conn.seq = conn.iss;
    conn.window = h.window ?? 65535;
    if (options.ts) conn.tsVal = options.ts[0];
    this.receive(buildSegment({ srcPort: conn.peerPort, dstPort: localPort, seq: conn.iss, flags: SYN, window: conn.window, options }));
    const synAck = this.expectOne({ flags: SYN | ACK, ack: conn.iss + 1, srcPort: localPort, dstPort: conn.peerPort }, 'SYN-ACK');
    conn.ourIss = synAck.seq;
    conn.seq = (conn.iss + 1) >>> 0;
    conn.ack = (synAck.seq + 1) >>> 0;
    conn.ts = options.ts !== undefined && synAck.options.ts !== undefined;
    conn.observe(synAck);
    if (conn.ts) conn.tsVal++;
    const before = this.accepted.length;
    conn.window = h.ackWindow ?? conn.window;
    conn.send();
    this.expectNone('after the handshake ACK');
    if (this.accepted.length !== before + 1) throw new Error('passiveOpen: the listener did not accept the connection');
    conn.tcb = this.accepted[this.accepted.length - 1]!;
    conn.tcb.events = conn.events;
    return { conn, synAck };
  }

  /**
   * Active open by hand: engine.connect sends SYN, the peer answers SYN-ACK (with `options`),
   * we check the ACK. Returns the peer's connection state and our SYN.
   */
  activeOpen(h: HandshakeOptions = {}): { conn: PeerConn; syn: Segment } {
    const peerPort = h.peerPort ?? 80;
    const conn = new PeerConn(this, 0, peerPort);
    const t = this.engine.connect(h.localPort ?? 0, PEER, peerPort, conn.events);
    if (typeof t === 'number') throw new Error(`activeOpen: connect failed with status ${t}`);
    conn.tcb = t;
    conn.localPort = t.localPort;
    const syn = this.expectOne({ flags: SYN, dstPort: peerPort, srcPort: t.localPort }, 'SYN', conn);
    const options = h.options ?? { ...FULL_SYN_OPTIONS, ts: [1000, syn.options.ts?.[0] ?? 0] };
    conn.iss = (h.peerIss ?? 0x20000000) >>> 0;
    conn.ourIss = syn.seq;
    conn.ts = options.ts !== undefined && syn.options.ts !== undefined;
    if (options.ts) conn.tsVal = options.ts[0];
    conn.window = h.window ?? 65535;
    this.receive(buildSegment({
      srcPort: peerPort, dstPort: t.localPort, seq: conn.iss, ack: syn.seq + 1, flags: SYN | ACK, window: conn.window, options,
    }));
    conn.seq = (conn.iss + 1) >>> 0;
    conn.ack = (syn.seq + 1) >>> 0;
    this.expectOne({ flags: ACK, seq: syn.seq + 1, ack: conn.iss + 1 }, 'handshake ACK', conn);
    if (conn.ts) conn.tsVal++;
    conn.window = h.ackWindow ?? conn.window;
    return { conn, syn };
  }

  /** Closes every connection and the stack, then checks no slot leaked. */
  finish(): void {
    this.engine.closeAll();
    this.stack.close();
    this.link.deliver();
    this.link.sent.length = 0;
    this.arena.assertNoLeaks();
  }
}

export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Sequence arithmetic on unsigned numbers (what the parsed segments hold). */
export function seqAdd(a: number, n: number): number { return (a + n) >>> 0; }

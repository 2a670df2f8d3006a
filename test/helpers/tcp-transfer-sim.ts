// One bulk transfer from the stack's TCP to a modelled peer, in virtual time, through a seeded
// network that loses, duplicates and reorders single wire packets (a TSO frame is cut into its
// MSS-sized packets first, as the device would) in both directions. The peer is a plain RFC 9293
// receiver: cumulative ACKs, SACK blocks (RFC 2018: the most recently changed block first),
// timestamps echoed, a receive buffer whose reader can stop (zero windows), delayed ACKs, and
// "silences" during which it withholds its ACKs and then sends them all late, or drops them.
//
// While it runs it checks what the sender puts on the wire:
// - every wire packet fits the peer's MSS (data plus TCP options, RFC 6691) and the link MTU;
// - first transmissions go out in sequence order with no hole (a segment never starts past the
//   highest byte sent so far);
// - SND.MAX never runs ahead of the highest byte actually framed (plus a FIN);
// - retransmitted bytes equal the original ones;
// and at the end that the peer holds the whole stream intact, followed by the FIN.
import { ACK, buildSegment, FIN, parseSegment, PSH, type PeerConn, Rig, type Segment } from './tcp-checker.ts';

export interface Silence {
  /** Start, ms after the transfer starts. */
  at: number;
  length: number;
  /** true: the withheld ACKs leave together at the end (late); false: they are never sent. */
  release: boolean;
}

export interface TransferScenario {
  seed: number;
  /** MSS the peer announces (48 to 9000). */
  peerMss: number;
  mtu: number;
  /** The link takes 64 KiB TSO frames. */
  tso: boolean;
  sack: boolean;
  timestamps: boolean;
  /** The peer's window scale (0 to 14), or -1 for none. */
  peerWindowScale: number;
  /** The peer's receive buffer, bytes. */
  peerBuffer: number;
  /** Stream length, bytes. */
  bytes: number;
  /** One-way delay, ms. */
  delayMs: number;
  /** Per wire packet, each direction, 0..1. */
  loss: number;
  duplicate: number;
  /** Share of packets delayed by up to two more one-way delays (they overtake others). */
  reorder: number;
  /** The peer ACKs every segment (1) or every second one with a 40 ms delayed-ACK timer (2). */
  ackEvery: 1 | 2;
  silences: Silence[];
  /** Periods in which the peer's reader stops, so the window closes. */
  stalls: { at: number; length: number }[];
  /** Our ISS (forced, to cover both signs of the 32-bit sequence space). */
  iss: number;
  /** Bottleneck rate towards the peer, Mbit/s (each wire packet is serialized; no queue limit). Default: none. */
  rateMbps?: number;
}

export interface TransferResult {
  completed: boolean;
  /** Invariant violations seen (empty when all held). */
  violations: string[];
  /** Virtual ms from the first send until the peer had everything and the FIN. */
  elapsedMs: number;
  wirePackets: number;
  retransmits: number;
  timeouts: number;
}

/** Mulberry32: small, seeded, good enough to draw scenarios and fates. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random scenario for the property test: the ranges the hostile-traffic probes used, and wider. */
export function randomScenario(seed: number): TransferScenario {
  const r = rng(seed * 2654435761);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const peerMss = r() < 0.3 ? pick([48, 64, 88, 536, 1000, 1460, 8960, 9000]) : 48 + Math.floor(r() * (9000 - 48));
  const mtu = r() < 0.3 ? 9000 : 1500;
  const mssEff = Math.min(peerMss, mtu - 40);
  const bytes = Math.max(1, Math.min(200_000, Math.floor(mssEff * (20 + r() * 200))));
  const delayMs = pick([0.05, 1, 5, 20]);
  const lossy = r() < 0.6;
  const silences: Silence[] = [];
  for (let i = r() < 0.5 ? 1 + Math.floor(r() * 3) : 0; i > 0; i--) {
    silences.push({ at: r() * 2000, length: 200 + r() * 1500, release: r() < 0.5 });
  }
  const stalls: { at: number; length: number }[] = [];
  if (r() < 0.25) stalls.push({ at: r() * 1500, length: 50 + r() * 2000 });
  return {
    seed, peerMss, mtu, tso: r() < 0.5, sack: r() < 0.8, timestamps: r() < 0.8,
    peerWindowScale: r() < 0.8 ? Math.floor(r() * 10) : -1,
    peerBuffer: pick([4096, 16384, 65535, 262144, 1 << 20]),
    bytes, delayMs,
    loss: lossy ? pick([0.001, 0.01, 0.02, 0.05, 0.1]) : 0,
    duplicate: r() < 0.2 ? pick([0.01, 0.05]) : 0,
    reorder: r() < 0.3 ? pick([0.01, 0.05, 0.2]) : 0,
    ackEvery: r() < 0.5 ? 1 : 2,
    silences, stalls,
    iss: (r() * 4294967296) | 0,
  };
}

interface InFlight { at: number; order: number; frame?: Uint8Array; seg?: Segment; seq?: number; length?: number }

/** Runs one transfer; `limitMs` bounds virtual time. */
export function runTransfer(s: TransferScenario, limitMs = 600_000): TransferResult {
  const rand = rng(s.seed ^ 0x5eed);
  const r = new Rig({}, 512, { mtu: s.mtu, tsoMaxBytes: s.tso ? 65536 : 0 });
  r.engine.isn.next = () => s.iss;
  const options = {
    mss: s.peerMss,
    ...(s.peerWindowScale >= 0 ? { ws: s.peerWindowScale } : {}),
    ...(s.sack ? { sackPermitted: true } : {}),
    ...(s.timestamps ? { ts: [1000, 0] as [number, number] } : {}),
  };
  const shift = s.peerWindowScale >= 0 ? s.peerWindowScale : 0;
  const peerBuffer = Math.min(s.peerBuffer, 65535 << shift);
  const { conn } = r.passiveOpen({ options, window: Math.min(65535, peerBuffer), ackWindow: Math.min(65535, peerBuffer >> shift) });
  const tcb = conn.tcb;
  const base = (s.iss + 1) >>> 0;
  const data = new Uint8Array(s.bytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 8) * 7 + s.seed) & 0xff;
  const got = new Uint8Array(s.bytes);
  const violations: string[] = [];
  const violate = (m: string): void => { if (violations.length < 10) violations.push(`t=${r.now().toFixed(2)} ${m}`); };
  const wireMss = Math.max(48, Math.min(s.peerMss, s.mtu - 40)); // 48: Linux's tcp_min_snd_mss

  // Peer state, as offsets into the stream.
  let rcvNxt = 0;
  let read = 0;
  let finReceived = false;
  let edge = peerBuffer; // the advertised right edge, never moved left
  const blocks: [number, number][] = []; // out-of-order ranges, most recently changed first
  let unacked = 0;
  let delackAt = Infinity;
  const withheld: Uint8Array[] = [];
  // Sender checks.
  let highest = 0;
  let finFramed = false;
  let wirePackets = 0;
  const start = r.now();
  const queue: InFlight[] = [];
  let head = 0;
  let order = 0;

  const reading = (): boolean => !s.stalls.some((st) => r.now() - start >= st.at && r.now() - start < st.at + st.length);
  const silent = (): Silence | undefined => s.silences.find((x) => r.now() - start >= x.at && r.now() - start < x.at + x.length);

  let linkFreeAt = 0;
  const schedule = (item: Omit<InFlight, 'at' | 'order'>): void => {
    let departs = r.now();
    if (s.rateMbps && item.seg) {
      departs = Math.max(departs, linkFreeAt) + ((item.length! + 54) * 8) / (s.rateMbps * 1000);
      linkFreeAt = departs;
    }
    if (rand() < s.loss) return;
    const copies = rand() < s.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const extra = rand() < s.reorder ? rand() * 2 * Math.max(s.delayMs, 0.5) : 0;
      const p: InFlight = { ...item, at: departs + s.delayMs + extra, order: order++ };
      // Kept sorted by arrival (ties in sending order); most packets arrive last, so scan from the end.
      let i = queue.length;
      while (i > head && queue[i - 1]!.at > p.at) i--;
      queue.splice(i, 0, p);
    }
  };

  const advertise = (): number => {
    if (reading()) read = rcvNxt;
    const e = read + peerBuffer;
    if (e > edge) edge = e;
    return Math.max(0, edge - rcvNxt);
  };

  const sendAck = (): void => {
    unacked = 0;
    delackAt = Infinity;
    const window = Math.min(65535, advertise() >> shift);
    const sack = s.sack ? blocks.slice(0, s.timestamps ? 3 : 4).map(([a, b]) => [(base + a) >>> 0, (base + b) >>> 0] as [number, number]) : undefined;
    conn.ack = (base + rcvNxt + (finReceived ? 1 : 0)) >>> 0;
    const frame = buildAck(conn, window, sack);
    const quiet = silent();
    if (quiet) { if (quiet.release) withheld.push(frame); return; }
    schedule({ frame });
  };

  const addBlock = (a: number, b: number): void => {
    let lo = a, hi = b;
    for (let i = blocks.length - 1; i >= 0; i--) {
      const [x, y] = blocks[i]!;
      if (y >= lo && x <= hi) { lo = Math.min(lo, x); hi = Math.max(hi, y); blocks.splice(i, 1); }
    }
    blocks.unshift([lo, hi]);
  };

  const arrive = (seg: Segment, seq: number, length: number, payloadAt: number): void => {
    conn.observe(seg);
    const off = (seq - base) | 0;
    if ((seg.flags & FIN) !== 0 && off + length === rcvNxt && blocks.length === 0) finReceived = true;
    if (length === 0) { if ((seg.flags & FIN) !== 0 || off < rcvNxt) sendAck(); return; }
    // Bytes that come again must be the same bytes.
    for (let i = 0; i < length; i++) {
      const o = off + i;
      if (o < 0 || o >= s.bytes) { violate(`byte offset ${o} outside the stream`); return; }
      if (seg.payload[payloadAt + i] !== data[o]) { violate(`byte ${o} differs from the stream`); return; }
    }
    let lo = Math.max(off, rcvNxt);
    const hi = Math.min(off + length, edge);
    if (hi <= lo) { sendAck(); return; } // duplicate or beyond the window: ACK at once (RFC 9293 §3.10.7.4)
    got.set(data.subarray(lo, hi), lo);
    if (lo === rcvNxt) {
      rcvNxt = hi;
      let merged = true;
      while (merged) {
        merged = false;
        for (let i = 0; i < blocks.length; i++) {
          const [x, y] = blocks[i]!;
          if (x <= rcvNxt) { if (y > rcvNxt) rcvNxt = y; blocks.splice(i, 1); merged = true; break; }
        }
      }
      if ((seg.flags & FIN) !== 0 && off + length === rcvNxt) finReceived = true;
      const filled = lo !== off || blocks.length > 0;
      if (++unacked >= s.ackEvery || filled || finReceived) sendAck();
      else if (delackAt === Infinity) delackAt = r.now() + 40;
    } else {
      lo = Math.max(lo, rcvNxt);
      addBlock(lo, hi);
      sendAck();
    }
  };

  const collect = (): void => {
    r.clock.runFor(0); // the stack's transmit batch leaves on deferred work
    const frames = r.link.sent.splice(0);
    const sizes = r.link.sentSegmentSizes.splice(0);
    for (let k = 0; k < frames.length; k++) {
      const seg = parseSegment(frames[k]!);
      if (!seg) continue;
      conn.observe(seg);
      const optionBytes = seg.dataOffset * 4 - 20;
      const size = sizes[k]! > 0 ? sizes[k]! : Math.max(1, seg.payload.length);
      if (seg.payload.length > 0 && size + optionBytes > wireMss) {
        violate(`a wire packet of ${size} data + ${optionBytes} option bytes exceeds MSS ${wireMss}`);
      }
      const off = (seg.seq - base) | 0;
      if (seg.payload.length > 0 && off > highest) violate(`hole: a segment starts at ${off}, the highest byte sent ends at ${highest}`);
      if (seg.payload.length > 0 && off + seg.payload.length > highest) highest = off + seg.payload.length;
      if ((seg.flags & FIN) !== 0) finFramed = true;
      // The device cuts a TSO frame into wire packets; each meets its fate alone.
      const n = Math.max(1, Math.ceil(seg.payload.length / size));
      for (let i = 0; i < n; i++) {
        const at = i * size;
        const length = Math.min(size, seg.payload.length - at);
        const last = i === n - 1;
        wirePackets++;
        schedule({ seg: last ? seg : { ...seg, flags: seg.flags & ~(FIN | PSH) }, seq: (seg.seq + at) >>> 0, length, frame: undefined });
      }
    }
    const sndMax = (tcb.sndMax - base - (finFramed ? 1 : 0)) | 0;
    if (sndMax > highest) violate(`SND.MAX is ${sndMax} bytes into the stream, only ${highest} were framed`);
    if (sndMax < highest) violate(`a frame carried bytes up to ${highest}, past SND.MAX ${sndMax}`);
  };

  r.engine.send(tcb, [data], false, null);
  r.engine.shutdown(tcb);
  const done = (): boolean => finReceived && rcvNxt === s.bytes;
  while (!done() && r.now() - start < limitMs && violations.length === 0) {
    collect();
    const silence = s.silences.find((x) => x.release && r.now() - start >= x.at + x.length && withheld.length > 0);
    if (silence && !silent()) for (const f of withheld.splice(0)) schedule({ frame: f });
    if (head > 4096) { queue.splice(0, head); head = 0; }
    const next = Math.min(queue[head]?.at ?? Infinity, delackAt, nextSilenceEdge(s, r.now() - start) + start, start + limitMs);
    if (next > r.now()) r.clock.runUntil(next, () => r.link.sent.length > 0);
    if (r.link.sent.length > 0) continue;
    while (head < queue.length && queue[head]!.at <= r.now()) {
      const p = queue[head++]!;
      if (p.frame) r.receive(p.frame);
      else arrive(p.seg!, p.seq!, p.length!, (p.seq! - p.seg!.seq) >>> 0);
    }
    if (delackAt <= r.now()) sendAck();
    // A reader that starts again opens the window: tell the sender (as Linux's window update does).
    if (reading() && read < rcvNxt && !silent()) sendAck();
  }
  collect();
  const completed = done();
  if (completed) {
    for (let i = 0; i < s.bytes; i++) if (got[i] !== data[i]) { violate(`byte ${i} arrived wrong`); break; }
  }
  const result: TransferResult = {
    completed, violations, elapsedMs: r.now() - start, wirePackets,
    retransmits: tcb.retransmits, timeouts: tcb.timeouts,
  };
  r.finish();
  return result;
}

function nextSilenceEdge(s: TransferScenario, t: number): number {
  let next = Infinity;
  for (const x of s.silences) {
    if (x.at > t && x.at < next) next = x.at;
    if (x.at + x.length > t && x.at + x.length < next) next = x.at + x.length;
  }
  for (const x of s.stalls) if (x.at + x.length > t && x.at + x.length < next) next = x.at + x.length;
  return next;
}

function buildAck(conn: PeerConn, window: number, sack: [number, number][] | undefined): Uint8Array {
  const spec = conn.spec({ flags: ACK, window, options: sack && sack.length > 0 ? { sack } : {} });
  if (conn.ts) conn.tsVal++;
  return buildSegment(spec);
}

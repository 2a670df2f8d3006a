// Fault injector on a MemoryNetwork in virtual time: the statistics are checked over thousands
// of frames (so a wrong probability shows), the timing in exact virtual milliseconds, and every
// test ends with assertNoLeaks because slot ownership is the easiest thing for a middleware that
// holds, copies and drops frames to get wrong.
import { describe, expect, it } from 'vitest';
import { RealClock, VirtualClock, type Clock } from '../../runtime/net/clock.ts';
import { WskUsageError } from '../../runtime/errors.ts';
import {
  EtherType, IpProtocol, TcpFlags, TcpOptions, checksumFold, emitEthernet, emitIpv4, emitTcp, emitTcpOptions, emitUdp, get16,
  internetChecksum, pseudoHeaderSumV4, set16,
} from '../../runtime/net/wire/index.ts';
import { parseSegment, type Segment } from '../../test/helpers/tcp-checker.ts';
import { MemoryNetwork } from '../memory/memory-network.ts';
import { FrameFlags, LinkMiddleware, type LinkDevice } from '../link.ts';
import { FaultInjectorLink, type FaultOptions } from './fault-injector.ts';
import { Xoshiro128 } from '../../runtime/net/prng.ts';
import { measureAllocation } from '../../test/helpers/allocation.ts';
import { HandLink } from '../../test/helpers/hand-link.ts';
import { SlotArena } from '../../runtime/ring/slot-arena.ts';

const IP_A = 0xc6120001;
const IP_B = 0xc6120002;

/** A UDP frame of `size` bytes whose payload starts with `seq` and is otherwise patterned. */
function frame(link: LinkDevice, dstMac: number, seq: number, size = 64): number {
  const a = link.arena;
  const s = a.alloc();
  if (s < 0) throw new Error('test arena exhausted');
  const b = a.view(s);
  const o = a.headroom;
  const payload = size - 42;
  emitEthernet(b, o, dstMac, link.mac, EtherType.IPV4);
  b[o + 42] = seq >>> 24; b[o + 43] = seq >>> 16; b[o + 44] = seq >>> 8; b[o + 45] = seq;
  for (let i = 4; i < payload; i++) b[o + 42 + i] = (i * 7) & 0xff;
  emitUdp(b, o + 34, 1000, 2000, payload, IP_A, IP_B);
  emitIpv4(b, o + 14, IP_A, IP_B, IpProtocol.UDP, 8 + payload);
  a.setFrame(s, o, size);
  return s;
}

function frameBytes(link: LinkDevice, s: number): Uint8Array {
  const off = link.arena.offsetOf(s);
  return link.arena.view(s).slice(off, off + link.arena.lengthOf(s));
}

interface Arrival { seq: number; t: number; bytes: Uint8Array }

/** Records what reaches `link` (sequence number, virtual time, bytes) and releases the slots. */
function recorder(link: LinkDevice, clock: Clock, keepBytes = false): Arrival[] {
  const got: Arrival[] = [];
  link.attach({
    onReceive(slots, n) {
      for (let i = 0; i < n; i++) {
        const s = slots[i]!;
        const b = link.arena.view(s);
        const o = link.arena.offsetOf(s);
        const seq = ((b[o + 42]! << 24) | (b[o + 43]! << 16) | (b[o + 44]! << 8) | b[o + 45]!) >>> 0;
        got.push({ seq, t: clock.now(), bytes: keepBytes ? frameBytes(link, s) : new Uint8Array(0) });
        link.arena.release(s);
      }
    },
  });
  return got;
}

/** Counts inner.transmit calls, to check that departures leave as one batch per timer fire. */
class CountingLink extends LinkMiddleware {
  calls: number[] = [];
  override transmit(slots: Int32Array, count: number): void { this.calls.push(count); super.transmit(slots, count); }
}

function setup(opts: FaultOptions, slotCount = 4096) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, slotCount });
  const a = net.createLink();
  const b = net.createLink();
  const counting = new CountingLink(a);
  const f = new FaultInjectorLink(counting, opts);
  const got = recorder(b, clock, true);
  /** Sends `n` frames, `gapMs` apart (0 = all in one transmit call). */
  const send = (n: number, gapMs = 0, size = 64, first = 0) => {
    if (gapMs === 0) {
      const batch = new Int32Array(n);
      for (let i = 0; i < n; i++) batch[i] = frame(f, b.mac, first + i, size);
      f.transmit(batch, n);
      clock.runFor(0);
      return;
    }
    const one = new Int32Array(1);
    for (let i = 0; i < n; i++) {
      one[0] = frame(f, b.mac, first + i, size);
      f.transmit(one, 1);
      clock.runFor(gapMs);
    }
  };
  const finish = () => {
    clock.runFor(60_000);
    f.close();
    b.close();
    net.arena.assertNoLeaks();
  };
  return { clock, net, a, b, f, counting, got, send, finish };
}

const trace = (got: Arrival[]) => got.map((g) => `${g.seq}@${g.t.toFixed(3)}`).join(' ');

describe('FaultInjectorLink', () => {
  it('replays the same faults for the same seed, other faults for another seed', () => {
    const run = (seed: number) => {
      const s = setup({ seed, loss: 0.1, duplicate: 0.05, corrupt: 0.05, delayMs: 3, jitterMs: 2, reorder: 0.1 });
      s.send(2000, 0.05);
      const out = trace(s.got) + JSON.stringify(s.f.faults) + s.got.map((g) => g.bytes.join(',')).join(';');
      s.finish();
      return out;
    };
    expect(run(42)).toBe(run(42));
    expect(run(43)).not.toBe(run(42));
  });

  it('loses, duplicates and corrupts at the configured rates', () => {
    const N = 10_000;
    const loss = setup({ seed: 1, loss: 0.3 });
    for (let i = 0; i < N; i += 100) loss.send(100, 0, 64, i);
    expect(loss.f.faults.lost / N).toBeGreaterThan(0.28);
    expect(loss.f.faults.lost / N).toBeLessThan(0.32);
    expect(loss.got.length).toBe(N - loss.f.faults.lost);
    expect(loss.f.faults.passed).toBe(loss.got.length);
    expect(loss.f.faults.delayed).toBe(0);
    loss.finish();

    const dup = setup({ seed: 2, duplicate: 0.2 });
    for (let i = 0; i < N; i += 100) dup.send(100, 0, 64, i);
    expect(dup.f.faults.duplicated / N).toBeGreaterThan(0.18);
    expect(dup.f.faults.duplicated / N).toBeLessThan(0.22);
    expect(dup.got.length).toBe(N + dup.f.faults.duplicated);
    dup.finish();

    const cor = setup({ seed: 3, corrupt: 0.1 });
    for (let i = 0; i < N; i += 100) cor.send(100, 0, 64, i);
    expect(cor.f.faults.corrupted / N).toBeGreaterThan(0.085);
    expect(cor.f.faults.corrupted / N).toBeLessThan(0.115);
    expect(cor.got.length).toBe(N);
    cor.finish();
  });

  it('corruption flips exactly one bit past the Ethernet header', () => {
    const s = setup({ seed: 7, corrupt: 0.5 });
    s.send(400, 0, 200);
    let changed = 0;
    expect(s.got.length).toBe(400);
    for (let seq = 0; seq < 400; seq++) {
      // The frame as sent, rebuilt; matched by position because a flipped bit may hit the seq.
      const g = s.got[seq]!;
      const ref = frame(s.f, s.b.mac, seq, 200);
      const expected = frameBytes(s.f, ref);
      s.net.arena.release(ref);
      let bits = 0;
      let first = -1;
      for (let i = 0; i < 200; i++) {
        let x = expected[i]! ^ g.bytes[i]!;
        if (x !== 0 && first < 0) first = i;
        for (; x; x &= x - 1) bits++;
      }
      expect(bits === 0 || bits === 1).toBe(true);
      if (bits === 1) { changed++; expect(first).toBeGreaterThanOrEqual(14); }
    }
    expect(changed).toBe(s.f.faults.corrupted);
    expect(changed).toBeGreaterThan(150);
    s.finish();
  });

  it('corrupts a private copy when the sender still holds the slot', () => {
    const s = setup({ seed: 11, corrupt: 1 });
    const slot = frame(s.f, s.b.mac, 1, 100);
    s.net.arena.retain(slot); // e.g. a TCP retransmit queue keeping the segment
    const before = frameBytes(s.f, slot);
    s.f.transmit(Int32Array.of(slot), 1);
    s.clock.runFor(0);
    expect(frameBytes(s.f, slot)).toEqual(before);
    expect(s.got.length).toBe(1);
    expect(s.got[0]!.bytes).not.toEqual(before);
    s.net.arena.release(slot);
    s.finish();
  });

  it('counts a duplicate as a device drop when no slot is free for the copy', () => {
    const s = setup({ seed: 12, duplicate: 1 }, 4);
    s.send(4);
    expect(s.f.faults.duplicated).toBe(0);
    expect(s.a.stats.txDrops).toBe(4);
    expect(s.got.length).toBe(4);
    s.finish();
  });

  it('delays 10 ± 5 ms in virtual time and keeps order without reorder', () => {
    const s = setup({ seed: 4, delayMs: 10, jitterMs: 5 });
    const sentAt: number[] = [];
    const one = new Int32Array(1);
    for (let i = 0; i < 1000; i++) {
      sentAt.push(s.clock.now());
      one[0] = frame(s.f, s.b.mac, i);
      s.f.transmit(one, 1);
      s.clock.runFor(0.25);
    }
    s.clock.runFor(100);
    expect(s.got.length).toBe(1000);
    const delays = s.got.map((g) => g.t - sentAt[g.seq]!);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...delays)).toBeLessThanOrEqual(15);
    // Jitter really varies the delay (not a constant 10 ms) ...
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(5);
    // ... yet nothing overtakes.
    expect(s.got.map((g) => g.seq)).toEqual([...Array(1000).keys()]);
    expect(s.f.faults.delayed).toBe(1000);
    s.finish();
  });

  it('reorder sends some frames ahead of the delayed ones', () => {
    const s = setup({ seed: 5, delayMs: 10, reorder: 0.25 });
    s.send(2000, 0.1);
    s.clock.runFor(100);
    expect(s.got.length).toBe(2000);
    const r = s.f.faults.reordered / 2000;
    expect(r).toBeGreaterThan(0.22);
    expect(r).toBeLessThan(0.28);
    let inversions = 0;
    for (let i = 1; i < s.got.length; i++) if (s.got[i]!.seq < s.got[i - 1]!.seq) inversions++;
    expect(inversions).toBeGreaterThan(100);
    s.finish();
  });

  it('departing frames leave as one batch per timer fire', () => {
    const s = setup({ seed: 6, delayMs: 10 });
    s.send(5);
    s.clock.runFor(1);
    s.send(3, 0, 64, 5);
    expect(s.counting.calls).toEqual([]);
    s.clock.runFor(20);
    expect(s.counting.calls).toEqual([5, 3]);
    expect(s.got.map((g) => g.t)).toEqual([10, 10, 10, 10, 10, 11, 11, 11]);
    s.finish();
  });

  it('passes frames through in the same call when nothing applies', () => {
    const s = setup({ seed: 1, loss: 0 });
    s.f.transmit(Int32Array.of(frame(s.f, s.b.mac, 1), frame(s.f, s.b.mac, 2)), 2);
    expect(s.counting.calls).toEqual([2]);
    expect(s.clock.nextDeadline()).toBe(0); // only the memory link's deferred delivery
    s.clock.runFor(0);
    expect(s.got.length).toBe(2);
    // A loss-only injector also hands surviving frames down in the same call.
    const l = setup({ seed: 1, loss: 0.5 });
    l.send(20);
    expect(l.counting.calls.length).toBe(1);
    s.finish();
    l.finish();
  });

  it('rate 10 Mbit/s: 1000 frames of 1250 bytes take one second', () => {
    const s = setup({ seed: 8, rateBitsPerSecond: 10_000_000 });
    for (let i = 0; i < 1000; i += 100) s.send(100, 0, 1250, i);
    expect(s.f.faults.queueDrops).toBe(0);
    s.clock.runFor(2000);
    expect(s.got.length).toBe(1000);
    expect(s.got[0]!.t).toBeCloseTo(1, 6);
    expect(s.got[999]!.t).toBeCloseTo(1000, 6);
    expect(s.got.map((g) => g.seq)).toEqual([...Array(1000).keys()]);
    s.finish();
  });

  it('drops frames beyond queueLimit and counts them apart', () => {
    const s = setup({ seed: 9, delayMs: 10, queueLimit: 10 });
    s.send(25);
    expect(s.f.faults.queueDrops).toBe(15);
    s.clock.runFor(20);
    expect(s.got.map((g) => g.seq)).toEqual([...Array(10).keys()]);
    expect(s.f.faults.lost).toBe(0);
    s.finish();
  });

  it('close() releases queued frames', () => {
    const s = setup({ seed: 10, delayMs: 50, duplicate: 0.5, direction: 'both' });
    s.send(300, 0.01);
    expect(s.f.queued).toBeGreaterThan(300);
    s.f.close();
    s.b.close();
    s.clock.runFor(100);
    expect(s.got.length).toBe(0);
    s.net.arena.assertNoLeaks();
  });

  it('delays received frames with direction rx', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, slotCount: 256 });
    const a = net.createLink();
    const b = net.createLink();
    const f = new FaultInjectorLink(a, { seed: 1, delayMs: 7, direction: 'rx' });
    const got = recorder(f, clock);
    const gotB = recorder(b, clock);
    b.transmit(Int32Array.of(frame(b, a.mac, 1), frame(b, a.mac, 2)), 2);
    f.transmit(Int32Array.of(frame(f, b.mac, 3)), 1); // tx is not delayed
    clock.runFor(100);
    expect(got.map((g) => [g.seq, g.t])).toEqual([[1, 7], [2, 7]]);
    expect(gotB.map((g) => [g.seq, g.t])).toEqual([[3, 0]]);
    expect(f.faults).toMatchObject({ delayed: 2, passed: 2 });
    f.close();
    net.arena.assertNoLeaks();
  });

  it('rejects bad options with FAULT_OPTIONS and says how to fix them', () => {
    const net = new MemoryNetwork({ clock: new VirtualClock(), slotCount: 8 });
    const bad: Partial<FaultOptions>[] = [
      { seed: Number.NaN }, { seed: 1, loss: 30 }, { seed: 1, corrupt: -0.1 }, { seed: 1, delayMs: -1 },
      { seed: 1, jitterMs: Infinity }, { seed: 1, rateBitsPerSecond: -5 }, { seed: 1, queueLimit: 0 },
      { seed: 1, direction: 'up' as 'tx' },
    ];
    for (const opts of bad) {
      let err: unknown;
      try { new FaultInjectorLink(net.createLink(), opts as FaultOptions); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(WskUsageError);
      expect((err as WskUsageError).code).toBe('FAULT_OPTIONS');
    }
    expect(() => new FaultInjectorLink(net.createLink(), { seed: 1, loss: 30 })).toThrow(/loss must be a probability in \[0, 1\].*pass 0\.3/);
  });

  it('delays frames on the real clock too', async () => {
    const clock = new RealClock();
    const net = new MemoryNetwork({ clock, slotCount: 64 });
    const a = net.createLink();
    const b = net.createLink();
    const f = new FaultInjectorLink(a, { seed: 1, delayMs: 5 });
    const got = recorder(b, clock);
    const sent = clock.now();
    f.transmit(Int32Array.of(frame(f, b.mac, 1), frame(f, b.mac, 2), frame(f, b.mac, 3)), 3);
    const deadline = Date.now() + 2000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(got.map((g) => g.seq)).toEqual([1, 2, 3]);
    for (const g of got) expect(g.t - sent).toBeGreaterThanOrEqual(5);
    f.close();
    b.close();
    net.arena.assertNoLeaks();
  });
});

// ---- TSO frames: faults per wire packet ------------------------------------------------------

const MSS = 1448;
const TSO = 65536;
/** 45 full packets and a short last one: the frame's IPv4 Total Length stays below 65535. */
const PAYLOAD_BYTES = 45 * MSS + 320;
const SEQ0 = 0xfffff000; // the packets' sequence numbers wrap
const ID0 = 0x7ff0;

const TSO_PAYLOAD = (() => {
  const p = new Uint8Array(PAYLOAD_BYTES);
  for (let i = 0; i < p.length; i++) p[i] = (i * 13 + (i >>> 8)) & 0xff;
  return p;
})();
const PACKETS = Math.ceil(PAYLOAD_BYTES / MSS);

/**
 * A TSO frame as our stack emits it on a link with offloads (tcp-output.ts): ACK|PSH, timestamps,
 * the checksum left as the pseudo-header sum (CHECKSUM_PARTIAL), segmentSizes = MSS.
 */
function tsoFrame(link: LinkDevice, dstMac: number, payload = TSO_PAYLOAD, flags = TcpFlags.ACK | TcpFlags.PSH, segmentSize = MSS): number {
  const a = link.arena;
  const s = a.alloc();
  if (s < 0) throw new Error('test arena exhausted');
  const b = a.view(s);
  const o = a.headroom;
  const t = o + 34;
  const opts = new TcpOptions();
  opts.hasTimestamps = true; opts.tsVal = 0x01020304; opts.tsEcr = 0x05060708;
  const ol = emitTcpOptions(b, t + 20, opts);
  emitTcp(b, t, 40000, 80, SEQ0, 0x11223344, flags, 501, ol);
  b.set(payload, t + 20 + ol);
  const tcpLength = 20 + ol + payload.length;
  set16(b, t + 16, checksumFold(pseudoHeaderSumV4(IP_A, IP_B, IpProtocol.TCP, tcpLength)));
  emitIpv4(b, o + 14, IP_A, IP_B, IpProtocol.TCP, tcpLength, 64, ID0);
  emitEthernet(b, o, dstMac, link.mac, EtherType.IPV4);
  a.setFrame(s, o, 34 + tcpLength);
  a.flags[s] = FrameFlags.CHECKSUM_PARTIAL;
  a.segmentSizes[s] = segmentSize;
  return s;
}

interface Packet { seg: Segment; bytes: Uint8Array; flags: number; t: number }

/** Records every frame reaching `link`: its bytes, parsed TCP segment, arena flags and time. */
function packetRecorder(link: LinkDevice, clock: Clock): Packet[] {
  const got: Packet[] = [];
  link.attach({
    onReceive(slots, n) {
      for (let i = 0; i < n; i++) {
        const s = slots[i]!;
        const bytes = frameBytes(link, s);
        got.push({ seg: parseSegment(bytes)!, bytes, flags: link.arena.flags[s]!, t: clock.now() });
        link.arena.release(s);
      }
    },
  });
  return got;
}

function tsoSetup(opts: FaultOptions) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, slotCount: 256, slotSize: TSO + 1024 });
  const caps = { capabilities: { tsoMaxBytes: TSO, txChecksumOffload: true } };
  const a = net.createLink(caps);
  const b = net.createLink(caps);
  const f = new FaultInjectorLink(a, opts);
  const got = packetRecorder(b, clock);
  const send = (n = 1) => {
    for (let i = 0; i < n; i++) f.transmit(Int32Array.of(tsoFrame(f, b.mac)), 1);
    clock.runFor(0);
  };
  const finish = () => {
    clock.runFor(60_000);
    f.close();
    b.close();
    net.arena.assertNoLeaks();
  };
  return { clock, net, a, b, f, got, send, finish };
}

/** Checks that `p` is wire packet k of the TSO frame, as Linux's GSO cuts it. */
function expectPacket(p: Packet, k: number, what: string): void {
  const s = p.seg;
  const len = Math.min(MSS, PAYLOAD_BYTES - k * MSS);
  expect(s.checksumOk, `${what}: TCP checksum`).toBe(true);
  expect(internetChecksum(p.bytes, 14, 20), `${what}: IPv4 header checksum`).toBe(0);
  expect(get16(p.bytes, 16), `${what}: IPv4 total length`).toBe(20 + 32 + len);
  expect(get16(p.bytes, 18), `${what}: IPv4 identification`).toBe((ID0 + k) & 0xffff);
  expect(s.seq, `${what}: SEQ`).toBe((SEQ0 + k * MSS) >>> 0);
  expect(s.flags, `${what}: flags`).toBe(k === PACKETS - 1 ? TcpFlags.ACK | TcpFlags.PSH : TcpFlags.ACK);
  expect(s.options.ts, `${what}: timestamps`).toEqual([0x01020304, 0x05060708]);
  expect(Buffer.from(s.payload).equals(Buffer.from(TSO_PAYLOAD.subarray(k * MSS, k * MSS + len))), `${what}: payload bytes`).toBe(true);
  // The receiver is told nothing: it verifies the finished checksums itself.
  expect(p.flags, `${what}: arena flags at the receiver`).toBe(0);
}

/** The packets a fresh Xoshiro128(seed) picks, one draw per packet below p (the single configured fault). */
function picked(seed: number, p: number): number[] {
  const rng = new Xoshiro128(seed);
  const out: number[] = [];
  for (let k = 0; k < PACKETS; k++) if (rng.next() < p) out.push(k);
  return out;
}

describe('FaultInjectorLink on TSO frames: faults per wire packet', () => {
  it('a 64 KiB TSO frame passes on whole when no fault is configured (loss 0 included)', () => {
    for (const opts of [{ seed: 1 }, { seed: 1, loss: 0, duplicate: 0, corrupt: 0, reorder: 0 }]) {
      const s = tsoSetup(opts);
      const slot = tsoFrame(s.f, s.b.mac);
      const sent = frameBytes(s.f, slot);
      s.f.transmit(Int32Array.of(slot), 1);
      s.clock.runFor(0);
      expect(s.got.length).toBe(1);
      expect(Buffer.from(s.got[0]!.bytes).equals(Buffer.from(sent))).toBe(true);
      // Untouched: the memory link turned the unfinished checksum into CHECKSUM_OK, as veth does.
      expect(s.got[0]!.flags).toBe(FrameFlags.CHECKSUM_OK);
      expect(s.f.faults).toMatchObject({ passed: 1, segmented: 0, segments: 0 });
      s.finish();
    }
  });

  it('with a fault configured it is cut as Linux GSO cuts it: per packet total length, id, checksums, SEQ, PSH only on the last', () => {
    const s = tsoSetup({ seed: 1, delayMs: 1 });
    s.send();
    expect(s.got.length).toBe(0);
    s.clock.runFor(1);
    expect(s.got.length).toBe(PACKETS);
    s.got.forEach((p, k) => expectPacket(p, k, `packet ${k}`));
    expect(s.f.faults).toMatchObject({ passed: PACKETS, delayed: PACKETS, segmented: 1, segments: PACKETS, lost: 0 });
    s.finish();
  });

  it('loss: exactly the packets the seed draws are missing, each one MSS of the stream', () => {
    const seed = 21;
    const lost = picked(seed, 0.1);
    expect(lost.length).toBeGreaterThan(1); // the seed picks some, not all
    expect(lost.length).toBeLessThan(PACKETS / 2);
    const s = tsoSetup({ seed, loss: 0.1 });
    s.send();
    const kept = [...Array(PACKETS).keys()].filter((k) => !lost.includes(k));
    expect(s.got.map((p) => p.seg.seq)).toEqual(kept.map((k) => (SEQ0 + k * MSS) >>> 0));
    s.got.forEach((p, i) => expectPacket(p, kept[i]!, `packet ${kept[i]}`));
    expect(s.f.faults).toMatchObject({ lost: lost.length, passed: kept.length, segmented: 1, segments: PACKETS });
    s.finish();
  });

  it('duplication: exactly the drawn packets arrive twice, right after themselves', () => {
    const seed = 22;
    const dup = picked(seed, 0.1);
    expect(dup.length).toBeGreaterThan(1);
    const s = tsoSetup({ seed, duplicate: 0.1 });
    s.send();
    const want = [...Array(PACKETS).keys()].flatMap((k) => (dup.includes(k) ? [k, k] : [k]));
    expect(s.got.map((p) => p.seg.seq)).toEqual(want.map((k) => (SEQ0 + k * MSS) >>> 0));
    s.got.forEach((p, i) => expectPacket(p, want[i]!, `arrival ${i}`));
    expect(s.f.faults.duplicated).toBe(dup.length);
    s.finish();
  });

  it('corruption: exactly one bit of exactly the drawn packets flips, and their checksum shows it', () => {
    const seed = 23;
    const rng = new Xoshiro128(seed);
    const flips = new Map<number, [number, number]>();
    for (let k = 0; k < PACKETS; k++) {
      if (rng.next() < 0.1) { const byte = rng.nextU32(); flips.set(k, [byte, rng.nextU32() & 7]); }
    }
    expect(flips.size).toBeGreaterThan(1);
    const s = tsoSetup({ seed, corrupt: 0.1 });
    s.send();
    expect(s.got.length).toBe(PACKETS);
    const clean = tsoSetup({ seed: 1, delayMs: 1 });
    clean.send();
    clean.clock.runFor(1);
    for (let k = 0; k < PACKETS; k++) {
      const got = s.got[k]!.bytes;
      const want = clean.got[k]!.bytes;
      const flip = flips.get(k);
      if (flip) {
        const at = 14 + (flip[0] % (want.length - 14));
        want[at] = want[at]! ^ (1 << flip[1]);
        const seg = parseSegment(got)!;
        const ipOk = internetChecksum(got, 14, 20) === 0;
        expect(ipOk && seg.checksumOk, `packet ${k}: a checksum catches the flipped bit at byte ${at}`).toBe(false);
      }
      expect(Buffer.from(got).equals(Buffer.from(want)), `packet ${k}`).toBe(true);
      expect(s.got[k]!.flags).toBe(0);
    }
    expect(s.f.faults.corrupted).toBe(flips.size);
    s.finish();
    clean.finish();
  });

  it('reordering: exactly the drawn packets skip the delay and arrive first', () => {
    const seed = 24;
    const early = picked(seed, 0.2);
    expect(early.length).toBeGreaterThan(1);
    const s = tsoSetup({ seed, delayMs: 5, reorder: 0.2 });
    s.send();
    s.clock.runFor(5);
    const late = [...Array(PACKETS).keys()].filter((k) => !early.includes(k));
    expect(s.got.map((p) => [p.seg.seq, p.t])).toEqual([
      ...early.map((k) => [(SEQ0 + k * MSS) >>> 0, 0]), ...late.map((k) => [(SEQ0 + k * MSS) >>> 0, 5]),
    ]);
    expect(s.f.faults.reordered).toBe(early.length);
    s.finish();
  });

  it('the same seed cuts and faults the same packets; another seed others', () => {
    const run = (seed: number) => {
      const s = tsoSetup({ seed, loss: 0.05, duplicate: 0.05, corrupt: 0.05, delayMs: 2, jitterMs: 1, reorder: 0.1 });
      s.send(4);
      s.clock.runFor(10);
      const out = s.got.map((p) => `${p.t}:${Buffer.from(p.bytes).toString('base64')}`).join(' ') + JSON.stringify(s.f.faults);
      s.finish();
      return out;
    };
    expect(run(5)).toBe(run(5));
    expect(run(6)).not.toBe(run(5));
  });

  it('cutting TSO frames and faulting their packets allocates nothing per packet, queued or not; a transparent injector nothing per frame', async () => {
    // Under the injector a device that only counts and releases (HandLink), so what is measured
    // is the injector's own work.
    const faults = { loss: 0.01, duplicate: 0.01, corrupt: 0.01 };
    // Delay and reorder without jitter or rate: packets depart together. (Each distinct departure
    // time is a timer fire of its own, whose boxed times cost about 32 bytes: with a rate, that
    // is per packet.)
    const queued = { ...faults, delayMs: 1, reorder: 0.01 };
    for (const opts of [{ seed: 9, ...faults }, { seed: 9, ...queued }, { seed: 9 }] as FaultOptions[]) {
      const arena = new SlotArena({ slotCount: 256, slotSize: TSO + 1024 });
      const device = new HandLink(arena, 0x020000000001);
      const f = new FaultInjectorLink(device, opts);
      const ref = tsoFrame(f, 0x020000000002);
      const template = frameBytes(f, ref);
      arena.release(ref);
      const one = new Int32Array(1);
      const run = (frames: number): void => {
        for (let i = 0; i < frames; i++) {
          const slot = arena.alloc();
          // A transparent injector never reads the bytes: only the cutting runs need them.
          if (opts.loss) arena.view(slot).set(template, arena.headroom);
          arena.setFrame(slot, arena.headroom, template.length);
          arena.flags[slot] = FrameFlags.CHECKSUM_PARTIAL;
          arena.segmentSizes[slot] = MSS;
          one[0] = slot;
          f.transmit(one, 1);
          device.clock.runFor(1);
        }
      };
      // Enough warm-up that every path is compiled before the measured frames, and enough frames
      // that a compilation among them cannot pass for allocation per packet.
      const frames = opts.loss ? 8000 : 2_000_000;
      const warmup = frames / 4;
      const m = await measureAllocation(frames, run, warmup);
      const unit = opts.loss ? 'packet' : 'frame';
      const perUnit = opts.loss ? m.perIteration / PACKETS : m.perIteration;
      const what = !opts.loss ? 'transparent' : opts.delayMs ? 'cutting, faulting and queueing' : 'cutting and faulting';
      console.log(`fault injector, ${what}: ${perUnit.toFixed(4)} B/${unit} by heapUsed, `
        + `${m.gcs} GC event(s), ${m.ns.toFixed(0)} ns per TSO frame, ${device.transmitted} ${unit}s passed on`);
      expect(m.gcs).toBe(0);
      // An allocation per packet is at least one 16-byte object; less than a quarter of that is
      // one-off work (a recompilation after the tests before this one) spread over the run.
      expect(perUnit).toBeLessThan(4);
      expect(f.faults.segmented).toBe(opts.loss ? 5 * warmup + frames : 0);
      f.close();
      arena.assertNoLeaks();
    }
  }, 120_000);

  it('a received frame longer than the MTU without a segment size (a GRO aggregate) is cut at the MSS its headers leave in the MTU', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, slotCount: 256, slotSize: TSO + 1024 });
    const a = net.createLink({ capabilities: { tsoMaxBytes: TSO } });
    const b = net.createLink({ capabilities: { tsoMaxBytes: TSO } });
    const f = new FaultInjectorLink(a, { seed: 1, delayMs: 1, direction: 'rx' });
    const got = packetRecorder(f, clock);
    b.transmit(Int32Array.of(tsoFrame(b, a.mac, TSO_PAYLOAD, TcpFlags.ACK | TcpFlags.PSH, 0)), 1);
    clock.runFor(1);
    // 1500 - 20 - 32 = 1448 bytes per packet.
    expect(got.length).toBe(PACKETS);
    got.forEach((p, k) => expectPacket(p, k, `packet ${k}`));
    f.close();
    net.arena.assertNoLeaks();
  });

  it('a frame larger than a packet that is not IPv4 TCP is dropped and counted, never thrown', () => {
    const s = tsoSetup({ seed: 1, loss: 0.01 });
    const udp = frame(s.f, s.b.mac, 1, 4000);
    s.f.transmit(Int32Array.of(udp), 1);
    const marked = frame(s.f, s.b.mac, 2, 1000);
    s.net.arena.segmentSizes[marked] = 500; // a TSO mark on a UDP datagram
    s.f.transmit(Int32Array.of(marked), 1);
    s.clock.runFor(1);
    expect(s.got.length).toBe(0);
    expect(s.f.faults).toMatchObject({ unsegmentable: 2, passed: 0, lost: 0 });
    s.finish();
  });

  it('corrupting a frame whose checksum the device was to finish: finished first, so the receiver is not told to skip it', () => {
    const s = tsoSetup({ seed: 3, corrupt: 1 });
    const small = TSO_PAYLOAD.subarray(0, 100);
    s.f.transmit(Int32Array.of(tsoFrame(s.f, s.b.mac, small, TcpFlags.ACK, 0)), 1);
    s.clock.runFor(0);
    expect(s.got.length).toBe(1);
    const p = s.got[0]!;
    expect(p.flags & FrameFlags.CHECKSUM_OK).toBe(0);
    // Exactly one bit differs from the frame with its checksum finished in full.
    const ref = tsoFrame(s.f, s.b.mac, small, TcpFlags.ACK, 0);
    const clean = frameBytes(s.f, ref);
    s.net.arena.release(ref);
    const t = 34;
    set16(clean, t + 16, 0);
    set16(clean, t + 16, internetChecksum(clean, t, clean.length - t, pseudoHeaderSumV4(IP_A, IP_B, IpProtocol.TCP, clean.length - t)));
    let bits = 0;
    for (let i = 0; i < clean.length; i++) for (let x = clean[i]! ^ p.bytes[i]!; x; x &= x - 1) bits++;
    expect(bits).toBe(1);
    expect(internetChecksum(p.bytes, 14, 20) === 0 && p.seg.checksumOk).toBe(false);
    s.finish();
  });

  it('rx: corrupting a frame the receiving device vouched for takes its CHECKSUM_OK away', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, slotCount: 64 });
    const a = net.createLink();
    const b = net.createLink();
    const f = new FaultInjectorLink(a, { seed: 2, corrupt: 1, direction: 'rx' });
    const flags: number[] = [];
    f.attach({ onReceive(slots, n) { for (let i = 0; i < n; i++) { flags.push(net.arena.flags[slots[i]!]!); net.arena.release(slots[i]!); } } });
    const s = frame(b, a.mac, 1, 200);
    net.arena.flags[s] = FrameFlags.CHECKSUM_PARTIAL; // the memory link delivers it as CHECKSUM_OK, as veth does
    b.transmit(Int32Array.of(s), 1);
    clock.runFor(0);
    expect(flags).toEqual([0]);
    f.close();
    net.arena.assertNoLeaks();
  });
});

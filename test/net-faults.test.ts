// Two stacks through the memory link with faults: the IP layer in virtual time (a 60-second lossy
// run in well under a second, reproducible from its seed), ping under delay, and a capture of
// ARP, ICMP and UDP that tshark reads back.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../runtime/net/clock.ts';
import type { LinkDevice } from '../runtime/net/device.ts';
import { FaultInjectorLink, type FaultOptions } from '../transports/fault/fault-injector.ts';
import { PcapWriterLink } from '../transports/sniffer/pcap-writer.ts';
import { STATUS_SUCCESS } from '../runtime/ntstatus.ts';
import { A, B, stackPair } from './helpers/net-pair.ts';

const PAYLOAD = 512;

/** The payload of datagram `seq`: a pattern any corruption would break. */
function fill(buf: Uint8Array, seq: number): void {
  buf[0] = seq >>> 24; buf[1] = seq >>> 16; buf[2] = seq >>> 8; buf[3] = seq;
  for (let i = 4; i < buf.length; i++) buf[i] = (seq * 31 + i * 7) & 0xff;
}

function intact(bytes: Uint8Array, offset: number, length: number): number {
  if (length !== PAYLOAD) return -1;
  const seq = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  for (let i = 4; i < length; i++) if (bytes[offset + i] !== ((seq * 31 + i * 7) & 0xff)) return -1;
  return seq;
}

interface RunResult { received: number[]; corruptedSeen: number; faults: FaultInjectorLink['faults']; wallMs: number; udpBadChecksum: number; ipBadChecksum: number }

/** A sends one datagram per millisecond to B for `seconds` of virtual time, over faulty links. */
function lossyRun(seed: number, seconds: number, faults: Omit<FaultOptions, 'seed'>): RunResult {
  const clock = new VirtualClock();
  const injectors: FaultInjectorLink[] = [];
  const p = stackPair({ clock, slotCount: 8192 }, {}, (link: LinkDevice, which) => {
    const f = new FaultInjectorLink(link, { seed: seed + (which === 'a' ? 0 : 1), ...faults });
    injectors.push(f);
    return f;
  });
  const received: number[] = [];
  let corruptedSeen = 0;
  p.b.ip.udp4.open(0, 9000, {
    onDatagram(_s, bytes, offset, length) {
      const seq = intact(bytes, offset, length);
      if (seq < 0) corruptedSeen++; else received.push(seq);
    },
  });
  const sa = p.a.ip.udp4.open(0, 0, { onDatagram() {} })!;
  const payload = new Uint8Array(PAYLOAD);
  const pieces = [payload];
  const t0 = performance.now();
  const total = seconds * 1000;
  for (let seq = 0; seq < total; seq++) {
    fill(payload, seq);
    expect(p.a.ip.udp4.send(sa, pieces, 1, B, 9000)).toBe(STATUS_SUCCESS);
    clock.runFor(1);
  }
  clock.runFor(5000); // drain delays and ARP retries
  const wallMs = performance.now() - t0;
  const result = {
    received, corruptedSeen, faults: { ...injectors[0]!.faults }, wallMs,
    udpBadChecksum: p.b.ip.counters.udpBadChecksum, ipBadChecksum: p.b.ip.counters.ipBadChecksum,
  };
  p.close();
  for (const f of injectors) f.close();
  p.network.arena.assertNoLeaks();
  return result;
}

describe('stacks over a faulty memory link', () => {
  const faults = { loss: 0.05, delayMs: 20, jitterMs: 5, reorder: 0.05, duplicate: 0.01, corrupt: 0.02, rateBitsPerSecond: 100e6 };

  it('60 s of virtual time with loss 5 %, delay 20±5 ms, reorder, duplicates and corruption: every datagram that arrives is intact, in well under a second, and the seed replays it exactly', () => {
    const r1 = lossyRun(42, 60, faults);
    console.log(`lossy run: ${r1.received.length}/60000 datagrams arrived intact in ${r1.wallMs.toFixed(0)} ms of wall time; ` +
      `faults on A's link ${JSON.stringify(r1.faults)}; B dropped udpBadChecksum ${r1.udpBadChecksum}, ipBadChecksum ${r1.ipBadChecksum}`);
    expect(r1.corruptedSeen).toBe(0);
    // Loss 5 % (ARP replies can be lost too: a few more), duplicates add ~1 %.
    expect(r1.received.length).toBeGreaterThan(60_000 * 0.9);
    expect(r1.received.length).toBeLessThan(60_000 * 1.0);
    expect(r1.faults.corrupted).toBeGreaterThan(0);
    expect(r1.udpBadChecksum + r1.ipBadChecksum).toBeGreaterThan(0);
    // Reordered: some sequence number arrives after a larger one.
    expect(r1.received.some((s, i) => i > 0 && s < r1.received[i - 1]!)).toBe(true);
    expect(r1.wallMs).toBeLessThan(10_000);
    const r2 = lossyRun(42, 60, faults);
    expect(r2.received).toEqual(r1.received);
    const r3 = lossyRun(43, 60, faults);
    expect(r3.received).not.toEqual(r1.received);
  }, 60_000);

  it('ping over a 10 ms ± 2 ms link measures the round trip in virtual time; ARP survives 30 % loss by retrying', () => {
    const clock = new VirtualClock();
    const p = stackPair({ clock }, {}, (link, which) => new FaultInjectorLink(link, { seed: which === 'a' ? 7 : 8, delayMs: 10, jitterMs: 2 }));
    const rtts: number[] = [];
    const sentAt: number[] = [];
    p.a.ip.icmp.onEchoReply = (src, _id, seq) => { expect(src).toBe(B); rtts[seq] = clock.now() - sentAt[seq]!; };
    for (let i = 0; i < 10; i++) {
      sentAt[i] = clock.now();
      p.a.ip.icmp.ping(B, 1, i);
      clock.runFor(100);
    }
    expect(rtts.length).toBe(10);
    // The first echo waited for B's address: B's gratuitous ARP (sent at start, 8–12 ms away)
    // resolved the pending entry (RFC 826 merge) before A's own request was answered.
    expect(rtts[0]).toBeGreaterThanOrEqual(8 + 16);
    for (const rtt of rtts.slice(1)) { expect(rtt).toBeGreaterThanOrEqual(16); expect(rtt).toBeLessThanOrEqual(24); }
    p.close();

    const lossy = stackPair({ clock }, {}, (link, which) => new FaultInjectorLink(link, { seed: which === 'a' ? 1 : 2, loss: 0.3 }));
    let replies = 0;
    lossy.a.ip.icmp.onEchoReply = () => { replies++; };
    for (let i = 0; i < 20; i++) { lossy.a.ip.icmp.ping(B, 2, i); clock.runFor(1500); }
    expect(lossy.a.ip.arp.cache.peek(B)).toBeGreaterThan(0);
    expect(replies).toBeGreaterThan(5);
    lossy.close();
  });

  it('a pcap of ARP, ping and UDP between the stacks opens in tshark with the right protocols', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-pcap-'));
    try {
      const path = join(dir, 'a.pcap');
      const clock = new VirtualClock();
      let writer: PcapWriterLink | null = null;
      const p = stackPair({ clock }, {}, (link, which) => (which === 'a' ? (writer = new PcapWriterLink(link, { path, epochMs: 0 })) : link));
      const sb = p.b.ip.udp4.open(0, 40404, { onDatagram() {} })!;
      const sa = p.a.ip.udp4.open(0, 0, { onDatagram() {} })!;
      p.a.ip.icmp.ping(B, 3, 1);
      clock.runFor(1);
      p.a.ip.udp4.send(sa, [new TextEncoder().encode('hello tshark')], 1, B, 40404);
      clock.runFor(1);
      p.a.ip.udp4.send(sa, [new Uint8Array(4)], 1, B, 40405); // closed port: ICMP port unreachable comes back
      clock.runFor(1);
      sb.close();
      p.close();
      writer!.close();
      let out: string;
      try {
        out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', '_ws.col.Protocol', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport'], { encoding: 'utf8' });
      } catch (err) {
        throw new Error(`tshark could not read the capture (install it: apt-get install tshark): ${(err as Error).message}`);
      }
      const rows = out.trim().split('\n').map((l) => l.split('\t'));
      const protocols = rows.map((r) => r[0]);
      expect(protocols).toContain('ARP');
      expect(protocols.filter((x) => x === 'ICMP').length).toBeGreaterThanOrEqual(3); // request, reply, port unreachable
      expect(rows.some((r) => r[0] === 'UDP' && r[1] === '198.18.0.1' && r[2] === '198.18.0.2' && r[3] === '40404')).toBe(true);
      expect(A).toBe(p.a.ip.address);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

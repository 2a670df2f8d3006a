// The writer's files must open in real tools, so besides our own tiny reader the test runs tshark
// and tcpdump on them. They are required (CI installs them), not optional: a skipped check would
// hide a broken file format.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { ArpOperation, EtherType, IpProtocol, emitArp, emitEthernet, emitIpv4, emitUdp } from '../../runtime/net/wire/index.ts';
import { MemoryNetwork } from '../memory/memory-network.ts';
import type { LinkDevice } from '../link.ts';
import { PCAP_MAGIC_USEC, PcapWriterLink } from './pcap-writer.ts';

const IP_A = 0xc6120001; // 198.18.0.1
const IP_B = 0xc6120002; // 198.18.0.2

function udpFrame(link: LinkDevice, dstMac: number, dstPort: number, payload: number): number {
  const a = link.arena;
  const s = a.alloc();
  const b = a.view(s);
  const o = a.headroom;
  const e = emitEthernet(b, o, dstMac, link.mac, EtherType.IPV4);
  for (let i = 0; i < payload; i++) b[o + e + 28 + i] = i & 0xff;
  emitUdp(b, o + e + 20, 40000, dstPort, payload, IP_A, IP_B);
  emitIpv4(b, o + e, IP_A, IP_B, IpProtocol.UDP, 8 + payload);
  a.setFrame(s, o, e + 28 + payload);
  return s;
}

function arpFrame(link: LinkDevice): number {
  const a = link.arena;
  const s = a.alloc();
  const b = a.view(s);
  const o = a.headroom;
  const e = emitEthernet(b, o, 0xffffffffffff, link.mac, EtherType.ARP);
  emitArp(b, o + e, ArpOperation.REQUEST, link.mac, IP_A, 0, IP_B);
  a.setFrame(s, o, e + 28);
  return s;
}

interface Rec { sec: number; usec: number; caplen: number; origlen: number; data: Buffer }
function readPcap(path: string): { magic: number; major: number; minor: number; zone: number; sigfigs: number; snaplen: number; linktype: number; records: Rec[] } {
  const f = readFileSync(path);
  const records: Rec[] = [];
  for (let p = 24; p < f.length;) {
    const caplen = f.readUInt32LE(p + 8);
    records.push({ sec: f.readUInt32LE(p), usec: f.readUInt32LE(p + 4), caplen, origlen: f.readUInt32LE(p + 12), data: f.subarray(p + 16, p + 16 + caplen) });
    p += 16 + caplen;
  }
  return {
    magic: f.readUInt32LE(0), major: f.readUInt16LE(4), minor: f.readUInt16LE(6), zone: f.readInt32LE(8),
    sigfigs: f.readUInt32LE(12), snaplen: f.readUInt32LE(16), linktype: f.readUInt32LE(20), records,
  };
}

function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`install ${cmd} (apt-get install ${cmd})`);
    throw e;
  }
}

describe('PcapWriterLink', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'wsk-pcap-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  function setup(opts: { direction?: 'both' | 'rx' | 'tx'; snaplen?: number; maxFrames?: number; maxBytes?: number } = {}) {
    const clock = new VirtualClock(1000);
    const net = new MemoryNetwork({ clock, slotCount: 64 });
    const a = net.createLink();
    const b = net.createLink();
    const path = join(dir, 'a.pcap');
    const pa = new PcapWriterLink(a, { path, epochMs: 1_700_000_000_000, ...opts });
    const got: Buffer[] = [];
    const sink = (link: LinkDevice) => link.attach({
      onReceive(slots, n) {
        for (let i = 0; i < n; i++) {
          const s = slots[i]!;
          const off = link.arena.offsetOf(s);
          got.push(Buffer.from(link.arena.view(s).subarray(off, off + link.arena.lengthOf(s))));
          link.arena.release(s);
        }
      },
    });
    sink(pa);
    sink(b);
    return { clock, net, a, b, pa, path, got };
  }

  it('writes frames tshark, tcpdump and a plain reader agree on', () => {
    const { clock, net, b, pa, path, got } = setup();
    const sent: Buffer[] = [];
    const send = (link: LinkDevice, slot: number) => {
      const off = link.arena.offsetOf(slot);
      sent.push(Buffer.from(link.arena.view(slot).subarray(off, off + link.arena.lengthOf(slot))));
      link.transmit(Int32Array.of(slot), 1);
    };
    send(pa, arpFrame(pa));
    clock.runFor(1.5);
    send(pa, udpFrame(pa, b.mac, 53, 5));
    clock.runFor(1000.25);
    send(pa, udpFrame(pa, b.mac, 6001, 100));
    clock.runFor(1);
    send(b, udpFrame(b, pa.mac, 9999, 10)); // received by the writer's port: recorded as rx
    clock.runFor(1);
    expect(got.length).toBe(4);
    expect(pa.file.frames).toBe(4);
    pa.close();
    b.close();
    net.arena.assertNoLeaks();

    const f = readPcap(path);
    expect(f).toMatchObject({ magic: PCAP_MAGIC_USEC, major: 2, minor: 4, zone: 0, sigfigs: 0, snaplen: 262144, linktype: 1 });
    expect(f.records.length).toBe(4);
    for (let i = 0; i < 4; i++) {
      expect(f.records[i]!.data.equals(sent[i]!)).toBe(true);
      expect(f.records[i]!.origlen).toBe(sent[i]!.length);
    }
    // Virtual time from the open: epochMs + 0, +1.5 ms, +1001.75 ms.
    expect(f.records.map((r) => [r.sec - 1_700_000_000, r.usec])).toEqual([[0, 0], [0, 1500], [1, 1750], [1, 2750]]);

    const fields = tool('tshark', ['-r', path, '-T', 'fields', '-e', 'ip.src', '-e', 'udp.dstport']).trimEnd().split('\n');
    expect(fields).toEqual(['\t', '198.18.0.1\t53', '198.18.0.1\t6001', '198.18.0.1\t9999']);
    const dump = tool('tcpdump', ['-r', path, '-nn']).trim().split('\n');
    expect(dump.length).toBe(4);
    expect(dump[0]).toMatch(/ARP, Request who-has 198\.18\.0\.2 tell 198\.18\.0\.1/);
    expect(dump[1]).toMatch(/198\.18\.0\.1\.40000 > 198\.18\.0\.2\.53: /);
    expect(dump[2]).toMatch(/198\.18\.0\.1\.40000 > 198\.18\.0\.2\.6001: UDP, length 100/);
    expect(dump[3]).toMatch(/> 198\.18\.0\.2\.9999: UDP, length 10/);
  });

  it('truncates to snaplen keeping orig_len, and filters by direction', () => {
    const { clock, b, pa, path } = setup({ snaplen: 50, direction: 'tx' });
    pa.transmit(Int32Array.of(udpFrame(pa, b.mac, 7, 200)), 1);
    b.transmit(Int32Array.of(udpFrame(b, pa.mac, 7, 1)), 1); // rx: not recorded
    clock.runFor(1);
    pa.close();
    const f = readPcap(path);
    expect(f.snaplen).toBe(50);
    expect(f.records.map((r) => [r.caplen, r.origlen])).toEqual([[50, 14 + 28 + 200]]);
    expect(tool('tcpdump', ['-r', path, '-nn'])).toMatch(/198\.18\.0\.2\.7/);
  });

  it('maxFrames: the first N frames, then the file is closed and a valid pcap; later frames pass unrecorded', () => {
    const { clock, b, pa, path, got } = setup({ direction: 'tx', maxFrames: 3 });
    for (let i = 0; i < 5; i++) pa.transmit(Int32Array.of(udpFrame(pa, b.mac, 1000 + i, 10)), 1);
    clock.runFor(1);
    expect(got.length).toBe(5);
    expect({ frames: pa.file.frames, limitReached: pa.file.limitReached, closed: pa.file.closed }).toEqual({ frames: 3, limitReached: true, closed: true });
    expect(readPcap(path).records.map((r) => r.data.readUInt16BE(14 + 22))).toEqual([1000, 1001, 1002]);
    expect(tool('tcpdump', ['-r', path, '-nn']).trim().split('\n')).toHaveLength(3);
    pa.close();
  });

  it('maxBytes: the file never grows past it (headers included); snaplen counts, not the frame length', () => {
    // 24-byte file header; each record 16 + min(1442, 100) = 116 bytes: 4 fit in 24 + 4 * 116 = 488.
    const { clock, b, pa, path } = setup({ direction: 'tx', snaplen: 100, maxBytes: 500 });
    for (let i = 0; i < 10; i++) pa.transmit(Int32Array.of(udpFrame(pa, b.mac, 9, 1400)), 1);
    clock.runFor(1);
    expect({ frames: pa.file.frames, fileBytes: pa.file.fileBytes, limitReached: pa.file.limitReached }).toEqual({ frames: 4, fileBytes: 488, limitReached: true });
    expect(readFileSync(path).length).toBe(488);
    expect(readPcap(path).records.map((r) => [r.caplen, r.origlen])).toEqual(Array(4).fill([100, 1442]));
    pa.close();
  });

  it('a limit that is never reached changes nothing; a bad limit is a usage error', () => {
    const { clock, b, pa } = setup({ direction: 'tx', maxFrames: 10, maxBytes: 1 << 20 });
    pa.transmit(Int32Array.of(udpFrame(pa, b.mac, 9, 10)), 1);
    clock.runFor(1);
    expect({ frames: pa.file.frames, limitReached: pa.file.limitReached, closed: pa.file.closed }).toEqual({ frames: 1, limitReached: false, closed: false });
    pa.close();
    expect(() => new PcapWriterLink(b, { path: join(dir, 'x.pcap'), maxBytes: 10 })).toThrow(/maxBytes 10 is invalid; pass an integer >= 24/);
    expect(() => new PcapWriterLink(b, { path: join(dir, 'y.pcap'), maxFrames: -1 })).toThrow(/maxFrames -1 is invalid/);
  });

  it('flushes in 64 KiB chunks and on flush()', () => {
    const { clock, b, pa, path } = setup({ direction: 'tx' });
    for (let i = 0; i < 100; i++) { pa.transmit(Int32Array.of(udpFrame(pa, b.mac, 9, 1400)), 1); clock.runFor(0); }
    // 100 records of 1458 bytes: at least one 64 KiB flush happened, the rest is still buffered.
    const partial = readFileSync(path).length;
    expect(partial).toBeGreaterThanOrEqual(64 * 1024);
    expect(partial).toBeLessThan(24 + 100 * (16 + 1442));
    pa.flush();
    expect(readFileSync(path).length).toBe(24 + 100 * (16 + 1442));
    pa.close();
    expect(readPcap(path).records.length).toBe(100);
  });
});

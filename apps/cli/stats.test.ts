// The stats directory is per user, and rates come from two snapshots of one process.
import { afterEach, describe, expect, it } from 'vitest';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatStats, snapshot as takeSnapshot, statsDirectory, statsRates, type StatsSnapshot } from './stats.ts';
import { stackPair } from '../lab/stack-pair.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function snapshot(uptimeSeconds: number, rxBytes: number, txBytes: number, segmentsOut: number, pid = 42): StatsSnapshot {
  return {
    pid, app: 'iperf3', where: 'userspace stack', uptimeSeconds,
    device: { rxFrames: rxBytes / 100, rxBytes, txFrames: txBytes / 1000, txBytes }, stack: {},
    tcp: { segmentsIn: rxBytes / 100, segmentsOut, retransmits: 3 }, connections: [],
  };
}

describe('statsDirectory', () => {
  it('$WSK_STATS_DIR, else $XDG_RUNTIME_DIR/wsk-stats when that is ours, else wsk-stats-<uid> in the temporary directory', () => {
    const uid = process.getuid!();
    const runtime = mkdtempSync(join(tmpdir(), 'wsk-xdg-'));
    dirs.push(runtime);
    expect(statsDirectory({ WSK_STATS_DIR: '/somewhere', XDG_RUNTIME_DIR: runtime })).toBe('/somewhere');
    expect(statsDirectory({ XDG_RUNTIME_DIR: runtime })).toBe(join(runtime, 'wsk-stats'));
    expect(statsDirectory({})).toBe(join(tmpdir(), `wsk-stats-${uid}`));
    expect(statsDirectory({ XDG_RUNTIME_DIR: join(runtime, 'missing') })).toBe(join(tmpdir(), `wsk-stats-${uid}`));
    if (uid === 0) {
      // Someone else's runtime directory (root after `sudo -E`) is not used.
      chownSync(runtime, 65534, 65534);
      expect(statsDirectory({ XDG_RUNTIME_DIR: runtime })).toBe(join(tmpdir(), 'wsk-stats-0'));
    }
  });
});

describe('statsRates', () => {
  it('per-second deltas of the traffic counters, by the process\'s own clock', () => {
    const r = statsRates(snapshot(10, 1000, 2_000_000, 500), snapshot(12, 3000, 4_500_000, 1500))!;
    expect(r).toEqual({
      seconds: 2, rxBitsPerSecond: 8000, txBitsPerSecond: 10_000_000, rxFramesPerSecond: 10, txFramesPerSecond: 1250,
      segmentsInPerSecond: 10, segmentsOutPerSecond: 500, retransmitsPerSecond: 0,
    });
    expect(formatStats(snapshot(12, 3000, 4_500_000, 1500), r)[1]).toBe(
      '  rates over 2.0 s: rx 8.00 kbit/s (10 frames/s), tx 10.00 Mbit/s (1250 frames/s); tcp segments in 10/s, out 500/s, retransmits 0/s');
  });

  it('none between two processes, or backwards in time; none for a counter that went down', () => {
    expect(statsRates(snapshot(10, 1, 1, 1, 1), snapshot(12, 2, 2, 2, 2))).toBeNull();
    expect(statsRates(snapshot(12, 1, 1, 1), snapshot(12, 2, 2, 2))).toBeNull();
    expect(statsRates(snapshot(10, 5000, 1000, 10), snapshot(11, 1000, 2000, 20))!.rxBitsPerSecond).toBeNull();
  });
});

describe('snapshot', () => {
  it('a stack with IPv6: its addresses (IPv4 with the prefix, then link-local and global IPv6) and the UDP-over-IPv6 counters, drops among the stack drops', () => {
    const pair = stackPair({}, { tcp: false }, undefined, {}, { ipv6: { addresses: ['fd00:198:18::1/64'], dadTransmits: 0 } }, {});
    const provider = createStackProvider(pair.a);
    provider.userspace.udp6!.counters.in = 3;
    provider.userspace.udp6!.counters.badChecksum = 1;
    const s = takeSnapshot('test', { where: 'memory', device: null, stack: pair.a.ip, stackProvider: provider }, Date.now());
    expect(s.addresses).toEqual(['198.18.0.1/24', 'fe80::ff:fe00:1', 'fd00:198:18::1']);
    const text = formatStats(s);
    expect(text).toContain('  addresses: 198.18.0.1/24, fe80::ff:fe00:1, fd00:198:18::1');
    expect(text).toContain('  udp6: in 3, out 0, icmpErrors 0');
    expect(text.find((l) => l.startsWith('  stack drops:'))).toMatch(/udp6BadChecksum 1/);
    pair.close();
  });
});

// apps/ping on the userspace stack over the memory link (in process, no root): ICMP and ICMPv6
// echoes answered by the second stack, iputils' lines and exit codes, an address nobody answers
// (100% loss, exit 1), a Ctrl-C ending an endless ping, and the report's number formats.
import { afterEach, describe, expect, it } from 'vitest';
import { createStackProvider, startWskSubsystem } from '../../index.ts';
import { A6_IP, A_IP, B6_IP, simulatedIpv6, stackPair } from '../lab/stack-pair.ts';
import { ping } from './ping.ts';
import { formatRtt, pingSummary } from './ping-report.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function pingerOnB() {
  const p = stackPair({}, {}, undefined, {}, simulatedIpv6(A6_IP), simulatedIpv6(B6_IP));
  const subsystem = await startWskSubsystem(createStackProvider(p.b), { makeDefault: false, registerWithNmr: false });
  cleanups.push(() => subsystem.stop());
  return { p, subsystem };
}

describe('ping on WSK raw sockets (userspace stack, memory link)', () => {
  for (const [family, target, header] of [
    ['IPv4', A_IP, `PING ${A_IP} (${A_IP}) 56(84) bytes of data.`],
    ['IPv6', A6_IP, `PING ${A6_IP} (${A6_IP}) 56 data bytes`],
  ] as const) {
    it(`${family}: -c 3 gets 3 replies with ttl 64, iputils' lines, exit 0`, async () => {
      const { p, subsystem } = await pingerOnB();
      const lines: string[] = [];
      const r = await ping({ subsystem, host: target, count: 3, intervalMs: 10, out: (l) => lines.push(l) });
      expect(r).toMatchObject({ transmitted: 3, received: 3, duplicates: 0, errors: 0, exitCode: 0 });
      expect(lines[0]).toBe(header);
      for (let seq = 1; seq <= 3; seq++) {
        expect(lines[seq]).toMatch(new RegExp(`^64 bytes from ${target}: icmp_seq=${seq} ttl=64 time=\\d+(\\.\\d+)? ms$`));
      }
      expect(lines[4]).toBe(`--- ${target} ping statistics ---`);
      expect(lines[5]).toMatch(/^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$/);
      expect(lines[6]).toMatch(/^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/);
      // The far stack answered them (not our own loopback).
      const c = p.a.ip.counters;
      expect(family === 'IPv4' ? c.icmpEchoRepliesSent : c.icmp6EchoRepliesSent).toBe(3);
    });
  }

  it('an address nobody answers: 100% packet loss, no rtt line, exit 1', async () => {
    const { subsystem } = await pingerOnB();
    const lines: string[] = [];
    const r = await ping({ subsystem, host: '198.18.0.77', count: 2, intervalMs: 10, waitMs: 200, out: (l) => lines.push(l) });
    expect(r).toMatchObject({ transmitted: 2, received: 0, exitCode: 1 });
    expect(lines.at(-1)).toMatch(/^2 packets transmitted, 0 received, 100% packet loss, time \d+ms$/);
  });

  it('without -c it pings until stopped (Ctrl-C), then prints the statistics', async () => {
    const { subsystem } = await pingerOnB();
    const lines: string[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const running = ping({ subsystem, host: A_IP, intervalMs: 10, stop: stopped, out: (l) => { lines.push(l); if (/icmp_seq=2 /.test(l)) stop(); } });
    const r = await running;
    expect(r.received).toBeGreaterThanOrEqual(2);
    expect(r.exitCode).toBe(0);
    expect(lines.at(-2)).toMatch(new RegExp(`^${r.transmitted} packets transmitted, ${r.received} received`));
  });

  it('report: iputils\' precision and the summary counts', () => {
    expect([0.1234, 1.234, 12.34, 123.4].map(formatRtt)).toEqual(['0.123', '1.23', '12.3', '123']);
    expect(pingSummary('h', { transmitted: 3, received: 2, duplicates: 1, errors: 0, rtts: [1, 3], elapsedMs: 2001.4 })).toEqual([
      '--- h ping statistics ---',
      '3 packets transmitted, 2 received, +1 duplicates, 33.3333% packet loss, time 2001ms',
      'rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms',
    ]);
  });
});

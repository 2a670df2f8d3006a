// IPv6 on the wire against Linux (issue 14): the userspace stack over AF_PACKET on a veth lab,
// the Linux peer's kernel with fd00:198:18::1/64 and the stack with fd00:198:18::2/64 (the stack
// namespace's kernel keeps off IPv6 on that device). Linux `ping -6` to us (a 60 000-byte one
// too: reassembly here, fragmented replies), our echo request to Linux, Linux's neighbour table,
// duplicate address detection against Linux, neighbour unreachability when the peer's address
// goes. Needs root; traffic stays inside the lab's namespaces (fd00:198:18::/64, fe80::/64), and
// each lab is deleted by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { until } from '../helpers/wsk-call.ts';
import { ArpState } from '../../runtime/net/arp-cache.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { STATUS_SUCCESS } from '../../runtime/ntstatus.ts';

/** NDP timings short enough that unreachability is detected in about two seconds (RFC 4861 §10's are 30 s + 5 s + 3 s). */
const QUICK_NDP = { reachableMs: 800, delayFirstProbeMs: 300, retransmitMs: 300 };

describe('IPv6 against Linux: the userspace stack over AF_PACKET', () => {
  let L: StackLab;
  beforeAll(async () => {
    L = await openStackLab('afpacket', { ipv6: { ndp: QUICK_NDP } });
    // Duplicate address detection (one solicitation, RetransTimer) before the address is usable.
    await until(() => L.stack.ip6!.addresses.length === 2, 10_000, 'DAD to finish');
  }, 60_000);
  afterAll(async () => {
    await L?.close();
  }, 60_000);

  it('the stack passed DAD on its link-local and global addresses and told the link (MLDv2 report, unsolicited NA)', async () => {
    const ip6 = L.stack.ip6!;
    expect(ip6.addresses.map((a) => ip6.table.format(a))).toEqual([expect.stringMatching(/^fe80::/), L.address6]);
    expect(L.stack.counters.ndpDadConflicts).toBe(0);
    // RFC 3810 §6.1: the start report and its retransmission (Robustness Variable 2); RFC 4861 §7.2.6:
    // 2 DAD solicitations, then 3 unsolicited advertisements of each address, RetransTimer apart.
    await until(() => L.stack.counters.mldReportsSent === 2 && L.stack.counters.ndpOut >= 8, 10_000, 'the start reports and advertisements');
  });

  it('Linux ping -6 gets its replies, and its neighbour table shows us REACHABLE with our MAC', async () => {
    const r = await L.peer(`ping -6 -c 3 -i 0.2 -W 2 ${L.address6}`, 20_000);
    expect(r.stdout, r.stderr).toMatch(/3 packets transmitted, 3 received/);
    const neigh = await L.peer(`ip -6 neigh show ${L.address6} dev ${L.lab.peerIf}`);
    const mac = L.device.mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
    expect(neigh.stdout).toContain(`lladdr ${mac}`);
    expect(neigh.stdout).toMatch(/REACHABLE|DELAY|STALE/);
    // Right after a ping Linux has had our solicited answer: REACHABLE (RFC 4861 §7.3.3).
    const again = await L.peer(`ping -6 -c 1 -W 2 ${L.address6} >/dev/null; ip -6 neigh show ${L.address6} dev ${L.lab.peerIf}`);
    expect(again.stdout).toContain('REACHABLE');
  });

  it('a 60 000-byte ping -6: reassembled here (RFC 8200 §4.5) and answered whole in fragments Linux reassembles', async () => {
    const before = L.stack.counters.ip6Reassembled;
    const r = await L.peer(`ping -6 -c 2 -i 0.5 -W 3 -s 60000 ${L.address6}`, 30_000);
    expect(r.stdout, r.stderr).toMatch(/2 packets transmitted, 2 received/);
    expect(r.stdout).toMatch(/60008 bytes from/);
    expect(L.stack.counters.ip6Reassembled - before).toBe(2);
    expect(L.stack.counters.ip6FragmentsOut).toBeGreaterThanOrEqual(2 * 41);
  });

  it('our echo request to Linux is answered (ping6 with an onEchoReply hook)', async () => {
    const ip6 = L.stack.ip6!;
    const peer = ip6.table.intern(parseIpv6(L.peerAddress6!)!, 0);
    const got: number[] = [];
    ip6.onEchoReply = (src, ident, seq, data) => { if (src === peer && ident === 0x6a6a) got.push(seq, data.length); };
    expect(ip6.ping6(peer, 0x6a6a, 1, 200)).toBe(STATUS_SUCCESS);
    await until(() => got.length === 2, 5000, 'the echo reply');
    expect(got).toEqual([1, 200]);
    ip6.onEchoReply = null;
    ip6.table.release(peer);
  });

  it('RFC 4861 §7.3.3: when the peer\'s address goes, our entry goes DELAY, PROBE, FAILED and onNeighbourUnreachable fires', async () => {
    const ip6 = L.stack.ip6!;
    const peer = ip6.table.intern(parseIpv6(L.peerAddress6!)!, 0);
    const events: string[] = [];
    L.stack.transports.addEvents({ onNeighbourUnreachable: (family, address) => { if (family === NetworkFamily.IPV6) events.push(ip6.table.format(address)); } });
    ip6.ping6(peer, 0x6b6b, 1, 8);
    await until(() => ip6.neighbours.stateOf(peer) === ArpState.REACHABLE, 5000, 'the peer to be REACHABLE');
    await L.peer(`ip -6 addr del ${L.lab.peerAddress6} dev ${L.lab.peerIf}`);
    // Keep sending (bounded: at most 100 requests, 10 s) so the STALE entry is used and probed.
    for (let seq = 2; seq < 100 && events.length === 0; seq++) {
      ip6.ping6(peer, 0x6b6b, seq, 8);
      await until(() => events.length > 0, 100, 'unreachability').catch(() => {});
    }
    expect(events).toEqual([L.peerAddress6]);
    expect(ip6.neighbours.stateOf(peer)).toBe(ArpState.FAILED);
    await L.peer(`ip -6 addr add ${L.lab.peerAddress6} dev ${L.lab.peerIf} nodad`);
    ip6.table.release(peer);
  }, 30_000);
});

describe('IPv6 duplicate address detection against Linux (RFC 4862 §5.4)', () => {
  it('a stack started with the address the Linux peer already has detects it, counts it and does not use it', async () => {
    // A 3 s RetransTimer: Linux's defending advertisement is in long before the verdict, even on a busy machine.
    const L = await openStackLab('afpacket', { ipv6: { addresses: ['fd00:198:18::1/64'], ndp: { retransmitMs: 3000 } } });
    try {
      const ip6 = L.stack.ip6!;
      await until(() => L.stack.counters.ndpDadConflicts > 0 || ip6.addresses.length === 2, 10_000, 'DAD to decide');
      expect(L.stack.counters.ndpDadConflicts).toBe(1);
      expect(ip6.nd.duplicates).toEqual(['fd00:198:18::1']);
      // The link-local address passed; the duplicate is not ours to use.
      await until(() => ip6.addresses.length === 1, 5000, 'the link-local address');
      expect(ip6.table.format(ip6.addresses[0]!)).toMatch(/^fe80::/);
      expect(ip6.isLocal(ip6.table.find(parseIpv6('fd00:198:18::1')!, 0))).toBe(false);
      // Linux kept its address and still answers on it from its own MAC.
      const r = await L.peer('ip -6 addr show dev ' + L.lab.peerIf);
      expect(r.stdout).toContain('fd00:198:18::1/64');
      expect(r.stdout).not.toContain('dadfailed');
    } finally {
      await L.close();
    }
  }, 60_000);
});

describe('IPv6 through the libpcap link (the same compiled filter lets IPv6 in)', () => {
  it('Linux ping -6 to the stack on a pcap link gets its replies', async () => {
    const L = await openStackLab('pcap', { ipv6: true });
    try {
      await until(() => L.stack.ip6!.addresses.length === 2, 10_000, 'DAD to finish');
      const r = await L.peer(`ping -6 -c 2 -i 0.2 -W 2 ${L.address6}`, 20_000);
      expect(r.stdout, r.stderr).toMatch(/2 packets transmitted, 2 received/);
    } finally {
      await L.close();
    }
  }, 60_000);
});

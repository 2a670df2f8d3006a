import { describe, expect, it } from 'vitest';
import { printFrame } from './print.ts';
import {
  ARP, ARPREPLY, CHAIN6, DATA, ECHO, ECHO6, FRAG1_6, FRAG2_6, FRAGNEEDED, hex, IPOPTS, MLD6, NA6, NS6, PARAMPROB, RA6, SYN, SYNACK, TIMEEX, UDP, VLAN,
} from './fixtures.ts';

describe('print (tcpdump style)', () => {
  it('prints well-formed frames as one line', () => {
    const cases: Array<[string, string]> = [
      [SYNACK, 'IP 198.18.0.1.40007 > 198.18.0.2.5201: Flags [S.], seq 1, ack 2, win 65535, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0'],
      [SYN, 'IP 198.18.0.1.40007 > 198.18.0.2.5201: Flags [S], seq 3735928559, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0'],
      [DATA, 'IP 198.18.0.1.5201 > 198.18.0.2.40007: Flags [P.], seq 100:112, ack 200, win 501, options [nop,nop,TS val 100 ecr 50,nop,nop,sack 2 {1000:2000}{3000:4000}], length 12'],
      [ARP, 'ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 46'],
      [ARPREPLY, 'ARP, Reply 198.18.0.2 is-at 02:00:00:00:00:02, length 28'],
      [ECHO, 'IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 4660, seq 1, length 64'],
      [FRAGNEEDED, 'IP 198.18.0.2 > 198.18.0.1: ICMP 198.18.0.2 unreachable - need to frag (mtu 1400), length 36'],
      [TIMEEX, 'IP 198.18.0.2 > 198.18.0.1: ICMP time exceeded in-transit, length 36'],
      [PARAMPROB, 'IP 198.18.0.2 > 198.18.0.1: ICMP parameter problem - octet 20, length 40'],
      [UDP, 'IP 198.18.0.1.40000 > 198.18.0.2.53: UDP, length 5'],
      [IPOPTS, 'IP 198.18.0.1.40000 > 198.18.0.2.53: UDP, length 2'],
      [VLAN, 'vlan 100, p 3, IP 198.18.0.1.40000 > 198.18.0.2.53: UDP, length 2'],
    ];
    for (const [fx, want] of cases) expect(printFrame(hex(fx))).toBe(want);
  });
  it('prints IPv6, ICMPv6, NDP, MLDv2 and fragments as tcpdump does', () => {
    const cases: Array<[string, string]> = [
      [ECHO6, 'IP6 fe80::ff:fe00:2 > fe80::ff:fe00:1: ICMP6, echo request, id 4660, seq 1, length 16'],
      [NS6, 'IP6 fe80::ff:fe00:2 > ff02::1:ff00:1: ICMP6, neighbor solicitation, who has fe80::ff:fe00:1, length 32'],
      [NA6, 'IP6 fe80::ff:fe00:2 > fe80::ff:fe00:1: ICMP6, neighbor advertisement, tgt is fe80::ff:fe00:2, length 32'],
      [RA6, 'IP6 fe80::1 > ff02::1: ICMP6, router advertisement, length 64'],
      [MLD6, 'IP6 fe80::ff:fe00:1 > ff02::16: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28'],
      [CHAIN6, 'IP6 fd00:198:18::2.40000 > fd00:198:18::1.53: UDP, length 2'],
      [FRAG1_6, 'IP6 fd00:198:18::2 > fd00:198:18::1: frag (0|16+) next-header 17'],
      [FRAG2_6, 'IP6 fd00:198:18::2 > fd00:198:18::1: frag (16|8) next-header 17'],
    ];
    for (const [fx, want] of cases) expect(printFrame(hex(fx))).toBe(want);
    const cut = hex(ECHO6);
    cut[14 + 5] = 200;
    expect(printFrame(cut)).toBe('IP6 [bad ipv6: TRUNCATED], length 56');
  });
  it('prints a frame at an offset inside a slab', () => {
    const f = hex(UDP);
    const slab = new Uint8Array(f.length + 64);
    slab.set(f, 32);
    expect(printFrame(slab, 32, f.length)).toBe('IP 198.18.0.1.40000 > 198.18.0.2.53: UDP, length 5');
  });
  it('prints what failed for malformed frames', () => {
    const b = hex(SYN);
    b[54 + 1] = 0; // MSS option length 0
    expect(printFrame(b)).toBe('IP 198.18.0.1 > 198.18.0.2: [bad tcp: BAD_OPTION], length 40');
    const c = hex(SYN);
    c[14 + 8] = 1; // TTL changed, header checksum stale
    expect(printFrame(c)).toBe('IP [bad ipv4: BAD_CHECKSUM], length 60');
    const d = hex(SYN);
    d[14] = 0x65;
    expect(printFrame(d)).toBe('IP [bad ipv4: BAD_VERSION], length 60');
    expect(printFrame(hex(SYN).subarray(0, 50))).toBe('IP [bad ipv4: TRUNCATED], length 36');
    expect(printFrame(new Uint8Array(5))).toBe('[bad ethernet: TRUNCATED], length 5');
    expect(printFrame(hex(ARP).subarray(0, 30))).toBe('ARP, [bad arp: TRUNCATED], length 16');
    const e = hex(ECHO);
    e[70]! ^= 0xff;
    expect(printFrame(e)).toBe('IP 198.18.0.1 > 198.18.0.2: [bad icmp: BAD_CHECKSUM], length 64');
    const u = hex(UDP);
    u[42]! ^= 1;
    expect(printFrame(u)).toBe('IP 198.18.0.1 > 198.18.0.2: [bad udp: BAD_CHECKSUM], length 13');
    const x = hex(UDP);
    x[12] = 0x88; x[13] = 0xb5; // IEEE local experimental: no printer of its own
    expect(printFrame(x)).toBe('02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 0x88b5, length 47');
    // A short IPv4 packet in an IPv6 frame: the IPv6 printer says what is wrong with it.
    x[12] = 0x86; x[13] = 0xdd;
    expect(printFrame(x)).toBe('IP6 [bad ipv6: TRUNCATED], length 33');
  });
  it('never throws on any truncation of any fixture', () => {
    for (const fx of [SYN, SYNACK, DATA, ARP, ARPREPLY, ECHO, FRAGNEEDED, TIMEEX, UDP, IPOPTS, VLAN]) {
      const b = hex(fx);
      for (let n = 0; n <= b.length; n++) {
        const s = printFrame(b, 0, n);
        expect(typeof s).toBe('string');
        expect(s).not.toContain('printer error');
        if (n < b.length && !(fx === ARP && n >= 42)) expect(s).toMatch(/\[bad /);
      }
    }
  });
});

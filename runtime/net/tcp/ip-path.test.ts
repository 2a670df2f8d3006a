// The path object's contract (ip-path.ts): header lengths, the pseudo-header sum against one
// computed here from the address bytes (RFC 9293 §3.1, RFC 8200 §8.1), MSS = MTU − 40 / − 60,
// and the references it holds on IPv6 address ids.
import { describe, expect, it } from 'vitest';
import { Ipv6AddressTable, parseIpv6 } from '../ipv6/address-table.ts';
import type { NetworkStack } from '../stack.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { parseIpv4 } from '../wire/bytes.ts';
import { IpPath } from './ip-path.ts';

/** Just what a path reads of its stack: framing, interface MTU, IPv4 path MTU, IPv6 table, MTU (a router's, if lower) and path MTU. */
function host(table: Ipv6AddressTable, mtu = 1500, ip6Mtu = mtu): NetworkStack {
  return { ipFraming: false, iface: { mtu }, ip4: { pathMtu: () => mtu }, ip6: { table, mtu: ip6Mtu, pathMtu: () => 1400 } } as unknown as NetworkStack;
}

/** One's-complement sum of 16-bit big-endian words. */
function words(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

describe('IpPath', () => {
  it('IPv4: 20-byte header, the RFC 9293 §3.1 pseudo-header sum, MSS = MTU − 40', () => {
    const path = new IpPath(host(new Ipv6AddressTable()));
    const src = parseIpv4('198.18.0.1') | 0;
    const dst = parseIpv4('198.18.200.254') | 0;
    path.open(NetworkFamily.IPV4, src, dst);
    expect(path.headerLength).toBe(20);
    expect(path.headroom).toBe(14 + 20);
    const expected = words(Uint8Array.of(198, 18, 0, 1, 198, 18, 200, 254, 0, 6, 0, 100));
    expect(fold(path.pseudoSum + 100)).toBe(fold(expected));
    expect(path.mss()).toBe(1460);
    expect(path.announcedMss()).toBe(1460);
    expect(path.flowLabel).toBe(0);
  });

  it('IPv6: 40-byte header, the RFC 8200 §8.1 pseudo-header sum, MSS = MTU − 60 (path MTU from the layer), the flow label kept to 20 bits', () => {
    const table = new Ipv6AddressTable();
    const path = new IpPath(host(table));
    const a = parseIpv6('fd00:198:18::1')!;
    const b = parseIpv6('fe80::ff:fe00:2')!;
    const src = table.intern(a, 0);
    const dst = table.intern(b, 0);
    path.open(NetworkFamily.IPV6, src, dst, 0x1abcde);
    expect(path.headerLength).toBe(40);
    expect(path.headroom).toBe(14 + 40);
    const pseudo = new Uint8Array(40);
    pseudo.set(a, 0);
    pseudo.set(b, 16);
    pseudo[34] = 1; pseudo[35] = 44; // upper-layer length 300
    pseudo[39] = 6;
    expect(fold(path.pseudoSum + 300)).toBe(fold(words(pseudo)));
    expect(path.mss()).toBe(1400 - 60);
    expect(path.announcedMss()).toBe(1440);
    // RFC 4861 §6.3.4: a router's MTU option below the link's is the MTU the SYN's MSS comes from.
    const advertised = new IpPath(host(table, 1500, 1280));
    advertised.open(NetworkFamily.IPV6, src, dst);
    expect(advertised.announcedMss()).toBe(1280 - 60);
    advertised.close();
    expect(path.flowLabel).toBe(0xabcde);
    expect(path.format(dst)).toBe('fe80::ff:fe00:2');
    expect(path.endpointText(dst, 80)).toBe('[fe80::ff:fe00:2]:80');
    path.close();
    table.release(src);
    table.release(dst);
  });

  it('holds its IPv6 ids from open() to close(): released by their last other owner, they stay interned until the path lets go', () => {
    const table = new Ipv6AddressTable();
    const path = new IpPath(host(table));
    const a = parseIpv6('fd00:198:18::1')!;
    const b = parseIpv6('fd00:198:18::2')!;
    const src = table.intern(a, 0);
    const dst = table.intern(b, 0);
    path.open(NetworkFamily.IPV6, src, dst);
    table.release(src);
    table.release(dst);
    expect([table.find(a, 0), table.find(b, 0)]).toEqual([src, dst]);
    path.close();
    path.close(); // once only
    expect([table.find(a, 0), table.find(b, 0), table.size]).toEqual([0, 0, 0]);
  });
});

// Cryptokey routing: longest-prefix match in both families, moves between owners, removal, and the
// address/prefix text forms.
import { describe, expect, it } from 'vitest';
import { AllowedIps } from './allowed-ips.ts';
import { Endpoint } from './endpoint.ts';
import { formatIp, parseIp, parsePrefix } from './ip-address.ts';

function table(entries: [string, string][]): AllowedIps<string> {
  const t = new AllowedIps<string>();
  for (const [prefix, owner] of entries) {
    const p = parsePrefix(prefix)!;
    t.insert(p.family, p.bytes, p.cidr, owner);
  }
  return t;
}
const look = (t: AllowedIps<string>, ip: string): string | null => {
  const p = parseIp(ip)!;
  return t.lookup(p.family, p.bytes, 0);
};

describe('AllowedIps', () => {
  it('picks the longest matching prefix, IPv4 and IPv6 apart', () => {
    const t = table([['0.0.0.0/0', 'default'], ['198.19.0.0/16', 'wide'], ['198.19.4.0/24', 'narrow'], ['198.19.4.7/32', 'host'], ['fd00::/8', 'ula'], ['fd00:198:19::/64', 'lab6']]);
    expect(look(t, '8.8.8.8')).toBe('default');
    expect(look(t, '198.19.9.9')).toBe('wide');
    expect(look(t, '198.19.4.9')).toBe('narrow');
    expect(look(t, '198.19.4.7')).toBe('host');
    expect(look(t, 'fd00:198:19::5')).toBe('lab6');
    expect(look(t, 'fdff::1')).toBe('ula');
    expect(look(t, '2001:db8::1')).toBeNull();
  });

  it('a prefix given to another owner moves; removing an owner removes its prefixes only', () => {
    const t = table([['198.19.0.0/16', 'a'], ['198.19.1.0/24', 'b'], ['fd00::/64', 'a']]);
    const p = parsePrefix('198.19.0.0/16')!;
    t.insert(p.family, p.bytes, p.cidr, 'b');
    expect(look(t, '198.19.9.9')).toBe('b');
    t.removeOwner('b');
    expect(look(t, '198.19.1.1')).toBeNull();
    expect(look(t, 'fd00::1')).toBe('a');
    expect(t.entriesOf('a').map((e) => `${formatIp(e.family, e.bytes)}/${e.cidr}`)).toEqual(['fd00::/64']);
  });

  it('lists an owner\'s prefixes in both families', () => {
    const t = table([['198.19.0.0/16', 'a'], ['10.0.0.1/32', 'a'], ['fd00:198:19::/64', 'a'], ['0.0.0.0/0', 'b']]);
    expect(t.entriesOf('a').map((e) => `${formatIp(e.family, e.bytes)}/${e.cidr}`).sort()).toEqual(['10.0.0.1/32', '198.19.0.0/16', 'fd00:198:19::/64']);
    expect(t.entriesOf('b').map((e) => `${formatIp(e.family, e.bytes)}/${e.cidr}`)).toEqual(['0.0.0.0/0']);
  });
});

describe('addresses and endpoints', () => {
  it('parses and prints IPv4 and IPv6 (RFC 5952 form), and clears host bits of prefixes', () => {
    for (const ip of ['198.19.0.1', 'fd00:198:19::2', '::', '::1', '2001:db8:0:1:1:1:1:1', 'fd00::1:0:0:1']) {
      const p = parseIp(ip)!;
      expect(formatIp(p.family, p.bytes)).toBe(ip);
    }
    expect(formatIp(6, parseIp('::ffff:198.18.0.1')!.bytes)).toBe('::ffff:c612:1');
    expect(parseIp('198.19.0.256')).toBeNull();
    expect(parseIp('fe80::1%eth0')).toBeNull();
    const p = parsePrefix('198.19.5.7/16')!;
    expect(formatIp(p.family, p.bytes)).toBe('198.19.0.0');
    expect(parsePrefix('198.19.0.0/x')).toBeNull();
    expect(parsePrefix('198.19.0.1')!.cidr).toBe(32);
  });

  it('parses endpoints, compares them field by field, copies without sharing', () => {
    const a = Endpoint.parse('198.18.0.1:51820')!;
    const b = Endpoint.parse('[fd00:198:18::1]:51820')!;
    expect(a.toString()).toBe('198.18.0.1:51820');
    expect(b.toString()).toBe('[fd00:198:18::1]:51820');
    expect(Endpoint.parse('198.18.0.1:0')).toBeNull();
    expect(Endpoint.parse('fd00::1:51820')).toBeNull(); // IPv6 needs brackets
    const c = new Endpoint().copyFrom(a);
    expect(c.equals(a)).toBe(true);
    c.port = 1;
    expect(c.equals(a)).toBe(false);
    expect(a.port).toBe(51820);
    expect(a.cookieInput()).toEqual(Uint8Array.of(198, 18, 0, 1, 0xca, 0x6c));
  });
});

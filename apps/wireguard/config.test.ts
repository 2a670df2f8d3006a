// wg-quick configuration files: what wg-quick accepts parses to the same facts, and every mistake
// gets one line that names the file line and says the fix.
import { describe, expect, it } from 'vitest';
import { parseWgQuickConfig, WireGuardConfigError } from './config.ts';
import { formatKey, generatePrivateKey, publicKeyOf } from './crypto/x25519.ts';

const priv = generatePrivateKey();
const pub = publicKeyOf(generatePrivateKey());
const psk = generatePrivateKey();

const errorOf = (text: string): string => {
  try { parseWgQuickConfig(text); } catch (e) { expect(e).toBeInstanceOf(WireGuardConfigError); expect((e as WireGuardConfigError).code).toBe('WG_ERR_CONFIG'); return (e as Error).message; }
  throw new Error('parsed without error');
};

describe('wg-quick configuration', () => {
  it('parses a full file: keys case-insensitive, comments, lists, repeated AllowedIPs, host-side keys listed as ignored', () => {
    const c = parseWgQuickConfig(`
# a comment
[Interface]
PrivateKey = ${formatKey(priv)}
listenport = 51820
Address = 198.19.0.2/24, fd00:198:19::2/64
DNS = 1.1.1.1
MTU = 1380

[Peer]
PublicKey = ${formatKey(pub)}   # trailing comment
PresharedKey = ${formatKey(psk)}
Endpoint = 198.18.0.1:51820
AllowedIPs = 198.19.0.0/24, 198.19.5.7/16
AllowedIPs = fd00:198:19::/64
PersistentKeepalive = 25
`);
    expect(c.privateKey).toEqual(priv);
    expect(c.listenPort).toBe(51820);
    expect(c.mtu).toBe(1380);
    expect(c.addresses).toEqual([{ family: 4, address: '198.19.0.2', cidr: 24 }, { family: 6, address: 'fd00:198:19::2', cidr: 64 }]);
    expect(c.ignored).toEqual(['DNS = 1.1.1.1']);
    expect(c.peers).toHaveLength(1);
    const p = c.peers[0]!;
    expect(p.publicKey).toEqual(pub);
    expect(p.presharedKey).toEqual(psk);
    expect(p.endpoint!.toString()).toBe('198.18.0.1:51820');
    expect(p.allowedIps).toEqual(['198.19.0.0/24', '198.19.0.0/16', 'fd00:198:19::/64']); // host bits cleared, as wg shows them
    expect(p.persistentKeepalive).toBe(25);
  });

  it('takes IPv6 endpoints in brackets and "off" keepalives; a file with no peers is fine', () => {
    const c = parseWgQuickConfig(`[Interface]\nPrivateKey=${formatKey(priv)}\n[Peer]\nPublicKey=${formatKey(pub)}\nEndpoint=[fd00:198:18::1]:51820\nPersistentKeepalive = off\n`);
    expect(c.peers[0]!.endpoint!.toString()).toBe('[fd00:198:18::1]:51820');
    expect(c.peers[0]!.persistentKeepalive).toBe(0);
    expect(parseWgQuickConfig(`[Interface]\nPrivateKey=${formatKey(priv)}\n`).peers).toEqual([]);
  });

  it.each([
    ['[Interface]\nListenPort = 1\n', 'no PrivateKey in [Interface]: add "PrivateKey = <output of wg genkey>"'],
    ['[Interface]\nPrivateKey = abc\n', 'line 2: PrivateKey is not a WireGuard key: use the output of `wg genkey`'],
    ['PrivateKey = x\n', 'line 1: PrivateKey comes before any section: put it under [Interface] or [Peer]'],
    ['[Interface]\nListenPort = 70000\n', 'line 2: ListenPort "70000" is not a port'],
    ['[Interface]\nAddress = 198.19.0.2/33\n', 'line 2: Address "198.19.0.2/33" is not address/cidr'],
    ['[Interface]\nFoo = 1\n', 'line 2: unknown key Foo in [Interface]: the keys are PrivateKey'],
    ['[Interfaces]\n', 'line 1: unknown section [Interfaces]: write [Interface] or [Peer]'],
    ['[Interface]\nPrivateKey\n', 'line 2: "PrivateKey" is not "Key = value"'],
    ['[Interface]\n[Interface]\n', 'line 2: a second [Interface] section'],
  ])('refuses %j with one line that says the fix', (text, message) => {
    const m = errorOf(text);
    expect(m).toContain(message);
    expect(m).not.toContain('\n');
  });

  it.each([
    ['Endpoint = vpn.example.com:51820', 'line 5: Endpoint "vpn.example.com:51820" is not address:port: write a literal address'],
    ['Endpoint = 198.18.0.1', 'is not address:port'],
    ['AllowedIPs = 198.19.0.0/40', 'line 5: AllowedIPs "198.19.0.0/40" is not address/cidr'],
    ['PersistentKeepalive = soon', 'line 5: PersistentKeepalive "soon" is not a number of seconds'],
    ['PresharedKey = short', 'line 5: PresharedKey is not a WireGuard key'],
    ['Bogus = 1', 'line 5: unknown key Bogus in [Peer]'],
  ])('refuses a peer with %j', (line, message) => {
    expect(errorOf(`[Interface]\nPrivateKey = ${formatKey(priv)}\n[Peer]\nPublicKey = ${formatKey(pub)}\n${line}\n`)).toContain(message);
  });

  it('refuses a [Peer] without PublicKey and a peer listed twice', () => {
    expect(errorOf(`[Interface]\nPrivateKey = ${formatKey(priv)}\n[Peer]\nAllowedIPs = 198.19.0.0/24\n[Peer]\nPublicKey = ${formatKey(pub)}\n`))
      .toContain('line 5: this [Peer] has no PublicKey');
    expect(errorOf(`[Interface]\nPrivateKey = ${formatKey(priv)}\n[Peer]\nPublicKey = ${formatKey(pub)}\n[Peer]\nPublicKey = ${formatKey(pub)}\n`))
      .toContain('appears twice: merge the two [Peer] sections');
  });
});

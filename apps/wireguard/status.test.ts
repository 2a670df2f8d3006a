// The `wg show`-like status and building a device from a wg-quick file.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { WireGuardDevice, WireGuardError, deviceFromConfig, describeDevice, formatKey, generatePrivateKey, parseWgQuickConfig, publicKeyOf } from './index.ts';

describe('status and configuration together', () => {
  it('builds a device from a wg-quick file and describes it in wg show\'s words', () => {
    const ours = generatePrivateKey();
    const theirs = publicKeyOf(generatePrivateKey());
    const config = parseWgQuickConfig(`[Interface]\nPrivateKey = ${formatKey(ours)}\nListenPort = 51820\nMTU = 1380\n\n[Peer]\nPublicKey = ${formatKey(theirs)}\n`
      + 'Endpoint = 198.18.0.1:51820\nAllowedIPs = 198.19.0.0/24, fd00:198:19::/64\nPersistentKeepalive = 25\n');
    const clock = new VirtualClock();
    const sent: number[] = [];
    const device = deviceFromConfig(config, { clock, sendDatagram: (_to, _b, _o, len) => { sent.push(len); }, deliverPacket: () => {}, wallClockMs: () => 1e12 + clock.now() });
    expect(device.mtu).toBe(1380);
    expect(sent).toEqual([148]); // the persistent keepalive started a handshake at once
    clock.runFor(65_000);
    const text = describeDevice(device, 'wg0', config.listenPort);
    expect(text).toBe([
      'interface: wg0',
      `  public key: ${formatKey(publicKeyOf(ours))}`,
      '  private key: (hidden)',
      '  listening port: 51820',
      '',
      `peer: ${formatKey(theirs)}`,
      '  endpoint: 198.18.0.1:51820',
      '  allowed ips: 198.19.0.0/24, fd00:198:19::/64',
      `  transfer: 0 B received, ${(sent.reduce((a, b) => a + b, 0) / 1024).toFixed(2)} KiB sent`,
      '  persistent keepalive: every 25 seconds',
    ].join('\n'));
    device.close();
  });
  it('refuses misuse with typed errors that say the fix', () => {
    const clock = new VirtualClock();
    const codeOf = (fn: () => unknown): string => { try { fn(); } catch (e) { expect(e).toBeInstanceOf(WireGuardError); return (e as WireGuardError).code; } return 'none'; };
    const host = { clock, sendDatagram: () => {}, deliverPacket: () => {} };
    expect(codeOf(() => new WireGuardDevice({ ...host, privateKey: new Uint8Array(31) }))).toBe('WG_ERR_KEY');
    const device = new WireGuardDevice({ ...host, privateKey: generatePrivateKey() });
    const publicKey = publicKeyOf(generatePrivateKey());
    expect(codeOf(() => device.addPeer({ publicKey: publicKey.subarray(1) }))).toBe('WG_ERR_KEY');
    expect(codeOf(() => device.addPeer({ publicKey, allowedIps: ['198.19.0.0/99'] }))).toBe('WG_ERR_ALLOWED_IPS');
    expect([...device.peers]).toEqual([]); // nothing half-added
    device.addPeer({ publicKey });
    expect(codeOf(() => device.addPeer({ publicKey }))).toBe('WG_ERR_PEER_EXISTS');
    device.close();
  });
});

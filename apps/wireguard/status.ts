// A `wg show`-like description of a device (what `wsk stats` will print for a WireGuard app):
// the interface's public key and port, then per peer its endpoint, allowed IPs, latest handshake,
// transfer and persistent keepalive, in wg(8)'s wording.
import { formatKey } from './crypto/x25519.ts';
import { formatIp } from './ip-address.ts';
import type { WireGuardDevice } from './device.ts';

function ago(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]] as const) {
    const n = Math.floor(s / size);
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
    s -= n * size;
  }
  if (s > 0 || parts.length === 0) parts.push(`${s} second${s === 1 ? '' : 's'}`);
  return `${parts.join(', ')} ago`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

export function describeDevice(device: WireGuardDevice, name = 'wg0', listenPort: number | null = null): string {
  const lines = [`interface: ${name}`, `  public key: ${formatKey(device.publicKey)}`, '  private key: (hidden)'];
  if (listenPort !== null) lines.push(`  listening port: ${listenPort}`);
  const now = device.wallClockMs();
  for (const peer of device.peers) {
    lines.push('', `peer: ${formatKey(peer.publicKey)}`);
    if (peer.hasEndpoint) lines.push(`  endpoint: ${peer.endpoint.toString()}`);
    const ips = device.allowedIps.entriesOf(peer).map((e) => `${formatIp(e.family, e.bytes)}/${e.cidr}`);
    lines.push(`  allowed ips: ${ips.length > 0 ? ips.join(', ') : '(none)'}`);
    if (peer.stats.lastHandshakeWallMs > 0) lines.push(`  latest handshake: ${ago(now - peer.stats.lastHandshakeWallMs)}`);
    if (peer.stats.rxBytes > 0 || peer.stats.txBytes > 0) lines.push(`  transfer: ${bytes(peer.stats.rxBytes)} received, ${bytes(peer.stats.txBytes)} sent`);
    if (peer.timers.persistentKeepaliveMs > 0) lines.push(`  persistent keepalive: every ${peer.timers.persistentKeepaliveMs / 1000} seconds`);
  }
  return lines.join('\n');
}

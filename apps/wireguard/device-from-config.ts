// A WireGuardDevice from a parsed wg-quick file: its key, MTU and peers; the transport and tunnel
// callbacks (and the clock) are the caller's.
import type { Clock } from '../../runtime/net/clock.ts';
import type { WgQuickConfig } from './config.ts';
import { WireGuardDevice, type WireGuardDeviceOptions } from './device.ts';

export function deviceFromConfig(
  config: WgQuickConfig,
  host: { clock: Clock } & Pick<WireGuardDeviceOptions, 'sendDatagram' | 'deliverPacket'> & Partial<WireGuardDeviceOptions>,
): WireGuardDevice {
  const device = new WireGuardDevice({ ...host, privateKey: config.privateKey, mtu: config.mtu ?? host.mtu });
  for (const p of config.peers) device.addPeer(p);
  return device;
}

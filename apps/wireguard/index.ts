// WireGuard's protocol core, transport-neutral (see README.md): a device that takes UDP payloads
// and inner IP packets and calls back to send datagrams and deliver packets, driven by an
// injected clock. The WSK driver part (datagram sockets, the tunnel link, `wsk run wireguard`)
// builds on this surface.
import type { Clock } from '../../runtime/net/clock.ts';
import { WireGuardDevice, type WireGuardDeviceOptions } from './device.ts';
import type { WgQuickConfig } from './config.ts';

export { WireGuardDevice, type WireGuardDeviceOptions, type PeerOptions, type DeviceStats } from './device.ts';
export type { Peer, PeerStats } from './peer.ts';
export { Endpoint } from './endpoint.ts';
export { parseWgQuickConfig, WireGuardConfigError, type WgQuickConfig, type InterfaceAddress } from './config.ts';
export { WireGuardError, type WireGuardErrorCode } from './errors.ts';
export { describeDevice } from './status.ts';
export { generatePrivateKey, publicKeyOf, parseKey, formatKey } from './crypto/x25519.ts';
export { nodeChaChaPoly, type ChaChaPoly } from './crypto/aead.ts';
export { parseIp, formatIp, parsePrefix, type IpFamily } from './ip-address.ts';

/** A device with the interface key, MTU and peers of a wg-quick file (the transport and tunnel callbacks are the caller's). */
export function deviceFromConfig(
  config: WgQuickConfig,
  host: { clock: Clock } & Pick<WireGuardDeviceOptions, 'sendDatagram' | 'deliverPacket'> & Partial<WireGuardDeviceOptions>,
): WireGuardDevice {
  const device = new WireGuardDevice({ ...host, privateKey: config.privateKey, mtu: config.mtu ?? host.mtu });
  for (const p of config.peers) device.addPeer(p);
  return device;
}

// WireGuard on WSK (package subpath wsk-runtime/apps/wireguard; see README.md): startWireGuardWsk
// puts an interface together from a wg-quick file — the outer WSK datagram sockets, the protocol
// core, and the tunnel as a link under a second userspace stack whose WSK subsystem runs apps
// inside the tunnel. The parts are exported too: the transport-neutral device (UDP payloads and
// inner IP packets in, callbacks out, an injected clock), the WSK sockets and the tunnel link.
import type { Clock } from '../../runtime/net/clock.ts';
import { WireGuardDevice, type WireGuardDeviceOptions } from './device.ts';
import type { WgQuickConfig } from './config.ts';

export { WireGuardDevice, type WireGuardDeviceOptions, type PeerOptions, type DeviceStats } from './device.ts';
export type { Peer, PeerStats } from './peer.ts';
export { Endpoint } from './endpoint.ts';
export { parseWgQuickConfig, WireGuardConfigError, type WgQuickConfig, type InterfaceAddress } from './config.ts';
export { WireGuardError, type WireGuardErrorCode } from './errors.ts';
export { describeDevice } from './status.ts';
export { startWireGuardWsk, innerAddress, type WireGuardWsk, type WireGuardWskOptions } from './wireguard-wsk.ts';
export { WireGuardSockets, type WireGuardSocketsOptions } from './wsk-sockets.ts';
export type { ReceiveStats, DatagramReceiver } from './receive-queue.ts';
export type { SendStats } from './send-batches.ts';
export { TunnelLink, type TunnelLinkOptions } from './tunnel-link.ts';
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

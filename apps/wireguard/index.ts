// WireGuard on WSK (package subpath wsk-runtime/apps/wireguard; see README.md): startWireGuardWsk
// puts an interface together from a wg-quick file — the outer WSK datagram sockets, the protocol
// core, and the tunnel as a link under a second userspace stack whose WSK subsystem runs apps
// inside the tunnel. The parts are exported too: the transport-neutral device (UDP payloads and
// inner IP packets in, callbacks out, an injected clock), the WSK sockets and the tunnel link.
export { WireGuardDevice, type WireGuardDeviceOptions, type PeerOptions, type DeviceStats } from './device.ts';
export type { Peer, PeerStats } from './peer.ts';
export { Endpoint } from './endpoint.ts';
export { parseWgQuickConfig, WireGuardConfigError, type WgQuickConfig, type InterfaceAddress } from './config.ts';
export { WireGuardError, type WireGuardErrorCode } from './errors.ts';
export { describeDevice } from './status.ts';
export { deviceFromConfig } from './device-from-config.ts';
export { startWireGuardWsk, innerAddress, innerAddresses6, type WireGuardWsk, type WireGuardWskOptions } from './wireguard-wsk.ts';
export { startWireGuardTun, type WireGuardTun, type WireGuardTunOptions } from './wireguard-tun.ts';
export { WireGuardSockets, type WireGuardSocketsOptions } from './wsk-sockets.ts';
export type { ReceiveStats, DatagramReceiver } from './receive-queue.ts';
export type { SendStats } from './send-batches.ts';
export { TunnelLink, type TunnelLinkOptions } from './tunnel-link.ts';
export { generatePrivateKey, publicKeyOf, parseKey, formatKey } from './crypto/x25519.ts';
export { nodeChaChaPoly, type ChaChaPoly } from './crypto/aead.ts';
export { parseIp, formatIp, parsePrefix, type IpFamily } from './ip-address.ts';

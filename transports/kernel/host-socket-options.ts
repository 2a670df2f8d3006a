// IP_TTL, IP_TOS, IPV6_UNICAST_HOPS, IPV6_TCLASS and SO_SNDBUF on the kernel provider's TCP
// sockets. node:net has no call for them, so they are set on the socket's descriptor through the wsk_udp addon
// (setFdInt). A listener's values are inherited by the connections the host accepts on it (Linux
// copies them into each accepted socket, as Windows does). A connect's values are set once the
// connection is up: node:net creates the descriptor and sends the SYN in one step, so the SYN
// itself carries the host's defaults.
import type { Server, Socket } from 'node:net';
import { ProviderError, SEND_BUFFER, SEND_HOP_LIMIT, SEND_TCLASS, SEND_TOS, SEND_TTL } from '../../runtime/provider.ts';
import { STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED } from '../../runtime/ntstatus.ts';
import { providerError } from './kernel-address.ts';
import { LINUX, loadUdpAddon, udpAddonError } from './udp-socket.ts';

/** Linux's (level, name) for a SEND_* option of a TCP socket. */
function linuxOption(option: number): [number, number] | null {
  switch (option) {
    case SEND_TTL: return [LINUX.IPPROTO_IP, LINUX.IP_TTL];
    case SEND_TOS: return [LINUX.IPPROTO_IP, LINUX.IP_TOS];
    case SEND_HOP_LIMIT: return [LINUX.IPPROTO_IPV6, LINUX.IPV6_UNICAST_HOPS];
    case SEND_TCLASS: return [LINUX.IPPROTO_IPV6, LINUX.IPV6_TCLASS];
    case SEND_BUFFER: return [LINUX.SOL_SOCKET, LINUX.SO_SNDBUF];
    default: return null;
  }
}

/** Sets one SEND_* option on a node:net socket or server; throws ProviderError. */
export function setHostSocketOption(owner: Socket | Server, option: number, value: number): void {
  const o = linuxOption(option);
  if (!o) throw new ProviderError(STATUS_INVALID_PARAMETER, `send option ${option} on a TCP socket`);
  const addon = loadUdpAddon();
  if (!addon) throw new ProviderError(STATUS_NOT_SUPPORTED, `socket options on TCP sockets: ${udpAddonError()}`);
  // Node's handle keeps the descriptor (Linux); a socket that is gone has none.
  const fd = (owner as unknown as { _handle?: { fd?: number } | null })._handle?.fd ?? -1;
  if (fd < 0) throw new ProviderError(STATUS_INVALID_DEVICE_STATE, 'socket option: the socket is closed');
  try {
    addon.setFdInt(fd, o[0], o[1], value);
  } catch (err) {
    throw providerError(err, `setsockopt ${o[0]}/${o[1]}`);
  }
}

/** Sets each (option, value) pair a connect or listen carried. */
export function setHostSocketOptions(owner: Socket | Server, pairs: readonly (readonly [number, number])[] | undefined): void {
  for (const [option, value] of pairs ?? []) setHostSocketOption(owner, option, value);
}

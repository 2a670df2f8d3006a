// A WireGuard interface on WSK whose tunnel ends in the host's own stack: the outer sockets and
// the protocol core as in wireguard-wsk.ts, and a TUN device (transports/tun) where the inner
// userspace stack would be. What the host routes into the device is sealed and sent to the peer
// whose AllowedIPs hold its destination; what the peers send is written to the device. The
// device is configured as wg-quick configures a wireguard-go device: its Addresses and MTU, up.
// Routes beyond the Addresses' prefixes (AllowedIPs elsewhere) are left to the user, as without
// wg-quick: a default route through the tunnel is a policy decision this does not make.
import { execFileSync } from 'node:child_process';
import { RealClock } from '../../runtime/net/clock.ts';
import { TunDevice } from '../../transports/tun/tun-device.ts';
import type { WireGuardDevice } from './device.ts';
import { describeDevice } from './status.ts';
import { innerAddresses6, innerAddress, openWireGuardDevice, type WireGuardWskOptions } from './wireguard-wsk.ts';
import type { WireGuardSockets } from './wsk-sockets.ts';

export interface WireGuardTunOptions extends Omit<WireGuardWskOptions, 'name'> {
  /** The TUN device's name (default wg0). */
  ifname?: string;
}

export interface WireGuardTun {
  readonly device: WireGuardDevice;
  readonly sockets: WireGuardSockets;
  readonly tun: TunDevice;
  /** The addresses given to the device, with their prefixes. */
  readonly addresses: readonly string[];
  readonly port: number;
  describe(): string;
  /** Stops the device's timers, deletes the TUN device (closing it does), then closes the outer sockets. */
  stop(): Promise<void>;
}

export async function startWireGuardTun(options: WireGuardTunOptions): Promise<WireGuardTun> {
  const { config } = options;
  const addresses = [innerAddress(config), ...innerAddresses6(config)];
  const tun = TunDevice.open(options.ifname ?? 'wg0');
  let opened: Awaited<ReturnType<typeof openWireGuardDevice>>;
  try {
    opened = await openWireGuardDevice(options, options.clock ?? new RealClock(), (bytes, offset, length) => { tun.write(bytes, offset, length); });
  } catch (err) {
    tun.close();
    throw err;
  }
  const { sockets, device } = opened;
  tun.onPacket = (bytes, offset, length) => { device.sendPacket(bytes, offset, length); };
  try {
    const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }); };
    ip('link', 'set', 'dev', tun.name, 'mtu', String(device.mtu));
    // No duplicate address detection on a point-to-point device (nodad), as for Linux's wg device.
    for (const a of addresses) ip('address', 'add', a, 'dev', tun.name, ...(a.includes(':') ? ['nodad'] : []));
    ip('link', 'set', 'dev', tun.name, 'up');
  } catch (err) {
    device.close();
    tun.close();
    await sockets.close();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`configuring TUN device ${tun.name} with ip(8) failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
  return {
    device, sockets, tun, addresses, port: sockets.port,
    describe: () => describeDevice(device, tun.name, sockets.port),
    stop: async () => {
      device.close();
      tun.close();
      await sockets.close();
    },
  };
}

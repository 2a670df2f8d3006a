// A WireGuard interface on WSK, put together from a wg-quick file: the outer UDP sockets on the
// outer WSK subsystem (wsk-sockets.ts), the protocol core (device.ts), and the tunnel as an
// IP-framed link (tunnel-link.ts) under a second userspace stack at the file's Address, started
// as its own WSK subsystem. Any WSK app given `inner` runs inside the tunnel.
//
// Data path, one receive batch: WskReceiveFromEvent retains the datagrams → each is decrypted in
// place by the device → its inner packet is copied into a tunnel-link slot → the batch goes up
// the inner stack → what the stack sends back is sealed by the device into the send batches →
// one WskSendMessages per peer. No step allocates per packet (the WSK layer's own bookkeeping
// aside).
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import { createUserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { createStackProvider, type StackProvider } from '../../runtime/net/stack-provider.ts';
import { startWskSubsystem, type WskSubsystem } from '../../runtime/wsk/subsystem.ts';
import type { WgQuickConfig } from './config.ts';
import { WireGuardConfigError } from './config.ts';
import type { WireGuardDevice } from './device.ts';
import { deviceFromConfig } from './device-from-config.ts';
import { describeDevice } from './status.ts';
import { TunnelLink } from './tunnel-link.ts';
import { WireGuardSockets } from './wsk-sockets.ts';

export interface WireGuardWskOptions {
  config: WgQuickConfig;
  /** The outer network's WSK subsystem (default: the process's default one). */
  outer?: WskSubsystem;
  /** Interface name for status and logs (default wg0). */
  name?: string;
  /** Bind the outer IPv4 socket to this address (default 0.0.0.0). */
  bindAddress4?: string;
  log?: (line: string) => void;
  clock?: Clock;
}

export interface WireGuardWsk {
  readonly name: string;
  readonly device: WireGuardDevice;
  readonly sockets: WireGuardSockets;
  readonly tunnel: TunnelLink;
  readonly innerStack: NetworkStack;
  readonly innerProvider: StackProvider;
  /** The inner stack's WSK subsystem: apps given it run inside the tunnel. */
  readonly inner: WskSubsystem;
  /** The inner IPv4 address/prefix, e.g. 198.19.0.2/24. */
  readonly address: string;
  /** The inner IPv6 addresses/prefixes from the file (e.g. fd00:198:19::2/64); empty without one. */
  readonly addresses6: readonly string[];
  /** The outer port (ListenPort, or the one the provider chose). */
  readonly port: number;
  /** `wg show`'s text for this interface. */
  describe(): string;
  /** Stops the inner subsystem (and stack), the device's timers, then the outer sockets. */
  stop(): Promise<void>;
}

/** The inner stack's IPv4 address from the file: its first IPv4 Address (the inner stack needs one). */
export function innerAddress(config: WgQuickConfig): string {
  const a = config.addresses.find((x) => x.family === 4);
  if (!a) {
    throw new WireGuardConfigError(config.addresses.length === 0
      ? 'the [Interface] has no Address: add "Address = <tunnel address>/<prefix>", e.g. Address = 198.19.0.2/24'
      : 'the [Interface] has only IPv6 Addresses and the inner stack needs an IPv4 one too: add it, e.g. "Address = 198.19.0.2/24, fd00:198:19::2/64"');
  }
  return `${a.address}/${a.cidr}`;
}

/** The inner stack's IPv6 addresses from the file (every IPv6 Address, with its prefix). */
export function innerAddresses6(config: WgQuickConfig): string[] {
  return config.addresses.filter((x) => x.family === 6).map((a) => `${a.address}/${a.cidr}`);
}

/**
 * The outer sockets and the protocol core of a wg-quick file's interface, joined: what arrives on
 * the sockets goes to the device, each decrypted inner packet to `deliver` (lent for the call; the
 * device must not be re-entered from it). The tunnel's far side is the caller's: an inner stack
 * (startWireGuardWsk) or the host's through a TUN device (wireguard-tun.ts).
 */
export async function openWireGuardDevice(options: Omit<WireGuardWskOptions, 'name' | 'clock'>, clock: Clock,
  deliver: (bytes: Uint8Array, offset: number, length: number) => void): Promise<{ sockets: WireGuardSockets; device: WireGuardDevice }> {
  const { config } = options;
  const sockets = await WireGuardSockets.open({ subsystem: options.outer, listenPort: config.listenPort, bindAddress4: options.bindAddress4, log: options.log });
  try {
    // The device's peers may send at once (a persistent keepalive); nothing arrives before the receiver is set below.
    const device = deviceFromConfig(config, {
      clock,
      sendDatagram: (to, bytes, offset, length) => sockets.sendDatagram(to, bytes, offset, length),
      deliverPacket: (_peer, bytes, offset, length) => deliver(bytes, offset, length),
    });
    sockets.receiver = (bytes, offset, length, from) => device.receiveDatagram(bytes, offset, length, from);
    return { sockets, device };
  } catch (err) {
    await sockets.close();
    throw err;
  }
}

export async function startWireGuardWsk(options: WireGuardWskOptions): Promise<WireGuardWsk> {
  const { config } = options;
  const name = options.name ?? 'wg0';
  const address = innerAddress(config);
  const addresses6 = innerAddresses6(config);
  const clock = options.clock ?? new RealClock();
  const { sockets, device } = await openWireGuardDevice(options, clock, (bytes, offset, length) => tunnel.deliver(bytes, offset, length));
  const tunnel = new TunnelLink({ mtu: device.mtu, clock, name, sendPacket: (bytes, offset, length) => device.sendPacket(bytes, offset, length) });
  sockets.onReceiveBatchEnd = () => tunnel.flush();
  try {
    // IPv6 on the point-to-point tunnel: no link-local address, DAD, router solicitation or MLD
    // (the IP-framed link has no NDP, like Linux's wg device), and no router advertisements to take.
    const ipv6 = addresses6.length > 0 ? { addresses: addresses6, acceptRouterAdvertisements: false, dadTransmits: 0 } : undefined;
    const userspace = createUserspaceStack(tunnel, { address, gratuitousArp: false, ipv6 });
    const innerStack = userspace.ip;
    const innerProvider = createStackProvider(userspace);
    const inner = await startWskSubsystem(innerProvider, { name: `wireguard ${name}`, makeDefault: false });
    return {
      name, device, sockets, tunnel, innerStack, innerProvider, inner, address, addresses6, port: sockets.port,
      describe: () => describeDevice(device, name, sockets.port),
      stop: async () => {
        await inner.stop();
        device.close();
        await sockets.close();
      },
    };
  } catch (err) {
    device.close();
    await sockets.close();
    throw err;
  }
}

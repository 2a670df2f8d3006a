// The composition root of the userspace stack: one call builds the network layer and its
// transports on a link device, from plain data. The CLI, the labs, the benches and the tests all
// build stacks here, so a new layer (IPv6, raw sockets) is wired once.
//
// Contract:
// - `config` is plain, structured-cloneable data (strings, numbers, booleans, arrays, plain
//   objects): what a worker thread can be sent to build the same stack on its side. Nothing in it
//   is a function or a class instance; createUserspaceStack neither keeps nor changes it.
// - `link` is the one handle: the device the stack attaches to (its clock is the stack's clock).
//   The stack owns the device from then on: close() closes both.
// - A refused config throws WskUsageError ('NET_CONFIG' from config.ts, 'TCP_CONGESTION' from
//   congestion.ts) naming what to write instead; nothing is attached to or sent on the device.
import type { LinkDevice } from './device.ts';
import { NetworkStack, type StackOptions } from './stack.ts';
import { DEFAULT_TCP_OPTIONS, TcpEngine, type TcpEntropy, type TcpOptionsConfig } from './tcp/tcp-engine.ts';
import { createCongestionControl } from './tcp/congestion.ts';
import { Xoshiro128 } from './prng.ts';
import { Udp6 } from './udp6.ts';

export interface UserspaceStackConfig extends StackOptions {
  /** TCP settings (congestion control, buffers, TIME-WAIT, ...); false for a stack without TCP (datagrams only). Default: TCP with its defaults. */
  tcp?: Partial<TcpOptionsConfig> | false;
  /**
   * Seeds TCP's random inputs (timestamp offset, first ephemeral port, ISN secret) and MLD's
   * report delays so that a simulation replays exactly; omitted, they come from Math.random and node:crypto. Never for
   * a stack on a real network: seeded ISNs are predictable (RFC 6528).
   */
  seed?: number;
}

export interface UserspaceStack {
  /** The network layer: the interface (ip.nic), IPv4 with ARP and ICMP (ip.ip4, ip.arp, ip.icmp), IPv6 (ip.ip6), UDP over IPv4 (ip.udp4). */
  readonly ip: NetworkStack;
  /** TCP, unless config.tcp was false. */
  readonly tcp: TcpEngine | null;
  /** UDP over IPv6 (udp6.ts), when the interface has IPv6 (config.ipv6). */
  readonly udp6: Udp6 | null;
  /** Aborts TCP's connections, stops the network layer and closes the link device. */
  close(): void;
}

export function createUserspaceStack(link: LinkDevice, config: UserspaceStackConfig): UserspaceStack {
  const { tcp: tcpConfig, seed, ...ipConfig } = config;
  // Checked before the network layer attaches (and announces itself): an unknown name fails here, with the list.
  if (tcpConfig !== false) createCongestionControl(tcpConfig?.congestionControl ?? DEFAULT_TCP_OPTIONS.congestionControl, 1460);
  // The same seed makes MLD's report delays (ipv6/mld.ts) replay too; another stream than TCP's.
  const ip = new NetworkStack(link, seed === undefined || !ipConfig.ipv6 ? ipConfig : { ...ipConfig, ipv6: { ...ipConfig.ipv6, seed: seed ^ 0x6d6c64 } });
  const tcp = tcpConfig === false ? null : new TcpEngine(ip, tcpConfig ?? {}, seed === undefined ? undefined : seededEntropy(seed));
  const udp6 = ip.ip6 ? new Udp6(ip, ip.ip6) : null;
  return {
    ip, tcp, udp6,
    close: () => {
      tcp?.closeAll();
      ip.close();
      link.close();
    },
  };
}

/** The random inputs drawn from one seeded stream, in the order the engine asks for them. */
function seededEntropy(seed: number): TcpEntropy {
  const rng = new Xoshiro128(seed);
  return {
    random: () => rng.next(),
    isnKey: () => {
      const key = new Uint8Array(16);
      for (let i = 0; i < 16; i++) key[i] = rng.nextU32() & 0xff;
      return key;
    },
  };
}

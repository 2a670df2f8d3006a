// Interface configuration of a userspace stack: address/prefix, gateway, MTU. Parsed once at
// start; every error says what to write instead.
import { WskUsageError } from '../errors.ts';
import { parseIpv4 } from './wire/bytes.ts';

export interface InterfaceConfig {
  /** "a.b.c.d/nn" (the prefix defaults to /24 when omitted). */
  address: string;
  /** Next hop for destinations outside the prefix; none means "on-link only". */
  gateway?: string;
  /** Defaults to the device MTU; may only lower it. */
  mtu?: number;
  /**
   * More addresses on the same interface and subnet ("a.b.c.d"), as `ip addr add` gives a Linux
   * host: the stack answers ARP and takes packets for each, and a datagram socket may be bound to
   * one or send from it (IN_PKTINFO). The first address stays the default source.
   */
  secondary?: string[];
  /** IPv6 on the interface (runtime/net/ipv6/); absent: the stack speaks IPv4 only and sends nothing of IPv6. */
  ipv6?: Ipv6InterfaceConfig;
}

export interface Ipv6InterfaceConfig {
  /**
   * Addresses with their prefix, as `ip -6 addr add` takes them ("fd00:198:18::2/64"). The
   * interface always has its link-local address too (fe80::/64 from the MAC, RFC 4862 §5.3).
   */
  addresses?: string[];
  /** A default router (its link-local or an on-link address); router advertisements may add one. */
  gateway?: string;
  /** Learn prefixes (SLAAC) and default routers from router advertisements (RFC 4862). Default true. */
  acceptRouterAdvertisements?: boolean;
  /** Neighbour solicitations sent for duplicate address detection (RFC 4862 DupAddrDetectTransmits); 0: none. Default 1. */
  dadTransmits?: number;
}

/** Addresses are signed 32-bit integers (`| 0`): small integers in V8, so the hot path never boxes them. */
export interface ParsedInterface {
  address: number;
  prefixLength: number;
  netmask: number;
  network: number;
  broadcast: number;
  gateway: number;
  mtu: number;
  /** InterfaceConfig.secondary, parsed (signed 32-bit integers). */
  secondary: number[];
}

export function parseInterface(cfg: InterfaceConfig, deviceMtu: number): ParsedInterface {
  const [addrText, prefixText] = cfg.address.split('/');
  const address = parseIpv4(addrText ?? '');
  if (address < 0 || address === 0) {
    throw new WskUsageError('NET_CONFIG', `Interface address "${cfg.address}" is not an IPv4 address; write it as a.b.c.d/nn, e.g. 198.18.0.1/24.`);
  }
  const prefixLength = prefixText === undefined ? 24 : Number(prefixText);
  if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 32) {
    throw new WskUsageError('NET_CONFIG', `Prefix length "/${prefixText}" in "${cfg.address}" must be an integer from 1 to 32.`);
  }
  const netmask = prefixLength === 32 ? 0xffffffff : (~((1 << (32 - prefixLength)) - 1)) >>> 0;
  const network = (address & netmask) >>> 0;
  const broadcast = (network | ~netmask) >>> 0;
  let gateway = 0;
  if (cfg.gateway !== undefined) {
    gateway = parseIpv4(cfg.gateway);
    if (gateway <= 0) throw new WskUsageError('NET_CONFIG', `Gateway "${cfg.gateway}" is not an IPv4 address; write it as a.b.c.d.`);
    if (((gateway & netmask) >>> 0) !== network) {
      throw new WskUsageError('NET_CONFIG', `Gateway ${cfg.gateway} is not inside ${cfg.address}; pick a gateway on the interface's subnet.`);
    }
  }
  const mtu = cfg.mtu ?? deviceMtu;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > deviceMtu) {
    throw new WskUsageError('NET_CONFIG', `MTU ${cfg.mtu} must be an integer from 576 to the device MTU ${deviceMtu}.`);
  }
  const secondary: number[] = [];
  for (const text of cfg.secondary ?? []) {
    const a = parseIpv4(text);
    if (a <= 0 || ((a & netmask) >>> 0) !== network || a === address || a === broadcast) {
      throw new WskUsageError('NET_CONFIG', `Secondary address "${text}" must be another unicast address inside ${cfg.address}, written a.b.c.d.`);
    }
    if (!secondary.includes(a | 0)) secondary.push(a | 0);
  }
  return { address: address | 0, prefixLength, netmask: netmask | 0, network: network | 0, broadcast: broadcast | 0, gateway: gateway | 0, mtu, secondary };
}

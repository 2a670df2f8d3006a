// What a userspace stack takes from the wire, as plain data: the stack decides it from its
// interface configuration; a link that can drop frames before they reach its ring (AF_PACKET and
// libpcap: classic BPF, transports/afpacket/bpf.ts) compiles it; a link that cannot ignores it,
// and the stack drops foreign frames itself (counted). The link is opened before the stack, so
// the filter comes from the same config the stack will be built from (userspace-stack.ts).
import { WskUsageError } from '../errors.ts';
import { parseInterface, type InterfaceConfig } from './config.ts';
import { EtherType } from './wire/ethernet.ts';

export interface ReceiveFilter {
  /** EtherTypes taken whole besides IPv4 (ARP; IPv6 once the stack speaks it). */
  etherTypes: number[];
  /** IPv4 destinations taken (unsigned 32-bit), at most MAX_FILTER_DESTINATIONS; empty: every IPv4 packet. */
  ipv4Destinations: number[];
  /** IPv4 multicast (224.0.0.0/4) taken too: the stack keeps the groups its sockets joined. */
  ipv4Multicast: boolean;
}

/** What one classic BPF program of the links compares against, one instruction each. */
export const MAX_FILTER_DESTINATIONS = 16;

/**
 * The frames a stack built from `config` takes: ARP, and IPv4 to its addresses (secondary ones
 * too), its subnet broadcast (none on a /31 or /32: RFC 3021) and the limited broadcast; with
 * `multicast`, IPv4 multicast as well (for sockets that join groups). With `config.ipv6`, every
 * IPv6 frame (EtherType 0x86DD): its unicast addresses, its solicited-node and all-nodes groups
 * (neighbour discovery) and addresses SLAAC may add later; the IPv6 layer drops the rest, counted.
 */
export function receiveFilterFor(config: InterfaceConfig, multicast = false): ReceiveFilter {
  // The device MTU is not known yet: only the addresses matter here, the stack checks the MTU.
  const iface = parseInterface(config, 65535);
  const destinations = [iface.address, ...iface.secondary];
  if (iface.prefixLength < 31) destinations.push(iface.broadcast);
  destinations.push(-1);
  if (destinations.length > MAX_FILTER_DESTINATIONS) {
    throw new WskUsageError('NET_CONFIG', `A link filter takes at most ${MAX_FILTER_DESTINATIONS} IPv4 destinations; give the interface at most ${MAX_FILTER_DESTINATIONS - 3} secondary addresses.`);
  }
  const etherTypes: number[] = config.ipv6 ? [EtherType.ARP, EtherType.IPV6] : [EtherType.ARP];
  return { etherTypes, ipv4Destinations: destinations.map((a) => a >>> 0), ipv4Multicast: multicast };
}

// What the rest of the stack sees of IPv6: the contract between the IPv6 network layer
// (runtime/net/ipv6/, RFC 8200, ICMPv6 RFC 4443, NDP RFC 4861/4862) and the transports (UDP, TCP,
// raw) and WSK provider on top of it. The IPv4 layer keeps its own entry points (ipv4/ipv4-layer.ts);
// transports that serve both families branch once, per socket or connection, on its family and
// then call that family's layer (TCP through its path object, tcp/ip-path.ts).
//
// Addresses are ids from `table` (address-table.ts), never bytes or strings on the hot path.
//
// Receive: the layer validates the header and extension headers, reassembles fragments, and
// hands each packet to the transport registered for (NetworkFamily.IPV6, next header) as
// input(bytes, ipOffset, ipLength, slot, multicast, transportOffset), where ipOffset is the
// IPv6 header and transportOffset the upper-layer header after the extension headers. ICMPv6
// errors quoting our packets go to icmpError(type, code, info, bytes, q, qhl) with q the quoted
// IPv6 header and q + qhl the quoted upper-layer header (ICMPv6 types and codes; info is the MTU
// of a Packet Too Big, else 0).
import type { NTSTATUS } from '../../ntstatus.ts';
import type { Ipv6AddressTable } from './address-table.ts';

export interface Ipv6Network {
  readonly table: Ipv6AddressTable;
  /**
   * While a transport's input() runs: the ids of the packet's destination and source as the
   * layer found them (so a transport need not hash the addresses again); rxSource is 0 when the
   * source is in no table entry yet. Meaningless outside input().
   */
  readonly rxDestination: number;
  readonly rxSource: number;
  /** The interface's usable addresses as ids (duplicate address detection passed): link-local first. */
  readonly addresses: readonly number[];
  /** True for one of the interface's addresses (usable or still tentative) and ::1. */
  isLocal(id: number): boolean;
  /** The source address for packets to `dst` (RFC 6724, simplified: same scope, then longest matching prefix); 0 when there is none. */
  sourceFor(dst: number): number;
  /** True when `dst` is ours, on-link (a prefix of the interface, link-local, multicast) or reachable through a default router. */
  hasRoute(dst: number): boolean;
  /**
   * The neighbour packets to `dst` go to: the first hop a Redirect named for it (RFC 4861 §8.3),
   * else `dst` itself when it is on-link, else the default router (the first whose neighbour
   * entry has not failed, RFC 4861 §6.3.6); 0 without a route. TCP uses it to fail the
   * connections behind a neighbour that did not answer (onNeighbourUnreachable).
   */
  nextHop(dst: number): number;
  /**
   * The hop limit of what is sent unless a socket says otherwise: 64, or a router
   * advertisement's Cur Hop Limit (RFC 4861 §6.3.4). Read at each send, so a later
   * advertisement applies to existing sockets and connections too.
   */
  readonly defaultHopLimit: number;
  /** The MTU towards `dst`: the link's, lowered by Packet Too Big messages (RFC 8201); never below 1280. */
  pathMtu(dst: number): number;
  /** A transport matched a Packet Too Big to one of its sockets or connections: lower the path MTU towards `dst`. */
  learnPathMtu(dst: number, mtu: number): void;
  /**
   * Prepends the IPv6 header to the slot's frame (the upper-layer packet, checksum done) and sends
   * it: looped back when `dst` is ours, else framed for its next hop (neighbour discovery may
   * queue it). The slot reference is consumed. `flowLabel`: 20 bits (RFC 6437). `src` and `dst`
   * need only be interned for the call: the addresses are written into the header at once, and
   * what the layer keeps (a neighbour entry) takes its own reference (TCP's resets to peers it
   * holds no connection with rely on this). `multicastLoop`: a packet to a group the interface
   * listens to is also received here (IPV6_MULTICAST_LOOP).
   */
  output(slot: number, src: number, dst: number, nextHeader: number, trafficClass: number, hopLimit: number, flowLabel: number, multicastLoop?: boolean): void;
  /**
   * Sends the upper-layer packet whole[0..length) (checksum done) as fragments (RFC 8200 §4.5)
   * sized for the path MTU: every fragment or none (STATUS_INSUFFICIENT_RESOURCES).
   */
  outputFragmented(whole: Uint8Array, length: number, src: number, dst: number, nextHeader: number, trafficClass: number, hopLimit: number,
    multicastLoop?: boolean): NTSTATUS;
  /**
   * Whether the received upper-layer packet bytes[offset..+length), of the IPv6 packet at
   * ipOffset, has a valid checksum (IPv6 pseudo-header from that packet's own addresses), or the
   * device vouches for it (as Ipv4Layer.transportChecksumOk).
   */
  transportChecksumOk(slot: number, bytes: Uint8Array, ipOffset: number, offset: number, length: number, protocol: number): boolean;
  /**
   * An ICMPv6 error (RFC 4443: `type`, `code`, and `info` — the MTU of a Packet Too Big, the
   * pointer of a Parameter Problem, else 0) about the received packet bytes[ipOffset..+ipLength),
   * under RFC 4443 §2.4's rules (never about an ICMPv6 error, nor to a multicast or unspecified
   * source, rate-limited), quoting as much as fits the minimum MTU. A transport calls it for a
   * datagram nobody takes (UDP's Port Unreachable). Added by the UDP-over-IPv6 work (udp6.ts).
   */
  sendIcmpError6(bytes: Uint8Array, ipOffset: number, ipLength: number, type: number, code: number, info: number): void;
}

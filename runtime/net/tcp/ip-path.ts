// A connection's network path: family, local and remote addresses, IP header length, MTU and
// the pseudo-header sum, so that TCP builds and sends segments without asking which family it
// is on (gVisor's route; smoltcp's IpRepr). One class with a family field rather than a class
// per family: the segment path then makes monomorphic calls only.
//
// Contract:
// - Addresses are the family's representation (transport-registry.ts NetworkFamily): an IPv4
//   address as a signed 32-bit number, an IPv6 address as an id of the stack's
//   Ipv6AddressTable (ipv6/address-table.ts). open() takes a reference to IPv6 ids and close()
//   gives it back: a TCB's path holds its addresses from newTcb until the TCB is freed
//   (TcpEngine.remove), so an id never changes meaning under a live connection.
// - pseudoSum is the unfolded one's-complement sum of the pseudo-header without its length:
//   IPv4 source, destination and protocol (RFC 9293 §3.1); IPv6 source, destination and next
//   header (RFC 8200 §8.1). Adding the TCP length (< 65536: no jumbograms) completes it.
// - headroom: bytes a transmit slot keeps in front of the TCP header for the IP header and the
//   link header that the network layer prepends.
// - output() consumes the slot reference (as Ipv4Layer.output and Ipv6Network.output do).
// - Nothing here allocates: a path is made once per TCB (plus one scratch path per engine for
//   segments without a connection).
import type { NetworkStack } from '../stack.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import { IPV4_MIN_HEADER_LENGTH, IpProtocol } from '../wire/ipv4.ts';
import { TCP_MIN_HEADER_LENGTH } from '../wire/tcp.ts';
import { formatIpv4 } from '../wire/bytes.ts';
import { IPV6_HEADER_LENGTH } from '../wire/ipv6.ts';

/** The IP header TCP's segments carry: IPv4 without options, IPv6 without extension headers. */
export function ipHeaderLength(family: NetworkFamily): number {
  return family === NetworkFamily.IPV4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

export class IpPath {
  family: NetworkFamily = NetworkFamily.IPV4;
  local = 0;
  remote = 0;
  /** IPv4 (20, no options) or IPv6 (40, no extension headers). */
  headerLength = IPV4_MIN_HEADER_LENGTH;
  /** Bytes in front of the TCP header in a transmit slot (link and IP headers). */
  headroom = 0;
  /** Pseudo-header sum without the TCP length (see the contract above). */
  pseudoSum = 0;
  /** IPv6 flow label (RFC 6437), 20 bits, constant for the connection; 0 on IPv4. */
  flowLabel = 0;
  private held = false;

  constructor(private readonly stack: NetworkStack) {}

  /** Sets the path; IPv6 ids get one more reference each (close() drops them). */
  open(family: NetworkFamily, local: number, remote: number, flowLabel = 0): void {
    this.close();
    const link = this.stack.ipFraming ? 0 : ETHERNET_HEADER_LENGTH;
    this.family = family;
    this.local = local | 0;
    this.remote = remote | 0;
    this.headerLength = ipHeaderLength(family);
    if (family === NetworkFamily.IPV4) {
      this.pseudoSum = (local >>> 16) + (local & 0xffff) + (remote >>> 16) + (remote & 0xffff) + IpProtocol.TCP;
      this.flowLabel = 0;
    } else {
      const table = this.stack.ip6!.table;
      table.retain(local);
      table.retain(remote);
      this.held = true;
      this.pseudoSum = table.sum(local) + table.sum(remote) + IpProtocol.TCP;
      this.flowLabel = flowLabel & 0xfffff;
    }
    this.headroom = link + this.headerLength;
  }

  /** Gives back the IPv6 references open() took (once; later calls do nothing). */
  close(): void {
    if (!this.held) return;
    this.held = false;
    const table = this.stack.ip6!.table;
    table.release(this.local);
    table.release(this.remote);
  }

  /** The MTU towards the remote: the interface's, lowered by what ICMP taught (RFC 1191, RFC 8201). */
  mtu(): number {
    const s = this.stack;
    if (this.family === NetworkFamily.IPV4) return Math.min(s.iface.mtu, s.ip4.pathMtu(this.remote));
    return Math.min(s.iface.mtu, s.ip6!.pathMtu(this.remote));
  }

  /** The MSS the path carries now: its MTU less the IP and TCP headers (IPv6: MTU − 60). */
  mss(): number {
    return this.mtu() - this.headerLength - TCP_MIN_HEADER_LENGTH;
  }

  /**
   * The MSS to announce in a SYN: the interface MTU less the headers (RFC 9293 §3.7.1; RFC 8200
   * §8.3), over IPv6 the MTU a router advertised if lower (RFC 4861 §6.3.4).
   */
  announcedMss(): number {
    const s = this.stack;
    const mtu = this.family === NetworkFamily.IPV4 ? s.iface.mtu : Math.min(s.iface.mtu, s.ip6!.mtu);
    return mtu - this.headerLength - TCP_MIN_HEADER_LENGTH;
  }

  /**
   * Sends the TCP segment that fills the slot's frame (checksum done or left partial); the slot
   * reference is consumed. An IPv6 `ttl` of -1 is the layer's default hop limit at this moment
   * (a router advertisement's Cur Hop Limit, RFC 4861 §6.3.4), as IPV6_UNICAST_HOPS -1 means.
   */
  output(slot: number, tos: number, ttl: number): void {
    if (this.family === NetworkFamily.IPV4) {
      // DF set: TCP does its own path MTU discovery (RFC 1191).
      this.stack.ip4.output(slot, this.local, this.remote, IpProtocol.TCP, 0, false, -1, true, tos, ttl);
    } else {
      const ip6 = this.stack.ip6!;
      ip6.output(slot, this.local, this.remote, IpProtocol.TCP, tos, ttl < 0 ? ip6.defaultHopLimit : ttl, this.flowLabel);
    }
  }

  /** An address of this path's family as text (slow path: statistics, messages). */
  format(address: number): string {
    return this.family === NetworkFamily.IPV4 ? formatIpv4(address) : this.stack.ip6!.table.format(address);
  }

  /** "a.b.c.d:port" or "[v6]:port" (RFC 5952 §6), for statistics. */
  endpointText(address: number, port: number): string {
    return this.family === NetworkFamily.IPV4 ? `${formatIpv4(address)}:${port}` : `[${this.format(address)}]:${port}`;
  }
}

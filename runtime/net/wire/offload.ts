// Transmit offloads done in software: what a NIC (or Linux's software GSO, when the device cannot)
// does to a frame the stack left unfinished, for middleware that must see wire packets (the fault
// injector: a network loses one packet, not a 64 KiB TSO frame).
// - finishTransportChecksum: a TCP/UDP checksum field holding only the pseudo-header sum
//   (FrameFlags.CHECKSUM_PARTIAL, runtime/net/device.ts) becomes the full checksum, summed from the
//   transport header to the end as the device does from csum_start (Linux include/linux/skbuff.h,
//   "CHECKSUM_PARTIAL").
// - TcpSegmenter: one IPv4 or IPv6 TCP segment larger than a packet (a TSO super-segment, or a
//   receiving device's GRO aggregate) cut into wire packets header by header as Linux's software
//   GSO does (net/ipv4/tcp_offload.c tcp_gso_segment, net/ipv4/af_inet.c inet_gso_segment,
//   net/ipv6/ip6_offload.c ipv6_gso_segment):
//   * every packet repeats the link, IP and TCP headers, options included (the timestamps of
//     the super-segment are the same in each packet);
//   * IPv4: Total Length per packet; Identification the super-segment's plus the packet's index
//     (inet_gso_segment without SKB_GSO_TCP_FIXEDID); header checksum recomputed (RFC 791 §3.1);
//   * IPv6: Payload Length per packet (RFC 8200 §3); the transport header must follow the fixed
//     header (a stack leaves no extension headers to offload);
//   * TCP: Sequence Number advanced by the payload before the packet; CWR kept on the first packet
//     only, FIN and PSH on the last only (tcp_gso_segment); the checksum computed in full (RFC 9293
//     §3.1) whatever the super-segment's field held (a pseudo-header sum, or its own sum).
// Contract: plan() checks the headers once, never throws (a ParseError code, nothing planned) and
// fills the plan in place; packet(i) writes packet i in any order, even packet 0 over the
// super-segment itself (every field it changes is written from the plan, never read back from a
// header another packet rewrote). Nothing allocates when source and destination are one array
// (an arena's whole buffer): bytes move with copyWithin.
import { get16, get32s, set16, set32 } from './bytes.ts';
import { internetChecksum } from './checksum.ts';
import { EtherType, ETHERNET_HEADER_LENGTH, EthernetField } from './ethernet.ts';
import { IpProtocol, Ipv4Packet, Ipv4Field, ipv4HeaderLength } from './ipv4.ts';
import { IPV6_HEADER_LENGTH, Ipv6Field } from './ipv6.ts';
import { ParseError } from './parse-error.ts';
import { TcpFlags, TcpSegment, TcpField, tcpHeaderLength } from './tcp.ts';
import { UDP_HEADER_LENGTH, UdpField } from './udp.ts';
import { outOfBounds } from './view.ts';

/** Link header bytes before the IPv4 header: 14 for an Ethernet frame, 0 for a bare IP packet. */
export type LinkHeaderLength = 0 | typeof ETHERNET_HEADER_LENGTH;

/** The IP header of a frame checked by checkIp: its length, the transport protocol and the transport bytes. */
class IpHeader {
  v6 = false;
  length = 0;
  protocol = 0;
  transportLength = 0;
}
const ipHeader = new IpHeader();

/**
 * Null when the frame carries one whole (unfragmented) IPv4 packet, or an IPv6 packet whose
 * transport header follows the fixed header, after its link header; fills ipHeader.
 */
function checkIp(bytes: Uint8Array, offset: number, length: number, linkHeaderLength: LinkHeaderLength): ParseError | null {
  const ip = offset + linkHeaderLength;
  let version = 4;
  if (linkHeaderLength !== 0) {
    if (outOfBounds(bytes, offset, length, ETHERNET_HEADER_LENGTH)) return ParseError.TRUNCATED;
    // A VLAN tag or another protocol: not a frame our stacks hand a device unfinished.
    const type = get16(bytes, offset + EthernetField.ETHER_TYPE);
    if (type !== EtherType.IPV4 && type !== EtherType.IPV6) return ParseError.UNSUPPORTED;
    version = type === EtherType.IPV6 ? 6 : 4;
  } else if (length > 0) {
    version = bytes[ip]! >> 4;
  }
  const h = ipHeader;
  if (version === 6) {
    if (outOfBounds(bytes, ip, length - linkHeaderLength, IPV6_HEADER_LENGTH) || bytes[ip]! >> 4 !== 6) return ParseError.TRUNCATED;
    const payload = get16(bytes, ip + Ipv6Field.PAYLOAD_LENGTH);
    if (IPV6_HEADER_LENGTH + payload > length - linkHeaderLength) return ParseError.BAD_LENGTH;
    h.v6 = true;
    h.length = IPV6_HEADER_LENGTH;
    h.protocol = bytes[ip + Ipv6Field.NEXT_HEADER]!;
    h.transportLength = payload;
    return null;
  }
  const e = Ipv4Packet.check(bytes, ip, length - linkHeaderLength, false);
  if (e !== null) return e;
  // A fragment has no transport header of its own to finish or cut.
  if ((get16(bytes, ip + Ipv4Field.FLAGS_FRAGMENT) & 0x3fff) !== 0) return ParseError.UNSUPPORTED;
  h.v6 = false;
  h.length = ipv4HeaderLength(bytes, ip);
  h.protocol = bytes[ip + Ipv4Field.PROTOCOL]!;
  h.transportLength = get16(bytes, ip + Ipv4Field.TOTAL_LENGTH) - h.length;
  return null;
}

/**
 * Completes a TCP or UDP checksum left for offload (the field holds the folded pseudo-header sum).
 * Returns null, or the ParseError that left the frame untouched (not IPv4/IPv6 TCP/UDP, truncated).
 */
export function finishTransportChecksum(bytes: Uint8Array, offset: number, length: number, linkHeaderLength: LinkHeaderLength): ParseError | null {
  const e = checkIp(bytes, offset, length, linkHeaderLength);
  if (e !== null) return e;
  const l4 = offset + linkHeaderLength + ipHeader.length;
  const l4Length = ipHeader.transportLength;
  const protocol = ipHeader.protocol;
  const field = protocol === IpProtocol.TCP ? TcpField.CHECKSUM : protocol === IpProtocol.UDP ? UdpField.CHECKSUM : -1;
  if (field < 0) return ParseError.UNSUPPORTED;
  if (l4Length < (protocol === IpProtocol.TCP ? 20 : UDP_HEADER_LENGTH)) return ParseError.TRUNCATED;
  const sum = internetChecksum(bytes, l4, l4Length);
  // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "none").
  set16(bytes, l4 + field, sum === 0 && protocol === IpProtocol.UDP ? 0xffff : sum);
  return null;
}

export class TcpSegmenter {
  /** Wire packets the planned segment becomes; 1 when it fits one packet as it is; 0 before a plan. */
  count = 0;
  /** Payload bytes per packet (the last may carry fewer). */
  segmentSize = 0;
  /** Bytes every packet repeats: link, IP and TCP headers. */
  headerLength = 0;
  /** Payload bytes of the whole super-segment. */
  payloadLength = 0;
  private bytes: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private linkHeaderLength: LinkHeaderLength = 0;
  private ipHeaderLength = 0;
  private v6 = false;
  private tcpHeaderLength = 0;
  private seq = 0;
  private id = 0;
  private flags = 0;
  /** Pseudo-header sum (RFC 9293 §3.1) without the TCP length, which differs per packet. */
  private pseudo = 0;

  /**
   * Plans cutting the IPv4 or IPv6 TCP segment in bytes[offset, offset + length) into packets of at most
   * `segmentSize` payload bytes. segmentSize 0: as many as a packet of `mtu` bytes holds with
   * these headers — what the sender's MSS was (RFC 9293 §3.7.1), for a GRO aggregate whose
   * device reported no segment size. Returns null or why nothing was planned (count stays 0).
   */
  plan(bytes: Uint8Array, offset: number, length: number, linkHeaderLength: LinkHeaderLength, segmentSize: number, mtu = 0): ParseError | null {
    this.count = 0;
    const ie = checkIp(bytes, offset, length, linkHeaderLength);
    if (ie !== null) return ie;
    const ip = offset + linkHeaderLength;
    if (ipHeader.protocol !== IpProtocol.TCP) return ParseError.UNSUPPORTED;
    const ihl = ipHeader.length;
    const total = ihl + ipHeader.transportLength;
    const tcp = ip + ihl;
    const e = TcpSegment.check(bytes, tcp, total - ihl);
    if (e !== null) return e;
    const thl = tcpHeaderLength(bytes, tcp);
    const size = segmentSize > 0 ? segmentSize : mtu - ihl - thl;
    if (size <= 0) return ParseError.BAD_LENGTH;
    this.bytes = bytes;
    this.offset = offset;
    this.linkHeaderLength = linkHeaderLength;
    this.ipHeaderLength = ihl;
    this.v6 = ipHeader.v6;
    this.tcpHeaderLength = thl;
    this.headerLength = linkHeaderLength + ihl + thl;
    this.payloadLength = total - ihl - thl;
    this.segmentSize = size;
    this.seq = get32s(bytes, tcp + TcpField.SEQUENCE);
    this.flags = bytes[tcp + TcpField.FLAGS]!;
    if (this.v6) {
      // RFC 8200 §8.1: both addresses, word by word.
      let sum = IpProtocol.TCP;
      for (let i = Ipv6Field.SOURCE; i < Ipv6Field.DESTINATION + 16; i += 2) sum += get16(bytes, ip + i);
      this.pseudo = sum;
    } else {
      this.id = get16(bytes, ip + Ipv4Field.IDENTIFICATION);
      this.pseudo = get16(bytes, ip + Ipv4Field.SOURCE) + get16(bytes, ip + Ipv4Field.SOURCE + 2) + get16(bytes, ip + Ipv4Field.DESTINATION) + get16(bytes, ip + Ipv4Field.DESTINATION + 2) + IpProtocol.TCP;
    }
    this.count = this.payloadLength <= size ? 1 : Math.ceil(this.payloadLength / size);
    return null;
  }

  /** Bytes of packet i (0 <= i < count), headers included. */
  packetLength(i: number): number {
    return this.headerLength + Math.min(this.segmentSize, this.payloadLength - i * this.segmentSize);
  }

  /** Writes packet i (0 <= i < count) at out[outOffset...]; returns its length. */
  packet(i: number, out: Uint8Array, outOffset: number): number {
    const src = this.bytes;
    const hdr = this.headerLength;
    const n = Math.min(this.segmentSize, this.payloadLength - i * this.segmentSize);
    copy(src, this.offset, out, outOffset, hdr);
    copy(src, this.offset + hdr + i * this.segmentSize, out, outOffset + hdr, n);
    const ip = outOffset + this.linkHeaderLength;
    const ihl = this.ipHeaderLength;
    const thl = this.tcpHeaderLength;
    if (this.v6) {
      set16(out, ip + Ipv6Field.PAYLOAD_LENGTH, thl + n);
    } else {
      set16(out, ip + Ipv4Field.TOTAL_LENGTH, ihl + thl + n);
      set16(out, ip + Ipv4Field.IDENTIFICATION, (this.id + i) & 0xffff);
      set16(out, ip + Ipv4Field.CHECKSUM, 0);
      set16(out, ip + Ipv4Field.CHECKSUM, internetChecksum(out, ip, ihl));
    }
    const t = ip + ihl;
    set32(out, t + TcpField.SEQUENCE, (this.seq + i * this.segmentSize) | 0);
    let flags = this.flags;
    if (i < this.count - 1) flags &= ~(TcpFlags.FIN | TcpFlags.PSH);
    if (i > 0) flags &= ~TcpFlags.CWR;
    out[t + TcpField.FLAGS] = flags;
    set16(out, t + TcpField.CHECKSUM, 0);
    set16(out, t + TcpField.CHECKSUM, internetChecksum(out, t, thl + n, this.pseudo + thl + n));
    return hdr + n;
  }
}

function copy(src: Uint8Array, from: number, out: Uint8Array, to: number, length: number): void {
  if (out === src) { if (from !== to) out.copyWithin(to, from, from + length); return; }
  out.set(src.subarray(from, from + length), to);
}

// One-line tcpdump-style rendering of an Ethernet frame (ARP, IPv4 and IPv6: TCP, UDP, ICMP,
// ICMPv6 with NDP and MLDv2), in the
// spirit of tcpdump's print-*.c; malformed frames print what failed. Diagnostics only: allocates.
import { ArpOperation, ArpPacket } from './arp.ts';
import { formatIpv4, formatMac, get16, get32 } from './bytes.ts';
import { EtherType, EthernetFrame } from './ethernet.ts';
import { IcmpType, IcmpUnreachableCode, Icmpv4Packet } from './icmpv4.ts';
import { IpProtocol, Ipv4Packet } from './ipv4.ts';
import { ParseError, parseErrorName } from './parse-error.ts';
import {
  IPV6_FRAGMENT_HEADER_LENGTH, IPV6_FRAGMENT_MORE, Ipv6Chain, Ipv6FragmentField, Ipv6HeaderChain, Ipv6NextHeader, Ipv6Packet, walkIpv6Extensions,
} from './ipv6.ts';
import { Icmpv6Packet, Icmpv6Type, MldField, NdpField } from './icmpv6.ts';
import { formatIpv6 } from '../ipv6/address-table.ts';
import { TCP_MIN_HEADER_LENGTH, TcpFlags, TcpSegment } from './tcp.ts';
import { UdpDatagram } from './udp.ts';

const eth = new EthernetFrame();
const arp = new ArpPacket();
const ip = new Ipv4Packet();
const tcp = new TcpSegment();
const udp = new UdpDatagram();
const icmp = new Icmpv4Packet();
const ip6 = new Ipv6Packet();
const chain = new Ipv6HeaderChain();
const icmp6 = new Icmpv6Packet();

/** Render the frame at bytes[offset, offset+length) as one line. Never throws. */
export function printFrame(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  try {
    return printEthernet(bytes, offset, length);
  } catch (e) {
    return `[printer error: ${String(e)}]`; // a bug, not bad input: checks come first
  }
}

function bad(layer: string, code: ParseError | null, length: number): string {
  return `[bad ${layer}: ${parseErrorName(code)}], length ${length}`;
}

function printEthernet(bytes: Uint8Array, offset: number, length: number): string {
  const e = EthernetFrame.check(bytes, offset, length);
  if (e !== null) return bad('ethernet', e, length);
  eth.reset(bytes, offset, length);
  const vlan = eth.hasVlan ? `vlan ${eth.vlanId}, p ${eth.vlanPcp}, ` : '';
  const po = eth.payloadOffset;
  const pl = eth.payloadLength;
  switch (eth.etherType) {
    case EtherType.ARP: return vlan + printArp(bytes, po, pl);
    case EtherType.IPV4: return vlan + printIpv4(bytes, po, pl);
    case EtherType.IPV6: return vlan + printIpv6(bytes, po, pl);
    default:
      return `${vlan}${formatMac(eth.src)} > ${formatMac(eth.dst)}, ethertype 0x${eth.etherType.toString(16).padStart(4, '0')}, length ${length}`;
  }
}

function printArp(bytes: Uint8Array, offset: number, length: number): string {
  const e = ArpPacket.check(bytes, offset, length);
  if (e !== null) return 'ARP, ' + bad('arp', e, length);
  arp.reset(bytes, offset, length);
  if (arp.operation === ArpOperation.REQUEST) {
    return `ARP, Request who-has ${formatIpv4(arp.targetProtocolAddr)} tell ${formatIpv4(arp.senderProtocolAddr)}, length ${length}`;
  }
  return `ARP, Reply ${formatIpv4(arp.senderProtocolAddr)} is-at ${formatMac(arp.senderHardwareAddr)}, length ${length}`;
}

function printIpv4(bytes: Uint8Array, offset: number, length: number): string {
  const e = Ipv4Packet.check(bytes, offset, length);
  if (e !== null) return 'IP ' + bad('ipv4', e, length);
  ip.reset(bytes, offset, length);
  const src = formatIpv4(ip.src);
  const dst = formatIpv4(ip.dst);
  const po = ip.payloadOffset;
  const pl = ip.payloadLength;
  if (ip.fragmentOffset !== 0) {
    return `IP ${src} > ${dst}: ip-proto-${ip.protocol} (frag ${ip.identification}:${pl}@${ip.fragmentOffset * 8}${ip.moreFragments ? '+' : ''})`;
  }
  const frag = ip.moreFragments ? ` (frag ${ip.identification}:${pl}@0+)` : '';
  switch (ip.protocol) {
    case IpProtocol.TCP: return printTcp(bytes, po, pl, src, dst, ip.src, ip.dst, ip.moreFragments) + frag;
    case IpProtocol.UDP: return printUdp(bytes, po, pl, src, dst, ip.src, ip.dst, ip.moreFragments) + frag;
    case IpProtocol.ICMP: return `IP ${src} > ${dst}: ` + printIcmp(bytes, po, pl, ip.moreFragments) + frag;
    default: return `IP ${src} > ${dst}: ip-proto-${ip.protocol} ${pl}${frag}`;
  }
}

const FLAG_CHARS: ReadonlyArray<readonly [number, string]> = [
  [TcpFlags.FIN, 'F'], [TcpFlags.SYN, 'S'], [TcpFlags.RST, 'R'], [TcpFlags.PSH, 'P'],
  [TcpFlags.ACK, '.'], [TcpFlags.URG, 'U'], [TcpFlags.ECE, 'E'], [TcpFlags.CWR, 'W'],
];

/** `partial`: no checksum check (a fragment, or IPv6, whose pseudo-header TcpSegment.check does not take). */
function printTcp(bytes: Uint8Array, offset: number, length: number, src: string, dst: string, srcA: number, dstA: number, partial: boolean, ip = 'IP'): string {
  const e = TcpSegment.check(bytes, offset, length, partial ? undefined : srcA, partial ? undefined : dstA);
  if (e !== null) return `${ip} ${src} > ${dst}: ` + bad('tcp', e, length);
  tcp.reset(bytes, offset, length);
  let flags = '';
  for (const [bit, ch] of FLAG_CHARS) if (tcp.flags & bit) flags += ch;
  if (flags === '') flags = 'none';
  const pl = tcp.payloadLength;
  let s = `${ip} ${src}.${tcp.srcPort} > ${dst}.${tcp.dstPort}: Flags [${flags}], seq ${tcp.seq}`;
  if (pl > 0) s += `:${(tcp.seq + pl) >>> 0}`;
  if (tcp.ackFlag) s += `, ack ${tcp.ack}`;
  s += `, win ${tcp.window}`;
  if (tcp.urg) s += `, urg ${tcp.urgentPointer}`;
  if (tcp.headerLength > TCP_MIN_HEADER_LENGTH) s += `, options [${printTcpOptions(bytes, tcp.optionsOffset, tcp.offset + tcp.headerLength)}]`;
  return s + `, length ${pl}`;
}

/** Options were validated by TcpSegment.check, so lengths are sane here. */
function printTcpOptions(bytes: Uint8Array, start: number, end: number): string {
  const out: string[] = [];
  let i = start;
  while (i < end) {
    const kind = bytes[i]!;
    if (kind === 0) { out.push('eol'); break; }
    if (kind === 1) { out.push('nop'); i++; continue; }
    const len = bytes[i + 1]!;
    switch (kind) {
      case 2: out.push(`mss ${get16(bytes, i + 2)}`); break;
      case 3: out.push(`wscale ${bytes[i + 2]}`); break;
      case 4: out.push('sackOK'); break;
      case 5: {
        const n = (len - 2) >>> 3;
        let blocks = '';
        for (let k = 0; k < n; k++) blocks += `{${get32(bytes, i + 2 + 8 * k)}:${get32(bytes, i + 6 + 8 * k)}}`;
        out.push(`sack ${n} ${blocks}`);
        break;
      }
      case 8: out.push(`TS val ${get32(bytes, i + 2)} ecr ${get32(bytes, i + 6)}`); break;
      default: out.push(`unknown-${kind} len ${len}`);
    }
    i += len;
  }
  return out.join(',');
}

function printUdp(bytes: Uint8Array, offset: number, length: number, src: string, dst: string, srcA: number, dstA: number, partial: boolean, ip = 'IP'): string {
  const e = UdpDatagram.check(bytes, offset, length, partial ? undefined : srcA, partial ? undefined : dstA);
  if (e !== null) return `${ip} ${src} > ${dst}: ` + bad('udp', e, length);
  udp.reset(bytes, offset, length);
  return `${ip} ${src}.${udp.srcPort} > ${dst}.${udp.dstPort}: UDP, length ${udp.payloadLength}`;
}

/** IPv6 (RFC 8200) as tcpdump prints it: extension headers walked, a fragment shown as (offset|length). */
function printIpv6(bytes: Uint8Array, offset: number, length: number): string {
  const e = Ipv6Packet.check(bytes, offset, length);
  if (e !== null) return 'IP6 ' + bad('ipv6', e, length);
  ip6.reset(bytes, offset, length);
  const src = formatIpv6(bytes, ip6.sourceOffset);
  const dst = formatIpv6(bytes, ip6.destinationOffset);
  const total = ip6.totalLength;
  const r = walkIpv6Extensions(bytes, offset, total, chain, false);
  if (r !== Ipv6Chain.OK) return `IP6 ${src} > ${dst}: [bad ipv6 extension header], length ${ip6.payloadLength}`;
  const hbh = ip6.nextHeader === Ipv6NextHeader.HOP_BY_HOP ? 'HBH ' : '';
  const at = chain.upperOffset;
  const n = offset + total - at;
  if (chain.fragment >= 0) {
    const word = get16(bytes, at + Ipv6FragmentField.OFFSET_FLAGS);
    const more = (word & IPV6_FRAGMENT_MORE) !== 0 ? '+' : '';
    return `IP6 ${src} > ${dst}: ${hbh}frag (${word & 0xfff8}|${n - IPV6_FRAGMENT_HEADER_LENGTH}${more}) next-header ${bytes[at + Ipv6FragmentField.NEXT_HEADER]}`;
  }
  switch (chain.nextHeader) {
    case Ipv6NextHeader.TCP: return printTcp(bytes, at, n, src, dst, 0, 0, true, 'IP6');
    case Ipv6NextHeader.UDP: return printUdp(bytes, at, n, src, dst, 0, 0, true, 'IP6');
    case Ipv6NextHeader.ICMPV6: return `IP6 ${src} > ${dst}: ${hbh}` + printIcmpv6(bytes, at, n);
    default: return `IP6 ${src} > ${dst}: ${hbh}ip-proto-${chain.nextHeader} ${n}`;
  }
}

const ICMP6_UNREACHABLE = ['no route', 'admin prohibited', 'beyond scope', 'unreachable address', 'unreachable port', 'source policy', 'reject route'];

/** ICMPv6 (RFC 4443), NDP (RFC 4861) and MLDv2 (RFC 3810) in tcpdump's words; the checksum is not judged here. */
function printIcmpv6(bytes: Uint8Array, offset: number, length: number): string {
  const e = Icmpv6Packet.check(bytes, offset, length, -1);
  if (e !== null) return bad('icmp6', e, length);
  icmp6.reset(bytes, offset, length);
  const target = (): string => (length >= NdpField.TARGET + 16 ? formatIpv6(bytes, offset + NdpField.TARGET) : '?');
  switch (icmp6.type) {
    case Icmpv6Type.ECHO_REQUEST:
    case Icmpv6Type.ECHO_REPLY:
      return `ICMP6, echo ${icmp6.type === Icmpv6Type.ECHO_REQUEST ? 'request' : 'reply'}, id ${icmp6.identifier}, seq ${icmp6.sequence}, length ${length}`;
    case Icmpv6Type.DEST_UNREACHABLE:
      return `ICMP6, destination unreachable, ${ICMP6_UNREACHABLE[icmp6.code] ?? `code ${icmp6.code}`}, length ${length}`;
    case Icmpv6Type.PACKET_TOO_BIG:
      return `ICMP6, packet too big, mtu ${icmp6.mtu}, length ${length}`;
    case Icmpv6Type.TIME_EXCEEDED:
      return `ICMP6, time exceeded ${icmp6.code === 0 ? 'in-transit' : 'in-reassembly'}, length ${length}`;
    case Icmpv6Type.PARAMETER_PROBLEM:
      return `ICMP6, parameter problem, code ${icmp6.code}, octet ${icmp6.pointer}, length ${length}`;
    case Icmpv6Type.NEIGHBOR_SOLICITATION:
      return `ICMP6, neighbor solicitation, who has ${target()}, length ${length}`;
    case Icmpv6Type.NEIGHBOR_ADVERTISEMENT:
      return `ICMP6, neighbor advertisement, tgt is ${target()}, length ${length}`;
    case Icmpv6Type.ROUTER_SOLICITATION:
      return `ICMP6, router solicitation, length ${length}`;
    case Icmpv6Type.ROUTER_ADVERTISEMENT:
      return `ICMP6, router advertisement, length ${length}`;
    case Icmpv6Type.MLDV2_REPORT:
      return `ICMP6, multicast listener report v2, ${length >= 8 ? get16(bytes, offset + MldField.RECORD_COUNT) : '?'} group record(s), length ${length}`;
    default:
      return `ICMP6, type-${icmp6.type} code ${icmp6.code}, length ${length}`;
  }
}

function printIcmp(bytes: Uint8Array, offset: number, length: number, partial: boolean): string {
  const e = Icmpv4Packet.check(bytes, offset, length, !partial);
  if (e !== null) return bad('icmp', e, length);
  icmp.reset(bytes, offset, length);
  switch (icmp.type) {
    case IcmpType.ECHO_REQUEST:
    case IcmpType.ECHO_REPLY:
      return `ICMP echo ${icmp.type === IcmpType.ECHO_REQUEST ? 'request' : 'reply'}, id ${icmp.identifier}, seq ${icmp.sequence}, length ${length}`;
    case IcmpType.DEST_UNREACHABLE: {
      // The quoted header names the original destination; its checksum is not ours to judge.
      const q = Ipv4Packet.check(bytes, icmp.quotedOffset, icmp.quotedLength, false);
      const qb = icmp.quotedLength >= 20 && q !== ParseError.BAD_VERSION ? formatIpv4(get32(bytes, icmp.quotedOffset + 16)) : '?';
      if (icmp.code === IcmpUnreachableCode.FRAG_NEEDED) return `ICMP ${qb} unreachable - need to frag (mtu ${icmp.nextHopMtu}), length ${length}`;
      const what = ['net', 'host', 'protocol', 'port'][icmp.code] ?? `code ${icmp.code}`;
      return `ICMP ${qb} ${what} unreachable, length ${length}`;
    }
    case IcmpType.TIME_EXCEEDED:
      return `ICMP time exceeded ${icmp.code === 0 ? 'in-transit' : 'in-reassembly'}, length ${length}`;
    case IcmpType.PARAMETER_PROBLEM:
      return `ICMP parameter problem - octet ${icmp.pointer}, length ${length}`;
    default:
      return `ICMP type-${icmp.type} code ${icmp.code}, length ${length}`;
  }
}

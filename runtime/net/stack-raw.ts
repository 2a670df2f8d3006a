// What the WSK layer sees of a raw socket on the userspace stack (SOCK_RAW; raw.ts says what the
// stack does with it), and the interface rules every datagram transport of the stack shares.
//
// A received packet reaches DatagramSink.onDatagram as a view over its ring slot, IPv4 header
// included (Winsock's IPv4 raw sockets deliver the header; the "TCP/IP raw sockets" page) — an
// IPv6 one without its headers (RFC 3542 §3) — from the packet's source with port 0;
// hold()/pin()/release() keep it as for UDP (stack-provider.ts).
import { STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import {
  ProviderError, RECV_HOPLIMIT, RECV_PKTINFO, RECV_PKTINFO6, RECV_TCLASS, RECV_TOS, RECV_TTL, SEND_BUFFER, SEND_DONT_FRAGMENT,
  SEND_DONT_FRAGMENT6, SEND_HEADER_INCLUDED, SEND_HOP_LIMIT, SEND_MULTICAST_HOPS, SEND_MULTICAST_IF, SEND_MULTICAST_IF6, SEND_MULTICAST_LOOP,
  SEND_MULTICAST_LOOP6, SEND_MULTICAST_TTL, SEND_TCLASS,
  SEND_TOS, SEND_TTL, SEND_UNICAST_IF, newDatagramInfo, type DatagramInfo,
  type DatagramSendInfo, type DatagramSink, type TransportDatagram,
} from '../provider.ts';
import { AF_INET, AF_INET6, type Endpoint } from '../sockaddr.ts';
import { NetworkFamily } from './transport-registry.ts';
import { Ipv4Field } from './wire/ipv4.ts';
import type { NetworkStack } from './stack.ts';
import type { Ipv6Network } from './ipv6/ipv6-network.ts';
import { Ipv6Field } from './wire/ipv6.ts';
import { sendRaw, sendRaw6, type RawReceiver, type RawSocket } from './raw.ts';
import { get32s } from './wire/bytes.ts';
import type { StackMemberships } from './memberships.ts';

/** The stack's one interface, as IN_PKTINFO's ipi_ifindex names it (interface indexes start at 1). */
export const STACK_IFINDEX = 1;
/** What the stack can tell about a received IPv4 datagram: everything is in its IPv4 header. */
const RECV_INFO4 = RECV_PKTINFO | RECV_TOS | RECV_TTL;
/** The same for an IPv6 datagram, from its IPv6 header. */
const RECV_INFO6 = RECV_PKTINFO6 | RECV_TCLASS | RECV_HOPLIMIT;
export const STACK_RECV_INFO = RECV_INFO4 | RECV_INFO6;

/** An interface choice (provider.ts, SEND_MULTICAST_IF): 0, the one interface's index, or one of its addresses. */
export function checkStackInterface(stack: NetworkStack, iface: number, what: string): void {
  const ok = iface === 0 || iface === STACK_IFINDEX || (iface >= 0x1000000 && stack.ip4.isLocalAddress(iface | 0));
  if (!ok) throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: not an interface of this stack`);
}

/** IP_UNICAST_IF: one interface, the only one datagrams can leave by. */
export function checkUnicastInterface(value: number): void {
  if (value !== 0 && value !== STACK_IFINDEX) throw new ProviderError(STATUS_INVALID_PARAMETER, `IP_UNICAST_IF: the stack's only interface is ${STACK_IFINDEX}, not ${value}`);
}

/**
 * IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (a 4-byte group) and IPV6_ADD_MEMBERSHIP /
 * IPV6_DROP_MEMBERSHIP (16 bytes) for socket `s` (TransportDatagram.setMembership). The interface
 * counts the sockets in each group (igmp.ts, interface-addresses.ts), which report it (IGMPv2, MLDv2).
 */
export function setStackMembership(stack: NetworkStack, s: StackMemberships, group: Uint8Array, iface: number, join: boolean): void {
  if (group.byteLength === 16) { setStackMembership6(stack, s.groups6, group, iface, join); return; }
  checkStackInterface(stack, iface, join ? 'IP_ADD_MEMBERSHIP' : 'IP_DROP_MEMBERSHIP');
  const groups = s.groups;
  const g = get32s(group, 0);
  const i = groups.indexOf(g);
  if (join) {
    if (i >= 0) throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, 'IP_ADD_MEMBERSHIP: this socket already joined the group');
    groups.push(g);
    stack.groups.join(g);
  } else {
    if (i < 0) throw new ProviderError(STATUS_INVALID_PARAMETER, 'IP_DROP_MEMBERSHIP: this socket has not joined the group');
    groups.splice(i, 1);
    stack.groups.leave(g);
  }
}

function setStackMembership6(stack: NetworkStack, groups: number[], group: Uint8Array, iface: number, join: boolean): void {
  const what = join ? 'IPV6_ADD_MEMBERSHIP' : 'IPV6_DROP_MEMBERSHIP';
  const ip6 = stack.ip6;
  if (!ip6) throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: the stack has no IPv6`);
  checkStackInterface6(iface, what);
  const found = ip6.table.find(group, 0);
  const i = found !== 0 ? groups.indexOf(found) : -1;
  if (join) {
    if (i >= 0) throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, `${what}: this socket already joined the group`);
    groups.push(ip6.addrs.join(group));
  } else {
    if (i < 0) throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: this socket has not joined the group`);
    groups.splice(i, 1);
    ip6.addrs.leave(found);
  }
}

/** An IPv6 interface choice (IPV6_MREQ.ipv6mr_interface, IPV6_MULTICAST_IF): 0 or the stack's one interface index. */
function checkStackInterface6(iface: number, what: string): void {
  if (iface !== 0 && iface !== STACK_IFINDEX) throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: the stack's only interface is ${STACK_IFINDEX}, not ${iface}`);
}

/** What a datagram socket of the stack (UDP or raw) keeps of the IP-level send options (IPv4's, then IPv6's). */
export interface IpSendOptions {
  ttl: number; tos: number; dontFragment: boolean; multicastTtl: number; multicastLoop: boolean;
  hopLimit: number; trafficClass: number; dontFragment6: boolean; multicastHops: number; multicastLoop6: boolean;
}

/** An IP-level send option on a UDP or raw socket (the provider's SEND_* codes). */
export function setIpSendOption(stack: NetworkStack, s: IpSendOptions, option: number, value: number): void {
  switch (option) {
    case SEND_TTL: s.ttl = value; break;
    case SEND_TOS: s.tos = value; break;
    case SEND_DONT_FRAGMENT: s.dontFragment = value !== 0; break;
    case SEND_UNICAST_IF: checkUnicastInterface(value); break;
    case SEND_MULTICAST_TTL: s.multicastTtl = value; break;
    case SEND_MULTICAST_LOOP: s.multicastLoop = value !== 0; break;
    case SEND_MULTICAST_IF: checkStackInterface(stack, value, 'IP_MULTICAST_IF'); break;
    case SEND_HOP_LIMIT: s.hopLimit = value; break;
    case SEND_TCLASS: s.trafficClass = value; break;
    case SEND_DONT_FRAGMENT6: s.dontFragment6 = value !== 0; break;
    case SEND_MULTICAST_HOPS: s.multicastHops = value; break;
    case SEND_MULTICAST_LOOP6: s.multicastLoop6 = value !== 0; break;
    case SEND_MULTICAST_IF6: checkStackInterface6(value, 'IPV6_MULTICAST_IF'); break;
    // Sends leave at once (sendTo completes inside the call): there is no send buffer to size.
    case SEND_BUFFER: break;
    default: throw new ProviderError(STATUS_INVALID_PARAMETER, `send option ${option}`);
  }
}

/**
 * IN_PKTINFO (an IPv4 source, 4 bytes) on a send: the source must be one of ours and the
 * interface ours (ip(7) IP_PKTINFO; a Linux host refuses others with EINVAL too). Returns the
 * source (0: the socket's), or -1.
 */
export function sendSource(stack: NetworkStack, info: DatagramSendInfo): number {
  if (info.source && info.source.byteLength !== 4) return -1;
  const source = info.source ? get32s(info.source, 0) : 0;
  if ((source !== 0 && !stack.ip4.isLocalAddress(source)) || (info.ifIndex !== 0 && info.ifIndex !== STACK_IFINDEX)) return -1;
  return source;
}

/** IN6_PKTINFO (an IPv6 source, 16 bytes) on a send, as ipv6(7) IPV6_PKTINFO: its id (0: none given), or -1 when it or the interface is not ours. */
export function sendSource6(ip6: Ipv6Network, info: DatagramSendInfo): number {
  if (info.ifIndex !== 0 && info.ifIndex !== STACK_IFINDEX) return -1;
  const a = info.source;
  if (!a) return 0;
  if (a.byteLength !== 16) return -1;
  if (a.every((b) => b === 0)) return 0;
  const id = ip6.table.find(a, 0);
  return id !== 0 && ip6.isLocal(id) ? id : -1;
}

/**
 * Fills `info` (for the RECV_* bits in `mask` that fit the packet's family) from the IP header at
 * bytes[ip..], in place: IPv4 (RFC 791 §3.1) or IPv6 (RFC 8200 §3), told apart by the version.
 */
export function readReceiveInfo(info: DatagramInfo, mask: number, bytes: Uint8Array, ip: number): void {
  if ((bytes[ip]! >>> 4) === 6) {
    info.present = mask & RECV_INFO6;
    for (let i = 0; i < 16; i++) info.local[i] = bytes[ip + Ipv6Field.DESTINATION + i]!;
    info.ifIndex = STACK_IFINDEX;
    // The traffic class straddles the first two bytes, after the version nibble.
    info.tos = ((bytes[ip]! & 0x0f) << 4) | (bytes[ip + 1]! >>> 4);
    info.ttl = bytes[ip + Ipv6Field.HOP_LIMIT]!;
    return;
  }
  info.present = mask & RECV_INFO4;
  info.local[0] = bytes[ip + 16]!; info.local[1] = bytes[ip + 17]!; info.local[2] = bytes[ip + 18]!; info.local[3] = bytes[ip + 19]!;
  info.ifIndex = STACK_IFINDEX;
  info.tos = bytes[ip + 1]!;
  info.ttl = bytes[ip + 8]!;
}

export class StackRawDatagram implements TransportDatagram, RawReceiver {
  readonly localEndpoint: Endpoint;
  private closed = false;
  private receiveMask = 0;
  private readonly info = newDatagramInfo();

  /** `local`: the address the socket was bound to (its family is the socket's). */
  constructor(private readonly stack: NetworkStack, readonly socket: RawSocket, private readonly sink: DatagramSink, local: Endpoint, private readonly onClose: () => void) {
    this.localEndpoint = { family: local.family, address: Uint8Array.from(local.address), port: 0 };
  }

  onPacket(s: RawSocket, bytes: Uint8Array, offset: number, length: number): void {
    if (this.closed) return;
    const info = this.info;
    info.present = 0;
    const ip = s.receivedHeader();
    if (this.receiveMask !== 0) readReceiveInfo(info, this.receiveMask, bytes, ip);
    // The sink copies `from` if it keeps the packet.
    const v6 = s.family === NetworkFamily.IPV6;
    const at = ip + (v6 ? Ipv6Field.SOURCE : Ipv4Field.SOURCE);
    const from: Endpoint = { family: v6 ? AF_INET6 : AF_INET, address: bytes.slice(at, at + (v6 ? 16 : 4)), port: 0 };
    this.sink.onDatagram(bytes, offset, length, from, 0, info);
  }

  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, info?: DatagramSendInfo | null, token?: T): void {
    const t = token as T;
    const status = this.socket.family === NetworkFamily.IPV6 ? this.send6(pieces, to, info) : this.send4(pieces, to, info);
    if (status !== STATUS_SUCCESS) { done(status, 0, t); return; }
    let n = 0;
    for (let i = 0; i < pieces.length; i++) n += pieces[i]!.byteLength;
    done(STATUS_SUCCESS, n, t);
  }

  private send4(pieces: Uint8Array[], to: Endpoint, info: DatagramSendInfo | null | undefined): NTSTATUS {
    if (to.family !== AF_INET) return STATUS_INVALID_PARAMETER;
    let source = 0;
    let tos = -1;
    if (info) {
      source = sendSource(this.stack, info);
      if (source === -1) return STATUS_INVALID_PARAMETER;
      if (info.tos >= 0) tos = info.tos;
    }
    return sendRaw(this.stack, this.socket, pieces, pieces.length, get32s(to.address, 0), source, tos);
  }

  /** IPv6 destinations only: a raw IPv6 socket has no IPv4 (v4-mapped) path, as Linux's rawv6_sendmsg. */
  private send6(pieces: Uint8Array[], to: Endpoint, info: DatagramSendInfo | null | undefined): NTSTATUS {
    const ip6 = this.stack.ip6;
    if (!ip6 || to.family !== AF_INET6) return STATUS_INVALID_PARAMETER;
    let source = 0;
    let tclass = -1;
    if (info) {
      source = sendSource6(ip6, info);
      if (source === -1) return STATUS_INVALID_PARAMETER;
      if (info.tos >= 0) tclass = info.tos;
    }
    const dst = ip6.table.intern(to.address, 0);
    if (dst === 0) return STATUS_INVALID_PARAMETER;
    const status = sendRaw6(this.stack, ip6, this.socket, pieces, pieces.length, dst, source, tclass);
    ip6.table.release(dst);
    return status;
  }

  hold(): number { return this.socket.hold(); }
  heldStorage(handle: number): Uint8Array { return this.stack.held.storage(handle); }
  heldOffset(handle: number): number { return this.stack.held.offsetOf(handle); }
  pin(handle: number): void { this.stack.held.pin(handle); }
  release(handle: number): void { this.stack.held.release(handle); }

  setReceiveInfo(mask: number): void { this.receiveMask = mask & STACK_RECV_INFO; }
  setBroadcast(enable: boolean): void { this.socket.broadcast = enable; }
  // SO_RCVBUF is enforced by the WSK layer's queue.
  setReceiveBufferSize(_bytes: number): void {}

  setSendOption(option: number, value: number): void {
    if (option !== SEND_HEADER_INCLUDED) { setIpSendOption(this.stack, this.socket, option, value); return; }
    if (this.socket.family === NetworkFamily.IPV6) throw new ProviderError(STATUS_INVALID_PARAMETER, 'IP_HDRINCL: an IPv6 raw socket sends the upper-layer message only (RFC 3542 §3); the stack builds the IPv6 header');
    this.socket.headerIncluded = value !== 0;
  }


  setMembership(group: Uint8Array, iface: number, join: boolean): void {
    setStackMembership(this.stack, this.socket, group, iface, join);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.onClose();
  }
}

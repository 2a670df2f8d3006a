// The userspace-stack transport provider (docs/architecture.md §2): what the WSK layer sees of an NetworkStack.
// Datagram sockets run on the stack's UDP; connection, listen and stream sockets on its TCP
// (stack-tcp.ts). AF_INET6 sockets use IPv6 where the interface has it (udp6.ts, raw.ts, TCP's
// IPv6 path) and serve IPv4 peers as ::ffff:a.b.c.d when IPV6_V6ONLY is off (RFC 4291 §2.5.5.2,
// as Windows' dual-stack sockets); both families share one port space per protocol.
//
// Zero copy: a received datagram reaches DatagramSink.onDatagram as a range of its ring slot's view.
// When the WSK layer keeps it (queued for a WskReceiveFrom, or retained by an indication that
// returned STATUS_PENDING) it calls hold() during onDatagram; the slot stays referenced until
// release(). Queued data may be copied out of the ring under pressure (heldStorage() then returns
// the copy); data handed to an application in a retained indication is pinned and never moves.
import {
  STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, STATUS_NOT_SUPPORTED, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  ProviderError, newDatagramInfo, type ConnectOptions, type DatagramOptions,
  type DatagramSendInfo, type DatagramSink, type ListenOptions, type ListenerSink, type Resolver, type TransportConnection,
  type TransportDatagram, type TransportListener, type TransportProvider, type TransportTriple,
} from '../provider.ts';
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, endpointAddressString, type Endpoint } from '../sockaddr.ts';
import { endpointV4, ipOf, isV4Mapped, isV6Wildcard, stackConnect, stackListen } from './stack-tcp.ts';
import type { TcpEngine } from './tcp/tcp-engine.ts';
import type { UserspaceStack } from './userspace-stack.ts';
import { congestionControlNames } from './tcp/congestion.ts';
import type { NetworkStack } from './stack.ts';
import { openUdpSocket, type UdpReceiver, type UdpSocket } from './udp.ts';
import { NetworkFamily } from './transport-registry.ts';
import { Ipv6Field } from './wire/ipv6.ts';
import { parseIpv6 } from './ipv6/address-table.ts';
import { formatIpv4 } from './wire/bytes.ts';
import { RawSocket } from './raw.ts';
import {
  STACK_RECV_INFO, StackRawDatagram, readReceiveInfo, sendSource, sendSource6, setIpSendOption, setStackMembership,
} from './stack-raw.ts';

// EADDRNOTAVAIL: Wine's errno → NTSTATUS map gives STATUS_INVALID_PARAMETER (dlls/netio.sys/netio.c).
const STATUS_ADDRESS_NOT_LOCAL = STATUS_INVALID_PARAMETER;


class StackDatagram implements TransportDatagram, UdpReceiver {
  readonly localEndpoint: Endpoint;
  private closed = false;
  private receiveMask = 0;
  private readonly info = newDatagramInfo();
  /** The sender of the datagram being delivered. */
  private readonly from4: Endpoint = { family: AF_INET, address: new Uint8Array(4), port: 0 };
  private readonly from6: Endpoint = { family: AF_INET6, address: new Uint8Array(16), port: 0 };

  /**
   * `family`: the WSK socket's (AF_INET, or AF_INET6 whose IPv4 peers appear as ::ffff:a.b.c.d);
   * `reuse`: SO_REUSEADDR, for the bind checks across families.
   */
  constructor(private readonly provider: StackProvider, readonly socket: UdpSocket, private readonly sink: DatagramSink,
    readonly family: Endpoint['family'], local: Endpoint, readonly reuse: boolean) {
    this.localEndpoint = { family, address: Uint8Array.from(local.address), port: socket.localPort };
  }

  onDatagram(s: UdpSocket, bytes: Uint8Array, offset: number, length: number, srcIp: number, srcPort: number, flags: number): void {
    if (this.closed) return;
    const info = this.info;
    info.present = 0;
    // Read in place from the datagram's IP header (RFC 791 §3.1, RFC 8200 §3), into endpoints of
    // our own (the sink copies what it keeps): nothing is allocated per datagram.
    const ip = s.receivedHeader();
    if (this.receiveMask !== 0) readReceiveInfo(info, this.receiveMask, bytes, ip);
    let from: Endpoint;
    if ((bytes[ip]! >>> 4) === 6) {
      from = this.from6;
      const a = from.address;
      for (let i = 0; i < 16; i++) a[i] = bytes[ip + Ipv6Field.SOURCE + i]!;
    } else if (this.family === AF_INET6) {
      // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2).
      from = this.from6;
      const a = from.address;
      a.fill(0, 0, 10);
      a[10] = 0xff; a[11] = 0xff;
      a[12] = srcIp >>> 24; a[13] = (srcIp >>> 16) & 0xff; a[14] = (srcIp >>> 8) & 0xff; a[15] = srcIp & 0xff;
    } else {
      from = this.from4;
      const a = from.address;
      a[0] = srcIp >>> 24; a[1] = (srcIp >>> 16) & 0xff; a[2] = (srcIp >>> 8) & 0xff; a[3] = srcIp & 0xff;
    }
    from.port = srcPort;
    this.sink.onDatagram(bytes, offset, length, from, flags, info);
  }

  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, info?: DatagramSendInfo | null, token?: T): void {
    const status = to.family === AF_INET6 && !isV4Mapped(to) ? this.send6(pieces, to, info) : this.send4(pieces, to, info);
    if (status !== STATUS_SUCCESS) { done(status, 0, token as T); return; }
    let n = 0;
    for (let i = 0; i < pieces.length; i++) n += pieces[i]!.byteLength;
    done(STATUS_SUCCESS, n, token as T);
  }

  /** To an IPv4 (or v4-mapped) destination: only from a socket that takes IPv4 (not IPV6_V6ONLY, not bound to an IPv6 address). */
  private send4(pieces: Uint8Array[], to: Endpoint, info: DatagramSendInfo | null | undefined): NTSTATUS {
    if (to.family !== AF_INET && to.family !== AF_INET6) return STATUS_INVALID_PARAMETER;
    // Linux's udpv6_sendmsg: ENETUNREACH for a v4-mapped destination on an IPv6-only socket.
    if (!this.socket.takesIpv4) return STATUS_NETWORK_UNREACHABLE;
    let source = 0;
    let tos = -1;
    if (info) {
      source = sendSource(this.provider.stack, info);
      if (source === -1) return STATUS_INVALID_PARAMETER;
      if (info.tos >= 0) tos = info.tos;
    }
    return this.provider.stack.udp4.send(this.socket, pieces, pieces.length, ipOf(to), to.port, source, tos);
  }

  /** To an IPv6 destination, from an IPv6 socket (one bound to a v4-mapped address has no IPv6 source). */
  private send6(pieces: Uint8Array[], to: Endpoint, info: DatagramSendInfo | null | undefined): NTSTATUS {
    const udp6 = this.provider.userspace.udp6;
    if (!udp6 || this.socket.family !== NetworkFamily.IPV6) return STATUS_NETWORK_UNREACHABLE;
    const table = udp6.ip6.table;
    let source = 0;
    let tclass = -1;
    if (info) {
      source = sendSource6(udp6.ip6, info);
      if (source === -1) return STATUS_INVALID_PARAMETER;
      if (info.tos >= 0) tclass = info.tos;
    }
    // Interned for the call (the neighbour cache and path MTU table keep their own references).
    const dst = table.intern(to.address, 0);
    if (dst === 0) return STATUS_INVALID_PARAMETER;
    const status = udp6.send(this.socket, pieces, pieces.length, dst, to.port, source, tclass);
    table.release(dst);
    return status;
  }

  hold(): number { return this.socket.hold(); }
  heldStorage(handle: number): Uint8Array { return this.provider.stack.held.storage(handle); }
  heldOffset(handle: number): number { return this.provider.stack.held.offsetOf(handle); }
  pin(handle: number): void { this.provider.stack.held.pin(handle); }
  release(handle: number): void { this.provider.stack.held.release(handle); }

  setReceiveInfo(mask: number): void { this.receiveMask = mask & STACK_RECV_INFO; }

  setBroadcast(enable: boolean): void { this.socket.broadcast = enable; }
  // SO_RCVBUF is enforced by the WSK layer's queue; the stack keeps nothing per socket.
  setReceiveBufferSize(_bytes: number): void {}

  setSendOption(option: number, value: number): void {
    setIpSendOption(this.provider.stack, this.socket, option, value);
  }


  setMembership(group: Uint8Array, iface: number, join: boolean): void {
    setStackMembership(this.provider.stack, this.socket, group, iface, join);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.provider.datagrams.delete(this);
  }
}

const UNATTACHED: UdpReceiver = { onDatagram() {} };
const UNATTACHED_RAW = { onPacket() {} };

/** Numeric addresses (IPv4, and IPv6 literals for AF_INET6 or any family) and "localhost"; a provider may be given the host resolver instead. */
class NumericResolver implements Resolver {
  async lookup(host: string, family: number): Promise<Endpoint[]> {
    if (family !== 0 && family !== AF_INET && family !== AF_INET6) return [];
    if (family !== AF_INET) {
      const v6 = host === 'localhost' && family === AF_INET6 ? parseIpv6('::1') : parseIpv6(host);
      if (v6) return [{ family: AF_INET6, address: v6, port: 0 }];
      if (family === AF_INET6) return [];
    }
    const text = host === 'localhost' ? '127.0.0.1' : host;
    const p = text.split('.');
    if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && Number(x) < 256)) return [];
    return [{ family: AF_INET, address: Uint8Array.from(p.map(Number)), port: 0 }];
  }
  async reverse(endpoint: Endpoint): Promise<{ host: string; service: string }> {
    return { host: endpointAddressString(endpoint), service: String(endpoint.port) };
  }
}

export interface StackProviderOptions {
  resolver?: Resolver;
  /** Closes the stack (and its link) when the provider stops. Default true. */
  ownsStack?: boolean;
}

export class StackProvider implements TransportProvider {
  readonly name = 'stack';
  readonly resolver: Resolver;
  readonly datagrams = new Set<TransportDatagram>();
  /** The stack's network layer. */
  readonly stack: NetworkStack;
  /** The stack's TCP, unless the stack was made without (datagram sockets only). */
  readonly tcp: TcpEngine | null;

  constructor(readonly userspace: UserspaceStack, private readonly options: StackProviderOptions = {}) {
    this.resolver = options.resolver ?? new NumericResolver();
    this.stack = userspace.ip;
    this.tcp = userspace.tcp;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const d of [...this.datagrams]) d.close();
    this.tcp?.closeAll();
    if (this.options.ownsStack ?? true) this.userspace.close();
  }

  transports(): TransportTriple[] {
    // Raw sockets take any protocol number (0 in the list: WSAPROTOCOL_INFO's "any", the "TCP/IP raw sockets" page).
    const list: TransportTriple[] = [{ family: AF_INET, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP }, { family: AF_INET, socketType: SOCK_RAW, protocol: 0 }];
    if (this.tcp) list.push({ family: AF_INET, socketType: SOCK_STREAM, protocol: IPPROTO_TCP });
    // AF_INET6 datagram and raw sockets where the interface has IPv6 (as Windows lists none
    // without IPv6: WSK_TRANSPORT_LIST_QUERY); a datagram one also serves IPv4 peers (dual-stack).
    if (this.stack.ip6) {
      list.push({ family: AF_INET6, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP }, { family: AF_INET6, socketType: SOCK_RAW, protocol: 0 });
    }
    // Also without IPv6 on the interface: an AF_INET6 TCP socket is then dual-stack only, IPv4 peers
    // as ::ffff:a.b.c.d (what echosrv's [::] listener needs on an IPv4-only stack).
    if (this.tcp) list.push({ family: AF_INET6, socketType: SOCK_STREAM, protocol: IPPROTO_TCP });
    return list;
  }

  congestionControls(): string[] {
    return this.tcp ? congestionControlNames() : [];
  }

  private engine(what: string): TcpEngine {
    if (this.tcp) return this.tcp;
    throw new ProviderError(STATUS_NOT_SUPPORTED, `${what}: this stack was created with tcp: false (datagram sockets only).`);
  }

  /**
   * A TCP socket's local address: AF_INET on the interface's first address (TCP keeps to it) or
   * the wildcard; AF_INET6 as for datagram sockets (bindAddress: a v4-mapped address is IPv4,
   * refused under IPV6_V6ONLY; :: needs IPv6 on the interface unless it is dual-stack).
   */
  private checkLocal(local: Endpoint, what: string, v6Only = false): { family: NetworkFamily; ip: number } {
    const where = this.bindAddress(local, v6Only, what);
    if (where.family === NetworkFamily.IPV4 && where.ip !== 0 && where.ip !== this.stack.address) {
      throw new ProviderError(STATUS_ADDRESS_NOT_LOCAL, `${what}: ${endpointAddressString(local)} is not the stack's TCP address (${formatIpv4(this.stack.address)}).`);
    }
    return where;
  }

  async reservePort(local: Endpoint): Promise<number> {
    const engine = this.engine('bind');
    this.checkLocal(local, 'bind');
    const port = engine.ephemeralPort();
    if (port === 0) throw new ProviderError(STATUS_INSUFFICIENT_RESOURCES, 'bind: no free TCP port left on the userspace stack.');
    return port;
  }

  async listen(local: Endpoint, options: ListenOptions, sink: ListenerSink): Promise<TransportListener> {
    const engine = this.engine('listen');
    this.checkLocal(local, 'listen', options.v6Only);
    return stackListen(engine, local, options, sink);
  }

  async connect(local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection> {
    const engine = this.engine('connect');
    const toIpv4 = remote.family === AF_INET || isV4Mapped(remote);
    if (local) {
      const where = this.checkLocal(local, 'connect', options.v6Only);
      // Linux's tcp_v6_connect: an IPV6_V6ONLY socket has no IPv4 path (ENETUNREACH); a socket
      // bound to an address of one family cannot reach the other.
      if (toIpv4 && local.family === AF_INET6 && (options.v6Only || (where.family === NetworkFamily.IPV6 && where.ip !== 0))) {
        throw new ProviderError(STATUS_NETWORK_UNREACHABLE, `connect: ${endpointAddressString(remote)} is IPv4 and this socket is IPv6-only (IPV6_V6ONLY, or bound to an IPv6 address).`);
      }
      if (!toIpv4 && where.family === NetworkFamily.IPV4 && local.family === AF_INET6) {
        throw new ProviderError(STATUS_NETWORK_UNREACHABLE, `connect: ${endpointAddressString(remote)} is IPv6 and this socket is bound to an IPv4 (v4-mapped) address.`);
      }
    }
    return stackConnect(engine, local, remote, options);
  }

  async bindDatagram(local: Endpoint, options: DatagramOptions, sink: DatagramSink): Promise<TransportDatagram> {
    if (options.rawProtocol !== undefined) {
      // An IPv6 raw socket has no IPv4 path (Linux's raw6 sockets neither): IPv6-only whatever IPV6_V6ONLY says.
      const where = this.bindAddress(local, true);
      const raw = new RawSocket(this.stack, options.rawProtocol, where.ip, UNATTACHED_RAW, where.family);
      const rd = new StackRawDatagram(this.stack, raw, sink, local, () => this.datagrams.delete(rd));
      raw.receiver = rd;
      raw.broadcast = options.broadcast;
      rd.setReceiveInfo(options.receiveInfo);
      raw.open();
      this.datagrams.add(rd);
      return rd;
    }
    const where = this.bindAddress(local, options.v6Only);
    // Port sharing within a family was already decided by the WSK layer's address table (docs/wsk-rules.md, R21): a
    // second socket on a port is there on purpose. Across families it is decided here.
    if (local.port !== 0) this.checkCrossFamily(local, where, options.v6Only, options.reuseAddress);
    const socket = openUdpSocket(this.stack, where.family, where.ip, local.port, UNATTACHED, options.v6Only);
    if (!socket) throw new ProviderError(STATUS_INSUFFICIENT_RESOURCES, 'bind: no free UDP port left on the userspace stack.');
    const dg = new StackDatagram(this, socket, sink, local.family, local, options.reuseAddress);
    socket.receiver = dg;
    socket.broadcast = options.broadcast;
    dg.setReceiveInfo(options.receiveInfo);
    this.datagrams.add(dg);
    return dg;
  }

  /** An IPv4 address (0: the wildcard) a socket may bind: any of the interface's (secondary ones too; TCP keeps to the first). */
  private checkLocal4(ip: number, local: Endpoint, what = 'bind'): void {
    if (ip !== 0 && !this.stack.ip4.isLocalAddress(ip)) {
      throw new ProviderError(STATUS_ADDRESS_NOT_LOCAL, `${what}: ${endpointAddressString(local)} is not an address of this stack.`);
    }
  }

  /**
   * Where a socket bound to `local` lives: an IPv4 address, or an IPv6 id (0: ::). An AF_INET6
   * socket bound to ::ffff:a.b.c.d is an IPv4 socket whose peers are shown mapped; IPV6_V6ONLY
   * refuses that bind, as Linux's inet6_bind (EINVAL).
   */
  private bindAddress(local: Endpoint, v6Only: boolean, what = 'bind'): { family: NetworkFamily; ip: number } {
    if (local.family === AF_INET || isV4Mapped(local)) {
      if (local.family === AF_INET6 && v6Only) {
        throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: an IPv6-only socket (IPV6_V6ONLY, or a raw IPv6 one) cannot use a v4-mapped address; set IPV6_V6ONLY 0 before bind, or use an IPv6 address.`);
      }
      const ip = ipOf(local);
      this.checkLocal4(ip, local, what);
      return { family: NetworkFamily.IPV4, ip };
    }
    const ip6 = this.stack.ip6;
    if (isV6Wildcard(local)) {
      // Without IPv6 on the interface a dual-stack socket still serves IPv4 peers.
      if (!ip6 && v6Only) throw new ProviderError(STATUS_NOT_SUPPORTED, `${what}: this stack has no IPv6 (InterfaceConfig.ipv6, --ip with an IPv6 address); set IPV6_V6ONLY 0 for IPv4 peers only, or use AF_INET.`);
      return { family: NetworkFamily.IPV6, ip: 0 };
    }
    const id = ip6 ? ip6.table.find(local.address, 0) : 0;
    if (id === 0 || !ip6!.isLocal(id)) {
      throw new ProviderError(STATUS_ADDRESS_NOT_LOCAL, `${what}: ${endpointAddressString(local)} is not an address of this stack.`);
    }
    return { family: NetworkFamily.IPV6, ip: id };
  }

  /**
   * One UDP port space for both families (as on Windows and Linux): a socket taking IPv4 on a port
   * conflicts with a socket of the other WSK family that takes IPv4 on an overlapping address (a
   * dual-stack AF_INET6 socket bound to :: and an AF_INET one, say), unless both set SO_REUSEADDR.
   * An IPV6_V6ONLY socket takes no IPv4 and conflicts with no AF_INET socket.
   */
  private checkCrossFamily(local: Endpoint, where: { family: NetworkFamily; ip: number }, v6Only: boolean, reuse: boolean): void {
    if (where.family === NetworkFamily.IPV6 && (where.ip !== 0 || v6Only)) return;
    for (const held of this.stack.udp.holders(local.port)) {
      const other = held.receiver;
      if (!(other instanceof StackDatagram) || other.family === local.family || !held.takesIpv4) continue;
      const mine = where.family === NetworkFamily.IPV4 ? where.ip : 0;
      const theirs = held.family === NetworkFamily.IPV4 ? held.localIp : 0;
      if (mine !== 0 && theirs !== 0 && mine !== theirs) continue;
      if (reuse && other.reuse) continue;
      throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, `bind: UDP port ${local.port} is taken for IPv4 by a socket of the other address family on this stack.`);
    }
  }

  localAddresses(family: number): Endpoint[] {
    if (family === AF_INET) return [this.stack.address, ...this.stack.iface.secondary].map((a) => endpointV4(a, 0));
    const ip6 = this.stack.ip6;
    if (family !== AF_INET6 || !ip6) return [];
    return ip6.addresses.map((id) => ({ family: AF_INET6, address: ip6.table.bytes(id), port: 0 }));
  }
}

export function createStackProvider(stack: UserspaceStack, options?: StackProviderOptions): StackProvider {
  return new StackProvider(stack, options);
}

// The userspace-stack transport provider (docs/architecture.md §2): what the WSK layer sees of an Ipv4Stack.
// Datagram sockets run on the stack's UDP; connection, listen and stream sockets on its TCP
// (stack-tcp.ts). IPv6 is not there yet: AF_INET6 is absent from the transport list.
//
// Zero copy: a received datagram reaches DatagramSink.onDatagram as a view over its ring slot.
// When the WSK layer keeps it (queued for a WskReceiveFrom, or retained by an indication that
// returned STATUS_PENDING) it calls hold() during onDatagram; the slot stays referenced until
// release(). Queued data may be copied out of the ring under pressure (heldBytes() then returns
// the copy); data handed to an application in a retained indication is pinned and never moves.
import {
  STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, STATUS_NOT_SUPPORTED, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  ProviderError, RECV_PKTINFO, SEND_BUFFER, SEND_DONT_FRAGMENT, SEND_MULTICAST_IF, SEND_MULTICAST_LOOP, SEND_MULTICAST_TTL, SEND_TOS, SEND_TTL,
  SEND_UNICAST_IF, RECV_TOS, RECV_TTL, newDatagramInfo, type ConnectOptions, type DatagramOptions,
  type DatagramSendInfo, type DatagramSink, type ListenOptions, type ListenerSink, type Resolver, type TransportConnection,
  type TransportDatagram, type TransportListener, type TransportProvider, type TransportTriple,
} from '../provider.ts';
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM, type Endpoint } from '../sockaddr.ts';
import { endpointV4, ipOf, isV4Mapped, isV6Wildcard, stackConnect, stackListen } from './stack-tcp.ts';
import type { TcpEngine } from './tcp/tcp-engine.ts';
import type { UserspaceStack } from './userspace-stack.ts';
import { congestionControlNames } from './tcp/congestion.ts';
import type { Ipv4Stack } from './stack.ts';
import type { UdpReceiver, UdpSocket } from './udp.ts';
import { get32s } from './wire/bytes.ts';
import { Ipv4Field } from './wire/ipv4.ts';

// EADDRNOTAVAIL: Wine's errno → NTSTATUS map gives STATUS_INVALID_PARAMETER (dlls/netio.sys/netio.c).
const STATUS_ADDRESS_NOT_LOCAL = STATUS_INVALID_PARAMETER;

/** The stack's one interface, as IN_PKTINFO's ipi_ifindex names it (interface indexes start at 1). */
const STACK_IFINDEX = 1;
/** What the stack can tell about a received datagram: everything is in its IPv4 header. */
const STACK_RECV_INFO = RECV_PKTINFO | RECV_TOS | RECV_TTL;


class StackDatagram implements TransportDatagram, UdpReceiver {
  readonly localEndpoint: Endpoint;
  private closed = false;
  private receiveMask = 0;
  private readonly info = newDatagramInfo();

  constructor(private readonly provider: StackProvider, readonly socket: UdpSocket, private readonly sink: DatagramSink) {
    this.localEndpoint = endpointV4(socket.localIp, socket.localPort);
  }

  onDatagram(s: UdpSocket, bytes: Uint8Array, offset: number, length: number, srcIp: number, srcPort: number, flags: number): void {
    if (this.closed) return;
    const info = this.info;
    info.present = 0;
    if (this.receiveMask !== 0) {
      // Read in place from the datagram's IPv4 header (RFC 791 §3.1): nothing is allocated.
      const ip = s.receivedHeader();
      info.present = this.receiveMask;
      info.local[0] = bytes[ip + Ipv4Field.DESTINATION]!; info.local[1] = bytes[ip + Ipv4Field.DESTINATION + 1]!; info.local[2] = bytes[ip + Ipv4Field.DESTINATION + 2]!; info.local[3] = bytes[ip + Ipv4Field.DESTINATION + 3]!;
      info.ifIndex = STACK_IFINDEX;
      info.tos = bytes[ip + Ipv4Field.TOS]!;
      info.ttl = bytes[ip + Ipv4Field.TTL]!;
    }
    this.sink.onDatagram(bytes.subarray(offset, offset + length), endpointV4(srcIp, srcPort), flags, info);
  }

  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, info?: DatagramSendInfo | null, token?: T): void {
    const t = token as T;
    if (to.family !== AF_INET) { done(STATUS_INVALID_PARAMETER, 0, t); return; }
    let source = 0;
    let tos = -1;
    if (info) {
      // IN_PKTINFO: the source must be one of ours and the interface ours (ip(7) IP_PKTINFO; a
      // Linux host refuses others with EINVAL too).
      if (info.source) source = get32s(info.source, 0);
      if ((source !== 0 && !this.provider.stack.isLocalAddress(source)) || (info.ifIndex !== 0 && info.ifIndex !== STACK_IFINDEX)) {
        done(STATUS_INVALID_PARAMETER, 0, t);
        return;
      }
      if (info.tos >= 0) tos = info.tos;
    }
    const status = this.provider.stack.sendUdp(this.socket, pieces, pieces.length, ipOf(to), to.port, source, tos);
    if (status !== STATUS_SUCCESS) { done(status, 0, t); return; }
    let n = 0;
    for (let i = 0; i < pieces.length; i++) n += pieces[i]!.byteLength;
    done(STATUS_SUCCESS, n, t);
  }

  hold(): number { return this.socket.hold(); }
  heldBytes(handle: number): Uint8Array { return this.provider.stack.held.bytes(handle); }
  pin(handle: number): void { this.provider.stack.held.pin(handle); }
  release(handle: number): void { this.provider.stack.held.release(handle); }

  setReceiveInfo(mask: number): void { this.receiveMask = mask & STACK_RECV_INFO; }

  setBroadcast(enable: boolean): void { this.socket.broadcast = enable; }
  // SO_RCVBUF is enforced by the WSK layer's queue; the stack keeps nothing per socket.
  setReceiveBufferSize(_bytes: number): void {}

  setSendOption(option: number, value: number): void {
    const s = this.socket;
    switch (option) {
      case SEND_TTL: s.ttl = value; break;
      case SEND_TOS: s.tos = value; break;
      case SEND_DONT_FRAGMENT: s.dontFragment = value !== 0; break;
      // One interface: it is the only one datagrams can leave by.
      case SEND_UNICAST_IF: if (value !== 0 && value !== STACK_IFINDEX) throw new ProviderError(STATUS_INVALID_PARAMETER, `IP_UNICAST_IF: the stack's only interface is ${STACK_IFINDEX}, not ${value}`); break;
      case SEND_MULTICAST_TTL: s.multicastTtl = value; break;
      case SEND_MULTICAST_LOOP: s.multicastLoop = value !== 0; break;
      case SEND_MULTICAST_IF: this.checkInterface(value, 'IP_MULTICAST_IF'); break;
      // Sends leave at once (sendTo completes inside the call): there is no send buffer to size.
      case SEND_BUFFER: break;
      default: throw new ProviderError(STATUS_INVALID_PARAMETER, `send option ${option}`);
    }
  }

  setMembership(group: Uint8Array, iface: number, join: boolean): void {
    this.checkInterface(iface, join ? 'IP_ADD_MEMBERSHIP' : 'IP_DROP_MEMBERSHIP');
    const g = get32s(group, 0);
    const groups = this.socket.groups;
    const i = groups.indexOf(g);
    if (join) {
      if (i >= 0) throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, 'IP_ADD_MEMBERSHIP: this socket already joined the group');
      groups.push(g);
      this.provider.stack.groups.join(g);
    } else {
      if (i < 0) throw new ProviderError(STATUS_INVALID_PARAMETER, 'IP_DROP_MEMBERSHIP: this socket has not joined the group');
      groups.splice(i, 1);
      this.provider.stack.groups.leave(g);
    }
  }

  /** An interface choice (provider.ts, SEND_MULTICAST_IF): 0, the one interface's index, or one of its addresses. */
  private checkInterface(iface: number, what: string): void {
    const ok = iface === 0 || iface === STACK_IFINDEX || (iface >= 0x1000000 && this.provider.stack.isLocalAddress(iface | 0));
    if (!ok) throw new ProviderError(STATUS_INVALID_PARAMETER, `${what}: not an interface of this stack`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    this.provider.datagrams.delete(this);
  }
}

const UNATTACHED: UdpReceiver = { onDatagram() {} };

/** Numeric addresses and "localhost"; a provider may be given the host resolver instead. */
class NumericResolver implements Resolver {
  async lookup(host: string, family: number): Promise<Endpoint[]> {
    if (family !== 0 && family !== AF_INET) return [];
    const text = host === 'localhost' ? '127.0.0.1' : host;
    const p = text.split('.');
    if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && Number(x) < 256)) return [];
    return [{ family: AF_INET, address: Uint8Array.from(p.map(Number)), port: 0 }];
  }
  async reverse(endpoint: Endpoint): Promise<{ host: string; service: string }> {
    return { host: Array.from(endpoint.address).join('.'), service: String(endpoint.port) };
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
  readonly datagrams = new Set<StackDatagram>();
  /** The stack's network layer. */
  readonly stack: Ipv4Stack;
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
    const list: TransportTriple[] = [{ family: AF_INET, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP }];
    if (this.tcp) {
      list.push({ family: AF_INET, socketType: SOCK_STREAM, protocol: IPPROTO_TCP });
      // Dual-stack only: an AF_INET6 TCP socket reaches IPv4 peers as ::ffff:a.b.c.d (no IPv6 yet).
      list.push({ family: AF_INET6, socketType: SOCK_STREAM, protocol: IPPROTO_TCP });
    }
    return list;
  }

  congestionControls(): string[] {
    return this.tcp ? congestionControlNames() : [];
  }

  private engine(what: string): TcpEngine {
    if (this.tcp) return this.tcp;
    throw new ProviderError(STATUS_NOT_SUPPORTED, `${what}: this stack was created with tcp: false (datagram sockets only).`);
  }

  /** AF_INET6 sockets are dual-stack only: bound to :: or ::ffff:<ours>, never IPV6_V6ONLY. */
  private checkLocal(local: Endpoint, what: string, v6Only = false): void {
    if (local.family !== AF_INET && (v6Only || !(isV6Wildcard(local) || isV4Mapped(local)))) {
      throw new ProviderError(STATUS_NOT_SUPPORTED, `${what}: IPv6 is not available on the userspace stack yet; use AF_INET, or AF_INET6 dual-stack (IPV6_V6ONLY 0, bound to :: or a v4-mapped address).`);
    }
    const ip = ipOf(local);
    if (ip !== 0 && ip !== this.stack.address) {
      throw new ProviderError(STATUS_ADDRESS_NOT_LOCAL, `${what}: ${Array.from(local.address).join('.')} is not an address of this stack.`);
    }
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
    if (local.port !== 0 && engine.listenerFor(local.port)) {
      throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, `listen: TCP port ${local.port} already has a listener on this stack.`);
    }
    return stackListen(engine, local, options, sink);
  }

  async connect(local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection> {
    const engine = this.engine('connect');
    if (local) this.checkLocal(local, 'connect', options.v6Only);
    if (remote.family !== AF_INET && !isV4Mapped(remote)) {
      throw new ProviderError(STATUS_NETWORK_UNREACHABLE, 'connect: the userspace stack has no IPv6 route; only IPv4 (or v4-mapped) destinations are reachable.');
    }
    return stackConnect(engine, local, remote, options);
  }

  async bindDatagram(local: Endpoint, options: DatagramOptions, sink: DatagramSink): Promise<TransportDatagram> {
    if (local.family !== AF_INET) throw new ProviderError(STATUS_NOT_SUPPORTED, 'bind: IPv6 datagram sockets are not available on the userspace stack yet; use AF_INET.');
    const ip = ipOf(local);
    // Any of the interface's addresses (secondary ones too); TCP keeps to the first.
    if (ip !== 0 && !this.stack.isLocalAddress(ip)) {
      throw new ProviderError(STATUS_ADDRESS_NOT_LOCAL, `bind: ${Array.from(local.address).join('.')} is not an address of this stack.`);
    }
    // Port sharing was already decided by the WSK layer's address table (docs/wsk-rules.md, R21): a second socket on
    // a port is there on purpose.
    const socket = this.stack.openUdp(ip, local.port, UNATTACHED);
    if (!socket) throw new ProviderError(STATUS_INSUFFICIENT_RESOURCES, 'bind: no free UDP port left on the userspace stack.');
    const dg = new StackDatagram(this, socket, sink);
    socket.receiver = dg;
    socket.broadcast = options.broadcast;
    dg.setReceiveInfo(options.receiveInfo);
    this.datagrams.add(dg);
    return dg;
  }

  localAddresses(family: number): Endpoint[] {
    return family === AF_INET ? [this.stack.address, ...this.stack.iface.secondary].map((a) => endpointV4(a, 0)) : [];
  }
}

export function createStackProvider(stack: UserspaceStack, options?: StackProviderOptions): StackProvider {
  return new StackProvider(stack, options);
}

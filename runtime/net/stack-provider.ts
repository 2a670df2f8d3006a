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
  ProviderError, newDatagramInfo, type ConnectOptions, type DatagramOptions,
  type DatagramSendInfo, type DatagramSink, type ListenOptions, type ListenerSink, type Resolver, type TransportConnection,
  type TransportDatagram, type TransportListener, type TransportProvider, type TransportTriple,
} from '../provider.ts';
import { AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, type Endpoint } from '../sockaddr.ts';
import { endpointV4, ipOf, isV4Mapped, isV6Wildcard, stackConnect, stackListen } from './stack-tcp.ts';
import type { TcpEngine } from './tcp/tcp-engine.ts';
import type { UserspaceStack } from './userspace-stack.ts';
import { congestionControlNames } from './tcp/congestion.ts';
import type { Ipv4Stack } from './stack.ts';
import type { UdpReceiver, UdpSocket } from './udp.ts';
import { RawSocket } from './raw.ts';
import {
  STACK_RECV_INFO, StackRawDatagram, readReceiveInfo, sendSource, setIpSendOption, setStackMembership,
} from './stack-raw.ts';

// EADDRNOTAVAIL: Wine's errno → NTSTATUS map gives STATUS_INVALID_PARAMETER (dlls/netio.sys/netio.c).
const STATUS_ADDRESS_NOT_LOCAL = STATUS_INVALID_PARAMETER;


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
    // Read in place from the datagram's IPv4 header (RFC 791 §3.1): nothing is allocated.
    if (this.receiveMask !== 0) readReceiveInfo(info, this.receiveMask, bytes, s.receivedHeader());
    this.sink.onDatagram(bytes.subarray(offset, offset + length), endpointV4(srcIp, srcPort), flags, info);
  }

  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, info?: DatagramSendInfo | null, token?: T): void {
    const t = token as T;
    if (to.family !== AF_INET) { done(STATUS_INVALID_PARAMETER, 0, t); return; }
    let source = 0;
    let tos = -1;
    if (info) {
      source = sendSource(this.provider.stack, info);
      if (source === -1) { done(STATUS_INVALID_PARAMETER, 0, t); return; }
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
    setIpSendOption(this.provider.stack, this.socket, option, value);
  }


  setMembership(group: Uint8Array, iface: number, join: boolean): void {
    setStackMembership(this.provider.stack, this.socket.groups, group, iface, join);
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
  readonly datagrams = new Set<TransportDatagram>();
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
    // Raw sockets take any protocol number (0 in the list: WSAPROTOCOL_INFO's "any", the "TCP/IP raw sockets" page).
    const list: TransportTriple[] = [{ family: AF_INET, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP }, { family: AF_INET, socketType: SOCK_RAW, protocol: 0 }];
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
    if (options.rawProtocol !== undefined) {
      const raw = new RawSocket(this.stack, options.rawProtocol, ip, UNATTACHED_RAW);
      const rd = new StackRawDatagram(this.stack, raw, sink, () => this.datagrams.delete(rd));
      raw.receiver = rd;
      raw.broadcast = options.broadcast;
      rd.setReceiveInfo(options.receiveInfo);
      raw.open();
      this.datagrams.add(rd);
      return rd;
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

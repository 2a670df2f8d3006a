// The stack provider's TCP half: TransportConnection and TransportListener over the TCP engine.
// - WskSend (R40): pieces are queued by reference and `done` runs when every byte is
//   acknowledged, so the MDL stays the application's until then and retransmissions read it
//   again; the ideal send backlog (congestion and peer window) tells applications how much to
//   keep posted (WskSendBacklogEvent / SIO_WSK_QUERY_IDEAL_SEND_BACKLOG).
// - Graceful disconnect completes once everything sent before the FIN is acknowledged.
// - Receive: in-order bytes go to the sink while it is not paused; paused bytes stay in the
//   connection's receive buffer and the advertised window closes (flow control by SO_RCVBUF).
// - Addresses: an AF_INET endpoint or an AF_INET6 one holding ::ffff:a.b.c.d is IPv4 to the
//   engine; any other AF_INET6 address is IPv6 (an id of the stack's address table). An AF_INET6
//   socket shows its IPv4 peers v4-mapped (RFC 4291 §2.5.5.2) and its IPv6 peers as they are.
//   IPv4 connections take IP_TTL/IP_TOS (SEND_TTL/SEND_TOS), IPv6 ones IPV6_UNICAST_HOPS/
//   IPV6_TCLASS (SEND_HOP_LIMIT/SEND_TCLASS), as Linux applies them by the packet's family.
import {
  STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_CONNECTION_ABORTED, STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  ProviderError, SEND_HOP_LIMIT, SEND_TCLASS, SEND_TOS, SEND_TTL, type ConnectionSink, type ConnectOptions, type ListenerSink, type ListenOptions, type TcpInfo, type TransportConnection,
  type TransportListener,
} from '../provider.ts';
import { AF_INET, AF_INET6, formatEndpoint, type Endpoint } from '../sockaddr.ts';
import { get32s } from './wire/bytes.ts';
import type { Tcb, TcpEvents } from './tcp/tcb.ts';
import { TcpState } from './tcp/tcb.ts';
import type { TcpEngine, TcpListener } from './tcp/tcp-engine.ts';
import { NetworkFamily } from './transport-registry.ts';
import type { NetworkStack } from './stack.ts';

export function endpointV4(ip: number, port: number): Endpoint {
  return { family: AF_INET, address: Uint8Array.of(ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff), port };
}

/** ::ffff:a.b.c.d — how an IPv4 peer appears on a dual-stack AF_INET6 socket (RFC 4291 §2.5.5.2). */
export function endpointMapped(ip: number, port: number): Endpoint {
  const address = new Uint8Array(16);
  address[10] = 0xff;
  address[11] = 0xff;
  address[12] = ip >>> 24; address[13] = (ip >>> 16) & 0xff; address[14] = (ip >>> 8) & 0xff; address[15] = ip & 0xff;
  return { family: AF_INET6, address, port };
}

/**
 * An address of the engine (`family`'s: IPv4 number or IPv6 id) as a socket of `socketFamily`
 * shows it: IPv6 as it is, IPv4 plain or v4-mapped.
 */
export function endpointOf(stack: NetworkStack, family: NetworkFamily, socketFamily: number, ip: number, port: number): Endpoint {
  if (family === NetworkFamily.IPV6) return { family: AF_INET6, address: stack.ip6!.table.bytes(ip), port };
  return socketFamily === AF_INET6 ? endpointMapped(ip, port) : endpointV4(ip, port);
}

/** The engine's family for an endpoint: IPv4 for AF_INET and v4-mapped AF_INET6, else IPv6. */
export function familyOf(ep: Endpoint): NetworkFamily {
  return ep.family === AF_INET || isV4Mapped(ep) ? NetworkFamily.IPV4 : NetworkFamily.IPV6;
}

/**
 * The address-table id of one of our IPv6 addresses (a bind or listen address), 0 for ::, -1
 * when it is not ours or the stack has no IPv6. The interface's addresses are interned for the
 * stack's life, so no reference is taken.
 */
export function localIpv6Id(stack: NetworkStack, ep: Endpoint): number {
  if (isV6Wildcard(ep)) return 0;
  const ip6 = stack.ip6;
  if (!ip6) return -1;
  const id = ip6.table.find(ep.address, 0);
  return id !== 0 && ip6.isLocal(id) ? id : -1;
}

/** True for :: (the IPv6 wildcard). */
export function isV6Wildcard(ep: Endpoint): boolean {
  return ep.family === AF_INET6 && ep.address.every((b) => b === 0);
}

/** True for ::ffff:a.b.c.d. */
export function isV4Mapped(ep: Endpoint): boolean {
  const a = ep.address;
  if (ep.family !== AF_INET6 || a.length !== 16 || a[10] !== 0xff || a[11] !== 0xff) return false;
  // A loop, not subarray().every(): the datagram send path asks this per datagram.
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return true;
}

/** The IPv4 address of an AF_INET endpoint, of a v4-mapped one, or 0 for a wildcard. */
export function ipOf(ep: Endpoint): number {
  if (ep.family === AF_INET) return get32s(ep.address, 0);
  return isV4Mapped(ep) ? get32s(ep.address, 12) : 0;
}

export class StackConnection implements TransportConnection, TcpEvents {
  readonly localEndpoint: Endpoint;
  readonly remoteEndpoint: Endpoint;
  private sink: ConnectionSink | null = null;
  private paused = false;
  private finPending = false;
  private ended = false;
  private gone = false;
  private closedStatus: NTSTATUS = STATUS_CONNECTION_ABORTED;
  /** For an active open: settles the connect promise. */
  onOpen: ((status: NTSTATUS) => void) | null = null;

  /** `socketFamily`: the WSK socket's address family (AF_INET6 shows IPv4 peers v4-mapped). */
  constructor(private readonly engine: TcpEngine, readonly tcb: Tcb, socketFamily: number = AF_INET) {
    this.localEndpoint = endpointOf(engine.stack, tcb.family, socketFamily, tcb.localIp, tcb.localPort);
    this.remoteEndpoint = endpointOf(engine.stack, tcb.family, socketFamily, tcb.remoteIp, tcb.remotePort);
    tcb.events = this;
    tcb.owner = this;
  }

  // ---- TcpEvents ----------------------------------------------------------------------------

  onEstablished(): void {
    const open = this.onOpen;
    this.onOpen = null;
    open?.(STATUS_SUCCESS);
  }

  onReadable(): void { this.deliver(); }

  onFin(): void {
    this.finPending = true;
    this.deliver();
  }

  onSendBacklog(_tcb: Tcb, bytes: number): void { this.sink?.onSendBacklog?.(bytes); }

  onClosed(_tcb: Tcb, status: NTSTATUS): void {
    this.gone = true;
    this.closedStatus = status;
    const open = this.onOpen;
    this.onOpen = null;
    if (open) { open(status === STATUS_SUCCESS ? STATUS_CONNECTION_ABORTED : status); return; }
    if (status === STATUS_SUCCESS) { this.deliver(); return; }
    const sink = this.sink;
    this.sink = null;
    sink?.onAbort(status);
  }

  // ---- TransportConnection -------------------------------------------------------------------

  attach(sink: ConnectionSink): void {
    this.sink = sink;
    // Deliver on a later step, never inside the WSK layer's own call (it does not expect re-entry).
    this.engine.clock.defer(this.deliverLater);
  }

  private readonly deliverLater = (): void => {
    if (this.gone && !this.ended && !this.finPending && this.tcb.state === TcpState.CLOSED && this.sink) {
      // Reset before the WSK layer attached: report it now.
      const sink = this.sink;
      this.sink = null;
      sink.onAbort(this.closedStatus);
      return;
    }
    this.deliver();
  };

  private deliver(): void {
    const sink = this.sink;
    if (!sink || this.paused) return;
    // One chunk at a time: the sink may pause us (or close) in the middle, and what it did not
    // take stays in the connection's receive buffer.
    let took = false;
    for (let c = this.engine.takeChunk(this.tcb); c; c = this.engine.takeChunk(this.tcb)) {
      took = true;
      // Zero copy: the WSK layer gets a view over the ring slot and gives it back (releaseData).
      sink.onData(c, this.engine.takenHandle);
      if (this.sink !== sink || this.paused) break;
    }
    if (took) this.engine.windowUpdate(this.tcb);
    if (this.sink !== sink || this.paused) return;
    if (this.finPending && !this.ended && this.tcb.rcvQueued === 0) {
      this.ended = true;
      sink.onEnd();
    }
  }

  send<T>(pieces: Uint8Array[], nodelay: boolean, done: (status: NTSTATUS, token: T) => void, token?: T): void {
    const r = this.engine.send(this.tcb, pieces, nodelay, done as (s: NTSTATUS, t: unknown) => void, token);
    if (typeof r === 'number') done(r, token as T);
  }

  shutdown(done: (status: NTSTATUS) => void): void {
    // Completes when everything before the FIN is acknowledged (a zero-length send marks the spot).
    const r = this.engine.send(this.tcb, [], true, (status) => done(status), undefined);
    if (typeof r === 'number') { done(r); return; }
    this.engine.shutdown(this.tcb);
  }

  abort(): void {
    this.sink = null;
    this.onOpen = null;
    // The WSK layer settles its own pending IRPs on an abort; the engine must not complete them too.
    this.engine.abort(this.tcb, STATUS_CONNECTION_ABORTED, false);
  }

  close(): void {
    this.sink = null;
    if (this.tcb.state === TcpState.CLOSE_WAIT || this.tcb.state === TcpState.ESTABLISHED) this.engine.shutdown(this.tcb);
    // FIN-WAIT-2 / TIME-WAIT finish inside the engine; nobody is told any more.
    if (this.tcb.events === this) this.tcb.events = null;
  }

  pauseReceive(): void { this.paused = true; }

  resumeReceive(): void {
    if (!this.paused) return;
    this.paused = false;
    this.engine.clock.defer(this.deliverLater);
  }

  setKeepAlive(enable: boolean, idleSeconds: number, intervalSeconds: number, count: number): void {
    this.engine.setKeepAlive(this.tcb, enable, idleSeconds * 1000, intervalSeconds * 1000, count);
  }

  setNoDelay(enable: boolean): void { this.engine.setNoDelay(this.tcb, enable); }

  idealSendBacklog(): number { return this.tcb.idealSendBacklog; }

  tcpInfo(): TcpInfo {
    const t = this.tcb;
    const rtt = t.rtt;
    return {
      state: t.state, mss: t.mss, connectionTimeMs: Math.max(0, Math.round(this.engine.clock.now() - t.createdAt)),
      timestampsEnabled: t.tsEnabled, rttUs: Math.round(rtt.srtt * 1000),
      minRttUs: Number.isFinite(rtt.minRtt) ? Math.round(rtt.minRtt * 1000) : 0,
      bytesInFlight: (t.sndMax - t.sndUna) >>> 0, cwnd: Math.floor(t.cc.cwnd), sndWnd: t.sndWnd,
      rcvWnd: Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0), rcvBuf: t.rcvBufSize, bytesOut: t.bytesOut, bytesIn: t.bytesIn,
      // Reordering is handled (RACK) but not counted in bytes.
      bytesReordered: 0, bytesRetrans: t.bytesRetransmitted, fastRetrans: t.fastRetransmits, dupAcksIn: t.dupAcksIn,
      timeoutEpisodes: t.timeoutEpisodes, synRetrans: Math.max(0, t.synSent - 1),
    };
  }

  congestionControl(): string { return this.tcb.ccName; }

  setCongestionControl(name: string): boolean { return this.engine.setCongestionControl(this.tcb, name); }

  setReceiveBufferSize(bytes: number): void { this.engine.setReceiveBuffer(this.tcb, bytes); }

  setSendOption(option: number, value: number): void { setHeaderOption(this.tcb, this.tcb.family, option, value); }

  /** SO_SNDBUF: caps the bytes in flight (Tcb.sndBufSize); output resumes at once if the cap rose. */
  setSendBufferSize(bytes: number): void { this.engine.setSendBuffer(this.tcb, bytes); }

  releaseData(handle: number): void { this.engine.releaseData(handle); }
  heldBytes(handle: number): Uint8Array { return this.engine.stack.held.bytes(handle); }
  pinData(handle: number): void { this.engine.stack.held.pin(handle); }
}

export class StackListener implements TransportListener {
  constructor(private readonly engine: TcpEngine, private readonly listener: TcpListener, readonly localEndpoint: Endpoint) {}
  setSendOption(option: number, value: number): void {
    const l = this.listener;
    setHeaderOption(l, NetworkFamily.IPV4, option, value);
    setHeaderOption(l.ipv6Header, NetworkFamily.IPV6, option, value);
  }
  close(): void { this.engine.closeListener(this.listener); }
}

/**
 * The IP header fields of a connection, or of a listener's connections of one family: IP_TTL/
 * IP_TOS for IPv4, IPV6_UNICAST_HOPS/IPV6_TCLASS for IPv6; the other family's options are the
 * WSK layer's to keep.
 */
function setHeaderOption(target: { ttl: number; tos: number }, family: NetworkFamily, option: number, value: number): void {
  if (option === (family === NetworkFamily.IPV4 ? SEND_TTL : SEND_HOP_LIMIT)) target.ttl = value;
  else if (option === (family === NetworkFamily.IPV4 ? SEND_TOS : SEND_TCLASS)) target.tos = value;
}

/**
 * The TTL and TOS (hop limit and traffic class) a connect or listen asked for (ConnectOptions/
 * ListenOptions.sendOptions); an IPv6 hop limit not set is -1, the layer's default (ip-path.ts).
 */
function headerOptions(family: NetworkFamily, pairs: readonly (readonly [number, number])[] | undefined): { ttl: number; tos: number } {
  const o = { ttl: family === NetworkFamily.IPV4 ? 64 : -1, tos: 0 };
  for (const [option, value] of pairs ?? []) setHeaderOption(o, family, option, value);
  return o;
}

/**
 * A TCP listener for a WSK listen socket. AF_INET, or AF_INET6 bound to ::ffff:a.b.c.d: IPv4.
 * AF_INET6 bound to ::: IPv6, and IPv4 too unless options.v6Only (on a stack without IPv6, IPv4
 * only, as before). AF_INET6 bound to one of our IPv6 addresses: that address alone. Throws
 * ProviderError: STATUS_ADDRESS_ALREADY_ASSOCIATED when the port has a listener of a family
 * this one would take; STATUS_INVALID_PARAMETER for an IPv6 address that is not ours.
 */
export function stackListen(engine: TcpEngine, local: Endpoint, options: ListenOptions, sink: ListenerSink): StackListener {
  const stack = engine.stack;
  let family: NetworkFamily = NetworkFamily.IPV4;
  let ip = ipOf(local);
  if (familyOf(local) === NetworkFamily.IPV6 && (stack.ip6 !== null || !isV6Wildcard(local))) {
    family = NetworkFamily.IPV6;
    ip = localIpv6Id(stack, local);
    if (ip < 0) throw new ProviderError(STATUS_INVALID_PARAMETER, `listen: ${formatEndpoint(local)} is not an address of this stack.`);
  }
  const v6Only = family === NetworkFamily.IPV6 && options.v6Only;
  const port = local.port === 0 ? engine.ephemeralPort() : local.port;
  if (port === 0) throw new ProviderError(STATUS_CONNECTION_ABORTED, 'listen: no free TCP port left on the userspace stack.');
  if (!engine.canListen(port, family, v6Only || ip !== 0)) {
    throw new ProviderError(STATUS_ADDRESS_ALREADY_ASSOCIATED, `listen: TCP port ${port} already has a listener on this stack.`);
  }
  const keepAlive = options.keepAlive;
  const l = engine.listen(ip, port, options.backlog > 0 ? options.backlog : 128, {
    onConnection: (tcb) => {
      const conn = new StackConnection(engine, tcb, local.family);
      if (keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
      sink.onConnection(conn);
    },
  }, { family, v6Only });
  Object.assign(l, headerOptions(NetworkFamily.IPV4, options.sendOptions));
  Object.assign(l.ipv6Header, headerOptions(NetworkFamily.IPV6, options.sendOptions));
  return new StackListener(engine, l, local.family === AF_INET6 ? { family: AF_INET6, address: Uint8Array.from(local.address), port } : endpointV4(ip, port));
}

const NO_EVENTS: TcpEvents = { onEstablished() {}, onReadable() {}, onFin() {}, onClosed() {} };

/**
 * An active open to `remote` (IPv4, v4-mapped or IPv6), from `local`'s port and, for IPv6, its
 * address when it names one of ours (else the source the IPv6 layer picks). Rejects with
 * STATUS_NETWORK_UNREACHABLE when the family has no route (or the stack no IPv6).
 */
export function stackConnect(engine: TcpEngine, local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection> {
  return new Promise((resolve, reject) => {
    const stack = engine.stack;
    const family = familyOf(remote);
    const header = headerOptions(family, options.sendOptions);
    const unreachable = (why: string): void => reject(new ProviderError(STATUS_NETWORK_UNREACHABLE, `connect: no route to ${formatEndpoint(remote)} (${why})`));
    let r: Tcb | NTSTATUS;
    // The SYN leaves now; its answer arrives on a later turn, by when the connection owns the events.
    if (family === NetworkFamily.IPV4) {
      const to = ipOf(remote);
      if (!stack.ip4.hasRoute(to)) { unreachable("not on the interface's subnet and no gateway configured"); return; }
      r = engine.connect(local?.port ?? 0, to, remote.port, NO_EVENTS, header.ttl, header.tos);
    } else {
      const ip6 = stack.ip6;
      if (!ip6) { unreachable('the stack has no IPv6 address'); return; }
      const from = local ? localIpv6Id(stack, local) : 0;
      if (from < 0) { reject(new ProviderError(STATUS_INVALID_PARAMETER, `connect: ${formatEndpoint(local!)} is not an address of this stack.`)); return; }
      // Held while the connection is made; its TCB takes its own reference.
      const to = ip6.table.intern(remote.address, 0);
      if (to === 0 || !ip6.hasRoute(to)) {
        ip6.table.release(to);
        unreachable('no on-link prefix or default router for it');
        return;
      }
      r = engine.connect(local?.port ?? 0, to, remote.port, NO_EVENTS, header.ttl, header.tos, NetworkFamily.IPV6, from);
      ip6.table.release(to);
    }
    if (typeof r === 'number') { reject(new ProviderError(r, `connect to ${formatEndpoint(remote)} failed`)); return; }
    const conn = new StackConnection(engine, r, remote.family);
    // Chosen before the handshake: the SYN's connection starts with it (the WSK layer checked the name).
    if (options.congestionControl) engine.setCongestionControl(r, options.congestionControl);
    if (options.keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
    if (options.noDelay) conn.setNoDelay(true);
    conn.onOpen = (status) => {
      if (status === STATUS_SUCCESS) resolve(conn);
      else reject(new ProviderError(status, `connect to ${formatEndpoint(remote)} failed`));
    };
  });
}

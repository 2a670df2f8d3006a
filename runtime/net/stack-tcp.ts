// The stack provider's TCP half: TransportConnection and TransportListener over the TCP engine.
// - WskSend (R40): pieces are queued by reference and `done` runs when every byte is
//   acknowledged, so the MDL stays the application's until then and retransmissions read it
//   again; the ideal send backlog (congestion and peer window) tells applications how much to
//   keep posted (WskSendBacklogEvent / SIO_WSK_QUERY_IDEAL_SEND_BACKLOG).
// - Graceful disconnect completes once everything sent before the FIN is acknowledged.
// - Receive: in-order bytes go to the sink while it is not paused; paused bytes stay in the
//   connection's receive buffer and the advertised window closes (flow control by SO_RCVBUF).
import { STATUS_CONNECTION_ABORTED, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import {
  ProviderError, SEND_TOS, SEND_TTL, type ConnectionSink, type ConnectOptions, type ListenerSink, type ListenOptions, type TcpInfo, type TransportConnection,
  type TransportListener,
} from '../provider.ts';
import { AF_INET, AF_INET6, type Endpoint } from '../sockaddr.ts';
import { get32s } from './wire/bytes.ts';
import type { Tcb, TcpEvents } from './tcp/tcb.ts';
import { TcpState } from './tcp/tcb.ts';
import type { TcpEngine, TcpListener } from './tcp/tcp-engine.ts';

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

function endpointFor(family: number, ip: number, port: number): Endpoint {
  return family === AF_INET6 ? endpointMapped(ip, port) : endpointV4(ip, port);
}

/** True for :: (the IPv6 wildcard). */
export function isV6Wildcard(ep: Endpoint): boolean {
  return ep.family === AF_INET6 && ep.address.every((b) => b === 0);
}

/** True for ::ffff:a.b.c.d. */
export function isV4Mapped(ep: Endpoint): boolean {
  const a = ep.address;
  return ep.family === AF_INET6 && a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
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

  constructor(private readonly engine: TcpEngine, readonly tcb: Tcb, family: number = AF_INET) {
    this.localEndpoint = endpointFor(family, tcb.localIp, tcb.localPort);
    this.remoteEndpoint = endpointFor(family, tcb.remoteIp, tcb.remotePort);
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

  setSendOption(option: number, value: number): void { setHeaderOption(this.tcb, option, value); }

  /** SO_SNDBUF: caps the bytes in flight (Tcb.sndBufSize); output resumes at once if the cap rose. */
  setSendBufferSize(bytes: number): void { this.engine.setSendBuffer(this.tcb, bytes); }

  releaseData(handle: number): void { this.engine.releaseData(handle); }
  heldBytes(handle: number): Uint8Array { return this.engine.stack.held.bytes(handle); }
  pinData(handle: number): void { this.engine.stack.held.pin(handle); }
}

export class StackListener implements TransportListener {
  constructor(private readonly engine: TcpEngine, private readonly listener: TcpListener, readonly localEndpoint: Endpoint) {}
  setSendOption(option: number, value: number): void { setHeaderOption(this.listener, option, value); }
  close(): void { this.engine.closeListener(this.listener); }
}

/**
 * IP_TTL/IP_TOS on a connection or a listener (whose connections inherit them). The IPv6 ones
 * (IPV6_UNICAST_HOPS, IPV6_TCLASS) are kept by the WSK layer only: the stack's AF_INET6 TCP
 * sockets carry IPv4 traffic alone, which they do not touch.
 */
function setHeaderOption(target: { ttl: number; tos: number }, option: number, value: number): void {
  if (option === SEND_TTL) target.ttl = value;
  else if (option === SEND_TOS) target.tos = value;
}

/** The TTL and TOS a connect or listen asked for (ConnectOptions/ListenOptions.sendOptions). */
function headerOptions(pairs: readonly (readonly [number, number])[] | undefined): { ttl: number; tos: number } {
  const o = { ttl: 64, tos: 0 };
  for (const [option, value] of pairs ?? []) setHeaderOption(o, option, value);
  return o;
}

export function stackListen(engine: TcpEngine, local: Endpoint, options: ListenOptions, sink: ListenerSink): StackListener {
  const ip = ipOf(local);
  const port = local.port === 0 ? engine.ephemeralPort() : local.port;
  if (port === 0) throw new ProviderError(STATUS_CONNECTION_ABORTED, 'listen: no free TCP port left on the userspace stack.');
  const keepAlive = options.keepAlive;
  const l = engine.listen(ip, port, options.backlog > 0 ? options.backlog : 128, {
    onConnection: (tcb) => {
      const conn = new StackConnection(engine, tcb, local.family);
      if (keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
      sink.onConnection(conn);
    },
  });
  const header = headerOptions(options.sendOptions);
  l.ttl = header.ttl;
  l.tos = header.tos;
  return new StackListener(engine, l, local.family === AF_INET6 ? { family: AF_INET6, address: Uint8Array.from(local.address), port } : endpointV4(ip, port));
}

const NO_EVENTS: TcpEvents = { onEstablished() {}, onReadable() {}, onFin() {}, onClosed() {} };

export function stackConnect(engine: TcpEngine, local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection> {
  return new Promise((resolve, reject) => {
    const to = ipOf(remote);
    if (!engine.stack.hasRoute(to)) {
      reject(new ProviderError(STATUS_NETWORK_UNREACHABLE, `connect: no route to ${Array.from(remote.address).join('.')} (not on the interface's subnet and no gateway configured)`));
      return;
    }
    // The SYN leaves now; its answer arrives on a later turn, by when the connection owns the events.
    const header = headerOptions(options.sendOptions);
    const r = engine.connect(local?.port ?? 0, to, remote.port, NO_EVENTS, header.ttl, header.tos);
    if (typeof r === 'number') { reject(new ProviderError(r, 'connect: no TCP port available')); return; }
    const conn = new StackConnection(engine, r, remote.family);
    // Chosen before the handshake: the SYN's connection starts with it (the WSK layer checked the name).
    if (options.congestionControl) engine.setCongestionControl(r, options.congestionControl);
    if (options.keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
    if (options.noDelay) conn.setNoDelay(true);
    conn.onOpen = (status) => {
      if (status === STATUS_SUCCESS) resolve(conn);
      else reject(new ProviderError(status, `connect to ${Array.from(remote.address).join('.')}:${remote.port} failed`));
    };
  });
}

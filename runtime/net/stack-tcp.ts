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
  ProviderError, type ConnectionSink, type ConnectOptions, type ListenerSink, type ListenOptions, type TransportConnection,
  type TransportListener,
} from '../provider.ts';
import { AF_INET, type Endpoint } from '../sockaddr.ts';
import { get32 } from './wire/bytes.ts';
import type { Tcb, TcpEvents } from './tcp/tcb.ts';
import { TcpState } from './tcp/tcb.ts';
import type { TcpEngine, TcpListener } from './tcp/tcp-engine.ts';

export function endpointV4(ip: number, port: number): Endpoint {
  return { family: AF_INET, address: Uint8Array.of(ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff), port };
}

export function ipOf(ep: Endpoint): number {
  return get32(ep.address, 0) | 0;
}

export class StackConnection implements TransportConnection, TcpEvents {
  readonly localEndpoint: Endpoint;
  readonly remoteEndpoint: Endpoint;
  private sink: ConnectionSink | null = null;
  private paused = false;
  private finPending = false;
  private ended = false;
  private gone = false;
  /** For an active open: settles the connect promise. */
  onOpen: ((status: NTSTATUS) => void) | null = null;

  constructor(private readonly engine: TcpEngine, readonly tcb: Tcb) {
    this.localEndpoint = endpointV4(tcb.localIp, tcb.localPort);
    this.remoteEndpoint = endpointV4(tcb.remoteIp, tcb.remotePort);
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
    this.deliver();
    if (this.gone && !this.ended && this.tcb.state === TcpState.CLOSED && !this.finPending) {
      // Reset before the WSK layer attached: report it now.
      this.sink = null;
      sink.onAbort(STATUS_CONNECTION_ABORTED);
    }
  }

  private deliver(): void {
    const sink = this.sink;
    if (!sink || this.paused) return;
    const chunks = this.engine.take(this.tcb);
    if (chunks) for (const c of chunks) { sink.onData(c); if (this.sink !== sink || this.paused) return; }
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
    this.engine.abort(this.tcb, STATUS_CONNECTION_ABORTED);
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
    this.deliver();
  }

  setKeepAlive(enable: boolean, idleSeconds: number, intervalSeconds: number, count: number): void {
    this.engine.setKeepAlive(this.tcb, enable, idleSeconds * 1000, intervalSeconds * 1000, count);
  }

  setNoDelay(enable: boolean): void { this.engine.setNoDelay(this.tcb, enable); }

  idealSendBacklog(): number { return this.tcb.idealSendBacklog; }
}

export class StackListener implements TransportListener {
  constructor(private readonly engine: TcpEngine, private readonly listener: TcpListener, readonly localEndpoint: Endpoint) {}
  close(): void { this.engine.closeListener(this.listener); }
}

export function stackListen(engine: TcpEngine, local: Endpoint, options: ListenOptions, sink: ListenerSink): StackListener {
  const ip = ipOf(local);
  const port = local.port === 0 ? engine.ephemeralPort() : local.port;
  if (port === 0) throw new ProviderError(STATUS_CONNECTION_ABORTED, 'listen: no free TCP port left on the userspace stack.');
  const keepAlive = options.keepAlive;
  const l = engine.listen(ip, port, options.backlog > 0 ? options.backlog : 128, {
    onConnection: (tcb) => {
      const conn = new StackConnection(engine, tcb);
      if (keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
      sink.onConnection(conn);
    },
  });
  return new StackListener(engine, l, endpointV4(ip, port));
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
    const r = engine.connect(local?.port ?? 0, to, remote.port, NO_EVENTS);
    if (typeof r === 'number') { reject(new ProviderError(r, 'connect: no TCP port available')); return; }
    const conn = new StackConnection(engine, r);
    if (options.keepAlive) conn.setKeepAlive(true, 7200, 75, 9);
    if (options.noDelay) conn.setNoDelay(true);
    conn.onOpen = (status) => {
      if (status === STATUS_SUCCESS) resolve(conn);
      else reject(new ProviderError(status, `connect to ${Array.from(remote.address).join('.')}:${remote.port} failed`));
    };
  });
}

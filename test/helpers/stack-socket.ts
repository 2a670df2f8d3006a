// A node:net-like stream over the userspace stack's TCP, so tests written against net.Socket
// peers (write, end, destroy, resetAndDestroy, 'data'/'end'/'close'/'error') can talk to a WSK
// socket on another stack of the same memory network.
import { Duplex } from 'node:stream';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';
import { STATUS_SUCCESS, ntStatusName, type NTSTATUS } from '../../runtime/ntstatus.ts';
import type { Tcb, TcpEvents } from '../../runtime/net/tcp/tcb.ts';
import { TcpState } from '../../runtime/net/tcp/tcb.ts';
import type { TcpEngine, TcpListener } from '../../runtime/net/tcp/tcp-engine.ts';

export class StackSocket extends Duplex implements TcpEvents {
  private tcb: Tcb | null = null;
  private wantRead = true;
  remoteAddress = '';
  remotePort = 0;
  localPort = 0;

  constructor(private readonly engine: TcpEngine, tcb: Tcb | null) {
    super({ allowHalfOpen: true });
    if (tcb) this.adopt(tcb);
  }

  adopt(tcb: Tcb): void {
    this.tcb = tcb;
    tcb.events = this;
    this.remoteAddress = tcb.path.format(tcb.remoteIp);
    this.remotePort = tcb.remotePort;
    this.localPort = tcb.localPort;
  }

  onEstablished(tcb: Tcb): void {
    this.adopt(tcb);
    this.emit('connect');
    this.pull();
  }

  onReadable(): void { this.pull(); }

  onFin(): void {
    this.pull();
    this.push(null);
  }

  onClosed(_t: Tcb, status: NTSTATUS): void {
    const tcb = this.tcb;
    if (status === STATUS_SUCCESS) {
      if (tcb && tcb.state === TcpState.CLOSED) this.destroy();
      return;
    }
    const err = Object.assign(new Error(`TCP connection ended: ${ntStatusName(status)}`), { code: status === -1073741299 ? 'ECONNRESET' : 'ECONNABORTED', status });
    this.tcb = null;
    this.destroy(err);
  }

  private pull(): void {
    if (!this.tcb || !this.wantRead) return;
    const chunks = this.engine.take(this.tcb);
    if (!chunks) return;
    for (const c of chunks) if (!this.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength))) this.wantRead = false;
  }

  override _read(): void {
    this.wantRead = true;
    this.pull();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.tcb) { cb(new Error('not connected')); return; }
    const r = this.engine.send(this.tcb, [new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)], true, (status) => {
      cb(status === STATUS_SUCCESS ? null : new Error(`send failed: ${ntStatusName(status)}`));
    });
    if (typeof r === 'number') cb(new Error(`send refused: ${ntStatusName(r)}`));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.tcb) this.engine.shutdown(this.tcb);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const tcb = this.tcb;
    this.tcb = null;
    if (tcb && tcb.events === this) {
      // Like closing a socket descriptor: unread data means a reset, otherwise an orderly FIN.
      if (tcb.rcvQueued > 0) this.engine.abort(tcb);
      else {
        tcb.events = null;
        if (tcb.state === TcpState.ESTABLISHED || tcb.state === TcpState.CLOSE_WAIT) this.engine.shutdown(tcb);
      }
    }
    cb(err);
  }

  /** net.Socket.resetAndDestroy(): an abortive close (RST). */
  resetAndDestroy(): this {
    const tcb = this.tcb;
    this.tcb = null;
    if (tcb) this.engine.abort(tcb);
    this.destroy();
    return this;
  }
}

/** Connects to host:port through `engine` (like net.connect); an IPv6 host ("fd00:198:18::1") connects over IPv6. */
export function stackConnect(engine: TcpEngine, port: number, host: string): StackSocket {
  const s = new StackSocket(engine, null);
  let r: Tcb | NTSTATUS;
  const v6 = host.includes(':') ? parseIpv6(host) : null;
  if (v6) {
    const table = engine.stack.ip6!.table;
    const id = table.intern(v6, 0);
    r = engine.connect(0, id, port, s, 64, 0, NetworkFamily.IPV6);
    table.release(id);
  } else {
    r = engine.connect(0, parseIpv4(host), port, s);
  }
  if (typeof r === 'number') queueMicrotask(() => s.destroy(new Error(`connect refused: ${ntStatusName(r)}`)));
  else s.adopt(r);
  return s;
}

/** A listening socket (like net.createServer) whose connections arrive through next(). */
export class StackServer {
  private readonly queue: StackSocket[] = [];
  private readonly waiters: ((s: StackSocket) => void)[] = [];
  private readonly listener: TcpListener;
  readonly port: number;

  /** `family`: IPv4 (default), IPv6 only, or both (an IPv6 wildcard listener with V6ONLY off). */
  constructor(private readonly engine: TcpEngine, port = 0, family: 'ipv4' | 'ipv6' | 'dual' = 'ipv4') {
    this.port = port === 0 ? engine.ephemeralPort() : port;
    const options = family === 'ipv4' ? {} : { family: NetworkFamily.IPV6, v6Only: family === 'ipv6' };
    this.listener = engine.listen(0, this.port, 64, {
      onConnection: (tcb) => {
        const s = new StackSocket(engine, tcb);
        const w = this.waiters.shift();
        if (w) w(s); else this.queue.push(s);
      },
    }, options);
  }

  next(): Promise<StackSocket> {
    const s = this.queue.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void { this.engine.closeListener(this.listener); }
}

// TransportConnection over a connected net.Socket (allowHalfOpen, paused until attach so early data
// waits in the kernel). Sink calls: onData*, onEnd?, then at most one onAbort, none after
// abort()/close(). Every send/shutdown completion fires exactly once and is never synchronous.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { SEND_BUFFER, type ConnectionSink, type TransportConnection } from '../../runtime/provider.ts';
import {
  STATUS_CONNECTION_ABORTED,
  STATUS_CONNECTION_DISCONNECTED,
  STATUS_PIPE_DISCONNECTED,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../../runtime/ntstatus.ts';
import type { Endpoint } from '../../runtime/sockaddr.ts';
import { endpointOf, statusFromError, type Family } from './kernel-address.ts';
import { setHostSocketOption } from './host-socket-options.ts';

/**
 * Node exposes neither SIOCOUTQ nor TCP_INFO, so the real send window is unknown; 64 KiB keeps a
 * loopback or LAN link busy (it is also Windows' initial ideal send backlog) while bounding what
 * Node buffers in user space. onSendBacklog is therefore never called.
 */
export const KERNEL_IDEAL_SEND_BACKLOG = 64 * 1024;

type Completion = (status: NTSTATUS) => void;

/** One send in flight: completes when all its writes have been taken by the host socket. */
interface SendRecord {
  writes: number;
  nodelay: boolean;
  done: (status: NTSTATUS, token: any) => void;
  token: unknown;
}

export class KernelConnection implements TransportConnection {
  readonly localEndpoint: Endpoint;
  readonly remoteEndpoint: Endpoint;
  /**
   * Last values given to setKeepAlive. Node 20 only sets SO_KEEPALIVE and TCP_KEEPIDLE (libuv
   * picks TCP_KEEPINTVL/TCP_KEEPCNT itself), so interval and count are kept here but not applied.
   */
  keepAliveIntervalSeconds = 0;
  keepAliveCount = 0;

  private sink: ConnectionSink | null = null;
  /** abort()/close() called, or onAbort delivered: no more sink calls. */
  private silenced = false;
  private ended = false;
  private finished = false;
  private closed = false;
  /** Why the socket failed (first 'error'), reported by onAbort and failed completions. */
  private failure: NTSTATUS | null = null;
  /** Set when the socket failed before attach: onAbort is delivered by attach. */
  private abortBeforeAttach = false;
  /** Sends in write order: Node calls write callbacks in the same order. */
  private readonly sends: SendRecord[] = [];
  private sendsFailed = false;
  private readonly onWritten = (err?: Error | null): void => this.written(err);
  private readonly shutdownWaiters = new Set<Completion>();
  private noDelay = false;
  private appliedNoDelay = false;
  private nodelaySends = 0;

  constructor(private readonly socket: Socket, family: Family, private readonly onRelease: (c: KernelConnection) => void) {
    this.localEndpoint = endpointOf(socket.localAddress, socket.localPort, family);
    this.remoteEndpoint = endpointOf(socket.remoteAddress, socket.remotePort, family);
    socket.on('error', (err) => this.onError(err));
    socket.on('finish', () => this.onFinish());
    socket.on('close', () => this.onClose());
  }

  attach(sink: ConnectionSink): void {
    if (this.sink || this.silenced) return;
    this.sink = sink;
    if (this.abortBeforeAttach) {
      this.silenced = true;
      sink.onAbort(this.failure ?? STATUS_CONNECTION_ABORTED);
      return;
    }
    this.socket.on('data', (chunk: Buffer) => { if (!this.silenced) this.sink!.onData(chunk); });
    this.socket.on('end', () => {
      this.ended = true;
      if (!this.silenced) this.sink!.onEnd();
    });
    this.socket.resume();
  }

  send<T>(pieces: Uint8Array[], nodelay: boolean, done: (status: NTSTATUS, token: T) => void, token?: T): void {
    const socket = this.socket;
    if (socket.destroyed || this.closed) return laterSend(done, this.failure ?? STATUS_CONNECTION_ABORTED, token);
    if (socket.writableEnded) return laterSend(done, STATUS_PIPE_DISCONNECTED, token);
    // One piece is the common case (one MDL): no filtering, no cork/writev.
    const chunks = pieces.length === 1 ? pieces : pieces.filter((p) => p.byteLength > 0);
    if (chunks.length === 0 || chunks[0]!.byteLength === 0) return laterSend(done, STATUS_SUCCESS, token);
    if (nodelay) { this.nodelaySends++; this.applyNoDelay(); }
    this.sends.push({ writes: chunks.length, nodelay, done, token });
    try {
      if (chunks.length === 1) {
        socket.write(chunks[0]!, this.onWritten);
      } else {
        socket.cork();
        for (const chunk of chunks) socket.write(chunk, this.onWritten);
        socket.uncork();
      }
    } catch (err) {
      this.failSends(statusFromError(err));
    }
  }

  private written(err?: Error | null): void {
    if (this.sendsFailed) return;
    // Node completes an in-flight write with no error once the stream is destroyed (reset,
    // abort): the bytes were not delivered, so that is a failure.
    if (err || this.socket.destroyed) return this.failSends(err ? statusFromError(err) : this.failure ?? STATUS_CONNECTION_ABORTED);
    const head = this.sends[0];
    if (!head || --head.writes > 0) return;
    this.sends.shift();
    this.finishSend(head, STATUS_SUCCESS);
  }

  private finishSend(record: SendRecord, status: NTSTATUS): void {
    if (record.nodelay) { this.nodelaySends--; this.applyNoDelay(); }
    record.done(status, record.token);
  }

  /** The connection can no longer send: every send in flight fails once, later callbacks are ignored. */
  private failSends(status: NTSTATUS): void {
    this.sendsFailed = true;
    for (const record of this.sends.splice(0)) laterSend(record.done, status, record.token);
  }

  shutdown(done: (status: NTSTATUS) => void): void {
    if (this.finished) return later(done, STATUS_SUCCESS);
    if (this.socket.destroyed || this.closed) return later(done, this.failure ?? STATUS_CONNECTION_ABORTED);
    let completed = false;
    const complete: Completion = (status) => {
      if (completed) return;
      completed = true;
      this.shutdownWaiters.delete(complete);
      done(status);
    };
    this.shutdownWaiters.add(complete);
    try {
      if (!this.socket.writableEnded) this.socket.end();
    } catch (err) {
      later(complete, statusFromError(err));
    }
  }

  abort(): void {
    this.silenced = true;
    this.release();
    const socket = this.socket;
    try {
      if (!socket.destroyed) socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  close(): void {
    this.silenced = true;
    this.release();
    this.socket.destroy();
  }

  pauseReceive(): void {
    if (this.sink && !this.socket.destroyed) this.socket.pause();
  }

  resumeReceive(): void {
    if (this.sink && !this.silenced && !this.socket.destroyed) this.socket.resume();
  }

  setKeepAlive(enable: boolean, idleSeconds: number, intervalSeconds: number, count: number): void {
    this.keepAliveIntervalSeconds = intervalSeconds;
    this.keepAliveCount = count;
    try { this.socket.setKeepAlive(enable, Math.max(0, idleSeconds) * 1000); } catch { /* socket gone */ }
  }

  setSendOption(option: number, value: number): void {
    setHostSocketOption(this.socket, option, value);
  }

  /** SO_SNDBUF: the host socket's own send buffer (Linux doubles what it is given, socket(7)). */
  setSendBufferSize(bytes: number): void {
    setHostSocketOption(this.socket, SEND_BUFFER, bytes);
  }

  setNoDelay(enable: boolean): void {
    this.noDelay = enable;
    this.applyNoDelay();
  }

  idealSendBacklog(): number {
    return KERNEL_IDEAL_SEND_BACKLOG;
  }

  /**
   * Node cannot read or set a socket's TCP_CONGESTION, and never changes it: its sockets run the
   * host's default (net.ipv4.tcp_congestion_control of this process's network namespace).
   */
  congestionControl(): string {
    return hostCongestionControl();
  }

  /** TCP_NODELAY stays on while a nodelay send is in flight, then returns to the configured value. */
  private applyNoDelay(): void {
    const want = this.noDelay || this.nodelaySends > 0;
    if (want === this.appliedNoDelay) return;
    this.appliedNoDelay = want;
    try { this.socket.setNoDelay(want); } catch { /* socket gone */ }
  }

  private onError(err: Error): void {
    if (this.failure !== null) return;
    this.failure = statusFromError(err);
    this.reportAbort();
  }

  private onFinish(): void {
    this.finished = true;
    for (const waiter of [...this.shutdownWaiters]) waiter(STATUS_SUCCESS);
  }

  private onClose(): void {
    this.closed = true;
    const status = this.failure ?? STATUS_CONNECTION_ABORTED;
    if (this.sends.length > 0) this.failSends(status);
    for (const c of [...this.shutdownWaiters]) c(status);
    // A close after FIN both ways (and no error) is the graceful end, not an abort.
    if (this.failure === null && !(this.ended && this.finished)) this.failure = STATUS_CONNECTION_DISCONNECTED;
    if (this.failure !== null) this.reportAbort();
    this.release();
  }

  private reportAbort(): void {
    if (this.silenced) return;
    if (!this.sink) { this.abortBeforeAttach = true; return; }
    this.silenced = true;
    this.sink.onAbort(this.failure ?? STATUS_CONNECTION_ABORTED);
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

function later(fn: Completion, status: NTSTATUS): void {
  process.nextTick(fn, status);
}

function laterSend<T>(fn: (status: NTSTATUS, token: T) => void, status: NTSTATUS, token: T | undefined): void {
  process.nextTick(fn, status, token as T);
}

let hostDefault: string | null = null;

function hostCongestionControl(): string {
  if (hostDefault === null) {
    try { hostDefault = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim(); } catch { hostDefault = ''; }
  }
  return hostDefault;
}

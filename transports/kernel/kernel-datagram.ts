// TransportDatagram over a bound dgram socket: each message → sink.onDatagram(msg, from, 0), socket
// errors → sink.onError; sendTo completes done(status, bytes) exactly once, never synchronously.
// setBroadcast/setReceiveBufferSize throw ProviderError (an NTSTATUS) if the kernel refuses.
import { createSocket, type Socket } from 'node:dgram';
import { ProviderError, type DatagramOptions, type DatagramSink, type TransportDatagram } from '../../runtime/provider.ts';
import { STATUS_CANCELLED, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, type NTSTATUS } from '../../runtime/ntstatus.ts';
import { AF_INET, AF_INET6, type Endpoint } from '../../runtime/sockaddr.ts';
import { endpointOf, hostText, hostTextFor, providerError, statusFromError, type Family } from './kernel-address.ts';

export class KernelDatagram implements TransportDatagram {
  private closed = false;
  /** sendTo completions not yet called: close() completes them (Node may drop their callbacks). */
  private readonly pending = new Set<(status: NTSTATUS) => void>();

  private constructor(
    private readonly socket: Socket,
    private readonly family: Family,
    readonly localEndpoint: Endpoint,
    private readonly onRelease: (d: KernelDatagram) => void,
  ) {}

  /** Creates and binds the socket, applies the options, then starts delivering to `sink`. */
  static bind(local: Endpoint, options: DatagramOptions, sink: DatagramSink, onRelease: (d: KernelDatagram) => void): Promise<KernelDatagram> {
    const family: Family = local.family === AF_INET ? AF_INET : AF_INET6;
    return new Promise((resolve, reject) => {
      let socket: Socket;
      try {
        socket = createSocket({
          type: family === AF_INET ? 'udp4' : 'udp6',
          ipv6Only: family === AF_INET6 && options.v6Only,
          reuseAddr: options.reuseAddress,
        });
      } catch (err) {
        reject(providerError(err, 'dgram socket'));
        return;
      }
      const onBindError = (err: Error): void => {
        socket.close();
        reject(providerError(err, `bind ${hostText(local)}:${local.port}`));
      };
      socket.once('error', onBindError);
      socket.bind({ address: hostText(local), port: local.port, exclusive: true }, () => {
        socket.off('error', onBindError);
        try {
          if (options.broadcast) socket.setBroadcast(true);
          if (options.receiveBufferSize > 0) socket.setRecvBufferSize(options.receiveBufferSize);
        } catch (err) {
          socket.close();
          reject(providerError(err, 'datagram options'));
          return;
        }
        const address = socket.address();
        const datagram = new KernelDatagram(socket, family, endpointOf(address.address, address.port, family), onRelease);
        socket.on('message', (msg, rinfo) => {
          if (!datagram.closed) sink.onDatagram(msg, endpointOf(rinfo.address, rinfo.port, family), 0);
        });
        socket.on('error', (err) => { if (!datagram.closed) sink.onError(statusFromError(err)); });
        resolve(datagram);
      });
    });
  }

  sendTo(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number) => void): void {
    const fail = (status: NTSTATUS): void => { process.nextTick(done, status, 0); };
    const host = hostTextFor(to, this.family);
    if (host === null || to.port <= 0 || to.port > 0xffff) return fail(STATUS_INVALID_PARAMETER);
    if (this.closed) return fail(STATUS_CANCELLED);
    let completed = false;
    const cancel = (status: NTSTATUS): void => {
      if (completed) return;
      completed = true;
      this.pending.delete(cancel);
      done(status, 0);
    };
    this.pending.add(cancel);
    try {
      this.socket.send(pieces, to.port, host, (err, bytes) => {
        if (completed) return;
        completed = true;
        this.pending.delete(cancel);
        if (err) done(statusFromError(err), 0);
        else done(STATUS_SUCCESS, bytes);
      });
    } catch (err) {
      completed = true;
      this.pending.delete(cancel);
      fail(statusFromError(err));
    }
  }

  setBroadcast(enable: boolean): void {
    try { this.socket.setBroadcast(enable); } catch (err) { throw providerError(err, 'SO_BROADCAST'); }
  }

  setReceiveBufferSize(bytes: number): void {
    if (bytes <= 0) throw new ProviderError(STATUS_INVALID_PARAMETER, `SO_RCVBUF: ${bytes}`);
    try { this.socket.setRecvBufferSize(bytes); } catch (err) { throw providerError(err, 'SO_RCVBUF'); }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onRelease(this);
    try { this.socket.close(); } catch { /* already closed */ }
    for (const cancel of [...this.pending]) process.nextTick(cancel, STATUS_CANCELLED);
  }
}

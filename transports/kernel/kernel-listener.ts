// TransportListener over a net.Server (allowHalfOpen, pauseOnConnect): each accepted socket is
// wrapped by the provider and handed to sink.onConnection still paused; an error after listening
// is reported once by sink.onError. close() stops accepting; accepted connections live on.
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerSink, ListenOptions, TransportConnection, TransportListener } from '../../runtime/provider.ts';
import { AF_INET, AF_INET6, type Endpoint } from '../../runtime/sockaddr.ts';
import { endpointOf, hostText, providerError, statusFromError, type Family } from './kernel-address.ts';
import { setHostSocketOption, setHostSocketOptions } from './host-socket-options.ts';

export class KernelListener implements TransportListener {
  private closed = false;
  private errorReported = false;

  private constructor(private readonly server: Server, readonly localEndpoint: Endpoint, private readonly onRelease: (l: KernelListener) => void) {}

  /**
   * Listens on `local`; `wrap` turns an accepted socket into the connection given to the sink
   * (the provider tracks it). Rejects with ProviderError when the kernel refuses the address.
   */
  static listen(
    local: Endpoint,
    options: ListenOptions,
    sink: ListenerSink,
    wrap: (socket: Socket, family: Family) => TransportConnection,
    onRelease: (l: KernelListener) => void,
  ): Promise<KernelListener> {
    const family: Family = local.family === AF_INET ? AF_INET : AF_INET6;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    return new Promise((resolve, reject) => {
      const onListenError = (err: Error): void => {
        server.close();
        reject(providerError(err, `listen ${hostText(local)}:${local.port}`));
      };
      server.once('error', onListenError);
      server.listen({
        host: hostText(local),
        port: local.port,
        ipv6Only: family === AF_INET6 && options.v6Only,
        backlog: options.backlog > 0 ? options.backlog : 511,
        exclusive: true,
      }, () => {
        server.off('error', onListenError);
        try {
          setHostSocketOptions(server, options.sendOptions);
        } catch (err) {
          server.close();
          reject(err);
          return;
        }
        const address = server.address();
        const bound = typeof address === 'object' && address ? endpointOf(address.address, address.port, family) : { ...local };
        const listener = new KernelListener(server, bound, onRelease);
        server.on('error', (err) => {
          if (listener.closed || listener.errorReported) return;
          listener.errorReported = true;
          sink.onError(statusFromError(err));
        });
        server.on('connection', (socket: Socket) => {
          // A peer that reset before we saw the connection has no address any more: drop it.
          if (listener.closed || socket.remoteAddress === undefined) { socket.destroy(); return; }
          if (options.keepAlive) socket.setKeepAlive(true);
          sink.onConnection(wrap(socket, family));
        });
        resolve(listener);
      });
    });
  }

  setSendOption(option: number, value: number): void {
    setHostSocketOption(this.server, option, value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onRelease(this);
    this.server.close();
  }
}

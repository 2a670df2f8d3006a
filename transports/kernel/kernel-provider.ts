// The kernel TransportProvider: TCP, UDP and raw sockets over the host's own stack — TCP through
// node:net, UDP and raw sockets through our own socket (udp-socket.ts: recvmmsg/sendmmsg with
// control messages, which node:dgram cannot read or write) — names through getaddrinfo. Every failure surfaces as a
// ProviderError/NTSTATUS. The provider owns what it creates until the WSK layer closes it;
// stop() closes whatever is still open.
import { createServer, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  ProviderError,
  type ConnectOptions,
  type DatagramOptions,
  type DatagramSink,
  type ListenerSink,
  type ListenOptions,
  type Resolver,
  type TransportConnection,
  type TransportDatagram,
  type TransportListener,
  type TransportProvider,
  type TransportTriple,
} from '../../runtime/provider.ts';
import { STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, STATUS_NOT_SUPPORTED } from '../../runtime/ntstatus.ts';
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  isWildcard,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_STREAM,
  type Endpoint,
} from '../../runtime/sockaddr.ts';
import { endpointOf, hostText, hostTextFor, nodeFamily, providerError, type Family } from './kernel-address.ts';
import { KernelConnection } from './kernel-connection.ts';
import { KernelDatagram } from './kernel-datagram.ts';
import { KernelListener } from './kernel-listener.ts';
import { setHostSocketOptions } from './host-socket-options.ts';
import { HostResolver } from './host-resolver.ts';
import { loadUdpAddon, udpAddonError } from './udp-socket.ts';

function familyOf(ep: Endpoint): Family | null {
  return ep.family === AF_INET || ep.family === AF_INET6 ? ep.family : null;
}

function badFamily(what: string, ep: Endpoint): Promise<never> {
  return Promise.reject(new ProviderError(STATUS_INVALID_PARAMETER, `${what}: address family ${String(ep.family)}`));
}

export class KernelProvider implements TransportProvider {
  readonly name = 'kernel';
  readonly resolver: Resolver = new HostResolver();

  private readonly listeners = new Set<KernelListener>();
  private readonly connections = new Set<KernelConnection>();
  private readonly datagrams = new Set<KernelDatagram>();

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    for (const l of [...this.listeners]) l.close();
    for (const c of [...this.connections]) c.close();
    for (const d of [...this.datagrams]) d.close();
    return Promise.resolve();
  }

  /**
   * Datagram sockets are listed only when their native socket is built (build.mjs builds it on
   * install; CI requires it): without it WskSocket refuses SOCK_DGRAM with STATUS_NOT_SUPPORTED
   * rather than giving a socket that lacks control info.
   */
  transports(): TransportTriple[] {
    const udp = loadUdpAddon() !== null;
    return [AF_INET, AF_INET6].flatMap((family) => [
      { family, socketType: SOCK_STREAM, protocol: IPPROTO_TCP },
      ...(udp ? [{ family, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP }] : []),
      // Raw sockets of any protocol (0: WSAPROTOCOL_INFO's "any"), on the same native socket.
      ...(udp ? [{ family, socketType: SOCK_RAW, protocol: 0 }] : []),
    ]);
  }

  /** Binds a throw-away listener on `local` (port 0 = any) and hands back the port it got. */
  reservePort(local: Endpoint): Promise<number> {
    const family = familyOf(local);
    if (family === null) return badFamily('reservePort', local);
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', (err) => reject(providerError(err, `reserve port on ${hostText(local)}`)));
      server.listen({ host: hostText(local), port: local.port, exclusive: true }, () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
  }

  listen(local: Endpoint, options: ListenOptions, sink: ListenerSink): Promise<TransportListener> {
    if (familyOf(local) === null) return badFamily('listen', local);
    return KernelListener.listen(local, options, sink, (socket, family) => this.track(socket, family), (l) => this.listeners.delete(l))
      .then((listener) => { this.listeners.add(listener); return listener; });
  }

  connect(local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection> {
    const family = familyOf(remote);
    if (family === null) return badFamily('connect', remote);
    const host = hostTextFor(remote, family);
    if (local && local.family !== family) return badFamily('connect (local)', local);
    if (host === null || remote.port <= 0 || remote.port > 0xffff) {
      return Promise.reject(new ProviderError(STATUS_INVALID_PARAMETER, `connect: bad remote port ${remote.port}`));
    }
    const a = remote.address;
    const mapped = family === AF_INET6 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
    // Node cannot set IPV6_V6ONLY on a client socket; a v6-only socket cannot reach a mapped
    // address (Linux: ENETUNREACH), so refuse it here.
    if (mapped && options.v6Only) {
      return Promise.reject(new ProviderError(STATUS_NETWORK_UNREACHABLE, `connect: ${host} is v4-mapped on a v6-only socket`));
    }
    return new Promise((resolve, reject) => {
      const socket = new Socket({ allowHalfOpen: true });
      socket.pause(); // nothing is read before attach
      const onConnectError = (err: Error): void => {
        socket.destroy();
        reject(providerError(err, `connect ${host}:${remote.port}`));
      };
      socket.once('error', onConnectError);
      socket.once('connect', () => {
        socket.off('error', onConnectError);
        try {
          setHostSocketOptions(socket, options.sendOptions);
        } catch (err) {
          socket.destroy();
          reject(err);
          return;
        }
        const connection = this.track(socket, family);
        if (options.noDelay) connection.setNoDelay(true);
        if (options.keepAlive) socket.setKeepAlive(true);
        resolve(connection);
      });
      const bindLocal = local !== null && !(isWildcard(local) && local.port === 0);
      try {
        socket.connect({
          host,
          port: remote.port,
          family: nodeFamily(family),
          ...(bindLocal ? { localAddress: hostText(local), localPort: local.port } : {}),
        });
      } catch (err) {
        onConnectError(err as Error);
      }
    });
  }

  bindDatagram(local: Endpoint, options: DatagramOptions, sink: DatagramSink): Promise<TransportDatagram> {
    if (familyOf(local) === null) return badFamily('bindDatagram', local);
    if (!loadUdpAddon()) return Promise.reject(new ProviderError(STATUS_NOT_SUPPORTED, `bindDatagram: ${udpAddonError()}`));
    return KernelDatagram.bind(local, options, sink, (d) => this.datagrams.delete(d))
      .then((datagram) => { this.datagrams.add(datagram); return datagram; });
  }

  /** Unicast addresses of the family on every interface (loopback included), port 0. */
  localAddresses(family: number): Endpoint[] {
    if (family !== AF_INET && family !== AF_INET6) return [];
    const out: Endpoint[] = [];
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) {
        // Node 18.0–18.3 reported the family as a number.
        const f = String(entry.family);
        if ((family === AF_INET) !== (f === 'IPv4' || f === '4')) continue;
        const ep = endpointOf(entry.address, 0, family);
        if (family === AF_INET6) ep.scopeId = entry.scopeid ?? 0;
        out.push(ep);
      }
    }
    return out;
  }

  private track(socket: Socket, family: Family): KernelConnection {
    const connection = new KernelConnection(socket, family, (c) => this.connections.delete(c));
    this.connections.add(connection);
    return connection;
  }
}

export function createKernelProvider(): KernelProvider {
  return new KernelProvider();
}

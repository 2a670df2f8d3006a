// What the WSK contract suite runs against. There is one provider-agnostic suite (docs/wsk-rules.md
// R1–R60); each provider contributes a target that says where its sockets live, how to reach
// them from outside WSK, and what it supports. Tests a target cannot support (TCP, IPv6) are
// simply not registered for it — never skipped — so every registered test is a real check,
// and a datagram/basic-socket provider still runs every rule that can be shown without TCP.
import type { Duplex } from 'node:stream';
import type { ProviderFactory } from '../helpers/wsk-session.ts';

/** A UDP endpoint outside WSK that the WSK sockets under test can reach. */
export interface UdpPeer {
  readonly address: string;          // its IP as text
  readonly port: number;             // its bound port
  send(data: Uint8Array, port: number, address: string): Promise<void>;
  /** Next datagram received (FIFO); rejects after timeoutMs (default 3000). */
  next(timeoutMs?: number): Promise<{ data: Uint8Array; address: string; port: number }>;
  close(): Promise<void>;
}

/**
 * A TCP peer socket outside WSK (a node:net Socket for the kernel target, a StackSocket for the
 * userspace-stack target): the subset the tests use. Both are half-open capable (allowHalfOpen):
 * 'end' on the WSK side's FIN, 'close' after both directions are done, 'error' (code
 * ECONNRESET) on a reset; resetAndDestroy() closes abortively (RST).
 */
export type PeerSocket = Duplex & { remoteAddress?: string; remotePort?: number; resetAndDestroy(): unknown };

/** A TCP listener outside WSK; accepted connections come out of next() in arrival order. */
export interface PeerServer {
  readonly port: number;
  next(): Promise<PeerSocket>;
  /** Stops listening; connections already accepted stay open. */
  close(): Promise<void> | void;
}

export interface ContractTarget {
  name: string;
  factory: ProviderFactory;
  /** Connection, listen and stream sockets (TCP) are supported: stream tests are defined. */
  streams: boolean;
  /** IPv6 supported: IPv6 tests are defined. */
  ipv6: boolean;
  /** AF_INET6 stream sockets with IPV6_V6ONLY 0 serve IPv4 peers as ::ffff:a.b.c.d (needs no IPv6 route). */
  dualStack: boolean;
  /** The address WSK sockets under test bind to and are reached at (kernel: 127.0.0.1 / ::1). */
  hostAddress(family: number): string;
  /** Another IPv4 address of the same host, reachable by the peers (kernel: 127.0.0.2; stack: a secondary address). */
  secondaryAddress: string;
  /** A fresh UDP peer of that family, bound to an ephemeral port, reachable from hostAddress. */
  udpPeer(family: number): Promise<UdpPeer>;
  /** A TCP listener on the peer side (at peerAddress(family)), reachable from hostAddress sockets. */
  tcpServer(family: number): Promise<PeerServer>;
  /** A TCP connection from the peer side to a WSK listener at hostAddress(family):port. */
  tcpConnect(family: number, port: number): PeerSocket;
  /** The TCP/UDP peer's address as WSK sees it (kernel: the same loopback address; stack: the peer stack). */
  peerAddress(family: number): string;
  /**
   * The TCP peers are on loopback. Windows refuses SIO_WSK_SET_TCP_SILENT_MODE for a loopback
   * connection (R48), so a target whose peers are loopback shows that refusal.
   */
  peersOnLoopback: boolean;
  /**
   * The provider can put a (non-loopback) connection into TCP silent mode (R48). The kernel
   * provider cannot keep the host kernel silent; a provider that owns its TCP may.
   */
  silentMode: boolean;
  /**
   * A provider whose receive path lends ring slots (the userspace stack): what the last session's
   * stacks still hold — held-data handles and arena slots in use. Absent for the kernel provider.
   */
  ringUsage?(): { heldHandles: number; slotsInUse: number };
}

export interface PeerDatagram { data: Uint8Array; address: string; port: number }

/** The FIFO behind UdpPeer.next(): datagrams wait for a reader, readers wait (bounded) for a datagram. */
export class PeerInbox {
  private readonly queue: PeerDatagram[] = [];
  private readonly waiters: Array<(d: PeerDatagram) => void> = [];
  constructor(private readonly where: () => string) {}

  push(d: PeerDatagram): void {
    const w = this.waiters.shift();
    if (w) w(d); else this.queue.push(d);
  }

  next(timeoutMs = 3000): Promise<PeerDatagram> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise<PeerDatagram>((resolve, reject) => {
      const waiter = (d: PeerDatagram) => { clearTimeout(timer); resolve(d); };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no datagram at ${this.where()} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

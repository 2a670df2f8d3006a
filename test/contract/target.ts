// What the WSK contract suite runs against. There is one provider-agnostic suite (wsk.md
// R1–R60); each provider contributes a target that says where its sockets live, how to reach
// them from outside WSK, and what it supports. Tests a target cannot support (TCP, IPv6) are
// simply not registered for it — never skipped — so every registered test is a real check,
// and a datagram/basic-socket provider still runs every rule that can be shown without TCP.
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

export interface ContractTarget {
  name: string;
  factory: ProviderFactory;
  /** Connection, listen and stream sockets (TCP) are supported: stream tests are defined. */
  streams: boolean;
  /** IPv6 supported: IPv6 tests are defined. */
  ipv6: boolean;
  /** The address WSK sockets under test bind to and are reached at (kernel: 127.0.0.1 / ::1). */
  hostAddress(family: number): string;
  /** A fresh UDP peer of that family, bound to an ephemeral port, reachable from hostAddress. */
  udpPeer(family: number): Promise<UdpPeer>;
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

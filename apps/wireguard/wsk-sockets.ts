// The WSK driver part of WireGuard: the outer UDP sockets, used the way wireguard-nt uses WSK (its
// design only; the code is ours, from the WSK pages): WskRegister + WskCaptureProviderNPI,
// WSK_TRANSPORT_LIST_QUERY to learn which families exist, WSK_SET_STATIC_EVENT_CALLBACKS for
// WskReceiveFromEvent before any socket, one IPv4 and one IPv6 datagram socket on ListenPort
// (IPv6 skipped, with the reason logged, when the provider has no IPv6 datagram transport),
// IP_PKTINFO / IPV6_PKTINFO on so each datagram says which of our addresses it was sent to.
//
// Receive: WskReceiveFromEvent keeps the indicated datagrams (returns STATUS_PENDING) on the
// socket's queue and processes them right after the callback returned, outside the provider's
// indication (as wireguard-nt hands them to its decryption workers), each released on its own
// (receive-queue.ts). Then `onReceiveBatchEnd` runs (the tunnel link delivers the batch's inner
// packets up its stack) and the send batches leave, so replies go with the batch that caused them.
//
// Send: send-batches.ts (WskSendMessages per destination per turn). The owner calls sendDatagram
// for each outgoing datagram; the socket of the endpoint's family takes it.
//
// Nothing here allocates per datagram (apps/wireguard/wsk-path-allocation.test.ts); the WSK
// provider underneath allocates per call on its own account.
import {
  AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP, IP_PKTINFO, IPV6_PKTINFO, IPV6_V6ONLY, MAKE_WSK_VERSION,
  NPI_WSK_INTERFACE_ID, SOCK_DGRAM, STATUS_BUFFER_OVERFLOW, STATUS_NOT_SUPPORTED, STATUS_PENDING, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WSK_SET_STATIC_EVENT_CALLBACKS,
  WSK_TRANSPORT_LIST_QUERY, WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI, WskSetOption,
  makeSockaddrIn, makeSockaddrIn6, ntohs, SOCKADDR_STORAGE, type NTSTATUS, type SOCKADDR, type SOCKADDR_IN,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_PROVIDER_DISPATCH, type WSK_SOCKET, type WSK_TRANSPORT, type WskSubsystem,
  type PWSK_CLIENT,
} from '../../index.ts';
import { callWsk, WskError } from '../common/wsk-io.ts';
import type { Endpoint } from './endpoint.ts';
import { DatagramReader, type DatagramReceiver, type ReceiveStats, type RetainedQueue } from './receive-queue.ts';
import { SendBatches, type SendSocket, type SendStats } from './send-batches.ts';
import type { IpFamily } from './ip-address.ts';

export interface WireGuardSocketsOptions {
  /** The WSK subsystem of the outer network (default: the process's default subsystem). */
  subsystem?: WskSubsystem;
  /** ListenPort; 0 or null: the provider picks one, the IPv6 socket then takes the same. */
  listenPort?: number | null;
  /** The local address to bind (default: the wildcard of each family). */
  bindAddress4?: string;
  /** Messages for a person (the skipped IPv6 socket, a socket that stopped working). */
  log?: (line: string) => void;
  /** Send buffers (default 1024) and their size in bytes (default 2048: an MTU-1420 tunnel's datagrams). */
  sendBuffers?: number;
  sendBufferSize?: number;
}

class OuterSocket implements SendSocket, RetainedQueue {
  open: SendSocket['open'] = null;
  listed = false;
  socket!: WSK_SOCKET;
  head: WSK_DATAGRAM_INDICATION | null = null;
  tail: WSK_DATAGRAM_INDICATION | null = null;
  failed = false;
  constructor(readonly owner: WireGuardSockets, readonly family: IpFamily) {}
}

export class WireGuardSockets {
  /** Runs after each batch of received datagrams was processed, before the send batches leave. */
  onReceiveBatchEnd: (() => void) | null = null;
  private readonly reader = new DatagramReader();
  private readonly sends: SendBatches;
  /** The bound port (ListenPort, or the one the provider chose). */
  port = 0;
  /** Why there is no IPv6 socket, or null when there is one. */
  ipv6Skipped: string | null = null;
  private readonly registration = WSK_REGISTRATION();
  private client: PWSK_CLIENT | null = null;
  private dispatch: WSK_PROVIDER_DISPATCH | null = null;
  private v4: OuterSocket | null = null;
  private v6: OuterSocket | null = null;
  private drainScheduled = false;
  private flushScheduled = false;
  private closed = false;
  private registered = false;
  private readonly log: (line: string) => void;
  private readonly drainBound = (): void => this.drain();
  private readonly flushBound = (): void => { this.flushScheduled = false; if (!this.closed) this.sends.flush(); };

  private constructor(options: WireGuardSocketsOptions) {
    this.log = options.log ?? (() => {});
    this.sends = new SendBatches(options.sendBuffers ?? 1024, options.sendBufferSize ?? 2048);
  }

  /** Takes each received datagram (the device's receiveDatagram). */
  get receiver(): DatagramReceiver | null { return this.reader.receiver; }
  set receiver(r: DatagramReceiver | null) { this.reader.receiver = r; }
  get rxStats(): ReceiveStats { return this.reader.stats; }
  get sendStats(): SendStats { return this.sends.stats; }
  get families(): IpFamily[] { return [this.v4, this.v6].filter((s) => s !== null).map((s) => s.family); }

  /** Registers with WSK and opens the sockets; rejects with WskError (the socket's NTSTATUS) if the IPv4 one cannot be bound. */
  static async open(options: WireGuardSocketsOptions = {}): Promise<WireGuardSockets> {
    const w = new WireGuardSockets(options);
    try {
      await w.start(options);
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  private async start(options: WireGuardSocketsOptions): Promise<void> {
    const status = WskRegister({ ClientContext: this, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, this.registration, options.subsystem);
    if (status !== STATUS_SUCCESS) throw new WskError('WskRegister', status);
    this.registered = true;
    const npi = WSK_PROVIDER_NPI();
    const captured = await WskCaptureProviderNPI(this.registration, WSK_INFINITE_WAIT, npi);
    if (captured !== STATUS_SUCCESS) throw new WskError('WskCaptureProviderNPI', captured);
    this.client = npi.Client;
    this.dispatch = npi.Dispatch;
    const transports = this.queryTransports();
    const has = (family: number): boolean => transports.some((t) => t.AddressFamily === family && t.SocketType === SOCK_DGRAM && t.Protocol === IPPROTO_UDP);
    // Static callbacks: every datagram socket of this client gets WskReceiveFromEvent from birth.
    const st = this.dispatch!.WskControlClient(this.client, WSK_SET_STATIC_EVENT_CALLBACKS, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
    if (st !== STATUS_SUCCESS) throw new WskError('WskControlClient(WSK_SET_STATIC_EVENT_CALLBACKS)', st);
    if (!has(AF_INET)) throw new WskError('WSK_TRANSPORT_LIST_QUERY lists no IPv4 UDP transport', STATUS_NOT_SUPPORTED);
    this.v4 = await this.openSocket(4, makeSockaddrIn(options.bindAddress4 ?? '0.0.0.0', options.listenPort ?? 0));
    this.port = ntohs((await this.localAddress(this.v4) as SOCKADDR_IN).sin_port);
    if (!has(AF_INET6)) {
      this.ipv6Skipped = 'the provider lists no IPv6 datagram transport (WSK_TRANSPORT_LIST_QUERY)';
    } else {
      try {
        this.v6 = await this.openSocket(6, makeSockaddrIn6('::', this.port));
      } catch (err) {
        this.ipv6Skipped = `the IPv6 socket could not be opened on port ${this.port}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (this.ipv6Skipped) this.log(`wireguard: no IPv6 outer socket: ${this.ipv6Skipped}; IPv6 endpoints are unreachable`);
  }

  /** WSK_TRANSPORT_LIST_QUERY: once without a buffer for the size (R49), then for the list. */
  private queryTransports(): WSK_TRANSPORT[] {
    const size = { value: 0 };
    const first = this.dispatch!.WskControlClient(this.client, WSK_TRANSPORT_LIST_QUERY, 0, null, 0, null, size, null);
    if (first !== STATUS_BUFFER_OVERFLOW && first !== STATUS_SUCCESS) throw new WskError('WskControlClient(WSK_TRANSPORT_LIST_QUERY)', first);
    const list: WSK_TRANSPORT[] = [];
    const st = this.dispatch!.WskControlClient(this.client, WSK_TRANSPORT_LIST_QUERY, 0, null, size.value, list, size, null);
    if (st !== STATUS_SUCCESS) throw new WskError('WskControlClient(WSK_TRANSPORT_LIST_QUERY)', st);
    return list;
  }

  private async openSocket(family: IpFamily, local: SOCKADDR): Promise<OuterSocket> {
    const s = new OuterSocket(this, family);
    const af = family === 4 ? AF_INET : AF_INET6;
    const created = await callWsk((irp) => this.dispatch!.WskSocket(this.client, af, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, s, DATAGRAM_EVENTS, null, null, null, irp));
    if (created.status !== STATUS_SUCCESS) throw new WskError('WskSocket', created.status);
    s.socket = created.information as WSK_SOCKET;
    try {
      // IPv6 only on the IPv6 socket (the IPv4 one has the port for IPv4), as WSK's default is.
      if (family === 6) await this.setOption(s, IPPROTO_IPV6, IPV6_V6ONLY, 1);
      await this.setOption(s, family === 4 ? IPPROTO_IP : IPPROTO_IPV6, family === 4 ? IP_PKTINFO : IPV6_PKTINFO, 1);
      const bound = await callWsk((irp) => table(s).WskBind(s.socket, local, 0, irp));
      if (bound.status !== STATUS_SUCCESS) throw new WskError('WskBind', bound.status);
    } catch (err) {
      await this.closeSocket(s);
      throw err;
    }
    return s;
  }

  private async setOption(s: OuterSocket, level: number, code: number, value: number): Promise<void> {
    const r = await callWsk((irp) => (s.socket.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s.socket, WskSetOption, code, level, 4, { value }, 0, null, null, irp));
    if (r.status !== STATUS_SUCCESS) throw new WskError(`WskControlSocket(option ${level}/${code})`, r.status);
  }

  private async localAddress(s: OuterSocket): Promise<SOCKADDR> {
    const local = SOCKADDR_STORAGE();
    const r = await callWsk((irp) => table(s).WskGetLocalAddress(s.socket, local, irp));
    if (r.status !== STATUS_SUCCESS) throw new WskError('WskGetLocalAddress', r.status);
    return local;
  }

  /** Sends one datagram (the device's sendDatagram): copied now, sent with this turn's batch. */
  sendDatagram(to: Endpoint, bytes: Uint8Array, offset: number, length: number): void {
    const s = to.family === 4 ? this.v4 : this.v6;
    if (s === null || s.failed || this.closed) { this.sends.stats.txDropped++; return; }
    this.sends.queue(s, to, bytes, offset, length);
    if (!this.flushScheduled) { this.flushScheduled = true; setImmediate(this.flushBound); }
  }

  /** @internal WskReceiveFromEvent of either socket. */
  indicate(s: OuterSocket, list: WSK_DATAGRAM_INDICATION | null): NTSTATUS {
    if (list === null) {
      // The socket is no longer functional (R37): stop using it.
      if (!s.failed) this.log(`wireguard: the IPv${s.family} socket stopped working; its endpoints are unreachable until restart`);
      s.failed = true;
      return STATUS_SUCCESS;
    }
    if (this.closed) return STATUS_SUCCESS;
    this.reader.enqueue(s, list);
    if (!this.drainScheduled) { this.drainScheduled = true; queueMicrotask(this.drainBound); }
    return STATUS_PENDING;
  }

  private drain(): void {
    this.drainScheduled = false;
    if (this.v4) this.reader.drain(this.v4);
    if (this.v6) this.reader.drain(this.v6);
    this.onReceiveBatchEnd?.();
    if (this.sends.pending) this.sends.flush();
  }

  /** Closes the sockets (retained datagrams are released first), then deregisters. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.v4, this.v6]) {
      if (!s) continue;
      this.reader.drain(s, true);
      await this.closeSocket(s);
    }
    if (this.client) WskReleaseProviderNPI(this.registration);
    if (this.registered) await WskDeregister(this.registration);
  }

  private async closeSocket(s: OuterSocket): Promise<void> {
    await callWsk((irp) => table(s).Basic.WskCloseSocket(s.socket, irp));
  }
}

function table(s: OuterSocket): WSK_PROVIDER_DATAGRAM_DISPATCH {
  return s.socket.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
}

// The static dispatch: one function for both sockets, the socket object as SocketContext.
const DATAGRAM_EVENTS: WSK_CLIENT_DATAGRAM_DISPATCH = {
  WskReceiveFromEvent: (SocketContext, _Flags, DataIndication) => {
    const s = SocketContext as OuterSocket;
    return s.owner.indicate(s, DataIndication);
  },
};

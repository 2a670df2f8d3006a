// The transport interface under the WSK layer (docs/architecture.md §2). The WSK layer (runtime/wsk) owns
// every WSK rule — IRPs, events, options, address sharing — and talks to exactly one of these per
// subsystem instance: the kernel provider (the host's sockets) or the userspace stack.
// Errors cross this boundary as NTSTATUS values, never as exceptions from Node.
import type { NTSTATUS } from './ntstatus.ts';
import type { Endpoint } from './sockaddr.ts';

/** Rejection reason of every provider promise: carries the NTSTATUS the WSK call completes with. */
export class ProviderError extends Error {
  constructor(readonly status: NTSTATUS, message: string) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface TransportTriple { family: number; socketType: number; protocol: number }

/** Receives what happens on one connection; called from the event loop, never re-entrantly. */
export interface ConnectionSink {
  /**
   * Bytes in order. -1 (or absent) `handle`: the chunk is the sink's to keep. A zero-copy
   * transport passes a `handle` (>= 0) for a chunk that is a view over its buffers, valid during
   * this call only: the transport may copy queued bytes out of its ring later (a receive ring
   * that needs its frames back), so the sink reads them again with heldBytes(handle) when it uses
   * them, pins (pinData) what it hands to an application to keep, and gives the chunk back with
   * releaseData(handle) once consumed or once a retained indication is released.
   */
  onData(chunk: Uint8Array, handle?: number): void;
  /** The peer sent FIN: no more data. */
  onEnd(): void;
  /** The connection is gone (reset, error, timeout): status says why. Last call on the sink. */
  onAbort(status: NTSTATUS): void;
  /** The ideal send backlog changed (bytes worth keeping in flight). */
  onSendBacklog?(bytes: number): void;
}

/**
 * What a transport knows about one TCP connection, for SIO_TCP_INFO (mstcpip.h TCP_INFO_v0 in
 * the WSK layer's names). Sizes in bytes, times as named.
 */
export interface TcpInfo {
  /** RFC 9293 state, in TCPSTATE's order (CLOSED 0 ... TIME_WAIT 10). */
  state: number;
  mss: number;
  connectionTimeMs: number;
  timestampsEnabled: boolean;
  rttUs: number;
  minRttUs: number;
  bytesInFlight: number;
  cwnd: number;
  sndWnd: number;
  rcvWnd: number;
  rcvBuf: number;
  bytesOut: number;
  bytesIn: number;
  bytesReordered: number;
  bytesRetrans: number;
  fastRetrans: number;
  dupAcksIn: number;
  timeoutEpisodes: number;
  synRetrans: number;
}

export interface TransportConnection {
  readonly localEndpoint: Endpoint;
  readonly remoteEndpoint: Endpoint;
  /** Starts delivering to `sink`; nothing is delivered before (data waits in the transport). */
  attach(sink: ConnectionSink): void;
  /**
   * Sends the pieces in order; done(status, token) once the transport no longer needs them.
   * The token lets callers pass one static function instead of a closure per send.
   */
  send<T>(pieces: Uint8Array[], nodelay: boolean, done: (status: NTSTATUS, token: T) => void, token?: T): void;
  /** Graceful FIN after queued data; done once it has been handed to the network. */
  shutdown(done: (status: NTSTATUS) => void): void;
  /** Abortive close (RST); no more sink calls. */
  abort(): void;
  /** Releases the connection after a graceful close both ways. */
  close(): void;
  /** Receive flow control: stop/restart reading from the network. */
  pauseReceive(): void;
  resumeReceive(): void;
  setKeepAlive(enable: boolean, idleSeconds: number, intervalSeconds: number, count: number): void;
  setNoDelay(enable: boolean): void;
  idealSendBacklog(): number;
  /** SIO_TCP_INFO; absent where the transport cannot see its TCP state (node:net). */
  tcpInfo?(): TcpInfo;
  /** The congestion control in use, by name (TCP_CONGESTION_ALGORITHM get). */
  congestionControl?(): string;
  /** Switches the congestion control; false for a name the transport does not have. Absent: it cannot choose. */
  setCongestionControl?(name: string): boolean;
  /** SO_RCVBUF on an established connection: the receive buffer the advertised window may use. */
  setReceiveBufferSize?(bytes: number): void;
  /**
   * SO_SNDBUF on an established connection: the most the transport keeps unacknowledged (queued
   * WskSend requests wait behind it, in order), or the host socket's own send buffer. Absent: the
   * host decides.
   */
  setSendBufferSize?(bytes: number): void;
  /**
   * IP_TTL/IP_TOS (SEND_TTL, SEND_TOS) or IPV6_UNICAST_HOPS/IPV6_TCLASS (SEND_HOP_LIMIT,
   * SEND_TCLASS) for the segments sent from now on. Throws ProviderError when refused.
   */
  setSendOption?(option: number, value: number): void;
  /** Gives back a chunk passed to onData with a handle (zero-copy transports). */
  releaseData?(handle: number): void;
  /** The current bytes of a chunk passed with a handle (a view, or its copy out of the ring). */
  heldBytes?(handle: number): Uint8Array;
  /** An application was handed a view of this chunk: it must not move until releaseData. */
  pinData?(handle: number): void;
}

export interface ListenerSink {
  /** A connection completed the handshake; the WSK layer attaches a sink or aborts it. */
  onConnection(connection: TransportConnection): void;
  /** The listener can no longer accept (R37): reported once. */
  onError(status: NTSTATUS): void;
}

export interface ListenOptions {
  v6Only: boolean;
  backlog: number;
  keepAlive: boolean;
  /** SEND_TTL/SEND_TOS/SEND_HOP_LIMIT/SEND_TCLASS values set on the listener: its SYN-ACKs and the connections it accepts carry them. */
  sendOptions?: readonly (readonly [option: number, value: number])[];
}

export interface TransportListener {
  readonly localEndpoint: Endpoint;
  /** As TransportConnection.setSendOption, for the connections accepted from now on (they inherit it, as on Windows and Linux). */
  setSendOption?(option: number, value: number): void;
  close(): void;
}

export interface ConnectOptions {
  keepAlive: boolean;
  noDelay: boolean;
  v6Only: boolean;
  /** TCP_CONGESTION_ALGORITHM set before the connect (a name congestionControls() lists), or null. */
  congestionControl?: string | null;
  /** SEND_TTL/SEND_TOS/SEND_HOP_LIMIT/SEND_TCLASS values set before the connect (the SYN carries them where the transport can). */
  sendOptions?: readonly (readonly [option: number, value: number])[];
}

// What a datagram transport can tell about a received datagram beyond its bytes, for the WSK
// layer's control info (IP_PKTINFO, IP_RECVTOS, ... in runtime/wsk/control-info.ts). The WSK
// layer asks with TransportDatagram.setReceiveInfo(RECV_* bits); a transport fills only what was
// asked for and what it knows, and says which in DatagramInfo.present.
/** IPv4 datagrams: destination address and arrival interface (IP_PKTINFO). */
export const RECV_PKTINFO = 1;
/** IPv6 datagrams: destination address and arrival interface (IPV6_PKTINFO). */
export const RECV_PKTINFO6 = 2;
/** IPv4 datagrams: the TOS byte (IP_RECVTOS, IP_ECN). */
export const RECV_TOS = 4;
/** IPv6 datagrams: the traffic class (IPV6_RECVTCLASS, IPV6_ECN). */
export const RECV_TCLASS = 8;
/** IPv4 datagrams: the TTL (IP_HOPLIMIT, also called IP_RECVTTL). */
export const RECV_TTL = 16;
/** IPv6 datagrams: the hop limit (IPV6_HOPLIMIT). */
export const RECV_HOPLIMIT = 32;

/**
 * One received datagram's header facts. The transport owns the object and refills it for every
 * datagram: it is valid during DatagramSink.onDatagram only (nothing is allocated per datagram).
 */
export interface DatagramInfo {
  /** RECV_* bits: which of the fields below hold this datagram's values. */
  present: number;
  /** The destination address of the datagram's IP header: 4 bytes used for IPv4, 16 for IPv6. */
  readonly local: Uint8Array;
  /** The interface the datagram arrived on (an interface index, 1-based). */
  ifIndex: number;
  /** The TOS byte (RECV_TOS) or traffic class (RECV_TCLASS). */
  tos: number;
  /** The TTL (RECV_TTL) or hop limit (RECV_HOPLIMIT). */
  ttl: number;
}

export function newDatagramInfo(): DatagramInfo {
  return { present: 0, local: new Uint8Array(16), ifIndex: 0, tos: 0, ttl: 0 };
}

/** What a sender asked for one datagram through control info (IN_PKTINFO, IP_TOS, ...). */
export interface DatagramSendInfo {
  /**
   * The source address (4 bytes for IPv4 — also on a dual-stack socket sending to an IPv4 or
   * v4-mapped destination — 16 for IPv6), or null: the route chooses.
   */
  source: Uint8Array | null;
  /** The interface to send on; 0: the route chooses. */
  ifIndex: number;
  /** The TOS byte / traffic class for this datagram; -1: the socket's. */
  tos: number;
}

// Per-socket send options a datagram transport applies to every datagram it sends from then on
// (TransportDatagram.setSendOption). Values are host-order numbers: a TTL 1..255, a TOS byte, 0/1
// for the DF bit, an interface index (0: the route chooses), a send buffer size in bytes.
/** IP_TTL: the TTL of the IPv4 header. */
export const SEND_TTL = 1;
/** IP_TOS: the TOS byte of the IPv4 header (control info's IP_TOS/IP_ECN override it per datagram). */
export const SEND_TOS = 2;
/** IP_DONTFRAGMENT: DF set; a datagram larger than the path MTU then fails instead of being fragmented. */
export const SEND_DONT_FRAGMENT = 3;
/** IP_UNICAST_IF: the interface unicast datagrams leave by. */
export const SEND_UNICAST_IF = 4;
/** SO_SNDBUF: the host's send buffer size. */
export const SEND_BUFFER = 5;
/** IP_MULTICAST_TTL: the TTL of datagrams sent to a multicast group (default 1). */
export const SEND_MULTICAST_TTL = 6;
/** IP_MULTICAST_LOOP: a copy of what is sent to a group goes to this host's members too (default 1). */
export const SEND_MULTICAST_LOOP = 7;
/**
 * IP_MULTICAST_IF: where datagrams to a group leave, as an IPv4 interface choice (below); 0: the
 * default interface.
 */
export const SEND_MULTICAST_IF = 8;
/** IPV6_UNICAST_HOPS: the hop limit of the IPv6 header (AF_INET6 sockets). */
export const SEND_HOP_LIMIT = 9;
/** IPV6_TCLASS: the traffic class of the IPv6 header. */
export const SEND_TCLASS = 10;
/** IPV6_DONTFRAG: an IPv6 datagram larger than the path MTU fails instead of being fragmented at the source. */
export const SEND_DONT_FRAGMENT6 = 11;
/**
 * IP_HDRINCL (raw sockets only): 1 when every datagram starts with the IPv4 header the
 * application built; the transport fills in the total length and header checksum always, the
 * identification and source address when they are 0 (Linux's raw(7); Microsoft's pages do not
 * say which fields Windows fills).
 */
export const SEND_HEADER_INCLUDED = 12;
/** IPV6_MULTICAST_HOPS: the hop limit of IPv6 datagrams sent to a group (default 1, RFC 3493 §5.2). */
export const SEND_MULTICAST_HOPS = 13;
/** IPV6_MULTICAST_LOOP: a copy of what is sent to an IPv6 group goes to this host's members too (default 1). */
export const SEND_MULTICAST_LOOP6 = 14;
/** IPV6_MULTICAST_IF: the interface index IPv6 datagrams to a group leave by (host order; 0: the default interface). */
export const SEND_MULTICAST_IF6 = 15;
// An IPv4 interface choice (IP_MULTICAST_IF, IP_MREQ.imr_interface) is a host-order number:
// a local IPv4 address (a.b.c.d → a<<24 | b<<16 | c<<8 | d), 0 for the default interface, or below
// 2^24 an interface index (ws2ipdef.h's 0.0.0.x form).

export interface DatagramSink {
  /**
   * The datagram is bytes[offset, offset + length): `bytes` is the transport's storage (a ring
   * slot's view made once, so that nothing is allocated per datagram), kept past the call only
   * through TransportDatagram.hold(). `from` and `info` are the transport's too (see
   * DatagramInfo): read them during the call, never keep them.
   */
  onDatagram(bytes: Uint8Array, offset: number, length: number, from: Endpoint, flags: number, info: DatagramInfo): void;
  onError(status: NTSTATUS): void;
}

export interface DatagramOptions {
  v6Only: boolean;
  reuseAddress: boolean;
  receiveBufferSize: number;
  broadcast: boolean;
  /** RECV_* bits DatagramInfo carries from the first datagram on (setReceiveInfo changes it later). */
  receiveInfo: number;
  /**
   * A raw socket (SOCK_RAW, the "TCP/IP raw sockets" page) of this IP protocol number (1..255),
   * or absent for UDP. A raw socket receives a copy of every IPv4 packet of its protocol for its
   * address, IPv4 header included, from a source whose `port` is 0; it sends its protocol's
   * payload behind a header the transport builds, or (SEND_HEADER_INCLUDED) the application's.
   */
  rawProtocol?: number;
}

export interface TransportDatagram {
  readonly localEndpoint: Endpoint;
  /**
   * Sends one datagram made of `pieces` (views whose bytes the caller keeps valid until `done`;
   * the array itself and `to` are the caller's again when sendTo returns, so a transport that
   * keeps them longer copies them), with the
   * source, interface and TOS `info` asks for; done(status, bytes) exactly once (the userspace
   * stack calls it before returning, the kernel provider once the batch has left). A source that is not a local address, or an interface that does not exist, fails
   * the datagram (STATUS_INVALID_PARAMETER). `token` goes back to `done`, so that a caller can pass one
   * static function instead of a closure per send.
   */
  sendTo<T>(pieces: Uint8Array[], to: Endpoint, done: (status: NTSTATUS, bytes: number, token: T) => void, info?: DatagramSendInfo | null, token?: T): void;
  /** Which RECV_* facts DatagramInfo should carry from now on (0: none). Throws ProviderError if the host refuses. */
  setReceiveInfo(mask: number): void;
  // Zero-copy transports (the userspace stack, the kernel provider's own UDP socket) hand
  // onDatagram a view over a ring slot that is recycled when onDatagram returns. A sink that
  // keeps the datagram calls hold() during onDatagram; the handle keeps the storage until
  // release(handle). heldStorage(handle) and heldOffset(handle) give where the bytes are now
  // (queued data may be copied out of the ring under pressure), without making a view; pin(handle)
  // forbids that move once an application has been given a view. Transports whose data already
  // belongs to the sink leave these out.
  hold?(): number;
  heldStorage?(handle: number): Uint8Array;
  heldOffset?(handle: number): number;
  pin?(handle: number): void;
  release?(handle: number): void;
  setBroadcast(enable: boolean): void;
  setReceiveBufferSize(bytes: number): void;
  /** One of the SEND_* options, for datagrams sent from now on. Throws ProviderError if the value is refused (an interface that does not exist). */
  setSendOption(option: number, value: number): void;
  /**
   * IP_ADD_MEMBERSHIP (join true) / IP_DROP_MEMBERSHIP: the IPv4 group (4 bytes) on the interface
   * choice `iface` (see SEND_MULTICAST_IF); IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP: the IPv6
   * group (16 bytes) on the interface index `iface` (0: the default interface). Throws ProviderError: STATUS_INVALID_PARAMETER for an
   * interface that is not there, STATUS_ADDRESS_ALREADY_ASSOCIATED for a group joined twice,
   * STATUS_INVALID_PARAMETER for dropping one not joined.
   */
  setMembership(group: Uint8Array, iface: number, join: boolean): void;
  close(): void;
}

export interface ResolvedAddress { endpoint: Endpoint; canonicalName: string | null }

export interface Resolver {
  /** getaddrinfo: host may be null (passive/loopback); family 0 = any. */
  lookup(host: string, family: number): Promise<Endpoint[]>;
  /** getnameinfo for an address. */
  reverse(endpoint: Endpoint): Promise<{ host: string; service: string }>;
}

export interface TransportProvider {
  readonly name: string;
  /** Becomes ready: WskCaptureProviderNPI waits for this (R2). */
  start(): Promise<void>;
  stop(): Promise<void>;
  transports(): TransportTriple[];
  /** A free port for a connection socket bound to a wildcard port (R47: port chosen at bind). */
  reservePort(local: Endpoint): Promise<number>;
  listen(local: Endpoint, options: ListenOptions, sink: ListenerSink): Promise<TransportListener>;
  connect(local: Endpoint | null, remote: Endpoint, options: ConnectOptions): Promise<TransportConnection>;
  bindDatagram(local: Endpoint, options: DatagramOptions, sink: DatagramSink): Promise<TransportDatagram>;
  readonly resolver: Resolver;
  /** Local unicast addresses of a family (SIO_ADDRESS_LIST_QUERY). */
  localAddresses(family: number): Endpoint[];
  /** Congestion controls a connection may be given by name; absent when the provider cannot choose one. */
  congestionControls?(): string[];
}

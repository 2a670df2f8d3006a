// The TCP control block (RFC 9293 §3.3.1): one connection's state, sequence variables, queues
// and timers. Sequence numbers are signed 32-bit integers compared modulo 2^32 (seq.ts); stream
// offsets (bytes since the SYN) are plain numbers, so transfers past 4 GiB stay exact.
//
// Send side (R40, no provider buffering): a WskSend's pieces are queued by reference — the
// application's MDL bytes — and copied once into a transmit slot per segment. The request
// completes when every byte of it is acknowledged, so retransmissions read the application's
// buffer again; the ideal send backlog (bytes the congestion and peer windows allow in flight)
// tells the application how much to keep posted.
// Receive side: in-order bytes wait in a queue bounded by the receive buffer until the owner
// takes them (flow control pauses delivery; the advertised window shrinks to zero, never below
// what was already advertised). Out-of-order segments stay in their ring slots (OooQueue).
import type { NTSTATUS } from '../../ntstatus.ts';
import type { CongestionControl } from './congestion.ts';
import type { OooQueue } from './ooo-queue.ts';
import type { RttEstimator } from './rtt.ts';
import { RackState } from './rack.ts';
import type { IpPath } from './ip-path.ts';
import type { NetworkFamily } from '../transport-registry.ts';

export const TcpState = {
  CLOSED: 0, LISTEN: 1, SYN_SENT: 2, SYN_RECEIVED: 3, ESTABLISHED: 4, FIN_WAIT_1: 5, FIN_WAIT_2: 6,
  CLOSE_WAIT: 7, CLOSING: 8, LAST_ACK: 9, TIME_WAIT: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];
export const TCP_STATE_NAMES = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING',
  'LAST-ACK', 'TIME-WAIT',
] as const;

/** What the owner of a connection (the WSK adapter, or a test) is told. Called from the stack, never re-entrantly from an API call. */
export interface TcpEvents {
  /** The handshake completed (active or passive open). */
  onEstablished(tcb: Tcb): void;
  /** In-order bytes are waiting: call tcb.read / the engine's receive API. */
  onReadable(tcb: Tcb): void;
  /** The peer's FIN arrived after all its data. */
  onFin(tcb: Tcb): void;
  /** The ideal send backlog changed. */
  onSendBacklog?(tcb: Tcb, bytes: number): void;
  /**
   * The connection is gone: STATUS_SUCCESS after an orderly close both ways, else why
   * (reset, refused, timeout, aborted). Last call for this tcb.
   */
  onClosed(tcb: Tcb, status: NTSTATUS): void;
}

/** Called once per send: STATUS_SUCCESS when every byte is acknowledged, else why the connection failed. */
export type SendDone = (status: NTSTATUS, token: unknown) => void;

export class SendRequest {
  /** Stream offset of the first byte. */
  start = 0;
  length = 0;
  constructor(readonly pieces: readonly Uint8Array[], readonly done: SendDone | null, readonly token: unknown) {
    let n = 0;
    for (const p of pieces) n += p.byteLength;
    this.length = n;
  }
}

export interface TcpKeepAlive {
  enabled: boolean;
  idleMs: number;
  intervalMs: number;
  count: number;
}

export class Tcb {
  state: TcpState = TcpState.CLOSED;
  events: TcpEvents | null = null;
  /** Opaque owner data (the WSK adapter keeps its connection object here). */
  owner: unknown = null;
  /** The IP header's TTL (IPv6 hop limit) and TOS (traffic class) on every segment (IP_TTL, IP_TOS; a passive open takes its listener's). */
  ttl = 64;
  tos = 0;

  // Send sequence variables (RFC 9293 §3.3.1).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence sent (snd.nxt can move back on retransmission). */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Peer's window scale shift (RFC 7323); 0 when not negotiated. */
  sndShift = 0;
  maxSndWnd = 0;
  /** Stream offset of sndUna's byte (data bytes acknowledged so far). */
  sndUnaOffset = 0;

  // Receive sequence variables.
  irs = 0;
  rcvNxt = 0;
  /** Our window scale shift. */
  rcvShift = 0;
  /** Right edge advertised so far (sequence): never moves left (RFC 9293 §3.8.6.2.2). */
  rcvAdvEdge = 0;
  rcvBufSize = 256 * 1024;
  /** Receive autotuning (TcpEngine.autotuneReceiveBuffer): bytes read in the last measured round trip, the read count and time it started at (-1: not yet). */
  rcvSpace = 0;
  rcvSpaceRead = 0;
  rcvSpaceAt = -1;
  /** Bytes the owner has taken from the receive queue. */
  bytesRead = 0;
  /** SO_RCVBUF set by the owner: autotuning leaves rcvBufSize alone (as Linux does once SO_RCVBUF is set). */
  rcvBufLocked = false;
  /**
   * SO_SNDBUF set by the owner (0: not set): at most this many bytes are in flight, whatever the
   * congestion and peer windows allow — the send buffer of a stack that sends from the
   * application's own buffers (WskSend requests stay queued by reference behind it).
   */
  sndBufSize = 0;

  // Negotiated options.
  /** Effective send MSS (payload bytes per segment, before options). */
  mss = 536;
  /** Largest segment handed to the link: a multiple of mss when the link offers segmentation offload, else mss. */
  sendSegmentMax = 536;
  peerMss = 536;
  tsEnabled = false;
  tsRecent = 0;
  /** Time tsRecent was set (for the 24-day PAWS rule). */
  tsRecentAt = 0;
  /** Sequence of the last ACK we sent (RFC 7323 §4.3: update TS.Recent only for SEG.SEQ <= Last.ACK.sent). */
  lastAckSent = 0;
  sackEnabled = false;
  wantWindowScale = true;

  // Send queue: requests in order; bytes from sndUnaOffset to sendEndOffset.
  readonly sendQueue: SendRequest[] = [];
  /** Stream offset one past the last queued byte. */
  sendEndOffset = 0;
  /** The owner asked for a FIN after the queued data (graceful disconnect). */
  finQueued = false;
  finSent = false;
  /** Nagle off for the output being computed (the option, or a WSK_FLAG_NODELAY send). */
  nodelay = false;
  /** A segment shorter than the MSS is unacknowledged; it ends at sndSml (Minshall's Nagle, Linux snd_sml). */
  smallInFlight = false;
  sndSml = 0;
  /** TCP_NODELAY as set on the socket. */
  nodelayOption = false;

  // Receive queue: in-order bytes not yet taken by the owner.
  /**
   * In-order chunks: a copy (handle -1 in rcvHandles) or bytes still in their ring slot (a
   * held-data handle of the stack; the view is taken at delivery, since queued bytes may be
   * copied out of the ring under pressure until then).
   */
  readonly rcvQueue: (Uint8Array | null)[] = [];
  readonly rcvHandles: number[] = [];
  rcvQueued = 0;
  /** The block in-order bytes are copied into, how much of it is used, and where the last queued chunk starts (-1: none extendable). */
  rcvBlock: Uint8Array | null = null;
  rcvBlockUsed = 0;
  rcvChunkStart = -1;
  /** OooQueue.takeInOrder's callback, made once per connection rather than per segment. */
  readonly queueHeldBound = (handle: number, _seq: number, length: number): void => this.queueHeld(handle, length);
  finReceived = false;

  // Loss recovery and congestion.
  cc!: CongestionControl;
  /** The name cc was created under (the registry's key; a replacement class may carry another name). */
  ccName = '';
  rtt!: RttEstimator;
  ooo!: OooQueue;
  /** What was sent when, SACKed and lost (RACK, RFC 8985): loss detection on SACK connections. */
  readonly rack = new RackState();
  dupAcks = 0;
  /** Loss recovery: fast recovery (PRR), or after a retransmission timeout when recoveryAfterTimeout. */
  inRecovery = false;
  recoveryAfterTimeout = false;
  /** RFC 6675 RecoveryPoint / RFC 6582 "recover": recovery ends when this is acknowledged. */
  recoveryPoint = 0;
  // Proportional rate reduction (RFC 6937) during fast recovery.
  prrDelivered = 0;
  prrOut = 0;
  recoverFs = 0;
  // Undo (RFC 2883 D-SACK, RFC 3522 Eifel): the window before the reduction, the bytes
  // retransmitted and not yet reported duplicate, and our TSval when the first retransmission left.
  priorCwnd = 0;
  priorSsthresh = 0;
  undoRetrans = -1;
  retransTsVal = 0;
  /** RACK reorder timer or tail loss probe (RFC 8985 §6.2, §7): deadline and which. */
  lossAt = Infinity;
  lossTimer = 0;
  /** A tail loss probe is out and not yet answered (RFC 8985 §7.3: one at a time). */
  tlpOutstanding = false;
  /** NewReno (no SACK) window inflation during fast recovery (RFC 6582 §3.2), added to cwnd. */
  inflation = 0;
  /** Segment being timed for an RTT sample (Karn: cleared by any retransmission). */
  rttTiming = false;
  rttSeq = 0;
  rttStart = 0;
  /** The ideal send backlog last reported to the owner. */
  reportedBacklog = 0;
  /** Consecutive RTO expirations without progress. */
  backoffs = 0;
  /** SYN (or SYN-ACK) transmissions so far. */
  synSent = 0;
  /** Peer window was zero when data waited: persist timer probes it. */
  persist = false;
  /** Data segments received since our last ACK (delayed ACK: ack every second one). */
  unackedSegments = 0;
  /** An ACK is owed at the end of the current receive batch (TcpEngine.ackSoon); any ACK sent clears it. */
  ackDue = false;
  /** End of the latest out-of-order arrival: the next one that continues it shares its ACK. */
  oooArrivalEnd = 0;
  /** A duplicate segment to report in the next ACK's first SACK block (D-SACK, RFC 2883); length 0 = none. */
  dsackStart = 0;
  dsackLength = 0;
  /** Quick-ACK budget at connection start and after out-of-order data (Linux quickack). */
  quickAcks = 8;
  /** Last time anything arrived (keepalive idle). */
  lastReceiveAt = 0;
  lastSendAt = 0;
  keepAlive: TcpKeepAlive = { enabled: false, idleMs: 7_200_000, intervalMs: 75_000, count: 9 };
  keepAliveProbes = 0;
  /** The last soft error (ICMP) seen, reported if the connection then times out (RFC 1122 §4.2.3.9). */
  softError: NTSTATUS = 0;

  // Timers: absolute deadlines (Infinity = off); `deadline` = their minimum, the key in the engine's heap.
  rtoAt = Infinity;
  delackAt = Infinity;
  keepAliveAt = Infinity;
  timeWaitAt = Infinity;
  deadline = Infinity;
  heapIndex = -1;

  // Counters.
  segmentsIn = 0;
  segmentsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  retransmits = 0;
  bytesRetransmitted = 0;
  fastRetransmits = 0;
  timeouts = 0;
  /** Retransmission timeouts that started a run of back-offs (one episode may hold several timeouts). */
  timeoutEpisodes = 0;
  /** Duplicate ACKs received over the connection's life (dupAcks is the current run). */
  dupAcksIn = 0;
  /** Clock time the TCB was made (its age for SIO_TCP_INFO's ConnectionTimeMs). */
  createdAt = 0;
  /** Listener this connection came from, until it is handed over. */
  listener: unknown = null;

  /** `path`: family, addresses, header length, MTU and pseudo-header sum (ip-path.ts); the TCB holds its addresses until freed. */
  constructor(readonly path: IpPath, readonly localPort: number, readonly remotePort: number) {}

  /** The local address in the path family's representation (IPv4: signed 32-bit; IPv6: an address-table id). */
  get localIp(): number { return this.path.local; }
  /** The remote address, as localIp. */
  get remoteIp(): number { return this.path.remote; }
  get family(): NetworkFamily { return this.path.family; }

  get stateName(): string { return TCP_STATE_NAMES[this.state]; }

  /** Bytes sent and not acknowledged (sequence space, SYN/FIN included). */
  get inFlight(): number { return (this.sndMax - this.sndUna) | 0; }

  /** Sequence number one past the last queued data byte. */
  get dataEndSeq(): number { return (this.sndUna + (this.sendEndOffset - this.sndUnaOffset)) | 0; }

  /** Queued data bytes not yet acknowledged. */
  get sendQueued(): number { return this.sendEndOffset - this.sndUnaOffset; }

  /** Bytes worth keeping in flight: the smaller of the congestion and peer windows (SIO_WSK_QUERY_IDEAL_SEND_BACKLOG). */
  get idealSendBacklog(): number {
    const w = Math.min(this.cc ? this.cc.cwnd : 2 * this.mss, this.maxSndWnd || this.sndWnd || 65535);
    if (this.sndBufSize > 0 && this.sndBufSize < w) return this.sndBufSize;
    return Math.max(w, 2 * this.mss);
  }

  /** True in states where the peer may still send us data. */
  get canReceive(): boolean {
    return this.state === TcpState.ESTABLISHED || this.state === TcpState.FIN_WAIT_1 || this.state === TcpState.FIN_WAIT_2;
  }

  /** True in states where we may still send data. */
  get canSend(): boolean {
    return (this.state === TcpState.ESTABLISHED || this.state === TcpState.CLOSE_WAIT || this.state === TcpState.SYN_SENT
      || this.state === TcpState.SYN_RECEIVED) && !this.finQueued;
  }

  /** Held bytes (still in their ring slot) join the in-order queue as they are. */
  queueHeld(handle: number, length: number): void {
    this.rcvQueue.push(null);
    this.rcvHandles.push(handle);
    this.rcvQueued += length;
    this.rcvChunkStart = -1; // the next copied chunk must not extend across this one
  }

  /**
   * Copies `length` send-queue bytes starting at sequence `seq` into dst at dstOffset (a
   * transmit slot). The bytes come from the application's buffers (no intermediate copy).
   */
  copySendData(seq: number, length: number, dst: Uint8Array, dstOffset: number): void {
    let skip = this.sndUnaOffset + ((seq - this.sndUna) | 0);
    let out = dstOffset;
    let left = length;
    const q = this.sendQueue;
    for (let i = 0; i < q.length && left > 0; i++) {
      const r = q[i]!;
      const end = r.start + r.length;
      if (skip >= end) continue;
      let within = skip - r.start;
      for (let k = 0; k < r.pieces.length && left > 0; k++) {
        const p = r.pieces[k]!;
        if (within >= p.byteLength) { within -= p.byteLength; continue; }
        const n = Math.min(p.byteLength - within, left);
        dst.set(within === 0 && n === p.byteLength ? p : p.subarray(within, within + n), out);
        out += n;
        left -= n;
        skip += n;
        within = 0;
      }
    }
  }
}

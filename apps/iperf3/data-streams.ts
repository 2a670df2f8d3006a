// iperf3 data streams over WSK, shared by the server and the client. Receivers count bytes in
// WskReceiveEvent / WskReceiveFromEvent (the data is never copied: a view of the transport's
// buffer is indicated and accepted); senders keep WskSend / WskSendTo requests posted, paced to
// the per-stream bandwidth when one is set (iperf's rule: send while the average rate since the
// stream started is below it).
import { within } from '../common/timeout.ts';
import {
  IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS,
  WSK_FLAG_ABORTIVE,
  type IO_COMPLETION_ROUTINE, type IRP, type NTSTATUS, type SOCKADDR, type WSK_BUF, type WSK_CLIENT_CONNECTION_DISPATCH, type WSK_CLIENT_DATAGRAM_DISPATCH,
  type TCP_INFO_v0, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_PROVIDER_DATAGRAM_DISPATCH,
} from '../../index.ts';
import type { WskDatagram, WskStream } from '../common/wsk-io.ts';
import { headerSize, type StreamResult, type TestParams } from './iperf3-protocol.ts';

/**
 * iperf3's Retr counts segments (Linux tcpi_total_retrans); TCP_INFO_v0 counts bytes, so the
 * bytes are counted in segments of the connection's MSS.
 */
export function retransmittedSegments(info: TCP_INFO_v0): number {
  return info.Mss > 0 ? Math.ceil(info.BytesRetrans / info.Mss) : 0;
}

export type StreamRole = 'send' | 'receive';

/** A client's -n / -k limit, shared by its sending streams: nothing is posted past it. */
export interface SendBudget { bytes: number; blocks: number }

/**
 * One interval of one stream, as iperf3 keeps them (iperf_interval_results): its times in
 * seconds since the stream's start (or the omit period's end), what moved, and for a TCP sender
 * what SIO_TCP_INFO said at its end (-1 where TCP_INFO_v0 has no such field).
 */
export interface IntervalResult {
  start: number;
  end: number;
  seconds: number;
  bytes: number;
  omitted: boolean;
  retransmits: number;
  sndCwnd: number;
  sndWnd: number;
  rtt: number;
  rttvar: number;
  pmtu: number;
  packets: number;
  lost: number;
  outOfOrder: number;
  /** The receiver's jitter when the interval ended, seconds. */
  jitter: number;
}

/** Everything a test measures on one stream; what both sides put in the results exchange. */
export abstract class DataStream {
  id = 0;
  /**
   * Bytes moved since the test (or its omit period) started counting: a TCP sender counts what
   * it hands to WskSend (as iperf3 counts what write() took), a UDP sender what WskSendTo sent,
   * a receiver what arrived.
   */
  bytes = 0;
  /** UDP: datagrams sent, or the highest sequence number received. */
  packets = 0;
  /** UDP receiver: datagrams lost. */
  errors = 0;
  outOfOrder = 0;
  /** UDP receiver: RFC 1889 interarrival jitter, seconds. */
  jitter = 0;
  /** Read calls (receiver) or writes (sender), for -k. */
  blocks = 0;
  /**
   * True while bytes count: from the stream's creation (a peer that starts sending on
   * TEST_RUNNING can be faster than that message to us, and iperf3 reads those bytes from its
   * socket buffer too) until a sender's test end, or a receiver's results exchange.
   */
  counting = true;
  /** A sender posts while this is true (begin to end). */
  sending = false;
  startMs = 0;
  endMs = 0;
  /** The peer's view of this stream, from the results exchange. */
  peer: StreamResult | null = null;
  readonly intervals: IntervalResult[] = [];
  /** Counts when the omit period ended (iperf3 reports the rest). */
  omittedPackets = 0;
  omittedErrors = 0;
  omittedOutOfOrder = 0;
  // TCP sender statistics from SIO_TCP_INFO, as iperf3 keeps them from TCP_INFO.
  retransmits = 0;
  private retransmitsBefore = 0;
  maxSndCwnd = 0;
  maxSndWnd = 0;
  maxRtt = 0;
  minRtt = 0;
  private sumRtt = 0;
  private countRtt = 0;
  // Where the current interval started.
  private markMs = 0;
  private markBytes = 0;
  private markPackets = 0;
  private markErrors = 0;
  private markOutOfOrder = 0;
  /** Called as bytes count, when the test ends on a byte or block count (-n, -k). */
  onCount: (() => void) | null = null;
  /** Called when a TCP stream fails or its peer closes it. */
  onFailure: (() => void) | null = null;

  /** Server side: a TCP stream is accepted before the test knows what it is, so these are set then. */
  constructor(public role: StreamRole, public params: TestParams, public budget: SendBudget = { bytes: Infinity, blocks: Infinity }) {}

  get sender(): boolean { return this.role === 'send'; }

  /** Takes one block of `len` bytes from the budget, if any is left. */
  protected takeBudget(len: number): boolean {
    if (this.budget.bytes <= 0 || this.budget.blocks <= 0) return false;
    this.budget.bytes -= len;
    this.budget.blocks--;
    return true;
  }

  begin(nowMs: number): void {
    this.startMs = nowMs;
    this.markMs = nowMs;
    this.sending = this.sender;
    if (this.sending) this.pump();
  }

  /** The omit period is over: what was counted so far does not count (iperf_reset_stats). */
  resetCounts(nowMs: number): void {
    this.bytes = 0;
    this.jitter = 0;
    this.startMs = nowMs;
    this.markMs = nowMs;
    this.markBytes = 0;
    this.omittedPackets = this.markPackets = this.packets;
    this.omittedErrors = this.markErrors = this.errors;
    this.omittedOutOfOrder = this.markOutOfOrder = this.outOfOrder;
    this.retransmits = 0;
    // Pacing averages from the new start, so what was sent before must not count against it.
    this.posted = 0;
  }

  /** Ends the current interval at `nowMs` (iperf_stats_callback); a TCP sender's SIO_TCP_INFO figures follow with addTcpInfo. */
  closeInterval(nowMs: number, omitted: boolean): IntervalResult {
    const r: IntervalResult = {
      start: (this.markMs - this.startMs) / 1000, end: (nowMs - this.startMs) / 1000, seconds: (nowMs - this.markMs) / 1000,
      bytes: this.bytes - this.markBytes, omitted, retransmits: 0, sndCwnd: 0, sndWnd: 0, rtt: 0, rttvar: -1, pmtu: -1,
      packets: this.packets - this.markPackets, lost: this.errors - this.markErrors, outOfOrder: this.outOfOrder - this.markOutOfOrder,
      jitter: this.jitter,
    };
    this.markMs = nowMs;
    this.markBytes = this.bytes;
    this.markPackets = this.packets;
    this.markErrors = this.errors;
    this.markOutOfOrder = this.outOfOrder;
    this.intervals.push(r);
    return r;
  }

  /**
   * What SIO_TCP_INFO said as the interval ended: retransmissions since the last one, the
   * congestion and send windows, the RTT (TCP_INFO_v0 has no RTT variance or path MTU: -1, as
   * iperf3 reports what its platform's TCP_INFO lacks).
   */
  addTcpInfo(r: IntervalResult, info: TCP_INFO_v0): void {
    const total = retransmittedSegments(info);
    r.retransmits = total - this.retransmitsBefore;
    this.retransmitsBefore = total;
    this.retransmits += r.retransmits;
    r.sndCwnd = info.Cwnd;
    r.sndWnd = info.SndWnd;
    r.rtt = info.RttUs;
    this.maxSndCwnd = Math.max(this.maxSndCwnd, r.sndCwnd);
    this.maxSndWnd = Math.max(this.maxSndWnd, r.sndWnd);
    this.maxRtt = Math.max(this.maxRtt, r.rtt);
    if (this.minRtt === 0 || r.rtt < this.minRtt) this.minRtt = r.rtt;
    this.sumRtt += r.rtt;
    this.countRtt++;
  }

  /** Retransmissions count from what SIO_TCP_INFO says now (the omit period's end). */
  setRetransmitBaseline(info: TCP_INFO_v0): void {
    this.retransmitsBefore = retransmittedSegments(info);
  }

  /** SIO_TCP_INFO of a TCP stream's socket; null for UDP, or where the provider has none. */
  abstract tcpInfo(): Promise<TCP_INFO_v0 | null>;

  /** Bytes the stream may have posted and not completed: its send buffer (-w). */
  abstract get sendBuffer(): number;

  get meanRtt(): number { return this.countRtt === 0 ? 0 : Math.trunc(this.sumRtt / this.countRtt); }

  /** Stops sending; resolves once every posted send has completed (or `waitMs` passed). A receiver keeps counting. */
  async end(nowMs: number, waitMs = 5000): Promise<void> {
    this.sending = false;
    this.endMs = nowMs;
    if (this.sender) this.counting = false;
    const deadline = performance.now() + waitMs;
    while (this.outstanding() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  }

  /** What this side tells the peer about the stream (iperf3's send_results). */
  result(senderHasRetransmits: boolean): StreamResult {
    const isSender = this.sender;
    return {
      id: this.id, bytes: this.bytes, retransmits: isSender && senderHasRetransmits ? this.retransmits : -1, jitter: isSender ? 0 : this.jitter,
      errors: isSender ? 0 : this.errors, packets: this.packets, start_time: 0, end_time: Math.max(0, (this.endMs - this.startMs) / 1000),
    };
  }

  private inPump = false;
  protected pumpAgain = false;

  private yielded = false;

  /**
   * Posts what the stream may send now. Completions that arrive inside it (synchronously) loop
   * here instead of recursing, and after a few rounds it yields to the event loop, so a transport
   * that completes every send at once cannot keep the control connection and timers from running.
   */
  protected pump(): void {
    if (this.inPump) { this.pumpAgain = true; return; }
    this.inPump = true;
    try {
      let rounds = 0;
      do { this.pumpAgain = false; this.fill(); } while (this.pumpAgain && ++rounds < 64);
      if (this.pumpAgain && !this.yielded) {
        this.yielded = true;
        setImmediate(() => { this.yielded = false; this.pump(); });
      }
    } finally {
      this.inPump = false;
    }
  }

  protected abstract fill(): void;
  protected abstract outstanding(): number;
  /** Ends the stream and closes its socket; `peerMs`: how long a TCP stream waits for the peer's end first (graceful both ways). */
  abstract close(peerMs?: number): Promise<void>;

  /** iperf's pacing: may this stream send `more` bytes now? */
  protected mayPost(more: number): boolean {
    if (this.params.bandwidth === 0) return true;
    const seconds = (performance.now() - this.startMs) / 1000;
    return ((this.posted + more) * 8) <= this.params.bandwidth * Math.max(seconds, 0.001);
  }

  /** Bytes handed to the transport since begin (pacing counts these, not completions). */
  protected posted = 0;
  private pacingTimer: NodeJS.Timeout | null = null;

  /** Try again in a pacing interval (1 ms unless the client asked for another). */
  protected pumpLater(): void {
    if (this.pacingTimer || !this.sending) return;
    this.pacingTimer = setTimeout(() => { this.pacingTimer = null; this.pump(); }, Math.max(1, (this.params.pacing_timer ?? 1000) / 1000));
  }
}

/** Readies a reused IRP for a send whose completion goes to `routine` with `context` (no closure per send). */
function armIrp(irp: IRP, routine: IO_COMPLETION_ROUTINE, context: unknown): IRP {
  IoReuseIrp(irp, STATUS_SUCCESS);
  IoSetCompletionRoutine(irp, routine, context, true, true, true);
  return irp;
}

const tcpSendCompleted: IO_COMPLETION_ROUTINE = (_d, irp, stream: TcpDataStream) => {
  stream.sendCompleted(irp);
  return STATUS_MORE_PROCESSING_REQUIRED;
};

const udpSendCompleted: IO_COMPLETION_ROUTINE = (_d, irp, slot: UdpSendSlot) => {
  slot.stream.sendCompleted(slot, irp.IoStatus.Status);
  return STATUS_MORE_PROCESSING_REQUIRED;
};

/**
 * Bytes kept posted per sending TCP stream: enough to fill a fast path's window. A WskSend
 * completes when its bytes are acknowledged (no provider buffering), so this is the stream's
 * send buffer; -w sets it.
 */
export const TCP_SEND_BACKLOG = 4 << 20;

/** A TCP data stream; its socket was created with tcpStreamEvents and this object as context. */
export class TcpDataStream extends DataStream {
  socket: WskStream | null = null;
  /** The peer ended its side (graceful or abortive). */
  peerClosed = false;
  failure: NTSTATUS = STATUS_SUCCESS;
  private inFlight = 0;
  private irps: IRP[] = [];
  private block: WSK_BUF | null = null;

  protected outstanding(): number { return this.inFlight; }

  /** Bytes this stream keeps posted: its send buffer. */
  get sendBuffer(): number { return this.params.window || TCP_SEND_BACKLOG; }

  tcpInfo(): Promise<TCP_INFO_v0 | null> {
    return this.socket ? this.socket.tcpInfo().catch(() => null) : Promise.resolve(null);
  }

  protected fill(): void {
    const sock = this.socket!.sock;
    const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const len = this.params.len;
    this.block ??= { Mdl: IoAllocateMdl(patternBlock(len)), Offset: 0, Length: len };
    const depth = Math.max(1, Math.floor(this.sendBuffer / len));
    while (this.sending && this.failure === STATUS_SUCCESS && this.inFlight < depth) {
      if (!this.mayPost(len)) { this.pumpLater(); return; }
      if (!this.takeBudget(len)) return;
      this.inFlight++;
      this.posted += len;
      this.blocks++;
      this.bytes += len;
      C.WskSend(sock, this.block, 0, armIrp(this.irps.pop() ?? IoAllocateIrp(1), tcpSendCompleted, this));
      this.onCount?.();
    }
  }

  sendCompleted(irp: IRP): void {
    this.inFlight--;
    this.irps.push(irp);
    if (irp.IoStatus.Status !== STATUS_SUCCESS) {
      this.failure = irp.IoStatus.Status;
      this.onFailure?.();
      return;
    }
    this.pump();
  }

  private finished: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private peerEnded: (() => void) | null = null;

  /**
   * What iperf3's server does with close() at TEST_END: everything posted goes out, then the FIN
   * (a graceful WskDisconnect). The socket itself stays open: WskCloseSocket before the peer has
   * ended its side too is abortive (a RST, R43), and a client still reading on a slow or lossy
   * path reports that as "Connection reset by peer".
   */
  finishSending(): Promise<void> {
    const s = this.socket;
    this.sending = false;
    if (!s || this.failure !== STATUS_SUCCESS) return Promise.resolve();
    this.finished ??= within(s.disconnect(), 2000);
    return this.finished;
  }

  /**
   * Our FIN (also after the peer's), then WskCloseSocket. `peerMs`: how long to wait for the
   * peer to end its side first, so that the close is graceful both ways.
   */
  close(peerMs = 0): Promise<void> {
    this.closing ??= this.closeOnce(peerMs);
    return this.closing;
  }

  private async closeOnce(peerMs: number): Promise<void> {
    const s = this.socket;
    if (!s) return;
    this.counting = false;
    await this.finishSending();
    if (peerMs > 0 && !this.peerClosed && this.failure === STATUS_SUCCESS) {
      await within(new Promise<void>((r) => { this.peerEnded = r; }), peerMs);
    }
    this.socket = null;
    await s.close();
  }

  /** WskDisconnectEvent: the peer ended its side. */
  ended(abortive: boolean): void {
    this.peerClosed = true;
    if (abortive) this.counting = false;
    this.peerEnded?.();
    this.onFailure?.();
  }
}

export const tcpStreamEvents: WSK_CLIENT_CONNECTION_DISPATCH = {
  WskReceiveEvent: (ctx, _flags, list, bytes) => {
    const s = ctx as TcpDataStream;
    if (list && s.counting) {
      s.bytes += bytes;
      s.blocks++;
      s.onCount?.();
    }
    return STATUS_SUCCESS;
  },
  WskDisconnectEvent: (ctx, flags) => {
    (ctx as TcpDataStream).ended((flags & WSK_FLAG_ABORTIVE) !== 0);
    return STATUS_SUCCESS;
  },
  WskSendBacklogEvent: null,
};

/** Filler for data blocks; iperf sends random bytes, any content does. */
function patternBlock(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + 7) & 0xff;
  return b;
}

/** A datagram buffer with its own IRP: the stream reuses these, so sending allocates nothing. */
interface UdpSendSlot { stream: UdpDataStream; view: DataView; buf: WSK_BUF; irp: IRP }

/** Datagrams a sending UDP stream may have posted at once. */
const UDP_SEND_SLOTS_BYTES = 8 << 20;

/** A UDP data stream to or from one peer address, on its own socket or a shared one. */
export class UdpDataStream extends DataStream {
  /** The client's own socket per stream, or the server's one socket for all of them. */
  socket: WskDatagram | null = null;
  /** Sends that did not complete (a full socket buffer drops them, as UDP does). */
  sendFailures = 0;
  lastSendFailure: NTSTATUS = STATUS_SUCCESS;
  private readonly slots: UdpSendSlot[] = [];
  private slotsMade = false;
  private inFlight = 0;
  private prevTransit = NaN;

  constructor(role: StreamRole, params: TestParams, public remote: SOCKADDR, private readonly ownsSocket: boolean, budget?: SendBudget) {
    super(role, params, budget);
  }

  protected outstanding(): number { return this.inFlight; }

  /** Bytes of datagrams this stream may have posted at once: its send buffer (-w). */
  get sendBuffer(): number { return this.params.window || UDP_SEND_SLOTS_BYTES; }

  tcpInfo(): Promise<TCP_INFO_v0 | null> { return Promise.resolve(null); }

  protected fill(): void {
    const len = this.params.len;
    if (!this.slotsMade) {
      this.slotsMade = true;
      const count = Math.max(1, Math.min(256, Math.floor(this.sendBuffer / len)));
      for (let i = 0; i < count; i++) {
        const bytes = patternBlock(len);
        this.slots.push({ stream: this, view: new DataView(bytes.buffer), buf: { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: len }, irp: IoAllocateIrp(1) });
      }
    }
    const sock = this.socket!.sock;
    const D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
    const wide = this.params.udp_counters_64bit === true;
    let burst = 0;
    while (this.sending && this.slots.length > 0) {
      if (!this.mayPost(len)) { this.pumpLater(); return; }
      if (++burst > 64) { this.pumpAgain = true; return; }
      if (!this.takeBudget(len)) return;
      const slot = this.slots.pop()!;
      const now = performance.now();
      const seq = ++this.packets;
      slot.view.setUint32(0, Math.floor(now / 1000));
      slot.view.setUint32(4, Math.floor((now % 1000) * 1000));
      // 64-bit counters as two words: a BigInt per datagram would allocate on the hot path.
      if (wide) { slot.view.setUint32(8, Math.floor(seq / 2 ** 32)); slot.view.setUint32(12, seq >>> 0); } else slot.view.setUint32(8, seq >>> 0);
      this.inFlight++;
      this.posted += len;
      this.blocks++;
      D.WskSendTo(sock, slot.buf, 0, this.remote, 0, null, armIrp(slot.irp, udpSendCompleted, slot));
    }
  }

  sendCompleted(slot: UdpSendSlot, status: NTSTATUS): void {
    this.inFlight--;
    this.slots.push(slot);
    if (status === STATUS_SUCCESS) {
      this.bytes += this.params.len;
      this.onCount?.();
    } else { this.sendFailures++; this.lastSendFailure = status; }
    this.pump();
  }

  /** One received data datagram: loss, reordering and jitter as iperf3 computes them. */
  onDatagram(length: number, sentSeconds: number, seq: number): void {
    if (!this.counting) return;
    this.bytes += length;
    this.blocks++;
    this.onCount?.();
    if (seq >= this.packets + 1) {
      this.errors += seq - this.packets - 1;
      this.packets = seq;
    } else {
      this.outOfOrder++;
      if (this.errors > 0) this.errors--;
    }
    const transit = Math.abs(performance.now() / 1000 - sentSeconds);
    if (!Number.isNaN(this.prevTransit)) this.jitter += (Math.abs(transit - this.prevTransit) - this.jitter) / 16;
    this.prevTransit = transit;
  }

  override resetCounts(nowMs: number): void {
    super.resetCounts(nowMs);
    this.prevTransit = NaN;
  }

  async close(): Promise<void> {
    this.counting = false;
    this.sending = false;
    if (this.ownsSocket) await this.socket?.close();
  }
}

const headerScratch = new Uint8Array(16);
const headerView = new DataView(headerScratch.buffer);

/** Reads a data datagram's header (sent time, sequence number) and hands it to the stream. */
export function countDatagram(stream: UdpDataStream, d: WSK_DATAGRAM_INDICATION, params: TestParams): void {
  const need = headerSize(params);
  const length = d.Buffer.Length;
  if (length < need) return;
  let got = 0;
  let skip = d.Buffer.Offset;
  for (let m = d.Buffer.Mdl; m && got < need; m = m.Next) {
    if (skip >= m.ByteCount) { skip -= m.ByteCount; continue; }
    const take = Math.min(m.ByteCount - skip, need - got);
    headerScratch.set(m.buffer.subarray(skip, skip + take), got);
    got += take;
    skip = 0;
  }
  const sent = headerView.getUint32(0) + headerView.getUint32(4) / 1e6;
  const seq = need === 16 ? headerView.getUint32(8) * 2 ** 32 + headerView.getUint32(12) : headerView.getUint32(8);
  stream.onDatagram(length, sent, seq);
}

/** Events for a UDP socket that belongs to one stream (the client's). */
export function udpStreamEvents(onHandshake: (d: WSK_DATAGRAM_INDICATION) => boolean): WSK_CLIENT_DATAGRAM_DISPATCH {
  return {
    WskReceiveFromEvent: (ctx, _flags, list) => {
      const s = ctx as UdpDataStream;
      for (let d = list; d; d = d.Next) {
        if (!onHandshake(d)) countDatagram(s, d, s.params);
      }
      return STATUS_SUCCESS;
    },
  };
}

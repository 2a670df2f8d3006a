// TCP output (RFC 9293 §3.8, RFC 1122 §4.2.3.4 sender SWS avoidance and Nagle, RFC 7323 options,
// RFC 2018 SACK blocks, RFC 6675 NextSeg during SACK recovery). Every segment is built straight
// into a transmit slot: headers in the headroom, payload copied once from the send queue (the
// application's buffers), checksum filled unless the link offloads it. The family's headers,
// pseudo-header and output are the connection's path's (ip-path.ts): nothing here is per family.
import { emitTcp, emitTcpOptions, TcpField, TcpFlags, TCP_MIN_HEADER_LENGTH, type TcpOptions } from '../wire/tcp.ts';
import { checksumAdd, checksumFold } from '../wire/checksum.ts';
import { set16 } from '../wire/bytes.ts';
import { FrameFlags } from '../device.ts';
import { seqGt, seqLt } from './seq.ts';
import { encodeCookieTimestamp } from './isn.ts';
import { TcpState, type Tcb } from './tcb.ts';
import type { TcpEngine } from './tcp-engine.ts';
import { schedulePto } from './tcp-recovery.ts';
import type { IpPath } from './ip-path.ts';
import type { NetworkFamily } from '../transport-registry.ts';
import type { SlotArena } from '../../ring/slot-arena.ts';

/** Linux's tcp_tso_win_divisor: a TSO frame may wait for this fraction of the window. */
const TSO_WINDOW_DIVISOR = 3;

/** Our timestamp clock (RFC 7323 §5.4): milliseconds, as int32. */
export function tsNow(e: TcpEngine): number {
  return (Math.floor(e.clock.now()) + e.tsOffset) | 0;
}

/** The window to advertise (unscaled bytes), applying receiver SWS avoidance and never shrinking the advertised edge. */
function receiveWindow(tcb: Tcb): number {
  const free = Math.max(0, tcb.rcvBufSize - tcb.rcvQueued - (tcb.ooo ? tcb.ooo.bytes : 0));
  const max = 65535 << tcb.rcvShift;
  let win = Math.min(free, max);
  const current = (tcb.rcvAdvEdge - tcb.rcvNxt) | 0;
  // RFC 1122 §4.2.3.3: move the right edge only by a significant amount.
  if (win - current < Math.min(tcb.rcvBufSize >> 1, tcb.mss) && win < tcb.rcvBufSize) win = Math.max(current, 0);
  if (win < current) win = current;
  return win;
}

/**
 * Builds and sends one segment: `length` data bytes from `seq` (read from the send queue), with
 * `flags`. Returns false when no slot was free (the caller retries on the next event).
 */
export function sendSegment(e: TcpEngine, tcb: Tcb, seq: number, length: number, flags: number): boolean {
  const arena = e.stack.arena;
  const slot = arena.alloc();
  if (slot < 0) { e.counters.noSlot++; return false; }
  const view = arena.view(slot);
  const path = tcb.path;
  const start = arena.headroom + path.headroom;
  const o = e.txOptions;
  o.clear();
  const syn = (flags & TcpFlags.SYN) !== 0;
  if (syn) {
    o.mss = path.announcedMss();
    if (tcb.wantWindowScale) o.windowScale = tcb.rcvShift;
    o.sackPermitted = e.options.sack && (tcb.state === TcpState.SYN_SENT || tcb.sackEnabled);
    if (e.options.timestamps && (tcb.state === TcpState.SYN_SENT || tcb.tsEnabled)) {
      o.hasTimestamps = true;
      o.tsVal = tsNow(e);
      o.tsEcr = tcb.state === TcpState.SYN_SENT ? 0 : tcb.tsRecent;
    }
  } else {
    if (tcb.tsEnabled) {
      o.hasTimestamps = true;
      o.tsVal = tsNow(e);
      o.tsEcr = tcb.tsRecent;
    }
    if (tcb.sackEnabled && (tcb.ooo.count > 0 || tcb.dsackLength > 0) && (flags & TcpFlags.ACK) !== 0) {
      // Every wire segment must fit the MTU: SACK blocks only take the room the payload leaves
      // (none on a full-sized or offloaded segment; the pure ACKs carry them).
      const room = Math.min(4, (tcb.mss - Math.min(length, tcb.mss) - 4) >> 3);
      let n = 0;
      if (room > 0 && tcb.dsackLength > 0) {
        // D-SACK first (RFC 2883 §4), once.
        o.sackBlocks[0] = tcb.dsackStart >>> 0;
        o.sackBlocks[1] = (tcb.dsackStart + tcb.dsackLength) >>> 0;
        tcb.dsackLength = 0;
        n = 1;
      }
      if (room > n && tcb.ooo.count > 0) {
        const k = tcb.ooo.sackBlocks(e.sackScratch, room - n);
        for (let i = 0; i < 2 * k; i++) o.sackBlocks[2 * n + i] = e.sackScratch[i]! >>> 0;
        n += k;
      }
      o.sackCount = n;
    }
  }
  const optionsLength = emitTcpOptions(view, start + TCP_MIN_HEADER_LENGTH, o);
  const hl = TCP_MIN_HEADER_LENGTH + optionsLength;
  if (length > 0) tcb.copySendData(seq, length, view, start + hl);
  let window: number;
  if (syn) {
    // Never scaled in a SYN (RFC 7323 §2.2). SYN-SENT learns RCV.NXT from the SYN-ACK (see input).
    window = Math.min(tcb.rcvBufSize, 65535);
    if (tcb.state === TcpState.SYN_RECEIVED) tcb.rcvAdvEdge = (tcb.rcvNxt + window) | 0;
  } else {
    const win = receiveWindow(tcb);
    // Round up (RFC 7323 §2.4): truncating the scaled value would move the right edge left.
    window = Math.min(65535, (win + (1 << tcb.rcvShift) - 1) >>> tcb.rcvShift);
    const edge = (tcb.rcvNxt + (window << tcb.rcvShift)) | 0;
    if (seqGt(edge, tcb.rcvAdvEdge)) tcb.rcvAdvEdge = edge;
  }
  const ack = (flags & TcpFlags.ACK) !== 0 ? tcb.rcvNxt : 0;
  emitTcp(view, start, tcb.localPort, tcb.remotePort, seq, ack, flags, window, optionsLength);
  const total = hl + length;
  if (!e.stack.device.capabilities.txChecksumOffload) {
    const sum = checksumFold(checksumAdd(view, start, total, path.pseudoSum + total));
    set16(view, start + TcpField.CHECKSUM, ~sum & 0xffff);
  } else {
    // The device finishes it from the pseudo-header sum, as Linux leaves it for hardware.
    set16(view, start + TcpField.CHECKSUM, checksumFold(path.pseudoSum + total));
    arena.flags[slot] = FrameFlags.CHECKSUM_PARTIAL;
  }
  // Segmentation offload cuts this into MSS-sized segments, each with this header.
  if (length > tcb.mss) arena.segmentSizes[slot] = tcb.mss;
  arena.setFrame(slot, start, total);
  path.output(slot, tcb.tos, tcb.ttl);
  if ((flags & TcpFlags.ACK) !== 0) {
    tcb.lastAckSent = tcb.rcvNxt;
    tcb.unackedSegments = 0;
    tcb.ackDue = false;
    if (tcb.delackAt !== Infinity) { tcb.delackAt = Infinity; e.reschedule(tcb); }
  }
  tcb.segmentsOut++;
  tcb.lastSendAt = e.clock.now();
  e.counters.segmentsOut++;
  return true;
}

export function sendAck(e: TcpEngine, tcb: Tcb): void {
  sendSegment(e, tcb, tcb.sndNxt, 0, TcpFlags.ACK);
}

export function sendSyn(e: TcpEngine, tcb: Tcb): void {
  const flags = tcb.state === TcpState.SYN_RECEIVED ? TcpFlags.SYN | TcpFlags.ACK : TcpFlags.SYN;
  if (tcb.synSent > 0) { tcb.retransmits++; e.counters.retransmits++; }
  tcb.synSent++;
  sendSegment(e, tcb, tcb.iss, 0, flags);
  tcb.sndNxt = (tcb.iss + 1) | 0;
  if (seqGt(tcb.sndNxt, tcb.sndMax)) tcb.sndMax = tcb.sndNxt;
  e.armRto(tcb);
}

/**
 * Usable congestion window in whole bytes: cwnd plus NewReno's recovery inflation (no SACK).
 * Congestion controls grow cwnd by fractions of a byte per ACK; a fractional window would make a
 * fractional segment length, whose frame carries the bytes truncated while `(seq + length) | 0`
 * truncates toward zero — up, for sequence numbers negative as int32 — so SND.NXT would run one
 * byte past the frame and leave a one-byte hole that only a timeout repairs.
 */
function congestionWindow(tcb: Tcb): number {
  return Math.floor(tcb.cc.cwnd) + tcb.inflation;
}

/**
 * Sends what the windows, Nagle and SWS avoidance allow, then a FIN if one is queued and all
 * data is out. During SACK recovery, follows RFC 6675 NextSeg with `pipe`.
 */
export function output(e: TcpEngine, tcb: Tcb): void {
  const st = tcb.state;
  if (st !== TcpState.ESTABLISHED && st !== TcpState.CLOSE_WAIT && st !== TcpState.FIN_WAIT_1 && st !== TcpState.CLOSING
    && st !== TcpState.LAST_ACK) return;
  if (tcb.sackEnabled) {
    if (tcb.inRecovery || tcb.rack.lostBytes > 0) recoveryOutput(e, tcb);
    else newDataOutput(e, tcb);
    schedulePto(e, tcb, e.clock.now());
    return;
  }
  newDataOutput(e, tcb);
}

/** New data within the windows (and, without SACK, go-back-N after a timeout: SND.NXT below SND.MAX). */
function newDataOutput(e: TcpEngine, tcb: Tcb): void {
  for (let guard = 0; guard < 4096; guard++) {
    const dataEnd = tcb.dataEndSeq;
    const unsent = (dataEnd - tcb.sndNxt) | 0;
    const inFlight = (tcb.sndNxt - tcb.sndUna) | 0;
    let wnd = Math.min(tcb.sndWnd, congestionWindow(tcb));
    if (tcb.sndBufSize > 0 && tcb.sndBufSize < wnd) wnd = tcb.sndBufSize;
    const room = wnd - inFlight;
    let length = Math.min(tcb.sendSegmentMax, unsent, room > 0 ? room : 0);
    // Whole segments while more data waits (Linux tcp_mss_split_point): a window in bytes would
    // otherwise end a super-segment with a runt packet, a wire packet (and a loss chance, and an
    // ACK) for a fraction of the bytes.
    if (length > tcb.mss && length < unsent) length -= length % tcb.mss;
    if (length <= 0) {
      if (unsent > 0 && tcb.sndWnd === 0 && inFlight === 0) startPersist(e, tcb);
      else if (unsent === 0) maybeSendFin(e, tcb);
      return;
    }
    if (length < tcb.sendSegmentMax && length < unsent && inFlight > 0 && length < (wnd / TSO_WINDOW_DIVISOR)
      && tcb.sendSegmentMax > tcb.mss) {
      // TSO deferral (Linux tcp_tso_should_defer): while data is in flight, an ACK will soon
      // open more window; a third of the window, or a full super-segment, goes out as one frame
      // rather than as many small ones (fewer frames per byte, each costing a syscall and, on a
      // path that drops frames, a loss event).
      return;
    }
    if (length < tcb.mss) {
      if (length < unsent) {
        // Window-limited (RFC 1122 §4.2.3.4): wait for at least half the largest window seen.
        if (length < (tcb.maxSndWnd >> 1) && inFlight > 0) return;
      } else if (tcb.smallInFlight && !tcb.nodelay && !tcb.finQueued) {
        // Nagle (RFC 896) as Minshall refined it and Linux does (tcp_minshall_check): one small
        // segment outstanding at a time, not "no small segment while anything is outstanding".
        // The plain rule holds the tail of a write behind full segments until they are all
        // acknowledged, and a receiver that delays its ACK for the lone full segment then stalls
        // both for its delayed-ACK timer: an echo through a 1420-byte tunnel moved about 3 KB per
        // 40 ms that way.
        return;
      }
    }
    const seq = tcb.sndNxt;
    const retransmit = seqLt(seq, tcb.sndMax);
    const withFin = tcb.finQueued && !tcb.finSent && length === unsent && ((tcb.sndNxt + length) | 0) === dataEnd;
    let flags = TcpFlags.ACK;
    if (length === unsent) flags |= TcpFlags.PSH;
    if (withFin) flags |= TcpFlags.FIN;
    if (!sendSegment(e, tcb, seq, length, flags)) return;
    if (tcb.sackEnabled && length > 0) {
      if (retransmit) tcb.rack.resent(seq, (seq + length) | 0, e.clock.now());
      else tcb.rack.sent(seq, (seq + length) | 0, e.clock.now());
    }
    tcb.bytesOut += length;
    if (length < tcb.mss) { tcb.smallInFlight = true; tcb.sndSml = (seq + length) | 0; }
    tcb.sndNxt = (seq + length + (withFin ? 1 : 0)) | 0;
    if (withFin) tcb.finSent = true;
    if (retransmit) {
      countRetransmission(e, tcb, length);
    } else if (!tcb.rttTiming) {
      tcb.rttTiming = true;
      tcb.rttSeq = tcb.sndNxt;
      tcb.rttStart = e.clock.now();
    }
    if (seqGt(tcb.sndNxt, tcb.sndMax)) tcb.sndMax = tcb.sndNxt;
    if (tcb.rtoAt === Infinity) e.armRto(tcb);
    if (withFin) return;
  }
}

function maybeSendFin(e: TcpEngine, tcb: Tcb): void {
  if (!tcb.finQueued || tcb.finSent || tcb.sndNxt !== tcb.dataEndSeq) return;
  if (!sendSegment(e, tcb, tcb.sndNxt, 0, TcpFlags.FIN | TcpFlags.ACK)) return;
  tcb.finSent = true;
  tcb.sndNxt = (tcb.sndNxt + 1) | 0;
  if (seqGt(tcb.sndNxt, tcb.sndMax)) tcb.sndMax = tcb.sndNxt;
  if (tcb.rtoAt === Infinity) e.armRto(tcb);
}

/** Zero window: the retransmission timer becomes the persist timer (RFC 9293 §3.8.6.1). */
function startPersist(e: TcpEngine, tcb: Tcb): void {
  if (tcb.persist) return;
  tcb.persist = true;
  e.armRto(tcb);
}

/**
 * A probe the peer must answer with an ACK carrying its window (zero-window probe, RFC 9293
 * §3.8.6.1; keepalive, RFC 1122 §4.2.3.6): SEG.SEQ = SND.UNA - 1, no data, as Linux sends it, so
 * nothing new is pushed past a closed window and SND.NXT stays put.
 */
export function sendWindowProbe(e: TcpEngine, tcb: Tcb): void {
  sendSegment(e, tcb, (tcb.sndUna - 1) | 0, 0, TcpFlags.ACK);
}

/**
 * Sending during loss recovery on a SACK connection (RFC 6675 §5 step (C) with RACK's loss
 * marks, RFC 8985 §6): while cwnd — PRR's pipe + sndcnt in fast recovery, slow start after a
 * timeout — leaves room for a segment, first the lowest lost bytes, then new data within the
 * peer's window. Only the missing bytes go again (a hole inside a TSO super-segment is repaired
 * exactly), but a run of them goes as one super-segment, as Linux's tcp_retransmit_skb does: one
 * frame to lose rather than dozens, each of which would start a new loss episode on its own.
 */
function recoveryOutput(e: TcpEngine, tcb: Tcb): void {
  const rack = tcb.rack;
  const now = e.clock.now();
  for (let guard = 0; guard < 4096; guard++) {
    const room = Math.floor(tcb.cc.cwnd) - rack.pipe();
    const i = rack.firstLost(tcb.sndUna);
    if (i >= 0) {
      const seq = rack.start(i);
      const length = fitRoom(tcb, Math.min(tcb.sendSegmentMax, (rack.end(i) - seq) | 0), room);
      if (length <= 0) return;
      if (!sendSegment(e, tcb, seq, length, TcpFlags.ACK)) return;
      rack.resent(seq, (seq + length) | 0, now);
      countRetransmission(e, tcb, length);
      tcb.prrOut += length;
      continue;
    }
    // New data (RFC 6675 §5 (C.1) rule 3).
    const unsent = (tcb.dataEndSeq - tcb.sndMax) | 0;
    const wnd = newDataRoom(tcb);
    const want = Math.min(tcb.sendSegmentMax, unsent, wnd);
    if (want <= 0) { if (unsent === 0 && !tcb.finSent) maybeSendFin(e, tcb); return; }
    const length = fitRoom(tcb, want, room);
    if (length <= 0 || tcb.finSent) return;
    if (!sendNewData(e, tcb, length, length === unsent, now)) return;
    tcb.prrOut += length;
    if (tcb.rtoAt === Infinity) e.armRto(tcb);
  }
}

/** `length` bytes of new data at SND.MAX on a SACK connection (recorded for RACK); false when no slot was free. */
function sendNewData(e: TcpEngine, tcb: Tcb, length: number, last: boolean, now: number): boolean {
  const at = tcb.sndMax;
  if (!sendSegment(e, tcb, at, length, TcpFlags.ACK | (last ? TcpFlags.PSH : 0))) return false;
  tcb.rack.sent(at, (at + length) | 0, now);
  tcb.bytesOut += length;
  tcb.sndMax = (at + length) | 0;
  tcb.sndNxt = tcb.sndMax;
  return true;
}

/** `length` bytes cut to whole segments within `room` (0 when not even one fits). */
function fitRoom(tcb: Tcb, length: number, room: number): number {
  if (length <= room) return length;
  return room >= tcb.mss ? room - (room % tcb.mss) : 0;
}

/** Counters and undo bookkeeping for `length` retransmitted bytes (Karn: no RTT sample from them). */
function countRetransmission(e: TcpEngine, tcb: Tcb, length: number): void {
  tcb.retransmits++;
  tcb.bytesRetransmitted += length;
  e.counters.retransmits++;
  e.counters.bytesRetransmitted += length;
  tcb.rttTiming = false;
  if (tcb.undoRetrans >= 0) tcb.undoRetrans += length;
  if (tcb.retransTsVal === 0 && tcb.tsEnabled) tcb.retransTsVal = tsNow(e) || 1;
}

/**
 * A tail loss probe (RFC 8985 §7.3): one segment of new data if the peer's window allows, else
 * the last segment sent (its SACK or D-SACK then tells what happened to the tail).
 */
export function sendProbe(e: TcpEngine, tcb: Tcb): void {
  const unsent = (tcb.dataEndSeq - tcb.sndMax) | 0;
  const length = Math.min(tcb.mss, unsent, newDataRoom(tcb));
  const now = e.clock.now();
  if (length > 0 && !tcb.finSent) {
    sendNewData(e, tcb, length, length === unsent, now);
    return;
  }
  const rack = tcb.rack;
  if (rack.isEmpty) { retransmitFirst(e, tcb); return; } // only the FIN is out
  const end = rack.highEnd;
  const seq = seqGt((end - tcb.mss) | 0, tcb.sndUna) ? (end - tcb.mss) | 0 : tcb.sndUna;
  const fin = tcb.finSent && ((end + 1) | 0) === tcb.sndMax;
  if (!sendSegment(e, tcb, seq, (end - seq) | 0, TcpFlags.ACK | (fin ? TcpFlags.FIN : 0))) return;
  rack.resent(seq, end, now);
  countRetransmission(e, tcb, (end - seq) | 0);
}

/** Bytes past SND.MAX that the peer's window, and SO_SNDBUF if set, still allow (recovery and probes; cwnd is theirs to judge). */
function newDataRoom(tcb: Tcb): number {
  const wnd = (tcb.sndUna + tcb.sndWnd - tcb.sndMax) | 0;
  if (tcb.sndBufSize === 0) return wnd;
  return Math.min(wnd, tcb.sndBufSize - ((tcb.sndMax - tcb.sndUna) | 0));
}

/** Retransmits the first unacknowledged segment (fast retransmit, NewReno partial ACK). */
export function retransmitFirst(e: TcpEngine, tcb: Tcb): void {
  const unsentData = (tcb.dataEndSeq - tcb.sndUna) | 0;
  // Only bytes sent before: anything past SND.MAX is new data, for output() to send within the
  // peer's window (a peer that took it would acknowledge beyond SND.MAX, an ACK we must ignore).
  const sentData = ((tcb.sndMax - tcb.sndUna) | 0) - (tcb.finSent ? 1 : 0);
  const length = Math.min(tcb.mss, Math.max(0, Math.min(unsentData, sentData)));
  const fin = tcb.finSent && length === unsentData && ((tcb.sndUna + length + 1) | 0) === tcb.sndMax;
  if (length === 0 && !fin) return;
  if (!sendSegment(e, tcb, tcb.sndUna, length, TcpFlags.ACK | (fin ? TcpFlags.FIN : 0))) return;
  if (tcb.sackEnabled && length > 0) tcb.rack.resent(tcb.sndUna, (tcb.sndUna + length) | 0, e.clock.now());
  countRetransmission(e, tcb, length);
}

/** A reset for a segment that has no connection (RFC 9293 §3.10.7.1). Addresses are `family`'s. */
export function sendResetFor(e: TcpEngine, family: NetworkFamily, localIp: number, localPort: number, remoteIp: number, remotePort: number,
  segSeq: number, segAck: number, segLen: number, hadAck: boolean): void {
  const arena = e.stack.arena;
  const slot = arena.alloc();
  if (slot < 0) { e.counters.noSlot++; return; }
  const path = e.replyPath(family, localIp, localPort, remoteIp, remotePort);
  const view = arena.view(slot);
  const start = arena.headroom + path.headroom;
  if (hadAck) emitTcp(view, start, localPort, remotePort, segAck, 0, TcpFlags.RST, 0);
  else emitTcp(view, start, localPort, remotePort, 0, (segSeq + segLen) | 0, TcpFlags.RST | TcpFlags.ACK, 0);
  finishStateless(arena, slot, view, start, TCP_MIN_HEADER_LENGTH, path, 0, 64);
  e.counters.resetsSent++;
}

/** Checksum, frame and output of a segment sent without a connection; the scratch path is closed after. */
function finishStateless(arena: SlotArena, slot: number, view: Uint8Array, start: number, length: number, path: IpPath,
  tos: number, ttl: number): void {
  const sum = checksumFold(checksumAdd(view, start, length, path.pseudoSum + length));
  set16(view, start + TcpField.CHECKSUM, ~sum & 0xffff);
  arena.setFrame(slot, start, length);
  path.output(slot, tos, ttl);
  path.close();
}

/**
 * A SYN-ACK for a SYN cookie (RFC 4987 §3.6): no TCB. `syn` holds the SYN's options. With
 * timestamps on both sides it offers what sendSegment's SYN-ACK would (MSS, window scale,
 * SACK-permitted, timestamps), and its TSval keeps the peer's window scale and SACK-permitted for
 * the final ACK to echo (isn.ts); otherwise nothing would bring them back, so it offers the MSS
 * alone (Linux's tcp_conn_request clears the other options for a cookie without timestamps).
 */
export function sendStatelessSynAck(e: TcpEngine, family: NetworkFamily, localIp: number, localPort: number, remoteIp: number, remotePort: number,
  iss: number, ack: number, syn: TcpOptions, tos = 0, ttl = 64): void {
  const arena = e.stack.arena;
  const slot = arena.alloc();
  if (slot < 0) { e.counters.noSlot++; return; }
  const path = e.replyPath(family, localIp, localPort, remoteIp, remotePort);
  const view = arena.view(slot);
  const start = arena.headroom + path.headroom;
  const o = e.txOptions;
  o.clear();
  o.mss = path.announcedMss();
  if (syn.hasTimestamps && e.options.timestamps) {
    const peerShift = e.options.windowScaling ? syn.windowScale : -1;
    if (peerShift >= 0) o.windowScale = e.windowShift();
    o.sackPermitted = e.options.sack && syn.sackPermitted;
    o.hasTimestamps = true;
    o.tsVal = encodeCookieTimestamp(tsNow(e), peerShift, o.sackPermitted);
    o.tsEcr = syn.tsVal;
  }
  const optionsLength = emitTcpOptions(view, start + TCP_MIN_HEADER_LENGTH, o);
  const hl = emitTcp(view, start, localPort, remotePort, iss, ack, TcpFlags.SYN | TcpFlags.ACK, Math.min(e.options.receiveBuffer, 65535), optionsLength);
  finishStateless(arena, slot, view, start, hl, path, tos, ttl);
  e.counters.segmentsOut++;
}

/** A reset on a live connection (abort): SEQ = SND.NXT. */
export function sendReset(e: TcpEngine, tcb: Tcb): void {
  sendSegment(e, tcb, tcb.sndNxt, 0, TcpFlags.RST | TcpFlags.ACK);
  e.counters.resetsSent++;
}

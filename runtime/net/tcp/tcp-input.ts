// TCP input: RFC 9293 §3.10.7 "SEGMENT ARRIVES", with RFC 5961 (challenge ACKs against blind
// RST/SYN/ACK), RFC 7323 (window scale, timestamps, PAWS), RFC 2018/6675 (SACK, loss recovery),
// RFC 5681/6582 (fast retransmit, NewReno), RFC 6298 (RTT samples), RFC 1122 §4.2.3.2 (delayed
// ACK, with Linux's quick-ACK on start and out-of-order data). Malformed segments are counted and
// dropped; nothing here throws on bad input. IPv4 and IPv6 differ only in where the addresses
// and checksum come from (tcpInput, tcpInput6); from segmentIn on, the family is a lookup key.
import { get16, get32s } from '../wire/bytes.ts';
import { IpProtocol, Ipv4Field } from '../wire/ipv4.ts';
import { NetworkFamily } from '../transport-registry.ts';
import type { Ipv6Network } from '../ipv6/ipv6-network.ts';
import { Ipv6Field } from '../wire/ipv6.ts';
import { parseTcpOptions, TcpFlags, TcpSegment, type TcpOptions, TcpField, tcpHeaderLength, TCP_MIN_HEADER_LENGTH } from '../wire/tcp.ts';
import { STATUS_CONNECTION_REFUSED, STATUS_CONNECTION_RESET, STATUS_SUCCESS } from '../../ntstatus.ts';
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';
import { Tcb, TcpState } from './tcb.ts';
import type { TcpEngine, TcpListener } from './tcp-engine.ts';
import { afterAck, recoveryEnds, sackArrived } from './tcp-recovery.ts';
import { output, retransmitFirst, sendAck, sendResetFor, sendStatelessSynAck, sendSyn, tsNow } from './tcp-output.ts';
import { COOKIE_TS_NO_WSCALE, COOKIE_TS_SACK, decodeCookieTimestamp, decodeSynCookie, encodeSynCookie } from './isn.ts';

const { FIN, SYN, RST, ACK } = TcpFlags;
/** RFC 7323 §5.5: TS.Recent older than 24 days is not trusted for PAWS. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** One parsed segment, reused for every arrival (no allocation per segment). */
class Segment {
  bytes: Uint8Array = new Uint8Array(0);
  slot = -1;
  /** Addresses are this family's (IPv6: address-table ids, held for the segment's processing). */
  family: NetworkFamily = NetworkFamily.IPV4;
  srcIp = 0;
  dstIp = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  payloadAt = 0;
  payloadLength = 0;
}
const seg = new Segment();

/** A segment in an IPv4 packet (the registry's input for (IPV4, TCP)). */
export function tcpInput(e: TcpEngine, bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number, transportOffset: number): void {
  const off = transportOffset;
  const len = ipLength - (off - ipOffset);
  const src = get32s(bytes, ipOffset + Ipv4Field.SOURCE);
  const dst = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
  if (TcpSegment.check(bytes, off, len) !== null || !e.stack.ip4.transportChecksumOk(slot, bytes, off, len, src, dst, IpProtocol.TCP)) {
    e.counters.malformed++;
    return;
  }
  segmentIn(e, NetworkFamily.IPV4, src, dst, bytes, off, len, slot);
}

/**
 * A segment in an IPv6 packet (the registry's input for (IPV6, TCP)), after its extension
 * headers. The source address is held (interned, or one more reference) while the segment is
 * processed: a peer the table does not know yet (a new SYN, a stray segment) needs an id for
 * the reset or SYN cookie built for it, and a TIME-WAIT connection freed for a new SYN must not
 * take the id with it; a connection the segment opens takes its own reference.
 */
export function tcpInput6(e: TcpEngine, ip6: Ipv6Network, bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number,
  transportOffset: number): void {
  const off = transportOffset;
  const len = ipLength - (off - ipOffset);
  const table = ip6.table;
  const dst = ip6.rxDestination;
  if (dst === 0 || TcpSegment.check(bytes, off, len) !== null || !ip6.transportChecksumOk(slot, bytes, ipOffset, off, len, IpProtocol.TCP)) {
    e.counters.malformed++;
    return;
  }
  // The layer found the source already when the table knows it (a connection's peer): a reference, no second hash.
  let src = ip6.rxSource;
  if (src !== 0) table.retain(src);
  else src = table.intern(bytes, ipOffset + Ipv6Field.SOURCE);
  if (src === 0) { e.counters.malformed++; return; } // from ::, which nothing can answer
  segmentIn(e, NetworkFamily.IPV6, src, dst, bytes, off, len, slot);
  table.release(src);
}

/** A segment whose checksum passed, with its family's addresses: to its connection, a listener, or a reset. */
function segmentIn(e: TcpEngine, family: NetworkFamily, src: number, dst: number, bytes: Uint8Array, off: number, len: number, slot: number): void {
  e.counters.segmentsIn++;
  const dataOffset = tcpHeaderLength(bytes, off);
  const o = e.rxOptions;
  parseTcpOptions(bytes, off + 20, off + dataOffset, o);
  seg.bytes = bytes;
  seg.slot = slot;
  seg.family = family;
  seg.srcIp = src;
  seg.dstIp = dst;
  seg.srcPort = get16(bytes, off);
  seg.dstPort = get16(bytes, off + TcpField.DESTINATION_PORT);
  seg.seq = get32s(bytes, off + TcpField.SEQUENCE);
  seg.ack = get32s(bytes, off + TcpField.ACKNOWLEDGMENT);
  seg.flags = bytes[off + TcpField.FLAGS]!;
  seg.window = get16(bytes, off + TcpField.WINDOW);
  seg.payloadAt = off + dataOffset;
  seg.payloadLength = len - dataOffset;
  const tcb = e.lookup(src, seg.dstPort, seg.srcPort, family);
  if (tcb) segmentArrives(e, tcb, o);
  else closedOrListen(e, o);
  seg.bytes = EMPTY;
}
const EMPTY = new Uint8Array(0);

/** No connection: a listener may take a SYN; anything else gets a reset (RFC 9293 §3.10.7.1–2). */
function closedOrListen(e: TcpEngine, o: TcpOptions): void {
  const f = seg.flags;
  if (f & RST) return;
  const listener = e.listenerFor(seg.dstPort, seg.family);
  const segLen = seg.payloadLength + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
  if (!listener || listener.closed || (listener.localIp !== 0 && listener.localIp !== seg.dstIp)) {
    if (f & SYN) e.counters.noListener++;
    sendResetFor(e, seg.family, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.seq, seg.ack, segLen, (f & ACK) !== 0);
    return;
  }
  if (f & ACK) {
    // The last ACK of a handshake answered with a SYN cookie (RFC 4987 §3.6) opens the connection now.
    if (!(f & SYN) && e.options.synCookies && cookieOpen(e, listener, o)) return;
    sendResetFor(e, seg.family, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.seq, seg.ack, segLen, true);
    return;
  }
  if (!(f & SYN)) return;
  passiveOpen(e, listener, o);
}

/** MSS values a SYN cookie can carry (3 bits), ascending. */
const COOKIE_MSS = [216, 536, 1200, 1220, 1400, 1440, 1460, 8960];

function cookieMssIndex(mss: number): number {
  let i = 0;
  while (i + 1 < COOKIE_MSS.length && COOKIE_MSS[i + 1]! <= mss) i++;
  return i;
}

/**
 * SYN queue full: answer with a SYN cookie and keep no state. The MSS goes into the cookie; window
 * scale and SACK-permitted into the SYN-ACK's TSval when the SYN has timestamps (tcp-output.ts).
 */
function sendSynCookie(e: TcpEngine, listener: TcpListener, o: TcpOptions): void {
  const peerMss = o.mss > 0 ? o.mss : 536;
  const index = cookieMssIndex(Math.min(peerMss, e.mssForMtu(seg.family)));
  const header = listener.headerFor(seg.family);
  const iss = encodeSynCookie(e.isn, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.seq, index, e.clock.now(), seg.family);
  sendStatelessSynAck(e, seg.family, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, iss, (seg.seq + 1) | 0, o, header.tos, header.ttl);
  e.counters.synCookiesSent++;
}

/**
 * The final ACK of a cookie handshake: if the cookie checks out, the connection opens with the
 * options the SYN had, as far as the cookie and the ACK's TSecr bring them back (Linux
 * cookie_v4_check and cookie_timestamp_decode). Returns false (the caller resets) otherwise.
 */
function cookieOpen(e: TcpEngine, listener: TcpListener, o: TcpOptions): boolean {
  const iss = (seg.ack - 1) | 0;
  const irs = (seg.seq - 1) | 0;
  const index = decodeSynCookie(e.isn, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, irs, iss, e.clock.now(), seg.family);
  if (index < 0 || !cookieSynOptions(e, o, COOKIE_MSS[index]!)) {
    e.counters.synCookiesFailed++;
    return false;
  }
  const tcb = e.newTcb(seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.family);
  const header = listener.headerFor(seg.family);
  tcb.ttl = header.ttl;
  tcb.tos = header.tos;
  tcb.irs = irs;
  tcb.rcvNxt = seg.seq;
  // The SYN-ACK's window, unscaled (RFC 7323 §2.2), and its ACK: what TS.Recent updates compare with (RFC 7323 §4.3).
  tcb.rcvAdvEdge = (tcb.rcvNxt + Math.min(tcb.rcvBufSize, 65535)) | 0;
  tcb.lastAckSent = tcb.rcvNxt;
  negotiate(e, tcb, e.cookieSynOptions);
  tcb.iss = iss;
  tcb.sndUna = tcb.sndNxt = tcb.sndMax = seg.ack;
  tcb.sndWnd = seg.window << tcb.sndShift;
  tcb.maxSndWnd = tcb.sndWnd;
  tcb.sndWl1 = seg.seq;
  tcb.sndWl2 = seg.ack;
  e.addPassive(tcb);
  established(e, tcb, e.clock.now());
  e.counters.synCookiesAccepted++;
  listener.events.onConnection(tcb);
  if (isGone(tcb)) return true;
  // The ACK may carry data (or a FIN): process it as on any connection.
  if (seg.payloadLength > 0 || (seg.flags & FIN)) segmentArrives(e, tcb, o);
  return true;
}

/**
 * Rebuilds the SYN's options into e.cookieSynOptions from the cookie's MSS and the ACK's `o`.
 * Without timestamps only the MSS is known. With them, the TSecr must be a TSval we could have sent
 * (isn.ts), and, as Linux decides, bits for SACK or window scaling switched off here are refused:
 * our SYN-ACK cannot have offered them. Bits for options the SYN did not have are otherwise taken
 * as Linux takes them: only the peer's own echo can set them, and they ask no more than a SYN
 * could (the 4-bit shift stops at 14). The ECN bit is ignored: no ECN here.
 */
function cookieSynOptions(e: TcpEngine, o: TcpOptions, mss: number): boolean {
  const syn = e.cookieSynOptions;
  syn.clear();
  syn.mss = mss;
  if (!o.hasTimestamps) return true;
  const bits = decodeCookieTimestamp(o.tsEcr | 0, tsNow(e));
  if (bits < 0 || !e.options.timestamps) return false;
  syn.hasTimestamps = true;
  syn.tsVal = o.tsVal;
  syn.sackPermitted = (bits & COOKIE_TS_SACK) !== 0;
  if (syn.sackPermitted && !e.options.sack) return false;
  const shift = bits & COOKIE_TS_NO_WSCALE;
  if (shift === COOKIE_TS_NO_WSCALE) return true;
  syn.windowScale = shift;
  return e.options.windowScaling;
}

function passiveOpen(e: TcpEngine, listener: TcpListener, o: TcpOptions): void {
  if (listener.synQueue >= listener.backlog) {
    e.counters.synQueueOverflows++;
    if (e.options.synCookies) sendSynCookie(e, listener, o);
    return;
  }
  const tcb = e.newTcb(seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.family);
  const header = listener.headerFor(seg.family);
  tcb.ttl = header.ttl;
  tcb.tos = header.tos;
  tcb.irs = seg.seq;
  tcb.rcvNxt = (seg.seq + 1) | 0;
  tcb.rcvAdvEdge = tcb.rcvNxt;
  negotiate(e, tcb, o);
  tcb.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
  tcb.maxSndWnd = tcb.sndWnd;
  tcb.sndWl1 = seg.seq;
  tcb.iss = e.isn.next(tcb.localIp, tcb.localPort, tcb.remoteIp, tcb.remotePort, tcb.family);
  tcb.sndUna = tcb.sndNxt = tcb.sndMax = tcb.iss;
  tcb.state = TcpState.SYN_RECEIVED;
  tcb.listener = listener;
  listener.synQueue++;
  e.addPassive(tcb);
  sendSyn(e, tcb);
}

/** Linux's tcp_min_snd_mss default. */
const MIN_SEND_MSS = 48;

/** Options from the peer's SYN decide MSS, window scaling, SACK and timestamps for both sides. */
function negotiate(e: TcpEngine, tcb: Tcb, o: TcpOptions): void {
  tcb.peerMss = o.mss > 0 ? o.mss : 536;
  // RFC 6691: the announced MSS bounds data plus options. A tiny MSS is raised to 48 as Linux's
  // tcp_min_snd_mss does (segments of a few bytes would cost a frame and an ACK per byte).
  tcb.mss = Math.max(MIN_SEND_MSS, Math.min(tcb.peerMss, tcb.path.mss()));
  if (o.windowScale >= 0 && tcb.wantWindowScale) {
    tcb.sndShift = Math.min(o.windowScale, 14);
  } else {
    tcb.sndShift = 0;
    tcb.rcvShift = 0;
    tcb.wantWindowScale = false;
  }
  tcb.sackEnabled = o.sackPermitted && e.options.sack;
  tcb.tsEnabled = o.hasTimestamps && e.options.timestamps;
  if (tcb.tsEnabled) {
    tcb.tsRecent = o.tsVal | 0;
    tcb.tsRecentAt = e.clock.now();
    tcb.mss -= 12; // every segment carries the 12-byte timestamp option
  }
  tcb.cc.setMss(tcb.mss);
}

function segmentArrives(e: TcpEngine, tcb: Tcb, o: TcpOptions): void {
  const now = e.clock.now();
  tcb.segmentsIn++;
  tcb.lastReceiveAt = now;
  tcb.keepAliveProbes = 0;
  if (tcb.keepAlive.enabled && tcb.state >= TcpState.ESTABLISHED) {
    tcb.keepAliveAt = now + tcb.keepAlive.idleMs;
    e.reschedule(tcb);
  }
  if (tcb.state === TcpState.SYN_SENT) { synSent(e, tcb, o, now); return; }
  if (tcb.state === TcpState.TIME_WAIT) { timeWait(e, tcb, o); return; }

  let f = seg.flags;
  let seq = seg.seq;
  let payloadAt = seg.payloadAt;
  let payloadLength = seg.payloadLength;

  if (tcb.state === TcpState.SYN_RECEIVED && (f & SYN) && seq === tcb.irs) {
    // A retransmitted SYN while our SYN-ACK is unanswered: answer it again.
    if (!(f & ACK)) { sendSyn(e, tcb); return; }
    // The peer's SYN-ACK after a simultaneous open (RFC 9293 §3.5 figure 8), or its SYN-ACK
    // again: the SYN is already counted, the ACK is what matters (as Linux trims it).
    f &= ~SYN;
    seq = (seq + 1) | 0;
  }

  // RFC 7323 §5.3 PAWS.
  if (tcb.tsEnabled && o.hasTimestamps && !(f & RST)) {
    const tsVal = o.tsVal | 0;
    if (seqLt(tsVal, tcb.tsRecent) && now - tcb.tsRecentAt < PAWS_IDLE_MS) {
      e.counters.pawsRejected++;
      sendAck(e, tcb);
      return;
    }
  }

  // 1. Sequence acceptability (RFC 9293 §3.10.7.4, first check).
  const rcvWnd = Math.max(0, (tcb.rcvAdvEdge - tcb.rcvNxt) | 0);
  const segLen = payloadLength + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
  let acceptable: boolean;
  if (segLen === 0) {
    acceptable = rcvWnd === 0 ? seq === tcb.rcvNxt : seqGeq(seq, tcb.rcvNxt) && seqLt(seq, (tcb.rcvNxt + rcvWnd) | 0);
  } else if (rcvWnd === 0) {
    acceptable = false;
  } else {
    const last = (seq + segLen - 1) | 0;
    acceptable = (seqGeq(seq, tcb.rcvNxt) && seqLt(seq, (tcb.rcvNxt + rcvWnd) | 0))
      || (seqGeq(last, tcb.rcvNxt) && seqLt(last, (tcb.rcvNxt + rcvWnd) | 0));
  }
  if (!acceptable) {
    if (!(f & RST)) {
      if (payloadLength > 0 && seqLt(seq, tcb.rcvNxt)) {
        e.counters.duplicateSegments++;
        // D-SACK (RFC 2883 §4): tell the sender this retransmission was not needed, so that a
        // sender that took reordering for loss (veth between two CPUs does reorder) can undo it.
        if (tcb.sackEnabled) {
          tcb.dsackStart = seq;
          tcb.dsackLength = Math.min(payloadLength, (tcb.rcvNxt - seq) | 0);
        }
      } else {
        e.counters.outOfWindow++;
      }
      e.ackSoon(tcb);
    }
    return;
  }

  // 2. RST (RFC 5961 §3.2): only an exact match resets; in-window gets a challenge ACK.
  if (f & RST) {
    if (seq !== tcb.rcvNxt) { e.challengeAck(tcb); return; }
    e.counters.resetsReceived++;
    if (tcb.state === TcpState.SYN_RECEIVED && tcb.listener) {
      tcb.state = TcpState.CLOSED;
      e.remove(tcb); // back to LISTEN: the listener never saw it
      return;
    }
    const quiet = tcb.state === TcpState.CLOSING || tcb.state === TcpState.LAST_ACK;
    e.close(tcb, quiet ? STATUS_SUCCESS : STATUS_CONNECTION_RESET);
    return;
  }

  // TS.Recent update (RFC 7323 §4.3): for segments covering Last.ACK.sent.
  if (tcb.tsEnabled && o.hasTimestamps && seqLeq(seq, tcb.lastAckSent)) {
    tcb.tsRecent = o.tsVal | 0;
    tcb.tsRecentAt = now;
  }

  // 4. SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
  if (f & SYN) {
    e.challengeAck(tcb);
    return;
  }

  // 5. ACK.
  if (!(f & ACK)) return;
  if (tcb.state === TcpState.SYN_RECEIVED) {
    if (!(seqLt(tcb.sndUna, seg.ack) && seqLeq(seg.ack, tcb.sndMax))) {
      sendResetFor(e, seg.family, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.seq, seg.ack, segLen, true);
      return;
    }
    established(e, tcb, now);
    tcb.sndWnd = seg.window << tcb.sndShift;
    tcb.maxSndWnd = Math.max(tcb.maxSndWnd, tcb.sndWnd);
    tcb.sndWl1 = seq;
    tcb.sndWl2 = seg.ack;
    const l = tcb.listener as TcpListener | null;
    tcb.listener = null;
    if (l) {
      l.synQueue--;
      if (l.closed) { e.abort(tcb); return; }
      l.events.onConnection(tcb);
    } else {
      tcb.events?.onEstablished(tcb); // an active open that went through a simultaneous open
    }
    if (isGone(tcb)) return;
  }
  if (!processAck(e, tcb, o, seq, payloadLength, f, now)) return;
  if (isGone(tcb)) return;

  // 7. Data.
  let delivered = false;
  if (payloadLength > 0 && tcb.canReceive) {
    if (seqLt(seq, tcb.rcvNxt)) {
      const d = (tcb.rcvNxt - seq) | 0;
      payloadAt += d;
      payloadLength -= d;
      seq = tcb.rcvNxt;
    }
    delivered = receiveData(e, tcb, seq, payloadAt, payloadLength);
  }

  // 8. FIN, once everything before it has arrived.
  if ((f & FIN) && ((seq + payloadLength) | 0) === tcb.rcvNxt && !tcb.finReceived && tcb.canReceive) {
    tcb.rcvNxt = (tcb.rcvNxt + 1) | 0;
    tcb.finReceived = true;
    sendAck(e, tcb);
    if (delivered) tcb.events?.onReadable(tcb);
    delivered = false;
    // The new state is in place before the owner hears of the FIN, so a shutdown() from inside
    // onFin goes CLOSE-WAIT → LAST-ACK (not FIN-WAIT-1 → CLOSING → TIME-WAIT).
    let timeWait = false;
    switch (tcb.state) {
      case TcpState.ESTABLISHED: tcb.state = TcpState.CLOSE_WAIT; break;
      case TcpState.FIN_WAIT_1:
        if (tcb.finSent && tcb.sndUna === tcb.sndMax) timeWait = true;
        else tcb.state = TcpState.CLOSING;
        break;
      case TcpState.FIN_WAIT_2: timeWait = true; break;
      default: break;
    }
    tcb.events?.onFin(tcb);
    if (timeWait && !isGone(tcb)) e.enterTimeWait(tcb);
  }
  if (delivered) tcb.events?.onReadable(tcb);
  if (!isGone(tcb)) output(e, tcb);
}

/** Callbacks may have closed the connection (the state changes behind the compiler's back). */
function isGone(tcb: Tcb): boolean {
  const st: TcpState = tcb.state;
  return st === TcpState.CLOSED || st === TcpState.TIME_WAIT;
}

function established(e: TcpEngine, tcb: Tcb, now: number): void {
  tcb.state = TcpState.ESTABLISHED;
  // Segmentation offload: hand the link segments of several MSS (it cuts them, or carries them whole).
  const tso = e.stack.device.capabilities.tsoMaxBytes;
  const room = tso - tcb.path.headerLength - TCP_MIN_HEADER_LENGTH - (tcb.tsEnabled ? 12 : 0);
  tcb.sendSegmentMax = tso > 0 && room > tcb.mss ? Math.floor(room / tcb.mss) * tcb.mss : tcb.mss;
  tcb.cc.init(tcb.mss, now);
  tcb.rtoAt = Infinity;
  if (tcb.keepAlive.enabled) tcb.keepAliveAt = now + tcb.keepAlive.idleMs;
  e.reschedule(tcb);
}

/** Returns false when the segment must be dropped after the ACK check. */
function processAck(e: TcpEngine, tcb: Tcb, o: TcpOptions, seq: number, payloadLength: number, f: number, now: number): boolean {
  const ack = seg.ack;
  if (seqGt(ack, tcb.sndMax)) {
    e.counters.ackTooNew++;
    sendAck(e, tcb);
    return false;
  }
  // RFC 5961 §5.2: an ACK far below SND.UNA is a blind injection.
  if (seqLt(ack, (tcb.sndUna - tcb.maxSndWnd) | 0)) {
    e.challengeAck(tcb);
    return false;
  }
  const newSacked = tcb.sackEnabled && o.sackCount > 0 ? sackArrived(e, tcb, o, ack, now) : 0;
  const windowBefore = tcb.sndWnd;
  const advanced = seqGt(ack, tcb.sndUna);
  let dataAcked = 0;
  if (advanced) {
    dataAcked = ackAdvance(e, tcb, ack, o, now);
  } else if (ack === tcb.sndUna && payloadLength === 0 && !(f & (SYN | FIN)) && tcb.sndMax !== tcb.sndUna
    && ((seg.window << tcb.sndShift) === windowBefore || newSacked > 0) && !tcb.sackEnabled) {
    duplicateAck(e, tcb, now);
  }
  if (tcb.sackEnabled) afterAck(e, tcb, dataAcked + newSacked, advanced, now);
  // Window update (RFC 9293 §3.10.7.4, fifth check).
  if (seqLt(tcb.sndWl1, seq) || (tcb.sndWl1 === seq && seqLeq(tcb.sndWl2, ack))) {
    tcb.sndWnd = seg.window << tcb.sndShift;
    tcb.sndWl1 = seq;
    tcb.sndWl2 = ack;
    if (tcb.sndWnd > tcb.maxSndWnd) tcb.maxSndWnd = tcb.sndWnd;
    if (tcb.sndWnd > 0 && tcb.persist) {
      tcb.persist = false;
      tcb.rtt.resetBackoff();
      if (tcb.sndUna === tcb.sndMax) { tcb.rtoAt = Infinity; e.reschedule(tcb); } else e.armRto(tcb);
    }
  }
  // Our FIN acknowledged.
  if (tcb.finSent && tcb.sndUna === tcb.sndMax) {
    switch (tcb.state) {
      case TcpState.FIN_WAIT_1: tcb.state = TcpState.FIN_WAIT_2; break;
      case TcpState.CLOSING: e.enterTimeWait(tcb); return false;
      case TcpState.LAST_ACK:
        tcb.state = TcpState.CLOSED;
        e.close(tcb, STATUS_SUCCESS);
        return false;
      default: break;
    }
  }
  return true;
}

/** SND.UNA moves to `ack`; returns the data bytes newly acknowledged. */
function ackAdvance(e: TcpEngine, tcb: Tcb, ack: number, o: TcpOptions, now: number): number {
  const acked = (ack - tcb.sndUna) | 0;
  const inFlightBefore = tcb.inFlight;
  let dataAcked = acked;
  if (tcb.sndUna === tcb.iss) dataAcked--; // our SYN
  if (tcb.finSent && ack === tcb.sndMax) dataAcked--; // our FIN
  if (dataAcked < 0) dataAcked = 0;
  tcb.sndUnaOffset += dataAcked;
  tcb.sndUna = ack;
  if (tcb.smallInFlight && !seqLt(ack, tcb.sndSml)) tcb.smallInFlight = false;
  if (seqLt(tcb.sndNxt, ack)) tcb.sndNxt = ack;
  // RTT (RFC 6298 with Karn; RFC 7323 §4 with timestamps).
  let sample = -1;
  if (tcb.tsEnabled && o.hasTimestamps && o.tsEcr !== 0) {
    sample = (tsNow(e) - (o.tsEcr | 0)) | 0;
    if (sample < 0 || sample > 600_000) sample = -1;
  } else if (tcb.rttTiming && seqGeq(ack, tcb.rttSeq)) {
    sample = now - tcb.rttStart;
  }
  if (seqGeq(ack, tcb.rttSeq)) tcb.rttTiming = false;
  if (sample >= 0) tcb.rtt.sample(Math.max(sample, 0.001));
  tcb.backoffs = 0;
  if (tcb.sackEnabled) tcb.rack.ackTo(ack, now);
  e.completeSends(tcb);
  if (tcb.inRecovery) {
    if (seqGeq(ack, tcb.recoveryPoint)) {
      if (tcb.sackEnabled) {
        recoveryEnds(e, tcb, o, now);
      } else {
        tcb.inRecovery = false;
        tcb.inflation = 0;
        tcb.cc.onRecoveryEnd(now);
      }
    } else if (tcb.recoveryAfterTimeout) {
      tcb.cc.onAck(dataAcked, inFlightBefore, sample, now, false); // slow start back up (RFC 5681 §3.1)
    } else {
      tcb.cc.onRecoveryAck?.(dataAcked, now);
      if (!tcb.sackEnabled) {
        // RFC 6582 §3.2 step 5: partial ACK — retransmit the next hole, deflate by what was acked.
        retransmitFirst(e, tcb);
        tcb.inflation = Math.max(0, tcb.inflation - dataAcked + (dataAcked >= tcb.mss ? tcb.mss : 0));
      }
    }
  } else if (dataAcked > 0) {
    const unsent = (tcb.dataEndSeq - tcb.sndNxt) | 0;
    // Application- or receive-window-limited (RFC 9438 §4.6, RFC 7661): cwnd must not grow
    // beyond what the sender could actually use.
    const appLimited = inFlightBefore < tcb.cc.cwnd && (unsent <= 0 || inFlightBefore + tcb.mss > tcb.sndWnd);
    tcb.cc.onAck(dataAcked, inFlightBefore, sample, now, appLimited);
  }
  tcb.dupAcks = 0;
  if (tcb.sndUna === tcb.sndMax) { tcb.rtoAt = Infinity; e.reschedule(tcb); } else e.armRto(tcb);
  // The ideal send backlog moves with every cwnd change: tell the owner only when it moved by an
  // eighth or more, so WskSendBacklogEvent reports trends rather than every ACK.
  const isb = tcb.idealSendBacklog;
  const last = tcb.reportedBacklog;
  if (last === 0 || Math.abs(isb - last) * 8 >= last) {
    tcb.reportedBacklog = isb;
    tcb.events?.onSendBacklog?.(tcb, isb);
  }
  return dataAcked;
}

function duplicateAck(e: TcpEngine, tcb: Tcb, now: number): void {
  tcb.dupAcks++;
  tcb.dupAcksIn++;
  if (!tcb.inRecovery) {
    if (tcb.dupAcks < 3) return;
    // RFC 6582 §3.2 step 2: no new recovery until the ACK passes the previous "recover" point.
    if (tcb.fastRetransmits > 0 && seqLt(tcb.sndUna, tcb.recoveryPoint)) return;
    tcb.inRecovery = true;
    tcb.recoveryPoint = tcb.sndMax;
    tcb.cc.onLoss(tcb.inFlight, now);
    tcb.fastRetransmits++;
    e.counters.fastRetransmits++;
    tcb.rttTiming = false;
    retransmitFirst(e, tcb);
    tcb.inflation = 3 * tcb.mss;
    return;
  }
  tcb.inflation += tcb.mss;
}

/** In-window data at `seq` (>= RCV.NXT). Returns true when bytes became readable. */
function receiveData(e: TcpEngine, tcb: Tcb, seq: number, at: number, length: number): boolean {
  // Never accept beyond what we advertised.
  const room = (tcb.rcvAdvEdge - seq) | 0;
  if (length > room) length = Math.max(0, room);
  if (length === 0) return false;
  tcb.bytesIn += length;
  if (seq === tcb.rcvNxt) {
    // Zero copy: keep the payload in its ring slot (a copy only when the held-data table is full).
    const h = seg.slot >= 0 ? e.stack.held.hold(seg.slot, at, length) : -1;
    if (h >= 0) tcb.queueHeld(h, length);
    else appendReceived(tcb, seg.bytes, at, length);
    tcb.rcvNxt = (tcb.rcvNxt + length) | 0;
    let filledHole = false;
    if (tcb.ooo.count > 0) {
      const before = tcb.rcvNxt;
      tcb.rcvNxt = tcb.ooo.takeInOrder(tcb.rcvNxt, tcb.queueHeldBound);
      filledHole = tcb.rcvNxt !== before || tcb.ooo.count > 0;
    }
    tcb.unackedSegments++;
    // PSH: the sender has nothing more queued and may be waiting for this ACK to complete a
    // send (WSK sends complete on acknowledgement), so a delayed ACK would stall it.
    if ((seg.flags & FIN) !== 0 && ((seq + length) | 0) === tcb.rcvNxt && tcb.ooo.count === 0) {
      // The FIN right behind this data is acknowledged together with it (step 8).
    } else if (filledHole) {
      // At once (the end of this batch), with the remaining SACK blocks: the sender's recovery
      // runs on it.
      e.ackSoon(tcb);
    } else if (tcb.quickAcks > 0 || tcb.unackedSegments >= 2 || (seg.flags & TcpFlags.PSH) !== 0) {
      if (tcb.quickAcks > 0) tcb.quickAcks--;
      e.ackSoon(tcb);
    } else if (tcb.delackAt === Infinity) {
      tcb.delackAt = e.clock.now() + e.options.delayedAckMs;
      e.reschedule(tcb);
    }
    return true;
  }
  // Out of order: keep the bytes where they landed (a ring slot), ACK at once with SACK blocks.
  // A device's ring frame is copied to a pool slot instead: it may wait a round trip or more for
  // the hole to fill, and a kernel ring cannot refill past a frame still held.
  e.counters.outOfOrderSegments++;
  if (tcb.ackDue && tcb.sackEnabled && seq !== tcb.oooArrivalEnd) {
    // A different block from the ACK this batch owes: that ACK goes now, so that each run of
    // arrivals is reported first in an ACK of its own (RFC 2018 §4).
    sendAck(e, tcb);
  }
  const held = e.stack.held;
  const h = seg.slot < 0 ? held.holdBytes(seg.bytes.slice(at, at + length))
    : e.stack.arena.isDeviceSlot(seg.slot) ? held.holdCopy(seg.slot, at, length) : held.hold(seg.slot, at, length);
  if (h < 0 || !tcb.ooo.insert(seq, length, h)) {
    if (h >= 0) held.release(h);
    e.counters.outOfOrderDrops++;
  } else {
    tcb.ooo.noteArrival(seq);
  }
  tcb.oooArrivalEnd = (seq + length) | 0;
  tcb.unackedSegments++;
  tcb.quickAcks = 8;
  // An immediate ACK for out-of-order data (RFC 5681 §4.2), its block first (RFC 2018 §4). With
  // SACK, segments that extend one block within a receive batch share the batch's ACK, as GRO
  // makes Linux do: each ACK costs the sender a full SACK pass, and an ACK per wire packet halved
  // what a CPU-bound receiver could take at 1 % loss. A sender without SACK counts duplicate
  // ACKs, so it gets one per segment.
  if (tcb.sackEnabled) e.ackSoon(tcb);
  else sendAck(e, tcb);
  return false;
}


const RECEIVE_BLOCK = 64 * 1024;

/**
 * Copies in-order bytes out of the ring into the connection's current receive block (one
 * allocation per 64 KiB, not per segment) and queues them as a view; bytes contiguous with the
 * last queued chunk extend it, so the owner sees few, large chunks. Blocks are never reused:
 * a view handed out stays valid for as long as its holder keeps it.
 */
function appendReceived(tcb: Tcb, bytes: Uint8Array, at: number, length: number): void {
  let block = tcb.rcvBlock;
  if (!block || tcb.rcvBlockUsed + length > block.length) {
    block = tcb.rcvBlock = new Uint8Array(Math.max(RECEIVE_BLOCK, length));
    tcb.rcvBlockUsed = 0;
    tcb.rcvChunkStart = -1;
  }
  const used = tcb.rcvBlockUsed;
  block.set(bytes.subarray(at, at + length), used);
  tcb.rcvBlockUsed = used + length;
  const q = tcb.rcvQueue;
  const last = q.length > 0 ? q[q.length - 1] : null;
  if (tcb.rcvChunkStart >= 0 && last && last.buffer === block.buffer) {
    q[q.length - 1] = block.subarray(tcb.rcvChunkStart, used + length);
  } else {
    tcb.rcvChunkStart = used;
    q.push(block.subarray(used, used + length));
    tcb.rcvHandles.push(-1);
  }
  tcb.rcvQueued += length;
}

function synSent(e: TcpEngine, tcb: Tcb, o: TcpOptions, now: number): void {
  const f = seg.flags;
  if (f & ACK) {
    if (seqLeq(seg.ack, tcb.iss) || seqGt(seg.ack, tcb.sndMax)) {
      if (!(f & RST)) sendResetFor(e, seg.family, seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort, seg.seq, seg.ack, 0, true);
      return;
    }
  }
  if (f & RST) {
    if (f & ACK) {
      e.counters.resetsReceived++;
      e.close(tcb, STATUS_CONNECTION_REFUSED);
    }
    return;
  }
  if (!(f & SYN)) return;
  tcb.irs = seg.seq;
  tcb.rcvNxt = (seg.seq + 1) | 0;
  // The window our SYN advertised (unscaled) now has a left edge.
  tcb.rcvAdvEdge = (tcb.rcvNxt + Math.min(tcb.rcvBufSize, 65535)) | 0;
  negotiate(e, tcb, o);
  tcb.sndWl1 = seg.seq;
  tcb.sndWl2 = seg.ack;
  if (f & ACK) {
    if (tcb.synSent === 1) tcb.rtt.sample(Math.max(now - tcb.lastSendAt, 0.001));
    tcb.sndUna = seg.ack;
    tcb.sndWnd = seg.window; // never scaled in a SYN-ACK
    tcb.maxSndWnd = tcb.sndWnd;
    established(e, tcb, now);
    sendAck(e, tcb);
    tcb.events?.onEstablished(tcb);
    if (tcb.state === TcpState.ESTABLISHED || tcb.state === TcpState.FIN_WAIT_1) output(e, tcb);
    return;
  }
  // Simultaneous open (RFC 9293 §3.5, figure 8).
  tcb.state = TcpState.SYN_RECEIVED;
  tcb.sndWnd = seg.window;
  tcb.maxSndWnd = tcb.sndWnd;
  tcb.synSent = 0;
  sendSyn(e, tcb);
}

function timeWait(e: TcpEngine, tcb: Tcb, o: TcpOptions): void {
  const f = seg.flags;
  if (f & RST) {
    tcb.state = TcpState.CLOSED;
    e.remove(tcb);
    return;
  }
  if ((f & SYN) && !(f & ACK)) {
    // RFC 6191: a new incarnation may reuse the pair if its sequence (or timestamp) moved on.
    const newer = o.hasTimestamps && tcb.tsEnabled ? seqGt(o.tsVal | 0, tcb.tsRecent) : seqGt(seg.seq, tcb.rcvNxt);
    const listener = e.listenerFor(seg.dstPort, seg.family);
    if (newer && listener && !listener.closed) {
      tcb.state = TcpState.CLOSED;
      e.remove(tcb);
      passiveOpen(e, listener, o);
      return;
    }
  }
  // A retransmitted FIN (our ACK was lost): ACK it and restart 2 MSL.
  if (f & FIN) {
    tcb.timeWaitAt = e.clock.now() + e.options.timeWaitMs;
    e.reschedule(tcb);
  }
  sendAck(e, tcb);
}

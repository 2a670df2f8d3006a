// Loss recovery on SACK connections, as modern Linux does it:
// - detection by RACK (RFC 8985 §6): a segment is lost once one sent after it is delivered and
//   RACK.rtt + reo_wnd has passed — for retransmissions too, so a lost retransmission is found
//   in a round trip instead of by the retransmission timeout;
// - tail loss probes (RFC 8985 §7): a probe after 2·SRTT without an ACK turns a lost tail into
//   SACK feedback, leaving the RTO as the last resort;
// - proportional rate reduction during fast recovery (RFC 6937): cwnd = pipe + sndcnt, so the
//   window comes down to ssthresh smoothly, neither bursting nor collapsing;
// - undo of a reduction that was not needed: every retransmission reported duplicate by D-SACK
//   (RFC 2883), or the ACK ending recovery echoing a timestamp older than the first
//   retransmission (RFC 3522, Eifel detection).
// After a retransmission timeout everything unSACKed is lost (RFC 8985 §6.3) and is resent in
// slow start, SACKed data never again. Connections without SACK keep RFC 6582 NewReno
// (tcp-input.ts duplicateAck) and go-back-N after a timeout.
import type { TcpOptions } from '../wire/tcp.ts';
import { seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';
import { TcpState, type Tcb } from './tcb.ts';
import type { TcpEngine } from './tcp-engine.ts';
import { output, sendProbe } from './tcp-output.ts';

export const LOSS_TIMER_REORDER = 1;
export const LOSS_TIMER_PROBE = 2;

/** RFC 8985 §7.2: a worst-case delayed ACK, added to the PTO when one segment is in flight. */
const WORST_CASE_DELAYED_ACK_MS = 200;
/** A PTO shorter than this would fire on ordinary ACK jitter (Linux TCP_TIMEOUT_MIN is 2 ms). */
const MIN_PTO_MS = 2;
const DUP_THRESH = 3;

/** What the last sackArrived saw (module scratch: the stack is single-threaded, no allocation per ACK). */
let newlySacked = 0;
let dsackBytes = 0;

/**
 * The SACK blocks of an arriving ACK (RFC 2018): blocks beyond SND.MAX or at or below SND.UNA
 * are ignored, except that a first block at or below the cumulative ACK, or inside the second
 * block, is a D-SACK (RFC 2883 §4) reporting a duplicate. Returns the bytes newly SACKed.
 */
export function sackArrived(e: TcpEngine, tcb: Tcb, o: TcpOptions, ack: number, now: number): number {
  newlySacked = 0;
  dsackBytes = 0;
  const n = o.sackCount;
  if (n === 0) return 0;
  const b = o.sackBlocks;
  const l0 = b[0]! | 0;
  const r0 = b[1]! | 0;
  if (seqLt(l0, r0) && (seqLeq(r0, ack) || (n > 1 && seqGeq(l0, b[2]! | 0) && seqLeq(r0, b[3]! | 0)))) {
    dsackBytes = (r0 - l0) | 0;
    e.counters.dsacksReceived++;
  }
  const rack = tcb.rack;
  const high = (tcb.sndMax - (tcb.finSent ? 1 : 0)) | 0;
  for (let i = dsackBytes > 0 ? 1 : 0; i < n; i++) {
    let left = b[2 * i]! | 0;
    const right = b[2 * i + 1]! | 0;
    if (!seqLt(left, right) || !seqGt(right, ack) || seqGt(right, high)) continue;
    if (seqLt(left, ack)) left = ack;
    newlySacked += rack.sack(left, right, now);
  }
  return newlySacked;
}

/**
 * After an ACK on a SACK connection (cumulative part already applied): undo, RACK loss
 * detection, entering fast recovery, PRR, and the probe timer. `delivered` is what this ACK newly
 * acknowledged or SACKed (RFC 6937 DeliveredData).
 */
export function afterAck(e: TcpEngine, tcb: Tcb, delivered: number, ackAdvanced: boolean, now: number): void {
  const rack = tcb.rack;
  // A D-SACK (a retransmission was not needed) widens the reordering window, but is not itself
  // reordering (RACK.reord comes only from step 1): a tail loss probe whose original arrived is
  // D-SACKed too, and with reord set every later hole would wait a quarter RTT (or the reorder
  // timer) before its retransmission.
  rack.noteAck(dsackBytes > 0, tcb.sndUna, tcb.sndNxt);
  if (dsackBytes > 0) {
    if (tcb.undoRetrans > 0) {
      tcb.undoRetrans -= dsackBytes;
      if (tcb.undoRetrans <= 0) undo(e, tcb, now);
    }
  }
  if (ackAdvanced || newlySacked > 0) tcb.tlpOutstanding = false;
  // Without SACKed data every delivery was cumulative, in sending order: nothing sent before it
  // is still outstanding, so RACK has nothing to look at (the common, loss-free case).
  if (rack.sackedBytes === 0 && !tcb.inRecovery && tcb.lossTimer !== LOSS_TIMER_REORDER) return;
  detectLoss(e, tcb, now);
  if (tcb.inRecovery && !tcb.recoveryAfterTimeout) proportionalRateReduction(tcb, delivered);
}

/** RFC 8985 §6.2: marks what RACK finds lost, arms the reorder timer, enters recovery on a first loss. */
function detectLoss(e: TcpEngine, tcb: Tcb, now: number): void {
  const rack = tcb.rack;
  const dupThreshSacked = rack.sackedBytes >= DUP_THRESH * tcb.mss;
  const reoWnd = rack.reoWnd(tcb.inRecovery || dupThreshSacked, tcb.rtt.srtt);
  const wait = rack.detectLoss(now, reoWnd);
  if (wait > 0) setLossTimer(e, tcb, LOSS_TIMER_REORDER, now + wait);
  else if (tcb.lossTimer === LOSS_TIMER_REORDER) setLossTimer(e, tcb, 0, Infinity);
  if (rack.newlyLost > 0) {
    e.counters.rackLosses++;
    if (!tcb.inRecovery) enterFastRecovery(e, tcb, now);
  }
}

/** RFC 6675 §5 / RFC 6937: fast recovery starts; ssthresh from the congestion control, cwnd from PRR. */
function enterFastRecovery(e: TcpEngine, tcb: Tcb, now: number): void {
  tcb.inRecovery = true;
  tcb.recoveryAfterTimeout = false;
  tcb.recoveryPoint = tcb.sndMax;
  tcb.priorCwnd = tcb.cc.cwnd;
  tcb.priorSsthresh = tcb.cc.ssthresh;
  tcb.undoRetrans = 0;
  tcb.retransTsVal = 0;
  tcb.recoverFs = tcb.inFlight;
  tcb.prrDelivered = 0;
  tcb.prrOut = 0;
  tcb.cc.onLoss(tcb.inFlight, now);
  tcb.fastRetransmits++;
  e.counters.fastRetransmits++;
  tcb.rttTiming = false;
  if (tcb.lossTimer === LOSS_TIMER_PROBE) setLossTimer(e, tcb, 0, Infinity);
  // cwnd is the congestion control's reduced window (ssthresh) until an ACK brings PRR's first
  // figure: a loss found by the reorder timer has no ACK behind it, and a window of pipe + 1 MSS
  // would retransmit one segment of the hole and leave the rest to wait — for an RTO if that one
  // is lost too (Linux likewise retransmits up to cwnd when its RACK timer fires). The fast
  // retransmit itself always leaves (RFC 6937 §3.1).
  const pipe = tcb.rack.pipe();
  if (tcb.cc.cwnd < pipe + tcb.mss) tcb.cc.cwnd = pipe + tcb.mss;
}

/**
 * RFC 6937 §3.1: sndcnt from what was delivered since recovery began; with pipe above ssthresh
 * the window shrinks in proportion, below it slow start's reduction bound (PRR-SSRB) refills it.
 */
function proportionalRateReduction(tcb: Tcb, delivered: number): void {
  tcb.prrDelivered += delivered;
  const pipe = tcb.rack.pipe();
  const ssthresh = tcb.cc.ssthresh;
  let sndcnt: number;
  if (pipe > ssthresh) {
    sndcnt = Math.ceil((tcb.prrDelivered * ssthresh) / Math.max(tcb.recoverFs, 1)) - tcb.prrOut;
  } else {
    const limit = Math.max(tcb.prrDelivered - tcb.prrOut, delivered) + tcb.mss;
    sndcnt = Math.min(ssthresh - pipe, limit);
  }
  // The fast retransmit itself always leaves (RFC 6937 §3.1 note; Linux does the same).
  if (tcb.prrOut === 0 && sndcnt < tcb.mss) sndcnt = tcb.mss;
  tcb.cc.cwnd = pipe + Math.max(0, Math.floor(sndcnt));
}

/**
 * The cumulative ACK reached the recovery point. Eifel (RFC 3522): if it echoes a timestamp
 * older than our first retransmission, the originals arrived and the reduction is undone.
 */
export function recoveryEnds(e: TcpEngine, tcb: Tcb, o: TcpOptions, now: number): void {
  if (tcb.tsEnabled && o.hasTimestamps && tcb.retransTsVal !== 0 && o.tsEcr !== 0 && seqLt(o.tsEcr | 0, tcb.retransTsVal)) {
    undo(e, tcb, now);
    return;
  }
  tcb.inRecovery = false;
  tcb.rack.recoveryEnded();
  if (!tcb.recoveryAfterTimeout) tcb.cc.onRecoveryEnd(now); // cwnd = ssthresh; after a timeout slow start goes on
  tcb.recoveryAfterTimeout = false;
}

/** The reduction was not needed: back to the window before it, and forget the loss marks. */
function undo(e: TcpEngine, tcb: Tcb, now: number): void {
  if (tcb.undoRetrans < 0) return;
  e.counters.undos++;
  if (tcb.recoveryAfterTimeout) {
    tcb.cc.onSpuriousTimeout?.(now);
  } else {
    if (tcb.cc.cwnd < tcb.priorCwnd) tcb.cc.cwnd = tcb.priorCwnd;
    if (tcb.cc.ssthresh < tcb.priorSsthresh) tcb.cc.ssthresh = tcb.priorSsthresh;
  }
  tcb.undoRetrans = -1;
  if (tcb.inRecovery) tcb.rack.recoveryEnded();
  tcb.inRecovery = false;
  tcb.recoveryAfterTimeout = false;
  tcb.rack.unmarkLost();
}

/**
 * RFC 8985 §6.3 / RFC 6298 §5.4–5.7 on a SACK connection: everything unSACKed is lost; cwnd is
 * the loss window; the lost data goes out again in slow start (SACKed data never).
 */
export function timeoutRecovery(e: TcpEngine, tcb: Tcb, now: number): void {
  if (!tcb.inRecovery || !tcb.recoveryAfterTimeout) {
    tcb.undoRetrans = 0;
    tcb.retransTsVal = 0;
  }
  tcb.cc.onTimeout(tcb.inFlight, now);
  tcb.inRecovery = true;
  tcb.recoveryAfterTimeout = true;
  tcb.recoveryPoint = tcb.sndMax;
  tcb.tlpOutstanding = false;
  setLossTimer(e, tcb, 0, Infinity);
  tcb.rack.markAllLost();
}

/**
 * RFC 8985 §7.2: (re)arms the probe timeout while data is in flight and no recovery runs.
 * Called after new data left or an ACK arrived; never pushes the RTO (the PTO only comes first).
 */
export function schedulePto(e: TcpEngine, tcb: Tcb, now: number): void {
  if (!tcb.sackEnabled || tcb.inRecovery || tcb.tlpOutstanding || tcb.lossTimer === LOSS_TIMER_REORDER) return;
  const srtt = tcb.rtt.srtt;
  if (tcb.sndUna === tcb.sndMax || srtt === 0 || tcb.persist) {
    if (tcb.lossTimer === LOSS_TIMER_PROBE) setLossTimer(e, tcb, 0, Infinity);
    return;
  }
  let pto = 2 * srtt;
  if (tcb.inFlight <= tcb.mss) pto = Math.max(pto, 1.5 * srtt + WORST_CASE_DELAYED_ACK_MS);
  if (pto < MIN_PTO_MS) pto = MIN_PTO_MS;
  const at = now + pto;
  if (at >= tcb.rtoAt) { if (tcb.lossTimer === LOSS_TIMER_PROBE) setLossTimer(e, tcb, 0, Infinity); return; }
  setLossTimer(e, tcb, LOSS_TIMER_PROBE, at);
}

/** The reorder timer (RACK finds the waiting segments lost now) or the probe timeout fired. */
export function onLossTimer(e: TcpEngine, tcb: Tcb, now: number): void {
  const kind = tcb.lossTimer;
  tcb.lossTimer = 0;
  const st = tcb.state;
  if (st < TcpState.ESTABLISHED || st === TcpState.TIME_WAIT || st === TcpState.FIN_WAIT_2 || tcb.sndUna === tcb.sndMax) return;
  if (kind === LOSS_TIMER_REORDER) {
    const recovering = tcb.inRecovery;
    detectLoss(e, tcb, now);
    if (recovering && tcb.inRecovery && !tcb.recoveryAfterTimeout) proportionalRateReduction(tcb, 0);
    output(e, tcb);
    return;
  }
  // RFC 8985 §7.3: one probe — new data if the window allows, else the last segment again.
  tcb.tlpOutstanding = true;
  e.counters.tailLossProbes++;
  sendProbe(e, tcb);
  e.armRto(tcb);
}

export function setLossTimer(e: TcpEngine, tcb: Tcb, kind: number, at: number): void {
  tcb.lossTimer = kind;
  if (tcb.lossAt === at) return;
  tcb.lossAt = at;
  e.reschedule(tcb);
}

// Counters of one TCP engine (gVisor's TCPStats idea): segments, retransmissions and every reason a
// segment was dropped or a connection ended, for `wsk stats`, tests and the simulation tables.
export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  activeOpens: number;
  passiveOpens: number;
  /** Connections that ended other than by an orderly close. */
  aborts: number;
  retransmits: number;
  bytesRetransmitted: number;
  fastRetransmits: number;
  /** RACK loss detections (RFC 8985 §6.2) that marked data lost: by time, lost retransmissions included. */
  rackLosses: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  tailLossProbes: number;
  /** D-SACKs received (RFC 2883): a duplicate reached the peer. */
  dsacksReceived: number;
  /** Window reductions undone as spurious (every retransmission D-SACKed, or Eifel timestamps, RFC 3522). */
  undos: number;
  timeouts: number;
  connectTimeouts: number;
  keepAliveProbes: number;
  keepAliveTimeouts: number;
  windowProbes: number;
  resetsSent: number;
  resetsReceived: number;
  challengeAcks: number;
  challengeAcksLimited: number;
  /** Segments dropped: bad checksum or header. */
  malformed: number;
  /** Segments dropped: outside the receive window, or PAWS (RFC 7323). */
  outOfWindow: number;
  pawsRejected: number;
  /** ACKs for data never sent. */
  ackTooNew: number;
  /** SYNs to a port without a listener, or a full SYN queue. */
  noListener: number;
  synQueueOverflows: number;
  synCookiesSent: number;
  synCookiesAccepted: number;
  /**
   * ACKs to a listener answered with a reset because no SYN cookie of ours checks out: a forged or
   * stale cookie, or a timestamp echo it cannot have come with (Linux's SyncookiesFailed, widened).
   */
  synCookiesFailed: number;
  outOfOrderSegments: number;
  outOfOrderDrops: number;
  duplicateSegments: number;
  /** Connections whose MSS shrank after ICMP fragmentation-needed (RFC 1191). */
  pmtuShrinks: number;
  /** ICMP errors quoting a sequence number outside SND.UNA..SND.NXT: ignored (RFC 5927 §5.1; Linux OutOfWindowIcmps). */
  outOfWindowIcmps: number;
  /** No free ring slot for an outgoing segment. */
  noSlot: number;
}

export function newTcpCounters(): TcpCounters {
  return {
    segmentsIn: 0, segmentsOut: 0, activeOpens: 0, passiveOpens: 0, aborts: 0, retransmits: 0, bytesRetransmitted: 0,
    fastRetransmits: 0, rackLosses: 0, tailLossProbes: 0, dsacksReceived: 0, undos: 0, timeouts: 0, connectTimeouts: 0, keepAliveProbes: 0, keepAliveTimeouts: 0, windowProbes: 0,
    resetsSent: 0, resetsReceived: 0, challengeAcks: 0, challengeAcksLimited: 0, malformed: 0, outOfWindow: 0,
    pawsRejected: 0, ackTooNew: 0, noListener: 0, synQueueOverflows: 0, synCookiesSent: 0, synCookiesAccepted: 0, synCookiesFailed: 0,
    outOfOrderSegments: 0, outOfOrderDrops: 0, duplicateSegments: 0, pmtuShrinks: 0, outOfWindowIcmps: 0, noSlot: 0,
  };
}

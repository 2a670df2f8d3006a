// Counters of one userspace stack (gVisor's documented-stats idea): every frame that is dropped
// is counted under the reason, so `wsk stats` and tests can say where traffic went.
export interface StackCounters {
  /** Frames received from the link. */
  rxFrames: number;
  /** Shorter than an Ethernet header. */
  rxMalformed: number;
  /** Unicast to another MAC. */
  rxNotForUs: number;
  rxUnknownEtherType: number;
  arpIn: number;
  arpOut: number;
  arpMalformed: number;
  /** Requests for other hosts' addresses (learned from only if already cached, never answered). */
  arpNotForUs: number;
  arpRepliesSent: number;
  /** Another MAC claims our address. */
  arpConflicts: number;
  ipIn: number;
  ipOut: number;
  ipBadChecksum: number;
  ipMalformed: number;
  /** Not addressed to us (we do not forward). */
  ipNotForUs: number;
  /** From the link with a source no host may use (0/8, 127/8, broadcast, multicast, ours): RFC 1122 §3.2.1.3. */
  ipMartianSource: number;
  /** Malformed IPv4 options (answered with Parameter Problem, as Linux's __ip_options_compile). */
  ipBadOptions: number;
  /** Carrying a source route (LSRR/SSRR), dropped as a Linux host does (accept_source_route 0). */
  ipSourceRouted: number;
  ipUnknownProtocol: number;
  fragmentsOut: number;
  icmpIn: number;
  icmpMalformed: number;
  icmpErrorsIn: number;
  /** ICMP errors quoting no socket or connection of ours, or TCP data outside its window (RFC 5927 §5.1): ignored. */
  icmpErrorsUnmatched: number;
  icmpErrorsSent: number;
  icmpRateLimited: number;
  icmpEchoRepliesSent: number;
  icmpEchoRequestsSent: number;
  icmpEchoRepliesIn: number;
  pmtuUpdates: number;
  udpIn: number;
  udpOut: number;
  udpMalformed: number;
  udpBadChecksum: number;
  udpNoPort: number;
  /** A socket receiver threw; the frame was dropped and the stack carried on. */
  receiverErrors: number;
  /** Sockets asked to keep a datagram but the held-data table was full. */
  heldRefused: number;
  /** Held datagrams copied out of the ring because it ran short. */
  heldCopyOuts: number;
  /** TCP/UDP checksums accepted as a local sender's unfinished (offloaded) checksum. */
  rxUnfinishedChecksums: number;
  /** Times the link went down, came back or disappeared. */
  linkStateChanges: number;
  txFrames: number;
  txBatches: number;
  /** No free slot for an outgoing frame. */
  txNoSlot: number;
  txNoRoute: number;
  txTooBig: number;
  loopbackDrops: number;
}

export function newStackCounters(): StackCounters {
  return {
    rxFrames: 0, rxMalformed: 0, rxNotForUs: 0, rxUnknownEtherType: 0, arpIn: 0, arpOut: 0, arpMalformed: 0, arpNotForUs: 0,
    arpRepliesSent: 0, arpConflicts: 0, ipIn: 0, ipOut: 0, ipBadChecksum: 0, ipMalformed: 0, ipNotForUs: 0, ipMartianSource: 0, ipBadOptions: 0, ipSourceRouted: 0, ipUnknownProtocol: 0,
    fragmentsOut: 0, icmpIn: 0, icmpMalformed: 0, icmpErrorsIn: 0, icmpErrorsUnmatched: 0, icmpErrorsSent: 0, icmpRateLimited: 0, icmpEchoRepliesSent: 0,
    icmpEchoRequestsSent: 0, icmpEchoRepliesIn: 0, pmtuUpdates: 0, udpIn: 0, udpOut: 0, udpMalformed: 0, udpBadChecksum: 0,
    udpNoPort: 0, receiverErrors: 0, heldRefused: 0, heldCopyOuts: 0, rxUnfinishedChecksums: 0, linkStateChanges: 0, txFrames: 0, txBatches: 0, txNoSlot: 0, txNoRoute: 0,
    txTooBig: 0, loopbackDrops: 0,
  };
}

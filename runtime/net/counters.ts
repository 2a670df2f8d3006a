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
  /** IPv6 packets that passed the header check (RFC 8200 §3). */
  ip6In: number;
  /** IPv6 packets sent (fragments each count). */
  ip6Out: number;
  /** Truncated, a wrong version, or an extension header running past the packet. */
  ip6Malformed: number;
  /** To an address or group that is not ours (we do not forward), or to a tentative address (RFC 4862 §5.4). */
  ip6NotForUs: number;
  /** From a multicast source, or from one of our own addresses on the link. */
  ip6MartianSource: number;
  /** An extension header refused with a Parameter Problem or discarded by its option type (RFC 8200 §4). */
  ip6BadExtension: number;
  /** No transport for the Next Header (answered with a Parameter Problem, code 1). */
  ip6UnknownProtocol: number;
  /** Fragments received (atomic ones excluded: RFC 6946 delivers them alone). */
  ip6FragmentsIn: number;
  /** Atomic fragments delivered as whole packets (RFC 6946). */
  ip6AtomicFragments: number;
  /** Datagrams reassembled from fragments. */
  ip6Reassembled: number;
  /** Fragment sets dropped: overlaps (RFC 5722), bad lengths, limits, timeouts. */
  ip6ReassemblyFailed: number;
  /** Fragments sent (RFC 8200 §4.5). */
  ip6FragmentsOut: number;
  /** ICMPv6 messages with a good checksum. */
  icmp6In: number;
  /** ICMPv6 (NDP included) with a bad checksum, length, hop limit or option. */
  icmp6Malformed: number;
  /** ICMPv6 errors quoting one of our packets. */
  icmp6ErrorsIn: number;
  /** ICMPv6 errors that no socket or connection took (RFC 5927 §5.1: ignored). */
  icmp6ErrorsUnmatched: number;
  /** ICMPv6 errors sent. */
  icmp6ErrorsSent: number;
  /** ICMPv6 errors not sent because of the rate limit (RFC 4443 §2.4(f)). */
  icmp6RateLimited: number;
  icmp6EchoRepliesSent: number;
  icmp6EchoRequestsSent: number;
  icmp6EchoRepliesIn: number;
  /** Neighbor Discovery messages taken (RS, RA, NS, NA). */
  ndpIn: number;
  /** Neighbor Discovery messages sent. */
  ndpOut: number;
  /** Our tentative address is someone else's (RFC 4862 §5.4.5): the address is not used. */
  ndpDadConflicts: number;
  /** Router advertisements accepted (RFC 4861 §6.3.4). */
  ndpRouterAdvertisements: number;
  /** Redirects followed (RFC 4861 §8.3). */
  ndpRedirects: number;
  /** MLDv2 reports sent for our groups (RFC 3810). */
  mldReportsSent: number;
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
    udpNoPort: 0, receiverErrors: 0, heldRefused: 0, heldCopyOuts: 0, rxUnfinishedChecksums: 0, linkStateChanges: 0,
    ip6In: 0, ip6Out: 0, ip6Malformed: 0, ip6NotForUs: 0, ip6MartianSource: 0, ip6BadExtension: 0, ip6UnknownProtocol: 0, ip6FragmentsIn: 0, ip6AtomicFragments: 0, ip6Reassembled: 0, ip6ReassemblyFailed: 0, ip6FragmentsOut: 0, icmp6In: 0, icmp6Malformed: 0, icmp6ErrorsIn: 0, icmp6ErrorsUnmatched: 0, icmp6ErrorsSent: 0, icmp6RateLimited: 0, icmp6EchoRepliesSent: 0, icmp6EchoRequestsSent: 0, icmp6EchoRepliesIn: 0, ndpIn: 0, ndpOut: 0, ndpDadConflicts: 0, ndpRouterAdvertisements: 0, ndpRedirects: 0, mldReportsSent: 0,
    txFrames: 0, txBatches: 0, txNoSlot: 0, txNoRoute: 0,
    txTooBig: 0, loopbackDrops: 0,
  };
}

// Neighbor Discovery for the IPv6 layer (RFC 4861) with stateless autoconfiguration (RFC 4862)
// and the MLDv2 reports a host sends for its groups (RFC 3810): what a host does on the link.
//
// Read first: RFC 4861 §7 (address resolution and neighbour unreachability detection: the
// neighbour cache's states live in arp-cache.ts, keyed by address ids), RFC 4862 §5.4 (duplicate
// address detection), RFC 4861 §6.3.4 (what a host takes from a router advertisement).
//
// - At start (start()): an MLDv2 report for our solicited-node groups so snooping switches
//   deliver to us (RFC 4861 §7.2.1, RFC 3810 §5.2; mld.ts decides what is reported and when),
//   a DAD solicitation from :: for each tentative address (RFC 4862 §5.4.2), unsolicited advertisements for each usable address
//   (RFC 4861 §7.2.6: MAX_NEIGHBOR_ADVERTISEMENT of them, RetransTimer apart; again when an
//   address becomes usable later), and router solicitations (§6.3.7) when advertisements are accepted.
// - A Redirect (§8) from the current first-hop router for a destination is followed (§8.3):
//   the layer sends to that destination through the target from then on (on-link when the
//   target is the destination itself).
// - Received messages are validated as §6.1/§7.1 ask (hop limit 255, code 0, lengths, options)
//   and counted as malformed otherwise.
// - A duplicate (someone's NS from :: or NA for our tentative address) removes the address,
//   counts it (ndpDadConflicts), and tells onAddressConflict.
// Slow path throughout: NDP messages are built in new slots, a few per neighbour.
import { ArpState } from '../arp-cache.ts';
import { get16, get32, get32s } from '../wire/bytes.ts';
import { pseudoHeaderSumV6 } from '../wire/checksum.ts';
import {
  emitMldRecord, emitMldv2Report, emitNdpLinkAddressOption, emitNdpNeighbor, emitNdpRouterSolicitation, fillIcmpv6Checksum, findNdpOption,
  Icmpv6Field, Icmpv6Type, MLD_RECORD_LENGTH, MldField, MldRecordField, NDP_NS_NA_LENGTH,
  NDP_PREFIX_OPTION_LENGTH, NDP_RA_LENGTH, NDP_REDIRECT_LENGTH, NDP_RS_LENGTH, NdpField, NdpNaFlags, NdpOption, NdpOptionField, NdpPrefixField, NdpPrefixFlags,
  ndpOptionsValid, nextNdpOption,
} from '../wire/icmpv6.ts';
import { IPV6_HEADER_LENGTH, Ipv6Field, Ipv6NextHeader, Ipv6Option } from '../wire/ipv6.ts';
import { formatIpv6 } from './address-table.ts';
import { AddressRole, ALL_MLDV2_ROUTERS, ALL_ROUTERS, type InterfaceAddress, linkLocalFromMac, solicitedNodeOf } from './interface-addresses.ts';
import type { Ipv6Layer } from './ipv6-layer.ts';

export interface NdpTimings {
  /** REACHABLE_TIME (RFC 4861 §10: 30 s). */
  reachableMs: number;
  /** RETRANS_TIMER: between solicitations, and DAD's wait (1 s). */
  retransmitMs: number;
  /** MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT (3). */
  maxMulticastSolicit: number;
  /** DELAY_FIRST_PROBE_TIME (5 s). */
  delayFirstProbeMs: number;
  /** MAX_RTR_SOLICITATIONS (3) and RTR_SOLICITATION_INTERVAL (4 s). */
  maxRouterSolicitations: number;
  routerSolicitationIntervalMs: number;
}

export const DEFAULT_NDP_TIMINGS: NdpTimings = {
  reachableMs: 30_000, retransmitMs: 1000, maxMulticastSolicit: 3, delayFirstProbeMs: 5000, maxRouterSolicitations: 3, routerSolicitationIntervalMs: 4000,
};

/** RFC 4861 §10: MAX_NEIGHBOR_ADVERTISEMENT, the unsolicited advertisements of a new address (§7.2.6), RetransTimer apart. */
export const MAX_NEIGHBOR_ADVERTISEMENT = 3;

/** NDP messages carry hop limit 255 and are refused with any other (RFC 4861 §6.1, §7.1: not from off-link). */
const NDP_HOP_LIMIT = 255;
/** Hop-by-hop header with a router alert for MLD (RFC 3810 §5; RFC 2711 value 0) and a PadN of 2: 8 bytes. */
const MLD_HOP_BY_HOP = Uint8Array.of(Ipv6NextHeader.ICMPV6, 0, Ipv6Option.ROUTER_ALERT, 2, 0, 0, Ipv6Option.PADN, 0);
const INFINITE_LIFETIME = 0xffffffff;

export class NeighbourDiscovery {
  /** A duplicate address was found (RFC 4862 §5.4.5): its RFC 5952 text. */
  onAddressConflict: ((address: string) => void) | null = null;
  /** Addresses given up as duplicates (RFC 5952 text), for `wsk stats` and tests. */
  readonly duplicates: string[] = [];
  private started = false;
  private solicitationsLeft = 0;
  private solicitationDeadline = Infinity;

  constructor(private readonly ip: Ipv6Layer, readonly timings: NdpTimings, readonly acceptRouterAdvertisements: boolean, readonly dadTransmits: number) {}

  /** An address for the interface: tentative until DAD passes (when DAD runs), else usable at once. */
  addAddress(bytes: Uint8Array, prefixLength: number, validUntil: number): InterfaceAddress | null {
    const dad = this.dadTransmits > 0 && !this.ip.host.ipFraming;
    const a = this.ip.addrs.add(bytes, prefixLength, dad, validUntil);
    if (a === null) return null;
    if (dad) {
      a.dadLeft = this.dadTransmits;
      // Started now when the interface already runs (SLAAC), else by start(); the new
      // solicited-node group was reported when add() joined it (mld.ts), so the probe's answer
      // reaches us (RFC 4862 §5.4.2).
      if (this.started) this.probe(a);
    } else if (this.started) {
      this.advertise(a);
    }
    return a;
  }

  start(): void {
    if (this.started || this.ip.host.ipFraming) return;
    this.started = true;
    this.ip.mld.start();
    for (const a of [...this.ip.addrs.list]) {
      if (a.tentative) this.probe(a);
      else this.advertise(a);
    }
    if (this.acceptRouterAdvertisements) {
      this.solicitationsLeft = this.timings.maxRouterSolicitations;
      this.sendRouterSolicitation();
    }
    this.ip.host.rearm();
  }

  nextDeadline(): number {
    let next = this.solicitationDeadline;
    for (const a of this.ip.addrs.list) {
      if (a.dadDeadline < next) next = a.dadDeadline;
      if (a.advertiseAt < next) next = a.advertiseAt;
      if (a.validUntil < next) next = a.validUntil;
    }
    for (const p of this.ip.prefixes) if (p.validUntil < next) next = p.validUntil;
    for (const r of this.ip.routers) if (r.validUntil < next) next = r.validUntil;
    return next;
  }

  poll(now: number): void {
    const ip = this.ip;
    for (const a of [...ip.addrs.list]) {
      if (a.validUntil <= now) { ip.addrs.remove(a); continue; }
      if (a.advertiseAt <= now) this.advertiseAgain(a);
      if (a.dadDeadline > now) continue;
      if (a.dadLeft > 0) this.probe(a);
      else {
        // RFC 4862 §5.4: no answer within RetransTimer after the last probe: the address is ours.
        ip.addrs.markUsable(a);
        this.advertise(a);
      }
    }
    for (let i = ip.prefixes.length - 1; i >= 0; i--) {
      const p = ip.prefixes[i]!;
      if (p.validUntil <= now) { ip.prefixes.splice(i, 1); ip.table.release(p.id); }
    }
    for (let i = ip.routers.length - 1; i >= 0; i--) {
      const r = ip.routers[i]!;
      if (r.validUntil <= now) { ip.routers.splice(i, 1); ip.table.release(r.id); }
    }
    if (this.solicitationDeadline <= now) {
      this.solicitationDeadline = Infinity;
      if (this.solicitationsLeft > 0 && ip.routers.length === 0) this.sendRouterSolicitation();
    }
  }

  // ---- receive (RFC 4861 §6.1.2, §7.1) -------------------------------------------------------

  /** An NDP message (type 133..137) with a good checksum: the ICMPv6 message at bytes[offset..+length). */
  input(bytes: Uint8Array, ipOffset: number, offset: number, length: number, type: number): void {
    const c = this.ip.host.counters;
    if (bytes[ipOffset + Ipv6Field.HOP_LIMIT] !== NDP_HOP_LIMIT || bytes[offset + Icmpv6Field.CODE] !== 0) { c.icmp6Malformed++; return; }
    const end = offset + length;
    let ok = false;
    switch (type) {
      case Icmpv6Type.NEIGHBOR_SOLICITATION:
        ok = length >= NDP_NS_NA_LENGTH && bytes[offset + NdpField.TARGET] !== 0xff && ndpOptionsValid(bytes, offset + NdpField.NS_NA_OPTIONS, end)
          && this.inputSolicitation(bytes, ipOffset, offset, end);
        break;
      case Icmpv6Type.NEIGHBOR_ADVERTISEMENT:
        ok = length >= NDP_NS_NA_LENGTH && bytes[offset + NdpField.TARGET] !== 0xff && ndpOptionsValid(bytes, offset + NdpField.NS_NA_OPTIONS, end)
          && this.inputAdvertisement(bytes, ipOffset, offset, end);
        break;
      case Icmpv6Type.ROUTER_ADVERTISEMENT:
        ok = length >= NDP_RA_LENGTH && ndpOptionsValid(bytes, offset + NdpField.RA_OPTIONS, end) && this.inputRouterAdvertisement(bytes, ipOffset, offset, end);
        break;
      case Icmpv6Type.ROUTER_SOLICITATION:
        // For routers; a host ignores them (RFC 4861 §6.2.6), once they are valid.
        ok = length >= NDP_RS_LENGTH && ndpOptionsValid(bytes, offset + NdpField.RS_OPTIONS, end);
        break;
      case Icmpv6Type.REDIRECT:
        ok = length >= NDP_REDIRECT_LENGTH && ndpOptionsValid(bytes, offset + NdpField.REDIRECT_OPTIONS, end) && this.inputRedirect(bytes, ipOffset, offset, end);
        break;
      default:
        ok = true;
    }
    if (ok) c.ndpIn++;
    else c.icmp6Malformed++;
  }

  /** §7.2.3–7.2.4 and RFC 4862 §5.4.3. False when invalid. */
  private inputSolicitation(bytes: Uint8Array, ipOffset: number, offset: number, end: number): boolean {
    const ip = this.ip;
    const t = ip.table;
    const srcAt = ipOffset + Ipv6Field.SOURCE;
    const fromUnspecified = isZero(bytes, srcAt);
    const slla = findNdpOption(bytes, offset + NdpField.NS_NA_OPTIONS, end, NdpOption.SOURCE_LINK_ADDRESS);
    // §7.1.1: from :: only to a solicited-node group, and without a source link-layer address.
    if (fromUnspecified && (slla >= 0 || get32s(bytes, ipOffset + Ipv6Field.DESTINATION) !== (0xff020000 | 0)
      || bytes[ipOffset + Ipv6Field.DESTINATION + 11] !== 1 || bytes[ipOffset + Ipv6Field.DESTINATION + 12] !== 0xff)) return false;
    const target = t.find(bytes, offset + NdpField.TARGET);
    const role = ip.addrs.roleOf(target);
    if (role === AddressRole.TENTATIVE) {
      // Another node probes the address we are probing: neither may have it (RFC 4862 §5.4.3).
      if (fromUnspecified) this.conflict(ip.addrs.find(target)!);
      return true;
    }
    if (role !== AddressRole.ADDRESS) return true;
    if (fromUnspecified) {
      // Someone's DAD for an address we have: defend it to all nodes, Solicited clear (§7.2.4).
      this.sendAdvertisement(target, ip.allNodes, NdpNaFlags.OVERRIDE);
      return true;
    }
    // §7.2.3: the sender's address is learned (STALE unless known with the same MAC) and answered.
    const src = t.intern(bytes, srcAt);
    if (slla >= 0) this.learnNeighbour(src, bytes, slla, false);
    this.sendAdvertisement(target, src, NdpNaFlags.SOLICITED | NdpNaFlags.OVERRIDE);
    t.release(src);
    return true;
  }

  /** Learns (creating) the neighbour `id` from the link-layer option at `option`; a new entry takes its own reference to the id. */
  private learnNeighbour(id: number, bytes: Uint8Array, option: number, confirmed: boolean): void {
    const n = this.ip.neighbours;
    const had = n.stateOf(id) !== ArpState.FREE;
    n.learn(id, get16(bytes, option + NdpOptionField.LINK_ADDRESS), get32s(bytes, option + NdpOptionField.LINK_ADDRESS + 2), true, this.ip.host.clock.now(), confirmed);
    if (!had && n.stateOf(id) !== ArpState.FREE) this.ip.table.retain(id);
  }

  /** §7.2.5 and RFC 4862 §5.4.4. */
  private inputAdvertisement(bytes: Uint8Array, ipOffset: number, offset: number, end: number): boolean {
    const ip = this.ip;
    const flags = bytes[offset + NdpField.NA_FLAGS]!;
    // §7.1.2: to a multicast destination, Solicited must be clear.
    if (bytes[ipOffset + Ipv6Field.DESTINATION] === 0xff && (flags & NdpNaFlags.SOLICITED) !== 0) return false;
    const target = ip.table.find(bytes, offset + NdpField.TARGET);
    const tlla = findNdpOption(bytes, offset + NdpField.NS_NA_OPTIONS, end, NdpOption.TARGET_LINK_ADDRESS);
    const role = ip.addrs.roleOf(target);
    if (role === AddressRole.TENTATIVE) { this.conflict(ip.addrs.find(target)!); return true; }
    if (role === AddressRole.ADDRESS) {
      // Someone else claims an address we have (RFC 4862 §5.4.4 after DAD): counted, kept.
      if (tlla >= 0 && (get16(bytes, tlla + NdpOptionField.LINK_ADDRESS) !== ip.macHi || get32s(bytes, tlla + NdpOptionField.LINK_ADDRESS + 2) !== ip.macLo)) {
        ip.host.counters.ndpDadConflicts++;
      }
      return true;
    }
    if (target === 0) return true;
    const n = ip.neighbours;
    const st = n.stateOf(target);
    if (st === ArpState.FREE) return true;
    if (tlla < 0 && (st === ArpState.INCOMPLETE || st === ArpState.FAILED)) return true;
    const now = ip.host.clock.now();
    const known = n.peek(target);
    const solicited = (flags & NdpNaFlags.SOLICITED) !== 0;
    if (tlla < 0) {
      // No address given: only a solicited answer confirms the MAC we have.
      if (solicited && known >= 0) n.learn(target, Math.floor(known / 0x100000000), known % 0x100000000 | 0, false, now, true);
      return true;
    }
    const hi = get16(bytes, tlla + NdpOptionField.LINK_ADDRESS);
    const lo = get32s(bytes, tlla + NdpOptionField.LINK_ADDRESS + 2);
    const same = known >= 0 && Math.floor(known / 0x100000000) === hi && (known % 0x100000000 | 0) === lo;
    // §7.2.5: a new MAC replaces the cached one only with Override (or while resolving).
    if (st === ArpState.INCOMPLETE || same || (flags & NdpNaFlags.OVERRIDE) !== 0) n.learn(target, hi, lo, false, now, solicited);
    return true;
  }

  /**
   * §8.1 validation and §8.3: a Redirect from a link-local source that is the current first hop
   * for its destination (not a multicast one), naming a link-local router or the destination
   * itself as the better first hop. False when invalid; a valid one that is not from our
   * first hop is ignored (true).
   */
  private inputRedirect(bytes: Uint8Array, ipOffset: number, offset: number, end: number): boolean {
    const ip = this.ip;
    const t = ip.table;
    if (get16(bytes, ipOffset + Ipv6Field.SOURCE) >>> 6 !== 0x3fa || bytes[offset + NdpField.REDIRECT_DESTINATION] === 0xff) return false;
    const targetAt = offset + NdpField.TARGET;
    const onLink = sameAddress(bytes, targetAt, offset + NdpField.REDIRECT_DESTINATION);
    if (!onLink && get16(bytes, targetAt) >>> 6 !== 0x3fa) return false;
    const src = t.find(bytes, ipOffset + Ipv6Field.SOURCE);
    const dst = t.intern(bytes, offset + NdpField.REDIRECT_DESTINATION);
    if (dst === 0) return false;
    if (src !== 0 && !ip.isLocal(dst) && ip.nextHop(dst) === src) {
      const target = onLink ? dst : t.intern(bytes, targetAt);
      ip.redirect(dst, target);
      const tlla = findNdpOption(bytes, offset + NdpField.REDIRECT_OPTIONS, end, NdpOption.TARGET_LINK_ADDRESS);
      // §8.3: the target's link-layer address, when given, goes in the neighbour cache (STALE unless the same).
      if (tlla >= 0) this.learnNeighbour(target, bytes, tlla, false);
      if (!onLink) t.release(target);
      ip.host.counters.ndpRedirects++;
    }
    t.release(dst);
    return true;
  }

  /** §6.3.4 and RFC 4862 §5.5.3: default router, hop limit, MTU, on-link prefixes, SLAAC addresses. */
  private inputRouterAdvertisement(bytes: Uint8Array, ipOffset: number, offset: number, end: number): boolean {
    const ip = this.ip;
    // §6.1.2: from a link-local source.
    if (get16(bytes, ipOffset + Ipv6Field.SOURCE) >>> 6 !== 0x3fa) return false;
    if (!this.acceptRouterAdvertisements) return true;
    const c = ip.host.counters;
    c.ndpRouterAdvertisements++;
    const now = ip.host.clock.now();
    const t = ip.table;
    const src = t.intern(bytes, ipOffset + Ipv6Field.SOURCE);
    const hop = bytes[offset + NdpField.RA_CUR_HOP_LIMIT]!;
    if (hop !== 0) ip.defaultHopLimit = hop;
    // §6.3.4: the link's ReachableTime and RetransTimer, when given (0: unspecified); at most MAX_REACHABLE_TIME.
    const reachable = get32(bytes, offset + NdpField.RA_REACHABLE_TIME);
    if (reachable !== 0 && reachable <= 3_600_000) ip.neighbours.timings.reachableMs = reachable;
    const retrans = get32(bytes, offset + NdpField.RA_RETRANS_TIMER);
    if (retrans !== 0 && retrans <= 3_600_000) ip.neighbours.timings.retransmitMs = this.timings.retransmitMs = retrans;
    const lifetime = get16(bytes, offset + NdpField.RA_ROUTER_LIFETIME);
    const i = ip.routers.findIndex((r) => r.id === src);
    if (lifetime === 0) {
      if (i >= 0 && ip.routers[i]!.validUntil !== Infinity) { t.release(ip.routers[i]!.id); ip.routers.splice(i, 1); }
    } else if (i >= 0) {
      if (ip.routers[i]!.validUntil !== Infinity) ip.routers[i]!.validUntil = now + lifetime * 1000;
    } else {
      t.retain(src);
      ip.routers.push({ id: src, validUntil: now + lifetime * 1000 });
      this.solicitationsLeft = 0;
    }
    const options = offset + NdpField.RA_OPTIONS;
    const slla = findNdpOption(bytes, options, end, NdpOption.SOURCE_LINK_ADDRESS);
    if (slla >= 0) this.learnNeighbour(src, bytes, slla, false);
    const mtu = findNdpOption(bytes, options, end, NdpOption.MTU);
    if (mtu >= 0) {
      const m = get32(bytes, mtu + NdpOptionField.MTU);
      // §6.3.4: a value the link cannot carry, or below IPv6's minimum, is ignored.
      if (m >= 1280 && m <= ip.host.device.mtu) ip.advertisedMtu = m;
    }
    for (let p = findNdpOption(bytes, options, end, NdpOption.PREFIX_INFORMATION); p >= 0; p = nextNdpOption(bytes, p, end, NdpOption.PREFIX_INFORMATION)) {
      if ((bytes[p + NdpOptionField.LENGTH]! << 3) < NDP_PREFIX_OPTION_LENGTH) continue;
      this.inputPrefix(bytes, p, now);
    }
    t.release(src);
    return true;
  }

  private inputPrefix(bytes: Uint8Array, p: number, now: number): void {
    const ip = this.ip;
    const length = bytes[p + NdpPrefixField.PREFIX_LENGTH]!;
    const flags = bytes[p + NdpPrefixField.FLAGS]!;
    const valid = get32(bytes, p + NdpPrefixField.VALID_LIFETIME);
    const preferred = get32(bytes, p + NdpPrefixField.PREFERRED_LIFETIME);
    const prefix = bytes.slice(p + NdpPrefixField.PREFIX, p + NdpPrefixField.PREFIX + 16);
    // The link-local prefix is never taken from a router (§6.3.4, RFC 4862 §5.5.3 b).
    if (prefix[0] === 0xfe && (prefix[1]! & 0xc0) === 0x80) return;
    if (length > 128 || preferred > valid) return;
    const until = valid === INFINITE_LIFETIME ? Infinity : now + valid * 1000;
    if ((flags & NdpPrefixFlags.ON_LINK) !== 0 && valid !== 0) ip.addPrefix(prefix, length, until);
    if ((flags & NdpPrefixFlags.AUTONOMOUS) !== 0 && length === 64 && valid !== 0) {
      // RFC 4862 §5.5.3 d/e: the prefix and our interface identifier; an existing address's lifetime is refreshed.
      const address = linkLocalFromMac(ip.host.device.mac);
      address.set(prefix.subarray(0, 8), 0);
      const id = ip.table.find(address, 0);
      const existing = id !== 0 ? ip.addrs.find(id) : null;
      if (existing) {
        if (existing.validUntil !== Infinity) existing.validUntil = Math.max(until, Math.min(existing.validUntil, now + 7_200_000));
      } else {
        this.addAddress(address, 64, until);
      }
    }
  }

  // ---- send ----------------------------------------------------------------------------------

  /** The neighbour cache asks: a multicast solicitation to `target`'s solicited-node group, or a unicast NUD probe. */
  sendSolicitation(target: number, unicast: boolean): void {
    const ip = this.ip;
    const src = ip.sourceFor(target);
    if (src === 0) return;
    const group = unicast ? 0 : ip.table.intern(solicitedNodeOf(ip.table.bytes(target), 0), 0);
    const dst = unicast ? target : group;
    this.sendNeighborMessage(Icmpv6Type.NEIGHBOR_SOLICITATION, 0, target, src, dst, NdpOption.SOURCE_LINK_ADDRESS);
    if (group !== 0) ip.table.release(group);
  }

  /** An advertisement for our `target` to `dst` (RFC 4861 §7.2.4, §7.2.6), with our MAC. */
  sendAdvertisement(target: number, dst: number, flags: number): void {
    this.sendNeighborMessage(Icmpv6Type.NEIGHBOR_ADVERTISEMENT, flags, target, target, dst, NdpOption.TARGET_LINK_ADDRESS);
  }

  /** DAD (RFC 4862 §5.4.2): a solicitation for the tentative address from ::, to its solicited-node group, no link-layer option. */
  private probe(a: InterfaceAddress): void {
    a.dadLeft--;
    a.dadDeadline = this.ip.host.clock.now() + this.timings.retransmitMs;
    this.sendNeighborMessage(Icmpv6Type.NEIGHBOR_SOLICITATION, 0, a.id, 0, a.solicited, 0);
    this.ip.host.rearm();
  }

  /** An unsolicited advertisement of our address to all nodes, Override set (§7.2.6), and MAX_NEIGHBOR_ADVERTISEMENT - 1 more, RetransTimer apart. */
  private advertise(a: InterfaceAddress): void {
    a.advertisementsLeft = MAX_NEIGHBOR_ADVERTISEMENT;
    this.advertiseAgain(a);
  }

  private advertiseAgain(a: InterfaceAddress): void {
    this.sendAdvertisement(a.id, this.ip.allNodes, NdpNaFlags.OVERRIDE);
    a.advertiseAt = --a.advertisementsLeft > 0 ? this.ip.host.clock.now() + this.timings.retransmitMs : Infinity;
    this.ip.host.rearm();
  }

  private conflict(a: InterfaceAddress): void {
    const ip = this.ip;
    const text = formatIpv6(ip.table.bytes(a.id), 0);
    ip.host.counters.ndpDadConflicts++;
    this.duplicates.push(text);
    ip.addrs.remove(a);
    this.onAddressConflict?.(text);
  }

  /** NS or NA: `option` the link-layer option to carry (0: none, as DAD's). */
  private sendNeighborMessage(type: number, flags: number, target: number, src: number, dst: number, option: number): void {
    const ip = this.ip;
    const arena = ip.host.arena;
    const slot = arena.alloc();
    if (slot < 0) { ip.host.counters.txNoSlot++; return; }
    const v = arena.view(slot);
    const start = ip.upperStart();
    let n = emitNdpNeighbor(v, start, type, flags);
    ip.table.copyTo(target, v, start + NdpField.TARGET);
    if (option !== 0) n += emitNdpLinkAddressOption(v, start + n, option, ip.macHi, ip.macLo);
    fillIcmpv6Checksum(v, start, n, pseudoHeaderSumV6(ip.table.sum(src), ip.table.sum(dst), Ipv6NextHeader.ICMPV6, n));
    arena.setFrame(slot, start, n);
    ip.host.counters.ndpOut++;
    ip.output(slot, src, dst, Ipv6NextHeader.ICMPV6, 0, NDP_HOP_LIMIT, 0);
  }

  private sendRouterSolicitation(): void {
    const ip = this.ip;
    const arena = ip.host.arena;
    this.solicitationsLeft--;
    this.solicitationDeadline = ip.host.clock.now() + this.timings.routerSolicitationIntervalMs;
    const slot = arena.alloc();
    if (slot < 0) { ip.host.counters.txNoSlot++; return; }
    const v = arena.view(slot);
    const start = ip.upperStart();
    // From our link-local address with our MAC, or from :: without it while DAD runs (§6.3.7, §4.1).
    const src = this.linkLocalOrUnspecified();
    let n = emitNdpRouterSolicitation(v, start);
    if (src !== 0) n += emitNdpLinkAddressOption(v, start + n, NdpOption.SOURCE_LINK_ADDRESS, ip.macHi, ip.macLo);
    const dst = ip.table.intern(ALL_ROUTERS, 0);
    fillIcmpv6Checksum(v, start, n, pseudoHeaderSumV6(ip.table.sum(src), ip.table.sum(dst), Ipv6NextHeader.ICMPV6, n));
    arena.setFrame(slot, start, n);
    ip.host.counters.ndpOut++;
    ip.output(slot, src, dst, Ipv6NextHeader.ICMPV6, 0, NDP_HOP_LIMIT, 0);
    ip.table.release(dst);
  }

  /**
   * MLDv2 reports (RFC 3810 §5.2) of the records (types[i], groups[i]), i < count, as many
   * reports as the MTU needs, to ff02::16 with hop limit 1 and a router alert, from our
   * link-local address or :: (RFC 3590) before it is usable.
   */
  sendMldReport(types: readonly number[], groups: readonly number[], count: number): void {
    const ip = this.ip;
    const hbh = MLD_HOP_BY_HOP.length;
    const perReport = Math.floor((ip.mtu - IPV6_HEADER_LENGTH - hbh - MldField.RECORDS) / MLD_RECORD_LENGTH);
    const src = this.linkLocalOrUnspecified();
    const dst = ip.table.intern(ALL_MLDV2_ROUTERS, 0);
    for (let first = 0; first < count; first += perReport) {
      const records = Math.min(perReport, count - first);
      const arena = ip.host.arena;
      const slot = arena.alloc();
      if (slot < 0) { ip.host.counters.txNoSlot++; break; }
      const v = arena.view(slot);
      const start = ip.upperStart(hbh);
      let n = emitMldv2Report(v, start, records);
      for (let i = first; i < first + records; i++) {
        emitMldRecord(v, start + n, types[i]!);
        ip.table.copyTo(groups[i]!, v, start + n + MldRecordField.GROUP);
        n += MLD_RECORD_LENGTH;
      }
      fillIcmpv6Checksum(v, start, n, pseudoHeaderSumV6(ip.table.sum(src), ip.table.sum(dst), Ipv6NextHeader.ICMPV6, n));
      v.set(MLD_HOP_BY_HOP, start - hbh);
      arena.setFrame(slot, start - hbh, n + hbh);
      ip.host.counters.mldReportsSent++;
      ip.output(slot, src, dst, Ipv6NextHeader.HOP_BY_HOP, 0, 1, 0);
    }
    ip.table.release(dst);
  }

  /** Our usable link-local address (the first usable one when there is one), else 0 (::). */
  private linkLocalOrUnspecified(): number {
    const a = this.ip.addresses;
    return a.length > 0 && this.ip.isLinkScope(a[0]!) ? a[0]! : 0;
  }
}

function isZero(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
}

function sameAddress(b: Uint8Array, x: number, y: number): boolean {
  for (let i = 0; i < 16; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

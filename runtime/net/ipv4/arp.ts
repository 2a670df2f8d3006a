// ARP (RFC 826) on the interface: requests and replies in and out over the neighbour cache
// (arp-cache.ts, shared in kind with NDP), conflict detection and RFC 5227 probes, and the
// gratuitous ARP an interface sends at start. The IPv4 layer resolves next hops through `cache`;
// packets waiting for an answer leave from the cache's flushPending as IPv4 frames.
//
// Receive: input() borrows the bytes for the call; malformed packets and bogus senders are
// counted and dropped, nothing throws. Nothing here runs on an IP-framed link (no ARP there).
import { ArpCache, DEFAULT_ARP_TIMINGS, type ArpTimings } from '../arp-cache.ts';
import type { NetworkInterface } from '../network-interface.ts';
import { NetworkFamily } from '../transport-registry.ts';
import type { Ipv4Layer } from './ipv4-layer.ts';
import { EtherType, emitEthernet, ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import { ArpOperation, ArpPacket, emitArp, ARP_LENGTH, ArpField } from '../wire/arp.ts';
import { get16, get32s } from '../wire/bytes.ts';

const BROADCAST_MAC = 0xffffffffffff;
/** The Ethernet minimum frame (without FCS) an ARP packet is padded to, as NICs do. */
const MIN_FRAME = 60;

export class Arp {
  /** IPv4 address → MAC, with RFC 4861's states (arp-cache.ts). */
  readonly cache: ArpCache;
  private readonly view = new ArpPacket();

  constructor(private readonly nic: NetworkInterface, private readonly ip4: Ipv4Layer, timings: Partial<ArpTimings> | undefined) {
    this.cache = new ArpCache(nic.arena, nic.clock, {
      sendRequest: (ip) => this.send(ArpOperation.REQUEST, 0, ip),
      flushPending: (slot, e) => nic.emitFrame(slot, this.cache.macHi[e]!, this.cache.macLo[e]!, EtherType.IPV4),
      resolveFailed: (ip) => nic.transports.neighbourUnreachable(NetworkFamily.IPV4, ip),
    }, { ...DEFAULT_ARP_TIMINGS, ...timings });
  }

  /** Gratuitous ARP for the interface's address and its secondary ones (RFC 5227 §3: announce). */
  announce(): void {
    if (this.nic.ipFraming) return;
    this.send(ArpOperation.REQUEST, 0, this.ip4.iface.address);
    for (const a of this.ip4.iface.secondary) this.send(ArpOperation.REQUEST, 0, a, a);
  }

  input(bytes: Uint8Array, offset: number, length: number): void {
    const c = this.nic.counters;
    if (ArpPacket.check(bytes, offset, length) !== null) { c.arpMalformed++; return; }
    c.arpIn++;
    const a = this.view.reset(bytes, offset, length);
    const senderIp = a.senderProtocolAddr | 0;
    const senderHi = get16(bytes, offset + ArpField.SENDER_HARDWARE);
    const senderLo = get32s(bytes, offset + ArpField.SENDER_HARDWARE + 2);
    const target = a.targetProtocolAddr | 0;
    if (this.ip4.isLocalAddress(senderIp)) {
      // Someone else claims our address (or our own gratuitous ARP echoed back by a hub).
      if (senderHi !== this.nic.macHi || senderLo !== this.nic.macLo) c.arpConflicts++;
      return;
    }
    // A sender MAC with the group bit (multicast/broadcast) is bogus (RFC 1812 §3.3.2).
    if ((senderHi & 0x0100) !== 0) { c.arpMalformed++; return; }
    const forUs = this.ip4.isLocalAddress(target);
    if (senderIp === 0) {
      // RFC 5227 probe: someone checks whether our address is taken. Answer (as Linux does,
      // to the prober's MAC with target IP 0) but learn nothing from it.
      if (forUs && a.operation === ArpOperation.REQUEST) {
        this.send(ArpOperation.REPLY, senderHi * 0x100000000 + (senderLo >>> 0), 0, target);
        c.arpRepliesSent++;
      } else {
        c.arpNotForUs++;
      }
      return;
    }
    this.cache.learn(senderIp, senderHi, senderLo, forUs, this.nic.clock.now());
    if (forUs && a.operation === ArpOperation.REQUEST) {
      this.send(ArpOperation.REPLY, senderHi * 0x100000000 + (senderLo >>> 0), senderIp, target);
      c.arpRepliesSent++;
    } else if (!forUs) {
      c.arpNotForUs++;
    }
    this.nic.rearm();
  }

  /** `ourIp`: the sender protocol address (the address a request asked for, for a reply). */
  private send(operation: number, targetMac: number, targetIp: number, ourIp: number = this.ip4.iface.address): void {
    const nic = this.nic;
    if (nic.ipFraming) return;
    const arena = nic.arena;
    const slot = arena.alloc();
    if (slot < 0) { nic.counters.txNoSlot++; return; }
    const view = arena.view(slot);
    const at = arena.headroom;
    const dstMac = operation === ArpOperation.REPLY ? targetMac : BROADCAST_MAC;
    emitEthernet(view, at, dstMac, nic.mac, EtherType.ARP);
    emitArp(view, at + ETHERNET_HEADER_LENGTH, operation, nic.mac, ourIp, targetMac, targetIp);
    view.fill(0, at + ETHERNET_HEADER_LENGTH + ARP_LENGTH, at + MIN_FRAME);
    arena.setFrame(slot, at, MIN_FRAME);
    nic.counters.arpOut++;
    nic.queueTx(slot);
  }
}

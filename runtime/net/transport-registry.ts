// The seam between the network layer and its transports: who takes a packet of IP protocol P,
// who judges an ICMP error quoting one of ours, who sees a copy of every packet of P (raw
// sockets), and who hears of network-wide events. Transports register here instead of the
// network layer knowing them (gVisor's TransportDispatcher; smoltcp's socket set).
//
// Contract:
// - One handler per (family, protocol). Registering a second is a programmer error
//   (WskUsageError 'NET_REGISTRY'); unregister() with the registered object frees the slot.
// - input(): called from inside a receive batch, once per packet that passed the network layer's
//   checks and is addressed to us. bytes[ipOffset..+ipLength) is the whole IP packet (header
//   included), valid only during the call; `slot` is its ring slot (-1 when it was reassembled
//   into a buffer that is not a slot). A handler that keeps payload references the slot through
//   the stack's held-data table; it never keeps `bytes`. The handler may transmit (replies, ACKs).
//   A handler with `broadcast: false` never sees broadcast or multicast packets; the network
//   layer treats them as an unknown protocol (counted, no ICMP error: RFC 1122 §3.2.2).
// - icmpError(): an ICMP error quoting a packet that we sent with this protocol: the quoted IP
//   header at bytes[q..+qhl) with at least 8 bytes of the transport header behind it, valid only
//   during the call. True when a socket or connection took it (RFC 5927 §5.1: one that matches
//   none changes nothing). `info` is the next-hop MTU of a "fragmentation needed"/"packet too
//   big", else 0. Types and codes are the family's (ICMPv4 for IPV4, ICMPv6 for IPV6).
// - Raw listeners: every packet of protocol P for us, before (and whatever) the handler does with
//   it, with the same borrowing rule as input(). Several may listen to one protocol; they are
//   called in registration order; one that throws is counted by the caller, never propagated.
// - Events: network-wide news for every registered NetworkEvents object, in registration order.
// - Nothing here allocates after registration: the hot path reads two arrays.
import { WskUsageError } from '../errors.ts';
import type { LinkState } from './device.ts';

/** Index of a network family in the registry (not an AF_* value: AF_INET6 differs by platform). */
export const NetworkFamily = { IPV4: 0, IPV6: 1 } as const;
export type NetworkFamily = typeof NetworkFamily[keyof typeof NetworkFamily];

export interface TransportHandler {
  /** Whether broadcast and multicast packets reach input() (UDP: yes; TCP: never, RFC 1122 §4.2.3.10). */
  readonly broadcast: boolean;
  /** `transportOffset`: where the upper-layer header starts (after IPv4 options or IPv6 extension headers). */
  input(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number, broadcast: boolean, transportOffset: number): void;
  icmpError?(type: number, code: number, info: number, bytes: Uint8Array, q: number, qhl: number): boolean;
}

export interface RawListener {
  input(bytes: Uint8Array, ipOffset: number, ipLength: number, slot: number): void;
  /** An ICMP error quoting a packet of the listener's protocol (Linux delivers them to raw sockets: raw_icmp_error). */
  icmpError?(type: number, code: number, info: number, bytes: Uint8Array, q: number, qhl: number): void;
}

export interface NetworkEvents {
  /** The end of a receive batch, before its transmit batch leaves (TCP's coalesced ACKs). */
  onBatchEnd?(): void;
  /** The link went down, came back, or is gone for good. */
  onLinkChange?(state: LinkState, reason: string): void;
  /** A next hop (`address`, the family's representation) did not answer neighbour resolution. */
  onNeighbourUnreachable?(family: NetworkFamily, address: number): void;
  /** ICMP lowered the path MTU towards `address` (after a transport believed the message). */
  onPathMtu?(family: NetworkFamily, address: number, mtu: number): void;
}

const PROTOCOLS = 256;

export class TransportRegistry {
  /** handlers[family][protocol]: read on every received packet. */
  private readonly handlers: (TransportHandler | null)[][] = [new Array(PROTOCOLS).fill(null), new Array(PROTOCOLS).fill(null)];
  /** raw[family][protocol]: null while nobody listens (the common case costs one load). */
  private readonly raw: (RawListener[] | null)[][] = [new Array(PROTOCOLS).fill(null), new Array(PROTOCOLS).fill(null)];
  private readonly events: NetworkEvents[] = [];

  register(family: NetworkFamily, protocol: number, handler: TransportHandler): void {
    checkProtocol(protocol);
    const slot = this.handlers[family]!;
    if (slot[protocol] !== null) {
      throw new WskUsageError('NET_REGISTRY', `IP protocol ${protocol} already has a transport on this stack; unregister it first (one handler per family and protocol).`);
    }
    slot[protocol] = handler;
  }

  unregister(family: NetworkFamily, protocol: number, handler: TransportHandler): void {
    const slot = this.handlers[family]!;
    if (slot[protocol] === handler) slot[protocol] = null;
  }

  /** The transport for a received packet's protocol, or null (the network layer answers "protocol unreachable"). */
  handler(family: NetworkFamily, protocol: number): TransportHandler | null {
    return this.handlers[family]![protocol]!;
  }

  addRawListener(family: NetworkFamily, protocol: number, listener: RawListener): void {
    checkProtocol(protocol);
    const list = this.raw[family]!;
    (list[protocol] ??= []).push(listener);
  }

  removeRawListener(family: NetworkFamily, protocol: number, listener: RawListener): void {
    const list = this.raw[family]!;
    const l = list[protocol];
    if (!l) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) list[protocol] = null;
  }

  /** The raw listeners of a protocol, or null when there are none. */
  rawListeners(family: NetworkFamily, protocol: number): readonly RawListener[] | null {
    return this.raw[family]![protocol]!;
  }

  addEvents(events: NetworkEvents): void {
    if (!this.events.includes(events)) this.events.push(events);
  }

  batchEnd(): void {
    const e = this.events;
    for (let i = 0; i < e.length; i++) e[i]!.onBatchEnd?.();
  }

  linkChange(state: LinkState, reason: string): void {
    for (const e of [...this.events]) e.onLinkChange?.(state, reason);
  }

  neighbourUnreachable(family: NetworkFamily, address: number): void {
    for (const e of [...this.events]) e.onNeighbourUnreachable?.(family, address);
  }

  pathMtu(family: NetworkFamily, address: number, mtu: number): void {
    for (const e of [...this.events]) e.onPathMtu?.(family, address, mtu);
  }
}

function checkProtocol(protocol: number): void {
  if (!Number.isInteger(protocol) || protocol < 0 || protocol >= PROTOCOLS) {
    throw new WskUsageError('NET_REGISTRY', `IP protocol ${protocol} is not a protocol number; use 0 to 255 (IANA "Assigned Internet Protocol Numbers").`);
  }
}

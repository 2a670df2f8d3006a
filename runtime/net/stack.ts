// The userspace stack's network layer on one link device, composed from its parts by concern
// (docs/layout.md): the interface (network-interface.ts: device, framing, transmit and loopback
// batches, link state, held data, the one timer, dispatch of received frames), IPv4
// (ipv4/ipv4-layer.ts with ipv4/arp.ts and ipv4/icmpv4-layer.ts), IPv6 when configured
// (ipv6/ipv6-layer.ts), and UDP over IPv4 (udp4.ts), which registers with the transport registry
// as TCP, UDP over IPv6 and raw sockets do. createUserspaceStack (userspace-stack.ts) builds it.
//
// This class holds no state of its own and no logic on the hot path: it builds the parts in
// order, announces the interface, and gives callers one handle on them. The shared objects
// (arena, counters, held data, registry, UDP table, ...) are the parts' own, exposed as fields.
import type { SlotArena } from '../ring/slot-arena.ts';
import type { HeldDataTable } from '../ring/held-data.ts';
import type { Clock } from './clock.ts';
import type { LinkDevice } from './device.ts';
import type { ArpTimings } from './arp-cache.ts';
import type { ReassemblyLimits, Reassembler } from './ipv4/reassembly.ts';
import { parseInterface, type InterfaceConfig, type ParsedInterface } from './config.ts';
import type { StackCounters } from './counters.ts';
import { NetworkInterface } from './network-interface.ts';
import { Ipv4Layer } from './ipv4/ipv4-layer.ts';
import type { Arp } from './ipv4/arp.ts';
import type { Icmpv4Layer } from './ipv4/icmpv4-layer.ts';
import { Ipv6Layer, type Ipv6Options } from './ipv6/ipv6-layer.ts';
import type { TransportRegistry } from './transport-registry.ts';
import { UdpTable } from './udp.ts';
import { Udp4 } from './udp4.ts';
import type { MulticastGroups } from './igmp.ts';
import { DatagramDelivery } from './datagram-delivery.ts';

export interface StackOptions extends InterfaceConfig {
  arp?: Partial<ArpTimings>;
  reassembly?: Partial<ReassemblyLimits>;
  /** ICMP error rate limit (token bucket; Linux: 1000/s, burst 50). */
  icmpErrorsPerSecond?: number;
  icmpErrorBurst?: number;
  /** Capacity of the held-data table (datagrams kept by sockets). Default: arena slots. */
  heldCapacity?: number;
  /** Send a gratuitous ARP at start (default true). */
  gratuitousArp?: boolean;
  /** Answer echo requests (default true). */
  echoReply?: boolean;
  /** IPv6 on the interface (InterfaceConfig.ipv6, with the layer's timings and limits). */
  ipv6?: Ipv6Options;
}

export class NetworkStack {
  /** The interface: device edges, framing, batches, link state, timer (network-interface.ts). */
  readonly nic: NetworkInterface;
  readonly ip4: Ipv4Layer;
  /** IPv6 on this interface (StackOptions.ipv6; it implements Ipv6Network), or null: IPv6 frames are then dropped (counted). */
  readonly ip6: Ipv6Layer | null;
  /** ARP over the IPv4 neighbour cache (arp.cache). */
  readonly arp: Arp;
  /** ICMPv4: ping(), onEchoReply, errors. */
  readonly icmp: Icmpv4Layer;
  /** UDP over IPv4: open(), send(). */
  readonly udp4: Udp4;
  /** The UDP sockets of both families (one port space). */
  readonly udp = new UdpTable();
  /** The datagram being handed to a socket (UdpSocket.hold(), receivedHeader()). */
  readonly delivery: DatagramDelivery;
  readonly device: LinkDevice;
  readonly arena: SlotArena;
  readonly clock: Clock;
  readonly counters: StackCounters;
  readonly held: HeldDataTable;
  /** Who takes each IP protocol, and who hears of network events (transport-registry.ts). */
  readonly transports: TransportRegistry;
  /** The interface's IPv4 configuration. */
  readonly iface: ParsedInterface;
  /** The interface's IPv4 multicast memberships and IGMPv2 (igmp.ts). */
  readonly groups: MulticastGroups;
  readonly reassembler: Reassembler;
  /** The link carries bare IP packets (a raw IP socket, tun): no Ethernet header, no ARP. */
  readonly ipFraming: boolean;
  /** The interface's IPv4 address and the device's MAC. */
  readonly address: number;
  readonly mac: number;

  constructor(device: LinkDevice, options: StackOptions) {
    const iface = parseInterface(options, device.mtu);
    const nic = new NetworkInterface(device, { mtu: iface.mtu, heldCapacity: options.heldCapacity });
    const ip4 = new Ipv4Layer(nic, iface, options);
    this.device = device;
    this.nic = nic;
    this.ip4 = ip4;
    this.arp = ip4.arp;
    this.icmp = ip4.icmp;
    this.arena = nic.arena;
    this.clock = nic.clock;
    this.counters = nic.counters;
    this.held = nic.held;
    this.transports = nic.transports;
    this.iface = iface;
    this.groups = ip4.groups;
    this.reassembler = ip4.reassembler;
    this.ipFraming = nic.ipFraming;
    this.address = iface.address;
    this.mac = device.mac;
    this.delivery = new DatagramDelivery(nic.arena, nic.held, nic.counters);
    this.udp4 = new Udp4(this);
    this.ip6 = options.ipv6 ? new Ipv6Layer(nic, {
      icmpErrorsPerSecond: options.icmpErrorsPerSecond, icmpErrorBurst: options.icmpErrorBurst, echoReply: options.echoReply, ...options.ipv6,
    }) : null;
    nic.setLayers(ip4, ip4.arp, this.ip6);
    nic.attach();
    if (options.gratuitousArp ?? true) ip4.arp.announce();
    this.ip6?.start();
  }

  /** Stops the stack: drops waiting packets and timers, detaches from the device. */
  close(): void {
    this.nic.close();
  }
}

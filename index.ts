// Package entry of wsk-runtime: the whole WSK/NMR/wdm surface with wsk.h spellings, the kernel
// provider (host sockets) as the default subsystem for apps that start none, and the userspace
// stack with its links for apps that choose it.
import { setDefaultProviderFactory } from './runtime/wsk/subsystem.ts';
import { createKernelProvider, KernelProvider } from './transports/kernel/kernel-provider.ts';

setDefaultProviderFactory(createKernelProvider);

export * from './runtime/index.ts';
export { createKernelProvider, KernelProvider };

// The userspace stack and its links.
export { NetworkStack, type StackOptions } from './runtime/net/stack.ts';
/** @deprecated The network layer's name before it held IPv6 too: use NetworkStack. */
export { NetworkStack as Ipv4Stack } from './runtime/net/stack.ts';
export { createUserspaceStack, type UserspaceStack, type UserspaceStackConfig } from './runtime/net/userspace-stack.ts';
export { receiveFilterFor, type ReceiveFilter } from './runtime/net/receive-filter.ts';
export { StackProvider, createStackProvider, type StackProviderOptions } from './runtime/net/stack-provider.ts';
export { RealClock, VirtualClock, type Clock, type ClockTimer } from './runtime/net/clock.ts';
export type { LinkCapabilities, LinkDevice, LinkReceiver, LinkStats } from './runtime/net/device.ts';
export type { StackCounters } from './runtime/net/counters.ts';
export { SlotArena, DescriptorRing, HeldDataTable } from './runtime/ring/index.ts';
export { LinkMiddleware } from './transports/link.ts';
export { MemoryNetwork, MemoryLink, type MemoryNetworkOptions, type MemoryLinkOptions } from './transports/memory/memory-network.ts';
export { FaultInjectorLink, type FaultOptions } from './transports/fault/fault-injector.ts';
export { PcapWriterLink, PcapFile, type PcapWriterOptions } from './transports/sniffer/pcap-writer.ts';
export { FrameFlags, type LinkState } from './runtime/net/device.ts';

// Real devices (native links; each loads its addon or package only when opened).
export { AfPacketLink, type AfPacketLinkOptions, type AfPacketStats } from './transports/afpacket/afpacket-link.ts';
export { PcapLink, type PcapLinkOptions, type PcapStats } from './transports/pcap/pcap-link.ts';
export { RawSocketLink, rawIpQuietRules, RAW_IP_DEFAULT_MARK, type RawSocketLinkOptions } from './transports/raw-socket/raw-socket-link.ts';
export { LinkError, withNetns, type LinkErrorCode } from './transports/native/native.ts';

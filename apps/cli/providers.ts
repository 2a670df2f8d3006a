// The WSK subsystem a `wsk run` application runs on: the kernel provider, or the userspace stack
// on a device link (AF_PACKET ring, libpcap, raw IP sockets), optionally captured to a pcap. Open
// errors are LinkError messages that say what to fix.
import { createKernelProvider, startWskSubsystem, type WskSubsystem } from '../../index.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { PcapLink } from '../../transports/pcap/pcap-link.ts';
import { RawSocketLink } from '../../transports/raw-socket/raw-socket-link.ts';
import { PcapWriterLink } from '../../transports/sniffer/pcap-writer.ts';
import { Ipv4Stack } from '../../runtime/net/stack.ts';
import { createStackProvider, type StackProvider } from '../../runtime/net/stack-provider.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { A_IP, B_IP, stackPair } from '../lab/stack-pair.ts';

export const PROVIDERS = ['kernel', 'stack'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const LINKS = ['afpacket', 'pcap', 'raw', 'memory'] as const;
export type LinkName = (typeof LINKS)[number];

export interface ProviderOptions {
  provider: ProviderName;
  link?: LinkName;
  ifname?: string;
  netns?: string;
  ip?: string;
  gateway?: string;
  mtu?: number;
  pcap?: string;
}

export const FIX_STACK_DEVICE = '--provider stack runs on a real device: give --link afpacket|pcap|raw --ifname <device> --ip <a.b.c.d/nn> (and --netns <namespace> for a lab; `wsk lab up` prints them), or --link memory to run with its peer in this process';

export interface RunningProvider {
  subsystem: WskSubsystem;
  /** "provider kernel" or "userspace stack 198.18.0.2/24 on afpacket vb-x in wskB-x". */
  where: string;
  /** The userspace stack and its provider (for `wsk stats`); null on the kernel provider. */
  stack: Ipv4Stack | null;
  stackProvider: StackProvider | null;
  device: LinkDevice | null;
  /** --link memory: the second userspace stack on the same memory network, where the app's peer runs. */
  memoryPeer: { subsystem: WskSubsystem; address: string } | null;
  /** Stops the subsystem (the stack provider closes its stack and device with it). */
  stop(): Promise<void>;
}

function openLink(options: ProviderOptions): LinkDevice {
  const { link, ifname, netns } = options;
  const address = options.ip!.split('/')[0]!;
  if (link === 'afpacket') return new AfPacketLink({ ifname: ifname!, netns, acceptAddresses: [address] });
  if (link === 'pcap') return new PcapLink({ ifname: ifname!, netns, acceptAddresses: [address] });
  return new RawSocketLink({ ifname, netns });
}

export async function startProvider(options: ProviderOptions): Promise<RunningProvider> {
  if (options.provider === 'kernel') {
    const subsystem = await startWskSubsystem(createKernelProvider(), { name: 'kernel', makeDefault: true });
    return { subsystem, where: 'provider kernel', stack: null, stackProvider: null, device: null, memoryPeer: null, stop: () => subsystem.stop() };
  }
  if (options.link === 'memory') return startMemoryPair(options);
  let device = openLink(options);
  if (options.pcap) device = new PcapWriterLink(device, { path: options.pcap });
  const stack = new Ipv4Stack(device, { address: options.ip!, gateway: options.gateway, ...(options.mtu ? { mtu: options.mtu } : {}) });
  const stackProvider = createStackProvider(stack);
  const subsystem = await startWskSubsystem(stackProvider, { name: 'stack', makeDefault: true });
  return {
    subsystem, stack, stackProvider, device, memoryPeer: null,
    where: `userspace stack ${options.ip} on ${options.link} ${options.ifname}${options.netns ? ` in ${options.netns}` : ''}`,
    stop: () => subsystem.stop(),
  };
}

/**
 * --link memory: the app's stack (198.18.0.2) and a peer stack (198.18.0.1) on one in-process
 * memory network, the stack pair of the lab's experiments; nothing else can reach it.
 */
async function startMemoryPair(options: ProviderOptions): Promise<RunningProvider> {
  if (options.ip && options.ip.split('/')[0] !== B_IP) {
    throw new Error(`--link memory puts the app at ${B_IP}/24 and its peer at ${A_IP}: drop --ip ${options.ip}`);
  }
  let device: LinkDevice | null = null;
  const pair = stackPair({}, {}, (link, which) => {
    if (which === 'a') return link;
    device = options.pcap ? new PcapWriterLink(link, { path: options.pcap }) : link;
    return device;
  }, options.mtu ? { mtu: options.mtu } : {});
  // Each provider owns its stack and closes it (and its device) when its subsystem stops.
  const stackProvider = createStackProvider(pair.b);
  const subsystem = await startWskSubsystem(stackProvider, { name: 'stack', makeDefault: true });
  const peerSubsystem = await startWskSubsystem(createStackProvider(pair.a), { name: 'memory-peer' });
  return {
    subsystem, stack: pair.b, stackProvider, device,
    memoryPeer: { subsystem: peerSubsystem, address: A_IP },
    where: `userspace stack ${B_IP}/24 on the memory link (peer stack ${A_IP} in this process)`,
    stop: async () => {
      await subsystem.stop();
      await peerSubsystem.stop();
    },
  };
}

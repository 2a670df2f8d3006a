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

export const PROVIDERS = ['kernel', 'stack'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const LINKS = ['afpacket', 'pcap', 'raw'] as const;
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

export const FIX_STACK_DEVICE = '--provider stack runs on a real device: give --link afpacket|pcap|raw --ifname <device> --ip <a.b.c.d/nn> (and --netns <namespace> for a lab; `wsk lab up` prints them)';

export interface RunningProvider {
  subsystem: WskSubsystem;
  /** "provider kernel" or "userspace stack 198.18.0.2/24 on afpacket vb-x in wskB-x". */
  where: string;
  /** The userspace stack and its provider (for `wsk stats`); null on the kernel provider. */
  stack: Ipv4Stack | null;
  stackProvider: StackProvider | null;
  device: LinkDevice | null;
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
    return { subsystem, where: 'provider kernel', stack: null, stackProvider: null, device: null, stop: () => subsystem.stop() };
  }
  let device = openLink(options);
  if (options.pcap) device = new PcapWriterLink(device, { path: options.pcap });
  const stack = new Ipv4Stack(device, { address: options.ip!, gateway: options.gateway, ...(options.mtu ? { mtu: options.mtu } : {}) });
  const stackProvider = createStackProvider(stack);
  const subsystem = await startWskSubsystem(stackProvider, { name: 'stack', makeDefault: true });
  return {
    subsystem, stack, stackProvider, device,
    where: `userspace stack ${options.ip} on ${options.link} ${options.ifname}${options.netns ? ` in ${options.netns}` : ''}`,
    stop: () => subsystem.stop(),
  };
}

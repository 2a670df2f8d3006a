// The userspace stack's real-device links as the benchmarks open them (bench/veth.bench.ts in
// its own process, bench/suite/app.ts inside the lab's stack namespace). Link options are the
// defaults (AF_PACKET: 256-frame ring, offloads, busy polling), so the figures are what a user
// gets without tuning.
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { PcapLink } from '../../transports/pcap/pcap-link.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { RawSocketLink } from '../../transports/raw-socket/raw-socket-link.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';

export type LinkKind = 'afpacket' | 'pcap' | 'raw';
export const LINK_KINDS: readonly LinkKind[] = ['afpacket', 'pcap', 'raw'];

/**
 * Opens `kind` on `ifname` (inside `netns` when given; undefined when this process already runs
 * in the namespace). The raw IP link needs the lab's `quietHostStack(rawIpQuietRules())` first:
 * that is a lab-wide setting, so the caller owns it. `extra`: link options over the defaults (for
 * experiments, e.g. { ringFrames: 1024 }).
 */
export function openLink(kind: LinkKind, ifname: string, netns: string | undefined, stackAddress: string, extra: Record<string, unknown> = {}): LinkDevice {
  const filter = receiveFilterFor({ address: stackAddress });
  if (kind === 'afpacket') return new AfPacketLink({ ifname, netns, filter, ...extra });
  if (kind === 'pcap') return new PcapLink({ ifname, netns, filter, ...extra });
  return new RawSocketLink({ ifname, netns, ...extra });
}

// Two userspace stacks on one memory network (198.18.0.1 and .2 /24): the network simulation's
// topology (apps/lab/netsim.ts) and the fixture of the stack and provider tests.
import { MemoryNetwork, type MemoryLinkOptions, type MemoryNetworkOptions } from '../../transports/memory/memory-network.ts';
import { createUserspaceStack, type UserspaceStack, type UserspaceStackConfig } from '../../runtime/net/userspace-stack.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';

export const A_IP = '198.18.0.1';
export const B_IP = '198.18.0.2';
export const A = parseIpv4(A_IP) | 0;
export const B = parseIpv4(B_IP) | 0;
/** The stacks' IPv6 addresses when a pair runs IPv6 too (RFC 4193 ULA inside the lab's range). */
export const A6_IP = 'fd00:198:18::1';
export const B6_IP = 'fd00:198:18::2';

/** IPv6 on a simulated stack: one static /64 address, no DAD or router advertisements (nothing else is on the link). */
export function simulatedIpv6(address: string): Pick<UserspaceStackConfig, 'ipv6'> {
  return { ipv6: { addresses: [`${address}/64`], dadTransmits: 0, acceptRouterAdvertisements: false } };
}

export interface StackPair {
  network: MemoryNetwork;
  a: UserspaceStack;
  b: UserspaceStack;
  /** Closes both stacks and their links. */
  close(): void;
}

export function stackPair(
  netOpts: MemoryNetworkOptions = {}, opts: Partial<UserspaceStackConfig> = {},
  wrap: (link: LinkDevice, which: 'a' | 'b') => LinkDevice = (l) => l, linkOpts: MemoryLinkOptions = {},
  /** Config for stack a only (e.g. its secondary addresses, its seed), over `opts`. */
  aOpts: Partial<UserspaceStackConfig> = {},
  /** Config for stack b only, over `opts`. */
  bOpts: Partial<UserspaceStackConfig> = {},
): StackPair {
  const network = new MemoryNetwork(netOpts);
  const a = createUserspaceStack(wrap(network.createLink({ ...linkOpts, name: 'a' }), 'a'), { address: `${A_IP}/24`, ...opts, ...aOpts });
  const b = createUserspaceStack(wrap(network.createLink({ ...linkOpts, name: 'b' }), 'b'), { address: `${B_IP}/24`, ...opts, ...bOpts });
  return {
    network, a, b,
    close: () => { a.close(); b.close(); },
  };
}

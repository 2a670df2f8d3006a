// Two userspace stacks on one memory network (198.18.0.1 and .2 /24): the network simulation's
// topology (apps/lab/netsim.ts) and the fixture of the stack and provider tests.
import { MemoryNetwork, type MemoryLinkOptions, type MemoryNetworkOptions } from '../../transports/memory/memory-network.ts';
import { Ipv4Stack, type StackOptions } from '../../runtime/net/stack.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';

export const A_IP = '198.18.0.1';
export const B_IP = '198.18.0.2';
export const A = parseIpv4(A_IP) | 0;
export const B = parseIpv4(B_IP) | 0;

export interface StackPair {
  network: MemoryNetwork;
  a: Ipv4Stack;
  b: Ipv4Stack;
  close(): void;
}

export function stackPair(
  netOpts: MemoryNetworkOptions = {}, opts: Partial<StackOptions> = {},
  wrap: (link: LinkDevice, which: 'a' | 'b') => LinkDevice = (l) => l, linkOpts: MemoryLinkOptions = {},
  /** Options for stack a only (e.g. its secondary addresses), over `opts`. */
  aOpts: Partial<StackOptions> = {},
): StackPair {
  const network = new MemoryNetwork(netOpts);
  const a = new Ipv4Stack(wrap(network.createLink({ ...linkOpts, name: 'a' }), 'a'), { address: `${A_IP}/24`, ...opts, ...aOpts });
  const b = new Ipv4Stack(wrap(network.createLink({ ...linkOpts, name: 'b' }), 'b'), { address: `${B_IP}/24`, ...opts });
  return {
    network, a, b,
    close: () => { a.close(); b.close(); },
  };
}

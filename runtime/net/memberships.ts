// The multicast groups one UDP or raw socket of the stack joined (IP_ADD_MEMBERSHIP,
// IPV6_ADD_MEMBERSHIP; stack-raw.ts setStackMembership). The interface counts the sockets in each
// group — stack.groups for IPv4 (igmp.ts), stack.ip6.addrs for IPv6 (interface-addresses.ts, which
// MLD reports, ipv6/mld.ts) — so a closing socket gives back each of its references.
import type { NetworkStack } from './stack.ts';

export interface StackMemberships {
  /** IPv4 groups (signed 32-bit). */
  readonly groups: number[];
  /** IPv6 groups, as ids of stack.ip6.table (each holds one reference of the interface's group). */
  readonly groups6: number[];
}

/** Leaves every group the socket joined (it is closing). */
export function leaveStackGroups(stack: NetworkStack, s: StackMemberships): void {
  for (let i = 0; i < s.groups.length; i++) stack.groups.leave(s.groups[i]!);
  s.groups.length = 0;
  for (let i = 0; i < s.groups6.length; i++) stack.ip6?.addrs.leave(s.groups6[i]!);
  s.groups6.length = 0;
}

// Two userspace stacks on one memory network (198.18.0.1 and .2 /24): the network simulation's
// topology (apps/lab/netsim.ts) and the fixture of the stack and provider tests.
import { MemoryNetwork, type MemoryLinkOptions, type MemoryNetworkOptions } from '../../transports/memory/memory-network.ts';
import { createUserspaceStack, type UserspaceStack, type UserspaceStackConfig } from '../../runtime/net/userspace-stack.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';
import { parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { TcpState, type Tcb, type TcpEvents } from '../../runtime/net/tcp/tcb.ts';

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

/** A bulk TCP transfer in virtual time between the two stacks of a pair, both with IPv6 (simulatedIpv6). */
export interface BulkTransfer {
  readonly pair: StackPair;
  readonly client: Tcb;
  /** Pushes `bytes` from a to b, 64 KiB sends with eight kept posted; b reads zero copy and gives each chunk back. */
  move(bytes: number): void;
  close(): void;
}

/** Opens the connection over `family` (a's sends to b's listener on port 80) and runs the handshake. */
export function bulkTransfer(family: NetworkFamily): BulkTransfer {
  const clock = new VirtualClock();
  const pair = stackPair({ clock, slotCount: 8192 }, { tcp: { receiveBuffer: 4 << 20 } }, undefined, {}, simulatedIpv6(A6_IP), simulatedIpv6(B6_IP));
  const a = pair.a.tcp!;
  const b = pair.b.tcp!;
  let received = 0;
  const sink: TcpEvents = {
    onEstablished() {},
    onReadable(t) {
      for (let c = b.takeChunk(t); c; c = b.takeChunk(t)) {
        received += c.byteLength;
        if (b.takenHandle >= 0) b.releaseData(b.takenHandle);
      }
      b.windowUpdate(t);
    },
    onFin() {}, onClosed() {},
  };
  const quiet: TcpEvents = { onEstablished() {}, onReadable() {}, onFin() {}, onClosed() {} };
  b.listen(0, 80, 4, { onConnection: (t) => { t.events = sink; } }, { family });
  const to = family === NetworkFamily.IPV6 ? pair.a.ip.ip6!.table.intern(parseIpv6(B6_IP)!, 0) : B;
  const client = a.connect(0, to, 80, quiet, 64, 0, family) as Tcb;
  clock.runFor(1000, () => client.state === TcpState.ESTABLISHED);
  a.setNoDelay(client, true);
  const pieces = [new Uint8Array(64 * 1024).fill(3)];
  const chunk = pieces[0]!.byteLength;
  return {
    pair, client,
    move(bytes) {
      const want = received + bytes;
      let posted = received;
      while (received < want) {
        while (posted < want && posted - received < 8 * chunk) { a.send(client, pieces, false, null); posted += chunk; }
        clock.runFor(10, () => received >= posted);
      }
    },
    close: () => { a.closeAll(); b.closeAll(); clock.runFor(1); pair.close(); },
  };
}

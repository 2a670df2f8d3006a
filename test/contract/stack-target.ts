// The userspace stack as a contract target: every session gets its own memory network with two
// stacks — the one under test (198.18.0.1 and fd00:198:18::1, behind the WSK provider) and a peer
// host (198.18.0.2 and fd00:198:18::2) whose UDP sockets and TCP engine play the part node:dgram
// and node:net play for the kernel provider. Duplicate address detection is off (dadTransmits 0):
// each session's IPv6 addresses are usable at once, and nobody else is on the link.
import { AF_INET6 } from '../../index.ts';
import { HostResolver } from '../../transports/kernel/host-resolver.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import { formatIpv4, parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { formatIpv6, parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { openUdpSocket, type UdpSocket } from '../../runtime/net/udp.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';
import { Ipv6Field } from '../../runtime/net/wire/ipv6.ts';
import type { UserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { TcpEngine } from '../../runtime/net/tcp/tcp-engine.ts';
import { A_IP, B_IP, stackPair, type StackPair } from '../helpers/net-pair.ts';
import type { MemoryNetworkOptions } from '../../transports/memory/memory-network.ts';
import { StackServer, stackConnect } from '../helpers/stack-socket.ts';
import { PeerInbox, type ContractTarget, type PeerServer, type PeerSocket, type UdpPeer } from './target.ts';

let peerHost: UserspaceStack | null = null;
let peerTcp: TcpEngine | null = null;
let lastPair: StackPair | null = null;

/** The stack under test's second address on its one interface (InterfaceConfig.secondary). */
const SECONDARY_IP = '198.18.0.3';
/** The IPv6 addresses of the stack under test and of the peer (ULA, RFC 4193). */
const A6 = 'fd00:198:18::1';
const B6 = 'fd00:198:18::2';

function stackFactory(network: MemoryNetworkOptions = {}, prepare: (pair: StackPair) => void = () => {}) {
  const pair = stackPair(network, {}, undefined, {},
    { secondary: [SECONDARY_IP], ipv6: { addresses: [`${A6}/64`], dadTransmits: 0 } },
    { ipv6: { addresses: [`${B6}/64`], dadTransmits: 0 } });
  prepare(pair);
  lastPair = pair;
  peerHost = pair.b;
  const tcp = pair.b.tcp!;
  peerTcp = tcp;
  // Name resolution is the host's, as for the kernel provider (R51 tests resolve localhost).
  const provider = createStackProvider(pair.a, { resolver: new HostResolver() });
  const stop = provider.stop.bind(provider);
  provider.stop = async () => {
    await stop();
    pair.b.close();
    // Every slot and every held-data handle is back: nothing leaked by the WSK layer, the provider or the stacks.
    pair.a.ip.held.assertNoLeaks();
    pair.b.ip.held.assertNoLeaks();
    pair.network.arena.assertNoLeaks();
  };
  return provider;
}

async function stackPeer(family: number): Promise<UdpPeer> {
  if (!peerHost) throw new Error('stack target: open a session first');
  const host = peerHost;
  const v6 = family === AF_INET6;
  const address = v6 ? B6 : B_IP;
  const inbox = new PeerInbox(() => `${address}:${sock.localPort}`);
  const sock: UdpSocket = openUdpSocket(host.ip, v6 ? NetworkFamily.IPV6 : NetworkFamily.IPV4, 0, 0, {
    onDatagram(s, bytes, offset, length, src, srcPort) {
      const ip = s.receivedHeader();
      const from = (bytes[ip]! >>> 4) === 6 ? formatIpv6(bytes, ip + Ipv6Field.SOURCE) : formatIpv4(src);
      inbox.push({ data: bytes.slice(offset, offset + length), address: from, port: srcPort });
    },
  })!;
  const send = (data: Uint8Array, toPort: number, toAddress: string): number => {
    if (!v6) return host.ip.udp4.send(sock, [data], 1, parseIpv4(toAddress), toPort);
    const table = host.ip.ip6!.table;
    const dst = table.intern(parseIpv6(toAddress)!, 0);
    const status = host.udp6!.send(sock, [data], 1, dst, toPort);
    table.release(dst);
    return status;
  };
  return {
    address,
    port: sock.localPort,
    send: async (data, toPort, toAddress) => {
      const status = send(data, toPort, toAddress);
      if (status !== 0) throw new Error(`peer send failed: 0x${(status >>> 0).toString(16)}`);
    },
    next: (timeoutMs) => inbox.next(timeoutMs),
    close: async () => sock.close(),
  };
}

function peerEngine(): TcpEngine {
  if (!peerTcp) throw new Error('stack target: open a session first');
  return peerTcp;
}

async function stackTcpServer(family: number): Promise<PeerServer> {
  const server = new StackServer(peerEngine(), 0, family === AF_INET6 ? 'ipv6' : 'ipv4');
  return {
    port: server.port,
    next: async () => quiet(await server.next()),
    close: () => server.close(),
  };
}

/** Teardown (closeAll at session stop) aborts leftover peers: that must not be an unhandled 'error'. */
function quiet<T extends PeerSocket>(s: T): T {
  s.on('error', () => {});
  return s;
}

export const stackTarget: ContractTarget = {
  name: 'stack',
  factory: () => stackFactory(),
  streams: true,
  ipv6: true,
  dualStack: true,
  hostAddress: (family) => (family === AF_INET6 ? A6 : A_IP),
  secondaryAddress: SECONDARY_IP,
  udpPeer: stackPeer,
  tcpServer: stackTcpServer,
  tcpConnect: (family, port) => quiet(stackConnect(peerEngine(), port, family === AF_INET6 ? A6 : A_IP)),
  peerAddress: (family) => (family === AF_INET6 ? B6 : B_IP),
  // The peer is another host on the memory network, not loopback.
  peersOnLoopback: false,
  silentMode: false,
  ringUsage: () => ({
    heldHandles: (lastPair?.a.ip.held.count ?? 0) + (lastPair?.b.ip.held.count ?? 0),
    slotsInUse: lastPair?.network.arena.inUse ?? 0,
  }),
};

/**
 * The stack target on a memory network of its own shape, `prepare` run on each session's stacks
 * before use; `pair()` is the last session's.
 */
export function stackTargetWith(network: MemoryNetworkOptions, prepare: (pair: StackPair) => void): ContractTarget & { pair(): StackPair | null } {
  return { ...stackTarget, factory: () => stackFactory(network, prepare), pair: () => lastPair };
}

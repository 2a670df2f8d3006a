// The userspace stack as a contract target: every session gets its own memory network with two
// stacks — the one under test (198.18.0.1, behind the WSK provider) and a peer host
// (198.18.0.2) whose UDP sockets play the part node:dgram plays for the kernel provider.
import { AF_INET } from '../../index.ts';
import { HostResolver } from '../../transports/kernel/host-resolver.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import { formatIpv4, parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import type { Ipv4Stack } from '../../runtime/net/stack.ts';
import { A_IP, B_IP, stackPair } from '../helpers/net-pair.ts';
import { PeerInbox, type ContractTarget, type UdpPeer } from './target.ts';

let peerHost: Ipv4Stack | null = null;

function stackFactory() {
  const pair = stackPair();
  peerHost = pair.b;
  // Name resolution is the host's, as for the kernel provider (R51 tests resolve localhost).
  const provider = createStackProvider(pair.a, { resolver: new HostResolver() });
  const stop = provider.stop.bind(provider);
  provider.stop = async () => {
    await stop();
    pair.b.close();
    pair.b.device.close();
    // Every slot is back: nothing leaked by the WSK layer, the provider or the stacks.
    pair.network.arena.assertNoLeaks();
  };
  return provider;
}

async function stackPeer(family: number): Promise<UdpPeer> {
  if (family !== AF_INET || !peerHost) throw new Error('stack target: open a session first; only AF_INET peers exist');
  const host = peerHost;
  const inbox = new PeerInbox(() => `${B_IP}:${sock.localPort}`);
  const sock = host.openUdp(0, 0, {
    onDatagram(_s, bytes, offset, length, src, srcPort) {
      inbox.push({ data: bytes.slice(offset, offset + length), address: formatIpv4(src), port: srcPort });
    },
  })!;
  return {
    address: B_IP,
    port: sock.localPort,
    send: async (data, toPort, toAddress) => {
      const status = host.sendUdp(sock, [data], 1, parseIpv4(toAddress), toPort);
      if (status !== 0) throw new Error(`peer send failed: 0x${(status >>> 0).toString(16)}`);
    },
    next: (timeoutMs) => inbox.next(timeoutMs),
    close: async () => sock.close(),
  };
}

export const stackTarget: ContractTarget = {
  name: 'stack',
  factory: stackFactory,
  streams: false,
  ipv6: false,
  hostAddress: () => A_IP,
  udpPeer: stackPeer,
};

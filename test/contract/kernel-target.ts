// The kernel provider as a contract target: WSK sockets on loopback, node:dgram peers.
import * as dgram from 'node:dgram';
import { AF_INET, createKernelProvider } from '../../index.ts';
import { PeerInbox, type ContractTarget, type UdpPeer } from './target.ts';

async function dgramPeer(family: number): Promise<UdpPeer> {
  const address = family === AF_INET ? '127.0.0.1' : '::1';
  const sock = dgram.createSocket(family === AF_INET ? 'udp4' : 'udp6');
  const inbox = new PeerInbox(() => `${address}:${sock.address().port}`);
  sock.on('message', (msg, rinfo) => {
    inbox.push({ data: new Uint8Array(msg), address: rinfo.address, port: rinfo.port });
  });
  sock.on('error', () => {});
  await new Promise<void>((resolve) => sock.bind(0, address, resolve));
  const port = sock.address().port;
  return {
    address, port,
    send: (data, toPort, toAddress) => new Promise<void>((resolve, reject) => sock.send(data, toPort, toAddress, (e) => (e ? reject(e) : resolve()))),
    next: (timeoutMs) => inbox.next(timeoutMs),
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}

export const kernelTarget: ContractTarget = {
  name: 'kernel',
  factory: createKernelProvider,
  streams: true,
  ipv6: true,
  hostAddress: (family) => (family === AF_INET ? '127.0.0.1' : '::1'),
  udpPeer: dgramPeer,
};

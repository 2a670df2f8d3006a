// The kernel provider as a contract target: WSK sockets on loopback, node:dgram and node:net peers.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { AF_INET, createKernelProvider } from '../../index.ts';
import { PeerInbox, type ContractTarget, type PeerServer, type PeerSocket, type UdpPeer } from './target.ts';

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

const loopbackAddress = (family: number) => (family === AF_INET ? '127.0.0.1' : '::1');

async function netServer(family: number): Promise<PeerServer> {
  const queue: net.Socket[] = [];
  const waiters: Array<(s: net.Socket) => void> = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const w = waiters.shift();
    if (w) w(s); else queue.push(s);
  });
  server.on('error', () => {});
  await new Promise<void>((r) => server.listen(0, loopbackAddress(family), r));
  return {
    port: (server.address() as net.AddressInfo).port,
    next: () => {
      const s = queue.shift();
      return s ? Promise.resolve(s) : new Promise<PeerSocket>((r) => waiters.push(r));
    },
    // net.Server.close's callback waits for accepted connections to end: stop listening only.
    close: () => { server.close(); },
  };
}

export const kernelTarget: ContractTarget = {
  name: 'kernel',
  factory: createKernelProvider,
  streams: true,
  ipv6: true,
  dualStack: true,
  hostAddress: loopbackAddress,
  // All of 127/8 is the host's own on Linux loopback.
  secondaryAddress: '127.0.0.2',
  udpPeer: dgramPeer,
  tcpServer: netServer,
  tcpConnect: (family, port): PeerSocket => net.connect({ port, host: loopbackAddress(family), allowHalfOpen: true }),
  peerAddress: loopbackAddress,
  peersOnLoopback: true,
  silentMode: false,
};

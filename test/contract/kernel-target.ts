// The kernel provider as a contract target: WSK sockets on loopback, node:dgram peers.
import * as dgram from 'node:dgram';
import { AF_INET, createKernelProvider } from '../../index.ts';
import type { ContractTarget, UdpPeer } from './target.ts';

interface Datagram { data: Uint8Array; address: string; port: number }

async function dgramPeer(family: number): Promise<UdpPeer> {
  const address = family === AF_INET ? '127.0.0.1' : '::1';
  const sock = dgram.createSocket(family === AF_INET ? 'udp4' : 'udp6');
  const queue: Datagram[] = [];
  const waiters: Array<(d: Datagram) => void> = [];
  sock.on('message', (msg, rinfo) => {
    const d = { data: new Uint8Array(msg), address: rinfo.address, port: rinfo.port };
    const w = waiters.shift();
    if (w) w(d); else queue.push(d);
  });
  sock.on('error', () => {});
  await new Promise<void>((resolve) => sock.bind(0, address, resolve));
  const port = sock.address().port;
  return {
    address, port,
    send: (data, toPort, toAddress) => new Promise<void>((resolve, reject) => sock.send(data, toPort, toAddress, (e) => (e ? reject(e) : resolve()))),
    next: (timeoutMs = 3000) => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise<Datagram>((resolve, reject) => {
        const waiter = (d: Datagram) => { clearTimeout(timer); resolve(d); };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no datagram at ${address}:${port} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
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

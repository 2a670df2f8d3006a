// The kernel provider's own UDP socket (udp-socket.ts over udp-socket.cc) on loopback: zero-copy
// receive into arena slots with the slots held as long as the receiver wants, and batched send
// through the staging area when a turn queues more than it holds.
import { afterEach, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { LINUX, UdpSocket } from './udp-socket.ts';
import { STATUS_CANCELLED, STATUS_SUCCESS, type NTSTATUS } from '../../runtime/ntstatus.ts';
import { until } from '../../test/helpers/wsk-call.ts';

const LOOPBACK = Uint8Array.of(127, 0, 0, 1);
const SO_RCVBUFFORCE = 33;

const open: (UdpSocket | dgram.Socket)[] = [];
afterEach(() => {
  for (const s of open.splice(0)) {
    if (s instanceof UdpSocket) s.close(); else s.close();
  }
});

function bound(options: { slots?: number } = {}): { sock: UdpSocket; port: number } {
  const sock = new UdpSocket({ family: 4, ...options });
  open.push(sock);
  sock.bind(LOOPBACK, 0, 0);
  const [port] = sock.localAddress(new Uint8Array(16));
  return { sock, port };
}

async function sender(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  open.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

const send = (s: dgram.Socket, text: string, port: number): Promise<void> =>
  new Promise((resolve, reject) => s.send(text, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

describe('kernel UDP socket (recvmmsg into arena slots, sendmmsg from staging)', () => {
  it('a receiver that pins every datagram stops the reads once every slot is held; the rest arrive after it lets go', async () => {
    const { sock, port } = bound({ slots: 16 });
    const kept: { handle: number; text: string }[] = [];
    const later: string[] = [];
    let pinning = true;
    sock.onDatagram = () => {
      const text = Buffer.from(sock.current()).toString();
      if (!pinning) { later.push(text); return; }
      const handle = sock.hold();
      sock.pin(handle);
      kept.push({ handle, text });
    };
    sock.start();
    const peer = await sender();
    for (let i = 0; i < 40; i++) await send(peer, `d${i}`, port);
    await until(() => kept.length === 16 && sock.stats.RX_STARVED > 0, 5000, 'every slot held');
    // Held bytes stay where they landed, untouched by the reads that stopped.
    expect(kept.map((k) => Buffer.from(sock.heldBytes(k.handle)).toString())).toEqual(kept.map((k) => k.text));
    pinning = false;
    for (const k of kept) sock.release(k.handle);
    await until(() => later.length === 24, 5000, 'the rest after release');
    expect([...kept.map((k) => k.text), ...later]).toEqual(Array.from({ length: 40 }, (_, i) => `d${i}`));
    sock.close();
    sock.arena.assertNoLeaks();
  });

  it('held datagrams that are not pinned are copied out when slots run low, so reading never stops and no byte changes', async () => {
    const { sock, port } = bound({ slots: 16 });
    const kept: number[] = [];
    sock.onDatagram = () => { kept.push(sock.hold()); };
    sock.start();
    const peer = await sender();
    for (let i = 0; i < 40; i++) await send(peer, `copy-${i}`, port);
    await until(() => kept.length === 40, 5000, 'all 40 held');
    expect(kept.map((h) => Buffer.from(sock.heldBytes(h)).toString())).toEqual(Array.from({ length: 40 }, (_, i) => `copy-${i}`));
    expect(sock.held.copyOuts).toBeGreaterThan(0);
    expect(sock.stats.RX_STARVED).toBe(0);
    for (const h of kept) sock.release(h);
    sock.close();
    sock.arena.assertNoLeaks();
  });

  it('a turn that queues more than the staging area holds (rows and bytes) sends everything, in order and intact, each done once after it left', async () => {
    const rx = bound();
    rx.sock.setInt(LINUX.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20);
    const got: string[] = [];
    rx.sock.onDatagram = () => { const b = rx.sock.current(); got.push(`${b.byteLength}:${b[0]}:${b[b.byteLength - 1]}`); };
    rx.sock.start();
    const tx = bound();
    tx.sock.start();
    const sizes = [...Array.from({ length: 300 }, () => 4000), ...Array.from({ length: 10 }, () => 65000)];
    const done: [NTSTATUS, number][] = [];
    let inside = true;
    sizes.forEach((n, i) => {
      const data = new Uint8Array(n).fill(i & 0xff);
      tx.sock.send([data.subarray(0, 10), data.subarray(10)], LOOPBACK, rx.port, 0, 0, null, 0, -1, (status, bytes) => {
        expect(inside).toBe(false);
        done.push([status, bytes]);
      }, null);
    });
    inside = false;
    await until(() => done.length === sizes.length && got.length === sizes.length, 10_000, 'every datagram sent and received');
    expect(done).toEqual(sizes.map((n) => [STATUS_SUCCESS, n]));
    expect(got).toEqual(sizes.map((n, i) => `${n}:${i & 0xff}:${i & 0xff}`));
    expect(tx.sock.stats.TX_SYSCALLS).toBeGreaterThan(1);
  });

  it('setBytes passes a struct option through (ip_mreqn: a multicast group joined on lo, left, and leaving again refused)', () => {
    const { sock } = bound();
    const IP_ADD_MEMBERSHIP = 35, IP_DROP_MEMBERSHIP = 36;
    // struct ip_mreqn { imr_multiaddr 239.1.2.3; imr_address 0.0.0.0; imr_ifindex 1 (lo) }
    const mreqn = Uint8Array.of(239, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0);
    sock.setBytes(LINUX.IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn);
    sock.setBytes(LINUX.IPPROTO_IP, IP_DROP_MEMBERSHIP, mreqn);
    expect(() => sock.setBytes(LINUX.IPPROTO_IP, IP_DROP_MEMBERSHIP, mreqn)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });

  it('close completes queued sends with STATUS_CANCELLED after the call', async () => {
    const { sock } = bound();
    sock.start();
    const done: NTSTATUS[] = [];
    sock.send([new Uint8Array(8)], LOOPBACK, 9, 0, 0, null, 0, -1, (status) => { done.push(status); }, null);
    sock.close();
    expect(done).toEqual([]);
    await until(() => done.length === 1, 2000, 'the cancelled send');
    expect(done).toEqual([STATUS_CANCELLED]);
  });
});

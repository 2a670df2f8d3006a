// R39–R48: MDL chains, send/receive semantics (partial, WAITALL, DRAIN, FIFO), disconnect and
// close, datagram fixed addresses and flags, WskConnectEx, silent mode.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  AF_INET, AF_INET6, IoAllocateMdl, MSG_TRUNC, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, SIO_WSK_SET_REMOTE_ADDRESS,
  SIO_WSK_SET_SENDTO_ADDRESS, SIO_WSK_SET_TCP_SILENT_MODE, SOCKADDR_STORAGE, STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED,
  STATUS_CONNECTION_ABORTED, STATUS_CONNECTION_RESET, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
  STATUS_NOT_SUPPORTED, STATUS_SUCCESS, WSK_FLAG_ABORTIVE, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET,
  WSK_FLAG_DRAIN, WSK_FLAG_NODELAY, WSK_FLAG_OOB, WSK_FLAG_WAITALL, WskIoctl, makeSockaddrIn, makeSockaddrIn6,
  type WSK_BUF, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, sleep, start } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import {
  acceptedPair, bind, buf, close, connTable, connectedPair, dgTable, hostSockaddr, listenTable, listener, localPort, portOf,
  randomBytes, readAll, socket,
} from './fixtures.ts';
import type { ContractTarget, UdpPeer } from './target.ts';

const ioctl = (s: WSK_SOCKET, code: number, input: unknown, inSize: number, output: unknown, outSize: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskIoctl, code, 0, inSize, input, outSize, output, null, irp));

/** A WSK_BUF over a 3-MDL chain, starting `offset` bytes into the first MDL. */
function chained(data: Uint8Array, offset: number): WSK_BUF {
  const a = new Uint8Array(offset + 5), b = data.subarray(5, 17), c = data.subarray(17);
  a.set(data.subarray(0, 5), offset);
  const m1 = IoAllocateMdl(a), m2 = IoAllocateMdl(b), m3 = IoAllocateMdl(c);
  m1.Next = m2; m2.Next = m3;
  return { Mdl: m1, Offset: offset, Length: data.byteLength };
}

export function dataContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (family: number, port = 0) => hostSockaddr(target, family, port);
  const hostIp = target.hostAddress(AF_INET);
  describe('data transfer (R39–R48)', () => {
    if (target.streams) {
      it('R39: sends and receives span MDL chains with an Offset into the first MDL; malformed WSK_BUFs are refused', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        const data = randomBytes(40, 7);
        const got = new Promise<Buffer>((r) => { const parts: Buffer[] = []; peer.on('data', (d) => { parts.push(d); if (Buffer.concat(parts).length >= 40) r(Buffer.concat(parts)); }); });
        const s = await call<number>((irp) => connTable(sock).WskSend(sock, chained(data, 3), 0, irp));
        expect([s.status, s.information]).toEqual([STATUS_SUCCESS, 40]);
        expect(Buffer.from(await got).equals(Buffer.from(data))).toBe(true);
        peer.write(Buffer.from(data));
        const into = new Uint8Array(40);
        const dest = chained(new Uint8Array(40), 2);
        const r = await call<number>((irp) => connTable(sock).WskReceive(sock, dest, WSK_FLAG_WAITALL, irp));
        expect(r.information).toBe(40);
        let pos = 0;
        for (let m = dest.Mdl, off = 2; m; m = m.Next, off = 0) { into.set(m.buffer.subarray(off), pos); pos += m.ByteCount - off; }
        expect(Buffer.from(into).equals(Buffer.from(data))).toBe(true);
        for (const bad of [{ Mdl: null, Offset: 0, Length: 4 }, { Mdl: IoAllocateMdl(new Uint8Array(4)), Offset: 5, Length: 0 }, { Mdl: IoAllocateMdl(new Uint8Array(4)), Offset: 0, Length: 9 }]) {
          expect((await call((irp) => connTable(sock).WskSend(sock, bad, 0, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        }
        peer.destroy();
        await close(sock); await close(listen);
        await w.close();
      });

      it('R40: WskSend completes with the full length; NODELAY is accepted, OOB is STATUS_NOT_SUPPORTED; 8 MiB arrive intact', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        expect((await call((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(1)), WSK_FLAG_OOB, irp))).status).toBe(STATUS_NOT_SUPPORTED);
        const all = readAll(peer);
        const data = randomBytes(8 << 20, 3);
        let sent = 0;
        for (let off = 0; off < data.byteLength; off += 1 << 20) {
          const r = await call<number>((irp) => connTable(sock).WskSend(sock, buf(data.subarray(off, off + (1 << 20))), WSK_FLAG_NODELAY, irp), 20000);
          expect(r.status).toBe(STATUS_SUCCESS);
          sent += r.information;
        }
        expect(sent).toBe(data.byteLength);
        await call((irp) => connTable(sock).WskDisconnect(sock, null, 0, irp));
        const received = await all;
        expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
        await close(sock); await close(listen);
        await w.close();
      }, 30000);

      it('R41: receives complete on partial data, in FIFO order; WAITALL fills; DRAIN discards to the FIN; FIN completes with 0 bytes', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        const b1 = new Uint8Array(4), b2 = new Uint8Array(4);
        const r1 = start<number>((irp) => connTable(sock).WskReceive(sock, buf(b1), 0, irp));
        const r2 = start<number>((irp) => connTable(sock).WskReceive(sock, buf(b2), 0, irp));
        peer.write('abcdef');
        expect((await r1.done).information).toBe(4);
        expect((await r2.done).information).toBe(2);
        expect(Buffer.from(b1).toString() + Buffer.from(b2.subarray(0, 2)).toString()).toBe('abcdef');
        const big = new Uint8Array(10);
        const wa = start<number>((irp) => connTable(sock).WskReceive(sock, buf(big), WSK_FLAG_WAITALL, irp));
        peer.write('12345');
        await sleep(30);
        expect(wa.completed()).toBe(false);
        peer.write('67890xyz');
        expect((await wa.done).information).toBe(10);
        expect(Buffer.from(big).toString()).toBe('1234567890');
        expect((await call((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(4)), WSK_FLAG_WAITALL | WSK_FLAG_DRAIN, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        expect((await call((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(4)), WSK_FLAG_DRAIN, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        const drain = start<number>((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(0)), WSK_FLAG_DRAIN, irp));
        peer.write('discarded');
        await sleep(20);
        expect(drain.completed()).toBe(false);
        peer.end();
        expect((await drain.done).status).toBe(STATUS_SUCCESS);
        const fin = await call<number>((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(4)), 0, irp));
        expect([fin.status, fin.information]).toEqual([STATUS_SUCCESS, 0]);
        await close(sock); await close(listen);
        await w.close();
      });

      it('R41: a WskReceive posted after several writes were buffered gets all of them, in order, in one completion', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        // Three separate writes, nobody receiving: they wait in the socket as separate chunks.
        for (const part of ['first-', 'second-', 'third']) { peer.write(part); await sleep(15); }
        const big = new Uint8Array(64);
        const r = await call<number>((irp) => connTable(sock).WskReceive(sock, buf(big), 0, irp));
        expect(Buffer.from(big.subarray(0, r.information)).toString()).toBe('first-second-third');
        peer.destroy();
        await close(sock); await close(listen);
        await w.close();
      });

      it('R42: graceful disconnect sends a final buffer and FIN and still receives (half-close); abortive needs Buffer NULL and resets', async () => {
        const w = await openSession(factory);
        const a = await acceptedPair(w, target);
        const all = readAll(a.peer);
        const final = Buffer.from('final words');
        const d = await call((irp) => connTable(a.sock).WskDisconnect(a.sock, buf(final), 0, irp));
        expect(d.status).toBe(STATUS_SUCCESS);
        expect((await all).toString()).toBe('final words');
        expect((await call((irp) => connTable(a.sock).WskSend(a.sock, buf(new Uint8Array(1)), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        a.peer.end('reply after our FIN');
        const rb = new Uint8Array(64);
        const r = await call<number>((irp) => connTable(a.sock).WskReceive(a.sock, buf(rb), WSK_FLAG_WAITALL, irp));
        expect(Buffer.from(rb.subarray(0, r.information)).toString()).toBe('reply after our FIN');
        const b = await acceptedPair(w, target);
        expect((await call((irp) => connTable(b.sock).WskDisconnect(b.sock, buf(new Uint8Array(1)), WSK_FLAG_ABORTIVE, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        const reset = new Promise<string>((res) => b.peer.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? '')));
        const pendingRecv = start((irp) => connTable(b.sock).WskReceive(b.sock, buf(new Uint8Array(4)), 0, irp));
        expect((await call((irp) => connTable(b.sock).WskDisconnect(b.sock, null, WSK_FLAG_ABORTIVE, irp))).status).toBe(STATUS_SUCCESS);
        expect(await reset).toBe('ECONNRESET');
        expect((await pendingRecv.done).status).toBe(STATUS_CONNECTION_ABORTED);
        expect((await call((irp) => connTable(b.sock).WskSend(b.sock, buf(new Uint8Array(1)), 0, irp))).status).toBe(STATUS_CONNECTION_ABORTED);
        for (const s of [a.sock, a.listen, b.sock, b.listen]) await close(s);
        await w.close();
      });

      it('R43: WskCloseSocket on a live connection resets it and cancels pending IRPs; a peer reset fails pending receives', async () => {
        const w = await openSession(factory);
        const a = await connectedPair(w, target);
        const reset = new Promise<string>((res) => a.peer.removeAllListeners('error').on('error', (e: NodeJS.ErrnoException) => res(e.code ?? '')));
        const pending = start((irp) => connTable(a.sock).WskReceive(a.sock, buf(new Uint8Array(4)), 0, irp));
        expect(await close(a.sock)).toBe(STATUS_SUCCESS);
        expect((await pending.done).status).toBe(STATUS_CANCELLED);
        expect(await reset).toBe('ECONNRESET');
        const b = await connectedPair(w, target, target.ipv6 ? AF_INET6 : AF_INET);
        const rcv = start((irp) => connTable(b.sock).WskReceive(b.sock, buf(new Uint8Array(4)), 0, irp));
        b.peer.resetAndDestroy();
        expect((await rcv.done).status).toBe(STATUS_CONNECTION_RESET);
        // Using a closed socket is STATUS_INVALID_HANDLE.
        await close(b.sock);
        expect((await call((irp) => connTable(b.sock).WskSend(b.sock, buf(new Uint8Array(1)), 0, irp))).status).toBe(0xc0000008 | 0);
        await w.close();
      });
    }

    it('R44/R45: fixed remote address filters and defaults; sendto address only defaults; MSG_TRUNC reported', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      await bind(dg, makeSockaddrIn(hostIp, 0));
      const port = await localPort(dg);
      const friend = await target.udpPeer(AF_INET), stranger = await target.udpPeer(AF_INET);
      const friendAddr = makeSockaddrIn(friend.address, friend.port);
      const text = async (p: UdpPeer) => Buffer.from((await p.next()).data).toString();
      expect((await call((irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(1)), 0, null, 0, null, irp))).status).toBe(STATUS_INVALID_PARAMETER);
      expect((await ioctl(dg, SIO_WSK_SET_REMOTE_ADDRESS, friendAddr, 16, null, 0)).status).toBe(STATUS_SUCCESS);
      expect((await call<number>((irp) => dgTable(dg).WskSendTo(dg, buf(Buffer.from('hi')), 0, null, 0, null, irp))).information).toBe(2);
      expect(await text(friend)).toBe('hi');
      await stranger.send(Buffer.from('spam'), port, hostIp);
      await sleep(30);
      await friend.send(Buffer.from('0123456789'), port, hostIp);
      const small = new Uint8Array(4);
      const from = SOCKADDR_STORAGE();
      const controlLength = { value: 0 }, controlFlags = { value: 0 };
      const r = await call<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(small), 0, from, controlLength, null, controlFlags, irp));
      expect([r.information, Buffer.from(small).toString(), portOf(from)]).toEqual([4, '0123', friend.port]);
      expect(controlFlags.value & MSG_TRUNC).toBe(MSG_TRUNC);
      // Clearing the fixed remote, then a sendto address: receives from anyone again.
      expect((await ioctl(dg, SIO_WSK_SET_REMOTE_ADDRESS, null, 0, null, 0)).status).toBe(STATUS_SUCCESS);
      expect((await ioctl(dg, SIO_WSK_SET_SENDTO_ADDRESS, friendAddr, 16, null, 0)).status).toBe(STATUS_SUCCESS);
      await stranger.send(Buffer.from('hello'), port, hostIp);
      const r2 = await call<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(16)), 0, null, null, null, null, irp));
      expect(r2.information).toBe(5);
      await call((irp) => dgTable(dg).WskSendTo(dg, buf(Buffer.from('again')), 0, null, 0, null, irp));
      expect(await text(friend)).toBe('again');
      // WskSendMessages: several datagrams in one call.
      const list = { Next: { Next: null, Buffer: buf(Buffer.from('m2')) }, Buffer: buf(Buffer.from('m1')) };
      const sm = await call<number>((irp) => dgTable(dg).WskSendMessages(dg, list, 0, null, 0, null, irp));
      expect([sm.status, sm.information]).toEqual([STATUS_SUCCESS, 4]);
      const many = [await text(friend), await text(friend)];
      expect(many.sort()).toEqual(['m1', 'm2']);
      await friend.close(); await stranger.close();
      await close(dg);
      await w.close();
    });

    if (target.streams) {
      it('R46: WskConnectEx sends its buffer with the connection; Flags ≠ 0 → STATUS_INVALID_PARAMETER; > 65535 → STATUS_BUFFER_OVERFLOW', async () => {
        const w = await openSession(factory);
        const { sock: listen, port } = await listener(w, target);
        const conn = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        await bind(conn, host(AF_INET));
        expect((await call((irp) => connTable(conn).WskConnectEx(conn, host(AF_INET, port), null, 1, irp))).status).toBe(STATUS_INVALID_PARAMETER);
        expect((await call((irp) => connTable(conn).WskConnectEx(conn, host(AF_INET, port), buf(new Uint8Array(65536)), 0, irp))).status).toBe(STATUS_BUFFER_OVERFLOW);
        const cx = await call((irp) => connTable(conn).WskConnectEx(conn, host(AF_INET, port), buf(Buffer.from('early data')), 0, irp));
        expect(cx.status).toBe(STATUS_SUCCESS);
        const acc = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        const into = new Uint8Array(10);
        await call((irp) => connTable(acc.information).WskReceive(acc.information, buf(into), WSK_FLAG_WAITALL, irp));
        expect(Buffer.from(into).toString()).toBe('early data');
        const backlog = { value: 0 };
        expect((await ioctl(conn, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG, null, 0, backlog, 8)).status).toBe(STATUS_SUCCESS);
        expect(backlog.value).toBeGreaterThan(0);
        for (const s of [conn, acc.information, listen]) await close(s);
        await w.close();
      });

      // Windows refuses silent mode on a loopback connection; a provider that cannot keep its TCP
      // silent refuses it everywhere. Either way the refusal leaves the connection usable.
      const silentRefusal = target.peersOnLoopback
        ? 'R48: SIO_WSK_SET_TCP_SILENT_MODE is refused on loopback (as on Windows) and leaves the connection usable'
        : 'R48: SIO_WSK_SET_TCP_SILENT_MODE is refused by a provider without silent mode and leaves the connection usable';
      if (target.peersOnLoopback || !target.silentMode) it(silentRefusal, async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        expect((await ioctl(sock, SIO_WSK_SET_TCP_SILENT_MODE, null, 0, null, 0)).status).toBe(STATUS_NOT_SUPPORTED);
        const echoed = new Promise<string>((r) => peer.once('data', (d) => r(d.toString())));
        await call((irp) => connTable(sock).WskSend(sock, buf(Buffer.from('still here')), 0, irp));
        expect(await echoed).toBe('still here');
        peer.destroy();
        await close(sock); await close(listen);
        await w.close();
      });
      else it('R48: SIO_WSK_SET_TCP_SILENT_MODE on a non-loopback connection succeeds; sends, receives and graceful disconnect are then STATUS_INVALID_DEVICE_STATE', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        expect((await ioctl(sock, SIO_WSK_SET_TCP_SILENT_MODE, null, 0, null, 0)).status).toBe(STATUS_SUCCESS);
        expect((await call((irp) => connTable(sock).WskSend(sock, buf(Buffer.from('x')), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(4)), 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect((await call((irp) => connTable(sock).WskDisconnect(sock, null, 0, irp))).status).toBe(STATUS_INVALID_DEVICE_STATE);
        peer.destroy();
        await close(sock); await close(listen);
        await w.close();
      });
    }

    if (target.streams && target.ipv6) {
      it('R47: after connect the local address carries the IP; the remote address is the peer, IPv6 too', async () => {
        const w = await openSession(factory);
        const conn = await socket(w, WSK_FLAG_CONNECTION_SOCKET, AF_INET6);
        await bind(conn, makeSockaddrIn6('::', 0));
        const { sock: listen, port } = await listener(w, target, AF_INET6);
        await call((irp) => connTable(conn).WskConnect(conn, host(AF_INET6, port), 0, irp));
        const local = SOCKADDR_STORAGE(), remote = SOCKADDR_STORAGE();
        await call((irp) => connTable(conn).WskGetLocalAddress(conn, local, irp));
        await call((irp) => connTable(conn).WskGetRemoteAddress(conn, remote, irp));
        expect(local.sin6_addr![15]).toBe(1);
        expect(portOf(remote)).toBe(port);
        const acc = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        for (const s of [conn, acc.information, listen]) await close(s);
        await w.close();
      });
    }
  });
}

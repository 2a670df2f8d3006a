// R9–R15: IRP completion exactly once, status agreement, shapes, Information, cancellation,
// re-entrancy.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, IPPROTO_TCP, IPPROTO_UDP, IoAllocateIrp, STATUS_CONNECTION_ABORTED, IoCancelIrp, IoSetCompletionRoutine, SOCK_DGRAM, SOCK_STREAM, SOCKADDR_STORAGE, STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, makeSockaddrIn, type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, cancel, sleep, start } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import {
  acceptedPair, anySocket, anySocketKind, bind, buf, close, connTable, dgTable, hostSockaddr, listenTable, listener, localPort,
  peerConnect, portOf, socket,
} from './fixtures.ts';
import type { ContractTarget } from './target.ts';

/** WskBind / WskGetLocalAddress, which connection and datagram sockets share. */
const bindable = (s: WSK_SOCKET) => s.Dispatch as Pick<WSK_PROVIDER_CONNECTION_DISPATCH, 'WskBind' | 'WskGetLocalAddress'>;

export function irpContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (family: number, port = 0) => hostSockaddr(target, family, port);
  const hostIp = target.hostAddress(AF_INET);
  describe('IRP handling (R9–R15)', () => {
    it('R9: the completion routine runs exactly once (after a pending call returned), honouring InvokeOn* flags', async () => {
      const w = await openSession(factory);
      const order: string[] = [];
      const kind = anySocketKind(target);
      const irp = IoAllocateIrp(1);
      IoSetCompletionRoutine(irp, () => { order.push('completion'); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
      const st = w.Dispatch.WskSocket(w.Client, AF_INET, kind.type, kind.protocol, kind.flags, null, null, null, null, null, irp);
      order.push('returned');
      await sleep(10);
      expect(st).toBe(STATUS_PENDING);
      expect(order).toEqual(['returned', 'completion']);
      // InvokeOnError false: an error completion does not call the routine.
      const irp2 = IoAllocateIrp(1);
      let ran = false;
      IoSetCompletionRoutine(irp2, () => { ran = true; return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, false, false);
      const sock = irp.IoStatus.Information as WSK_SOCKET;
      // An unbound connect (or, without streams, an unbound send-to) fails at once.
      const st2 = target.streams
        ? connTable(sock).WskConnect(sock, host(AF_INET, 9), 0, irp2)
        : dgTable(sock).WskSendTo(sock, buf(new Uint8Array(4)), 0, host(AF_INET, 9), 0, null, irp2);
      await sleep(10);
      expect(st2).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(irp2.IoStatus.Status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(ran).toBe(false);
      await close(sock);
      await w.close();
    });

    it('R10: a returned error equals the IRP status; a missing IRP is STATUS_INVALID_PARAMETER with nothing completed', async () => {
      const w = await openSession(factory);
      if (target.streams) {
        const sock = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        // Unbound connect: returned and completed with STATUS_INVALID_DEVICE_STATE (obs.).
        const r = await call((irp) => connTable(sock).WskConnect(sock, host(AF_INET, 9), 0, irp));
        expect(r.returned).toBe(STATUS_INVALID_DEVICE_STATE);
        expect(r.status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect(r.completions).toBe(1);
        expect(w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, 2, null, null, null, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
        expect(connTable(sock).WskBind(sock, host(AF_INET), 0, null)).toBe(STATUS_INVALID_PARAMETER);
        expect(connTable(sock).WskSend(sock, buf(new Uint8Array(1)), 0, null)).toBe(STATUS_INVALID_PARAMETER);
        expect(connTable(sock).Basic.WskCloseSocket(sock, null)).toBe(STATUS_INVALID_PARAMETER);
        await close(sock);
      }
      // The same on a datagram socket: unbound send-to, then calls without an IRP.
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      const d = await call((irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(1)), 0, host(AF_INET, 9), 0, null, irp));
      expect([d.returned, d.status, d.completions]).toEqual([STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_DEVICE_STATE, 1]);
      expect(w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(dgTable(dg).WskBind(dg, host(AF_INET), 0, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(dgTable(dg).WskSendTo(dg, buf(new Uint8Array(1)), 0, host(AF_INET, 9), 0, null, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(1)), 0, null, null, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(dgTable(dg).Basic.WskCloseSocket(dg, null)).toBe(STATUS_INVALID_PARAMETER);
      await close(dg);
      await w.close();
    });

    it('R11/R12: normal calls return STATUS_PENDING; Information is the socket, a byte count, or 0', async () => {
      const w = await openSession(factory);
      if (target.streams) {
        const created = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp));
        expect(created.returned).toBe(STATUS_PENDING);
        expect(typeof created.information).toBe('object');
        const listen = created.information;
        const bound = await call((irp) => listenTable(listen).WskBind(listen, makeSockaddrIn(hostIp, 0), 0, irp));
        expect([bound.returned, bound.status, bound.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
        const local = SOCKADDR_STORAGE();
        await call((irp) => listenTable(listen).WskGetLocalAddress(listen, local, irp));
        const port = ((local.sin_port! & 0xff) << 8) | (local.sin_port! >> 8);
        const peer = peerConnect(target, port);
        const accepted = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        expect(accepted.returned).toBe(STATUS_PENDING);
        const sock = accepted.information;
        const sent = await call((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(300)), 0, irp));
        expect([sent.returned, sent.information]).toEqual([STATUS_PENDING, 300]);
        const closed = await call((irp) => connTable(sock).Basic.WskCloseSocket(sock, irp));
        expect([closed.returned, closed.status, closed.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
        peer.destroy();
        await close(listen);
      }
      // Datagram sockets: WskSocket, WskBind, WskSendTo (Information = bytes sent), WskCloseSocket.
      const created = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp));
      expect([created.returned, created.status, typeof created.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 'object']);
      const dg = created.information;
      const bound = await call((irp) => dgTable(dg).WskBind(dg, host(AF_INET), 0, irp));
      expect([bound.returned, bound.status, bound.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
      const peer = await target.udpPeer(AF_INET);
      const sent = await call((irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(300)), 0, makeSockaddrIn(peer.address, peer.port), 0, null, irp));
      expect([sent.returned, sent.status, sent.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 300]);
      expect((await peer.next()).data.byteLength).toBe(300);
      const closed = await call((irp) => dgTable(dg).Basic.WskCloseSocket(dg, irp));
      expect([closed.returned, closed.status, closed.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
      await peer.close();
      await w.close();
    });

    if (target.streams) {
      it('R13: pending WskAccept, WskReceive, WskConnect are cancellable: STATUS_CANCELLED, Information 0', async () => {
        const w = await openSession(factory);
        const { sock: listen } = await listener(w, target);
        const acc = start((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        expect(acc.returned).toBe(STATUS_PENDING);
        await sleep(10);
        expect(cancel(acc)).toBe(true);
        const a = await acc.done;
        expect([a.status, a.information, a.completions]).toEqual([STATUS_CANCELLED, 0, 1]);
        const { sock, peer, listen: listen2 } = await acceptedPair(w, target);
        const rcv = start((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(16)), 0, irp));
        await sleep(10);
        cancel(rcv);
        const r = await rcv.done;
        expect([r.status, r.information]).toEqual([STATUS_CANCELLED, 0]);
        // An IRP already cancelled before the call completes as cancelled.
        const pre = await call((irp) => { IoCancelIrp(irp); return connTable(sock).WskReceive(sock, buf(new Uint8Array(16)), 0, irp); });
        expect([pre.status, pre.completions]).toEqual([STATUS_CANCELLED, 1]);
        peer.destroy();
        await close(sock);
        await close(listen);
        await close(listen2);
        await w.close();
      });

      it('R13: cancelling a WskSend that cannot finish completes it STATUS_CANCELLED and aborts the connection', async () => {
        const w = await openSession(factory);
        const { sock, peer, listen } = await acceptedPair(w, target);
        peer.pause();
        // Linux reports a reset that arrives behind unread data as end-of-stream once drained.
        const gone = new Promise((res) => { peer.once('end', res); peer.once('error', res); });
        const send = start((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(64 << 20)), 0, irp));
        await sleep(50);
        expect(send.completed()).toBe(false);
        cancel(send);
        const r = await send.done;
        expect([r.status, r.information]).toEqual([STATUS_CANCELLED, 0]);
        peer.resume();
        await gone;
        // The connection is aborted: no further sends.
        expect((await call((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(1)), 0, irp))).status).toBe(STATUS_CONNECTION_ABORTED);
        await close(sock); await close(listen);
        await w.close();
      });

      it('R13: WskCloseSocket completes a pending WskAccept with STATUS_CANCELLED', async () => {
        const w = await openSession(factory);
        const { sock: listen } = await listener(w, target);
        const acc = start((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
        expect(await close(listen)).toBe(STATUS_SUCCESS);
        const a = await acc.done;
        expect([a.status, a.information]).toEqual([STATUS_CANCELLED, 0]);
        await w.close();
      });
    } else {
      // Without streams, R13 is shown on a pending WskReceiveFrom.
      it('R13: a pending WskReceiveFrom is cancellable: STATUS_CANCELLED, Information 0; a pre-cancelled IRP completes as cancelled', async () => {
        const w = await openSession(factory);
        const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
        expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
        const rcv = start((irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(16)), 0, null, null, null, null, irp));
        expect(rcv.returned).toBe(STATUS_PENDING);
        await sleep(10);
        expect(cancel(rcv)).toBe(true);
        const r = await rcv.done;
        expect([r.status, r.information, r.completions]).toEqual([STATUS_CANCELLED, 0, 1]);
        const pre = await call((irp) => { IoCancelIrp(irp); return dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(16)), 0, null, null, null, null, irp); });
        expect([pre.status, pre.completions]).toEqual([STATUS_CANCELLED, 1]);
        await close(dg);
        await w.close();
      });

      it('R13: WskCloseSocket completes a pending WskReceiveFrom with STATUS_CANCELLED', async () => {
        const w = await openSession(factory);
        const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
        expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
        const rcv = start((irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(16)), 0, null, null, null, null, irp));
        expect(await close(dg)).toBe(STATUS_SUCCESS);
        const r = await rcv.done;
        expect([r.status, r.information]).toEqual([STATUS_CANCELLED, 0]);
        await w.close();
      });
    }

    it('R14: output buffers are written before completion and never after', async () => {
      const w = await openSession(factory);
      if (target.streams) {
        const { sock: listen, port } = await listener(w, target);
        const remote = SOCKADDR_STORAGE();
        const local = SOCKADDR_STORAGE();
        const acc = start<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, local, remote, irp));
        const peer = peerConnect(target, port);
        const a = await acc.done;
        expect((remote as { sin_family?: number }).sin_family).toBe(AF_INET);
        const snapshot = JSON.stringify(remote);
        peer.write('x');
        await sleep(20);
        expect(JSON.stringify(remote)).toBe(snapshot);
        peer.destroy();
        await close(a.information);
        await close(listen);
      }
      // WskReceiveFrom's RemoteAddress: written by completion, untouched by later datagrams.
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
      const port = await localPort(dg);
      const first = await target.udpPeer(AF_INET), second = await target.udpPeer(AF_INET);
      const from = SOCKADDR_STORAGE();
      const rcv = start<number>((irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(8)), 0, from, null, null, null, irp));
      await first.send(Uint8Array.of(1), port, hostIp);
      const r = await rcv.done;
      expect([r.status, r.information]).toEqual([STATUS_SUCCESS, 1]);
      expect([(from as { sin_family?: number }).sin_family, portOf(from)]).toEqual([AF_INET, first.port]);
      const snapshot = JSON.stringify(from);
      await second.send(Uint8Array.of(2), port, hostIp);
      await sleep(20);
      expect(JSON.stringify(from)).toBe(snapshot);
      await first.close(); await second.close();
      await close(dg);
      await w.close();
    });

    it('R15: WSK calls are accepted from inside a completion routine', async () => {
      const w = await openSession(factory);
      const sock = await anySocket(w, target);
      const inner = await new Promise<number>((resolve) => {
        const irp = IoAllocateIrp(1);
        IoSetCompletionRoutine(irp, () => {
          const irp2 = IoAllocateIrp(1);
          IoSetCompletionRoutine(irp2, (_d, i) => { resolve(i.IoStatus.Status); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
          bindable(sock).WskGetLocalAddress(sock, SOCKADDR_STORAGE(), irp2);
          return STATUS_MORE_PROCESSING_REQUIRED;
        }, null, true, true, true);
        bindable(sock).WskBind(sock, host(AF_INET), 0, irp);
      });
      expect(inner).toBe(STATUS_SUCCESS);
      await close(sock);
      await w.close();
    });
  });
}

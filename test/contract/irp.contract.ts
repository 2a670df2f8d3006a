// R9–R15: IRP completion exactly once, status agreement, shapes, Information, cancellation,
// re-entrancy.
import { describe, expect, it } from 'vitest';
import * as net from 'node:net';
import {
  AF_INET, IPPROTO_TCP, IoAllocateIrp, STATUS_CONNECTION_ABORTED, IoCancelIrp, IoSetCompletionRoutine, SOCK_STREAM, SOCKADDR_STORAGE, STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_LISTEN_SOCKET, makeSockaddrIn, type WSK_SOCKET,
} from '../../index.ts';
import { call, cancel, sleep, start } from '../helpers/wsk-call.ts';
import { openSession, type ProviderFactory } from '../helpers/wsk-session.ts';
import { acceptedPair, buf, close, connTable, listenTable, listener, loopback, socket } from './fixtures.ts';

export function irpContract(factory: ProviderFactory): void {
  describe('IRP handling (R9–R15)', () => {
    it('R9: the completion routine runs exactly once, after the call returned, honouring InvokeOn* flags', async () => {
      const w = await openSession(factory);
      const order: string[] = [];
      const irp = IoAllocateIrp(1);
      IoSetCompletionRoutine(irp, () => { order.push('completion'); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
      const st = w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_CONNECTION_SOCKET, null, null, null, null, null, irp);
      order.push('returned');
      await sleep(10);
      expect(st).toBe(STATUS_PENDING);
      expect(order).toEqual(['returned', 'completion']);
      // InvokeOnError false: an error completion does not call the routine.
      const irp2 = IoAllocateIrp(1);
      let ran = false;
      IoSetCompletionRoutine(irp2, () => { ran = true; return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, false, false);
      const sock = irp.IoStatus.Information as WSK_SOCKET;
      const st2 = connTable(sock).WskConnect(sock, loopback(AF_INET, 9), 0, irp2);
      await sleep(10);
      expect(st2).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(irp2.IoStatus.Status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(ran).toBe(false);
      await close(sock);
      await w.close();
    });

    it('R10: a returned error equals the IRP status; a missing IRP is STATUS_INVALID_PARAMETER with nothing completed', async () => {
      const w = await openSession(factory);
      const sock = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
      // Unbound connect: returned and completed with STATUS_INVALID_DEVICE_STATE (obs.).
      const r = await call((irp) => connTable(sock).WskConnect(sock, loopback(AF_INET, 9), 0, irp));
      expect(r.returned).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(r.status).toBe(STATUS_INVALID_DEVICE_STATE);
      expect(r.completions).toBe(1);
      expect(w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, 2, null, null, null, null, null, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(connTable(sock).WskBind(sock, loopback(AF_INET), 0, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(connTable(sock).WskSend(sock, buf(new Uint8Array(1)), 0, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(connTable(sock).Basic.WskCloseSocket(sock, null)).toBe(STATUS_INVALID_PARAMETER);
      await close(sock);
      await w.close();
    });

    it('R11/R12: normal calls return STATUS_PENDING; Information is the socket, a byte count, or 0', async () => {
      const w = await openSession(factory);
      const created = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp));
      expect(created.returned).toBe(STATUS_PENDING);
      expect(typeof created.information).toBe('object');
      const listen = created.information;
      const bound = await call((irp) => listenTable(listen).WskBind(listen, makeSockaddrIn('127.0.0.1', 0), 0, irp));
      expect([bound.returned, bound.status, bound.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
      const local = SOCKADDR_STORAGE();
      await call((irp) => listenTable(listen).WskGetLocalAddress(listen, local, irp));
      const port = ((local.sin_port! & 0xff) << 8) | (local.sin_port! >> 8);
      const peer = net.connect(port, '127.0.0.1').on('error', () => {});
      const accepted = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
      expect(accepted.returned).toBe(STATUS_PENDING);
      const sock = accepted.information;
      const sent = await call((irp) => connTable(sock).WskSend(sock, buf(new Uint8Array(300)), 0, irp));
      expect([sent.returned, sent.information]).toEqual([STATUS_PENDING, 300]);
      const closed = await call((irp) => connTable(sock).Basic.WskCloseSocket(sock, irp));
      expect([closed.returned, closed.status, closed.information]).toEqual([STATUS_PENDING, STATUS_SUCCESS, 0]);
      peer.destroy();
      await close(listen);
      await w.close();
    });

    it('R13: pending WskAccept, WskReceive, WskConnect are cancellable: STATUS_CANCELLED, Information 0', async () => {
      const w = await openSession(factory);
      const { sock: listen } = await listener(w);
      const acc = start((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
      expect(acc.returned).toBe(STATUS_PENDING);
      await sleep(10);
      expect(cancel(acc)).toBe(true);
      const a = await acc.done;
      expect([a.status, a.information, a.completions]).toEqual([STATUS_CANCELLED, 0, 1]);
      const { sock, peer, listen: listen2 } = await acceptedPair(w);
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
      const { sock, peer, listen } = await acceptedPair(w);
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
      const { sock: listen } = await listener(w);
      const acc = start((irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp));
      expect(await close(listen)).toBe(STATUS_SUCCESS);
      const a = await acc.done;
      expect([a.status, a.information]).toEqual([STATUS_CANCELLED, 0]);
      await w.close();
    });

    it('R14: output buffers are written before completion and never after', async () => {
      const w = await openSession(factory);
      const { sock: listen, port } = await listener(w);
      const remote = SOCKADDR_STORAGE();
      const local = SOCKADDR_STORAGE();
      const acc = start<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, null, local, remote, irp));
      const peer = net.connect(port, '127.0.0.1').on('error', () => {});
      const a = await acc.done;
      expect((remote as { sin_family?: number }).sin_family).toBe(AF_INET);
      const snapshot = JSON.stringify(remote);
      peer.write('x');
      await sleep(20);
      expect(JSON.stringify(remote)).toBe(snapshot);
      peer.destroy();
      await close(a.information);
      await close(listen);
      await w.close();
    });

    it('R15: WSK calls are accepted from inside a completion routine', async () => {
      const w = await openSession(factory);
      const sock = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
      const inner = await new Promise<number>((resolve) => {
        const irp = IoAllocateIrp(1);
        IoSetCompletionRoutine(irp, () => {
          const irp2 = IoAllocateIrp(1);
          IoSetCompletionRoutine(irp2, (_d, i) => { resolve(i.IoStatus.Status); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
          connTable(sock).WskGetLocalAddress(sock, SOCKADDR_STORAGE(), irp2);
          return STATUS_MORE_PROCESSING_REQUIRED;
        }, null, true, true, true);
        connTable(sock).WskBind(sock, loopback(AF_INET), 0, irp);
      });
      expect(inner).toBe(STATUS_SUCCESS);
      await close(sock);
      await w.close();
    });
  });
}

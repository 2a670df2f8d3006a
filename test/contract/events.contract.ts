// R26–R38: event callbacks — enabling and disabling, static callbacks, precedence of queued
// IRPs, the receive-event return contract, retention, accept and conditional accept, close.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, NPI_WSK_INTERFACE_ID, SIO_WSK_QUERY_INSPECT_ID, SO_CONDITIONAL_ACCEPT, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
  STATUS_DATA_NOT_ACCEPTED, STATUS_EVENT_PENDING, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_DEVICE_STATE,
  STATUS_INVALID_PARAMETER, STATUS_PENDING, STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS, WSK_EVENT_ACCEPT,
  WSK_EVENT_DISABLE, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_ABORTIVE,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_SET_STATIC_EVENT_CALLBACKS,
  WskInspectAccept, WskInspectPend, WskInspectReject, WskIoctl, WskSetOption, guidFromString, makeSockaddrIn,
  type Holder, type IRP, type WSK_CLIENT_CONNECTION_DISPATCH, type WSK_CLIENT_DATAGRAM_DISPATCH,
  type WSK_CLIENT_LISTEN_DISPATCH, type WSK_DATA_INDICATION, type WSK_DATAGRAM_INDICATION, type WSK_INSPECT_ID,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET, mdlChainByteCount, forEachWskBufSegment,
} from '../../index.ts';
import { call, sleep, start, until } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import { acceptedPair, bind, buf, close, connTable, dgTable, hostSockaddr, listenTable, localPort, peerConnect, socket } from './fixtures.ts';
import type { ContractTarget } from './target.ts';

const control = (s: WSK_SOCKET, mask: number, irp: IRP | null, npi = NPI_WSK_INTERFACE_ID) =>
  (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: npi, EventMask: mask }, 0, null, null, irp);

function bytesOf(list: WSK_DATA_INDICATION | null): Buffer {
  const parts: Buffer[] = [];
  for (let d = list; d; d = d.Next) forEachWskBufSegment(d.Buffer, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

/** A connection socket accepted via WskAccept whose events go to `dispatch`. */
async function eventPair(w: Awaited<ReturnType<typeof openSession>>, target: ContractTarget, dispatch: WSK_CLIENT_CONNECTION_DISPATCH, mask: number) {
  const { sock: listen } = { sock: await socket(w, WSK_FLAG_LISTEN_SOCKET) };
  await bind(listen, hostSockaddr(target, AF_INET));
  const peer = peerConnect(target, await localPort(listen));
  const acc = await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, 'ctx', dispatch, null, null, irp));
  const sock = acc.information;
  expect(control(sock, mask, null)).toBe(STATUS_SUCCESS);
  return { sock, peer, listen };
}

export function eventsContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (family: number, port = 0) => hostSockaddr(target, family, port);
  const hostIp = target.hostAddress(AF_INET);
  describe('events (R26–R38)', () => {
    it('R26: enable any OR of the category flags; disable exactly one; NpiId must be NPI_WSK_INTERFACE_ID', async () => {
      const w = await openSession(factory);
      const badNpi = guidFromString('{00000000-0000-0000-0000-000000000001}');
      if (target.streams) {
        const { sock, peer, listen } = await acceptedPair(w, target);
        expect(control(sock, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT, null)).toBe(STATUS_SUCCESS);
        expect(control(sock, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE, null)).toBe(STATUS_INVALID_PARAMETER);
        expect(control(sock, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, null)).toBe(STATUS_SUCCESS);
        expect(control(sock, WSK_EVENT_ACCEPT, null)).toBe(STATUS_INVALID_PARAMETER);
        expect(control(sock, WSK_EVENT_RECEIVE, null, badNpi)).toBe(STATUS_INVALID_PARAMETER);
        // With an IRP and nothing in progress the IRP completes with success.
        const r = await call((irp) => control(sock, WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE, irp));
        expect(r.status).toBe(STATUS_SUCCESS);
        // Before connect (connection) or bind (listen/datagram): STATUS_INVALID_DEVICE_STATE (R22).
        const fresh = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
        expect(control(fresh, WSK_EVENT_RECEIVE, null)).toBe(STATUS_INVALID_DEVICE_STATE);
        peer.destroy();
        for (const s of [sock, listen, fresh]) await close(s);
      }
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null)).toBe(STATUS_INVALID_DEVICE_STATE);
      // Once bound: the datagram category's one event; another category's flag or NpiId is refused.
      expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null)).toBe(STATUS_SUCCESS);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE, null)).toBe(STATUS_SUCCESS);
      expect(control(dg, WSK_EVENT_ACCEPT, null)).toBe(STATUS_INVALID_PARAMETER);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null, badNpi)).toBe(STATUS_INVALID_PARAMETER);
      expect((await call((irp) => control(dg, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE, irp))).status).toBe(STATUS_SUCCESS);
      await close(dg);
      await w.close();
    });

    if (target.streams) {
      it('R26: disabling an event from inside its own callback: STATUS_EVENT_PENDING without IRP, PENDING + later completion with one', async () => {
        const w = await openSession(factory);
        const seen: Array<[string, number]> = [];
        let sockRef: WSK_SOCKET | null = null;
        let pendingIrp: ReturnType<typeof start> | null = null;
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: () => {
            seen.push(['noirp', control(sockRef!, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, null)]);
            pendingIrp = start((irp) => control(sockRef!, WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE, irp));
            seen.push(['irp', pendingIrp.returned]);
            seen.push(['completed-inside', pendingIrp.completed() ? 1 : 0]);
            return STATUS_SUCCESS;
          },
          WskDisconnectEvent: null, WskSendBacklogEvent: null,
        };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
        sockRef = sock;
        peer.write('x');
        await until(() => seen.length === 3);
        expect(seen).toEqual([['noirp', STATUS_EVENT_PENDING], ['irp', STATUS_PENDING], ['completed-inside', 0]]);
        expect((await pendingIrp!.done).status).toBe(STATUS_SUCCESS);
        peer.destroy();
        for (const s of [sock, listen]) await close(s);
        await w.close();
      });

      it('R27: SO_CONDITIONAL_ACCEPT only before bind; inspect/abort cannot be toggled with SO_WSK_EVENT_CALLBACK', async () => {
        const w = await openSession(factory);
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET);
        await bind(s, host(AF_INET));
        const r = await call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, 4, { value: 1 }, 0, null, null, irp));
        expect(r.status).toBe(STATUS_INVALID_DEVICE_STATE);
        expect(control(s, 0x1000, null)).toBe(STATUS_INVALID_PARAMETER);
        await close(s);
        await w.close();
      });
    }

    if (target.streams) {
      it('R28: static event callbacks only before the first socket; enabled on every new socket; never disabled', async () => {
        const w = await openSession(factory);
        const accepted: WSK_SOCKET[] = [];
        const setStatic = () => w.Dispatch.WskControlClient(w.Client, WSK_SET_STATIC_EVENT_CALLBACKS, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_ACCEPT }, 0, null, null, null);
        expect(setStatic()).toBe(STATUS_SUCCESS);
        const listenDispatch: WSK_CLIENT_LISTEN_DISPATCH = {
          WskAcceptEvent: (_c, _f, _l, _r, sock) => { accepted.push(sock!); return STATUS_SUCCESS; }, WskInspectEvent: null, WskAbortEvent: null,
        };
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET, null, listenDispatch);
        expect(setStatic()).toBe(STATUS_INVALID_DEVICE_STATE);
        await bind(s, host(AF_INET));
        const peer = peerConnect(target, await localPort(s));
        await until(() => accepted.length === 1, 5000, 'accept event');
        expect(control(s, WSK_EVENT_ACCEPT | WSK_EVENT_DISABLE, null)).toBe(STATUS_INVALID_DEVICE_STATE);
        peer.destroy();
        await close(accepted[0]!); await close(s);
        await w.close();
      });
    } else {
      it('R28: static event callbacks only before the first socket; enabled on every new socket; never disabled (datagram socket)', async () => {
        const w = await openSession(factory);
        const got: string[] = [];
        const setStatic = () => w.Dispatch.WskControlClient(w.Client, WSK_SET_STATIC_EVENT_CALLBACKS, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
        expect(setStatic()).toBe(STATUS_SUCCESS);
        const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
          WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
            for (let d = list; d; d = d.Next) forEachWskBufSegment(d.Buffer, (b) => got.push(Buffer.from(b).toString()));
            return STATUS_SUCCESS;
          },
        };
        const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch);
        expect(setStatic()).toBe(STATUS_INVALID_DEVICE_STATE);
        expect(await bind(dg, host(AF_INET))).toBe(STATUS_SUCCESS);
        const peer = await target.udpPeer(AF_INET);
        await peer.send(Buffer.from('static'), await localPort(dg), hostIp);
        await until(() => got.length === 1, 5000, 'receive-from event');
        expect(got).toEqual(['static']);
        expect(control(dg, WSK_EVENT_RECEIVE_FROM | WSK_EVENT_DISABLE, null)).toBe(STATUS_INVALID_DEVICE_STATE);
        await peer.close();
        await close(dg);
        await w.close();
      });
    }

    if (target.streams) {
      it('R29/R17: connection events enabled on a listener reach WskAcceptEvent sockets only, and survive accept disable/enable', async () => {
        const w = await openSession(factory);
        const received: string[] = [];
        const connDispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: (ctx, _f, list) => { received.push(`${String(ctx)}:${bytesOf(list).toString()}`); return STATUS_SUCCESS; },
          WskDisconnectEvent: null, WskSendBacklogEvent: null,
        };
        const viaEvent: WSK_SOCKET[] = [];
        const listenDispatch: WSK_CLIENT_LISTEN_DISPATCH = {
          WskAcceptEvent: (_c, _f, _l, _r, sock, ctx: Holder<unknown>, disp: Holder<WSK_CLIENT_CONNECTION_DISPATCH | null>) => {
            viaEvent.push(sock!); ctx.value = 'ev'; disp.value = connDispatch; return STATUS_SUCCESS;
          },
          WskInspectEvent: null, WskAbortEvent: null,
        };
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET, null, listenDispatch);
        await bind(s, host(AF_INET));
        const port = await localPort(s);
        expect(control(s, WSK_EVENT_RECEIVE, null)).toBe(STATUS_SUCCESS);
        expect(control(s, WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE, null)).toBe(STATUS_INVALID_DEVICE_STATE);
        // Accept event off: a WskAccept gets the connection, with events disabled (R17).
        const p1 = peerConnect(target, port);
        const acc = await call<WSK_SOCKET>((irp) => listenTable(s).WskAccept(s, 0, 'irp', connDispatch, null, null, irp));
        p1.write('one');
        await sleep(50);
        expect(received).toEqual([]);
        expect(control(s, WSK_EVENT_ACCEPT, null)).toBe(STATUS_SUCCESS);
        expect(control(s, WSK_EVENT_ACCEPT | WSK_EVENT_DISABLE, null)).toBe(STATUS_SUCCESS);
        expect(control(s, WSK_EVENT_ACCEPT, null)).toBe(STATUS_SUCCESS);
        const p2 = peerConnect(target, port);
        await until(() => viaEvent.length === 1, 5000, 'accept event');
        p2.write('two');
        await until(() => received.length === 1, 5000, 'receive event');
        expect(received).toEqual(['ev:two']);
        p1.destroy(); p2.destroy();
        for (const x of [acc.information, viaEvent[0]!, s]) await close(x);
        await w.close();
      });

      it('R30: a queued WskAccept / WskReceive is served before the event callback', async () => {
        const w = await openSession(factory);
        let events = 0;
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = { WskReceiveEvent: () => { events++; return STATUS_SUCCESS; }, WskDisconnectEvent: null, WskSendBacklogEvent: null };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE);
        const data = new Uint8Array(10);
        const rcv = start<number>((irp) => connTable(sock).WskReceive(sock, buf(data), 0, irp));
        peer.write('abc');
        const r = await rcv.done;
        expect([r.status, r.information, events]).toEqual([STATUS_SUCCESS, 3, 0]);
        peer.destroy();
        for (const s of [sock, listen]) await close(s);
        await w.close();
      });

      it('R31: partial accept and STATUS_DATA_NOT_ACCEPTED pause indications until a WskReceive (zero-length resumes)', async () => {
        const w = await openSession(factory);
        const indications: Array<{ bytes: string; n: number }> = [];
        let mode: 'partial' | 'refuse' | 'all' = 'partial';
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: (_c, _f, list, n, accepted) => {
            indications.push({ bytes: bytesOf(list).toString(), n });
            if (mode === 'partial') { accepted.value = 2; return STATUS_SUCCESS; }
            if (mode === 'refuse') return STATUS_DATA_NOT_ACCEPTED;
            return STATUS_SUCCESS;
          },
          WskDisconnectEvent: null, WskSendBacklogEvent: null,
        };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE);
        peer.write('abcdef');
        await until(() => indications.length === 1);
        peer.write('gh');
        await sleep(50);
        expect(indications).toEqual([{ bytes: 'abcdef', n: 6 }]); // paused after partial accept
        let backlog = { value: -1 };
        await call((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskIoctl, 0x4f000004, 0, 0, null, 8, backlog, null, irp));
        expect(backlog.value).toBe(6); // 'cdef' + 'gh' buffered (SIO_WSK_QUERY_RECEIVE_BACKLOG)
        mode = 'refuse';
        const z = await call<number>((irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(0)), 0, irp));
        expect([z.status, z.information]).toEqual([STATUS_SUCCESS, 0]);
        await until(() => indications.length === 2);
        expect(indications[1]).toEqual({ bytes: 'cdefgh', n: 6 });
        mode = 'all';
        const small = new Uint8Array(3);
        const r = await call<number>((irp) => connTable(sock).WskReceive(sock, buf(small), 0, irp));
        expect([r.information, Buffer.from(small).toString()]).toEqual([3, 'cde']);
        await until(() => indications.length === 3);
        expect(indications[2]).toEqual({ bytes: 'fgh', n: 3 });
        peer.write('ij');
        await until(() => indications.length === 4);
        expect(indications[3]!.bytes).toBe('ij');
        backlog = { value: -1 };
        await call((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskIoctl, 0x4f000004, 0, 0, null, 8, backlog, null, irp));
        expect(backlog.value).toBe(0);
        peer.destroy();
        for (const s of [sock, listen]) await close(s);
        await w.close();
      });

      it('R31/R15: a WskReceive posted from inside WskReceiveEvent receives only what the indication did not accept', async () => {
        const w = await openSession(factory);
        let sockRef: WSK_SOCKET | null = null;
        let inner: ReturnType<typeof start<number>> | null = null;
        const into = new Uint8Array(16);
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: (_c, _f, _list, _n, accepted) => {
            if (!inner) inner = start<number>((irp) => connTable(sockRef!).WskReceive(sockRef!, buf(into), 0, irp));
            accepted.value = 2;
            return STATUS_SUCCESS;
          },
          WskDisconnectEvent: null, WskSendBacklogEvent: null,
        };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE);
        sockRef = sock;
        peer.write('abcdef');
        await until(() => inner !== null);
        const r = await inner!.done;
        expect(Buffer.from(into.subarray(0, r.information)).toString()).toBe('cdef');
        peer.destroy();
        for (const s of [sock, listen]) await close(s);
        await w.close();
      });

      it('R31/R33: STATUS_PENDING retains the indication list until WskRelease; unknown or second release is STATUS_INVALID_PARAMETER', async () => {
        const w = await openSession(factory);
        const kept: WSK_DATA_INDICATION[] = [];
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: (_c, _f, list) => { kept.push(list!); return STATUS_PENDING; }, WskDisconnectEvent: null, WskSendBacklogEvent: null,
        };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE);
        peer.write('first');
        await until(() => kept.length === 1);
        peer.write('second');
        await until(() => kept.length === 2); // retention does not pause indications
        expect(bytesOf(kept[0]!).toString()).toBe('first');
        expect(mdlChainByteCount(kept[1]!.Buffer.Mdl)).toBe(6);
        expect(connTable(sock).WskRelease(sock, kept[0]!)).toBe(STATUS_SUCCESS);
        expect(connTable(sock).WskRelease(sock, kept[0]!)).toBe(STATUS_INVALID_PARAMETER);
        expect(connTable(sock).WskRelease(sock, { Next: null, Buffer: buf(new Uint8Array(1)) })).toBe(STATUS_INVALID_PARAMETER);
        peer.destroy();
        await close(sock);
        // Close does not release retained lists: they stay valid and are still released by WskRelease.
        expect(bytesOf(kept[1]!).toString()).toBe('second');
        expect(connTable(sock).WskRelease(sock, kept[1]!)).toBe(STATUS_SUCCESS);
        await close(listen);
        await w.close();
      });
    }

    it('R32: STATUS_DATA_NOT_ACCEPTED from WskReceiveFromEvent disables a dynamically enabled event; re-enabling indicates the buffered datagram', async () => {
      const w = await openSession(factory);
      const got: string[] = [];
      let refuse = true;
      const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
          for (let d = list; d; d = d.Next) forEachWskBufSegment(d.Buffer, (b) => got.push(Buffer.from(b).toString()));
          return refuse ? STATUS_DATA_NOT_ACCEPTED : STATUS_SUCCESS;
        },
      };
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch);
      await bind(dg, makeSockaddrIn(hostIp, 0));
      const port = await localPort(dg);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null)).toBe(STATUS_SUCCESS);
      const peer = await target.udpPeer(AF_INET);
      await peer.send(Buffer.from('d1'), port, hostIp);
      await until(() => got.length === 1);
      await peer.send(Buffer.from('d2'), port, hostIp);
      await sleep(50);
      expect(got).toEqual(['d1']); // event now disabled, both datagrams buffered
      refuse = false;
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null)).toBe(STATUS_SUCCESS);
      await until(() => got.length === 3);
      expect(got).toEqual(['d1', 'd1', 'd2']);
      await peer.close();
      await close(dg);
      await w.close();
    });

    it('R31/R33: STATUS_PENDING from WskReceiveFromEvent retains the datagram list past close until WskRelease; unknown or second release is STATUS_INVALID_PARAMETER', async () => {
      const w = await openSession(factory);
      const lists: WSK_DATAGRAM_INDICATION[] = [];
      const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
        WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => { lists.push(list!); return STATUS_PENDING; },
      };
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET, null, dispatch);
      await bind(dg, makeSockaddrIn(hostIp, 0));
      const port = await localPort(dg);
      expect(control(dg, WSK_EVENT_RECEIVE_FROM, null)).toBe(STATUS_SUCCESS);
      const peer = await target.udpPeer(AF_INET);
      for (let i = 0; i < 5; i++) {
        await peer.send(Buffer.from(`retained-${i}`), port, hostIp);
        await until(() => lists.length === i + 1);
      }
      // A busy sender's later datagrams do not overwrite what the application still holds.
      for (let i = 0; i < 5; i++) await peer.send(Buffer.from(`other-${i}`), port, hostIp);
      await sleep(30);
      const text = (l: WSK_DATAGRAM_INDICATION) => {
        const parts: string[] = [];
        for (let d: WSK_DATAGRAM_INDICATION | null = l; d; d = d.Next) forEachWskBufSegment(d.Buffer, (b) => parts.push(Buffer.from(b).toString()));
        return parts.join('|');
      };
      expect(lists.slice(0, 5).map(text)).toEqual([0, 1, 2, 3, 4].map((i) => `retained-${i}`));
      const t = dgTable(dg);
      expect(t.WskRelease(dg, lists[0]!)).toBe(STATUS_SUCCESS);
      expect(t.WskRelease(dg, lists[0]!)).toBe(STATUS_INVALID_PARAMETER);
      expect(t.WskRelease(dg, { ...lists[1]!, Next: null })).toBe(STATUS_INVALID_PARAMETER);
      await close(dg);
      expect(text(lists[1]!)).toBe('retained-1');
      for (const l of lists.slice(1)) expect(t.WskRelease(dg, l)).toBe(STATUS_SUCCESS);
      await peer.close();
      await w.close();
    });

    if (target.streams) {
      it('R34: STATUS_REQUEST_NOT_ACCEPTED from WskAcceptEvent closes the connection (the peer sees it end)', async () => {
        const w = await openSession(factory);
        let calls = 0;
        const listenDispatch: WSK_CLIENT_LISTEN_DISPATCH = {
          WskAcceptEvent: (_c, _f, local, remote) => {
            calls++;
            expect((local as { sin_family: number }).sin_family).toBe(AF_INET);
            expect((remote as { sin_family: number }).sin_family).toBe(AF_INET);
            return STATUS_REQUEST_NOT_ACCEPTED;
          },
          WskInspectEvent: null, WskAbortEvent: null,
        };
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET, null, listenDispatch);
        await bind(s, host(AF_INET));
        expect(control(s, WSK_EVENT_ACCEPT, null)).toBe(STATUS_SUCCESS);
        const peer = target.tcpConnect(AF_INET, await localPort(s));
        // Reset, or FIN: a half-open peer sees 'end' (and 'close' only once it ends too).
        const outcome = await new Promise<string>((resolve) => {
          peer.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          peer.on('end', () => resolve('ended'));
          peer.on('close', () => resolve('closed'));
          peer.resume();
        });
        peer.destroy();
        expect(['ECONNRESET', 'ended', 'closed']).toContain(outcome);
        expect(calls).toBe(1);
        await close(s);
        await w.close();
      });

      it('R35: conditional accept — reject, accept, pend + WskInspectComplete, abort while pended, SIO_WSK_QUERY_INSPECT_ID', async () => {
        const w = await openSession(factory);
        const inspected: WSK_INSPECT_ID[] = [];
        const aborted: WSK_INSPECT_ID[] = [];
        const accepted: WSK_SOCKET[] = [];
        let action = WskInspectReject;
        const listenDispatch: WSK_CLIENT_LISTEN_DISPATCH = {
          WskAcceptEvent: (_c, _f, _l, _r, sock) => { accepted.push(sock!); return STATUS_SUCCESS; },
          WskInspectEvent: (_c, _l, _r, id) => { inspected.push({ ...id! }); return action; },
          WskAbortEvent: (_c, id) => { aborted.push({ ...id }); return STATUS_SUCCESS; },
        };
        const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET, null, listenDispatch);
        const set = await call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, SO_CONDITIONAL_ACCEPT, SOL_SOCKET, 4, { value: 1 }, 0, null, null, irp));
        expect(set.status).toBe(STATUS_SUCCESS);
        await bind(s, host(AF_INET));
        expect(control(s, WSK_EVENT_ACCEPT, null)).toBe(STATUS_SUCCESS);
        const port = await localPort(s);
        const connect = () => peerConnect(target, port);
        const p1 = connect();
        await until(() => inspected.length === 1);
        await sleep(30);
        expect(accepted.length).toBe(0);
        action = WskInspectAccept;
        const p2 = connect();
        await until(() => accepted.length === 1);
        const id = { Key: 0, SerialNumber: 0 };
        const q = (accepted[0]!.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(accepted[0]!, WskIoctl, SIO_WSK_QUERY_INSPECT_ID, 0, 0, null, 16, id, null, null);
        expect(q).toBe(STATUS_SUCCESS);
        expect(id).toEqual(inspected[1]);
        action = WskInspectPend;
        const p3 = connect();
        await until(() => inspected.length === 3);
        await sleep(30);
        expect(accepted.length).toBe(1);
        const done = await call((irp) => listenTable(s).WskInspectComplete(s, { ...inspected[2]! }, WskInspectAccept, irp));
        expect(done.status).toBe(STATUS_SUCCESS);
        await until(() => accepted.length === 2);
        const p4 = connect();
        await until(() => inspected.length === 4);
        p4.resetAndDestroy();
        await until(() => aborted.length === 1, 5000, 'abort event');
        expect(aborted[0]).toEqual(inspected[3]);
        // An aborted request establishes nothing even with Accept.
        await call((irp) => listenTable(s).WskInspectComplete(s, inspected[3]!, WskInspectAccept, irp));
        await sleep(30);
        expect(accepted.length).toBe(2);
        // A socket that did not come from a conditional listener has no inspect id.
        const { sock: plain, peer, listen: l2 } = await acceptedPair(w, target);
        expect((plain.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(plain, WskIoctl, SIO_WSK_QUERY_INSPECT_ID, 0, 0, null, 16, {}, null, null)).toBe(STATUS_INVALID_DEVICE_REQUEST);
        for (const p of [p1, p2, p3, peer]) p.destroy();
        for (const x of [...accepted, plain, l2, s]) await close(x);
        await w.close();
      });

      it('R36/R41/R53: peer FIN gives WskDisconnectEvent (graceful) after data; a reset gives WSK_FLAG_ABORTIVE; never WSK_FLAG_AT_DISPATCH_LEVEL', async () => {
        const w = await openSession(factory);
        const log: string[] = [];
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: (_c, flags, list) => {
            // R53: callbacks run at (emulated) PASSIVE level: the dispatch-level flag is never set.
            if (flags & 0x8) log.push('at-dispatch');
            log.push(`data:${bytesOf(list).toString()}`);
            return STATUS_SUCCESS;
          },
          WskDisconnectEvent: (_c, flags) => { log.push(flags & WSK_FLAG_ABORTIVE ? 'abortive' : 'graceful'); return STATUS_SUCCESS; },
          WskSendBacklogEvent: null,
        };
        const a = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
        a.peer.end('bye');
        await until(() => log.length === 2);
        expect(log).toEqual(['data:bye', 'graceful']);
        const b = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
        b.peer.resetAndDestroy();
        await until(() => log.length === 3);
        expect(log[2]).toBe('abortive');
        for (const s of [a.sock, a.listen, b.sock, b.listen]) await close(s);
        await w.close();
      });

      it('R38: WskCloseSocket from inside a callback completes after the callback returns; no callback follows', async () => {
        const w = await openSession(factory);
        const order: string[] = [];
        let sockRef: WSK_SOCKET | null = null;
        let closing: ReturnType<typeof start> | null = null;
        const dispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
          WskReceiveEvent: () => {
            order.push('callback');
            closing = start((irp) => connTable(sockRef!).Basic.WskCloseSocket(sockRef!, irp));
            order.push(closing.completed() ? 'closed-inside' : 'close-pending');
            return STATUS_SUCCESS;
          },
          WskDisconnectEvent: () => { order.push('disconnect-after-close'); return STATUS_SUCCESS; },
          WskSendBacklogEvent: null,
        };
        const { sock, peer, listen } = await eventPair(w, target, dispatch, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
        sockRef = sock;
        peer.end('x');
        await until(() => closing !== null);
        expect((await closing!.done).status).toBe(STATUS_SUCCESS);
        await sleep(30);
        expect(order).toEqual(['callback', 'close-pending']);
        await close(listen);
        await w.close();
      });
    }
  });
}

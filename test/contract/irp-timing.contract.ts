// R9/R10 timing, as WDM states it for every dispatch routine ("IRP completion",
// learn.microsoft.com/windows-hardware/drivers/kernel/completing-irps): a call that returns a
// status other than STATUS_PENDING has completed its IRP before it returns — completion routine
// run, IoStatus set, PendingReturned FALSE — so a driver ported line by line may IoReuseIrp or
// IoFreeIrp right after the return. A call that returns STATUS_PENDING completes later, never
// inside the call, and its completion routine sees PendingReturned TRUE.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, IoAllocateIrp, IoCancelIrp, IoFreeIrp, IoReuseIrp, IoSetCompletionRoutine, NPI_WSK_INTERFACE_ID, NS_ALL,
  SO_RCVBUF, SO_WSK_EVENT_CALLBACK, SOCK_DGRAM, SOCKADDR_STORAGE, SOL_SOCKET, STATUS_CANCELLED, STATUS_DATA_NOT_ACCEPTED,
  STATUS_INVALID_PARAMETER, STATUS_MORE_PROCESSING_REQUIRED, STATUS_NOT_IMPLEMENTED, STATUS_PENDING, STATUS_SUCCESS,
  STATUS_UNSUCCESSFUL, IPPROTO_UDP, UNICODE_STRING, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_ABORTIVE,
  WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_FLAG_STREAM_SOCKET,
  WSK_TRANSPORT_LIST_CHANGE, WSK_TRANSPORT_LIST_QUERY, WskGetOption, WskInspectAccept, WskSetOption, makeSockaddrIn,
  makeSockaddrIn6, type IRP, type NTSTATUS, type PADDRINFOEXW, type WSK_CLIENT_CONNECTION_DISPATCH,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_STREAM_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, until } from '../helpers/wsk-call.ts';
import { openSession, type WskSession } from '../helpers/wsk-session.ts';
import {
  bind, buf, close, connTable, dgTable, hostSockaddr, listener, listenTable, localPort, peerConnect, socket,
} from './fixtures.ts';
import type { ContractTarget } from './target.ts';

type Call = (irp: IRP) => NTSTATUS;

/** SO_WSK_EVENT_CALLBACK without an IRP. */
const enableEvents = (s: WSK_SOCKET, mask: number): NTSTATUS => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH)
  .WskControlSocket(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: mask }, 0, null, null, null);
interface Observed { returned: NTSTATUS; runsInside: number; status: NTSTATUS; pendingReturned: boolean }

/**
 * Issues `fn` on `irp` as a C driver does (IoSetCompletionRoutine, then the call) and reports
 * what the caller sees the moment the call returns.
 */
function issue(irp: IRP, fn: Call): Observed & { runs: () => number; lastPendingReturned: () => boolean } {
  let runs = 0;
  let pendingReturned = false;
  IoSetCompletionRoutine(irp, (_d, i) => {
    runs++;
    pendingReturned = i.PendingReturned;
    return STATUS_MORE_PROCESSING_REQUIRED;
  }, null, true, true, true);
  const returned = fn(irp);
  return {
    returned, runsInside: runs, status: irp.IoStatus.Status, pendingReturned,
    runs: () => runs, lastPendingReturned: () => pendingReturned,
  };
}

/** Sockets in the states the error cases need, made through WSK itself. */
async function fixtures(w: WskSession, target: ContractTarget) {
  const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
  const listen = await socket(w, WSK_FLAG_LISTEN_SOCKET);
  const conn = target.streams ? await socket(w, WSK_FLAG_CONNECTION_SOCKET) : null;
  const stream = target.streams ? await socket(w, WSK_FLAG_STREAM_SOCKET) : null;
  return { dg, listen, conn, stream, all: [dg, listen, conn, stream].filter((s): s is WSK_SOCKET => s !== null) };
}

/** One call of every kind that fails before its operation starts, with what it must return. */
function failingCalls(w: WskSession, target: ContractTarget, f: Awaited<ReturnType<typeof fixtures>>): Array<[string, Call]> {
  const host = hostSockaddr(target, AF_INET);
  const foreign = {} as WSK_SOCKET;
  const { dg, listen, conn, stream } = f;
  const basic = dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;
  const calls: Array<[string, Call]> = [
    ['WskSocket (unknown Flags)', (irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, 0x40, null, null, null, null, null, irp)],
    ['WskSocket (foreign client)', (irp) => w.Dispatch.WskSocket({}, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp)],
    ['WskSocketConnect (Flags != 0)', (irp) => w.Dispatch.WskSocketConnect(w.Client, 1, 6, host, host, 1, null, null, null, null, null, irp)],
    ['WskControlClient (an IRP where none is allowed)', (irp) => w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_QUERY, 0, null, 0, null, null, irp)],
    ['WskGetAddressInfo (no node, no service)', (irp) => w.Dispatch.WskGetAddressInfo(w.Client, null, null, NS_ALL, null, null, { value: null }, null, null, irp)],
    ['WskGetNameInfo (no output string)', (irp) => w.Dispatch.WskGetNameInfo(w.Client, host, 16, null, null, 0, null, null, irp)],
    ['WskControlSocket (unknown option)', (irp) => basic.WskControlSocket(dg, WskSetOption, 0x7777, SOL_SOCKET, 4, 1, 0, null, null, irp)],
    ['WskControlSocket (foreign socket)', (irp) => basic.WskControlSocket(foreign, WskSetOption, SO_RCVBUF, SOL_SOCKET, 4, 1, 0, null, null, irp)],
    ['WskCloseSocket (foreign socket)', (irp) => basic.WskCloseSocket(foreign, irp)],
    ['WskBind (address of another family)', (irp) => dgTable(dg).WskBind(dg, makeSockaddrIn6('::1', 0), 0, irp)],
    ['WskGetLocalAddress (unbound)', (irp) => dgTable(dg).WskGetLocalAddress(dg, SOCKADDR_STORAGE(), irp)],
    ['WskSendTo (unbound)', (irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(4)), 0, host, 0, null, irp)],
    ['WskReceiveFrom (unbound)', (irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(4)), 0, null, null, null, null, irp)],
    ['WskSendMessages (no buffer list)', (irp) => dgTable(dg).WskSendMessages(dg, null, 0, host, 0, null, irp)],
    ['WskAccept (unbound)', (irp) => listenTable(listen).WskAccept(listen, 0, null, null, null, null, irp)],
    ['WskInspectComplete (no inspect ID)', (irp) => listenTable(listen).WskInspectComplete(listen, null, WskInspectAccept, irp)],
  ];
  if (conn && stream) {
    const c = connTable(conn);
    calls.push(
      ['WskConnect (unbound)', (irp) => c.WskConnect(conn, host, 0, irp)],
      ['WskConnectEx (Flags != 0)', (irp) => c.WskConnectEx(conn, host, null, 1, irp)],
      ['WskGetRemoteAddress (not connected)', (irp) => c.WskGetRemoteAddress(conn, SOCKADDR_STORAGE(), irp)],
      ['WskSend (not connected)', (irp) => c.WskSend(conn, buf(new Uint8Array(4)), 0, irp)],
      ['WskReceive (not connected)', (irp) => c.WskReceive(conn, buf(new Uint8Array(4)), 0, irp)],
      ['WskDisconnect (not connected)', (irp) => c.WskDisconnect(conn, null, 0, irp)],
      ['WskSendEx (not connected)', (irp) => c.WskSendEx(conn, buf(new Uint8Array(4)), 0, 0, null, irp)],
      ['WskReceiveEx (not connected)', (irp) => c.WskReceiveEx(conn, buf(new Uint8Array(4)), 0, null, null, null, irp)],
      ['WskListen (unbound)', (irp) => (stream.Dispatch as WSK_PROVIDER_STREAM_DISPATCH).WskListen(stream, irp)],
    );
  }
  return calls;
}

export function irpTimingContract(target: ContractTarget): void {
  const { factory } = target;
  const host = (port = 0) => hostSockaddr(target, AF_INET, port);
  const hostIp = target.hostAddress(AF_INET);

  describe('IRP completion timing (R9/R10, WDM)', () => {
    it('a call that returns anything but STATUS_PENDING has completed its IRP: IoReuseIrp at once (one IRP for every kind of call)', async () => {
      const w = await openSession(factory);
      const f = await fixtures(w, target);
      // The C idiom: one IRP per context, reused for each call as soon as the previous one is done.
      const irp = IoAllocateIrp(1);
      for (const [what, fn] of failingCalls(w, target, f)) {
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
        const o = issue(irp, fn);
        expect(o.returned, what).not.toBe(STATUS_PENDING);
        expect([o.runsInside, o.status, o.pendingReturned], what).toEqual([1, o.returned, false]);
      }
      IoFreeIrp(irp);
      for (const s of f.all) expect(await close(s)).toBe(STATUS_SUCCESS);
      await w.close();
    });

    it('a call that returns anything but STATUS_PENDING has completed its IRP: IoFreeIrp at once (every kind of call)', async () => {
      const w = await openSession(factory);
      const f = await fixtures(w, target);
      for (const [what, fn] of failingCalls(w, target, f)) {
        const irp = IoAllocateIrp(1);
        const o = issue(irp, fn);
        expect(o.returned, what).not.toBe(STATUS_PENDING);
        expect(() => IoFreeIrp(irp), what).not.toThrow();
        // Nothing completes it again later.
        await new Promise((r) => setImmediate(r));
        expect(o.runs(), what).toBe(1);
      }
      for (const s of f.all) expect(await close(s)).toBe(STATUS_SUCCESS);
      await w.close();
    });

    it('a call that returns STATUS_PENDING never completes inside the call, even when its work is done at once; the routine sees PendingReturned', async () => {
      const w = await openSession(factory);
      // Receive events that refuse what they are offered, so that it stays buffered for an IRP.
      let refused = 0;
      let refusedData = 0;
      const dgDispatch: WSK_CLIENT_DATAGRAM_DISPATCH = { WskReceiveFromEvent: () => { refused++; return STATUS_DATA_NOT_ACCEPTED; } };
      const connDispatch: WSK_CLIENT_CONNECTION_DISPATCH = {
        WskReceiveEvent: (_c, _f, list) => { if (list) refusedData++; return STATUS_DATA_NOT_ACCEPTED; },
        WskDisconnectEvent: null, WskSendBacklogEvent: null,
      };
      const resolved: { value: PADDRINFOEXW } = { value: null };
      const pendings: Array<{ what: string; o: ReturnType<typeof issue> }> = [];
      /** Issues a call that must return STATUS_PENDING, and waits for its completion. */
      const pending = async (what: string, fn: Call): Promise<IRP> => {
        const irp = IoAllocateIrp(1);
        const o = issue(irp, fn);
        expect([o.returned, o.runsInside], what).toEqual([STATUS_PENDING, 0]);
        pendings.push({ what, o });
        await until(() => o.runs() > 0, 5000, what);
        expect([o.runs(), o.lastPendingReturned()], what).toEqual([1, true]);
        return irp;
      };
      const created = await pending('WskSocket', (irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, dgDispatch, null, null, null, irp));
      const dg = created.IoStatus.Information as WSK_SOCKET;
      await pending('WskBind', (irp) => dgTable(dg).WskBind(dg, host(), 0, irp));
      expect(enableEvents(dg, WSK_EVENT_RECEIVE_FROM)).toBe(STATUS_SUCCESS);
      await pending('WskGetLocalAddress', (irp) => dgTable(dg).WskGetLocalAddress(dg, SOCKADDR_STORAGE(), irp));
      await pending('WskControlSocket (get SO_RCVBUF)', (irp) => (dg.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(dg, WskGetOption, SO_RCVBUF, SOL_SOCKET, 0, null, 4, { value: 0 }, null, irp));
      // A datagram already waiting: WskReceiveFrom has its data at once and still pends.
      const port = await localPort(dg);
      const peer = await target.udpPeer(AF_INET);
      await peer.send(Uint8Array.of(7), port, hostIp);
      await until(() => refused > 0, 5000, 'the datagram buffered (WskReceiveFromEvent refused it)');
      const received = await pending('WskReceiveFrom (a datagram already queued)', (irp) => dgTable(dg).WskReceiveFrom(dg, buf(new Uint8Array(8)), 0, null, null, null, null, irp));
      expect([received.IoStatus.Status, received.IoStatus.Information]).toEqual([STATUS_SUCCESS, 1]);
      await pending('WskSendTo', (irp) => dgTable(dg).WskSendTo(dg, buf(new Uint8Array(3)), 0, makeSockaddrIn(peer.address, peer.port), 0, null, irp));
      expect((await peer.next()).data.byteLength).toBe(3);
      await pending('WskGetAddressInfo (numeric)', (irp) => w.Dispatch.WskGetAddressInfo(w.Client, UNICODE_STRING(hostIp), UNICODE_STRING('80'), NS_ALL, null, null, resolved, null, null, irp));
      w.Dispatch.WskFreeAddressInfo(w.Client, resolved.value);
      // WSK_TRANSPORT_LIST_CHANGE pends until cancelled: cancelling completes it after IoCancelIrp returns.
      const change = IoAllocateIrp(1);
      const c = issue(change, (irp) => w.Dispatch.WskControlClient(w.Client, WSK_TRANSPORT_LIST_CHANGE, 0, null, 0, null, null, irp));
      expect([c.returned, c.runsInside]).toEqual([STATUS_PENDING, 0]);
      IoCancelIrp(change);
      expect(c.runs()).toBe(0);
      await until(() => c.runs() > 0);
      expect([change.IoStatus.Status, c.lastPendingReturned()]).toEqual([STATUS_CANCELLED, true]);
      if (target.streams) {
        const { sock: listen, port: listenPort } = await listener(w, target);
        const tcpPeer = peerConnect(target, listenPort);
        const sock = (await call<WSK_SOCKET>((irp) => listenTable(listen).WskAccept(listen, 0, null, connDispatch, null, null, irp))).information;
        // Bytes already buffered (the receive event refused them): WskReceive has them at once and still pends.
        expect(enableEvents(sock, WSK_EVENT_RECEIVE)).toBe(STATUS_SUCCESS);
        tcpPeer.write('abc');
        await until(() => refusedData > 0, 5000, 'the bytes buffered (WskReceiveEvent refused them)');
        const got = await pending('WskReceive (bytes already buffered)', (irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(8)), 0, irp));
        expect(got.IoStatus.Information).toBe(3);
        await pending('WskReceive (zero length)', (irp) => connTable(sock).WskReceive(sock, buf(new Uint8Array(0)), 0, irp));
        await pending('WskDisconnect (abortive)', (irp) => connTable(sock).WskDisconnect(sock, null, WSK_FLAG_ABORTIVE, irp));
        await pending('WskCloseSocket (connection)', (irp) => connTable(sock).Basic.WskCloseSocket(sock, irp));
        tcpPeer.destroy();
        await close(listen);
      }
      // A UDP socket created as a listening socket: bind pends, then completes STATUS_NOT_IMPLEMENTED, Information 0.
      const udpListen = (await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp))).information;
      const bound = await pending('WskBind (UDP listening socket)', (irp) => { irp.IoStatus.Information = 0xdeadbeef; return listenTable(udpListen).WskBind(udpListen, host(), 0, irp); });
      expect([bound.IoStatus.Status, bound.IoStatus.Information]).toEqual([STATUS_NOT_IMPLEMENTED, 0]);
      await pending('WskCloseSocket (listen)', (irp) => listenTable(udpListen).Basic.WskCloseSocket(udpListen, irp));
      await pending('WskCloseSocket (datagram)', (irp) => dgTable(dg).Basic.WskCloseSocket(dg, irp));
      for (const p of pendings) expect(p.o.runs(), p.what).toBe(1);
      await peer.close();
      await w.close();
    });

    it('a completion routine run inside a failing call may reuse the IRP and start the next call from inside', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      const irp = IoAllocateIrp(1);
      const seen: Array<[string, NTSTATUS, boolean]> = [];
      let inner: NTSTATUS | null = null;
      IoSetCompletionRoutine(irp, (_d, i) => {
        seen.push(['first', i.IoStatus.Status, i.PendingReturned]);
        // The retry idiom: same IRP, a corrected request, from the completion routine itself.
        IoReuseIrp(i, STATUS_UNSUCCESSFUL);
        IoSetCompletionRoutine(i, (_d2, j) => { seen.push(['retry', j.IoStatus.Status, j.PendingReturned]); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
        inner = dgTable(dg).WskBind(dg, host(), 0, i);
        return STATUS_MORE_PROCESSING_REQUIRED;
      }, null, true, true, true);
      const returned = dgTable(dg).WskBind(dg, makeSockaddrIn6('::1', 0), 0, irp);
      expect(returned).toBe(STATUS_INVALID_PARAMETER);
      expect(inner).toBe(STATUS_PENDING);
      expect(seen).toEqual([['first', STATUS_INVALID_PARAMETER, false]]);
      await until(() => seen.length === 2);
      expect(seen[1]).toEqual(['retry', STATUS_SUCCESS, true]);
      expect(await localPort(dg)).toBeGreaterThan(0);
      IoFreeIrp(irp);
      expect(await close(dg)).toBe(STATUS_SUCCESS);
      await w.close();
    });

    it('a completion routine that throws inside a failing call: the call still returns its status, the IRP is free, the runtime keeps working', async () => {
      const w = await openSession(factory);
      const dg = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
      const caught: unknown[] = [];
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.on('uncaughtException', (e) => caught.push(e));
      try {
        const irp = IoAllocateIrp(1);
        IoSetCompletionRoutine(irp, () => { throw new Error('client bug'); }, null, true, true, true);
        let returned: NTSTATUS | null = null;
        expect(() => { returned = dgTable(dg).WskSendTo(dg, buf(new Uint8Array(1)), 0, host(9), 0, null, irp); }).not.toThrow();
        expect(returned).not.toBe(STATUS_PENDING);
        expect(irp.IoStatus.Status).toBe(returned);
        IoReuseIrp(irp, STATUS_UNSUCCESSFUL);
        IoFreeIrp(irp);
        // The same socket still binds and answers.
        expect(await bind(dg, host())).toBe(STATUS_SUCCESS);
        expect(await localPort(dg)).toBeGreaterThan(0);
        await until(() => caught.length > 0);
        expect(caught.map((e) => (e as Error).message)).toEqual(['client bug']);
      } finally {
        process.removeAllListeners('uncaughtException');
        for (const l of listeners) process.on('uncaughtException', l);
      }
      expect(await close(dg)).toBe(STATUS_SUCCESS);
      await w.close();
    });
  });
}

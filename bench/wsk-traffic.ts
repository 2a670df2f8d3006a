// WSK applications the benchmarks run on any subsystem: a TCP server that sinks, sources or
// echoes (one connection at a time is what the benchmarks need, any number are served), and a
// UDP echo. Written only against the WSK API, the way a ported driver would be: data arrives
// through WskReceiveEvent as views of the transport's buffers; the echo retains the indication
// (STATUS_PENDING), sends those same bytes and calls WskRelease once the sends completed; the
// source keeps a fixed amount of WskSend requests posted (sends complete when acknowledged).
import {
  AF_INET, IPPROTO_TCP, IPPROTO_UDP, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, MAKE_WSK_VERSION,
  NPI_WSK_INTERFACE_ID, SOCK_DGRAM, SOCK_STREAM, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED,
  STATUS_PENDING, STATUS_SUCCESS, WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_ABORTIVE,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI,
  SOCKADDR_STORAGE, WskDeregister, WskRegister, WskReleaseProviderNPI, WskSetOption, makeSockaddrIn, ntohs,
  type IRP, type NTSTATUS, type WSK_CLIENT_CONNECTION_DISPATCH, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATA_INDICATION,
  type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_CONNECTION_DISPATCH,
  type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH, type WSK_SOCKET, type WskSubsystem,
} from '../index.ts';

export type ServerMode = 'sink' | 'source' | 'echo';

export interface TransferResult { bytes: number; gbps: number }

export interface TrafficServer {
  /** The port it listens on (the one asked for, or the one chosen for port 0). */
  readonly port: number;
  /** Connections accepted and not yet closed. */
  readonly open: number;
  /** The next sink/source connection's figures, once it ended. */
  nextResult(): Promise<TransferResult>;
  stop(): Promise<void>;
}

interface Connection { sock: WSK_SOCKET | null; bytes: number; t0: number; finSent: boolean; peerEnded: boolean }

/** One IRP-based operation with its IoStatus delivered to `done` (the C completion-routine pattern). */
function op(irp: IRP, start: (irp: IRP) => NTSTATUS, done: (status: NTSTATUS, info: unknown) => void): void {
  IoReuseIrp(irp, STATUS_SUCCESS);
  IoSetCompletionRoutine(irp, (_d, i) => { done(i.IoStatus.Status, i.IoStatus.Information); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
  start(irp);
}

function opAsync(start: (irp: IRP) => NTSTATUS): Promise<{ status: NTSTATUS; info: unknown }> {
  return new Promise((resolve) => op(IoAllocateIrp(1), start, (status, info) => resolve({ status, info })));
}

async function register(subsystem: WskSubsystem): Promise<{ npi: WSK_PROVIDER_NPI; done: () => Promise<void> }> {
  const reg = WSK_REGISTRATION();
  WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, reg, subsystem);
  const npi = WSK_PROVIDER_NPI();
  await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi);
  return { npi, done: async () => { WskReleaseProviderNPI(reg); await WskDeregister(reg); } };
}

function enableEvents(sock: WSK_SOCKET, mask: number): void {
  (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: mask }, 0, null, null, null);
}

export interface ServerOptions {
  address: string;
  /** 0: any free port (see TrafficServer.port). */
  port: number;
  mode: ServerMode;
  /** source: how long to send; read when each connection starts, so it may be changed between connections. */
  seconds?: number;
  /** source: bytes kept posted in WskSend requests (default 4 MiB). */
  backlogBytes?: number;
}

/** A TCP server on `subsystem`; see the file comment. */
export async function startTrafficServer(subsystem: WskSubsystem, o: ServerOptions): Promise<TrafficServer> {
  const { npi, done } = await register(subsystem);
  const D = npi.Dispatch!;
  const open = new Set<WSK_SOCKET>();
  const results: TransferResult[] = [];
  const waiters: ((r: TransferResult) => void)[] = [];
  const report = (r: TransferResult): void => { const w = waiters.shift(); if (w) w(r); else results.push(r); };
  const sendChunk = new Uint8Array(256 * 1024).fill(0x5a);
  const sendBuf = { Mdl: IoAllocateMdl(sendChunk), Offset: 0, Length: sendChunk.byteLength };

  const close = (sock: WSK_SOCKET): void => {
    if (!open.delete(sock)) return;
    op(IoAllocateIrp(1), (i) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(sock, i), () => {});
  };
  // WskCloseSocket is abortive until both directions are shut (runtime/wsk/connection.ts,
  // closeConnection): a source that closed once its own FIN was handed over reset the peer still
  // reading the last of the data whenever the peer was slower than the app (a busy machine).
  const closeWhenShut = (c: Connection): void => { if (c.finSent && c.peerEnded) close(c.sock!); };
  const finish = (c: Connection): void => {
    const sock = c.sock!;
    op(IoAllocateIrp(1), (i) => (sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH).WskDisconnect(sock, null, 0, i), () => { c.finSent = true; closeWhenShut(c); });
  };

  const events: WSK_CLIENT_CONNECTION_DISPATCH = {
    WskReceiveEvent: (ctx, _flags, list, bytes) => {
      const c = ctx as Connection;
      if (!list) return STATUS_SUCCESS;
      if (o.mode !== 'echo') {
        if (c.bytes === 0) c.t0 = performance.now();
        c.bytes += bytes;
        return STATUS_SUCCESS;
      }
      const sock = c.sock!;
      const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
      let outstanding = 0;
      for (let d: WSK_DATA_INDICATION | null = list; d; d = d.Next) outstanding++;
      for (let d: WSK_DATA_INDICATION | null = list; d; d = d.Next) {
        op(IoAllocateIrp(1), (i) => C.WskSend(sock, d!.Buffer, 0, i), () => { if (--outstanding === 0) C.WskRelease(sock, list); });
      }
      return STATUS_PENDING;
    },
    WskDisconnectEvent: (ctx, flags) => {
      const c = ctx as Connection;
      if (o.mode === 'sink') report({ bytes: c.bytes, gbps: (c.bytes * 8) / ((performance.now() - c.t0) * 1e6) });
      c.peerEnded = true;
      if (flags & WSK_FLAG_ABORTIVE) close(c.sock!); else if (o.mode === 'source') closeWhenShut(c); else finish(c);
      return STATUS_SUCCESS;
    },
    WskSendBacklogEvent: null,
  };

  const source = (c: Connection): void => {
    const sock = c.sock!;
    const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const end = performance.now() + (o.seconds ?? 2) * 1000;
    const depth = Math.max(1, Math.ceil((o.backlogBytes ?? 4 << 20) / sendChunk.byteLength));
    let outstanding = 0;
    let sent = 0;
    const t0 = performance.now();
    let failed = false;
    const post = (): void => {
      while (!failed && outstanding < depth && performance.now() < end) {
        outstanding++;
        op(IoAllocateIrp(1), (i) => C.WskSend(sock, sendBuf, 0, i), (st, n) => {
          outstanding--;
          if (st !== STATUS_SUCCESS) { failed = true; return; }
          sent += n as number;
          post();
          if (outstanding === 0 && (failed || performance.now() >= end)) {
            report({ bytes: sent, gbps: (sent * 8) / ((performance.now() - t0) * 1e6) });
            finish(c);
          }
        });
      }
    };
    post();
  };

  const listen = (await opAsync((i) => D.WskSocket(npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, i))).info as WSK_SOCKET;
  const L = listen.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
  const bound = await opAsync((i) => L.WskBind(listen, makeSockaddrIn(o.address, o.port), 0, i));
  if (bound.status !== STATUS_SUCCESS) throw new Error(`WskBind ${o.address}:${o.port}: 0x${(bound.status >>> 0).toString(16)}`);
  const local = SOCKADDR_STORAGE();
  await opAsync((i) => L.WskGetLocalAddress(listen, local, i));
  const acceptIrp = IoAllocateIrp(1);
  let stopping = false;
  const accept = (): void => {
    const c: Connection = { sock: null, bytes: 0, t0: 0, finSent: false, peerEnded: false };
    op(acceptIrp, (i) => L.WskAccept(listen, 0, c, events, null, null, i), (st, info) => {
      if (st !== STATUS_SUCCESS || stopping) return;
      const sock = info as WSK_SOCKET;
      c.sock = sock;
      open.add(sock);
      enableEvents(sock, WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
      if (o.mode === 'source') source(c);
      accept();
    });
  };
  accept();
  return {
    port: ntohs(local.sin_port!),
    get open() { return open.size; },
    nextResult: () => new Promise((resolve) => { const r = results.shift(); if (r) resolve(r); else waiters.push(resolve); }),
    stop: async () => {
      stopping = true;
      for (const s of [...open]) {
        open.delete(s);
        await opAsync((i) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(s, i));
      }
      await opAsync((i) => L.Basic.WskCloseSocket(listen, i));
      await done();
    },
  };
}

/** A UDP echo on `subsystem`: every datagram goes back to its sender from the indication's own bytes. */
export async function startUdpEcho(subsystem: WskSubsystem, address: string, port: number): Promise<{ stop(): Promise<void> }> {
  const { npi, done } = await register(subsystem);
  const ctx: { sock: WSK_SOCKET | null } = { sock: null };
  const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (c, _flags, list) => {
      const sock = (c as typeof ctx).sock!;
      const Dg = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
      let outstanding = 0;
      for (let d: WSK_DATAGRAM_INDICATION | null = list; d; d = d.Next) outstanding++;
      for (let d: WSK_DATAGRAM_INDICATION | null = list; d; d = d.Next) {
        op(IoAllocateIrp(1), (i) => Dg.WskSendTo(sock, d!.Buffer, 0, d!.RemoteAddress, 0, null, i), () => {
          if (--outstanding === 0) Dg.WskRelease(sock, list!);
        });
      }
      return list ? STATUS_PENDING : STATUS_SUCCESS;
    },
  };
  const created = await opAsync((i) => npi.Dispatch!.WskSocket(npi.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, ctx, events, null, null, null, i));
  const sock = created.info as WSK_SOCKET;
  ctx.sock = sock;
  const Dg = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  const bound = await opAsync((i) => Dg.WskBind(sock, makeSockaddrIn(address, port), 0, i));
  if (bound.status !== STATUS_SUCCESS) throw new Error(`WskBind udp ${address}:${port}: 0x${(bound.status >>> 0).toString(16)}`);
  enableEvents(sock, WSK_EVENT_RECEIVE_FROM);
  return {
    stop: async () => {
      await opAsync((i) => Dg.Basic.WskCloseSocket(sock, i));
      await done();
    },
  };
}

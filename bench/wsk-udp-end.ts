// One WSK datagram socket as the UDP benchmarks drive it (bench/stack-udp.bench.ts, and each
// process of bench/kernel-udp.bench.ts through bench/udp-end.ts), written as a port would be:
// sends with a pool of IRPs each reused from its completion routine (the C pattern), receives
// through WskReceiveFromEvent.
import {
  AF_INET, AF_INET6, IPPROTO_UDP, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, MAKE_WSK_VERSION, NPI_WSK_INTERFACE_ID,
  SOCK_DGRAM, SOCKADDR_STORAGE, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS,
  WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI,
  WskRegister, WskSetOption, makeSockaddrIn, makeSockaddrIn6, ntohs, startWskSubsystem, type IRP, type NTSTATUS, type SOCKADDR,
  type TransportProvider, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_SOCKET,
} from '../index.ts';

export interface WskUdpEnd {
  /** The bound local port. */
  port: number;
  /** Sends up to `max` datagrams of `bytes` to peerIp:toPort this turn; returns how many were taken. */
  send(bytes: Uint8Array, toPort: number, max: number): number;
  onReceive: ((bytes: number) => void) | null;
  close(): Promise<void>;
}

/** Send IRPs kept in flight per socket. */
const SEND_IRPS = 128;

/** An IPv6 `bindIp` (it has a colon) makes an AF_INET6 socket (IPV6_V6ONLY, the default), sending to an IPv6 `peerIp`. */
export async function wskUdpEnd(provider: TransportProvider, bindIp: string, bindPort: number, peerIp: string): Promise<WskUdpEnd> {
  const v6 = bindIp.includes(':');
  const sockaddr = (ip: string, port: number): SOCKADDR => (v6 ? makeSockaddrIn6(ip, port) : makeSockaddrIn(ip, port));
  const sub = await startWskSubsystem(provider, { makeDefault: false, registerWithNmr: false });
  const reg = WSK_REGISTRATION();
  WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, reg, sub);
  const npi = WSK_PROVIDER_NPI();
  await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi);
  let e: WskUdpEnd | null = null;
  const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
      for (let d = list; d; d = d.Next) e?.onReceive?.(d.Buffer.Length);
      return STATUS_SUCCESS;
    },
  };
  const once = <T>(start: (irp: IRP) => NTSTATUS): Promise<T> => new Promise((res) => {
    const irp = IoAllocateIrp(1);
    IoSetCompletionRoutine(irp, (_d, i) => { res(i.IoStatus.Information as T); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
    start(irp);
  });
  const sock = await once<WSK_SOCKET>((irp) => npi.Dispatch!.WskSocket(npi.Client, v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, dispatch, null, null, null, irp));
  const D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  await once((irp) => D.WskBind(sock, sockaddr(bindIp, bindPort), 0, irp));
  const local = SOCKADDR_STORAGE();
  await once((irp) => D.WskGetLocalAddress(sock, local, irp));
  const evStatus = (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  if (evStatus !== STATUS_SUCCESS) throw new Error(`enabling WskReceiveFromEvent failed: 0x${(evStatus >>> 0).toString(16)}`);
  const free: IRP[] = [];
  const recycle = (_d: unknown, done: IRP): NTSTATUS => { free.push(done); return STATUS_MORE_PROCESSING_REQUIRED; };
  for (let i = 0; i < SEND_IRPS; i++) free.push(IoAllocateIrp(1));
  const remotes = new Map<number, SOCKADDR>();
  const buf = { Mdl: IoAllocateMdl(new Uint8Array(1)), Offset: 0, Length: 0 };
  let last: Uint8Array | null = null;
  e = {
    port: ntohs(v6 ? (local as { sin6_port: number }).sin6_port : (local as { sin_port: number }).sin_port),
    send: (bytes, toPort, max) => {
      let to = remotes.get(toPort);
      if (!to) { to = sockaddr(peerIp, toPort); remotes.set(toPort, to); }
      // An MDL only for a new buffer: the benchmarks send the same bytes over and over.
      if (bytes !== last) { buf.Mdl = IoAllocateMdl(bytes); buf.Length = bytes.length; last = bytes; }
      let n = 0;
      while (n < max && free.length > 0) {
        const irp = free.pop()!;
        IoReuseIrp(irp, STATUS_SUCCESS);
        IoSetCompletionRoutine(irp, recycle, null, true, true, true);
        D.WskSendTo(sock, buf, 0, to, 0, null, irp);
        n++;
      }
      return n;
    },
    onReceive: null,
    close: async () => { await once((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(sock, irp)); await sub.stop(); },
  };
  return e;
}

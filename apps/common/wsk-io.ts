// The synchronous-call pattern of WSK drivers (Microsoft: Using IRPs with Winsock Kernel Functions: issue the call with an IRP whose
// completion routine signals an event, wait if STATUS_PENDING, read IoStatus) as promises, for
// the ported applications that are not line-by-line ports (iperf3, HTTP). Everything here is
// plain WSK: WskRegister/WskCaptureProviderNPI, the dispatch tables, IRPs, MDLs.
//
// Errors: a failed call rejects with WskError carrying its NTSTATUS; a receive of 0 bytes is the
// peer's graceful close (not an error).
import {
  AF_INET, AF_INET6, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY, WskSetOption, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine,
  MAKE_WSK_VERSION, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, SOCK_DGRAM, SOCK_STREAM, SOCKADDR_STORAGE, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS,
  WSK_FLAG_ABORTIVE, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT,
  WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI,
  makeSockaddrIn, makeSockaddrIn6, ntStatusName, ntohs, sockaddrFamily,
  type IRP, type NTSTATUS, type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_BUF,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_PROVIDER_DATAGRAM_DISPATCH,
  type WSK_PROVIDER_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH, type WSK_SOCKET, type WskSubsystem, type PWSK_CLIENT,
} from '../../index.ts';

export class WskError extends Error {
  override name = 'WskError';
  constructor(readonly what: string, readonly status: NTSTATUS) {
    super(`${what}: ${ntStatusName(status)}`);
  }
}

interface Completion { status: NTSTATUS; information: unknown }

/** Runs one WSK call with a fresh IRP and resolves with its IoStatus once the IRP completes. */
export function callWsk(fn: (irp: IRP) => NTSTATUS, irp: IRP = IoAllocateIrp(1)): Promise<Completion> {
  return new Promise((resolve) => {
    IoReuseIrp(irp, STATUS_SUCCESS);
    IoSetCompletionRoutine(irp, (_d, i) => {
      resolve({ status: i.IoStatus.Status, information: i.IoStatus.Information });
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, true, true, true);
    fn(irp);
  });
}

async function must(what: string, p: Promise<Completion>): Promise<unknown> {
  const r = await p;
  if (r.status !== STATUS_SUCCESS) throw new WskError(what, r.status);
  return r.information;
}

/** An IPv4 or IPv6 socket address from text ("198.18.0.2", "::1") and a port. */
export function sockaddr(address: string, port: number): SOCKADDR {
  return address.includes(':') ? makeSockaddrIn6(address, port) : makeSockaddrIn(address, port);
}

/** "a.b.c.d:port" or "[v6]:port" of a SOCKADDR (v4-mapped IPv6 shown as IPv4). */
export function formatSockaddr(a: SOCKADDR): string {
  if (sockaddrFamily(a) === AF_INET) {
    const v4 = a as SOCKADDR_IN;
    return `${v4.sin_addr.join('.')}:${ntohs(v4.sin_port)}`;
  }
  const v6 = a as SOCKADDR_IN6;
  const b = v6.sin6_addr;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b.slice(12).join('.')}:${ntohs(v6.sin6_port)}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { best = i; bestLength = j - i; }
    i = j > i ? j : i + 1;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  const text = best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
  return `[${text}]:${ntohs(v6.sin6_port)}`;
}

/** A registered WSK client (WskRegister + WskCaptureProviderNPI) on a subsystem. */
export class WskApp {
  private constructor(private readonly registration: WSK_REGISTRATION, readonly Client: PWSK_CLIENT, readonly Dispatch: WSK_PROVIDER_DISPATCH) {}

  static async register(subsystem?: WskSubsystem): Promise<WskApp> {
    const registration = WSK_REGISTRATION();
    const status = WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, registration, subsystem);
    if (status !== STATUS_SUCCESS) throw new WskError('WskRegister', status);
    const npi = WSK_PROVIDER_NPI();
    const captured = await WskCaptureProviderNPI(registration, WSK_INFINITE_WAIT, npi);
    if (captured !== STATUS_SUCCESS) throw new WskError('WskCaptureProviderNPI', captured);
    return new WskApp(registration, npi.Client!, npi.Dispatch!);
  }

  private async socket(family: number, type: number, protocol: number, flags: number, context: unknown = null, dispatch: unknown = null): Promise<WSK_SOCKET> {
    return await must('WskSocket', callWsk((irp) => this.Dispatch.WskSocket(this.Client, family, type, protocol, flags, context, dispatch as never, null, null, null, irp))) as WSK_SOCKET;
  }

  /** A listening socket bound to `local`; an AF_INET6 one is dual-stack (IPV6_V6ONLY off, as echosrv does). */
  async listen(local: SOCKADDR, dispatch: unknown = null, context: unknown = null): Promise<WskListener> {
    const family = sockaddrFamily(local);
    const sock = await this.socket(family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, context, dispatch);
    const L = sock.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
    try {
      if (family === AF_INET6) await dualStack(sock);
      await must('WskBind', callWsk((irp) => L.WskBind(sock, local, 0, irp)));
    } catch (err) {
      await callWsk((irp) => L.Basic.WskCloseSocket(sock, irp));
      throw err;
    }
    return new WskListener(sock);
  }

  /**
   * A connection socket bound to `local` and connected to `remote`; `dispatch`/`context` are its
   * event callbacks (enabled later with enableEvents).
   */
  async connect(remote: SOCKADDR, local: SOCKADDR | null = null, dispatch: unknown = null, context: unknown = null): Promise<WskStream> {
    const family = sockaddrFamily(remote);
    const sock = await this.socket(family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_CONNECTION_SOCKET, context, dispatch);
    const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    try {
      await must('WskBind', callWsk((irp) => C.WskBind(sock, local ?? (family === AF_INET6 ? makeSockaddrIn6('::', 0) : makeSockaddrIn('0.0.0.0', 0)), 0, irp)));
      await must('WskConnect', callWsk((irp) => C.WskConnect(sock, remote, 0, irp)));
    } catch (err) {
      await callWsk((irp) => C.Basic.WskCloseSocket(sock, irp));
      throw err;
    }
    return new WskStream(sock);
  }

  /** A datagram socket bound to `local` (dual-stack if AF_INET6), with optional event callbacks (see connect). */
  async datagram(local: SOCKADDR, dispatch: unknown = null, context: unknown = null): Promise<WskDatagram> {
    const family = sockaddrFamily(local);
    const sock = await this.socket(family, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, context, dispatch);
    const D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
    try {
      if (family === AF_INET6) await dualStack(sock);
      await must('WskBind', callWsk((irp) => D.WskBind(sock, local, 0, irp)));
    } catch (err) {
      await callWsk((irp) => D.Basic.WskCloseSocket(sock, irp));
      throw err;
    }
    return new WskDatagram(sock);
  }

  /** WskReleaseProviderNPI + WskDeregister (which waits for every socket to be closed). */
  async close(): Promise<void> {
    WskReleaseProviderNPI(this.registration);
    await WskDeregister(this.registration);
  }
}

async function closeSocket(sock: WSK_SOCKET): Promise<void> {
  await callWsk((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(sock, irp));
}

/** IPV6_V6ONLY off (WSK's default is on): the AF_INET6 socket also serves IPv4 peers, as echosrv's listener does. */
async function dualStack(sock: WSK_SOCKET): Promise<void> {
  await must('WskControlSocket(IPV6_V6ONLY)', callWsk((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(
    sock, WskSetOption, IPV6_V6ONLY, IPPROTO_IPV6, 4, { value: 0 }, 0, null, null, irp)));
}

/** SO_WSK_EVENT_CALLBACK: turns on the events in `mask` (WSK_EVENT_*) for the socket's dispatch. */
async function enableEvents(sock: WSK_SOCKET, mask: number): Promise<void> {
  await must('WskControlSocket(SO_WSK_EVENT_CALLBACK)', callWsk((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(
    sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: mask }, 0, null, null, irp)));
}

async function localAddress(sock: WSK_SOCKET): Promise<SOCKADDR> {
  const out = SOCKADDR_STORAGE();
  await must('WskGetLocalAddress', callWsk((irp) => (sock.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskGetLocalAddress(sock, out, irp)));
  return out;
}

export class WskListener {
  constructor(readonly sock: WSK_SOCKET) {}

  localAddress(): Promise<SOCKADDR> { return localAddress(this.sock); }

  /** The next connection; `dispatch`/`context` are its event callbacks (WskAccept's arguments). */
  async accept(dispatch: unknown = null, context: unknown = null): Promise<WskStream> {
    const L = this.sock.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
    const remote = SOCKADDR_STORAGE();
    const sock = await must('WskAccept', callWsk((irp) => L.WskAccept(this.sock, 0, context, dispatch as never, null, remote, irp))) as WSK_SOCKET;
    return new WskStream(sock, remote);
  }

  close(): Promise<void> { return closeSocket(this.sock); }
}

export class WskStream {
  private readonly C: WSK_PROVIDER_CONNECTION_DISPATCH;
  constructor(readonly sock: WSK_SOCKET, readonly remote: SOCKADDR | null = null) {
    this.C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
  }

  localAddress(): Promise<SOCKADDR> { return localAddress(this.sock); }

  enableEvents(mask: number): Promise<void> { return enableEvents(this.sock, mask); }

  /** Sends all of `bytes` (one WskSend: it completes once the transport no longer needs them). */
  async send(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength === 0) return;
    const buf: WSK_BUF = { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: bytes.byteLength };
    const n = await must('WskSend', callWsk((irp) => this.C.WskSend(this.sock, buf, 0, irp))) as number;
    if (n !== bytes.byteLength) throw new WskError(`WskSend sent ${n} of ${bytes.byteLength} bytes`, STATUS_SUCCESS);
  }

  /** Receives into `into`; resolves with the byte count, 0 once the peer closed its side. */
  async receive(into: Uint8Array, irp?: IRP): Promise<number> {
    const buf: WSK_BUF = { Mdl: IoAllocateMdl(into), Offset: 0, Length: into.byteLength };
    return await must('WskReceive', callWsk((i) => this.C.WskReceive(this.sock, buf, 0, i), irp)) as number;
  }

  /** Graceful (FIN after everything sent) or abortive (RST) disconnect. */
  async disconnect(abortive = false): Promise<void> {
    await must('WskDisconnect', callWsk((irp) => this.C.WskDisconnect(this.sock, null, abortive ? WSK_FLAG_ABORTIVE : 0, irp)));
  }

  close(): Promise<void> { return closeSocket(this.sock); }
}

export class WskDatagram {
  private readonly D: WSK_PROVIDER_DATAGRAM_DISPATCH;
  constructor(readonly sock: WSK_SOCKET) {
    this.D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  }

  localAddress(): Promise<SOCKADDR> { return localAddress(this.sock); }

  enableEvents(mask: number): Promise<void> { return enableEvents(this.sock, mask); }

  async sendTo(bytes: Uint8Array, to: SOCKADDR): Promise<void> {
    const buf: WSK_BUF = { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: bytes.byteLength };
    await must('WskSendTo', callWsk((irp) => this.D.WskSendTo(this.sock, buf, 0, to, 0, null, irp)));
  }

  /** The next datagram into `into`: its length and sender. */
  async receiveFrom(into: Uint8Array): Promise<{ length: number; from: SOCKADDR }> {
    const buf: WSK_BUF = { Mdl: IoAllocateMdl(into), Offset: 0, Length: into.byteLength };
    const from = SOCKADDR_STORAGE();
    const length = await must('WskReceiveFrom', callWsk((irp) => this.D.WskReceiveFrom(this.sock, buf, 0, from, { value: 0 }, null, null, irp))) as number;
    return { length, from };
  }

  close(): Promise<void> { return closeSocket(this.sock); }
}

export { AF_INET, AF_INET6 };

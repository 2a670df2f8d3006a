// The synchronous-call pattern of WSK drivers (Microsoft: Using IRPs with Winsock Kernel Functions: issue the call with an IRP whose
// completion routine signals an event, wait if STATUS_PENDING, read IoStatus) as promises, for
// the ported applications that are not line-by-line ports (iperf3, HTTP). Everything here is
// plain WSK: WskRegister/WskCaptureProviderNPI, the dispatch tables, IRPs, MDLs.
//
// Errors: a failed call rejects with WskError carrying its NTSTATUS; a receive of 0 bytes is the
// peer's graceful close (not an error).
import {
  AF_INET, AF_INET6, AF_UNSPEC, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY, WskGetOption, WskIoctl, WskSetOption, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine,
  MAKE_WSK_VERSION, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, SOCK_DGRAM, SOCK_STREAM, SOCKADDR_STORAGE, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS,
  WSK_FLAG_ABORTIVE, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT,
  WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI,
  makeSockaddrIn, makeSockaddrIn6, ntStatusName, ntohs, sockaddrFamily, SIO_TCP_INFO, SIZEOF_TCP_INFO_v0, SIZEOF_ULONG,
  STATUS_NOT_SUPPORTED, UNICODE_STRING,
  type ADDRINFOEXW, type IRP, type NTSTATUS, type PADDRINFOEXW, type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6, type TCP_INFO_v0, type WSK_BUF,
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

/** The address of a SOCKADDR as text: "a.b.c.d", or RFC 5952 IPv6 ("::1"; v4-mapped IPv6 shown as IPv4). */
export function sockaddrHost(a: SOCKADDR): string {
  if (sockaddrFamily(a) === AF_INET) return (a as SOCKADDR_IN).sin_addr.join('.');
  const b = (a as SOCKADDR_IN6).sin6_addr;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return b.slice(12).join('.');
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
  return best < 0 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

/** The port of a SOCKADDR, in host order. */
export function sockaddrPort(a: SOCKADDR): number {
  return ntohs(sockaddrFamily(a) === AF_INET ? (a as SOCKADDR_IN).sin_port : (a as SOCKADDR_IN6).sin6_port);
}

/** "a.b.c.d:port" or "[v6]:port" of a SOCKADDR (v4-mapped IPv6 shown as IPv4). */
export function formatSockaddr(a: SOCKADDR): string {
  const host = sockaddrHost(a);
  return `${host.includes(':') ? `[${host}]` : host}:${sockaddrPort(a)}`;
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
   * event callbacks (enabled later with enableEvents). `configure` sets options on the socket
   * before it binds and connects (a receive buffer, a congestion control).
   */
  async connect(
    remote: SOCKADDR, local: SOCKADDR | null = null, dispatch: unknown = null, context: unknown = null,
    configure?: (socket: WskSocketHandle) => Promise<void>,
  ): Promise<WskStream> {
    const family = sockaddrFamily(remote);
    const sock = await this.socket(family, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_CONNECTION_SOCKET, context, dispatch);
    const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    try {
      await configure?.(new WskSocketHandle(sock));
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

  /**
   * WskGetAddressInfo for a TCP service on `host` (a name, or an address in text): the addresses in
   * the resolver's order. Rejects with WskError (STATUS_NOT_FOUND for a name nobody knows).
   */
  async resolve(host: string, port: number): Promise<SOCKADDR[]> {
    const result: { value: PADDRINFOEXW } = { value: null };
    const hints: ADDRINFOEXW = {
      ai_flags: 0, ai_family: AF_UNSPEC, ai_socktype: SOCK_STREAM, ai_protocol: IPPROTO_TCP, ai_addrlen: 0, ai_canonname: null,
      ai_addr: null, ai_blob: null, ai_bloblen: 0, ai_provider: null, ai_next: null,
    };
    await must(`WskGetAddressInfo(${host})`, callWsk((irp) => this.Dispatch.WskGetAddressInfo(
      this.Client, UNICODE_STRING(host), UNICODE_STRING(String(port)), 0, null, hints, result, null, null, irp)));
    const addresses: SOCKADDR[] = [];
    for (let a = result.value; a; a = a.ai_next) if (a.ai_addr) addresses.push(a.ai_addr);
    this.Dispatch.WskFreeAddressInfo(this.Client, result.value);
    return addresses;
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
  await new WskSocketHandle(sock).setOption(IPPROTO_IPV6, IPV6_V6ONLY, 0);
}

/** SO_WSK_EVENT_CALLBACK: turns on the events in `mask` (WSK_EVENT_*) for the socket's dispatch. */
async function enableEvents(sock: WSK_SOCKET, mask: number): Promise<void> {
  await must('WskControlSocket(SO_WSK_EVENT_CALLBACK)', controlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: mask }));
}

/** WskControlSocket with an IRP (every request it is given here takes one): resolves with the IRP's IoStatus. */
export function controlSocket(
  sock: WSK_SOCKET, request: number, code: number, level: number, inSize: number, input: unknown, outSize = 0, output: unknown = null,
): Promise<Completion> {
  return callWsk((irp) => (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, request, code, level, inSize, input, outSize, output, null, irp));
}

/** Any socket: options, IOCTLs and its local address. */
export class WskSocketHandle {
  constructor(readonly sock: WSK_SOCKET) {}

  /** WskSetOption with a ULONG, or with a name (TCP_CONGESTION_ALGORITHM). */
  async setOption(level: number, code: number, value: number | string): Promise<void> {
    const size = typeof value === 'string' ? value.length + 1 : SIZEOF_ULONG;
    await must(`WskControlSocket(set option ${code >>> 0} at level ${level})`, controlSocket(this.sock, WskSetOption, code, level, size, { value }));
  }

  /** WskGetOption of a ULONG. */
  async getOption(level: number, code: number): Promise<number> {
    const out = { value: 0 };
    await must(`WskControlSocket(get option ${code >>> 0} at level ${level})`, controlSocket(this.sock, WskGetOption, code, level, 0, null, SIZEOF_ULONG, out));
    return out.value;
  }

  /** WskGetOption of a name (TCP_CONGESTION_ALGORITHM); null where the provider does not say. */
  async getName(level: number, code: number): Promise<string | null> {
    const out = { value: '' };
    const r = await controlSocket(this.sock, WskGetOption, code, level, 0, null, 64, out);
    return r.status === STATUS_SUCCESS && out.value ? out.value : null;
  }

  /** SIO_TCP_INFO version 0; null where the provider cannot see its TCP state (STATUS_NOT_SUPPORTED). */
  async tcpInfo(): Promise<TCP_INFO_v0 | null> {
    const out = {} as TCP_INFO_v0;
    const r = await controlSocket(this.sock, WskIoctl, SIO_TCP_INFO, 0, SIZEOF_ULONG, { value: 0 }, SIZEOF_TCP_INFO_v0, out);
    if (r.status === STATUS_NOT_SUPPORTED) return null;
    if (r.status !== STATUS_SUCCESS) throw new WskError('WskControlSocket(SIO_TCP_INFO)', r.status);
    return out;
  }

  async localAddress(): Promise<SOCKADDR> {
    const out = SOCKADDR_STORAGE();
    await must('WskGetLocalAddress', callWsk((irp) => (this.sock.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH).WskGetLocalAddress(this.sock, out, irp)));
    return out;
  }

  close(): Promise<void> { return closeSocket(this.sock); }
}

export class WskListener extends WskSocketHandle {
  /** The next connection; `dispatch`/`context` are its event callbacks (WskAccept's arguments). */
  async accept(dispatch: unknown = null, context: unknown = null): Promise<WskStream> {
    const L = this.sock.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
    const remote = SOCKADDR_STORAGE();
    const sock = await must('WskAccept', callWsk((irp) => L.WskAccept(this.sock, 0, context, dispatch as never, null, remote, irp))) as WSK_SOCKET;
    return new WskStream(sock, remote);
  }
}

export class WskStream extends WskSocketHandle {
  private readonly C: WSK_PROVIDER_CONNECTION_DISPATCH;
  constructor(sock: WSK_SOCKET, readonly remote: SOCKADDR | null = null) {
    super(sock);
    this.C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
  }

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
}

export class WskDatagram extends WskSocketHandle {
  private readonly D: WSK_PROVIDER_DATAGRAM_DISPATCH;
  constructor(sock: WSK_SOCKET) {
    super(sock);
    this.D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  }

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
}

export { AF_INET, AF_INET6 };

// WSK structures and dispatch tables with wsk.h names and member order.
// C pointers become object references; out-parameters to scalars become { value } holders.
import type { IRP } from '../irp/irp.ts';
import type { MDL, WSK_BUF } from '../mdl/mdl.ts';
import type { NTSTATUS } from '../ntstatus.ts';
import type { ADDRESS_FAMILY, SOCKADDR } from '../sockaddr.ts';
import type { GUID, NPIID } from '../nmr/types.ts';

export type PVOID = unknown;
export interface Holder<T> { value: T }
/** SIZE_T *, ULONG *: an out (or in/out) scalar. */
export type PSIZE_T = Holder<number>;
export type PULONG = Holder<number>;

/** A process or thread identity for address-sharing access checks (PEPROCESS / PETHREAD). */
export interface EPROCESS { readonly ProcessName: string }
export interface ETHREAD { readonly Process: EPROCESS }
export type PEPROCESS = EPROCESS | null;
export type PETHREAD = ETHREAD | null;

/**
 * A security descriptor as WSK sees it: who may share an address with a socket carrying it
 * (sharing-transport-addresses CHECK). `null` in Allowed means only the owner process.
 */
export interface SECURITY_DESCRIPTOR {
  readonly Owner: EPROCESS | null;
  /** Processes allowed to share; the string 'Everyone' allows all. */
  readonly Allowed: ReadonlyArray<EPROCESS> | 'Everyone';
}
export type PSECURITY_DESCRIPTOR = SECURITY_DESCRIPTOR | null;

export interface WSK_SOCKET { readonly Dispatch: unknown }
export type PWSK_SOCKET = WSK_SOCKET;
export type PWSK_CLIENT = object;

export interface WSK_REGISTRATION {
  ReservedRegistrationState: number;
  ReservedRegistrationContext: unknown;
  ReservedRegistrationLock: number;
}
export function WSK_REGISTRATION(): WSK_REGISTRATION {
  return { ReservedRegistrationState: 0, ReservedRegistrationContext: null, ReservedRegistrationLock: 0 };
}

export type PFN_WSK_CLIENT_EVENT = (ClientContext: PVOID, EventType: number, Information: PVOID, InformationLength: number) => NTSTATUS;

export interface WSK_CLIENT_DISPATCH {
  Version: number;
  Reserved: number;
  WskClientEvent: PFN_WSK_CLIENT_EVENT | null;
}

export interface WSK_CLIENT_NPI {
  ClientContext: PVOID;
  Dispatch: WSK_CLIENT_DISPATCH;
}

export interface WSK_PROVIDER_NPI {
  Client: PWSK_CLIENT | null;
  Dispatch: WSK_PROVIDER_DISPATCH | null;
}
export function WSK_PROVIDER_NPI(): WSK_PROVIDER_NPI {
  return { Client: null, Dispatch: null };
}

export interface WSK_PROVIDER_CHARACTERISTICS {
  HighestVersion: number;
  LowestVersion: number;
}

export interface WSK_DATA_INDICATION {
  Next: WSK_DATA_INDICATION | null;
  Buffer: WSK_BUF;
}

/**
 * A control buffer: the bytes whose start is the first CMSGHDR (C's PCMSGHDR points there), laid
 * out as on 64-bit Windows; walk and build it with the WSA_CMSG_* helpers (control-info.ts).
 */
export type PCMSGHDR = Uint8Array | null;

export interface WSK_DATAGRAM_INDICATION {
  Next: WSK_DATAGRAM_INDICATION | null;
  Buffer: WSK_BUF;
  ControlInfo: PCMSGHDR;
  ControlInfoLength: number;
  RemoteAddress: SOCKADDR;
}

export interface WSK_BUF_LIST {
  Next: WSK_BUF_LIST | null;
  Buffer: WSK_BUF;
}

export interface WSK_INSPECT_ID {
  Key: number;
  SerialNumber: number;
}

/**
 * mstcpip.h TCP_INFO_v0: a TCP connection's statistics, the output of SIO_TCP_INFO with version 0
 * (Microsoft: "TCP_INFO_v0 structure"). State is a TCPSTATE value.
 */
export interface TCP_INFO_v0 {
  State: number;
  Mss: number;
  ConnectionTimeMs: number;
  TimestampsEnabled: boolean;
  RttUs: number;
  MinRttUs: number;
  BytesInFlight: number;
  Cwnd: number;
  SndWnd: number;
  RcvWnd: number;
  RcvBuf: number;
  BytesOut: number;
  BytesIn: number;
  BytesReordered: number;
  BytesRetrans: number;
  FastRetrans: number;
  DupAcksIn: number;
  TimeoutEpisodes: number;
  SynRetrans: number;
}

export interface WSK_EVENT_CALLBACK_CONTROL {
  NpiId: NPIID;
  EventMask: number;
}

export interface WSK_TRANSPORT {
  Version: number;
  SocketType: number;
  Protocol: number;
  AddressFamily: ADDRESS_FAMILY;
  ProviderId: GUID;
}

export interface WSK_TDI_MAP { SocketType: number; AddressFamily: ADDRESS_FAMILY; Protocol: number; TdiDeviceName: string }
export interface WSK_TDI_MAP_INFO { ElementCount: number; Map: WSK_TDI_MAP[] }

export interface WSK_EXTENSION_CONTROL_IN { NpiId: NPIID; ClientContext: PVOID; ClientDispatch: unknown }
export interface WSK_EXTENSION_CONTROL_OUT { ProviderContext: PVOID; ProviderDispatch: unknown }

export interface SOCKET_ADDRESS { lpSockaddr: SOCKADDR; iSockaddrLength: number }
export interface SOCKET_ADDRESS_LIST { iAddressCount: number; Address: SOCKET_ADDRESS[] }

export interface UNICODE_STRING {
  /** Bytes, without the terminating NUL (as in C). */
  Length: number;
  MaximumLength: number;
  Buffer: string;
}
export function RtlInitUnicodeString(DestinationString: UNICODE_STRING, SourceString: string | null): void {
  const s = SourceString ?? '';
  DestinationString.Buffer = s;
  DestinationString.Length = s.length * 2;
  DestinationString.MaximumLength = s.length * 2 + 2;
}
export function UNICODE_STRING(text: string | null = null, maximumChars?: number): UNICODE_STRING {
  const u: UNICODE_STRING = { Length: 0, MaximumLength: 0, Buffer: '' };
  RtlInitUnicodeString(u, text);
  if (maximumChars !== undefined) u.MaximumLength = maximumChars * 2;
  return u;
}

export interface ADDRINFOEXW {
  ai_flags: number;
  ai_family: number;
  ai_socktype: number;
  ai_protocol: number;
  ai_addrlen: number;
  ai_canonname: string | null;
  ai_addr: SOCKADDR | null;
  ai_blob: unknown;
  ai_bloblen: number;
  ai_provider: GUID | null;
  ai_next: ADDRINFOEXW | null;
}
export type PADDRINFOEXW = ADDRINFOEXW | null;

// ---- client-side event callbacks ----
export type PFN_WSK_ACCEPT_EVENT = (
  SocketContext: PVOID, Flags: number, LocalAddress: SOCKADDR, RemoteAddress: SOCKADDR,
  AcceptSocket: PWSK_SOCKET | null, AcceptSocketContext: Holder<PVOID>,
  AcceptSocketDispatch: Holder<WSK_CLIENT_CONNECTION_DISPATCH | null>,
) => NTSTATUS;
export type PFN_WSK_INSPECT_EVENT = (
  SocketContext: PVOID, LocalAddress: SOCKADDR, RemoteAddress: SOCKADDR, InspectID: WSK_INSPECT_ID | null,
) => number;
export type PFN_WSK_ABORT_EVENT = (SocketContext: PVOID, InspectID: WSK_INSPECT_ID) => NTSTATUS;
export type PFN_WSK_RECEIVE_FROM_EVENT = (SocketContext: PVOID, Flags: number, DataIndication: WSK_DATAGRAM_INDICATION | null) => NTSTATUS;
export type PFN_WSK_RECEIVE_EVENT = (
  SocketContext: PVOID, Flags: number, DataIndication: WSK_DATA_INDICATION | null,
  BytesIndicated: number, BytesAccepted: PSIZE_T,
) => NTSTATUS;
export type PFN_WSK_DISCONNECT_EVENT = (SocketContext: PVOID, Flags: number) => NTSTATUS;
export type PFN_WSK_SEND_BACKLOG_EVENT = (SocketContext: PVOID, IdealBacklogSize: number) => NTSTATUS;

export interface WSK_CLIENT_LISTEN_DISPATCH {
  WskAcceptEvent: PFN_WSK_ACCEPT_EVENT | null;
  WskInspectEvent: PFN_WSK_INSPECT_EVENT | null;
  WskAbortEvent: PFN_WSK_ABORT_EVENT | null;
}
export interface WSK_CLIENT_DATAGRAM_DISPATCH {
  WskReceiveFromEvent: PFN_WSK_RECEIVE_FROM_EVENT | null;
}
export interface WSK_CLIENT_CONNECTION_DISPATCH {
  WskReceiveEvent: PFN_WSK_RECEIVE_EVENT | null;
  WskDisconnectEvent: PFN_WSK_DISCONNECT_EVENT | null;
  WskSendBacklogEvent: PFN_WSK_SEND_BACKLOG_EVENT | null;
}
export interface WSK_CLIENT_STREAM_DISPATCH {
  Listen: WSK_CLIENT_LISTEN_DISPATCH | null;
  Connect: WSK_CLIENT_CONNECTION_DISPATCH | null;
}

// ---- provider dispatch tables ----
export type PFN_WSK_SOCKET = (
  Client: PWSK_CLIENT | null, AddressFamily: ADDRESS_FAMILY, SocketType: number, Protocol: number, Flags: number,
  SocketContext: PVOID, Dispatch: unknown, OwningProcess: PEPROCESS, OwningThread: PETHREAD,
  SecurityDescriptor: PSECURITY_DESCRIPTOR, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_SOCKET_CONNECT = (
  Client: PWSK_CLIENT | null, SocketType: number, Protocol: number, LocalAddress: SOCKADDR, RemoteAddress: SOCKADDR,
  Flags: number, SocketContext: PVOID, Dispatch: WSK_CLIENT_CONNECTION_DISPATCH | null, OwningProcess: PEPROCESS,
  OwningThread: PETHREAD, SecurityDescriptor: PSECURITY_DESCRIPTOR, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_CONTROL_CLIENT = (
  Client: PWSK_CLIENT | null, ControlCode: number, InputSize: number, InputBuffer: unknown, OutputSize: number,
  OutputBuffer: unknown, OutputSizeReturned: PSIZE_T | null, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_GET_ADDRESS_INFO = (
  Client: PWSK_CLIENT | null, NodeName: UNICODE_STRING | null, ServiceName: UNICODE_STRING | null, NameSpace: number,
  Provider: GUID | null, Hints: ADDRINFOEXW | null, Result: Holder<PADDRINFOEXW>, OwningProcess: PEPROCESS,
  OwningThread: PETHREAD, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_FREE_ADDRESS_INFO = (Client: PWSK_CLIENT | null, AddrInfo: PADDRINFOEXW) => void;
export type PFN_WSK_GET_NAME_INFO = (
  Client: PWSK_CLIENT | null, SockAddr: SOCKADDR | null, SockAddrLength: number, NodeName: UNICODE_STRING | null,
  ServiceName: UNICODE_STRING | null, Flags: number, OwningProcess: PEPROCESS, OwningThread: PETHREAD, Irp: IRP | null,
) => NTSTATUS;

export interface WSK_PROVIDER_DISPATCH {
  Version: number;
  Reserved: number;
  WskSocket: PFN_WSK_SOCKET;
  WskSocketConnect: PFN_WSK_SOCKET_CONNECT;
  WskControlClient: PFN_WSK_CONTROL_CLIENT;
  WskGetAddressInfo: PFN_WSK_GET_ADDRESS_INFO;
  WskFreeAddressInfo: PFN_WSK_FREE_ADDRESS_INFO;
  WskGetNameInfo: PFN_WSK_GET_NAME_INFO;
}

export type PFN_WSK_CONTROL_SOCKET = (
  Socket: PWSK_SOCKET, RequestType: number, ControlCode: number, Level: number, InputSize: number, InputBuffer: unknown,
  OutputSize: number, OutputBuffer: unknown, OutputSizeReturned: PSIZE_T | null, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_CLOSE_SOCKET = (Socket: PWSK_SOCKET, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_BIND = (Socket: PWSK_SOCKET, LocalAddress: SOCKADDR | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_ACCEPT = (
  ListenSocket: PWSK_SOCKET, Flags: number, AcceptSocketContext: PVOID,
  AcceptSocketDispatch: WSK_CLIENT_CONNECTION_DISPATCH | null, LocalAddress: SOCKADDR | null,
  RemoteAddress: SOCKADDR | null, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_INSPECT_COMPLETE = (ListenSocket: PWSK_SOCKET, InspectID: WSK_INSPECT_ID | null, Action: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_GET_LOCAL_ADDRESS = (Socket: PWSK_SOCKET, LocalAddress: SOCKADDR | null, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_GET_REMOTE_ADDRESS = (Socket: PWSK_SOCKET, RemoteAddress: SOCKADDR | null, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_CONNECT = (Socket: PWSK_SOCKET, RemoteAddress: SOCKADDR | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_CONNECT_EX = (Socket: PWSK_SOCKET, RemoteAddress: SOCKADDR | null, Buffer: WSK_BUF | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_SEND = (Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_RECEIVE = (Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_DISCONNECT = (Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_RELEASE_DATA_INDICATION_LIST = (Socket: PWSK_SOCKET, DataIndication: WSK_DATA_INDICATION | null) => NTSTATUS;
export type PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST = (Socket: PWSK_SOCKET, DatagramIndication: WSK_DATAGRAM_INDICATION | null) => NTSTATUS;
export type PFN_WSK_LISTEN = (Socket: PWSK_SOCKET, Irp: IRP | null) => NTSTATUS;
export type PFN_WSK_SEND_TO = (
  Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlInfoLength: number, ControlInfo: PCMSGHDR, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_RECEIVE_FROM = (
  Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlLength: PULONG | null, ControlInfo: PCMSGHDR, ControlFlags: PULONG | null, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_SEND_MESSAGES = (
  Socket: PWSK_SOCKET, BufferList: WSK_BUF_LIST | null, Flags: number, RemoteAddress: SOCKADDR | null,
  ControlInfoLength: number, ControlInfo: PCMSGHDR, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_SEND_EX = (
  Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, ControlInfoLength: number, ControlInfo: PCMSGHDR, Irp: IRP | null,
) => NTSTATUS;
export type PFN_WSK_RECEIVE_EX = (
  Socket: PWSK_SOCKET, Buffer: WSK_BUF | null, Flags: number, ControlInfoLength: PULONG | null,
  ControlInfo: PCMSGHDR, ControlFlags: PULONG | null, Irp: IRP | null,
) => NTSTATUS;

export interface WSK_PROVIDER_BASIC_DISPATCH {
  WskControlSocket: PFN_WSK_CONTROL_SOCKET;
  WskCloseSocket: PFN_WSK_CLOSE_SOCKET;
}
export interface WSK_PROVIDER_LISTEN_DISPATCH {
  Basic: WSK_PROVIDER_BASIC_DISPATCH;
  WskBind: PFN_WSK_BIND;
  WskAccept: PFN_WSK_ACCEPT;
  WskInspectComplete: PFN_WSK_INSPECT_COMPLETE;
  WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS;
}
export interface WSK_PROVIDER_DATAGRAM_DISPATCH {
  Basic: WSK_PROVIDER_BASIC_DISPATCH;
  WskBind: PFN_WSK_BIND;
  WskSendTo: PFN_WSK_SEND_TO;
  WskReceiveFrom: PFN_WSK_RECEIVE_FROM;
  WskRelease: PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST;
  WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS;
  WskSendMessages: PFN_WSK_SEND_MESSAGES;
}
export interface WSK_PROVIDER_CONNECTION_DISPATCH {
  Basic: WSK_PROVIDER_BASIC_DISPATCH;
  WskBind: PFN_WSK_BIND;
  WskConnect: PFN_WSK_CONNECT;
  WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS;
  WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS;
  WskSend: PFN_WSK_SEND;
  WskReceive: PFN_WSK_RECEIVE;
  WskDisconnect: PFN_WSK_DISCONNECT;
  WskRelease: PFN_WSK_RELEASE_DATA_INDICATION_LIST;
  WskConnectEx: PFN_WSK_CONNECT_EX;
  WskSendEx: PFN_WSK_SEND_EX;
  WskReceiveEx: PFN_WSK_RECEIVE_EX;
}
export interface WSK_PROVIDER_STREAM_DISPATCH {
  Basic: WSK_PROVIDER_BASIC_DISPATCH;
  WskBind: PFN_WSK_BIND;
  WskAccept: PFN_WSK_ACCEPT;
  WskConnect: PFN_WSK_CONNECT;
  WskListen: PFN_WSK_LISTEN;
  WskSend: PFN_WSK_SEND;
  WskReceive: PFN_WSK_RECEIVE;
  WskDisconnect: PFN_WSK_DISCONNECT;
  WskRelease: PFN_WSK_RELEASE_DATA_INDICATION_LIST;
  WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS;
  WskGetRemoteAddress: PFN_WSK_GET_REMOTE_ADDRESS;
  WskConnectEx: PFN_WSK_CONNECT_EX;
  WskSendEx: PFN_WSK_SEND_EX;
  WskReceiveEx: PFN_WSK_RECEIVE_EX;
}

export type { MDL };

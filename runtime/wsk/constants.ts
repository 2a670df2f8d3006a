// wsk.h / ws2def.h constants. Values overlap on purpose: a flag is
// interpreted per parameter.
import { guidFromString } from '../nmr/types.ts';

export const MAKE_WSK_VERSION = (Mj: number, Mn: number): number => ((Mj << 8) & 0xffff) | (Mn & 0xff);
export const WSK_MAJOR_VERSION = (V: number): number => (V >>> 8) & 0xff;
export const WSK_MINOR_VERSION = (V: number): number => V & 0xff;

export const WSK_NO_WAIT = 0;
export const WSK_INFINITE_WAIT = 0xffffffff;

export const WSK_FLAG_BASIC_SOCKET = 0x00000000;
export const WSK_FLAG_LISTEN_SOCKET = 0x00000001;
export const WSK_FLAG_CONNECTION_SOCKET = 0x00000002;
export const WSK_FLAG_DATAGRAM_SOCKET = 0x00000004;
export const WSK_FLAG_STREAM_SOCKET = 0x00000008;

export const WSK_FLAG_ABORTIVE = 0x00000001;
export const WSK_FLAG_OOB = 0x00000001;
export const WSK_FLAG_NODELAY = 0x00000002;
export const WSK_FLAG_WAITALL = 0x00000002;
export const WSK_FLAG_DRAIN = 0x00000004;
export const WSK_FLAG_RELEASE_ASAP = 0x00000002;
export const WSK_FLAG_ENTIRE_MESSAGE = 0x00000004;
export const WSK_FLAG_AT_DISPATCH_LEVEL = 0x00000008;

export const MSG_TRUNC = 0x0100;
export const MSG_CTRUNC = 0x0200;
export const MSG_BCAST = 0x0400;
export const MSG_MCAST = 0x0800;

export const WSK_EVENT_SEND_BACKLOG = 0x00000010;
export const WSK_EVENT_RECEIVE = 0x00000040;
export const WSK_EVENT_DISCONNECT = 0x00000080;
export const WSK_EVENT_RECEIVE_FROM = 0x00000100;
export const WSK_EVENT_ACCEPT = 0x00000200;
export const WSK_EVENT_DISABLE = 0x80000000;
/** The events of a connection-oriented socket (not a wsk.h name). */
export const CONNECTION_EVENTS = WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_SEND_BACKLOG;

// WSK_CONTROL_SOCKET_TYPE
export const WskSetOption = 0;
export const WskGetOption = 1;
export const WskIoctl = 2;
export const WskControlMax = 3;

// WSK_INSPECT_ACTION
export const WskInspectReject = 0;
export const WskInspectAccept = 1;
export const WskInspectPend = 2;
export const WskInspectMax = 3;

// Client control codes (WskControlClient)
export const WSK_TRANSPORT_LIST_QUERY = 2;
export const WSK_TRANSPORT_LIST_CHANGE = 3;
export const WSK_CACHE_SD = 4;
export const WSK_RELEASE_SD = 5;
export const WSK_TDI_DEVICENAME_MAPPING = 6;
export const WSK_SET_STATIC_EVENT_CALLBACKS = 7;
export const WSK_TDI_BEHAVIOR = 8;
export const WSK_TDI_BEHAVIOR_BYPASS_TDI = 0x00000001;

// Levels and options
export const SOL_SOCKET = 0xffff;
export const WSK_SO_BASE = 0x4000;
export const SO_WSK_SECURITY = WSK_SO_BASE + 1;
export const SO_WSK_EVENT_CALLBACK = WSK_SO_BASE + 2;
export const SO_CONDITIONAL_ACCEPT = 0x3002;
export const SO_REUSEADDR = 0x0004;
export const SO_EXCLUSIVEADDRUSE = ~SO_REUSEADDR >>> 0;
export const SO_KEEPALIVE = 0x0008;
export const SO_BROADCAST = 0x0020;
export const SO_SNDBUF = 0x1001;
export const SO_RCVBUF = 0x1002;
export const SO_SNDTIMEO = 0x1005;
export const SO_RCVTIMEO = 0x1006;
export const SO_TYPE = 0x1008;
export const IPV6_V6ONLY = 27;
// ws2ipdef.h, IPPROTO_IP level (options, and the control-info types they produce)
export const IP_HDRINCL = 2;
export const IP_TOS = 3;
export const IP_TTL = 4;
export const IP_MULTICAST_IF = 9;
export const IP_MULTICAST_TTL = 10;
export const IP_MULTICAST_LOOP = 11;
export const IP_ADD_MEMBERSHIP = 12;
export const IP_DROP_MEMBERSHIP = 13;
export const IP_DONTFRAGMENT = 14;
export const IP_PKTINFO = 19;
export const IP_HOPLIMIT = 21;
export const IP_RECVTTL = 21;
export const IP_RECVTOS = 40;
export const IP_ECN = 50;
export const IP_RECVECN = 50;
/** The interface index is a DWORD in network byte order for IP_UNICAST_IF (IPPROTO_IP socket options page). */
export const IP_UNICAST_IF = 31;
// ws2ipdef.h, IPPROTO_IPV6 level
export const IPV6_UNICAST_HOPS = 4;
/** ws2ipdef.h: IPV6_MULTICAST_IF 9 (an interface index, host order), IPV6_MULTICAST_HOPS 10, IPV6_MULTICAST_LOOP 11. */
export const IPV6_MULTICAST_IF = 9;
export const IPV6_MULTICAST_HOPS = 10;
export const IPV6_MULTICAST_LOOP = 11;
/** ws2ipdef.h: IPV6_ADD_MEMBERSHIP 12 and IPV6_DROP_MEMBERSHIP 13 take an IPV6_MREQ (ip-mreq.ts); IPV6_JOIN_GROUP and IPV6_LEAVE_GROUP are the same numbers. */
export const IPV6_ADD_MEMBERSHIP = 12;
export const IPV6_DROP_MEMBERSHIP = 13;
export const IPV6_JOIN_GROUP = IPV6_ADD_MEMBERSHIP;
export const IPV6_LEAVE_GROUP = IPV6_DROP_MEMBERSHIP;
export const IPV6_DONTFRAG = 14;
export const IPV6_PKTINFO = 19;
export const IPV6_HOPLIMIT = 21;
export const IPV6_TCLASS = 39;
export const IPV6_RECVTCLASS = 40;
export const IPV6_ECN = 50;
export const IPV6_RECVECN = 50;
export const TCP_NODELAY = 0x0001;
export const TCP_KEEPALIVE = 3;
export const TCP_KEEPIDLE = 3;
export const TCP_KEEPCNT = 16;
export const TCP_KEEPINTVL = 17;
export const TCP_FASTOPEN = 15;
/**
 * ws2ipdef.h reserves this value without a public meaning; here it names the connection's
 * congestion control as Linux's TCP_CONGESTION does (a name the provider has, as an ASCII string).
 */
export const TCP_CONGESTION_ALGORITHM = 12;

// IOCTLs
const IOC_WS2 = 0x08000000;
const IOC_VENDOR = 0x18000000;
export const IOC_WSK = IOC_WS2 | 0x07000000;
const _WSAIO = (x: number, y: number): number => (0x20000000 | x | y) >>> 0;
const _WSAIOR = (x: number, y: number): number => (0x40000000 | x | y) >>> 0;
const _WSAIOW = (x: number, y: number): number => (0x80000000 | x | y) >>> 0;
const _WSAIORW = (x: number, y: number): number => (0xc0000000 | x | y) >>> 0;
export const SIO_WSK_SET_REMOTE_ADDRESS = _WSAIOW(IOC_WSK, 1);
export const SIO_WSK_REGISTER_EXTENSION = _WSAIORW(IOC_WSK, 2);
export const SIO_WSK_QUERY_IDEAL_SEND_BACKLOG = _WSAIOR(IOC_WSK, 3);
export const SIO_WSK_QUERY_RECEIVE_BACKLOG = _WSAIOR(IOC_WSK, 4);
export const SIO_WSK_QUERY_INSPECT_ID = _WSAIOR(IOC_WSK, 5);
export const SIO_WSK_SET_SENDTO_ADDRESS = _WSAIOW(IOC_WSK, 6);
export const SIO_WSK_SET_TCP_SILENT_MODE = _WSAIO(IOC_WSK, 7);
export const SIO_ADDRESS_LIST_QUERY = _WSAIOR(IOC_WS2, 22);
export const SIO_ADDRESS_LIST_CHANGE = _WSAIO(IOC_WS2, 23);
export const SIO_ADDRESS_LIST_SORT = _WSAIORW(IOC_WS2, 25);
/** mstcpip.h: input a DWORD version (0), output TCP_INFO_v0. */
export const SIO_TCP_INFO = _WSAIORW(IOC_VENDOR, 39);
/** mstcpip.h TCPSTATE, the order of RFC 9293's states. */
export const TCPSTATE_CLOSED = 0;
export const TCPSTATE_LISTEN = 1;
export const TCPSTATE_SYN_SENT = 2;
export const TCPSTATE_SYN_RCVD = 3;
export const TCPSTATE_ESTABLISHED = 4;
export const TCPSTATE_FIN_WAIT_1 = 5;
export const TCPSTATE_FIN_WAIT_2 = 6;
export const TCPSTATE_CLOSE_WAIT = 7;
export const TCPSTATE_CLOSING = 8;
export const TCPSTATE_LAST_ACK = 9;
export const TCPSTATE_TIME_WAIT = 10;

export const NPI_WSK_INTERFACE_ID = guidFromString('{2227E803-8D8B-11D4-ABAD-009027719E09}');

// Name resolution (ws2def.h)
export const NS_ALL = 0;
export const NS_DNS = 12;
export const AI_PASSIVE = 0x01;
export const AI_CANONNAME = 0x02;
export const AI_NUMERICHOST = 0x04;
export const AI_NUMERICSERV = 0x08;
export const AI_ALL = 0x0100;
export const AI_ADDRCONFIG = 0x0400;
export const AI_V4MAPPED = 0x0800;
export const NI_NOFQDN = 0x01;
export const NI_NUMERICHOST = 0x02;
export const NI_NAMEREQD = 0x04;
export const NI_NUMERICSERV = 0x08;
export const NI_DGRAM = 0x10;

// sizeof on x64, for the byte sizes C callers pass
export const SIZEOF_ULONG = 4;
export const SIZEOF_SIZE_T = 8;
export const SIZEOF_WSK_TRANSPORT = 28;
export const SIZEOF_WSK_EVENT_CALLBACK_CONTROL = 16;
export const SIZEOF_WSK_INSPECT_ID = 16;
/** sizeof(TCP_INFO_v0) on x64: ULONG64 members align the struct to 8. */
export const SIZEOF_TCP_INFO_v0 = 88;
export const SIZEOF_SOCKET_ADDRESS = 16;
export const SIZEOF_SOCKET_ADDRESS_LIST_HEADER = 8;

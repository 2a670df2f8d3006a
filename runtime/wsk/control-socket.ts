// WskControlSocket: options and IOCTLs (R22–R27, R44, R48). Timing violations that
// the docs leave without a code get STATUS_INVALID_DEVICE_STATE (docs/wsk-rules.md, choice H); a NULL IRP where one is
// required gets STATUS_REQUEST_NOT_ACCEPTED (wsk.h, R23); an IRP where none is allowed gets
// STATUS_INVALID_PARAMETER. Scalar inputs may be a number, a { value } holder or a ULONG in bytes.
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED, STATUS_EVENT_PENDING, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_DEVICE_STATE,
  STATUS_INVALID_PARAMETER, STATUS_NOT_FOUND, STATUS_NOT_SUPPORTED, STATUS_PENDING, STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  AF_INET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, RtlUlongByteSwap, SOCK_RAW, SOCKADDR_IN6_SIZE, SOCKADDR_IN_SIZE, endpointToSockaddr, isLoopback,
  sockaddrToEndpoint, type SOCKADDR,
} from '../sockaddr.ts';
import { guidEquals } from '../nmr/types.ts';
import {
  IP_ADD_MEMBERSHIP, IP_DONTFRAGMENT, IP_DROP_MEMBERSHIP, IP_HDRINCL, IP_MULTICAST_IF, IP_MULTICAST_LOOP, IP_MULTICAST_TTL, IP_TOS, IP_TTL,
  IP_UNICAST_IF, IPV6_ADD_MEMBERSHIP, IPV6_DONTFRAG, IPV6_DROP_MEMBERSHIP, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP,
  IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_V6ONLY, NPI_WSK_INTERFACE_ID, SIO_ADDRESS_LIST_CHANGE,
  SIO_ADDRESS_LIST_QUERY, SIO_WSK_QUERY_IDEAL_SEND_BACKLOG,
  SIO_WSK_QUERY_INSPECT_ID, SIO_WSK_QUERY_RECEIVE_BACKLOG, SIO_WSK_REGISTER_EXTENSION, SIO_WSK_SET_REMOTE_ADDRESS,
  SIO_TCP_INFO, SIO_WSK_SET_SENDTO_ADDRESS, SIO_WSK_SET_TCP_SILENT_MODE, SIZEOF_SIZE_T, SIZEOF_SOCKET_ADDRESS,
  SIZEOF_SOCKET_ADDRESS_LIST_HEADER, SIZEOF_TCP_INFO_v0, SIZEOF_ULONG, SIZEOF_WSK_INSPECT_ID, SO_BROADCAST, SO_CONDITIONAL_ACCEPT,
  SO_EXCLUSIVEADDRUSE, SO_KEEPALIVE, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SO_WSK_EVENT_CALLBACK, SO_WSK_SECURITY, SOL_SOCKET,
  CONNECTION_EVENTS, TCP_CONGESTION_ALGORITHM, TCP_FASTOPEN, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_NODELAY, WSK_EVENT_ACCEPT, WSK_EVENT_DISABLE,
  WSK_EVENT_RECEIVE, WSK_EVENT_RECEIVE_FROM, WSK_EVENT_SEND_BACKLOG, WskGetOption, WskIoctl,
  WskSetOption,
} from './constants.ts';
import { beginIrp, completeIrp, completeIrpInline, pendIrp } from './completion.ts';
import { deliver, indicateSendBacklog } from './connection.ts';
import { deliverDatagrams } from './datagram.ts';
import { drainAcceptQueue } from './listen.ts';
import { afterCallbacks, settle, trackPending, type WskSocketObject } from './socket.ts';
import type { PSIZE_T, SECURITY_DESCRIPTOR, SOCKET_ADDRESS_LIST, TCP_INFO_v0, WSK_EVENT_CALLBACK_CONTROL, WSK_INSPECT_ID } from './types.ts';
import { watchAddressList } from './address-list.ts';
import { receiveControlOption, receiveInfoMask } from './control-info.ts';
import {
  ProviderError, SEND_BUFFER, SEND_DONT_FRAGMENT, SEND_DONT_FRAGMENT6, SEND_HEADER_INCLUDED, SEND_HOP_LIMIT, SEND_MULTICAST_HOPS, SEND_MULTICAST_IF,
  SEND_MULTICAST_IF6, SEND_MULTICAST_LOOP, SEND_MULTICAST_LOOP6, SEND_MULTICAST_TTL, SEND_TCLASS, SEND_TOS, SEND_TTL, SEND_UNICAST_IF,
} from '../provider.ts';
import { IP_MREQ, IPV6_MREQ, SIZEOF_IP_MREQ, SIZEOF_IPV6_MREQ, inAddrValue } from './ip-mreq.ts';


/** Reads a ULONG-sized input however the caller passed it. */
function readUlong(input: unknown, size: number): number | null {
  if (typeof input === 'number') return input >>> 0;
  if (typeof input === 'boolean') return input ? 1 : 0;
  if (input instanceof Uint8Array) return size >= 4 && input.byteLength >= 4 ? new DataView(input.buffer, input.byteOffset, 4).getUint32(0, true) : null;
  if (input && typeof input === 'object' && 'value' in input) return Number((input as { value: unknown }).value) >>> 0;
  return null;
}

/** Writes a scalar output into a { value } holder or a little-endian byte buffer. */
function writeScalar(output: unknown, value: number, size: number): boolean {
  if (output instanceof Uint8Array) {
    if (output.byteLength < size) return false;
    const dv = new DataView(output.buffer, output.byteOffset, size);
    if (size === 8) dv.setBigUint64(0, BigInt(value), true); else dv.setUint32(0, value >>> 0, true);
    return true;
  }
  if (output && typeof output === 'object') { (output as { value: number }).value = value; return true; }
  return false;
}

/** An option's name value: a string, a { value } holder with one, or ASCII bytes (up to a NUL or inSize). */
function readName(input: unknown, size: number): string | null {
  if (input && typeof input === 'object' && !(input instanceof Uint8Array) && 'value' in input) input = (input as { value: unknown }).value;
  if (typeof input === 'string') return input.length > 0 && input.length <= 64 ? input : null;
  if (!(input instanceof Uint8Array)) return null;
  const bytes = input.subarray(0, Math.min(size, input.byteLength));
  const end = bytes.indexOf(0);
  const text = String.fromCharCode(...bytes.subarray(0, end < 0 ? bytes.byteLength : end));
  return text.length > 0 && text.length <= 64 ? text : null;
}

/** Writes a name as ASCII with a NUL into bytes, or into a { value } holder; the size it takes, or -1 when it does not fit. */
function writeName(output: unknown, size: number, name: string): number {
  const needed = name.length + 1;
  if (output instanceof Uint8Array) {
    if (size < needed || output.byteLength < needed) return -1;
    for (let i = 0; i < name.length; i++) output[i] = name.charCodeAt(i) & 0x7f;
    output[name.length] = 0;
    return needed;
  }
  if (output && typeof output === 'object') { (output as { value: string }).value = name; return needed; }
  return -1;
}

type Need = 'required' | 'optional' | 'none';
interface ControlCall {
  s: WskSocketObject; request: number; code: number; level: number; inSize: number; input: unknown;
  outSize: number; output: unknown; returned: PSIZE_T | null; irp: IRP | null;
}

/** Finishes a control call: with an IRP, complete it; without, return the status inline. */
function finish(c: ControlCall, status: NTSTATUS, bytes = 0): NTSTATUS {
  if (!c.irp) {
    if (c.returned) c.returned.value = bytes;
    return status;
  }
  beginIrp(c.irp, 'WskControlSocket');
  if (status !== STATUS_SUCCESS) return completeIrpInline(c.irp, status, bytes);
  completeIrp(c.irp, status, bytes);
  return STATUS_PENDING;
}

/** A missing required IRP is refused with nothing to complete; a forbidden IRP is completed with the refusal (R10). */
function checkIrp(c: ControlCall, need: Need): NTSTATUS | null {
  if (need === 'required' && !c.irp) return STATUS_REQUEST_NOT_ACCEPTED;
  if (need === 'none' && c.irp) return finish(c, STATUS_INVALID_PARAMETER);
  return null;
}

/** Host refusals of an option surface as a status, never as an exception. */
function hostAccepts(apply: () => void): boolean {
  try { apply(); return true; } catch { return false; }
}

const bound = (s: WskSocketObject): boolean => s.local !== null || s.binding !== null;

export function WskControlSocketImpl(c: ControlCall): NTSTATUS {
  switch (c.request) {
    case WskSetOption: return setOption(c);
    case WskGetOption: return getOption(c);
    case WskIoctl: return ioctl(c);
    default: return finish(c, STATUS_INVALID_PARAMETER);
  }
}
export type { ControlCall };

function categoryIs(s: WskSocketObject, ...cats: string[]): boolean {
  if (cats.includes(s.category)) return true;
  if (s.category === 'stream') return cats.includes(s.committed === 'listen' ? 'listen' : 'connection');
  return false;
}

function setOption(c: ControlCall): NTSTATUS {
  const { s } = c;
  if (c.level === SOL_SOCKET && c.code === SO_WSK_EVENT_CALLBACK) return eventCallback(c);
  const irpProblem = checkIrp(c, 'required');
  if (irpProblem !== null) return irpProblem;
  if (c.level === SOL_SOCKET && c.code === SO_WSK_SECURITY) {
    if (!categoryIs(s, 'listen', 'datagram', 'connection')) return finish(c, STATUS_INVALID_PARAMETER);
    if (bound(s)) return finish(c, STATUS_INVALID_DEVICE_STATE);
    const sd = (c.input && typeof c.input === 'object' && 'value' in c.input) ? (c.input as { value: unknown }).value : c.input;
    if (!s.client.isCachedSecurityDescriptor(sd)) return finish(c, STATUS_INVALID_PARAMETER);
    s.options.securityDescriptor = sd as SECURITY_DESCRIPTOR;
    return finish(c, STATUS_SUCCESS);
  }
  if (c.level === IPPROTO_TCP && c.code === TCP_CONGESTION_ALGORITHM && s.socketType === 1) return setCongestion(c);
  if (c.level === IPPROTO_IP && (c.code === IP_ADD_MEMBERSHIP || c.code === IP_DROP_MEMBERSHIP)) return setMembership(c, c.code === IP_ADD_MEMBERSHIP);
  if (c.level === IPPROTO_IPV6 && (c.code === IPV6_ADD_MEMBERSHIP || c.code === IPV6_DROP_MEMBERSHIP)) return setMembership6(c, c.code === IPV6_ADD_MEMBERSHIP);
  const v = readUlong(c.input, c.inSize);
  if (v === null || c.inSize < SIZEOF_ULONG) return finish(c, STATUS_INVALID_PARAMETER);
  const beforeBind = (apply: () => void, ...cats: string[]): NTSTATUS => {
    if (!categoryIs(s, ...cats)) return finish(c, STATUS_INVALID_PARAMETER);
    if (bound(s)) return finish(c, STATUS_INVALID_DEVICE_STATE);
    apply();
    return finish(c, STATUS_SUCCESS);
  };
  const rcBit = receiveControlOption(c.level, c.code);
  if (rcBit !== 0) return setReceiveControl(c, rcBit, v !== 0);
  const sendOption = sendOptionOf(c.level, c.code);
  if (sendOption !== 0) return setSendOption(c, sendOption, v);
  if (c.level === SOL_SOCKET) {
    switch (c.code >>> 0) {
      case SO_CONDITIONAL_ACCEPT: return beforeBind(() => { s.options.conditionalAccept = v !== 0; }, 'listen');
      case SO_REUSEADDR: return beforeBind(() => { s.options.reuseAddress = v !== 0; }, 'listen', 'datagram', 'connection');
      case SO_EXCLUSIVEADDRUSE: return beforeBind(() => { s.options.exclusiveAddressUse = v !== 0; }, 'listen', 'datagram', 'connection');
      case SO_KEEPALIVE:
        if (!categoryIs(s, 'listen', 'connection')) return finish(c, STATUS_INVALID_PARAMETER);
        s.options.keepAlive = v !== 0;
        s.connection?.setKeepAlive(v !== 0, s.options.keepIdle, s.options.keepInterval, s.options.keepCount);
        return finish(c, STATUS_SUCCESS);
      case SO_RCVBUF:
        if (!categoryIs(s, 'listen', 'datagram', 'connection') || v === 0) return finish(c, STATUS_INVALID_PARAMETER);
        s.options.receiveBufferSize = v;
        s.options.receiveBufferSet = true;
        if (!hostAccepts(() => s.datagram?.setReceiveBufferSize(v))) return finish(c, STATUS_INVALID_PARAMETER);
        if (s.connection) {
          s.connection.setReceiveBufferSize?.(v);
          deliver(s);
        }
        return finish(c, STATUS_SUCCESS);
      case SO_BROADCAST:
        if (!categoryIs(s, 'datagram')) return finish(c, STATUS_INVALID_PARAMETER);
        if (!hostAccepts(() => s.datagram?.setBroadcast(v !== 0))) return finish(c, STATUS_INVALID_PARAMETER);
        s.options.broadcast = v !== 0;
        return finish(c, STATUS_SUCCESS);
      default: return finish(c, STATUS_INVALID_PARAMETER);
    }
  }
  if (c.level === IPPROTO_IPV6 && c.code === IPV6_V6ONLY) {
    if (s.family === AF_INET) return finish(c, STATUS_INVALID_PARAMETER);
    return beforeBind(() => { s.options.v6Only = v !== 0; }, 'listen', 'datagram', 'connection', 'stream');
  }
  if (c.level === IPPROTO_TCP && s.socketType === 1) {
    switch (c.code) {
      case TCP_NODELAY: s.options.noDelay = v !== 0; s.connection?.setNoDelay(v !== 0); return finish(c, STATUS_SUCCESS);
      case TCP_KEEPIDLE: s.options.keepIdle = v; break;
      case TCP_KEEPINTVL: s.options.keepInterval = v; break;
      case TCP_KEEPCNT: s.options.keepCount = v; break;
      case TCP_FASTOPEN: s.options.fastOpen = v !== 0; return finish(c, STATUS_SUCCESS);
      default: return finish(c, STATUS_INVALID_PARAMETER);
    }
    if (s.options.keepAlive) s.connection?.setKeepAlive(true, s.options.keepIdle, s.options.keepInterval, s.options.keepCount);
    return finish(c, STATUS_SUCCESS);
  }
  return finish(c, STATUS_INVALID_PARAMETER);
}

/**
 * IP_PKTINFO, IP_RECVTOS, IP_ECN, IP_HOPLIMIT and their IPPROTO_IPV6 twins (control-info.ts):
 * datagram sockets only (WSAENOPROTOOPT on others, the IP_PKTINFO page), IPPROTO_IPV6 ones on
 * AF_INET6 sockets only; before or after bind; a DWORD boolean. They take effect for datagrams
 * that arrive from then on.
 */
function receiveControlAllowed(c: ControlCall): boolean {
  return categoryIs(c.s, 'datagram') && !(c.level === IPPROTO_IPV6 && c.s.family === AF_INET);
}

function setReceiveControl(c: ControlCall, bit: number, on: boolean): NTSTATUS {
  const { s } = c;
  if (!receiveControlAllowed(c)) return finish(c, STATUS_INVALID_PARAMETER);
  const rc = on ? s.options.receiveControl | bit : s.options.receiveControl & ~bit;
  if (!hostAccepts(() => s.datagram?.setReceiveInfo(receiveInfoMask(rc)))) return finish(c, STATUS_INVALID_PARAMETER);
  s.options.receiveControl = rc;
  return finish(c, STATUS_SUCCESS);
}

/** The provider's SEND_* number of an option that applies to every datagram a socket sends, or 0. */
function sendOptionOf(level: number, code: number): number {
  if (level === SOL_SOCKET) return (code >>> 0) === SO_SNDBUF ? SEND_BUFFER : 0;
  if (level === IPPROTO_IPV6) {
    switch (code) {
      case IPV6_UNICAST_HOPS: return SEND_HOP_LIMIT;
      case IPV6_TCLASS: return SEND_TCLASS;
      case IPV6_DONTFRAG: return SEND_DONT_FRAGMENT6;
      case IPV6_MULTICAST_HOPS: return SEND_MULTICAST_HOPS;
      case IPV6_MULTICAST_LOOP: return SEND_MULTICAST_LOOP6;
      case IPV6_MULTICAST_IF: return SEND_MULTICAST_IF6;
      default: return 0;
    }
  }
  if (level !== IPPROTO_IP) return 0;
  switch (code) {
    case IP_MULTICAST_TTL: return SEND_MULTICAST_TTL;
    case IP_MULTICAST_LOOP: return SEND_MULTICAST_LOOP;
    case IP_MULTICAST_IF: return SEND_MULTICAST_IF;
    case IP_TTL: return SEND_TTL;
    case IP_TOS: return SEND_TOS;
    case IP_DONTFRAGMENT: return SEND_DONT_FRAGMENT;
    case IP_UNICAST_IF: return SEND_UNICAST_IF;
    case IP_HDRINCL: return SEND_HEADER_INCLUDED;
    default: return 0;
  }
}

/**
 * SO_SNDBUF on every kind of socket; IP_TTL, IP_TOS, IPV6_UNICAST_HOPS and IPV6_TCLASS on TCP
 * sockets too (the IP header of every segment; a listener's are inherited by the sockets it
 * accepts); IP_HDRINCL on raw sockets; the other IP-level ones on datagram sockets. IPPROTO_IPV6
 * ones on AF_INET6 sockets only (setSendOption).
 */
function sendOptionAllowed(s: WskSocketObject, level: number, option: number): boolean {
  if (level === IPPROTO_IPV6 && s.family === AF_INET) return false;
  switch (option) {
    case SEND_BUFFER: return categoryIs(s, 'listen', 'datagram', 'connection');
    // IPPROTO_IP socket options page: IP_HDRINCL applies to SOCK_RAW.
    case SEND_HEADER_INCLUDED: return s.socketType === SOCK_RAW && categoryIs(s, 'datagram');
    case SEND_TTL: case SEND_TOS: case SEND_HOP_LIMIT: case SEND_TCLASS: return categoryIs(s, 'listen', 'datagram', 'connection');
    default: return categoryIs(s, 'datagram');
  }
}

/** Gives a send option to the socket's transport, if it has one yet; false when the host refuses it. */
function applySendOption(s: WskSocketObject, option: number, value: number): boolean {
  return hostAccepts(() => {
    if (s.datagram) s.datagram.setSendOption(option, value);
    else if (s.connection) {
      if (option === SEND_BUFFER) s.connection.setSendBufferSize?.(value);
      else s.connection.setSendOption?.(option, value);
    } else if (s.listener && option !== SEND_BUFFER) s.listener.setSendOption?.(option, value);
  });
}

/**
 * The options sendOptionAllowed lets through, before or after bind, connect or listen: the
 * value is kept for WskGetOption and given to the transport once there is one (a datagram
 * socket's, a connection's — SO_SNDBUF caps what it has in flight — or a listener's, whose
 * accepted connections inherit it). The IPPROTO_IP ones apply to an AF_INET6 socket's IPv4
 * traffic, as on Windows. A TTL (or hop limit) of 0 or above 255, a TOS, class or multicast TTL
 * above 255, a size above 2^31 - 1 are STATUS_INVALID_PARAMETER; so is an IP_UNICAST_IF interface
 * the transport does not have (the index is in network byte order, the IPPROTO_IP socket options
 * page). IPV6_UNICAST_HOPS, IPV6_TCLASS and IPV6_DONTFRAG (IPPROTO_IPV6 socket options page) are
 * the same on an AF_INET6 socket's IPv6 traffic, and IPV6_MULTICAST_HOPS (0..255), IPV6_MULTICAST_LOOP
 * (a boolean) and IPV6_MULTICAST_IF (an interface index in host order, unlike IPv4's) on its IPv6
 * multicast datagrams; IP_HDRINCL is a boolean.
 */
function setSendOption(c: ControlCall, option: number, v: number): NTSTATUS {
  const { s } = c;
  if (!sendOptionAllowed(s, c.level, option)) return finish(c, STATUS_INVALID_PARAMETER);
  let value = v;
  switch (option) {
    case SEND_TTL: case SEND_HOP_LIMIT: if (v === 0 || v > 255) return finish(c, STATUS_INVALID_PARAMETER); break;
    case SEND_TOS: case SEND_MULTICAST_TTL: case SEND_TCLASS: case SEND_MULTICAST_HOPS: if (v > 255) return finish(c, STATUS_INVALID_PARAMETER); break;
    case SEND_DONT_FRAGMENT: case SEND_MULTICAST_LOOP: case SEND_DONT_FRAGMENT6: case SEND_HEADER_INCLUDED: case SEND_MULTICAST_LOOP6:
      value = v !== 0 ? 1 : 0;
      break;
    // Network byte order in a DWORD (an IN_ADDR for IP_MULTICAST_IF, an index for IP_UNICAST_IF): the transports take host order.
    case SEND_MULTICAST_IF: case SEND_UNICAST_IF: value = RtlUlongByteSwap(v); break;
    case SEND_BUFFER: if (v > 0x7fffffff) return finish(c, STATUS_INVALID_PARAMETER); break;
  }
  if (!applySendOption(s, option, value)) return finish(c, STATUS_INVALID_PARAMETER);
  s.options.sendOptions[option] = value;
  s.options.sendOptionsSet |= 1 << option;
  return finish(c, STATUS_SUCCESS);
}

/**
 * IP_ADD_MEMBERSHIP/IP_DROP_MEMBERSHIP with an IP_MREQ (its 8 bytes, or an IP_MREQ object) on a
 * bound datagram socket (STATUS_INVALID_DEVICE_STATE before bind). A group outside 224.0.0.0/4 or
 * an input shorter than IP_MREQ is STATUS_INVALID_PARAMETER; the transport refuses an interface
 * it does not have, a second join and a drop of a group not joined (setMembership).
 */
function setMembership(c: ControlCall, join: boolean): NTSTATUS {
  const { s } = c;
  if (!categoryIs(s, 'datagram')) return finish(c, STATUS_INVALID_PARAMETER);
  const mreq = c.input instanceof IP_MREQ ? c.input
    : c.input instanceof Uint8Array && c.input.byteLength >= SIZEOF_IP_MREQ ? new IP_MREQ(c.input) : null;
  if (!mreq || c.inSize < SIZEOF_IP_MREQ || (mreq.imr_multiaddr[0]! & 0xf0) !== 0xe0) return finish(c, STATUS_INVALID_PARAMETER);
  return applyMembership(c, mreq.imr_multiaddr.slice(), inAddrValue(mreq.imr_interface), join);
}

/** The transport joins or leaves (STATUS_INVALID_DEVICE_STATE before bind); its refusals become the status. */
function applyMembership(c: ControlCall, group: Uint8Array, iface: number, join: boolean): NTSTATUS {
  if (!c.s.datagram) return finish(c, STATUS_INVALID_DEVICE_STATE);
  let status: NTSTATUS = STATUS_SUCCESS;
  try {
    c.s.datagram.setMembership(group, iface, join);
  } catch (err) {
    status = err instanceof ProviderError ? err.status : STATUS_INVALID_PARAMETER;
  }
  return finish(c, status);
}

/**
 * IPV6_ADD_MEMBERSHIP/IPV6_DROP_MEMBERSHIP with an IPV6_MREQ (its 20 bytes, or an IPV6_MREQ
 * object) on a bound AF_INET6 datagram socket, as setMembership: a group outside ff00::/8, an input
 * shorter than IPV6_MREQ or an AF_INET socket is STATUS_INVALID_PARAMETER.
 */
function setMembership6(c: ControlCall, join: boolean): NTSTATUS {
  const { s } = c;
  if (!categoryIs(s, 'datagram') || s.family === AF_INET) return finish(c, STATUS_INVALID_PARAMETER);
  const mreq = c.input instanceof IPV6_MREQ ? c.input
    : c.input instanceof Uint8Array && c.input.byteLength >= SIZEOF_IPV6_MREQ ? new IPV6_MREQ(c.input) : null;
  if (!mreq || c.inSize < SIZEOF_IPV6_MREQ || mreq.ipv6mr_multiaddr[0] !== 0xff) return finish(c, STATUS_INVALID_PARAMETER);
  return applyMembership(c, mreq.ipv6mr_multiaddr.slice(), mreq.ipv6mr_interface, join);
}

function getOption(c: ControlCall): NTSTATUS {
  const { s } = c;
  const irpProblem = checkIrp(c, 'required');
  if (irpProblem !== null) return irpProblem;
  if (c.level === SOL_SOCKET && c.code === SO_WSK_SECURITY) {
    const sd = s.options.securityDescriptor;
    if (c.output && typeof c.output === 'object') (c.output as { value: unknown }).value = sd ? s.client.cacheSecurityDescriptor(sd) : null;
    return finish(c, STATUS_SUCCESS, SIZEOF_SIZE_T);
  }
  if (c.level === IPPROTO_TCP && c.code === TCP_CONGESTION_ALGORITHM && s.socketType === 1) {
    const name = s.connection ? (s.connection.congestionControl?.() ?? '') : (s.options.congestionAlgorithm ?? '');
    if (!name) return finish(c, s.connection || s.options.congestionAlgorithm !== null ? STATUS_NOT_SUPPORTED : STATUS_INVALID_DEVICE_STATE);
    const n = writeName(c.output, c.outSize, name);
    return n < 0 ? finish(c, STATUS_BUFFER_OVERFLOW) : finish(c, STATUS_SUCCESS, n);
  }
  let value: number | null = null;
  const rcBit = receiveControlOption(c.level, c.code);
  const sendOption = sendOptionOf(c.level, c.code);
  if (rcBit !== 0) {
    if (receiveControlAllowed(c)) value = s.options.receiveControl & rcBit ? 1 : 0;
  } else if (sendOption !== 0) {
    if (sendOptionAllowed(s, c.level, sendOption)) {
      value = s.options.sendOptions[sendOption]!;
      if (sendOption === SEND_UNICAST_IF || sendOption === SEND_MULTICAST_IF) value = RtlUlongByteSwap(value);
    }
  } else if (c.level === SOL_SOCKET) {
    switch (c.code >>> 0) {
      case SO_CONDITIONAL_ACCEPT: value = s.options.conditionalAccept ? 1 : 0; break;
      case SO_REUSEADDR: value = s.options.reuseAddress ? 1 : 0; break;
      case SO_EXCLUSIVEADDRUSE: value = s.options.exclusiveAddressUse ? 1 : 0; break;
      case SO_KEEPALIVE: value = s.options.keepAlive ? 1 : 0; break;
      case SO_RCVBUF: value = s.options.receiveBufferSize; break;
      case SO_BROADCAST: value = s.options.broadcast ? 1 : 0; break;
    }
  } else if (c.level === IPPROTO_IPV6 && c.code === IPV6_V6ONLY && s.family !== AF_INET) {
    value = s.options.v6Only ? 1 : 0;
  } else if (c.level === IPPROTO_TCP) {
    switch (c.code) {
      case TCP_NODELAY: value = s.options.noDelay ? 1 : 0; break;
      case TCP_KEEPIDLE: value = s.options.keepIdle; break;
      case TCP_KEEPINTVL: value = s.options.keepInterval; break;
      case TCP_KEEPCNT: value = s.options.keepCount; break;
    }
  }
  if (value === null) return finish(c, STATUS_INVALID_PARAMETER);
  if (c.outSize < SIZEOF_ULONG || !writeScalar(c.output, value, SIZEOF_ULONG)) return finish(c, STATUS_BUFFER_OVERFLOW);
  return finish(c, STATUS_SUCCESS, SIZEOF_ULONG);
}

/**
 * TCP_CONGESTION_ALGORITHM: on a connection the transport switches at once; before connect the
 * name is checked against the provider's list and kept for the connect (and for the sockets a
 * listener accepts). Unknown names are STATUS_NOT_FOUND (Linux: ENOENT); a provider that cannot
 * choose (node:net) says STATUS_NOT_SUPPORTED.
 */
function setCongestion(c: ControlCall): NTSTATUS {
  const { s } = c;
  const name = readName(c.input, c.inSize);
  if (name === null) return finish(c, STATUS_INVALID_PARAMETER);
  if (s.connection) {
    if (!s.connection.setCongestionControl) return finish(c, STATUS_NOT_SUPPORTED);
    if (!s.connection.setCongestionControl(name)) return finish(c, STATUS_NOT_FOUND);
  } else {
    const known = s.client.subsystem.provider.congestionControls?.();
    if (!known) return finish(c, STATUS_NOT_SUPPORTED);
    if (!known.includes(name)) return finish(c, STATUS_NOT_FOUND);
  }
  s.options.congestionAlgorithm = name;
  return finish(c, STATUS_SUCCESS);
}

/** SIO_TCP_INFO version 0: the connection's TCP_INFO_v0, from what the transport knows. */
function tcpInfo(c: ControlCall): NTSTATUS {
  const { s } = c;
  const irpProblem = checkIrp(c, 'required');
  if (irpProblem !== null) return irpProblem;
  if (!categoryIs(s, 'connection')) return finish(c, STATUS_INVALID_PARAMETER);
  if (!s.connection) return finish(c, STATUS_INVALID_DEVICE_STATE);
  const version = readUlong(c.input, c.inSize);
  if (version === null) return finish(c, STATUS_INVALID_PARAMETER);
  if (version !== 0 || !s.connection.tcpInfo) return finish(c, STATUS_NOT_SUPPORTED);
  if (c.outSize < SIZEOF_TCP_INFO_v0 || !c.output || typeof c.output !== 'object') return finish(c, STATUS_BUFFER_OVERFLOW);
  const t = s.connection.tcpInfo();
  const out = c.output as TCP_INFO_v0;
  out.State = t.state; out.Mss = t.mss; out.ConnectionTimeMs = t.connectionTimeMs; out.TimestampsEnabled = t.timestampsEnabled;
  out.RttUs = t.rttUs; out.MinRttUs = t.minRttUs; out.BytesInFlight = t.bytesInFlight; out.Cwnd = t.cwnd; out.SndWnd = t.sndWnd;
  out.RcvWnd = t.rcvWnd; out.RcvBuf = t.rcvBuf; out.BytesOut = t.bytesOut; out.BytesIn = t.bytesIn; out.BytesReordered = t.bytesReordered;
  out.BytesRetrans = t.bytesRetrans; out.FastRetrans = t.fastRetrans; out.DupAcksIn = t.dupAcksIn; out.TimeoutEpisodes = t.timeoutEpisodes;
  out.SynRetrans = t.synRetrans;
  return finish(c, STATUS_SUCCESS, SIZEOF_TCP_INFO_v0);
}

/** SO_WSK_EVENT_CALLBACK (R26–R29). */
function eventCallback(c: ControlCall): NTSTATUS {
  const { s } = c;
  const control = c.input as WSK_EVENT_CALLBACK_CONTROL | null;
  if (!control || typeof control !== 'object' || !control.NpiId || !guidEquals(control.NpiId, NPI_WSK_INTERFACE_ID)) {
    return finish(c, STATUS_INVALID_PARAMETER);
  }
  const mask = control.EventMask >>> 0;
  const disable = (mask & WSK_EVENT_DISABLE) !== 0;
  const flags = mask & ~WSK_EVENT_DISABLE;
  const isListen = categoryIs(s, 'listen');
  const allowed = isListen ? WSK_EVENT_ACCEPT | CONNECTION_EVENTS
    : categoryIs(s, 'datagram') ? WSK_EVENT_RECEIVE_FROM
      : categoryIs(s, 'connection') ? CONNECTION_EVENTS : 0;
  if (flags === 0 || (flags & ~allowed) !== 0) return finish(c, STATUS_INVALID_PARAMETER);
  // Timing: listen/datagram after bind, connection after connect (R22).
  const ready = isListen || categoryIs(s, 'datagram') ? bound(s) : s.connection !== null;
  if (!ready) return finish(c, STATUS_INVALID_DEVICE_STATE);
  if (!disable) {
    if (!c.irp) {
      enable(s, flags, isListen);
      return STATUS_SUCCESS;
    }
    enable(s, flags, isListen);
    return finish(c, STATUS_SUCCESS);
  }
  // Disable exactly one flag; static ones and a listener's connection events can't be (R28, R29).
  if ((flags & (flags - 1)) !== 0) return finish(c, STATUS_INVALID_PARAMETER);
  if ((s.staticEvents & flags) || (isListen && (flags & CONNECTION_EVENTS))) return finish(c, STATUS_INVALID_DEVICE_STATE);
  s.enabledEvents &= ~flags;
  if (s.callbackDepth === 0) return finish(c, STATUS_SUCCESS);
  if (!c.irp) return STATUS_EVENT_PENDING;
  const irp = c.irp;
  beginIrp(irp, 'WskControlSocket');
  const op = trackPending(s, { irp, done: false, prevPending: null, nextPending: null });
  afterCallbacks(s, () => settle(s, op, STATUS_SUCCESS, 0));
  // The event is already off; cancelling only stops waiting for the callback to return.
  return pendIrp(irp, () => settle(s, op, STATUS_CANCELLED, 0));
}

function enable(s: WskSocketObject, flags: number, isListen: boolean): void {
  if (isListen) {
    s.acceptedConnectionEvents |= flags & CONNECTION_EVENTS;
    s.enabledEvents |= flags & WSK_EVENT_ACCEPT;
    if (flags & WSK_EVENT_ACCEPT) setImmediate(() => { if (s.state === 'open') drainAcceptQueue(s); });
    return;
  }
  s.enabledEvents |= flags;
  // Enabling delivers what is already buffered, from the event loop (never inside this call).
  if (flags & WSK_EVENT_RECEIVE) setImmediate(() => { if (s.state === 'open' && s.connection) deliver(s); });
  if (flags & WSK_EVENT_RECEIVE_FROM) setImmediate(() => { if (s.state === 'open') deliverDatagrams(s); });
  if ((flags & WSK_EVENT_SEND_BACKLOG) && s.connection) {
    const conn = s.connection;
    setImmediate(() => { if (s.state === 'open') indicateSendBacklog(s, conn.idealSendBacklog()); });
  }
}

function ioctl(c: ControlCall): NTSTATUS {
  const { s } = c;
  switch (c.code >>> 0) {
    case SIO_WSK_SET_REMOTE_ADDRESS:
    case SIO_WSK_SET_SENDTO_ADDRESS: {
      const irpProblem = checkIrp(c, 'required');
      if (irpProblem !== null) return irpProblem;
      if (!categoryIs(s, 'datagram')) return finish(c, STATUS_INVALID_PARAMETER);
      if (!bound(s)) return finish(c, STATUS_INVALID_DEVICE_STATE);
      let ep = null;
      if (c.inSize > 0 && c.input) {
        ep = sockaddrToEndpoint(c.input as SOCKADDR);
        if (!ep || ep.family !== s.family) return finish(c, STATUS_INVALID_PARAMETER);
      }
      if ((c.code >>> 0) === SIO_WSK_SET_REMOTE_ADDRESS) s.fixedRemote = ep; else s.sendToAddress = ep;
      return finish(c, STATUS_SUCCESS);
    }
    case SIO_WSK_REGISTER_EXTENSION: {
      const irpProblem = checkIrp(c, 'none');
      return irpProblem ?? finish(c, STATUS_NOT_SUPPORTED);
    }
    case SIO_WSK_QUERY_IDEAL_SEND_BACKLOG:
    case SIO_WSK_QUERY_RECEIVE_BACKLOG: {
      const irpProblem = checkIrp(c, 'required');
      if (irpProblem !== null) return irpProblem;
      if (!categoryIs(s, 'connection')) return finish(c, STATUS_INVALID_PARAMETER);
      if (!s.connection) return finish(c, STATUS_INVALID_DEVICE_STATE);
      const value = (c.code >>> 0) === SIO_WSK_QUERY_RECEIVE_BACKLOG ? s.receiveBytes : s.connection.idealSendBacklog();
      if (c.outSize < SIZEOF_SIZE_T || !writeScalar(c.output, value, SIZEOF_SIZE_T)) return finish(c, STATUS_BUFFER_OVERFLOW);
      return finish(c, STATUS_SUCCESS, SIZEOF_SIZE_T);
    }
    case SIO_TCP_INFO: return tcpInfo(c);
    case SIO_WSK_QUERY_INSPECT_ID: {
      const irpProblem = checkIrp(c, 'none');
      if (irpProblem !== null) return irpProblem;
      if (!s.inspectId) return finish(c, STATUS_INVALID_DEVICE_REQUEST);
      if (c.outSize < SIZEOF_WSK_INSPECT_ID || !c.output || typeof c.output !== 'object') return finish(c, STATUS_BUFFER_OVERFLOW);
      Object.assign(c.output as WSK_INSPECT_ID, s.inspectId);
      return finish(c, STATUS_SUCCESS, SIZEOF_WSK_INSPECT_ID);
    }
    case SIO_WSK_SET_TCP_SILENT_MODE: {
      const irpProblem = checkIrp(c, 'required');
      if (irpProblem !== null) return irpProblem;
      if (!categoryIs(s, 'connection') || !s.connection) return finish(c, STATUS_INVALID_DEVICE_STATE);
      if (s.sends.size > 0 || s.disconnectPending) return finish(c, STATUS_INVALID_DEVICE_STATE);
      // Windows refuses silent mode on loopback; the host provider cannot keep the kernel silent at all.
      if (isLoopback(s.connection.remoteEndpoint) || !s.client.subsystem.supportsSilentMode) return finish(c, STATUS_NOT_SUPPORTED);
      s.silent = true;
      return finish(c, STATUS_SUCCESS);
    }
    case SIO_ADDRESS_LIST_QUERY: {
      const irpProblem = checkIrp(c, 'none');
      if (irpProblem !== null) return irpProblem;
      const addresses = s.client.subsystem.provider.localAddresses(s.family);
      const each = s.family === AF_INET ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE;
      const needed = SIZEOF_SOCKET_ADDRESS_LIST_HEADER + addresses.length * (SIZEOF_SOCKET_ADDRESS + each);
      if (c.outSize < needed || !c.output) {
        if (c.returned) c.returned.value = needed;
        return STATUS_BUFFER_OVERFLOW;
      }
      const list = c.output as SOCKET_ADDRESS_LIST;
      list.iAddressCount = addresses.length;
      list.Address = addresses.map((ep) => ({ lpSockaddr: endpointToSockaddr(ep), iSockaddrLength: each }));
      return finish(c, STATUS_SUCCESS, needed);
    }
    case SIO_ADDRESS_LIST_CHANGE: {
      const irpProblem = checkIrp(c, 'required');
      if (irpProblem !== null) return irpProblem;
      const irp = c.irp!;
      beginIrp(irp, 'WskControlSocket');
      const op = trackPending(s, { irp, done: false, prevPending: null, nextPending: null });
      const stop = watchAddressList(s.client.subsystem.provider, s.family, () => settle(s, op, STATUS_SUCCESS, 0));
      return pendIrp(irp, () => { stop(); settle(s, op, STATUS_CANCELLED, 0); });
    }
    default: {
      return c.irp ? finish(c, STATUS_INVALID_PARAMETER) : STATUS_INVALID_PARAMETER;
    }
  }
}

/*
 * berkeley: a port of KSOCKET's BSD-sockets veneer (wbenny/KSOCKET `src/ksocket/berkeley.c` and
 * `berkeley.h`) over the Ks* layer in ksocket.ts. Socket numbers index a
 * fixed table of 128 KSOCKETs filled round-robin (`TO_SOCKETFD(KsIndex++)`), exactly as the C's
 * self-described stopgap does; getaddrinfo converts `struct addrinfo` hints to ADDRINFOEXW, calls
 * KsGetAddrInfo and converts the answer back. Errors are those of the C: socket calls return -1,
 * getaddrinfo returns the failing NTSTATUS (negative) rather than an EAI_* code.
 *
 * What differs from the C, and why:
 *  - Every call that reaches WSK waits, so it is async (resolving with the C's int result).
 *  - Addition: `KsLastStatus()` reads the NTSTATUS behind the last -1 (or 0), which the C throws
 *    away; like errno, every call here sets it.
 *  - recvfrom calls KsRecvFrom: the C calls KsSendTo there (a bug in the original), which
 *    would send the caller's buffer instead of receiving into it.
 *  - A socket number with no socket behind it (never created, closed, or outside 0..127) returns
 *    -1 with STATUS_INVALID_HANDLE; the C dereferences the NULL table entry and bugchecks.
 *  - Out-parameters are holders (`struct addrinfo **res`, `socklen_t *addrlen`); accept and
 *    recvfrom set `*addrlen` only when one is passed (the C writes through it unconditionally).
 *  - The ANSI↔UNICODE_STRING conversions (RtlAnsiStringToUnicodeString and back) become string
 *    copies, and pool memory becomes garbage-collected objects, so their failure paths are gone.
 *  - htonl/htons/ntohl/ntohs, which the C defines here, are the runtime's own.
 */
import {
  IPPROTO_TCP, NT_SUCCESS, STATUS_INVALID_HANDLE, STATUS_SUCCESS, UNICODE_STRING, htonl, htons, ntohl, ntohs,
  type ADDRINFOEXW, type Holder, type NTSTATUS, type PADDRINFOEXW, type SOCKADDR,
} from '../../index.ts';
import {
  KsAccept, KsBind, KsCloseSocket, KsConnect, KsCreateConnectionSocket, KsCreateDatagramSocket, KsCreateListenSocket,
  KsFreeAddrInfo, KsGetAddrInfo, KsRecv, KsRecvFrom, KsSend, KsSendTo, type PKSOCKET,
} from './ksocket.ts';

export { htonl, htons, ntohl, ntohs };

// ---------------------------------------------------------------------------------------------
// Definitions

const SOCKETFD_MAX = 128;
const TO_SOCKETFD = (index: number): number => index % SOCKETFD_MAX;
const FROM_SOCKETFD = (sockfd: number): number => sockfd;

/** sizeof(SOCKADDR): what accept and recvfrom report in *addrlen, as the C does. */
const SIZEOF_SOCKADDR = 16;

export type socklen_t = number;

/** struct addrinfo (ADDRINFOA): the ANSI twin of ADDRINFOEXW without blob and provider. */
export interface addrinfo {
  ai_flags: number;
  ai_family: number;
  ai_socktype: number;
  ai_protocol: number;
  ai_addrlen: number;
  ai_canonname: string | null;
  ai_addr: SOCKADDR | null;
  ai_next: addrinfo | null;
}

/** A zeroed `struct addrinfo` (`struct addrinfo hints = { 0 };`). */
export function addrinfo(): addrinfo {
  return { ai_flags: 0, ai_family: 0, ai_socktype: 0, ai_protocol: 0, ai_addrlen: 0, ai_canonname: null, ai_addr: null, ai_next: null };
}

// ---------------------------------------------------------------------------------------------
// Variables (the C's comment calls this table "complete bollocks" that should be an AVL table)

const KsArray: Array<PKSOCKET | null> = new Array<PKSOCKET | null>(SOCKETFD_MAX).fill(null);
let KsIndex = 0;
let LastStatus: NTSTATUS = STATUS_SUCCESS;

/** Addition: the NTSTATUS of the last call of this layer (errno's role; the C discards it). */
export function KsLastStatus(): NTSTATUS {
  return LastStatus;
}

function KspSocketFromFd(sockfd: number): PKSOCKET | null {
  const Socket = Number.isInteger(sockfd) && sockfd >= 0 && sockfd < SOCKETFD_MAX ? KsArray[FROM_SOCKETFD(sockfd)]! : null;
  if (!Socket) LastStatus = STATUS_INVALID_HANDLE;
  return Socket;
}

function KspSocketToFd(Socket: PKSOCKET): number {
  const sockfd = TO_SOCKETFD(KsIndex++);
  KsArray[FROM_SOCKETFD(sockfd)] = Socket;
  return sockfd;
}

/** Records Status and maps it to the C's `NT_SUCCESS(Status) ? value : -1`. */
function KspResult(Status: NTSTATUS, value: number): number {
  LastStatus = Status;
  return NT_SUCCESS(Status) ? value : -1;
}

// ---------------------------------------------------------------------------------------------
// Private functions

function KspUtilAddrInfoToAddrInfoEx(AddrInfo: addrinfo | null): PADDRINFOEXW {
  // Convert NULL input into NULL output.
  if (AddrInfo === null) return null;
  return {
    ai_flags: AddrInfo.ai_flags,
    ai_family: AddrInfo.ai_family,
    ai_socktype: AddrInfo.ai_socktype,
    ai_protocol: AddrInfo.ai_protocol,
    ai_addrlen: AddrInfo.ai_addrlen,
    ai_canonname: AddrInfo.ai_canonname,
    ai_addr: AddrInfo.ai_addr,
    ai_blob: null,
    ai_bloblen: 0,
    ai_provider: null,
    // Copy the next structure (recursively).
    ai_next: KspUtilAddrInfoToAddrInfoEx(AddrInfo.ai_next),
  };
}

function KspUtilAddrInfoExToAddrInfo(AddrInfoEx: PADDRINFOEXW): addrinfo | null {
  if (AddrInfoEx === null) return null;
  return {
    ai_flags: AddrInfoEx.ai_flags,
    ai_family: AddrInfoEx.ai_family,
    ai_socktype: AddrInfoEx.ai_socktype,
    ai_protocol: AddrInfoEx.ai_protocol,
    ai_addrlen: AddrInfoEx.ai_addrlen,
    ai_canonname: AddrInfoEx.ai_canonname,
    ai_addr: AddrInfoEx.ai_addr,
    ai_next: KspUtilAddrInfoExToAddrInfo(AddrInfoEx.ai_next),
  };
}

// ---------------------------------------------------------------------------------------------
// Public functions

export async function getaddrinfo(node: string | null, service: string | null, hints: addrinfo | null, res: Holder<addrinfo | null>): Promise<number> {
  // Convert node and service names to UNICODE_STRINGs (if present).
  const NodeName = node !== null ? UNICODE_STRING(node) : null;
  const ServiceName = service !== null ? UNICODE_STRING(service) : null;

  // Convert "struct addrinfo" to the "ADDRINFOEXW".
  const Hints: ADDRINFOEXW | null = KspUtilAddrInfoToAddrInfoEx(hints);

  // All data is prepared, call the underlying API.
  const Result: Holder<PADDRINFOEXW> = { value: null };
  const Status = await KsGetAddrInfo(NodeName, ServiceName, Hints, Result);
  LastStatus = Status;
  if (!NT_SUCCESS(Status)) return Status;

  // Convert the result "ADDRINFOEXW" to the "struct addrinfo", then free the original.
  res.value = KspUtilAddrInfoExToAddrInfo(Result.value);
  KsFreeAddrInfo(Result.value);
  return STATUS_SUCCESS;
}

/** The list is plain objects that the collector frees once unreferenced (KspUtilFreeAddrInfo in the C). */
export function freeaddrinfo(_res: addrinfo | null): void {}

export async function socket_connection(domain: number, type: number, protocol: number): Promise<number> {
  const Socket: Holder<PKSOCKET | null> = { value: null };
  const Status = await KsCreateConnectionSocket(Socket, domain, type, protocol);
  return KspResult(Status, NT_SUCCESS(Status) ? KspSocketToFd(Socket.value!) : -1);
}

export async function socket_listen(domain: number, type: number, protocol: number): Promise<number> {
  const Socket: Holder<PKSOCKET | null> = { value: null };
  // WskSocket() on Windows returns STATUS_PROTOCOL_UNREACHABLE (0xC000023E) when Protocol == 0,
  // so coerce this value to IPPROTO_TCP here.
  const Status = await KsCreateListenSocket(Socket, domain, type, protocol || IPPROTO_TCP);
  return KspResult(Status, NT_SUCCESS(Status) ? KspSocketToFd(Socket.value!) : -1);
}

export async function socket_datagram(domain: number, type: number, protocol: number): Promise<number> {
  const Socket: Holder<PKSOCKET | null> = { value: null };
  const Status = await KsCreateDatagramSocket(Socket, domain, type, protocol);
  return KspResult(Status, NT_SUCCESS(Status) ? KspSocketToFd(Socket.value!) : -1);
}

/** `#define socket socket_connection` */
export const socket = socket_connection;

export async function connect(sockfd: number, addr: SOCKADDR, _addrlen: socklen_t): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  return KspResult(await KsConnect(Socket, addr), 0);
}

/** A WSK listening socket listens once bound, so listen() has nothing to do (as in the C). */
export function listen(_sockfd: number, _backlog: number): number {
  return 0;
}

export async function bind(sockfd: number, addr: SOCKADDR, _addrlen: socklen_t): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  return KspResult(await KsBind(Socket, addr), 0);
}

export async function accept(sockfd: number, addr: SOCKADDR | null, addrlen: Holder<socklen_t> | null): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const NewSocket: Holder<PKSOCKET | null> = { value: null };
  const Status = await KsAccept(Socket, NewSocket, null, addr);
  if (addrlen) addrlen.value = SIZEOF_SOCKADDR;
  return KspResult(Status, NT_SUCCESS(Status) ? KspSocketToFd(NewSocket.value!) : -1);
}

export async function send(sockfd: number, buf: Uint8Array, len: number, flags: number): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const Length = { value: len };
  return KspResult(await KsSend(Socket, buf, Length, flags), Length.value);
}

export async function sendto(
  sockfd: number, buf: Uint8Array, len: number, flags: number, dest_addr: SOCKADDR | null, _addrlen: socklen_t,
): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const Length = { value: len };
  return KspResult(await KsSendTo(Socket, buf, Length, flags, dest_addr), Length.value);
}

export async function recv(sockfd: number, buf: Uint8Array, len: number, flags: number): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const Length = { value: len };
  return KspResult(await KsRecv(Socket, buf, Length, flags), Length.value);
}

export async function recvfrom(
  sockfd: number, buf: Uint8Array, len: number, flags: number, src_addr: SOCKADDR | null, addrlen: Holder<socklen_t> | null,
): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const Length = { value: len };
  const Status = await KsRecvFrom(Socket, buf, Length, flags, src_addr);
  if (addrlen) addrlen.value = SIZEOF_SOCKADDR;
  return KspResult(Status, Length.value);
}

export async function closesocket(sockfd: number): Promise<number> {
  const Socket = KspSocketFromFd(sockfd);
  if (!Socket) return -1;
  const Status = await KsCloseSocket(Socket);
  KsArray[FROM_SOCKETFD(sockfd)] = null;
  return KspResult(Status, 0);
}

/*
 * ksocket-demo: a port of KSOCKET's demo driver (wbenny/KSOCKET `src/ksocket/main.c`)
 * over the berkeley layer. DriverEntry initializes KSOCKET, runs its two blocks, and
 * destroys KSOCKET:
 *   1. TCP client: getaddrinfo(host, "80") with hints AI_CANONNAME / AF_UNSPEC / SOCK_STREAM, an
 *      AF_INET connection socket, connect, send "GET /uuid HTTP/1.1" with Host and
 *      "Connection: close", receive, print "TCP client:\n<response>".
 *   2. TCP server: a listening socket (protocol 0) bound to 0.0.0.0:9095, listen, accept one
 *      client, receive one message, print "TCP server:\n<message>", send "Hello from WSK!"
 *      (16 bytes: sizeof() counts the terminating NUL, as in the C), close both sockets.
 *
 * What differs from the C, and why:
 *  - Target addresses: the C fetches http://httpbin.org/uuid on the internet and listens on
 *    0.0.0.0:9095. Here the HTTP host, port and path and the server's address and port are
 *    options, so tests and labs point them at loopback or at a lab peer (198.18.0.0/15); the
 *    C's values remain the defaults only where they reach no outside host (path /uuid, server
 *    port 9095, and one client). runKsocketDemo binds the server to 127.0.0.1 unless told
 *    otherwise, so that the demo answers no other host.
 *  - The C ignores every result (a failed getaddrinfo leaves `res` NULL and the driver
 *    bugchecks on `res->ai_addr`). Here a failed call ends its block with a result naming the
 *    call and its NTSTATUS (the sockets it opened are still closed), and DriverEntry goes on to
 *    the next block as the C does.
 *  - The C connects its AF_INET socket to the first getaddrinfo answer, which with AF_UNSPEC may
 *    be IPv6 (e.g. "localhost" → ::1 first) and then cannot connect; here the first AF_INET
 *    answer is used.
 *  - The request is sent without the C's trailing NUL: that byte is not part of HTTP, and a
 *    server that closes with it unread resets the connection, which can discard the response
 *    before it is read. The Host header carries the port when it is not 80 (RFC 9110 §7.2).
 *  - The C receives once into 1024 bytes, which on the internet happened to hold httpbin's whole
 *    answer; a server that writes headers and body separately (python3 http.server) needs more
 *    than one receive, so the client receives into that 1024-byte buffer until the peer closes,
 *    bounded by MAX_RESPONSE_BYTES.
 *  - Additions: `clients` (accept that many clients one after another; the C serves one),
 *    `onListening` (called after listen(), so a caller knows when to connect), `log`
 *    (DbgPrintEx), and results a caller can check. DriverEntry's return value
 *    (STATUS_UNSUCCESSFUL, so that the driver unloads at once) has no counterpart: the
 *    function returns after KsDestroy.
 */
import {
  AF_INET, AF_UNSPEC, AI_CANONNAME, IPPROTO_TCP, NT_SUCCESS, SOCK_STREAM, STATUS_NOT_FOUND, STATUS_SUCCESS,
  makeSockaddrIn, ntStatusName, type NTSTATUS, type SOCKADDR, type SOCKADDR_IN, type WskSubsystem,
} from '../../index.ts';
import {
  KsLastStatus, accept, addrinfo, bind, closesocket, connect, freeaddrinfo, getaddrinfo, listen, recv, send,
  ntohs, socket_connection, socket_listen,
} from './berkeley.ts';
import { KsDestroy, KsInitialize } from './ksocket.ts';

export interface KsocketHttpGetOptions {
  /** WSK subsystem to run on (default: the default one, the kernel provider). */
  subsystem?: WskSubsystem;
  /** Host to fetch from: a name or an IPv4 address (httpbin.org in the C). */
  host: string;
  /** TCP port (80 in the C). */
  port: number;
  /** Request path (default "/uuid", as in the C). */
  path?: string;
  /** DbgPrintEx: where the demo's output goes (default: nowhere). */
  log?: (message: string) => void;
}

export interface KsocketTcpServerOptions {
  subsystem?: WskSubsystem;
  /** IPv4 address to bind (0.0.0.0 in the C). */
  host: string;
  /** Port to listen on (default 9095, as in the C). */
  port?: number;
  /** Clients to serve one after another before closing (default 1, as in the C). */
  clients?: number;
  /** Called once the socket listens. */
  onListening?: () => void;
  log?: (message: string) => void;
}

export interface KsocketDemoOptions extends Omit<KsocketHttpGetOptions, 'subsystem' | 'log'> {
  subsystem?: WskSubsystem;
  /** The server block's options (default: bind 127.0.0.1:9095). */
  server?: Omit<KsocketTcpServerOptions, 'subsystem' | 'log'>;
  log?: (message: string) => void;
}

export interface KsocketBlockFailure {
  /** STATUS_SUCCESS, or the NTSTATUS of the call that failed. */
  Status: NTSTATUS;
  /** The berkeley call that failed, or null. */
  failed: string | null;
}

export interface KsocketHttpGetResult extends KsocketBlockFailure {
  /** The address connected to ("a.b.c.d:port"), or null before connect. */
  address: string | null;
  /** Every byte received until the server closed. */
  response: Uint8Array;
}

export interface KsocketTcpServerResult extends KsocketBlockFailure {
  /** Clients accepted, heard and answered. */
  clients: number;
  /** What each client's one receive returned. */
  received: Uint8Array[];
  /** Greeting bytes sent, over all clients. */
  bytesSent: number;
}

export interface KsocketDemoResult {
  /** KsInitialize's status; when it failed neither block ran. */
  Status: NTSTATUS;
  http: KsocketHttpGetResult | null;
  server: KsocketTcpServerResult | null;
}

export const KSOCKET_DEMO_PATH = '/uuid';
export const KSOCKET_DEMO_SERVER_PORT = 9095;
export const KSOCKET_DEMO_GREETING = 'Hello from WSK!';
const MAX_RESPONSE_BYTES = 16 << 20;

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

function concat(chunks: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(chunks));
}

// ---------------------------------------------------------------------------------------------
// The two blocks of DriverEntry (KSOCKET initialized)

async function TcpClientBlock(options: KsocketHttpGetOptions): Promise<KsocketHttpGetResult> {
  const DebuggerPrint = options.log ?? ((): void => {});
  const hostHeader = options.port === 80 ? options.host : `${options.host}:${options.port}`;
  const send_buffer = Buffer.from(
    `GET ${options.path ?? KSOCKET_DEMO_PATH} HTTP/1.1\r\n`
    + `Host: ${hostHeader}\r\n`
    + 'Connection: close\r\n'
    + '\r\n', 'latin1');
  const recv_buffer = new Uint8Array(1024);
  const chunks: Uint8Array[] = [];
  const out: KsocketHttpGetResult = { Status: STATUS_SUCCESS, failed: null, address: null, response: new Uint8Array(0) };
  const fail = (what: string, Status: NTSTATUS = KsLastStatus()): KsocketHttpGetResult => {
    DebuggerPrint(`TCP client: ${what} failed: ${ntStatusName(Status)}\n`);
    return Object.assign(out, { Status, failed: what, response: concat(chunks) });
  };

  const hints = addrinfo();
  hints.ai_flags |= AI_CANONNAME;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;

  const res = { value: null as addrinfo | null };
  let result = await getaddrinfo(options.host, String(options.port), hints, res);
  if (result !== 0) return fail('getaddrinfo', result);
  let ai = res.value;
  while (ai && ai.ai_family !== AF_INET) ai = ai.ai_next;
  if (!ai?.ai_addr) {
    freeaddrinfo(res.value);
    return fail('getaddrinfo (no IPv4 address)', STATUS_NOT_FOUND);
  }
  const sin = ai.ai_addr as SOCKADDR_IN;
  out.address = `${sin.sin_addr.join('.')}:${ntohs(sin.sin_port)}`;

  const sockfd = await socket_connection(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (sockfd < 0) {
    freeaddrinfo(res.value);
    return fail('socket_connection');
  }
  try {
    result = await connect(sockfd, ai.ai_addr, ai.ai_addrlen);
    if (result < 0) return fail('connect');
    result = await send(sockfd, send_buffer, send_buffer.byteLength, 0);
    if (result < 0) return fail('send');
    let total = 0;
    while (total < MAX_RESPONSE_BYTES) {
      result = await recv(sockfd, recv_buffer, recv_buffer.byteLength, 0);
      if (result < 0) return fail('recv');
      if (result === 0) break;
      chunks.push(recv_buffer.slice(0, result));
      total += result;
    }
    out.response = concat(chunks);
    DebuggerPrint(`TCP client:\n${latin1(out.response)}\n`);
    return out;
  } finally {
    freeaddrinfo(res.value);
    await closesocket(sockfd);
  }
}

async function TcpServerBlock(options: KsocketTcpServerOptions): Promise<KsocketTcpServerResult> {
  const DebuggerPrint = options.log ?? ((): void => {});
  // sizeof(send_buffer): the string and its terminating NUL.
  const send_buffer = Buffer.from(`${KSOCKET_DEMO_GREETING}\0`, 'latin1');
  const recv_buffer = new Uint8Array(1024);
  const out: KsocketTcpServerResult = { Status: STATUS_SUCCESS, failed: null, clients: 0, received: [], bytesSent: 0 };
  const fail = (what: string): KsocketTcpServerResult => {
    const Status = KsLastStatus();
    DebuggerPrint(`TCP server: ${what} failed: ${ntStatusName(Status)}\n`);
    return Object.assign(out, { Status, failed: what });
  };

  // Protocol 0: socket_listen turns it into IPPROTO_TCP.
  const server_sockfd = await socket_listen(AF_INET, SOCK_STREAM, 0);
  if (server_sockfd < 0) return fail('socket_listen');
  try {
    let addr: SOCKADDR = makeSockaddrIn(options.host, options.port ?? KSOCKET_DEMO_SERVER_PORT);
    if (await bind(server_sockfd, addr, 16) < 0) return fail('bind');
    listen(server_sockfd, 1);
    options.onListening?.();

    const clients = options.clients ?? 1;
    for (let i = 0; i < clients; i++) {
      const addrlen = { value: 16 };
      addr = makeSockaddrIn('0.0.0.0', 0);
      const client_sockfd = await accept(server_sockfd, addr, addrlen);
      if (client_sockfd < 0) return fail('accept');
      try {
        // One byte short of the buffer, as in the C (room for the NUL its print relies on).
        const result = await recv(client_sockfd, recv_buffer, recv_buffer.byteLength - 1, 0);
        if (result < 0) return fail('recv');
        const message = recv_buffer.slice(0, result);
        out.received.push(message);
        DebuggerPrint(`TCP server:\n${latin1(message)}\n`);

        const sent = await send(client_sockfd, send_buffer, send_buffer.byteLength, 0);
        if (sent < 0) return fail('send');
        out.bytesSent += sent;
        out.clients++;
      } finally {
        // No WskDisconnect first, as in the C: closing a connected socket is abortive (R43), after
        // WskSend completed (R40), so the greeting has left before the reset.
        await closesocket(client_sockfd);
      }
    }
    return out;
  } finally {
    await closesocket(server_sockfd);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** The demo's TCP client block on its own: KsInitialize, HTTP GET, KsDestroy. */
export async function ksocketHttpGet(options: KsocketHttpGetOptions): Promise<KsocketHttpGetResult> {
  const Status = await KsInitialize(options.subsystem);
  if (!NT_SUCCESS(Status)) return { Status, failed: 'KsInitialize', address: null, response: new Uint8Array(0) };
  try {
    return await TcpClientBlock(options);
  } finally {
    await KsDestroy();
  }
}

/** The demo's TCP server block on its own: KsInitialize, serve, KsDestroy. */
export async function ksocketTcpServer(options: KsocketTcpServerOptions): Promise<KsocketTcpServerResult> {
  const Status = await KsInitialize(options.subsystem);
  if (!NT_SUCCESS(Status)) return { Status, failed: 'KsInitialize', clients: 0, received: [], bytesSent: 0 };
  try {
    return await TcpServerBlock(options);
  } finally {
    await KsDestroy();
  }
}

/**
 * DriverEntry: KsInitialize, the TCP client block, the TCP server block, KsDestroy. A failed
 * client block does not stop the server block, as in the C. For `wsk run ksocket-demo`.
 */
export async function runKsocketDemo(options: KsocketDemoOptions): Promise<KsocketDemoResult> {
  const Status = await KsInitialize(options.subsystem);
  if (!NT_SUCCESS(Status)) {
    options.log?.(`KsInitialize failed: ${ntStatusName(Status)}\n`);
    return { Status, http: null, server: null };
  }
  try {
    const http = await TcpClientBlock(options);
    const server = await TcpServerBlock({ host: '127.0.0.1', ...options.server, log: options.log });
    return { Status, http, server };
  } finally {
    await KsDestroy();
  }
}

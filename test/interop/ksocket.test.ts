// The KSOCKET port (apps/ksocket; wbenny/KSOCKET) against real Linux peers: on the kernel provider
// over loopback (python3 http.server, nc, python3 and node:dgram peers on 127.0.0.1), and on the
// userspace stack in a veth lab (AF_PACKET link; python3 http.server and nc in the peer
// namespace at 198.18.x.x). The lab part needs root, which CI is. Every wait is bounded; the
// test ends only the processes it started, by pid (or by the lab's process groups).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AI_CANONNAME, AI_NUMERICHOST, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM,
  STATUS_CONNECTION_REFUSED, STATUS_DEVICE_NOT_READY, STATUS_INVALID_HANDLE, STATUS_NOT_FOUND, STATUS_SUCCESS,
  UNICODE_STRING, WskUsageError, createKernelProvider, makeSockaddrIn, ntStatusName, ntohs, startWskSubsystem,
  type ADDRINFOEXW, type PADDRINFOEXW, type SOCKADDR, type SOCKADDR_IN, type WskSubsystem,
} from '../../index.ts';
import {
  KsCloseSocket, KsConnect, KsCreateConnectionSocket, KsDestroy, KsFreeAddrInfo, KsGetAddrInfo, KsInitialize, type PKSOCKET,
} from '../../apps/ksocket/ksocket.ts';
import {
  KsLastStatus, addrinfo, bind, closesocket, connect, getaddrinfo, recv, recvfrom, sendto, socket_connection, socket_datagram,
} from '../../apps/ksocket/berkeley.ts';
import { KSOCKET_DEMO_GREETING, ksocketHttpGet, ksocketTcpServer, runKsocketDemo } from '../../apps/ksocket/ksocket-demo.ts';
import { openStackLab, type PeerResult, type StackLab } from '../helpers/real-link.ts';

// ---------------------------------------------------------------------------------------------
// helpers

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What the demo server sends: sizeof("Hello from WSK!"), the NUL included. */
const GREETING = Buffer.from(`${KSOCKET_DEMO_GREETING}\0`, 'latin1');

const children = new Set<ChildProcess>();

function killChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}

interface Run { code: number | null; stdout: Buffer; stderr: string }

/** Runs a program to its end (killed after timeoutMs), writing `input` to its stdin first. */
function run(cmd: string, args: string[], input: string | null, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d) => { stderr += d; });
    // stdin stays open: the client ends when the server closes, not when its input does.
    if (input !== null) child.stdin!.write(input);
    const timer = setTimeout(() => { stderr += `(killed after ${timeoutMs} ms)`; killChild(child); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); children.delete(child); resolve({ code, stdout: Buffer.concat(out), stderr }); });
  });
}

/** python3 -m http.server on 127.0.0.1, an ephemeral port, serving `dir`; resolves with the port. */
function startHttpServer(dir: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('close', () => children.delete(child));
  let out = '';
  return withTimeout(new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on('close', (code) => reject(new Error(`http.server exited (${code}): ${out}`)));
  }), 10_000, 'python3 http.server to print its port');
}

/** A loopback TCP port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Splits an HTTP response into its status line and its body (after the blank line). */
function splitResponse(bytes: Uint8Array): { statusLine: string; body: Buffer } {
  const b = Buffer.from(bytes);
  const end = b.indexOf('\r\n\r\n');
  return { statusLine: b.subarray(0, b.indexOf('\r\n')).toString('latin1'), body: end < 0 ? Buffer.alloc(0) : b.subarray(end + 4) };
}

/** A python3 TCP client: sends `message`, reads until EOF or reset, prints what it got in hex. */
const PY_CLIENT = [
  'import socket, sys',
  's = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)',
  's.settimeout(10)',
  's.sendall(sys.argv[3].encode())',
  'd = b""',
  'for _ in range(1000):',
  '    try: c = s.recv(1024)',
  '    except ConnectionResetError: break',
  '    if not c: break',
  '    d += c',
  'sys.stdout.write(d.hex())',
].join('\n');

afterAll(() => {
  for (const c of children) killChild(c);
});

// ---------------------------------------------------------------------------------------------
// kernel provider, loopback

describe('KSOCKET on the kernel provider over loopback', () => {
  let subsystem: WskSubsystem;
  let dir: string;
  let body: Buffer;
  let http: { port: number; child: ChildProcess };

  beforeAll(async () => {
    subsystem = await startWskSubsystem(createKernelProvider(), { name: 'ksocket-kernel', makeDefault: false, registerWithNmr: false });
    dir = mkdtempSync(join(tmpdir(), 'wsk-ksocket-'));
    // The demo asks for /uuid, as the C asks httpbin.org; binary bytes check the body end to end.
    body = Buffer.concat([Buffer.from('ksocket-uuid:'), randomBytes(3000)]);
    writeFileSync(join(dir, 'uuid'), body);
    http = await startHttpServer(dir);
  }, 20_000);

  afterAll(async () => {
    if (http) killChild(http.child);
    await subsystem?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  // R11/R12 (socket, bind, connect, send and receive complete through the IRP; Information is the
  // socket or the byte count), R18 (KsConnect binds before WskConnect), R40 (the whole request is
  // sent), R41 (receives complete with what is there; the server's close completes one with 0),
  // R43 (the final close after the peer's FIN), R51 (numeric host and service).
  it('the HTTP GET demo fetches /uuid from python3 http.server', async () => {
    const lines: string[] = [];
    const r = await withTimeout(ksocketHttpGet({ subsystem, host: '127.0.0.1', port: http.port, log: (m) => lines.push(m) }), 15_000, 'HTTP GET');
    expect(r.failed, ntStatusName(r.Status)).toBeNull();
    expect(r.Status).toBe(STATUS_SUCCESS);
    expect(r.address).toBe(`127.0.0.1:${http.port}`);
    const { statusLine, body: got } = splitResponse(r.response);
    expect(statusLine).toMatch(/^HTTP\/1\.[01] 200 OK$/);
    expect(got.equals(body)).toBe(true);
    expect(lines.join('')).toMatch(/^TCP client:\nHTTP\/1\.[01] 200 OK\r\n/);
  }, 20_000);

  // R51: "localhost" goes through the host resolver, and KsConnect's AF_INET socket gets the
  // IPv4 answer whatever the order of the list.
  it('the HTTP GET demo resolves "localhost"', async () => {
    const r = await withTimeout(ksocketHttpGet({ subsystem, host: 'localhost', port: http.port }), 15_000, 'HTTP GET localhost');
    expect(r.Status).toBe(STATUS_SUCCESS);
    expect(r.address).toBe(`127.0.0.1:${http.port}`);
    expect(splitResponse(r.response).body.equals(body)).toBe(true);
  }, 20_000);

  // R16 (a listen socket: binding it starts listening; protocol 0 coerced to IPPROTO_TCP),
  // R11/R12 (WskAccept completes with the new socket), R41 (one receive), R40 (the greeting is
  // sent whole before the close), R43 (closing a connected socket is abortive, after the send).
  it('the TCP server demo answers an nc client and a python3 client', async () => {
    const port = await closedPort();
    const clients: Promise<Run>[] = [];
    const served = ksocketTcpServer({
      subsystem, host: '127.0.0.1', port, clients: 2,
      onListening: () => {
        // One after the other: the server serves them in turn, as the C's single accept would.
        const nc = run('nc', ['127.0.0.1', String(port)], 'HELLO FROM USERMODE!\n', 10_000);
        clients.push(nc, nc.then(() => run('python3', ['-c', PY_CLIENT, '127.0.0.1', String(port), 'HELLO FROM PYTHON!\n'], null, 10_000)));
      },
    });
    const r = await withTimeout(served, 20_000, 'TCP server');
    const [nc, py] = await Promise.all(clients);
    expect(r.failed, ntStatusName(r.Status)).toBeNull();
    expect(r.clients).toBe(2);
    expect(r.received.map((b) => Buffer.from(b).toString())).toEqual(['HELLO FROM USERMODE!\n', 'HELLO FROM PYTHON!\n']);
    expect(r.bytesSent).toBe(2 * GREETING.byteLength);
    expect(Buffer.from(py!.stdout.toString(), 'hex').equals(GREETING), py!.stderr).toBe(true);
    // The close right after the send resets the connection (R43, as in the C); on loopback the
    // reset can reach nc before it reads, and OpenBSD nc drops a socket that reports POLLERR
    // without reading it. So nc prints the greeting or nothing (about half the time), never
    // anything else; the python3 client reads before it sees the reset and must get it whole.
    expect(['', GREETING.toString('hex')], nc!.stderr).toContain(nc!.stdout.toString('hex'));
  }, 30_000);

  // R51: numeric and named hosts, AI_CANONNAME, ai_addrlen/family/port; KsFreeAddrInfo frees the list.
  it('KsGetAddrInfo resolves "127.0.0.1" and "localhost"', async () => {
    expect(await KsInitialize(subsystem)).toBe(STATUS_SUCCESS);
    try {
      for (const node of ['127.0.0.1', 'localhost']) {
        const hints = { ai_flags: AI_CANONNAME, ai_family: AF_INET, ai_socktype: SOCK_STREAM, ai_protocol: 0, ai_addrlen: 0, ai_canonname: null, ai_addr: null, ai_blob: null, ai_bloblen: 0, ai_provider: null, ai_next: null } satisfies ADDRINFOEXW;
        const Result: { value: PADDRINFOEXW } = { value: null };
        expect(await KsGetAddrInfo(UNICODE_STRING(node), UNICODE_STRING('8080'), hints, Result)).toBe(STATUS_SUCCESS);
        const first = Result.value!;
        expect(first.ai_family).toBe(AF_INET);
        expect(first.ai_socktype).toBe(SOCK_STREAM);
        expect(first.ai_protocol).toBe(IPPROTO_TCP);
        expect(first.ai_addrlen).toBe(16);
        expect(first.ai_canonname).toBe(node);
        const sin = first.ai_addr as SOCKADDR_IN;
        expect([...sin.sin_addr]).toEqual([127, 0, 0, 1]);
        expect(ntohs(sin.sin_port)).toBe(8080);
        KsFreeAddrInfo(Result.value);
      }
      // AF_UNSPEC "localhost": every answer is loopback of its family.
      const res = { value: null as addrinfo | null };
      expect(await getaddrinfo('localhost', '80', null, res)).toBe(0);
      const families: number[] = [];
      for (let a = res.value; a; a = a.ai_next) {
        families.push(a.ai_family);
        if (a.ai_family === AF_INET) expect([...(a.ai_addr as SOCKADDR_IN).sin_addr]).toEqual([127, 0, 0, 1]);
      }
      expect(families).toContain(AF_INET);
      expect(families.every((f) => f === AF_INET || f === AF_INET6)).toBe(true);
      // Unresolvable: a name with AI_NUMERICHOST (no lookup leaves the machine) → STATUS_NOT_FOUND
      // (docs/wsk-rules.md, choice B), which berkeley getaddrinfo returns as its (negative) result.
      const numeric = addrinfo();
      numeric.ai_flags = AI_NUMERICHOST;
      expect(await getaddrinfo('localhost', '80', numeric, { value: null })).toBe(STATUS_NOT_FOUND);
      expect(KsLastStatus()).toBe(STATUS_NOT_FOUND);
    } finally {
      await KsDestroy();
    }
  }, 20_000);

  // WskConnect to a port nobody listens on completes with STATUS_CONNECTION_REFUSED (R10: the
  // returned status and the IRP's agree, here through STATUS_PENDING); berkeley connect → -1.
  it('connecting to a closed port: STATUS_CONNECTION_REFUSED, and -1 from connect', async () => {
    const port = await closedPort();
    const remote = makeSockaddrIn('127.0.0.1', port);
    expect(await KsInitialize(subsystem)).toBe(STATUS_SUCCESS);
    try {
      const Socket = { value: null as PKSOCKET | null };
      expect(await KsCreateConnectionSocket(Socket, AF_INET, SOCK_STREAM, IPPROTO_TCP)).toBe(STATUS_SUCCESS);
      expect(await KsConnect(Socket.value!, remote)).toBe(STATUS_CONNECTION_REFUSED);
      expect(await KsCloseSocket(Socket.value!)).toBe(STATUS_SUCCESS);

      const sockfd = await socket_connection(AF_INET, SOCK_STREAM, IPPROTO_TCP);
      expect(sockfd).toBeGreaterThanOrEqual(0);
      expect(await connect(sockfd, remote, 16)).toBe(-1);
      expect(KsLastStatus()).toBe(STATUS_CONNECTION_REFUSED);
      expect(await closesocket(sockfd)).toBe(0);
      // A closed socket number has no socket behind it any more.
      expect(await recv(sockfd, new Uint8Array(8), 8, 0)).toBe(-1);
      expect(KsLastStatus()).toBe(STATUS_INVALID_HANDLE);
    } finally {
      await KsDestroy();
    }
    const r = await withTimeout(ksocketHttpGet({ subsystem, host: '127.0.0.1', port }), 10_000, 'HTTP GET to a closed port');
    expect(r).toMatchObject({ Status: STATUS_CONNECTION_REFUSED, failed: 'connect', response: new Uint8Array(0) });
  }, 20_000);

  // R1 (WskRegister twice on one block is a usage error), R4/R6 (KsDestroy releases the capture
  // and deregisters, waiting for sockets), R5/R7 (the stale provider NPI refuses new calls:
  // STATUS_DEVICE_NOT_READY), and a fresh KsInitialize works after KsDestroy.
  it('KsInitialize twice throws; after KsDestroy calls fail and KsInitialize works again', async () => {
    expect(await KsInitialize(subsystem)).toBe(STATUS_SUCCESS);
    await expect(KsInitialize(subsystem)).rejects.toSatisfy((e) => e instanceof WskUsageError && e.code === 'WSK_ALREADY_REGISTERED');
    await KsDestroy();
    await expect(KsDestroy()).rejects.toBeInstanceOf(WskUsageError);

    const Socket = { value: null as PKSOCKET | null };
    expect(await KsCreateConnectionSocket(Socket, AF_INET, SOCK_STREAM, IPPROTO_TCP)).toBe(STATUS_DEVICE_NOT_READY);
    expect(Socket.value).toBeNull();
    expect(await socket_connection(AF_INET, SOCK_STREAM, IPPROTO_TCP)).toBe(-1);
    expect(KsLastStatus()).toBe(STATUS_DEVICE_NOT_READY);

    expect(await KsInitialize(subsystem)).toBe(STATUS_SUCCESS);
    try {
      const sockfd = await socket_connection(AF_INET, SOCK_STREAM, IPPROTO_TCP);
      expect(sockfd).toBeGreaterThanOrEqual(0);
      expect(await closesocket(sockfd)).toBe(0);
    } finally {
      await KsDestroy();
    }
  }, 20_000);

  // R18 (a datagram socket is bound before it sends), R12 (Information: bytes sent / received),
  // R14 (the source address is written before completion); recvfrom receives (the C's called KsSendTo).
  it('datagram sockets: sendto and recvfrom against a node:dgram echo peer', async () => {
    const echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
    const echoPort = echo.address().port;
    expect(await KsInitialize(subsystem)).toBe(STATUS_SUCCESS);
    try {
      const sockfd = await socket_datagram(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
      expect(sockfd).toBeGreaterThanOrEqual(0);
      expect(await bind(sockfd, makeSockaddrIn('127.0.0.1', 0), 16)).toBe(0);
      const message = Buffer.from('datagram through KSOCKET');
      expect(await sendto(sockfd, message, message.byteLength, 0, makeSockaddrIn('127.0.0.1', echoPort), 16)).toBe(message.byteLength);
      const buf = new Uint8Array(1500);
      const from: SOCKADDR = { ss_family: 0 };
      const fromlen = { value: 0 };
      const n = await withTimeout(recvfrom(sockfd, buf, buf.byteLength, 0, from, fromlen), 5000, 'recvfrom');
      expect(Buffer.from(buf.subarray(0, n)).equals(message)).toBe(true);
      expect(fromlen.value).toBe(16);
      expect([...(from as SOCKADDR_IN).sin_addr]).toEqual([127, 0, 0, 1]);
      expect(ntohs((from as SOCKADDR_IN).sin_port)).toBe(echoPort);
      expect(await closesocket(sockfd)).toBe(0);
    } finally {
      await KsDestroy();
      echo.close();
    }
  }, 20_000);

  // DriverEntry end to end: the client block then the server block, one KsInitialize/KsDestroy.
  it('runKsocketDemo runs both blocks in order and prints what the driver prints', async () => {
    const serverPort = await closedPort();
    const lines: string[] = [];
    let client: Promise<Run> | null = null;
    const r = await withTimeout(runKsocketDemo({
      subsystem, host: '127.0.0.1', port: http.port,
      server: { host: '127.0.0.1', port: serverPort, onListening: () => { client = run('python3', ['-c', PY_CLIENT, '127.0.0.1', String(serverPort), 'HELLO FROM USERMODE!\n'], null, 10_000); } },
      log: (m) => lines.push(m),
    }), 20_000, 'runKsocketDemo');
    expect(r.Status).toBe(STATUS_SUCCESS);
    expect(r.http?.failed).toBeNull();
    expect(r.server).toMatchObject({ failed: null, clients: 1, bytesSent: GREETING.byteLength });
    expect(Buffer.from((await client!)!.stdout.toString(), 'hex').equals(GREETING)).toBe(true);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^TCP client:\nHTTP\/1\.[01] 200 OK\r\n/);
    expect(lines[1]).toBe('TCP server:\nHELLO FROM USERMODE!\n\n');
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// userspace stack, veth lab

describe('KSOCKET on the userspace stack (AF_PACKET, veth lab) against Linux peers', () => {
  let L: StackLab;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`ksocket-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await L?.close();
  }, 60_000);

  // The HTTP target moved from httpbin.org to the lab peer (198.18.x.x). R40, R41, R43, R51 as above,
  // plus ARP resolution of the peer by the stack before the SYN.
  it('the HTTP GET demo on the stack fetches /uuid from python3 http.server in the peer namespace', async () => {
    const f = L.randomFile('uuid', 200_000);
    const python = L.peerProcess(`cd ${L.dir} && exec python3 -u -m http.server 8000 --bind ${L.peerAddress}`);
    try {
      await python.waitFor('Serving HTTP');
      const r = await withTimeout(ksocketHttpGet({ subsystem: L.subsystem, host: L.peerAddress, port: 8000 }), 30_000, 'HTTP GET on the stack');
      expect(r.failed, ntStatusName(r.Status)).toBeNull();
      expect(r.address).toBe(`${L.peerAddress}:8000`);
      const { statusLine, body } = splitResponse(r.response);
      expect(statusLine).toMatch(/^HTTP\/1\.[01] 200 OK$/);
      expect(body.equals(f.data)).toBe(true);
    } finally {
      python.stop();
    }
  }, 60_000);

  // The server bound to the stack's lab address instead of 0.0.0.0. R16, R41, R40, R43 as above:
  // on the stack WskSend completes once the peer acknowledged the greeting, then the close resets.
  it('the TCP server demo on the stack answers nc and python3 in the peer namespace', async () => {
    const client = join(L.dir, 'client.py');
    writeFileSync(client, PY_CLIENT);
    let peer: Promise<PeerResult> | null = null;
    const r = await withTimeout(ksocketTcpServer({
      subsystem: L.subsystem, host: L.address, port: 9095, clients: 3,
      onListening: () => {
        peer = L.peer(`for i in 1 2; do printf 'HELLO FROM THE PEER %s\\n' $i | timeout 10 nc ${L.address} 9095 | od -An -tx1 | tr -d ' \\n'; echo; done
          timeout 10 python3 ${client} ${L.address} 9095 'HELLO FROM PYTHON'; echo`, 30_000);
      },
    }), 30_000, 'TCP server on the stack');
    const out = await peer!;
    expect(r.failed, ntStatusName(r.Status)).toBeNull();
    expect(r.clients).toBe(3);
    expect(r.received.map((b) => Buffer.from(b).toString())).toEqual(['HELLO FROM THE PEER 1\n', 'HELLO FROM THE PEER 2\n', 'HELLO FROM PYTHON']);
    expect(r.bytesSent).toBe(3 * GREETING.byteLength);
    const [nc1, nc2, py] = out.stdout.split('\n');
    // The reset follows the peer's ACK of the greeting by well under a millisecond (the capture
    // shows data, ACK, RST), which can still beat nc's read: see the loopback test.
    for (const nc of [nc1, nc2]) expect(['', GREETING.toString('hex')], out.stderr).toContain(nc);
    expect(py, out.stderr).toBe(GREETING.toString('hex'));
  }, 60_000);
});

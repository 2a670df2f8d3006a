// IP_TTL and IP_TOS on TCP sockets, on the wire (issue 13): a raw socket reader (python3) sees
// the TTL and TOS of the segments a WSK connection socket sends (SYN and data) and those of a
// WSK listener's accepted connection (SYN-ACK and data). On the userspace stack over AF_PACKET
// (the reader in the lab's peer namespace) and on the kernel provider over loopback (the reader on
// this namespace's loopback, reading only). On the kernel provider a connect's SYN carries the
// host's defaults (node:net creates the socket and sends the SYN in one step; the options are set
// once the connection is up), so only its data segments are checked there. Needs root;
// 198.18.0.0/15 inside the lab's namespaces and loopback only; the lab is deleted by name.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IPPROTO_IP, IP_TOS, IP_TTL, STATUS_SUCCESS, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_LISTEN_SOCKET, WskSetOption, createKernelProvider, makeSockaddrIn,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { openSession, sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { call } from '../helpers/wsk-call.ts';
import { bind, buf, close, connTable, expectOk, listenTable, socket } from '../contract/fixtures.ts';

const PORT = 47300;

/**
 * python3: a raw TCP reader printing "<kind> <ttl> <tos>" for each segment from `src` with port
 * `port` on either side (kind: syn, synack, data; pure ACKs skipped), until the first data segment.
 */
function segmentReader(src: string, port: number): string {
  return `
import socket, struct
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
r.settimeout(20)
print('ready', flush=True)
while True:
    p = r.recv(65535)
    if socket.inet_ntoa(p[12:16]) != '${src}':
        continue
    ihl = (p[0] & 15) * 4
    sport, dport = struct.unpack('!HH', p[ihl:ihl + 4])
    if ${port} not in (sport, dport):
        continue
    flags = p[ihl + 13]
    data = struct.unpack('!H', p[2:4])[0] - ihl - (p[ihl + 12] >> 4) * 4
    kind = 'synack' if flags & 0x12 == 0x12 else 'syn' if flags & 2 else 'data' if data > 0 else None
    if kind:
        print(kind, p[8], p[1], flush=True)
    if kind == 'data':
        break
`;
}

const setOpt = (s: WSK_SOCKET, code: number, value: number) =>
  expectOk(call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, code, IPPROTO_IP, 4, { value }, 0, null, null, irp)), `option ${code}`);

/** Connects a WSK socket marked IP_TTL 42, IP_TOS 0x28 from `local` to `peer:port` and sends one segment of data. */
async function connectMarked(w: WskSession, local: string, peer: string, port: number): Promise<WSK_SOCKET> {
  const s = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
  await setOpt(s, IP_TTL, 42);
  await setOpt(s, IP_TOS, 0x28);
  expect(await bind(s, makeSockaddrIn(local, 0))).toBe(STATUS_SUCCESS);
  await expectOk(call((irp) => connTable(s).WskConnect(s, makeSockaddrIn(peer, port), 0, irp)), 'WskConnect');
  await expectOk(call((irp) => connTable(s).WskSend(s, buf(Buffer.from('marked')), 0, irp)), 'WskSend');
  return s;
}

/** A WSK listener marked IP_TTL 43, IP_TOS 0x30 on `local:port`; `connectPeer` makes the peer connect; the accepted socket sends one segment. */
async function acceptMarked(w: WskSession, local: string, port: number, connectPeer: () => void): Promise<WSK_SOCKET[]> {
  const l = await socket(w, WSK_FLAG_LISTEN_SOCKET);
  await setOpt(l, IP_TTL, 43);
  await setOpt(l, IP_TOS, 0x30);
  expect(await bind(l, makeSockaddrIn(local, port))).toBe(STATUS_SUCCESS);
  connectPeer();
  const r = await call<WSK_SOCKET>((irp) => listenTable(l).WskAccept(l, 0, null, null, null, null, irp), 15_000);
  expect(r.status).toBe(STATUS_SUCCESS);
  await expectOk(call((irp) => connTable(r.information).WskSend(r.information, buf(Buffer.from('accepted')), 0, irp)), 'WskSend');
  return [r.information, l];
}

const lines = (out: string): string[] => out.trim().split('\n').slice(1);

describe('IP_TTL and IP_TOS on TCP segments seen by a Linux peer: the userspace stack over AF_PACKET', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a connection socket\'s SYN and data carry TTL 42 and TOS 0x28', async () => {
    const reader = L.peerProcess(`python3 -u - <<'EOF'\n${segmentReader(L.address, PORT)}EOF`);
    const server = L.peerProcess(`python3 -u -c "import socket; s = socket.socket(); s.bind(('${L.peerAddress}', ${PORT})); s.listen(); print('listening', flush=True); c, _ = s.accept(); c.recv(100); c.recv(100)"`);
    await reader.waitFor('ready');
    await server.waitFor('listening');
    const s = await connectMarked(w, L.address, L.peerAddress, PORT);
    await reader.waitFor('data', 15_000);
    await reader.exited; // it stops after the first data segment, its line written whole
    expect(lines(reader.output())).toEqual(['syn 42 40', 'data 42 40']);
    await close(s);
  });

  it('a listener\'s SYN-ACK and its accepted socket\'s data carry its TTL 43 and TOS 0x30', async () => {
    const reader = L.peerProcess(`python3 -u - <<'EOF'\n${segmentReader(L.address, PORT + 1)}EOF`);
    await reader.waitFor('ready');
    const sockets = await acceptMarked(w, L.address, PORT + 1, () => {
      L.peerProcess(`python3 -u -c "import socket; c = socket.create_connection(('${L.address}', ${PORT + 1})); c.recv(100)"`);
    });
    await reader.waitFor('data', 15_000);
    await reader.exited;
    expect(lines(reader.output())).toEqual(['synack 43 48', 'data 43 48']);
    for (const s of sockets) await close(s);
  });
});

describe('IP_TTL and IP_TOS on TCP segments seen by a raw socket reader: the kernel provider over loopback', () => {
  let w: WskSession;
  const children: ChildProcess[] = [];
  beforeAll(async () => { w = await openSession(createKernelProvider); });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.pid) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
    await w?.close();
  });

  function reader(port: number): { output: () => string; waitFor: (text: string) => Promise<void>; exited: Promise<unknown> } {
    const child = spawn('python3', ['-u', '-c', segmentReader('127.0.0.1', port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise((r) => child.once('close', r));
    return {
      output: () => out,
      exited,
      waitFor: (text) => new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reader did not print '${text}': ${out}`)), 15_000);
        const check = (): void => { if (out.includes(text)) { clearTimeout(timer); resolve(); } else if (child.exitCode !== null) { clearTimeout(timer); reject(new Error(out)); } else setTimeout(check, 20); };
        check();
      }),
    };
  }

  it('a connection socket\'s data carry TTL 42 and TOS 0x28 (its SYN: the host\'s defaults)', async () => {
    const server = net.createServer((c) => c.on('data', () => {}).on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const r = reader(port);
    await r.waitFor('ready');
    const s = await connectMarked(w, '127.0.0.1', '127.0.0.1', port);
    await r.waitFor('data');
    await r.exited;
    // Both directions come from 127.0.0.1: the SYN-ACK is node:net's, the SYN the host's default.
    expect(lines(r.output())).toEqual(['syn 64 0', 'synack 64 0', 'data 42 40']);
    await close(s);
    server.close();
  });

  it('a listener\'s SYN-ACK and its accepted socket\'s data carry its TTL 43 and TOS 0x30', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const r = reader(port);
    await r.waitFor('ready');
    let peer: net.Socket | null = null;
    const sockets = await acceptMarked(w, '127.0.0.1', port, () => { peer = net.connect(port, '127.0.0.1').on('error', () => {}); });
    await r.waitFor('data');
    await r.exited;
    expect(lines(r.output())).toEqual(['syn 64 0', 'synack 43 48', 'data 43 48']);
    (peer as net.Socket | null)?.destroy();
    for (const s of sockets) await close(s);
  });
});

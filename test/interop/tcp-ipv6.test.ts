// TCP over IPv6 against Linux on a veth pair, with the stack on an AF_PACKET link and the
// peer's offloads on: Linux's TSO/GRO segments arrive as GSO_TCPV6 frames (virtio-net header,
// include/uapi/linux/virtio_net.h) and the stack's own 64 KiB segments leave as GSO_TCPV6 with
// their checksums left to the device. A Linux client's 4 MiB come back from our echo server
// intact, and our client's 4 MiB reach a Linux server intact (sha256 on both ends).
// Needs root. Addresses: fd00:198:18::1 (Linux) and ::2 (the stack), inside two namespaces this
// test creates and deletes by name; the stack's namespace has IPv6 off in its kernel, so only the
// stack answers for ::2. Every peer program is bounded in time and ended by its process group.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { createUserspaceStack, type UserspaceStack, type UserspaceStackConfig } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { StackServer, stackConnect } from '../helpers/stack-socket.ts';
import { NetworkFamily } from '../../runtime/net/transport-registry.ts';

const id = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`;
const PEER_NS = `w6a-${id}`;
const STACK_NS = `w6b-${id}`;
const PEER_IF = `v6a-${id}`;
const STACK_IF = `v6b-${id}`;
const PEER = 'fd00:198:18::1';
const US = 'fd00:198:18::2';
const BYTES = 4 << 20;

const CONFIG: UserspaceStackConfig = {
  address: '198.18.0.2/24',
  ipv6: { addresses: [`${US}/64`], dadTransmits: 0, acceptRouterAdvertisements: false },
};

const sh = (args: string[]): void => { execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' }); };
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const children = new Set<ChildProcess>();

/** A python3 program in the peer namespace, in its own process group; resolves with its stdout. */
function peer(script: string, timeoutMs = 30_000): { done: Promise<string>; ready: Promise<void> } {
  const child = spawn('ip', ['netns', 'exec', PEER_NS, 'python3', '-u', '-c', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => { markReady = r; });
  child.stdout!.on('data', (d) => { out += d; if (out.includes('ready')) markReady(); });
  child.stderr!.on('data', (d) => { out += d; });
  const timer = setTimeout(() => killGroup(child), timeoutMs);
  const done = new Promise<string>((r) => child.on('close', () => { clearTimeout(timer); children.delete(child); markReady(); r(out); }));
  return { done, ready };
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
}

let stack: UserspaceStack;

beforeAll(() => {
  sh(['ip', 'netns', 'add', PEER_NS]);
  sh(['ip', 'netns', 'add', STACK_NS]);
  sh(['ip', 'netns', 'exec', STACK_NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  sh(['ip', 'link', 'add', PEER_IF, 'type', 'veth', 'peer', 'name', STACK_IF]);
  sh(['ip', 'link', 'set', PEER_IF, 'netns', PEER_NS]);
  sh(['ip', 'link', 'set', STACK_IF, 'netns', STACK_NS]);
  for (const [ns, dev] of [[PEER_NS, PEER_IF], [STACK_NS, STACK_IF]] as const) {
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
  sh(['ip', '-n', PEER_NS, 'addr', 'add', `${PEER}/64`, 'dev', PEER_IF, 'nodad']);
  const link = new AfPacketLink({ ifname: STACK_IF, netns: STACK_NS, filter: receiveFilterFor(CONFIG) });
  stack = createUserspaceStack(link, CONFIG);
});

afterAll(() => {
  for (const c of children) killGroup(c);
  stack?.close();
  for (const ns of [PEER_NS, STACK_NS]) { try { sh(['ip', 'netns', 'del', ns]); } catch { /* not created */ } }
});

describe('TCP over IPv6 against Linux (AF_PACKET, veth offloads on)', () => {
  it('a Linux client\'s 4 MiB over IPv6 come back intact from the stack\'s echo server (GSO_TCPV6 frames in and out)', async () => {
    const server = new StackServer(stack.tcp!, 5201, 'ipv6');
    const accepted = server.next().then((s) => {
      s.on('data', (d: Buffer) => s.write(d));
      s.on('end', () => s.end());
      s.on('error', () => {});
      return s;
    });
    const client = peer(`
import socket, hashlib, os, threading
data = os.urandom(${BYTES})
c = socket.create_connection(('${US}', 5201), timeout=30)
def send():
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
got = bytearray()
while True:
    b = c.recv(1 << 20)
    if not b: break
    got += b
t.join()
print('echo', len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), flush=True)
`);
    const out = await client.done;
    expect(out.trim()).toBe(`echo ${BYTES} True`);
    const s = await accepted;
    expect(s.remoteAddress).toBe(PEER);
    server.close();
  }, 60_000);

  it('the stack\'s client sends 4 MiB over IPv6 to a Linux server intact, in segments of several MSS (TSO over IPv6)', async () => {
    const server = peer(`
import socket, hashlib
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('${PEER}', 5202)); l.listen(1); l.settimeout(30)
print('ready', flush=True)
c, _ = l.accept(); c.settimeout(30)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
print('got', n, h.hexdigest(), flush=True)
`);
    await server.ready;
    const data = randomBytes(BYTES);
    const sock = stackConnect(stack.tcp!, 5202, PEER);
    sock.on('error', () => {});
    await new Promise<void>((r) => sock.once('connect', r));
    sock.end(data);
    const out = await server.done;
    expect(out.trim().split('\n').pop()).toBe(`got ${BYTES} ${sha256(data)}`);
    // The connection is in TIME-WAIT now, still listed.
    const tcb = stack.tcp!.connectionList().find((t) => t.family === NetworkFamily.IPV6 && t.remotePort === 5202)!;
    expect(stack.ip.device.capabilities.tsoMaxBytes).toBeGreaterThan(0);
    expect(tcb.sendSegmentMax).toBeGreaterThan(tcb.mss);
    sock.destroy();
  }, 60_000);
});

// Our WireGuard core against stock wireguard-go and wg (Debian's wireguard-go and wireguard-tools),
// as root: wireguard-go runs in a namespace this test creates, configured by `wg setconf` from a
// file the test writes; our device runs in this process on a plain node:dgram socket, in the
// default namespace, at the host end of a veth pair whose other end is in that namespace (outer
// addresses 198.18.X.1 ours / 198.18.X.2 and .3 theirs, a /29 nobody else uses; inner 198.19.X.2 ours /
// 198.19.X.1 theirs). Checked: the handshake started by either side, a Linux ping answered by us
// through the tunnel (the echo reply built here from the decrypted request), a UDP datagram each
// way, `wg pubkey` agreeing with our key derivation, replayed and tampered wireguard-go datagrams
// dropped and counted, roaming (wireguard-go moves to another address and port between pings), and
// no session when the preshared keys differ. The namespace, the veth and wireguard-go
// (by pid) are removed at the end, also when a test fails.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealClock } from '../../runtime/net/clock.ts';
import { Endpoint } from '../../apps/wireguard/endpoint.ts';
import { WireGuardDevice } from '../../apps/wireguard/device.ts';
import { formatKey, generatePrivateKey, parseKey, publicKeyOf } from '../../apps/wireguard/crypto/x25519.ts';
import { parseIp } from '../../apps/wireguard/ip-address.ts';

const id = `${process.pid % 100000}`;
const X = 64 + (process.pid % 180);
const NS = `wgl-${id}`;
const HOST_IF = `wgh-${id}`;
const NS_IF = `wgp-${id}`;
const WG_IF = `wgg${id}`;
const OUR_OUTER = `198.18.${X}.1`;
const THEIR_OUTER = `198.18.${X}.2`;
const THEIR_OTHER_OUTER = `198.18.${X}.3`;
const OUR_INNER = `198.19.${X}.2`;
const THEIR_INNER = `198.19.${X}.1`;
const WG_PORT = 51820;

const sh = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const inNs = (args: string[], input?: string): string => sh('ip', ['netns', 'exec', NS, ...args], input);
const quietly = (fn: () => unknown): void => { try { fn(); } catch { /* already gone */ } };

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); })]).finally(() => clearTimeout(t));
}

interface Done { code: number | null; stdout: string; stderr: string }
const children = new Set<ChildProcess>();

/** Runs a command in the namespace; `ready` resolves at the first stdout line. */
function startInNs(args: string[]): { child: ChildProcess; ready: Promise<string>; done: Promise<Done> } {
  const child = spawn('ip', ['netns', 'exec', NS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = ''; let stderr = '';
  let readyResolve!: (line: string) => void;
  const ready = new Promise<string>((r) => { readyResolve = r; });
  child.stdout!.on('data', (d: Buffer) => { stdout += d; if (stdout.includes('\n')) readyResolve(stdout.split('\n')[0]!); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d; });
  const done = new Promise<Done>((r) => child.on('close', (code) => { children.delete(child); r({ code, stdout, stderr }); }));
  return { child, ready, done };
}

// --- inner packets -----------------------------------------------------------------------------

function checksum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len - 1; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) s += b[off + len - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function ipv4(src: string, dst: string, protocol: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45; p[2] = p.length >>> 8; p[3] = p.length & 0xff; p[8] = 64; p[9] = protocol;
  p.set(parseIp(src)!.bytes, 12); p.set(parseIp(dst)!.bytes, 16);
  const c = checksum(p, 0, 20); p[10] = c >>> 8; p[11] = c & 0xff;
  p.set(payload, 20);
  return p;
}

/** The echo reply to an IPv4 ICMP echo request (null if it is not one). */
function echoReply(req: Uint8Array): Uint8Array | null {
  const ihl = (req[0]! & 15) * 4;
  if (req[9] !== 1 || req[ihl] !== 8) return null;
  const icmp = req.slice(ihl);
  icmp[0] = 0; icmp[2] = 0; icmp[3] = 0;
  const c = checksum(icmp, 0, icmp.length); icmp[2] = c >>> 8; icmp[3] = c & 0xff;
  const src = `${req[16]}.${req[17]}.${req[18]}.${req[19]}`;
  const dst = `${req[12]}.${req[13]}.${req[14]}.${req[15]}`;
  return ipv4(src, dst, 1, icmp);
}

function udp(srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u[0] = srcPort >>> 8; u[1] = srcPort & 0xff; u[2] = dstPort >>> 8; u[3] = dstPort & 0xff;
  u[4] = u.length >>> 8; u[5] = u.length & 0xff; // checksum 0: none (RFC 768, IPv4)
  u.set(data, 8);
  return u;
}

// --- our side ----------------------------------------------------------------------------------

const ourKey = generatePrivateKey();
const theirKey = generatePrivateKey();
let socket: Socket;
let device: WireGuardDevice;
const received: Uint8Array[] = [];
let onPacket: ((p: Uint8Array) => void) | null = null;
const from = new Endpoint();
/** Copies of the transport data datagrams wireguard-go sent us, for the replay test. */
const capturedData: Uint8Array[] = [];

function newDevice(withEndpoint: boolean): WireGuardDevice {
  device?.close();
  const d = new WireGuardDevice({
    privateKey: ourKey,
    clock: new RealClock(),
    sendDatagram: (to, bytes, offset, length) => socket.send(Buffer.from(bytes.subarray(offset, offset + length)), to.port, to.host()),
    deliverPacket: (_peer, bytes, offset, length) => {
      const p = bytes.slice(offset, offset + length);
      received.push(p);
      // Not re-entering the device from its own callback (its contract): answer on the next turn.
      setImmediate(() => {
        const reply = echoReply(p);
        if (reply) d.sendPacket(reply, 0, reply.length);
        onPacket?.(p);
      });
    },
  });
  d.addPeer({ publicKey: publicKeyOf(theirKey), endpoint: withEndpoint ? Endpoint.parse(`${THEIR_OUTER}:${WG_PORT}`) : null, allowedIps: [`${THEIR_INNER}/32`] });
  device = d;
  return d;
}

const peer = () => [...device.peers][0]!;
let dir = '';
let wireguardGo: ChildProcess | null = null;

describe('WireGuard interop with wireguard-go and wg (veth lab, root)', () => {
  beforeAll(async () => {
    // A /29 nobody else on this machine uses.
    expect(sh('ip', ['-o', 'addr']).includes(`198.18.${X}.`)).toBe(false);
    dir = mkdtempSync(join(tmpdir(), 'wg-interop-'));
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF]);
    sh('ip', ['link', 'set', NS_IF, 'netns', NS]);
    sh('ip', ['addr', 'add', `${OUR_OUTER}/29`, 'dev', HOST_IF]);
    sh('ip', ['link', 'set', HOST_IF, 'up']);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', NS, 'addr', 'add', `${THEIR_OUTER}/29`, 'dev', NS_IF]);
    sh('ip', ['-n', NS, 'link', 'set', NS_IF, 'up']);

    socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, OUR_OUTER, r));
    socket.on('message', (msg, rinfo) => {
      const ip = parseIp(rinfo.address);
      if (!ip) return;
      from.setAddress(ip.family, ip.bytes, 0, rinfo.port);
      if (msg[0] === 4 && capturedData.length < 16) capturedData.push(new Uint8Array(msg));
      device.receiveDatagram(msg, 0, msg.length, from);
    });
    newDevice(false);

    const conf = join(dir, 'wg.conf');
    writeFileSync(conf, [
      '[Interface]', `PrivateKey = ${formatKey(theirKey)}`, `ListenPort = ${WG_PORT}`, '',
      '[Peer]', `PublicKey = ${formatKey(publicKeyOf(ourKey))}`, `AllowedIPs = ${OUR_INNER}/32`,
      `Endpoint = ${OUR_OUTER}:${socket.address().port}`, '',
    ].join('\n'));
    const wg = spawn('ip', ['netns', 'exec', NS, 'wireguard-go', '-f', WG_IF], { stdio: 'ignore' });
    wireguardGo = wg;
    const sock = `/var/run/wireguard/${WG_IF}.sock`;
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(sock)).toBe(true);
    inNs(['wg', 'setconf', WG_IF, conf]);
    sh('ip', ['-n', NS, 'addr', 'add', `${THEIR_INNER}/24`, 'dev', WG_IF]);
    sh('ip', ['-n', NS, 'link', 'set', WG_IF, 'up']);
  }, 30_000);

  afterAll(() => {
    device?.close();
    quietly(() => socket.close());
    for (const c of children) if (c.pid) quietly(() => process.kill(c.pid!, 'SIGKILL'));
    if (wireguardGo?.pid) quietly(() => process.kill(wireguardGo!.pid!, 'SIGTERM'));
    quietly(() => sh('ip', ['netns', 'del', NS]));
    quietly(() => sh('ip', ['link', 'del', HOST_IF]));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('wg pubkey derives the same public key as we do, and our keys are in its format', () => {
    const text = sh('wg', ['pubkey'], `${formatKey(ourKey)}\n`).trim();
    expect(parseKey(text)).toEqual(publicKeyOf(ourKey));
    const generated = sh('wg', ['genkey'], '').trim();
    expect(parseKey(generated)).not.toBeNull();
  });

  it('wireguard-go initiates; a Linux ping through the tunnel is answered by our side', async () => {
    const ping = startInNs(['ping', '-c', '3', '-i', '0.2', '-W', '2', OUR_INNER]);
    const r = await withTimeout(ping.done, 15_000, 'ping through the tunnel');
    expect(r.stdout).toContain('3 packets transmitted, 3 received');
    expect(peer().stats.handshakeResponsesSent).toBe(1);
    expect(peer().stats.handshakeInitiationsSent).toBe(0);
    expect(peer().endpoint.toString()).toBe(`${THEIR_OUTER}:${WG_PORT}`); // learned from the handshake
    expect(inNs(['wg', 'show', WG_IF, 'latest-handshakes'])).not.toMatch(/\t0\n?$/);
  });

  it('a UDP datagram each way through the tunnel, bytes intact', async () => {
    const listener = startInNs(['python3', '-c',
      `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${THEIR_INNER}',9000))\nprint('ready',flush=True)\nd,a=s.recvfrom(65535)\nprint(d.hex(),a[0],a[1],flush=True)`]);
    await withTimeout(listener.ready, 10_000, 'python3 listener');
    const data = Uint8Array.from({ length: 1200 }, (_, i) => (i * 7) & 0xff);
    const toLinux = ipv4(OUR_INNER, THEIR_INNER, 17, udp(4000, 9000, data));
    expect(device.sendPacket(toLinux, 0, toLinux.length)).toBe(true);
    const r = await withTimeout(listener.done, 10_000, 'datagram to Linux');
    expect(r.stdout.split('\n')[1]).toBe(`${Buffer.from(data).toString('hex')} ${OUR_INNER} 4000`);

    const got = new Promise<Uint8Array>((resolve) => { onPacket = (p) => { if (p[9] === 17) resolve(p); }; });
    inNs(['python3', '-c', `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${THEIR_INNER}',9002))\ns.sendto(bytes(range(200)),('${OUR_INNER}',9001))`]);
    const p = await withTimeout(got, 10_000, 'datagram from Linux');
    onPacket = null;
    const ihl = (p[0]! & 15) * 4;
    expect((p[ihl + 2]! << 8) | p[ihl + 3]!).toBe(9001);
    expect((p[ihl] ! << 8) | p[ihl + 1]!).toBe(9002);
    expect([...p.subarray(ihl + 8)]).toEqual([...Array(200).keys()]);
    expect(device.stats.rxBadAuth + device.stats.rxReplayed + device.stats.rxNotAllowed).toBe(0);
  });

  it('our side initiates: a fresh device handshakes with wireguard-go and its datagram arrives', async () => {
    newDevice(true);
    const listener = startInNs(['python3', '-c',
      `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${THEIR_INNER}',9003))\nprint('ready',flush=True)\nd,a=s.recvfrom(65535)\nprint(d.decode(),flush=True)`]);
    await withTimeout(listener.ready, 10_000, 'python3 listener');
    const toLinux = ipv4(OUR_INNER, THEIR_INNER, 17, udp(4001, 9003, new TextEncoder().encode('hello from our initiator')));
    device.sendPacket(toLinux, 0, toLinux.length);
    const r = await withTimeout(listener.done, 10_000, 'datagram after our handshake');
    expect(r.stdout.split('\n')[1]).toBe('hello from our initiator');
    expect(peer().stats.handshakeInitiationsSent).toBe(1);
    expect(peer().keypairs.current?.initiator).toBe(true);
    // And the reverse direction on the session we made.
    const ping = startInNs(['ping', '-c', '2', '-i', '0.2', '-W', '2', OUR_INNER]);
    expect((await withTimeout(ping.done, 10_000, 'ping on our session')).stdout).toContain('2 packets transmitted, 2 received');
    expect(peer().stats.handshakeResponsesSent).toBe(0);
  });
  it('drops and counts wireguard-go datagrams replayed or tampered with; the tunnel keeps working', async () => {
    capturedData.length = 0;
    const ping = startInNs(['ping', '-c', '2', '-i', '0.2', '-W', '2', OUR_INNER]);
    expect((await withTimeout(ping.done, 10_000, 'ping')).stdout).toContain('2 packets transmitted, 2 received');
    expect(capturedData.length).toBeGreaterThanOrEqual(2);
    const replayed = device.stats.rxReplayed;
    const badAuth = device.stats.rxBadAuth;
    const delivered = received.length;
    const source = Endpoint.parse(`${THEIR_OUTER}:${WG_PORT}`)!;
    for (const d of capturedData) { const copy = d.slice(); device.receiveDatagram(copy, 0, copy.length, source); }
    const tampered = capturedData[0]!.slice();
    tampered[tampered.length - 20]! ^= 0x80;
    device.receiveDatagram(tampered, 0, tampered.length, source);
    expect(device.stats.rxReplayed - replayed).toBe(capturedData.length);
    expect(device.stats.rxBadAuth - badAuth).toBe(1);
    expect(received.length).toBe(delivered);
    const again = startInNs(['ping', '-c', '1', '-W', '2', OUR_INNER]);
    expect((await withTimeout(again.done, 10_000, 'ping after replays')).stdout).toContain('1 packets transmitted, 1 received');
  });

  it('follows wireguard-go when it moves to another address and port', async () => {
    const roams = peer().stats.roams;
    inNs(['wg', 'set', WG_IF, 'listen-port', String(WG_PORT + 1)]);
    // Deleting the first address would take the second with it unless it is promoted.
    inNs(['sysctl', '-qw', `net.ipv4.conf.${NS_IF}.promote_secondaries=1`]);
    sh('ip', ['-n', NS, 'addr', 'add', `${THEIR_OTHER_OUTER}/29`, 'dev', NS_IF]);
    sh('ip', ['-n', NS, 'addr', 'del', `${THEIR_OUTER}/29`, 'dev', NS_IF]);
    const ping = startInNs(['ping', '-c', '2', '-i', '0.2', '-W', '2', OUR_INNER]);
    expect((await withTimeout(ping.done, 10_000, 'ping after the move')).stdout).toContain('2 packets transmitted, 2 received');
    expect(peer().endpoint.toString()).toBe(`${THEIR_OTHER_OUTER}:${WG_PORT + 1}`);
    expect(peer().stats.roams).toBe(roams + 1);
  });

  it('makes no session when wireguard-go has a preshared key we do not', async () => {
    const psk = join(dir, 'psk');
    writeFileSync(psk, `${formatKey(generatePrivateKey())}\n`);
    inNs(['wg', 'set', WG_IF, 'peer', formatKey(publicKeyOf(ourKey)), 'preshared-key', psk]);
    newDevice(false);
    peer().setEndpoint(Endpoint.parse(`${THEIR_OTHER_OUTER}:${WG_PORT + 1}`)!);
    const p = ipv4(OUR_INNER, THEIR_INNER, 17, udp(4002, 9004, new Uint8Array(8)));
    device.sendPacket(p, 0, p.length);
    // wireguard-go answers (it cannot tell), but its response does not open with our keys.
    await withTimeout(new Promise<void>((resolve) => {
      const check = (): void => { if (device.stats.rxHandshakeFailed > 0) resolve(); else setTimeout(check, 20); };
      check();
    }), 10_000, 'wireguard-go\'s response');
    expect(peer().keypairs.current).toBeNull();
    expect(peer().stats.handshakeInitiationsSent).toBe(1);
  });
});

// Two WireGuard interfaces on WSK in one process, each with its inner stack: echosrv inside one
// tunnel, an echo client inside the other, bytes compared. Outer network: the kernel provider on
// loopback and with an IPv6 outer endpoint on [::1]; the userspace stack on the memory link
// without IPv6 (no IPv6 datagram transport, so the IPv6 socket is skipped with its reason) and
// with IPv6 (the tunnel over the IPv6 socket to [fd00:198:18::2]); IPv6 inside the tunnel (echosrv
// and apps/ping over fd00:198:19::/64, no NDP into the tunnel) and destinations off the Address's
// prefix that AllowedIPs route. Checked beyond the bytes:
// outgoing datagrams leave in WskSendMessages batches, the local address from IN_PKTINFO or
// IN6_PKTINFO lands in the peer's endpoint, and every retained datagram is released (the outer
// stack holds none afterwards).
import { afterEach, describe, expect, it } from 'vitest';
import { createKernelProvider, createStackProvider, startWskSubsystem, STATUS_SUCCESS, type WskSubsystem } from '../../index.ts';
import { echoRoundTrip } from '../common/echo-check.ts';
import { echosrvListening, echosrvStart, echosrvStop } from '../echosrv/echosrv.ts';
import { A_IP, A6_IP, B_IP, B6_IP, simulatedIpv6, stackPair } from '../lab/stack-pair.ts';
import { formatIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { ping } from '../ping/ping.ts';
import { parseWgQuickConfig } from './config.ts';
import { formatKey, generatePrivateKey, publicKeyOf } from './crypto/x25519.ts';
import { startWireGuardWsk, type WireGuardWsk } from './wireguard-wsk.ts';

const ECHO_PORT = 40100;
const INNER6_A = 'fd00:198:19::1';
const INNER6_B = 'fd00:198:19::2';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

/** `inner6`/`peerInner6`: the IPv6 tunnel addresses (fd00:198:19::/64), when the test wants IPv6 inside. */
function conf(own: Uint8Array, inner: string, port: number, peer: Uint8Array, peerInner: string, endpoint: string | null, inner6?: string, peerInner6?: string): string {
  return [
    '[Interface]', `PrivateKey = ${formatKey(own)}`, `ListenPort = ${port}`, `Address = ${inner}/24${inner6 ? `, ${inner6}/64` : ''}`, '',
    '[Peer]', `PublicKey = ${formatKey(publicKeyOf(peer))}`, `AllowedIPs = ${peerInner}/32${peerInner6 ? `, ${peerInner6}/128` : ''}`,
    ...(endpoint ? [`Endpoint = ${endpoint}`] : []), '',
  ].join('\n');
}

/** A and B: A knows B's endpoint (A initiates), B learns A's from the handshake. */
async function pair(outerA: WskSubsystem, outerB: WskSubsystem, hostA: string, hostB: string, portA: number, portB: number, logs: string[], endpointHostB = hostB,
  inner6 = false): Promise<[WireGuardWsk, WireGuardWsk]> {
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const [a6, b6] = inner6 ? [INNER6_A, INNER6_B] : [undefined, undefined];
  const b = await startWireGuardWsk({ config: parseWgQuickConfig(conf(kb, '198.19.0.2', portB, ka, '198.19.0.1', null, b6, a6)), outer: outerB, bindAddress4: hostB, log: (l) => logs.push(l) });
  cleanups.push(() => b.stop());
  const endpoint = `${endpointHostB.includes(':') ? `[${endpointHostB}]` : endpointHostB}:${b.port}`;
  const a = await startWireGuardWsk({ config: parseWgQuickConfig(conf(ka, '198.19.0.1', portA, kb, '198.19.0.2', endpoint, a6, b6)), outer: outerA, bindAddress4: hostA, log: (l) => logs.push(l) });
  cleanups.push(() => a.stop());
  return [a, b];
}

async function echoThroughTunnel(a: WireGuardWsk, b: WireGuardWsk, bytes: number, to = '198.19.0.2'): Promise<void> {
  expect(echosrvStart({ port: ECHO_PORT, subsystem: b.inner })).toBe(STATUS_SUCCESS);
  cleanups.push(() => echosrvStop({ forceClose: true }));
  expect((await echosrvListening()).Status).toBe(STATUS_SUCCESS);
  const r = await echoRoundTrip(a.inner, to, ECHO_PORT, bytes);
  expect(r).toMatchObject({ intact: true, echoed: bytes });
}

describe('WireGuard on WSK: two interfaces, echosrv inside the tunnel', () => {
  it('kernel provider on loopback: bytes intact, batched WskSendMessages, replies from the IN_PKTINFO address', async () => {
    const outer = await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false });
    cleanups.push(() => outer.stop());
    const logs: string[] = [];
    const [a, b] = await pair(outer, outer, '127.0.0.1', '0.0.0.0', 0, 0, logs, '127.0.0.1');
    expect(a.sockets.families).toContain(4);
    await echoThroughTunnel(a, b, 1 << 20);
    const peerOfB = [...b.device.peers][0]!;
    // B is bound to 0.0.0.0: it learned from IN_PKTINFO that A wrote to 127.0.0.1, and answers from there.
    expect(peerOfB.endpoint.localFamily).toBe(4);
    expect([...peerOfB.endpoint.localAddress.subarray(0, 4)]).toEqual([127, 0, 0, 1]);
    expect(peerOfB.endpoint.toString()).toBe(`127.0.0.1:${a.port}`);
    // A had B's endpoint from its file; learning its own local address from the response is no roam.
    const peerOfA = [...a.device.peers][0]!;
    expect(peerOfA.endpoint.localFamily).toBe(4);
    expect(peerOfA.stats.roams).toBe(0);
    for (const w of [a, b]) {
      const s = w.sockets.sendStats;
      expect(s.txErrors).toBe(0);
      expect(s.txCalls).toBeLessThan(s.txDatagrams);
    }
    expect(a.device.stats.rxBadAuth + b.device.stats.rxBadAuth).toBe(0);
    expect(b.describe()).toMatch(/latest handshake: .* ago/);
  }, 60_000);

  it('kernel provider, IPv6 outer endpoint on [::1]: the IPv6 socket carries the tunnel and IN6_PKTINFO gives the local address', async () => {
    const outer = await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false });
    cleanups.push(() => outer.stop());
    const logs: string[] = [];
    const [a, b] = await pair(outer, outer, '127.0.0.1', '0.0.0.0', 0, 0, logs, '::1');
    expect(b.sockets.families).toEqual([4, 6]);
    await echoThroughTunnel(a, b, 64 * 1024);
    const peerOfB = [...b.device.peers][0]!;
    expect(peerOfB.endpoint.toString()).toBe(`[::1]:${a.port}`);
    expect(peerOfB.endpoint.localFamily).toBe(6);
    expect(peerOfB.endpoint.localAddress[15]).toBe(1);
    expect(logs).toEqual([]);
  }, 60_000);

  it('userspace stack on the memory link: no IPv6 socket (logged, with the reason), bytes intact, every retained datagram released', async () => {
    const p = stackPair();
    const outerA = await startWskSubsystem(createStackProvider(p.a), { makeDefault: false, registerWithNmr: false });
    const outerB = await startWskSubsystem(createStackProvider(p.b), { makeDefault: false, registerWithNmr: false });
    cleanups.push(async () => { await outerA.stop(); await outerB.stop(); });
    const logs: string[] = [];
    const [a, b] = await pair(outerA, outerB, A_IP, B_IP, 51820, 51820, logs);
    expect(a.sockets.families).toEqual([4]);
    expect(a.sockets.ipv6Skipped).toMatch(/no IPv6 datagram transport/);
    expect(logs.filter((l) => /no IPv6 outer socket/.test(l))).toHaveLength(2);
    await echoThroughTunnel(a, b, 256 * 1024);
    expect(b.sockets.rxStats.rxDatagrams).toBeGreaterThan(0);
    expect([...[...b.device.peers][0]!.endpoint.localAddress.subarray(0, 4)].join('.')).toBe(B_IP);
    // Datagrams the driver retained hold stack memory until WskRelease: none is left.
    expect(p.a.ip.held.count + p.b.ip.held.count).toBe(0);
  }, 60_000);

  it('userspace stack with IPv6 on the memory link: the IPv6 socket carries the tunnel to [fd00:198:18::2], IN6_PKTINFO gives the local address, every retained datagram released', async () => {
    const p = stackPair({}, {}, undefined, {}, simulatedIpv6(A6_IP), simulatedIpv6(B6_IP));
    const outerA = await startWskSubsystem(createStackProvider(p.a), { makeDefault: false, registerWithNmr: false });
    const outerB = await startWskSubsystem(createStackProvider(p.b), { makeDefault: false, registerWithNmr: false });
    cleanups.push(async () => { await outerA.stop(); await outerB.stop(); });
    const logs: string[] = [];
    const [a, b] = await pair(outerA, outerB, A_IP, B_IP, 51820, 51820, logs, B6_IP);
    expect(a.sockets.families).toEqual([4, 6]);
    expect(b.sockets.families).toEqual([4, 6]);
    await echoThroughTunnel(a, b, 256 * 1024);
    const peerOfB = [...b.device.peers][0]!;
    expect(peerOfB.endpoint.toString()).toBe(`[${A6_IP}]:${a.port}`);
    expect(peerOfB.endpoint.localFamily).toBe(6);
    expect(formatIpv6(peerOfB.endpoint.localAddress, 0)).toBe(B6_IP);
    expect(p.b.udp6!.counters.in).toBeGreaterThan(0);
    expect(p.a.ip.held.count + p.b.ip.held.count).toBe(0);
    expect(logs).toEqual([]);
  }, 60_000);

  it('IPv6 inside the tunnel (Address = 198.19.0.x/24, fd00:198:19::x/64): bytes intact to echosrv at [fd00:198:19::2], ping answered over both families, nothing of NDP on the point-to-point link', async () => {
    const p = stackPair();
    const outerA = await startWskSubsystem(createStackProvider(p.a), { makeDefault: false, registerWithNmr: false });
    const outerB = await startWskSubsystem(createStackProvider(p.b), { makeDefault: false, registerWithNmr: false });
    cleanups.push(async () => { await outerA.stop(); await outerB.stop(); });
    const logs: string[] = [];
    const sent: number[][] = [];
    const [a, b] = await pair(outerA, outerB, A_IP, B_IP, 51820, 51820, logs, B_IP, true);
    expect(a.addresses6).toEqual([`${INNER6_A}/64`]);
    // Everything A's inner stack sends, as the tunnel sees it: version nibble and next header/ICMPv6 type.
    const send = a.device.sendPacket.bind(a.device);
    a.device.sendPacket = (bytes, offset, length) => {
      sent.push([bytes[offset]! >>> 4, bytes[offset + 6]!, bytes[offset + 40] ?? -1]);
      return send(bytes, offset, length);
    };
    await echoThroughTunnel(a, b, 256 * 1024, INNER6_B);
    // apps/ping from inside A's tunnel, both families: B's inner stack answers.
    for (const to of ['198.19.0.2', INNER6_B]) {
      const lines: string[] = [];
      const r = await ping({ subsystem: a.inner, host: to, count: 2, intervalMs: 10, out: (l) => lines.push(l) });
      expect(r).toMatchObject({ transmitted: 2, received: 2, exitCode: 0 });
      expect(lines[1]).toMatch(new RegExp(`^64 bytes from ${to}: icmp_seq=1 ttl=64 time=`));
    }
    // IPv6 went through the tunnel as bare packets; no NDP, MLD or router solicitation (ICMPv6 types 130-137, 143) ever did.
    expect(sent.some(([v]) => v === 6)).toBe(true);
    expect(sent.filter(([v, nh, type]) => v === 6 && nh === 58 && ((type! >= 130 && type! <= 137) || type === 143))).toEqual([]);
    expect(b.innerStack.counters.ip6In).toBeGreaterThan(0);
    expect(a.device.stats.txNoRoute + b.device.stats.txNoRoute).toBe(0);
    expect(logs.filter((l) => !/no IPv6 outer socket/.test(l))).toEqual([]);
  }, 60_000);

  it('a tunnel routes every destination its peers\' AllowedIPs hold, on the Address\'s prefix or not (wg-quick\'s routes): ping across /24 and /64 prefixes both ways', async () => {
    const p = stackPair();
    const outerA = await startWskSubsystem(createStackProvider(p.a), { makeDefault: false, registerWithNmr: false });
    const outerB = await startWskSubsystem(createStackProvider(p.b), { makeDefault: false, registerWithNmr: false });
    cleanups.push(async () => { await outerA.stop(); await outerB.stop(); });
    const ka = generatePrivateKey();
    const kb = generatePrivateKey();
    const file = (own: Uint8Array, address: string, peer: Uint8Array, allowed: string, endpoint?: string): string => [
      '[Interface]', `PrivateKey = ${formatKey(own)}`, 'ListenPort = 51820', `Address = ${address}`, '',
      '[Peer]', `PublicKey = ${formatKey(publicKeyOf(peer))}`, `AllowedIPs = ${allowed}`, ...(endpoint ? [`Endpoint = ${endpoint}`] : []), '',
    ].join('\n');
    const b = await startWireGuardWsk({ config: parseWgQuickConfig(file(kb, '198.19.1.2/24, fd00:198:19:1::2/64', ka, '198.19.0.0/24, fd00:198:19::/64')), outer: outerB, bindAddress4: B_IP });
    cleanups.push(() => b.stop());
    const a = await startWireGuardWsk({ config: parseWgQuickConfig(file(ka, '198.19.0.1/24, fd00:198:19::1/64', kb, '198.19.1.0/24, fd00:198:19:1::/64', `${B_IP}:51820`)), outer: outerA, bindAddress4: A_IP });
    cleanups.push(() => a.stop());
    for (const [from, to] of [[a, '198.19.1.2'], [a, 'fd00:198:19:1::2'], [b, '198.19.0.1'], [b, 'fd00:198:19::1']] as const) {
      const r = await ping({ subsystem: from.inner, host: to, count: 1, out: () => {} });
      expect({ to, received: r.received, errors: r.errors }).toEqual({ to, received: 1, errors: 0 });
    }
  }, 60_000);
});

// Two of our WireGuard devices talking through a seeded in-memory network in virtual time: the
// handshake, data both ways, the timers (rekey after 120 s, reject after 180 s, keepalives,
// retries under 50 % loss), cookies under load, replay and tamper drops, roaming, wrong keys.
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../runtime/net/clock.ts';
import { generatePrivateKey, publicKeyOf } from './crypto/x25519.ts';
import { Endpoint } from './endpoint.ts';
import { MessageType } from './messages.ts';
import type { WireGuardDeviceOptions } from './device.ts';
import { SimNetwork, ipv4Packet, ipv6Packet, seededBytes, type SimNode } from '../../test/helpers/wg-sim-network.ts';
import { parseIp } from './ip-address.ts';

const A_OUTER = '198.18.0.1:51820';
const B_OUTER = '198.18.0.2:51821';
const A_INNER = '198.19.0.1';
const B_INNER = '198.19.0.2';

interface Pair { clock: VirtualClock; net: SimNetwork; a: SimNode; b: SimNode }

function keyFrom(seed: number): Uint8Array {
  const k = new Uint8Array(32);
  seededBytes(seed)(k);
  return k;
}

function pair(seed: number, o: {
  psk?: [Uint8Array, Uint8Array]; bKnowsA?: Uint8Array; keepalive?: number; b?: Partial<WireGuardDeviceOptions>; a?: Partial<WireGuardDeviceOptions>;
} = {}): Pair {
  const clock = new VirtualClock();
  const net = new SimNetwork(clock, seed);
  const aKey = keyFrom(seed * 7 + 1);
  const bKey = keyFrom(seed * 7 + 2);
  const a = net.addNode(A_OUTER, { privateKey: aKey, random: seededBytes(seed * 7 + 3), wallClockMs: () => 1.7e12 + clock.now(), ...o.a });
  const b = net.addNode(B_OUTER, { privateKey: bKey, random: seededBytes(seed * 7 + 4), wallClockMs: () => 1.7e12 + clock.now(), ...o.b });
  a.device.addPeer({ publicKey: publicKeyOf(bKey), presharedKey: o.psk?.[0], endpoint: Endpoint.parse(B_OUTER), allowedIps: [`${B_INNER}/32`], persistentKeepalive: o.keepalive });
  b.device.addPeer({ publicKey: o.bKnowsA ?? publicKeyOf(aKey), presharedKey: o.psk?.[1], allowedIps: [`${A_INNER}/32`] });
  return { clock, net, a, b };
}

const aToB = (n = 100, fill = 1): Uint8Array => ipv4Packet(A_INNER, B_INNER, n, fill);
const bToA = (n = 100, fill = 2): Uint8Array => ipv4Packet(B_INNER, A_INNER, n, fill);
const send = (node: SimNode, p: Uint8Array): boolean => node.device.sendPacket(p, 0, p.length);
const peerOf = (node: SimNode) => [...node.device.peers][0]!;
const typeCount = (net: SimNetwork, type: number, fromPort?: number) => net.log.filter((d) => d.bytes[0] === type && (fromPort === undefined || d.from.port === fromPort)).length;

describe('WireGuard between two of our devices (virtual time)', () => {
  it('handshakes on the first packet, delivers it, and data flows both ways with the bytes intact', () => {
    const { clock, net, a, b } = pair(1);
    const p = aToB(333, 0xab);
    expect(send(a, p)).toBe(true);
    clock.runFor(1_000);
    expect(typeCount(net, MessageType.HANDSHAKE_INITIATION)).toBe(1);
    expect(typeCount(net, MessageType.HANDSHAKE_RESPONSE)).toBe(1);
    expect(b.delivered.map((d) => d.packet)).toEqual([p]);
    const back = bToA(1000, 0xcd);
    send(b, back);
    clock.runFor(100);
    expect(a.delivered.map((d) => d.packet)).toEqual([back]);
    // B learned A's endpoint from the handshake (it had none configured).
    expect(peerOf(b).endpoint.toString()).toBe(A_OUTER);
    expect(peerOf(a).stats.lastHandshakeWallMs).toBeGreaterThan(1.7e12);
    // Data messages are padded to 16: 20 + 333 = 353 -> 368, plus 32 bytes of header and tag.
    const data = net.log.filter((d) => d.bytes[0] === MessageType.TRANSPORT_DATA && d.from.port === 51820 && d.bytes.length > 32);
    expect(data[0]!.bytes.length).toBe(368 + 32);
    a.device.close(); b.device.close();
  });

  it('either side can initiate; simultaneous first packets still end with one working session each way', () => {
    const { clock, a, b } = pair(2);
    // B has no endpoint for A yet: it cannot start, its packet waits.
    send(b, bToA());
    expect(peerOf(b).stats.txNoEndpoint).toBe(1);
    send(a, aToB());
    clock.runFor(2_000);
    expect(b.delivered.length).toBe(1);
    expect(a.delivered.length).toBe(1); // B's staged packet left once A's session reached it
    // Now B initiates (A's session is dropped by zeroing it on A) and A answers.
    peerOf(a).zeroKeyMaterial(); peerOf(b).zeroKeyMaterial();
    clock.runFor(6_000);
    send(b, bToA());
    clock.runFor(1_000);
    expect(a.delivered.length).toBe(2);
    expect(peerOf(b).stats.handshakeInitiationsSent).toBe(1);
    a.device.close(); b.device.close();
  });

  it('the initiator rekeys after REKEY_AFTER_TIME (120 s) of sending, without losing a packet', () => {
    const { clock, net, a, b } = pair(3);
    let sent = 0;
    for (let s = 0; s < 150; s++) { send(a, aToB(64, s)); sent++; clock.runFor(1_000); }
    expect(b.delivered.length).toBe(sent);
    const inits = net.log.filter((d) => d.bytes[0] === MessageType.HANDSHAKE_INITIATION);
    expect(inits.length).toBe(2);
    expect(peerOf(a).keypairs.current!.created).toBeGreaterThanOrEqual(120_000);
    expect(peerOf(a).keypairs.previous).not.toBeNull();
    a.device.close(); b.device.close();
  });

  it('rejects a session after REJECT_AFTER_TIME (180 s): nothing is sent or accepted under it', () => {
    const { clock, net, a, b } = pair(4);
    send(a, aToB());
    clock.runFor(1_000);
    expect(b.delivered.length).toBe(1);
    const oldData = net.log.filter((d) => d.bytes[0] === MessageType.TRANSPORT_DATA && d.from.port === 51820)[0]!;
    // From now on every handshake message is lost: no new session can be made.
    net.filter = (d) => d.bytes[0] === MessageType.TRANSPORT_DATA;
    clock.runFor(179_000 - clock.now());
    send(a, aToB(64, 9)); // still inside 180 s: sent under the old session (and triggers a rekey that fails)
    clock.runFor(100);
    expect(b.delivered.length).toBe(2);
    clock.runFor(181_000 - clock.now());
    const before = net.log.filter((d) => d.bytes[0] === MessageType.TRANSPORT_DATA).length;
    send(a, aToB(64, 10));
    clock.runFor(100);
    expect(net.log.filter((d) => d.bytes[0] === MessageType.TRANSPORT_DATA).length).toBe(before); // staged, not sent
    expect(b.delivered.length).toBe(2);
    // A datagram sealed under the expired session is refused by the receiver too.
    const rejected = b.device.stats.rxNoSession;
    net.filter = null;
    net.send(oldData.from, oldData.to, oldData.bytes);
    clock.runFor(100);
    expect(b.device.stats.rxNoSession).toBe(rejected + 1);
    a.device.close(); b.device.close();
  });

  it('retries the handshake under 50 % loss until a session is up both ways, and the data gets through (seeded)', () => {
    for (const seed of [11, 12, 13, 14]) {
      const { clock, net, a, b } = pair(seed);
      net.lossRate = 0.5;
      const initiations: number[] = [];
      net.filter = (d) => { if (d.bytes[0] === MessageType.HANDSHAKE_INITIATION && d.from.port === 51820) initiations.push(clock.now()); return true; };
      // One packet a second, as ping would send (a lost one is not resent: WireGuard is a datagram link).
      for (let s = 0; s < 90 && b.delivered.length < 5; s++) { send(a, aToB(64, s)); clock.runFor(1_000); }
      expect(b.delivered.length).toBeGreaterThanOrEqual(5); // staged packets leave together
      expect(peerOf(b).keypairs.current).not.toBeNull();
      // Initiations are never closer than REKEY_TIMEOUT (5 s).
      expect(initiations.slice(1).every((t, i) => t - initiations[i]! >= 5_000)).toBe(true);
      a.device.close(); b.device.close();
    }
  });

  it('gives up after REKEY_ATTEMPT_TIME (90 s) of unanswered initiations, 5 s + jitter apart, and drops the staged packet', () => {
    const { clock, net, a, b } = pair(14);
    const times: number[] = [];
    net.filter = (d) => { if (d.bytes[0] === MessageType.HANDSHAKE_INITIATION) times.push(clock.now()); return false; };
    send(a, aToB());
    clock.runFor(200_000);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.every((g) => g >= 5_000 && g < 5_333)).toBe(true);
    expect(times.length).toBe(1 + 18 + 1); // the first, then retries until attempts exceed 90 s / 5 s
    expect(times[times.length - 1]! - times[0]!).toBeLessThan(100_000);
    expect(peerOf(a).stats.stagedDropped).toBe(1);
    a.device.close(); b.device.close();
  });

  it('sends a passive keepalive 10 s after receiving data it did not answer, and persistent keepalives on schedule', () => {
    const { clock, net, a, b } = pair(5, { keepalive: 25 });
    clock.runFor(1_000); // the persistent keepalive starts the handshake by itself
    expect(peerOf(b).keypairs.current).not.toBeNull();
    send(a, aToB());
    clock.runFor(10_500);
    expect(peerOf(b).stats.keepalivesSent).toBe(1);
    const k0 = peerOf(a).stats.keepalivesSent;
    clock.runFor(60_000);
    expect(peerOf(a).stats.keepalivesSent - k0).toBeGreaterThanOrEqual(2);
    expect(net.dropped).toBe(0);
    a.device.close(); b.device.close();
  });

  it('drops and counts replayed and tampered data; authentic data still arrives', () => {
    const { clock, net, a, b } = pair(6);
    send(a, aToB(64, 1));
    clock.runFor(1_000);
    send(a, aToB(64, 2));
    clock.runFor(100);
    expect(b.delivered.length).toBe(2);
    const data = net.log.filter((d) => d.bytes[0] === MessageType.TRANSPORT_DATA && d.from.port === 51820 && d.bytes.length > 32);
    for (const d of data) net.send(d.from, d.to, d.bytes); // replays
    const tampered = data[1]!.bytes.slice();
    tampered[40]! ^= 0x01;
    net.send(data[1]!.from, data[1]!.to, tampered);
    const garbage = new Uint8Array(40); garbage[0] = 9;
    net.send(data[1]!.from, data[1]!.to, garbage);
    clock.runFor(100);
    expect(b.device.stats.rxReplayed).toBe(2);
    expect(b.device.stats.rxBadAuth).toBe(1);
    expect(b.device.stats.rxInvalid).toBe(1);
    expect(b.delivered.length).toBe(2);
    send(a, aToB(64, 3));
    clock.runFor(100);
    expect(b.delivered.length).toBe(3);
    a.device.close(); b.device.close();
  });

  it('follows a peer that roams to another address and port', () => {
    const { clock, a, b } = pair(7);
    send(a, aToB());
    clock.runFor(1_000);
    send(b, bToA());
    clock.runFor(100);
    expect(a.delivered.length).toBe(1);
    b.address = Endpoint.parse('198.18.1.9:40000')!;
    send(b, bToA(50, 3));
    clock.runFor(100);
    expect(a.delivered.length).toBe(2);
    expect(peerOf(a).endpoint.toString()).toBe('198.18.1.9:40000');
    expect(peerOf(a).stats.roams).toBe(1);
    send(a, aToB(80, 4)); // reaches B at its new address
    clock.runFor(100);
    expect(b.delivered.at(-1)!.packet).toEqual(aToB(80, 4));
    a.device.close(); b.device.close();
  });

  it('under load demands a cookie: the first initiation gets a cookie reply, the retry with MAC2 gets a session', () => {
    const { clock, net, a, b } = pair(8, { b: { underLoadHandshakesPerSecond: 0 } });
    send(a, aToB());
    clock.runFor(1_000);
    expect(typeCount(net, MessageType.COOKIE_REPLY)).toBe(1);
    expect(a.device.stats.cookieRepliesAccepted).toBe(1);
    expect(b.delivered.length).toBe(0);
    clock.runFor(6_000);
    expect(typeCount(net, MessageType.HANDSHAKE_RESPONSE)).toBe(1);
    expect(b.delivered.length).toBe(1);
    a.device.close(); b.device.close();
  });

  it('makes no session with a wrong public key or a different preshared key', () => {
    const wrongKey = pair(9, { bKnowsA: publicKeyOf(generatePrivateKey()) });
    send(wrongKey.a, aToB());
    wrongKey.clock.runFor(20_000);
    expect(wrongKey.b.delivered.length).toBe(0);
    expect(wrongKey.b.device.stats.rxHandshakeFailed).toBeGreaterThan(0);
    expect(typeCount(wrongKey.net, MessageType.HANDSHAKE_RESPONSE)).toBe(0);
    wrongKey.a.device.close(); wrongKey.b.device.close();

    const psk1 = keyFrom(1); const psk2 = keyFrom(2);
    const wrongPsk = pair(10, { psk: [psk1, psk2] });
    send(wrongPsk.a, aToB());
    wrongPsk.clock.runFor(20_000);
    expect(wrongPsk.b.delivered.length).toBe(0);
    expect(wrongPsk.a.device.stats.rxHandshakeFailed).toBeGreaterThan(0); // A cannot open B's response
    wrongPsk.a.device.close(); wrongPsk.b.device.close();

    const samePsk = pair(10, { psk: [psk1, psk1] });
    send(samePsk.a, aToB());
    samePsk.clock.runFor(1_000);
    expect(samePsk.b.delivered.length).toBe(1);
    samePsk.a.device.close(); samePsk.b.device.close();
  });

  it('routes by AllowedIPs: no route is counted, and an inner source the peer does not own is dropped', () => {
    const { clock, a, b } = pair(15);
    expect(send(a, ipv4Packet(A_INNER, '198.19.9.9', 10))).toBe(false);
    expect(a.device.stats.txNoRoute).toBe(1);
    expect(send(a, new Uint8Array(10))).toBe(false);
    expect(send(a, ipv4Packet(A_INNER, B_INNER, 70_000))).toBe(false);
    expect(a.device.stats.txInvalid).toBe(2);
    // A sends with a source address B does not allow from A.
    a.device.allowedIps.insert(4, Uint8Array.of(198, 19, 0, 2), 32, peerOf(a));
    send(a, ipv4Packet('198.19.7.7', B_INNER, 10));
    clock.runFor(1_000);
    expect(b.delivered.length).toBe(0);
    expect(b.device.stats.rxNotAllowed).toBe(1);
    a.device.close(); b.device.close();
  });

  it('rekeys after REKEY_AFTER_MESSAGES and stops sending at REJECT_AFTER_MESSAGES (limits shrunk)', () => {
    const limits = { rekeyAfterMessages: 20, rejectAfterMessages: 40 };
    const { clock, net, a, b } = pair(16, { a: { limits }, b: { limits } });
    send(a, aToB());
    clock.runFor(1_000);
    for (let i = 0; i < 30; i++) send(a, aToB(10, i));
    clock.runFor(1_000);
    expect(typeCount(net, MessageType.HANDSHAKE_INITIATION)).toBe(1); // second one is rate-limited to one per 5 s
    clock.runFor(5_000);
    for (let i = 0; i < 5; i++) send(a, aToB(10, i));
    clock.runFor(1_000);
    expect(typeCount(net, MessageType.HANDSHAKE_INITIATION)).toBe(2);
    expect(b.delivered.length).toBe(36);
    a.device.close(); b.device.close();
  });

  it('erases all keys after 3 × REJECT_AFTER_TIME without a new session', () => {
    const { clock, a, b } = pair(17);
    send(a, aToB());
    clock.runFor(1_000);
    expect(peerOf(a).keypairs.current).not.toBeNull();
    clock.runFor(540_000);
    expect(peerOf(a).keypairs.current).toBeNull();
    expect(peerOf(b).keypairs.current).toBeNull();
    a.device.close(); b.device.close();
  });

  it('runs the same way twice with the same seed', () => {
    const trace = (): string[] => {
      const { clock, net, a, b } = pair(21);
      net.lossRate = 0.5;
      for (let i = 0; i < 20; i++) { send(a, aToB(30, i)); clock.runFor(3_000); }
      a.device.close(); b.device.close();
      return net.log.map((d) => `${d.bytes[0]}:${d.bytes.length}:${Buffer.from(d.bytes).toString('hex', 4, 16)}`);
    };
    expect(trace()).toEqual(trace());
  });
  it('works the same over IPv6 outer endpoints with IPv6 inner packets (AllowedIPs per family)', () => {
    const clock = new VirtualClock();
    const net = new SimNetwork(clock, 31);
    const kA = keyFrom(31); const kB = keyFrom(32);
    const a = net.addNode('[fd00:198:18::1]:51820', { privateKey: kA, random: seededBytes(33) });
    const b = net.addNode('[fd00:198:18::2]:51820', { privateKey: kB, random: seededBytes(34) });
    a.device.addPeer({ publicKey: publicKeyOf(kB), endpoint: Endpoint.parse('[fd00:198:18::2]:51820'), allowedIps: ['fd00:198:19::/64', `${B_INNER}/32`] });
    b.device.addPeer({ publicKey: publicKeyOf(kA), allowedIps: ['fd00:198:19::1/128'] });
    const src = parseIp('fd00:198:19::1')!.bytes; const dst = parseIp('fd00:198:19::2')!.bytes;
    const p = ipv6Packet(src, dst, 1000, 0x5a);
    expect(send(a, p)).toBe(true);
    clock.runFor(1_000);
    expect(b.delivered.map((d) => d.packet)).toEqual([p]);
    expect(peerOf(b).endpoint.toString()).toBe('[fd00:198:18::1]:51820');
    // B allows only fd00:198:19::1 from A: an IPv4 source from A is refused there.
    send(a, aToB());
    clock.runFor(100);
    expect(b.device.stats.rxNotAllowed).toBe(1);
    expect(send(b, ipv6Packet(dst, parseIp('fd00:198:19::7')!.bytes, 10))).toBe(false); // B routes only fd00:198:19::1/128 to A
    expect(b.device.stats.txNoRoute).toBe(1);
    send(b, ipv6Packet(dst, src, 10));
    clock.runFor(100);
    expect(a.delivered.at(-1)!.packet).toEqual(ipv6Packet(dst, src, 10));
    a.device.close(); b.device.close();
  });
});

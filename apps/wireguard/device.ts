// A WireGuard interface: our static key, the peers, the index table that maps a received
// message's receiver index to its session, cryptokey routing, and the receive side of the protocol.
//
// Contract (what a transport and a tunnel link rely on):
//  - receiveDatagram(bytes, offset, length, from) takes one UDP payload that arrived from `from`.
//    It may decrypt in place (the bytes are overwritten) and reads `from` only during the call (a
//    roaming peer copies it). An inner packet goes to deliverPacket before receiveDatagram returns.
//  - sendPacket(bytes, offset, length) takes one inner IP packet, only reading it during the call.
//  - sendDatagram(to, bytes, offset, length) is called with bytes valid only during that call
//    (the device's transmit buffer): the transport copies them out (into its MDL, ring slot or
//    socket) before returning. deliverPacket's bytes are likewise lent for the call.
//  - Neither callback may re-enter the device synchronously (queue the work instead).
//  - Bad input is counted and dropped, never thrown. Time comes only from the injected clock;
//    randomness from the injected `random` (seeded in tests, so runs replay exactly).
// The data path (transport data in and out) allocates nothing per packet, with the native AEAD;
// node:crypto's allocates per call (see crypto/native-aead.ts).
import { randomFillSync } from 'node:crypto';
import type { Clock } from '../../runtime/net/clock.ts';
import { writeCounterNonce, type ChaChaPoly } from './crypto/aead.ts';
import { defaultChaChaPoly } from './crypto/native-aead.ts';
import { formatKey, publicKeyOf } from './crypto/x25519.ts';
import { AllowedIps } from './allowed-ips.ts';
import { CookieChecker } from './cookie.ts';
import { DEFAULT_LIMITS, DEFAULT_MTU, INITIATION_MIN_INTERVAL, REJECT_AFTER_TIME, type SessionLimits } from './constants.ts';
import { Endpoint } from './endpoint.ts';
import { acceptInitiation, consumeResponse, openInitiation, type StaticIdentity } from './handshake.ts';
import { parsePrefix, type IpFamily } from './ip-address.ts';
import type { Keypair } from './keypair.ts';
import { CookieReply, Initiation, MessageType, Response, TransportData, messageType, readI32LE, readU32LE } from './messages.ts';
import { Peer, RX } from './peer.ts';
import { WireGuardError } from './errors.ts';

export interface WireGuardDeviceOptions {
  privateKey: Uint8Array;
  clock: Clock;
  /** Sends one UDP datagram to `to`; the bytes are lent for the call only. */
  sendDatagram(to: Endpoint, bytes: Uint8Array, offset: number, length: number): void;
  /** Takes one decrypted inner IP packet from `peer`; the bytes are lent for the call only. */
  deliverPacket(peer: Peer, bytes: Uint8Array, offset: number, length: number): void;
  /** Fills `out` with random bytes (default: node:crypto). Tests pass a seeded generator. */
  random?: (out: Uint8Array) => void;
  /** Wall-clock ms for TAI64N timestamps and `latest handshake` (default: Date.now() at the clock's 0, plus clock time). */
  wallClockMs?: () => number;
  /** Tunnel MTU: inner packets are padded up to it, not past (default 1420). */
  mtu?: number;
  /** Message-count limits (tests shrink them). */
  limits?: Partial<SessionLimits>;
  /** The AEAD for transport data (default: the native one over Node's OpenSSL if built, else node:crypto). */
  aead?: ChaChaPoly;
  /**
   * Handshake messages per second above which the device is under load and demands cookies
   * (MAC2) before doing any Diffie-Hellman (default 128; 0: always).
   */
  underLoadHandshakesPerSecond?: number;
}

export interface PeerOptions {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint | null;
  /** AllowedIPs as "address/cidr" text. */
  allowedIps?: readonly string[];
  persistentKeepalive?: number;
}

/** Why datagrams and packets were dropped, device-wide. */
export interface DeviceStats {
  /** Datagrams that are no WireGuard message (bad type, reserved bytes or length). */
  rxInvalid: number;
  /** Handshake messages with a wrong MAC1 (not for us, or corrupted). */
  rxBadMac1: number;
  /** Handshake messages answered by a cookie reply instead of being processed (under load). */
  cookieRepliesSent: number;
  cookieRepliesAccepted: number;
  /** Handshake messages that did not authenticate, name an unknown peer or session. */
  rxHandshakeFailed: number;
  /** Initiations refused as replays (old timestamp) or floods (too soon). */
  rxInitiationReplayed: number;
  /** Data messages for an unknown or expired session. */
  rxNoSession: number;
  /** Data messages whose tag did not verify (tampered, or not ours). */
  rxBadAuth: number;
  /** Data messages that authenticated but whose counter was seen before or is too old. */
  rxReplayed: number;
  /** Inner packets whose source address the sending peer is not allowed (cryptokey routing). */
  rxNotAllowed: number;
  /** Inner packets that are not IPv4 or IPv6 or whose length does not fit. */
  rxBadPacket: number;
  /** Outgoing inner packets no peer's AllowedIPs cover. */
  txNoRoute: number;
  /** Outgoing inner packets that are not IPv4 or IPv6, or longer than an IP packet can be. */
  txInvalid: number;
}

/**
 * Indices are kept as signed 32-bit numbers (the same 32 bits): V8 keeps those unboxed, where an
 * unsigned index above 2^31 would be boxed into a new heap number on every Map lookup.
 */
const indexKey = readI32LE;

interface IndexEntry {
  peer: Peer;
  /** The session this index names, or null while it names the peer's handshake in flight. */
  keypair: Keypair | null;
}

/** What peers use of their device (not public API). */
export interface DeviceInternals {
  readonly clock: Clock;
  readonly identity: StaticIdentity;
  readonly limits: SessionLimits;
  readonly mtu: number;
  readonly aead: ChaChaPoly;
  readonly txBuffer: Uint8Array;
  readonly nonce: Uint8Array;
  sendDatagram(to: Endpoint, bytes: Uint8Array, offset: number, length: number): void;
  wallClockMs(): number;
  randomKey(): Uint8Array;
  randomBelow(n: number): number;
  assignHandshakeIndex(peer: Peer): void;
  bindKeypair(peer: Peer, kp: Keypair): void;
  forgetIndex(index: number): void;
  forgetHandshakeIndex(peer: Peer): void;
}

const UNDER_LOAD_HOLD = 1_000;
const fail = (code: 'WG_ERR_ALLOWED_IPS', message: string): never => { throw new WireGuardError(code, message); };
const MAX_IP_PACKET = 65_535;

export class WireGuardDevice implements DeviceInternals {
  readonly clock: Clock;
  readonly identity: StaticIdentity;
  readonly limits: SessionLimits;
  readonly mtu: number;
  readonly aead: ChaChaPoly;
  /** Room for the largest inner packet, padded, plus header and tag. */
  readonly txBuffer = new Uint8Array(MAX_IP_PACKET + 1 + TransportData.MIN_SIZE);
  readonly nonce = new Uint8Array(12);
  readonly stats: DeviceStats = {
    rxInvalid: 0, rxBadMac1: 0, cookieRepliesSent: 0, cookieRepliesAccepted: 0, rxHandshakeFailed: 0, rxInitiationReplayed: 0,
    rxNoSession: 0, rxBadAuth: 0, rxReplayed: 0, rxNotAllowed: 0, rxBadPacket: 0, txNoRoute: 0, txInvalid: 0,
  };
  readonly allowedIps = new AllowedIps<Peer>();
  private readonly peersByKey = new Map<string, Peer>();
  private readonly indices = new Map<number, IndexEntry>();
  private readonly cookieChecker: CookieChecker;
  private readonly random: (out: Uint8Array) => void;
  private readonly wallClock: () => number;
  private readonly rand4 = new Uint8Array(4);
  private readonly underLoadRate: number;
  private loadWindowStart = -Infinity;
  private loadCount = 0;
  private underLoadUntil = -Infinity;

  constructor(private readonly options: WireGuardDeviceOptions) {
    if (options.privateKey.length !== 32) {
      throw new WireGuardError('WG_ERR_KEY', `the private key has ${options.privateKey.length} bytes, not 32: parse \`wg genkey\` output with parseKey(), or use generatePrivateKey()`);
    }
    this.clock = options.clock;
    this.identity = { privateKey: options.privateKey, publicKey: publicKeyOf(options.privateKey) };
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.mtu = options.mtu ?? DEFAULT_MTU;
    this.aead = options.aead ?? defaultChaChaPoly();
    this.random = options.random ?? ((out) => { randomFillSync(out); });
    const epoch = Date.now() - this.clock.now();
    this.wallClock = options.wallClockMs ?? (() => epoch + this.clock.now());
    this.underLoadRate = options.underLoadHandshakesPerSecond ?? 128;
    this.cookieChecker = new CookieChecker(this.identity.publicKey, this.random);
  }

  get publicKey(): Uint8Array { return this.identity.publicKey; }

  get peers(): IterableIterator<Peer> { return this.peersByKey.values(); }

  /** Adds a peer (its AllowedIPs move to it from any other peer, as with `wg set`). */
  addPeer(o: PeerOptions): Peer {
    const key = formatKey(o.publicKey);
    if (o.publicKey.length !== 32) throw new WireGuardError('WG_ERR_KEY', `a peer's public key has ${o.publicKey.length} bytes, not 32: parse the peer's \`wg pubkey\` output with parseKey()`);
    if (o.presharedKey && o.presharedKey.length !== 32) throw new WireGuardError('WG_ERR_KEY', `a preshared key has ${o.presharedKey.length} bytes, not 32: parse \`wg genpsk\` output with parseKey()`);
    if (this.peersByKey.has(key)) throw new WireGuardError('WG_ERR_PEER_EXISTS', `peer ${key} is already on this device: remove it first, or change the existing one`);
    const prefixes = (o.allowedIps ?? []).map((text) => parsePrefix(text)
      ?? fail('WG_ERR_ALLOWED_IPS', `AllowedIPs entry "${text}" is not address/cidr: write it like 198.19.0.0/16 or fd00::/64`));
    const peer = new Peer(this, o.publicKey, o.presharedKey ?? new Uint8Array(32), o.endpoint ?? null, o.persistentKeepalive ?? 0);
    this.peersByKey.set(key, peer);
    for (const p of prefixes) this.allowedIps.insert(p.family, p.bytes, p.cidr, peer);
    // A persistent keepalive starts at once (as `wg set ... persistent-keepalive` does), which also
    // makes the first handshake.
    if (peer.timers.persistentKeepaliveMs > 0 && peer.hasEndpoint) peer.sendKeepalive();
    return peer;
  }

  peerByKey(publicKey: Uint8Array): Peer | undefined { return this.peersByKey.get(formatKey(publicKey)); }

  removePeer(peer: Peer): void {
    peer.stop();
    this.allowedIps.removeOwner(peer);
    this.peersByKey.delete(formatKey(peer.publicKey));
  }

  /** Stops every peer's timers and forgets every session. */
  close(): void {
    for (const peer of [...this.peersByKey.values()]) this.removePeer(peer);
  }

  /** Sends an inner IP packet to the peer whose AllowedIPs hold its destination. False if none does. */
  sendPacket(bytes: Uint8Array, offset: number, length: number): boolean {
    const v = length >= 20 && length <= MAX_IP_PACKET ? bytes[offset]! >>> 4 : 0;
    let peer: Peer | null = null;
    if (v === 4) peer = this.allowedIps.lookup(4, bytes, offset + 16);
    else if (v === 6 && length >= 40) peer = this.allowedIps.lookup(6, bytes, offset + 24);
    else { this.stats.txInvalid++; return false; }
    if (!peer) { this.stats.txNoRoute++; return false; }
    peer.send(bytes, offset, length);
    return true;
  }

  /** Takes one received UDP payload (see the contract above). */
  receiveDatagram(bytes: Uint8Array, offset: number, length: number, from: Endpoint): void {
    switch (messageType(bytes, offset, length)) {
      case MessageType.TRANSPORT_DATA:
        if (length >= TransportData.MIN_SIZE) { this.receiveData(bytes, offset, length, from); return; }
        break;
      case MessageType.HANDSHAKE_INITIATION:
        if (length === Initiation.SIZE) { this.receiveInitiation(bytes.slice(offset, offset + length), from); return; }
        break;
      case MessageType.HANDSHAKE_RESPONSE:
        if (length === Response.SIZE) { this.receiveResponse(bytes.slice(offset, offset + length), from); return; }
        break;
      case MessageType.COOKIE_REPLY:
        if (length === CookieReply.SIZE) { this.receiveCookieReply(bytes.slice(offset, offset + length)); return; }
        break;
    }
    this.stats.rxInvalid++;
  }

  // --- receive side -------------------------------------------------------------------------

  private receiveData(bytes: Uint8Array, offset: number, length: number, from: Endpoint): void {
    const entry = this.indices.get(indexKey(bytes, offset + TransportData.RECEIVER_INDEX));
    const kp = entry?.keypair;
    if (!entry || !kp || this.clock.now() - kp.created >= REJECT_AFTER_TIME) { this.stats.rxNoSession++; return; }
    const peer = entry.peer;
    const lo = readI32LE(bytes, offset + TransportData.COUNTER);
    const hi = readI32LE(bytes, offset + TransportData.COUNTER + 4);
    if (hi < 0 || hi >= 0x200000) { this.stats.rxReplayed++; return; } // 2^53 and above: past any limit we keep
    const counter = hi * 0x100000000 + (lo >>> 0);
    writeCounterNonce(this.nonce, counter);
    const p = offset + TransportData.PAYLOAD;
    const sealed = length - TransportData.PAYLOAD;
    if (!this.aead.open(kp.receiveKey, this.nonce, null, bytes, p, sealed, bytes, p)) { this.stats.rxBadAuth++; return; }
    if (counter >= this.limits.rejectAfterMessages || !kp.replay.accept(counter)) { this.stats.rxReplayed++; return; }
    peer.stats.bytes[RX] += length;
    if (kp === peer.keypairs.next) peer.confirmNext();
    peer.authenticatedFrom(from);
    peer.keepKeyFreshReceiving(kp);
    const plain = sealed - 16;
    if (plain === 0) { peer.stats.keepalivesReceived++; return; }
    peer.timers.dataReceived();
    // The inner packet's own length (padding follows it) and source, checked against AllowedIPs.
    let ipLength = 0;
    let family: IpFamily = 4;
    let src = 0;
    const v = bytes[p]! >>> 4;
    if (v === 4 && plain >= 20) { ipLength = (bytes[p + 2]! << 8) | bytes[p + 3]!; src = p + 12; if (ipLength < 20) ipLength = 0; }
    else if (v === 6 && plain >= 40) { ipLength = 40 + ((bytes[p + 4]! << 8) | bytes[p + 5]!); src = p + 8; family = 6; }
    if (ipLength === 0 || ipLength > plain) { this.stats.rxBadPacket++; return; }
    if (this.allowedIps.lookup(family, bytes, src) !== peer) { this.stats.rxNotAllowed++; return; }
    this.options.deliverPacket(peer, bytes, p, ipLength);
  }

  private receiveInitiation(msg: Uint8Array, from: Endpoint): void {
    if (!this.admitHandshake(msg, Initiation.MAC1, readU32LE(msg, Initiation.SENDER_INDEX), from)) return;
    let peer: Peer | undefined;
    const opened = openInitiation(this.identity, msg, 0, (remoteStatic) => (peer = this.peerByKey(remoteStatic))?.handshake ?? null);
    if (!opened || !peer) { this.stats.rxHandshakeFailed++; return; }
    if (!acceptInitiation(opened.hs, opened.opened, this.clock.now(), INITIATION_MIN_INTERVAL)) { this.stats.rxInitiationReplayed++; return; }
    peer.stats.bytes[RX] += msg.length;
    peer.authenticatedFrom(from);
    peer.sendHandshakeResponse();
  }

  private receiveResponse(msg: Uint8Array, from: Endpoint): void {
    if (!this.admitHandshake(msg, Response.MAC1, readU32LE(msg, Response.SENDER_INDEX), from)) return;
    const entry = this.indices.get(indexKey(msg, Response.RECEIVER_INDEX));
    const peer = entry && !entry.keypair ? entry.peer : null;
    if (!peer || !consumeResponse(this.identity, peer.handshake, msg, 0)) { this.stats.rxHandshakeFailed++; return; }
    peer.stats.bytes[RX] += msg.length;
    peer.authenticatedFrom(from);
    if (!peer.beginSession()) return;
    peer.handshakeComplete();
    // Confirm the session to the responder at once: staged packets, or a keepalive.
    peer.sendKeepalive();
  }

  private receiveCookieReply(msg: Uint8Array): void {
    const entry = this.indices.get(indexKey(msg, CookieReply.RECEIVER_INDEX));
    if (entry && entry.peer.cookies.consumeReply(msg, 0, this.clock.now())) this.stats.cookieRepliesAccepted++;
    else this.stats.rxHandshakeFailed++;
  }

  /**
   * MAC1 always; under load also MAC2, answering a handshake without a valid one by a cookie
   * reply instead of doing its Diffie-Hellman work (the paper §5.3).
   */
  private admitHandshake(msg: Uint8Array, mac1Offset: number, senderIndex: number, from: Endpoint): boolean {
    if (!this.cookieChecker.checkMac1(msg, 0, mac1Offset)) { this.stats.rxBadMac1++; return false; }
    const now = this.clock.now();
    if (!this.underLoad(now) || this.cookieChecker.checkMac2(msg, 0, mac1Offset, from, now)) return true;
    this.stats.cookieRepliesSent++;
    const reply = this.cookieChecker.createReply(msg, 0, mac1Offset, senderIndex, from, now);
    this.options.sendDatagram(from, reply, 0, reply.length);
    return false;
  }

  private underLoad(now: number): boolean {
    if (now - this.loadWindowStart >= 1_000) { this.loadWindowStart = now; this.loadCount = 0; }
    if (++this.loadCount > this.underLoadRate) this.underLoadUntil = now + UNDER_LOAD_HOLD;
    return now < this.underLoadUntil;
  }

  // --- for peers (DeviceInternals) ---------------------------------------------------------

  sendDatagram(to: Endpoint, bytes: Uint8Array, offset: number, length: number): void { this.options.sendDatagram(to, bytes, offset, length); }

  wallClockMs(): number { return this.wallClock(); }

  randomKey(): Uint8Array {
    const k = new Uint8Array(32);
    this.random(k);
    return k;
  }

  randomBelow(n: number): number {
    this.random(this.rand4);
    return readU32LE(this.rand4, 0) % n;
  }

  /** A fresh random index for the peer's next handshake message; the old handshake index is forgotten. */
  assignHandshakeIndex(peer: Peer): void {
    this.forgetHandshakeIndex(peer);
    let index: number;
    do { this.random(this.rand4); index = indexKey(this.rand4, 0); } while (this.indices.has(index));
    peer.handshake.localIndex = index;
    this.indices.set(index, { peer, keypair: null });
  }

  bindKeypair(peer: Peer, kp: Keypair): void { this.indices.set(kp.localIndex, { peer, keypair: kp }); }

  forgetIndex(index: number): void { this.indices.delete(index); }

  forgetHandshakeIndex(peer: Peer): void {
    const e = this.indices.get(peer.handshake.localIndex);
    if (e && e.peer === peer && !e.keypair) this.indices.delete(peer.handshake.localIndex);
  }
}

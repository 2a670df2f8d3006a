// One WireGuard peer: its static key, handshake, sessions, outer endpoint, staged packets, timers
// and counters; and its send side (the paper §5.4.6: a data message is the receiver's index, a
// 64-bit counter and the padded packet sealed with the sending key under that counter).
// The device (device.ts) owns peers, the index table and the receive side.
import type { Clock } from '../../runtime/net/clock.ts';
import { writeCounterNonce } from './crypto/aead.ts';
import { Endpoint } from './endpoint.ts';
import { CookieGenerator } from './cookie.ts';
import { Handshake, createInitiation, createResponse, deriveTransportKeys, tai64n } from './handshake.ts';
import { Keypair, KeypairSlots } from './keypair.ts';
import { Initiation, MessageType, PADDING_MULTIPLE, Response, TransportData, writeHeader, writeU32LE } from './messages.ts';
import { PeerTimers } from './peer-timers.ts';
import { MAX_STAGED_PACKETS, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_TIMEOUT, KEEPALIVE_TIMEOUT } from './constants.ts';
import type { DeviceInternals } from './device.ts';

const NO_PACKET = new Uint8Array(0);

/**
 * Counters a user sees (`wg show`'s transfer and latest handshake, and why packets went nowhere).
 * The byte counts live in a Float64Array: they pass 2^31 within seconds of traffic, and a plain
 * field that stops being a small integer changes the object's shape, which deoptimises the data
 * path, which then allocates a number per update until V8 optimises it again.
 */
export class PeerStats {
  /** [received, sent] bytes of WireGuard datagrams (handshakes included). */
  readonly bytes = new Float64Array(2);
  /** Wall-clock ms of the latest completed handshake, 0 if none. */
  lastHandshakeWallMs = 0;
  handshakeInitiationsSent = 0;
  handshakeResponsesSent = 0;
  keepalivesSent = 0;
  keepalivesReceived = 0;
  /** Times the endpoint changed because an authenticated packet came from elsewhere. */
  roams = 0;
  /** Packets dropped because the handshake attempts ran out, or the staging queue was full. */
  stagedDropped = 0;
  /** Packets that could not be sent because the peer has no endpoint yet. */
  txNoEndpoint = 0;

  get rxBytes(): number { return this.bytes[RX]!; }
  get txBytes(): number { return this.bytes[TX]!; }
}

export const RX = 0;
export const TX = 1;

export class Peer {
  readonly handshake: Handshake;
  readonly cookies: CookieGenerator;
  readonly keypairs = new KeypairSlots();
  readonly timers: PeerTimers;
  /** The outer address we send to; valid while hasEndpoint. Updated in place when the peer roams. */
  readonly endpoint = new Endpoint();
  hasEndpoint = false;
  readonly stats = new PeerStats();
  private readonly staged: Uint8Array[] = [];
  private lastSentHandshake = -Infinity;
  private readonly clock: Clock;

  constructor(
    private readonly device: DeviceInternals,
    readonly publicKey: Uint8Array,
    presharedKey: Uint8Array,
    endpoint: Endpoint | null,
    persistentKeepaliveSeconds: number,
  ) {
    this.clock = device.clock;
    this.handshake = new Handshake(device.identity, publicKey, presharedKey);
    this.cookies = new CookieGenerator(publicKey);
    if (endpoint) { this.endpoint.copyFrom(endpoint); this.hasEndpoint = true; }
    this.timers = new PeerTimers(this.clock, {
      sendHandshakeInitiation: (isRetry) => this.sendHandshakeInitiation(isRetry),
      sendKeepalive: () => this.sendKeepalive(),
      giveUpHandshake: () => { this.stats.stagedDropped += this.staged.length; this.staged.length = 0; },
      zeroKeyMaterial: () => this.zeroKeyMaterial(),
      randomBelow: (n) => device.randomBelow(n),
    });
    this.timers.persistentKeepaliveMs = persistentKeepaliveSeconds * 1000;
  }

  /** Sets the endpoint (configuration or `wg set ... endpoint`). */
  setEndpoint(endpoint: Endpoint): void {
    this.endpoint.copyFrom(endpoint);
    this.hasEndpoint = true;
  }

  /**
   * Sends an inner IP packet to this peer: sealed under the current session at once, or staged
   * (copied) while a handshake makes one. bytes[offset, +length) is only read during the call.
   */
  send(bytes: Uint8Array, offset: number, length: number): void {
    const kp = this.keypairs.current;
    if (this.staged.length === 0 && kp && this.usable(kp)) {
      this.seal(kp, bytes, offset, length);
      this.keepKeyFreshSending(kp);
      return;
    }
    this.stage(bytes.slice(offset, offset + length));
    this.sendStaged();
  }

  /** Sends a keepalive (an empty data message), or whatever is staged, which proves as much. */
  sendKeepalive(): void {
    if (this.staged.length === 0) this.stage(NO_PACKET);
    this.sendStaged();
  }

  /** Sends the staged packets if a session allows, otherwise starts a handshake for them. */
  sendStaged(): void {
    if (this.staged.length === 0) return;
    const kp = this.keypairs.current;
    if (!kp || !this.usable(kp)) {
      this.sendHandshakeInitiation(false);
      return;
    }
    let sent = 0;
    while (sent < this.staged.length && this.usable(kp)) {
      const p = this.staged[sent++]!;
      this.seal(kp, p, 0, p.length);
    }
    this.staged.splice(0, sent);
    // What the session could not take (it reached REJECT_AFTER_MESSAGES) waits for the next one.
    if (this.staged.length > 0) this.sendHandshakeInitiation(false);
    else this.keepKeyFreshSending(kp);
  }

  /** Starts a handshake (at most one initiation per REKEY_TIMEOUT, the paper §6.1). */
  sendHandshakeInitiation(isRetry: boolean): void {
    if (!isRetry) this.timers.handshakeAttempts = 0;
    const now = this.clock.now();
    if (now - this.lastSentHandshake < REKEY_TIMEOUT) return;
    if (!this.hasEndpoint) { this.stats.txNoEndpoint++; return; }
    this.lastSentHandshake = now;
    this.device.assignHandshakeIndex(this);
    const msg = createInitiation(this.device.identity, this.handshake, this.device.randomKey(), tai64n(this.device.wallClockMs()));
    if (!msg) return;
    this.cookies.addMacs(msg, Initiation.MAC1, now);
    this.stats.handshakeInitiationsSent++;
    this.transmit(msg, msg.length);
    this.timers.handshakeInitiated();
  }

  /** Answers the initiation just accepted and keeps the new session in `next` (the paper §5.4.3). */
  sendHandshakeResponse(): void {
    const now = this.clock.now();
    this.device.assignHandshakeIndex(this);
    const msg = createResponse(this.handshake, this.device.randomKey());
    if (!msg) return;
    this.cookies.addMacs(msg, Response.MAC1, now);
    this.beginSession();
    this.lastSentHandshake = now;
    this.stats.handshakeResponsesSent++;
    this.transmit(msg, msg.length);
  }

  /** Derives the session of the completed handshake and installs it. */
  beginSession(): Keypair | null {
    const hs = this.handshake;
    const keys = deriveTransportKeys(hs);
    if (!keys) return null;
    const kp = new Keypair(keys.send, keys.receive, keys.initiator, this.clock.now(), hs.localIndex, hs.remoteIndex);
    hs.clear();
    this.device.bindKeypair(this, kp);
    for (const old of this.keypairs.install(kp)) this.device.forgetIndex(old.localIndex);
    this.timers.sessionDerived();
    return kp;
  }

  /** The responder's `next` session received its first packet: it is confirmed and becomes current. */
  confirmNext(): void {
    const dropped = this.keypairs.confirmNext();
    if (dropped) this.device.forgetIndex(dropped.localIndex);
    this.handshakeComplete();
    this.sendStaged();
  }

  handshakeComplete(): void {
    this.timers.handshakeComplete();
    this.stats.lastHandshakeWallMs = this.device.wallClockMs();
  }

  /**
   * The paper §6.2 on receive: an initiator whose session is nearly too old to use
   * (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) rekeys once on the next packet it
   * receives, in case it has nothing to send that would trigger the rekey.
   */
  keepKeyFreshReceiving(kp: Keypair): void {
    if (kp !== this.keypairs.current || !kp.initiator || kp.lastMinuteRekeySent) return;
    if (this.clock.now() - kp.created < REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) return;
    kp.lastMinuteRekeySent = true;
    this.sendHandshakeInitiation(false);
  }

  /** An authenticated packet came from `from`: follow the peer there (roaming, the paper §2.1). */
  authenticatedFrom(from: Endpoint): void {
    if (!this.hasEndpoint || !this.endpoint.equals(from)) {
      // Learning which of our addresses the peer writes to (IP_PKTINFO) is no move of the peer's.
      if (this.hasEndpoint && !this.endpoint.sameRemote(from)) this.stats.roams++;
      this.endpoint.copyFrom(from);
      this.hasEndpoint = true;
    }
    this.timers.anyAuthenticatedPacketReceived();
    this.timers.anyAuthenticatedPacketTraversal();
  }

  zeroKeyMaterial(): void {
    for (const kp of this.keypairs.all()) this.device.forgetIndex(kp.localIndex);
    this.keypairs.clear();
    this.device.forgetHandshakeIndex(this);
    this.handshake.clear();
  }

  stop(): void {
    this.timers.stop();
    this.zeroKeyMaterial();
    this.staged.length = 0;
  }

  /** A session may send: younger than REJECT_AFTER_TIME and below REJECT_AFTER_MESSAGES. */
  usable(kp: Keypair): boolean {
    return kp.sendCounter < this.device.limits.rejectAfterMessages && this.clock.now() - kp.created < REJECT_AFTER_TIME;
  }

  private stage(packet: Uint8Array): void {
    if (this.staged.length >= MAX_STAGED_PACKETS) { this.staged.shift(); this.stats.stagedDropped++; }
    this.staged.push(packet);
  }

  /** The paper §6.2 on send: the initiator rekeys after REKEY_AFTER_TIME; either side after REKEY_AFTER_MESSAGES. */
  private keepKeyFreshSending(kp: Keypair): void {
    if (kp.sendCounter > this.device.limits.rekeyAfterMessages || (kp.initiator && this.clock.now() - kp.created >= REKEY_AFTER_TIME)) {
      this.sendHandshakeInitiation(false);
    }
  }

  /** Seals one packet into the device's transmit buffer and sends it. No allocation. */
  private seal(kp: Keypair, bytes: Uint8Array, offset: number, length: number): void {
    if (!this.hasEndpoint) { this.stats.txNoEndpoint++; return; }
    const d = this.device;
    const tx = d.txBuffer;
    const counter = kp.sendCounter++;
    writeHeader(tx, 0, MessageType.TRANSPORT_DATA);
    writeU32LE(tx, TransportData.RECEIVER_INDEX, kp.remoteIndex);
    writeU32LE(tx, TransportData.COUNTER, counter >>> 0);
    writeU32LE(tx, TransportData.COUNTER + 4, Math.floor(counter / 0x100000000));
    const p = TransportData.PAYLOAD;
    if (offset === 0 && length === bytes.length) tx.set(bytes, p);
    else for (let i = 0; i < length; i++) tx[p + i] = bytes[offset + i]!;
    // Zero padding to a multiple of 16, never past the MTU (the paper §5.4.6).
    let padded = (length + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    if (padded > d.mtu) padded = Math.max(length, d.mtu);
    tx.fill(0, p + length, p + padded);
    writeCounterNonce(d.nonce, counter);
    d.aead.seal(kp.sendKey, d.nonce, null, tx, p, padded, tx, p);
    if (length === 0) this.stats.keepalivesSent++;
    else this.timers.dataSent();
    this.transmit(tx, p + padded + 16);
  }

  private transmit(bytes: Uint8Array, length: number): void {
    this.stats.bytes[TX] += length;
    this.timers.anyAuthenticatedPacketTraversal();
    this.timers.anyAuthenticatedPacketSent();
    this.device.sendDatagram(this.endpoint, bytes, 0, length);
  }
}

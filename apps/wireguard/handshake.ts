// The Noise_IKpsk2 handshake as WireGuard runs it (the paper §5.4.2-§5.4.5; wireguard.com/protocol
// lists the same steps). Read this file beside that text: each function is one message's steps in
// the order given there, with C (chaining key) and H (hash) named as in the paper.
//
// These functions only compute: they never look up peers, assign indices, add MAC1/MAC2 or send.
// They allocate (the handshake is not the data path) and return null for a message that does not
// authenticate, never throwing on bad input; a failed consume leaves the handshake unchanged.
import { aeadDecrypt, aeadEncrypt } from './crypto/aead.ts';
import { hash, kdf } from './crypto/hash.ts';
import { clampPrivateKey, publicKeyOf, x25519 } from './crypto/x25519.ts';
import { CONSTRUCTION, IDENTIFIER } from './constants.ts';
import { Initiation, MessageType, Response, readU32LE, writeHeader, writeU32LE } from './messages.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const INITIAL_CHAIN_KEY = hash(utf8(CONSTRUCTION));
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, utf8(IDENTIFIER));
const EMPTY = new Uint8Array(0);
const TIMESTAMP_LENGTH = 12;

export type HandshakeState = 'zeroed' | 'initiation-created' | 'initiation-consumed' | 'response-created' | 'response-consumed';

/** Our static identity. */
export interface StaticIdentity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** One peer's handshake: the static facts about the peer and the state of the handshake in flight. */
export class Handshake {
  state: HandshakeState = 'zeroed';
  chainKey: Uint8Array = INITIAL_CHAIN_KEY;
  hash: Uint8Array = INITIAL_HASH;
  localEphemeral: Uint8Array | null = null;
  remoteEphemeral: Uint8Array | null = null;
  /** Our index for this handshake (the sender index we wrote), set by the device. */
  localIndex = 0;
  /** The peer's sender index (indices are kept as signed 32-bit numbers: unboxed in V8). */
  remoteIndex = 0;
  /** The greatest TAI64N timestamp the peer sent in an accepted initiation (replay protection). */
  readonly latestTimestamp = new Uint8Array(TIMESTAMP_LENGTH);
  /** When we last accepted an initiation from this peer (ms on the device clock). */
  lastInitiationConsumed = -Infinity;
  /** DH(our static, their static), or null when their key is of small order (no handshake possible). */
  readonly staticStatic: Uint8Array | null;
  /** H after mixing the responder's static key, for handshakes we initiate: HASH(initial hash || peer's key). */
  readonly initiatorHash0: Uint8Array;

  constructor(identity: StaticIdentity, readonly remoteStatic: Uint8Array, public presharedKey: Uint8Array) {
    this.staticStatic = x25519(identity.privateKey, remoteStatic);
    this.initiatorHash0 = hash(INITIAL_HASH, remoteStatic);
  }

  /** Forgets the handshake in flight (keeps the timestamp and flood facts about the peer). */
  clear(): void {
    this.state = 'zeroed';
    this.chainKey = INITIAL_CHAIN_KEY;
    this.hash = INITIAL_HASH;
    this.localEphemeral = null;
    this.remoteEphemeral = null;
    this.remoteIndex = 0;
  }
}

/**
 * §5.4.2, initiator: a handshake initiation from `ephemeralSecret` (32 random bytes, clamped
 * here) with `timestamp` (TAI64N), MAC1/MAC2 left zero. Null if the peer's key is unusable.
 */
export function createInitiation(identity: StaticIdentity, hs: Handshake, ephemeralSecret: Uint8Array, timestamp: Uint8Array): Uint8Array | null {
  if (!hs.staticStatic) return null;
  const msg = new Uint8Array(Initiation.SIZE);
  writeHeader(msg, 0, MessageType.HANDSHAKE_INITIATION);
  writeU32LE(msg, Initiation.SENDER_INDEX, hs.localIndex);
  const ePriv = clampPrivateKey(ephemeralSecret);
  const ePub = publicKeyOf(ePriv);
  let h = hs.initiatorHash0;
  let [c] = kdf(1, INITIAL_CHAIN_KEY, ePub) as [Uint8Array];
  msg.set(ePub, Initiation.EPHEMERAL);
  h = hash(h, ePub);
  const es = x25519(ePriv, hs.remoteStatic);
  if (!es) return null;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  const encStatic = aeadEncrypt(k, 0, identity.publicKey, h);
  msg.set(encStatic, Initiation.STATIC);
  h = hash(h, encStatic);
  [c, k] = kdf(2, c, hs.staticStatic) as [Uint8Array, Uint8Array];
  const encTimestamp = aeadEncrypt(k, 0, timestamp, h);
  msg.set(encTimestamp, Initiation.TIMESTAMP);
  h = hash(h, encTimestamp);
  hs.chainKey = c;
  hs.hash = h;
  hs.localEphemeral = ePriv;
  hs.remoteEphemeral = null;
  hs.state = 'initiation-created';
  return msg;
}

/** What an initiation says before we know whether to accept it. */
export interface OpenedInitiation {
  remoteStatic: Uint8Array;
  remoteEphemeral: Uint8Array;
  remoteIndex: number;
  timestamp: Uint8Array;
  chainKey: Uint8Array;
  hash: Uint8Array;
}

/**
 * §5.4.2, responder, first half: decrypts an initiation (MACs already checked) and finds whose
 * static key it carries, calling `handshakeOf` for that peer's Handshake. Null if it does not
 * authenticate or the peer is unknown.
 */
export function openInitiation(
  identity: StaticIdentity, msg: Uint8Array, offset: number, handshakeOf: (remoteStatic: Uint8Array) => Handshake | null,
): { hs: Handshake; opened: OpenedInitiation } | null {
  const ePub = msg.slice(offset + Initiation.EPHEMERAL, offset + Initiation.EPHEMERAL + 32);
  let h = hash(INITIAL_HASH, identity.publicKey);
  let [c] = kdf(1, INITIAL_CHAIN_KEY, ePub) as [Uint8Array];
  h = hash(h, ePub);
  const es = x25519(identity.privateKey, ePub);
  if (!es) return null;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  const encStatic = msg.subarray(offset + Initiation.STATIC, offset + Initiation.TIMESTAMP);
  const remoteStatic = aeadDecrypt(k, 0, encStatic, h);
  if (!remoteStatic) return null;
  h = hash(h, encStatic);
  const hs = handshakeOf(remoteStatic);
  if (!hs?.staticStatic) return null;
  [c, k] = kdf(2, c, hs.staticStatic) as [Uint8Array, Uint8Array];
  const encTimestamp = msg.subarray(offset + Initiation.TIMESTAMP, offset + Initiation.MAC1);
  const timestamp = aeadDecrypt(k, 0, encTimestamp, h);
  if (!timestamp) return null;
  h = hash(h, encTimestamp);
  return {
    hs,
    opened: { remoteStatic, remoteEphemeral: ePub, remoteIndex: readU32LE(msg, offset + Initiation.SENDER_INDEX) | 0, timestamp, chainKey: c, hash: h },
  };
}

/**
 * §5.4.2, responder, second half: accepts an opened initiation unless its timestamp is not newer
 * than the last accepted one (a replay) or it comes too soon after the last (a flood). False if
 * refused; the handshake is then unchanged.
 */
export function acceptInitiation(hs: Handshake, opened: OpenedInitiation, now: number, minInterval: number): boolean {
  if (compareBytes(opened.timestamp, hs.latestTimestamp) <= 0) return false;
  if (now - hs.lastInitiationConsumed < minInterval) return false;
  hs.latestTimestamp.set(opened.timestamp);
  hs.lastInitiationConsumed = now;
  hs.chainKey = opened.chainKey;
  hs.hash = opened.hash;
  hs.remoteEphemeral = opened.remoteEphemeral;
  hs.remoteIndex = opened.remoteIndex;
  hs.localEphemeral = null;
  hs.state = 'initiation-consumed';
  return true;
}

/** §5.4.3, responder: the response to a consumed initiation, MAC1/MAC2 left zero. */
export function createResponse(hs: Handshake, ephemeralSecret: Uint8Array): Uint8Array | null {
  if (hs.state !== 'initiation-consumed' || !hs.remoteEphemeral) return null;
  const msg = new Uint8Array(Response.SIZE);
  writeHeader(msg, 0, MessageType.HANDSHAKE_RESPONSE);
  writeU32LE(msg, Response.SENDER_INDEX, hs.localIndex);
  writeU32LE(msg, Response.RECEIVER_INDEX, hs.remoteIndex);
  const ePriv = clampPrivateKey(ephemeralSecret);
  const ePub = publicKeyOf(ePriv);
  msg.set(ePub, Response.EPHEMERAL);
  let [c] = kdf(1, hs.chainKey, ePub) as [Uint8Array];
  let h = hash(hs.hash, ePub);
  const ee = x25519(ePriv, hs.remoteEphemeral);
  const se = x25519(ePriv, hs.remoteStatic);
  if (!ee || !se) return null;
  [c] = kdf(1, c, ee) as [Uint8Array];
  [c] = kdf(1, c, se) as [Uint8Array];
  const [c2, tau, k] = kdf(3, c, hs.presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  h = hash(h, tau);
  const empty = aeadEncrypt(k, 0, EMPTY, h);
  msg.set(empty, Response.EMPTY);
  h = hash(h, empty);
  hs.chainKey = c2;
  hs.hash = h;
  hs.localEphemeral = ePriv;
  hs.state = 'response-created';
  return msg;
}

/** §5.4.3, initiator: consumes a response to our initiation (MACs already checked). */
export function consumeResponse(identity: StaticIdentity, hs: Handshake, msg: Uint8Array, offset: number): boolean {
  if (hs.state !== 'initiation-created' || !hs.localEphemeral) return false;
  const ePub = msg.slice(offset + Response.EPHEMERAL, offset + Response.EPHEMERAL + 32);
  let [c] = kdf(1, hs.chainKey, ePub) as [Uint8Array];
  let h = hash(hs.hash, ePub);
  const ee = x25519(hs.localEphemeral, ePub);
  const se = x25519(identity.privateKey, ePub);
  if (!ee || !se) return false;
  [c] = kdf(1, c, ee) as [Uint8Array];
  [c] = kdf(1, c, se) as [Uint8Array];
  const [c2, tau, k] = kdf(3, c, hs.presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  h = hash(h, tau);
  const empty = msg.subarray(offset + Response.EMPTY, offset + Response.MAC1);
  if (!aeadDecrypt(k, 0, empty, h)) return false;
  h = hash(h, empty);
  hs.chainKey = c2;
  hs.hash = h;
  hs.remoteIndex = readU32LE(msg, offset + Response.SENDER_INDEX) | 0;
  hs.state = 'response-consumed';
  return true;
}

/**
 * §5.4.5: the transport keys of a completed handshake, (send, receive) for our role; the
 * handshake is cleared. Null unless the handshake reached response-created or response-consumed.
 */
export function deriveTransportKeys(hs: Handshake): { send: Uint8Array; receive: Uint8Array; initiator: boolean } | null {
  const initiator = hs.state === 'response-consumed';
  if (!initiator && hs.state !== 'response-created') return null;
  const [t1, t2] = kdf(2, hs.chainKey, EMPTY) as [Uint8Array, Uint8Array];
  return initiator ? { send: t1, receive: t2, initiator } : { send: t2, receive: t1, initiator };
}

/**
 * TAI64N of a wall-clock time in ms: 8 bytes big-endian 2^62 + 10 + seconds, 4 bytes big-endian
 * nanoseconds. The nanoseconds are rounded down to 2^24 ns (about 17 ms), as WireGuard does, so the
 * timestamp does not reveal the sender's clock finely.
 */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_LENGTH);
  const secs = Math.floor(wallMs / 1000) + 10;
  const nanos = (Math.floor((wallMs % 1000) * 1e6) & ~0xffffff) >>> 0;
  const hi = 0x40000000 + Math.floor(secs / 0x100000000);
  const lo = secs >>> 0;
  const v = new DataView(out.buffer);
  v.setUint32(0, hi);
  v.setUint32(4, lo);
  v.setUint32(8, nanos);
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

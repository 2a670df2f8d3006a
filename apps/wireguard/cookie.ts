// MAC1, MAC2 and cookie replies (the paper §5.3 and §5.4.4, wireguard.com/protocol "Cookie MACs").
// MAC1 = MAC(HASH("mac1----" || receiver's static key), message up to mac1) proves the sender knows
// whom it writes to; a responder under load also wants MAC2 = MAC(cookie, message up to mac2),
// where the cookie is MAC(secret changing every two minutes, sender's address and port), and
// answers a handshake without it by a cookie reply that carries the cookie encrypted with
// XChaCha20-Poly1305 under HASH("cookie--" || responder's static key), with the rejected message's
// MAC1 as associated data.
import { xaeadDecrypt, xaeadEncrypt } from './crypto/aead.ts';
import { hash, mac } from './crypto/hash.ts';
import { COOKIE_REFRESH_TIME, LABEL_COOKIE, LABEL_MAC1 } from './constants.ts';
import { CookieReply, MessageType, writeHeader, writeU32LE } from './messages.ts';
import type { Endpoint } from './endpoint.ts';

const MAC_LENGTH = 16;
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** The responder's side, one per device: checks MAC1/MAC2 on handshakes addressed to us, makes cookie replies. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private readonly secret = new Uint8Array(32);
  private secretBorn = -Infinity;

  constructor(ourPublicKey: Uint8Array, private readonly random: (out: Uint8Array) => void) {
    this.mac1Key = hash(utf8(LABEL_MAC1), ourPublicKey);
    this.cookieKey = hash(utf8(LABEL_COOKIE), ourPublicKey);
  }

  /** MAC1 of msg[offset, +macOffset) equals the 16 bytes at macOffset. */
  checkMac1(msg: Uint8Array, offset: number, mac1Offset: number): boolean {
    return equalBytes(mac(this.mac1Key, msg.subarray(offset, offset + mac1Offset)), msg.subarray(offset + mac1Offset, offset + mac1Offset + MAC_LENGTH));
  }

  /** MAC2 (right after MAC1) is the one a cookie for `from` gives. */
  checkMac2(msg: Uint8Array, offset: number, mac1Offset: number, from: Endpoint, now: number): boolean {
    const mac2Offset = mac1Offset + MAC_LENGTH;
    const expected = mac(this.cookie(from, now), msg.subarray(offset, offset + mac2Offset));
    return equalBytes(expected, msg.subarray(offset + mac2Offset, offset + mac2Offset + MAC_LENGTH));
  }

  /** The cookie reply to a handshake message from `from` whose sender index is `senderIndex`. */
  createReply(msg: Uint8Array, offset: number, mac1Offset: number, senderIndex: number, from: Endpoint, now: number): Uint8Array {
    const reply = new Uint8Array(CookieReply.SIZE);
    writeHeader(reply, 0, MessageType.COOKIE_REPLY);
    writeU32LE(reply, CookieReply.RECEIVER_INDEX, senderIndex);
    const nonce = reply.subarray(CookieReply.NONCE, CookieReply.NONCE + 24);
    this.random(nonce);
    const mac1 = msg.subarray(offset + mac1Offset, offset + mac1Offset + MAC_LENGTH);
    reply.set(xaeadEncrypt(this.cookieKey, nonce, this.cookie(from, now), mac1), CookieReply.COOKIE);
    return reply;
  }

  private cookie(from: Endpoint, now: number): Uint8Array {
    if (now - this.secretBorn >= COOKIE_REFRESH_TIME) {
      this.random(this.secret);
      this.secretBorn = now;
    }
    return mac(this.secret, from.cookieInput());
  }
}

/** The initiator's side, one per peer: adds MAC1/MAC2 to our handshakes, takes cookies from replies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private readonly cookie = new Uint8Array(MAC_LENGTH);
  private cookieBorn = -Infinity;
  /** MAC1 of the last handshake message we sent: a cookie reply must be bound to it. */
  private readonly lastMac1 = new Uint8Array(MAC_LENGTH);
  private sentMac1 = false;

  constructor(peerPublicKey: Uint8Array) {
    this.mac1Key = hash(utf8(LABEL_MAC1), peerPublicKey);
    this.cookieKey = hash(utf8(LABEL_COOKIE), peerPublicKey);
  }

  /** Writes MAC1, and MAC2 when we hold a cookie younger than two minutes (zeros otherwise). */
  addMacs(msg: Uint8Array, mac1Offset: number, now: number): void {
    const mac1 = mac(this.mac1Key, msg.subarray(0, mac1Offset));
    msg.set(mac1, mac1Offset);
    this.lastMac1.set(mac1);
    this.sentMac1 = true;
    const mac2Offset = mac1Offset + MAC_LENGTH;
    if (now - this.cookieBorn < COOKIE_REFRESH_TIME) msg.set(mac(this.cookie, msg.subarray(0, mac2Offset)), mac2Offset);
    else msg.fill(0, mac2Offset, mac2Offset + MAC_LENGTH);
  }

  /** Takes the cookie from a reply to our last handshake message; false if it does not decrypt. */
  consumeReply(reply: Uint8Array, offset: number, now: number): boolean {
    if (!this.sentMac1) return false;
    const nonce = reply.subarray(offset + CookieReply.NONCE, offset + CookieReply.NONCE + 24);
    const cookie = xaeadDecrypt(this.cookieKey, nonce, reply.subarray(offset + CookieReply.COOKIE, offset + CookieReply.SIZE), this.lastMac1);
    if (!cookie) return false;
    this.cookie.set(cookie);
    this.cookieBorn = now;
    this.sentMac1 = false; // one cookie per message sent
    return true;
  }
}

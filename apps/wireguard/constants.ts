// The protocol's constants (the paper §6.1 and wireguard.com/protocol). Times in milliseconds.

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * 2^64 - 2^13 - 1 in the paper. Counters here are JavaScript numbers, exact below 2^53: a session
 * never gets near (2^53 packets at 10 million a second is 28 years), and a received counter at or
 * above 2^53 is refused as if past this limit.
 */
export const REJECT_AFTER_MESSAGES = 2 ** 53;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** Up to this much random delay is added to each handshake retry, so peers do not retry in step. */
export const REKEY_TIMEOUT_JITTER_MAX = 333;
/** Initiations sent for one attempt before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** A cookie is used for this long after it arrived; the responder's secret changes as often. */
export const COOKIE_REFRESH_TIME = 120_000;
/** A responder ignores initiations from one peer closer together than this (flood protection). */
export const INITIATION_MIN_INTERVAL = 20;
/** Packets kept for a peer while its handshake completes; the oldest go first. */
export const MAX_STAGED_PACKETS = 128;
/** wg-quick's default tunnel MTU (1500 minus the IPv6 + UDP + WireGuard overhead). */
export const DEFAULT_MTU = 1420;

/** The limits a session obeys; tests shrink the message counts to reach them. */
export interface SessionLimits {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
};

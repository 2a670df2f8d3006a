// WireGuard's four message layouts (the paper §5.4, wireguard.com/protocol): byte offsets and
// sizes. Every multi-byte integer field is little-endian; all messages start with a type byte and
// three reserved zero bytes.

export const MessageType = {
  HANDSHAKE_INITIATION: 1,
  HANDSHAKE_RESPONSE: 2,
  COOKIE_REPLY: 3,
  TRANSPORT_DATA: 4,
} as const;

/** Handshake initiation, 148 bytes. */
export const Initiation = {
  SENDER_INDEX: 4,
  EPHEMERAL: 8,
  STATIC: 40, // 32 + 16 tag
  TIMESTAMP: 88, // 12 + 16 tag
  MAC1: 116,
  MAC2: 132,
  SIZE: 148,
} as const;

/** Handshake response, 92 bytes. */
export const Response = {
  SENDER_INDEX: 4,
  RECEIVER_INDEX: 8,
  EPHEMERAL: 12,
  EMPTY: 44, // 0 + 16 tag
  MAC1: 60,
  MAC2: 76,
  SIZE: 92,
} as const;

/** Cookie reply, 64 bytes. */
export const CookieReply = {
  RECEIVER_INDEX: 4,
  NONCE: 8, // 24 bytes
  COOKIE: 32, // 16 + 16 tag
  SIZE: 64,
} as const;

/** Transport data: 16-byte header, then the encrypted padded packet and its 16-byte tag. */
export const TransportData = {
  RECEIVER_INDEX: 4,
  COUNTER: 8,
  PAYLOAD: 16,
  /** Header plus the tag of an empty (keepalive) payload. */
  MIN_SIZE: 32,
} as const;

/** Inner packets are zero-padded to a multiple of this (the paper §5.4.6), never past the MTU. */
export const PADDING_MULTIPLE = 16;

/**
 * The same 32 bits as a signed number: what the data path reads, because V8 keeps every int32
 * unboxed, where a uint32 above 2^31 returned from a function that was not inlined is a new heap
 * number (16 bytes per packet, seen when inlining went the other way).
 */
export function readI32LE(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

export function readU32LE(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function writeU32LE(b: Uint8Array, o: number, v: number): void {
  b[o] = v; b[o + 1] = v >>> 8; b[o + 2] = v >>> 16; b[o + 3] = v >>> 24;
}

/** Writes the type byte and zeroes the three reserved bytes. */
export function writeHeader(b: Uint8Array, o: number, type: number): void {
  b[o] = type; b[o + 1] = 0; b[o + 2] = 0; b[o + 3] = 0;
}

/** The message type of a datagram, or 0 if its reserved bytes are not zero or it is too short. */
export function messageType(b: Uint8Array, o: number, length: number): number {
  if (length < 4 || b[o + 1] !== 0 || b[o + 2] !== 0 || b[o + 3] !== 0) return 0;
  return b[o]!;
}

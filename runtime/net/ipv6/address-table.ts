// IPv6 addresses as small integer ids. A 16-byte address cannot be a V8 small integer, and an
// object or string per address would allocate on every packet that names one; so the stack
// interns each address it keeps (its own, a connection's peer, a neighbour) once, and passes the
// id everywhere an IPv4 address is passed as a signed 32-bit number. The family always travels
// beside the number (NetworkFamily), so an id is never mistaken for an IPv4 address.
//
// Contract:
// - Ids are integers >= 1; 0 means "none" (the unspecified address :: is never interned).
// - find() reads an address in place (packet bytes, an Endpoint) and allocates nothing: it is the
//   hot-path lookup. intern() adds a reference (find or insert); release() drops one; an entry
//   whose count reaches 0 is freed and its id may be reused. The interface's own addresses are
//   interned for the stack's life.
// - sum(id) is the unfolded one's-complement sum of the address's eight 16-bit words, kept so a
//   pseudo-header (RFC 8200 §8.1) costs two loads; hash(id) a 32-bit mix of the address for
//   hashing ISNs and SYN cookies (RFC 6528) without touching the bytes.
// - The table grows by doubling (rare: new peers); nothing else allocates after construction.
import { WskUsageError } from '../../errors.ts';

export const IPV6_ADDRESS_LENGTH = 16;

export class Ipv6AddressTable {
  /** words[id * 4 + k]: the address as four signed 32-bit big-endian words. */
  private words: Int32Array;
  private refs: Int32Array;
  private sums: Float64Array;
  /** Open addressing: slot → id (0: empty, -1: deleted). */
  private index: Int32Array;
  private free: number[] = [];
  private nextId = 1;
  private live = 0;

  constructor(capacity = 64) {
    const cap = 1 << Math.ceil(Math.log2(Math.max(16, capacity)));
    this.words = new Int32Array(cap * 4);
    this.refs = new Int32Array(cap);
    this.sums = new Float64Array(cap);
    this.index = new Int32Array(cap * 2);
  }

  /** Addresses interned now. */
  get size(): number { return this.live; }

  /** The id of the address at bytes[offset..+16), or 0 when it is not interned. */
  find(bytes: Uint8Array, offset: number): number {
    const w0 = word(bytes, offset), w1 = word(bytes, offset + 4), w2 = word(bytes, offset + 8), w3 = word(bytes, offset + 12);
    const mask = this.index.length - 1;
    for (let i = mix(w0, w1, w2, w3) & mask; ; i = (i + 1) & mask) {
      const id = this.index[i]!;
      if (id === 0) return 0;
      if (id > 0 && this.equals(id, w0, w1, w2, w3)) return id;
    }
  }

  /** The address's id with one more reference (inserted if new). The unspecified address :: is refused (0). */
  intern(bytes: Uint8Array, offset: number): number {
    const w0 = word(bytes, offset), w1 = word(bytes, offset + 4), w2 = word(bytes, offset + 8), w3 = word(bytes, offset + 12);
    if ((w0 | w1 | w2 | w3) === 0) return 0;
    let id = this.find(bytes, offset);
    if (id === 0) {
      if ((this.live + 1) * 2 > this.index.length >> 1) this.grow();
      id = this.free.length > 0 ? this.free.pop()! : this.nextId++;
      if (id * 4 >= this.words.length) this.growStore();
      const w = this.words;
      w[id * 4] = w0; w[id * 4 + 1] = w1; w[id * 4 + 2] = w2; w[id * 4 + 3] = w3;
      this.sums[id] = (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) + (w3 >>> 16) + (w3 & 0xffff);
      this.insert(id);
      this.live++;
    }
    this.refs[id]!++;
    return id;
  }

  /** One more reference to an interned id. */
  retain(id: number): void {
    if (id > 0) this.refs[id]!++;
  }

  /** Drops one reference; the last one frees the id. */
  release(id: number): void {
    if (id <= 0 || this.refs[id]! <= 0) return;
    if (--this.refs[id]! > 0) return;
    const mask = this.index.length - 1;
    const w = this.words;
    for (let i = mix(w[id * 4]!, w[id * 4 + 1]!, w[id * 4 + 2]!, w[id * 4 + 3]!) & mask; ; i = (i + 1) & mask) {
      const at = this.index[i]!;
      if (at === 0) break;
      if (at === id) { this.index[i] = -1; break; }
    }
    this.free.push(id);
    this.live--;
  }

  /** Writes the address of `id` to out[at..+16). */
  copyTo(id: number, out: Uint8Array, at: number): void {
    const w = this.words;
    for (let k = 0; k < 4; k++) {
      const v = w[id * 4 + k]!;
      out[at + k * 4] = v >>> 24;
      out[at + k * 4 + 1] = (v >>> 16) & 0xff;
      out[at + k * 4 + 2] = (v >>> 8) & 0xff;
      out[at + k * 4 + 3] = v & 0xff;
    }
  }

  /** Word k (0..3) of the address, signed 32-bit big-endian: prefix tests without bytes. */
  word(id: number, k: number): number { return this.words[id * 4 + k]!; }

  /** Unfolded one's-complement sum of the address's 16-bit words (pseudo-headers). */
  sum(id: number): number { return this.sums[id]!; }

  /** A 32-bit mix of the address (ISN and SYN-cookie hashing). */
  hash(id: number): number {
    const w = this.words;
    return mix(w[id * 4]!, w[id * 4 + 1]!, w[id * 4 + 2]!, w[id * 4 + 3]!);
  }

  /** Whether bytes[offset..+16) is the address of `id`. */
  matches(id: number, bytes: Uint8Array, offset: number): boolean {
    return this.equals(id, word(bytes, offset), word(bytes, offset + 4), word(bytes, offset + 8), word(bytes, offset + 12));
  }

  /** The address as 16 new bytes (slow path: endpoints, printing). */
  bytes(id: number): Uint8Array {
    const out = new Uint8Array(16);
    this.copyTo(id, out, 0);
    return out;
  }

  /** RFC 5952 text (slow path). */
  format(id: number): string { return formatIpv6(this.bytes(id), 0); }

  private equals(id: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const w = this.words;
    const b = id * 4;
    return w[b] === w0 && w[b + 1] === w1 && w[b + 2] === w2 && w[b + 3] === w3;
  }

  private insert(id: number): void {
    const w = this.words;
    const mask = this.index.length - 1;
    let i = mix(w[id * 4]!, w[id * 4 + 1]!, w[id * 4 + 2]!, w[id * 4 + 3]!) & mask;
    while (this.index[i]! > 0) i = (i + 1) & mask;
    this.index[i] = id;
  }

  private grow(): void {
    this.index = new Int32Array(this.index.length * 2);
    for (let id = 1; id < this.nextId; id++) if (this.refs[id]! > 0) this.insert(id);
  }

  private growStore(): void {
    const words = new Int32Array(this.words.length * 2);
    words.set(this.words);
    const refs = new Int32Array(this.refs.length * 2);
    refs.set(this.refs);
    const sums = new Float64Array(this.sums.length * 2);
    sums.set(this.sums);
    this.words = words;
    this.refs = refs;
    this.sums = sums;
  }
}

function word(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function mix(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ w3 ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2: hex groups, one "::", a trailing dotted IPv4 part) into 16
 * bytes, or null. No zone ("%eth0"): the stack has one interface.
 */
export function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return null;
  let s = text;
  if (s.includes('.')) {
    // A trailing dotted IPv4 part stands for the last two groups (RFC 4291 §2.2 form 3).
    const at = s.lastIndexOf(':');
    const v4 = s.slice(at + 1).split('.');
    if (v4.length !== 4 || !v4.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
    const n = v4.map(Number);
    s = `${s.slice(0, at + 1)}${((n[0]! << 8) | n[1]!).toString(16)}:${((n[2]! << 8) | n[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return null;
  const given = head.length + rest.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  const words = [...head, ...new Array<number>(8 - given).fill(0), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) { out[i * 2] = words[i]! >> 8; out[i * 2 + 1] = words[i]! & 0xff; }
  return out;
}

/** RFC 5952 §4 text: lower case, leading zeros dropped, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(bytes: Uint8Array, offset: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((bytes[offset + i * 2]! << 8) | bytes[offset + i * 2 + 1]!);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** "addr/len" with the prefix length (default 64); a refused text throws WskUsageError('NET_CONFIG'). */
export function parseIpv6Prefix(text: string): { address: Uint8Array; prefixLength: number } {
  const [a, p] = text.split('/');
  const address = parseIpv6(a ?? '');
  const prefixLength = p === undefined ? 64 : Number(p);
  if (!address || !Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 128) {
    throw new WskUsageError('NET_CONFIG', `"${text}" is not an IPv6 address with a prefix length; write it as in RFC 4291, e.g. fd00:198:18::2/64.`);
  }
  return { address, prefixLength };
}

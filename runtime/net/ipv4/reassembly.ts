// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815 hole tracking by 8-byte units), bounded:
// - at most `maxDatagrams` in progress and `maxBytes` buffered in total (Linux's ipfrag_high_thresh
//   idea); past either bound new datagrams are refused (counted);
// - a datagram not complete within `timeoutMs` (30 s, Linux's ipfrag_time) is dropped, and the
//   caller is told whether its first fragment arrived (RFC 792: then send Time Exceeded, code 1);
// - overlapping fragments, a total length over 65 535, or fragments that disagree on the end
//   drop the whole datagram (RFC 5722's policy for IPv6, and what Linux does for IPv4 overlaps),
//   which shuts the door on overlap-based evasion. An exact duplicate (same offset and end as a
//   fragment already held, e.g. a retransmission by the network) only drops itself, as Linux's
//   IPFRAG_DUP; the first copy's bytes are kept.
// Fragments are the slow path: each datagram in progress owns a JS buffer of up to 64 KiB,
// allocated when its first fragment arrives.
import { get16, get32, set16 } from '../wire/bytes.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { Ipv4Field, ipv4HeaderLength } from '../wire/ipv4.ts';
import { FragmentRanges, Placement } from '../fragment-ranges.ts';

export interface ReassemblyLimits {
  maxDatagrams: number;
  maxBytes: number;
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = { maxDatagrams: 64, maxBytes: 4 * 1024 * 1024, timeoutMs: 30_000 };

const MAX_PAYLOAD = 65535 - 20;

/** The payload in FragmentRanges; the first fragment's header kept separately. */
class Assembly extends FragmentRanges {
  /** First fragment's IPv4 header (for the reassembled packet and ICMP quoting). */
  header = new Uint8Array(60);
  headerLength = 0;
  constructor(readonly src: number, readonly dst: number, readonly id: number, readonly protocol: number) { super(MAX_PAYLOAD); }
}

export interface ReassembledPacket {
  /** Reassembled IPv4 packet (header of the first fragment with fragment fields cleared). */
  bytes: Uint8Array;
  length: number;
}

export class Reassembler {
  private readonly inProgress = new Map<string, Assembly>();
  private bufferedBytes = 0;

  // Counters.
  fragments = 0;
  reassembled = 0;
  overlaps = 0;
  /** Exact duplicate fragments dropped (the datagram kept). */
  duplicates = 0;
  invalid = 0;
  refused = 0;
  timeouts = 0;

  constructor(readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS) {}

  get pending(): number { return this.inProgress.size; }

  /**
   * Adds a fragment (the IPv4 packet at bytes[offset..], header already validated against its Total Length).
   * Returns the reassembled packet when this fragment completes one, else null.
   */
  add(bytes: Uint8Array, offset: number, now: number): ReassembledPacket | null {
    this.fragments++;
    const hl = ipv4HeaderLength(bytes, offset);
    const flagsFrag = get16(bytes, offset + Ipv4Field.FLAGS_FRAGMENT);
    const start = (flagsFrag & 0x1fff) << 3;
    const more = (flagsFrag & 0x2000) !== 0;
    const len = get16(bytes, offset + Ipv4Field.TOTAL_LENGTH) - hl;
    const src = get32(bytes, offset + Ipv4Field.SOURCE);
    const dst = get32(bytes, offset + Ipv4Field.DESTINATION);
    const id = get16(bytes, offset + Ipv4Field.IDENTIFICATION);
    const protocol = bytes[offset + Ipv4Field.PROTOCOL]!;
    const key = `${src}/${dst}/${id}/${protocol}`;
    let a = this.inProgress.get(key);
    // A middle fragment must carry a multiple of 8 bytes; nothing may end past 65 535.
    if ((more && (len & 7) !== 0) || start + len > MAX_PAYLOAD || len <= 0) {
      this.invalid++;
      if (a) this.discard(key, a);
      return null;
    }
    if (!a) {
      if (this.inProgress.size >= this.limits.maxDatagrams || this.bufferedBytes + MAX_PAYLOAD > this.limits.maxBytes) {
        this.refused++;
        return null;
      }
      a = new Assembly(src, dst, id, protocol);
      a.deadline = now + this.limits.timeoutMs;
      this.inProgress.set(key, a);
      this.bufferedBytes += MAX_PAYLOAD;
    }
    const placed = a.place(bytes, offset + hl, start, start + len, more);
    if (placed !== Placement.PLACED) {
      if (placed === Placement.DUPLICATE) { this.duplicates++; return null; }
      if (placed === Placement.OVERLAP) this.overlaps++; else this.invalid++;
      this.discard(key, a);
      return null;
    }
    if (start === 0) {
      a.header.set(bytes.subarray(offset, offset + hl));
      a.headerLength = hl;
    }
    if (!a.complete || a.headerLength === 0) return null;
    // Fix: MAX_PAYLOAD assumes a 20-byte header; with options in the first fragment the whole
    // datagram could exceed 65 535 bytes (its Total Length would wrap). RFC 791: invalid.
    if (a.headerLength + a.total > 65535) { this.invalid++; this.discard(key, a); return null; }
    this.inProgress.delete(key);
    this.bufferedBytes -= MAX_PAYLOAD;
    this.reassembled++;
    const out = new Uint8Array(a.headerLength + a.total);
    out.set(a.header.subarray(0, a.headerLength));
    out.set(a.data.subarray(0, a.total), a.headerLength);
    // Fix: the header is the first fragment's; as documented, clear MF/offset and give it the
    // reassembled total length (and a matching checksum) so ICMP quotes and TCP see a whole datagram.
    set16(out, 2, out.length);
    set16(out, 6, get16(out, 6) & 0x4000);
    set16(out, 10, 0);
    set16(out, 10, internetChecksum(out, 0, a.headerLength));
    return { bytes: out, length: out.length };
  }

  nextDeadline(): number {
    let next = Infinity;
    for (const a of this.inProgress.values()) if (a.deadline < next) next = a.deadline;
    return next;
  }

  /** Expires datagrams past their deadline; `onTimeout` gets each one's first-fragment header when it had one. */
  poll(now: number, onTimeout: (header: Uint8Array, headerLength: number, firstPayload: Uint8Array) => void): void {
    for (const [key, a] of this.inProgress) {
      if (a.deadline > now) continue;
      this.timeouts++;
      this.discard(key, a);
      if (a.headerLength > 0) onTimeout(a.header, a.headerLength, a.data.subarray(0, 8));
    }
  }

  clear(): void {
    for (const [key, a] of this.inProgress) this.discard(key, a);
  }

  private discard(key: string, a: Assembly): void {
    if (this.inProgress.get(key) !== a) return;
    this.inProgress.delete(key);
    this.bufferedBytes -= MAX_PAYLOAD;
  }
}

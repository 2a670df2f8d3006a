// IPv6 fragment reassembly (RFC 8200 §4.5), bounded like the IPv4 one (../ipv4/reassembly.ts):
// - at most `maxDatagrams` in progress and `maxBytes` buffered; past either, new datagrams are refused;
// - a datagram not complete within `timeoutMs` (60 s, RFC 8200 §4.5) is dropped, with a Time
//   Exceeded (code 1) quoting the first fragment when it arrived;
// - RFC 5722: any overlap drops the whole datagram silently (an exact duplicate drops only itself,
//   as Linux does); a middle fragment whose length is not a multiple of 8, or a datagram longer
//   than 65 535 bytes, is answered with a Parameter Problem (§4.5) and dropped;
// - the packet delivered is the first fragment's unfragmentable part (fixed header and the
//   extension headers before the fragment header) with the fragment header removed, the Next
//   Header that named it given the fragment header's Next Header, and Payload Length set.
// Fragments are the slow path: each datagram in progress owns a 64 KiB buffer.
import { get16, get32, set16 } from '../wire/bytes.ts';
import { IPV6_FRAGMENT_HEADER_LENGTH, IPV6_FRAGMENT_MORE, IPV6_HEADER_LENGTH, Ipv6Field, Ipv6FragmentField } from '../wire/ipv6.ts';
import { Icmpv6Type } from '../wire/icmpv6.ts';
import { FragmentRanges, Placement } from '../fragment-ranges.ts';

export interface Reassembly6Limits {
  maxDatagrams: number;
  maxBytes: number;
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY6_LIMITS: Reassembly6Limits = { maxDatagrams: 64, maxBytes: 4 * 1024 * 1024, timeoutMs: 60_000 };

/** Who sends the ICMPv6 errors reassembly calls for (icmpv6-layer.ts). */
export interface ReassemblyTimeoutSink {
  reassemblyTimedOut(firstFragment: Uint8Array, length: number): void;
  sendError(bytes: Uint8Array, ipOffset: number, ipLength: number, type: number, code: number, info: number, evenIfMulticast: boolean): void;
}

const MAX_PACKET = 65535 + IPV6_HEADER_LENGTH;

/** The payload in FragmentRanges; the first fragment kept whole. */
class Assembly extends FragmentRanges {
  /** The first fragment as received (its unfragmentable part, and the quote of a Time Exceeded). */
  first: Uint8Array | null = null;
  /** Unfragmentable part length and the offset of the Next Header byte that named the fragment header, in `first`. */
  unfragmentable = 0;
  nextHeaderField = 0;
  nextHeader = 0;
  constructor() { super(65536); }
}

export class Reassembler6 {
  private readonly inProgress = new Map<string, Assembly>();
  private buffered = 0;
  /** Datagrams dropped for any reason (overlap, bad length, limit, timeout). */
  failures = 0;
  overlaps = 0;
  duplicates = 0;
  timeouts = 0;
  reassembled = 0;

  constructor(readonly limits: Reassembly6Limits = DEFAULT_REASSEMBLY6_LIMITS) {}

  get pending(): number { return this.inProgress.size; }

  /**
   * A fragment: the IPv6 packet bytes[offset..+ipLength) whose fragment header is at `fragmentAt`
   * and was named by the byte at `nextHeaderField`. Returns the reassembled packet when this completes one.
   */
  add(bytes: Uint8Array, offset: number, ipLength: number, fragmentAt: number, nextHeaderField: number, now: number, sink: ReassemblyTimeoutSink): Uint8Array | null {
    const word = get16(bytes, fragmentAt + Ipv6FragmentField.OFFSET_FLAGS);
    const start = word & 0xfff8;
    const more = (word & IPV6_FRAGMENT_MORE) !== 0;
    const payloadAt = fragmentAt + IPV6_FRAGMENT_HEADER_LENGTH;
    const len = offset + ipLength - payloadAt;
    // §4.5: a fragment that is not the last carries a multiple of 8 bytes: Parameter Problem at Payload Length.
    if (more && (len & 7) !== 0) {
      this.failures++;
      sink.sendError(bytes, offset, ipLength, Icmpv6Type.PARAMETER_PROBLEM, 0, Ipv6Field.PAYLOAD_LENGTH, false);
      return null;
    }
    const unfragmentable = fragmentAt - offset;
    // §4.5: past 65 535 bytes of payload: Parameter Problem at the Fragment Offset field.
    if (unfragmentable - IPV6_HEADER_LENGTH + IPV6_FRAGMENT_HEADER_LENGTH + start + len > 65535) {
      this.failures++;
      sink.sendError(bytes, offset, ipLength, Icmpv6Type.PARAMETER_PROBLEM, 0, fragmentAt + Ipv6FragmentField.OFFSET_FLAGS - offset, false);
      return null;
    }
    if (len <= 0) { this.failures++; return null; }
    const key = keyOf(bytes, offset, fragmentAt);
    let a = this.inProgress.get(key);
    if (!a) {
      if (this.inProgress.size >= this.limits.maxDatagrams || this.buffered + 65536 > this.limits.maxBytes) { this.failures++; return null; }
      a = new Assembly();
      a.deadline = now + this.limits.timeoutMs;
      this.inProgress.set(key, a);
      this.buffered += 65536;
    }
    // RFC 5722: an overlap drops the datagram; an exact duplicate only itself.
    const placed = a.place(bytes, payloadAt, start, start + len, more);
    if (placed !== Placement.PLACED) {
      if (placed === Placement.DUPLICATE) { this.duplicates++; return null; }
      if (placed === Placement.OVERLAP) this.overlaps++;
      this.drop(key, a);
      return null;
    }
    if (start === 0) {
      a.first = bytes.slice(offset, offset + ipLength);
      a.unfragmentable = unfragmentable;
      a.nextHeaderField = nextHeaderField - offset;
      a.nextHeader = bytes[fragmentAt + Ipv6FragmentField.NEXT_HEADER]!;
    }
    if (!a.complete || a.first === null) return null;
    this.inProgress.delete(key);
    this.buffered -= 65536;
    this.reassembled++;
    const out = new Uint8Array(a.unfragmentable + a.total);
    if (out.length > MAX_PACKET) { this.failures++; return null; }
    out.set(a.first.subarray(0, a.unfragmentable));
    out.set(a.data.subarray(0, a.total), a.unfragmentable);
    out[a.nextHeaderField] = a.nextHeader;
    set16(out, Ipv6Field.PAYLOAD_LENGTH, out.length - IPV6_HEADER_LENGTH);
    return out;
  }

  nextDeadline(): number {
    let next = Infinity;
    for (const a of this.inProgress.values()) if (a.deadline < next) next = a.deadline;
    return next;
  }

  poll(now: number, sink: ReassemblyTimeoutSink): void {
    for (const [key, a] of this.inProgress) {
      if (a.deadline > now) continue;
      this.timeouts++;
      this.drop(key, a);
      if (a.first !== null) sink.reassemblyTimedOut(a.first, a.first.length);
    }
  }

  clear(): void {
    for (const [key, a] of this.inProgress) this.discard(key, a);
  }

  private drop(key: string, a: Assembly): void {
    this.failures++;
    this.discard(key, a);
  }

  private discard(key: string, a: Assembly): void {
    if (this.inProgress.get(key) !== a) return;
    this.inProgress.delete(key);
    this.buffered -= 65536;
  }
}

/** Source, destination and identification (RFC 8200 §4.5: what names one original packet). */
function keyOf(bytes: Uint8Array, offset: number, fragmentAt: number): string {
  let k = '';
  for (let i = 0; i < 32; i += 4) k += get32(bytes, offset + Ipv6Field.SOURCE + i).toString(36) + ':';
  return k + get32(bytes, fragmentAt + Ipv6FragmentField.IDENTIFICATION).toString(36);
}

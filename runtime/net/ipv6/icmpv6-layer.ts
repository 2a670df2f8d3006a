// ICMPv6 of the userspace stack (RFC 4443): echo answered and sent, errors received (matched to
// a socket or connection through the transport that sent the quoted packet, RFC 5927 §5.1) and
// sent (rate-limited, §2.4(f)); Neighbor Discovery and MLD messages are handed to
// neighbour-discovery.ts.
//
// RFC 4443 §2.4(e): no error about an ICMPv6 error, about a packet to a multicast destination
// (except Packet Too Big and Parameter Problem code 2 for an option of type 10xxxxxx), about a
// packet from :: or a multicast source.
import type { SlotArena } from '../../ring/slot-arena.ts';
import { NetworkFamily } from '../transport-registry.ts';
import { FrameFlags } from '../device.ts';
import { STATUS_INSUFFICIENT_RESOURCES, STATUS_NETWORK_UNREACHABLE, STATUS_SUCCESS, type NTSTATUS } from '../../ntstatus.ts';
import {
  emitIcmpv6Echo, emitIcmpv6Error, ICMPV6_ERROR_MAX, ICMPV6_HEADER_LENGTH, Icmpv6Packet, Icmpv6TimeExceededCode, Icmpv6Type,
} from '../wire/icmpv6.ts';
import { IPV6_HEADER_LENGTH, Ipv6Field, Ipv6HeaderChain, Ipv6NextHeader, walkIpv6Extensions, Ipv6Chain } from '../wire/ipv6.ts';
import { pseudoHeaderSumV6, pseudoHeaderSumV6At } from '../wire/checksum.ts';
import type { Ipv6Layer, Ipv6Options } from './ipv6-layer.ts';
import type { ReassemblyTimeoutSink } from './reassembly6.ts';

/** `src`: the replying address's id in the layer's table (0 when it is not interned); `data` valid during the call. */
export type Echo6ReplyHandler = (src: number, identifier: number, sequence: number, data: Uint8Array) => void;

export class Icmpv6Layer implements ReassemblyTimeoutSink {
  onEchoReply: Echo6ReplyHandler | null = null;
  private readonly view = new Icmpv6Packet();
  private readonly quoted = new Ipv6HeaderChain();
  private tokens: number;
  private stamp: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly echoReply: boolean;

  constructor(private readonly ip: Ipv6Layer, options: Ipv6Options) {
    this.rate = options.icmpErrorsPerSecond ?? 1000;
    this.burst = options.icmpErrorBurst ?? 50;
    this.tokens = this.burst;
    this.stamp = ip.host.clock.now();
    this.echoReply = options.echoReply ?? true;
  }

  /** An ICMPv6 message at bytes[offset..] of the IPv6 packet at ipOffset (ipLength long). */
  input(slot: number, bytes: Uint8Array, ipOffset: number, ipLength: number, offset: number, multicast: boolean): void {
    const host = this.ip.host;
    const c = host.counters;
    const len = ipOffset + ipLength - offset;
    const verified = host.device.capabilities.rxChecksumVerified || (slot >= 0 && (host.arena.flags[slot]! & FrameFlags.CHECKSUM_OK) !== 0);
    const sum = verified ? -1 : pseudoHeaderSumV6At(bytes, ipOffset, Ipv6NextHeader.ICMPV6, len);
    if (Icmpv6Packet.check(bytes, offset, len, sum) !== null) { c.icmp6Malformed++; return; }
    c.icmp6In++;
    const m = this.view.reset(bytes, offset, len);
    const type = m.type;
    if (type >= Icmpv6Type.ROUTER_SOLICITATION && type <= Icmpv6Type.REDIRECT) {
      this.ip.nd.input(bytes, ipOffset, offset, len, type);
      return;
    }
    if (type === Icmpv6Type.ECHO_REQUEST) {
      if (!this.echoReply) return;
      const t = this.ip.table;
      const src = t.find(bytes, ipOffset + Ipv6Field.SOURCE);
      // Replies go from the address pinged; a group pinged answers from our best address (RFC 4443 §4.2).
      const pinged = multicast ? 0 : t.find(bytes, ipOffset + Ipv6Field.DESTINATION);
      if (this.sendEcho(Icmpv6Type.ECHO_REPLY, pinged, src, bytes, ipOffset + Ipv6Field.SOURCE, m.identifier, m.sequence, bytes, m.dataOffset, m.dataLength)) {
        c.icmp6EchoRepliesSent++;
      }
    } else if (type === Icmpv6Type.ECHO_REPLY) {
      c.icmp6EchoRepliesIn++;
      const src = this.ip.table.find(bytes, ipOffset + Ipv6Field.SOURCE);
      this.onEchoReply?.(src, m.identifier, m.sequence, bytes.subarray(m.dataOffset, m.dataOffset + m.dataLength));
    } else if (type === Icmpv6Type.DEST_UNREACHABLE || type === Icmpv6Type.PACKET_TOO_BIG || type === Icmpv6Type.TIME_EXCEEDED
      || type === Icmpv6Type.PARAMETER_PROBLEM) {
      this.inputError(type, m.code, type === Icmpv6Type.PACKET_TOO_BIG ? m.mtu : 0, bytes, m.dataOffset, m.dataLength);
    } else if (type === Icmpv6Type.MLD_QUERY) {
      // RFC 3810 §6.2: a querier asks who listens (mld.ts answers after a random delay); §5.1.15: only
      // from a link-local source with hop limit 1.
      const s = ipOffset + Ipv6Field.SOURCE;
      if (bytes[ipOffset + Ipv6Field.HOP_LIMIT] === 1 && bytes[s] === 0xfe && (bytes[s + 1]! & 0xc0) === 0x80) this.ip.mld.query(bytes, offset, len);
    }
    // Reports of other listeners need nothing from a host (MLDv2 has no report suppression).
  }

  /**
   * An error quoting bytes[q..q+qlen): ours if its source is one of our addresses; the quoted
   * upper-layer header is found by walking the quoted extension headers (as far as they were
   * quoted) and the transport of that protocol judges it.
   */
  private inputError(type: number, code: number, info: number, bytes: Uint8Array, q: number, qlen: number): void {
    const c = this.ip.host.counters;
    if (qlen < IPV6_HEADER_LENGTH || bytes[q]! >>> 4 !== 6) { c.icmp6Malformed++; return; }
    const src = this.ip.table.find(bytes, q + Ipv6Field.SOURCE);
    if (src === 0 || !this.ip.isLocal(src)) { c.icmp6Malformed++; return; }
    const ch = this.quoted;
    if (walkIpv6Extensions(bytes, q, qlen, ch, false) !== Ipv6Chain.OK || ch.fragment >= 0 || ch.upperOffset + 8 > q + qlen) {
      c.icmp6Malformed++;
      return;
    }
    c.icmp6ErrorsIn++;
    const proto = ch.nextHeader;
    const qhl = ch.upperOffset - q;
    const reg = this.ip.host.transports;
    const raw = reg.rawListeners(NetworkFamily.IPV6, proto);
    if (raw !== null) {
      for (let i = 0; i < raw.length; i++) {
        try { raw[i]!.icmpError?.(type, code, info, bytes, q, qhl); } catch { c.receiverErrors++; }
      }
    }
    // ICMPv6 itself has no sockets here: a Packet Too Big quoting one of our echo messages (a
    // large reply, RFC 4443 §4.2) is believed as Linux's icmpv6_err does, within RFC 8201's floor.
    if (proto === Ipv6NextHeader.ICMPV6) {
      const quotedType = bytes[ch.upperOffset]!;
      if (type === Icmpv6Type.PACKET_TOO_BIG && (quotedType === Icmpv6Type.ECHO_REPLY || quotedType === Icmpv6Type.ECHO_REQUEST)) {
        const dst = this.ip.table.intern(bytes, q + Ipv6Field.DESTINATION);
        this.ip.learnPathMtu(dst, info);
        this.ip.table.release(dst);
        return;
      }
    }
    const h = reg.handler(NetworkFamily.IPV6, proto);
    let matched = false;
    try {
      matched = h !== null && h.icmpError !== undefined && h.icmpError(type, code, info, bytes, q, qhl);
    } catch {
      c.receiverErrors++;
    }
    if (!matched) c.icmp6ErrorsUnmatched++;
  }

  /** Sends an echo request with `dataLength` bytes of pattern data. */
  ping(dst: number, identifier: number, sequence: number, dataLength: number): NTSTATUS {
    const ip = this.ip;
    const src = ip.sourceFor(dst);
    if (src === 0 || !ip.hasRoute(dst)) { ip.host.counters.txNoRoute++; return STATUS_NETWORK_UNREACHABLE; }
    const data = ip.scratchBuffer().subarray(32768);
    for (let i = 0; i < dataLength; i++) data[i] = i & 0xff;
    if (!this.sendEcho(Icmpv6Type.ECHO_REQUEST, src, dst, null, 0, identifier, sequence, data, 0, dataLength)) return STATUS_INSUFFICIENT_RESOURCES;
    ip.host.counters.icmp6EchoRequestsSent++;
    return STATUS_SUCCESS;
  }

  /**
   * An echo message with bytes[dataOffset..+dataLength) as its data. `dst` is an id, or 0 with
   * the destination at dstBytes[dstAt] (a reply to a source we never interned: interned now,
   * released after). Larger than the path MTU: sent in fragments (RFC 4443 §4.2: all the data returns).
   */
  private sendEcho(type: number, src: number, dst: number, dstBytes: Uint8Array | null, dstAt: number, identifier: number, sequence: number,
    bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    const ip = this.ip;
    const table = ip.table;
    let interned = 0;
    if (dst === 0) {
      if (dstBytes === null) return false;
      dst = interned = table.intern(dstBytes, dstAt);
      if (dst === 0) return false;
    }
    try {
      if (src === 0) src = ip.sourceFor(dst);
      if (src === 0) return false;
      const length = ICMPV6_HEADER_LENGTH + dataLength;
      const sum = pseudoHeaderSumV6(table.sum(src), table.sum(dst), Ipv6NextHeader.ICMPV6, length);
      const arena = ip.host.arena;
      const start = ip.upperStart();
      const mtu = ip.isLocal(dst) ? 65535 : ip.pathMtu(dst);
      if (start + length > arena.slotSize || IPV6_HEADER_LENGTH + length > mtu) {
        const whole = ip.scratchBuffer();
        // set() copies correctly when bytes is the scratch buffer itself (ping's pattern data).
        whole.set(bytes.subarray(dataOffset, dataOffset + dataLength), ICMPV6_HEADER_LENGTH);
        emitIcmpv6Echo(whole, 0, type, identifier, sequence, dataLength, sum);
        return ip.outputFragmented(whole, length, src, dst, Ipv6NextHeader.ICMPV6, 0, ip.defaultHopLimit) === STATUS_SUCCESS;
      }
      const slot = arena.alloc();
      if (slot < 0) { ip.host.counters.txNoSlot++; return false; }
      const v = arena.view(slot);
      copyInto(arena, slot, start + ICMPV6_HEADER_LENGTH, bytes, dataOffset, dataLength);
      emitIcmpv6Echo(v, start, type, identifier, sequence, dataLength, sum);
      arena.setFrame(slot, start, length);
      ip.output(slot, src, dst, Ipv6NextHeader.ICMPV6, 0, ip.defaultHopLimit, 0);
      return true;
    } finally {
      if (interned !== 0) table.release(interned);
    }
  }

  /** See Ipv6Layer.sendIcmpError6. */
  sendError(bytes: Uint8Array, ipOffset: number, ipLength: number, type: number, code: number, info: number, evenIfMulticast: boolean): void {
    const ip = this.ip;
    const c = ip.host.counters;
    const srcAt = ipOffset + Ipv6Field.SOURCE;
    const dstAt = ipOffset + Ipv6Field.DESTINATION;
    if (bytes[srcAt] === 0xff || isUnspecified(bytes, srcAt)) return;
    if (bytes[dstAt] === 0xff && !evenIfMulticast) return;
    if (isAboutIcmpError(bytes, ipOffset, ipLength, this.quoted)) return;
    const now = ip.host.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.stamp) * this.rate) / 1000);
    this.stamp = now;
    if (this.tokens < 1) { c.icmp6RateLimited++; return; }
    this.tokens -= 1;
    const table = ip.table;
    const dst = table.intern(bytes, srcAt);
    try {
      // From the address the packet was sent to when it is ours, else our best address towards the sender.
      const to = table.find(bytes, dstAt);
      const src = to !== 0 && ip.isLocal(to) ? to : ip.sourceFor(dst);
      if (src === 0) return;
      const quoted = Math.min(ipLength, ICMPV6_ERROR_MAX - IPV6_HEADER_LENGTH - ICMPV6_HEADER_LENGTH);
      const slot = ip.host.arena.alloc();
      if (slot < 0) { c.txNoSlot++; return; }
      const v = ip.host.arena.view(slot);
      const start = ip.upperStart();
      v.set(bytes.subarray(ipOffset, ipOffset + quoted), start + ICMPV6_HEADER_LENGTH);
      const length = ICMPV6_HEADER_LENGTH + quoted;
      emitIcmpv6Error(v, start, type, code, quoted, info, pseudoHeaderSumV6(table.sum(src), table.sum(dst), Ipv6NextHeader.ICMPV6, length));
      ip.host.arena.setFrame(slot, start, length);
      c.icmp6ErrorsSent++;
      ip.output(slot, src, dst, Ipv6NextHeader.ICMPV6, 0, ip.defaultHopLimit, 0);
    } finally {
      table.release(dst);
    }
  }

  /** ReassemblyTimeoutSink: Time Exceeded (fragment reassembly) quoting the first fragment (RFC 8200 §4.5). */
  reassemblyTimedOut(firstFragment: Uint8Array, length: number): void {
    this.sendError(firstFragment, 0, length, Icmpv6Type.TIME_EXCEEDED, Icmpv6TimeExceededCode.REASSEMBLY, 0, false);
  }
}

/** Copies bytes[offset..+length) into `slot` at `at`: within the arena by copyWithin, so an echo reply creates no view. */
function copyInto(arena: SlotArena, slot: number, at: number, bytes: Uint8Array, offset: number, length: number): void {
  if (bytes.buffer === arena.buffer) {
    const src = bytes.byteOffset + offset;
    arena.all.copyWithin(arena.base(slot) + at, src, src + length);
  } else {
    arena.view(slot).set(bytes.subarray(offset, offset + length), at);
  }
}

function isUnspecified(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
}

/** Whether the packet is an ICMPv6 error message (or too mangled to tell): no error is sent about one. */
function isAboutIcmpError(bytes: Uint8Array, ipOffset: number, ipLength: number, chain: Ipv6HeaderChain): boolean {
  if (bytes[ipOffset + Ipv6Field.NEXT_HEADER] === Ipv6NextHeader.ICMPV6) {
    return ipLength <= IPV6_HEADER_LENGTH || bytes[ipOffset + IPV6_HEADER_LENGTH]! < 128;
  }
  // Behind extension headers: walk them (a chain that cannot be walked is answered about, e.g. a Parameter Problem).
  if (walkIpv6Extensions(bytes, ipOffset, ipLength, chain, false) !== Ipv6Chain.OK || chain.fragment >= 0) return false;
  return chain.nextHeader === Ipv6NextHeader.ICMPV6 && (chain.upperOffset >= ipOffset + ipLength || bytes[chain.upperOffset]! < 128);
}

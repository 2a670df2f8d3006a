// ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2): echo in and out, errors we send (rate-limited by a
// token bucket, as Linux's icmp_ratelimit) and errors we receive, which go to the transport of
// the protocol they quote (transport-registry.ts; RFC 5927 §5.1: they act only through the
// socket or connection they match).
//
// Receive: input() borrows the packet for the call, from the IPv4 layer after its checks and
// reassembly; malformed messages are counted and dropped, nothing throws. Echo replies are
// handed to onEchoReply as a view that is valid only during the call.
import type { NetworkInterface } from '../network-interface.ts';
import { NetworkFamily } from '../transport-registry.ts';
import type { Ipv4Layer } from './ipv4-layer.ts';
import { ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import { IpProtocol, IPV4_MIN_HEADER_LENGTH, Ipv4Field, ipv4HeaderLength } from '../wire/ipv4.ts';
import {
  emitIcmpEcho, emitIcmpError, ICMP_HEADER_LENGTH, IcmpTimeExceededCode, IcmpType, Icmpv4Packet,
} from '../wire/icmpv4.ts';
import { get16, get32s, set16 } from '../wire/bytes.ts';
import { internetChecksum } from '../wire/checksum.ts';
import { STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS } from '../../ntstatus.ts';

/** RFC 1812 §4.3.2.3: an ICMP error quotes as much as fits in 576 bytes. */
const ICMP_ERROR_MAX = 576;

export interface Icmpv4Options {
  /** ICMP error rate limit (token bucket; Linux: 1000/s, burst 50). */
  icmpErrorsPerSecond?: number;
  icmpErrorBurst?: number;
  /** Answer echo requests (default true). */
  echoReply?: boolean;
}

export type EchoReplyHandler = (src: number, identifier: number, sequence: number, data: Uint8Array) => void;

export class Icmpv4Layer {
  /** Called for each echo reply received (ping()'s answers); `data` is valid only during the call. */
  onEchoReply: EchoReplyHandler | null = null;

  private tokens: number;
  private stamp: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly echoReply: boolean;
  private readonly view = new Icmpv4Packet();

  constructor(private readonly nic: NetworkInterface, private readonly ip4: Ipv4Layer, options: Icmpv4Options) {
    this.rate = options.icmpErrorsPerSecond ?? 1000;
    this.burst = options.icmpErrorBurst ?? 50;
    this.tokens = this.burst;
    this.stamp = nic.clock.now();
    this.echoReply = options.echoReply ?? true;
  }

  // ---- receive ------------------------------------------------------------------------------

  input(bytes: Uint8Array, ipOffset: number, hl: number, ipLength: number, broadcast: boolean): void {
    const c = this.nic.counters;
    const off = ipOffset + hl;
    const len = ipLength - hl;
    if (Icmpv4Packet.check(bytes, off, len, !this.nic.device.capabilities.rxChecksumVerified) !== null) { c.icmpMalformed++; return; }
    c.icmpIn++;
    const m = this.view.reset(bytes, off, len);
    const type = m.type;
    const src = get32s(bytes, ipOffset + Ipv4Field.SOURCE);
    if (type === IcmpType.ECHO_REQUEST) {
      // Linux's icmp_echo_ignore_broadcasts default: no smurf amplifier.
      if (broadcast || !this.echoReply) return;
      // From the address that was pinged (a secondary one too), as Linux's icmp_reply does.
      const pinged = get32s(bytes, ipOffset + Ipv4Field.DESTINATION);
      if (this.sendEcho(IcmpType.ECHO_REPLY, pinged, src, m.identifier, m.sequence, bytes, m.dataOffset, m.dataLength)) c.icmpEchoRepliesSent++;
    } else if (type === IcmpType.ECHO_REPLY) {
      c.icmpEchoRepliesIn++;
      this.onEchoReply?.(src, m.identifier, m.sequence, bytes.subarray(m.dataOffset, m.dataOffset + m.dataLength));
    } else if (type === IcmpType.DEST_UNREACHABLE || type === IcmpType.TIME_EXCEEDED) {
      this.inputError(type, m.code, m.nextHopMtu, bytes, m.quotedOffset, m.quotedLength);
    }
  }

  private inputError(type: number, code: number, nextHopMtu: number, bytes: Uint8Array, q: number, qlen: number): void {
    const c = this.nic.counters;
    // The quoted header must be ours; its checksum is not rechecked (routers may have changed TTL).
    if (qlen < IPV4_MIN_HEADER_LENGTH || bytes[q]! >>> 4 !== 4) { c.icmpMalformed++; return; }
    const qhl = ipv4HeaderLength(bytes, q);
    if (qhl < IPV4_MIN_HEADER_LENGTH || qlen < qhl + 8) { c.icmpMalformed++; return; }
    if (!this.ip4.isLocalAddress(get32s(bytes, q + Ipv4Field.SOURCE))) { c.icmpMalformed++; return; }
    c.icmpErrorsIn++;
    // RFC 5927 §5.1: anyone can forge an error, so it acts only through the socket or connection
    // it quotes — as Linux's protocol handlers (tcp_v4_err, __udp4_lib_err) do — and one that
    // matches none changes nothing, not even the path MTU towards its destination.
    const proto = bytes[q + Ipv4Field.PROTOCOL]!;
    const transports = this.nic.transports;
    const raw = transports.rawListeners(NetworkFamily.IPV4, proto);
    if (raw !== null) {
      for (let i = 0; i < raw.length; i++) {
        try { raw[i]!.icmpError?.(type, code, nextHopMtu, bytes, q, qhl); } catch { c.receiverErrors++; }
      }
    }
    const h = transports.handler(NetworkFamily.IPV4, proto);
    const matched = h !== null && h.icmpError !== undefined && h.icmpError(type, code, nextHopMtu, bytes, q, qhl);
    if (!matched) c.icmpErrorsUnmatched++;
  }

  // ---- echo ---------------------------------------------------------------------------------

  /** Sends an ICMP echo request (ping) with `dataLength` bytes of pattern data. */
  ping(dst: number, identifier: number, sequence: number, dataLength = 56): NTSTATUS {
    dst |= 0;
    const arena = this.nic.arena;
    const slot = arena.alloc();
    if (slot < 0) { this.nic.counters.txNoSlot++; return STATUS_INSUFFICIENT_RESOURCES; }
    const view = arena.view(slot);
    const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    for (let i = 0; i < dataLength; i++) view[start + ICMP_HEADER_LENGTH + i] = i & 0xff;
    emitIcmpEcho(view, start, IcmpType.ECHO_REQUEST, identifier, sequence, dataLength);
    arena.setFrame(slot, start, ICMP_HEADER_LENGTH + dataLength);
    this.nic.counters.icmpEchoRequestsSent++;
    this.ip4.output(slot, this.ip4.iface.address, dst, IpProtocol.ICMP, 0, this.ip4.isBroadcast(dst));
    return STATUS_SUCCESS;
  }

  /**
   * An echo message carrying bytes[dataOffset..+dataLength) — a ring slot's, or a reassembly
   * buffer's when the request came in fragments. RFC 1122 §3.2.2.6: the reply MUST return all the
   * data, so one larger than the path MTU (or a slot) leaves in fragments, as Linux's echo reply
   * does (its ICMP socket does not set DF); false when it could not be sent.
   */
  private sendEcho(type: number, src: number, dst: number, identifier: number, sequence: number, bytes: Uint8Array, dataOffset: number, dataLength: number): boolean {
    const arena = this.nic.arena;
    const ip4 = this.ip4;
    const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    const icmpLength = ICMP_HEADER_LENGTH + dataLength;
    const mtu = ip4.isLocalDestination(dst) ? 65535 : ip4.pathMtu(dst);
    if (start + icmpLength > arena.slotSize || IPV4_MIN_HEADER_LENGTH + icmpLength > mtu) {
      // The request fitted one datagram with a header of at least 20 bytes, so the reply does too.
      const whole = ip4.fragmentScratch();
      whole.set(bytes.subarray(dataOffset, dataOffset + dataLength), ICMP_HEADER_LENGTH);
      emitIcmpEcho(whole, 0, type, identifier, sequence, dataLength);
      return ip4.outputFragmented(whole, icmpLength, src, dst, IpProtocol.ICMP, mtu, false) === STATUS_SUCCESS;
    }
    const slot = arena.alloc();
    if (slot < 0) { this.nic.counters.txNoSlot++; return false; }
    const view = arena.view(slot);
    this.copyIn(slot, start + ICMP_HEADER_LENGTH, bytes, dataOffset, dataLength);
    emitIcmpEcho(view, start, type, identifier, sequence, dataLength);
    arena.setFrame(slot, start, icmpLength);
    ip4.output(slot, src, dst, IpProtocol.ICMP, 0, false);
    return true;
  }

  /** Copies bytes[offset..+length) into `slot` at `at` — within the arena by copyWithin (no view created). */
  private copyIn(slot: number, at: number, bytes: Uint8Array, offset: number, length: number): void {
    const arena = this.nic.arena;
    if (bytes.buffer === arena.buffer) {
      const src = bytes.byteOffset + offset;
      arena.all.copyWithin(arena.base(slot) + at, src, src + length);
    } else {
      arena.view(slot).set(bytes.subarray(offset, offset + length), at);
    }
  }

  // ---- errors out ---------------------------------------------------------------------------

  /**
   * An ICMP error about the packet at bytes[offset..offset+length) (RFC 1122 §3.2.2: never about
   * an ICMP error, a broadcast, a non-initial fragment, or a source that is not a unicast host),
   * rate-limited by a token bucket.
   */
  sendError(bytes: Uint8Array, offset: number, length: number, type: number, code: number, info: number): void {
    const c = this.nic.counters;
    const hl = ipv4HeaderLength(bytes, offset);
    const src = get32s(bytes, offset + Ipv4Field.SOURCE);
    if ((get16(bytes, offset + Ipv4Field.FLAGS_FRAGMENT) & 0x1fff) !== 0 || src === 0 || this.ip4.isBroadcast(src) || (src >>> 28) >= 0xe) return;
    if (bytes[offset + Ipv4Field.PROTOCOL] === IpProtocol.ICMP) {
      const t = length > hl ? bytes[offset + hl]! : 0;
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY) return;
    }
    const now = this.nic.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.stamp) * this.rate) / 1000);
    this.stamp = now;
    if (this.tokens < 1) { c.icmpRateLimited++; return; }
    this.tokens -= 1;
    const quoted = Math.min(length, ICMP_ERROR_MAX - IPV4_MIN_HEADER_LENGTH - ICMP_HEADER_LENGTH);
    const arena = this.nic.arena;
    const slot = arena.alloc();
    if (slot < 0) { c.txNoSlot++; return; }
    const view = arena.view(slot);
    const start = arena.headroom + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;
    view.set(bytes.subarray(offset, offset + quoted), start + ICMP_HEADER_LENGTH);
    emitIcmpError(view, start, type, code, quoted, info);
    arena.setFrame(slot, start, ICMP_HEADER_LENGTH + quoted);
    c.icmpErrorsSent++;
    this.ip4.output(slot, this.ip4.iface.address, src, IpProtocol.ICMP, 0, false);
  }

  /** RFC 792: Time Exceeded (fragment reassembly) quoting the first fragment of a datagram that timed out. */
  sendReassemblyTimeExceeded(header: Uint8Array, headerLength: number, firstPayload: Uint8Array): void {
    const q = new Uint8Array(headerLength + firstPayload.length);
    q.set(header.subarray(0, headerLength));
    q.set(firstPayload, headerLength);
    set16(q, Ipv4Field.TOTAL_LENGTH, q.length);
    set16(q, Ipv4Field.FLAGS_FRAGMENT, 0);
    set16(q, Ipv4Field.CHECKSUM, 0);
    set16(q, Ipv4Field.CHECKSUM, internetChecksum(q, 0, headerLength));
    this.sendError(q, 0, q.length, IcmpType.TIME_EXCEEDED, IcmpTimeExceededCode.REASSEMBLY, 0);
  }
}

// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses only.
// Zero-copy view with typed accessors; check() rejects other hardware/protocol types.
import { WireView, outOfBounds } from './view.ts';
import { get16, get32, getMac, set16, set32, setMac } from './bytes.ts';
import { EtherType } from './ethernet.ts';
import { ParseError } from './parse-error.ts';

export const ArpOperation = { REQUEST: 1, REPLY: 2 } as const;
export const ARP_LENGTH = 28;

export class ArpPacket extends WireView {
  static check(bytes: Uint8Array, offset: number, length: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, ARP_LENGTH)) return ParseError.TRUNCATED;
    if (get16(bytes, offset) !== 1 || get16(bytes, offset + 2) !== EtherType.IPV4
      || bytes[offset + 4] !== 6 || bytes[offset + 5] !== 4) return ParseError.UNSUPPORTED;
    const op = get16(bytes, offset + 6);
    if (op !== ArpOperation.REQUEST && op !== ArpOperation.REPLY) return ParseError.UNSUPPORTED;
    return null;
  }

  get hardwareType(): number { return get16(this.bytes, this.offset); }
  get protocolType(): number { return get16(this.bytes, this.offset + 2); }
  get hardwareLength(): number { return this.bytes[this.offset + 4]!; }
  get protocolLength(): number { return this.bytes[this.offset + 5]!; }
  get operation(): number { return get16(this.bytes, this.offset + 6); }
  set operation(v: number) { set16(this.bytes, this.offset + 6, v); }
  get senderHardwareAddr(): number { return getMac(this.bytes, this.offset + 8); }
  set senderHardwareAddr(v: number) { setMac(this.bytes, this.offset + 8, v); }
  get senderProtocolAddr(): number { return get32(this.bytes, this.offset + 14); }
  set senderProtocolAddr(v: number) { set32(this.bytes, this.offset + 14, v); }
  get targetHardwareAddr(): number { return getMac(this.bytes, this.offset + 18); }
  set targetHardwareAddr(v: number) { setMac(this.bytes, this.offset + 18, v); }
  get targetProtocolAddr(): number { return get32(this.bytes, this.offset + 24); }
  set targetProtocolAddr(v: number) { set32(this.bytes, this.offset + 24, v); }
}

/** Write a 28-byte Ethernet/IPv4 ARP packet at `offset`; returns 28. */
export function emitArp(buf: Uint8Array, offset: number, operation: number, senderHw: number, senderIp: number, targetHw: number, targetIp: number): number {
  set16(buf, offset, 1);
  set16(buf, offset + 2, EtherType.IPV4);
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  set16(buf, offset + 6, operation);
  setMac(buf, offset + 8, senderHw);
  set32(buf, offset + 14, senderIp);
  setMac(buf, offset + 18, targetHw);
  set32(buf, offset + 24, targetIp);
  return ARP_LENGTH;
}

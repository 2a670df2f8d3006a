// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses only.
// Zero-copy view with typed accessors; check() rejects other hardware/protocol types.
import { WireView, outOfBounds } from './view.ts';
import { get16, get32, getMac, set16, set32, setMac } from './bytes.ts';
import { EtherType } from './ethernet.ts';
import { ParseError } from './parse-error.ts';

export const ArpOperation = { REQUEST: 1, REPLY: 2 } as const;
export const ARP_LENGTH = 28;
/** Byte offsets of an Ethernet/IPv4 ARP packet's fields (RFC 826). */
export const ArpField = {
  HARDWARE_TYPE: 0, PROTOCOL_TYPE: 2, HARDWARE_LENGTH: 4, PROTOCOL_LENGTH: 5, OPERATION: 6,
  SENDER_HARDWARE: 8, SENDER_PROTOCOL: 14, TARGET_HARDWARE: 18, TARGET_PROTOCOL: 24,
} as const;

export class ArpPacket extends WireView {
  static check(bytes: Uint8Array, offset: number, length: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, ARP_LENGTH)) return ParseError.TRUNCATED;
    if (get16(bytes, offset) !== 1 || get16(bytes, offset + ArpField.PROTOCOL_TYPE) !== EtherType.IPV4
      || bytes[offset + ArpField.HARDWARE_LENGTH] !== 6 || bytes[offset + ArpField.PROTOCOL_LENGTH] !== 4) return ParseError.UNSUPPORTED;
    const op = get16(bytes, offset + ArpField.OPERATION);
    if (op !== ArpOperation.REQUEST && op !== ArpOperation.REPLY) return ParseError.UNSUPPORTED;
    return null;
  }

  get hardwareType(): number { return get16(this.bytes, this.offset); }
  get protocolType(): number { return get16(this.bytes, this.offset + ArpField.PROTOCOL_TYPE); }
  get hardwareLength(): number { return this.bytes[this.offset + ArpField.HARDWARE_LENGTH]!; }
  get protocolLength(): number { return this.bytes[this.offset + ArpField.PROTOCOL_LENGTH]!; }
  get operation(): number { return get16(this.bytes, this.offset + ArpField.OPERATION); }
  set operation(v: number) { set16(this.bytes, this.offset + ArpField.OPERATION, v); }
  get senderHardwareAddr(): number { return getMac(this.bytes, this.offset + ArpField.SENDER_HARDWARE); }
  set senderHardwareAddr(v: number) { setMac(this.bytes, this.offset + ArpField.SENDER_HARDWARE, v); }
  get senderProtocolAddr(): number { return get32(this.bytes, this.offset + ArpField.SENDER_PROTOCOL); }
  set senderProtocolAddr(v: number) { set32(this.bytes, this.offset + ArpField.SENDER_PROTOCOL, v); }
  get targetHardwareAddr(): number { return getMac(this.bytes, this.offset + ArpField.TARGET_HARDWARE); }
  set targetHardwareAddr(v: number) { setMac(this.bytes, this.offset + ArpField.TARGET_HARDWARE, v); }
  get targetProtocolAddr(): number { return get32(this.bytes, this.offset + ArpField.TARGET_PROTOCOL); }
  set targetProtocolAddr(v: number) { set32(this.bytes, this.offset + ArpField.TARGET_PROTOCOL, v); }
}

/** Write a 28-byte Ethernet/IPv4 ARP packet at `offset`; returns 28. */
export function emitArp(buf: Uint8Array, offset: number, operation: number, senderHw: number, senderIp: number, targetHw: number, targetIp: number): number {
  set16(buf, offset, 1);
  set16(buf, offset + ArpField.PROTOCOL_TYPE, EtherType.IPV4);
  buf[offset + ArpField.HARDWARE_LENGTH] = 6;
  buf[offset + ArpField.PROTOCOL_LENGTH] = 4;
  set16(buf, offset + ArpField.OPERATION, operation);
  setMac(buf, offset + ArpField.SENDER_HARDWARE, senderHw);
  set32(buf, offset + ArpField.SENDER_PROTOCOL, senderIp);
  setMac(buf, offset + ArpField.TARGET_HARDWARE, targetHw);
  set32(buf, offset + ArpField.TARGET_PROTOCOL, targetIp);
  return ARP_LENGTH;
}

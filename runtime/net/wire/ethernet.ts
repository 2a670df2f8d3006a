// Ethernet II frame (IEEE 802.3 / RFC 894) with at most one IEEE 802.1Q VLAN tag.
// Zero-copy view: getters read the bytes in place; reset() re-points it without allocating.
import { WireView, outOfBounds } from './view.ts';
import { get16, getMac, set16, setMac } from './bytes.ts';
import { ParseError } from './parse-error.ts';

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, IPV6: 0x86dd } as const;
export const ETHERNET_HEADER_LENGTH = 14;
export const VLAN_TAG_LENGTH = 4;
/** Byte offsets of the Ethernet header's fields; with an 802.1Q tag the inner EtherType follows the TCI. */
export const EthernetField = { DESTINATION: 0, SOURCE: 6, ETHER_TYPE: 12, VLAN_TCI: 14, VLAN_ETHER_TYPE: 16 } as const;

export class EthernetFrame extends WireView {
  static check(bytes: Uint8Array, offset: number, length: number): ParseError | null {
    if (outOfBounds(bytes, offset, length, ETHERNET_HEADER_LENGTH)) return ParseError.TRUNCATED;
    if (get16(bytes, offset + EthernetField.ETHER_TYPE) === EtherType.VLAN && length < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) {
      return ParseError.TRUNCATED;
    }
    return null;
  }

  get dst(): number { return getMac(this.bytes, this.offset); }
  set dst(v: number) { setMac(this.bytes, this.offset, v); }
  get src(): number { return getMac(this.bytes, this.offset + EthernetField.SOURCE); }
  set src(v: number) { setMac(this.bytes, this.offset + EthernetField.SOURCE, v); }
  get hasVlan(): boolean { return get16(this.bytes, this.offset + EthernetField.ETHER_TYPE) === EtherType.VLAN; }
  /** Tag control information (PCP:3, DEI:1, VID:12), or -1 when untagged. */
  get vlanTci(): number { return this.hasVlan ? get16(this.bytes, this.offset + EthernetField.VLAN_TCI) : -1; }
  get vlanId(): number { return this.hasVlan ? get16(this.bytes, this.offset + EthernetField.VLAN_TCI) & 0x0fff : -1; }
  get vlanPcp(): number { return this.hasVlan ? this.bytes[this.offset + EthernetField.VLAN_TCI]! >>> 5 : -1; }
  /** The EtherType of the payload (inner type when tagged). */
  get etherType(): number { return get16(this.bytes, this.offset + (this.hasVlan ? EthernetField.VLAN_ETHER_TYPE : EthernetField.ETHER_TYPE)); }
  set etherType(v: number) { set16(this.bytes, this.offset + (this.hasVlan ? EthernetField.VLAN_ETHER_TYPE : EthernetField.ETHER_TYPE), v); }
  get headerLength(): number { return this.hasVlan ? ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH : ETHERNET_HEADER_LENGTH; }
  /** Absolute offset of the payload in `bytes`. */
  get payloadOffset(): number { return this.offset + this.headerLength; }
  get payloadLength(): number { return this.length - this.headerLength; }
}

/**
 * Write an Ethernet header at `offset` (headroom-based TX); `vlanTci` < 0 means untagged.
 * Returns the header length written (14 or 18).
 */
export function emitEthernet(buf: Uint8Array, offset: number, dst: number, src: number, etherType: number, vlanTci = -1): number {
  setMac(buf, offset, dst);
  setMac(buf, offset + EthernetField.SOURCE, src);
  if (vlanTci < 0) {
    set16(buf, offset + EthernetField.ETHER_TYPE, etherType);
    return ETHERNET_HEADER_LENGTH;
  }
  set16(buf, offset + EthernetField.ETHER_TYPE, EtherType.VLAN);
  set16(buf, offset + EthernetField.VLAN_TCI, vlanTci);
  set16(buf, offset + EthernetField.VLAN_ETHER_TYPE, etherType);
  return ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
}

// IP_MREQ (ws2ipdef.h) for IP_ADD_MEMBERSHIP/IP_DROP_MEMBERSHIP: { IN_ADDR imr_multiaddr;
// IN_ADDR imr_interface; }, 8 bytes. imr_interface is a local IPv4 address, 0.0.0.0 for the
// default interface, or an interface index written as 0.0.0.x (the IPPROTO_IP socket options
// page: "an interface index in network byte order" in the 0.0.0.0/8 range).
// IPV6_MREQ (ws2ipdef.h) for IPV6_ADD_MEMBERSHIP/IPV6_DROP_MEMBERSHIP: { IN6_ADDR ipv6mr_multiaddr;
// ULONG ipv6mr_interface; }, 20 bytes; the interface is an index in host order, 0 for the default.

export const SIZEOF_IP_MREQ = 8;

/** IP_MREQ over its 8 bytes; the address getters are views (writing them writes the buffer). */
export class IP_MREQ {
  constructor(readonly bytes: Uint8Array = new Uint8Array(SIZEOF_IP_MREQ), readonly offset = 0) {}
  get imr_multiaddr(): Uint8Array { return this.bytes.subarray(this.offset, this.offset + 4); }
  set imr_multiaddr(v: Uint8Array) { this.bytes.set(v.subarray(0, 4), this.offset); }
  get imr_interface(): Uint8Array { return this.bytes.subarray(this.offset + 4, this.offset + 8); }
  set imr_interface(v: Uint8Array) { this.bytes.set(v.subarray(0, 4), this.offset + 4); }
}

/** An IN_ADDR's 4 bytes as the host-order number the transports take (a.b.c.d → a<<24 | ...), unsigned. */
export function inAddrValue(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export const SIZEOF_IPV6_MREQ = 20;

/** IPV6_MREQ over its 20 bytes; ipv6mr_multiaddr is a view, ipv6mr_interface a little-endian ULONG. */
export class IPV6_MREQ {
  constructor(readonly bytes: Uint8Array = new Uint8Array(SIZEOF_IPV6_MREQ), readonly offset = 0) {}
  get ipv6mr_multiaddr(): Uint8Array { return this.bytes.subarray(this.offset, this.offset + 16); }
  set ipv6mr_multiaddr(v: Uint8Array) { this.bytes.set(v.subarray(0, 16), this.offset); }
  get ipv6mr_interface(): number { return new DataView(this.bytes.buffer, this.bytes.byteOffset + this.offset + 16, 4).getUint32(0, true); }
  set ipv6mr_interface(v: number) { new DataView(this.bytes.buffer, this.bytes.byteOffset + this.offset + 16, 4).setUint32(0, v >>> 0, true); }
}

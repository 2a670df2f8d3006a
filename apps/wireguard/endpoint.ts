// A peer's outer UDP address. Reused objects with fixed fields: the receive path hands the device
// an Endpoint it owns and refills per datagram, and a peer that roams copies it into its own
// (no allocation per packet). `local` is the address the peer wrote to, when the transport reports
// it (IP_PKTINFO / IPV6_PKTINFO on WSK): replies then leave from that address, as the peer expects.
import { formatIp, parseIp, type IpFamily } from './ip-address.ts';

export class Endpoint {
  family: IpFamily = 4;
  /** The remote address; IPv4 in the first 4 bytes. */
  readonly address = new Uint8Array(16);
  port = 0;
  /** Our local address the datagram arrived on (IP_PKTINFO), or family 0 when not known. */
  localFamily: IpFamily | 0 = 0;
  readonly localAddress = new Uint8Array(16);

  /** "198.18.0.1:51820" or "[fd00::1]:51820" (wg-quick's Endpoint syntax, literals only); null if malformed. */
  static parse(text: string): Endpoint | null {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
    if (!m) return null;
    const ip = parseIp(m[1]!);
    const port = Number(m[2]);
    if (!ip || !Number.isInteger(port) || port < 1 || port > 65535) return null;
    return new Endpoint().setAddress(ip.family, ip.bytes, 0, port);
  }

  setAddress(family: IpFamily, bytes: Uint8Array, offset: number, port: number): this {
    this.family = family;
    // A loop, not set(subarray): the receive path refills an Endpoint per datagram without allocating.
    const a = this.address;
    const n = family === 4 ? 4 : 16;
    for (let i = 0; i < 16; i++) a[i] = i < n ? bytes[offset + i]! : 0;
    this.port = port;
    return this;
  }

  copyFrom(other: Endpoint): this {
    this.family = other.family;
    this.address.set(other.address);
    this.port = other.port;
    this.localFamily = other.localFamily;
    this.localAddress.set(other.localAddress);
    return this;
  }

  /** Same remote address and port, and same local address (a change of either is a roam). */
  equals(other: Endpoint): boolean {
    if (this.family !== other.family || this.port !== other.port || this.localFamily !== other.localFamily) return false;
    const a = this.address; const b = other.address; const la = this.localAddress; const lb = other.localAddress;
    for (let i = 0; i < 16; i++) if (a[i] !== b[i] || la[i] !== lb[i]) return false;
    return true;
  }

  /** Same remote address and port, whatever the local address. */
  sameRemote(other: Endpoint): boolean {
    if (this.family !== other.family || this.port !== other.port) return false;
    const a = this.address; const b = other.address;
    for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** The address text without port. */
  host(): string { return formatIp(this.family, this.address); }

  toString(): string { return this.family === 4 ? `${this.host()}:${this.port}` : `[${this.host()}]:${this.port}`; }

  /** Bytes that identify the source for a cookie (the paper's A_m): the address then the port. */
  cookieInput(): Uint8Array {
    const n = this.family === 4 ? 4 : 16;
    const out = new Uint8Array(n + 2);
    out.set(this.address.subarray(0, n));
    out[n] = this.port >>> 8;
    out[n + 1] = this.port & 0xff;
    return out;
  }
}

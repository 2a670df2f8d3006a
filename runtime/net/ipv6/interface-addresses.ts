// The interface's IPv6 addresses and multicast groups (RFC 4291 §2.8: a host's required
// addresses), as ids of the layer's address table. Slow path: addresses change at start, after
// duplicate address detection and on router advertisements; the hot path asks roleOf(id), one
// typed-array load.
//
// Contract:
// - Every address and group here is interned in `table` for as long as it is listed, and its id
//   has a role: ADDRESS (usable), TENTATIVE (duplicate address detection running, RFC 4862 §5.4:
//   not usable, packets to it dropped except NDP), or GROUP (a multicast group we listen to).
// - `usable` lists the usable addresses, link-local first (the Ipv6Network.addresses contract).
// - Joining a group counts references: the solicited-node group of two addresses is one group.
//   The first reference and the last one are told to `onGroupChange` (MLD reports them, mld.ts)
//   before the group's id is released.
import type { Ipv6AddressTable } from './address-table.ts';

export const AddressRole = { NONE: 0, ADDRESS: 1, TENTATIVE: 2, GROUP: 3 } as const;

export interface InterfaceAddress {
  id: number;
  prefixLength: number;
  /** The solicited-node group of the address (RFC 4291 §2.7.1). */
  solicited: number;
  tentative: boolean;
  /** Duplicate address detection: solicitations still to send, and when the next one (or the verdict) is due. */
  dadLeft: number;
  dadDeadline: number;
  /** Learned from a router advertisement's prefix (SLAAC, RFC 4862 §5.5.3): valid until (ms), else Infinity. */
  validUntil: number;
  /** Unsolicited advertisements still to send (RFC 4861 §7.2.6), and when the next one is due. */
  advertisementsLeft: number;
  advertiseAt: number;
}

/** ::1, the loopback address (RFC 4291 §2.5.3): ours, never on the link. */
export const LOOPBACK = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** ff02::1, all nodes (RFC 4291 §2.7.1). */
export const ALL_NODES = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** ff02::2, all routers. */
export const ALL_ROUTERS = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
/** ff02::16, where MLDv2 reports go (RFC 3810 §5.2.14). */
export const ALL_MLDV2_ROUTERS = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16);

/** fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 Appendix A, RFC 4862 §5.3). */
export function linkLocalFromMac(mac: number): Uint8Array {
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  const m: number[] = [];
  for (let i = 5, v = mac; i >= 0; i--, v = Math.floor(v / 256)) m[i] = v % 256;
  out[8] = m[0]! ^ 0x02;
  out[9] = m[1]!;
  out[10] = m[2]!;
  out[11] = 0xff;
  out[12] = 0xfe;
  out[13] = m[3]!;
  out[14] = m[4]!;
  out[15] = m[5]!;
  return out;
}

/** The solicited-node multicast address of bytes[offset..+16): ff02::1:ffXX:XXXX (RFC 4291 §2.7.1). */
export function solicitedNodeOf(bytes: Uint8Array, offset: number): Uint8Array {
  const out = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0);
  out[13] = bytes[offset + 13]!;
  out[14] = bytes[offset + 14]!;
  out[15] = bytes[offset + 15]!;
  return out;
}

export class InterfaceAddresses {
  readonly list: InterfaceAddress[] = [];
  readonly usable: number[] = [];
  /** Groups we listen to (ids) with their reference counts. */
  readonly groups = new Map<number, number>();
  private roles = new Uint8Array(64);
  /** The interface starts (true) or stops (false) listening to a group. */
  onGroupChange: ((group: number, joined: boolean) => void) | null = null;

  /** ::1: role ADDRESS, in no list (not an interface address). */
  readonly loopback: number;

  constructor(private readonly table: Ipv6AddressTable) {
    this.loopback = table.intern(LOOPBACK, 0);
    this.setRole(this.loopback, AddressRole.ADDRESS);
  }

  roleOf(id: number): number {
    return id < this.roles.length ? this.roles[id]! : AddressRole.NONE;
  }

  find(id: number): InterfaceAddress | null {
    for (const a of this.list) if (a.id === id) return a;
    return null;
  }

  /** Adds an address (tentative when DAD will run) and joins its solicited-node group; null when it is already there. */
  add(bytes: Uint8Array, prefixLength: number, tentative: boolean, validUntil = Infinity): InterfaceAddress | null {
    const existing = this.table.find(bytes, 0);
    if (existing !== 0 && this.find(existing)) return null;
    const id = this.table.intern(bytes, 0);
    const solicited = this.join(solicitedNodeOf(bytes, 0));
    const a: InterfaceAddress = { id, prefixLength, solicited, tentative, dadLeft: 0, dadDeadline: Infinity, validUntil, advertisementsLeft: 0, advertiseAt: Infinity };
    this.list.push(a);
    this.setRole(id, tentative ? AddressRole.TENTATIVE : AddressRole.ADDRESS);
    if (!tentative) this.markUsable(a);
    return a;
  }

  /** DAD passed: the address may be used. */
  markUsable(a: InterfaceAddress): void {
    a.tentative = false;
    a.dadDeadline = Infinity;
    this.setRole(a.id, AddressRole.ADDRESS);
    if (this.usable.includes(a.id)) return;
    // Link-local first (fe80::/10), then in the order they came.
    if ((this.table.word(a.id, 0) >>> 22) === 0x3fa) this.usable.unshift(a.id);
    else this.usable.push(a.id);
  }

  /** Drops an address (a duplicate, an expired SLAAC one) and its group reference. */
  remove(a: InterfaceAddress): void {
    const i = this.list.indexOf(a);
    if (i < 0) return;
    this.list.splice(i, 1);
    const u = this.usable.indexOf(a.id);
    if (u >= 0) this.usable.splice(u, 1);
    this.setRole(a.id, AddressRole.NONE);
    this.leave(a.solicited);
    this.table.release(a.id);
  }

  /** Joins a group (one more reference); returns its id. */
  join(bytes: Uint8Array): number {
    const id = this.table.intern(bytes, 0);
    const n = this.groups.get(id) ?? 0;
    if (n > 0) this.table.release(id);
    this.groups.set(id, n + 1);
    this.setRole(id, AddressRole.GROUP);
    if (n === 0) this.onGroupChange?.(id, true);
    return id;
  }

  leave(id: number): void {
    const n = this.groups.get(id);
    if (n === undefined) return;
    if (n > 1) { this.groups.set(id, n - 1); return; }
    this.groups.delete(id);
    this.setRole(id, AddressRole.NONE);
    this.onGroupChange?.(id, false);
    this.table.release(id);
  }

  private setRole(id: number, role: number): void {
    if (id >= this.roles.length) {
      const grown = new Uint8Array(Math.max(id + 1, this.roles.length * 2));
      grown.set(this.roles);
      this.roles = grown;
    }
    this.roles[id] = role;
  }
}

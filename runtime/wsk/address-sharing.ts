// Transport-address sharing (docs/wsk-rules.md, R21): the WSK table, enforced by the WSK layer for
// every provider, independent of Linux SO_REUSEADDR semantics. The host may still refuse a bind
// the table allows (the kernel provider cannot share a listening TCP port): that refusal is
// reported as STATUS_ADDRESS_ALREADY_ASSOCIATED, as Windows was observed to do (docs/wsk-rules.md, choice A).
import { STATUS_ACCESS_DENIED, STATUS_ADDRESS_ALREADY_EXISTS, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import { isWildcard, type Endpoint } from '../sockaddr.ts';
import type { EPROCESS, SECURITY_DESCRIPTOR } from './types.ts';

export type SharingMode = 'none' | 'reuse' | 'exclusive';
type Outcome = 'INUSE' | 'SUCCESS' | 'DENIED' | 'CHECK';

// Rows: first socket (mode, W|S); columns: second socket (none W, none S, reuse W, reuse S, excl W, excl S).
const TABLE: Record<string, Outcome[]> = {
  'none,W': ['INUSE', 'SUCCESS', 'INUSE', 'SUCCESS', 'INUSE', 'SUCCESS'],
  'none,S': ['CHECK', 'INUSE', 'CHECK', 'DENIED', 'DENIED', 'INUSE'],
  'reuse,W': ['DENIED', 'SUCCESS', 'SUCCESS', 'SUCCESS', 'DENIED', 'SUCCESS'],
  'reuse,S': ['CHECK', 'DENIED', 'SUCCESS', 'SUCCESS', 'DENIED', 'DENIED'],
  'exclusive,W': ['INUSE', 'INUSE', 'INUSE', 'INUSE', 'INUSE', 'INUSE'],
  'exclusive,S': ['CHECK', 'INUSE', 'CHECK', 'INUSE', 'DENIED', 'INUSE'],
};
const COLUMN: Record<string, number> = { 'none,W': 0, 'none,S': 1, 'reuse,W': 2, 'reuse,S': 3, 'exclusive,W': 4, 'exclusive,S': 5 };

export interface Binding {
  protocol: number;
  endpoint: Endpoint;
  mode: SharingMode;
  securityDescriptor: SECURITY_DESCRIPTOR | null;
  owner: EPROCESS | null;
}

/** The table's verdict for binding `second` while `first` holds the same port. */
export function sharingOutcome(first: Binding, second: Binding): NTSTATUS {
  const w1 = isWildcard(first.endpoint) ? 'W' : 'S';
  const w2 = isWildcard(second.endpoint) ? 'W' : 'S';
  const outcome = TABLE[`${first.mode},${w1}`]![COLUMN[`${second.mode},${w2}`]!]!;
  switch (outcome) {
    case 'SUCCESS': return STATUS_SUCCESS;
    case 'INUSE': return STATUS_ADDRESS_ALREADY_EXISTS;
    case 'DENIED': return STATUS_ACCESS_DENIED;
    case 'CHECK': return accessCheck(first.securityDescriptor, first.owner, second.owner) ? STATUS_SUCCESS : STATUS_ACCESS_DENIED;
  }
}

/** Default SD forbids sharing with anyone but the owner (CON so-exclusiveaddruse). */
function accessCheck(sd: SECURITY_DESCRIPTOR | null, firstOwner: EPROCESS | null, requester: EPROCESS | null): boolean {
  if (!sd) return firstOwner !== null && firstOwner === requester;
  if (sd.Allowed === 'Everyone') return true;
  return requester !== null && (sd.Owner === requester || sd.Allowed.includes(requester));
}

function sameFamilyAndPort(a: Endpoint, b: Endpoint): boolean {
  return a.family === b.family && a.port === b.port;
}

function sameAddress(a: Endpoint, b: Endpoint): boolean {
  return a.address.every((v, i) => v === b.address[i]);
}

/** Bound addresses of one subsystem, keyed by protocol and port. */
export class AddressTable {
  private readonly byPort = new Map<string, Set<Binding>>();

  private key(protocol: number, port: number): string {
    return `${protocol}/${port}`;
  }

  /** STATUS_SUCCESS if `candidate` may be bound next to every current holder of its port. */
  check(candidate: Binding): NTSTATUS {
    if (candidate.endpoint.port === 0) return STATUS_SUCCESS;
    for (const held of this.byPort.get(this.key(candidate.protocol, candidate.endpoint.port)) ?? []) {
      if (!sameFamilyAndPort(held.endpoint, candidate.endpoint)) continue;
      // Two different specific addresses never conflict.
      if (!isWildcard(held.endpoint) && !isWildcard(candidate.endpoint) && !sameAddress(held.endpoint, candidate.endpoint)) continue;
      const status = sharingOutcome(held, candidate);
      if (status !== STATUS_SUCCESS) return status;
    }
    return STATUS_SUCCESS;
  }

  add(binding: Binding): void {
    const k = this.key(binding.protocol, binding.endpoint.port);
    let set = this.byPort.get(k);
    if (!set) this.byPort.set(k, (set = new Set()));
    set.add(binding);
  }

  remove(binding: Binding): void {
    const k = this.key(binding.protocol, binding.endpoint.port);
    const set = this.byPort.get(k);
    if (!set) return;
    set.delete(binding);
    if (set.size === 0) this.byPort.delete(k);
  }
}

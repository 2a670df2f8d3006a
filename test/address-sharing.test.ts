// R21's CHECK cells: the second socket's owner is checked against the first socket's SD.
import { describe, expect, it } from 'vitest';
import { AF_INET, STATUS_ACCESS_DENIED, STATUS_SUCCESS, sharingOutcome, type Binding, type EPROCESS, type SECURITY_DESCRIPTOR } from '../index.ts';

const alice: EPROCESS = { ProcessName: 'alice' };
const bob: EPROCESS = { ProcessName: 'bob' };
const specific = (owner: EPROCESS, sd: SECURITY_DESCRIPTOR | null): Binding => ({
  protocol: 6, mode: 'none', securityDescriptor: sd, owner,
  endpoint: { family: AF_INET, address: Uint8Array.of(127, 0, 0, 1), port: 7000 },
});
const wildcard = (owner: EPROCESS): Binding => ({
  protocol: 6, mode: 'none', securityDescriptor: null, owner,
  endpoint: { family: AF_INET, address: new Uint8Array(4), port: 7000 },
});

describe('address sharing access check (R21 CHECK, R50)', () => {
  it('R21: the default SD lets only the same owner share; an SD can name other processes or Everyone', () => {
    expect(sharingOutcome(specific(alice, null), wildcard(alice))).toBe(STATUS_SUCCESS);
    expect(sharingOutcome(specific(alice, null), wildcard(bob))).toBe(STATUS_ACCESS_DENIED);
    expect(sharingOutcome(specific(alice, { Owner: alice, Allowed: [bob] }), wildcard(bob))).toBe(STATUS_SUCCESS);
    expect(sharingOutcome(specific(alice, { Owner: alice, Allowed: [] }), wildcard(bob))).toBe(STATUS_ACCESS_DENIED);
    expect(sharingOutcome(specific(alice, { Owner: alice, Allowed: 'Everyone' }), wildcard(bob))).toBe(STATUS_SUCCESS);
  });
});

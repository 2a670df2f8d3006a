// Retained chains under ring pressure on the userspace stack: with the held-data table's low-water
// mark near the arena's size, every receive batch copies queued (unpinned) data out of its slots
// and hands the slots back for new frames. Elements an application holds are pinned: the seeded
// release stress of the contract suite (test/contract/release.contract.ts) must find every held
// element's bytes unchanged all the same, and nothing left held at the end.
import { describe, expect, it } from 'vitest';
import { dataStress, datagramStress } from './contract/release.contract.ts';
import { stackTargetWith } from './contract/stack-target.ts';

describe('retained chains under ring pressure (userspace stack)', () => {
  const target = stackTargetWith({ slotCount: 1024 }, (pair) => { pair.a.ip.held.lowWaterSlots = 900; });

  it('seeded datagram chains: queued datagrams are copied out of the ring, held elements never move', async () => {
    await datagramStress(target, 0x13_9e55, 1500);
    expect(target.pair()!.a.ip.held.copyOuts).toBeGreaterThan(0);
  }, 120_000);

  it('seeded data chains: buffered stream chunks are copied out of the ring, held elements never move', async () => {
    await dataStress(target, 0x13_c0de, 1500);
    expect(target.pair()!.a.ip.held.copyOuts).toBeGreaterThan(0);
  }, 120_000);
});

// runtime/ring: the zero-copy buffer ring of the userspace stack (docs/architecture.md §5).
// SlotArena owns the frame memory, DescriptorRing moves slot indices between producer and
// consumer, HeldDataTable lets receive queues and indications keep payload in place.
export { SlotArena, DEFAULT_HEADROOM, DEFAULT_SLOT_SIZE } from './slot-arena.ts';
export type { SlotArenaOptions } from './slot-arena.ts';
export { DescriptorRing } from './descriptor-ring.ts';
export type { DescriptorRingOptions } from './descriptor-ring.ts';
export { HeldDataTable } from './held-data.ts';
export type { HeldDataOptions } from './held-data.ts';

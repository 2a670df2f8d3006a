// Links: the frame-level transports under the userspace stack (docs/architecture.md §2). The contract itself
// lives in runtime/net/device.ts (the stack may not import transports); this module re-exports
// it and adds the middleware base: a link that wraps another link (pcap writer, fault injector)
// and is itself a link, so middlewares stack in any order.
import type { LinkCapabilities, LinkDevice, LinkReceiver, LinkState, LinkStats } from '../runtime/net/device.ts';
import type { SlotArena } from '../runtime/ring/slot-arena.ts';
import type { Clock } from '../runtime/net/clock.ts';

export type { LinkCapabilities, LinkDevice, LinkReceiver, LinkState, LinkStats } from '../runtime/net/device.ts';
export { FrameFlags, newLinkStats } from '../runtime/net/device.ts';

/**
 * Passes everything through. Subclasses override onInnerReceive (frames coming up from the inner
 * link) and/or transmit (frames going down), keeping the ownership rules of device.ts.
 */
export class LinkMiddleware implements LinkDevice, LinkReceiver {
  protected receiver: LinkReceiver | null = null;

  constructor(readonly inner: LinkDevice) {
    inner.attach(this);
  }

  get name(): string { return this.inner.name; }
  get arena(): SlotArena { return this.inner.arena; }
  get clock(): Clock { return this.inner.clock; }
  get mtu(): number { return this.inner.mtu; }
  get mac(): number { return this.inner.mac; }
  get capabilities(): LinkCapabilities { return this.inner.capabilities; }
  get stats(): LinkStats { return this.inner.stats; }
  get state(): LinkState { return this.inner.state ?? 'up'; }
  get framing(): 'ethernet' | 'ip' { return this.inner.framing ?? 'ethernet'; }

  attach(receiver: LinkReceiver | null): void { this.receiver = receiver; }

  onReceive(slots: Int32Array, count: number): void { this.onInnerReceive(slots, count); }

  onLinkState(state: LinkState, reason: string): void { this.receiver?.onLinkState?.(state, reason); }

  relieve(): void { this.receiver?.relieve?.(); }

  protected onInnerReceive(slots: Int32Array, count: number): void {
    if (this.receiver) { this.receiver.onReceive(slots, count); return; }
    this.inner.stats.rxDrops += count;
    for (let i = 0; i < count; i++) this.arena.release(slots[i]!);
  }

  transmit(slots: Int32Array, count: number): void { this.inner.transmit(slots, count); }

  close(): void { this.inner.close(); }

  pollInput(): void { this.inner.pollInput?.(); }
}

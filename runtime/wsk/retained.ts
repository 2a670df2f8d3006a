// The elements of WSK_DATA_INDICATION chains that an application holds (R31–R33;
// "PFN_WSK_RELEASE_DATA_INDICATION_LIST"). WSK_DATAGRAM_INDICATION elements follow the same rules
// ("PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST") through datagram-pool.ts, whose pooled records
// carry their state themselves instead of a Map entry each.
// Ownership is per element, not per chain: WskRelease takes whatever list the application passes —
// the chain as indicated, a sublist, elements relinked in any order, or one element whose Next it
// set to NULL (wireguard-nt and ovpn-dco-win release every datagram so; MsQuic links the ones it
// drops into a list of its own) — and releases exactly those elements. The list is checked first: if any element was never handed out, is
// released already, or the list loops, nothing is released and the call returns
// STATUS_INVALID_PARAMETER.
//
// Elements are recorded when the chain is built, never read back through Next afterwards: a driver
// may reuse Next while it holds an element (wireguard-nt stores its socket pointer there). An
// element may also be released inside the very callback that indicates it (all three drivers drop
// datagrams so, then return STATUS_PENDING for the rest); that takes effect when the callback
// returns, when the provider knows what the application kept.
//
// Re-entrancy: one indication per socket at a time (the socket's `indicating` guard). The
// per-indication arrays are reused, so an indication allocates nothing here; retaining an element
// costs one Map entry.
import { STATUS_INVALID_PARAMETER, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';

interface Linked<E> { Next: E | null }

export class RetainedElements<E extends Linked<E>, V> {
  /** Elements retained by an indication that returned STATUS_PENDING, with what each one holds. */
  private readonly held = new Map<E, V>();
  /** The chain being indicated, in order, and whether each element was released during its callback. */
  private readonly current: E[] = [];
  private readonly releasedEarly: boolean[] = [];

  get size(): number {
    return this.held.size;
  }

  /** Starts recording a chain about to be indicated. */
  begin(): void {
    this.current.length = 0;
    this.releasedEarly.length = 0;
  }

  /** Records the next element of the chain being built. */
  add(element: E): void {
    this.current.push(element);
    this.releasedEarly.push(false);
  }

  /** Once the callback has returned: element i was released inside it (and must not be kept). */
  releasedDuring(i: number): boolean {
    return this.releasedEarly[i] === true;
  }

  /** Once the callback returned STATUS_PENDING: element i stays the application's, holding `value`. */
  keep(i: number, value: V): void {
    this.held.set(this.current[i]!, value);
  }

  /** The indication is over: elements not kept are no longer the application's. */
  end(): void {
    this.begin();
  }

  /**
   * WskRelease: checks the whole list, then releases each element (`give(context, value)` gets
   * what a retained element held; one released inside its callback is only marked). Returns the
   * NTSTATUS. One static `give` and its context instead of a closure: drivers release per packet.
   */
  release<C>(list: E | null, give: (context: C, value: V) => void, context: C): NTSTATUS {
    // Every element must be the application's; a list longer than all it holds has looped.
    const limit = this.held.size + this.current.length;
    let n = 0;
    for (let e = list; e !== null && e !== undefined; e = e.Next) {
      if (++n > limit || !(this.held.has(e) || this.currentIndex(e) >= 0)) return STATUS_INVALID_PARAMETER;
    }
    if (n === 0) return STATUS_INVALID_PARAMETER;
    for (let e = list; e !== null && e !== undefined;) {
      const next = e.Next;
      if (this.held.has(e)) {
        const value = this.held.get(e)!;
        this.held.delete(e);
        give(context, value);
      } else {
        this.releasedEarly[this.currentIndex(e)] = true;
      }
      e = next;
    }
    return STATUS_SUCCESS;
  }

  /** Index of an element of the chain being indicated that is still the application's, or -1. */
  private currentIndex(e: E): number {
    const i = this.current.indexOf(e);
    return i >= 0 && !this.releasedEarly[i] ? i : -1;
  }
}

// Local address-list change notification (SIO_ADDRESS_LIST_CHANGE): one poll timer shared by
// every waiter of a provider, running only while somebody waits.
import type { TransportProvider } from '../provider.ts';
import { endpointAddressString } from '../sockaddr.ts';

const POLL_MS = 1000;
interface Waiter { family: number; snapshot: string; notify: () => void }
const waiters = new Map<TransportProvider, Set<Waiter>>();
let timer: NodeJS.Timeout | null = null;

function snapshot(provider: TransportProvider, family: number): string {
  return provider.localAddresses(family).map(endpointAddressString).sort().join(',');
}

function poll(): void {
  for (const [provider, set] of waiters) {
    for (const w of [...set]) {
      if (snapshot(provider, w.family) !== w.snapshot) { set.delete(w); w.notify(); }
    }
    if (set.size === 0) waiters.delete(provider);
  }
  if (waiters.size === 0 && timer) { clearInterval(timer); timer = null; }
}

/** Calls notify once when the address list of `family` changes; returns a stop function. */
export function watchAddressList(provider: TransportProvider, family: number, notify: () => void): () => void {
  const w: Waiter = { family, snapshot: snapshot(provider, family), notify };
  let set = waiters.get(provider);
  if (!set) waiters.set(provider, (set = new Set()));
  set.add(w);
  if (!timer) { timer = setInterval(poll, POLL_MS); timer.unref(); }
  return () => { waiters.get(provider)?.delete(w); };
}

// A bounded wait: the apps never wait on a peer without a limit.

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Resolves as `p` does, or rejects with TimeoutError("timed out after N ms waiting for <what>"). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]);
}

/** Waits for `p` (its outcome ignored) or `ms`, whichever comes first; the timer does not outlive it. */
export function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.catch(() => {}), new Promise((r) => { timer = setTimeout(r, ms); })]).then(() => clearTimeout(timer));
}

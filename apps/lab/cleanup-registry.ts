// What a lab must not leave behind when its process ends early: its namespaces and the processes
// started in them. labUp and Lab.spawn register an undo here and withdraw it when they are undone
// the normal way (Lab.down, the process exiting). A program that can be interrupted runs what is
// left on its way out: the `wsk` command does on SIGINT, SIGTERM, SIGHUP, an uncaught error and
// any other exit (apps/cli/interrupt.ts). The library installs no handlers of its own: a program
// that embeds it keeps its own signal policy, and calls runCleanups() from it.

interface Entry { what: string; undo(): void }

const pending = new Map<number, Entry>();
let nextKey = 1;

/** Registers `undo` (synchronous, idempotent); the returned function withdraws it. */
export function registerCleanup(what: string, undo: () => void): () => void {
  const key = nextKey++;
  pending.set(key, { what, undo });
  return () => { pending.delete(key); };
}

/** What is registered now, oldest first. */
export function pendingCleanups(): string[] {
  return [...pending.values()].map((e) => e.what);
}

/**
 * Runs every registered undo once, newest first (a lab's processes before the lab), and clears
 * the registry; one undo that fails does not stop the others.
 */
export function runCleanups(): { done: string[]; failed: { what: string; error: string }[] } {
  const entries = [...pending.values()].reverse();
  pending.clear();
  const done: string[] = [];
  const failed: { what: string; error: string }[] = [];
  for (const e of entries) {
    try {
      e.undo();
      done.push(e.what);
    } catch (err) {
      failed.push({ what: e.what, error: (err instanceof Error ? err.message : String(err)).split('\n')[0]! });
    }
  }
  return { done, failed };
}

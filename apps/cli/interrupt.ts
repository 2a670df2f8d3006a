// `wsk lab run` and `wsk demo` create namespaces and start Linux peers (socat, iperf3, nc) in
// them. Ctrl-C, SIGTERM, SIGHUP (the terminal closed), an uncaught error or any other early exit
// must not leave those behind: these run the lab's registered cleanups (apps/lab/cleanup-registry.ts)
// and say what they deleted. What survives a SIGKILL, `wsk lab down --all` deletes.
import { constants } from 'node:os';
import { runCleanups } from '../lab/cleanup-registry.ts';
import type { CliIo } from './main.ts';

function cleanUp(io: CliIo, prefix: string, why: string): void {
  const { done, failed } = runCleanups();
  if (done.length > 0) io.err(`${prefix}: ${why}; cleaned up ${done.join('; ')}`);
  for (const f of failed) io.err(`${prefix}: could not clean up ${f.what}: ${f.error}; see \`wsk lab status\`, then \`wsk lab down <id>\``);
}

/** For a command that makes labs: a signal ends it at once, its labs and their processes deleted. */
export function cleanUpOnInterrupt(io: CliIo, command: string): void {
  io.onSignal((signal) => {
    cleanUp(io, `wsk ${command}`, `${signal}: stopped`);
    // The shell's convention for "ended by a signal": 128 + its number.
    process.exit(128 + (constants.signals[signal] ?? 0));
  });
}

/**
 * For the `wsk` process (main): an uncaught error (after which Node prints it and exits as usual)
 * or any exit still holding a lab deletes it.
 */
export function cleanUpOnExit(io: CliIo): void {
  process.on('uncaughtExceptionMonitor', () => cleanUp(io, 'wsk', 'internal error'));
  process.once('exit', () => cleanUp(io, 'wsk', 'exiting'));
}

// `wsk run ping <address> [-c N] [-i s] [-s bytes] [-W s]` and the pings of `wsk run wireguard
// --ping`: apps/ping on the run's subsystem, iputils' output and exit codes (0: replies came,
// 1: none did, 2: it could not ping at all).
import type { WskSubsystem } from '../../index.ts';
import { ping } from '../ping/ping.ts';
import type { CliIo } from './main.ts';
import type { RunOptions } from './run-command.ts';

/** -i below 0.1 s would flood; iputils refuses it too (for users other than root, under 0.2 s). */
export function checkPingInterval(o: Pick<RunOptions, 'interval'>): string | null {
  return o.interval !== undefined && o.interval < 0.1 ? 'ping: -i must be at least 0.1 seconds' : null;
}

/** Pings `host` on `subsystem` until -c requests were answered or lingered for, or `stop` settles; the exit code. */
export async function runPingCommand(host: string | undefined, o: Pick<RunOptions, 'count' | 'interval' | 'wait' | 'size'>, io: CliIo, subsystem: WskSubsystem,
  stop?: Promise<unknown>): Promise<number> {
  if (!host) { io.err('wsk: ping needs an address: wsk run ping <address> [-c count]'); return 2; }
  try {
    const r = await ping({
      subsystem, host, count: o.count, stop, out: io.out,
      ...(o.interval !== undefined ? { intervalMs: o.interval * 1000 } : {}),
      ...(o.wait !== undefined ? { waitMs: o.wait * 1000 } : {}),
      ...(o.size !== undefined ? { dataLength: o.size } : {}),
    });
    return r.exitCode;
  } catch (err) {
    io.err(`wsk: ping: ${host}: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
}

// `wsk stats [pid]`: the live counters of running `wsk run` processes on the userspace stack.
import { InvalidArgumentError, type Command } from 'commander';
import { formatStats, readStats, runningStatsSockets, statsDirectory, type StatsSnapshot } from './stats.ts';
import type { CliIo } from './main.ts';

export function addStatsCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('stats')
    .description('live counters of running `wsk run` apps on the userspace stack: device frames and drops, stack and TCP counters, per-connection cwnd/RTT')
    .argument('[pid]', 'only this process')
    .option('-w, --watch <seconds>', 'print again every <seconds> until Ctrl-C', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 3600)) throw new InvalidArgumentError('must be a number of seconds from 0.1 to 3600.');
      return n;
    })
    .option('--json', 'print the snapshots as JSON', false)
    .action(async (pid: string | undefined, options: { watch?: number; json: boolean }) => {
      const once = async (): Promise<boolean> => {
        const sockets = runningStatsSockets().filter((s) => pid === undefined || String(s.pid) === pid);
        if (sockets.length === 0) {
          io.err(pid === undefined
            ? `wsk stats: no running app on the userspace stack (in ${statsDirectory()}); start one with wsk run <app> --link afpacket|pcap|raw ...`
            : `wsk stats: process ${pid} is not a running wsk app on the userspace stack`);
          return false;
        }
        const snapshots: StatsSnapshot[] = [];
        for (const s of sockets) {
          try {
            snapshots.push(await readStats(s.path));
          } catch (err) {
            io.err(`wsk stats: pid ${s.pid}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        if (options.json) io.out(JSON.stringify(snapshots));
        else for (const snap of snapshots) for (const line of formatStats(snap)) io.out(line);
        return snapshots.length > 0;
      };
      if (!options.watch) {
        if (!(await once())) setExitCode(1);
        return;
      }
      let stop = false;
      io.onSignal(() => { stop = true; });
      while (!stop) {
        if (!(await once())) { setExitCode(1); return; }
        await new Promise((r) => setTimeout(r, options.watch! * 1000));
      }
    });
}

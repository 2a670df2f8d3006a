// `wsk stats [pid]`: the live counters of running `wsk run` processes on the userspace stack.
import { InvalidArgumentError, type Command } from 'commander';
import { formatStats, readStats, runningStatsSockets, statsDirectory, statsRates, type StatsRates, type StatsSnapshot } from './stats.ts';
import type { CliIo } from './main.ts';

export function addStatsCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('stats')
    .description('live counters of your running `wsk run` apps on the userspace stack: device frames and drops, stack and TCP counters, per-connection cwnd/RTT; with --watch, rates per second too')
    .argument('[pid]', 'only this process')
    .option('-w, --watch <seconds>', 'print again every <seconds> until Ctrl-C, with the rates since the previous round (bit/s, frames/s, segments/s, retransmits/s)', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 3600)) throw new InvalidArgumentError('must be a number of seconds from 0.1 to 3600.');
      return n;
    })
    .option('--json', 'print the snapshots as JSON (with --watch, each with its "rates" since the previous round, null the first time)', false)
    .addHelpText('after', `\nEach app answers on a Unix socket in your own stats directory: $WSK_STATS_DIR, else wsk-stats in\n$XDG_RUNTIME_DIR, else wsk-stats-<uid> in the temporary directory (now: ${statsDirectory()}).\nSo \`wsk stats\` shows the apps of the user who runs it (root's for root).`)
    .action(async (pid: string | undefined, options: { watch?: number; json: boolean }) => {
      const previous = new Map<number, StatsSnapshot>();
      const once = async (): Promise<boolean> => {
        const sockets = runningStatsSockets().filter((s) => pid === undefined || String(s.pid) === pid);
        if (sockets.length === 0) {
          io.err(pid === undefined
            ? `wsk stats: no running app on the userspace stack (in ${statsDirectory()}); start one with wsk run <app> --link afpacket|pcap|raw|memory ...`
            : `wsk stats: process ${pid} is not a running wsk app on the userspace stack (in ${statsDirectory()})`);
          return false;
        }
        const rounds: { snap: StatsSnapshot; rates: StatsRates | null }[] = [];
        for (const s of sockets) {
          try {
            const snap = await readStats(s.path);
            const before = previous.get(snap.pid);
            rounds.push({ snap, rates: before ? statsRates(before, snap) : null });
            previous.set(snap.pid, snap);
          } catch (err) {
            io.err(`wsk stats: pid ${s.pid}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        if (options.json) io.out(JSON.stringify(rounds.map((r) => (options.watch ? { ...r.snap, rates: r.rates } : r.snap))));
        else for (const r of rounds) for (const line of formatStats(r.snap, r.rates)) io.out(line);
        return rounds.length > 0;
      };
      if (!options.watch) {
        if (!(await once())) setExitCode(1);
        return;
      }
      // Ctrl-C ends the wait at once, not after the rest of the interval.
      let stop = false;
      let wake = (): void => {};
      io.onSignal(() => { stop = true; wake(); });
      while (!stop) {
        if (!(await once())) { setExitCode(1); return; }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.watch! * 1000);
          wake = () => { clearTimeout(timer); resolve(); };
        });
      }
    });
}

// `wsk bench`: the benchmark suite (bench/suite.ts) from the command line, or with --loss the
// lossy-path benchmark (bench/loss.bench.ts: iperf3 against Linux with loss from the Linux peer).
import type { Command } from 'commander';
import { integer } from './options.ts';
import { runBenchSuite, teardownLabs } from '../../bench/suite.ts';
import { runLossBench } from '../../bench/loss.bench.ts';
import type { CliIo } from './main.ts';

interface BenchOptions { quick: boolean; loss: boolean; runs?: number; seconds?: number; only?: string; out?: string; readme?: boolean; loopback: boolean }

export function addBenchCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('bench')
    .description('the benchmark suite: node:net, WSK on the kernel provider, WSK on the userspace stack over each link, and iperf3 in one run (throughput both ways, RR p50/p99, connections/s, memory per connection); JSON, SVG chart, README table. With --loss: iperf3 against our server and Linux\'s under loss from the Linux peer')
    .option('--quick', 'short runs for development (not comparable with a full run)', false)
    .option('--loss', 'the lossy-path benchmark instead (bench/loss.bench.ts; root): loss 0.1/1/2 % each way × offloads on/off × both directions', false)
    .option('--runs <n>', 'measured runs per target (--loss: per server and cell); the median is reported', integer(1, 20))
    .option('--seconds <s>', '--loss: iperf3 -t per run (default 3)', integer(1, 60))
    .option('--only <targets>', 'comma-separated targets (node:net, wsk-kernel, wsk-stack-afpacket, wsk-stack-pcap, wsk-stack-raw, iperf3)')
    .option('--out <file>', 'the JSON results file (default bench/results/suite.json, --loss: loss.json); the suite\'s chart goes beside it')
    .option('--readme', 'regenerate the README table from this run (the suite does by default on a full run of every target; --loss only with this)')
    .option('--no-readme', 'do not regenerate the README table')
    .option('--loopback', 'run over loopback even as root (node:net, wsk-kernel and iperf3 only)', false)
    .action(async (o: BenchOptions) => {
      // An interrupted run deletes the lab it made.
      io.onSignal((signal) => { teardownLabs(); io.err(`${signal}: lab deleted, stopping`); process.exit(130); });
      try {
        if (o.loss) {
          const result = await runLossBench({ runs: o.runs, seconds: o.seconds ?? (o.quick ? 1 : undefined), out: o.out, updateReadme: o.readme === true, log: io.out });
          setExitCode(result.cells.some((c) => c.errors.length > 0) ? 1 : 0);
          return;
        }
        const result = await runBenchSuite({
          quick: o.quick, runs: o.runs, only: o.only?.split(',').map((s) => s.trim()).filter(Boolean), out: o.out,
          updateReadme: o.readme, loopback: o.loopback, log: io.out,
        });
        setExitCode(result.targets.some((t) => t.errors.length > 0) ? 1 : 0);
      } catch (err) {
        io.err(`wsk bench: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(2);
      }
    });
}

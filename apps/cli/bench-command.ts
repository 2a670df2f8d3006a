// `wsk bench`: the benchmark suite (bench/suite.ts) from the command line.
import type { Command } from 'commander';
import { integer } from './options.ts';
import { runBenchSuite, teardownLabs } from '../../bench/suite.ts';
import type { CliIo } from './main.ts';

export function addBenchCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('bench')
    .description('the benchmark suite: node:net, WSK on the kernel provider, WSK on the userspace stack over each link, and iperf3 in one run (throughput both ways, RR p50/p99, connections/s, memory per connection); JSON, SVG chart, README table')
    .option('--quick', 'short runs for development (not comparable with a full run)', false)
    .option('--runs <n>', 'measured runs per target; the median is reported', integer(1, 20))
    .option('--only <targets>', 'comma-separated targets (node:net, wsk-kernel, wsk-stack-afpacket, wsk-stack-pcap, wsk-stack-raw, iperf3)')
    .option('--out <file>', 'the JSON results file (default bench/results/suite.json); the chart goes beside it')
    .option('--no-readme', 'do not regenerate the README table (a full run of every target does by default)')
    .option('--loopback', 'run over loopback even as root (node:net, wsk-kernel and iperf3 only)', false)
    .action(async (o: { quick: boolean; runs?: number; only?: string; out?: string; readme: boolean; loopback: boolean }) => {
      // An interrupted run deletes the lab it made.
      io.onSignal((signal) => { teardownLabs(); io.err(`${signal}: lab deleted, stopping`); process.exit(130); });
      try {
        const result = await runBenchSuite({
          quick: o.quick, runs: o.runs, only: o.only?.split(',').map((s) => s.trim()).filter(Boolean), out: o.out,
          updateReadme: o.readme ? undefined : false, loopback: o.loopback, log: io.out,
        });
        setExitCode(result.targets.some((t) => t.errors.length > 0) ? 1 : 0);
      } catch (err) {
        io.err(`wsk bench: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(2);
      }
    });
}

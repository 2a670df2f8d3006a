// `wsk bench`: the benchmark suite (bench/suite.ts) from the command line, or with --loss the
// lossy-path benchmark (bench/loss.bench.ts: iperf3 against Linux with loss from the Linux peer).
//
// The benchmarks are development tools of a clone (they run their peers from TypeScript files, and
// rewrite README.md's tables when asked with --readme): the npm package ships no bench/ and its build compiles none of it, so they are
// loaded by path, only when the TypeScript sources run, and the CLI states the little it uses of
// them here (bench/suite-command.test.ts checks these against the real modules).
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { integer } from './options.ts';
import { COMPILED, packagePath } from '../../runtime/package-root.ts';
import type { CliIo } from './main.ts';

/** What the CLI uses of bench/suite.ts. */
export interface BenchSuiteModule {
  runBenchSuite(options: {
    quick?: boolean; runs?: number; only?: string[]; out?: string; updateReadme?: boolean; loopback?: boolean; log: (line: string) => void;
  }): Promise<{ targets: { errors: unknown[] }[] }>;
  teardownLabs(): void;
}

/** What the CLI uses of bench/loss.bench.ts. */
export interface LossBenchModule {
  runLossBench(options: { runs?: number; seconds?: number; out?: string; updateReadme?: boolean; log: (line: string) => void }): Promise<{ cells: { errors: unknown[] }[] }>;
}

export const BENCH_NEEDS_CLONE = 'the benchmarks run from a clone of the wsk-runtime repository (npm ci, then npx wsk bench there): the npm package does not ship bench/';

async function loadBench(): Promise<{ suite: BenchSuiteModule; loss: LossBenchModule }> {
  const suite = packagePath('bench', 'suite.ts');
  const loss = packagePath('bench', 'loss.bench.ts');
  if (COMPILED || !existsSync(suite) || !existsSync(loss)) throw new Error(BENCH_NEEDS_CLONE);
  return {
    suite: await import(pathToFileURL(suite).href) as BenchSuiteModule,
    loss: await import(pathToFileURL(loss).href) as LossBenchModule,
  };
}

interface BenchOptions { quick: boolean; loss: boolean; runs?: number; seconds?: number; only?: string; out?: string; readme?: boolean; loopback: boolean }

/** `load` is for tests: a fake suite shows what the command asks of it. */
export function addBenchCommand(program: Command, io: CliIo, setExitCode: (code: number) => void, load = loadBench): void {
  program
    .command('bench')
    .description('the benchmark suite: node:net, WSK on the kernel provider, WSK on the userspace stack over each link, and iperf3 in one run (throughput both ways, RR p50/p99, connections/s, memory per connection); a JSON file and an SVG chart (the README table only with --readme). With --loss: iperf3 against our server and Linux\'s under loss from the Linux peer')
    .option('--quick', 'short runs for development (not comparable with a full run)', false)
    .option('--loss', 'the lossy-path benchmark instead (bench/loss.bench.ts; root): loss 0.1/1/2 % each way × offloads on/off × both directions', false)
    .option('--runs <n>', 'measured runs per target (--loss: per server and cell); the median is reported', integer(1, 20))
    .option('--seconds <s>', '--loss: iperf3 -t per run (default 3)', integer(1, 60))
    .option('--only <targets>', 'comma-separated targets (node:net, wsk-kernel, wsk-stack-afpacket, wsk-stack-pcap, wsk-stack-raw, iperf3)')
    .option('--out <file>', 'the JSON results file (default bench/results/suite.json, --loss: loss.json); the suite\'s chart goes beside it')
    .option('--readme', "also rewrite the benchmark table in the clone's README.md from this run (never without this flag; use it on a full run)")
    .option('--no-readme', 'leave README.md alone (the default)')
    .option('--loopback', 'run over loopback even as root (node:net, wsk-kernel and iperf3 only)', false)
    .action(async (o: BenchOptions) => {
      try {
        const { suite, loss } = await load();
        // An interrupted run deletes the lab it made.
        io.onSignal((signal) => { suite.teardownLabs(); io.err(`${signal}: lab deleted, stopping`); process.exit(130); });
        if (o.loss) {
          const result = await loss.runLossBench({ runs: o.runs, seconds: o.seconds ?? (o.quick ? 1 : undefined), out: o.out, updateReadme: o.readme === true, log: io.out });
          setExitCode(result.cells.some((c) => c.errors.length > 0) ? 1 : 0);
          return;
        }
        const result = await suite.runBenchSuite({
          quick: o.quick, runs: o.runs, only: o.only?.split(',').map((s) => s.trim()).filter(Boolean), out: o.out,
          updateReadme: o.readme === true, loopback: o.loopback, log: io.out,
        });
        setExitCode(result.targets.some((t) => t.errors.length > 0) ? 1 : 0);
      } catch (err) {
        io.err(`wsk bench: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(2);
      }
    });
}

// `wsk bench` works end to end (a quick loopback run of two targets): it writes the JSON with
// every metric for each target, ratios against node:net and the chart. No figure is asserted:
// benchmarks are never timed tests; this only keeps the command from rotting.
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addBenchCommand, type BenchSuiteModule, type LossBenchModule } from '../apps/cli/bench-command.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));

// The CLI loads these modules by path and types them by its own interfaces (the package's build
// compiles no bench/); `npx tsc --noEmit` fails here when a module drifts from what the CLI expects.
const cliViewOfTheBench: BenchSuiteModule & LossBenchModule = {} as typeof import('./suite.ts') & typeof import('./loss.bench.ts');
void cliViewOfTheBench;

describe('wsk bench', () => {
  it('rewrites the README only when asked with --readme, for the suite and for --loss', async () => {
    const asked: { which: string; updateReadme: boolean | undefined }[] = [];
    const fake = {
      suite: {
        runBenchSuite: async (o: { updateReadme?: boolean }) => { asked.push({ which: 'suite', updateReadme: o.updateReadme }); return { targets: [] }; },
        teardownLabs: () => {},
      },
      loss: { runLossBench: async (o: { updateReadme?: boolean }) => { asked.push({ which: 'loss', updateReadme: o.updateReadme }); return { cells: [] }; } },
    };
    for (const args of [[], ['--readme'], ['--no-readme'], ['--loss'], ['--loss', '--readme']]) {
      const program = new Command().exitOverride();
      addBenchCommand(program, { out: () => {}, err: () => {}, onSignal: () => {} }, () => {}, async () => fake);
      await program.parseAsync(['bench', ...args], { from: 'user' });
    }
    expect(asked).toEqual([
      { which: 'suite', updateReadme: false }, { which: 'suite', updateReadme: true }, { which: 'suite', updateReadme: false },
      { which: 'loss', updateReadme: false }, { which: 'loss', updateReadme: true },
    ]);
  });

  it('--quick --loopback --only wsk-kernel: node:net and WSK on the kernel provider, every metric, JSON and chart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-bench-'));
    const readme = readFileSync(README, 'utf8');
    try {
      const out = join(dir, 'suite.json');
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [WSK, 'bench', '--quick', '--runs', '1', '--only', 'wsk-kernel', '--loopback', '--out', out], { stdio: 'ignore' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        child.on('close', (c) => { clearTimeout(timer); resolve(c); });
      });
      expect(code).toBe(0);
      const suite = JSON.parse(readFileSync(out, 'utf8')) as { targets: { name: string; skipped: string | null; errors: string[]; metrics: Record<string, { median: number | null; ratio: number | null }>; details: unknown[] }[] };
      const ran = suite.targets.filter((t) => !t.skipped);
      expect(ran.map((t) => t.name)).toEqual(['node:net', 'wsk-kernel']);
      for (const t of ran) {
        expect(t.errors).toEqual([]);
        // A missing figure names itself and what the peer printed (RunDetails.problems).
        for (const key of ['rx', 'tx', 'rrP50', 'rrP99', 'cps', 'memPerConn']) expect(t.metrics[key]!.median, `${t.name} ${key}: ${JSON.stringify(t.details)}`).toBeGreaterThan(0);
      }
      expect(ran[1]!.metrics.cps!.ratio).toBeGreaterThan(0);
      expect(readFileSync(join(dir, 'suite.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      expect(existsSync(join(dir, 'suite.json'))).toBe(true);
      expect(readFileSync(README, 'utf8') === readme, 'README.md left alone without --readme').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

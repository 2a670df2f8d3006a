// CPU time per MiB of TCP over IPv6 against IPv4, on the memory link in virtual time (two
// stacks in this process, zero-copy reads). Wall-clock throughput swings by 2-10x on a shared
// 2-core machine; the process's own CPU time for a fixed amount of work is steadier, and its
// least value over several pieces is what contention cannot inflate. Each run is a fresh
// process (a fresh JIT), alternating families; prints medians and the IPv6 / IPv4 ratio.
//   npx tsx bench/tcp-family-cpu.bench.ts [--runs N] [--pieces N] [--piece-mib N]
//   npx tsx bench/tcp-family-cpu.bench.ts --child 4|6   (one measurement, JSON on stdout)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import { bulkTransfer } from '../apps/lab/stack-pair.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The least CPU µs per MiB over `pieces` transfers of `pieceMiB` each, after a warm-up. */
function measure(family: NetworkFamily, pieces: number, pieceMiB: number): number {
  const t = bulkTransfer(family);
  t.move(64 << 20);
  let best = Infinity;
  for (let k = 0; k < pieces; k++) {
    const c0 = process.cpuUsage();
    t.move(pieceMiB << 20);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / pieceMiB);
  }
  t.close();
  return best;
}

const childAt = process.argv.indexOf('--child');
if (childAt > 0) {
  const family = process.argv[childAt + 1] === '6' ? NetworkFamily.IPV6 : NetworkFamily.IPV4;
  console.log(JSON.stringify({ cpuUsPerMiB: measure(family, arg('pieces', 12), arg('piece-mib', 16)) }));
} else {
  const runs = arg('runs', 5);
  const self = fileURLToPath(import.meta.url);
  const results: Record<'4' | '6', number[]> = { 4: [], 6: [] };
  for (let r = 0; r < runs; r++) {
    for (const f of (r % 2 === 0 ? ['4', '6'] : ['6', '4']) as ('4' | '6')[]) {
      const out = spawnSync(process.execPath, [...process.execArgv, self, '--child', f, '--pieces', String(arg('pieces', 12)), '--piece-mib', String(arg('piece-mib', 16))],
        { encoding: 'utf8', timeout: 300_000 });
      if (out.status !== 0) throw new Error(`child for IPv${f} failed: ${out.stderr}`);
      results[f].push((JSON.parse(out.stdout.trim().split('\n').pop()!) as { cpuUsPerMiB: number }).cpuUsPerMiB);
    }
  }
  const v4 = median(results[4]);
  const v6 = median(results[6]);
  console.log(`TCP bulk on the memory link, least CPU time per MiB of ${arg('pieces', 12)} × ${arg('piece-mib', 16)} MiB, median of ${runs} alternating runs`);
  console.log(`IPv4 ${v4.toFixed(0)} µs/MiB (runs: ${results[4].map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`IPv6 ${v6.toFixed(0)} µs/MiB (runs: ${results[6].map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`IPv6 / IPv4: ${(v6 / v4).toFixed(2)}×`);
}

// The close burst of issue 12 through the command line: `wsk run echosrv --link afpacket` on a lab,
// N Linux clients (test/interop/burst-peer.py) each leave a few echoed bytes unread and all close
// at once (one RST each), then SIGTERM. Printed: the device's receive drops, the connections the
// stack still has (after up to 10 s), and how long the unload took (given up after 30 s). As root:
//   npx tsx bench/close-burst.bench.ts [--clients 1500] [--tree <checkout>]
// --tree runs `wsk` from another checkout (its native addon built), e.g. an older commit for the
// figures before a change; the lab and the peer program are this checkout's.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp } from '../apps/lab/lab.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const CLIENTS = arg('clients', '1500');
const WSK = join(resolve(arg('tree', fileURLToPath(new URL('..', import.meta.url)))), 'apps/cli/wsk.mjs');
const PEER = fileURLToPath(new URL('../test/interop/burst-peer.py', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const lab = labUp();
const statsDir = mkdtempSync(join(tmpdir(), 'wsk-close-burst-'));
const env = { ...process.env, WSK_STATS_DIR: statsDir };
const run = spawn(process.execPath, [WSK, 'run', 'echosrv', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
let err = '';
run.stdout.on('data', (d) => { out += d; });
run.stderr.on('data', (d) => { err += d; });
const exited = new Promise<number | null>((r) => run.on('close', (code) => r(code)));
const snapshot = (): { device: { rxDrops: number }; connections: unknown[] } =>
  JSON.parse(spawnSync(process.execPath, [WSK, 'stats', '--json', String(run.pid)], { env, encoding: 'utf8', timeout: 10_000 }).stdout)[0];
try {
  const listening = Date.now() + 30_000;
  while (!/listening/.test(out)) {
    if (Date.now() > listening || run.exitCode !== null) throw new Error(`wsk did not start: ${out}${err}`);
    await sleep(50);
  }
  const peer = spawnSync('ip', ['netns', 'exec', lab.peerNs, 'python3', PEER, 'close', lab.stackAddress.split('/')[0]!, '40007', CLIENTS], { encoding: 'utf8', timeout: 120_000 });
  let s = snapshot();
  for (const until = Date.now() + 10_000; s.connections.length > 0 && Date.now() < until; s = snapshot()) await sleep(500);
  const signalled = Date.now();
  run.kill('SIGTERM');
  let bound: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'running'>((r) => { bound = setTimeout(() => r('running'), 30_000); })]);
  clearTimeout(bound);
  console.log(JSON.stringify({
    wsk: WSK, clients: Number(CLIENTS), peer: peer.stdout.trim().split('\n').pop(), deviceRxDrops: s.device.rxDrops,
    connectionsLeft: s.connections.length, unload: code === 'running' ? 'still running 30 s after SIGTERM' : `exit ${code} ${Date.now() - signalled} ms after SIGTERM`,
    stderr: err.trim(),
  }));
} finally {
  if (run.exitCode === null && run.signalCode === null) run.kill('SIGKILL');
  lab.down();
  rmSync(statsDir, { recursive: true, force: true });
}

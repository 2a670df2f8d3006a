// `wsk stats` as people use it: every user has a stats directory of their own, so a user's
// `wsk run --link memory` works (and shows in that user's `wsk stats`) after root ran an app, and
// `--watch` prints rates per second. The non-root runs use `setpriv` to uid/gid nobody keeping only
// CAP_DAC_READ_SEARCH (read any file, write none it does not own), so the checkout is readable
// wherever CI put it; the test itself needs root for that (CI runs as root). Everything lives in a
// temporary directory of the test (TMPDIR); only processes started here are ended.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatsRates, StatsSnapshot } from '../apps/cli/stats.ts';
import { until } from './helpers/wsk-call.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const NOBODY = 65534;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search', '--'];

interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

const children: ChildProcess[] = [];
const dirs: string[] = [];

function start(argv: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

const wsk = (args: string[], env: NodeJS.ProcessEnv, asNobody = false): Running =>
  start([...(asNobody ? AS_NOBODY : []), process.execPath, WSK, ...args], env);

/** A temporary directory anyone may create entries in (as /tmp), and an environment that uses it. */
function scratch(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'wsk-stats-test-'));
  dirs.push(dir);
  chmodSync(dir, 0o1777);
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir };
  delete env.WSK_STATS_DIR;
  delete env.XDG_RUNTIME_DIR;
  return { dir, env };
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('wsk stats', () => {
  it('per user: after root ran an app, a non-root user runs one on the memory link, and each sees only their own', async () => {
    expect(process.getuid?.(), 'this test switches to uid nobody with setpriv: run it as root, as CI does').toBe(0);
    const { dir, env } = scratch();
    const rootRun = wsk(['run', 'echosrv', '--link', 'memory'], env);
    expect({ code: await rootRun.exited, err: rootRun.err() }).toEqual({ code: 0, err: '' });
    const rootDir = statSync(join(dir, 'wsk-stats-0'));
    expect({ uid: rootDir.uid, mode: rootDir.mode & 0o777 }).toEqual({ uid: 0, mode: 0o700 });

    // A client test long enough to be asked; bounded by -t and ended by the test once it has answered.
    const userRun = wsk(['run', 'iperf3', '--link', 'memory', '-t', '60', '-b', '10M'], env, true);
    await until(() => /connected to/.test(userRun.out()) || userRun.child.exitCode !== null, 60_000, 'the non-root iperf3 to connect');
    expect(userRun.err()).toBe('');
    const userStats = wsk(['stats', '--json'], env, true);
    expect(await userStats.exited).toBe(0);
    const snaps = JSON.parse(userStats.out()) as StatsSnapshot[];
    expect(snaps.map((s) => [s.pid, s.app])).toEqual([[userRun.child.pid, 'iperf3']]);
    const userDir = statSync(join(dir, `wsk-stats-${NOBODY}`));
    expect({ uid: userDir.uid, mode: userDir.mode & 0o777 }).toEqual({ uid: NOBODY, mode: 0o700 });

    const rootStats = wsk(['stats'], env);
    expect(await rootStats.exited).toBe(1);
    expect(rootStats.err()).toMatch(new RegExp(`no running app on the userspace stack \\(in ${join(dir, 'wsk-stats-0')}\\)`));
    userRun.child.kill('SIGINT');
    await userRun.exited;
  }, 120_000);

  it('--watch: the first round has no rates, later ones the per-second rates since the round before; text has a rates line', async () => {
    const { dir, env } = scratch();
    const statsEnv = { ...env, WSK_STATS_DIR: join(dir, 'stats') };
    const app = wsk(['run', 'iperf3', '--link', 'memory', '-t', '60', '-b', '20M'], statsEnv);
    await until(() => /connected to/.test(app.out()) || app.child.exitCode !== null, 60_000, 'iperf3 to connect');

    const json = wsk(['stats', '--watch', '0.5', '--json'], statsEnv);
    await until(() => json.out().split('\n').length > 3 || json.child.exitCode !== null, 60_000, 'three rounds of --watch --json');
    json.child.kill('SIGINT');
    expect(await json.exited).toBe(0);
    const rounds = json.out().trim().split('\n').map((l) => JSON.parse(l) as (StatsSnapshot & { rates: StatsRates | null })[]);
    expect(rounds[0]!.map((s) => s.rates)).toEqual([null]);
    for (const [snap] of rounds.slice(1, 3)) {
      expect(snap!.pid).toBe(app.child.pid);
      expect(snap!.rates!.seconds).toBeGreaterThan(0);
      // The client sends at 20 Mbit/s and gets ACKs back: both ways move.
      expect(snap!.rates!.txBitsPerSecond).toBeGreaterThan(0);
      expect(snap!.rates!.rxFramesPerSecond).toBeGreaterThan(0);
      expect(snap!.rates!.segmentsOutPerSecond).toBeGreaterThan(0);
      // A rate, not a count of faults: on a busy machine a stalled event loop can let a tail loss
      // probe fire before the ACK that was already on its way is read (a retransmission, legitimately).
      expect(snap!.rates!.retransmitsPerSecond).toBeGreaterThanOrEqual(0);
    }

    const text = wsk(['stats', '--watch', '0.5'], statsEnv);
    await until(() => /rates over/.test(text.out()) || text.child.exitCode !== null, 60_000, 'a rates line');
    text.child.kill('SIGINT');
    expect(await text.exited).toBe(0);
    expect(text.out()).toMatch(/^ {2}rates over \d+\.\d s: rx [\d.]+ [kMG]bit\/s \(\d+ frames\/s\), tx [\d.]+ [kMG]bit\/s \(\d+ frames\/s\); tcp segments in \d+\/s, out \d+\/s, retransmits \d+\/s$/m);
    app.child.kill('SIGINT');
    await app.exited;
  }, 120_000);
});

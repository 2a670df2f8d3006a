// Ctrl-C, SIGTERM and SIGHUP to `wsk lab run` (veth) and `wsk demo` mid-run, and an uncaught error
// in a process holding a lab: the namespaces the run created and the Linux peers it started in them
// (socat, iperf3, nc) are gone afterwards, and stderr says what was cleaned up. Needs root (CI runs
// as root). Each lab id is read from the run's own output; the test deletes only those labs, by
// exact name, also when it fails, and ends only the processes it started.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labDown } from '../../apps/lab/lab.ts';
import { until } from '../helpers/wsk-call.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WSK = join(ROOT, 'apps/cli/wsk.mjs');
const CRASH = fileURLToPath(new URL('./crash-with-lab.ts', import.meta.url));
const VETH_EXPERIMENT = join(ROOT, 'apps/lab/experiments/veth-bulk.json');

interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

const children: ChildProcess[] = [];
const labIds: string[] = [];
const dirs: string[] = [];

function start(args: string[]): Running {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

/** The processes inside a namespace (`ip netns pids`); none once it is gone. */
function pidsIn(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').map(Number).filter((p) => p > 0);
  } catch {
    return [];
  }
}

/** Gone, or a zombie that only waits for init to reap it. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The lab id a run printed ("lab <id>:" or "[1/5] lab <id>:"), registered for deletion. */
function labIdIn(text: string): string | null {
  const id = /\blab ([A-Za-z0-9]{1,12}):/.exec(text)?.[1] ?? null;
  if (id && !labIds.includes(id)) labIds.push(id);
  return id;
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const id of labIds.splice(0)) labDown(id);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function outDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsk-interrupt-'));
  dirs.push(dir);
  return dir;
}

/** Signals it, waits for its exit, and checks that its lab and the processes that were in it are gone. */
async function interruptAndCheck(run: Running, id: string, signal: NodeJS.Signals, command: string, exitCode: number, peers: RegExp): Promise<void> {
  const ns = [`wskA-${id}`, `wskB-${id}`];
  const pids = ns.flatMap(pidsIn);
  expect(pids.length, 'processes in the lab before the signal').toBeGreaterThan(0);
  run.child.kill(signal);
  expect(await run.exited).toBe(exitCode);
  expect(run.err()).toMatch(new RegExp(`wsk ${command}: ${signal}: stopped; cleaned up ${peers.source}.*; lab ${id} \\(namespaces wskA-${id}, wskB-${id}\\)\\n`));
  expect(namespaces().filter((n) => ns.includes(n))).toEqual([]);
  expect(pids.filter(alive)).toEqual([]);
}

describe('an interrupted lab run leaves no lab and no peer behind', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    it(`wsk lab run (veth) and ${signal} while the Linux receiver (socat) runs`, async () => {
      // The example veth experiment made long enough that the signal always comes mid-run.
      const dir = outDir();
      const file = join(dir, 'veth-long.json');
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(VETH_EXPERIMENT, 'utf8')), durationSeconds: 60 }));
      const run = start([WSK, 'lab', 'run', file, '--out', join(dir, 'out')]);
      await until(() => labIdIn(run.out()) !== null || run.child.exitCode !== null, 60_000, 'the lab');
      const id = labIdIn(run.out())!;
      expect(id, run.err()).not.toBeNull();
      await until(() => pidsIn(`wskA-${id}`).length > 0, 30_000, 'socat in the peer namespace', 50);
      await interruptAndCheck(run, id, signal, 'lab run', code, /socat \(pid \d+\) in wskA-\w+/);
    }, 90_000);
  }

  it('wsk demo and SIGINT while Linux iperf3 runs against our server', async () => {
    const run = start([WSK, 'demo', '--seconds', '30', '--out', outDir()]);
    // An iperf3 interval line after step 4 began: the Linux client is mid-test.
    await until(() => /\[4\/5\][\s\S]*sec/.test(run.out()) || run.child.exitCode !== null, 90_000, 'Linux iperf3 mid-test');
    const id = labIdIn(run.out());
    expect(id, run.out() + run.err()).not.toBeNull();
    await interruptAndCheck(run, id!, 'SIGINT', 'demo', 130, /(bash|iperf3) \(pid \d+\) in wskA-\w+/);
  }, 120_000);

  it('an uncaught error in a process holding a lab: Node reports it as usual, and the lab and its peer are gone', async () => {
    const run = start(['--import', 'tsx', CRASH]);
    await until(() => run.out().includes('\n') || run.child.exitCode !== null, 60_000, 'the fixture to start');
    const { id, pid } = JSON.parse(run.out().split('\n')[0]!) as { id: string; pid: number };
    labIds.push(id);
    expect(await run.exited).toBe(1);
    expect(run.err()).toMatch(/Error: crash-with-lab: an error nobody catches/);
    expect(run.err()).toMatch(new RegExp(`wsk: internal error; cleaned up sleep \\(pid ${pid}\\) in wskA-${id}; lab ${id} \\(namespaces wskA-${id}, wskB-${id}\\)`));
    expect(namespaces().filter((n) => n.endsWith(`-${id}`))).toEqual([]);
    expect(alive(pid)).toBe(false);
  }, 60_000);
});

// The main job (`wsk demo`, README's first command after setup): as root on a veth lab with
// Linux nc (over IPv4 and IPv6) and iperf3 against the userspace stack, and on the memory link, each end to end
// through the real command line: exit 0, every check in the table "ok", a capture tcpdump reads,
// and no lab namespace left behind. CI runs as root, so both run there.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labStatus } from '../apps/lab/lab.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const isRoot = process.getuid?.() === 0;

function wskDemo(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WSK, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

function checkResults(dir: string, rows: number): void {
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { rows: { verdict: string }[]; capture: { frames: number } };
  expect(results.rows.map((r) => r.verdict)).toEqual(Array(rows).fill('ok'));
  expect(results.capture.frames).toBeGreaterThan(1000);
  const dump = execFileSync('tcpdump', ['-nr', join(dir, 'session.pcap'), '-c', '50'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  expect(dump).toMatch(/198\.18\.\d+\.\d+\.\d+ > 198\.18\.\d+\.\d+\.\d+: Flags \[S\]/);
}

describe('wsk demo (the main job)', () => {
  it.runIf(isRoot)('as root: Linux nc and iperf3 against echosrv and the iperf3 server on the AF_PACKET link, then our client against iperf3 -s; the lab is gone after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-demo-'));
    try {
      const r = await wskDemo(['--seconds', '1', '--out', dir]);
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
      expect(r.out).toMatch(/all 8 checks passed/);
      expect(r.out).toMatch(/iperf3 TCP -R, server → client +Linux: [\d.]+ [MG]bits\/sec +ours: sent/);
      expect(r.out).toMatch(/torn down/);
      checkResults(dir, 8);
      const id = /\[1\/5\] lab (\w+):/.exec(r.out)![1]!;
      expect(labStatus().map((l) => l.id)).not.toContain(id);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('on the memory link: the same apps between two userspace stacks, every check ok', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-demo-'));
    try {
      const r = await wskDemo(['--memory', '--seconds', '1', '--out', dir]);
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
      expect(r.out).toMatch(/memory link/);
      expect(r.out).toMatch(/all 5 checks passed/);
      checkResults(dir, 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

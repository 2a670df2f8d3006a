// `wsk run echosrv --link ...`: the command line puts the ported sample on the userspace stack on a
// real device, a Linux client talks to it, SIGTERM unloads it, the capture opens in tcpdump; and a
// device that does not exist is one clear line. Needs root (CI runs as root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, type Lab } from '../../apps/lab/lab.ts';

const WSK = fileURLToPath(new URL('../../apps/cli/wsk.mjs', import.meta.url));

interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

function wsk(args: string[]): Running {
  const child = spawn(process.execPath, [WSK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

async function waitFor(what: () => boolean, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function peer(lab: Lab, script: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', lab.peerNs, 'bash', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.on('close', () => resolve(out));
  });
}

describe('wsk run echosrv on a real device', () => {
  let lab: Lab;
  let dir: string;
  beforeAll(() => {
    lab = labUp();
    dir = mkdtempSync(join(tmpdir(), 'wsk-cli-'));
  });
  afterAll(() => {
    lab?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a Linux nc client over the AF_PACKET link, unloads on SIGTERM, and leaves a capture tcpdump reads', async () => {
    const capture = join(dir, 'echosrv.pcap');
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress, '--pcap', capture]);
    try {
      await waitFor(() => /listening/.test(run.out()) || run.child.exitCode !== null, 30_000, 'echosrv to listen');
      expect(run.out()).toMatch(/echosrv listening on \[::\]:40007 \(IPv4, userspace stack 198\.18\.0\.2\/24 on afpacket vb-/);
      const reply = await peer(lab, `echo hello over a real device | nc -N ${lab.stackAddress.split('/')[0]} 40007`);
      expect(reply).toBe('hello over a real device\n');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/echosrv unloaded/);
    const dump = await peer(lab, `tcpdump -nr ${capture} tcp 2>/dev/null | wc -l`);
    expect(Number(dump.trim())).toBeGreaterThanOrEqual(6);
  }, 60_000);

  it('a device that does not exist: exit code 2 and the fix on one line', async () => {
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', 'nosuchdev0', '--ip', lab.stackAddress]);
    expect(await run.exited).toBe(2);
    expect(run.err().trim()).toBe(`wsk: no device 'nosuchdev0' in network namespace ${lab.stackNs}: see \`ip -n ${lab.stackNs} link show\``);
  }, 30_000);
});

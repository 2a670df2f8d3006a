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
const BURST_PEER = fileURLToPath(new URL('./burst-peer.py', import.meta.url));

interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

function wsk(args: string[]): Running {
  return wskEnv(args, process.env);
}

function wskEnv(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [WSK, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
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

  it('wsk run iperf3-server on the AF_PACKET link serves iperf3 -c -R; wsk stats shows the running stack and its connections', async () => {
    const statsDir = join(dir, 'stats');
    const env = { ...process.env, WSK_STATS_DIR: statsDir };
    const run = wskEnv(['run', 'iperf3-server', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress], env);
    try {
      await waitFor(() => /listening/.test(run.out()) || run.child.exitCode !== null, 30_000, 'iperf3-server to listen');
      const address = lab.stackAddress.split('/')[0];
      const test = peer(lab, `iperf3 -c ${address} -t 3 -R -J | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("error", "ok"), int(j["end"]["sum_received"]["bytes"] > 0))'`);
      await new Promise((r) => setTimeout(r, 1500));
      const stats = wskEnv(['stats', '--json'], env);
      expect(await stats.exited).toBe(0);
      const [snap] = JSON.parse(stats.out()) as { pid: number; app: string; device: { rxFrames: number }; connections: { state: string; cwnd: number; srttMs: number; remote: string }[] }[];
      expect(snap!.pid).toBe(run.child.pid);
      expect(snap!.app).toBe('iperf3-server');
      expect(snap!.device.rxFrames).toBeGreaterThan(0);
      // The control connection and the data stream, from the peer, established, with a measured RTT.
      const live = snap!.connections.filter((c) => c.state === 'ESTABLISHED' && c.remote.startsWith(lab.peerAddress.split('/')[0]!));
      expect(live.length).toBeGreaterThanOrEqual(2);
      expect(Math.max(...live.map((c) => c.cwnd))).toBeGreaterThan(10_000);
      expect(Math.max(...live.map((c) => c.srttMs))).toBeGreaterThan(0);
      const text = wskEnv(['stats'], env);
      expect(await text.exited).toBe(0);
      expect(text.out()).toMatch(/iperf3-server on userspace stack .* ESTABLISHED/s);
      expect((await test).trim()).toBe('ok 1');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/test from 198\.18\.\d+\.\d+:\d+: tcp reverse, 1 stream/);
    const none = wskEnv(['stats'], env);
    expect(await none.exited).toBe(1);
    expect(none.err()).toMatch(/no running app on the userspace stack/);
  }, 60_000);

  it('SIGTERM while the peers have vanished (their traffic dropped by nftables): echosrv waits its unload timeout, resets the 20 connections, says so on stderr and exits', async () => {
    // A lab of its own: the peer namespace's firewall is part of the test.
    const vanish = labUp();
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', vanish.stackNs, '--ifname', vanish.stackIf, '--ip', vanish.stackAddress]);
    const clients = vanish.spawn('peer', ['python3', BURST_PEER, 'hold', vanish.stackAddress.split('/')[0]!, '40007', '20']);
    let clientOut = '';
    clients.stdout!.on('data', (d) => { clientOut += d; });
    try {
      await waitFor(() => /listening/.test(run.out()) || run.child.exitCode !== null, 30_000, 'echosrv to listen');
      await waitFor(() => clientOut.includes('"echoed": 20'), 30_000, 'the 20 clients to be echoed');
      // The peers vanish: nothing from or to their namespace passes any more, then they die unseen.
      vanish.exec('peer', ['nft', '-f', '-'], {
        input: 'table inet wskvanish {\n chain in { type filter hook input priority 0; policy drop; }\n chain out { type filter hook output priority 0; policy drop; }\n}\n',
      });
      clients.kill('SIGKILL');
      const signalled = Date.now();
      run.child.kill('SIGTERM');
      let bound: NodeJS.Timeout | undefined;
      const exited = await Promise.race([run.exited, new Promise<'running'>((r) => { bound = setTimeout(() => r('running'), 20_000); })]);
      clearTimeout(bound);
      console.log(`unload with 20 vanished peers: ${exited === 'running' ? 'still running' : 'exited'} ${Date.now() - signalled} ms after SIGTERM`);
      expect(exited, `stdout: ${run.out()}\nstderr: ${run.err()}`).toBe(0);
      expect(run.out()).toMatch(/SIGTERM: unloading echosrv: closing the listener; waiting up to 3 s for 20 open connection\(s\)/);
      expect(run.err()).toMatch(/wsk: echosrv: 3 s after SIGTERM their peers had not closed them: closing 20 open connection\(s\) abortively \(reset\)/);
      expect(run.out()).toMatch(/echosrv unloaded/);
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      if (clients.exitCode === null && clients.signalCode === null) clients.kill('SIGKILL');
      vanish.down();
    }
  }, 90_000);

  it('a device that does not exist: exit code 2 and the fix on one line', async () => {
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', 'nosuchdev0', '--ip', lab.stackAddress]);
    expect(await run.exited).toBe(2);
    expect(run.err().trim()).toBe(`wsk: no device 'nosuchdev0' in network namespace ${lab.stackNs}: see \`ip -n ${lab.stackNs} link show\``);
  }, 30_000);
});

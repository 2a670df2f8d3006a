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
import { readStats, type StatsSnapshot } from '../../apps/cli/stats.ts';

const WSK = fileURLToPath(new URL('../../apps/cli/wsk.mjs', import.meta.url));
const BURST_PEER = fileURLToPath(new URL('./burst-peer.py', import.meta.url));

interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Running {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

function wsk(args: string[]): Running {
  return wskEnv(args, process.env);
}

function wskEnv(args: string[], env: NodeJS.ProcessEnv): Running {
  return start(process.execPath, [WSK, ...args], env);
}

async function waitFor(what: () => boolean | Promise<boolean>, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A bash script in the peer namespace, started now. */
function peerStart(lab: Lab, script: string): Running {
  return start('ip', ['netns', 'exec', lab.peerNs, 'bash', '-c', script]);
}

async function peer(lab: Lab, script: string): Promise<string> {
  const p = peerStart(lab, script);
  await p.exited;
  return p.out();
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

  it('--ip given twice (IPv4 and IPv6): echosrv on [::] serves Linux nc clients over IPv6 and IPv4 on the AF_PACKET link; the listening line names both addresses', async () => {
    const v6lab = labUp({ ipv6: true });
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', v6lab.stackNs, '--ifname', v6lab.stackIf, '--ip', v6lab.stackAddress, '--ip', v6lab.stackAddress6!]);
    try {
      await waitFor(() => /listening/.test(run.out()) || run.child.exitCode !== null, 30_000, 'echosrv to listen');
      expect(run.out()).toMatch(new RegExp(`echosrv listening on \\[::\\]:40007 \\(IPv4 and IPv6, userspace stack ${v6lab.stackAddress} ${v6lab.stackAddress6} on afpacket vb-`));
      const address6 = v6lab.stackAddress6!.split('/')[0]!;
      // The stack's address passes duplicate address detection (about a second) before it answers.
      await waitFor(async () => (await peer(v6lab, `ping -6 -c 1 -W 1 ${address6} >/dev/null && echo up`)).includes('up'), 15_000, 'the stack\'s IPv6 address');
      expect(await peer(v6lab, `echo hello over IPv6 | nc -6 -N ${address6} 40007`)).toBe('hello over IPv6\n');
      expect(await peer(v6lab, `echo hello over IPv4 | nc -4 -N ${v6lab.stackAddress.split('/')[0]} 40007`)).toBe('hello over IPv4\n');
    } finally {
      try {
        // echosrv's unload waits for connected peers: a peer left hanging by a failure must not keep it (and the lab) alive.
        run.child.kill('SIGTERM');
        const unloaded = await Promise.race([run.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
        if (!unloaded) { run.child.kill('SIGKILL'); await run.exited; }
      } finally {
        v6lab.down();
      }
    }
    expect(run.out()).toMatch(/echosrv unloaded/);
  }, 60_000);

  it('wsk run iperf3-server on the AF_PACKET link serves iperf3 -c -R; wsk stats shows the running stack and its connections', async () => {
    const statsDir = join(dir, 'stats');
    const env = { ...process.env, WSK_STATS_DIR: statsDir };
    const run = wskEnv(['run', 'iperf3-server', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress], env);
    try {
      await waitFor(() => /listening/.test(run.out()) || run.child.exitCode !== null, 30_000, 'iperf3-server to listen');
      const address = lab.stackAddress.split('/')[0];
      const peerIp = lab.peerAddress.split('/')[0]!;
      const live = (s: StatsSnapshot) => s.connections.filter((c) => c.state === 'ESTABLISHED' && c.remote.startsWith(peerIp));
      // The client prints its pid first: the test holds it stopped (SIGSTOP) while `wsk stats`
      // reads, so its 3 s test cannot end before a node process started on a busy machine asks.
      // A stopped client only stops reading: the kernel keeps both connections ESTABLISHED (the
      // server sees a zero window), and once continued the client ends the test as usual.
      const json = join(dir, 'iperf3-R.json');
      const client = peerStart(lab, `iperf3 -c ${address} -t 3 -R -J > ${json} & echo $!; wait $!; python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("error", "ok"), int(j["end"]["sum_received"]["bytes"] > 0))' < ${json}`);
      let iperfPid = 0;
      try {
        await waitFor(() => /^\d+\n/.test(client.out()), 30_000, 'the iperf3 client to start');
        iperfPid = Number.parseInt(client.out(), 10);
        // The control connection and the data stream, from the peer, established: read straight
        // from the app's stats socket, so the client is stopped within a poll of its data stream.
        const socket = join(statsDir, `wsk-${run.child.pid}.sock`);
        const connected = (s: StatsSnapshot | null): boolean => s !== null && live(s).length >= 2;
        await waitFor(async () => connected(await readStats(socket).catch(() => null)), 30_000, 'two connections from the iperf3 client');
        process.kill(iperfPid, 'SIGSTOP');
        const stats = wskEnv(['stats', '--json'], env);
        expect(await stats.exited).toBe(0);
        const [snap] = JSON.parse(stats.out()) as StatsSnapshot[];
        expect(snap!.pid).toBe(run.child.pid);
        expect(snap!.app).toBe('iperf3-server');
        expect((snap!.device as { rxFrames: number }).rxFrames).toBeGreaterThan(0);
        const established = live(snap!);
        expect(established.length).toBeGreaterThanOrEqual(2);
        expect(Math.max(...established.map((c) => c.cwnd))).toBeGreaterThan(10_000);
        expect(Math.max(...established.map((c) => c.srttMs))).toBeGreaterThan(0);
        const text = wskEnv(['stats'], env);
        expect(await text.exited).toBe(0);
        expect(text.out()).toMatch(/iperf3-server on userspace stack .* ESTABLISHED/s);
      } finally {
        if (iperfPid) process.kill(iperfPid, 'SIGCONT');
        else client.child.kill('SIGKILL');
      }
      expect(await client.exited).toBe(0);
      expect(client.out().trim().split('\n').pop()).toBe('ok 1');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    // iperf3 -s's report of the test: the client, its stream, what our server sent.
    expect(run.out()).toMatch(/Accepted connection from 198\.18\.\d+\.\d+, port \d+\n\[ {2}1\] local 198\.18\.\d+\.\d+ port 5201 connected to[\s\S]* sender\n/);
    const none = wskEnv(['stats'], env);
    expect(await none.exited).toBe(1);
    expect(none.err()).toMatch(/no running app on the userspace stack/);
  }, 120_000);

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

  it('a bad --ip, --gateway or --pcap on afpacket, pcap and raw: one line with the fix, exit 2, and the process ends (no device left open)', async () => {
    const bad: [string[], string][] = [
      [['--ip', '198.18.0.300/24'], 'wsk: --ip 198.18.0.300/24: Interface address "198.18.0.300/24" is not an IPv4 address; write it as a.b.c.d/nn, e.g. 198.18.0.1/24.'],
      [['--ip', lab.stackAddress, '--gateway', 'gw'], 'wsk: --gateway: Gateway "gw" is not an IPv4 address; write it as a.b.c.d.'],
      [['--ip', lab.stackAddress, '--pcap', join(dir, 'no-such-dir', 'x.pcap')],
        `wsk: --pcap ${join(dir, 'no-such-dir', 'x.pcap')}: directory ${join(dir, 'no-such-dir')} does not exist: create it (mkdir -p ${join(dir, 'no-such-dir')}) or write the capture elsewhere`],
      // Found only once the device is open (its MTU): the device is closed again, or the process would not end.
      [['--ip', lab.stackAddress, '--mtu', '9000'], `wsk: MTU 9000 must be an integer from 576 to the device MTU ${lab.mtu}.`],
    ];
    for (const link of ['afpacket', 'pcap', 'raw']) {
      for (const [options, message] of bad) {
        const run = wsk(['run', 'echosrv', '--link', link, '--netns', lab.stackNs, '--ifname', lab.stackIf, ...options]);
        expect({ link, options, code: await run.exited, err: run.err(), out: run.out() }).toEqual({ link, options, code: 2, err: `${message}\n`, out: '' });
      }
    }
  }, 120_000);

  it('--link raw where the kernel does not own the stack\'s address (raw sockets would see nothing): one line with the fix, exit 2', async () => {
    const run = wsk(['run', 'echosrv', '--link', 'raw', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress]);
    const address = lab.stackAddress.split('/')[0];
    expect({ code: await run.exited, err: run.err(), out: run.out() }).toEqual({
      code: 2, out: '',
      err: `wsk: --link raw: the kernel in ${lab.stackNs} does not own ${address}, and raw IP sockets only see packets it delivers locally: run \`ip -n ${lab.stackNs} addr add ${lab.stackAddress} dev ${lab.stackIf}\` and keep its own replies off the wire with the nftables table rawIpQuietRules() in transports/raw-socket/raw-socket-link.ts\n`,
    });
  }, 30_000);

  it('wsk run iperf3 on the stack against a port nobody serves on the Linux peer: the refusal in words, the NTSTATUS last', async () => {
    const peerIp = lab.peerAddress.split('/')[0]!;
    const run = wsk(['run', 'iperf3', peerIp, '-p', '7', '-t', '1', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress]);
    expect(await run.exited).toBe(1);
    expect(run.err()).toBe(`wsk: iperf3: connection to ${peerIp}:7 refused: nothing listens on port 7 there; start the server first, or check the address and the port (-p) (STATUS_CONNECTION_REFUSED)\n`);
  }, 60_000);

  it('a device that does not exist: exit code 2 and the fix on one line', async () => {
    const run = wsk(['run', 'echosrv', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', 'nosuchdev0', '--ip', lab.stackAddress]);
    expect(await run.exited).toBe(2);
    expect(run.err().trim()).toBe(`wsk: no device 'nosuchdev0' in network namespace ${lab.stackNs}: see \`ip -n ${lab.stackNs} link show\``);
  }, 30_000);
});

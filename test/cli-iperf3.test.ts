// `wsk run iperf3` and `wsk run iperf3-server` through the real command line, as iperf3 users
// call them: -J prints nothing but iperf3's JSON (on the memory link too), --logfile takes the
// output, -V and -f change it, -C names the stack's congestion control, host names resolve,
// `wsk -V` is still the version. Only processes started here are ended, by pid.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stockServer } from './helpers/iperf3-json.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const started = new Set<ChildProcess>();

interface Proc { out: () => string; err: () => string; exited: Promise<number | null> }

function wsk(args: string[]): Proc {
  const child = spawn(process.execPath, [WSK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => { started.delete(child); resolve(code); }));
  return { out: () => out, err: () => err, exited };
}

afterEach(() => {
  for (const child of started) if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  started.clear();
});

describe('wsk run iperf3 as iperf3 users call it', () => {
  it('-J on the memory link: stdout is one JSON document in iperf3\'s layout, the link\'s note goes to stderr', async () => {
    const r = wsk(['run', 'iperf3', '--link', 'memory', '-t', '1', '-J', '-C', 'newreno', '-P', '2']);
    expect(await r.exited).toBe(0);
    const report = JSON.parse(r.out()) as Record<string, any>;
    expect(Object.keys(report)).toEqual(['start', 'intervals', 'end']);
    expect(report.start.test_start).toMatchObject({ protocol: 'TCP', num_streams: 2 });
    expect(report.intervals[0].streams).toHaveLength(2);
    expect(report.end.sender_tcp_congestion).toBe('newreno');
    expect(report.end.sum_received.bytes).toBe(report.end.sum_sent.bytes);
    expect(r.err()).toMatch(/^memory link: iperf3 on 198\.18\.0\.2/);
  }, 30_000);

  it('-R on the memory link (the issue\'s 170000384 vs 165590384 bytes): the sender\'s and the receiver\'s counts are the same bytes', async () => {
    const r = wsk(['run', 'iperf3', '--link', 'memory', '-t', '2', '-R', '-J']);
    expect(await r.exited).toBe(0);
    const end = (JSON.parse(r.out()) as { end: { streams: { sender: { bytes: number }; receiver: { bytes: number } }[]; sum_sent: { bytes: number }; sum_received: { bytes: number } } }).end;
    expect(end.streams[0]!.sender.bytes).toBeGreaterThan(0);
    expect(end.streams[0]!.receiver.bytes).toBe(end.streams[0]!.sender.bytes);
    expect(end.sum_received.bytes).toBe(end.sum_sent.bytes);
  }, 30_000);

  it('localhost against stock iperf3 -s, -V -f m with --logfile: nothing on stdout, iperf3\'s verbose text in the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-iperf3-'));
    const port = await freePort();
    const stock = await stockServer(port);
    try {
      const log = join(dir, 'iperf3.log');
      const r = wsk(['run', 'iperf3', 'localhost', '-p', String(port), '-t', '1', '-V', '-f', 'm', '--logfile', log]);
      expect(await r.exited).toBe(0);
      await stock.done;
      expect(r.out()).toBe('');
      const text = readFileSync(log, 'utf8');
      expect(text).toMatch(/^iperf 3\.12/);
      expect(text).toMatch(new RegExp(`^Connecting to host localhost, port ${port}$`, 'm'));
      expect(text).toMatch(/^Starting Test: protocol: TCP, 1 streams, 131072 byte blocks/m);
      expect(text).toMatch(/^\[ {2}1\] +0\.00-1\.\d\d +sec +[\d.]+ [KMG]?Bytes +[\d.]+ Mbits\/sec .* sender$/m);
      expect(text).toMatch(/^CPU Utilization: local\/sender/m);
      expect(text).toMatch(/\niperf Done\.\n$/);
    } finally {
      stock.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('a failure with -J: iperf3\'s JSON with "error", and the reason on stderr', async () => {
    const port = await freePort();
    const r = wsk(['run', 'iperf3', '127.0.0.1', '-p', String(port), '-t', '1', '-J']);
    expect(await r.exited).toBe(1);
    const report = JSON.parse(r.out()) as { error: string; start: { connected: unknown[] } };
    expect(report.error).toMatch(/unable to connect to 127\.0\.0\.1/);
    expect(report.start.connected).toEqual([]);
    expect(r.err()).toMatch(/wsk: iperf3: connection to 127\.0\.0\.1:\d+ refused: nothing listens/);
  }, 30_000);

  it('-C with a name the stack does not have: the error names the ones it has', async () => {
    const r = wsk(['run', 'iperf3', '--link', 'memory', '-t', '1', '-C', 'bbr']);
    expect(await r.exited).toBe(1);
    expect(r.err()).toMatch(/unable to set the congestion control 'bbr'.*\(the stack has: cubic, newreno/);
  }, 30_000);

  it('wsk -V is still the version; -V after the command is iperf3\'s verbose', async () => {
    const v = wsk(['-V']);
    expect(await v.exited).toBe(0);
    expect(v.out().trim()).toMatch(/^\d+\.\d+\.\d+/);
    const help = wsk(['run', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.out()).toMatch(/-V, --verbose/);
    expect(help.out()).toMatch(/-C, --congestion <algorithm>/);
  }, 30_000);
});

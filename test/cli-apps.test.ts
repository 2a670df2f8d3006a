// `wsk run <app>` for the ported apps on the kernel provider over loopback, each against its real
// peer: the iperf3 client against stock `iperf3 -s`, the HTTP server against curl, the HTTP
// client against python3's http.server, KSOCKET's demo against both. Through the real command
// line; only processes started here are ended, by pid; every wait is bounded.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedBody } from '../apps/http/http-server.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const started = new Set<ChildProcess>();

interface Proc { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

function run(command: string, args: string[], cwd?: string): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => { started.delete(child); resolve(code); }));
  return { child, out: () => out, err: () => err, exited };
}

const wsk = (args: string[]): Proc => run(process.execPath, [WSK, 'run', ...args]);

async function until(what: () => boolean, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A free TCP port on loopback (bound and released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      // ss, not a connection: `iperf3 -s -1` would take a probe for its one test.
      const c = spawn('bash', ['-c', `ss -ltnH 'sport = :${port}' | grep -q LISTEN`], { stdio: 'ignore' });
      c.on('close', (code) => resolve(code === 0));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The records of a classic little-endian pcap file. */
function pcapRecords(file: Buffer): { caplen: number; origlen: number }[] {
  const out: { caplen: number; origlen: number }[] = [];
  for (let p = 24; p + 16 <= file.length;) {
    const caplen = file.readUInt32LE(p + 8);
    out.push({ caplen, origlen: file.readUInt32LE(p + 12) });
    p += 16 + caplen;
  }
  return out;
}

afterEach(() => {
  for (const child of started) if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  started.clear();
});

describe('wsk run <app> on the kernel provider', () => {
  it('wsk run iperf3 <host> -R -P 2 --json against stock iperf3 -s: exit 0 and iperf3-shaped JSON', async () => {
    const port = await freePort();
    const stock = run('iperf3', ['-s', '-1', '-B', '127.0.0.1', '-p', String(port)]);
    await listening(port);
    const client = wsk(['iperf3', '127.0.0.1', '-p', String(port), '-t', '1', '-R', '-P', '2', '--json']);
    expect(await client.exited).toBe(0);
    const report = JSON.parse(client.out()) as { start: { test_start: { num_streams: number; reverse: number } }; end: { sum_received: { bytes: number } } };
    expect(report.start.test_start).toMatchObject({ num_streams: 2, reverse: 1 });
    expect(report.end.sum_received.bytes).toBeGreaterThan(0);
    await stock.exited;
  }, 30_000);

  it('wsk run ping (a raw socket; CI runs as root) to 127.0.0.1 and ::1: iputils\' lines, exit 0; no address: exit 2', async () => {
    for (const [to, header] of [['127.0.0.1', 'PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.'], ['::1', 'PING ::1 (::1) 56 data bytes']]) {
      const r = wsk(['ping', to!, '-c', '2', '-i', '0.1']);
      expect({ to, code: await r.exited, err: r.err() }).toEqual({ to, code: 0, err: '' });
      expect(r.out()).toContain(header);
      expect(r.out()).toMatch(new RegExp(`64 bytes from ${to!.replace(/\./g, '\\.')}: icmp_seq=1 ttl=\\d+ time=`));
      expect(r.out()).toContain('2 packets transmitted, 2 received, 0% packet loss');
    }
    const none = wsk(['ping']);
    expect(await none.exited).toBe(2);
    expect(none.err()).toMatch(/^wsk: ping needs an address: wsk run ping <address>/);
  }, 30_000);

  it('wsk run iperf3 without a server address or against a closed port: what is wrong, nonzero exit', async () => {
    const none = wsk(['iperf3']);
    expect(await none.exited).toBe(2);
    expect(none.err()).toMatch(/iperf3 needs the server address: wsk run iperf3 <address>/);
    const port = await freePort();
    const refused = wsk(['iperf3', '127.0.0.1', '-p', String(port), '-t', '1']);
    expect(await refused.exited).toBe(1);
    expect(refused.err()).toBe(`wsk: iperf3: connection to 127.0.0.1:${port} refused: nothing listens on port ${port} there; start the server first, or check the address and the port (-p) (STATUS_CONNECTION_REFUSED)\n`);
    const get = wsk(['http-get', `http://127.0.0.1:${port}/`]);
    expect(await get.exited).toBe(1);
    expect(get.err()).toBe(`wsk: http-get: connection to 127.0.0.1:${port} refused: nothing listens on port ${port} there; start the server first, or check the address and the port (-p) (STATUS_CONNECTION_REFUSED)\n`);
  }, 30_000);

  it('a server on a port in use: one line with the address, the fix and the NTSTATUS last; exit 1', async () => {
    // Held by a listener of this test on [::] (what the apps bind), released at the end.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '::', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      for (const app of ['iperf3-server', 'echosrv', 'http-server']) {
        const r = wsk([app, '-p', String(port)]);
        expect({ app, code: await r.exited, out: r.out() }).toEqual({ app, code: 1, out: '' });
        expect(r.err()).toMatch(new RegExp(`^wsk: ${app}: address \\[::\\]:${port} already in use: pick another port with -p, or stop the program that holds it \\(STATUS_ADDRESS_ALREADY_(ASSOCIATED|EXISTS)\\)\n$`));
      }
    } finally {
      holder.close();
    }
  }, 60_000);

  it('wsk run http-server: curl fetches a generated body and a file from --root; SIGTERM stops it with a count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-http-'));
    try {
      writeFileSync(join(dir, 'hello.txt'), 'hello from a file\n');
      const port = await freePort();
      const server = wsk(['http-server', '-p', String(port), '--root', dir]);
      await until(() => /listening/.test(server.out()), 20_000, 'http-server to listen');
      const curl = run('curl', ['-sf', `http://127.0.0.1:${port}/files/hello.txt`, '-o', join(dir, 'a'), `http://127.0.0.1:${port}/bytes/100000`, '-o', join(dir, 'b')]);
      expect(await curl.exited).toBe(0);
      expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('hello from a file\n');
      expect(readFileSync(join(dir, 'b'))).toEqual(Buffer.from(generatedBody(100000)));
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.out()).toMatch(/served 2 request\(s\) on 1 connection\(s\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('wsk run http-get fetches from python3 http.server into --output; a 404 exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-get-'));
    try {
      const body = Buffer.from(generatedBody(300_000));
      writeFileSync(join(dir, 'data.bin'), body);
      const port = await freePort();
      run('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], dir);
      await listening(port);
      const get = wsk(['http-get', `http://127.0.0.1:${port}/data.bin`, '-o', join(dir, 'got.bin')]);
      expect(await get.exited).toBe(0);
      expect(get.err()).toMatch(/HTTP 200 OK, 300000 bytes/);
      expect(readFileSync(join(dir, 'got.bin'))).toEqual(body);
      const missing = wsk(['http-get', `http://127.0.0.1:${port}/nothing-here`]);
      expect(await missing.exited).toBe(1);
      expect(missing.err()).toMatch(/HTTP 404/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('wsk run ksocket-demo: KSOCKET\'s HTTP GET against python3 http.server, then its TCP server greets a python3 client', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-ks-'));
    try {
      writeFileSync(join(dir, 'uuid'), '{"uuid": "lab"}\n');
      const httpPort = await freePort();
      run('python3', ['-m', 'http.server', String(httpPort), '--bind', '127.0.0.1'], dir);
      await listening(httpPort);
      const serverPort = await freePort();
      const demo = wsk(['ksocket-demo', `127.0.0.1:${httpPort}`, '-p', String(serverPort)]);
      await until(() => /TCP server listening/.test(demo.out()) || demo.child.exitCode !== null, 20_000, 'the demo server');
      const client = run('python3', ['-c', `import socket; s = socket.create_connection(("127.0.0.1", ${serverPort})); s.sendall(b"HELLO"); print(s.recv(64))`]);
      expect(await client.exited).toBe(0);
      expect(client.out()).toMatch(/Hello from WSK!/);
      expect(await demo.exited).toBe(0);
      expect(demo.out()).toMatch(/HTTP\/1\.0 200 OK[\s\S]*"uuid": "lab"[\s\S]*HELLO/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('--pcap on the memory link: --snaplen and --max-frames bound the capture, --max-bytes caps the file, stderr says it was cut short', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsk-cap-'));
    try {
      const frames = join(dir, 'frames.pcap');
      const byFrames = wsk(['iperf3', '--link', 'memory', '-t', '1', '--pcap', frames, '--snaplen', '96', '--max-frames', '50']);
      expect(await byFrames.exited).toBe(0);
      const records = pcapRecords(readFileSync(frames));
      expect(records.length).toBe(50);
      expect(Math.max(...records.map((r) => r.caplen))).toBeLessThanOrEqual(96);
      expect(Math.max(...records.map((r) => r.origlen))).toBeGreaterThan(1000); // data segments, cut to 96 bytes
      expect(byFrames.err()).toBe(`wsk: capture ${frames} holds the first 50 frames (${readFileSync(frames).length} bytes): a --max-frames/--max-bytes limit stopped it; raise the limit (0: none) or lower --snaplen\n`);

      const bytes = join(dir, 'bytes.pcap');
      const byBytes = wsk(['iperf3', '--link', 'memory', '-t', '1', '--pcap', bytes, '--max-bytes', '64K']);
      expect(await byBytes.exited).toBe(0);
      const size = readFileSync(bytes).length;
      expect(size).toBeLessThanOrEqual(65536);
      // Filled up to the last record that fit: frames on the memory link are at most 1514 bytes.
      expect(size).toBeGreaterThan(65536 - 16 - 1514);
      expect(byBytes.err()).toMatch(/^wsk: capture .*bytes\.pcap holds the first \d+ frames \(\d+ bytes\): a --max-frames\/--max-bytes limit stopped it/);
      const dump = run('tcpdump', ['-nr', bytes]);
      expect(await dump.exited).toBe(0);
      expect(dump.out().trim().split('\n').length).toBe(pcapRecords(readFileSync(bytes)).length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('capture options without --pcap, or --pcap on the kernel provider: what to do, exit 2; --help states the default cap', async () => {
    const noPcap = wsk(['echosrv', '--link', 'memory', '--snaplen', '96']);
    expect(await noPcap.exited).toBe(2);
    expect(noPcap.err()).toMatch(/^wsk: --snaplen limits the capture: give --pcap <file> too\n/);
    const maxBytes = wsk(['echosrv', '--link', 'memory', '--max-bytes', '1M']);
    expect(await maxBytes.exited).toBe(2);
    expect(maxBytes.err()).toMatch(/^wsk: --max-bytes limits the capture: give --pcap <file> too\n/);
    const kernel = wsk(['echosrv', '--pcap', join(tmpdir(), 'never-written.pcap')]);
    expect(await kernel.exited).toBe(2);
    expect(kernel.err()).toMatch(/^wsk: --pcap captures the userspace stack's link: run the app on it \(--link \.\.\.\)/);
    const help = wsk(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.out().replace(/\s+/g, ' ')).toMatch(/--pcap <file> write a capture of everything the stack sends and receives \(stops at 100 MiB unless --max-bytes says otherwise\)/);
  }, 30_000);

  it('--ip once per address: IPv4 and IPv6 values are taken together; a bad one, an IPv6-only list or a second IPv4 address on another prefix is one line naming the value and the fix, exit 2, before any device opens', async () => {
    const device = ['echosrv', '--link', 'afpacket', '--ifname', 'wsk-no-such-if'];
    const cases: [string[], RegExp][] = [
      [['--ip', '198.18.0.2/24', '--ip', 'fd00:198:18::zz/64'], /^wsk: --ip fd00:198:18::zz\/64: .* e\.g\. fd00:198:18::2\/64\.\n$/],
      [['--ip', 'fd00:198:18::2/64'], /^wsk: --ip: the stack needs an IPv4 address too: add --ip a\.b\.c\.d\/nn \(e\.g\. --ip 198\.18\.0\.2\/24 --ip fd00:198:18::2\/64\)\n$/],
      [['--ip', '198.18.0.2/24', '--ip', '198.18.0.3/16'], /^wsk: --ip 198\.18\.0\.3\/16: a second IPv4 address shares the first one's subnet \(\/24\): write 198\.18\.0\.3\/24\n$/],
      [['--ip', '198.18.0.2/40'], /^wsk: --ip 198\.18\.0\.2\/40: Prefix length .*\n$/],
    ];
    for (const [ip, message] of cases) {
      const p = wsk([...device, ...ip]);
      expect(await p.exited).toBe(2);
      expect(p.err()).toMatch(message);
    }
    // Both families accepted: what fails now is the device, which does not exist.
    const both = wsk([...device, '--ip', '198.18.0.2/24', '--ip', 'fd00:198:18::2/64', '--ip', '198.18.0.3']);
    expect(await both.exited).toBe(2);
    expect(both.err()).toMatch(/wsk-no-such-if/);
    expect(both.err()).not.toMatch(/--ip/);
  }, 30_000);

  it('--link memory: every app runs on the userspace stack with its peer on the second stack in the process, and exits 0', async () => {
    const runs: [string[], RegExp][] = [
      [['echosrv'], /memory peer: echoed 1048576 random bytes intact[\s\S]*echosrv unloaded/],
      // The first interval ends when its tick runs: 1.00 s, later on a busy machine.
      [['iperf3-server', '-t', '2', '-R'], /\[ {2}1\] {3}0\.00-1\.\d\d {3}sec .*bits\/sec +\d+ +[\d.]+ [KMG]?Bytes[\s\S]*\[ {2}1\] {3}0\.00-2\.\d\d {3}sec .* sender[\s\S]*memory peer: \[ {2}1\] .* receiver/],
      [['iperf3', '-t', '1', '-u', '-b', '50M'], /connected to 198\.18\.0\.1 port 5201[\s\S]*0\/\d+ \(0%\) +receiver/],
      [['http-server'], /memory peer: GET \/chunked\/100000: HTTP 200 OK, 100000 bytes \(same connection\)/],
      [['ksocket-demo'], /\{"uuid":"[0-9a-f-]{36}"\}[\s\S]*answered "Hello from WSK!"/],
      [['ping', '-c', '2', '-i', '0.1'], /64 bytes from 198\.18\.0\.1: icmp_seq=2 ttl=64 time=[\s\S]*2 packets transmitted, 2 received, 0% packet loss/],
    ];
    for (const [args, expected] of runs) {
      const r = wsk([...args, '--link', 'memory']);
      expect({ args, code: await r.exited, err: r.err() }).toEqual({ args, code: 0, err: '' });
      expect(r.out()).toMatch(expected);
    }
  }, 60_000);
});

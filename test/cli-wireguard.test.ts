// `wsk run wireguard` through the real command line, without a lab: a bad configuration or option
// is one line on stderr saying the fix, exit 2, before any socket is opened; a good one runs on the
// kernel provider (no traffic: its peer has no endpoint) until Ctrl-C, which stops it cleanly.
// Only processes started here are ended, by pid; every wait is bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKey, generatePrivateKey, publicKeyOf } from '../apps/wireguard/crypto/x25519.ts';
import { until } from './helpers/wsk-call.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));

function wsk(args: string[]) {
  const child = spawn(process.execPath, [WSK, 'run', 'wireguard', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WSK_STATS_DIR: dir } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

let dir = '';
const good = (): string => [
  '[Interface]', `PrivateKey = ${formatKey(generatePrivateKey())}`, 'Address = 198.19.0.2/24', '',
  '[Peer]', `PublicKey = ${formatKey(publicKeyOf(generatePrivateKey()))}`, 'AllowedIPs = 198.19.0.1/32', '',
].join('\n');

describe('wsk run wireguard: options and configuration', () => {
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'wsk-wg-cli-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bad: [string, () => string[], RegExp][] = [
    ['no --conf', () => [], /^wsk: wireguard: no configuration: give --conf <wg-quick file>/],
    ['a file that does not exist', () => ['--conf', join(dir, 'missing.conf')], /^wsk: wireguard: --conf .*missing\.conf: cannot read it \(ENOENT\)/],
    ['a malformed PrivateKey', () => { const f = join(dir, 'badkey.conf'); writeFileSync(f, '[Interface]\nPrivateKey = not-a-key\n'); return ['--conf', f]; }, /^wsk: wireguard: .*badkey\.conf line 2: /],
    ['an IPv6-only Address', () => { const f = join(dir, 'v6.conf'); writeFileSync(f, good().replace('198.19.0.2/24', 'fd00:198:18::2/64')); return ['--conf', f]; }, /inner stack needs an IPv4 one too: add it, e\.g\. "Address = 198\.19\.0\.2\/24, fd00:198:19::2\/64"/],
    ['--ping of a name', () => { const f = join(dir, 'ok3.conf'); writeFileSync(f, good()); return ['--conf', f, '--ping', '198.19.0.1,peer.example']; }, /^wsk: wireguard: --ping peer\.example: not an IPv4 or IPv6 address/],
    ['--ping of an IPv6 address in a tunnel without one', () => { const f = join(dir, 'ok4.conf'); writeFileSync(f, good()); return ['--conf', f, '--ping', 'fd00:198:19::1']; }, /^wsk: wireguard: --ping fd00:198:19::1: the tunnel has no IPv6 address: add one/],
    ['--tun with --serve', () => { const f = join(dir, 'ok6.conf'); writeFileSync(f, good()); return ['--conf', f, '--tun', 'wg9', '--serve', 'echosrv']; }, /^wsk: wireguard: --tun wg9: the tunnel ends in the host's own stack, .*drop --serve and --ping/],
    ['--tun with a name no device can have', () => { const f = join(dir, 'ok7.conf'); writeFileSync(f, good()); return ['--conf', f, '--tun', 'a/b']; }, /^wsk: wireguard: --tun a\/b: not a device name/],
    ['--ping -i 0', () => { const f = join(dir, 'ok5.conf'); writeFileSync(f, good()); return ['--conf', f, '--ping', '198.19.0.1', '-i', '0']; }, /^wsk: wireguard: ping: -i must be at least 0\.1 seconds/],
    ['--serve of an app that does not serve', () => { const f = join(dir, 'ok1.conf'); writeFileSync(f, good()); return ['--conf', f, '--serve', 'echosrv,iperf3']; }, /^wsk: wireguard: --serve iperf3: .* choose from echosrv, iperf3-server, http-server/],
    ['--link memory', () => { const f = join(dir, 'ok2.conf'); writeFileSync(f, good()); return ['--conf', f, '--link', 'memory']; }, /^wsk: wireguard: the memory link has no outside peer/],
  ];
  for (const [what, args, message] of bad) {
    it(`${what}: one line saying the fix, exit 2`, async () => {
      const r = wsk(args());
      expect(await r.exited).toBe(2);
      expect(r.err()).toMatch(message);
      expect(r.err().trim().split('\n')).toHaveLength(1);
      expect(r.out()).toBe('');
    }, 30_000);
  }

  it('a good file runs on the kernel provider with echosrv inside the tunnel until Ctrl-C, which stops it cleanly', async () => {
    const f = join(dir, 'good.conf');
    writeFileSync(f, good());
    const r = wsk(['--conf', f, '--serve', 'echosrv']);
    try {
      await until(() => /echosrv serving inside the tunnel at 198\.19\.0\.2/.test(r.out()) || r.child.exitCode !== null, 30_000, 'the interface to start');
      expect(r.out()).toMatch(/^wireguard wg0: listening on port \d+ \(provider kernel\), tunnel address 198\.19\.0\.2\/24, 1 peer\(s\); Ctrl-C to stop/);
    } finally {
      r.child.kill('SIGINT');
    }
    expect(await r.exited).toBe(0);
    expect(r.err()).toBe('');
  }, 40_000);

  it('--ping without --serve: the run ends with the pings; a peer that never answers (it has no endpoint) is 100% loss, exit 1', async () => {
    const f = join(dir, 'ping.conf');
    writeFileSync(f, good());
    const r = wsk(['--conf', f, '--ping', '198.19.0.1', '-c', '2', '-i', '0.1', '-W', '1']);
    expect(await r.exited).toBe(1);
    expect(r.out()).toContain('PING 198.19.0.1 (198.19.0.1) 56(84) bytes of data.');
    expect(r.out()).toContain('--- 198.19.0.1 ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss');
    expect(r.err()).toBe('');
  }, 40_000);
});

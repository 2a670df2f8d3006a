// `wsk run wireguard --conf <file> --tun <name>` against stock wireguard-go + wg, as root, on a
// veth lab (apps/lab): the tunnel ends in a TUN device of the stack namespace's own kernel instead
// of an inner userspace stack, so Linux's tools use it. wireguard-go in the peer namespace (outer
// 198.18.0.1, tunnel 198.19.0.1 and fd00:198:19::1); our interface on the kernel provider in the
// stack namespace (outer 198.18.0.2), its TUN device given 198.19.0.2/24 and fd00:198:19::2/64.
// Through the tunnel, both families, both ways: wireguard-go's side pings the stack namespace's
// kernel, and that kernel pings wireguard-go's side; a Linux TCP client's 4 MiB comes back intact
// from a python3 echo server behind the TUN device. SIGTERM stops the run and the device is gone.
// The lab, with wireguard-go and everything else in its namespaces, is deleted by name at the end;
// our `wsk` is ended by pid.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUp, type Lab } from '../../apps/lab/lab.ts';
import { formatKey, generatePrivateKey, publicKeyOf } from '../../apps/wireguard/crypto/x25519.ts';
import { until } from '../helpers/wsk-call.ts';
import { OUR_INNER, OUR_INNER6, THEIR_INNER, THEIR_INNER6, WG_PORT, WSK, echoClient, inNs, start, type Running } from '../helpers/wireguard-lab.ts';

// One python3 echo server (one connection, then it exits) and one client sending 4 MiB, compared by SHA-256.
const ECHO_SERVER = (host: string) => `
import socket
l = socket.socket(socket.AF_INET6 if ':' in '${host}' else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('${host}', 40009)); l.listen(1); print('listening', flush=True)
c, _ = l.accept()
while True:
    b = c.recv(1 << 16)
    if not b: break
    c.sendall(b)
c.close()
`;
describe('wsk run wireguard --tun: the tunnel in the host\'s own stack, against wireguard-go', () => {
  let lab: Lab;
  let dir: string;
  let run: Running;
  let tunName = '';
  const ourKey = generatePrivateKey();
  const theirKey = generatePrivateKey();

  beforeAll(async () => {
    lab = labUp();
    dir = mkdtempSync(join(tmpdir(), 'wsk-wg-tun-'));
    const ourOuter = lab.stackAddress.split('/')[0]!;
    const theirOuter = lab.peerAddress.split('/')[0]!;
    const wgIf = `wgg${lab.id}`.slice(0, 15);
    tunName = `wgt${lab.id}`.slice(0, 15);
    writeFileSync(join(dir, 'theirs.conf'), [
      '[Interface]', `PrivateKey = ${formatKey(theirKey)}`, `ListenPort = ${WG_PORT}`, '',
      '[Peer]', `PublicKey = ${formatKey(publicKeyOf(ourKey))}`, `AllowedIPs = ${OUR_INNER}/32, ${OUR_INNER6}/128`, `Endpoint = ${ourOuter}:${WG_PORT}`, '',
    ].join('\n'));
    lab.spawn('peer', ['wireguard-go', '-f', wgIf]);
    await until(() => existsSync(`/var/run/wireguard/${wgIf}.sock`), 10_000, 'wireguard-go to start');
    lab.exec('peer', ['wg', 'setconf', wgIf, join(dir, 'theirs.conf')]);
    lab.exec('peer', ['ip', 'addr', 'add', `${THEIR_INNER}/24`, 'dev', wgIf]);
    lab.exec('peer', ['ip', '-6', 'addr', 'add', `${THEIR_INNER6}/64`, 'dev', wgIf, 'nodad']);
    lab.exec('peer', ['ip', 'link', 'set', wgIf, 'up']);
    const conf = join(dir, 'ours.conf');
    writeFileSync(conf, [
      '[Interface]', `PrivateKey = ${formatKey(ourKey)}`, `ListenPort = ${WG_PORT}`, `Address = ${OUR_INNER}/24, ${OUR_INNER6}/64`, '',
      '[Peer]', `PublicKey = ${formatKey(publicKeyOf(theirKey))}`, `AllowedIPs = ${THEIR_INNER}/32, ${THEIR_INNER6}/128`, `Endpoint = ${theirOuter}:${WG_PORT}`, '',
    ].join('\n'));
    // The kernel provider uses the stack namespace's sockets: its kernel gets the outer address.
    lab.exec('stack', ['ip', 'addr', 'add', lab.stackAddress, 'dev', lab.stackIf]);
    run = start('ip', ['netns', 'exec', lab.stackNs, process.execPath, WSK, 'run', 'wireguard', '--conf', conf, '--tun', tunName],
      { ...process.env, WSK_STATS_DIR: join(dir, 'stats') });
    await until(() => /Ctrl-C to stop/.test(run.out()) || run.child.exitCode !== null, 30_000, 'wsk run wireguard --tun to start');
    expect(run.err()).toBe('');
    expect(run.out()).toContain(`TUN device ${tunName} with ${OUR_INNER}/24, ${OUR_INNER6}/64`);
  }, 90_000);

  afterAll(async () => {
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGTERM');
      await Promise.race([run.exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    lab?.down();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  for (const [family, ours, theirs] of [['IPv4', OUR_INNER, THEIR_INNER], ['IPv6', OUR_INNER6, THEIR_INNER6]] as const) {
    it(`${family}: wireguard-go's side pings the stack namespace's kernel through our tunnel, and that kernel pings back through it`, async () => {
      const there = await inNs(lab.peerNs, ['ping', '-c', '3', '-i', '0.2', '-W', '5', ours]);
      expect(there.out).toContain('3 packets transmitted, 3 received');
      const back = await inNs(lab.stackNs, ['ping', '-c', '3', '-i', '0.2', '-W', '5', theirs]);
      expect(back.out).toContain('3 packets transmitted, 3 received');
    }, 40_000);

    it(`${family}: a Linux TCP client's 4 MiB comes back intact from an echo server behind the TUN device`, async () => {
      const server = start('timeout', ['100', 'ip', 'netns', 'exec', lab.stackNs, 'python3', '-c', ECHO_SERVER(ours)]);
      try {
        await until(() => /listening/.test(server.out()) || server.child.exitCode !== null, 20_000, 'the echo server');
        const r = await inNs(lab.peerNs, ['python3', '-c', echoClient(ours, 40009, 1)], 90_000);
        expect(r.err).toBe('');
        expect(r.out.trim()).toBe(`${4 << 20} True`);
      } finally {
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    }, 100_000);
  }

  it('wsk stats shows wg show\'s text for the interface: the peer, its endpoint, a handshake and transfer', async () => {
    const stats = start(process.execPath, [WSK, 'stats'], { ...process.env, WSK_STATS_DIR: join(dir, 'stats') });
    expect(await stats.exited).toBe(0);
    const text = stats.out();
    expect(text).toContain(`TUN device ${tunName}`);
    expect(text).toContain(`peer: ${formatKey(publicKeyOf(theirKey))}`);
    expect(text).toContain(`endpoint: ${lab.peerAddress.split('/')[0]}:${WG_PORT}`);
    expect(text).toMatch(/latest handshake: \d+ (second|minute)s? ago/);
    expect(text).toMatch(/transfer: [\d.]+ MiB received, [\d.]+ MiB sent/);
  }, 30_000);

  it('SIGTERM stops the run (exit 0) and the TUN device is gone', async () => {
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.err()).toBe('');
    const link = await inNs(lab.stackNs, ['ip', 'link', 'show', tunName]);
    expect(link.code).not.toBe(0);
  }, 30_000);
});

// `wsk run wireguard --conf <file> --serve echosrv,iperf3-server` against stock wireguard-go + wg,
// as root, on a veth lab (apps/lab): wireguard-go in the lab's peer namespace (outer 198.18.0.1,
// tunnel 198.19.0.1 and fd00:198:19::1), our interface in the stack namespace (outer 198.18.0.2,
// tunnel 198.19.0.2 and fd00:198:19::2), once on the kernel provider (the address then on the
// kernel's veth end) and once on the userspace stack over AF_PACKET. From the Linux side, through
// the tunnel: ping and ping -6 (answered by our inner stack), 4 × 4 MiB echoed intact by echosrv
// over IPv4 and 4 MiB over IPv6, stock `iperf3 -c` for 2 s each way against our iperf3 server;
// `wsk stats` shows the peer's handshake, transfer and endpoint; from our side `wsk run wireguard
// --ping` to both of wireguard-go's tunnel addresses, answered by Linux; on both providers
// also an IPv6 outer endpoint (fd00:198:18::/64 on the veth: the kernel's address, or the
// userspace stack's own). On the kernel
// provider wireguard-go starts the handshake (it alone knows an endpoint); on the stack our side
// does (only it knows one; PersistentKeepalive starts it at once). Each lab, with wireguard-go
// and everything else in its namespaces, is deleted by name at the end; our `wsk` is ended by pid.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUp, type Lab } from '../../apps/lab/lab.ts';
import { formatKey, generatePrivateKey, publicKeyOf } from '../../apps/wireguard/crypto/x25519.ts';
import { until } from '../helpers/wsk-call.ts';
import { OUR_INNER, OUR_INNER6, THEIR_INNER, THEIR_INNER6, WG_PORT, WSK, echoClient, inNs, start, type Running } from '../helpers/wireguard-lab.ts';

const OUR_OUTER6 = 'fd00:198:18::2';
const THEIR_OUTER6 = 'fd00:198:18::1';

/** Runs a command in the lab's peer namespace to its end (bounded by `ms`). */
const inPeer = (lab: Lab, args: string[], ms = 30_000): ReturnType<typeof inNs> => inNs(lab.peerNs, args, ms);

interface Side { provider: 'kernel' | 'stack'; weInitiate: boolean }

function suite({ provider, weInitiate }: Side): void {
  describe(`wsk run wireguard on the ${provider === 'kernel' ? 'kernel provider' : 'userspace stack over AF_PACKET'} against wireguard-go (${weInitiate ? 'our side' : 'wireguard-go'} initiates)`, () => {
    let lab: Lab;
    let dir: string;
    let run: Running;
    const statsEnv = (): NodeJS.ProcessEnv => ({ ...process.env, WSK_STATS_DIR: join(dir, 'stats') });
    const ourKey = generatePrivateKey();
    const theirKey = generatePrivateKey();
    let wgIf = '';
    // Both providers open the IPv6 outer socket (the userspace stack's from its --ip fd00:198:18::2/64).
    const expectedStderr = '';

    beforeAll(async () => {
      // The stack's IPv6 outer address is the userspace stack's (the lab keeps the kernel off IPv6
      // on its device); the kernel provider's goes to the stack namespace's kernel below.
      lab = provider === 'stack' ? labUp({ ipv6: { peerAddress: `${THEIR_OUTER6}/64`, stackAddress: `${OUR_OUTER6}/64` } }) : labUp();
      dir = mkdtempSync(join(tmpdir(), 'wsk-wg-'));
      const ourOuter = lab.stackAddress.split('/')[0]!;
      const theirOuter = lab.peerAddress.split('/')[0]!;
      wgIf = `wgg${lab.id}`.slice(0, 15);
      // wireguard-go and its configuration, set with stock wg.
      writeFileSync(join(dir, 'theirs.conf'), [
        '[Interface]', `PrivateKey = ${formatKey(theirKey)}`, `ListenPort = ${WG_PORT}`, '',
        '[Peer]', `PublicKey = ${formatKey(publicKeyOf(ourKey))}`, `AllowedIPs = ${OUR_INNER}/32, ${OUR_INNER6}/128`,
        ...(weInitiate ? [] : [`Endpoint = ${ourOuter}:${WG_PORT}`]), '',
      ].join('\n'));
      lab.spawn('peer', ['wireguard-go', '-f', wgIf]);
      await until(() => existsSync(`/var/run/wireguard/${wgIf}.sock`), 10_000, 'wireguard-go to start');
      lab.exec('peer', ['wg', 'setconf', wgIf, join(dir, 'theirs.conf')]);
      lab.exec('peer', ['ip', 'addr', 'add', `${THEIR_INNER}/24`, 'dev', wgIf]);
      lab.exec('peer', ['ip', '-6', 'addr', 'add', `${THEIR_INNER6}/64`, 'dev', wgIf, 'nodad']);
      lab.exec('peer', ['ip', 'link', 'set', wgIf, 'up']);
      // Ours: a wg-quick file (and one that always names wireguard-go's endpoint, for --ping).
      const ours = (withEndpoint: boolean): string => [
        '[Interface]', `PrivateKey = ${formatKey(ourKey)}`, `ListenPort = ${WG_PORT}`, `Address = ${OUR_INNER}/24, ${OUR_INNER6}/64`, '',
        '[Peer]', `PublicKey = ${formatKey(publicKeyOf(theirKey))}`, `AllowedIPs = ${THEIR_INNER}/32, ${THEIR_INNER6}/128`,
        ...(withEndpoint ? [`Endpoint = ${theirOuter}:${WG_PORT}`, 'PersistentKeepalive = 25'] : []), '',
      ].join('\n');
      const conf = join(dir, 'ours.conf');
      writeFileSync(conf, ours(weInitiate));
      writeFileSync(join(dir, 'ping.conf'), ours(true));
      if (provider === 'kernel') {
        // The kernel provider uses the host's sockets: the stack namespace's kernel gets the address.
        lab.exec('stack', ['ip', 'addr', 'add', lab.stackAddress, 'dev', lab.stackIf]);
        // And IPv6 outer addresses, for the IPv6 socket.
        lab.exec('stack', ['ip', 'addr', 'add', `${OUR_OUTER6}/64`, 'dev', lab.stackIf, 'nodad']);
        lab.exec('peer', ['ip', 'addr', 'add', `${THEIR_OUTER6}/64`, 'dev', lab.peerIf, 'nodad']);
      }
      run = ourWsk(['--conf', conf, '--serve', 'echosrv,iperf3-server']);
      await until(() => /iperf3-server serving/.test(run.out()) || run.child.exitCode !== null, 30_000, 'wsk run wireguard to serve');
      expect(run.err()).toBe(expectedStderr);
    }, 90_000);

    /** `wsk run wireguard` with these options in the stack namespace, on this suite's provider. */
    function ourWsk(options: string[]): Running {
      const args = ['run', 'wireguard', ...options];
      if (provider === 'kernel') return start('ip', ['netns', 'exec', lab.stackNs, process.execPath, WSK, ...args], statsEnv());
      return start(process.execPath, [WSK, ...args, '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf, '--ip', lab.stackAddress, '--ip', `${OUR_OUTER6}/64`], statsEnv());
    }

    afterAll(async () => {
      if (run && run.child.exitCode === null) {
        run.child.kill('SIGTERM');
        await Promise.race([run.exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
      }
      lab?.down();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it('a Linux ping through the tunnel is answered by our inner stack', async () => {
      const r = await inPeer(lab, ['ping', '-c', '3', '-i', '0.2', '-W', '3', OUR_INNER]);
      expect(r.out).toContain('3 packets transmitted, 3 received');
      const handshakes = lab.exec('peer', ['wg', 'show', wgIf, 'latest-handshakes']);
      expect(handshakes).not.toMatch(/\t0\s*$/);
    });

    it('echosrv inside the tunnel echoes 4 × 4 MiB from Linux clients at once, intact', async () => {
      const r = await inPeer(lab, ['python3', '-c', echoClient(OUR_INNER, 40007, 4)], 110_000);
      expect(r.err).toBe('');
      expect(r.out.trim().split('\n')).toEqual(Array(4).fill(`${4 << 20} True`));
    }, 120_000);

    it('IPv6 inside the tunnel: a Linux ping -6 to our inner IPv6 address is answered', async () => {
      const r = await inPeer(lab, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '3', OUR_INNER6]);
      expect(r.out).toContain('3 packets transmitted, 3 received');
      expect(r.out).toContain(`from ${OUR_INNER6}: icmp_seq=1 ttl=64`);
    });

    it('IPv6 inside the tunnel: echosrv echoes 4 MiB from a Linux client at [fd00:198:19::2], intact', async () => {
      const r = await inPeer(lab, ['python3', '-c', echoClient(OUR_INNER6, 40007, 1)], 110_000);
      expect(r.err).toBe('');
      expect(r.out.trim()).toBe(`${4 << 20} True`);
    }, 120_000);

    for (const reverse of [false, true]) {
      it(`stock iperf3 -c${reverse ? ' -R' : ''} for 2 s through the tunnel against our iperf3 server`, async () => {
        const r = await inPeer(lab, ['iperf3', '-c', OUR_INNER, '-t', '2', '-J', ...(reverse ? ['-R'] : [])], 40_000);
        const report = JSON.parse(r.out) as { error?: string; end: { sum_received: { bytes: number } } };
        expect(report.error).toBeUndefined();
        expect(report.end.sum_received.bytes).toBeGreaterThan(0);
      }, 50_000);
    }

    it('wsk stats shows the peer: endpoint, latest handshake, transfer', async () => {
      const r = start(process.execPath, [WSK, 'stats'], statsEnv());
      expect(await r.exited).toBe(0);
      const text = r.out();
      expect(text).toMatch(/wireguard on wireguard wg0 198\.19\.0\.2\/24, fd00:198:19::2\/64 inside, port 51820/);
      expect(text).toContain(`peer: ${formatKey(publicKeyOf(theirKey))}`);
      expect(text).toContain(`endpoint: ${lab.peerAddress.split('/')[0]}:${WG_PORT}`);
      expect(text).toMatch(/latest handshake: \d+ (second|minute)s? ago/);
      expect(text).toMatch(/transfer: [\d.]+ MiB received, [\d.]+ MiB sent/);
    });

    it('IPv6 outer: wireguard-go moves our endpoint to our IPv6 address; the tunnel carries on over the IPv6 socket, answered from the address IN6_PKTINFO reported', async () => {
      lab.exec('peer', ['wg', 'set', wgIf, 'peer', formatKey(publicKeyOf(ourKey)), 'endpoint', `[${OUR_OUTER6}]:${WG_PORT}`]);
      const r = await inPeer(lab, ['ping', '-c', '3', '-i', '0.2', '-W', '3', OUR_INNER]);
      expect(r.out).toContain('3 packets transmitted, 3 received');
      // wireguard-go accepts replies only from the endpoint it wrote to: it still lists that one.
      expect(lab.exec('peer', ['wg', 'show', wgIf, 'endpoints'])).toContain(`[${OUR_OUTER6}]:${WG_PORT}`);
      const stats = start(process.execPath, [WSK, 'stats'], statsEnv());
      expect(await stats.exited).toBe(0);
      expect(stats.out()).toContain(`endpoint: [${THEIR_OUTER6}]:${WG_PORT}`);
    }, 30_000);

    it('stops cleanly on SIGTERM', async () => {
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.err()).toBe(expectedStderr);
    }, 30_000);

    it('ping from our side: wsk run wireguard --ping to wireguard-go\'s IPv4 and IPv6 tunnel addresses, answered by Linux, exit 0', async () => {
      // A new run of ours with wireguard-go's endpoint in its file: it initiates, and wireguard-go
      // follows it back to our IPv4 outer address (the test above had moved it to IPv6).
      const ping = ourWsk(['--conf', join(dir, 'ping.conf'), '--ping', `${THEIR_INNER},${THEIR_INNER6}`, '-c', '3', '-i', '0.2']);
      const code = await Promise.race([ping.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 45_000).unref())]);
      if (code === 'hung') ping.child.kill('SIGKILL');
      expect(code).toBe(0);
      const out = ping.out();
      expect(out).toContain(`PING ${THEIR_INNER} (${THEIR_INNER}) 56(84) bytes of data.`);
      expect(out).toMatch(new RegExp(`64 bytes from ${THEIR_INNER.replace(/\./g, '\\.')}: icmp_seq=\\d ttl=64 time=`));
      expect(out).toMatch(new RegExp(`64 bytes from ${THEIR_INNER6}: icmp_seq=\\d ttl=64 time=`));
      expect(out.match(/3 packets transmitted, 3 received, 0% packet loss/g)).toHaveLength(2);
      expect(ping.err()).toBe(expectedStderr);
    }, 60_000);
  });
}

suite({ provider: 'kernel', weInitiate: false });
suite({ provider: 'stack', weInitiate: true });

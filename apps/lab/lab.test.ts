// Real namespaces and veth pairs (docs/architecture.md §9). Needs root, which CI has: without it these tests fail
// with the fix in the message rather than skipping, so a CI that lost root cannot look green.
// Every lab a test makes is deleted by exact name in afterEach, also when the test fails.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Lab, labDown, labOpen, labStatus, labUp } from './lab.ts';

const ROOT_DIR = fileURLToPath(new URL('../../', import.meta.url));
const WSK = fileURLToPath(new URL('../cli/wsk.mjs', import.meta.url));

const labs: Lab[] = [];
const ids: string[] = [];

function up(opts: Parameters<typeof labUp>[0] = {}): Lab {
  const lab = labUp(opts);
  labs.push(lab);
  return lab;
}

/** An id this file owns, registered for cleanup before anything is created with it. */
function freshId(tag: string): string {
  const id = `t${tag}${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(0, 12);
  ids.push(id);
  return id;
}

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

function namespaces(): string[] {
  return sh('ip', ['netns', 'list']).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function netemSupported(lab: Lab): boolean {
  try {
    lab.setNetem('delay 1ms');
    lab.setNetem(null);
    return true;
  } catch (err) {
    if (/no netem qdisc/.test(String(err))) return false;
    throw err;
  }
}

interface IpLink { ifname: string; mtu: number; flags: string[]; operstate: string; addr_info?: { family: string; local: string; prefixlen: number }[] }

function linkInfo(ns: string, dev: string): IpLink {
  return (JSON.parse(sh('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', dev])) as IpLink[])[0]!;
}

async function waitOperUp(ns: string, dev: string): Promise<string> {
  // veth carrier is reported asynchronously (linkwatch); bounded wait.
  const deadline = Date.now() + 3000;
  let state = linkInfo(ns, dev).operstate;
  while (state !== 'UP' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    state = linkInfo(ns, dev).operstate;
  }
  return state;
}

beforeAll(() => {
  if (process.getuid?.() !== 0) {
    throw new Error('apps/lab tests need root (or CAP_NET_ADMIN): run as root, e.g. sudo npx vitest run apps/lab');
  }
});

afterEach(() => {
  const errors: unknown[] = [];
  for (const lab of labs.splice(0)) {
    try { lab.down(); } catch (err) { errors.push(err); }
  }
  for (const id of ids.splice(0)) {
    try { labDown(id); } catch (err) { errors.push(err); }
  }
  if (errors.length) throw errors[0];
});

describe('labUp / Lab', () => {
  it('creates the two-namespace topology with defaults', async () => {
    const lab = up();
    expect(lab.peerNs).toBe(`wskA-${lab.id}`);
    expect(lab.stackNs).toBe(`wskB-${lab.id}`);
    expect(lab.peerIf).toBe(`va-${lab.id}`);
    expect(lab.stackIf).toBe(`vb-${lab.id}`);
    expect(lab.peerIf.length).toBeLessThanOrEqual(15);
    expect(namespaces()).toEqual(expect.arrayContaining([lab.peerNs, lab.stackNs]));

    const peer = linkInfo(lab.peerNs, lab.peerIf);
    const stack = linkInfo(lab.stackNs, lab.stackIf);
    expect(peer.flags).toContain('UP');
    expect(stack.flags).toContain('UP');
    expect(await waitOperUp(lab.peerNs, lab.peerIf)).toBe('UP');
    expect(await waitOperUp(lab.stackNs, lab.stackIf)).toBe('UP');
    expect(peer.mtu).toBe(1500);
    expect(stack.mtu).toBe(1500);
    expect(lab.mtu).toBe(1500);

    const peerV4 = (peer.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
    expect(peerV4).toEqual(['198.18.0.1/24']);
    // 198.18.0.2 belongs to the userspace stack: a kernel copy would RST its peers.
    expect((stack.addr_info ?? []).filter((a) => a.family === 'inet')).toEqual([]);
    expect(lab.stackAddress).toBe('198.18.0.2/24');
    // No default route out of the lab.
    expect(sh('ip', ['-n', lab.peerNs, 'route', 'show', 'default']).trim()).toBe('');

    expect(labStatus()).toContainEqual({ id: lab.id, namespaces: [lab.peerNs, lab.stackNs] });

    if (has('ping')) {
      expect(lab.exec('peer', ['ping', '-c1', '-W1', '198.18.0.1'])).toMatch(/1 received/);
    } else {
      expect(sh('ip', ['-n', lab.peerNs, 'addr', 'show', 'dev', 'lo'])).toMatch(/state UNKNOWN|UP/);
    }
  });

  it('applies and removes netem on the peer veth; on a kernel without sch_netem, says so clearly and leaves nothing behind', (ctx) => {
    const lab = up();
    const qdisc = (): string => sh('tc', ['-n', lab.peerNs, 'qdisc', 'show', 'dev', lab.peerIf]);
    if (!netemSupported(lab)) {
      // Kernel without sch_netem: the failure must still be clear, and labUp must clean up.
      ctx.annotate('kernel has no netem qdisc: checked the error and the cleanup only', 'warning');
      const id = freshId('n');
      expect(() => labUp({ id, netem: 'delay 20ms 5ms loss 1%' })).toThrow(/no netem qdisc: modprobe sch_netem/);
      expect(namespaces()).not.toContain(`wskA-${id}`);
      expect(namespaces()).not.toContain(`wskB-${id}`);
      return;
    }
    lab.setNetem('delay 20ms 5ms loss 1%');
    expect(qdisc()).toMatch(/netem .*delay 20ms\s+5ms.*loss 1%/s);
    lab.setNetem(null);
    expect(qdisc()).not.toMatch(/netem/);
    lab.setNetem(null); // nothing to remove is fine

    const lab2 = up({ netem: 'delay 5ms' });
    expect(sh('tc', ['-n', lab2.peerNs, 'qdisc', 'show', 'dev', lab2.peerIf])).toMatch(/netem .*delay 5ms/s);
  });

  it('setLoss: the peer loses the given share of IPv4 packets each way, and a packet it sends is lost on the wire, not refused locally', async () => {
    const lab = up({ loss: { toStackPercent: 5, fromStackPercent: 0 } });
    // A Linux receiver in the stack namespace, beside where the userspace stack would be.
    lab.exec('stack', ['ip', 'addr', 'add', '198.18.0.3/24', 'dev', lab.stackIf]);
    const retransmitted = (side: 'peer' | 'stack'): number =>
      (JSON.parse(lab.exec(side, ['nstat', '-asz', '--json'])) as { kernel: Record<string, number> }).kernel.TcpRetransSegs!;
    /** 20 MB from `sender` to the other side through iperf3; the sender's retransmitted segments. */
    const transfer = async (sender: 'peer' | 'stack'): Promise<number> => {
      const server = lab.spawn('stack', ['iperf3', '-s', '-1', '-B', '198.18.0.3']);
      try {
        const listening = (): boolean => / 198\.18\.0\.3:5201 /.test(lab.exec('stack', ['ss', '-ltnH']));
        for (let i = 0; i < 100 && !listening(); i++) await new Promise((r) => setTimeout(r, 50));
        const before = retransmitted(sender);
        const report = JSON.parse(lab.exec('peer', ['iperf3', '-c', '198.18.0.3', '-n', '20M', '-J', ...(sender === 'stack' ? ['-R'] : [])], { timeout: 60_000 })) as { error?: string };
        expect(report.error).toBeUndefined();
        return retransmitted(sender) - before;
      } finally {
        server.kill('SIGKILL');
      }
    };

    const out = await transfer('peer');
    const c1 = lab.lossCounters()!;
    expect(c1.toStack.lostPackets).toBeGreaterThan(0);
    expect(c1.toStack.packets).toBeGreaterThan(c1.toStack.lostPackets);
    expect(c1.fromStack.packets).toBeGreaterThan(0);
    expect(c1.fromStack.lostPackets).toBe(0);
    // Every lost packet carried at least one segment the sender had to send again: a drop at the
    // egress hook itself would have gone back to its TCP as a local failure, resent uncounted.
    expect(out).toBeGreaterThanOrEqual(c1.toStack.lostPackets);

    lab.setLoss({ toStackPercent: 0, fromStackPercent: 5 });
    const back = await transfer('stack');
    const c2 = lab.lossCounters()!;
    expect(c2.fromStack.lostPackets).toBeGreaterThan(0);
    expect(c2.toStack.lostPackets).toBe(0);
    expect(back).toBeGreaterThanOrEqual(c2.fromStack.lostPackets);

    lab.setLoss(null);
    expect(lab.lossCounters()).toBeNull();
    expect(lab.exec('peer', ['nft', 'list', 'tables'])).not.toMatch(/wsk_loss/);
    lab.setLoss(null); // nothing to remove is fine
    expect(() => lab.setLoss({ toStackPercent: 101, fromStackPercent: 0 })).toThrow(/percentage from 0 to 100/);
  }, 60_000);

  it('sets mtu 9000 on both ends', () => {
    const lab = up({ mtu: 9000 });
    expect(lab.mtu).toBe(9000);
    expect(linkInfo(lab.peerNs, lab.peerIf).mtu).toBe(9000);
    expect(linkInfo(lab.stackNs, lab.stackIf).mtu).toBe(9000);
  });

  it('turns offloads off on both ends, and back on', () => {
    const lab = up({ offloads: false });
    const features = (side: 'peer' | 'stack'): string =>
      lab.exec(side, ['ethtool', '-k', side === 'peer' ? lab.peerIf : lab.stackIf]);
    for (const side of ['peer', 'stack'] as const) {
      const k = features(side);
      expect(k).toMatch(/^tcp-segmentation-offload: off/m);
      expect(k).toMatch(/^generic-segmentation-offload: off/m);
      expect(k).toMatch(/^generic-receive-offload: off/m);
      expect(k).toMatch(/^tx-checksumming: off/m);
    }
    lab.setOffloads(true);
    expect(features('peer')).toMatch(/^tcp-segmentation-offload: on/m);
  });

  it('down() removes both namespaces and is idempotent', () => {
    const lab = up();
    lab.down();
    expect(namespaces()).not.toContain(lab.peerNs);
    expect(namespaces()).not.toContain(lab.stackNs);
    expect(() => lab.down()).not.toThrow();
    expect(labStatus().map((s) => s.id)).not.toContain(lab.id);
    expect(labDown(lab.id)).toEqual([]);
  });

  it('with ipv6: the peer has fd00:198:18::1/64 (no DAD, so not tentative), the stack namespace\'s kernel has no IPv6 on the stack\'s device, and labOpen finds both addresses', () => {
    const lab = up({ ipv6: true });
    expect(lab.peerAddress6).toBe('fd00:198:18::1/64');
    expect(lab.stackAddress6).toBe('fd00:198:18::2/64');
    const peer = linkInfo(lab.peerNs, lab.peerIf);
    const global = (peer.addr_info ?? []).filter((a) => a.family === 'inet6' && !String(a.local).startsWith('fe80'));
    expect(global.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['fd00:198:18::1/64']);
    expect(sh('ip', ['-n', lab.peerNs, '-6', 'addr', 'show', 'dev', lab.peerIf, 'scope', 'global'])).not.toMatch(/tentative/);
    // The kernel's link-local address would be made from the stack's own MAC: none at all on that device.
    expect((linkInfo(lab.stackNs, lab.stackIf).addr_info ?? []).filter((a) => a.family === 'inet6')).toEqual([]);
    expect(sh('ip', ['netns', 'exec', lab.stackNs, 'sysctl', '-n', `net.ipv6.conf.${lab.stackIf}.disable_ipv6`]).trim()).toBe('1');
    const again = labOpen(lab.id);
    expect([again.peerAddress6, again.stackAddress6]).toEqual(['fd00:198:18::1/64', 'fd00:198:18::2/64']);
  });

  it('refuses IPv6 outside fd00::/8 and 2001:db8::/32, a prefix shorter than /48, or one address for both', () => {
    const id = freshId('s');
    expect(() => labUp({ id, ipv6: { peerAddress: '2001:4860::1/64' } })).toThrow(/outside fd00::\/8/);
    expect(() => labUp({ id, ipv6: { stackAddress: 'fd00:198:18::2/16' } })).toThrow(/shorter than \/48/);
    expect(() => labUp({ id, ipv6: { stackAddress: 'fd00:198:18::1/64' } })).toThrow(/its own address/);
    expect(namespaces().filter((n) => n.endsWith(`-${id}`))).toEqual([]);
  });

  it('refuses addresses outside 198.18.0.0/15 and leaves nothing behind', () => {
    const id = freshId('a');
    expect(() => labUp({ id, peerAddress: '10.0.0.1/24' })).toThrow(/outside 198\.18\.0\.0\/15/);
    expect(() => labUp({ id, stackAddress: '192.168.1.2/24' })).toThrow(/outside 198\.18\.0\.0\/15/);
    expect(() => labUp({ id, peerAddress: '198.18.0.1/8' })).toThrow(/outside 198\.18\.0\.0\/15/);
    expect(() => labUp({ id, stackAddress: '198.18.0.1/24' })).toThrow(/its own address/);
    expect(() => labUp({ id: 'much-too-long-id' })).toThrow(/invalid lab id/);
    expect(namespaces().filter((n) => n.endsWith(`-${id}`))).toEqual([]);
  });

  it('undoes a half-built lab when a later step fails', () => {
    const id = freshId('f');
    // Fails at the last step (tc), after namespaces and links exist.
    expect(() => labUp({ id, netem: 'bogus 1' })).toThrow(new RegExp(`lab ${id} not created: .*tc .*failed`));
    expect(namespaces().filter((n) => n.endsWith(`-${id}`))).toEqual([]);
  });

  it('does not delete a namespace it did not create', () => {
    const lab = up();
    // Same id again: one line that says so, and the existing lab survives.
    expect(() => labUp({ id: lab.id })).toThrow(new RegExp(`^lab ${lab.id} already exists \\(wskA-${lab.id}, wskB-${lab.id}\\): .*wsk lab down ${lab.id}`));
    expect(namespaces()).toEqual(expect.arrayContaining([lab.peerNs, lab.stackNs]));
  });
});

describe('wsk lab (CLI)', () => {
  const wsk = (args: string[]): { code: number; out: string; err: string } => {
    try {
      const out = execFileSync(process.execPath, [WSK, 'lab', ...args], {
        cwd: ROOT_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000,
      });
      return { code: 0, out, err: '' };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { code: e.status, out: e.stdout, err: e.stderr };
    }
  };

  it('up --json / status --json / down <id> round trip', () => {
    const id = freshId('c');
    const upRes = wsk(['up', '--id', id, '--mtu', '9000', '--json']);
    expect(upRes.err).toBe('');
    expect(upRes.code).toBe(0);
    const created = JSON.parse(upRes.out) as Record<string, unknown>;
    expect(created).toMatchObject({
      id, peerNs: `wskA-${id}`, stackNs: `wskB-${id}`, peerIf: `va-${id}`, stackIf: `vb-${id}`,
      peerAddress: '198.18.0.1/24', stackAddress: '198.18.0.2/24', mtu: 9000, offloads: true,
    });

    const status = JSON.parse(wsk(['status', '--json']).out) as { id: string; namespaces: string[] }[];
    expect(status).toContainEqual({ id, namespaces: [`wskA-${id}`, `wskB-${id}`] });

    const netemOff = wsk(['netem', id, 'off']);
    expect(netemOff.code).toBe(0);

    const down = wsk(['down', id]);
    expect(down.code).toBe(0);
    expect(down.out).toContain(`wskA-${id}`);
    expect(namespaces().filter((n) => n.endsWith(`-${id}`))).toEqual([]);
    expect(wsk(['down', id]).code).toBe(0); // idempotent
  });

  it('up with an id that exists: one line that says so and how to go on, exit 2; the lab is untouched', () => {
    const id = freshId('e');
    expect(wsk(['up', '--id', id]).code).toBe(0);
    const again = wsk(['up', '--id', id]);
    expect(again.code).toBe(2);
    expect(again.err).toBe(`wsk lab: lab ${id} already exists (wskA-${id}, wskB-${id}): use it, pick another id, or delete it first with \`wsk lab down ${id}\`\n`);
    expect(namespaces()).toEqual(expect.arrayContaining([`wskA-${id}`, `wskB-${id}`]));
  });

  it('down ends the processes still running in the lab before deleting it', () => {
    const lab = up();
    const sleeper = lab.spawn('peer', ['sleep', '60']);
    const res = wsk(['down', lab.id]);
    expect(res.code).toBe(0);
    expect(namespaces()).not.toContain(lab.peerNs);
    // Reaped by this process (its parent) once the kill lands: a bounded wait on the exit event.
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the process in the lab survived `wsk lab down`')), 10_000);
      if (sleeper.exitCode !== null || sleeper.signalCode !== null) { clearTimeout(timer); resolve(); return; }
      sleeper.once('exit', (_code, signal) => { clearTimeout(timer); expect(signal).toBe('SIGKILL'); resolve(); });
    });
  });

  it('fails with one line, exit code 2 and the fix', () => {
    const res = wsk(['netem', 'tnosuchlab', 'delay', '1ms']);
    expect(res.code).toBe(2);
    expect(res.err.trim().split('\n')).toHaveLength(1);
    expect(res.err).toMatch(/no lab 'tnosuchlab'.*wsk lab status/);
    const bad = wsk(['down']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--all/);
  });
});

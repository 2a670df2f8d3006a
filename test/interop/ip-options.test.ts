// IP_TTL, IP_TOS and IP_DONTFRAGMENT on the wire (issue 13, deliverable 4): a Linux peer reads the
// IPv4 header of every UDP datagram that reaches it (a raw socket, python3) and sees the TTL, TOS
// and DF a WSK datagram socket set, and the defaults (TTL 64, TOS 0, DF clear as on Windows) on
// one that set nothing; a datagram larger than the MTU fails with STATUS_BUFFER_OVERFLOW under DF
// and never leaves. On the userspace stack over AF_PACKET (in this process) and on the kernel
// provider over the same kind of veth (test/interop/ip-options-end.ts as a process inside the
// lab's namespace, which gets a kernel address for it). Needs root; 198.18.0.0/15 inside the
// lab's namespaces only; the labs are deleted by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_BUFFER_OVERFLOW, STATUS_SUCCESS } from '../../index.ts';
import { labUp, type Lab } from '../../apps/lab/lab.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { MARKS, sendMarked, type MarkedSends } from './ip-options-end.ts';

const PORT = 47200;
const END = fileURLToPath(new URL('./ip-options-end.ts', import.meta.url));

/** python3 in the peer namespace: one line per UDP datagram to `port` — payload length, TTL, TOS, DF — until "plain" arrives. */
function headerReader(address: string, port: number): string {
  return `
import socket, struct
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('${address}', ${port}))
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
r.settimeout(20)
print('ready', flush=True)
while True:
    p = r.recv(65535)
    ihl = (p[0] & 15) * 4
    if struct.unpack('!H', p[ihl + 2:ihl + 4])[0] != ${port}:
        continue
    payload = p[ihl + 8:]
    name = payload.decode() if payload in (b'marked', b'plain') else 'other'
    print(name, len(payload), p[8], p[1], 1 if p[6] & 0x40 else 0, flush=True)
    if name == 'plain':
        break
`;
}

/** Output lines of a child process, and a wait for one containing `text`. */
function lines(child: ChildProcess): { output: () => string; waitFor: (text: string) => Promise<void> } {
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); waiters.splice(0).forEach((f) => f()); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return {
    output: () => out,
    waitFor: (text) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" within 30 s; stdout ${out}; stderr ${err}`)), 30_000);
      const check = (): void => {
        if (out.includes(text)) { clearTimeout(timer); resolve(); } else if (child.exitCode !== null) {
          clearTimeout(timer); reject(new Error(`exited ${child.exitCode} without "${text}"; stdout ${out}; stderr ${err}`));
        } else waiters.push(check);
      };
      child.once('exit', () => waiters.splice(0).forEach((f) => f()));
      check();
    }),
  };
}

function expectOnTheWire(sends: MarkedSends, peerOutput: string): void {
  expect(sends).toEqual({ marked: STATUS_SUCCESS, big: STATUS_BUFFER_OVERFLOW, plain: STATUS_SUCCESS });
  expect(peerOutput.trim().split('\n').slice(1)).toEqual([
    `marked 6 ${MARKS.ttl} ${MARKS.tos} 1`,
    'plain 5 64 0 0',
  ]);
}

describe('IP_TTL, IP_TOS, IP_DONTFRAGMENT seen by a Linux peer: the userspace stack over AF_PACKET', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('the peer reads TTL 33, TOS 0xb8 and DF from the marked socket and TTL 64, TOS 0, no DF from the other; the 2000-byte datagram fails under DF', async () => {
    const reader = L.peerProcess(`python3 -u - <<'EOF'\n${headerReader(L.peerAddress, PORT)}EOF`);
    await reader.waitFor('ready');
    const sends = await sendMarked(w, L.address, L.peerAddress, PORT);
    await reader.waitFor('plain', 15_000);
    expectOnTheWire(sends, reader.output());
  });
});

describe('IP_TTL, IP_TOS, IP_DONTFRAGMENT seen by a Linux peer: the kernel provider over veth', () => {
  let lab: Lab;
  const children: ChildProcess[] = [];
  beforeAll(() => {
    lab = labUp();
    // No userspace stack in this lab: the kernel provider's socket uses the stack side's address.
    lab.exec('stack', ['ip', 'addr', 'add', lab.stackAddress, 'dev', lab.stackIf]);
  });
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.pid) { try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ } }
    lab?.down();
  });

  it('the peer reads TTL 33, TOS 0xb8 and DF from the marked socket and TTL 64, TOS 0, no DF from the other; the 2000-byte datagram fails under DF', async () => {
    const local = lab.stackAddress.split('/')[0]!;
    const peer = lab.peerAddress.split('/')[0]!;
    const readerChild = lab.spawn('peer', ['python3', '-u', '-c', headerReader(peer, PORT + 1)]);
    children.push(readerChild);
    const reader = lines(readerChild);
    await reader.waitFor('ready');
    const end = spawn('ip', ['netns', 'exec', lab.stackNs, process.execPath, '--import', 'tsx', END, local, peer, String(PORT + 1)],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(end);
    const sender = lines(end);
    await sender.waitFor('}');
    await reader.waitFor('plain');
    expectOnTheWire(JSON.parse(sender.output()) as MarkedSends, reader.output());
  }, 60_000);
});

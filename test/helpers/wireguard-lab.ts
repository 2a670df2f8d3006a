// What the WireGuard interop tests against wireguard-go share: the tunnel's addresses (inside
// 198.19.0.0/16 and fd00:198:19::/64, in namespaces the tests create), the `wsk` entry point, and
// running a command to its end, bounded, inside a namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WSK = fileURLToPath(new URL('../../apps/cli/wsk.mjs', import.meta.url));
export const THEIR_INNER = '198.19.0.1';
export const OUR_INNER = '198.19.0.2';
export const THEIR_INNER6 = 'fd00:198:19::1';
export const OUR_INNER6 = 'fd00:198:19::2';
export const WG_PORT = 51820;

export interface Running { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> }

/** Starts a command, keeping what it prints. */
export function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Running {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  return { child, out: () => out, err: () => err, exited: new Promise((r) => child.on('close', (code) => r(code))) };
}

/** Runs a command in namespace `ns` to its end (bounded by `ms`, through timeout(1)). */
export async function inNs(ns: string, args: string[], ms = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  const r = start('timeout', [String(Math.ceil(ms / 1000)), 'ip', 'netns', 'exec', ns, ...args]);
  const code = await r.exited;
  return { code, out: r.out(), err: r.err() };
}

/**
 * Python for a Linux TCP client (not ours): `connections` × 4 MiB to an echo server at
 * `host`:`port` and back at once, each compared by SHA-256; one line per connection: bytes
 * echoed, and True when intact.
 */
export const echoClient = (host: string, port: number, connections: number): string => `
import hashlib, os, socket, threading
def one(out, i):
    data = os.urandom(4 << 20)
    s = socket.create_connection(('${host}', ${port}), timeout=60)
    got = bytearray()
    def read():
        while True:
            b = s.recv(1 << 16)
            if not b: return
            got.extend(b)
    t = threading.Thread(target=read); t.start()
    s.sendall(data); s.shutdown(socket.SHUT_WR); t.join(90)
    out[i] = '%d %s' % (len(got), hashlib.sha256(got).digest() == hashlib.sha256(data).digest())
out = [None] * ${connections}
ts = [threading.Thread(target=one, args=(out, i)) for i in range(${connections})]
for t in ts: t.start()
for t in ts: t.join(100)
print('\\n'.join(str(o) for o in out))
`;

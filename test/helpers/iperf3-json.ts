// Comparing an iperf3 -J report with one stock iperf3 printed: same keys, same value types, same
// nesting, key by key. Values differ from run to run; the layout must not.
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export type Json = Record<string, unknown>;

/**
 * What stock iperf3 leaves out for a sender without TCP_INFO retransmissions (iperf_api.c's
 * "without retransmits" branches): our kernel provider's streams (node:net has no TCP_INFO).
 */
export const TCP_INFO_KEYS = [
  'retransmits', 'snd_cwnd', 'snd_wnd', 'rtt', 'rttvar', 'pmtu', 'max_snd_cwnd', 'max_snd_wnd', 'max_rtt', 'min_rtt', 'mean_rtt',
];

/** `report` without the TCP_INFO keys of the objects whose "sender" flag is `sender` (one direction's). */
export function withoutTcpInfo(report: unknown, sender: boolean): unknown {
  if (Array.isArray(report)) return report.map((x) => withoutTcpInfo(x, sender));
  if (report === null || typeof report !== 'object') return report;
  const o = report as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (o.sender === sender && TCP_INFO_KEYS.includes(k)) continue;
    out[k] = withoutTcpInfo(v, sender);
  }
  return out;
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/**
 * Every place `ours` differs from `reference` in layout: a key missing or extra, a value of
 * another type. Arrays: each element of ours against the reference's element at the same index
 * (or its last one: interval counts may differ by one); both empty or both not.
 */
export function layoutDifferences(ours: unknown, reference: unknown, path = '$'): string[] {
  if (kind(ours) !== kind(reference)) return [`${path}: ${kind(ours)} where iperf3 has ${kind(reference)}`];
  if (Array.isArray(ours) && Array.isArray(reference)) {
    if ((ours.length === 0) !== (reference.length === 0)) return [`${path}: ${ours.length} entries where iperf3 has ${reference.length}`];
    return ours.flatMap((x, i) => layoutDifferences(x, reference[Math.min(i, reference.length - 1)], `${path}[${i}]`));
  }
  if (kind(ours) !== 'object') return [];
  const a = ours as Json;
  const b = reference as Json;
  const out: string[] = [];
  for (const k of Object.keys(b)) if (!(k in a)) out.push(`${path}.${k}: missing`);
  for (const k of Object.keys(a)) {
    if (!(k in b)) out.push(`${path}.${k}: not in iperf3's report`);
    else out.push(...layoutDifferences(a[k], b[k], `${path}.${k}`));
  }
  return out;
}

/** A TCP/UDP port nothing listens on now (the kernel's pick, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Stock `iperf3 -s -1` on 127.0.0.1:port, once it says it listens; `done` when its one test is over. */
export async function stockServer(port: number): Promise<{ done: Promise<void>; kill(): void }> {
  const child = spawn('iperf3', ['-s', '-1', '-B', '127.0.0.1', '-p', String(port), '--forceflush'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('Server listening')) resolve(); });
    child.on('close', () => reject(new Error(`iperf3 -s exited before listening: ${out}`)));
  });
  return { done, kill: () => { if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL'); } };
}

/** Stock `iperf3 -c 127.0.0.1 -p port <args> -J`: its report. */
export function stockClient(port: number, args: string[]): Promise<Json> {
  return new Promise((resolve, reject) => {
    execFile('iperf3', ['-c', '127.0.0.1', '-p', String(port), ...args, '-J'], { timeout: 30_000 }, (err, stdout) => {
      try {
        resolve(JSON.parse(stdout) as Json);
      } catch {
        reject(new Error(`iperf3 -c ${args.join(' ')}: no JSON (${err ? err.message : 'empty output'})`));
      }
    });
  });
}

/** What stock iperf3 prints for `args` against stock iperf3 on loopback: the reference layout. */
export async function stockReference(args: string[]): Promise<Json> {
  const port = await freePort();
  const server = await stockServer(port);
  try {
    const report = await stockClient(port, args);
    await server.done;
    return report;
  } finally {
    server.kill();
  }
}

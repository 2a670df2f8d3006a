// `wsk stats`: live counters of a running `wsk run` on the userspace stack. Each such process
// answers on a Unix socket in the stats directory with one JSON snapshot per connection (device
// frames and drops, stack and TCP counters, and per-connection state, cwnd, ssthresh, RTT, RTO);
// `wsk stats` reads them, once or every --watch seconds.
//
// The stats directory is per user: one shared /tmp/wsk-stats, created by whoever ran first (often
// root) with mode 0700, locked every other user out of running an app at all. A user's `wsk stats`
// sees that user's apps.
import { createConnection, createServer, type Server } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { TcpState } from '../../runtime/net/tcp/tcb.ts';
import { formatIpv4 } from '../../runtime/net/wire/bytes.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import type { RunningProvider } from './providers.ts';

/** What a snapshot reads: a RunningProvider, or an app's own stack (WireGuard's inner one) with a status text. */
export type StatsSource = Pick<RunningProvider, 'where' | 'device' | 'stack' | 'stackProvider'> & {
  /** Lines an app adds (WireGuard: `wg show`'s text), read at each snapshot. */
  status?: () => string;
};

/**
 * $WSK_STATS_DIR when set; else wsk-stats in $XDG_RUNTIME_DIR when that is this user's own (the
 * XDG Base Directory specification's per-user runtime directory; `sudo -E` can hand root someone
 * else's); else wsk-stats-<uid> in the temporary directory.
 */
export function statsDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WSK_STATS_DIR) return env.WSK_STATS_DIR;
  const uid = process.getuid?.() ?? -1;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && ownerOf(runtime) === uid) return join(runtime, 'wsk-stats');
  return join(tmpdir(), `wsk-stats-${uid}`);
}

function ownerOf(path: string): number | null {
  try {
    return statSync(path).uid;
  } catch {
    return null;
  }
}

/**
 * Creates the stats directory (mode 0700) if needed. In the shared temporary directory anyone can
 * create wsk-stats-<uid> first: a directory there that is not ours, or is a symbolic link, is
 * refused rather than used.
 */
function ensureStatsDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory: remove it, or set WSK_STATS_DIR to a directory of your own`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`${dir} belongs to uid ${st.uid}, not to you (uid ${uid}): remove it, or set WSK_STATS_DIR to a directory of your own`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

export interface ConnectionStats {
  local: string;
  remote: string;
  state: string;
  cwnd: number;
  ssthresh: number | null;
  srttMs: number;
  rtoMs: number;
  inFlight: number;
  sendQueued: number;
  receiveQueued: number;
}

export interface StatsSnapshot {
  pid: number;
  app: string;
  where: string;
  uptimeSeconds: number;
  device: Record<string, unknown> | null;
  stack: Record<string, number> | null;
  tcp: Record<string, number> | null;
  connections: ConnectionStats[];
  /** The interface's addresses, IPv4 with its prefix, then IPv6 (usable ones: link-local first). Absent from older processes. */
  addresses?: string[];
  /** UDP over IPv6 counters (in, out, malformed, badChecksum, noPort, icmpErrors), or null without IPv6. */
  udp6?: Record<string, number> | null;
  /** The app's own status text (WireGuard: latest handshake, transfer, endpoint per peer), or null. */
  status?: string | null;
}

const STATE_NAMES = new Map(Object.entries(TcpState).map(([name, value]) => [value as number, name]));

export function snapshot(app: string, running: StatsSource, startedAt: number): StatsSnapshot {
  const engine = running.stackProvider?.tcp ?? null;
  const connections = (engine?.connectionList() ?? []).map((t): ConnectionStats => ({
    local: t.path.endpointText(t.localIp, t.localPort),
    remote: t.path.endpointText(t.remoteIp, t.remotePort),
    state: STATE_NAMES.get(t.state) ?? String(t.state),
    cwnd: t.cc?.cwnd ?? 0,
    ssthresh: t.cc && Number.isFinite(t.cc.ssthresh) ? t.cc.ssthresh : null,
    srttMs: t.rtt?.srtt ?? 0,
    rtoMs: t.rtt?.rto ?? 0,
    inFlight: (t.sndNxt - t.sndUna) >>> 0,
    sendQueued: t.sendQueue.length,
    receiveQueued: t.rcvQueued,
  }));
  const stack = running.stack;
  const udp6 = running.stackProvider?.userspace.udp6 ?? null;
  return {
    pid: process.pid, app, where: running.where, uptimeSeconds: (Date.now() - startedAt) / 1000,
    device: running.device ? { ...running.device.stats } : null,
    stack: stack ? { ...stack.counters } as unknown as Record<string, number> : null,
    tcp: engine ? { ...engine.counters } as unknown as Record<string, number> : null,
    connections,
    addresses: stack ? interfaceAddresses(stack) : [],
    udp6: udp6 ? { ...udp6.counters } as unknown as Record<string, number> : null,
    status: running.status?.() ?? null,
  };
}

/** The interface's addresses as text: a.b.c.d/nn and secondary ones, then the usable IPv6 ones. */
function interfaceAddresses(stack: NetworkStack): string[] {
  const i = stack.iface;
  const out = [`${formatIpv4(i.address)}/${i.prefixLength}`, ...i.secondary.map((a) => formatIpv4(a))];
  const ip6 = stack.ip6;
  if (ip6) for (const id of ip6.addresses) out.push(ip6.table.format(id));
  return out;
}

/**
 * Serves snapshots on <stats dir>/wsk-<pid>.sock until closed. Throws (before listening) when the
 * directory cannot be used; the app can run without its stats.
 */
export function serveStats(app: string, running: StatsSource): { path: string; close(): void } {
  const dir = statsDirectory();
  ensureStatsDirectory(dir);
  const path = join(dir, `wsk-${process.pid}.sock`);
  rmSync(path, { force: true });
  const startedAt = Date.now();
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(JSON.stringify(snapshot(app, running, startedAt)) + '\n');
  });
  server.on('error', () => {});
  server.listen(path);
  server.unref();
  return { path, close: () => { server.close(); rmSync(path, { force: true }); } };
}

/** The stats sockets of running processes (a socket whose process is gone is removed). */
export function runningStatsSockets(): { pid: number; path: string }[] {
  const dir = statsDirectory();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { pid: number; path: string }[] = [];
  for (const name of names) {
    const m = /^wsk-(\d+)\.sock$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    try {
      process.kill(pid, 0);
      out.push({ pid, path: join(dir, name) });
    } catch {
      rmSync(join(dir, name), { force: true });
    }
  }
  return out;
}

export function readStats(path: string, timeoutMs = 3000): Promise<StatsSnapshot> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer from ${path} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('data', (d) => { text += d; });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('end', () => {
      clearTimeout(timer);
      try { resolve(JSON.parse(text) as StatsSnapshot); } catch (err) { reject(err as Error); }
    });
  });
}

/** Per-second rates between two snapshots of one process (the counters that count traffic). */
export interface StatsRates {
  /** Seconds between the two snapshots, by the process's own clock. */
  seconds: number;
  rxBitsPerSecond: number | null;
  txBitsPerSecond: number | null;
  rxFramesPerSecond: number | null;
  txFramesPerSecond: number | null;
  segmentsInPerSecond: number | null;
  segmentsOutPerSecond: number | null;
  retransmitsPerSecond: number | null;
}

/** Rates from `prev` to `cur`, or null when they are not two snapshots of the same process, in order. */
export function statsRates(prev: StatsSnapshot, cur: StatsSnapshot): StatsRates | null {
  const seconds = cur.uptimeSeconds - prev.uptimeSeconds;
  if (prev.pid !== cur.pid || !(seconds > 0)) return null;
  const rate = (a: Record<string, unknown> | null, b: Record<string, unknown> | null, key: string, scale = 1): number | null => {
    const x = a?.[key];
    const y = b?.[key];
    // A counter that went down was reset: no rate for this interval.
    return typeof x === 'number' && typeof y === 'number' && y >= x ? ((y - x) * scale) / seconds : null;
  };
  return {
    seconds,
    rxBitsPerSecond: rate(prev.device, cur.device, 'rxBytes', 8),
    txBitsPerSecond: rate(prev.device, cur.device, 'txBytes', 8),
    rxFramesPerSecond: rate(prev.device, cur.device, 'rxFrames'),
    txFramesPerSecond: rate(prev.device, cur.device, 'txFrames'),
    segmentsInPerSecond: rate(prev.tcp, cur.tcp, 'segmentsIn'),
    segmentsOutPerSecond: rate(prev.tcp, cur.tcp, 'segmentsOut'),
    retransmitsPerSecond: rate(prev.tcp, cur.tcp, 'retransmits'),
  };
}

function bitRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
  return `${(bps / 1e3).toFixed(2)} kbit/s`;
}

function formatRates(r: StatsRates): string {
  const per = (v: number | null): string => (v === null ? '-' : v.toFixed(0));
  const bits = (v: number | null): string => (v === null ? '-' : bitRate(v));
  return `  rates over ${r.seconds.toFixed(1)} s: rx ${bits(r.rxBitsPerSecond)} (${per(r.rxFramesPerSecond)} frames/s), tx ${bits(r.txBitsPerSecond)} (${per(r.txFramesPerSecond)} frames/s)`
    + `; tcp segments in ${per(r.segmentsInPerSecond)}/s, out ${per(r.segmentsOutPerSecond)}/s, retransmits ${per(r.retransmitsPerSecond)}/s`;
}

/** A person's view of a snapshot; with `rates` (wsk stats --watch after the first round) a line of them. */
export function formatStats(s: StatsSnapshot, rates: StatsRates | null = null): string[] {
  const lines = [`pid ${s.pid}: ${s.app} on ${s.where}, up ${s.uptimeSeconds.toFixed(0)} s`];
  const pick = (o: Record<string, unknown> | null, keys: string[]): string => keys.filter((k) => o && typeof o[k] === 'number').map((k) => `${k} ${o![k] as number}`).join(', ');
  if (rates) lines.push(formatRates(rates));
  if (s.addresses?.length) lines.push(`  addresses: ${s.addresses.join(', ')}`);
  if (s.device) lines.push(`  device: ${pick(s.device, ['rxFrames', 'rxBytes', 'rxDrops', 'txFrames', 'txBytes', 'txDrops'])}`);
  if (s.stack) {
    // UDP over IPv6 keeps its own counters: its drops are named udp6<Counter> here.
    const udp6 = Object.entries(s.udp6 ?? {}).map(([k, v]) => [`udp6${k[0]!.toUpperCase()}${k.slice(1)}`, v] as const);
    const drops = [...Object.entries(s.stack), ...udp6].filter(([k, v]) => /Bad|Malformed|NotForUs|Martian|SourceRouted|Unmatched|Drop|NoPort|Unknown/i.test(k) && v > 0).map(([k, v]) => `${k} ${v}`);
    lines.push(`  stack drops: ${drops.length ? drops.join(', ') : 'none'}`);
  }
  if (s.udp6) lines.push(`  udp6: ${pick(s.udp6, ['in', 'out', 'icmpErrors'])}`);
  if (s.tcp) lines.push(`  tcp: ${pick(s.tcp, ['activeOpens', 'passiveOpens', 'segmentsIn', 'segmentsOut', 'retransmits', 'fastRetransmits', 'timeouts', 'aborts'])}`);
  if (s.connections.length === 0) lines.push('  no connections');
  else {
    lines.push(`  ${'local'.padEnd(22)}${'remote'.padEnd(22)}${'state'.padEnd(13)}${'cwnd'.padStart(10)}${'ssthresh'.padStart(10)}${'srtt ms'.padStart(9)}${'rto ms'.padStart(8)}${'in flight'.padStart(11)}`);
    for (const c of s.connections) {
      lines.push(`  ${c.local.padEnd(22)}${c.remote.padEnd(22)}${c.state.padEnd(13)}${String(c.cwnd).padStart(10)}${String(c.ssthresh ?? '-').padStart(10)}${c.srttMs.toFixed(2).padStart(9)}${c.rtoMs.toFixed(0).padStart(8)}${String(c.inFlight).padStart(11)}`);
    }
  }
  // Snapshots from a process older than the status field have none.
  if (s.status) for (const line of s.status.split('\n')) lines.push(line === '' ? '' : `  ${line}`);
  return lines;
}

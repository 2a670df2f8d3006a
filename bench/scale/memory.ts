// Memory per idle connection, counted the same way for every target (bench/scale.bench.ts): what
// the app's process grew by (JS heap + external, after a full GC) while the peer holds N idle
// connections, plus what those connections cost outside the process:
// - node:net and the kernel provider: the kernel's sockets. Their buffers, from `ss -tm`'s skmem
//   summed over the app's sockets (r + t + f + w + o + bl: memory allocated and charged; rb and
//   tb are only limits), and the socket objects every accepted socket takes from the slab caches
//   (struct tcp_sock, the socket inode, the file, its dentry, the epoll item: /proc/slabinfo's
//   object sizes, one of each per socket). /proc/net/sockstat's TCP `mem` is kept as a
//   cross-check only: it is the host's total, not the namespace's.
// - the userspace stack: no kernel socket at all; its ring (the link's slot arena, for AF_PACKET
//   the mmap'd PACKET_MMAP ring and pool slots) is allocated whole when the link opens, so it is
//   reported apart: per connection both without it (what one more connection costs) and with it
//   divided by the N connections (what N connections cost in all).
import { median, ratio } from '../suite/stats.ts';

/** Slab caches an accepted TCP socket of a Node process takes one object from. */
export const SOCKET_SLABS = ['TCP', 'sock_inode_cache', 'filp', 'dentry', 'eventpoll_epi'] as const;

const SKMEM_CHARGED = ['r', 't', 'f', 'w', 'o', 'bl'];

/** Sockets and charged bytes in `ss -tmHn` output (one `skmem:(...)` per socket). */
export function skmemBytes(ssOutput: string): { sockets: number; bytes: number } {
  let sockets = 0;
  let bytes = 0;
  for (const m of ssOutput.matchAll(/skmem:\(([^)]*)\)/g)) {
    sockets++;
    for (const field of m[1]!.split(',')) {
      const f = /^([a-z]+)(\d+)$/.exec(field.trim());
      if (f && SKMEM_CHARGED.includes(f[1]!)) bytes += Number(f[2]);
    }
  }
  return { sockets, bytes };
}

/** Bytes of one object from each of `caches` (/proc/slabinfo's objsize column), and the caches found. */
export function slabObjectBytes(slabinfo: string, caches: readonly string[] = SOCKET_SLABS): { bytes: number; found: string[] } {
  let bytes = 0;
  const found: string[] = [];
  for (const line of slabinfo.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length > 3 && caches.includes(cols[0]!) && !found.includes(cols[0]!)) {
      bytes += Number(cols[3]);
      found.push(cols[0]!);
    }
  }
  return { bytes, found };
}

/** TCP `mem` (pages) from /proc/net/sockstat; NaN when absent. */
export function sockstatTcpPages(sockstat: string): number {
  const m = /^TCP:.*\bmem (\d+)/m.exec(sockstat);
  return m ? Number(m[1]) : NaN;
}

/** One run's memory figures for one target: totals over the held connections, in bytes. */
export interface MemoryRun {
  /** Connections the app held when measured. */
  held: number;
  /** Growth of the app process's JS heap + external memory. */
  processBytes: number;
  /** skmem summed over the app's sockets (0: no kernel sockets). */
  kernelBufferBytes: number;
  /** Slab objects of the app's kernel sockets (held × one object of each SOCKET_SLABS). */
  kernelObjectBytes: number;
  /** The link's preallocated ring (0: none). */
  ringBytes: number;
  /** Host-wide change of sockstat TCP mem, pages (a cross-check). */
  sockstatPages: number;
}

export const MEMORY_PARTS = ['process', 'kernelBuffers', 'kernelObjects', 'ring', 'withoutRing', 'withRing'] as const;
export type MemoryPart = (typeof MEMORY_PARTS)[number];
export const MEMORY_PART_LABELS: Record<MemoryPart, string> = {
  process: 'process heap + external',
  kernelBuffers: 'kernel socket buffers (ss skmem)',
  kernelObjects: 'kernel socket objects (slabinfo)',
  ring: 'ring ÷ connections (preallocated)',
  withoutRing: 'total without the ring',
  withRing: 'total with the ring',
};

/** The same, short enough for a chart's category names. */
export const MEMORY_PART_SHORT: Record<MemoryPart, string> = {
  process: 'heap + external',
  kernelBuffers: 'kernel buffers',
  kernelObjects: 'kernel objects',
  ring: 'ring ÷ connections',
  withoutRing: 'total without ring',
  withRing: 'total with ring',
};

/** KiB per connection of each part for one run; NaN when the run held none. */
export function perConnection(r: MemoryRun): Record<MemoryPart, number> {
  const per = (b: number): number => (r.held > 0 ? b / r.held / 1024 : NaN);
  const process = per(r.processBytes);
  const kernelBuffers = per(r.kernelBufferBytes);
  const kernelObjects = per(r.kernelObjectBytes);
  const ring = per(r.ringBytes);
  const withoutRing = process + kernelBuffers + kernelObjects;
  return { process, kernelBuffers, kernelObjects, ring, withoutRing, withRing: withoutRing + ring };
}

export interface MemoryResult {
  target: string;
  label: string;
  /** Median of the connections held. */
  held: number | null;
  /** The ring's bytes (median; 0 for targets without one). */
  ringBytes: number | null;
  /** KiB per connection, median over runs of each part (a total is the median of the runs' totals). */
  perConnectionKiB: Record<MemoryPart, number | null>;
  /** Totals against node:net's total (which has no ring). */
  ratio: { withoutRing: number | null; withRing: number | null };
  runs: MemoryRun[];
}

const nul = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function summariseMemory(targets: readonly { name: string; label: string }[], runs: ReadonlyMap<string, readonly MemoryRun[]>, baseline = 'node:net'): MemoryResult[] {
  const medians = (t: string): Record<MemoryPart, number> => {
    const per = (runs.get(t) ?? []).map(perConnection);
    return Object.fromEntries(MEMORY_PARTS.map((p) => [p, median(per.map((x) => x[p]))])) as Record<MemoryPart, number>;
  };
  const base = medians(baseline).withoutRing;
  return targets.map((t) => {
    const m = medians(t.name);
    const rs = [...(runs.get(t.name) ?? [])];
    return {
      target: t.name,
      label: t.label,
      held: nul(median(rs.map((r) => r.held))),
      ringBytes: nul(median(rs.map((r) => r.ringBytes))),
      perConnectionKiB: Object.fromEntries(MEMORY_PARTS.map((p) => [p, nul(m[p])])) as Record<MemoryPart, number | null>,
      ratio: { withoutRing: nul(ratio(m.withoutRing, base)), withRing: nul(ratio(m.withRing, base)) },
      runs: rs,
    };
  });
}

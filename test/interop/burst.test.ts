// Bursts from thousands of ordinary Linux clients against echosrv on the userspace stack, on the
// AF_PACKET link at its default settings (issue 12): a burst of closes with unread data (one RST
// per connection, all at once) and a burst of echo requests fired at once. A frame the kernel
// drops at the ring is gone for good when it is a RST (Linux does not repeat it, echosrv sets no
// keepalive), so the ring must take the whole burst: no kernel drop, no connection left, every
// request answered. The peer program is burst-peer.py (every phase bounded in time). Needs root
// (CI runs as root); traffic stays inside the lab's namespaces (198.18.0.0/15).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { STATUS_SUCCESS } from '../../index.ts';
import { echosrvListening, echosrvStart, echosrvStats, echosrvStop } from '../../apps/echosrv/echosrv.ts';
import type { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sleep } from '../helpers/wsk-call.ts';

const PEER = fileURLToPath(new URL('./burst-peer.py', import.meta.url));
const PORT = 40007;

interface Phase { phase: string; [k: string]: number | string }

function phases(stdout: string): Record<string, Phase> {
  const out: Record<string, Phase> = {};
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const p = JSON.parse(line) as Phase;
    out[p.phase] = p;
  }
  return out;
}

/** Polls until predicate() holds or timeoutMs passes; returns whether it held. */
async function settles(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** echosrv on a fresh lab (a burst leaves nothing behind for the next one to meet), then `body`. */
async function withEchosrv(body: (L: StackLab, link: AfPacketLink) => Promise<void>): Promise<void> {
  // No capture: writing one costs the stack time per frame, and keeping up is what is tested.
  const L = await openStackLab('afpacket', { capture: false });
  try {
    expect(echosrvStart({ port: PORT, subsystem: L.subsystem })).toBe(STATUS_SUCCESS);
    try {
      expect((await echosrvListening()).Status).toBe(STATUS_SUCCESS);
      await body(L, L.device as AfPacketLink);
    } finally {
      await echosrvStop({ forceClose: true });
    }
  } finally {
    await L.close();
  }
}

describe('AF_PACKET link at default settings: bursts from thousands of Linux clients', () => {
  it('1500 clients close at once with unread data (1500 RSTs): the ring drops nothing and no connection is left', () => withEchosrv(async (L, link) => {
    const r = await L.peer(`python3 ${PEER} close ${L.address} ${PORT} 1500`, 120_000);
    const p = phases(r.stdout);
    expect(p.connected?.connected, r.stdout + r.stderr).toBe(1500);
    expect(p.echoed?.echoed).toBe(1500);
    expect(p.closed?.closed).toBe(1500);
    const left = (): number => L.provider.tcp!.size;
    await settles(() => left() === 0 && echosrvStats().connections === 0, 20_000);
    const figures = {
      kernelDrops: link.details.kernelDrops, deviceRxDrops: link.stats.rxDrops, connectionsLeft: left(), echosrvConnections: echosrvStats().connections,
    };
    console.log(`close burst of 1500: ${JSON.stringify(figures)}, peer closed them in ${p.closed?.ms} ms`);
    expect(figures).toEqual({ kernelDrops: 0, deviceRxDrops: 0, connectionsLeft: 0, echosrvConnections: 0 });
    expect(echosrvStats().errors).toEqual([]);
  }), 180_000);

  it('5000 clients each fire a request at once: every one is answered, the ring drops nothing and no connection is left', () => withEchosrv(async (L, link) => {
    const r = await L.peer(`python3 ${PEER} echo ${L.address} ${PORT} 5000`, 180_000);
    const p = phases(r.stdout);
    expect(p.connected?.connected, r.stdout + r.stderr).toBe(5000);
    const left = (): number => L.provider.tcp!.size;
    await settles(() => left() === 0 && echosrvStats().connections === 0, 20_000);
    const figures = {
      answered: p.answered?.answered, wrong: p.answered?.wrong, kernelDrops: link.details.kernelDrops, deviceRxDrops: link.stats.rxDrops,
      connectionsLeft: left(), echosrvConnections: echosrvStats().connections,
    };
    console.log(`echo burst of 5000: ${JSON.stringify(figures)}, requests sent in ${p.answered?.sentMs} ms, all answered in ${p.answered?.ms} ms`);
    expect(figures).toEqual({ answered: 5000, wrong: 0, kernelDrops: 0, deviceRxDrops: 0, connectionsLeft: 0, echosrvConnections: 0 });
    expect(echosrvStats().errors).toEqual([]);
  }), 240_000);
});

// echosrv (the wsksmple.c port) unchanged on the userspace stack: its dual-stack [::] listener
// serves IPv4 peers (as ::ffff:a.b.c.d) on the memory link. Peers are TCP sockets of a second
// stack; every byte is compared; unload waits for peers, as on the kernel provider.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWskSubsystem, STATUS_SUCCESS, type WskSubsystem } from '../index.ts';
import { echosrvListening, echosrvStart, echosrvStats, echosrvStop } from '../apps/echosrv/echosrv.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { TcpEngine } from '../runtime/net/tcp/tcp-engine.ts';
import { A_IP, stackPair, type StackPair } from './helpers/net-pair.ts';
import { stackConnect, type StackSocket } from './helpers/stack-socket.ts';

const PORT = 40007;

function echo(sock: StackSocket, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    sock.on('data', (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= data.length) resolve(Buffer.concat(parts));
    });
    sock.on('error', reject);
    sock.write(data);
  });
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = x >>> 24; }
  return out;
}

describe('echosrv on the userspace stack (memory link)', () => {
  let pair: StackPair;
  let subsystem: WskSubsystem;
  let peerTcp: TcpEngine;

  beforeAll(async () => {
    pair = stackPair({ slotCount: 8192 });
    subsystem = await startWskSubsystem(createStackProvider(pair.a), { name: 'echosrv-stack', makeDefault: false, registerWithNmr: false });
    peerTcp = pair.b.tcp!;
    expect(echosrvStart({ port: PORT, subsystem })).toBe(STATUS_SUCCESS);
    const listening = await echosrvListening();
    expect([listening.Status, listening.Port]).toEqual([STATUS_SUCCESS, PORT]);
  });

  afterAll(async () => {
    await echosrvStop({ forceClose: true });
    await subsystem.stop();
    pair.b.close();
    await new Promise((r) => setImmediate(r));
    pair.network.arena.assertNoLeaks();
  });

  it('echoes a line to a peer on another stack', async () => {
    const sock = stackConnect(peerTcp, PORT, A_IP);
    const reply = await echo(sock, new TextEncoder().encode('hello from 198.18.0.2\n'));
    expect(reply.toString()).toBe('hello from 198.18.0.2\n');
    sock.end();
  });

  it('8 concurrent peers, 1 MiB each, every byte echoed intact', async () => {
    const socks = Array.from({ length: 8 }, () => stackConnect(peerTcp, PORT, A_IP));
    const data = socks.map((_, i) => pattern(1 << 20, i + 1));
    const replies = await Promise.all(socks.map((s, i) => echo(s, data[i]!)));
    for (let i = 0; i < socks.length; i++) {
      const got = replies[i]!;
      let diff = -1;
      for (let k = 0; k < data[i]!.length; k++) if (got[k] !== data[i]![k]) { diff = k; break; }
      expect({ peer: i, length: got.length, firstDifference: diff }).toEqual({ peer: i, length: data[i]!.length, firstDifference: -1 });
    }
    for (const s of socks) s.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(echosrvStats().errors).toEqual([]);
    expect(echosrvStats().accepted).toBeGreaterThanOrEqual(9);
  });
});

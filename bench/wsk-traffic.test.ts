// The benchmarks' WSK traffic server (bench/wsk-traffic.ts) on the kernel provider over loopback:
// how its connections end, which decides whether the peer's figure exists at all.
import { describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createKernelProvider, startWskSubsystem } from '../index.ts';
import { startTrafficServer } from './wsk-traffic.ts';

describe('bench WSK traffic server', () => {
  it('source: after its own FIN the connection stays open until the peer ends too, so a reader slower than the app is not reset', async () => {
    const subsystem = await startWskSubsystem(createKernelProvider(), { name: 'wsk-traffic-test', makeDefault: false, registerWithNmr: false });
    const server = await startTrafficServer(subsystem, { address: '127.0.0.1', port: 0, mode: 'source', seconds: 0.05 });
    try {
      // The peer takes every byte and the source's FIN but keeps its own side open: the moment a
      // busy machine leaves a slower reader in (bench/peer-net.mjs pull).
      const peer = connect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
      let bytes = 0;
      const errors: string[] = [];
      peer.on('data', (d: Buffer) => { bytes += d.length; });
      peer.on('error', (e) => { errors.push(e.message); });
      const ended = new Promise<void>((r) => peer.once('end', r));
      const closed = new Promise<boolean>((r) => peer.once('close', r));
      const sent = await server.nextResult();
      await ended;
      expect(bytes).toBe(sent.bytes);
      // A WskCloseSocket now would be abortive (runtime/wsk/connection.ts, closeConnection): the
      // app still holds the connection.
      expect(server.open).toBe(1);
      peer.end();
      expect(await closed).toBe(false);
      expect(errors).toEqual([]);
      // The peer's FIN reaches the app, which closes gracefully.
      const deadline = Date.now() + 10_000;
      while (server.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(server.open).toBe(0);
    } finally {
      await server.stop();
      await subsystem.stop();
    }
  });
});

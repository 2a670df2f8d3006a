// A client callback that throws must not cost other IRPs their completion nor leave the
// runtime inconsistent; the exception still surfaces as uncaught, as in any Node callback.
import { describe, expect, it } from 'vitest';
import {
  IoAllocateIrp, IoSetCompletionRoutine, SOCKADDR_STORAGE, WSK_FLAG_CONNECTION_SOCKET, createKernelProvider,
  type WSK_PROVIDER_CONNECTION_DISPATCH,
} from '../index.ts';
import { call } from './helpers/wsk-call.ts';
import { openSession } from './helpers/wsk-session.ts';
import { close, socket } from './contract/fixtures.ts';

describe('client exceptions', () => {
  it('a throwing completion routine does not stop the next completions; the error surfaces as uncaught', async () => {
    const w = await openSession(createKernelProvider);
    const s = await socket(w, WSK_FLAG_CONNECTION_SOCKET);
    const t = s.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const caught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (e) => caught.push(e));
    try {
      const bad = IoAllocateIrp(1);
      IoSetCompletionRoutine(bad, () => { throw new Error('client bug'); }, null, true, true, true);
      t.WskGetLocalAddress(s, SOCKADDR_STORAGE(), bad);
      const good = await call((irp) => t.WskGetLocalAddress(s, SOCKADDR_STORAGE(), irp));
      expect(good.completions).toBe(1);
      await new Promise((r) => setTimeout(r, 20));
      expect(caught.map((e) => (e as Error).message)).toEqual(['client bug']);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of listeners) process.on('uncaughtException', l);
    }
    await close(s);
    await w.close();
  });
});

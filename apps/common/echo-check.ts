// An echo client check: one connection, `bytes` random bytes out, the echo read back until the
// server closes, compared by SHA-256. What the demo and the memory-link peer use against echosrv.
import { createHash, randomBytes } from 'node:crypto';
import type { WskSubsystem } from '../../index.ts';
import { sockaddr, WskApp } from './wsk-io.ts';

export interface EchoCheck { intact: boolean; sent: number; echoed: number; ms: number }

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export async function echoRoundTrip(subsystem: WskSubsystem, host: string, port: number, bytes: number): Promise<EchoCheck> {
  const app = await WskApp.register(subsystem);
  try {
    const t0 = performance.now();
    const stream = await app.connect(sockaddr(host, port));
    const data = randomBytes(bytes);
    const got: Uint8Array[] = [];
    const reading = (async () => {
      for (;;) {
        const buf = new Uint8Array(256 * 1024);
        const n = await stream.receive(buf);
        if (n === 0) return;
        got.push(buf.subarray(0, n));
      }
    })();
    await stream.send(data);
    await stream.disconnect();
    await reading;
    await stream.close();
    const echoed = Buffer.concat(got);
    return { intact: sha256(echoed) === sha256(data), sent: bytes, echoed: echoed.byteLength, ms: performance.now() - t0 };
  } finally {
    await app.close();
  }
}

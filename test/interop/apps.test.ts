// The ported applications on the userspace stack (AF_PACKET link, veth lab) against their real
// Linux peers: curl against our HTTP server, our HTTP client against python3's http.server.
// Needs root (CI runs as root).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStackLab, sha256, type StackLab } from '../helpers/real-link.ts';
import { startHttpServer, generatedBody, type HttpServer } from '../../apps/http/http-server.ts';
import { HttpClient } from '../../apps/http/http-client.ts';

describe('HTTP/1.1 apps on the userspace stack against curl and python3 http.server', () => {
  let L: StackLab;
  let server: HttpServer;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
    server = await startHttpServer({ subsystem: L.subsystem, address: L.address, port: 8080 });
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`apps-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await server?.stop();
    await L?.close();
  }, 60_000);

  it('curl fetches 16 MiB, a chunked body and a POST echo over one kept-alive connection', async () => {
    const base = `http://${L.address}:8080`;
    const r = await L.peer(`curl -sv ${base}/bytes/16777216 ${base}/chunked/1000000?size=16384 -o ${L.dir}/a -o ${L.dir}/b 2>&1 | grep -c 'Re-using existing connection';
      sha256sum ${L.dir}/a ${L.dir}/b | cut -d' ' -f1;
      head -c 300000 /dev/zero | curl -s --data-binary @- ${base}/echo | sha256sum | cut -d' ' -f1`);
    const [reused, a, b, echo] = r.stdout.trim().split('\n');
    expect(reused).toBe('1');
    expect([a, b]).toEqual([sha256(generatedBody(16 << 20)), sha256(generatedBody(1000000))]);
    expect(echo).toBe(sha256(new Uint8Array(300000)));
    expect(server.stats.errors).toEqual([]);
  }, 60_000);

  it('our client on the stack fetches a file from python3 http.server in the peer namespace', async () => {
    const f = L.randomFile('served.bin', 4 << 20);
    const python = L.peerProcess(`cd ${L.dir} && exec python3 -u -m http.server 8000 --bind ${L.peerAddress}`);
    await python.waitFor('Serving HTTP');
    const client = await HttpClient.open(L.subsystem);
    try {
      const r = await client.request({ host: L.peerAddress, port: 8000, path: '/served.bin' });
      expect(r.status).toBe(200);
      expect(sha256(r.body)).toBe(f.sha256);
      const missing = await client.request({ host: L.peerAddress, port: 8000, path: '/missing' });
      expect(missing.status).toBe(404);
    } finally {
      await client.close();
      python.stop();
    }
  }, 60_000);
});

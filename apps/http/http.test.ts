// The HTTP/1.1 server and client (WSK applications) against real peers: curl and python3's
// http.server on loopback over the kernel provider, and each other; the framing code byte by
// byte. The same apps on the userspace stack over a veth lab are in test/interop/apps.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { startHttpServer, generatedBody, type HttpServer } from './http-server.ts';
import { HttpClient } from './http-client.ts';
import { BodyReader, ByteQueue, bodyFraming, encodeChunk, takeHead } from './http-message.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout: Buffer.concat(out), stderr: err }); });
  });
}

describe('HTTP message framing', () => {
  it('parses heads and chunked bodies split at every byte, leaving the next message in place', () => {
    const body = generatedBody(3000);
    const chunks = [encodeChunk(body.subarray(0, 1000)), encodeChunk(body.subarray(1000)), encodeChunk(new Uint8Array(0))];
    const head = new TextEncoder().encode('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n');
    const next = new TextEncoder().encode('HTTP/1.1 204 No Content\r\n\r\n');
    const all = Buffer.concat([head, ...chunks, next]);
    const q = new ByteQueue();
    let parsed = null;
    let got: Uint8Array | null = null;
    let reader: BodyReader | null = null;
    for (let i = 0; i < all.length; i++) {
      q.push(all.subarray(i, i + 1));
      if (!parsed) {
        parsed = takeHead(q);
        if (parsed) reader = new BodyReader(bodyFraming(parsed, true));
      }
      if (reader && !got) got = reader.take(q, false);
    }
    expect(parsed!.headers.get('x-a')).toBe('1, 2');
    expect(sha(got!)).toBe(sha(body));
    const second = takeHead(q)!;
    expect(second.startLine).toEqual(['HTTP/1.1', '204', 'No Content']);
    expect(bodyFraming(second, true)).toEqual({ kind: 'none' });
  });

  it('refuses malformed input with its status: bad chunk size 400, unknown transfer coding 501', () => {
    const q = new ByteQueue();
    q.push(new TextEncoder().encode('zz\r\n'));
    expect(() => new BodyReader({ kind: 'chunked' }).take(q, false)).toThrow(/chunk size/);
    const h = { startLine: ['POST', '/', 'HTTP/1.1'] as [string, string, string], headers: new Map([['transfer-encoding', 'gzip']]) };
    expect(() => bodyFraming(h, false)).toThrow(/not supported/);
  });
});

describe('HTTP server and client over WSK (kernel provider, loopback)', () => {
  let server: HttpServer;
  let dir: string;
  let python: ReturnType<typeof spawn> | null = null;
  let pythonPort = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsk-http-'));
    writeFileSync(join(dir, 'file.bin'), generatedBody(3 << 20, 7));
    server = await startHttpServer({ port: 0, root: dir });
    // A free port for python's http.server.
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    pythonPort = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    python = spawn('python3', ['-m', 'http.server', String(pythonPort), '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => python!.stderr!.once('data', () => resolve()).once('close', () => resolve()) && python!.stdout!.once('data', () => resolve()));
  });

  afterAll(async () => {
    if (python && python.exitCode === null) python.kill('SIGKILL');
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('curl: two requests over one kept-alive connection, Content-Length and chunked bodies intact', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const r = await run('curl', ['-sv', `${base}/bytes/1000000`, `${base}/chunked/777777?size=10000`, '-o', join(dir, 'a'), '-o', join(dir, 'b')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Re-using existing connection/);
    expect(r.stderr).toMatch(/Transfer-Encoding: chunked/i);
    const a = await run('sha256sum', [join(dir, 'a'), join(dir, 'b')]);
    expect(a.stdout.toString().split('\n').map((l) => l.split(' ')[0]).slice(0, 2)).toEqual([sha(generatedBody(1000000)), sha(generatedBody(777777))]);
  });

  it('curl: a static file, a POST echoed back, over IPv6 too; errors with their status', async () => {
    const file = await run('curl', ['-s', `http://[::1]:${server.port}/files/file.bin`]);
    expect(sha(file.stdout)).toBe(sha(generatedBody(3 << 20, 7)));
    const echo = await run('curl', ['-s', '--data-binary', 'posted body', `http://127.0.0.1:${server.port}/echo`]);
    expect(echo.stdout.toString()).toBe('posted body');
    const code = async (...args: string[]): Promise<string> => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args])).stdout.toString();
    expect(await code(`http://127.0.0.1:${server.port}/nope`)).toBe('404');
    expect(await code('-X', 'DELETE', `http://127.0.0.1:${server.port}/bytes/1`)).toBe('405');
    // Outside the root: refused, even when the path climbs with ../ (sent as is).
    expect(await code('--path-as-is', `http://127.0.0.1:${server.port}/files/../../etc/passwd`)).toBe('404');
  });

  it('a malformed request gets 400 and the connection closes', async () => {
    const r = await run('bash', ['-c', `printf 'GARBAGE\\r\\n\\r\\n' | nc -N 127.0.0.1 ${server.port}`]);
    expect(r.stdout.toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.stdout.toString()).toMatch(/Connection: close/);
  });

  it('our client: against our server (keep-alive reuse, chunked, POST) and against python3 http.server', async () => {
    const client = await HttpClient.open();
    try {
      const a = await client.request({ host: '127.0.0.1', port: server.port, path: '/chunked/123457?size=999' });
      const b = await client.request({ host: '127.0.0.1', port: server.port, path: '/bytes/65536' });
      const c = await client.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/echo', body: generatedBody(200000) });
      expect([a.status, a.reused, sha(a.body)]).toEqual([200, false, sha(generatedBody(123457))]);
      expect([b.status, b.reused, b.body.length]).toEqual([200, true, 65536]);
      expect([c.status, c.reused, sha(c.body)]).toEqual([200, true, sha(generatedBody(200000))]);
      const p = await client.request({ host: '127.0.0.1', port: pythonPort, path: '/file.bin' });
      expect(p.status).toBe(200);
      expect(p.headers.get('server')).toMatch(/SimpleHTTP|Python/);
      expect(sha(p.body)).toBe(sha(generatedBody(3 << 20, 7)));
    } finally {
      await client.close();
    }
    expect(server.stats.errors).toEqual([]);
  });
});

// An HTTP/1.1 client written against the WSK API: keeps one persistent connection per host and
// port and reuses it while the server allows (Connection: keep-alive, HTTP/1.1 default), reads
// responses delimited by Content-Length, chunked coding or the end of the connection.
import type { WskSubsystem } from '../../index.ts';
import { WskApp, sockaddr, type WskStream } from '../common/wsk-io.ts';
import { BodyReader, ByteQueue, HttpError, bodyFraming, encodeHead, takeHead } from './http-message.ts';

export interface HttpRequest {
  method?: string;
  host: string;
  port?: number;
  path?: string;
  headers?: [string, string][];
  body?: Uint8Array;
}

export interface HttpResponse {
  status: number;
  reason: string;
  headers: Map<string, string>;
  body: Uint8Array;
  /** True when the request went over a connection an earlier request opened. */
  reused: boolean;
}

interface Connection { stream: WskStream; queue: ByteQueue; ended: boolean }

export class HttpClient {
  private readonly connections = new Map<string, Connection>();
  private constructor(private readonly app: WskApp) {}

  static async open(subsystem?: WskSubsystem): Promise<HttpClient> {
    return new HttpClient(await WskApp.register(subsystem));
  }

  async request(r: HttpRequest): Promise<HttpResponse> {
    const port = r.port ?? 80;
    const key = `${r.host}:${port}`;
    let conn = this.connections.get(key);
    const reused = conn !== undefined;
    if (!conn) {
      conn = { stream: await this.app.connect(sockaddr(r.host, port)), queue: new ByteQueue(), ended: false };
      this.connections.set(key, conn);
    }
    const method = r.method ?? 'GET';
    const body = r.body ?? new Uint8Array(0);
    const headers: [string, string | number][] = [
      ['Host', r.host.includes(':') ? `[${r.host}]:${port}` : `${r.host}:${port}`], ['User-Agent', 'wsk-runtime'], ...(r.headers ?? []),
    ];
    if (body.byteLength > 0 || method === 'POST' || method === 'PUT') headers.push(['Content-Length', body.byteLength]);
    const head = encodeHead(`${method} ${r.path ?? '/'} HTTP/1.1`, headers);
    try {
      const all = new Uint8Array(head.byteLength + body.byteLength);
      all.set(head);
      all.set(body, head.byteLength);
      await conn.stream.send(all);
      return await this.readResponse(conn, key, method, reused);
    } catch (err) {
      await this.drop(key);
      throw err;
    }
  }

  private async readResponse(conn: Connection, key: string, method: string, reused: boolean): Promise<HttpResponse> {
    const block = new Uint8Array(256 * 1024);
    const fill = async (): Promise<void> => {
      const n = await conn.stream.receive(block);
      if (n === 0) conn.ended = true; else conn.queue.push(block.subarray(0, n));
    };
    let head = takeHead(conn.queue);
    while (!head) {
      if (conn.ended) throw new HttpError(0, 'the server closed the connection before a response');
      await fill();
      head = takeHead(conn.queue);
    }
    const [version, status, reason] = head.startLine;
    const reader = new BodyReader(bodyFraming(head, true, method));
    let body = reader.take(conn.queue, conn.ended);
    while (!body) {
      await fill();
      body = reader.take(conn.queue, conn.ended);
    }
    const connection = (head.headers.get('connection') ?? '').toLowerCase();
    const persistent = version === 'HTTP/1.1' ? !connection.includes('close') : connection.includes('keep-alive');
    if (!persistent || conn.ended) await this.drop(key);
    return { status: Number(status), reason, headers: head.headers, body, reused };
  }

  private async drop(key: string): Promise<void> {
    const conn = this.connections.get(key);
    if (!conn) return;
    this.connections.delete(key);
    await conn.stream.disconnect().catch(() => {});
    await conn.stream.close();
  }

  async close(): Promise<void> {
    for (const key of [...this.connections.keys()]) await this.drop(key);
    await this.app.close();
  }
}

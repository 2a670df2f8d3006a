// HTTP/1.1 message framing (RFC 9112) for the ported HTTP server and client: heads parsed from a
// byte stream as it arrives, and bodies delimited by Content-Length, chunked transfer coding
// (§7.1), or — for responses only — the end of the connection. Pure data handling; the WSK
// sockets are the caller's.

export interface HttpHead {
  /** Request: method, target, version. Response: version, status, reason. */
  startLine: [string, string, string];
  /** Lower-cased names; repeated fields joined with ", " (RFC 9110 §5.3). */
  headers: Map<string, string>;
}

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const MAX_HEAD = 64 * 1024;
const CRLF = Uint8Array.of(13, 10);
const decoder = new TextDecoder('latin1');

/** Bytes received and not yet consumed, growing as chunks arrive. */
export class ByteQueue {
  private buf = new Uint8Array(16 * 1024);
  private start = 0;
  private end = 0;

  get length(): number { return this.end - this.start; }

  push(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.buf.byteLength) {
      // Move what is left to the front, into a larger buffer if it still does not fit.
      const live = this.end - this.start;
      if (live + chunk.byteLength > this.buf.byteLength) {
        const next = new Uint8Array(Math.max(this.buf.byteLength * 2, live + chunk.byteLength));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.end = live;
      this.start = 0;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  /** Index (relative to the start) of `needle`, or -1. */
  indexOf(needle: Uint8Array, from = 0): number {
    const b = this.buf;
    outer: for (let i = this.start + from; i <= this.end - needle.length; i++) {
      for (let k = 0; k < needle.length; k++) if (b[i + k] !== needle[k]) continue outer;
      return i - this.start;
    }
    return -1;
  }

  /** Removes and returns the first n bytes (a copy). */
  take(n: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    if (this.start === this.end) this.start = this.end = 0;
    return out;
  }
}

/** Parses a head (start line and fields) once it is complete; null while more bytes are needed. */
export function takeHead(q: ByteQueue): HttpHead | null {
  const at = q.indexOf(Uint8Array.of(13, 10, 13, 10));
  if (at < 0) {
    if (q.length > MAX_HEAD) throw new HttpError(431, 'request header fields too large');
    return null;
  }
  const text = decoder.decode(q.take(at + 4)).slice(0, -4);
  const lines = text.split('\r\n');
  const first = lines.shift()!;
  const parts = first.split(' ');
  if (parts.length < 3) throw new HttpError(400, `malformed start line: ${JSON.stringify(first.slice(0, 80))}`);
  const startLine: [string, string, string] = [parts[0]!, parts[1]!, parts.slice(2).join(' ')];
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /\s/.test(line[colon - 1]!)) throw new HttpError(400, `malformed header field: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers.get(name);
    headers.set(name, prior === undefined ? value : `${prior}, ${value}`);
  }
  return { startLine, headers };
}

/** How a message's body is delimited. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export function bodyFraming(head: HttpHead, isResponse: boolean, requestMethod = 'GET'): BodyFraming {
  if (isResponse) {
    const status = Number(head.startLine[1]);
    if (requestMethod === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return { kind: 'none' };
  }
  const te = head.headers.get('transfer-encoding');
  if (te !== undefined) {
    if (te.toLowerCase().split(',').map((s) => s.trim()).pop() === 'chunked') return { kind: 'chunked' };
    if (!isResponse) throw new HttpError(501, `transfer coding not supported: ${te}`);
    return { kind: 'close' };
  }
  const cl = head.headers.get('content-length');
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new HttpError(400, `malformed Content-Length: ${cl}`);
    return { kind: 'length', length: Number(cl) };
  }
  return isResponse ? { kind: 'close' } : { kind: 'none' };
}

/**
 * Incremental body reader: feed it the queue as bytes arrive; `take` returns the body once it is
 * complete (null while incomplete), leaving any following message in the queue.
 */
export class BodyReader {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  private chunkLeft = -1;
  private trailers = false;
  done = false;

  constructor(private readonly framing: BodyFraming, private readonly limit = 256 << 20) {
    if (framing.kind === 'none') this.done = true;
  }

  /** Consumes what it can; returns the body once complete. `ended`: the peer closed. */
  take(q: ByteQueue, ended: boolean): Uint8Array | null {
    const f = this.framing;
    if (f.kind === 'length') {
      const want = f.length - this.size;
      if (want > 0 && q.length > 0) this.add(q.take(Math.min(want, q.length)));
      if (this.size === f.length) this.done = true;
      else if (ended) throw new HttpError(400, `connection closed ${f.length - this.size} bytes before the end of the body`);
    } else if (f.kind === 'close') {
      if (q.length > 0) this.add(q.take(q.length));
      if (ended) this.done = true;
    } else if (f.kind === 'chunked') {
      this.takeChunks(q);
      if (!this.done && ended) throw new HttpError(400, 'connection closed inside a chunked body');
    }
    return this.done ? this.body() : null;
  }

  private takeChunks(q: ByteQueue): void {
    for (;;) {
      if (this.trailers) {
        // Trailer fields end with an empty line; we read past them.
        const at = q.indexOf(CRLF);
        if (at < 0) return;
        q.take(at + 2);
        if (at === 0) { this.done = true; return; }
        continue;
      }
      if (this.chunkLeft < 0) {
        const at = q.indexOf(CRLF);
        if (at < 0) { if (q.length > 1024) throw new HttpError(400, 'chunk size line too long'); return; }
        const line = decoder.decode(q.take(at + 2)).slice(0, -2);
        const size = parseInt(line.split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+/.test(line)) throw new HttpError(400, `malformed chunk size: ${JSON.stringify(line.slice(0, 40))}`);
        if (size === 0) { this.trailers = true; continue; }
        this.chunkLeft = size;
      }
      if (this.chunkLeft > 0) {
        if (q.length === 0) return;
        const n = Math.min(this.chunkLeft, q.length);
        this.add(q.take(n));
        this.chunkLeft -= n;
        if (this.chunkLeft > 0) return;
      }
      // The CRLF after the chunk data.
      if (q.length < 2) return;
      const crlf = q.take(2);
      if (crlf[0] !== 13 || crlf[1] !== 10) throw new HttpError(400, 'chunk data not followed by CRLF');
      this.chunkLeft = -1;
    }
  }

  private add(part: Uint8Array): void {
    this.size += part.byteLength;
    if (this.size > this.limit) throw new HttpError(413, `body larger than ${this.limit} bytes`);
    this.parts.push(part);
  }

  private body(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.byteLength; }
    return out;
  }
}

const encoder = new TextEncoder();

/** A head as bytes: start line, fields, empty line. */
export function encodeHead(startLine: string, headers: [string, string | number][]): Uint8Array {
  return encoder.encode(`${startLine}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
}

/** One chunk of a chunked body (an empty `data` is the last chunk). */
export function encodeChunk(data: Uint8Array): Uint8Array {
  if (data.byteLength === 0) return encoder.encode('0\r\n\r\n');
  const size = encoder.encode(`${data.byteLength.toString(16)}\r\n`);
  const out = new Uint8Array(size.byteLength + data.byteLength + 2);
  out.set(size);
  out.set(data, size.byteLength);
  out.set(CRLF, size.byteLength + data.byteLength);
  return out;
}

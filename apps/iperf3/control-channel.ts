// The iperf3 control connection as a byte stream: states and JSON messages can share a segment
// or be split across several, so reads go through one buffer and take exactly what they need.
import type { WskStream } from '../common/wsk-io.ts';
import { within } from '../common/timeout.ts';
import { encodeJsonMessage, MAX_JSON_MESSAGE } from './iperf3-protocol.ts';

export class ControlClosedError extends Error {
  override name = 'ControlClosedError';
  constructor() { super('the peer closed the control connection'); }
}

export class ControlChannel {
  private readonly scratch = new Uint8Array(64 * 1024);
  private buffered = new Uint8Array(0);

  constructor(readonly stream: WskStream) {}

  private async fill(): Promise<void> {
    const n = await this.stream.receive(this.scratch);
    if (n === 0) throw new ControlClosedError();
    const merged = new Uint8Array(this.buffered.byteLength + n);
    merged.set(this.buffered);
    merged.set(this.scratch.subarray(0, n), this.buffered.byteLength);
    this.buffered = merged;
  }

  async readExact(n: number): Promise<Uint8Array> {
    while (this.buffered.byteLength < n) await this.fill();
    const out = this.buffered.slice(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** The next state byte (signed: ACCESS_DENIED is -1). */
  async readState(): Promise<number> {
    const b = await this.readExact(1);
    return (b[0]! << 24) >> 24;
  }

  async readJson(): Promise<unknown> {
    const header = await this.readExact(4);
    const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
    if (length > MAX_JSON_MESSAGE) throw new Error(`a JSON message of ${length} bytes is larger than the ${MAX_JSON_MESSAGE} we accept`);
    const text = new TextDecoder().decode(await this.readExact(length));
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`the peer sent a JSON message that does not parse: ${text.slice(0, 80)}`);
    }
  }

  writeState(state: number): Promise<void> {
    return this.stream.send(Uint8Array.of(state & 0xff));
  }

  writeBytes(bytes: Uint8Array): Promise<void> {
    return this.stream.send(bytes);
  }

  writeJson(value: unknown): Promise<void> {
    return this.stream.send(encodeJsonMessage(value));
  }

  /**
   * Closes as a socket's close() does: our FIN, and up to `ms` for the peer's, then
   * WskCloseSocket, which before both ends are done would be abortive (R43). 0: abortive at once.
   */
  close(ms: number): Promise<void> {
    this.closing ??= (async () => {
      if (ms > 0) await Promise.all([within((async () => { for (;;) await this.fill(); })(), ms), within(this.stream.disconnect(), ms)]);
      await this.stream.close();
    })();
    return this.closing;
  }

  private closing: Promise<void> | null = null;
}

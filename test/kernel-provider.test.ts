// Kernel provider (transports/kernel) against the host stack, on 127.0.0.1 and ::1 only (plus one
// transient dual-stack wildcard listener). Name resolution only touches /etc/hosts ('localhost')
// and numeric addresses, so no DNS server is ever queried. Every wait is bounded.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createKernelProvider, type KernelProvider } from '../transports/kernel/kernel-provider.ts';
import { ProviderError, type ConnectionSink, type DatagramSink, type ListenerSink, type TransportConnection } from '../runtime/provider.ts';
import {
  ntStatusName,
  STATUS_ACCESS_DENIED,
  STATUS_CONNECTION_REFUSED,
  STATUS_CONNECTION_RESET,
  STATUS_NOT_SUPPORTED,
  STATUS_PIPE_DISCONNECTED,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../runtime/ntstatus.ts';
import {
  AF_INET,
  AF_INET6,
  endpointAddressString,
  endpointFromText,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SOCK_DGRAM,
  SOCK_RAW,
  SOCK_STREAM,
  type Endpoint,
} from '../runtime/sockaddr.ts';

const WAIT_MS = 5000;
const RAW_BIND_END = fileURLToPath(new URL('./helpers/raw-bind-end.ts', import.meta.url));
const loop4 = (port = 0): Endpoint => endpointFromText('127.0.0.1', port, AF_INET);
const loop6 = (port = 0): Endpoint => endpointFromText('::1', port, AF_INET6);
const FAMILIES = [
  { name: 'IPv4', family: AF_INET, loopback: loop4 },
  { name: 'IPv6', family: AF_INET6, loopback: loop6 },
] as const;
const streamOptions = { keepAlive: false, noDelay: false, v6Only: false };
const listenOptions = { v6Only: false, backlog: 16, keepAlive: false };

/** Polls `cond` until true; fails after `ms`. */
async function until(cond: () => boolean, label: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function within<T>(promise: Promise<T>, label: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${label}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function rejection(promise: Promise<unknown>, label: string): Promise<ProviderError> {
  const err = await within(promise.then(() => null, (e: unknown) => e), label);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Recorder implements ConnectionSink {
  readonly chunks: Uint8Array[] = [];
  bytes = 0;
  ended = false;
  aborts: NTSTATUS[] = [];
  /** Any call after onAbort breaks the contract. */
  lateCalls = 0;
  onData(chunk: Uint8Array): void {
    if (this.aborts.length) this.lateCalls++;
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
  }
  onEnd(): void {
    if (this.aborts.length || this.ended) this.lateCalls++;
    this.ended = true;
  }
  onAbort(status: NTSTATUS): void {
    if (this.aborts.length) this.lateCalls++;
    this.aborts.push(status);
  }
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
  waitBytes(n: number): Promise<void> { return until(() => this.bytes >= n, `${n} bytes (have ${this.bytes})`); }
  waitEnd(): Promise<void> { return until(() => this.ended, 'onEnd'); }
  waitAbort(): Promise<void> { return until(() => this.aborts.length > 0, 'onAbort'); }
}

class Acceptor implements ListenerSink {
  readonly accepted: TransportConnection[] = [];
  errors: NTSTATUS[] = [];
  onConnection(connection: TransportConnection): void { this.accepted.push(connection); }
  onError(status: NTSTATUS): void { this.errors.push(status); }
  async next(index = 0): Promise<TransportConnection> {
    await until(() => this.accepted.length > index, 'accepted connection');
    return this.accepted[index]!;
  }
}

function sendAll(connection: TransportConnection, pieces: Uint8Array[], nodelay = false): Promise<NTSTATUS> {
  return within(new Promise((resolve) => connection.send(pieces, nodelay, resolve)), 'send completion');
}

function shutdown(connection: TransportConnection): Promise<NTSTATUS> {
  return within(new Promise((resolve) => connection.shutdown(resolve)), 'shutdown completion');
}

let provider: KernelProvider;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  provider = createKernelProvider();
  await provider.start();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) c();
  await provider.stop();
});

async function connectedPair(local: Endpoint, connectTo?: (listening: Endpoint) => Endpoint) {
  const acceptor = new Acceptor();
  const listener = await within(provider.listen(local, listenOptions, acceptor), 'listen');
  cleanups.push(() => listener.close());
  const target = connectTo ? connectTo(listener.localEndpoint) : listener.localEndpoint;
  const client = await within(provider.connect(null, target, streamOptions), 'connect');
  cleanups.push(() => client.close());
  const server = await acceptor.next();
  cleanups.push(() => server.close());
  const clientSink = new Recorder();
  const serverSink = new Recorder();
  return { listener, client, server, clientSink, serverSink, acceptor };
}

describe('KernelProvider basics', () => {
  it('a raw socket without CAP_NET_RAW: WskSocket succeeds, WskBind fails with STATUS_ACCESS_DENIED (Windows: WSAEACCES without the right; the "TCP/IP raw sockets" page)', () => {
    // setpriv drops CAP_NET_RAW from the bounding set: root's child then lacks it.
    const out = execFileSync('setpriv', ['--bounding-set', '-net_raw', process.execPath, '--import', 'tsx', RAW_BIND_END], { encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out)).toEqual({ socket: STATUS_SUCCESS, bind: STATUS_ACCESS_DENIED });
  });

  it('is named kernel and offers TCP, UDP and raw sockets of any protocol for both families', () => {
    expect(provider.name).toBe('kernel');
    const triples = provider.transports();
    for (const family of [AF_INET, AF_INET6]) {
      expect(triples).toContainEqual({ family, socketType: SOCK_STREAM, protocol: IPPROTO_TCP });
      expect(triples).toContainEqual({ family, socketType: SOCK_DGRAM, protocol: IPPROTO_UDP });
      expect(triples).toContainEqual({ family, socketType: SOCK_RAW, protocol: 0 });
    }
    expect(triples).toHaveLength(6);
  });

  it('lists local addresses of the requested family', () => {
    const v4 = provider.localAddresses(AF_INET);
    expect(v4.every((ep) => ep.family === AF_INET && ep.address.byteLength === 4 && ep.port === 0)).toBe(true);
    expect(v4.map(endpointAddressString)).toContain('127.0.0.1');
    const v6 = provider.localAddresses(AF_INET6);
    expect(v6.every((ep) => ep.family === AF_INET6 && ep.address.byteLength === 16 && ep.port === 0)).toBe(true);
    expect(provider.localAddresses(99)).toEqual([]);
  });

  it('reservePort gives a port that can then be listened on', async () => {
    const port = await within(provider.reservePort(loop4()), 'reservePort');
    expect(port).toBeGreaterThan(0);
    const listener = await within(provider.listen(loop4(port), listenOptions, new Acceptor()), 'listen on reserved port');
    cleanups.push(() => listener.close());
    expect(listener.localEndpoint.port).toBe(port);
    expect(endpointAddressString(listener.localEndpoint)).toBe('127.0.0.1');
  });

  it('listen on a port in use rejects with STATUS_ADDRESS_ALREADY_ASSOCIATED', async () => {
    const listener = await within(provider.listen(loop4(), listenOptions, new Acceptor()), 'listen');
    cleanups.push(() => listener.close());
    const err = await rejection(provider.listen(loop4(listener.localEndpoint.port), listenOptions, new Acceptor()), 'second listen');
    expect(ntStatusName(err.status)).toMatch(/^STATUS_ADDRESS_ALREADY_ASSOCIATED/);
  });

  it('stop() closes the listeners it still owns', async () => {
    const listener = await within(provider.listen(loop4(), listenOptions, new Acceptor()), 'listen');
    const port = listener.localEndpoint.port;
    await provider.stop();
    await sleep(10);
    const err = await rejection(provider.connect(null, loop4(port), streamOptions), 'connect after stop');
    expect(err.status).toBe(STATUS_CONNECTION_REFUSED);
  });
});

for (const { name, family, loopback } of FAMILIES) {
  describe(`TCP over ${name} loopback`, () => {
    it('moves 1 MiB each way at once, intact, with consistent endpoints', async () => {
      const { listener, client, server, clientSink, serverSink } = await connectedPair(loopback());
      expect(client.remoteEndpoint).toMatchObject({ family, port: listener.localEndpoint.port });
      expect(server.localEndpoint).toMatchObject({ family, port: listener.localEndpoint.port });
      expect(server.remoteEndpoint.family).toBe(family);
      expect(server.remoteEndpoint.port).toBe(client.localEndpoint.port);
      expect(endpointAddressString(server.remoteEndpoint)).toBe(endpointAddressString(loopback()));
      client.attach(clientSink);
      server.attach(serverSink);

      const up = randomBytes(1 << 20);
      const down = randomBytes(1 << 20);
      const slices = (buf: Buffer): Uint8Array[] => {
        const out: Uint8Array[] = [];
        for (let off = 0, i = 0; off < buf.length; i++) {
          const size = Math.min(buf.length - off, [1, 4096, 65536, 100000][i % 4]!);
          out.push(new Uint8Array(buf.buffer, buf.byteOffset + off, size));
          off += size;
        }
        return out;
      };
      const sent = await Promise.all([sendAll(client, slices(up)), sendAll(server, slices(down), true)]);
      expect(sent).toEqual([STATUS_SUCCESS, STATUS_SUCCESS]);
      await Promise.all([serverSink.waitBytes(up.length), clientSink.waitBytes(down.length)]);
      expect(serverSink.data().equals(up)).toBe(true);
      expect(clientSink.data().equals(down)).toBe(true);
      expect(serverSink.aborts).toEqual([]);
      expect(clientSink.aborts).toEqual([]);
    });

    it('keeps data that arrives before attach', async () => {
      const { client, server, serverSink } = await connectedPair(loopback());
      client.attach(new Recorder());
      expect(await sendAll(client, [Buffer.from('early '), Buffer.from('bird')])).toBe(STATUS_SUCCESS);
      await sleep(30);
      expect(serverSink.bytes).toBe(0);
      server.attach(serverSink);
      await serverSink.waitBytes(10);
      expect(serverSink.data().toString()).toBe('early bird');
    });

    it('pauseReceive holds data back until resumeReceive', async () => {
      const { client, server, serverSink } = await connectedPair(loopback());
      client.attach(new Recorder());
      server.attach(serverSink);
      expect(await sendAll(client, [Buffer.from('one')])).toBe(STATUS_SUCCESS);
      await serverSink.waitBytes(3);
      server.pauseReceive();
      expect(await sendAll(client, [Buffer.from('two')])).toBe(STATUS_SUCCESS);
      await sleep(30);
      expect(serverSink.bytes).toBe(3);
      server.resumeReceive();
      await serverSink.waitBytes(6);
      expect(serverSink.data().toString()).toBe('onetwo');
    });

    it('half-close: the peer sees onEnd and can still send back; a graceful close is no abort', async () => {
      const { client, server, clientSink, serverSink } = await connectedPair(loopback());
      client.attach(clientSink);
      server.attach(serverSink);
      expect(await sendAll(client, [Buffer.from('request')])).toBe(STATUS_SUCCESS);
      expect(await shutdown(client)).toBe(STATUS_SUCCESS);
      await serverSink.waitEnd();
      expect(serverSink.data().toString()).toBe('request');
      expect(await sendAll(client, [Buffer.from('late')])).toBe(STATUS_PIPE_DISCONNECTED);

      expect(await sendAll(server, [Buffer.from('resp'), Buffer.from('onse')])).toBe(STATUS_SUCCESS);
      expect(await shutdown(server)).toBe(STATUS_SUCCESS);
      await clientSink.waitEnd();
      expect(clientSink.data().toString()).toBe('response');
      await sleep(30);
      client.close();
      server.close();
      await sleep(10);
      for (const sink of [clientSink, serverSink]) {
        expect(sink.aborts).toEqual([]);
        expect(sink.lateCalls).toBe(0);
      }
    });

    it('abort resets: the peer gets onAbort(STATUS_CONNECTION_RESET), the aborter nothing more', async () => {
      const { client, server, clientSink, serverSink } = await connectedPair(loopback());
      client.attach(clientSink);
      server.attach(serverSink);
      expect(await sendAll(client, [Buffer.from('x')])).toBe(STATUS_SUCCESS);
      await serverSink.waitBytes(1);
      client.abort();
      await serverSink.waitAbort();
      expect(serverSink.aborts.map(ntStatusName)).toEqual([ntStatusName(STATUS_CONNECTION_RESET)]);
      expect(serverSink.ended).toBe(false);
      const late = await sendAll(server, [Buffer.from('too late')]);
      expect(late).toBeLessThan(0);
      await sleep(20);
      expect(clientSink.aborts).toEqual([]);
      expect(clientSink.bytes).toBe(0);
      expect(serverSink.lateCalls).toBe(0);
    });

    it('a send stuck behind a non-reading peer fails once when the peer resets', async () => {
      const { client, server, clientSink } = await connectedPair(loopback());
      client.attach(clientSink);
      const completions: NTSTATUS[] = [];
      client.send([randomBytes(32 << 20)], false, (status) => completions.push(status));
      await sleep(50);
      expect(completions).toEqual([]);
      server.abort();
      await until(() => completions.length > 0 && clientSink.aborts.length > 0, 'send failure and onAbort');
      await sleep(20);
      expect(completions).toHaveLength(1);
      expect(completions[0]).toBeLessThan(0);
      expect(clientSink.aborts.map(ntStatusName)).toEqual([ntStatusName(STATUS_CONNECTION_RESET)]);
      expect(clientSink.lateCalls).toBe(0);
    });

    it('a reset before attach is reported by attach as onAbort', async () => {
      const { client, server, serverSink } = await connectedPair(loopback());
      client.abort();
      await sleep(30);
      server.attach(serverSink);
      await serverSink.waitAbort();
      expect(serverSink.aborts.map(ntStatusName)).toEqual([ntStatusName(STATUS_CONNECTION_RESET)]);
    });

    it('connect to a closed port rejects with STATUS_CONNECTION_REFUSED', async () => {
      const port = await within(provider.reservePort(loopback()), 'reservePort');
      const err = await rejection(provider.connect(null, loopback(port), streamOptions), 'connect');
      expect(ntStatusName(err.status)).toBe(ntStatusName(STATUS_CONNECTION_REFUSED));
    });

    it('connect from an explicit local endpoint (port 0 = any) uses that address', async () => {
      const acceptor = new Acceptor();
      const listener = await within(provider.listen(loopback(), listenOptions, acceptor), 'listen');
      cleanups.push(() => listener.close());
      const client = await within(provider.connect(loopback(0), listener.localEndpoint, { ...streamOptions, noDelay: true, keepAlive: true }), 'connect');
      cleanups.push(() => client.close());
      const server = await acceptor.next();
      cleanups.push(() => server.close());
      expect(client.localEndpoint.port).toBeGreaterThan(0);
      expect(endpointAddressString(client.localEndpoint)).toBe(endpointAddressString(loopback()));
      expect(server.remoteEndpoint.port).toBe(client.localEndpoint.port);
      client.setKeepAlive(true, 30, 5, 3);
      expect(client.idealSendBacklog()).toBe(64 * 1024);
    });
  });

  describe(`UDP over ${name} loopback`, () => {
    it('sends and receives datagrams with the sender endpoint', async () => {
      const received: { data: Buffer; from: Endpoint }[] = [];
      const errors: NTSTATUS[] = [];
      const sink: DatagramSink = {
        // bytes and from are the transport's during the call only: copied.
        onDatagram: (bytes, offset, length, from) => {
          received.push({ data: Buffer.from(bytes.subarray(offset, offset + length)), from: { ...from, address: Uint8Array.from(from.address) } });
        },
        onError: (status) => { errors.push(status); },
      };
      const options = { v6Only: false, reuseAddress: false, receiveBufferSize: 1 << 16, broadcast: false, receiveInfo: 0 };
      const a = await within(provider.bindDatagram(loopback(), options, { onDatagram: () => {}, onError: () => {} }), 'bind a');
      cleanups.push(() => a.close());
      const b = await within(provider.bindDatagram(loopback(), options, sink), 'bind b');
      cleanups.push(() => b.close());
      expect(a.localEndpoint.family).toBe(family);
      expect(b.localEndpoint.port).toBeGreaterThan(0);

      const result = await within(new Promise<[NTSTATUS, number]>((resolve) => {
        a.sendTo([Buffer.from('hel'), new Uint8Array([0x6c, 0x6f])], b.localEndpoint, (status, bytes) => resolve([status, bytes]));
      }), 'sendTo');
      expect(result).toEqual([STATUS_SUCCESS, 5]);
      await until(() => received.length === 1, 'datagram');
      expect(received[0]!.data.toString()).toBe('hello');
      expect(received[0]!.from.family).toBe(family);
      expect(received[0]!.from.port).toBe(a.localEndpoint.port);
      expect(endpointAddressString(received[0]!.from)).toBe(endpointAddressString(loopback()));
      expect(errors).toEqual([]);
    });
  });
}

describe('dual-stack listener', () => {
  it('an AF_INET6 wildcard listener without v6Only accepts IPv4 peers as ::ffff:127.0.0.1', async () => {
    const { listener, client, server, clientSink, serverSink } = await connectedPair(
      endpointFromText('::', 0, AF_INET6),
      (listening) => loop4(listening.port),
    );
    expect(listener.localEndpoint.family).toBe(AF_INET6);
    expect(client.remoteEndpoint.family).toBe(AF_INET);
    expect(server.remoteEndpoint.family).toBe(AF_INET6);
    expect(endpointAddressString(server.remoteEndpoint)).toBe('::ffff:127.0.0.1');
    expect(endpointAddressString(server.localEndpoint)).toBe('::ffff:127.0.0.1');
    expect(server.remoteEndpoint.port).toBe(client.localEndpoint.port);
    client.attach(clientSink);
    server.attach(serverSink);
    expect(await sendAll(client, [Buffer.from('ping')])).toBe(STATUS_SUCCESS);
    await serverSink.waitBytes(4);
    expect(await sendAll(server, [Buffer.from('pong')])).toBe(STATUS_SUCCESS);
    await clientSink.waitBytes(4);
    expect(clientSink.data().toString()).toBe('pong');
  });

  it('with v6Only the same listener refuses IPv4 peers', async () => {
    const listener = await within(provider.listen(endpointFromText('::', 0, AF_INET6), { ...listenOptions, v6Only: true }, new Acceptor()), 'listen');
    cleanups.push(() => listener.close());
    const err = await rejection(provider.connect(null, loop4(listener.localEndpoint.port), streamOptions), 'connect');
    expect(err.status).toBe(STATUS_CONNECTION_REFUSED);
  });
});

describe('resolver', () => {
  it("lookup('localhost', AF_INET) gives 127.0.0.1 (from /etc/hosts)", async () => {
    const endpoints = await within(provider.resolver.lookup('localhost', AF_INET), 'lookup');
    expect(endpoints.length).toBeGreaterThan(0);
    expect(endpoints.every((ep) => ep.family === AF_INET && ep.port === 0)).toBe(true);
    expect(endpoints.map(endpointAddressString)).toContain('127.0.0.1');
  });

  it('numeric addresses resolve to themselves', async () => {
    const v6 = await within(provider.resolver.lookup('::1', AF_INET6), 'lookup ::1');
    expect(v6.map(endpointAddressString)).toEqual(['::1']);
    expect(v6[0]!.family).toBe(AF_INET6);
    const v4 = await within(provider.resolver.lookup('127.0.0.1', 0), 'lookup 127.0.0.1');
    expect(v4.map(endpointAddressString)).toEqual(['127.0.0.1']);
  });

  it('rejects an unknown family with STATUS_NOT_SUPPORTED', async () => {
    const err = await rejection(provider.resolver.lookup('localhost', 99), 'lookup');
    expect(err.status).toBe(STATUS_NOT_SUPPORTED);
  });

  it('reverse(127.0.0.1) names localhost', async () => {
    const result = await within(provider.resolver.reverse(loop4(80)), 'reverse');
    expect(result.host).toBe('localhost');
    expect(typeof result.service).toBe('string');
  });
});

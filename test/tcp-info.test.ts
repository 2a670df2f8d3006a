// SIO_TCP_INFO (mstcpip.h TCP_INFO_v0), TCP_CONGESTION_ALGORITHM and SO_RCVBUF on a connection,
// as a WSK client sees them: on the userspace stack (two stacks on the memory link) everything
// the stack knows; on the kernel provider what node can (the host's congestion control, no
// TCP state).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKernelProvider, IPPROTO_TCP, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET, startWskSubsystem, STATUS_NOT_FOUND, STATUS_NOT_SUPPORTED,
  TCP_CONGESTION_ALGORITHM, TCPSTATE_ESTABLISHED, WSK_EVENT_RECEIVE, STATUS_SUCCESS, type WskSubsystem,
} from '../index.ts';
import { createStackProvider } from '../runtime/net/stack-provider.ts';
import { B_IP, stackPair, type StackPair } from '../apps/lab/stack-pair.ts';
import { sockaddr, WskApp, WskError } from '../apps/common/wsk-io.ts';

/** A listener on `host`, one accepted connection that counts what it receives, and a connected client. */
async function connectedPair(server: WskApp, client: WskApp, host: string, configure?: Parameters<WskApp['connect']>[4]) {
  const listener = await server.listen(sockaddr(host, 0));
  const local = await listener.localAddress();
  const received = { bytes: 0 };
  const accepted = listener.accept({ WskReceiveEvent: (_c: unknown, _f: number, _l: unknown, n: number) => { received.bytes += n; return STATUS_SUCCESS; } }, received);
  const conn = await client.connect(local, null, null, null, configure);
  const acc = await accepted;
  await acc.enableEvents(WSK_EVENT_RECEIVE);
  return { listener, conn, acc, received };
}

async function closeAll(...sockets: { close(): Promise<void> }[]): Promise<void> {
  for (const s of sockets) await s.close().catch(() => {});
}

describe('SIO_TCP_INFO and TCP_CONGESTION_ALGORITHM on the userspace stack', () => {
  let pair: StackPair;
  let a: WskSubsystem;
  let b: WskSubsystem;
  let appA: WskApp;
  let appB: WskApp;
  beforeAll(async () => {
    pair = stackPair();
    a = await startWskSubsystem(createStackProvider(pair.a, { ownsStack: false }), { name: 'tcp-info-a' });
    b = await startWskSubsystem(createStackProvider(pair.b, { ownsStack: false }), { name: 'tcp-info-b' });
    appA = await WskApp.register(a);
    appB = await WskApp.register(b);
  });
  afterAll(async () => {
    await appA?.close();
    await appB?.close();
    await a?.stop();
    await b?.stop();
    pair?.close();
  });

  it('TCP_INFO_v0 of a connection that sent 1 MiB: ESTABLISHED, its MSS, the bytes out, a window and an RTT', async () => {
    const { listener, conn, acc, received } = await connectedPair(appB, appA, B_IP);
    await conn.send(new Uint8Array(1 << 20));
    const info = await conn.tcpInfo();
    expect(info).not.toBeNull();
    expect(info!.State).toBe(TCPSTATE_ESTABLISHED);
    expect(info!.Mss).toBe(1448); // 1460 less the 12-byte timestamp option
    expect(info!.BytesOut).toBeGreaterThanOrEqual(1 << 20);
    expect(info!.Cwnd).toBeGreaterThanOrEqual(2 * 1460);
    expect(info!.SndWnd).toBeGreaterThan(0);
    expect(info!.RttUs).toBeGreaterThan(0);
    expect(info!.BytesRetrans).toBe(0);
    // The receiver's side counts what came in.
    const theirs = await acc.tcpInfo();
    expect(theirs!.BytesIn).toBe(received.bytes);
    await closeAll(conn, acc, listener);
  });

  it('a congestion control chosen before connect is the connection\'s; an unknown name is STATUS_NOT_FOUND', async () => {
    const { listener, conn, acc } = await connectedPair(appB, appA, B_IP, async (s) => {
      const err = await s.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, 'no-such-cc').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WskError);
      expect((err as WskError).status).toBe(STATUS_NOT_FOUND);
      await s.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, 'newreno');
    });
    expect(await conn.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM)).toBe('newreno');
    expect(await acc.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM)).toBe('cubic');
    // Switching an open connection keeps it going.
    await acc.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, 'newreno');
    expect(await acc.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM)).toBe('newreno');
    await conn.send(new Uint8Array(256 * 1024));
    await closeAll(conn, acc, listener);
  });

  it('SO_SNDBUF on a connection caps the bytes in flight (TCP_INFO BytesInFlight stays within it while 4 MiB go) and reads back', async () => {
    const { listener, conn, acc } = await connectedPair(appB, appA, B_IP);
    await conn.setOption(SOL_SOCKET, SO_SNDBUF, 32 * 1024);
    expect(await conn.getOption(SOL_SOCKET, SO_SNDBUF)).toBe(32 * 1024);
    let sent = false;
    const sending = conn.send(new Uint8Array(4 << 20)).then(() => { sent = true; });
    let samples = 0;
    let maxInFlight = 0;
    // One sample per event-loop turn (the transfer moves between them), bounded.
    while (!sent && samples < 100_000) {
      maxInFlight = Math.max(maxInFlight, (await conn.tcpInfo())!.BytesInFlight);
      samples++;
      await new Promise((r) => setImmediate(r));
    }
    await sending;
    expect(samples).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(32 * 1024);
    await closeAll(conn, acc, listener);
  });

  it('SO_RCVBUF on a connection fixes its receive buffer (autotuning stops there)', async () => {
    const { listener, conn, acc } = await connectedPair(appB, appA, B_IP);
    await acc.setOption(SOL_SOCKET, SO_RCVBUF, 64 * 1024);
    await conn.send(new Uint8Array(4 << 20));
    expect((await acc.tcpInfo())!.RcvBuf).toBe(64 * 1024);
    expect(await acc.getOption(SOL_SOCKET, SO_RCVBUF)).toBe(64 * 1024);
    await closeAll(conn, acc, listener);
  });
});

describe('SIO_TCP_INFO and TCP_CONGESTION_ALGORITHM on the kernel provider', () => {
  let k: WskSubsystem;
  let app: WskApp;
  beforeAll(async () => {
    k = await startWskSubsystem(createKernelProvider(), { name: 'tcp-info-kernel' });
    app = await WskApp.register(k);
  });
  afterAll(async () => {
    await app?.close();
    await k?.stop();
  });

  it('no TCP state through node (null), the host\'s congestion control by name, and no choosing one', async () => {
    const { listener, conn, acc } = await connectedPair(app, app, '127.0.0.1');
    expect(await conn.tcpInfo()).toBeNull();
    const host = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
    expect(await conn.getName(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM)).toBe(host);
    const err = await conn.setOption(IPPROTO_TCP, TCP_CONGESTION_ALGORITHM, host).catch((e: unknown) => e);
    expect((err as WskError).status).toBe(STATUS_NOT_SUPPORTED);
    await closeAll(conn, acc, listener);
  });
});

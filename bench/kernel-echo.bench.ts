// WSK on the kernel provider against plain node:net, in one run on loopback: request-response
// round trips (64-byte echo) and a bulk one-way transfer into a sink. The server side is what
// differs — a WSK application (WskAccept, WskReceive/WskSend IRPs) or a node:net server; the
// client is the same node:net load generator in a separate process (bench/load-client.mjs).
// Prints both figures and the ratio. Bounded in bytes and time.
//   npx tsx bench/kernel-echo.bench.ts [--rounds N] [--bulk-mib N] [--runs N] [--json file]
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { startTrafficServer } from './wsk-traffic.ts';
import {
  AF_INET, IPPROTO_TCP, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, MAKE_WSK_VERSION, SOCK_STREAM,
  SOCKADDR_STORAGE, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS, WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI, WskDeregister, WskRegister, WskReleaseProviderNPI,
  createKernelProvider, makeSockaddrIn, ntohs, startWskSubsystem, type IRP, type NTSTATUS, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_PROVIDER_CONNECTION_DISPATCH, type WSK_PROVIDER_LISTEN_DISPATCH, type WSK_SOCKET,
} from '../index.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 20000);
const BULK_MIB = arg('bulk-mib', 512);
const RUNS = arg('runs', 4);
const jsonIndex = process.argv.indexOf('--json');

interface Server { port: number; stop(): Promise<void> }

/** Runs one IRP-based operation and calls back with its IoStatus (the C completion-routine pattern). */
function op(irp: IRP, start: (irp: IRP) => NTSTATUS, done: (status: NTSTATUS, info: number) => void): void {
  IoReuseIrp(irp, STATUS_SUCCESS);
  IoSetCompletionRoutine(irp, (_d, i) => { done(i.IoStatus.Status, i.IoStatus.Information as number); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
  start(irp);
}

/**
 * A WSK server: echo mode sends back what it receives; sink mode discards. With `events`, it is
 * bench/wsk-traffic.ts's server (data arrives through WskReceiveEvent as views of the
 * transport's buffers; the echo retains the indication, sends those same bytes and releases
 * them after); without, this IRP server, which copies into and out of its own MDL.
 */
async function wskServer(mode: 'echo' | 'sink', events = false): Promise<Server> {
  const sub = await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false });
  if (events) {
    const server = await startTrafficServer(sub, { address: '127.0.0.1', port: 0, mode });
    return { port: server.port, stop: async () => { await server.stop(); await sub.stop(); } };
  }
  const reg = WSK_REGISTRATION();
  WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, reg, sub);
  const npi = WSK_PROVIDER_NPI();
  await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi);
  const irp = IoAllocateIrp(1);
  const listen = await new Promise<WSK_SOCKET>((res) => op(irp, (i) => npi.Dispatch!.WskSocket(npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, i), (_s, info) => res(info as unknown as WSK_SOCKET)));
  const L = listen.Dispatch as WSK_PROVIDER_LISTEN_DISPATCH;
  await new Promise<void>((res) => op(irp, (i) => L.WskBind(listen, makeSockaddrIn('127.0.0.1', 0), 0, i), () => res()));
  const local = SOCKADDR_STORAGE();
  await new Promise<void>((res) => op(irp, (i) => L.WskGetLocalAddress(listen, local, i), () => res()));
  const open = new Set<WSK_SOCKET>();
  const serve = (sock: WSK_SOCKET): void => {
    const C = sock.Dispatch as WSK_PROVIDER_CONNECTION_DISPATCH;
    const data = new Uint8Array(256 * 1024);
    const mdl = IoAllocateMdl(data);
    const rirp = IoAllocateIrp(1);
    const close = (): void => { open.delete(sock); op(rirp, (i) => C.Basic.WskCloseSocket(sock, i), () => {}); };
    // Peer FIN: answer with ours (graceful), then close, as echosrv does.
    const finish = (): void => op(rirp, (i) => C.WskDisconnect(sock, null, 0, i), close);
    const receive = (): void => op(rirp, (i) => C.WskReceive(sock, { Mdl: mdl, Offset: 0, Length: data.byteLength }, 0, i), (st, n) => {
      if (st !== STATUS_SUCCESS) return close();
      if (n === 0) return finish();
      if (mode === 'sink') return receive();
      op(rirp, (i) => C.WskSend(sock, { Mdl: mdl, Offset: 0, Length: n }, 0, i), (s2) => (s2 === STATUS_SUCCESS ? receive() : close()));
    });
    receive();
  };
  const acceptIrp = IoAllocateIrp(1);
  let stopping = false;
  const accept = (): void => {
    op(acceptIrp, (i) => L.WskAccept(listen, 0, null, null, null, null, i), (st, info) => {
      if (st !== STATUS_SUCCESS || stopping) return;
      const sock = info as unknown as WSK_SOCKET;
      open.add(sock);
      serve(sock);
      accept();
    });
  };
  accept();
  return {
    port: ntohs(local.sin_port!),
    stop: async () => {
      stopping = true;
      for (const s of open) await new Promise<void>((res) => op(IoAllocateIrp(1), (i) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(s, i), () => res()));
      await new Promise<void>((res) => op(irp, (i) => L.Basic.WskCloseSocket(listen, i), () => res()));
      WskReleaseProviderNPI(reg);
      await WskDeregister(reg);
      await sub.stop();
    },
  };
}

async function nodeServer(mode: 'echo' | 'sink'): Promise<Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (mode === 'echo') s.on('data', (d) => s.write(d)); else s.on('data', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

/** Runs the load generator in its own process and returns what it printed. */
function load<T>(mode: 'rtt' | 'bulk', port: number, count: number): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(new URL('./load-client.mjs', import.meta.url)), mode, String(port), String(count)],
      { timeout: 180_000 }, (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as T)));
  });
}

const roundTrips = (port: number) => load<{ p50: number; p99: number }>('rtt', port, ROUNDS);
const bulk = async (port: number) => (await load<{ gbps: number }>('bulk', port, BULK_MIB)).gbps;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Figures { p50: number[]; p99: number[]; gbps: number[] }

type Kind = 'node' | 'wsk' | 'wsk-events';

async function runOnce(kind: Kind, into: Figures): Promise<void> {
  const make = kind === 'node' ? nodeServer : (mode: 'echo' | 'sink') => wskServer(mode, kind === 'wsk-events');
  const echo = await make('echo');
  const rt = await roundTrips(echo.port);
  await echo.stop();
  const sink = await make('sink');
  into.gbps.push(await bulk(sink.port));
  await sink.stop();
  into.p50.push(rt.p50);
  into.p99.push(rt.p99);
}

async function main(): Promise<void> {
  // Warm-up: V8 needs a while before either server's code is hot.
  const warm = await wskServer('echo'); await roundTrips(warm.port); await warm.stop();
  // The order rotates from run to run: whichever runs later in a process pays for the heap
  // the earlier one left, so a fixed order would bias the ratios.
  const kinds: Kind[] = ['node', 'wsk', 'wsk-events'];
  const figures = new Map<Kind, Figures>(kinds.map((k) => [k, { p50: [], p99: [], gbps: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(run + k) % kinds.length]!;
      await runOnce(kind, figures.get(kind)!);
    }
  }
  const summary = (k: Kind) => { const f = figures.get(k)!; return { p50: median(f.p50), p99: median(f.p99), gbps: median(f.gbps) }; };
  const nodeNet = summary('node'), wsk = summary('wsk'), wskEvents = summary('wsk-events');
  const rows = [
    ['echo RTT p50 (µs)', nodeNet.p50, wsk.p50, wskEvents.p50],
    ['echo RTT p99 (µs)', nodeNet.p99, wsk.p99, wskEvents.p99],
    [`bulk ${BULK_MIB} MiB (Gbit/s)`, nodeNet.gbps, wsk.gbps, wskEvents.gbps],
  ] as const;
  console.log(`WSK (kernel provider) vs node:net on loopback — ${ROUNDS} round trips, ${BULK_MIB} MiB bulk, median of ${RUNS} runs`);
  console.log('| metric | node:net | WSK, IRPs | ratio | WSK, receive events | ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, a, b, c] of rows) console.log(`| ${name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)}× | ${c.toFixed(2)} | ${(c / a).toFixed(2)}× |`);
  if (jsonIndex > 0) writeFileSync(process.argv[jsonIndex + 1]!, JSON.stringify({ rounds: ROUNDS, bulkMiB: BULK_MIB, runs: RUNS, nodeNet, wsk, wskEvents }, null, 2));
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

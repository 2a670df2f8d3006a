// `wsk run <app>`: the ported WSK applications on a provider. Every app runs on the kernel
// provider or on the userspace stack on a device (providers.ts); while one runs on the stack,
// `wsk stats` shows its live counters.
import { appendFileSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ntStatusName, STATUS_SUCCESS } from '../../index.ts';
import {
  ECHOSRV_DEFAULT_PORT, echosrvListening, echosrvStart, echosrvStats, echosrvStop, type EchosrvLogLevel,
} from '../echosrv/echosrv.ts';
import { startIperf3Server } from '../iperf3/iperf3-server.ts';
import { Iperf3Error, runIperf3Client } from '../iperf3/iperf3-client.ts';
import { IPERF3_DEFAULT_PORT } from '../iperf3/iperf3-protocol.ts';
import { UNIT_FORMATS, type UnitFormat } from '../iperf3/units.ts';
import { congestionControlNames } from '../../runtime/net/tcp/congestion.ts';
import { startHttpServer } from '../http/http-server.ts';
import { HttpClient } from '../http/http-client.ts';
import { KSOCKET_DEMO_SERVER_PORT, runKsocketDemo } from '../ksocket/ksocket-demo.ts';
import {
  CAPTURE_DEFAULT_MAX_BYTES, FIX_STACK_DEVICE, LINKS, PROVIDERS, collectIp, primaryIp, startProvider, type ProviderOptions, type RunningProvider,
} from './providers.ts';
import { serveStats } from './stats.ts';
import { integer, withUnits } from './options.ts';
import { explainNetworkError, explainNetworkStatus } from './network-errors.ts';
import { runWithMemoryPeer } from './memory-peer.ts';
import { formatIpv4 } from '../../runtime/net/wire/bytes.ts';
import { checkWireGuardOptions, runWireGuard, SERVABLE } from './wireguard-command.ts';
import { checkPingInterval, runPingCommand } from './ping-command.ts';
import type { CliIo } from './main.ts';

export interface RunOptions extends ProviderOptions {
  port?: number;
  trace: boolean;
  json: boolean;
  /** echosrv: seconds an unload waits for peers to close their connections before resetting them. */
  unloadTimeout: number;
  // iperf3
  time?: number;
  parallel?: number;
  reverse?: boolean;
  bidir?: boolean;
  udp?: boolean;
  bitrate?: number;
  length?: number;
  omit?: number;
  bytes?: number;
  blocks?: number;
  oneOff?: boolean;
  interval?: number;
  getServerOutput?: boolean;
  window?: number;
  congestion?: string;
  format?: UnitFormat;
  bind?: string;
  logfile?: string;
  verbose?: boolean;
  // http
  root?: string;
  output?: string;
  // wireguard
  conf?: string;
  serve?: string;
  ping?: string;
  tun?: string;
  // ping (and wireguard --ping)
  count?: number;
  wait?: number;
  size?: number;
}

interface App {
  description: string;
  /** The positional argument it needs, if any (shown in help). */
  argument?: string;
  /** Checks what needs no network before the provider starts: null, or one line saying the fix (exit 2). */
  check?(options: RunOptions): string | null;
  /** Serves its own `wsk stats` (instead of the run's provider stack). */
  ownStats?: boolean;
  run(args: string[], options: RunOptions, io: CliIo, provider: RunningProvider): Promise<number>;
}

/** Resolves on the first Ctrl-C / SIGTERM (a server app's cue to stop). */
function firstSignal(io: CliIo): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    io.onSignal((signal) => {
      if (!seen) { seen = true; resolve(signal); return; }
      io.err(`${signal}: exiting without a clean stop`);
      process.exit(130);
    });
  });
}

const APPS: Record<string, App> = {
  echosrv: {
    description: "Microsoft's WSK echo server sample (wsksmple.c), dual-stack on [::]:port (default 40007)",
    run: runEchosrv,
  },
  'iperf3-server': {
    description: 'iperf3-compatible server (default port 5201): stock `iperf3 -c` runs TCP, -R, --bidir, -P, -u -b, -w, -C, -J against it',
    run: async (_args, o, io, p) => {
      const write = outputOf(o, io);
      const port = o.port ?? IPERF3_DEFAULT_PORT;
      const server = await startIperf3Server({
        subsystem: p.subsystem, address: o.bind, port, oneOff: o.oneOff, interval: o.interval,
        format: o.format, verbose: o.verbose, json: o.json, log: o.json ? undefined : write,
      }).catch((err: unknown) => failure(io, 'iperf3-server', explainNetworkError('bind', err, `${o.bind ?? '[::]'}:${port}`)));
      if (!server) return 1;
      if (o.json) {
        // A line to wait for, then each test's `iperf3 -s -J` report as the test ends.
        io.out(JSON.stringify({ listening: server.port }));
        const printEach = (): void => { void server.nextReport().then((r) => { write(JSON.stringify(r.json, null, '\t')); printEach(); }); };
        printEach();
      }
      if (o.oneOff) await Promise.race([server.stopped, firstSignal(io)]);
      else await firstSignal(io);
      await server.stop();
      return server.reports.some((r) => r.error) ? 1 : 0;
    },
  },
  iperf3: {
    description: 'iperf3-compatible client: `iperf3 -c` against `iperf3 -s` or iperf3-server (-t, -P, -R, --bidir, -u, -b, -l, -O, -n, -k, -w, -C, -B, -f, -i, -J, -V, --logfile)',
    argument: '<server host or address>',
    run: async (args, o, io, p) => {
      if (!args[0]) { io.err('wsk: iperf3 needs the server address: wsk run iperf3 <address> [options]'); return 2; }
      const write = outputOf(o, io);
      try {
        const report = await runIperf3Client({
          subsystem: p.subsystem, host: args[0], port: o.port, bind: o.bind, udp: o.udp, time: o.time, parallel: o.parallel, reverse: o.reverse,
          bidirectional: o.bidir, bandwidth: o.bitrate, len: o.length, omit: o.omit, bytes: o.bytes, blocks: o.blocks, window: o.window,
          congestion: o.congestion, getServerOutput: o.getServerOutput, interval: o.interval, format: o.format, verbose: o.verbose,
          log: o.json ? undefined : write,
        });
        if (o.json) write(JSON.stringify(report, null, '\t'));
        return 0;
      } catch (err) {
        const message = explainNetworkError('connect', err, `${args[0]}:${o.port ?? IPERF3_DEFAULT_PORT}`);
        if (o.json && err instanceof Iperf3Error && err.report) write(JSON.stringify(err.report, null, '\t'));
        else if (o.logfile) write(`iperf3: error - ${message}`);
        const fix = !o.congestion || !/congestion control/.test(message) ? ''
          : p.stack ? ` (the stack has: ${congestionControlNames().join(', ')})`
            : ' (the kernel provider runs the host\'s congestion control and cannot choose one; the userspace stack can: --link ...)';
        io.err(`wsk: iperf3: ${message}${fix}`);
        return 1;
      }
    },
  },
  'http-server': {
    description: 'HTTP/1.1 server (default port 8080): /bytes/N, /chunked/N, POST /echo, and --root files under /files/',
    run: async (_args, o, io, p) => {
      const port = o.port ?? 8080;
      const server = await startHttpServer({ subsystem: p.subsystem, port, root: o.root, log: io.out })
        .catch((err: unknown) => failure(io, 'http-server', explainNetworkError('bind', err, `[::]:${port}`)));
      if (!server) return 1;
      await firstSignal(io);
      await server.stop();
      io.out(`served ${server.stats.requests} request(s) on ${server.stats.connections} connection(s)`);
      return server.stats.errors.length > 0 ? 1 : 0;
    },
  },
  'http-get': {
    description: 'HTTP/1.1 client: GET a URL (http://a.b.c.d[:port]/path), body to stdout or --output',
    argument: '<url>',
    run: async (args, o, io, p) => {
      const url = args[0] ? safeUrl(args[0]) : null;
      if (!url || url.protocol !== 'http:') { io.err('wsk: http-get needs an http:// URL, e.g. wsk run http-get http://198.18.0.1:8000/'); return 2; }
      const client = await HttpClient.open(p.subsystem);
      const port = Number(url.port || 80);
      try {
        const r = await client.request({ host: url.hostname.replace(/^\[|\]$/g, ''), port, path: url.pathname + url.search });
        io.err(`HTTP ${r.status} ${r.reason}, ${r.body.byteLength} bytes`);
        if (o.output) writeFileSync(o.output, r.body);
        else process.stdout.write(r.body);
        return r.status < 400 ? 0 : 1;
      } catch (err) {
        io.err(`wsk: http-get: ${explainNetworkError('connect', err, `${url.hostname}:${port}`)}`);
        return 1;
      } finally {
        await client.close();
      }
    },
  },
  ping: {
    description: 'ICMP/ICMPv6 echo through a raw socket, as iputils ping prints it (-c count, -i interval, -s size, -W wait); exit 0 when replies came, 1 when none',
    argument: '<address>',
    check: (o) => checkPingInterval(o),
    run: (args, o, io, p) => runPingCommand(args[0], o, io, p.subsystem, firstSignal(io)),
  },
  wireguard: {
    description: `WireGuard interface (a wg-quick file's [Interface] and [Peer]s) on the provider; --serve ${SERVABLE.join(',')} runs them inside the tunnel at its Address, --ping pings from inside it; --tun ends the tunnel in a TUN device of the host`,
    check: (o) => {
      if (o.link === 'memory') return 'wireguard: the memory link has no outside peer for the tunnel: run on the kernel provider (default) or a real device (--link afpacket ...)';
      const checked = checkWireGuardOptions(o);
      return typeof checked === 'string' ? `wireguard: ${checked}` : null;
    },
    ownStats: true,
    run: (_args, o, io, p) => runWireGuard(o, io, p, () => firstSignal(io)),
  },
  'ksocket-demo': {
    description: "KSOCKET's driver demo (wbenny/KSOCKET), ported: an HTTP GET of <host:port>/uuid, then a TCP server on --port (default 9095) that greets one client",
    argument: '<http host[:port][/path]>',
    run: async (args, o, io, p) => {
      const m = args[0] ? /^([^:/]+)(?::(\d+))?(\/\S*)?$/.exec(args[0]) : null;
      if (!m) { io.err('wsk: ksocket-demo needs the HTTP server, e.g. wsk run ksocket-demo 198.18.0.1:8000 (path /uuid unless given)'); return 2; }
      const bind = primaryIp(o)?.split('/')[0] ?? '0.0.0.0';
      const port = o.port ?? KSOCKET_DEMO_SERVER_PORT;
      const httpPort = Number(m[2] ?? 80);
      const r = await runKsocketDemo({
        subsystem: p.subsystem, host: m[1]!, port: httpPort, ...(m[3] ? { path: m[3] } : {}),
        server: { host: bind, port, onListening: () => io.out(`ksocket-demo: TCP server listening on ${bind}:${port}; connect a client (e.g. nc ${bind === '0.0.0.0' ? '127.0.0.1' : bind} ${port})`) },
        log: (message) => process.stdout.write(message),
      });
      const failed = [r.http, r.server].find((b) => b && b.failed);
      if (r.Status !== STATUS_SUCCESS || failed) {
        const explained = failed?.failed === 'connect' ? explainNetworkStatus('connect', failed.Status, `${m[1]}:${httpPort}`)
          : failed?.failed === 'bind' ? explainNetworkStatus('bind', failed.Status, `${bind}:${port}`) : null;
        io.err(`wsk: ksocket-demo: ${explained ?? (failed ? `${failed.failed} failed: ${ntStatusName(failed.Status)}` : `KsInitialize failed: ${ntStatusName(r.Status)}`)}`);
        return 1;
      }
      return 0;
    },
  },
};

/** --max-bytes: 0 (no limit) or room for the file header and a frame or so. */
function captureSize(value: string): number {
  const n = withUnits(1024)(value);
  if (n !== 0 && n < 1024) throw new InvalidArgumentError('must be 0 (no limit) or at least 1K.');
  return n;
}

/** A failure an app reports before it could run: one line on stderr. */
function failure(io: CliIo, app: string, message: string): null {
  io.err(`wsk: ${app}: ${message}`);
  return null;
}

/** Where iperf3's output goes: --logfile appends to a file (as iperf3 does), else stdout. */
function outputOf(o: RunOptions, io: CliIo): (line: string) => void {
  const file = o.logfile;
  return file ? (line) => appendFileSync(file, `${line}\n`) : io.out;
}

/** -i: seconds, 0 (one report for the whole test) or from 0.1 to 60, as iperf3 allows. */
function intervalSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || (n !== 0 && (n < 0.1 || n > 60))) throw new InvalidArgumentError('must be 0 or a number of seconds from 0.1 to 60.');
  return n;
}

function safeUrl(text: string): URL | null {
  try { return new URL(text); } catch { return null; }
}

async function runEchosrv(_args: string[], options: RunOptions, io: CliIo, provider: RunningProvider): Promise<number> {
  const { subsystem, where } = provider;
  // Errors always (stderr); milestones and per-operation traces with --trace. Until it listens,
  // the sample's own error trace is left to --trace: a failed start is the one line below.
  let listened = false;
  const log = (message: string, level: EchosrvLogLevel): void => {
    if (level === 'error' && (listened || options.trace)) io.err(`echosrv: ${message}`);
    else if (options.trace) io.out(`echosrv: ${message}`);
  };
  const status = echosrvStart({ port: options.port ?? ECHOSRV_DEFAULT_PORT, subsystem, log, trace: options.trace });
  if (status !== STATUS_SUCCESS) {
    io.err(`wsk: echosrv failed to start: ${ntStatusName(status)}`);
    return 1;
  }
  const listening = await echosrvListening();
  if (listening.Status !== STATUS_SUCCESS) {
    const where = `[::]:${listening.Port}`;
    io.err(`wsk: echosrv: ${explainNetworkStatus('bind', listening.Status, where) ?? `cannot listen on ${where}: ${ntStatusName(listening.Status)}`}`);
    await echosrvStop();
    return 1;
  }
  listened = true;
  // The dual-stack listener serves IPv6 wherever the provider has it: the host, or a stack given an IPv6 --ip.
  const families = options.provider === 'kernel' || provider.stack?.ip6 ? 'IPv4 and IPv6' : 'IPv4';
  io.out(`echosrv listening on [::]:${listening.Port} (${families}, ${where}); Ctrl-C to unload`);

  // The sample's unload waits for every peer to close its connection, which a peer that vanished
  // (unplugged, killed behind a firewall, its RST lost) never does: after unloadTimeout seconds,
  // or at a second signal, what is left is closed abortively (a RST each) and stderr says so.
  const timeout = options.unloadTimeout;
  let signals = 0;
  let aborted = false;
  let graceTimer: NodeJS.Timeout | null = null;
  let unloaded!: () => void;
  const done = new Promise<void>((resolve) => { unloaded = resolve; });
  const abortRemaining = (why: string): void => {
    if (aborted) return;
    aborted = true;
    const open = echosrvStats().connections;
    if (open === 0) return;
    io.err(`wsk: echosrv: ${why}: closing ${open} open connection(s) abortively (reset)`);
    void echosrvStop({ forceClose: true });
  };
  io.onSignal((signal) => {
    signals++;
    if (signals === 1) {
      const open = echosrvStats().connections;
      io.out(`${signal}: unloading echosrv: closing the listener` + (open > 0
        ? `; waiting up to ${timeout} s for ${open} open connection(s) to be closed by their peers (Ctrl-C again to reset them now)`
        : ''));
      graceTimer = setTimeout(() => abortRemaining(`${timeout} s after ${signal} their peers had not closed them`), timeout * 1000);
      echosrvStop().then(unloaded, (err: unknown) => { io.err(`wsk: unload failed: ${String(err)}`); unloaded(); })
        .finally(() => { if (graceTimer) clearTimeout(graceTimer); });
    } else if (signals === 2) {
      abortRemaining(`a second ${signal}`);
    } else {
      io.err(`${signal}: exiting without a clean unload`);
      process.exit(130);
    }
  });
  await done;
  const errors = echosrvStats().errors;
  if (errors.length > 0) {
    io.err(`wsk: echosrv recorded ${errors.length} error(s); first: ${String(errors[0])}`);
    return 1;
  }
  io.out('echosrv unloaded');
  return 0;
}

export function addRunCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  const appList = Object.entries(APPS).map(([name, app]) => `  ${(name + (app.argument ? ` ${app.argument}` : '')).padEnd(32)} ${app.description}`).join('\n');
  program
    .command('run')
    .description('run a ported WSK application; servers run until Ctrl-C/SIGTERM (which unloads them cleanly)')
    .argument('<app>', `application to run (${Object.keys(APPS).join(', ')})`)
    .argument('[args...]', "the app's argument (iperf3: the server address; http-get: the URL)")
    .option('-p, --port <port>', 'TCP/UDP port (default: the app\'s own)', integer(1, 65535))
    .addOption(new Option('--provider <provider>', 'transport provider under the WSK subsystem (--link implies stack)').choices(PROVIDERS))
    .addOption(new Option('--link <link>', 'the userspace stack\'s device link').choices(LINKS))
    .option('--ifname <device>', 'network device for --link, e.g. vb-<lab id>')
    .option('--netns <namespace>', 'open the device inside this network namespace (`ip netns` name)')
    .option('--ip <address/prefix>', "an address of the userspace stack (its own, not the kernel's): IPv4 a.b.c.d/nn, IPv6 x:y::z/len; once per address, e.g. --ip 198.18.0.2/24 --ip fd00:198:18::2/64", collectIp)
    .option('--gateway <a.b.c.d>', "the userspace stack's default gateway")
    .option('--mtu <bytes>', "the userspace stack's MTU (default: the device's)", integer(576, 65535))
    .option('--pcap <file>', `write a capture of everything the stack sends and receives (stops at ${CAPTURE_DEFAULT_MAX_BYTES >> 20} MiB unless --max-bytes says otherwise)`)
    .option('--snaplen <bytes>', '--pcap: bytes kept of each frame (default 262144: whole frames; 128 keeps the headers)', integer(64, 262144))
    .option('--max-frames <n>', '--pcap: record at most this many frames (default: no frame limit)', integer(0, 2 ** 31))
    .option('--max-bytes <size>', `--pcap: stop recording before the file exceeds this size, K/M/G suffixes (default ${CAPTURE_DEFAULT_MAX_BYTES >> 20}M; 0: no limit)`, captureSize)
    .option('-J, --json', 'machine-readable output (iperf3: what iperf3 -J prints; iperf3-server: a {"listening": port} line, then each test\'s iperf3 -s -J report)', false)
    .option('--trace', 'echosrv: log every WSK operation (verbose)', false)
    .option('--unload-timeout <seconds>', 'echosrv: on Ctrl-C/SIGTERM, wait this long for peers to close their connections, then reset the rest', integer(0, 3600), 3)
    .option('-t, --time <seconds>', 'iperf3: test length', integer(0, 86400))
    .option('-P, --parallel <n>', 'iperf3: parallel streams', integer(1, 128))
    .option('-R, --reverse', 'iperf3: the server sends')
    .option('--bidir', 'iperf3: both directions at once')
    .option('-u, --udp', 'iperf3: UDP instead of TCP')
    .option('-b, --bitrate <rate>', 'iperf3: bits/s per stream, K/M/G suffixes (UDP default 1M; TCP unlimited)', withUnits(1000))
    .option('-l, --length <bytes>', 'iperf3: block or datagram size, K/M suffixes', withUnits(1024))
    .option('-O, --omit <seconds>', 'iperf3: leave the first seconds out', integer(0, 600))
    .option('-n, --bytes <bytes>', 'iperf3: stop after this many bytes, K/M/G suffixes', withUnits(1024))
    .option('-k, --blocks <count>', 'iperf3: stop after this many blocks', integer(1, 2 ** 31))
    .option('-i, --interval <seconds>', 'iperf3, iperf3-server: seconds between interval reports (0: one for the whole test; default 1); ping: seconds between echo requests (at least 0.1; default 1)', intervalSeconds)
    .option('-c, --count <n>', 'ping (and wireguard --ping): echo requests to send (default: until Ctrl-C)', integer(1, 2 ** 31))
    .option('-W, --wait <seconds>', 'ping: seconds to wait for the last replies (default 10)', integer(1, 3600))
    .option('-s, --size <bytes>', 'ping: data bytes in each echo request (default 56)', integer(0, 65000))
    .option('-w, --window <bytes>', 'iperf3: socket buffer of every data stream on both sides, K/M/G suffixes (the send backlog, and SO_RCVBUF)', withUnits(1024))
    .option('-C, --congestion <algorithm>', 'iperf3: TCP congestion control of both sides\' data streams (the userspace stack: cubic, newreno, or one registered)')
    .addOption(new Option('-f, --format <unit>', 'iperf3, iperf3-server: unit of rates: k/m/g/t bits, K/M/G/T bytes (default adaptive bits)').choices(UNIT_FORMATS.filter((u) => u !== 'A' && u !== 'b' && u !== 'B')))
    .option('-B, --bind <address>', 'iperf3: the local address of every connection; iperf3-server: the address to listen on')
    .option('--logfile <file>', 'iperf3, iperf3-server: append the output to <file> instead of printing it')
    .option('-V, --verbose', 'iperf3, iperf3-server: iperf3\'s verbose output (version, MSS, cookie, CPU use, congestion controls)')
    .option('--get-server-output', 'iperf3: print the server\'s report too')
    .option('-1, --one-off', 'iperf3-server: serve one test, then exit')
    .option('--root <dir>', 'http-server: serve the files under <dir> at /files/')
    .option('-o, --output <file>', 'http-get: write the body to <file> instead of stdout')
    .option('--conf <file>', 'wireguard: the wg-quick configuration file ([Interface] PrivateKey, ListenPort, Address; [Peer] PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive)')
    .option('--serve <apps>', `wireguard: apps to run inside the tunnel at its Address, comma-separated (${SERVABLE.join(', ')})`)
    .option('--tun <ifname>', 'wireguard: end the tunnel in the host\'s own stack through a TUN device of this name (given the file\'s Addresses and MTU, up; needs CAP_NET_ADMIN), instead of an inner stack')
    .option('--ping <addresses>', 'wireguard: ping these tunnel addresses from inside the tunnel (comma-separated, IPv4 or IPv6; -c, -i, -s, -W as for ping); without --serve the run ends with the pings, exit 1 if one got no reply')
    .addHelpText('after', `\nApplications:\n${appList}\n\nProviders:\n  kernel     the host's own TCP/IP stack (node:net)\n  stack      the userspace TCP/IP stack on a device: --link afpacket (packet ring, needs root or\n             CAP_NET_RAW), pcap (libpcap) or raw (raw IP sockets; the kernel must own the address\n             and be kept quiet, see transports/raw-socket); or --link memory: an in-process\n             memory link to a second stack (198.18.0.1) where the app's peer runs (its server,\n             or one visit by its client, after which a server app unloads); no root needed\n\nExamples on a lab (wsk lab up prints the names):\n  wsk run echosrv --link afpacket --netns wskB-<id> --ifname vb-<id> --ip 198.18.0.2/24\n  wsk run iperf3-server --link afpacket --netns wskB-<id> --ifname vb-<id> --ip 198.18.0.2/24\n    then: ip netns exec wskA-<id> iperf3 -c 198.18.0.2 -R\n  wsk run iperf3 198.18.0.1 -t 5 -P 2 --link afpacket --netns wskB-<id> --ifname vb-<id> --ip 198.18.0.2/24\n  wsk run ping 198.18.0.1 -c 3 --link afpacket --netns wskB-<id> --ifname vb-<id> --ip 198.18.0.2/24\n  wsk run wireguard --conf wg0.conf --serve echosrv,iperf3-server\n    (a wg-quick file; the apps serve inside the tunnel at its Address; wsk stats shows wg show's text)\n  wsk run wireguard --conf wg0.conf --ping 198.19.0.1,fd00:198:19::1 -c 3\n\nCtrl-C (or SIGTERM) unloads: stop listening, wait for connected peers to disconnect (echosrv: up\nto --unload-timeout seconds, then it resets the rest and says how many on stderr), exit 0. A\nsecond Ctrl-C resets the remaining connections at once. While an app runs on the stack,\n\`wsk stats\` shows its counters and connections.`)
    .action(async (appName: string, args: string[], options: RunOptions, command: Command) => {
      const app = APPS[appName];
      if (!app) {
        command.error(`wsk: unknown app '${appName}'. Available apps: ${Object.keys(APPS).join(', ')}`, { exitCode: 2, code: 'wsk.unknownApp' });
      }
      options.provider ??= options.link ? 'stack' : 'kernel';
      if (options.provider === 'stack' && options.link !== 'memory' && (!options.link || !options.ifname || !options.ip)) {
        command.error(`wsk: ${FIX_STACK_DEVICE}`, { exitCode: 2, code: 'wsk.stackNeedsDevice' });
      }
      if (options.provider === 'kernel' && options.link) {
        command.error('wsk: --link runs the userspace stack; drop --provider kernel', { exitCode: 2, code: 'wsk.providerConflict' });
      }
      const captureOption = (['snaplen', 'maxFrames', 'maxBytes'] as const).find((k) => options[k] !== undefined);
      if (captureOption && !options.pcap) {
        command.error(`wsk: --${captureOption.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} limits the capture: give --pcap <file> too`, { exitCode: 2, code: 'wsk.captureOption' });
      }
      if (options.pcap && options.provider === 'kernel') {
        command.error('wsk: --pcap captures the userspace stack\'s link: run the app on it (--link ...), or capture the kernel\'s traffic with tcpdump', { exitCode: 2, code: 'wsk.captureNeedsStack' });
      }
      const problem = app!.check?.(options) ?? null;
      if (problem) {
        io.err(`wsk: ${problem}`);
        setExitCode(2);
        return;
      }
      let provider: RunningProvider;
      try {
        provider = await startProvider(options);
      } catch (err) {
        io.err(`wsk: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(2);
        return;
      }
      let stats: { close(): void } | null = null;
      try {
        if (provider.stack && !app!.ownStats) stats = serveStats(appName, provider);
      } catch (err) {
        io.err(`wsk: running without live counters (wsk stats): ${err instanceof Error ? err.message : String(err)}`);
      }
      try {
        if (provider.memoryPeer) {
          const address = provider.stack!.iface.address;
          setExitCode(await runWithMemoryPeer(appName, args, options, io, provider.memoryPeer, formatIpv4(address), (a, appIo) => app!.run(a, options, appIo, provider)));
        } else {
          setExitCode(await app!.run(args, options, io, provider));
        }
      } catch (err) {
        io.err(`wsk: ${appName}: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(1);
      } finally {
        stats?.close();
        await provider.stop();
        if (provider.capture?.file.limitReached) {
          const f = provider.capture.file;
          io.err(`wsk: capture ${f.path} holds the first ${f.frames} frames (${f.fileBytes} bytes): a --max-frames/--max-bytes limit stopped it; raise the limit (0: none) or lower --snaplen`);
        }
      }
    });
}


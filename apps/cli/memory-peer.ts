// `wsk run <app> --link memory`: nothing outside the process can reach a stack on the memory
// link, so the app's peer runs on the second stack of the same memory network (providers.ts):
// a client app finds its server there (iperf3 server, HTTP server), and a server app is visited
// once by its client (an echo round trip, an iperf3 test, HTTP requests) and then unloaded.
import type { WskSubsystem } from '../../index.ts';
import { sockaddr, WskApp } from '../common/wsk-io.ts';
import { echoRoundTrip } from '../common/echo-check.ts';
import { startIperf3Server } from '../iperf3/iperf3-server.ts';
import { runIperf3Client } from '../iperf3/iperf3-client.ts';
import { SEPARATOR } from '../iperf3/iperf3-report.ts';
import { IPERF3_DEFAULT_PORT } from '../iperf3/iperf3-protocol.ts';
import { startHttpServer } from '../http/http-server.ts';
import { HttpClient } from '../http/http-client.ts';
import { ECHOSRV_DEFAULT_PORT } from '../echosrv/echosrv.ts';
import { KSOCKET_DEMO_SERVER_PORT } from '../ksocket/ksocket-demo.ts';
import type { RunOptions } from './run-command.ts';
import type { CliIo } from './main.ts';

interface Peer { subsystem: WskSubsystem; address: string }

interface PeerPlan {
  /** The argument the app gets when none is given (the peer's service). */
  defaultArgument?: (peer: Peer) => string;
  /** Services on the peer stack before the app starts; resolves with their stop. */
  services?: (peer: Peer, o: RunOptions) => Promise<() => Promise<void>>;
  /** What the peer does once the app listens; resolves with lines to print. */
  visit?: (peer: Peer, app: string, o: RunOptions) => Promise<string[]>;
  /** After the visit the server app is unloaded (a client app ends by itself). */
  unloadAfterVisit: boolean;
}

const ECHO_BYTES = 1 << 20;
const HTTP_PORT = 80;

const PLANS: Record<string, PeerPlan> = {
  echosrv: {
    visit: async (peer, app, o) => {
      const r = await echoRoundTrip(peer.subsystem, app, o.port ?? ECHOSRV_DEFAULT_PORT, ECHO_BYTES);
      if (!r.intact) throw new Error(`the echo of ${r.sent} bytes came back as ${r.echoed} different bytes`);
      return [`echoed ${r.sent} random bytes intact in ${r.ms.toFixed(1)} ms`];
    },
    unloadAfterVisit: true,
  },
  'iperf3-server': {
    visit: async (peer, app, o) => {
      const lines: string[] = [];
      await runIperf3Client({
        subsystem: peer.subsystem, host: app, port: o.port ?? IPERF3_DEFAULT_PORT, udp: o.udp, time: o.time ?? 3, parallel: o.parallel,
        reverse: o.reverse, bidirectional: o.bidir, bandwidth: o.bitrate, len: o.length, omit: o.omit, bytes: o.bytes, blocks: o.blocks,
        window: o.window, congestion: o.congestion, format: o.format, interval: 0, log: (line) => lines.push(line),
      });
      // The client's summary: from the separator to the last sender/receiver line.
      const summary = lines.slice(lines.lastIndexOf(SEPARATOR) + 1).filter((line) => /sender|receiver|Interval/.test(line));
      return ['iperf3 client:', ...summary];
    },
    unloadAfterVisit: true,
  },
  'http-server': {
    visit: async (peer, app, o) => {
      const client = await HttpClient.open(peer.subsystem);
      try {
        const lines: string[] = [];
        for (const path of ['/bytes/1048576', '/chunked/100000']) {
          const r = await client.request({ host: app, port: o.port ?? 8080, path });
          lines.push(`GET ${path}: HTTP ${r.status} ${r.reason}, ${r.body.byteLength} bytes${r.reused ? ' (same connection)' : ''}`);
        }
        return lines;
      } finally {
        await client.close();
      }
    },
    unloadAfterVisit: true,
  },
  iperf3: {
    defaultArgument: (peer) => peer.address,
    services: async (peer, o) => {
      const server = await startIperf3Server({ subsystem: peer.subsystem, address: peer.address, port: o.port ?? IPERF3_DEFAULT_PORT });
      return () => server.stop();
    },
    unloadAfterVisit: false,
  },
  'http-get': {
    defaultArgument: (peer) => `http://${peer.address}/bytes/1048576`,
    services: async (peer) => {
      const server = await startHttpServer({ subsystem: peer.subsystem, address: peer.address, port: HTTP_PORT });
      return () => server.stop();
    },
    unloadAfterVisit: false,
  },
  // The peer's stack answers echo requests itself.
  ping: {
    defaultArgument: (peer) => peer.address,
    unloadAfterVisit: false,
  },
  'ksocket-demo': {
    defaultArgument: (peer) => `${peer.address}:${HTTP_PORT}`,
    services: async (peer) => {
      const server = await startHttpServer({ subsystem: peer.subsystem, address: peer.address, port: HTTP_PORT });
      return () => server.stop();
    },
    // The demo's TCP server serves one client and returns: the peer is that client.
    visit: async (peer, app, o) => {
      const client = await WskApp.register(peer.subsystem);
      try {
        const stream = await client.connect(sockaddr(app, o.port ?? KSOCKET_DEMO_SERVER_PORT));
        await stream.send(new TextEncoder().encode('HELLO FROM THE MEMORY PEER'));
        const buf = new Uint8Array(256);
        const n = await stream.receive(buf);
        await stream.close();
        return [`the demo's TCP server answered ${JSON.stringify(new TextDecoder().decode(buf.subarray(0, n)).replace(/\0+$/, ''))}`];
      } finally {
        await client.close();
      }
    },
    unloadAfterVisit: false,
  },
};

/** Runs `run` (the app) with its peer on the memory link's second stack; resolves with the exit code. */
export async function runWithMemoryPeer(
  appName: string, args: string[], o: RunOptions, io: CliIo, peer: Peer, appAddress: string,
  run: (args: string[], io: CliIo) => Promise<number>,
): Promise<number> {
  const plan = PLANS[appName];
  if (!plan) throw new Error(`${appName} has no peer for the memory link; use --link afpacket|pcap|raw on a lab`);
  // A note, not output: with --json, stdout carries nothing but the JSON.
  (o.json ? io.err : io.out)(`memory link: ${appName} on ${appAddress}, its peer on ${peer.address} in this process`);
  const stopServices = await plan.services?.(peer, o);
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => { listening = resolve; });
  const unloaders: ((signal: NodeJS.Signals) => void)[] = [];
  const appIo: CliIo = {
    out: (line) => { io.out(line); if (/listening/i.test(line)) listening(); },
    err: io.err,
    onSignal: (handler) => { unloaders.push(handler); io.onSignal(handler); },
  };
  let failed = false;
  // The memory link and the stacks' clocks hold no handle open; the peer's waits must not end the process.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const running = run(args.length || !plan.defaultArgument ? args : [plan.defaultArgument(peer)], appIo);
    if (plan.visit) {
      const started = await Promise.race([ready.then(() => true), running.then(() => false)]);
      if (started) {
        try {
          for (const line of await plan.visit(peer, appAddress, o)) io.out(`memory peer: ${line}`);
        } catch (err) {
          io.err(`wsk: memory peer: ${err instanceof Error ? err.message : String(err)}`);
          failed = true;
        }
        if (plan.unloadAfterVisit) for (const unload of unloaders) unload('SIGTERM');
      }
    }
    const code = await running;
    return failed && code === 0 ? 1 : code;
  } finally {
    clearInterval(keepAlive);
    await stopServices?.();
  }
}

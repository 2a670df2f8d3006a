// `wsk run wireguard --conf <file> [--serve echosrv,iperf3-server,http-server] [--ping <addresses>]`:
// a WireGuard interface on the run's provider (the outer network: kernel by default, or the
// userspace stack on a device), its tunnel a second userspace stack at the file's Addresses (IPv4,
// and IPv6 when the file has one) where --serve starts the apps unchanged and --ping pings from
// inside (apps/ping). `wsk stats` shows the inner stack's counters and `wg show`'s text. Ctrl-C
// stops the pings, the served apps, then the interface. Without --serve the run ends once the
// pings have (exit 1 when one address answered none).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { STATUS_SUCCESS, ntStatusName } from '../../index.ts';
import { ECHOSRV_DEFAULT_PORT, echosrvListening, echosrvStart, echosrvStop } from '../echosrv/echosrv.ts';
import { startIperf3Server } from '../iperf3/iperf3-server.ts';
import { IPERF3_DEFAULT_PORT } from '../iperf3/iperf3-protocol.ts';
import { startHttpServer } from '../http/http-server.ts';
import { parseWgQuickConfig, WireGuardConfigError, type WgQuickConfig } from '../wireguard/config.ts';
import { innerAddress, innerAddresses6, startWireGuardWsk } from '../wireguard/wireguard-wsk.ts';
import { startWireGuardTun } from '../wireguard/wireguard-tun.ts';
import { checkPingInterval, runPingCommand } from './ping-command.ts';
import { serveStats } from './stats.ts';
import type { CliIo } from './main.ts';
import type { RunningProvider } from './providers.ts';

/** The apps --serve can start inside the tunnel. */
export const SERVABLE = ['echosrv', 'iperf3-server', 'http-server'] as const;
type Servable = (typeof SERVABLE)[number];

export interface WireGuardRunOptions {
  conf?: string;
  serve?: string;
  /** Tunnel addresses to ping from inside, comma-separated. */
  ping?: string;
  /** End the tunnel in the host's stack through a TUN device of this name, instead of an inner stack. */
  tun?: string;
  /** ping's -c, -i, -W, -s. */
  count?: number;
  interval?: number;
  wait?: number;
  size?: number;
}

interface Checked { config: WgQuickConfig; serve: Servable[]; pings: string[] }

/** Reads and checks --conf, --serve and --ping: the config, or one line saying what to fix. */
export function checkWireGuardOptions(o: WireGuardRunOptions): Checked | string {
  if (!o.conf) return 'no configuration: give --conf <wg-quick file> (see apps/wireguard/README.md)';
  let text: string;
  try {
    text = readFileSync(o.conf, 'utf8');
  } catch (err) {
    return `--conf ${o.conf}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}): give the path of a wg-quick file`;
  }
  const serve: Servable[] = [];
  for (const name of (o.serve ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(SERVABLE as readonly string[]).includes(name)) return `--serve ${name}: not an app that serves inside the tunnel; choose from ${SERVABLE.join(', ')}`;
    if (!serve.includes(name as Servable)) serve.push(name as Servable);
  }
  if (o.tun !== undefined && (serve.length > 0 || o.ping)) {
    return `--tun ${o.tun}: the tunnel ends in the host's own stack, where the host's tools serve and ping: drop --serve and --ping (they run on an inner stack, without --tun)`;
  }
  if (o.tun !== undefined && !/^[\w.-]{1,15}$/.test(o.tun)) return `--tun ${o.tun}: not a device name: up to 15 letters, digits, '.', '-' or '_', e.g. --tun wg0`;
  const pings = (o.ping ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const notAddress = pings.find((a) => isIP(a) === 0);
  if (notAddress !== undefined) return `--ping ${notAddress}: not an IPv4 or IPv6 address; give tunnel addresses, e.g. --ping 198.19.0.1,fd00:198:19::1`;
  const interval = checkPingInterval(o);
  if (interval) return interval;
  try {
    const config = parseWgQuickConfig(text, o.conf);
    innerAddress(config);
    const v6 = pings.find((a) => isIP(a) === 6);
    if (v6 !== undefined && innerAddresses6(config).length === 0) return `--ping ${v6}: the tunnel has no IPv6 address: add one to the [Interface]'s Address, e.g. Address = 198.19.0.2/24, fd00:198:19::2/64`;
    return { config, serve, pings };
  } catch (err) {
    if (err instanceof WireGuardConfigError) return err.message;
    throw err;
  }
}

/** Runs until the first Ctrl-C/SIGTERM; 2 for a bad configuration, 1 when the interface or an app cannot start. */
export async function runWireGuard(o: WireGuardRunOptions, io: CliIo, provider: RunningProvider, untilSignal: () => Promise<unknown>): Promise<number> {
  const checked = checkWireGuardOptions(o);
  if (typeof checked === 'string') { io.err(`wsk: wireguard: ${checked}`); return 2; }
  const { config, serve, pings } = checked;
  const signal = untilSignal();
  if (o.tun !== undefined) return runWireGuardTun(o.tun, config, io, provider, signal);
  let wg;
  try {
    wg = await startWireGuardWsk({ config, outer: provider.subsystem, log: io.err });
  } catch (err) {
    io.err(`wsk: wireguard: cannot open the outer socket on port ${config.listenPort ?? '(any)'}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const stops: (() => Promise<void>)[] = [];
  let stats: { close(): void } | null = null;
  let code = 0;
  let pingCode = 0;
  try {
    const prefixes = [wg.address, ...wg.addresses6];
    const addresses = prefixes.join(', ');
    const where = `wireguard ${wg.name} ${addresses} inside, port ${wg.port} on ${provider.where}`;
    try {
      stats = serveStats('wireguard', { where, device: wg.tunnel, stack: wg.innerStack, stackProvider: wg.innerProvider, status: () => wg.describe() });
    } catch (err) {
      io.err(`wsk: running without live counters (wsk stats): ${err instanceof Error ? err.message : String(err)}`);
    }
    io.out(`wireguard ${wg.name}: listening on port ${wg.port} (${provider.where}), tunnel address ${addresses}, ${config.peers.length} peer(s); Ctrl-C to stop`);
    const at = prefixes.map((a) => a.split('/')[0]).join(', ');
    for (const name of serve) {
      const stop = await startServed(name, wg.inner, io);
      if (!stop) { code = 1; break; }
      stops.push(stop);
      io.out(`wireguard ${wg.name}: ${name} serving inside the tunnel at ${at}`);
    }
    let signalled = false;
    void signal.then(() => { signalled = true; });
    for (let i = 0; code === 0 && i < pings.length && !signalled; i++) {
      // An address that answered nothing makes the run's code 1 (ping's); the others still run.
      const pinged = await runPingCommand(pings[i], o, io, wg.inner, signal);
      if (pinged === 2) code = 1;
      else if (pinged !== 0) pingCode = 1;
    }
    if (code === 0 && (serve.length > 0 || pings.length === 0)) await signal;
  } finally {
    for (const stop of stops.reverse()) await stop();
    stats?.close();
    await wg.stop();
  }
  return code || pingCode;
}

/** --tun: the interface with its tunnel in a TUN device of the host's, until the signal. */
async function runWireGuardTun(ifname: string, config: WgQuickConfig, io: CliIo, provider: RunningProvider, signal: Promise<unknown>): Promise<number> {
  let wg;
  try {
    wg = await startWireGuardTun({ config, outer: provider.subsystem, log: io.err, ifname });
  } catch (err) {
    io.err(`wsk: wireguard: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  let stats: { close(): void } | null = null;
  try {
    const where = `wireguard ${wg.tun.name} on TUN device ${wg.tun.name} (${wg.addresses.join(', ')}), port ${wg.port} on ${provider.where}`;
    try {
      stats = serveStats('wireguard', { where, device: null, stack: null, stackProvider: null, status: () => wg.describe() });
    } catch (err) {
      io.err(`wsk: running without live counters (wsk stats): ${err instanceof Error ? err.message : String(err)}`);
    }
    io.out(`wireguard ${wg.tun.name}: listening on port ${wg.port} (${provider.where}), TUN device ${wg.tun.name} with ${wg.addresses.join(', ')}, ${config.peers.length} peer(s); Ctrl-C to stop`);
    await signal;
  } finally {
    stats?.close();
    await wg.stop();
  }
  return 0;
}

/** Starts one --serve app on the inner subsystem; its stop, or null (after one line on stderr). */
async function startServed(name: Servable, inner: RunningProvider['subsystem'], io: CliIo): Promise<(() => Promise<void>) | null> {
  switch (name) {
    case 'echosrv': {
      const status = echosrvStart({ port: ECHOSRV_DEFAULT_PORT, subsystem: inner });
      const listening = status === STATUS_SUCCESS ? (await echosrvListening()).Status : status;
      if (listening !== STATUS_SUCCESS) {
        io.err(`wsk: wireguard: echosrv cannot listen on port ${ECHOSRV_DEFAULT_PORT} in the tunnel: ${ntStatusName(listening)}`);
        if (status === STATUS_SUCCESS) await echosrvStop();
        return null;
      }
      return () => echosrvStop({ forceClose: true });
    }
    case 'iperf3-server': {
      const server = await startIperf3Server({ subsystem: inner, port: IPERF3_DEFAULT_PORT, log: () => {} }).catch((err: unknown) => {
        io.err(`wsk: wireguard: iperf3-server cannot listen on port ${IPERF3_DEFAULT_PORT} in the tunnel: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      });
      return server ? () => server.stop() : null;
    }
    case 'http-server': {
      const server = await startHttpServer({ subsystem: inner, port: 8080 }).catch((err: unknown) => {
        io.err(`wsk: wireguard: http-server cannot listen on port 8080 in the tunnel: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      });
      return server ? () => server.stop() : null;
    }
  }
}

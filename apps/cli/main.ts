// The `wsk` command: runs ported WSK applications on a WSK subsystem.
//
//   wsk run echosrv [--port N] [--provider kernel] [--trace]
//   wsk run echosrv --link afpacket|pcap|raw --ifname DEV [--netns NS] --ip A.B.C.D/NN [--gateway G] [--pcap FILE]
//   wsk lab up|down|status|netem   (test networks: veth pairs between namespaces, needs root)
//
// `apps/cli/wsk.mjs` (the package's bin) registers tsx and calls main(); `tsx apps/cli/main.ts`
// runs it directly too.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createKernelProvider, ntStatusName, startWskSubsystem, STATUS_SUCCESS, type WskSubsystem } from '../../index.ts';
import {
  ECHOSRV_DEFAULT_PORT, echosrvListening, echosrvStart, echosrvStats, echosrvStop, type EchosrvLogLevel,
} from '../echosrv/echosrv.ts';
import { type Lab, labDown, labDownAll, labOpen, labStatus, labUp } from '../lab/lab.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { PcapLink } from '../../transports/pcap/pcap-link.ts';
import { RawSocketLink } from '../../transports/raw-socket/raw-socket-link.ts';
import { PcapWriterLink } from '../../transports/sniffer/pcap-writer.ts';
import { Ipv4Stack } from '../../runtime/net/stack.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';

const PROVIDERS = ['kernel', 'stack'] as const;
type ProviderName = (typeof PROVIDERS)[number];
const LINKS = ['afpacket', 'pcap', 'raw'] as const;
type LinkName = (typeof LINKS)[number];

interface RunOptions {
  port: number;
  provider: ProviderName;
  trace: boolean;
  link?: LinkName;
  ifname?: string;
  netns?: string;
  ip?: string;
  gateway?: string;
  pcap?: string;
}

const FIX_STACK_DEVICE = '--provider stack runs on a real device: give --link afpacket|pcap|raw --ifname <device> --ip <a.b.c.d/nn> (and --netns <namespace> for a lab; `wsk lab up` prints them)';

interface App {
  description: string;
  run(options: RunOptions, io: CliIo): Promise<number>;
}

/** Where the CLI writes, and how it learns about signals (injectable for tests). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  onSignal(handler: (signal: NodeJS.Signals) => void): void;
}

const processIo: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  onSignal: (handler) => {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  },
};

const APPS: Record<string, App> = {
  echosrv: {
    description: "Microsoft's WSK echo server sample (wsksmple.c), dual-stack on [::]:port",
    run: runEchosrv,
  },
};

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('must be an integer from 1 to 65535.');
  }
  return port;
}

function openLink(options: RunOptions): LinkDevice {
  const { link, ifname, netns } = options;
  const address = options.ip!.split('/')[0]!;
  if (link === 'afpacket') return new AfPacketLink({ ifname: ifname!, netns, acceptAddresses: [address] });
  if (link === 'pcap') return new PcapLink({ ifname: ifname!, netns, acceptAddresses: [address] });
  return new RawSocketLink({ ifname, netns });
}

/** The kernel provider, or the userspace stack on --link (LinkError messages say what to fix). */
async function startProvider(options: RunOptions): Promise<{ subsystem: WskSubsystem; where: string }> {
  if (options.provider === 'kernel') {
    return { subsystem: await startWskSubsystem(createKernelProvider(), { name: 'kernel', makeDefault: true }), where: 'provider kernel' };
  }
  let device = openLink(options);
  if (options.pcap) device = new PcapWriterLink(device, { path: options.pcap });
  const stack = new Ipv4Stack(device, { address: options.ip!, gateway: options.gateway });
  const subsystem = await startWskSubsystem(createStackProvider(stack), { name: 'stack', makeDefault: true });
  return { subsystem, where: `userspace stack ${options.ip} on ${options.link} ${options.ifname}${options.netns ? ` in ${options.netns}` : ''}` };
}

async function runEchosrv(options: RunOptions, io: CliIo): Promise<number> {
  let started: { subsystem: WskSubsystem; where: string };
  try {
    started = await startProvider(options);
  } catch (err) {
    io.err(`wsk: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  const { subsystem, where } = started;
  // Errors always (stderr); milestones and per-operation traces with --trace.
  const log = (message: string, level: EchosrvLogLevel): void => {
    if (level === 'error') io.err(`echosrv: ${message}`);
    else if (options.trace) io.out(`echosrv: ${message}`);
  };
  const status = echosrvStart({ port: options.port, subsystem, log, trace: options.trace });
  if (status !== STATUS_SUCCESS) {
    io.err(`wsk: echosrv failed to start: ${ntStatusName(status)}`);
    await subsystem.stop();
    return 1;
  }
  const listening = await echosrvListening();
  if (listening.Status !== STATUS_SUCCESS) {
    io.err(`wsk: echosrv cannot listen on [::]:${listening.Port}: ${ntStatusName(listening.Status)}`);
    await echosrvStop();
    await subsystem.stop();
    return 1;
  }
  io.out(`echosrv listening on [::]:${listening.Port} (${options.provider === 'kernel' ? 'IPv4 and IPv6' : 'IPv4'}, ${where}); Ctrl-C to unload`);

  let signals = 0;
  let unloaded!: () => void;
  const done = new Promise<void>((resolve) => { unloaded = resolve; });
  io.onSignal((signal) => {
    signals++;
    if (signals === 1) {
      const open = echosrvStats().connections;
      io.out(`${signal}: unloading echosrv: closing the listener` + (open > 0
        ? `; waiting for ${open} open connection(s) to be closed by their peers (Ctrl-C again to close them abortively)`
        : ''));
      echosrvStop().then(unloaded, (err: unknown) => { io.err(`wsk: unload failed: ${String(err)}`); unloaded(); });
    } else if (signals === 2) {
      io.out(`${signal}: closing ${echosrvStats().connections} open connection(s) abortively`);
      void echosrvStop({ forceClose: true });
    } else {
      io.err(`${signal}: exiting without a clean unload`);
      process.exit(130);
    }
  });
  await done;
  await subsystem.stop();
  const errors = echosrvStats().errors;
  if (errors.length > 0) {
    io.err(`wsk: echosrv recorded ${errors.length} error(s); first: ${String(errors[0])}`);
    return 1;
  }
  io.out('echosrv unloaded');
  return 0;
}

function parseMtu(value: string): number {
  const mtu = Number(value);
  if (!/^\d+$/.test(value) || mtu < 68 || mtu > 65535) {
    throw new InvalidArgumentError('must be an integer from 68 to 65535.');
  }
  return mtu;
}

function labSummary(lab: Lab, offloads: boolean, netem: string | null): Record<string, unknown> {
  return {
    id: lab.id, peerNs: lab.peerNs, stackNs: lab.stackNs, peerIf: lab.peerIf, stackIf: lab.stackIf,
    peerAddress: lab.peerAddress, stackAddress: lab.stackAddress, mtu: lab.mtu, offloads, netem,
  };
}

/** `wsk lab ...`: runtime failures are one line on stderr with the fix, exit code 2. */
function addLabCommands(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  const fail = (err: unknown): void => {
    io.err(`wsk lab: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    setExitCode(2);
  };
  const lab = program
    .command('lab')
    .description('test networks (lab.md): a Linux peer namespace and a stack namespace joined by a veth pair, 198.18.0.0/15 only; needs root');

  lab
    .command('up')
    .description('create namespaces wskA-<id> (Linux peer, 198.18.0.1/24 on va-<id>) and wskB-<id> (userspace stack, vb-<id>, no kernel address)')
    .option('--id <id>', 'name suffix, 1-12 letters/digits (default: pid + random)')
    .option('--mtu <n>', 'MTU of both veth ends', parseMtu, 1500)
    .option('--netem <spec>', "netem impairment on the peer veth, e.g. 'delay 20ms 5ms loss 1%'")
    .option('--no-offloads', 'turn TSO/GSO/GRO/checksum offload off on both ends (needs ethtool)')
    .option('--json', 'print the lab as JSON', false)
    .action((options: { id?: string; mtu: number; netem?: string; offloads: boolean; json: boolean }) => {
      try {
        const l = labUp({ id: options.id, mtu: options.mtu, netem: options.netem, offloads: options.offloads });
        const summary = labSummary(l, options.offloads, options.netem ?? null);
        if (options.json) {
          io.out(JSON.stringify(summary));
          return;
        }
        io.out(`lab ${l.id} is up (mtu ${l.mtu}, offloads ${options.offloads ? 'on' : 'off'}, netem ${options.netem ?? 'none'})`);
        io.out(`  peer   namespace ${l.peerNs}  interface ${l.peerIf}  address ${l.peerAddress} (kernel)`);
        io.out(`  stack  namespace ${l.stackNs}  interface ${l.stackIf}  address ${l.stackAddress} (userspace stack; not in the kernel)`);
        io.out(`  run a peer:   ip netns exec ${l.peerNs} <command>`);
        io.out(`  run the stack: wsk run echosrv --link afpacket --netns ${l.stackNs} --ifname ${l.stackIf} --ip ${l.stackAddress}`);
        io.out(`  tear down:    wsk lab down ${l.id}`);
      } catch (err) {
        fail(err);
      }
    });

  lab
    .command('down')
    .description('delete lab <id> (both namespaces, by exact name), or with --all every wskA-/wskB- namespace')
    .argument('[id]', 'lab id')
    .option('--all', 'delete every lab (only wskA-/wskB- namespaces)', false)
    .action((id: string | undefined, options: { all: boolean }) => {
      try {
        if (options.all === (id !== undefined)) {
          throw new Error(options.all ? 'give either <id> or --all, not both' : 'give a lab id (see `wsk lab status`) or --all');
        }
        const removed = options.all ? labDownAll() : labDown(id!);
        io.out(removed.length ? `deleted ${removed.join(' ')}` : options.all ? 'no labs' : `no lab '${id}' (nothing to delete)`);
      } catch (err) {
        fail(err);
      }
    });

  lab
    .command('status')
    .description('list labs (wskA-/wskB- namespaces, grouped by id)')
    .option('--json', 'print JSON', false)
    .action((options: { json: boolean }) => {
      try {
        const labs = labStatus();
        if (options.json) io.out(JSON.stringify(labs));
        else if (labs.length === 0) io.out('no labs');
        else for (const l of labs) io.out(`${l.id}  ${l.namespaces.join(' ')}${l.namespaces.length < 2 ? '  (incomplete: wsk lab down ' + l.id + ')' : ''}`);
      } catch (err) {
        fail(err);
      }
    });

  lab
    .command('netem')
    .description("set the netem impairment on lab <id>'s peer veth, or remove it with 'off'")
    .argument('<id>', 'lab id')
    .argument('<spec...>', "netem parameters, e.g. delay 20ms 5ms loss 1% (one or several words), or off")
    .action((id: string, spec: string[]) => {
      try {
        const joined = spec.join(' ').trim();
        const l = labOpen(id);
        l.setNetem(joined === 'off' ? null : joined);
        io.out(joined === 'off' ? `lab ${id}: netem removed` : `lab ${id}: netem ${joined} on ${l.peerIf}`);
      } catch (err) {
        fail(err);
      }
    });
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(io: CliIo = processIo, setExitCode: (code: number) => void = (c) => { process.exitCode = c; }): Command {
  const program = new Command();
  program
    .name('wsk')
    .description('wsk-runtime: run Winsock Kernel (WSK) applications ported to TypeScript, in userspace')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)');

  const appList = Object.entries(APPS).map(([name, app]) => `  ${name.padEnd(10)} ${app.description}`).join('\n');
  program
    .command('run')
    .description('run a ported WSK application until Ctrl-C/SIGTERM (which unloads it cleanly)')
    .argument('<app>', `application to run (${Object.keys(APPS).join(', ')})`)
    .option('-p, --port <port>', 'TCP port to listen on', parsePort, ECHOSRV_DEFAULT_PORT)
    .addOption(new Option('--provider <provider>', 'transport provider under the WSK subsystem (--link implies stack)').choices(PROVIDERS))
    .addOption(new Option('--link <link>', 'the userspace stack\'s device link').choices(LINKS))
    .option('--ifname <device>', 'network device for --link, e.g. vb-<lab id>')
    .option('--netns <namespace>', 'open the device inside this network namespace (`ip netns` name)')
    .option('--ip <a.b.c.d/nn>', "the userspace stack's IPv4 address and prefix (its own, not the kernel's)")
    .option('--gateway <a.b.c.d>', "the userspace stack's default gateway")
    .option('--pcap <file>', 'write a capture of everything the stack sends and receives')
    .option('--trace', 'log every WSK operation (verbose)', false)
    .addHelpText('after', `\nApplications:\n${appList}\n\nProviders:\n  kernel     the host's own TCP/IP stack (node:net)\n  stack      the userspace TCP/IP stack on a device: --link afpacket (packet ring, needs root or\n             CAP_NET_RAW), pcap (libpcap) or raw (raw IP sockets; the kernel must own the address\n             and be kept quiet, see transports/raw-socket)\n\nExample on a lab: wsk lab up, then\n  wsk run echosrv --link afpacket --netns wskB-<id> --ifname vb-<id> --ip 198.18.0.2/24\n\nCtrl-C (or SIGTERM) unloads: stop listening, wait for connected peers to disconnect, exit 0.\nA second Ctrl-C closes the remaining connections abortively.`)
    .action(async (appName: string, options: RunOptions, command: Command) => {
      const app = APPS[appName];
      if (!app) {
        command.error(`wsk: unknown app '${appName}'. Available apps: ${Object.keys(APPS).join(', ')}`, { exitCode: 2, code: 'wsk.unknownApp' });
      }
      options.provider ??= options.link ? 'stack' : 'kernel';
      if (options.provider === 'stack' && (!options.link || !options.ifname || !options.ip)) {
        command.error(`wsk: ${FIX_STACK_DEVICE}`, { exitCode: 2, code: 'wsk.stackNeedsDevice' });
      }
      if (options.provider === 'kernel' && options.link) {
        command.error('wsk: --link runs the userspace stack; drop --provider kernel', { exitCode: 2, code: 'wsk.providerConflict' });
      }
      setExitCode(await app!.run(options, io));
    });
  addLabCommands(program, io, setExitCode);
  return program;
}

/** Entry point: parses argv (process.argv shape) and runs the command. */
export async function main(argv: string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv);
}

// Run when this file is the process entry (`tsx apps/cli/main.ts ...`).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}

// The `wsk` command: runs ported WSK applications on a WSK subsystem.
//
//   wsk run <app> [args] [--provider kernel|stack] [--link afpacket|pcap|raw ...]   (run-command.ts)
//   wsk stats [pid] [--watch s]   (live counters of a running app on the stack)
//   wsk demo   (the main job)   wsk bench   (the benchmark suite, bench/suite.ts)   wsk lab run <experiment.json>
//   wsk lab up|status|netem|down [--all]   (test networks: veth pairs between namespaces, needs root)
//
// `apps/cli/wsk.mjs` (the package's bin) calls main() of the compiled dist/apps/cli/main.js in an
// installed package, or of this file through tsx in a clone; `tsx apps/cli/main.ts` runs it directly too.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { type Lab, labDown, labDownAll, labOpen, labStatus, labUp } from '../lab/lab.ts';
import { addRunCommand } from './run-command.ts';
import { integer } from './options.ts';
import { addStatsCommand } from './stats-command.ts';
import { addLabRunCommand } from '../lab/experiment-command.ts';
import { addDemoCommand } from './demo.ts';
import { addBenchCommand } from './bench-command.ts';
import { cleanUpOnExit } from './interrupt.ts';
import { packagePath } from '../../runtime/package-root.ts';

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
    process.on('SIGHUP', handler);
  },
};

function labSummary(lab: Lab, offloads: boolean, netem: string | null): Record<string, unknown> {
  return {
    id: lab.id, peerNs: lab.peerNs, stackNs: lab.stackNs, peerIf: lab.peerIf, stackIf: lab.stackIf,
    peerAddress: lab.peerAddress, stackAddress: lab.stackAddress, peerAddress6: lab.peerAddress6, stackAddress6: lab.stackAddress6, mtu: lab.mtu, offloads, netem,
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
    .description('test networks (up, status, netem, down [--all]) and experiments on them (run): a Linux peer namespace and a stack namespace joined by a veth pair, 198.18.0.0/15 only; needs root')
    .addHelpText('after', `
A lab is two namespaces, wskA-<id> (Linux, 198.18.0.1/24 on va-<id>) and wskB-<id> (where the
userspace stack owns 198.18.0.2/24 on vb-<id>), made by \`wsk lab up\`, listed by \`wsk lab status\`,
impaired by \`wsk lab netem <id> delay 20ms loss 1%\` (the kernel's sch_netem) and deleted, with every
process still running in it, by \`wsk lab down <id>\`.

\`wsk lab run\` and \`wsk demo\` delete the labs they made when they end, also on Ctrl-C, SIGTERM,
SIGHUP or an internal error. After a run that was killed outright (SIGKILL, a crash of the machine),
\`wsk lab down --all\` deletes every wskA-/wskB- namespace and what runs in them: the recovery.`);

  lab
    .command('up')
    .description('create namespaces wskA-<id> (Linux peer, 198.18.0.1/24 on va-<id>) and wskB-<id> (userspace stack, vb-<id>, no kernel address)')
    .option('--id <id>', 'name suffix, 1-12 letters/digits (default: pid + random)')
    .option('--mtu <n>', 'MTU of both veth ends', integer(68, 65535), 1500)
    .option('--netem <spec>', "netem impairment on the peer veth, e.g. 'delay 20ms 5ms loss 1%' (needs the kernel's sch_netem)")
    .option('--no-offloads', 'turn TSO/GSO/GRO/checksum offload off on both ends, so every frame is wire-sized (needs ethtool; default: offloads on, as veth comes)')
    .option('--ipv6', 'IPv6 too: fd00:198:18::1/64 for the peer (kernel, no DAD) and fd00:198:18::2/64 for the stack; the stack namespace\'s kernel keeps off IPv6 on vb-<id>', false)
    .option('--json', 'print the lab as JSON', false)
    .action((options: { id?: string; mtu: number; netem?: string; offloads: boolean; ipv6: boolean; json: boolean }) => {
      try {
        const l = labUp({ id: options.id, mtu: options.mtu, netem: options.netem, offloads: options.offloads, ipv6: options.ipv6, persistent: true });
        const summary = labSummary(l, options.offloads, options.netem ?? null);
        if (options.json) {
          io.out(JSON.stringify(summary));
          return;
        }
        io.out(`lab ${l.id} is up (mtu ${l.mtu}, offloads ${options.offloads ? 'on' : 'off'}, netem ${options.netem ?? 'none'})`);
        io.out(`  peer   namespace ${l.peerNs}  interface ${l.peerIf}  address ${l.peerAddress} (kernel)`);
        io.out(`  stack  namespace ${l.stackNs}  interface ${l.stackIf}  address ${l.stackAddress} (userspace stack; not in the kernel)`);
        if (l.peerAddress6 !== null) io.out(`  IPv6   peer ${l.peerAddress6} (kernel), stack ${l.stackAddress6} (userspace stack)`);
        io.out(`  run a peer:   ip netns exec ${l.peerNs} <command>`);
        io.out(`  run the stack: wsk run echosrv --link afpacket --netns ${l.stackNs} --ifname ${l.stackIf} --ip ${l.stackAddress}${l.stackAddress6 !== null ? ` --ip ${l.stackAddress6}` : ''}`);
        io.out(`  tear down:    wsk lab down ${l.id}`);
      } catch (err) {
        fail(err);
      }
    });

  lab
    .command('down')
    .description('delete lab <id>: end the processes still running in its namespaces, then delete both by exact name; with --all every lab (the recovery after an interrupted run)')
    .argument('[id]', 'lab id')
    .option('--all', 'delete every lab: every wskA-/wskB- namespace and nothing else, also those other runs still use', false)
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

  addLabRunCommand(lab, io, setExitCode);

  lab
    .command('netem')
    .description("set the netem impairment on lab <id>'s peer veth (tc qdisc replace ... netem; needs the kernel's sch_netem), or remove it with 'off'")
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
    const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version?: string };
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
    // `wsk -V` is the version; after a command its own options rule (`wsk run iperf3 ... -V` is iperf3's verbose).
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)');

  addRunCommand(program, io, setExitCode);
  addDemoCommand(program, io, setExitCode);
  addLabCommands(program, io, setExitCode);
  addStatsCommand(program, io, setExitCode);
  addBenchCommand(program, io, setExitCode);
  return program;
}

/** Entry point: parses argv (process.argv shape) and runs the command. */
export async function main(argv: string[] = process.argv): Promise<void> {
  // Output piped into a reader that stopped (`wsk ... | head`) ends the command quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  cleanUpOnExit(processIo);
  await buildProgram().parseAsync(argv);
}

// Run when this file is the process entry (`tsx apps/cli/main.ts ...`).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}

// Test networks on one machine: the two-namespace veth lab of docs/architecture.md §9, as a library
// for tests and for `wsk lab up|down|status|netem`.
//
// Why this module exists rather than shell snippets in each test: the lab runs as root, so a
// mistake reaches the host. Every rule that keeps the host safe is enforced here once:
// - addresses are refused unless they lie inside 198.18.0.0/15 (IPv6: fd00::/8 or 2001:db8::/32,
//   prefixes of /48 or longer), and no route is ever added (the
//   only route is the connected /N that `ip addr add` implies inside the peer namespace), so
//   lab traffic cannot leave the namespaces we create;
// - every name carries the lab id, so parallel runs and leftovers never collide, and deletion is
//   always by exact name: we never list-and-delete anything that is not wskA-/wskB- prefixed,
//   and a failed `labUp` only undoes what that call itself created (a pre-existing namespace
//   with the same name is left alone);
// - the veth pair is created directly inside the two namespaces (the same topology as
//   `ip link add` + `ip link set netns`), so a half-finished setup never leaves a link in the
//   host namespace: deleting the two namespaces always removes everything;
// - commands run through execFileSync with argument arrays: ids and netem specs never meet a
//   shell, and every command has a timeout so nothing hangs a CI run;
// - failures carry the fix (run as root, install iproute2/ethtool) because the person reading
//   them is usually a CI log reader, not the author.
import { execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { registerCleanup } from './cleanup-registry.ts';
import { formatIpv6, parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';

export type LabSide = 'peer' | 'stack';

export interface LabUpOptions {
  /** Suffix for every name; letters and digits, at most 12 so `va-<id>` fits IFNAMSIZ (15). */
  id?: string;
  mtu?: number;
  /** The Linux peer's kernel address on va-<id>; default 198.18.0.1/24. */
  peerAddress?: string;
  /** The userspace stack's address; default 198.18.0.2/24. Never configured in the kernel. */
  stackAddress?: string;
  /**
   * IPv6 too: the peer's kernel gets `peerAddress` (default fd00:198:18::1/64, without DAD so
   * tests need not wait) and the stack namespace's kernel is kept off IPv6 on the stack's device
   * (disable_ipv6: its link-local address, made from the same MAC, would be the stack's).
   */
  ipv6?: boolean | { peerAddress?: string; stackAddress?: string };
  /** false: turn TSO/GSO/GRO/checksum offload off on both ends (needs ethtool). Default true. */
  offloads?: boolean;
  /** netem parameters for the peer veth's root qdisc, e.g. 'delay 20ms 5ms loss 1%'. */
  netem?: string;
  /** Loss applied by the peer's nftables on its veth, each way (see Lab.setLoss); for kernels without netem. */
  loss?: PeerLoss;
  /**
   * The lab is meant to outlive this process (`wsk lab up`): it is not registered for the
   * cleanup an interrupted program runs (cleanup-registry.ts). Default false.
   */
  persistent?: boolean;
}

/**
 * Packet loss applied by the Linux peer's own nftables on its veth end: what a lossy path does
 * to IPv4 packets, on a kernel without sch_netem. ARP passes (on a real path it never crosses the
 * lossy part, and a lab should not measure neighbour resolution). The percentages have a
 * resolution of 0.01.
 */
export interface PeerLoss {
  /** Percent of the IPv4 packets the peer sends (peer → stack) that never arrive. */
  toStackPercent: number;
  /** Percent of the IPv4 packets the peer receives (stack → peer) dropped on arrival. */
  fromStackPercent: number;
}

/** One direction of the loss rules' counters: every IPv4 packet they saw, and those they took. */
export interface LossCounts { packets: number; bytes: number; lostPackets: number; lostBytes: number }
export interface PeerLossCounters { toStack: LossCounts; fromStack: LossCounts }

export interface LabExecOptions {
  input?: string;
  /** Milliseconds; default 30 s so a stuck command cannot hang a run. */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Lab {
  readonly id: string;
  readonly peerNs: string;
  readonly stackNs: string;
  readonly peerIf: string;
  readonly stackIf: string;
  readonly peerAddress: string;
  readonly stackAddress: string;
  /** With LabUpOptions.ipv6: the peer's and the stack's IPv6 addresses with their prefix, else null. */
  readonly peerAddress6: string | null;
  readonly stackAddress6: string | null;
  readonly mtu: number;
  /** Runs argv inside the namespace (`ip netns exec`) and returns its stdout. */
  exec(ns: LabSide, argv: string[], opts?: LabExecOptions): string;
  /**
   * Starts argv inside the namespace, in a process group of its own: endProcessGroup(child) ends
   * it with whatever it started (a shell's pipeline, socat's per-connection children). Until it
   * exits it is registered for cleanup (cleanup-registry.ts).
   */
  spawn(ns: LabSide, argv: string[]): ChildProcess;
  /** Replaces the peer veth's netem qdisc; null removes it. */
  setNetem(spec: string | null): void;
  /** Turns TSO/GSO/GRO/checksum offload on or off on both ends. */
  setOffloads(on: boolean): void;
  /** Replaces the peer's nftables loss rules (PeerLoss); null removes them. */
  setLoss(loss: PeerLoss | null): void;
  /** What the loss rules counted since they were set; null when none are set. */
  lossCounters(): PeerLossCounters | null;
  /**
   * For the raw IP link: the stack namespace's kernel takes the stack's address (raw sockets only
   * see packets delivered locally) and an nftables rule keeps that kernel from answering for it
   * (only packets with the link's socket mark leave). Idempotent per lab.
   */
  quietHostStack(rules: string): void;
  /**
   * Ends every process still inside the two namespaces, then deletes both by exact name (which
   * removes the veth pair). Idempotent.
   */
  down(): void;
}

export interface LabStatusEntry {
  id: string;
  namespaces: string[];
}

/** A lab failure whose message says how to fix it. */
export class LabError extends Error {
  override name = 'LabError';
}

const PEER_PREFIX = 'wskA-';
const STACK_PREFIX = 'wskB-';
const ID_RE = /^[A-Za-z0-9]{1,12}$/;
const DEFAULT_PEER_ADDRESS = '198.18.0.1/24';
const DEFAULT_STACK_ADDRESS = '198.18.0.2/24';
const DEFAULT_PEER_ADDRESS6 = 'fd00:198:18::1/64';
const DEFAULT_STACK_ADDRESS6 = 'fd00:198:18::2/64';
const DEFAULT_MTU = 1500;
const COMMAND_TIMEOUT_MS = 30_000;

const FIX_ROOT = 'needs root (or CAP_NET_ADMIN): run as root';
const FIX_IPROUTE2 = 'iproute2 not installed: apt-get install iproute2';
const FIX_ETHTOOL = 'ethtool not installed: apt-get install ethtool';
const FIX_NFT = 'nftables not installed: apt-get install nftables';
const FIX_NETEM = 'this kernel has no netem qdisc: modprobe sch_netem, or use a kernel built with CONFIG_NET_SCH_NETEM';

interface CommandError extends Error {
  code?: string;
  status?: number | null;
  stderr?: Buffer | string;
}

function stderrOf(err: unknown): string {
  const raw = (err as CommandError).stderr;
  return (raw === undefined ? '' : String(raw)).trim();
}

/** One line saying what failed and what to do about it. */
function explain(file: string, args: string[], err: unknown): string {
  const e = err as CommandError;
  const stderr = stderrOf(err);
  const what = `\`${[file, ...args].join(' ')}\` failed`;
  let reason: string;
  if (e.code === 'ENOENT') {
    reason = file === 'ethtool' ? FIX_ETHTOOL : FIX_IPROUTE2;
  } else if (/exec of "ethtool" failed/.test(stderr)) {
    reason = FIX_ETHTOOL;
  } else if (/exec of "nft" failed/.test(stderr)) {
    reason = FIX_NFT;
  } else if (/Specified qdisc kind is unknown/.test(stderr) && args.includes('netem')) {
    reason = FIX_NETEM;
  } else if (/Operation not permitted|Permission denied/i.test(stderr)) {
    reason = FIX_ROOT;
  } else if (e.code === 'ETIMEDOUT') {
    reason = `timed out after ${COMMAND_TIMEOUT_MS} ms`;
  } else {
    reason = (stderr.split('\n')[0] || e.message.split('\n')[0] || 'unknown error').trim();
  }
  return `${what}: ${reason}`;
}

function run(file: string, args: string[], opts: LabExecOptions = {}): string {
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      // Capture stderr so errors can be explained instead of leaking into the test output.
      stdio: ['pipe', 'pipe', 'pipe'],
      input: opts.input ?? '',
      timeout: opts.timeout ?? COMMAND_TIMEOUT_MS,
      env: opts.env ?? process.env,
    });
  } catch (err) {
    throw new LabError(explain(file, args, err), { cause: err });
  }
}

/** Runs a deletion whose target may already be gone; only "missing" counts as success. */
function runIgnoringMissing(file: string, args: string[], missing: RegExp): void {
  try {
    execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
  } catch (err) {
    if (missing.test(stderrOf(err))) return;
    throw new LabError(explain(file, args, err), { cause: err });
  }
}

const NS_MISSING = /No such file or directory|does not exist|Invalid netns name/i;

const LOSS_TABLE = 'wsk_loss';
/** numgen's modulus: percentages to 0.01. */
const LOSS_SCALE = 10_000;

function lossThreshold(label: string, percent: number): number {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new LabError(`invalid ${label} loss ${percent}: give a percentage from 0 to 100, e.g. 1 or 0.1`);
  }
  return Math.round(percent * (LOSS_SCALE / 100));
}

/**
 * The nftables script for PeerLoss on `peerIf`. A packet the peer sends is not dropped on its
 * egress hook: netfilter's egress runs inside dev_queue_xmit, whose NET_XMIT_DROP reaches the
 * sender's TCP as a local drop (tcp_transmit_skb fails, the segment stays at the head of the
 * write queue and goes again at once, counted as no retransmission). `fwd` to `sinkIf`, a veth
 * end that is never up, steals the packet instead (NF_STOLEN is NET_XMIT_SUCCESS to the sender),
 * so it is lost after it was sent, as on a wire. Both hooks see what the device carries: with
 * segmentation offload a TSO/GSO packet of up to 64 KiB, and on egress the sender's GSO packet
 * even with offloads off (Linux TCP builds them and segments in software after this hook), so a
 * loss there takes a burst of segments; the counters' bytes per packet say how large.
 */
function peerLossRules(peerIf: string, sinkIf: string, loss: PeerLoss): string {
  const out = lossThreshold('peer → stack', loss.toStackPercent);
  const back = lossThreshold('stack → peer', loss.fromStackPercent);
  return [
    // Declare, delete, define: one transaction that replaces any earlier rules.
    `table netdev ${LOSS_TABLE}`,
    `delete table netdev ${LOSS_TABLE}`,
    `table netdev ${LOSS_TABLE} {`,
    '  counter to_stack {}', '  counter to_stack_lost {}', '  counter from_stack {}', '  counter from_stack_lost {}',
    '  chain egress {',
    `    type filter hook egress device "${peerIf}" priority 0; policy accept;`,
    `    meta protocol ip counter name "to_stack" numgen random mod ${LOSS_SCALE} < ${out} counter name "to_stack_lost" fwd to "${sinkIf}"`,
    '  }',
    '  chain ingress {',
    `    type filter hook ingress device "${peerIf}" priority 0; policy accept;`,
    `    meta protocol ip counter name "from_stack" numgen random mod ${LOSS_SCALE} < ${back} counter name "from_stack_lost" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Ends the processes still inside namespace `name` (one left there keeps the namespace, and its
 * veth end, alive after `ip netns del`), then deletes it by exact name; a missing one is fine.
 */
function deleteNamespace(name: string): void {
  endNamespaceProcesses(name);
  runIgnoringMissing('ip', ['netns', 'del', name], NS_MISSING);
}

function validateId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new LabError(`invalid lab id '${id}': use 1 to 12 letters or digits (interface names are limited to 15 characters)`);
  }
}

function newId(): string {
  // pid for tracing a leftover to its run, random so parallel workers (and pid reuse) never collide.
  return process.pid.toString(36) + randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4);
}

/** Parses a.b.c.d/len and refuses anything outside 198.18.0.0/15 (the only range lab traffic may use). */
export function validateLabAddress(label: string, cidr: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const len = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || len > 32) {
    throw new LabError(`${label} address '${cidr}' is not an IPv4 address with a prefix length, e.g. 198.18.0.1/24`);
  }
  // The prefix must not reach outside /15 either: a /8 on 198.18.x.x would make the namespace
  // claim (and answer for) addresses that are not ours.
  if (octets[0] !== 198 || (octets[1] !== 18 && octets[1] !== 19) || len < 15) {
    throw new LabError(`${label} address '${cidr}' is outside 198.18.0.0/15: lab traffic must stay in the benchmarking range; use e.g. 198.18.0.1/24`);
  }
}

/** Refuses IPv6 outside the lab's ranges (fd00::/8, 2001:db8::/32 documentation) or with a prefix shorter than /48. */
export function validateLabAddress6(label: string, cidr: string): void {
  const [text, len] = cidr.split('/');
  const bytes = parseIpv6(text ?? '');
  const prefix = Number(len);
  if (!bytes || !Number.isInteger(prefix) || prefix > 128) {
    throw new LabError(`${label} IPv6 address '${cidr}' is not an IPv6 address with a prefix length, e.g. fd00:198:18::1/64`);
  }
  const ula = bytes[0] === 0xfd && bytes[1] === 0x00;
  const doc = bytes[0] === 0x20 && bytes[1] === 0x01 && bytes[2] === 0x0d && bytes[3] === 0xb8;
  if (!(ula || doc) || prefix < 48) {
    throw new LabError(`${label} IPv6 address '${cidr}' is outside fd00::/8 and 2001:db8::/32 (or its prefix is shorter than /48): lab traffic must stay in lab ranges; use e.g. fd00:198:18::1/64`);
  }
}

function validateMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new LabError(`invalid mtu ${mtu}: use an integer from 68 to 65535`);
  }
}

function netemArgs(spec: string): string[] {
  const words = spec.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new LabError("empty netem spec: give parameters such as 'delay 20ms 5ms loss 1%', or null to remove");
  return words;
}

function ethtoolOffloadArgs(ifname: string, on: boolean): string[] {
  const v = on ? 'on' : 'off';
  return ['ethtool', '-K', ifname, 'tso', v, 'gso', v, 'gro', v, 'tx', v];
}

interface LabFields {
  id: string;
  peerAddress: string;
  stackAddress: string;
  peerAddress6: string | null;
  stackAddress6: string | null;
  mtu: number;
}

/** Ends a process started by Lab.spawn and everything in its process group (SIGKILL). */
export function endProcessGroup(child: ChildProcess): void {
  // Once the leader has exited its pid may be reused: what is left is for Lab.down's sweep.
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
}

/** SIGKILL to every process in namespace `ns` but this one (`ip netns pids`); none if it is gone. */
function endNamespaceProcesses(ns: string): void {
  let pids: string;
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
  } catch {
    return; // no such namespace (deleting it then reports anything else)
  }
  for (const pid of pids.split('\n').map(Number)) {
    if (pid > 0 && pid !== process.pid) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
    }
  }
}

function makeLab(f: LabFields, onDown: () => void = () => {}): Lab {
  const peerNs = PEER_PREFIX + f.id;
  const stackNs = STACK_PREFIX + f.id;
  const peerIf = `va-${f.id}`;
  const stackIf = `vb-${f.id}`;
  // The loss rules' sink (peerLossRules): a veth pair inside the peer namespace, never up, so
  // deleting the namespace removes it.
  const sinkIf = `vx-${f.id}`;
  const nsOf = (side: LabSide): string => {
    if (side === 'peer') return peerNs;
    if (side === 'stack') return stackNs;
    throw new LabError(`unknown lab side '${String(side)}': use 'peer' or 'stack'`);
  };
  const lab: Lab = {
    id: f.id,
    peerNs,
    stackNs,
    peerIf,
    stackIf,
    peerAddress: f.peerAddress,
    stackAddress: f.stackAddress,
    peerAddress6: f.peerAddress6,
    stackAddress6: f.stackAddress6,
    mtu: f.mtu,
    exec(ns, argv, opts) {
      return run('ip', ['netns', 'exec', nsOf(ns), ...argv], opts);
    },
    spawn(ns, argv) {
      const child = spawnChild('ip', ['netns', 'exec', nsOf(ns), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      if (child.pid !== undefined) child.once('exit', registerCleanup(`${argv[0]} (pid ${child.pid}) in ${nsOf(ns)}`, () => endProcessGroup(child)));
      return child;
    },
    setNetem(spec) {
      if (spec === null) {
        // veth's default root is noqueue (handle 0), which tc refuses to delete: that means "no netem".
        runIgnoringMissing('tc', ['-n', peerNs, 'qdisc', 'del', 'dev', peerIf, 'root'],
          /handle of zero|No such file or directory|Cannot find specified qdisc/i);
        return;
      }
      run('tc', ['-n', peerNs, 'qdisc', 'replace', 'dev', peerIf, 'root', 'netem', ...netemArgs(spec)]);
    },
    setOffloads(on) {
      // Both ends: the peer's TSO/checksum offload shapes what the stack receives, the stack
      // side's GRO shapes what a capture there sees.
      run('ip', ['netns', 'exec', peerNs, ...ethtoolOffloadArgs(peerIf, on)]);
      run('ip', ['netns', 'exec', stackNs, ...ethtoolOffloadArgs(stackIf, on)]);
    },
    setLoss(loss) {
      if (loss === null) {
        runIgnoringMissing('ip', ['netns', 'exec', peerNs, 'nft', 'delete', 'table', 'netdev', LOSS_TABLE], /No such file or directory/i);
        return;
      }
      const rules = peerLossRules(peerIf, sinkIf, loss);
      try {
        run('ip', ['-n', peerNs, 'link', 'add', sinkIf, 'type', 'veth', 'peer', 'name', `vy-${f.id}`]);
      } catch (err) {
        if (!/File exists/.test((err as Error).message)) throw err;
      }
      run('ip', ['netns', 'exec', peerNs, 'nft', '-f', '-'], { input: rules });
    },
    lossCounters() {
      let listing: string;
      try {
        listing = run('ip', ['netns', 'exec', peerNs, 'nft', '-j', 'list', 'counters', 'table', 'netdev', LOSS_TABLE]);
      } catch (err) {
        if (/No such file or directory/i.test((err as Error).message)) return null;
        throw err;
      }
      const counters = new Map<string, { packets: number; bytes: number }>();
      for (const item of (JSON.parse(listing) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] }).nftables) {
        if (item.counter) counters.set(item.counter.name, item.counter);
      }
      const side = (name: string): LossCounts => ({
        packets: counters.get(name)?.packets ?? 0, bytes: counters.get(name)?.bytes ?? 0,
        lostPackets: counters.get(`${name}_lost`)?.packets ?? 0, lostBytes: counters.get(`${name}_lost`)?.bytes ?? 0,
      });
      return { toStack: side('to_stack'), fromStack: side('from_stack') };
    },
    quietHostStack(rules) {
      run('ip', ['netns', 'exec', stackNs, 'nft', '-f', '-'], { input: rules });
      try {
        run('ip', ['-n', stackNs, 'addr', 'add', f.stackAddress, 'dev', stackIf]);
      } catch (err) {
        if (!/File exists/.test((err as Error).message)) throw err;
      }
    },
    down() {
      // Deleting a namespace destroys the veth end inside it, and with it the pair.
      deleteNamespace(peerNs);
      deleteNamespace(stackNs);
      onDown();
    },
  };
  return lab;
}

/** Creates the two-namespace veth lab; on any failure removes what it created and throws. */
export function labUp(opts: LabUpOptions = {}): Lab {
  const id = opts.id ?? newId();
  validateId(id);
  const peerAddress = opts.peerAddress ?? DEFAULT_PEER_ADDRESS;
  const stackAddress = opts.stackAddress ?? DEFAULT_STACK_ADDRESS;
  validateLabAddress('peer', peerAddress);
  validateLabAddress('stack', stackAddress);
  if (peerAddress.split('/')[0] === stackAddress.split('/')[0]) {
    // docs/architecture.md §9: a shared address makes the kernel RST our stack's peers.
    throw new LabError(`peer and stack addresses are both ${peerAddress.split('/')[0]}: the userspace stack needs its own address, e.g. 198.18.0.2/24`);
  }
  const mtu = opts.mtu ?? DEFAULT_MTU;
  validateMtu(mtu);
  if (opts.netem !== undefined) netemArgs(opts.netem);
  if (opts.loss !== undefined) peerLossRules('va', 'vx', opts.loss);
  const v6 = opts.ipv6 === true ? {} : opts.ipv6 || null;
  const peerAddress6 = v6 ? v6.peerAddress ?? DEFAULT_PEER_ADDRESS6 : null;
  const stackAddress6 = v6 ? v6.stackAddress ?? DEFAULT_STACK_ADDRESS6 : null;
  if (peerAddress6 !== null && stackAddress6 !== null) {
    validateLabAddress6('peer', peerAddress6);
    validateLabAddress6('stack', stackAddress6);
    if (formatIpv6(parseIpv6(peerAddress6.split('/')[0]!)!, 0) === formatIpv6(parseIpv6(stackAddress6.split('/')[0]!)!, 0)) {
      throw new LabError(`peer and stack IPv6 addresses are both ${peerAddress6.split('/')[0]}: the userspace stack needs its own address, e.g. fd00:198:18::2/64`);
    }
  }

  let withdrawCleanup = (): void => {};
  const lab = makeLab({ id, peerAddress, stackAddress, peerAddress6, stackAddress6, mtu }, () => withdrawCleanup());
  const { peerNs, stackNs, peerIf, stackIf } = lab;
  const listed = new Set(listNamespaces());
  const existing = [peerNs, stackNs].filter((n) => listed.has(n));
  if (existing.length > 0) {
    throw new LabError(`lab ${id} already exists (${existing.join(', ')}): use it, pick another id, or delete it first with \`wsk lab down ${id}\``);
  }
  // Only what this call created is ours to delete: a name that already existed is someone else's
  // (one made between the check above and `ip netns add` included).
  const created: string[] = [];
  try {
    run('ip', ['netns', 'add', peerNs]);
    created.push(peerNs);
    run('ip', ['netns', 'add', stackNs]);
    created.push(stackNs);
    run('ip', ['link', 'add', peerIf, 'netns', peerNs, 'mtu', String(mtu), 'type', 'veth',
      'peer', 'name', stackIf, 'netns', stackNs, 'mtu', String(mtu)]);
    // The stack's address lives only in userspace; the alias records it for labOpen/status.
    run('ip', ['-n', stackNs, 'link', 'set', 'dev', stackIf, 'alias', `wsk-stack ${stackAddress}${stackAddress6 ? ` ${stackAddress6}` : ''}`]);
    // Before the link is up: the kernel must never give the stack's device a link-local address.
    if (stackAddress6 !== null) run('ip', ['netns', 'exec', stackNs, 'sysctl', '-q', '-w', `net.ipv6.conf.${stackIf}.disable_ipv6=1`]);
    run('ip', ['-n', peerNs, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', peerNs, 'link', 'set', peerIf, 'up']);
    run('ip', ['-n', stackNs, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', stackNs, 'link', 'set', stackIf, 'up']);
    run('ip', ['-n', peerNs, 'addr', 'add', peerAddress, 'dev', peerIf]);
    if (peerAddress6 !== null) run('ip', ['-n', peerNs, 'addr', 'add', peerAddress6, 'dev', peerIf, 'nodad']);
    if (opts.offloads === false) lab.setOffloads(false);
    if (opts.netem !== undefined) lab.setNetem(opts.netem);
    if (opts.loss !== undefined) lab.setLoss(opts.loss);
  } catch (err) {
    const leftovers: string[] = [];
    for (const name of created.reverse()) {
      try { deleteNamespace(name); } catch { leftovers.push(name); }
    }
    const message = err instanceof Error ? err.message : String(err);
    throw new LabError(`lab ${id} not created: ${message}` + (leftovers.length
      ? `; cleanup failed too, delete by hand: ${leftovers.map((n) => `ip netns del ${n}`).join('; ')}`
      : ''), { cause: err });
  }
  // labUp runs synchronously, so no signal handler can run before this line: from here until
  // lab.down() an interrupted program can still delete the lab (cleanup-registry.ts).
  if (!opts.persistent) withdrawCleanup = registerCleanup(`lab ${id} (namespaces ${peerNs}, ${stackNs})`, () => lab.down());
  return lab;
}

function listNamespaces(): string[] {
  // Output lines look like "wskA-abc (id: 3)" or just "wskA-abc".
  return run('ip', ['netns', 'list']).split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

/** Our labs only (wskA-/wskB- namespaces), grouped by id. */
export function labStatus(): LabStatusEntry[] {
  const byId = new Map<string, string[]>();
  for (const name of listNamespaces()) {
    const m = /^wsk[AB]-(.+)$/.exec(name);
    if (!m) continue;
    const list = byId.get(m[1]!) ?? [];
    list.push(name);
    byId.set(m[1]!, list);
  }
  return [...byId.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, namespaces]) => ({ id, namespaces: namespaces.sort() }));
}

/** Deletes lab `id`'s namespaces by exact name; returns the ones that existed. */
export function labDown(id: string): string[] {
  validateId(id);
  const existing = new Set(listNamespaces());
  const names = [PEER_PREFIX + id, STACK_PREFIX + id];
  for (const name of names) deleteNamespace(name);
  return names.filter((n) => existing.has(n));
}

/** Deletes every wskA-/wskB- namespace (leftovers of crashed runs), nothing else. */
export function labDownAll(): string[] {
  const removed: string[] = [];
  for (const entry of labStatus()) {
    for (const name of entry.namespaces) {
      deleteNamespace(name);
      removed.push(name);
    }
  }
  return removed;
}

/** A Lab handle for an existing lab (e.g. one made by `wsk lab up` in another process). */
export function labOpen(id: string): Lab {
  validateId(id);
  const existing = new Set(listNamespaces());
  if (!existing.has(PEER_PREFIX + id) || !existing.has(STACK_PREFIX + id)) {
    throw new LabError(`no lab '${id}' (namespaces ${PEER_PREFIX}${id}, ${STACK_PREFIX}${id}): see \`wsk lab status\` or create it with \`wsk lab up --id ${id}\``);
  }
  const peerNs = PEER_PREFIX + id;
  const stackNs = STACK_PREFIX + id;
  const link = JSON.parse(run('ip', ['-n', peerNs, '-j', 'addr', 'show', 'dev', `va-${id}`])) as
    { mtu?: number; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
  const inet = link[0]?.addr_info?.find((a) => a.family === 'inet');
  const inet6 = link[0]?.addr_info?.find((a) => a.family === 'inet6' && !a.local?.startsWith('fe80'));
  const stackLink = JSON.parse(run('ip', ['-n', stackNs, '-j', 'link', 'show', 'dev', `vb-${id}`])) as { ifalias?: string }[];
  const alias = /^wsk-stack (\S+)(?: (\S+))?$/.exec(stackLink[0]?.ifalias ?? '');
  return makeLab({
    id,
    peerAddress: inet ? `${inet.local}/${inet.prefixlen}` : DEFAULT_PEER_ADDRESS,
    stackAddress: alias ? alias[1]! : DEFAULT_STACK_ADDRESS,
    peerAddress6: inet6 ? `${inet6.local}/${inet6.prefixlen}` : null,
    stackAddress6: alias?.[2] ?? null,
    mtu: link[0]?.mtu ?? DEFAULT_MTU,
  });
}

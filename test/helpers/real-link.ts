// The userspace stack on a real Linux device, for the interop tests: a two-namespace veth lab
// (apps/lab), one of the three real-device links on the stack's side, a WSK subsystem on the
// stack, a capture of everything the stack sent and received (kept when a test fails), and the
// Linux peer programs the tests start in the peer namespace (ended by their process group,
// which only they are in, when the lab closes).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { labUp, type Lab, type LabUpOptions, type PeerLoss } from '../../apps/lab/lab.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { PcapLink } from '../../transports/pcap/pcap-link.ts';
import { RawSocketLink, rawIpQuietRules } from '../../transports/raw-socket/raw-socket-link.ts';
import { FaultInjectorLink, type FaultOptions } from '../../transports/fault/fault-injector.ts';
import { PcapWriterLink } from '../../transports/sniffer/pcap-writer.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import type { Ipv6Options } from '../../runtime/net/ipv6/ipv6-layer.ts';
import { createUserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { createStackProvider, type StackProvider } from '../../runtime/net/stack-provider.ts';
import type { TcpOptionsConfig } from '../../runtime/net/tcp/tcp-engine.ts';
import { WskSubsystem } from '../../runtime/wsk/subsystem.ts';

export type LinkKind = 'afpacket' | 'pcap' | 'raw';
export const LINK_KINDS: LinkKind[] = ['afpacket', 'pcap', 'raw'];

export interface StackLabOptions extends Pick<LabUpOptions, 'offloads' | 'mtu'> {
  /** In-process impairments on the stack's link, both directions (see FaultInjectorLink). */
  faults?: Omit<FaultOptions, 'direction'>;
  /** Loss applied by the Linux peer's nftables on its veth (Lab.setLoss); the lab's lossCounters() count it. */
  peerLoss?: PeerLoss;
  tcp?: Partial<TcpOptionsConfig>;
  /** AF_PACKET busy polling (default: the link's). */
  busyPollUs?: number;
  /** AF_PACKET receive ring size (default: the link's). */
  ringFrames?: number;
  /** AF_PACKET pool slots (default: the link's). */
  poolSlots?: number;
  /** Keep a capture for failed tests (default true; the capture itself costs an allocation per frame). */
  capture?: boolean;
  /** More addresses of the stack on its interface (InterfaceConfig.secondary), inside the lab's subnet. */
  secondary?: string[];
  /** The link's filter lets IPv4 multicast in (for sockets that join groups). */
  multicast?: boolean;
  /**
   * IPv6 on the lab (the peer gets fd00:198:18::1/64) and on the stack (fd00:198:18::2/64 unless
   * the object gives its own addresses; its other fields are the stack's IPv6 options).
   */
  ipv6?: boolean | Ipv6Options;
}

export interface PeerResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StackLab {
  readonly kind: LinkKind;
  readonly lab: Lab;
  /** The real-device link itself (below the capture and any fault injector). */
  readonly device: LinkDevice;
  readonly stack: NetworkStack;
  readonly provider: StackProvider;
  readonly subsystem: WskSubsystem;
  /** The stack's address without prefix, e.g. 198.18.0.2. */
  readonly address: string;
  readonly peerAddress: string;
  /** With StackLabOptions.ipv6: the stack's and the peer's IPv6 addresses without prefix, else null. */
  readonly address6: string | null;
  readonly peerAddress6: string | null;
  /** A directory for this lab's data files (removed on close). */
  readonly dir: string;
  /** Runs `script` with bash in the peer namespace; kills it after timeoutMs. */
  peer(script: string, timeoutMs?: number): Promise<PeerResult>;
  /** Starts a long-running peer program (a listener); it ends when the lab closes, or with stop(). */
  peerProcess(script: string): PeerProcess;
  /** A file of `bytes` random bytes in `dir`; returns its path and sha256. */
  randomFile(name: string, bytes: number): { path: string; sha256: string; data: Buffer };
  /** Copies the capture to test-results/<name>.pcap and returns the path. */
  keepCapture(name: string): string;
  close(): Promise<void>;
}

export interface PeerProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  output(): string;
  /** Resolves once stdout contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
  stop(): void;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The stack's IPv6 configuration for the lab, or undefined without IPv6. */
function stackIpv6(lab: Lab, opts: StackLabOptions): Ipv6Options | undefined {
  if (!opts.ipv6 || lab.stackAddress6 === null) return undefined;
  const extra = opts.ipv6 === true ? {} : opts.ipv6;
  return { addresses: [lab.stackAddress6], ...extra };
}

function openDevice(kind: LinkKind, lab: Lab, opts: StackLabOptions): LinkDevice {
  const filter = receiveFilterFor({ address: lab.stackAddress, secondary: opts.secondary, ipv6: stackIpv6(lab, opts) }, opts.multicast);
  switch (kind) {
    case 'afpacket':
      return new AfPacketLink({
        ifname: lab.stackIf, netns: lab.stackNs, filter, busyPollUs: opts.busyPollUs, ringFrames: opts.ringFrames,
        poolSlots: opts.poolSlots,
      });
    case 'pcap':
      return new PcapLink({ ifname: lab.stackIf, netns: lab.stackNs, filter });
    case 'raw':
      lab.quietHostStack(rawIpQuietRules());
      return new RawSocketLink({ ifname: lab.stackIf, netns: lab.stackNs });
  }
}

function startPeer(lab: Lab, script: string): ChildProcess {
  // Its own process group: the test ends the shell and everything it started, and nothing else.
  return spawn('ip', ['netns', 'exec', lab.peerNs, 'bash', '-c', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
}

export async function openStackLab(kind: LinkKind, opts: StackLabOptions = {}): Promise<StackLab> {
  const lab = labUp({ offloads: opts.offloads, mtu: opts.mtu, loss: opts.peerLoss, ipv6: opts.ipv6 ? true : undefined });
  const dir = mkdtempSync(join(tmpdir(), `wsk-interop-${lab.id}-`));
  const children = new Set<ChildProcess>();
  let device: LinkDevice;
  try {
    device = openDevice(kind, lab, opts);
  } catch (err) {
    lab.down();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const capturePath = join(dir, 'capture.pcap');
  // Headers are what a failure is read from; 160 bytes keep them and not the 64 MiB of payload.
  let link: LinkDevice = device;
  if (opts.faults) link = new FaultInjectorLink(link, { ...opts.faults, direction: 'both' });
  const capture = opts.capture === false ? null : new PcapWriterLink(link, { path: capturePath, snaplen: 160 });
  const userspace = createUserspaceStack(capture ?? link, { address: lab.stackAddress, secondary: opts.secondary, tcp: opts.tcp, ipv6: stackIpv6(lab, opts) });
  const stack = userspace.ip;
  const provider = createStackProvider(userspace);
  const subsystem = new WskSubsystem(provider, { name: `interop-${kind}`, registerWithNmr: false });
  await subsystem.start();

  const peer = (script: string, timeoutMs = 60_000): Promise<PeerResult> => new Promise((resolvePeer) => {
    const child = startPeer(lab, script);
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n(killed after ${timeoutMs} ms)`; killGroup(child); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); children.delete(child); resolvePeer({ code, stdout, stderr }); });
  });

  const peerProcess = (script: string): PeerProcess => {
    const child = startPeer(lab, script);
    children.add(child);
    let out = '';
    const waiters: (() => void)[] = [];
    child.stdout!.on('data', (d) => { out += d; for (const w of waiters.splice(0)) w(); });
    child.stderr!.on('data', (d) => { out += d; });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => { children.delete(child); r(code); }));
    return {
      child,
      output: () => out,
      exited,
      waitFor: async (text, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!out.includes(text)) {
          if (Date.now() > deadline) throw new Error(`peer program did not print '${text}' within ${timeoutMs} ms; it printed: ${out}`);
          await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
        }
      },
      stop: () => killGroup(child),
    };
  };

  return {
    kind, lab, device, stack, provider, subsystem, dir,
    address: lab.stackAddress.split('/')[0]!,
    peerAddress: lab.peerAddress.split('/')[0]!,
    address6: lab.stackAddress6?.split('/')[0] ?? null,
    peerAddress6: lab.peerAddress6?.split('/')[0] ?? null,
    peer,
    peerProcess,
    randomFile(name, bytes) {
      const data = randomBytes(bytes);
      const path = join(dir, name);
      writeFileSync(path, data);
      return { path, sha256: sha256(data), data };
    },
    keepCapture(name) {
      if (!capture) return '(no capture: the lab was opened with capture: false)';
      capture.flush();
      const out = resolve('test-results');
      mkdirSync(out, { recursive: true });
      const path = join(out, `${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120)}.pcap`);
      copyFileSync(capturePath, path);
      return path;
    },
    async close() {
      for (const c of children) killGroup(c);
      try {
        await subsystem.stop();
      } finally {
        lab.down();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

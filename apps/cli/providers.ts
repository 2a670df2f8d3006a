// The WSK subsystem a `wsk run` application runs on: the kernel provider, or the userspace stack
// on a device link (AF_PACKET ring, libpcap, raw IP sockets), optionally captured to a bounded
// pcap. Everything that can be checked without the device (--ip, --gateway, the --pcap path) is
// checked before it is opened, and a device opened for a start that fails later is closed again:
// an open device keeps the process alive, so a bad option must not leave one behind. Open errors
// are LinkError messages that say what to fix.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createKernelProvider, startWskSubsystem, type WskSubsystem } from '../../index.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { PcapLink } from '../../transports/pcap/pcap-link.ts';
import { RawSocketLink } from '../../transports/raw-socket/raw-socket-link.ts';
import { DEFAULT_SNAPLEN, PcapWriterLink } from '../../transports/sniffer/pcap-writer.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import { createUserspaceStack, type UserspaceStackConfig } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { parseInterface, type InterfaceConfig } from '../../runtime/net/config.ts';
import { parseIpv6Prefix } from '../../runtime/net/ipv6/address-table.ts';
import { createStackProvider, type StackProvider } from '../../runtime/net/stack-provider.ts';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { A_IP, B_IP, stackPair } from '../lab/stack-pair.ts';

export const PROVIDERS = ['kernel', 'stack'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const LINKS = ['afpacket', 'pcap', 'raw', 'memory'] as const;
export type LinkName = (typeof LINKS)[number];

export interface ProviderOptions {
  provider: ProviderName;
  link?: LinkName;
  ifname?: string;
  netns?: string;
  /** --ip, once per address (IPv4 a.b.c.d/nn or IPv6 x:y::z/len); the first IPv4 one is the interface's primary address. */
  ip?: string[];
  gateway?: string;
  mtu?: number;
  pcap?: string;
  /** --pcap: bytes kept per frame. */
  snaplen?: number;
  /** --pcap: frames recorded at most; 0 = no limit. */
  maxFrames?: number;
  /** --pcap: the file's size at most (bytes); 0 = no limit. Default CAPTURE_DEFAULT_MAX_BYTES. */
  maxBytes?: number;
}

/** --pcap's default size cap: a few seconds of a fast test at full frames, not gigabytes. */
export const CAPTURE_DEFAULT_MAX_BYTES = 100 * 1024 * 1024;

export const FIX_STACK_DEVICE = '--provider stack runs on a real device: give --link afpacket|pcap|raw --ifname <device> --ip <a.b.c.d/nn> (and --netns <namespace> for a lab; `wsk lab up` prints them), or --link memory to run with its peer in this process';

export interface RunningProvider {
  subsystem: WskSubsystem;
  /** "provider kernel" or "userspace stack 198.18.0.2/24 on afpacket vb-x in wskB-x". */
  where: string;
  /** --pcap: the capture (its file says how many frames it holds and whether a limit cut it short). */
  capture: PcapWriterLink | null;
  /** The userspace stack and its provider (for `wsk stats`); null on the kernel provider. */
  stack: NetworkStack | null;
  stackProvider: StackProvider | null;
  device: LinkDevice | null;
  /** --link memory: the second userspace stack on the same memory network, where the app's peer runs. */
  memoryPeer: { subsystem: WskSubsystem; address: string } | null;
  /** Stops the subsystem (the stack provider closes its stack and device with it). */
  stop(): Promise<void>;
}

/** A one-line error about an option, found before any device is opened. */
export class OptionError extends Error {
  override name = 'OptionError';
}

/**
 * The interface's addresses from the --ip values (one address each, given as often as needed):
 * the first IPv4 one is the primary address, later IPv4 ones its secondary addresses (the same
 * subnet), IPv6 ones go to InterfaceConfig.ipv6. An IPv4 address is required (the stack's
 * network layer is built around one). A mistake is an OptionError naming the value and the fix.
 */
export function interfaceAddresses(values: readonly string[]): Pick<InterfaceConfig, 'address' | 'secondary' | 'ipv6'> {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const value of values) {
    if (value.includes(':')) {
      optionCheck(`--ip ${value}`, () => parseIpv6Prefix(value));
      v6.push(value);
    } else {
      optionCheck(`--ip ${value}`, () => parseInterface({ address: value }, 65535));
      v4.push(value);
    }
  }
  const primary = v4[0];
  if (primary === undefined) {
    throw new OptionError(`--ip: the stack needs an IPv4 address too: add --ip a.b.c.d/nn (e.g. --ip 198.18.0.2/24${v6.length ? ` --ip ${v6[0]}` : ''})`);
  }
  const prefix = primary.split('/')[1] ?? '24';
  const secondary = v4.slice(1).map((value) => {
    const [address, p] = value.split('/');
    if (p !== undefined && p !== prefix) throw new OptionError(`--ip ${value}: a second IPv4 address shares the first one's subnet (/${prefix}): write ${address}/${prefix}`);
    return address!;
  });
  optionCheck(`--ip ${v4[1] ?? primary}`, () => parseInterface({ address: primary, secondary }, 65535));
  return { address: primary, ...(secondary.length ? { secondary } : {}), ...(v6.length ? { ipv6: { addresses: v6 } } : {}) };
}

/** The value of a repeated --ip: every occurrence, in order (commander's collecting argParser). */
export function collectIp(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The primary IPv4 address of --ip, as text (a.b.c.d/nn), or undefined without --ip. */
export function primaryIp(options: ProviderOptions): string | undefined {
  return options.ip?.find((value) => !value.includes(':'));
}

/** Checks --ip, --gateway and the --pcap path (what needs no device), so a mistake opens nothing. */
function checkStackOptions(options: ProviderOptions): void {
  if (options.link === 'memory' && options.gateway !== undefined) {
    throw new OptionError(`--gateway: the memory link's two stacks share one subnet and need no gateway: drop --gateway ${options.gateway}`);
  }
  // The device's MTU is not known yet: the largest stands in (--mtu is checked against the device).
  if (options.ip !== undefined && options.link !== 'memory') {
    const addresses = interfaceAddresses(options.ip);
    if (options.gateway !== undefined) optionCheck('--gateway', () => parseInterface({ ...addresses, gateway: options.gateway }, 65535));
  }
  if (options.pcap !== undefined) checkCapturePath(options.pcap);
}

function optionCheck(option: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new OptionError(`${option}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function checkCapturePath(path: string): void {
  const file = resolve(path);
  const dir = dirname(file);
  const existing = statSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new OptionError(`--pcap ${path} is a directory: give a file name, e.g. --pcap ${path.replace(/\/$/, '')}/capture.pcap`);
  const parent = statSync(dir, { throwIfNoEntry: false });
  if (!parent) throw new OptionError(`--pcap ${path}: directory ${dir} does not exist: create it (mkdir -p ${dir}) or write the capture elsewhere`);
  if (!parent.isDirectory()) throw new OptionError(`--pcap ${path}: ${dir} is not a directory: write the capture elsewhere`);
  try {
    accessSync(existing ? file : dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new OptionError(`--pcap ${path}: cannot write ${existing ? 'the file' : `in ${dir}`} (${code}): write the capture somewhere you can write, e.g. --pcap /tmp/capture.pcap`);
  }
}

/** The userspace stack's config from the command line: what the link's filter and the stack are both built from. */
function stackConfig(options: ProviderOptions): UserspaceStackConfig {
  return { ...interfaceAddresses(options.ip!), gateway: options.gateway, ...(options.mtu ? { mtu: options.mtu } : {}) };
}

function openLink(options: ProviderOptions): LinkDevice {
  const { link, ifname, netns } = options;
  if (link === 'afpacket') return new AfPacketLink({ ifname: ifname!, netns, filter: receiveFilterFor(stackConfig(options)) });
  if (link === 'pcap') return new PcapLink({ ifname: ifname!, netns, filter: receiveFilterFor(stackConfig(options)) });
  return new RawSocketLink({ ifname, netns });
}

/**
 * Raw IP sockets see only what the kernel delivers locally: without the stack's address on the
 * kernel's side nothing arrives, and a client would wait for its SYN timeouts in silence. Skipped
 * when `ip` cannot answer (the link's own open then says what is wrong).
 */
function checkRawAddressOwned(options: ProviderOptions): void {
  const primary = primaryIp(options)!;
  const [address] = primary.split('/');
  let listing: { addr_info?: { local?: string }[] }[];
  try {
    listing = JSON.parse(execFileSync('ip', [...(options.netns ? ['-n', options.netns] : []), '-j', 'addr', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as typeof listing;
  } catch {
    return;
  }
  if (listing.some((l) => l.addr_info?.some((a) => a.local === address))) return;
  const where = options.netns ? `ip -n ${options.netns}` : 'ip';
  throw new OptionError(`--link raw: the kernel${options.netns ? ` in ${options.netns}` : ''} does not own ${address}, and raw IP sockets only see packets it delivers locally: run \`${where} addr add ${primary} dev ${options.ifname ?? '<device>'}\` and keep its own replies off the wire with the nftables table rawIpQuietRules() in transports/raw-socket/raw-socket-link.ts`);
}

function openCapture(device: LinkDevice, options: ProviderOptions): PcapWriterLink {
  const limit = (n: number | undefined, fallback: number): number | undefined => {
    const v = n ?? fallback;
    return v === 0 ? undefined : v;
  };
  return new PcapWriterLink(device, {
    path: options.pcap!, snaplen: options.snaplen ?? DEFAULT_SNAPLEN,
    maxFrames: limit(options.maxFrames, 0), maxBytes: limit(options.maxBytes, CAPTURE_DEFAULT_MAX_BYTES),
  });
}

export async function startProvider(options: ProviderOptions): Promise<RunningProvider> {
  if (options.provider === 'kernel') {
    const subsystem = await startWskSubsystem(createKernelProvider(), { name: 'kernel', makeDefault: true });
    return { subsystem, where: 'provider kernel', stack: null, stackProvider: null, device: null, capture: null, memoryPeer: null, stop: () => subsystem.stop() };
  }
  checkStackOptions(options);
  if (options.link === 'memory') return startMemoryPair(options);
  // Until the subsystem owns it, the device is closed here on every failure.
  let device = openLink(options);
  let capture: PcapWriterLink | null = null;
  try {
    if (options.pcap) device = capture = openCapture(device, options);
    const stack = createUserspaceStack(device, stackConfig(options));
    // After the stack's own checks (the MTU needs the open device), so a bad option is named first.
    if (options.link === 'raw') checkRawAddressOwned(options);
    const stackProvider = createStackProvider(stack);
    const subsystem = await startWskSubsystem(stackProvider, { name: 'stack', makeDefault: true });
    return {
      subsystem, stack: stack.ip, stackProvider, device, capture, memoryPeer: null,
      where: `userspace stack ${options.ip!.join(' ')} on ${options.link} ${options.ifname}${options.netns ? ` in ${options.netns}` : ''}`,
      stop: () => subsystem.stop(),
    };
  } catch (err) {
    device.close();
    throw err;
  }
}

/**
 * --link memory: the app's stack (198.18.0.2) and a peer stack (198.18.0.1) on one in-process
 * memory network, the stack pair of the lab's experiments; nothing else can reach it.
 */
async function startMemoryPair(options: ProviderOptions): Promise<RunningProvider> {
  const other = options.ip?.find((value) => value.split('/')[0] !== B_IP);
  if (other !== undefined) {
    throw new OptionError(`--link memory puts the app at ${B_IP}/24 and its peer at ${A_IP}: drop --ip ${other}`);
  }
  let device: LinkDevice | null = null;
  let capture: PcapWriterLink | null = null;
  const pair = stackPair({}, {}, (link, which) => {
    if (which === 'a') return link;
    device = options.pcap ? (capture = openCapture(link, options)) : link;
    return device;
  }, options.mtu ? { mtu: options.mtu } : {});
  // Each provider owns its stack and closes it (and its device) when its subsystem stops.
  const stackProvider = createStackProvider(pair.b);
  const subsystem = await startWskSubsystem(stackProvider, { name: 'stack', makeDefault: true });
  const peerSubsystem = await startWskSubsystem(createStackProvider(pair.a), { name: 'memory-peer' });
  return {
    subsystem, stack: pair.b.ip, stackProvider, device, capture,
    memoryPeer: { subsystem: peerSubsystem, address: A_IP },
    where: `userspace stack ${B_IP}/24 on the memory link (peer stack ${A_IP} in this process)`,
    stop: async () => {
      await subsystem.stop();
      await peerSubsystem.stop();
    },
  };
}

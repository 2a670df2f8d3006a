// Loading the project's native links (built by transports/native/build.mjs) and the errors every
// real-device link shares. A failure to open a device is a configuration problem on the user's
// machine, so each LinkError carries a stable code and a message that names the fix.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { COMPILED, packagePath } from '../../runtime/package-root.ts';

export type LinkErrorCode =
  | 'ADDON_MISSING' | 'LIBPCAP_MISSING' | 'NOT_PERMITTED' | 'NO_NETNS' | 'NO_DEVICE' | 'DEVICE_DOWN' | 'NOT_ETHERNET'
  | 'MTU_TOO_LARGE' | 'RING_MEMORY' | 'OPEN_FAILED' | 'PACKAGE_MISSING';

export class LinkError extends Error {
  override name = 'LinkError';
  constructor(readonly code: LinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What the addons throw for a failed syscall (transports/native/netns.cc ThrowErrno). */
export interface NativeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

export const FIX_PRIVILEGE = 'needs root or CAP_NET_RAW: run as root, or `setcap cap_net_raw,cap_net_admin+ep "$(readlink -f "$(which node)")"`';

const require = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();
// build.mjs writes the addons under the package root, which the compiled package (dist/) is one
// directory deeper from (runtime/package-root.ts). An installed package reruns its install script
// with `npm rebuild`; a clone has the build:native script.
const ADDON_DIR = packagePath('transports', 'native', 'build');
const REBUILD = COMPILED ? 'npm rebuild wsk-runtime' : 'npm run build:native';

/** Why build.mjs could not build `name` (it keeps the reason in build/<name>.error), or null. */
function installFailure(name: string): string | null {
  try {
    return readFileSync(`${ADDON_DIR}/${name}.error`, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function loadAddon<T>(name: 'wsk_afpacket' | 'wsk_pcap' | 'wsk_aead', what: string): T {
  const cached = loaded.get(name);
  if (cached) return cached as T;
  let addon: T;
  try {
    addon = require(`${ADDON_DIR}/${name}.node`) as T;
  } catch (err) {
    const e = err as NativeError;
    const why = installFailure(name);
    if (name === 'wsk_pcap' && /libpcap/.test(why ?? e.message)) {
      throw new LinkError('LIBPCAP_MISSING', `${what}: libpcap not installed: apt-get install libpcap-dev, then ${REBUILD}`, { cause: err });
    }
    if (why) {
      throw new LinkError('ADDON_MISSING', `${what}: the native addon ${name} was not built: ${why}; then run \`${REBUILD}\``, { cause: err });
    }
    throw new LinkError('ADDON_MISSING', `${what}: the native addon ${name} is not built: run \`${REBUILD}\` (needs g++; the libpcap link also needs apt-get install libpcap-dev). ${e.message.split('\n')[0]}`, { cause: err });
  }
  loaded.set(name, addon);
  return addon;
}

interface NetnsAddon {
  enterNetns(name: string): void;
  leaveNetns(): void;
}

/**
 * Runs `fn` with this thread inside network namespace `netns` (`ip netns` name), so that sockets
 * it creates belong there; the rest of the process stays in its own namespace. Without a name,
 * just runs `fn`.
 */
export function withNetns<T>(netns: string | undefined, fn: () => T): T {
  if (!netns) return fn();
  const addon = loadAddon<NetnsAddon>('wsk_afpacket', `network namespace ${netns}`);
  try {
    addon.enterNetns(netns);
  } catch (err) {
    const e = err as NativeError;
    if (e.code === 'ENOENT') throw new LinkError('NO_NETNS', `no network namespace '${netns}': see \`ip netns list\` (or create a lab with \`wsk lab up\`)`, { cause: err });
    if (e.code === 'EPERM') throw new LinkError('NOT_PERMITTED', `entering network namespace '${netns}' needs root or CAP_SYS_ADMIN: run as root`, { cause: err });
    throw new LinkError('OPEN_FAILED', `entering network namespace '${netns}': ${e.message}`, { cause: err });
  }
  try {
    return fn();
  } finally {
    addon.leaveNetns();
  }
}

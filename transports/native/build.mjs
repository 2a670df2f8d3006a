#!/usr/bin/env node
// Builds the project's native links (docs/architecture.md §2: native code lives only under transports/)
// with the machine's own compiler against the running Node's headers: no prebuilt download, no
// node-gyp project files. Outputs go to transports/native/build/<name>.node.
//
//   node transports/native/build.mjs            build what is missing or stale; fail on errors
//   node transports/native/build.mjs --optional  as above, but only warn (npm postinstall: the
//                                               kernel provider's TCP needs no native code)
//   node transports/native/build.mjs --force     rebuild everything
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const out = join(here, 'build');
const optional = process.argv.includes('--optional');
const force = process.argv.includes('--force');
// An installed package (npm pack ships no TypeScript sources) reruns this through its install
// script; a clone has the build:native script.
const retry = existsSync(join(root, 'index.ts')) ? 'npm run build:native' : 'npm rebuild wsk-runtime';

const ADDONS = [
  {
    name: 'wsk_afpacket',
    what: 'AF_PACKET link (and the TUN device)',
    sources: ['transports/afpacket/afpacket.cc', 'transports/tun/tun.cc', 'transports/native/support.cc'],
    headers: ['transports/native/support.h'],
    libs: [],
  },
  {
    name: 'wsk_udp',
    what: 'kernel provider datagram sockets',
    sources: ['transports/kernel/udp-socket.cc', 'transports/native/support.cc'],
    headers: ['transports/native/support.h'],
    libs: [],
  },
  {
    name: 'wsk_pcap',
    what: 'libpcap link',
    sources: ['transports/pcap/pcap.cc', 'transports/native/support.cc'],
    headers: ['transports/native/support.h'],
    libs: ['-lpcap'],
    needsHeader: 'pcap/pcap.h',
    fix: 'libpcap not installed: apt-get install libpcap-dev',
  },
  {
    // No -lcrypto: the symbols come from the node binary, which links OpenSSL and exports it.
    name: 'wsk_aead',
    what: 'ChaCha20-Poly1305 over Node\'s OpenSSL (WireGuard data path)',
    sources: ['transports/native/aead.cc'],
    headers: [],
    libs: [],
  },
];

function nodeIncludeDir() {
  const candidates = [resolve(dirname(process.execPath), '../include/node')];
  if (process.env.npm_config_nodedir) candidates.push(join(process.env.npm_config_nodedir, 'include/node'));
  candidates.push('/usr/include/node', '/usr/local/include/node');
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
  if (!found) {
    throw new Error(`Node's C headers (node_api.h, uv.h) not found in ${candidates.join(', ')}: install Node.js from nodejs.org or NodeSource (they ship include/node), or Debian's libnode-dev`);
  }
  return found;
}

function addonApiDir() {
  const require = createRequire(join(root, 'package.json'));
  try {
    return require('node-addon-api').include_dir.replace(/^"|"$/g, '');
  } catch {
    throw new Error('node-addon-api is missing: run npm ci first');
  }
}

function systemHeaderExists(header) {
  return ['/usr/include', '/usr/local/include', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu']
    .some((d) => existsSync(join(d, header)));
}

function stale(target, inputs) {
  if (force || !existsSync(target)) return true;
  const t = statSync(target).mtimeMs;
  return inputs.some((f) => statSync(f).mtimeMs > t);
}

function build(addon, includes) {
  const target = join(out, `${addon.name}.node`);
  const inputs = [...addon.sources, ...addon.headers].map((f) => join(root, f));
  if (addon.needsHeader && !systemHeaderExists(addon.needsHeader)) throw new Error(addon.fix);
  if (!stale(target, inputs)) return `${addon.name}: up to date`;
  const args = [
    '-O2', '-std=c++17', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-missing-field-initializers',
    '-DNAPI_VERSION=8', '-DNAPI_DISABLE_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-fvisibility=hidden',
    ...includes.map((d) => `-I${d}`),
    ...addon.sources.map((f) => join(root, f)),
    '-o', target, ...addon.libs,
  ];
  const cxx = process.env.CXX || 'g++';
  try {
    execFileSync(cxx, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error(`no C++ compiler (${cxx}): apt-get install g++ make python3`);
    const stderr = String(err.stderr ?? '');
    process.stderr.write(stderr);
    const first = stderr.split('\n').find((l) => /error/i.test(l));
    throw new Error(`${cxx} failed${first ? `: ${first.trim()}` : ''}`);
  }
  return `${addon.name}: built (${addon.what})`;
}

// npm shows an install script's output only when it fails, and this one does not fail the install
// (--optional), so the reason an addon is missing is kept beside it for the error the link throws
// when opened (transports/native/native.ts).
function recordFailure(addon, reason) {
  const file = join(out, `${addon.name}.error`);
  try {
    if (reason) writeFileSync(file, reason + '\n');
    else rmSync(file, { force: true });
  } catch {
    // Without a writable build/ the link's own message still says the addon is missing.
  }
}

let failed = 0;
try {
  mkdirSync(out, { recursive: true });
  const includes = [nodeIncludeDir(), addonApiDir()];
  for (const addon of ADDONS) {
    try {
      console.log(`native: ${build(addon, includes)}`);
      recordFailure(addon, null);
    } catch (err) {
      failed++;
      console.error(`native: ${addon.name} (${addon.what}) not built: ${err.message}`);
      recordFailure(addon, err.message);
    }
  }
} catch (err) {
  failed = ADDONS.length;
  console.error(`native: nothing built: ${err.message}`);
  for (const addon of ADDONS) recordFailure(addon, err.message);
}
if (failed > 0 && !optional) process.exit(1);
if (failed > 0) console.error(`native: the memory link and the kernel provider's TCP work without these (its datagram sockets need wsk_udp); \`${retry}\` retries.`);

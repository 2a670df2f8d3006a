// The npm package as a user gets it (issue 16): `npm pack` (whose prepack compiles dist/), the
// tarball installed into a scratch project, and used there the way the README says — plain node,
// a TypeScript project on tsc's default strict NodeNext config, the `wsk` bin — from the compiled
// JavaScript, with no tsx anywhere. The install reaches the npm registry only for the package's
// dependencies and prefers the npm cache (`npm ci` filled it). Every command is bounded in time:
// one that overruns, or outlives its test, is ended with the process group it got from here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

interface Result { code: number | null; out: string; err: string }

// The test runs under `npm test`, whose npm_* variables (lifecycle event, config of the outer
// command) must not steer the npm commands run here.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/** Process groups of the commands still running (each command leads its own group). */
const running = new Set<number>();

function endGroup(pgid: number): void {
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
}

function run(cwd: string, command: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid!;
    running.add(pgid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => endGroup(pgid), timeoutMs);
    const done = (): void => { clearTimeout(timer); running.delete(pgid); };
    child.on('error', (e) => { done(); reject(e); });
    child.on('close', (code) => { done(); resolve({ code, out, err }); });
  });
}

/** Fails with the command's output, so a failure in CI says what npm, tsc or node printed. */
function ok(what: string, r: Result): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`);
  return r.out;
}

/** The README's registration sample (the TypeScript block under "Porting a WSK application"). */
function readmeRegistrationSample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /```ts\n(import \{ +\/\/ TypeScript \(wsk-runtime\)[\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README.md: the TypeScript registration sample is gone');
  return block[1]!;
}

/** Opens each real-device link on a device that does not exist; returns the LinkError codes (with messages). */
async function openLinks(cwd: string, messages = false): Promise<string[]> {
  writeFileSync(join(cwd, 'open.mjs'), `
import { AfPacketLink, PcapLink, RawSocketLink } from 'wsk-runtime';
for (const Link of [AfPacketLink, PcapLink, RawSocketLink]) {
  try { new Link({ ifname: 'wskpkg-none0' }).close(); console.log('OPENED'); } catch (e) { console.log(${messages ? "e.code + ' ' + e.message" : 'e.code'}); }
}`);
  return ok('node open.mjs', await run(cwd, process.execPath, ['open.mjs'], 60_000)).trim().split('\n');
}

let work = '';
let project = '';
let packed: { filename: string; files: { path: string }[] };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'wsk-package-'));
  const pack = ok('npm pack', await run(ROOT, 'npm', ['pack', '--json', '--pack-destination', work], 150_000));
  packed = (JSON.parse(pack.slice(pack.indexOf('['))) as (typeof packed)[])[0]!;
  project = join(work, 'consumer');
  mkdirSync(project);
  // allowScripts: recent npm 11 warns about dependencies' install scripts a project has not
  // approved, and skips them when strict (wsk-runtime builds its native links in one, raw-socket
  // runs node-gyp in another); older npm ignores the field.
  writeFileSync(join(project, 'package.json'), JSON.stringify({
    name: 'wsk-consumer', version: '1.0.0', private: true, type: 'module',
    allowScripts: { 'wsk-runtime': true, 'raw-socket': true },
  }, null, 2));
  ok('npm install <tarball>', await run(project, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed.filename)], 240_000));
}, 420_000);

afterAll(() => {
  for (const pgid of running) endGroup(pgid);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm package: packed and installed into a scratch project', () => {
  it('ships the compiled library with declarations and source maps, the licence, the native sources, the docs its comments cite; no tests, benchmarks, CI or TypeScript sources', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['LICENSE', 'THIRD-PARTY-NOTICES.md', 'licenses/MS-PL.txt', 'README.md', 'package.json', 'apps/cli/wsk.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map',
      'dist/apps/cli/main.js', 'transports/native/build.mjs', 'transports/afpacket/afpacket.cc', 'transports/tun/tun.cc', 'transports/pcap/pcap.cc', 'transports/native/aead.cc',
      'apps/lab/experiments/cubic-vs-newreno.json', 'docs/architecture.md', 'docs/wsk-rules.md']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /\.test\.|(^|\/)(test|bench|\.ci|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(project, 'node_modules/wsk-runtime/package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(join(project, 'node_modules/wsk-runtime/LICENSE'), 'utf8')).toMatch(/^MIT License/);
  });

  it('node imports wsk-runtime and runs the registration sample; every subpath export loads', async () => {
    writeFileSync(join(project, 'sample.mjs'), `
import {
  WSK_REGISTRATION, WSK_PROVIDER_NPI, MAKE_WSK_VERSION, WskRegister, WskCaptureProviderNPI, WskReleaseProviderNPI, WskDeregister,
  WSK_INFINITE_WAIT, KEVENT, KeInitializeEvent, NotificationEvent, KeSetEvent, KeWaitForSingleObject,
  IoAllocateIrp, IoSetCompletionRoutine, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
  AF_INET6, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_LISTEN_SOCKET, Executive, KernelMode, ntStatusName,
} from 'wsk-runtime';
import { callWsk, WskApp, WskStream } from 'wsk-runtime/promises';
import { labStatus, loadExperiment, runExperiment } from 'wsk-runtime/lab';
import { echosrvStart } from 'wsk-runtime/apps/echosrv';
import { startIperf3Server, runIperf3Client } from 'wsk-runtime/apps/iperf3';
import { startHttpServer, HttpClient } from 'wsk-runtime/apps/http';
import { KsInitialize } from 'wsk-runtime/apps/ksocket';
import { getaddrinfo } from 'wsk-runtime/apps/ksocket/berkeley';
import { startWireGuardWsk, parseWgQuickConfig, generatePrivateKey } from 'wsk-runtime/apps/wireguard';
import { buildProgram } from 'wsk-runtime/cli';

const reg = WSK_REGISTRATION();
const npi = WSK_PROVIDER_NPI();
const disp = { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null };
WskRegister({ ClientContext: null, Dispatch: disp }, reg);
await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi);

const ev = new KEVENT(); KeInitializeEvent(ev, NotificationEvent, false);
const irp = IoAllocateIrp(1, false);
IoSetCompletionRoutine(irp, (_dev, _irp, e) => { KeSetEvent(e, 0, false); return STATUS_MORE_PROCESSING_REQUIRED; },
                       ev, true, true, true);
let status = npi.Dispatch.WskSocket(npi.Client, AF_INET6, SOCK_STREAM, IPPROTO_TCP,
             WSK_FLAG_LISTEN_SOCKET, null, null, null, null, null, irp);
if (status === STATUS_PENDING) {
  await KeWaitForSingleObject(ev, Executive, KernelMode, false, null);
  status = irp.IoStatus.Status;
}
const listener = irp.IoStatus.Information;
console.log('WskSocket', ntStatusName(status), listener !== null);
const closed = await callWsk((i) => listener.Dispatch.WskCloseSocket(listener, i));
console.log('WskCloseSocket', ntStatusName(closed.status));
WskReleaseProviderNPI(reg);
await WskDeregister(reg);
const exported = { WskApp, WskStream, labStatus, loadExperiment, runExperiment, echosrvStart, startIperf3Server, runIperf3Client,
  startHttpServer, HttpClient, KsInitialize, getaddrinfo, startWireGuardWsk, parseWgQuickConfig, generatePrivateKey, buildProgram };
console.log('exports', Object.entries(exported).filter(([, v]) => typeof v !== 'function').map(([k]) => k).join(',') || 'all functions');
`);
    const out = ok('node sample.mjs', await run(project, process.execPath, ['sample.mjs'], 60_000));
    expect(out).toContain('WskSocket STATUS_SUCCESS (0x00000000) true');
    expect(out).toContain('WskCloseSocket STATUS_SUCCESS (0x00000000)');
    expect(out).toContain('exports all functions');
    // require() of an ES module without top-level await (Node 20.19+), as the README says.
    const required = ok('node -e require(...)', await run(project, process.execPath, ['-e',
      "for (const m of ['wsk-runtime', 'wsk-runtime/promises', 'wsk-runtime/lab', 'wsk-runtime/apps/iperf3', 'wsk-runtime/apps/wireguard']) console.log(m, Object.keys(require(m)).length > 0)"], 60_000));
    expect(required).toContain('wsk-runtime true\nwsk-runtime/promises true\nwsk-runtime/lab true\nwsk-runtime/apps/iperf3 true\nwsk-runtime/apps/wireguard true');
  }, 90_000);

  it("a TypeScript project on `tsc --init`'s default config (strict, NodeNext) builds the README's sample against the declarations and runs it", async () => {
    const ts = join(project, 'ts');
    mkdirSync(join(ts, 'src'), { recursive: true });
    writeFileSync(join(ts, 'package.json'), JSON.stringify({ name: 'wsk-ts-consumer', private: true, type: 'module' }));
    ok('tsc --init', await run(ts, process.execPath, [TSC, '--init'], 60_000));
    // The README's sample leaves the socket's context and its (absent) listen callbacks to the reader.
    writeFileSync(join(ts, 'src', 'main.ts'), [
      'const ctx = null;',
      'const listenDispatch = null;',
      readmeRegistrationSample(),
      "import { ntStatusName, WskReleaseProviderNPI, WskDeregister, type WSK_PROVIDER_BASIC_DISPATCH } from 'wsk-runtime';",
      "import { callWsk, type WskStream } from 'wsk-runtime/promises';",
      "import type { ExperimentSpec } from 'wsk-runtime/lab';",
      "import type { EchosrvOptions } from 'wsk-runtime/apps/echosrv';",
      "import type { Iperf3ClientOptions } from 'wsk-runtime/apps/iperf3';",
      "import type { HttpServerOptions } from 'wsk-runtime/apps/http';",
      "import type { KSOCKET } from 'wsk-runtime/apps/ksocket';",
      "import type { addrinfo } from 'wsk-runtime/apps/ksocket/berkeley';",
      "import type { WireGuardWskOptions } from 'wsk-runtime/apps/wireguard';",
      "import type { CliIo } from 'wsk-runtime/cli';",
      'export type Used = [WskStream, ExperimentSpec, EchosrvOptions, Iperf3ClientOptions, HttpServerOptions, KSOCKET, addrinfo, WireGuardWskOptions, CliIo];',
      "console.log('WskSocket', ntStatusName(status), listener !== null);",
      'const closed = await callWsk((i) => (listener.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskCloseSocket(listener, i));',
      "console.log('WskCloseSocket', ntStatusName(closed.status));",
      'WskReleaseProviderNPI(reg);',
      'await WskDeregister(reg);',
      '',
    ].join('\n'));
    ok('tsc', await run(ts, process.execPath, [TSC, '-p', '.', '--rootDir', 'src', '--outDir', 'out'], 120_000));
    const out = ok('node out/main.js', await run(ts, process.execPath, ['out/main.js'], 60_000));
    expect(out).toContain('WskSocket STATUS_SUCCESS (0x00000000) true');
    expect(out).toContain('WskCloseSocket STATUS_SUCCESS (0x00000000)');
  }, 270_000);

  it('npx wsk --help and npx wsk run echosrv --link memory run the compiled CLI; wsk bench says it needs a clone', async () => {
    expect(ok('npx wsk --help', await run(project, 'npx', ['--no', '--', 'wsk', '--help'], 60_000))).toMatch(/^Usage: wsk /);
    const echo = ok('npx wsk run echosrv --link memory', await run(project, 'npx', ['--no', '--', 'wsk', 'run', 'echosrv', '--link', 'memory'], 120_000));
    expect(echo).toContain('echosrv listening on [::]:40007');
    expect(echo).toMatch(/memory peer: echoed 1048576 random bytes intact/);
    expect(echo).toContain('echosrv unloaded');
    const bench = await run(project, 'npx', ['--no', '--', 'wsk', 'bench', '--quick'], 60_000);
    expect(bench.code).toBe(2);
    expect(bench.err).toContain('wsk bench: the benchmarks run from a clone of the wsk-runtime repository');
  }, 270_000);

  it('npm ls: neither tsx nor esbuild is a production dependency', async () => {
    const tree = ok('npm ls', await run(project, 'npm', ['ls', '--omit=dev', '--all', '--parseable'], 60_000));
    expect(tree).toContain('node_modules/wsk-runtime');
    expect(tree).toContain('node_modules/commander');
    expect(tree.split('\n').filter((p) => /node_modules\/(tsx|esbuild|@esbuild)(\/|$)/.test(p))).toEqual([]);
  }, 90_000);

  it('the install builds the native links, which the compiled package loads', async () => {
    const build = join(project, 'node_modules/wsk-runtime/transports/native/build');
    expect(existsSync(join(build, 'wsk_afpacket.node'))).toBe(true);
    expect(existsSync(join(build, 'wsk_pcap.node'))).toBe(true);
    expect(existsSync(join(build, 'wsk_aead.node'))).toBe(true);
    // Opening a device that does not exist gets past loading the addon (and raw-socket): NO_DEVICE.
    expect(await openLinks(project)).toEqual(['NO_DEVICE', 'NO_DEVICE', 'NO_DEVICE']);
  }, 90_000);

  it('without a C++ compiler the install succeeds, each real-device link names what is missing, and npm rebuild wsk-runtime builds them once there is one', async () => {
    const bare = join(work, 'no-compiler');
    mkdirSync(bare);
    writeFileSync(join(bare, 'package.json'), readFileSync(join(project, 'package.json')));
    const noCxx = { CXX: 'wsk-no-such-compiler' };
    ok('npm install <tarball> without a compiler', await run(bare, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed.filename)], 240_000, noCxx));
    const fix = 'no C++ compiler (wsk-no-such-compiler): apt-get install g++ make python3; then run `npm rebuild wsk-runtime`';
    const links = await openLinks(bare, true);
    expect(links[0]).toBe(`ADDON_MISSING AF_PACKET link: the native addon wsk_afpacket was not built: ${fix}`);
    expect(links[1]).toBe(`ADDON_MISSING libpcap link: the native addon wsk_pcap was not built: ${fix}`);
    expect(links[2]).toMatch(/^PACKAGE_MISSING raw IP link: the raw-socket package is not installed or not built: it builds with node-gyp \(apt-get install g\+\+ make python3\), then run npm install\./);
    ok('npm rebuild wsk-runtime', await run(bare, 'npm', ['rebuild', 'wsk-runtime'], 180_000));
    expect((await openLinks(bare)).slice(0, 2)).toEqual(['NO_DEVICE', 'NO_DEVICE']);
  }, 450_000);
});

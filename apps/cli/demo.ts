// `wsk demo`: the main job. As root: a two-namespace lab, our userspace stack on the AF_PACKET
// link in one namespace running the ported echosrv and the iperf3 server, real Linux clients
// (nc, iperf3) in the other, then our iperf3 client against Linux's iperf3 server; live progress,
// a results table, a pcap of the session, and the lab torn down. Without root the same
// programs run on two userspace stacks joined by the in-process memory link, and it says so.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startWskSubsystem, STATUS_SUCCESS, ntStatusName, type WskSubsystem } from '../../index.ts';
import { echosrvListening, echosrvStart, echosrvStop } from '../echosrv/echosrv.ts';
import { startIperf3Server, type Iperf3Server, type ServerTestReport } from '../iperf3/iperf3-server.ts';
import { formatRate } from '../iperf3/units.ts';
import { runIperf3Client, type Iperf3ClientOptions } from '../iperf3/iperf3-client.ts';
import { endProcessGroup, labUp, type Lab } from '../lab/lab.ts';
import { BoundedCaptureLink } from '../lab/bounded-capture.ts';
import { B_IP, stackPair } from '../lab/stack-pair.ts';
import { echoRoundTrip } from '../common/echo-check.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { createUserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import type { Command } from 'commander';
import { integer } from './options.ts';
import type { CliIo } from './main.ts';
import { cleanUpOnInterrupt } from './interrupt.ts';

export interface DemoOptions {
  /** Directory for the results and the capture. */
  out: string;
  /** Seconds per iperf3 test. */
  seconds: number;
  /** Run on the memory link even as root. */
  memory: boolean;
}

interface Row { test: string; client: string; server: string; verdict: 'ok' | 'FAILED' }

/** Of our client's text, the interval lines: each stream's, or with several streams their [SUM]. */
function intervalLines(parallel: number | undefined, out: (line: string) => void): (line: string) => void {
  return (line) => {
    if (/ sec /.test(line) && !/sender|receiver/.test(line) && ((parallel ?? 1) === 1 || line.startsWith('[SUM]'))) out(line);
  };
}

const ECHO_PORT = 40007;
const IPERF_PORT = 5201;
const ECHO_BYTES = 4 << 20;
const CAPTURE_FRAMES = 200_000;

/** A program in the lab's Linux namespace; its output lines go to `onLine` as they come. */
function peerRun(lab: Lab, script: string, onLine: (line: string) => void, timeoutMs: number): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolveRun) => {
    const child = lab.spawn('peer', ['bash', '-c', script]);
    let stdout = '';
    let partial = '';
    const timer = setTimeout(() => endProcessGroup(child), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.trim()) onLine(line);
    });
    child.stderr!.on('data', (d: Buffer) => { for (const line of String(d).split('\n')) if (line.trim()) onLine(line); });
    child.on('close', (code) => { clearTimeout(timer); resolveRun({ code, stdout }); });
  });
}

/** The rate on iperf3's last "sender"/"receiver" summary line. */
function stockRate(text: string, side: 'sender' | 'receiver'): string {
  const lines = text.split('\n').filter((l) => l.trimEnd().endsWith(side));
  const m = lines.length ? /([\d.]+ [KMG]?bits\/sec)/.exec(lines[lines.length - 1]!) : null;
  const loss = lines.length ? /(\d+\/\d+ \([\d.e+-]+%\))/.exec(lines[lines.length - 1]!) : null;
  return m ? `${m[1]}${loss ? `, lost ${loss[1]}` : ''}` : '?';
}

function serverRate(r: ServerTestReport): string {
  const parts: string[] = [];
  if (r.received.bytes > 0) {
    const udp = r.streams.find((s) => s.jitterMs !== undefined);
    parts.push(`received ${formatRate(r.received.bitsPerSecond)}${udp ? `, lost ${udp.lost}/${udp.packets}, jitter ${udp.jitterMs!.toFixed(3)} ms` : ''}`);
  }
  if (r.sent.bytes > 0) parts.push(`sent ${formatRate(r.sent.bitsPerSecond)}`);
  return r.error ? `FAILED: ${r.error}` : parts.join('; ');
}

function printTable(io: CliIo, rows: Row[], clientLabel: string, serverLabel: string): void {
  const w = [Math.max(4, ...rows.map((r) => r.test.length)), Math.max(clientLabel.length, ...rows.map((r) => r.client.length)), Math.max(serverLabel.length, ...rows.map((r) => r.server.length))];
  const line = (a: string, b: string, c: string, d: string): string => `  ${a.padEnd(w[0]!)}  ${b.padEnd(w[1]!)}  ${c.padEnd(w[2]!)}  ${d}`;
  io.out('');
  io.out(line('test', clientLabel, serverLabel, ''));
  io.out(line('-'.repeat(w[0]!), '-'.repeat(w[1]!), '-'.repeat(w[2]!), '--'));
  for (const r of rows) io.out(line(r.test, r.client, r.server, r.verdict));
}

async function startServers(subsystem: WskSubsystem, address: string, io: CliIo): Promise<Iperf3Server> {
  const status = echosrvStart({ port: ECHO_PORT, subsystem, log: (m, level) => { if (level === 'error') io.err(`  echosrv: ${m}`); } });
  if (status !== STATUS_SUCCESS) throw new Error(`echosrv did not start: ${ntStatusName(status)}`);
  const listening = await echosrvListening();
  if (listening.Status !== STATUS_SUCCESS) throw new Error(`echosrv cannot listen: ${ntStatusName(listening.Status)}`);
  return startIperf3Server({ subsystem, address, port: IPERF_PORT });
}

export async function runDemo(o: DemoOptions, io: CliIo): Promise<number> {
  // The stack's clock and the memory link hold no handle open (they must not keep a finished
  // process alive), so the demonstration holds one until its last check.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    return await demoSteps(o, io);
  } finally {
    clearInterval(keepAlive);
  }
}

async function demoSteps(o: DemoOptions, io: CliIo): Promise<number> {
  const out = resolve(o.out);
  try {
    mkdirSync(out, { recursive: true });
  } catch (err) {
    throw new Error(`cannot create the output directory ${out} (${(err as NodeJS.ErrnoException).code ?? String(err)}): give --out <a directory you can write>`);
  }
  const capturePath = join(out, 'session.pcap');
  const root = process.getuid?.() === 0;
  const onMemory = o.memory || !root;
  io.out('wsk demo: WSK applications ported to TypeScript, on our userspace TCP/IP stack');
  if (onMemory) {
    io.out(root ? '  (--memory: on the in-process memory link)' : '  not root: the same demonstration on the in-process memory link (two userspace stacks in this');
    if (!root) io.out('  process, no kernel in between); run as root for the real-device version with Linux clients');
  }
  const rows: Row[] = [];
  const started = Date.now();
  let capture: BoundedCaptureLink | null = null;
  const ok = (b: boolean): Row['verdict'] => (b ? 'ok' : 'FAILED');
  const iperfTests: { name: string; args: string; client: Partial<Iperf3ClientOptions> }[] = [
    { name: 'iperf3 TCP, client → server', args: '', client: {} },
    { name: 'iperf3 TCP -R, server → client', args: '-R', client: { reverse: true } },
    { name: 'iperf3 TCP -P 4', args: '-P 4', client: { parallel: 4 } },
    { name: 'iperf3 UDP -b 200M', args: '-u -b 200M', client: { udp: true, bandwidth: 200e6 } },
  ];

  if (!onMemory) {
    const lab = labUp({ ipv6: true });
    let subsystem: WskSubsystem | null = null;
    let server: Iperf3Server | null = null;
    try {
      const stackAddress = lab.stackAddress.split('/')[0]!;
      const peerAddress = lab.peerAddress.split('/')[0]!;
      const stackAddress6 = lab.stackAddress6!.split('/')[0]!;
      io.out(`[1/5] lab ${lab.id}: namespace ${lab.peerNs} (Linux, ${lab.peerAddress} ${lab.peerAddress6} on ${lab.peerIf}) <-veth-> ${lab.stackNs} (our stack, ${lab.stackAddress} ${lab.stackAddress6} on ${lab.stackIf})`);
      const config = { address: lab.stackAddress, ipv6: { addresses: [lab.stackAddress6!] } };
      capture = new BoundedCaptureLink(new AfPacketLink({ ifname: lab.stackIf, netns: lab.stackNs, filter: receiveFilterFor(config) }), { path: capturePath, snaplen: 128, maxFrames: CAPTURE_FRAMES });
      const stack = createUserspaceStack(capture, config);
      subsystem = await startWskSubsystem(createStackProvider(stack), { name: 'demo-stack' });
      server = await startServers(subsystem, stackAddress, io);
      io.out(`[2/5] userspace stack on the AF_PACKET ring of ${lab.stackIf}: echosrv on :${ECHO_PORT}, iperf3 server on :${IPERF_PORT}; capturing to ${capturePath}`);

      io.out(`[3/5] Linux nc sends ${ECHO_BYTES >> 20} MiB of random bytes to echosrv and reads the echo back, over IPv4 and over IPv6 (one [::] listener)`);
      // Our IPv6 addresses are usable once duplicate address detection has passed (about a second).
      const ip6 = stack.ip.ip6!;
      for (const deadline = Date.now() + 10_000; ip6.addresses.length < 2 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
      for (const [family, address] of [['IPv4', stackAddress], ['IPv6', stackAddress6]] as const) {
        const t0 = performance.now();
        const echo = await peerRun(lab, `f=$(mktemp); head -c ${ECHO_BYTES} /dev/urandom > $f; sha256sum < $f | cut -d' ' -f1; nc -N ${address} ${ECHO_PORT} < $f | sha256sum | cut -d' ' -f1; rm -f $f`, () => {}, 60_000);
        const [sent, back] = echo.stdout.trim().split('\n');
        const echoOk = echo.code === 0 && !!sent && sent === back;
        rows.push({ test: `echosrv over ${family}, ${ECHO_BYTES >> 20} MiB round trip`, client: `nc: sha256 ${echoOk ? 'matches' : 'DIFFERS'}`, server: `${((performance.now() - t0) / 1000).toFixed(2)} s`, verdict: ok(echoOk) });
        io.out(`      ${family} (${address}): sha256 sent ${sent?.slice(0, 16)}…, echoed ${back?.slice(0, 16)}… ${echoOk ? 'match' : 'DIFFER'}`);
      }

      io.out(`[4/5] Linux iperf3 -c against our iperf3 server, ${o.seconds} s each (live lines are iperf3's own)`);
      for (const t of iperfTests) {
        io.out(`    ${t.name}: iperf3 -c ${stackAddress} -t ${o.seconds} ${t.args}`);
        const next = server.nextReport();
        const r = await peerRun(lab, `iperf3 -c ${stackAddress} -p ${IPERF_PORT} -t ${o.seconds} -i 1 --forceflush ${t.args}`, (line) => {
          // Per-stream lines only when there is no [SUM] line to stand for them.
          if (/sec/.test(line) && !/sender|receiver/.test(line) && (!t.args.includes('-P') || line.startsWith('[SUM]'))) io.out(`      ${line.trim()}`);
        }, (o.seconds + 30) * 1000);
        const ours = await next;
        rows.push({ test: t.name, client: `Linux: ${stockRate(r.stdout, 'receiver')}`, server: `ours: ${serverRate(ours)}`, verdict: ok(r.code === 0 && ours.error === null) });
      }

      io.out(`[5/5] our iperf3 client on the stack against Linux iperf3 -s, ${o.seconds} s each`);
      for (const t of iperfTests.slice(0, 2)) {
        const stock = lab.spawn('peer', ['iperf3', '-s', '-1', '-B', peerAddress, '-p', String(IPERF_PORT + 1)]);
        let stockOut = '';
        stock.stdout!.on('data', (d) => { stockOut += d; });
        const stockDone = new Promise((r) => stock.on('close', r));
        try {
          await waitForListener(lab, IPERF_PORT + 1);
          const report = await runIperf3Client({
            subsystem, host: peerAddress, port: IPERF_PORT + 1, time: o.seconds, ...t.client,
            log: intervalLines(t.client.parallel, (line) => io.out(`      ${line}`)),
          });
          await stockDone;
          const rate = t.client.reverse ? report.end.sum_received : report.end.sum_sent;
          rows.push({ test: `our client vs iperf3 -s: ${t.name.replace('iperf3 ', '')}`, client: `ours: ${formatRate(rate.bits_per_second)}`, server: `Linux: ${stockRate(stockOut, t.client.reverse ? 'sender' : 'receiver')}`, verdict: 'ok' });
        } catch (err) {
          rows.push({ test: `our client vs iperf3 -s: ${t.name.replace('iperf3 ', '')}`, client: `FAILED: ${err instanceof Error ? err.message : String(err)}`, server: '', verdict: 'FAILED' });
        } finally {
          endProcessGroup(stock);
        }
      }
    } finally {
      await server?.stop();
      await echosrvStop({ forceClose: true }).catch(() => {});
      await subsystem?.stop();
      lab.down();
      io.out(`lab ${lab.id} torn down (namespaces ${lab.peerNs} and ${lab.stackNs} deleted)`);
    }
    printTable(io, rows, 'client side', 'server side');
  } else {
    const pair = stackPair({}, {}, (link, which) => {
      if (which === 'a') return link;
      capture = new BoundedCaptureLink(link, { path: capturePath, snaplen: 128, maxFrames: CAPTURE_FRAMES });
      return capture;
    });
    const a = await startWskSubsystem(createStackProvider(pair.a, { ownsStack: false }), { name: 'demo-a' });
    const b = await startWskSubsystem(createStackProvider(pair.b, { ownsStack: false }), { name: 'demo-b' });
    let server: Iperf3Server | null = null;
    try {
      io.out(`[1/4] two userspace stacks on a memory link: client side 198.18.0.1, server side ${B_IP}; capturing ${B_IP}'s link to ${capturePath}`);
      server = await startServers(b, B_IP, io);
      io.out(`[2/4] echosrv on ${B_IP}:${ECHO_PORT}, iperf3 server on ${B_IP}:${IPERF_PORT}`);
      io.out(`[3/4] a WSK client sends ${ECHO_BYTES >> 20} MiB of random bytes to echosrv and reads the echo back`);
      const t0 = performance.now();
      const echoOk = (await echoRoundTrip(a, B_IP, ECHO_PORT, ECHO_BYTES)).intact;
      rows.push({ test: `echosrv, ${ECHO_BYTES >> 20} MiB round trip`, client: `sha256 ${echoOk ? 'matches' : 'DIFFERS'}`, server: `${((performance.now() - t0) / 1000).toFixed(2)} s`, verdict: ok(echoOk) });
      io.out(`[4/4] our iperf3 client against our iperf3 server, ${o.seconds} s each`);
      for (const t of iperfTests) {
        io.out(`    ${t.name}`);
        const next = server.nextReport();
        try {
          const report = await runIperf3Client({ subsystem: a, host: B_IP, port: IPERF_PORT, time: o.seconds, ...t.client, log: intervalLines(t.client.parallel, (line) => io.out(`      ${line}`)) });
          const ours = await next;
          const rate = t.client.reverse ? report.end.sum_received : report.end.sum_sent;
          rows.push({ test: t.name, client: `client: ${formatRate(rate.bits_per_second)}`, server: `server: ${serverRate(ours)}`, verdict: ok(ours.error === null) });
        } catch (err) {
          rows.push({ test: t.name, client: `FAILED: ${err instanceof Error ? err.message : String(err)}`, server: '', verdict: 'FAILED' });
        }
      }
    } finally {
      await server?.stop();
      await echosrvStop({ forceClose: true }).catch(() => {});
      await a.stop();
      await b.stop();
      pair.close();
    }
    printTable(io, rows, 'client side', 'server side');
  }

  const cap = (capture as BoundedCaptureLink | null)?.report();
  writeFileSync(join(out, 'results.json'), JSON.stringify({ mode: onMemory ? 'memory link' : 'AF_PACKET on veth', seconds: o.seconds, rows, capture: cap, durationSeconds: (Date.now() - started) / 1000 }, null, 2) + '\n');
  io.out('');
  if (cap) io.out(`capture: ${capturePath} (${cap.frames} frames, first ${cap.snaplen} bytes of each${cap.truncated ? `, first ${cap.maxFrames} frames only` : ''}); read it with: tcpdump -nr ${capturePath} | head`);
  io.out(`results: ${join(out, 'results.json')}`);
  const failed = rows.filter((r) => r.verdict !== 'ok').length;
  io.out(failed === 0 ? `all ${rows.length} checks passed in ${((Date.now() - started) / 1000).toFixed(0)} s` : `${failed} of ${rows.length} checks FAILED`);
  return failed === 0 ? 0 : 1;
}

async function waitForListener(lab: Lab, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await peerRun(lab, `ss -ltn | grep -q ':${port} '`, () => {}, 5000);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`iperf3 -s did not listen on port ${port} within 5 s`);
}

export function addDemoCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('demo')
    .description('the main job: echosrv and the iperf3 server on the userspace stack over AF_PACKET in a two-namespace lab, against Linux nc and iperf3, then our iperf3 client against Linux; a results table and a pcap (without root: on the memory link)')
    .option('--out <dir>', 'where results.json and session.pcap go', 'demo-results')
    .option('-t, --seconds <n>', 'seconds per iperf3 test', integer(1, 60), 3)
    .option('--memory', 'use the in-process memory link even as root', false)
    .addHelpText('after', '\nCtrl-C, SIGTERM or SIGHUP stops it and deletes its lab and the Linux peers in it (stderr says what);\nafter a run killed outright, `wsk lab down --all` deletes what it left.')
    .action(async (options: { out: string; seconds: number; memory: boolean }) => {
      cleanUpOnInterrupt(io, 'demo');
      try {
        setExitCode(await runDemo(options, io));
      } catch (err) {
        io.err(`wsk demo: ${err instanceof Error ? err.message : String(err)}`);
        setExitCode(1);
      }
    });
}

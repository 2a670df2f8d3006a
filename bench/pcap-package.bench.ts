// Why the libpcap link is our own addon and not the `pcap` npm package (issue 6): both capture
// the same flood of 64-byte UDP datagrams from a Linux sender on a lab's veth; printed are the
// frames each delivered, libpcap's drops, JavaScript calls per frame and this process's CPU time
// per frame. The package is not a dependency; install it to compare:
//   npm install --no-save pcap@3.1.0 && npx tsx bench/pcap-package.bench.ts [--frames N]
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labUp, type Lab } from '../apps/lab/lab.ts';
import { PcapLink } from '../transports/pcap/pcap-link.ts';
import { receiveFilterFor } from '../runtime/net/receive-filter.ts';
import { withNetns } from '../transports/native/native.ts';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const FRAMES = Number(arg('frames', '200000'));
const PEER = fileURLToPath(new URL('./peer-net.mjs', import.meta.url));
const STACK_IP = '198.18.0.2';

interface Figures { frames: number; drops: number; callsPerFrame: number; cpuNsPerFrame: number }

function flood(lab: Lab): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', lab.peerNs, 'node', PEER, 'udp-flood', STACK_IP, '7000', String(FRAMES), '64'], { stdio: 'ignore' });
    p.on('close', () => resolve());
  });
}

async function settle(count: () => number): Promise<void> {
  let last = -1;
  while (count() !== last) { last = count(); await new Promise((r) => setTimeout(r, 200)); }
}

async function ours(lab: Lab): Promise<Figures> {
  const link = new PcapLink({ ifname: lab.stackIf, netns: lab.stackNs, filter: receiveFilterFor({ address: lab.stackAddress }) });
  let frames = 0;
  let calls = 0;
  link.attach({ onReceive: (slots, n) => { calls++; frames += n; for (let i = 0; i < n; i++) link.arena.release(slots[i]!); } });
  const cpu = process.cpuUsage();
  await flood(lab);
  await settle(() => frames);
  const used = process.cpuUsage(cpu);
  const drops = link.details.dropped;
  link.close();
  return { frames, drops, callsPerFrame: calls / frames, cpuNsPerFrame: ((used.user + used.system) * 1000) / frames };
}

async function pcapPackage(lab: Lab): Promise<Figures | string> {
  let pcap: { createSession(ifname: string, o: object): { on(e: string, f: (p: unknown) => void): void; stats(): { ps_drop: number }; close(): void } };
  try {
    pcap = createRequire(import.meta.url)('pcap');
  } catch {
    return 'the pcap package is not installed: npm install --no-save pcap@3.1.0';
  }
  // Immediate delivery (buffer_timeout 0) and a buffer as large as our link's.
  const session = withNetns(lab.stackNs, () => pcap.createSession(lab.stackIf, { filter: `dst host ${STACK_IP}`, buffer_size: 32 << 20, buffer_timeout: 0 }));
  let frames = 0;
  session.on('packet', () => { frames++; });
  const cpu = process.cpuUsage();
  await flood(lab);
  await settle(() => frames);
  const used = process.cpuUsage(cpu);
  const drops = session.stats().ps_drop;
  session.close();
  return { frames, drops, callsPerFrame: 1, cpuNsPerFrame: ((used.user + used.system) * 1000) / frames };
}

async function main(): Promise<void> {
  const lab = labUp();
  try {
    await new Promise((r) => setTimeout(r, 1200));
    // No stack answers ARP here (only capture runs): the peer is told the MAC outright.
    const mac = (JSON.parse(lab.exec('stack', ['ip', '-j', 'link', 'show', lab.stackIf])) as { address: string }[])[0]!.address;
    lab.exec('peer', ['ip', 'neigh', 'replace', STACK_IP, 'lladdr', mac, 'dev', lab.peerIf, 'nud', 'permanent']);
    await ours(lab); // warm-up
    const a = await ours(lab);
    const b = await pcapPackage(lab);
    console.log(`${FRAMES} UDP datagrams of 64 bytes from a Linux sender, captured on the lab's veth\n`);
    console.log('| capture | frames delivered | libpcap drops | JS calls per frame | CPU ns per frame (this process) |');
    console.log('|---|---|---|---|---|');
    console.log(`| our addon (PcapLink, one call per batch) | ${a.frames} | ${a.drops} | ${a.callsPerFrame.toFixed(3)} | ${a.cpuNsPerFrame.toFixed(0)} |`);
    if (typeof b === 'string') console.log(`| pcap package | ${b} | | | |`);
    else console.log(`| pcap package (one call and one Buffer per frame) | ${b.frames} | ${b.drops} | ${b.callsPerFrame} | ${b.cpuNsPerFrame.toFixed(0)} |`);
  } finally {
    lab.down();
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

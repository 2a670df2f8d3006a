// IPv6 against IPv4 on a real link (issue 14's figure): stock `iperf3 -c` in the Linux peer's
// namespace against our iperf3 server on the userspace stack over AF_PACKET, which has both an
// IPv4 and an IPv6 address on the same veth; per run both families and both directions, the
// family order swapping from run to run. Medians and the IPv6/IPv4 ratio per direction (goal:
// within 10 %). The stack-only companion on the memory link is `bench/stack-tcp.bench.ts --ipv6`.
//
//   npx tsx bench/ipv6-veth.bench.ts [--runs 5] [--seconds 3] [--offloads on|off]
//
// One veth lab (apps/lab, `--ipv6`: fd00:198:18::1 peer, ::2 stack), deleted by exact name at
// the end and on a signal; our server on CPU 1, the client on CPU 0, as bench/loss.bench.ts.
import { fileURLToPath } from 'node:url';
import { APP_CPU, PEER_CPU, STACK_IP, closeLab, openLab, runAsScript } from './suite/targets.ts';
import { JsonLineProcess, runJson } from './suite/procs.ts';
import { median } from './suite/stats.ts';

const WSK = fileURLToPath(new URL('../apps/cli/wsk.mjs', import.meta.url));
const PORT = 5201;
const STACK_IP6 = 'fd00:198:18::2';

interface Options { runs: number; seconds: number; offloads: boolean; log: (line: string) => void }

type Cell = 'v4 to-server' | 'v6 to-server' | 'v4 from-server' | 'v6 from-server';

export async function runIpv6VethBench(o: Options): Promise<Record<Cell, number[]>> {
  const lab = openLab({ mtu: 1500, offloads: o.offloads, ipv6: true });
  const server = new JsonLineProcess({ cpu: APP_CPU }, [
    process.execPath, WSK, 'run', 'iperf3-server', '--link', 'afpacket', '--netns', lab.stackNs, '--ifname', lab.stackIf,
    '--ip', `${STACK_IP}/24`, '--ip', `${STACK_IP6}/64`, '-p', String(PORT), '--json',
  ]);
  const gbps: Record<Cell, number[]> = { 'v4 to-server': [], 'v6 to-server': [], 'v4 from-server': [], 'v6 from-server': [] };
  try {
    await server.next((m) => 'listening' in m, 60_000);
    const client = async (host: string, reverse: boolean, seconds: number): Promise<number> => {
      const r = await runJson({ ns: lab.peerNs, cpu: PEER_CPU }, ['iperf3', '-c', host, '-p', String(PORT), '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])], (seconds + 20) * 1000);
      const report = JSON.parse(r.raw) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
      const bps = report.end?.sum_received?.bits_per_second;
      if (report.error || typeof bps !== 'number') throw new Error(`iperf3 -c ${host}${reverse ? ' -R' : ''}: ${report.error ?? `exit ${r.code}`}`);
      return bps / 1e9;
    };
    // Warm-up (V8 compiles both families' paths; IPv6 duplicate address detection is over by the time it answers).
    for (const host of [STACK_IP, STACK_IP6]) await client(host, false, 1);
    for (let run = 0; run < o.runs; run++) {
      const families: ('v4' | 'v6')[] = run % 2 === 0 ? ['v4', 'v6'] : ['v6', 'v4'];
      for (const reverse of [false, true]) {
        for (const f of families) {
          const g = await client(f === 'v4' ? STACK_IP : STACK_IP6, reverse, o.seconds);
          gbps[`${f} ${reverse ? 'from-server' : 'to-server'}`].push(g);
          o.log(`run ${run + 1}/${o.runs} ${f} ${reverse ? 'our server sends (-R)' : 'our server receives'}: ${g.toFixed(2)} Gbit/s`);
        }
      }
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.stop(5000);
    closeLab(lab);
  }
  return gbps;
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: string): string => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1]! : fallback; };
  const o: Options = { runs: Number(arg('--runs', '5')), seconds: Number(arg('--seconds', '3')), offloads: arg('--offloads', 'on') === 'on', log: (l) => console.log(l) };
  const g = await runIpv6VethBench(o);
  console.log(`\nIPv6 against IPv4 through our iperf3 server on the userspace stack (AF_PACKET, veth, offloads ${o.offloads ? 'on' : 'off'}); stock iperf3 -c; medians of ${o.runs} runs of ${o.seconds} s`);
  console.log('| direction | IPv4 Gbit/s | IPv6 Gbit/s | IPv6 / IPv4 |');
  console.log('|---|---|---|---|');
  for (const d of ['to-server', 'from-server'] as const) {
    const v4 = median(g[`v4 ${d}`]);
    const v6 = median(g[`v6 ${d}`]);
    console.log(`| ${d === 'to-server' ? 'Linux sends, our stack receives' : 'our stack sends (-R)'} | ${v4.toFixed(2)} | ${v6.toFixed(2)} | ${(v6 / v4).toFixed(2)}× |`);
  }
}

runAsScript(import.meta.url, main);

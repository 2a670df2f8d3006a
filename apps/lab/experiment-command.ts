// `wsk lab run <file>`: runs a network-lab experiment (experiment.ts describes the file) and
// writes results.json, capture.pcap and throughput/cwnd/RTT plots (SVG and CSV) into the output
// directory. Errors follow the other `wsk lab` commands: `wsk lab: ...` on stderr (a line per
// problem of a bad file), exit code 2; a memory run whose receivers got corrupted data exits 1.
// An interrupted veth run deletes its lab and the Linux receiver (apps/cli/interrupt.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliIo } from '../cli/main.ts';
import { cleanUpOnInterrupt } from '../cli/interrupt.ts';
import { type ExperimentResults, ExperimentSpecError, loadExperiment, PLOT_FILES, runExperiment } from './experiment.ts';

const FORMAT_HELP = `
Experiment file (JSON; see apps/lab/experiments/ for examples):
  name, medium ("memory": virtual time, deterministic by seed | "veth": real namespaces,
  our stack on AF_PACKET sending to Linux, needs root), durationSeconds, seed, sampleIntervalMs,
  link { rateMbps, delayMs (one way), jitterMs, loss, reorder, duplicate, corrupt, bufferPackets },
  workload { flows, direction ("upload" | "download", memory only), bytesPerFlow (absent: for
  the whole duration), startIntervalMs, receiveBufferBytes },
  congestionControl ("cubic" | "newreno", or one per flow), capture { snaplen, maxFrames }

Outputs in the output directory:
  results.json   the spec, per-flow time series (throughput, cwnd, ssthresh, srtt,
                 retransmits), the link's drops per interval and the summary (goodput,
                 retransmits, Jain fairness, faults)
  capture.pcap   the stack's link, headers only (snaplen), first maxFrames frames
  throughput.svg, cwnd.svg, rtt.svg   per flow over time (cwnd with ssthresh), with the
                 link in the subtitle, capacity/fair-share/model lines and retransmission
                 and loss marks; each with its data as CSV beside it (throughput.csv, ...)

An invalid file: one stderr line per problem, exit code 2. Ctrl-C, SIGTERM or SIGHUP stops a veth run
and deletes its lab and the Linux receiver; after a run killed outright, \`wsk lab down --all\`.

Example: wsk lab run apps/lab/experiments/cubic-vs-newreno.json --out /tmp/cvn`;

interface RunCommandOptions {
  out?: string;
  json: boolean;
}

function defaultOutDir(name: string): string {
  // 2024-05-01T12-30-00: sorts by time and has no ':' (a problem on some filesystems).
  return join('lab-results', `${name}-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}`);
}

function summaryLines(r: ExperimentResults, outDir: string, wallMs: number): string[] {
  const s = r.summary;
  const m = r.medium;
  const lines = [`${r.spec.name}: ${s.durationS} s ${r.spec.medium === 'memory' ? 'of virtual time' : 'on veth'} in ${(wallMs / 1000).toFixed(1)} s`];
  for (const f of s.flows) {
    lines.push(`  flow ${f.flow} ${f.congestionControl.padEnd(7)} goodput ${f.goodputMbps.toFixed(2)} Mbit/s  ${f.bytesAcked} bytes  retransmits ${f.retransmits} (fast ${f.fastRetransmits}, timeouts ${f.timeouts})`);
  }
  const faults = Object.entries(m.faults).filter(([k, v]) => k !== 'passed' && v > 0).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  lines.push(`  aggregate ${s.aggregateGoodputMbps.toFixed(2)} Mbit/s  Jain fairness ${s.jainFairness.toFixed(4)}  faults: ${faults}`);
  if (m.intact !== undefined) lines.push(`  data at the receivers: ${m.intact ? 'intact' : 'CORRUPTED'}`);
  lines.push(`  results: ${join(outDir, 'results.json')}`);
  if (m.capture) lines.push(`  capture: ${join(outDir, m.capture.path)} (${m.capture.frames} frames, ${m.capture.snaplen} bytes each at most${m.capture.truncated ? `, first ${m.capture.maxFrames} only` : ''})`);
  lines.push(`  plots:   ${PLOT_FILES.map((p) => join(outDir, p)).join('  ')} (data: .csv beside each)`);
  return lines;
}

export function addLabRunCommand(lab: Command, io: CliIo, setExitCode: (code: number) => void): void {
  lab
    .command('run')
    .description('run a network experiment described in a JSON file (memory link in virtual time, or veth): results.json, capture.pcap, SVG plots')
    .argument('<file>', 'experiment file, e.g. apps/lab/experiments/cubic-vs-newreno.json')
    .option('--out <dir>', 'output directory (default lab-results/<name>-<timestamp>/)')
    .option('--json', 'print the summary as one JSON line (progress goes to stderr)', false)
    .addHelpText('after', FORMAT_HELP)
    .action(async (file: string, options: RunCommandOptions) => {
      try {
        const spec = loadExperiment(file);
        cleanUpOnInterrupt(io, 'lab run');
        const outDir = options.out ?? defaultOutDir(spec.name);
        try {
          mkdirSync(outDir, { recursive: true });
        } catch (err) {
          throw new Error(`cannot create the output directory ${outDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}): give --out <a directory you can write>`);
        }
        const progress = options.json ? io.err : io.out;
        progress(`${spec.name}: ${spec.workload.flows} flow(s) on ${spec.medium} for ${spec.durationSeconds} s${spec.medium === 'memory' ? ' of virtual time' : ''} → ${outDir}`);
        const wall0 = performance.now();
        const results = await runExperiment(spec, { outDir, progress });
        const wallMs = performance.now() - wall0;
        if (options.json) {
          io.out(JSON.stringify({ name: spec.name, medium: spec.medium, outDir, ...results.summary, faults: results.medium.faults, capture: results.medium.capture, intact: results.medium.intact }));
        } else {
          for (const line of summaryLines(results, outDir, wallMs)) io.out(line);
        }
        if (results.medium.intact === false) {
          io.err(`wsk lab: ${spec.name}: the receivers got data that differs from what was sent (see ${join(outDir, 'results.json')})`);
          setExitCode(1);
        }
      } catch (err) {
        // One line per problem of a bad file; any other failure is its first line.
        const lines = err instanceof ExperimentSpecError ? err.problems : [(err instanceof Error ? err.message : String(err)).split('\n')[0]!];
        for (const line of lines) io.err(`wsk lab: ${line}`);
        setExitCode(2);
      }
    });
}

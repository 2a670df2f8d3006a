// `wsk lab run`: experiments on the memory link (virtual time: replayable by seed), their outputs
// (results.json, a pcap tshark and tcpdump read, SVG plots that parse as XML with their data as
// CSV beside them, drawing what the link predicts and marking losses), the validation of
// experiment files, the CLI command, and a short run on a real veth lab. The veth run needs root,
// which CI has; elsewhere it is skipped with the reason. Its lab is created and deleted by the
// runner (exact names, 198.18.0.0/15 only); the test checks that the namespaces are gone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../cli/main.ts';
import { addLabRunCommand } from './experiment-command.ts';
import { type ExperimentResults, ExperimentSpecError, loadExperiment, PLOT_FILES, runExperiment, validateExperiment } from './experiment.ts';

const dirs: string[] = [];
function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `wsk-lab-${tag}-`));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const SHARED = {
  name: 'test-shared',
  medium: 'memory',
  durationSeconds: 3,
  seed: 7,
  sampleIntervalMs: 50,
  link: { rateMbps: 20, delayMs: 5, jitterMs: 1, loss: 0.005, bufferPackets: 30 },
  workload: { flows: 2, startIntervalMs: 500, receiveBufferBytes: 262144 },
  congestionControl: ['cubic', 'newreno'],
  capture: { snaplen: 96, maxFrames: 3000 },
};

const quiet = { progress: (): void => {} };

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 64 << 20 });
}

/** Parses with a real XML parser (python3's expat): any well-formedness error fails. */
function parseXmlRoot(path: string): string {
  return sh('python3', ['-c', 'import sys, xml.etree.ElementTree as ET; print(ET.parse(sys.argv[1]).getroot().tag)', path]).trim();
}

/** Values of one CSV column (empty cells as null). */
function csvColumn(csv: string, name: string): (number | null)[] {
  const [header, ...rows] = csv.trim().split('\n').map((l) => l.split(','));
  const i = header!.indexOf(name);
  expect(i, `column ${name} in ${header!.join(',')}`).toBeGreaterThanOrEqual(0);
  return rows.map((r) => (r[i] === '' ? null : Number(r[i])));
}

function checkPlots(dir: string, r: ExperimentResults): void {
  const flows = r.flows.length;
  for (const file of PLOT_FILES) {
    const path = join(dir, file);
    expect(parseXmlRoot(path)).toBe('{http://www.w3.org/2000/svg}svg');
    const svg = readFileSync(path, 'utf8');
    expect(svg).toMatch(/class="axis-label"[^>]*>time \(s/);
    expect(svg).toMatch(/class="subtitle"/);
    // Every line has points.
    for (const m of svg.matchAll(/<path class="series"[^>]* d="([^"]*)"/g)) expect(m[1]!.split('L').length).toBeGreaterThan(2);
    // The data beside the plot: a row per sample, a column for everything drawn.
    const csv = readFileSync(path.replace(/\.svg$/, '.csv'), 'utf8');
    const header = csv.split('\n')[0]!.split(',');
    expect(header[0]).toBe('time_s');
    expect(csv.trim().split('\n')).toHaveLength(r.flows[0]!.series.timeS.length + 1);
    for (const m of svg.matchAll(/data-column="([^"]+)"/g)) expect(header).toContain(m[1]);
  }
  const throughput = readFileSync(join(dir, 'throughput.svg'), 'utf8');
  expect(throughput.match(/<path class="series"/g)?.length).toBeGreaterThanOrEqual(flows);
  const cwnd = readFileSync(join(dir, 'cwnd.svg'), 'utf8');
  expect(cwnd.match(/<path class="series" data-column="flow\d+_\w+_cwnd_kib"/g)).toHaveLength(flows);
  expect(cwnd.match(/<path class="series" data-column="flow\d+_\w+_ssthresh_kib"/g)).toHaveLength(flows);
  // The CSV holds what results.json recorded.
  const f0 = r.flows[0]!;
  const key = `flow0_${f0.summary.congestionControl}`;
  expect(csvColumn(readFileSync(join(dir, 'throughput.csv'), 'utf8'), `${key}_mbps`)).toEqual(f0.series.throughputMbps);
  expect(csvColumn(readFileSync(join(dir, 'rtt.csv'), 'utf8'), `${key}_srtt_ms`)).toEqual(f0.series.srttMs);
  expect(csvColumn(readFileSync(join(dir, 'cwnd.csv'), 'utf8'), `${key}_ssthresh_kib`))
    .toEqual(f0.series.ssthreshBytes.map((v) => (v === null ? null : Math.round((v / 1024) * 100) / 100)));
}

describe('memory medium (virtual time)', () => {
  const first = tempDir('a');
  const second = tempDir('b');
  let results: ExperimentResults;

  it('runs two flows through a shared bottleneck and reports per-flow series and a summary', async () => {
    results = await runExperiment(validateExperiment(SHARED), { outDir: first, ...quiet });
    const samples = SHARED.durationSeconds * 1000 / SHARED.sampleIntervalMs;
    expect(results.flows).toHaveLength(2);
    for (const f of results.flows) {
      expect(f.series.timeS).toHaveLength(samples);
      expect(f.series.cwndBytes).toHaveLength(samples);
      expect(f.summary.bytesAcked).toBeGreaterThan(100_000);
      expect(f.summary.goodputMbps).toBeGreaterThan(1);
      expect(f.summary.goodputMbps).toBeLessThan(SHARED.link.rateMbps);
      expect(f.series.srttMs.some((v) => v !== null && v >= 2 * SHARED.link.delayMs - 2 * SHARED.link.jitterMs)).toBe(true);
    }
    expect(results.flows.map((f) => f.summary.congestionControl)).toEqual(['cubic', 'newreno']);
    // Flow 1 starts 500 ms later: nothing acknowledged in its first samples.
    expect(results.flows[1]!.series.throughputMbps.slice(0, 9).every((v) => v === 0)).toBe(true);
    expect(results.summary.aggregateGoodputMbps).toBeGreaterThan(5);
    expect(results.summary.jainFairness).toBeGreaterThan(0.5);
    expect(results.summary.jainFairness).toBeLessThanOrEqual(1);
    expect(results.medium.intact).toBe(true);
    expect(results.medium.faults.lost).toBeGreaterThan(0);
    const onDisk = JSON.parse(readFileSync(join(first, 'results.json'), 'utf8')) as ExperimentResults;
    expect(onDisk.summary).toEqual(results.summary);
  }, 60_000);

  it('the same seed gives byte-identical results.json and capture.pcap; another seed does not', async () => {
    await runExperiment(validateExperiment(SHARED), { outDir: second, ...quiet });
    expect(readFileSync(join(second, 'results.json'), 'utf8')).toBe(readFileSync(join(first, 'results.json'), 'utf8'));
    expect(readFileSync(join(second, 'capture.pcap')).equals(readFileSync(join(first, 'capture.pcap')))).toBe(true);
    const other = tempDir('c');
    await runExperiment(validateExperiment({ ...SHARED, seed: 8 }), { outDir: other, ...quiet });
    expect(readFileSync(join(other, 'results.json'), 'utf8')).not.toBe(readFileSync(join(first, 'results.json'), 'utf8'));
  }, 60_000);

  it('writes plots that parse as SVG, with cwnd and ssthresh per flow, labelled axes and their data as CSV', () => {
    checkPlots(first, results);
  });

  it('plots name the link, draw capacity and fair share, fit the RTT axis and mark retransmissions and losses', () => {
    const svg = (name: string): string => readFileSync(join(first, `${name}.svg`), 'utf8');
    const subtitle = [...svg('throughput').matchAll(/<text class="subtitle"[^>]*>([^<]+)</g)].map((m) => m[1]).join(' ');
    expect(subtitle).toMatch(/bottleneck 20 Mbit\/s each way · base RTT 10 ms \(± 1 ms jitter each way\) · loss 0\.5 % per packet each way · queue 30 packets/);
    expect(svg('throughput')).toMatch(/<line class="reference" data-column="capacity_mbps"/);
    expect(svg('throughput')).toMatch(/<line class="reference" data-column="fair_share_mbps"/);
    expect(svg('rtt')).toMatch(/<line class="reference" data-column="base_rtt_ms"/);
    // Fitted: the RTT axis starts near the base RTT (10 ms), not at 0.
    const rttTicks = [...svg('rtt').matchAll(/<text class="tick-y"[^>]*>([^<]+)</g)].map((m) => Number(m[1]));
    expect(Math.min(...rttTicks)).toBeGreaterThan(0);
    expect(Math.min(...rttTicks)).toBeLessThanOrEqual(10);
    // Retransmissions of each flow and the link's random losses, as marks on every plot.
    for (const name of ['throughput', 'cwnd', 'rtt']) {
      for (const column of ['flow0_cubic_retransmits', 'flow1_newreno_retransmits', 'link_lost_packets']) {
        expect(svg(name)).toMatch(new RegExp(`<rect class="mark" data-column="${column}"`));
      }
    }
    const lost = csvColumn(readFileSync(join(first, 'throughput.csv'), 'utf8'), 'link_lost_packets');
    expect(lost.reduce((a, b) => a! + b!, 0)).toBe(results.medium.faults.lost);
  });

  it('writes a bounded pcap that tshark and tcpdump read, starting with the handshake', () => {
    const path = join(first, 'capture.pcap');
    const cap = results.medium.capture!;
    expect(cap.truncated).toBe(true);
    expect(cap.frames).toBeGreaterThanOrEqual(SHARED.capture.maxFrames);
    const tshark = sh('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.cap_len']).trim().split('\n');
    expect(tshark).toHaveLength(cap.frames);
    expect(Math.max(...tshark.map(Number))).toBeLessThanOrEqual(SHARED.capture.snaplen);
    const tcpdump = sh('tcpdump', ['-nr', path]).trim().split('\n');
    expect(tcpdump).toHaveLength(cap.frames);
    expect(tcpdump.find((l) => l.includes('Flags [S]'))).toMatch(/198\.18\.0\.1\.\d+ > 198\.18\.0\.2\.5201/);
  }, 60_000);

  it('offloads: TSO frames are cut into wire packets and lost one by one; the flows arrive intact', async () => {
    const dir = tempDir('o');
    const r = await runExperiment(validateExperiment({
      name: 'offloads', medium: 'memory', durationSeconds: 2, seed: 5, link: { rateMbps: 1000, delayMs: 1, loss: 0.01 }, offloads: true,
      workload: { flows: 1, bytesPerFlow: 4_000_000, receiveBufferBytes: 262144 }, congestionControl: 'newreno', capture: { maxFrames: 0 },
    }), { outDir: dir, ...quiet });
    expect(r.flows[0]!.summary.bytesAcked).toBe(4_000_000);
    expect(r.medium.intact).toBe(true);
    expect(r.medium.faults.segmented).toBeGreaterThan(0);
    expect(r.medium.faults.lost).toBeGreaterThan(0);
    expect(r.medium.notes.join(' ')).toMatch(/65536-byte TSO .* cut \d+ TSO frames into wire packets/);
  }, 60_000);

  it('a bytes workload stops once every flow is acknowledged; download sends from B', async () => {
    const dir = tempDir('d');
    const r = await runExperiment(validateExperiment({
      name: 'bytes', medium: 'memory', durationSeconds: 60, link: { rateMbps: 50, delayMs: 2 },
      workload: { flows: 1, direction: 'download', bytesPerFlow: 3_000_000 }, congestionControl: 'newreno', capture: { maxFrames: 0 },
    }), { outDir: dir, ...quiet });
    expect(r.flows[0]!.summary.bytesAcked).toBe(3_000_000);
    expect(r.summary.durationS).toBeLessThan(5);
    expect(r.medium.capture).toBeNull();
    expect(r.medium.intact).toBe(true);
    expect(r.medium.notes[0]).toMatch(/B sends to A/);
  }, 60_000);
});

describe('experiment files: validation says what to fix', () => {
  const base = { name: 'v', medium: 'memory', durationSeconds: 1, workload: { flows: 1 } };
  const problem = (raw: unknown): string => {
    try {
      validateExperiment(raw);
    } catch (err) {
      expect(err).toBeInstanceOf(ExperimentSpecError);
      return (err as Error).message;
    }
    throw new Error('expected a validation error');
  };

  it('fills defaults', () => {
    const s = validateExperiment(base);
    expect(s).toMatchObject({ seed: 1, sampleIntervalMs: 100, congestionControl: 'cubic', offloads: false, capture: { snaplen: 128, maxFrames: 20000 } });
    expect(s.link).toEqual({ rateMbps: 0, delayMs: 0, jitterMs: 0, loss: 0, reorder: 0, duplicate: 0, corrupt: 0, bufferPackets: 100 });
    expect(s.workload).toEqual({ flows: 1, direction: 'upload', startIntervalMs: 0, receiveBufferBytes: 1 << 20 });
  });

  it('names unknown keys with the allowed ones', () => {
    expect(problem({ ...base, link: { rate: 10 } })).toMatch(/unknown key 'link\.rate': allowed keys are rateMbps, delayMs/);
    expect(problem({ ...base, flows: 2 })).toMatch(/unknown key 'flows'/);
  });

  it('gives the allowed range or choices for bad values', () => {
    expect(problem({ ...base, link: { loss: 1.5 } })).toMatch(/'link\.loss' is 1\.5: use a number from 0 to 0\.5 \(probability per wire packet: 0\.01 is 1 %\)/);
    expect(problem({ ...base, offloads: 'yes' })).toMatch(/'offloads' is "yes": use true or false/);
    expect(problem({ ...base, medium: 'ns3' })).toMatch(/'medium' is "ns3": use one of "memory", "veth"/);
    expect(problem({ ...base, durationSeconds: 0 })).toMatch(/'durationSeconds' is 0: use a number above 0 up to 3600/);
    expect(problem({ ...base, workload: { flows: 2.5 } })).toMatch(/'workload\.flows' is 2\.5: use an integer from 1 to 64/);
    expect(problem({ ...base, congestionControl: ['cubic', 'bbr'] })).toMatch(/2 names for 1 flows.*\n'congestionControl\.1' is "bbr": use one of "cubic", "newreno"/);
    expect(problem({ ...base, link: { delayMs: 1, jitterMs: 3 } })).toMatch(/jitter is ± around the delay, use at most 1/);
    expect(problem({ ...base, medium: 'veth', workload: { flows: 1, direction: 'download' } })).toMatch(/not supported on veth.*use "upload"/);
    expect(problem({ name: 'bad name!', medium: 'memory', durationSeconds: 1 })).toMatch(/'name' is "bad name!".*\n'workload' is missing/);
  });

  it('names the file when it cannot be read or parsed', () => {
    const dir = tempDir('v');
    writeFileSync(join(dir, 'broken.json'), '{ "name": ');
    expect(() => loadExperiment(join(dir, 'broken.json'))).toThrow(/broken\.json is not valid JSON/);
    expect(() => loadExperiment(join(dir, 'missing.json'))).toThrow(/cannot read experiment file .*missing\.json: ENOENT/);
  });

  it('the example experiments are valid', () => {
    for (const f of ['cubic-vs-newreno.json', 'per-packet-loss.json', 'veth-bulk.json']) {
      expect(() => loadExperiment(new URL(`./experiments/${f}`, import.meta.url).pathname)).not.toThrow();
    }
  });
});

describe('wsk lab run (the command)', () => {
  async function wskLab(args: string[]): Promise<{ out: string[]; err: string[]; code: number }> {
    const out: string[] = [];
    const err: string[] = [];
    let code = 0;
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), onSignal: () => {} };
    const lab = new Command('lab').exitOverride();
    addLabRunCommand(lab, io, (c) => { code = c; });
    await lab.parseAsync(args, { from: 'user' });
    return { out, err, code };
  }

  it('runs a file, prints progress and a summary, and --json prints the summary alone on stdout', async () => {
    const dir = tempDir('cli');
    const file = join(dir, 'exp.json');
    writeFileSync(file, JSON.stringify({ ...SHARED, name: 'cli', durationSeconds: 6, sampleIntervalMs: 100 }));
    const text = await wskLab(['run', file, '--out', join(dir, 'text')]);
    expect(text.code).toBe(0);
    expect(text.out.filter((l) => /^t=\d+\.\d s {2}flow 0 cubic/.test(l))).toHaveLength(2);
    expect(text.out.join('\n')).toMatch(/aggregate [\d.]+ Mbit\/s {2}Jain fairness [\d.]+/);
    const json = await wskLab(['run', file, '--out', join(dir, 'json'), '--json']);
    expect(json.code).toBe(0);
    expect(json.out).toHaveLength(1);
    const summary = JSON.parse(json.out[0]!) as { flows: unknown[]; intact: boolean; outDir: string };
    expect(summary).toMatchObject({ intact: true, outDir: join(dir, 'json') });
    expect(summary.flows).toHaveLength(2);
    expect(json.err.length).toBeGreaterThan(0); // progress
  }, 60_000);

  it('a bad file is one line `wsk lab: ...` on stderr and exit code 2', async () => {
    const dir = tempDir('clibad');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ name: 'x', medium: 'memory', durationSeconds: 1, workload: { flows: 1 }, link: { loss: 2 } }));
    const r = await wskLab(['run', file]);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^wsk lab: .*bad\.json: 'link\.loss' is 2: use a number from 0 to 0\.5/);
  });

  it('a file with several problems: one stderr line each, and none derived from a value that is itself wrong', async () => {
    const dir = tempDir('clibad2');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({
      name: 'x', medium: 'memory', durationSeconds: -1, workload: { flows: 0 }, link: { delayMs: -3, jitterMs: 1 }, congestionControl: ['cubic', 'newreno'],
    }));
    const r = await wskLab(['run', file]);
    expect(r.code).toBe(2);
    expect(r.err.map((l) => l.replace(/^wsk lab: .*bad\.json: /, ''))).toEqual([
      "'durationSeconds' is -1: use a number above 0 up to 3600 (virtual seconds)",
      "'link.delayMs' is -3: use a number from 0 to 10000 (ms one way)",
      "'workload.flows' is 0: use an integer from 1 to 64",
    ]);
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('veth medium (real namespaces; needs root, which CI has)', () => {
  it('runs two flows from our stack to Linux through an in-process bottleneck and deletes its lab', async () => {
    const dir = tempDir('veth');
    const lines: string[] = [];
    const r = await runExperiment(validateExperiment({
      name: 'veth-test', medium: 'veth', durationSeconds: 2, seed: 3, sampleIntervalMs: 100,
      link: { rateMbps: 100, delayMs: 2, bufferPackets: 100 },
      workload: { flows: 2, receiveBufferBytes: 1 << 20 }, congestionControl: ['cubic', 'newreno'],
    }), { outDir: dir, progress: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/^lab \w+: wskA-\w+ .*198\.18\.0\.1\/24.* wskB-\w+/);
    for (const f of r.flows) {
      expect(f.summary.bytesAcked).toBeGreaterThan(1_000_000);
      expect(f.series.throughputMbps.some((v) => v > 0)).toBe(true);
      expect(f.series.srttMs.some((v) => v !== null && v >= 4)).toBe(true);
    }
    expect(r.summary.aggregateGoodputMbps).toBeGreaterThan(10);
    expect(r.summary.aggregateGoodputMbps).toBeLessThan(110);
    expect(r.medium.notes.join(' ')).toMatch(/FaultInjectorLink.*needs no sch_netem/);
    checkPlots(dir, r);
    expect(sh('tcpdump', ['-nr', join(dir, 'capture.pcap'), '-c', '20'])).toMatch(/198\.18\.0\.2\.\d+ > 198\.18\.0\.1\.5201: Flags \[S\]/);
    const namespaces = sh('ip', ['netns', 'list']);
    expect(namespaces).not.toContain(r.medium.lab!.peerNamespace);
    expect(namespaces).not.toContain(r.medium.lab!.stackNamespace);
  }, 60_000);
});

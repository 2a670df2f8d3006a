// The scale benchmark's logic on made-up runs: medians and ratios at the same load, cliffs (a
// higher-is-better figure under half the previous load's, or no figure at all), and what the
// plots, their CSVs and the README section carry. No timing: nothing here runs a load.
import { describe, expect, it } from 'vitest';
import type { ScaleResult } from '../scale.bench.ts';
import { scaleCharts } from './charts.ts';
import { CURVES, curveCliffs, findCliffs, noRunCurves, summariseCurve, type RunCurves } from './curves.ts';
import { summariseMemory } from './memory.ts';
import { SCALE_END, SCALE_START, renderScaleSection } from './readme.ts';
import { replaceBetweenMarkers } from '../readme-table.ts';

const pts = (xs: number[], ys: (number | null)[]): { x: number; median: number | null }[] => xs.map((x, i) => ({ x, median: ys[i]! }));

describe('findCliffs', () => {
  it('flags a figure under half the previous load\'s, and only that', () => {
    expect(findCliffs(pts([1, 10, 100, 1000], [10, 12, 6, 2.9]))).toEqual([{ x: 1000, previousX: 100, from: 6, to: 2.9 }]);
    // Exactly half is not a cliff; a rise never is; a slow decline is not one either.
    expect(findCliffs(pts([1, 10, 100, 1000], [10, 5, 50, 30]))).toEqual([]);
  });

  it('flags a load that gave no figure after one that did, not a curve that starts without one', () => {
    expect(findCliffs(pts([1, 10, 100], [null, 4, null]))).toEqual([{ x: 100, previousX: 10, from: 4, to: null }]);
    expect(findCliffs(pts([1, 10], [0, 0]))).toEqual([]);
  });

  it('judges throughput and the rates, never latency (which grows with N in a closed loop)', () => {
    const runs = new Map<string, RunCurves[]>([['node:net', [curves({ rx: [8, 2], rrP99: [10, 1000], rrTps: [100, 40], cps: [100, 90] })]]]);
    const results = CURVES.map((c) => summariseCurve(c, c.load === 'connections' ? [1, 10] : [1, 8], [{ name: 'node:net', label: 'node:net' }], runs));
    expect(curveCliffs(results).map((k) => k.curve).sort()).toEqual(['rrTps', 'rx']);
  });
});

describe('summariseCurve', () => {
  it('takes the median over runs at each load and divides by node:net\'s median at the same load', () => {
    const runs = new Map<string, RunCurves[]>([
      ['node:net', [curves({ rx: [1, 10] }), curves({ rx: [3, 30] }), curves({ rx: [2, NaN] })]],
      ['wsk-kernel', [curves({ rx: [4, 5] }), curves({ rx: [NaN, NaN] })]],
    ]);
    const r = summariseCurve(CURVES[0]!, [1, 10], [{ name: 'node:net', label: 'a' }, { name: 'wsk-kernel', label: 'b' }], runs);
    const [base, k] = r.series;
    expect(base!.points.map((p) => p.median)).toEqual([2, 20]);
    expect(base!.points[1]!.runs).toEqual([10, 30, null]);
    expect(k!.points.map((p) => p.median)).toEqual([4, 5]);
    expect(k!.points.map((p) => p.ratio)).toEqual([2, 0.25]);
  });
});

/** Curves with the figure at loads 1 and 10 (in flight 1 and 8 for cps). */
function curves(o: Partial<Record<keyof RunCurves, number[]>>): RunCurves {
  const c = noRunCurves();
  for (const [k, ys] of Object.entries(o) as [keyof RunCurves, number[]][]) {
    const xs = k === 'cps' ? [1, 8] : [1, 10];
    xs.forEach((x, i) => { c[k][x] = ys[i]!; });
  }
  return c;
}

function fixture(): ScaleResult {
  const targets = [{ name: 'node:net', label: 'node:net (kernel TCP)' }, { name: 'wsk-stack-afpacket', label: 'WSK, userspace stack, AF_PACKET' }] as const;
  const runs = new Map<string, RunCurves[]>([
    ['node:net', [curves({ rx: [5, 9], rrP50: [50, 300], rrP99: [90, 700], rrTps: [10000, 30000], cps: [2000, 9000] })]],
    ['wsk-stack-afpacket', [curves({ rx: [8, 3], rrP50: [30, 200], rrP99: [60, 400], rrTps: [16000, 40000], cps: [2500, 11000] })]],
  ]);
  const curveResults = CURVES.map((c) => summariseCurve(c, c.load === 'connections' ? [1, 10] : [1, 8], targets, runs));
  const memory = summariseMemory(targets, new Map([
    ['node:net', [{ held: 1000, processBytes: 1024 * 1000, kernelBufferBytes: 0, kernelObjectBytes: 3712 * 1000, ringBytes: 0, sockstatPages: 0 }]],
    ['wsk-stack-afpacket', [{ held: 1000, processBytes: 2048 * 1000, kernelBufferBytes: 0, kernelObjectBytes: 0, ringBytes: 96 << 20, sockstatPages: 0 }]],
  ]));
  const measure = { connections: [1, 10], inFlight: [1, 8], seconds: 2, rounds: 20000, rrSeconds: 3, cps: { count: 8000, seconds: 2 }, idle: 1000 };
  const r: ScaleResult = {
    schema: 1,
    machine: { cpuModel: 'test CPU', cores: 2, kernel: '6.1', platform: 'linux', node: 'v20', date: '2026-12-07T00:00:00.000Z', root: true },
    options: { quick: false, runs: 1, setup: 'veth', mtu: 1500, offloads: true, measure },
    setup: 'veth lab',
    targets: targets.map((t) => ({ ...t, skipped: null, errors: [], problems: [] })),
    curves: curveResults,
    memory,
    cliffs: curveCliffs(curveResults),
    durationSeconds: 1,
    files: { json: 'bench/results/scale.json', charts: [], readme: null },
  };
  r.files.charts = scaleCharts(r, 'scale').map((c) => ({ svg: `bench/results/${c.name}.svg`, csv: `bench/results/${c.name}.csv`, caption: c.caption }));
  return r;
}

describe('scale plots and README section', () => {
  it('writes one CSV column per target that ran beside each curve plot, and rings the cliff', () => {
    const r = fixture();
    const files = scaleCharts(r, 'scale');
    expect(files.map((f) => f.name)).toEqual(['scale-throughput', 'scale-rr-p99', 'scale-rr-rate', 'scale-cps', 'scale-memory']);
    const tp = files[0]!;
    const [header, ...rows] = tp.csv.trim().split('\n').map((l) => l.split(','));
    expect(header).toEqual(['connections', 'node_net_gbit_s', 'wsk_stack_afpacket_gbit_s']);
    expect(rows).toEqual([['1', '5', '8'], ['10', '9', '3']]);
    // The stack's throughput fell from 8 to 3: one cliff, ringed on that plot and named in its legend.
    expect(r.cliffs).toEqual([{ curve: 'rx', target: 'wsk-stack-afpacket', x: 10, previousX: 1, from: 8, to: 3 }]);
    expect(tp.svg.match(/class="ring"/g)).toHaveLength(1);
    expect(tp.svg).toContain('>cliff: under half the previous');
    expect(files[1]!.svg).not.toContain('class="ring"');
    const mem = files[4]!.csv.trim().split('\n').map((l) => l.split(','));
    expect(mem[0]).toEqual(['part', 'node:net KiB per connection', 'wsk-stack-afpacket KiB per connection']);
    expect(mem.find((l) => l[0] === 'withoutRing')).toEqual(['withoutRing', String(1 + 3712 / 1024), '2']);
    expect(mem.find((l) => l[0] === 'withRing')).toEqual(['withRing', String(1 + 3712 / 1024), String(2 + 96 * 1024 / 1000)]);
  });

  it('renders a table row per figure and load, memory both ways, the cliffs and the plots, between its own markers', () => {
    const r = fixture();
    const md = renderScaleSection(r);
    expect(md).toContain('| aggregate throughput peer→app (Gbit/s) ↑ | 10 conns | 9.00 | 3.00 (0.33×) |');
    expect(md).toContain('| connections per second (per s) ↑ | 8 in flight | 9000 | 11000 (1.22×) |');
    expect(md.split('\n').filter((l) => / (conns|in flight) \|/.test(l))).toHaveLength(CURVES.length * 2);
    expect(md).toMatch(/\| total without the ring \| 4\.63 \| 2\.00 \(0\.43×\) \|/);
    expect(md).toMatch(/Cliffs .*WSK, userspace stack, AF_PACKET: aggregate throughput peer→app fell from 8\.00 to 3\.00 Gbit\/s going from 1 to 10 connections/);
    for (const f of r.files.charts) expect(md).toContain(`](${f.svg})`);
    const readme = `# x\n\n<!-- bench:suite:start -->\nsuite\n<!-- bench:suite:end -->\n\n${SCALE_START}\nold\n${SCALE_END}\nafter\n`;
    const out = replaceBetweenMarkers(readme, md, SCALE_START, SCALE_END);
    expect(out).toContain('<!-- bench:suite:start -->\nsuite\n<!-- bench:suite:end -->');
    expect(out).not.toContain('\nold\n');
    expect(out.endsWith(`${SCALE_END}\nafter\n`)).toBe(true);
  });
});

// The README table generator on a fixture suite.json: the block between the markers is replaced
// (and only it), ratios are formatted against node:net, skipped targets and checks are stated.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { END_MARKER, START_MARKER, renderTable, replaceBetweenMarkers } from './readme-table.ts';
import type { SuiteResult } from './suite.ts';
import { suiteChart } from './suite/chart.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/suite-fixture.json', import.meta.url), 'utf8')) as SuiteResult;

describe('readme-table', () => {
  it('replaces exactly the text between the markers', () => {
    const readme = `# T\n\n## Benchmarks\n\n${START_MARKER}\nold table\n| a | b |\n${END_MARKER}\n\n### Next\nkept\n`;
    const out = replaceBetweenMarkers(readme, renderTable(fixture));
    expect(out.startsWith(`# T\n\n## Benchmarks\n\n${START_MARKER}\n`)).toBe(true);
    expect(out.endsWith(`${END_MARKER}\n\n### Next\nkept\n`)).toBe(true);
    expect(out).not.toContain('old table');
    // Idempotent: regenerating gives the same text.
    expect(replaceBetweenMarkers(out, renderTable(fixture))).toBe(out);
  });

  it('refuses a README without the markers', () => {
    expect(() => replaceBetweenMarkers('# no markers\n', 'x')).toThrow(/bench:suite:start/);
  });

  it('formats medians with their ratio against node:net', () => {
    const md = renderTable(fixture);
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    expect(rows[0]).toMatch(/^\| target \| peer→app Gbit\/s ↑ \| app→peer Gbit\/s ↑ \| RR p50 µs ↓ \| RR p99 µs ↓ \|/);
    const node = rows.find((l) => l.startsWith('| node:net'))!;
    expect(node).not.toContain('×'); // the baseline carries no ratio
    const nodeRx = fixture.targets.find((t) => t.name === 'node:net')!.metrics.rx.median!;
    expect(node).toContain(`| ${nodeRx.toFixed(2)} |`);
    for (const t of fixture.targets.filter((x) => !x.skipped && x.name !== 'node:net')) {
      const row = rows.find((l) => l.startsWith(`| ${t.label} |`))!;
      const rx = t.metrics.rx;
      expect(row).toContain(`${rx.median!.toFixed(2)} (${rx.ratio!.toFixed(2)}×)`);
      expect(rx.ratio).toBeCloseTo(rx.median! / nodeRx, 10);
    }
    // iperf3 has throughput only: the other cells are dashes.
    const iperf = rows.find((l) => l.startsWith('| kernel iperf3'))!;
    expect(iperf.split('|').map((c) => c.trim()).filter((c) => c === '–').length).toBe(4);
  });

  it('states skipped targets and the checks', () => {
    const skipped: SuiteResult = {
      ...fixture,
      targets: fixture.targets.map((t) => (t.name === 'wsk-stack-pcap' ? { ...t, skipped: 'needs root' } : t)),
    };
    const md = renderTable(skipped);
    expect(md).toContain('Skipped: WSK, userspace stack, libpcap (needs root)');
    expect(md).not.toContain('| WSK, userspace stack, libpcap |');
    expect(md).toMatch(/Checks: .*connections per second vs node:net/);
  });

  it('draws one bar group per headline metric', () => {
    const svg = suiteChart(fixture);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('× node:net');
    for (const m of fixture.metrics.filter((x) => x.headline)) expect(svg).toContain(m.label.replace('>', '&gt;'));
  });
});

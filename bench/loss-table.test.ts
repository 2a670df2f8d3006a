// The loss benchmark's table (bench/loss-table.ts) on a fixture loss.json: its README block is
// replaced and nothing else, each cell shows both medians, the ratio and the sender's counts per
// run side by side, a stalled run fails its cell's goal and is named with its reason, and other
// errors are stated.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOSS_END_MARKER, LOSS_START_MARKER, renderLossTable } from './loss-table.ts';
import { END_MARKER, START_MARKER, replaceBetweenMarkers } from './readme-table.ts';
import type { LossResult } from './loss.bench.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/loss-fixture.json', import.meta.url), 'utf8')) as LossResult;

describe('loss-table', () => {
  it('replaces exactly the bench:loss block, leaving the suite block alone', () => {
    const readme = `# T\n${START_MARKER}\nsuite table\n${END_MARKER}\n\n${LOSS_START_MARKER}\nold loss table\n${LOSS_END_MARKER}\nkept\n`;
    const out = replaceBetweenMarkers(readme, renderLossTable(fixture), LOSS_START_MARKER, LOSS_END_MARKER);
    expect(out.startsWith(`# T\n${START_MARKER}\nsuite table\n${END_MARKER}\n\n${LOSS_START_MARKER}\n`)).toBe(true);
    expect(out.endsWith(`${LOSS_END_MARKER}\nkept\n`)).toBe(true);
    expect(out).not.toContain('old loss table');
    expect(replaceBetweenMarkers(out, renderLossTable(fixture), LOSS_START_MARKER, LOSS_END_MARKER)).toBe(out);
    expect(() => replaceBetweenMarkers('# none\n', 'x', LOSS_START_MARKER, LOSS_END_MARKER)).toThrow(/bench:loss:start/);
  });

  it('one row per cell: medians, ratio, the sender\'s retransmissions and RTOs per run for both servers, stalls', () => {
    const rows = renderLossTable(fixture).split('\n').filter((l) => /^\| [\d.]+ % \|/.test(l));
    expect(rows).toEqual([
      '| 0.1 % | off | peer → server | 1.400 | 1.700 | 0.82× | 40/35/50 | 42/38/41 | 1/0/2 | 0/0/1 | 0 · 0 |',
      '| 2 % | on | server → peer (-R) | 0.040 | 2.100 | 0.02× | –/300/280 | 9000/9500/9100 | –/9/11 | 1/0/2 | 1 · 0 |',
    ]);
  });

  it('states what the peer\'s rules took, the goal, the stalled run and the errors', () => {
    const md = renderLossTable(fixture);
    expect(md).toContain('| 0.1 %, offloads off, peer → server | 30 of 3000 (68 B) · 60 of 6000 (1000 B) |');
    expect(md).toContain('ours ≥ 0.8× Linux in every cell with no stalled run: 1 of 2 cells meet it; stalled runs: ours 1, Linux 0.');
    expect(md).toContain('Stalled: 2 %, offloads on, server → peer (-R), ours run 1: no end within 23 s.');
    // A run that completed but whose counters could not be read is an error, not a stall.
    expect(md).toContain('Errors: 2 %, offloads on, server → peer (-R): warm-up: no end within 21 s; '
      + '0.1 %, offloads off, peer → server, ours run 2: counters: no answer within 3000 ms.');
  });
});

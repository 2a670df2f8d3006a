// Deterministic TCP network simulation (smoltcp tests/netsim.rs style): a matrix of loss ×
// receive buffer × delay through a 100 Mbit/s bottleneck for CUBIC and NewReno, integrity cells
// with reordering, duplication and corruption, 4 flows sharing one bottleneck (Jain's
// fairness), and per-packet loss under segmentation offload (64 KiB TSO frames cut into wire
// packets by the fault injector, each lost on its own, as on a real lossy path), and a few cells
// over IPv6. Every transfer
// is checked byte for byte and every send completion must be STATUS_SUCCESS. The numbers are
// compared with the checked-in test/tcp-netsim-table.md; after an intended change rerun with
// UPDATE_NETSIM=1 and commit the table.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  renderTable, runShared, runTransfer, type LinkSpec, type SharedResult, type SharedSpec, type TransferResult, type TransferSpec,
} from './helpers/netsim.ts';
import { STATUS_SUCCESS } from '../runtime/ntstatus.ts';

const TABLE = fileURLToPath(new URL('./tcp-netsim-table.md', import.meta.url));
const MiB = 1 << 20;
const KiB = 1024;
const RATE = 100e6;
const BUFFER_FRAMES = 100;

const LOSSES = [0, 0.005, 0.02, 0.05];
const BUFFERS = [64 * KiB, 256 * KiB];
const DELAYS = [1, 20];
const CCS = ['cubic', 'newreno'] as const;

const matrix: TransferSpec[] = [];
for (const cc of CCS) {
  for (const loss of LOSSES) {
    for (const receiveBuffer of BUFFERS) {
      for (const delayMs of DELAYS) {
        const i = matrix.length + 1;
        matrix.push({
          name: `m${String(i).padStart(2, '0')}`, congestionControl: cc, receiveBuffer, bytes: 4 * MiB, seed: 1000 + i,
          link: { loss, delayMs, rateBitsPerSecond: RATE, bufferFrames: BUFFER_FRAMES },
        });
      }
    }
  }
}

const hostile = (loss: number): LinkSpec => ({
  loss, delayMs: 5, jitterMs: 1, reorder: 0.05, duplicate: 0.01, corrupt: 0.01, rateBitsPerSecond: RATE, bufferFrames: BUFFER_FRAMES,
});
const integrity: TransferSpec[] = [];
for (const cc of CCS) {
  for (const loss of [0, 0.01]) {
    const i = integrity.length + 1;
    integrity.push({ name: `i${i}`, congestionControl: cc, receiveBuffer: 256 * KiB, bytes: 4 * MiB, seed: 2000 + i, link: hostile(loss) });
  }
}

// Per-packet loss with TSO: the stacks hand their links 64 KiB frames (checksums left to the
// device), the injectors cut them and lose single packets, on a 1 Gbit/s, 2 ms RTT path whose
// queue the 256 KiB window cannot overflow (so every loss is a drawn one). Only integrity is
// asserted: the sender is poor here today (at 0.1 % CUBIC sends some seventy retransmissions
// per lost packet), and the goodput is printed and kept in the table for the TCP work to improve on.
const PER_PACKET_LOSSES = [0, 0.001, 0.01, 0.02, 0.05];
const perPacket: TransferSpec[] = [];
for (const cc of CCS) {
  for (const loss of PER_PACKET_LOSSES) {
    const i = perPacket.length + 1;
    perPacket.push({
      name: `p${String(i).padStart(2, '0')}`, congestionControl: cc, receiveBuffer: 256 * KiB, bytes: 8 * MiB, seed: 4000 + i, tsoBytes: 64 * KiB,
      link: { loss, delayMs: 1, rateBitsPerSecond: 1e9, bufferFrames: BUFFER_FRAMES },
    });
  }
}

// A few cells again over IPv6 (a 40-byte IP header, so 20 bytes less per segment): clean and
// lossy paths for both congestion controls, the hostile path, and per-packet loss under TSO.
const overIpv6: TransferSpec[] = [
  ...(['cubic', 'newreno'] as const).flatMap((cc, k): TransferSpec[] => [
    { name: `v${2 * k + 1}`, congestionControl: cc, receiveBuffer: 256 * KiB, bytes: 4 * MiB, seed: 5001 + 2 * k, ipv6: true,
      link: { loss: 0, delayMs: 1, rateBitsPerSecond: RATE, bufferFrames: BUFFER_FRAMES } },
    { name: `v${2 * k + 2}`, congestionControl: cc, receiveBuffer: 256 * KiB, bytes: 4 * MiB, seed: 5002 + 2 * k, ipv6: true,
      link: { loss: 0.02, delayMs: 20, rateBitsPerSecond: RATE, bufferFrames: BUFFER_FRAMES } },
  ]),
  { name: 'v5', congestionControl: 'cubic', receiveBuffer: 256 * KiB, bytes: 4 * MiB, seed: 5005, ipv6: true, link: hostile(0.01) },
  { name: 'v6', congestionControl: 'cubic', receiveBuffer: 256 * KiB, bytes: 8 * MiB, seed: 5006, ipv6: true, tsoBytes: 64 * KiB,
    link: { loss: 0.01, delayMs: 1, rateBitsPerSecond: 1e9, bufferFrames: BUFFER_FRAMES } },
];

/** `asserted`: Jain's index must reach 0.9. The others are recorded for comparison only. */
const sharedCells: (SharedSpec & { asserted: boolean })[] = [];
for (const [receiveBuffer, delayMs, asserted] of [[256 * KiB, 5, true], [256 * KiB, 10, false], [1 * MiB, 10, false]] as const) {
  for (const cc of CCS) {
    const i = sharedCells.length + 1;
    sharedCells.push({
      name: `s${i}`, congestionControl: cc, receiveBuffer, flows: 4, bytes: 24 * MiB, staggerMs: 100, warmupMs: 1000, seed: 3000 + i,
      link: { loss: 0, delayMs, rateBitsPerSecond: RATE, bufferFrames: BUFFER_FRAMES }, asserted,
    });
  }
}

const transfers = new Map<string, TransferResult>();
const shared = new Map<string, SharedResult>();

function expectIntact(r: TransferResult): void {
  const where = `${r.spec.name} (${r.spec.congestionControl}, seed ${r.spec.seed})`;
  expect(r.received, `${where}: bytes received`).toBe(r.spec.bytes);
  expect(r.firstMismatch, `${where}: first corrupted/misordered byte`).toBe(-1);
  expect(r.excess, `${where}: bytes delivered beyond the stream`).toBe(0);
  expect(r.sendStatuses.length, `${where}: send completions`).toBe(r.sendRequests);
  expect(r.sendStatuses.every((s) => s === STATUS_SUCCESS), `${where}: every send completes with STATUS_SUCCESS`).toBe(true);
  expect(r.closedCleanly, `${where}: orderly close both ways`).toBe(true);
}

describe('TCP network simulation (virtual time, fixed seeds)', () => {
  describe('loss × receive buffer × delay, 100 Mbit/s bottleneck', () => {
    for (const spec of matrix) {
      const l = spec.link;
      it(`${spec.name}: ${spec.congestionControl}, loss ${l.loss * 100} %, rcvbuf ${spec.receiveBuffer / KiB} KiB, delay ${l.delayMs} ms`, () => {
        const r = runTransfer(spec);
        transfers.set(spec.name, r);
        expectIntact(r);
      });
    }
  });

  describe('integrity under reordering 5 %, duplication 1 %, corruption 1 %', () => {
    for (const spec of integrity) {
      it(`${spec.name}: ${spec.congestionControl}, loss ${spec.link.loss * 100} %`, () => {
        const r = runTransfer(spec);
        transfers.set(spec.name, r);
        expectIntact(r);
        expect(r.faults.reordered).toBeGreaterThan(0);
        expect(r.faults.duplicated).toBeGreaterThan(0);
        expect(r.faults.corrupted).toBeGreaterThan(0);
        // Every corrupted frame that reached a stack was caught by a checksum, not delivered.
        expect(r.malformed).toBeGreaterThan(0);
      });
    }
  });

  describe('per-packet loss with 64 KiB TSO frames, 1 Gbit/s, delay 1 ms, rcvbuf 256 KiB (integrity asserted, goodput recorded)', () => {
    for (const spec of perPacket) {
      it(`${spec.name}: ${spec.congestionControl}, loss ${spec.link.loss * 100} % per wire packet`, () => {
        const r = runTransfer(spec);
        transfers.set(spec.name, r);
        console.log(`${spec.name} ${spec.congestionControl} loss ${spec.link.loss * 100} %: ${r.mbps.toFixed(2)} Mbit/s, `
          + `${r.segmented} TSO frames cut, ${r.faults.lost} packets lost, ${r.retransmits} retransmits, ${r.timeouts} timeouts, `
          + `${(r.virtualMs / 1000).toFixed(1)} s virtual, ${r.wallMs.toFixed(0)} ms wall`);
        expectIntact(r);
        expect(r.segmented, `${spec.name}: TSO frames reached the injectors and were cut`).toBeGreaterThan(0);
        if (spec.link.loss > 0) expect(r.faults.lost).toBeGreaterThan(0);
      }, 60_000);
    }
  });

  describe('over IPv6', () => {
    for (const spec of overIpv6) {
      const l = spec.link;
      it(`${spec.name}: ${spec.congestionControl}, loss ${l.loss * 100} %, delay ${l.delayMs} ms${l.corrupt ? ', reorder/dup/corrupt' : ''}${spec.tsoBytes ? ', 64 KiB TSO, loss per wire packet' : ''}`, () => {
        const r = runTransfer(spec);
        transfers.set(spec.name, r);
        expectIntact(r);
        if (l.corrupt) expect(r.malformed, `${spec.name}: corrupted segments caught by the IPv6 pseudo-header checksum`).toBeGreaterThan(0);
        if (spec.tsoBytes) expect(r.segmented, `${spec.name}: IPv6 TSO frames cut into wire packets`).toBeGreaterThan(0);
      }, 60_000);
    }
  });

  describe('4 flows through one shared bottleneck', () => {
    for (const spec of sharedCells) {
      it(`${spec.name}: ${spec.congestionControl}, rcvbuf ${spec.receiveBuffer / KiB} KiB, delay ${spec.link.delayMs} ms${spec.asserted ? ', Jain ≥ 0.9' : ' (recorded only)'}`, () => {
        const r = runShared(spec);
        shared.set(spec.name, r);
        expect(r.intact, `${spec.name}: every flow intact`).toEqual(r.intact.map(() => true));
        expect(r.sendsOk, `${spec.name}: every send STATUS_SUCCESS`).toEqual(r.sendsOk.map(() => true));
        if (spec.asserted) {
          expect(r.jain, `${spec.name}: Jain's fairness index (per-flow Mbit/s ${r.windowMbps.map((x) => x.toFixed(1)).join(' / ')})`)
            .toBeGreaterThanOrEqual(0.9);
          expect(r.aggregateMbps, `${spec.name}: the flows together fill the bottleneck`).toBeGreaterThanOrEqual(85);
        }
      }, 60_000);
    }
  });

  describe('sanity', () => {
    const cell = (cc: string, loss: number, buf: number, delay: number): TransferResult | undefined => {
      const spec = matrix.find((s) => s.congestionControl === cc && s.link.loss === loss && s.receiveBuffer === buf && s.link.delayMs === delay)!;
      return transfers.get(spec.name);
    };

    // CUBIC is not held to these yet: with a 256 KiB window into a 100-frame bottleneck its 0.7
    // decrease leaves the queue full, retransmissions are lost and only the RTO recovers them
    // (no RACK / PRR yet). Its figures are in the table, so a fix shows up as a table change.
    for (const cc of ['newreno'] as const) {
      it(`${cc}: 256 KiB / 1 ms at 0 % loss reaches ≥ 80 Mbit/s of the 100 Mbit/s bottleneck`, () => {
        const r = cell(cc, 0, 256 * KiB, 1);
        if (!r) return; // filtered run
        expect(r.mbps, `${r.spec.name}: ${r.mbps.toFixed(2)} Mbit/s, ${r.retransmits} retransmits for ${r.faults.queueDrops} queue drops`)
          .toBeGreaterThanOrEqual(80);
      });

      it(`${cc}: throughput falls as loss rises (every buffer and delay)`, () => {
        for (const buf of BUFFERS) {
          for (const delay of DELAYS) {
            const rs = LOSSES.map((loss) => cell(cc, loss, buf, delay));
            if (rs.some((r) => !r)) return;
            const mbps = rs.map((r) => r!.mbps);
            const label = `${cc} ${buf / KiB} KiB ${delay} ms: ${mbps.map((x) => x.toFixed(2)).join(' → ')} Mbit/s`;
            for (let i = 1; i < mbps.length; i++) expect(mbps[i], label).toBeLessThan(mbps[i - 1]!);
            expect(mbps[3], label).toBeLessThan(mbps[0]!);
          }
        }
      });
    }
  });

  it('results match the checked-in table (rerun with UPDATE_NETSIM=1 and commit the table after an intended change)', () => {
    const complete = [...matrix, ...integrity, ...perPacket, ...overIpv6].every((s) => transfers.has(s.name)) && sharedCells.every((s) => shared.has(s.name));
    if (!complete) return; // a filtered run: nothing to compare
    const table = renderTable(
      [...matrix, ...integrity].map((s) => transfers.get(s.name)!), sharedCells.map((s) => shared.get(s.name)!), perPacket.map((s) => transfers.get(s.name)!),
      overIpv6.map((s) => transfers.get(s.name)!),
    );
    const wall = [...transfers.values()].reduce((n, r) => n + r.wallMs, 0) + [...shared.values()].reduce((n, r) => n + r.wallMs, 0);
    console.log(`${table}\n(simulation wall time ${(wall / 1000).toFixed(1)} s)`);
    if (process.env.UPDATE_NETSIM === '1') {
      writeFileSync(TABLE, table);
      return;
    }
    const current = existsSync(TABLE) ? readFileSync(TABLE, 'utf8') : '';
    if (current !== table) {
      const old = current.split('\n');
      const now = table.split('\n');
      const diff: string[] = [];
      for (let i = 0; i < Math.max(old.length, now.length) && diff.length < 20; i++) {
        if (old[i] !== now[i]) diff.push(`- ${old[i] ?? ''}\n+ ${now[i] ?? ''}`);
      }
      expect.fail(`results changed: rerun with UPDATE_NETSIM=1 and commit the table (${TABLE})\n${diff.join('\n')}`);
    }
  });
});

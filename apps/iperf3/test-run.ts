// A running test's measurements on either side: the streams, the interval clock, and the reports
// it makes from them (text lines as they happen, the -J "intervals" list, the summary). The
// client and the server differ only in what they tell the peer; this is what they share.
import { hostname, machine, release, type as osType, version as osVersion } from 'node:os';
import type { DataStream, IntervalResult } from './data-streams.ts';
import { IntervalClock } from './interval-clock.ts';
import { intervalReport, summaryReport, type ReportContext, type SummaryFigures } from './iperf3-report.ts';
import type { TestParams } from './iperf3-protocol.ts';
import type { UnitFormat } from './units.ts';

export type Json = Record<string, unknown>;

/** What our -J says it is: the iperf3 release whose protocol and reports it follows. */
export const IPERF3_VERSION = 'iperf 3.12 (wsk-runtime)';

/** uname -a's first fields, as iperf3's system_info has them. */
export function systemInfo(): string {
  return `${osType()} ${hostname()} ${release()} ${osVersion()} ${machine()}`;
}

/** "start.timestamp": RFC 1123 time in GMT and Unix seconds. */
export function timestamp(): { time: string; timesecs: number } {
  const now = new Date();
  return { time: now.toUTCString(), timesecs: Math.floor(now.getTime() / 1000) };
}

/** "start.test_start" (iperf 3.12's keys: no bidir flag there, reverse 0 with --bidir). */
export function testStartJson(p: TestParams): Json {
  return {
    protocol: p.udp ? 'UDP' : 'TCP', num_streams: p.parallel, blksize: p.len, omit: p.omit, duration: p.time, bytes: p.num,
    blocks: p.blockcount, reverse: p.reverse && !p.bidirectional ? 1 : 0, tos: 0, target_bitrate: p.bandwidth,
  };
}

/** The verbose "Starting Test" line. */
export function startingTestLine(p: TestParams): string {
  const head = `Starting Test: protocol: ${p.udp ? 'UDP' : 'TCP'}, ${p.parallel} streams, ${p.len} byte blocks, omitting ${p.omit} seconds`;
  if (p.num) return `${head}, ${p.num} bytes to send, tos 0`;
  if (p.blockcount) return `${head}, ${p.blockcount} blocks to send, tos 0`;
  return `${head}, ${p.time} second test, tos 0`;
}

export interface TestRunOptions {
  role: 'c' | 's';
  params: TestParams;
  /** The test's streams in id order. */
  streams: DataStream[];
  /** This side's sending TCP streams report SIO_TCP_INFO. */
  ownRetransmits: boolean;
  /** -i, seconds (0: one interval for the whole test). */
  interval: number;
  format: UnitFormat;
  verbose: boolean;
  /** Text lines as the reports are made. */
  emit: (lines: string[]) => void;
}

export class TestRun {
  /** -J's "intervals". */
  readonly intervals: Json[] = [];
  readonly context: ReportContext;
  private readonly clock: IntervalClock;
  /** Interval reports wait for their SIO_TCP_INFO figures; they are made one after another. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: TestRunOptions) {
    const p = o.params;
    this.context = {
      role: o.role, udp: p.udp === true, reverse: p.reverse === true, bidirectional: p.bidirectional === true, numStreams: p.parallel,
      streams: o.streams, ownRetransmits: o.ownRetransmits, peerRetransmits: false, format: o.format, verbose: o.verbose,
    };
    this.clock = new IntervalClock({
      intervalMs: o.interval * 1000, omitMs: p.omit * 1000, endAfterMs: p.time > 0 ? (p.time + p.omit) * 1000 : Infinity,
      onInterval: (now, omitted) => this.sample(now, omitted),
      onOmitEnd: (now) => this.endOmit(now),
    });
  }

  get omitting(): boolean { return this.clock.omitting; }

  /** TEST_RUNNING: the streams start counting (and senders sending) at `nowMs`. */
  start(nowMs: number): void {
    for (const s of this.o.streams) s.begin(nowMs);
    this.clock.start(nowMs);
  }

  /** The test ended at `nowMs`: no more ticks, and the last interval is reported (when iperf3 would). */
  async finish(nowMs: number): Promise<void> {
    this.clock.stop();
    this.sample(nowMs, this.clock.omitting);
    await this.chain;
  }

  /** The end of the test, once the peer's results are in the streams (DataStream.peer). */
  summary(figures: SummaryFigures, peerRetransmits: boolean): { json: Json; lines: string[] } {
    return summaryReport({ ...this.context, peerRetransmits }, figures);
  }

  private sample(nowMs: number, omitted: boolean): void {
    const results = this.o.streams.map((s) => s.closeInterval(nowMs, omitted));
    this.chain = this.chain.then(async () => {
      if (this.o.ownRetransmits) {
        await Promise.all(this.o.streams.map(async (s, i) => {
          if (!s.sender) return;
          const info = await s.tcpInfo();
          if (info) s.addTcpInfo(results[i]!, info);
        }));
      }
      this.report(results);
    });
  }

  /**
   * iperf3 leaves out an interval shorter than a tenth of -i in which nothing moved (the sliver
   * between the last tick and the control message that ends the test).
   */
  private report(results: IntervalResult[]): void {
    const minimum = this.o.interval * 0.1;
    if (!results.some((r) => r.seconds >= minimum || r.bytes > 0)) {
      this.o.streams.forEach((s, i) => s.intervals.splice(s.intervals.indexOf(results[i]!), 1));
      return;
    }
    const { json, lines } = intervalReport(this.context, results);
    this.intervals.push(json);
    this.o.emit(lines);
  }

  private endOmit(nowMs: number): void {
    for (const s of this.o.streams) s.resetCounts(nowMs);
    if (!this.o.ownRetransmits) return;
    // Retransmissions count from here on: the baseline is what SIO_TCP_INFO says now.
    this.chain = this.chain.then(async () => {
      await Promise.all(this.o.streams.map(async (s) => {
        if (!s.sender) return;
        const info = await s.tcpInfo();
        if (info) s.setRetransmitBaseline(info);
      }));
    });
  }
}

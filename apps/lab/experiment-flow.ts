// The workload of a lab experiment, the same on every medium: bulk TCP flows from one engine to a
// receiver, started on a schedule, each with its own congestion control, sampled at a fixed
// interval. What is sampled is read off the sender's TCB (our stack is always the sender), so it
// is the sender's view: bytes acknowledged (SND.UNA's progress), cwnd, ssthresh, smoothed RTT,
// retransmissions. The medium only says how time advances (a virtual clock stepped to the next
// sample, or real time slept through).
import { createCongestionControl } from '../../runtime/net/tcp/congestion.ts';
import type { FaultCounters } from '../../transports/fault/fault-injector.ts';
import { Tcb, TcpState } from '../../runtime/net/tcp/tcb.ts';
import type { TcpEngine } from '../../runtime/net/tcp/tcp-engine.ts';
import { jain, pattern, Source, type LinkSpec } from './netsim.ts';
import type { ExperimentSpec, LinkImpairments } from './experiment.ts';

export interface FlowSeries {
  /** Seconds since the experiment started (the end of each sample interval). */
  timeS: number[];
  /** Bytes acknowledged during the interval, as Mbit/s. */
  throughputMbps: number[];
  cwndBytes: (number | null)[];
  /** null while infinite (slow start before the first loss). */
  ssthreshBytes: (number | null)[];
  /** null before the first RTT sample. */
  srttMs: (number | null)[];
  /** Retransmitted segments so far (cumulative). */
  retransmits: number[];
}

export interface FlowSummary {
  flow: number;
  congestionControl: string;
  startS: number;
  bytesAcked: number;
  /** Bytes acknowledged × 8 ÷ (time from the flow's start to its last sample with progress). */
  goodputMbps: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
}

export interface FlowRecord {
  summary: FlowSummary;
  series: FlowSeries;
}

/** What the bottleneck dropped per sample interval, both directions together (data and ACKs). */
export interface LinkDropSeries {
  timeS: number[];
  /** Wire packets lost at random (the loss probability). */
  lost: number[];
  /** Wire packets dropped because the bottleneck's queue was full. */
  queueDrops: number[];
}

export interface WorkloadRun {
  flows: FlowRecord[];
  linkDrops: LinkDropSeries;
}

export interface WorkloadEnv {
  sender: TcpEngine;
  receiverIp: number;
  receiverPort: number;
  /** Advances time to `ms` on the sender's clock (runs the virtual clock, or sleeps). */
  advanceTo(ms: number): Promise<void>;
  /** The bottleneck's live counters, read at every sample. */
  faults: Readonly<FaultCounters>;
  progress(line: string): void;
}

/** Payload block every flow repeats (the memory medium's receivers check it byte for byte). */
const FLOW_BLOCK_BYTES = 1 << 20;
const REQUEST_BYTES = 64 * 1024;
const PROGRESS_EVERY_MS = 5000;

export function flowBlock(seed: number): Uint8Array {
  return pattern(FLOW_BLOCK_BYTES, seed);
}

/** Samples one flow; bytes acknowledged come from SND.UNA's progress since the SYN was acknowledged. */
class FlowProbe {
  readonly series: FlowSeries = { timeS: [], throughputMbps: [], cwndBytes: [], ssthreshBytes: [], srttMs: [], retransmits: [] };
  tcb: Tcb | null = null;
  bytesAcked = 0;
  lastProgressMs = NaN;
  private lastUna = 0;

  constructor(readonly flow: number, readonly congestionControl: string, readonly startMs: number, readonly source: Source) {}

  attach(tcb: Tcb): void {
    this.tcb = tcb;
    // SYN takes one sequence number: payload starts at ISS + 1.
    this.lastUna = (tcb.iss + 1) | 0;
  }

  sample(nowMs: number, t0: number, intervalMs: number): void {
    const tcb = this.tcb;
    let acked = 0;
    if (tcb && tcb.state >= TcpState.ESTABLISHED) {
      const d = (tcb.sndUna - this.lastUna) | 0;
      if (d > 0) { acked = d; this.lastUna = tcb.sndUna; }
    }
    this.bytesAcked += acked;
    if (acked > 0) this.lastProgressMs = nowMs;
    const live = tcb !== null && tcb.state !== TcpState.CLOSED && tcb.state !== TcpState.SYN_SENT;
    const s = this.series;
    s.timeS.push(round((nowMs - t0) / 1000, 6));
    s.throughputMbps.push(round((acked * 8) / intervalMs / 1000, 4));
    s.cwndBytes.push(live ? Math.round(tcb.cc.cwnd) : null);
    s.ssthreshBytes.push(live && Number.isFinite(tcb.cc.ssthresh) ? Math.round(tcb.cc.ssthresh) : null);
    s.srttMs.push(live && tcb.rtt.srtt > 0 ? round(tcb.rtt.srtt, 3) : null);
    s.retransmits.push(tcb?.retransmits ?? 0);
  }

  summary(t0: number): FlowSummary {
    const activeMs = this.lastProgressMs - (t0 + this.startMs);
    return {
      flow: this.flow,
      congestionControl: this.congestionControl,
      startS: this.startMs / 1000,
      bytesAcked: this.bytesAcked,
      goodputMbps: activeMs > 0 ? round((this.bytesAcked * 8) / activeMs / 1000, 4) : 0,
      retransmits: this.tcb?.retransmits ?? 0,
      fastRetransmits: this.tcb?.fastRetransmits ?? 0,
      timeouts: this.tcb?.timeouts ?? 0,
    };
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The netsim's link description of the spec's bottleneck. */
export function bottleneck(link: LinkImpairments): LinkSpec {
  return {
    loss: link.loss, delayMs: link.delayMs, jitterMs: link.jitterMs, rateBitsPerSecond: link.rateMbps * 1e6,
    bufferFrames: link.bufferPackets, reorder: link.reorder, duplicate: link.duplicate, corrupt: link.corrupt,
  };
}

/** Per flow: the spec's congestion control names one for all flows, or one per flow. */
export function flowCongestionControls(spec: ExperimentSpec): string[] {
  const cc = spec.congestionControl;
  return Array.from({ length: spec.workload.flows }, (_, i) => (typeof cc === 'string' ? cc : cc[i]!));
}

/**
 * Runs the workload for the spec's duration (or until every flow of a bytes workload is fully
 * acknowledged), sampling every sampleIntervalMs. The caller tears the connections down.
 */
export async function runWorkload(spec: ExperimentSpec, env: WorkloadEnv): Promise<WorkloadRun> {
  const { sender } = env;
  const clock = sender.clock;
  const w = spec.workload;
  const block = flowBlock(spec.seed);
  // Posted-but-unacknowledged bytes per flow: above the receive window, so never app-limited.
  const window = Math.ceil((2 * w.receiveBufferBytes) / REQUEST_BYTES) * REQUEST_BYTES;
  const t0 = clock.now();
  const probes = flowCongestionControls(spec).map((cc, i) => new FlowProbe(i, cc, i * w.startIntervalMs,
    new Source(sender, block, { requestBytes: REQUEST_BYTES, total: w.bytesPerFlow ?? Infinity, window, autoStart: true })));
  const startTimers = probes.map((p) => {
    const timer = clock.createTimer(() => {
      const tcb = sender.connect(0, env.receiverIp, env.receiverPort, p.source);
      if (!(tcb instanceof Tcb)) throw new Error(`flow ${p.flow}: connect failed with status 0x${(tcb >>> 0).toString(16)}`);
      // Replaced before the handshake completes: the controller is initialised on ESTABLISHED.
      tcb.cc = createCongestionControl(p.congestionControl, tcb.mss);
      p.attach(tcb);
    });
    timer.arm(t0 + p.startMs);
    return timer;
  });
  const interval = spec.sampleIntervalMs;
  const durationMs = spec.durationSeconds * 1000;
  const bytesWorkload = w.bytesPerFlow !== undefined;
  let nextProgress = PROGRESS_EVERY_MS;
  const linkDrops: LinkDropSeries = { timeS: [], lost: [], queueDrops: [] };
  let lost = env.faults.lost;
  let queueDrops = env.faults.queueDrops;
  try {
    for (let at = interval; at <= durationMs + 1e-9; at += interval) {
      await env.advanceTo(t0 + at);
      for (const p of probes) p.sample(t0 + at, t0, interval);
      linkDrops.timeS.push(round(at / 1000, 6));
      linkDrops.lost.push(env.faults.lost - lost);
      linkDrops.queueDrops.push(env.faults.queueDrops - queueDrops);
      ({ lost, queueDrops } = env.faults);
      const done = bytesWorkload && probes.every((p) => p.source.sendsDone);
      if (done || at >= nextProgress || at + interval > durationMs + 1e-9) {
        nextProgress += PROGRESS_EVERY_MS;
        env.progress(progressLine(at, probes) + (done ? '  (every flow acknowledged: done)' : ''));
      }
      if (done) break;
    }
  } finally {
    for (const t of startTimers) t.disarm();
  }
  return { flows: probes.map((p) => ({ summary: p.summary(t0), series: p.series })), linkDrops };
}

function progressLine(atMs: number, probes: readonly FlowProbe[]): string {
  const flows = probes.map((p) => {
    const s = p.series;
    const k = s.timeS.length - 1;
    const cwnd = s.cwndBytes[k];
    const rtt = s.srttMs[k];
    return `flow ${p.flow} ${p.congestionControl} ${s.throughputMbps[k]!.toFixed(1)} Mbit/s cwnd ${cwnd === null ? '-' : `${Math.round(cwnd! / 1024)} KiB`} srtt ${rtt === null ? '-' : `${rtt!.toFixed(1)} ms`}`;
  });
  return `t=${(atMs / 1000).toFixed(1)} s  ${flows.join(' | ')}`;
}

export interface WorkloadTotals {
  aggregateGoodputMbps: number;
  /** Jain's index over the flows' goodput: 1 when equal, 1/n when one flow takes everything. */
  jainFairness: number;
  retransmits: number;
}

export function workloadTotals(flows: readonly FlowRecord[]): WorkloadTotals {
  const goodputs = flows.map((f) => f.summary.goodputMbps);
  return {
    aggregateGoodputMbps: round(goodputs.reduce((a, b) => a + b, 0), 4),
    jainFairness: round(jain(goodputs), 6),
    retransmits: flows.reduce((n, f) => n + f.summary.retransmits, 0),
  };
}

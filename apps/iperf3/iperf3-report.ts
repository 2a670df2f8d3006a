// iperf3's reports, as text and as -J JSON, from what the streams measured. The rules are
// iperf 3.12's (iperf_api.c: iperf_print_intermediate, print_interval_results,
// iperf_print_results; formats from iperf_locale.c): every report builds its JSON object and its
// text lines from the same figures, so the two cannot disagree. Names and quirks are kept where
// tools read them (a receiver's "seconds" is the reporting side's own duration, UDP's "sum"
// counts the bytes sent, jitter is averaged over -P streams).
import type { DataStream, IntervalResult } from './data-streams.ts';
import type { CpuUtil, StreamResult } from './iperf3-protocol.ts';
import { unitText, type UnitFormat } from './units.ts';

type Json = Record<string, unknown>;

export interface ReportContext {
  /** 'c' for the client, 's' for the server (what iperf3 calls the test's role). */
  role: 'c' | 's';
  udp: boolean;
  reverse: boolean;
  bidirectional: boolean;
  /** -P: streams per direction (iperf3 averages jitter over it). */
  numStreams: number;
  /** The test's streams in id order. */
  streams: readonly DataStream[];
  /** This side's sending streams report SIO_TCP_INFO (iperf3's sender_has_retransmits for this side). */
  ownRetransmits: boolean;
  /** The peer's results said sender_has_retransmits 1 (its sending streams report retransmissions). */
  peerRetransmits: boolean;
  /** -f: the unit of rates. */
  format: UnitFormat;
  verbose: boolean;
}

export interface SummaryFigures {
  cpu: CpuUtil;
  remoteCpu: CpuUtil;
  congestionUsed: string | null;
  remoteCongestionUsed: string | null;
}

export const SEPARATOR = '- - - - - - - - - - - - - - - - - - - - - - - - -';

/**
 * The values of "this stream is a sender" a report covers, in iperf3's order: the client's
 * sending streams first, the server's receiving ones (their sums are the "_bidir_reverse" ones
 * on the side that did not start them).
 */
function senderModes(c: ReportContext): boolean[] {
  if (c.bidirectional) return c.role === 'c' ? [true, false] : [false, true];
  return [c.role === 'c' ? !c.reverse : c.reverse];
}

/** "[TX-C]" and the like, only in --bidir. */
function roleLabel(c: ReportContext, sender: boolean): string {
  return c.bidirectional ? `[${sender ? 'TX' : 'RX'}-${c.role === 'c' ? 'C' : 'S'}]` : '';
}

function reverseSuffix(c: ReportContext, sender: boolean): string {
  return c.bidirectional && ((c.role === 'c' && !sender) || (c.role === 's' && sender)) ? '_bidir_reverse' : '';
}

// printf pieces: %6.2f, %-6.2f, %3d, %5.3f and %.2g as C prints them.
const f62 = (x: number): string => x.toFixed(2).padStart(6);
const f62l = (x: number): string => x.toFixed(2).padEnd(6);
const d3 = (n: number | string): string => String(n).padStart(3);
/** %.2g: two significant digits, trailing zeros dropped, C's exponent form for large values. */
export function percentG(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return String(x === 0 ? 0 : x);
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(2)))));
  if (exp < -4 || exp >= 2) {
    const [m, e] = x.toExponential(1).split('e');
    const mant = m!.replace(/\.0$/, '');
    const n = Number(e);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(Number(x.toPrecision(2)));
}

/** Microsecond times, as iperf3's struct iperf_time gives them. */
const usec = (seconds: number): number => Math.round(seconds * 1e6) / 1e6;

const bytesText = (n: number): string => `${unitText(n, 'A')}s`;
const rateText = (bytesPerSecond: number, format: UnitFormat): string => `${unitText(bytesPerSecond, format)}s/sec`;

const TCP_INTERVAL_HEADER = '[ ID] Interval           Transfer     Bitrate';
const TCP_INTERVAL_HEADER_BIDIR = '[ ID][Role] Interval           Transfer     Bitrate';

function intervalHeader(c: ReportContext): string {
  const head = c.bidirectional ? TCP_INTERVAL_HEADER_BIDIR : TCP_INTERVAL_HEADER;
  if (!c.udp) return c.ownRetransmits ? `${head}         Retr  Cwnd` : head;
  const senderOnly = !c.bidirectional && senderModes(c)[0];
  return senderOnly ? `${head}         Total Datagrams` : `${head}         Jitter    Lost/Total Datagrams`;
}

/**
 * The report of an interval every stream closed (`results`, one per stream in c.streams' order):
 * its JSON entry for "intervals" and its text lines.
 */
export function intervalReport(c: ReportContext, results: readonly IntervalResult[]): { json: Json; lines: string[] } {
  const lines: string[] = [];
  const streamsJson: Json[] = [];
  const json: Json = { streams: streamsJson };
  const first = c.streams[0]!;
  const firstInterval = results[0]!;
  for (const sender of senderModes(c)) {
    let bytes = 0;
    let retransmits = 0;
    let packets = 0;
    let lost = 0;
    let jitter = 0;
    c.streams.forEach((s, i) => {
      if (s.sender !== sender) return;
      const r = results[i]!;
      if (s === first) {
        // The header before the first interval only (not again after the omit period).
        if (s.intervals[0] === r) lines.push(intervalHeader(c));
        else if (c.numStreams > 1) lines.push(SEPARATOR);
      }
      const label = roleLabel(c, s.sender);
      const bps = r.seconds > 0 ? r.bytes / r.seconds : 0;
      const head = `[${d3(s.id)}]${label} ${f62(r.start)}-${f62l(r.end)} sec  ${bytesText(r.bytes)}  ${rateText(bps, c.format)}`;
      const omitted = r.omitted ? '(omitted)' : '';
      const base: Json = { socket: s.id, start: usec(r.start), end: usec(r.end), seconds: r.seconds, bytes: r.bytes, bits_per_second: bps * 8 };
      if (!c.udp) {
        if (c.ownRetransmits && s.sender) {
          streamsJson.push({ ...base, retransmits: r.retransmits, snd_cwnd: r.sndCwnd, snd_wnd: r.sndWnd, rtt: r.rtt, rttvar: r.rttvar, pmtu: r.pmtu, omitted: r.omitted, sender: s.sender });
          lines.push(`${head}  ${String(r.retransmits).padStart(3)}   ${bytesText(r.sndCwnd)}       ${omitted}`);
        } else {
          streamsJson.push({ ...base, omitted: r.omitted, sender: s.sender });
          lines.push(`${head}                  ${omitted}`);
        }
        retransmits += r.retransmits;
      } else if (s.sender) {
        streamsJson.push({ ...base, packets: r.packets, omitted: r.omitted, sender: s.sender });
        lines.push(`${head} ${c.bidirectional ? ' '.repeat(10) : ''} ${r.packets}  ${omitted}`);
        packets += r.packets;
      } else {
        const lostPercent = r.packets > 0 ? (100 * r.lost) / r.packets : 0;
        streamsJson.push({ ...base, jitter_ms: r.jitter * 1000, lost_packets: r.lost, packets: r.packets, lost_percent: lostPercent, omitted: r.omitted, sender: s.sender });
        lines.push(`${head}  ${(r.jitter * 1000).toFixed(3).padStart(5)} ms  ${r.lost}/${r.packets} (${percentG(lostPercent)}%)  ${omitted}`);
        packets += r.packets;
        lost += r.lost;
        jitter += r.jitter;
      }
      bytes += r.bytes;
    });
    // The sum takes its times from the test's first stream, as iperf3 does.
    const t = firstInterval;
    const bps = t.seconds > 0 ? bytes / t.seconds : 0;
    const name = `sum${reverseSuffix(c, sender)}`;
    const label = roleLabel(c, sender);
    const head = `[SUM]${label} ${f62(t.start)}-${f62l(t.end)} sec  ${bytesText(bytes)}  ${rateText(bps, c.format)}`;
    const omitted = t.omitted ? '(omitted)' : '';
    const base: Json = { start: usec(t.start), end: usec(t.end), seconds: t.seconds, bytes, bits_per_second: bps * 8 };
    let line: string;
    if (!c.udp) {
      if (c.ownRetransmits && sender) {
        json[name] = { ...base, retransmits, omitted: t.omitted, sender };
        line = `${head}  ${String(retransmits).padStart(3)}             ${omitted}`;
      } else {
        json[name] = { ...base, omitted: t.omitted, sender };
        line = `${head}                  ${omitted}`;
      }
    } else if (sender) {
      json[name] = { ...base, packets, omitted: t.omitted, sender };
      line = `${head} ${c.bidirectional ? ' '.repeat(10) : ''} ${packets}  ${omitted}`;
    } else {
      const avgJitter = jitter / c.numStreams;
      const lostPercent = packets > 0 ? (100 * lost) / packets : 0;
      json[name] = { ...base, jitter_ms: avgJitter * 1000, lost_packets: lost, packets, lost_percent: lostPercent, omitted: t.omitted, sender };
      line = `${head}  ${(avgJitter * 1000).toFixed(3).padStart(5)} ms  ${lost}/${packets} (${percentG(lostPercent)}%)  ${omitted}`;
    }
    if (c.numStreams > 1) lines.push(line);
  }
  return { json, lines };
}

/** The peer's count for this stream, where the results exchange gave one. */
const peerOf = (s: DataStream): StreamResult | null => s.peer;

/**
 * The end of the test: the JSON "end" object and the summary lines (from the separator to the
 * congestion controls; the client adds "iperf Done.").
 */
export function summaryReport(c: ReportContext, f: SummaryFigures): { json: Json; lines: string[] } {
  const lines: string[] = [SEPARATOR];
  const streamsJson: Json[] = [];
  const json: Json = { streams: streamsJson };
  const modes = senderModes(c);
  const onlyMode = c.bidirectional ? null : modes[0]!;
  // What iperf3 knows of the sender's retransmissions for each direction.
  const retransmitsFor = (sender: boolean): boolean => (sender ? c.ownRetransmits : c.peerRetransmits);
  if (c.verbose) lines.push('Test Complete. Summary Results:');
  const head = c.bidirectional ? TCP_INTERVAL_HEADER_BIDIR : TCP_INTERVAL_HEADER;
  if (!c.udp) {
    const any = onlyMode === null ? c.ownRetransmits || c.peerRetransmits : retransmitsFor(onlyMode);
    lines.push(any ? `${head}         Retr` : head);
  } else {
    lines.push(`${head}         Jitter    Lost/Total Datagrams`);
  }

  // Sender and receiver times: the first stream's own duration, the other side's from the exchange.
  const first = c.streams[0];
  const own = first ? (first.endMs - first.startMs) / 1000 : 0;
  const peer = first ? peerOf(first) : null;
  const peerTime = peer && Number.isFinite(peer.end_time) ? peer.end_time - peer.start_time : 0;
  const senderTime = first?.sender ? own : peerTime || own;
  const receiverTime = first?.sender ? peerTime || own : own;
  const server = c.role === 's';

  for (const sender of modes) {
    const label = roleLabel(c, sender);
    const hasRetransmits = retransmitsFor(sender);
    let totalSent = 0;
    let totalReceived = 0;
    let totalRetransmits = 0;
    let totalPackets = 0;
    let senderTotalPackets = 0;
    let receiverTotalPackets = 0;
    let lostPackets = 0;
    let jitterSum = 0;
    for (const s of c.streams) {
      if (s.sender !== sender) continue;
      const p = peerOf(s);
      const bytesSent = s.sender ? s.bytes : p?.bytes ?? 0;
      const bytesReceived = s.sender ? p?.bytes ?? 0 : s.bytes;
      totalSent += bytesSent;
      totalReceived += bytesReceived;
      // Both sides' datagram counts less this side's count when the omit period ended (as iperf3 does).
      const rawSenderPackets = s.sender ? s.packets : p?.packets ?? 0;
      const rawReceiverPackets = s.sender ? p?.packets ?? 0 : s.packets;
      const senderPackets = rawSenderPackets - s.omittedPackets;
      const receiverPackets = rawReceiverPackets - s.omittedPackets;
      const errors = (s.sender ? p?.errors ?? 0 : s.errors) - s.omittedErrors;
      const jitter = s.sender ? p?.jitter ?? 0 : s.jitter;
      const outOfOrder = s.outOfOrder - s.omittedOutOfOrder;
      const retransmits = s.sender ? s.retransmits : p?.retransmits ?? 0;
      const sent = { socket: s.id, start: 0, end: usec(senderTime), seconds: usec(senderTime), bytes: bytesSent, bits_per_second: senderTime > 0 ? (bytesSent * 8) / senderTime : 0 };
      const sentLine = `[${d3(s.id)}]${label} ${f62(0)}-${f62l(senderTime)} sec  ${bytesText(bytesSent)}  ${rateText(senderTime > 0 ? bytesSent / senderTime : 0, c.format)}`;
      const receivedRate = receiverTime > 0 ? bytesReceived / receiverTime : 0;
      const receivedLine = `[${d3(s.id)}]${label} ${f62(0)}-${f62l(receiverTime)} sec  ${bytesText(bytesReceived)}  ${rateText(receivedRate, c.format)}`;
      if (!c.udp) {
        if (hasRetransmits) totalRetransmits += retransmits;
        const entry: Json = {};
        entry.sender = hasRetransmits
          ? {
            ...sent, retransmits, max_snd_cwnd: s.sender ? s.maxSndCwnd : 0, max_snd_wnd: s.sender ? s.maxSndWnd : 0,
            max_rtt: s.sender ? s.maxRtt : 0, min_rtt: s.sender ? s.minRtt : 0, mean_rtt: s.sender ? s.meanRtt : 0, sender,
          }
          : { ...sent, sender };
        // "seconds" is the reporting side's own duration here (iperf3 writes end_time).
        entry.receiver = { socket: s.id, start: 0, end: usec(receiverTime), seconds: usec(own), bytes: bytesReceived, bits_per_second: receivedRate * 8, sender };
        streamsJson.push(entry);
        if (server && !s.sender) { if (c.verbose) lines.push(`[${d3(s.id)}] (sender statistics not available)`); } else {
          lines.push(hasRetransmits ? `${sentLine}  ${String(retransmits).padStart(3)}             sender` : `${sentLine}                  sender`);
        }
        if (server && s.sender) { if (c.verbose) lines.push(`[${d3(s.id)}] (receiver statistics not available)`); } else {
          lines.push(`${receivedLine}                  receiver`);
        }
      } else {
        // One packet count per stream: the sender's where this side has it, else the receiver's.
        const packets = (rawSenderPackets || rawReceiverPackets) - s.omittedPackets;
        totalPackets += packets;
        senderTotalPackets += senderPackets;
        receiverTotalPackets += receiverPackets;
        lostPackets += errors;
        jitterSum += jitter;
        const lostPercent = senderPackets > 0 ? (100 * errors) / senderPackets : 0;
        streamsJson.push({
          udp: { ...sent, jitter_ms: jitter * 1000, lost_packets: errors, packets, lost_percent: lostPercent, out_of_order: outOfOrder, sender },
        });
        if (server && !s.sender) { if (c.verbose) lines.push(`[${d3(s.id)}] (sender statistics not available)`); } else {
          lines.push(`${sentLine}  ${(0).toFixed(3).padStart(5)} ms  0/${senderPackets} (0%)  sender`);
        }
        if (outOfOrder > 0) lines.push(`[SUM]${label} ${0.0.toFixed(1).padStart(4)}-${senderTime.toFixed(1).padStart(4)} sec  ${outOfOrder} datagrams received out-of-order`);
        if (server && s.sender) { if (c.verbose) lines.push(`[${d3(s.id)}] (receiver statistics not available)`); } else {
          const receiverLost = receiverPackets > 0 ? (100 * errors) / receiverPackets : 0;
          lines.push(`${receivedLine}  ${(jitter * 1000).toFixed(3).padStart(5)} ms  ${errors}/${receiverPackets} (${percentG(receiverLost)}%)  receiver`);
        }
      }
    }

    const suffix = reverseSuffix(c, sender);
    const sentRate = senderTime > 0 ? totalSent / senderTime : 0;
    const receivedRate = receiverTime > 0 ? totalReceived / receiverTime : 0;
    const sumSent = { start: 0, end: usec(senderTime), seconds: usec(senderTime), bytes: totalSent, bits_per_second: sentRate * 8 };
    const sumReceived = { start: 0, end: usec(receiverTime), seconds: usec(receiverTime), bytes: totalReceived };
    const sentLine = `[SUM]${label} ${f62(0)}-${f62l(senderTime)} sec  ${bytesText(totalSent)}  ${rateText(sentRate, c.format)}`;
    const receivedLine = `[SUM]${label} ${f62(0)}-${f62l(receiverTime)} sec  ${bytesText(totalReceived)}  ${rateText(receivedRate, c.format)}`;
    const sumLines: string[] = [];
    if (!c.udp) {
      json[`sum_sent${suffix}`] = hasRetransmits ? { ...sumSent, retransmits: totalRetransmits, sender } : { ...sumSent, sender };
      json[`sum_received${suffix}`] = { ...sumReceived, bits_per_second: receivedRate * 8, sender };
      if (!(server && !sender)) sumLines.push(hasRetransmits ? `${sentLine}  ${String(totalRetransmits).padStart(3)}             sender` : `${sentLine}                  sender`);
      if (!(server && sender)) sumLines.push(`${receivedLine}                  receiver`);
    } else {
      const avgJitter = jitterSum / c.numStreams;
      const lostPercent = totalPackets > 0 ? (100 * lostPackets) / totalPackets : 0;
      // iperf3's original UDP summary: the bytes sent, over the receiver's time, at the sent rate.
      json[`sum${suffix}`] = {
        start: 0, end: usec(receiverTime), seconds: usec(receiverTime), bytes: totalSent, bits_per_second: sentRate * 8,
        jitter_ms: avgJitter * 1000, lost_packets: lostPackets, packets: totalPackets, lost_percent: lostPercent, sender,
      };
      json[`sum_sent${suffix}`] = { ...sumSent, jitter_ms: 0, lost_packets: 0, packets: senderTotalPackets, lost_percent: 0, sender: true };
      json[`sum_received${suffix}`] = {
        ...sumReceived, bits_per_second: receivedRate * 8, jitter_ms: avgJitter * 1000, lost_packets: lostPackets, packets: receiverTotalPackets,
        lost_percent: lostPercent, sender: false,
      };
      if (!(server && !sender)) sumLines.push(`${sentLine}  ${(0).toFixed(3).padStart(5)} ms  0/${senderTotalPackets} (0%)  sender`);
      if (!(server && sender)) {
        sumLines.push(`${receivedLine}  ${(avgJitter * 1000).toFixed(3).padStart(5)} ms  ${lostPackets}/${receiverTotalPackets} (${percentG(lostPercent)}%)  receiver`);
      }
    }
    if (c.numStreams > 1) lines.push(...sumLines);

    if (c.verbose) {
      if (sender) {
        const cpuLine = (localRole: boolean): string => `CPU Utilization: local/${localRole ? 'sender' : 'receiver'} ${f.cpu.cpu_util_total.toFixed(1)}% `
          + `(${f.cpu.cpu_util_user.toFixed(1)}%u/${f.cpu.cpu_util_system.toFixed(1)}%s), remote/${localRole ? 'receiver' : 'sender'} `
          + `${f.remoteCpu.cpu_util_total.toFixed(1)}% (${f.remoteCpu.cpu_util_user.toFixed(1)}%u/${f.remoteCpu.cpu_util_system.toFixed(1)}%s)`;
        lines.push(cpuLine(true));
        if (c.bidirectional) lines.push(cpuLine(false));
      }
      if (!c.udp) {
        const [snd, rcv] = sender ? [f.congestionUsed, f.remoteCongestionUsed] : [f.remoteCongestionUsed, f.congestionUsed];
        if (snd) lines.push(`snd_tcp_congestion ${snd}`);
        if (rcv) lines.push(`rcv_tcp_congestion ${rcv}`);
      }
    }
  }

  json.cpu_utilization_percent = {
    host_total: f.cpu.cpu_util_total, host_user: f.cpu.cpu_util_user, host_system: f.cpu.cpu_util_system,
    remote_total: f.remoteCpu.cpu_util_total, remote_user: f.remoteCpu.cpu_util_user, remote_system: f.remoteCpu.cpu_util_system,
  };
  if (!c.udp) {
    const lastSender = modes[modes.length - 1]!;
    const [snd, rcv] = lastSender ? [f.congestionUsed, f.remoteCongestionUsed] : [f.remoteCongestionUsed, f.congestionUsed];
    if (snd) json.sender_tcp_congestion = snd;
    if (rcv) json.receiver_tcp_congestion = rcv;
  }
  return { json, lines };
}

// ping's text as iputils prints it: round-trip times with three significant figures
// (0.123, 1.23, 12.3, 123 ms) and the statistics block at the end.

export interface PingCounts {
  transmitted: number;
  received: number;
  duplicates: number;
  /** ICMP errors about our requests, and requests the provider refused. */
  errors: number;
  /** Round-trip times of the first reply to each request, in milliseconds. */
  rtts: number[];
  /** From the first request to the last. */
  elapsedMs: number;
}

/** iputils' precision: three decimals under 1 ms, then one digit fewer per decade, whole from 100 ms. */
export function formatRtt(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** The lines after the replies: `--- host ping statistics ---`, the counts, and rtt min/avg/max/mdev when replies came. */
export function pingSummary(host: string, c: PingCounts): string[] {
  const loss = c.transmitted === 0 ? 0 : ((c.transmitted - c.received) * 100) / c.transmitted;
  const lines = [
    `--- ${host} ping statistics ---`,
    `${c.transmitted} packets transmitted, ${c.received} received${c.duplicates ? `, +${c.duplicates} duplicates` : ''}`
      + `${c.errors ? `, +${c.errors} errors` : ''}, ${+loss.toPrecision(6)}% packet loss, time ${Math.round(c.elapsedMs)}ms`,
  ];
  if (c.rtts.length > 0) {
    let min = Infinity, max = 0, sum = 0, squares = 0;
    for (const r of c.rtts) { min = Math.min(min, r); max = Math.max(max, r); sum += r; squares += r * r; }
    const avg = sum / c.rtts.length;
    const mdev = Math.sqrt(Math.max(0, squares / c.rtts.length - avg * avg));
    lines.push(`rtt min/avg/max/mdev = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)}/${mdev.toFixed(3)} ms`);
  }
  return lines;
}

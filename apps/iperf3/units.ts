// Bytes and bit rates the way iperf3 prints them (1024-based bytes, 1000-based rates).

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GBytes`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MBytes`;
  return `${(n / 1024).toFixed(2)} KBytes`;
}

export function formatRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbits/sec`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbits/sec`;
  return `${(bps / 1e3).toFixed(2)} Kbits/sec`;
}

// IPv4/IPv6 addresses as bytes (IPv4 in the first 4 of 16), parsed from and printed to text.
// Family-neutral so that AllowedIPs, endpoints and the cookie input treat both families alike.
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export interface ParsedIp {
  family: IpFamily;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/** Parses a literal IPv4 or IPv6 address (no brackets, no zone); null if it is not one. */
export function parseIp(text: string): ParsedIp | null {
  if (isIPv4(text)) return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  if (!isIPv6(text) || text.includes('%')) return null;
  let t = text;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (dotted) {
    const v4 = dotted[1]!.split('.').map(Number);
    t = t.slice(0, -dotted[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') as [string, string] : [t, undefined];
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const tl = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - tl.length).fill(0), ...tl];
  for (let i = 0; i < 8; i++) { out[2 * i] = all[i]! >>> 8; out[2 * i + 1] = all[i]! & 0xff; }
  return { family: 6, bytes: out };
}

export function formatIp(family: IpFamily, bytes: Uint8Array, offset = 0): string {
  if (family === 4) return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!).toString(16));
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes "::".
  let best = -1; let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

/** "198.19.0.0/16", "fd00::/64", or a bare address (a host route). Host bits are cleared, as wg does. */
export function parsePrefix(text: string): { family: IpFamily; bytes: Uint8Array; cidr: number } | null {
  const [addr, cidrText, extra] = text.trim().split('/');
  if (extra !== undefined || !addr) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const cidr = cidrText === undefined ? max : /^\d+$/.test(cidrText) ? Number(cidrText) : NaN;
  if (!(cidr >= 0 && cidr <= max)) return null;
  for (let i = cidr; i < max; i++) ip.bytes[i >>> 3]! &= ~(0x80 >>> (i & 7));
  return { family: ip.family, bytes: ip.bytes, cidr };
}

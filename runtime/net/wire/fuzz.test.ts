import { describe, expect, it } from 'vitest';
import { ArpPacket } from './arp.ts';
import { EthernetFrame, EtherType } from './ethernet.ts';
import { Icmpv4Packet } from './icmpv4.ts';
import { Ipv4Packet } from './ipv4.ts';
import { printFrame } from './print.ts';
import { TcpOptions, TcpSegment } from './tcp.ts';
import { UdpDatagram } from './udp.ts';
import { ARP, ARPREPLY, DATA, ECHO, FRAGNEEDED, hex, IPOPTS, SYN, SYNACK, TIMEEX, UDP, VLAN } from './fixtures.ts';

const eth = new EthernetFrame();
const arp = new ArpPacket();
const ip = new Ipv4Packet();
const tcp = new TcpSegment();
const udp = new UdpDatagram();
const icmp = new Icmpv4Packet();
const opts = new TcpOptions();

/** The stack's parse path: checks, then every getter; returns a number so nothing is optimised away. */
function parseAll(b: Uint8Array, off: number, len: number, verify: boolean): number {
  let acc = 0;
  if (EthernetFrame.check(b, off, len) !== null) return -1;
  eth.reset(b, off, len);
  acc += eth.dst + eth.src + eth.vlanTci;
  const po = eth.payloadOffset, pl = eth.payloadLength;
  if (eth.etherType === EtherType.ARP) {
    if (ArpPacket.check(b, po, pl) === null) {
      arp.reset(b, po, pl);
      acc += arp.operation + arp.senderHardwareAddr + arp.senderProtocolAddr + arp.targetHardwareAddr + arp.targetProtocolAddr;
    }
    return acc;
  }
  // Half the frames skip the IP checksum (as with offload) so mutations reach the transports.
  // Parse the IP payload as every transport, whatever the protocol says, to widen coverage.
  const e = Ipv4Packet.check(b, po, pl, verify);
  if (e !== null) return e;
  ip.reset(b, po, pl);
  acc += ip.src + ip.dst + ip.totalLength + ip.fragmentOffset + ip.ttl + ip.protocol + ip.optionsLength;
  const to = ip.payloadOffset, tl = ip.payloadLength;
  if (TcpSegment.check(b, to, tl, ip.src, ip.dst) === null || TcpSegment.check(b, to, tl) === null) {
    tcp.reset(b, to, tl);
    acc += tcp.seq + tcp.ack + tcp.flags + tcp.window + tcp.payloadLength;
    if (tcp.parseOptions(opts) !== null) throw new Error('check passed but options failed');
    acc += opts.mss + opts.sackCount + opts.tsVal;
  }
  if (UdpDatagram.check(b, to, tl, ip.src, ip.dst) === null) {
    udp.reset(b, to, tl);
    acc += udp.srcPort + udp.dstPort + udp.payloadLength;
  }
  if (Icmpv4Packet.check(b, to, tl) === null) {
    icmp.reset(b, to, tl);
    acc += icmp.type + icmp.code + icmp.identifier + icmp.nextHopMtu + icmp.quotedLength;
    if (icmp.isError) acc += Ipv4Packet.check(b, icmp.quotedOffset, icmp.quotedLength, false) ?? 0;
  }
  return acc;
}

describe('fuzz: parsers and printer never throw', () => {
  it('200k mutated/random frames (deterministic seed) through every parser and the printer in under 3 s', () => {
    let seed = 0x5eed1234;
    const rnd = () => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return seed >>> 0;
    };
    const seeds = [SYN, SYNACK, DATA, ARP, ARPREPLY, ECHO, FRAGNEEDED, TIMEEX, UDP, IPOPTS, VLAN].map(hex);
    const buf = new Uint8Array(256);
    const t0 = performance.now();
    let printed = 0, ok = 0;
    for (let n = 0; n < 200_000; n++) {
      const r = rnd();
      let len: number;
      if ((r & 15) === 0) {
        len = rnd() % 120; // pure random bytes
        for (let i = 0; i < len; i++) buf[i] = rnd() & 0xff;
      } else {
        const s = seeds[rnd() % seeds.length]!;
        buf.set(s);
        len = s.length;
        const muts = 1 + (rnd() % 4);
        for (let m = 0; m < muts; m++) {
          const k = rnd();
          const at = (k >>> 8) % len;
          switch (k & 3) {
            case 0: buf[at]! ^= 1 << ((k >>> 4) & 7); break;
            case 1: buf[at] = (k >>> 16) & 0xff; break;
            case 2: buf[at] = [0, 1, 2, 0x45, 0x4f, 0xff][(k >>> 16) % 6]!; break;
            case 3: len = at; break;
          }
        }
        if (len === 0 || (r & 0x30) === 0) len = Math.min(len + (rnd() % 8), buf.length);
      }
      if (parseAll(buf, 0, len, (r & 0x100) !== 0) >= 0) ok++;
      {
        const s = printFrame(buf, 0, len);
        if (s.includes('printer error')) throw new Error(`printer bug on ${Buffer.from(buf.subarray(0, len)).toString('hex')}: ${s}`);
        printed++;
      }
    }
    const ms = performance.now() - t0;
    expect(printed).toBe(200_000);
    expect(ok).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(3000);
  });
  it('all parsers tolerate lengths and offsets beyond the buffer', () => {
    const b = hex(SYN);
    for (let off = -2; off <= b.length + 2; off++) {
      for (const len of [-1, 0, 1, 8, 20, 28, 40, 1000]) {
        expect(() => {
          EthernetFrame.check(b, off, len); ArpPacket.check(b, off, len); Ipv4Packet.check(b, off, len);
          Icmpv4Packet.check(b, off, len); UdpDatagram.check(b, off, len, 1, 2); TcpSegment.check(b, off, len, 1, 2);
          printFrame(b, off, len);
        }).not.toThrow();
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { ArpOperation, ArpPacket, emitArp } from './arp.ts';
import { ParseError } from './parse-error.ts';
import { ARP, ARPREPLY, hex, IP_A, IP_B, MAC_1, MAC_2, toHex } from './fixtures.ts';

describe('arp (RFC 826)', () => {
  it('parses a padded broadcast request', () => {
    const b = hex(ARP);
    expect(b.length).toBe(60);
    expect(ArpPacket.check(b, 14, b.length - 14)).toBeNull();
    const p = new ArpPacket(b, 14, b.length - 14);
    expect(p.hardwareType).toBe(1);
    expect(p.protocolType).toBe(0x0800);
    expect(p.hardwareLength).toBe(6);
    expect(p.protocolLength).toBe(4);
    expect(p.operation).toBe(ArpOperation.REQUEST);
    expect(p.senderHardwareAddr).toBe(MAC_1);
    expect(p.senderProtocolAddr).toBe(IP_A);
    expect(p.targetHardwareAddr).toBe(0);
    expect(p.targetProtocolAddr).toBe(IP_B);
  });
  it('parses a reply via reset()', () => {
    const b = hex(ARPREPLY);
    const p = new ArpPacket().reset(b, 14, 28);
    expect(ArpPacket.check(b, 14, 28)).toBeNull();
    expect(p.operation).toBe(ArpOperation.REPLY);
    expect(p.senderHardwareAddr).toBe(MAC_2);
    expect(p.senderProtocolAddr).toBe(IP_B);
    expect(p.targetHardwareAddr).toBe(MAC_1);
    expect(p.targetProtocolAddr).toBe(IP_A);
  });
  it('emits byte-identical packets; setters turn a request into the reply', () => {
    const out = new Uint8Array(28);
    expect(emitArp(out, 0, ArpOperation.REQUEST, MAC_1, IP_A, 0, IP_B)).toBe(28);
    expect(toHex(out)).toBe(ARP.slice(28, 28 + 56));
    const p = new ArpPacket(out, 0, 28);
    p.operation = ArpOperation.REPLY;
    p.targetHardwareAddr = p.senderHardwareAddr;
    p.targetProtocolAddr = p.senderProtocolAddr;
    p.senderHardwareAddr = MAC_2;
    p.senderProtocolAddr = IP_B;
    expect(toHex(out)).toBe(ARPREPLY.slice(28));
  });
  it('rejects truncation and non-Ethernet/IPv4 or unknown operations', () => {
    const b = hex(ARP);
    for (let n = 0; n < 28; n++) expect(ArpPacket.check(b, 14, n)).toBe(ParseError.TRUNCATED);
    for (const [i, v] of [[15, 6], [16, 0x86], [18, 8], [19, 16], [21, 3], [20, 1]] as const) {
      const c = hex(ARP);
      c[i] = v;
      expect(ArpPacket.check(c, 14, 28)).toBe(ParseError.UNSUPPORTED);
    }
  });
});

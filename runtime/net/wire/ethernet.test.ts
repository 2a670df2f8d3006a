import { describe, expect, it } from 'vitest';
import { EtherType, EthernetFrame, emitEthernet } from './ethernet.ts';
import { ParseError } from './parse-error.ts';
import { ARP, hex, MAC_1, MAC_2, SYN, toHex, VLAN } from './fixtures.ts';

describe('ethernet (802.3 / 802.1Q)', () => {
  it('parses an untagged frame in place', () => {
    const b = hex(SYN);
    expect(EthernetFrame.check(b, 0, b.length)).toBeNull();
    const f = new EthernetFrame(b, 0, b.length);
    expect(f.dst).toBe(MAC_2);
    expect(f.src).toBe(MAC_1);
    expect(f.hasVlan).toBe(false);
    expect(f.vlanTci).toBe(-1);
    expect(f.vlanId).toBe(-1);
    expect(f.etherType).toBe(EtherType.IPV4);
    expect(f.headerLength).toBe(14);
    expect(f.payloadOffset).toBe(14);
    expect(f.payloadLength).toBe(b.length - 14);
  });
  it('parses one VLAN tag', () => {
    const b = hex(VLAN);
    expect(EthernetFrame.check(b, 0, b.length)).toBeNull();
    const f = new EthernetFrame().reset(b, 0, b.length);
    expect(f.hasVlan).toBe(true);
    expect(f.vlanTci).toBe(0x6064);
    expect(f.vlanId).toBe(100);
    expect(f.vlanPcp).toBe(3);
    expect(f.etherType).toBe(EtherType.IPV4);
    expect(f.headerLength).toBe(18);
    expect(f.payloadOffset).toBe(18);
  });
  it('re-points one view at another frame and at a non-zero offset', () => {
    const f = new EthernetFrame();
    const a = hex(ARP);
    f.reset(a, 0, a.length);
    expect(f.etherType).toBe(EtherType.ARP);
    expect(f.dst).toBe(0xffffffffffff);
    const slab = new Uint8Array(100 + a.length);
    slab.set(a, 100);
    f.reset(slab, 100, a.length);
    expect(f.src).toBe(MAC_1);
    expect(f.payloadOffset).toBe(114);
  });
  it('emits byte-identical headers, tagged and untagged', () => {
    const b = new Uint8Array(18);
    expect(emitEthernet(b, 0, MAC_2, MAC_1, EtherType.IPV4)).toBe(14);
    expect(toHex(b.subarray(0, 14))).toBe(SYN.slice(0, 28));
    expect(emitEthernet(b, 0, MAC_2, MAC_1, EtherType.IPV4, 0x6064)).toBe(18);
    expect(toHex(b)).toBe(VLAN.slice(0, 36));
  });
  it('setters write in place', () => {
    const b = hex(SYN);
    const f = new EthernetFrame(b, 0, b.length);
    f.dst = 0x0200000000ff;
    f.src = MAC_2;
    f.etherType = EtherType.ARP;
    expect(toHex(b.subarray(0, 14))).toBe('0200000000ff0200000000020806');
  });
  it('rejects every truncation without throwing', () => {
    for (const fx of [SYN, VLAN]) {
      const b = hex(fx);
      const min = fx === VLAN ? 18 : 14;
      for (let n = 0; n <= b.length; n++) {
        const e = EthernetFrame.check(b, 0, n);
        expect(e).toBe(n < min ? ParseError.TRUNCATED : null);
      }
    }
    expect(EthernetFrame.check(new Uint8Array(10), 0, 14)).toBe(ParseError.TRUNCATED);
    expect(EthernetFrame.check(new Uint8Array(20), -1, 14)).toBe(ParseError.TRUNCATED);
  });
});

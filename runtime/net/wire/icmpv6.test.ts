import { describe, expect, it } from 'vitest';
import {
  emitIcmpv6Echo, emitIcmpv6Error, emitMldRecord, emitMldv2Report, emitNdpLinkAddressOption, emitNdpNeighbor, fillIcmpv6Checksum, findNdpOption,
  Icmpv6Packet, Icmpv6Type, MLD_RECORD_LENGTH, MldRecordField, MldRecordType, NdpField, NdpNaFlags, NdpOption, NdpOptionField,
  NdpPrefixField, NdpPrefixFlags, ndpOptionsValid, nextNdpOption,
} from './icmpv6.ts';
import { ParseError } from './parse-error.ts';
import { pseudoHeaderSumV6At } from './checksum.ts';
import { get16, get32 } from './bytes.ts';
import { ECHO6, hex, MLD6, NA6, NS6, RA6, toHex } from './fixtures.ts';

const IP = 14;
const M = 14 + 40;

function sumOf(b: Uint8Array, at = M): number {
  return pseudoHeaderSumV6At(b, IP, 58, b.length - at);
}

describe('icmpv6 (RFC 4443)', () => {
  it('parses an echo request and checks its checksum over the pseudo-header', () => {
    const b = hex(ECHO6);
    expect(Icmpv6Packet.check(b, M, 16, sumOf(b))).toBeNull();
    const p = new Icmpv6Packet(b, M, 16);
    expect(p.type).toBe(Icmpv6Type.ECHO_REQUEST);
    expect(p.identifier).toBe(0x1234);
    expect(p.sequence).toBe(1);
    expect(p.isError).toBe(false);
    expect(p.dataLength).toBe(8);
    // A changed address breaks it: the pseudo-header is covered (RFC 4443 §2.3).
    const other = b.slice();
    other[IP + 8 + 15] ^= 1;
    expect(Icmpv6Packet.check(other, M, 16, sumOf(other))).toBe(ParseError.BAD_CHECKSUM);
    expect(Icmpv6Packet.check(other, M, 16, -1)).toBeNull();
    expect(Icmpv6Packet.check(b, M, 7, -1)).toBe(ParseError.TRUNCATED);
  });

  it('emits the same echo request', () => {
    const b = hex(ECHO6);
    const out = b.slice();
    out.fill(0, M, M + 8);
    emitIcmpv6Echo(out, M, Icmpv6Type.ECHO_REQUEST, 0x1234, 1, 8, sumOf(out));
    expect(toHex(out)).toBe(ECHO6);
  });

  it('emits errors with the MTU of a Packet Too Big and the pointer of a Parameter Problem in the second word', () => {
    const out = new Uint8Array(8 + 48);
    emitIcmpv6Error(out, 0, Icmpv6Type.PACKET_TOO_BIG, 0, 48, 1400, 0);
    expect(new Icmpv6Packet(out, 0, out.length).mtu).toBe(1400);
    expect(Icmpv6Packet.check(out, 0, out.length, 0)).toBeNull();
    emitIcmpv6Error(out, 0, Icmpv6Type.PARAMETER_PROBLEM, 1, 48, 42, 0);
    expect(new Icmpv6Packet(out, 0, out.length).pointer).toBe(42);
    expect(new Icmpv6Packet(out, 0, out.length).isError).toBe(true);
    emitIcmpv6Error(out, 0, Icmpv6Type.DEST_UNREACHABLE, 4, 48, 99, 0);
    expect(get32(out, 4)).toBe(0);
  });
});

describe('neighbor discovery messages (RFC 4861 §4)', () => {
  it('reads a solicitation: target and source link-layer address option', () => {
    const b = hex(NS6);
    expect(Icmpv6Packet.check(b, M, 32, sumOf(b))).toBeNull();
    expect(b[M]).toBe(Icmpv6Type.NEIGHBOR_SOLICITATION);
    expect(toHex(b.subarray(M + NdpField.TARGET, M + NdpField.TARGET + 16))).toBe('fe80000000000000000000fffe000001');
    expect(ndpOptionsValid(b, M + NdpField.NS_NA_OPTIONS, b.length)).toBe(true);
    const o = findNdpOption(b, M + NdpField.NS_NA_OPTIONS, b.length, NdpOption.SOURCE_LINK_ADDRESS);
    expect(o).toBe(M + 24);
    expect(toHex(b.subarray(o + NdpOptionField.LINK_ADDRESS, o + 8))).toBe('020000000002');
    expect(findNdpOption(b, M + NdpField.NS_NA_OPTIONS, b.length, NdpOption.TARGET_LINK_ADDRESS)).toBe(-1);
  });

  it('emits the same solicitation and advertisement', () => {
    for (const [frame, type, flags, option] of [
      [NS6, Icmpv6Type.NEIGHBOR_SOLICITATION, 0, NdpOption.SOURCE_LINK_ADDRESS],
      [NA6, Icmpv6Type.NEIGHBOR_ADVERTISEMENT, NdpNaFlags.SOLICITED | NdpNaFlags.OVERRIDE, NdpOption.TARGET_LINK_ADDRESS],
    ] as const) {
      const b = hex(frame);
      const out = b.slice();
      out.fill(0, M, M + 4);
      out.fill(0, M + 4, M + 8);
      out.fill(0, M + 24);
      emitNdpNeighbor(out, M, type, flags);
      emitNdpLinkAddressOption(out, M + 24, option, 0x0200, 2);
      fillIcmpv6Checksum(out, M, 32, sumOf(out));
      expect(toHex(out)).toBe(frame);
    }
  });

  it('walks a router advertisement: hop limit, lifetime, link-layer, MTU and prefix options', () => {
    const b = hex(RA6);
    expect(Icmpv6Packet.check(b, M, b.length - M, sumOf(b))).toBeNull();
    expect(b[M + NdpField.RA_CUR_HOP_LIMIT]).toBe(64);
    expect(get16(b, M + NdpField.RA_ROUTER_LIFETIME)).toBe(1800);
    const opts = M + NdpField.RA_OPTIONS;
    expect(ndpOptionsValid(b, opts, b.length)).toBe(true);
    const mtu = findNdpOption(b, opts, b.length, NdpOption.MTU);
    expect(get32(b, mtu + NdpOptionField.MTU)).toBe(1400);
    const p = findNdpOption(b, opts, b.length, NdpOption.PREFIX_INFORMATION);
    expect(b[p + NdpPrefixField.PREFIX_LENGTH]).toBe(64);
    expect(b[p + NdpPrefixField.FLAGS]! & (NdpPrefixFlags.ON_LINK | NdpPrefixFlags.AUTONOMOUS)).toBe(0xc0);
    expect(get32(b, p + NdpPrefixField.VALID_LIFETIME)).toBe(86400);
    expect(get32(b, p + NdpPrefixField.PREFERRED_LIFETIME)).toBe(14400);
    expect(nextNdpOption(b, p, b.length, NdpOption.PREFIX_INFORMATION)).toBe(-1);
  });

  it('§4.6: an option of length 0 or running past the message makes the options invalid', () => {
    const b = hex(RA6);
    const opts = M + NdpField.RA_OPTIONS;
    const zero = b.slice();
    zero[opts + 1] = 0;
    expect(ndpOptionsValid(zero, opts, zero.length)).toBe(false);
    expect(findNdpOption(zero, opts, zero.length, NdpOption.MTU)).toBe(-1);
    const long = b.slice();
    long[opts + 1] = 200;
    expect(ndpOptionsValid(long, opts, long.length)).toBe(false);
    expect(ndpOptionsValid(b, opts, b.length - 1)).toBe(false);
  });
});

describe('MLDv2 report (RFC 3810 §5.2)', () => {
  it('emits the report the generator built: one EXCLUDE-nothing record for a solicited-node group', () => {
    const b = hex(MLD6);
    const at = M + 8;
    const out = b.slice();
    out.fill(0, at);
    let n = emitMldv2Report(out, at, 1);
    emitMldRecord(out, at + n, MldRecordType.MODE_IS_EXCLUDE);
    out.set(b.subarray(at + n + MldRecordField.GROUP, at + n + MldRecordField.GROUP + 16), at + n + MldRecordField.GROUP);
    n += MLD_RECORD_LENGTH;
    fillIcmpv6Checksum(out, at, n, pseudoHeaderSumV6At(out, IP, 58, n));
    expect(toHex(out)).toBe(MLD6);
  });
});

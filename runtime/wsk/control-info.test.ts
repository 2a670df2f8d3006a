// The control-buffer layout against bytes written out by hand from ws2def.h's definitions for
// x64 (WSACMSGHDR { SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type; } = 16 bytes, data at 16,
// objects 8-byte aligned), not computed by the code under test.
import { describe, expect, it } from 'vitest';
import {
  CMSG_DATA, CMSG_FIRSTHDR, CMSG_LEN, CMSG_NXTHDR, CMSG_SPACE, IN6_PKTINFO, IN_PKTINFO, WSACMSGHDR, WSAMSG, WSA_CMSG_DATA,
  WSA_CMSG_FIRSTHDR, WSA_CMSG_LEN, WSA_CMSG_NXTHDR, WSA_CMSG_SPACE, buildControlInfo, cmsgInt, copyControlInfo, parseSendControl,
  RC_ECN, RC_PKTINFO, RC_PKTINFO6, RC_TOS, RC_TTL, setCmsgInt, checkStreamControl,
} from './control-info.ts';
import { RECV_PKTINFO, RECV_PKTINFO6, RECV_TOS, RECV_TTL, newDatagramInfo } from '../provider.ts';
import { AF_INET, AF_INET6 } from '../sockaddr.ts';
import { STATUS_INVALID_PARAMETER } from '../ntstatus.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));

// IN_PKTINFO for 198.18.0.3 on interface 2, then IP_TOS 0xb9 — as a Windows x64 stack lays it out:
//   cmsg_len 24 (SIZE_T), cmsg_level 0 (IPPROTO_IP), cmsg_type 19 (IP_PKTINFO), ipi_addr, ipi_ifindex
//   cmsg_len 20, level 0, type 3 (IP_TOS), INT 0xb9, 4 bytes of padding
const PKTINFO_AND_TOS = hex(`
  1800000000000000 00000000 13000000  c6120003 02000000
  1400000000000000 00000000 03000000  b9000000 00000000`);

describe('ws2def.h control buffers (x64 layout)', () => {
  it('WSA_CMSG_LEN/SPACE: data at 16, objects 8-byte aligned; the CMSG_* names are the same macros', () => {
    expect([WSA_CMSG_LEN(0), WSA_CMSG_LEN(4), WSA_CMSG_LEN(8), WSA_CMSG_LEN(20)]).toEqual([16, 20, 24, 36]);
    expect([WSA_CMSG_SPACE(0), WSA_CMSG_SPACE(4), WSA_CMSG_SPACE(8), WSA_CMSG_SPACE(20)]).toEqual([16, 24, 24, 40]);
    expect([CMSG_LEN(4), CMSG_SPACE(20)]).toEqual([20, 40]);
  });

  it('FIRSTHDR/NXTHDR/DATA walk a buffer Windows wrote; IN_PKTINFO and INT data read back', () => {
    const msg = WSAMSG();
    msg.Control.buf = PKTINFO_AND_TOS;
    msg.Control.len = PKTINFO_AND_TOS.byteLength;
    const seen: [number, number, number][] = [];
    for (let c = WSA_CMSG_FIRSTHDR(msg); c; c = WSA_CMSG_NXTHDR(msg, c)) seen.push([c.cmsg_len, c.cmsg_level, c.cmsg_type]);
    expect(seen).toEqual([[24, 0, 19], [20, 0, 3]]);
    const first = CMSG_FIRSTHDR(msg)!;
    const p = new IN_PKTINFO(CMSG_DATA(first));
    expect([Array.from(p.ipi_addr), p.ipi_ifindex]).toEqual([[198, 18, 0, 3], 2]);
    expect(cmsgInt(WSA_CMSG_DATA(CMSG_NXTHDR(msg, first)!))).toBe(0xb9);
    // Control.len too short for even one header: no objects.
    msg.Control.len = 15;
    expect(WSA_CMSG_FIRSTHDR(msg)).toBeNull();
    // A header claiming less than itself ends the walk instead of looping on itself.
    const bad = PKTINFO_AND_TOS.slice();
    bad[0] = 8;
    const m2 = WSAMSG();
    m2.Control = { len: bad.byteLength, buf: bad };
    expect(WSA_CMSG_NXTHDR(m2, WSA_CMSG_FIRSTHDR(m2))).toBeNull();
  });

  it('building a buffer through the helpers gives the same bytes (a port building IN_PKTINFO + IP_TOS)', () => {
    const b = new Uint8Array(WSA_CMSG_SPACE(8) + WSA_CMSG_SPACE(4));
    let len = 0;
    let c = new WSACMSGHDR(b, len);
    c.cmsg_level = 0; c.cmsg_type = 19; c.cmsg_len = WSA_CMSG_LEN(8);
    const p = new IN_PKTINFO(WSA_CMSG_DATA(c));
    p.ipi_addr = Uint8Array.of(198, 18, 0, 3);
    p.ipi_ifindex = 2;
    len += WSA_CMSG_SPACE(8);
    c = new WSACMSGHDR(b, len);
    c.cmsg_level = 0; c.cmsg_type = 3; c.cmsg_len = WSA_CMSG_LEN(4);
    setCmsgInt(WSA_CMSG_DATA(c), 0xb9);
    expect(Buffer.from(b).toString('hex')).toBe(Buffer.from(PKTINFO_AND_TOS).toString('hex'));
    // IN6_PKTINFO: 16 address bytes then the index.
    const six = new Uint8Array(20);
    const q = new IN6_PKTINFO(six);
    q.ipi6_addr = hex('fd000198001800000000000000000002');
    q.ipi6_ifindex = 7;
    expect(Buffer.from(six).toString('hex')).toBe('fd00019800180000000000000000000207000000');
  });

  it('received control info: the objects the options ask for, in the x64 layout', () => {
    const info = newDatagramInfo();
    info.present = RECV_PKTINFO | RECV_TOS | RECV_TTL;
    info.local.set([198, 18, 0, 3]);
    info.ifIndex = 2;
    info.tos = 0xb9;
    info.ttl = 63;
    expect(buildControlInfo(RC_PKTINFO | RC_TOS, info)).toEqual(PKTINFO_AND_TOS);
    // IP_ECN: the two low bits as an INT, type 50; IP_HOPLIMIT: the TTL as IP_TTL (4).
    expect(Buffer.from(buildControlInfo(RC_ECN | RC_TTL, info)!).toString('hex')).toBe(
      '1400000000000000' + '00000000' + '32000000' + '01000000' + '00000000'
      + '1400000000000000' + '00000000' + '04000000' + '3f000000' + '00000000');
    // Nothing asked, or nothing known: no buffer at all (ControlInfo NULL).
    expect(buildControlInfo(0, info)).toBeNull();
    expect(buildControlInfo(RC_PKTINFO6, info)).toBeNull();
    info.present = RECV_PKTINFO6;
    info.local.set(hex('fd000198001800000000000000000002'));
    expect(Buffer.from(buildControlInfo(RC_PKTINFO6, info)!).toString('hex')).toBe(
      '2400000000000000' + '29000000' + '13000000' + 'fd000198001800000000000000000002' + '02000000' + '00000000');
  });

  it('copying into a short WskReceiveFrom buffer keeps whole objects and says what was cut', () => {
    // All 48 bytes; then the first object only (24 < 48: truncated); then nothing.
    expect(copyControlInfo(PKTINFO_AND_TOS, new Uint8Array(48), 48)).toBe(48);
    const out = new Uint8Array(40);
    expect(copyControlInfo(PKTINFO_AND_TOS, out, 40)).toBe(24);
    expect(out.subarray(0, 24)).toEqual(PKTINFO_AND_TOS.subarray(0, 24));
    expect(copyControlInfo(PKTINFO_AND_TOS, null, 48)).toBe(0);
  });

  it('send control: IN_PKTINFO, IP_TOS and IP_ECN are read; unknown, malformed or wrong-level objects are STATUS_INVALID_PARAMETER', () => {
    const v4 = { family: AF_INET, address: Uint8Array.of(198, 18, 0, 1), port: 9 } as const;
    expect(parseSendControl(AF_INET, v4, PKTINFO_AND_TOS.byteLength, PKTINFO_AND_TOS))
      .toEqual({ source: Uint8Array.of(198, 18, 0, 3), ifIndex: 2, tos: 0xb9 });
    expect(parseSendControl(AF_INET, v4, 0, null)).toBeNull();
    // IP_ECN alone: DSCP 0, the ECN bits given.
    const ecn = new Uint8Array(24);
    const h = new WSACMSGHDR(ecn);
    h.cmsg_len = 20; h.cmsg_level = 0; h.cmsg_type = 50;
    setCmsgInt(WSA_CMSG_DATA(h), 2);
    expect(parseSendControl(AF_INET, v4, 24, ecn)).toEqual({ source: null, ifIndex: 0, tos: 2 });
    // Unknown type (IP_TTL as a send object), bad cmsg_len, length past the buffer, a trailing half header.
    const ttl = ecn.slice(); new WSACMSGHDR(ttl).cmsg_type = 4;
    expect(parseSendControl(AF_INET, v4, 24, ttl)).toBe(STATUS_INVALID_PARAMETER);
    const short = ecn.slice(); new WSACMSGHDR(short).cmsg_len = 8;
    expect(parseSendControl(AF_INET, v4, 24, short)).toBe(STATUS_INVALID_PARAMETER);
    expect(parseSendControl(AF_INET, v4, 64, ecn)).toBe(STATUS_INVALID_PARAMETER);
    expect(parseSendControl(AF_INET, v4, 24 + 8, Uint8Array.from([...ecn, 0, 0, 0, 0, 0, 0, 0, 0]))).toBe(STATUS_INVALID_PARAMETER);
    expect(parseSendControl(AF_INET, v4, 24, null)).toBe(STATUS_INVALID_PARAMETER);
    // IPV6_PKTINFO (level 41, type 19) on an AF_INET socket: not an option of that family.
    const six = new Uint8Array(40);
    const h6 = new WSACMSGHDR(six);
    h6.cmsg_len = 36; h6.cmsg_level = 41; h6.cmsg_type = 19;
    expect(parseSendControl(AF_INET, v4, 40, six)).toBe(STATUS_INVALID_PARAMETER);
    // On a dual-stack socket to a v4-mapped destination a v4-mapped IN6_PKTINFO source becomes IPv4.
    new IN6_PKTINFO(WSA_CMSG_DATA(h6)).ipi6_addr = hex('00000000000000000000ffffc6120003');
    const mapped = { family: AF_INET6, address: hex('00000000000000000000ffffc6120001'), port: 9 } as const;
    expect(parseSendControl(AF_INET6, mapped, 40, six)).toEqual({ source: Uint8Array.of(198, 18, 0, 3), ifIndex: 0, tos: -1 });
    // ... and IN_PKTINFO is refused towards a native IPv6 destination.
    const native = { family: AF_INET6, address: hex('fd000198001800000000000000000001'), port: 9 } as const;
    expect(parseSendControl(AF_INET6, native, PKTINFO_AND_TOS.byteLength, PKTINFO_AND_TOS)).toBe(STATUS_INVALID_PARAMETER);
  });

  it('connection sockets: well-formed objects are "objects", malformed ones STATUS_INVALID_PARAMETER', () => {
    expect(checkStreamControl(0, null)).toBe('none');
    expect(checkStreamControl(PKTINFO_AND_TOS.byteLength, PKTINFO_AND_TOS)).toBe('objects');
    expect(checkStreamControl(10, PKTINFO_AND_TOS)).toBe(STATUS_INVALID_PARAMETER);
  });
});

// TCP mechanisms one at a time: hand-built segments go in through a HandLink, the segments the
// engine emits are checked field by field (test/helpers/tcp-checker.ts, like gVisor's checker).
// Every test cites the RFC section it checks and ends by closing the stack with no slot leaked.
import { describe, expect, it } from 'vitest';
import {
  ACK, buildIcmpErrorAbout, Recorder, buildSegment, describeSegment, expectSegment, FIN, FULL_SYN_OPTIONS, fixTcpChecksum, PEER, PSH, pattern, Rig,
  RST, seqAdd, SYN, TCP_AT, type PeerConn, type SegOptions, type Segment,
} from '../../../test/helpers/tcp-checker.ts';
import { TcpState, type Tcb } from './tcb.ts';
import type { TcpOptionsConfig } from './tcp-engine.ts';
import { tsNow } from './tcp-output.ts';
import { parseIpv4 } from '../wire/bytes.ts';
import { runTransfer } from '../../../test/helpers/tcp-transfer-sim.ts';
import { STATUS_CONNECTION_RESET, STATUS_HOST_UNREACHABLE, STATUS_IO_TIMEOUT, STATUS_SUCCESS } from '../../ntstatus.ts';

/** Our next sequence number as the peer sees it (unsigned). */
function ourNxt(c: PeerConn): number { return c.tcb.sndNxt >>> 0; }

describe('TCP segments, closed port (RFC 9293 §3.10.7.1)', () => {
  it('RFC 9293 §3.10.7.1: a SYN to a closed port gets RST|ACK with SEQ 0 and ACK = SEG.SEQ + SEG.LEN', () => {
    const r = new Rig();
    r.receive(buildSegment({ srcPort: 40000, dstPort: 81, seq: 0xfffffff0, flags: SYN, options: { mss: 1460 } }));
    r.expectOne({ flags: RST | ACK, seq: 0, ack: 0xfffffff1, srcPort: 81, dstPort: 40000, dst: PEER, payloadLength: 0 });
    expect(r.engine.counters.noListener).toBe(1);
    // With data (and FIN) the ACK covers all of it.
    r.receive(buildSegment({ srcPort: 40000, dstPort: 81, seq: 100, flags: SYN | FIN, payload: pattern(10) }));
    r.expectOne({ flags: RST | ACK, seq: 0, ack: 112 });
    r.finish();
  });

  it('RFC 9293 §3.10.7.1: an ACK to a closed port gets RST with SEQ = SEG.ACK (no ACK flag)', () => {
    const r = new Rig();
    r.receive(buildSegment({ srcPort: 40000, dstPort: 81, seq: 5000, ack: 0x87654321, flags: ACK, payload: pattern(20) }));
    r.expectOne({ flags: RST, seq: 0x87654321, srcPort: 81, dstPort: 40000 });
    r.finish();
  });

  it('RFC 9293 §3.10.7.1: a RST to a closed port is dropped, nothing is sent', () => {
    const r = new Rig();
    r.receive(buildSegment({ dstPort: 81, seq: 1, flags: RST }));
    r.receive(buildSegment({ dstPort: 81, seq: 1, ack: 2, flags: RST | ACK }));
    r.expectNone();
    expect(r.engine.counters.resetsSent).toBe(0);
    r.finish();
  });
});

describe('TCP segments, passive open options (RFC 9293 §3.5, RFC 7323, RFC 2018)', () => {
  it('RFC 9293 §3.7.1 / RFC 7323 §2.2, §3.2 / RFC 2018 §2: the SYN-ACK carries MSS 1460 (MTU 1500), window scale, SACK-permitted and timestamps echoing our TSval', () => {
    const r = new Rig();
    const { conn, synAck } = r.passiveOpen({ options: { mss: 1460, ws: 7, sackPermitted: true, ts: [0x11223344, 0] } });
    // 256 KiB receive buffer: shift 3 is the smallest with 65535 << shift >= 262144.
    const s = synAck;
    expect(s.options).toMatchObject({ mss: 1460, ws: 3, sackPermitted: true });
    expect(s.options.ts?.[1]).toBe(0x11223344);
    expect(s.window).toBe(65535); // never scaled in a SYN
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    expect(conn.tcb.mss).toBe(1460 - 12);
    // After the handshake our window is scaled by 3.
    conn.sendData(pattern(1000), { flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq, window: Math.floor((256 * 1024 - 1000) / 8), options: { ts: [undefined, conn.tsVal] } });
    r.finish();
  });

  it('RFC 7323 §2.2 / RFC 9293 §3.7.1: to a SYN without options the SYN-ACK has only MSS, and the window stays unscaled afterwards', () => {
    const r = new Rig();
    const { conn, synAck } = r.passiveOpen({ options: {} });
    expect(synAck.options).toEqual({ mss: 1460 });
    expect(conn.tcb.mss).toBe(536); // RFC 9293 §3.7.1: default send MSS when none was announced
    conn.sendData(pattern(1000), { flags: ACK | PSH });
    // Unscaled: the 16-bit field is the window itself (capped at 65535), no TS option.
    r.expectOne({ flags: ACK, ack: conn.seq, window: 65535, onlyOptions: [] });
    r.finish();
  });
});

describe('TCP segments, SYN cookies (RFC 4987 §3.6; options in the timestamp as Linux net/ipv4/syncookies.c)', () => {
  /**
   * A listener with backlog 1 whose SYN queue a first SYN (port 39999) fills, so every further SYN
   * is answered with a cookie; returns the normal SYN-ACK that first SYN got, for comparison.
   */
  function cookieRig(tcp: Partial<TcpOptionsConfig> = {}): { r: Rig; normal: Segment } {
    const r = new Rig(tcp);
    r.listen(80, 1);
    r.receive(buildSegment({ srcPort: 39999, dstPort: 80, seq: 0x5000, flags: SYN, options: FULL_SYN_OPTIONS }));
    const normal = r.expectOne({ flags: SYN | ACK, ack: 0x5001 }, 'normal SYN-ACK (fills the SYN queue)');
    expect(r.listener!.synQueue).toBe(1);
    return { r, normal };
  }

  /** Sends the SYN from port 40000 (ISN 0x10000000) and returns the cookie SYN-ACK. */
  function cookieSynAck(r: Rig, options: SegOptions): Segment {
    const before = r.engine.counters.synCookiesSent;
    r.receive(buildSegment({ srcPort: 40000, dstPort: 80, seq: 0x10000000, flags: SYN, options }));
    const s = r.expectOne({ flags: SYN | ACK, ack: 0x10000001 }, 'cookie SYN-ACK');
    expect(r.engine.counters.synCookiesSent).toBe(before + 1);
    return s;
  }

  /** The peer's final ACK of the handshake (seq ISN + 1, ack cookie + 1) with these options. */
  function cookieAck(r: Rig, synAck: Segment, options: SegOptions): void {
    r.receive(buildSegment({ srcPort: 40000, dstPort: 80, seq: 0x10000001, ack: seqAdd(synAck.seq, 1), flags: ACK, options }));
  }

  function negotiated(t: Tcb): object {
    return { state: t.stateName, sndShift: t.sndShift, rcvShift: t.rcvShift, sack: t.sackEnabled, ts: t.tsEnabled, mss: t.mss, sndWnd: t.sndWnd };
  }

  it('RFC 4987 §3.6 / RFC 7323 §2–3 / RFC 2018 §2: a SYN with ws 7, SACK-permitted and timestamps gets a cookie SYN-ACK with the options a normal SYN-ACK has, its TSval (<= our clock) carrying ws 7 and SACK in the low 6 bits; the final ACK opens a connection that scales, SACKs and timestamps like a normal one', () => {
    const { r, normal } = cookieRig();
    const { conn, synAck } = r.passiveOpen({ options: { mss: 1460, ws: 7, sackPermitted: true, ts: [0x11223344, 0] }, ackWindow: 1000 });
    expect(r.engine.counters.synCookiesSent).toBe(1);
    expect(r.engine.counters.synCookiesAccepted).toBe(1);
    expectSegment(synAck, {
      window: normal.window, onlyOptions: ['mss', 'ws', 'sackPermitted', 'ts'],
      options: { mss: normal.options.mss!, ws: normal.options.ws!, sackPermitted: true, ts: [undefined, 0x11223344] },
    }, 'cookie SYN-ACK');
    const tsVal = synAck.options.ts![0];
    expect(tsVal & 63).toBe(0x10 | 7); // Linux cookie_init_timestamp: SACK bit 4, window scale bits 0-3
    expect((tsNow(r.engine) - tsVal) >>> 0).toBeLessThan(64); // its clock, low bits replaced, never ahead
    const t = conn.tcb;
    expect(negotiated(t)).toEqual({ state: 'ESTABLISHED', sndShift: 7, rcvShift: 3, sack: true, ts: true, mss: 1448, sndWnd: 1000 << 7 });

    // The peer's data before we sent anything: TS.Recent follows it and our window is scaled by 3.
    conn.tsVal += 5;
    conn.sendData(pattern(1000), { flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq, window: (256 * 1024 - 1000) >> 3, options: { ts: [undefined, conn.tsVal] } }, 'ACK of in-order data', conn);
    // Out of order: the ACK carries a SACK block (RFC 2018 §4).
    conn.send({ seq: seqAdd(conn.seq, 1000), payload: pattern(500), flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq, options: { sack: [[seqAdd(conn.seq, 1000), seqAdd(conn.seq, 1500)]] } }, 'ACK with a SACK block', conn);
    conn.sendData(pattern(1000, 3), { flags: ACK | PSH });
    conn.seq = seqAdd(conn.seq, 500);
    r.expectOne({ flags: ACK, ack: conn.seq, options: { sack: null } }, 'ACK over the filled hole', conn);

    // Our sender: 1000 << 7 lets six full segments out (1000 bytes unscaled would not let one).
    const data = pattern(6 * 1448);
    r.engine.send(t, [data], false, null);
    const out = r.take();
    expect(out.map((s) => s.payload.length)).toEqual([1448, 1448, 1448, 1448, 1448, 1448]);
    for (const s of out) {
      expectSegment(s, { options: { ts: [undefined, conn.tsVal] } }, 'data segment');
      expect(((s.options.ts![0] - tsVal) | 0) >= 0, 'TSval went back from the cookie\'s').toBe(true);
    }
    // SACK blocks from the peer: the holes S0 and S2 are retransmitted, nothing else (RFC 6675 §5).
    const s = (i: number): number => seqAdd(conn.ack, i * 1448);
    conn.send({ options: { sack: [[s(3), s(6)], [s(1), s(2)]] } });
    expect(r.take().map((x) => [x.seq, x.payload.length])).toEqual([[s(0), 1448], [s(2), 1448]]);
    // All acknowledged with a window of 3 << 7: of 1000 more bytes exactly 384 leave.
    const end = s(6);
    conn.ackTo(end, { window: 3 });
    r.engine.send(t, [pattern(1000, 2)], false, null);
    expect(r.take().map((x) => [x.seq, x.payload.length, t.sndWnd])).toEqual([[end, 384, 384]]);
    r.finish();
  });

  it('RFC 4987 §3.6: without timestamps in the SYN (or with them switched off here) nothing brings the other options back, so the cookie SYN-ACK offers only the MSS, as Linux\'s; the connection runs unscaled, without SACK or timestamps', () => {
    for (const [tcp, options] of [[{}, { mss: 1400, ws: 7, sackPermitted: true }], [{ timestamps: false }, { ...FULL_SYN_OPTIONS, mss: 1400 }]] as const) {
      const { r, normal } = cookieRig(tcp);
      const { conn, synAck } = r.passiveOpen({ options });
      expectSegment(synAck, { window: 65535, onlyOptions: ['mss'], options: { mss: normal.options.mss! } }, 'cookie SYN-ACK');
      expect(negotiated(conn.tcb)).toEqual({ state: 'ESTABLISHED', sndShift: 0, rcvShift: 0, sack: false, ts: false, mss: 1400, sndWnd: 65535 });
      conn.sendData(pattern(1400), { flags: ACK | PSH }); // one MSS: the window update is due (RFC 1122 §4.2.3.3)
      r.expectOne({ flags: ACK, ack: conn.seq, window: 65535, onlyOptions: [] }, 'unscaled ACK');
      r.finish();
    }
  });

  it('RFC 4987 §3.6 / RFC 9293 §3.10.7.2: an ACK whose cookie does not check out (off by one, another client ISN), with timestamps or without, gets a reset, is counted and opens nothing; the genuine ACK still opens the connection', () => {
    const { r } = cookieRig();
    const synAck = cookieSynAck(r, FULL_SYN_OPTIONS);
    const good = seqAdd(synAck.seq, 1);
    const tsVal = synAck.options.ts![0];
    let n = 0;
    for (const [what, seq, ack] of [['cookie + 1', 0x10000001, seqAdd(good, 1)], ['another client ISN', 0x10000002, good]] as const) {
      for (const options of [{ ts: [1001, tsVal] as [number, number] }, {}]) {
        r.receive(buildSegment({ srcPort: 40000, dstPort: 80, seq, ack, flags: ACK, options }));
        r.expectOne({ flags: RST, seq: ack }, `reset for ${what}${options.ts ? ' with timestamps' : ''}`);
        expect(r.engine.counters.synCookiesFailed).toBe(++n);
      }
    }
    expect(r.engine.counters.synCookiesAccepted).toBe(0);
    expect(r.accepted).toHaveLength(0);
    cookieAck(r, synAck, { ts: [1001, tsVal] });
    r.expectNone('after the genuine ACK');
    expect(r.accepted).toHaveLength(1);
    expect(negotiated(r.accepted[0]!)).toMatchObject({ state: 'ESTABLISHED', sndShift: 7, sack: true, ts: true });
    r.finish();
  });

  it('Linux cookie_timestamp_decode: the echoed TSecr is believed only for options enabled here and only if it is a TSval we could have sent within the cookie\'s life; a TSecr from the future, one too old, or bits for SACK or window scaling switched off here get a reset', () => {
    // SACK off here: the SYN's timestamps alone are offered back; bits 0x0f = no window scale, no SACK.
    {
      const { r } = cookieRig({ sack: false });
      const synAck = cookieSynAck(r, { mss: 1460, ts: [1000, 0] });
      expect(synAck.options).toEqual({ mss: 1460, ts: [synAck.options.ts![0], 1000] });
      const tsVal = synAck.options.ts![0];
      expect(tsVal & 63).toBe(0x0f);
      const rejected: [string, number][] = [
        ['SACK and ws 7 bits set', ((tsVal & ~63) | 0x10 | 7) >>> 0],
        ['TSecr 1024 ms in the future', (tsVal + 1024) >>> 0],
        ['TSecr older than a cookie lives', (tsVal - 2 * 64_000 - 1024) >>> 0],
      ];
      for (const [what, tsEcr] of rejected) {
        cookieAck(r, synAck, { ts: [1001, tsEcr] });
        r.expectOne({ flags: RST, seq: seqAdd(synAck.seq, 1) }, `reset: ${what}`);
      }
      expect(r.engine.counters.synCookiesFailed).toBe(rejected.length);
      expect(r.accepted).toHaveLength(0);
      cookieAck(r, synAck, { ts: [1001, tsVal] });
      r.expectNone('after the genuine ACK');
      expect(negotiated(r.accepted[0]!)).toMatchObject({ state: 'ESTABLISHED', sndShift: 0, rcvShift: 0, sack: false, ts: true });
      r.finish();
    }
    // Window scaling off here: window scale bits in the echo get a reset.
    {
      const { r } = cookieRig({ windowScaling: false });
      const synAck = cookieSynAck(r, FULL_SYN_OPTIONS);
      expect(synAck.options.ws).toBeUndefined();
      const tsVal = synAck.options.ts![0];
      expect(tsVal & 63).toBe(0x10 | 0x0f);
      cookieAck(r, synAck, { ts: [1001, ((tsVal & ~63) | 0x10 | 7) >>> 0] });
      r.expectOne({ flags: RST, seq: seqAdd(synAck.seq, 1) }, 'reset: ws bits with window scaling off');
      cookieAck(r, synAck, { ts: [1001, tsVal] });
      r.expectNone('after the genuine ACK');
      expect(negotiated(r.accepted[0]!)).toMatchObject({ sndShift: 0, rcvShift: 0, sack: true, ts: true });
      r.finish();
    }
    // Everything on here: like Linux, bits the SYN did not have are believed (only the peer's own
    // echo can set them), but never beyond what a SYN could ask: the 4 bits stop at shift 14
    // (RFC 7323 §2.3), so 65535 << 14 stays a positive int32; the ECN bit is ignored (no ECN here).
    {
      const { r } = cookieRig();
      const synAck = cookieSynAck(r, { mss: 1460, ts: [1000, 0] });
      const tsVal = synAck.options.ts![0];
      r.clock.runFor(100); // a round trip, so that no value of the low 6 bits puts the echo ahead of our clock
      cookieAck(r, synAck, { ts: [1001, ((tsVal & ~63) | 0x20 | 0x10 | 14) >>> 0] });
      r.expectNone('after the ACK with tampered bits');
      const t = r.accepted[0]!;
      expect(negotiated(t)).toMatchObject({ state: 'ESTABLISHED', sndShift: 14, sack: true, ts: true, sndWnd: 65535 << 14 });
      expect(t.sndWnd).toBeGreaterThan(0);
      r.finish();
    }
  });
});

describe('TCP segments, blind in-window attacks (RFC 5961)', () => {
  it('RFC 5961 §3.2: an in-window RST with SEQ != RCV.NXT gets a challenge ACK and the connection survives; an exact RST closes it', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    conn.send({ flags: RST, seq: seqAdd(conn.seq, 1000), ack: 0 });
    r.expectOne({ flags: ACK, seq: ourNxt(conn), ack: conn.seq, payloadLength: 0 }, 'challenge ACK');
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    expect(conn.events.closed).toBeNull();
    expect(r.engine.counters.challengeAcks).toBe(1);
    // Out of window: silently dropped.
    conn.send({ flags: RST, seq: seqAdd(conn.seq, 0x40000000) });
    r.expectNone('out-of-window RST');
    // Exact.
    conn.send({ flags: RST, seq: conn.seq });
    r.expectNone('after the exact RST');
    expect(conn.events.closed).toBe(STATUS_CONNECTION_RESET);
    expect(r.engine.size).toBe(0);
    r.finish();
  });

  it('RFC 5961 §4.2: a SYN on an established connection gets a challenge ACK; the connection survives', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    conn.send({ flags: SYN, seq: seqAdd(conn.seq, 77), options: { mss: 1460 } });
    r.expectOne({ flags: ACK, seq: ourNxt(conn), ack: conn.seq }, 'challenge ACK');
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    expect(conn.events.closed).toBeNull();
    r.finish();
  });

  it('RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND gets a challenge ACK and is dropped; an old ACK inside the range is ignored', () => {
    const r = new Rig();
    // No window scaling from the peer, window 1000: MAX.SND.WND = 1000.
    const { conn } = r.passiveOpen({ options: { mss: 1460 }, window: 1000 });
    expect(conn.tcb.maxSndWnd).toBe(1000);
    const una = conn.tcb.sndUna >>> 0;
    conn.sendData(pattern(10), { ack: seqAdd(una, -5000) });
    r.expectOne({ flags: ACK, seq: una, ack: seqAdd(conn.seq, -10) }, 'challenge ACK');
    expect(conn.tcb.rcvQueued).toBe(0); // the data was dropped with the segment
    conn.seq = seqAdd(conn.seq, -10);
    conn.send({ ack: seqAdd(una, -500) });
    r.expectNone('old ACK within MAX.SND.WND');
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    r.finish();
  });

  it('RFC 5961 §7: challenge ACKs are rate-limited (challengeAckLimit per second); further ones are dropped', () => {
    const r = new Rig({ challengeAckLimit: 2 });
    const { conn } = r.passiveOpen();
    for (let i = 1; i <= 4; i++) conn.send({ flags: RST, seq: seqAdd(conn.seq, 100 * i) });
    expect(r.take().length).toBe(2);
    expect(r.engine.counters.challengeAcks).toBe(2);
    expect(r.engine.counters.challengeAcksLimited).toBe(2);
    r.clock.runFor(1000);
    conn.send({ flags: RST, seq: seqAdd(conn.seq, 500) });
    r.expectOne({ flags: ACK, ack: conn.seq }, 'challenge ACK in the next second');
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    r.finish();
  });
});

describe('TCP segments, acceptability and PAWS (RFC 9293 §3.10.7.4, RFC 7323 §5)', () => {
  it('RFC 9293 §3.10.7.4: data outside the receive window gets an immediate duplicate ACK and is not delivered', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    const rcvNxt = conn.seq;
    conn.send({ seq: seqAdd(rcvNxt, 600_000), payload: pattern(100), flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: rcvNxt, seq: ourNxt(conn), payloadLength: 0 }, 'duplicate ACK');
    // An old duplicate (entirely below RCV.NXT) too.
    conn.sendData(pattern(100), { flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq });
    r.engine.take(conn.tcb);
    conn.send({ seq: rcvNxt, payload: pattern(100), flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq }, 'duplicate ACK for old data');
    expect(conn.tcb.rcvQueued).toBe(0);
    expect(conn.tcb.bytesIn).toBe(100);
    r.finish();
  });

  it('RFC 7323 §5.3: a segment whose TSval is older than TS.Recent is dropped with an ACK (PAWS)', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    conn.sendData(pattern(100), { flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq, options: { ts: [undefined, conn.tsVal] } }, 'ACK', conn);
    r.engine.take(conn.tcb);
    const before = conn.seq;
    conn.send({ payload: pattern(100), flags: ACK | PSH, options: { ts: [conn.tsVal - 10, conn.tsEcr] } });
    r.expectOne({ flags: ACK, ack: before, options: { ts: [undefined, conn.tsVal] } }, 'ACK for the PAWS-rejected segment');
    expect(r.engine.counters.pawsRejected).toBe(1);
    expect(conn.tcb.rcvQueued).toBe(0);
    expect(conn.tcb.rcvNxt >>> 0).toBe(before);
    r.finish();
  });
});

describe('TCP segments, ACK generation (RFC 1122 §4.2.3.2, RFC 2018)', () => {
  /** Uses up the quick-ACK budget (Linux-style: every segment ACKed at connection start). */
  function spendQuickAcks(r: Rig, conn: PeerConn): void {
    const n = conn.tcb.quickAcks;
    for (let i = 0; i < n; i++) {
      conn.sendData(pattern(conn.tcb.mss));
      r.expectOne({ flags: ACK, ack: conn.seq }, `quick ACK ${i + 1}`, conn);
    }
    r.engine.take(conn.tcb);
    // The read reopened the window by n MSS: RFC 1122 §4.2.3.3 window update.
    r.expectOne({ flags: ACK, ack: conn.seq, window: 32768 }, 'window update after the read', conn);
    expect(conn.tcb.quickAcks).toBe(0);
  }

  it('RFC 1122 §4.2.3.2: one full segment is ACKed after the 40 ms delayed-ACK timer, a second one at once', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    spendQuickAcks(r, conn);
    conn.sendData(pattern(conn.tcb.mss));
    r.expectNone('one segment: ACK delayed');
    const t0 = r.now();
    expect(r.runUntilSent(1000)).toBe(t0 + 40);
    r.expectOne({ flags: ACK, ack: conn.seq }, 'delayed ACK', conn);
    conn.sendData(pattern(conn.tcb.mss));
    r.expectNone();
    conn.sendData(pattern(conn.tcb.mss));
    r.expectOne({ flags: ACK, ack: conn.seq }, 'ACK for every second full segment', conn);
    r.clock.runFor(100);
    r.expectNone('no delayed ACK left over');
    r.finish();
  });

  it('RFC 1122 §4.2.3.2: a PSH segment is ACKed immediately', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    spendQuickAcks(r, conn);
    conn.sendData(pattern(300), { flags: ACK | PSH });
    r.expectOne({ flags: ACK, ack: conn.seq }, 'ACK for PSH');
    r.finish();
  });

  it('RFC 5681 §4.2 / RFC 2018 §4: an out-of-order segment gets an immediate ACK with a SACK block covering it; filling the hole makes the ACK jump', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    spendQuickAcks(r, conn);
    const mss = conn.tcb.mss;
    const hole = conn.seq;
    const later = seqAdd(hole, mss);
    conn.send({ seq: later, payload: pattern(mss, 2) });
    r.expectOne({ flags: ACK, ack: hole, options: { sack: [[later, seqAdd(later, mss)]] } }, 'ACK for out-of-order data', conn);
    expect(conn.tcb.rcvQueued).toBe(0);
    conn.sendData(pattern(mss, 1));
    r.expectOne({ flags: ACK, ack: seqAdd(hole, 2 * mss), options: { sack: null } }, 'ACK after the hole filled', conn);
    const got = Buffer.concat(r.engine.take(conn.tcb) ?? []);
    expect(got.equals(Buffer.concat([pattern(mss, 1), pattern(mss, 2)]))).toBe(true);
    r.finish();
  });
  it('RFC 5681 §4.2 / RFC 2018 §4: within one receive batch, out-of-order segments that extend one block share an ACK; an arrival in another block first sends the ACK owed, so each block leads an ACK of its own; at most 32 segments go unacknowledged', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    spendQuickAcks(r, conn);
    const mss = conn.tcb.mss;
    const hole = conn.seq;
    const at = (k: number): number => seqAdd(hole, k * mss);
    const seg = (k: number): Uint8Array => buildSegment(conn.spec({ seq: at(k), payload: pattern(mss, k) }));
    // Block A = segments 2..4, then block B = segment 7 (a second hole at 5..6).
    r.receive(seg(2), seg(3), seg(4), seg(7));
    const acks = r.take();
    expect(acks.map((a) => describeSegment(a))).toHaveLength(2);
    expectSegment(acks[0], { flags: ACK, ack: hole, options: { sack: [[at(2), at(5)]] } }, 'the ACK owed for block A');
    expectSegment(acks[1], { flags: ACK, ack: hole, options: { sack: [[at(7), at(8)], [at(2), at(5)]] } }, 'block B first');
    // 40 segments extending block B in one batch: an ACK after 32 of them, and one at the end.
    r.receive(...Array.from({ length: 40 }, (_, i) => seg(8 + i)));
    const more = r.take();
    expect(more).toHaveLength(2);
    expectSegment(more[0], { flags: ACK, ack: hole, options: { sack: [[at(7), at(40)], [at(2), at(5)]] } }, 'ACK after 32 segments');
    expectSegment(more[1], { flags: ACK, ack: hole, options: { sack: [[at(7), at(48)], [at(2), at(5)]] } }, 'ACK at the end of the batch');
    // The holes fill in one batch: one ACK, all of it acknowledged.
    r.receive(...[0, 1, 5, 6].map(seg));
    r.expectOne({ flags: ACK, ack: at(48), options: { sack: null } }, 'ACK after the holes filled');
    expect(Buffer.concat(r.engine.take(conn.tcb) ?? []).length).toBe(48 * mss);
    r.finish();
  });

  it('RFC 5681 §4.2: without SACK every out-of-order segment gets its own duplicate ACK, batch or not (the sender counts them)', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen({ options: { mss: 1460, ws: 7 } });
    spendQuickAcks(r, conn);
    const mss = conn.tcb.mss;
    const hole = conn.seq;
    r.receive(...[1, 2, 3].map((k) => buildSegment(conn.spec({ seq: seqAdd(hole, k * mss), payload: pattern(mss, k) }))));
    const acks = r.take();
    expect(acks).toHaveLength(3);
    for (const a of acks) expectSegment(a, { flags: ACK, ack: hole, options: { sack: null } }, 'duplicate ACK');
    r.finish();
  });
});

describe('TCP segments, receive window (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3)', () => {
  it('RFC 9293 §3.8.6.2.2: the window shrinks as unread data accumulates and the right edge never moves left; RFC 1122 §4.2.3.3: a read sends a window update only once the window grew by 2 MSS (or half the buffer)', () => {
    const r = new Rig({ receiveBuffer: 16384 });
    const { conn } = r.passiveOpen();
    const mss = conn.tcb.mss; // 1448 with timestamps
    expect(conn.tcb.rcvShift).toBe(0);
    const edges: number[] = [];
    const windows: number[] = [];
    for (let i = 0; i < 5; i++) {
      conn.sendData(pattern(mss));
      const s = r.expectOne({ flags: ACK, ack: conn.seq }, `ACK ${i + 1}`, conn);
      windows.push(s.window);
      edges.push(seqAdd(s.ack, s.window));
    }
    expect(windows).toEqual([1, 2, 3, 4, 5].map((k) => 16384 - k * mss));
    for (let i = 1; i < edges.length; i++) expect(((edges[i]! - edges[i - 1]!) | 0) >= 0).toBe(true);
    // The reader takes everything: the window grew by 5 MSS > 2 MSS → update.
    expect(r.engine.take(conn.tcb)?.reduce((n, c) => n + c.length, 0)).toBe(5 * mss);
    r.expectOne({ flags: ACK, ack: conn.seq, window: 16384 }, 'window update', conn);
    // One more segment, read at once: the window would grow by only 1 MSS → no update.
    conn.sendData(pattern(mss));
    const s = r.expectOne({ flags: ACK, ack: conn.seq }, 'ACK 6', conn);
    expect(((seqAdd(s.ack, s.window) - seqAdd(conn.seq - mss, 16384)) | 0) >= 0).toBe(true);
    r.engine.take(conn.tcb);
    r.expectNone('no window update for 1 MSS');
    r.finish();
  });
});

describe('TCP segments, scaled receive window (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4)', () => {
  it('RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4: with window scaling (shift 3) the advertised right edge SEG.ACK + (SEG.WND << 3) never moves left, whatever the segment sizes', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    expect(conn.tcb.rcvShift).toBe(3);
    let edge = -1;
    const edges: string[] = [];
    for (const n of [1000, 1001, 1003, 7, 1, 1448]) {
      conn.sendData(pattern(n), { flags: ACK | PSH });
      const s = r.expectOne({ flags: ACK, ack: conn.seq }, `ACK after ${n} bytes`, conn);
      const e = seqAdd(s.ack, s.window << 3);
      edges.push(`${n}: ack ${s.ack} win ${s.window}<<3 edge ${e}`);
      if (edge >= 0) expect(((e - edge) | 0) >= 0, `right edge moved left:\n  ${edges.join('\n  ')}`).toBe(true);
      edge = e;
    }
    r.finish();
  });
});

describe('TCP segments, sender (RFC 9293 §3.7, RFC 896, RFC 6298, RFC 5681, RFC 6675)', () => {
  it('RFC 9293 §3.7.1 / RFC 7323 §3.2: data is cut at the peer\'s MSS, less 12 bytes when timestamps are on', () => {
    for (const ts of [true, false]) {
      const r = new Rig();
      const { conn } = r.passiveOpen({ options: ts ? { mss: 1000, ws: 7, ts: [1, 0] } : { mss: 1000, ws: 7 } });
      const seg = ts ? 988 : 1000;
      // nodelay: the short tail leaves at once too (Nagle is tested below).
      r.engine.send(conn.tcb, [pattern(3100)], true, null);
      const out = r.take();
      expect(out.map((s) => s.payload.length)).toEqual([seg, seg, seg, 3100 - 3 * seg]);
      out.forEach((s, i) => expect(s.seq).toBe(seqAdd(conn.ack, i * seg)));
      expect(out.slice(0, 3).every((s) => (s.flags & PSH) === 0)).toBe(true);
      expect(out[3]!.flags).toBe(ACK | PSH);
      r.finish();
    }
  });

  it('RFC 896 / RFC 1122 §4.2.3.4: Nagle holds a small second segment until the first is ACKed, unless nodelay', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    r.engine.send(conn.tcb, [pattern(100, 1)], false, null);
    r.expectOne({ seq: conn.ack, payload: pattern(100, 1) }, 'first small segment');
    r.engine.send(conn.tcb, [pattern(100, 2)], false, null);
    r.expectNone('second small segment held by Nagle');
    conn.ackTo(seqAdd(conn.ack, 100));
    r.expectOne({ seq: conn.ack, payload: pattern(100, 2) }, 'second segment after the ACK');
    // nodelay: leaves although one is outstanding.
    r.engine.send(conn.tcb, [pattern(50, 3)], true, null);
    r.expectOne({ seq: seqAdd(conn.ack, 100), payload: pattern(50, 3) }, 'nodelay send');
    r.finish();
  });

  it('Nagle as Minshall refined it (Linux tcp_minshall_check): the short tail of a write leaves behind its full segments at once; only a second small segment waits for the first one\'s ACK', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    const mss = conn.tcb.mss;
    const base = conn.ack;
    const data = pattern(mss + 100, 4);
    r.engine.send(conn.tcb, [data], false, null);
    const segs = r.take();
    expect(segs.map((s) => s.payload.length)).toEqual([mss, 100]); // the tail does not wait for the full segment's ACK
    r.engine.send(conn.tcb, [pattern(60, 5)], false, null);
    r.expectNone('a second small segment waits while the first is unacknowledged');
    conn.ackTo(seqAdd(base, mss)); // the full segment only: the small one is still out
    r.expectNone('still waiting for the small segment');
    conn.ackTo(seqAdd(base, mss + 100));
    r.expectOne({ seq: seqAdd(base, mss + 100), payload: pattern(60, 5) }, 'after the small segment\'s ACK');
    r.finish();
  });

  it('RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a zero window from the peer starts the persist timer: probes (SEG.SEQ = SND.UNA - 1, no data, as Linux) at RTO, then backed off; nothing is pushed past the window', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen({ ackWindow: 0 });
    expect(conn.tcb.sndWnd).toBe(0);
    const una = conn.ack;
    r.engine.send(conn.tcb, [pattern(500)], false, null);
    r.expectNone('zero window: nothing sent');
    const rto = conn.tcb.rtt.rto;
    const times: number[] = [];
    let t = r.now();
    for (let i = 0; i < 3; i++) {
      const at = r.runUntilSent(60_000);
      times.push(at - t);
      t = at;
      // The peer's window is still zero: it ACKs nothing new.
      r.expectOne({ flags: ACK, seq: seqAdd(una, -1), payloadLength: 0 }, `window probe ${i + 1}`, conn);
      expect(conn.tcb.sndNxt >>> 0).toBe(una >>> 0);
      conn.send();
      r.expectNone(`after the zero-window ACK ${i + 1}`);
    }
    expect(times).toEqual([rto, 2 * rto, 4 * rto]);
    // The window opens: the data follows.
    conn.window = 65535;
    conn.send();
    const out = r.take();
    expect(out[0]!.seq >>> 0).toBe(una >>> 0);
    expect(out.reduce((n, s) => n + s.payload.length, 0)).toBe(500);
    expect(seqAdd(out.at(-1)!.seq, out.at(-1)!.payload.length)).toBe(seqAdd(una, 500));
    r.finish();
  });

  it('RFC 8985 §7.3 then RFC 6298 §5.4–5.5: with nothing acknowledged, a tail loss probe resends the last segment after the PTO; then the RTO retransmits the first unacknowledged segment and doubles the interval', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    const mss = conn.tcb.mss;
    r.engine.send(conn.tcb, [pattern(3 * mss)], false, null);
    expect(r.take().length).toBe(3);
    const rto = conn.tcb.rtt.rto;
    // PTO = max(2·SRTT, 2 ms): the handshake's round trip took no virtual time.
    const probeAt = r.runUntilSent(60_000);
    expect(probeAt).toBe(2);
    r.expectOne({ flags: ACK, seq: seqAdd(conn.ack, 2 * mss), payload: pattern(3 * mss).subarray(2 * mss) }, 'tail loss probe');
    expect(r.engine.counters.tailLossProbes).toBe(1);
    let t = r.now();
    const gaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      const at = r.runUntilSent(60_000);
      gaps.push(at - t);
      t = at;
      r.expectOne({ flags: ACK, seq: conn.ack, payloadLength: mss, payload: pattern(3 * mss).subarray(0, mss) }, `retransmission ${i + 1}`);
    }
    expect(gaps).toEqual([rto, 2 * rto, 4 * rto]);
    expect(conn.tcb.timeouts).toBe(3);
    r.finish();
  });

  it('RFC 5681 §3.2: three duplicate ACKs trigger a fast retransmit of SND.UNA (no SACK)', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen({ options: { mss: 1460, ws: 7 } });
    const data = pattern(5 * 1460);
    r.engine.send(conn.tcb, [data], false, null);
    expect(r.take().length).toBe(5);
    conn.ackTo(seqAdd(conn.ack, 1460)); // S0 arrived
    r.expectNone('new ACK, nothing more to send');
    conn.send();
    conn.send();
    r.expectNone('two duplicate ACKs');
    conn.send();
    r.expectOne({ flags: ACK, seq: conn.ack, payload: data.subarray(1460, 2920) }, 'fast retransmit');
    expect(r.engine.counters.fastRetransmits).toBe(1);
    r.finish();
  });

  it('RFC 6675 §5–6: with SACK blocks reporting holes, the retransmissions are exactly the holes', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen({ options: { mss: 1460, ws: 7, sackPermitted: true } });
    const data = pattern(6 * 1460);
    r.engine.send(conn.tcb, [data], false, null);
    expect(r.take().length).toBe(6);
    const s = (i: number): number => seqAdd(conn.ack, i * 1460);
    // S0 and S2 lost; S1, S3, S4, S5 SACKed: S0 and S2 each have >= DupThresh segments SACKed above.
    conn.send({ options: { sack: [[s(3), s(6)], [s(1), s(2)]] } });
    const out = r.take();
    expect(out.map((x) => [x.seq, x.payload.length])).toEqual([[s(0), 1460], [s(2), 1460]]);
    expect(Buffer.from(out[1]!.payload).equals(Buffer.from(data.subarray(2 * 1460, 3 * 1460)))).toBe(true);
    r.finish();
  });
});

describe('TCP segments, sequence space accounting (RFC 9293 §3.3.1, §3.8)', () => {
  // Found on a veth lab: after an ACK silence, CUBIC's fractional cwnd made a fractional TSO
  // frame length; the frame carried 845 bytes while SND.NXT, rounded toward zero as int32 (up,
  // for negative numbers), moved 846 — every such frame left a one-byte hole that only an RTO
  // repaired, and the transfer stalled.
  it('RFC 9293 §3.8: a fractional congestion window (CUBIC) frames whole bytes and SND.NXT moves by exactly what the frame carried, with SND.NXT negative as int32', () => {
    const r = new Rig({}, 256, { tsoMaxBytes: 65536 });
    r.engine.isn.next = () => 0x80001000 | 0;
    const { conn } = r.passiveOpen({ options: { mss: 536, ws: 7, sackPermitted: true, ts: [1000, 0] } });
    const tcb = conn.tcb;
    expect(tcb.sndNxt).toBeLessThan(0);
    const mss = tcb.mss;
    tcb.cc.cwnd = 845.6; // what congestion avoidance leaves after an ACK silence
    const data = pattern(20_000);
    r.engine.send(tcb, [data], false, null);
    const sent = 845 - (845 % mss); // whole segments while more data waits
    const first = r.expectOne({ seq: conn.ack, payload: data.subarray(0, sent) }, 'whole segments within cwnd, in one TSO frame');
    expect(tcb.sndNxt >>> 0).toBe(seqAdd(first.seq, sent));
    conn.observe(first);
    conn.ackTo(seqAdd(conn.ack, sent));
    const next = r.take();
    expect(next.length).toBeGreaterThan(0);
    expect(next[0]!.seq).toBe(seqAdd(first.seq, sent)); // no hole
    expect(next[0]!.payload[0]).toBe(data[sent]);
    expect(Number.isInteger(r.engine.counters.bytesRetransmitted)).toBe(true);
    expect(mss).toBe(536 - 12);
    r.finish();
  });

  it('RFC 9293 §3.8: a fast retransmission resends only bytes sent before — never new data past SND.MAX, whatever the peer\'s window', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen({ options: { mss: 1460, ws: 0, ts: [1000, 0] }, ackWindow: 808 });
    const data = pattern(5000);
    r.engine.send(conn.tcb, [data], false, null);
    r.expectOne({ seq: conn.ack, payload: data.subarray(0, 808) }, 'what the 808-byte window allows', conn);
    for (let i = 0; i < 3; i++) conn.send(); // three duplicate ACKs, same window
    r.expectOne({ seq: conn.ack, payload: data.subarray(0, 808) }, 'fast retransmit of the 808 bytes sent');
    expect(conn.tcb.sndMax >>> 0).toBe(seqAdd(conn.ack, 808));
    r.finish();
  });

  it('RFC 9293 §3.8: the hostile-traffic stall — MSS 536, SACK, window scaling; the peer reads about 45 KB, withholds its ACKs for 0.8 s, then sends them all late — completes with no hole, in both halves of the sequence space', () => {
    for (const iss of [0x80000100 | 0, 0x00000100]) {
      const res = runTransfer({
        seed: 7, peerMss: 536, mtu: 1500, tso: true, sack: true, timestamps: true, peerWindowScale: 7, peerBuffer: 262144,
        bytes: 150_000, delayMs: 5, loss: 0, duplicate: 0, reorder: 0, ackEvery: 1,
        silences: [{ at: 20, length: 800, release: true }], stalls: [], iss,
      }, 60_000);
      expect(res.violations).toEqual([]);
      expect(res.completed).toBe(true);
    }
  });
});

describe('TCP segments, closing (RFC 9293 §3.6)', () => {
  it('RFC 9293 §3.10.7.4 (eighth check): a FIN after data moves to CLOSE-WAIT and the FIN is ACKed', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    conn.sendData(pattern(100), { flags: ACK | PSH | FIN });
    r.expectOne({ flags: ACK, ack: conn.seq }, 'ACK of data + FIN');
    expect(conn.tcb.state).toBe(TcpState.CLOSE_WAIT);
    expect(conn.events.fin).toBe(1);
    expect(conn.tcb.rcvQueued).toBe(100);
    r.finish();
  });

  it('RFC 9293 §3.10.4: shutdown sends the FIN after the queued data', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    const total = 20000;
    r.engine.send(conn.tcb, [pattern(total)], false, null);
    r.engine.shutdown(conn.tcb);
    const first = r.take();
    expect(first.some((x) => x.flags & FIN)).toBe(false);
    expect(conn.tcb.state).toBe(TcpState.FIN_WAIT_1);
    const sent = first.reduce((n, x) => n + x.payload.length, 0);
    expect(sent).toBeLessThan(total);
    conn.ackTo(seqAdd(conn.ack, sent));
    const rest = r.take();
    const last = rest.at(-1)!;
    expect(rest.slice(0, -1).some((x) => x.flags & FIN)).toBe(false);
    expect(last.flags & FIN).toBe(FIN);
    expect(seqAdd(last.seq, last.payload.length)).toBe(seqAdd(conn.ourIss, 1 + total));
    conn.ackTo(seqAdd(conn.ourIss, 2 + total));
    r.expectNone();
    expect(conn.tcb.state).toBe(TcpState.FIN_WAIT_2);
    r.finish();
  });

  it('RFC 9293 §3.6 / §3.10.7.4: TIME-WAIT answers a retransmitted FIN with an ACK and restarts the 2 MSL timer', () => {
    const r = new Rig({ timeWaitMs: 60_000 });
    const { conn } = r.passiveOpen();
    r.engine.shutdown(conn.tcb);
    const fin = r.expectOne({ flags: FIN | ACK, seq: conn.ack, ack: conn.seq }, 'our FIN', conn);
    conn.ackTo(seqAdd(fin.seq, 1));
    expect(conn.tcb.state).toBe(TcpState.FIN_WAIT_2);
    conn.send({ flags: FIN | ACK });
    r.expectOne({ flags: ACK, ack: seqAdd(conn.seq, 1) }, 'ACK of the peer FIN', conn);
    expect(conn.tcb.state).toBe(TcpState.TIME_WAIT);
    expect(conn.events.closed).toBe(STATUS_SUCCESS);
    r.clock.runFor(30_000);
    conn.tsVal += 30_000;
    conn.send({ flags: FIN | ACK });
    r.expectOne({ flags: ACK, ack: seqAdd(conn.seq, 1) }, 'ACK of the retransmitted FIN', conn);
    r.clock.runFor(59_999);
    expect(r.engine.lookup(PEER, 80, 40000)).toBe(conn.tcb);
    r.clock.runFor(1);
    expect(r.engine.lookup(PEER, 80, 40000)).toBeUndefined();
    expect(conn.tcb.state).toBe(TcpState.CLOSED);
    r.expectNone();
    r.finish();
  });

  it('RFC 9293 §3.6 figure 13: simultaneous close goes FIN-WAIT-1 → CLOSING → TIME-WAIT', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    r.engine.shutdown(conn.tcb);
    const fin = r.expectOne({ flags: FIN | ACK, seq: conn.ack, ack: conn.seq }, 'our FIN', conn);
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    conn.send({ flags: FIN | ACK });
    r.expectOne({ flags: ACK, seq: seqAdd(fin.seq, 1), ack: seqAdd(conn.seq, 1) }, 'ACK of the peer FIN', conn);
    expect(conn.tcb.state).toBe(TcpState.CLOSING);
    conn.seq = seqAdd(conn.seq, 1);
    conn.ackTo(seqAdd(fin.seq, 1));
    r.expectNone();
    expect(conn.tcb.state).toBe(TcpState.TIME_WAIT);
    expect(conn.events.closed).toBe(STATUS_SUCCESS);
    r.finish();
  });

  it('RFC 9293 §3.5 figure 8: simultaneous open (our SYN crosses theirs) goes SYN-SENT → SYN-RECEIVED → ESTABLISHED', () => {
    const r = new Rig();
    const ev = { established: 0, closed: null as number | null };
    const tcb = r.engine.connect(0, PEER, 80, {
      onEstablished: () => { ev.established++; }, onReadable: () => {}, onFin: () => {}, onClosed: (_t, s) => { ev.closed = s; },
    });
    if (typeof tcb === 'number') throw new Error('connect failed');
    const syn = r.expectOne({ flags: SYN, dstPort: 80 }, 'our SYN');
    const y = 0x30000000;
    // Their SYN (no ACK) crosses ours.
    r.receive(buildSegment({ srcPort: 80, dstPort: tcb.localPort, seq: y, flags: SYN, options: { mss: 1460, ws: 7, sackPermitted: true, ts: [5000, 0] } }));
    r.expectOne({ flags: SYN | ACK, seq: syn.seq, ack: y + 1, options: { mss: 1460, ts: [undefined, 5000] } }, 'our SYN-ACK');
    expect(tcb.state).toBe(TcpState.SYN_RECEIVED);
    // Their SYN-ACK (answering our SYN) arrives.
    r.receive(buildSegment({
      srcPort: 80, dstPort: tcb.localPort, seq: y, ack: seqAdd(syn.seq, 1), flags: SYN | ACK,
      options: { mss: 1460, ws: 7, sackPermitted: true, ts: [5001, syn.options.ts![0]] },
    }));
    const after = r.take();
    expect(tcb.state, `state ${tcb.stateName}; sent: ${after.map(describeSegment).join('; ')}`).toBe(TcpState.ESTABLISHED);
    expect(ev.established).toBe(1);
    expect(ev.closed).toBeNull();
    r.finish();
  });
});

describe('TCP segments, keepalive (RFC 1122 §4.2.3.6)', () => {
  it('RFC 1122 §4.2.3.6: after the idle time a probe with SEG.SEQ = SND.UNA - 1 is sent; `count` unanswered probes abort with STATUS_IO_TIMEOUT', () => {
    const r = new Rig();
    const { conn } = r.passiveOpen();
    r.engine.setKeepAlive(conn.tcb, true, 10_000, 1_000, 3);
    const una = conn.ack;
    expect(r.runUntilSent(20_000)).toBe(10_000);
    r.expectOne({ flags: ACK, seq: seqAdd(una, -1), ack: conn.seq, payloadLength: 0 }, 'keepalive probe', conn);
    // Answered: the idle period starts again.
    conn.send();
    r.expectNone();
    expect(r.runUntilSent(20_000)).toBe(20_000);
    const times = [r.now()];
    r.expectOne({ seq: seqAdd(una, -1), payloadLength: 0 }, 'probe 1', conn);
    for (let i = 2; i <= 3; i++) {
      times.push(r.runUntilSent(20_000));
      r.expectOne({ seq: seqAdd(una, -1), payloadLength: 0 }, `probe ${i}`, conn);
    }
    expect(times).toEqual([20_000, 21_000, 22_000]);
    expect(r.runUntilSent(20_000)).toBe(23_000);
    r.expectOne({ flagsSet: RST }, 'reset on keepalive timeout');
    expect(conn.events.closed).toBe(STATUS_IO_TIMEOUT);
    expect(r.engine.size).toBe(0);
    r.finish();
  });
});

describe('TCP segments, malformed input (RFC 9293 §3.1, §3.10.7)', () => {
  function synFrame(): Uint8Array {
    return buildSegment({ srcPort: 40000, dstPort: 80, seq: 1, flags: SYN, options: { mss: 1460 } });
  }

  it('RFC 9293 §3.1: bad checksum, data offset < 5 and an option running past the header are counted and dropped, nothing is sent', () => {
    const r = new Rig();
    r.listen(80);
    const badSum = synFrame();
    badSum[TCP_AT + 16]! ^= 0xff;
    r.receive(badSum);
    r.expectNone('bad checksum');
    expect(r.engine.counters.malformed).toBe(1);

    const shortOffset = synFrame();
    shortOffset[TCP_AT + 12] = 4 << 4;
    fixTcpChecksum(shortOffset);
    r.receive(shortOffset);
    r.expectNone('data offset 4');
    expect(r.engine.counters.malformed).toBe(2);

    // MSS option claiming 8 bytes inside a 4-byte option area.
    const badOption = buildSegment({ srcPort: 40000, dstPort: 80, seq: 1, flags: SYN, rawOptions: Uint8Array.of(2, 8, 0x05, 0xb4) });
    r.receive(badOption);
    r.expectNone('option past the header');
    expect(r.engine.counters.malformed).toBe(3);

    // The same to a closed port: no reset either.
    const closed = buildSegment({ srcPort: 40000, dstPort: 81, seq: 1, flags: SYN, rawOptions: Uint8Array.of(8, 12, 0, 0) });
    r.receive(closed);
    r.expectNone('bad option to a closed port');
    expect(r.engine.counters.malformed).toBe(4);
    expect(r.engine.size).toBe(0);
    expect(r.accepted.length).toBe(0);
    r.finish();
  });
});

describe('TCP segments, martian sources (RFC 1122 §3.2.1.3)', () => {
  it('RFC 1122 §3.2.1.3: a SYN from 0.0.0.0, 127.0.0.1, a broadcast or our own address never reaches TCP (no SYN-ACK, no RST)', () => {
    const r = new Rig();
    r.listen(80);
    const sources = ['0.0.0.0', '127.0.0.1', '255.255.255.255', '198.18.0.255', '198.18.0.1'];
    for (const a of sources) {
      r.receive(buildSegment({ srcPort: 40000, dstPort: 80, seq: 1, flags: SYN, options: { mss: 1460 } }, { src: parseIpv4(a) | 0 }));
      r.receive(buildSegment({ srcPort: 40000, dstPort: 81, seq: 1, flags: SYN }, { src: parseIpv4(a) | 0 }));
    }
    expect(r.engine.counters.segmentsIn).toBe(0);
    expect(r.engine.size).toBe(0);
    expect(r.link.sent).toHaveLength(0); // not even an ARP request for a "peer" at the broadcast address
    expect(r.stack.counters.ipMartianSource).toBe(2 * sources.length);
    // The peer's SYN is still answered.
    r.receive(buildSegment({ srcPort: 40000, dstPort: 80, seq: 1, flags: SYN, options: { mss: 1460 } }));
    r.expectOne({ flags: SYN | ACK, ack: 2, dst: PEER });
    r.finish();
  });
});

describe('TCP segments, ICMP errors (RFC 5927 §5.1, RFC 1191, RFC 1122 §4.2.3.9)', () => {
  /** A passive open with 3000 bytes of ours in flight (1448 + 1448 + 104), none acknowledged. */
  function inFlight(r: Rig, peerPort = 40000): PeerConn {
    const { conn } = r.passiveOpen({ peerPort });
    expect(conn.tcb.mss).toBe(1448);
    r.engine.send(conn.tcb, [pattern(3000)], true, null);
    expect(r.take().map((s) => s.payload.length)).toEqual([1448, 1448, 104]);
    return conn;
  }
  const fragNeeded = (c: PeerConn, seq: number, mtu: number): Uint8Array =>
    buildIcmpErrorAbout(3, 4, mtu, { srcPort: c.localPort, dstPort: c.peerPort, seq });

  it('RFC 5927 §5.1 / RFC 1191: Fragmentation Needed quoting an in-flight segment lowers the MSS; that segment leaves again at the new size, and so does new data', () => {
    const r = new Rig();
    const conn = inFlight(r);
    const una = conn.tcb.sndUna >>> 0;
    r.receive(fragNeeded(conn, seqAdd(una, 1448), 1000));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1000);
    expect(conn.tcb.mss).toBe(1000 - 20 - 20 - 12);
    expect(r.engine.counters.pmtuShrinks).toBe(1);
    r.expectOne({ seq: una, payloadLength: 948, flagsSet: ACK }, 'the first segment, again at the new MSS');
    conn.ackTo(seqAdd(una, 3000));
    r.take();
    r.engine.send(conn.tcb, [pattern(2000, 2)], true, null);
    expect(r.take().map((s) => s.payload.length)).toEqual([948, 948, 104]);
    // The path MTU belongs to the destination: a new connection to the peer starts with it.
    const second = r.passiveOpen({ peerPort: 40001 }).conn;
    expect(second.tcb.mss).toBe(948);
    r.finish();
  });

  it('RFC 5927 §5.1 / Linux tcp_v4_err: Fragmentation Needed quoting a sequence number outside SND.UNA..SND.NXT, or a connection we do not have, changes nothing', () => {
    const r = new Rig();
    const conn = inFlight(r);
    const una = conn.tcb.sndUna >>> 0;
    r.receive(fragNeeded(conn, seqAdd(una, 0x40000000), 1000), fragNeeded(conn, seqAdd(una, -1), 1000),
      fragNeeded(conn, seqAdd(una, 3001), 1000));
    r.receive(buildIcmpErrorAbout(3, 4, 1000, { srcPort: conn.localPort, dstPort: 40009, seq: una }));
    r.expectNone('no retransmission');
    expect(conn.tcb.mss).toBe(1448);
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    expect(r.stack.counters.pmtuUpdates).toBe(0);
    expect(r.engine.counters.pmtuShrinks).toBe(0);
    expect(r.engine.counters.outOfWindowIcmps).toBe(3);
    expect(r.stack.counters.icmpErrorsUnmatched).toBe(4);
    // A new connection to the same peer keeps the MSS of a 1500-byte MTU.
    const second = r.passiveOpen({ peerPort: 40001 }).conn;
    expect(second.tcb.mss).toBe(1448);
    // SND.NXT itself is inside (Linux's between(seq, snd_una, snd_nxt) includes both ends).
    r.receive(fragNeeded(conn, seqAdd(una, 3000), 1000));
    expect(conn.tcb.mss).toBe(948);
    r.finish();
  });

  it('Linux ip_rt_min_pmtu / RFC 1191 §5: a next-hop MTU below 552 is raised to 552; 0 (an old router) means the plateau below the quoted length; one at or above ours is ignored', () => {
    const r = new Rig();
    const conn = inFlight(r);
    const una = conn.tcb.sndUna >>> 0;
    r.receive(fragNeeded(conn, una, 9000), fragNeeded(conn, una, 1500));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1500);
    expect(conn.tcb.mss).toBe(1448);
    r.receive(buildIcmpErrorAbout(3, 4, 0, { srcPort: conn.localPort, dstPort: conn.peerPort, seq: una, totalLength: 1500 }));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(1492);
    r.receive(fragNeeded(conn, una, 67));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(552);
    expect(conn.tcb.mss).toBe(552 - 20 - 20 - 12);
    r.receive(fragNeeded(conn, una, 1));
    expect(r.stack.ip4.pathMtu(PEER)).toBe(552);
    r.finish();
  });

  it('RFC 1122 §4.2.3.9: an in-window Host Unreachable is a soft error: the connection carries on, and it is the status if the connection later times out', () => {
    const r = new Rig({ maxRetransmits: 2 });
    const conn = inFlight(r);
    r.receive(buildIcmpErrorAbout(3, 1, 0, { srcPort: conn.localPort, dstPort: conn.peerPort, seq: conn.tcb.sndUna }));
    r.expectNone('a soft error sends nothing');
    expect(conn.tcb.state).toBe(TcpState.ESTABLISHED);
    expect(conn.events.closed).toBeNull();
    r.clock.runFor(120_000, () => conn.events.closed !== null);
    expect(conn.events.closed).toBe(STATUS_HOST_UNREACHABLE);
    r.finish();
  });

  it('RFC 1122 §2.3.2.1 / Linux neigh: a connect to an on-link address that never answers ARP fails with STATUS_HOST_UNREACHABLE once ARP gives up (3 requests, 1 s apart), not after a minute of SYNs; an established connection to it only records the soft error', () => {
    const r = new Rig();
    const established = r.activeOpen().conn;
    const silent = (PEER + 7) | 0;
    const events = new Recorder();
    const t = r.engine.connect(0, silent, 80, events);
    expect(typeof t).not.toBe('number');
    const start = r.now();
    r.clock.runFor(60_000, () => events.closed !== null);
    expect(events.closed).toBe(STATUS_HOST_UNREACHABLE);
    expect(r.now() - start).toBeLessThanOrEqual(4000);
    expect(r.stack.arp.cache.failures).toBe(1);
    expect(established.tcb.state).toBe(TcpState.ESTABLISHED);
    expect(established.tcb.softError).toBe(0);
    r.take();
    r.finish();
  });

  it('RFC 5927 §5.1: an out-of-window Host Unreachable is ignored: the connection times out with STATUS_IO_TIMEOUT', () => {
    const r = new Rig({ maxRetransmits: 2 });
    const conn = inFlight(r);
    r.receive(buildIcmpErrorAbout(3, 1, 0, { srcPort: conn.localPort, dstPort: conn.peerPort, seq: seqAdd(conn.tcb.sndUna, 100_000) }),
      buildIcmpErrorAbout(11, 0, 0, { srcPort: conn.localPort, dstPort: conn.peerPort, seq: seqAdd(conn.tcb.sndUna, -100) }));
    expect(r.engine.counters.outOfWindowIcmps).toBe(2);
    r.clock.runFor(120_000, () => conn.events.closed !== null);
    expect(conn.events.closed).toBe(STATUS_IO_TIMEOUT);
    r.finish();
  });
});

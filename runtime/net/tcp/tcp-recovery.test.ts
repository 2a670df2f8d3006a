// Loss recovery one mechanism at a time, with hand-built ACKs (test/helpers/tcp-checker.ts):
// RACK (RFC 8985 §6), tail loss probes (§7), proportional rate reduction (RFC 6937), undo by
// D-SACK (RFC 2883), and the receiver's immediate ACKs for out-of-order data (RFC 5681 §4.2).
import { describe, expect, it } from 'vitest';
import { buildSegment, pattern, type PeerConn, Rig, seqAdd, type Segment } from '../../../test/helpers/tcp-checker.ts';

/** The connection's sequence number of byte `i * mss` of the stream (unsigned). */
function at(c: PeerConn, mss: number, i: number, base: number): number { return seqAdd(base, i * mss); }

function open(): { r: Rig; conn: PeerConn; mss: number; base: number } {
  const r = new Rig();
  const { conn } = r.passiveOpen({ options: { mss: 1460, ws: 7, sackPermitted: true, ts: [1000, 0] } });
  return { r, conn, mss: conn.tcb.mss, base: conn.ack };
}

/** The peer ACKs `ack` with these SACK blocks (segment indices [from, to)), echoing our latest TSval. */
function sackAck(c: PeerConn, mss: number, base: number, ackIndex: number, blocks: [number, number][]): void {
  c.tsVal++;
  c.ackTo(at(c, mss, ackIndex, base), { options: { sack: blocks.map(([a, b]) => [at(c, mss, a, base), at(c, mss, b, base)] as [number, number]) } });
}

function observeAll(c: PeerConn, segs: Segment[]): Segment[] {
  for (const s of segs) c.observe(s);
  return segs;
}

describe('TCP loss recovery (RFC 8985 RACK-TLP, RFC 6937 PRR, RFC 2883 undo)', () => {
  it('RFC 8985 §6.2: a lost retransmission is found by time — once data sent after it is SACKed a round trip later — and sent again without waiting for the RTO', () => {
    const { r, conn, mss, base } = open();
    const data = pattern(40 * mss);
    r.engine.send(conn.tcb, [data], false, null);
    expect(observeAll(conn, r.take()).length).toBe(10); // the initial window
    r.clock.runFor(1);
    // S0 lost: S1..S9 SACKed. Three segments SACKed above it and no reordering seen: lost at once.
    sackAck(conn, mss, base, 0, [[1, 10]]);
    const first = observeAll(conn, r.take());
    expect(first[0]!.seq).toBe(at(conn, mss, 0, base));
    expect(first[0]!.payload.length).toBe(mss);
    expect(first.length).toBeGreaterThan(1); // PRR lets new data follow the retransmission
    const newSegs = first.slice(1).map((s) => (s.seq - base) / mss);
    // The retransmission is lost too; the new data sent with it is SACKed a round trip later.
    r.clock.runFor(1);
    sackAck(conn, mss, base, 0, [[1, 10 + newSegs.length]]);
    const again = r.take();
    expect(again[0]?.seq).toBe(at(conn, mss, 0, base));
    expect(conn.tcb.timeouts).toBe(0);
    expect(r.engine.counters.rackLosses).toBe(2);
    r.finish();
  });

  it('an ACK already waiting in the link when the probe timer fires is read first (LinkDevice.pollInput): no tail loss probe for data that was delivered', () => {
    const { r, conn, mss, base } = open();
    const data = pattern(4 * mss);
    r.engine.send(conn.tcb, [data], true, null);
    expect(observeAll(conn, r.take()).length).toBe(4);
    r.clock.runFor(1);
    // The whole flight's ACK reaches the device but not the stack: the event loop is stalled, and
    // on its return Node runs the expired timer before polling for I/O.
    conn.ack = at(conn, mss, 4, base);
    conn.tsVal++;
    expect(r.link.inject(buildSegment(conn.spec()))).toBe(true);
    (r.link as { pollInput?: () => void }).pollInput = () => r.link.deliver();
    r.clock.runFor(10 * Math.max(conn.tcb.rtt.srtt, 2));
    r.expectNone('no probe: the ACK in the ring was read before the timer acted');
    expect(r.engine.counters.tailLossProbes).toBe(0);
    expect(conn.tcb.sndUna >>> 0).toBe(at(conn, mss, 4, base));
    r.finish();
  });

  it('RFC 8985 §7.3: a lost tail gets a probe after 2·SRTT (the last segment again); its SACK lets RACK repair the hole, with no retransmission timeout', () => {
    const { r, conn, mss, base } = open();
    const data = pattern(4 * mss);
    r.engine.send(conn.tcb, [data], true, null);
    expect(observeAll(conn, r.take()).length).toBe(4);
    r.clock.runFor(1);
    sackAck(conn, mss, base, 2, []); // S0, S1 arrive; S2 and S3 are lost
    r.expectNone('nothing to send after the ACK');
    const srtt = conn.tcb.rtt.srtt;
    const t0 = r.now();
    const probeAt = r.runUntilSent(10_000);
    expect(probeAt - t0).toBeCloseTo(Math.max(2 * srtt, 2), 6);
    const probe = r.expectOne({ seq: at(conn, mss, 3, base), payload: data.subarray(3 * mss) }, 'probe: the last segment', conn);
    expect(probe.payload.length).toBe(mss);
    expect(r.engine.counters.tailLossProbes).toBe(1);
    r.clock.runFor(1);
    sackAck(conn, mss, base, 2, [[3, 4]]); // the probe arrived: S2 is the hole
    r.expectOne({ seq: at(conn, mss, 2, base), payload: data.subarray(2 * mss, 3 * mss) }, 'S2 retransmitted', conn);
    r.clock.runFor(1);
    sackAck(conn, mss, base, 4, []);
    expect(conn.tcb.sndUna >>> 0).toBe(at(conn, mss, 4, base));
    expect(conn.tcb.timeouts).toBe(0);
    expect(conn.tcb.inRecovery).toBe(false);
    r.finish();
  });

  it('RFC 6937 §3.1: while pipe exceeds ssthresh, recovery sends in proportion to what is delivered (ssthresh/RecoverFS per segment), never a burst', () => {
    const { r, conn, mss, base } = open();
    r.engine.send(conn.tcb, [pattern(60 * mss)], false, null);
    expect(observeAll(conn, r.take()).length).toBe(10);
    r.clock.runFor(1);
    // One segment SACKed: RACK waits a reordering window (min_RTT/4) before calling S0 lost.
    sackAck(conn, mss, base, 0, [[1, 2]]);
    expect(r.take().length).toBe(0);
    r.clock.runFor(5);
    const retx = observeAll(conn, r.take());
    expect(retx.map((s) => s.seq)).toEqual([at(conn, mss, 0, base)]);
    const tcb = conn.tcb;
    const ssthresh = tcb.cc.ssthresh;
    const recoverFs = tcb.recoverFs;
    expect(recoverFs).toBe(10 * mss);
    let sent = retx.length;
    for (let k = 2; k < 10; k++) {
      r.clock.runFor(0.1);
      sackAck(conn, mss, base, 0, [[1, k + 1]]);
      const out = observeAll(conn, r.take());
      expect(out.length).toBeLessThanOrEqual(1);
      sent += out.length;
      // RFC 6937: while pipe > ssthresh, prr_out <= ceil(prr_delivered * ssthresh / RecoverFS) (the fast retransmit aside).
      if (tcb.rack.pipe() > ssthresh) expect(tcb.prrOut).toBeLessThanOrEqual(Math.max(mss, Math.ceil((tcb.prrDelivered * ssthresh) / recoverFs)));
    }
    // 8 segments delivered in recovery: about 0.7 of them sent again (CUBIC's beta), not 8, not 1.
    expect(sent).toBeGreaterThanOrEqual(Math.floor((8 * ssthresh) / recoverFs));
    expect(sent).toBeLessThanOrEqual(Math.ceil((8 * ssthresh) / recoverFs) + 1);
    expect(tcb.timeouts).toBe(0);
    r.finish();
  });

  it('RFC 2883 §4 / Linux tcp_try_undo_dsack: when every retransmission is reported duplicate (the original was only late), the window reduction is undone', () => {
    const { r, conn, mss, base } = open();
    r.engine.send(conn.tcb, [pattern(10 * mss)], false, null);
    expect(observeAll(conn, r.take()).length).toBe(10);
    const cwndBefore = conn.tcb.cc.cwnd;
    r.clock.runFor(1);
    sackAck(conn, mss, base, 0, [[1, 10]]); // S0 late (reordered), taken for lost
    const retx = observeAll(conn, r.take());
    expect(retx[0]!.seq).toBe(at(conn, mss, 0, base));
    expect(conn.tcb.cc.cwnd).toBeLessThan(cwndBefore);
    r.clock.runFor(1);
    // The original S0 arrives, then the retransmission: D-SACK for S0 with the cumulative ACK.
    sackAck(conn, mss, base, 10, [[0, 1]]);
    expect(r.engine.counters.dsacksReceived).toBe(1);
    expect(r.engine.counters.undos).toBe(1);
    expect(conn.tcb.cc.cwnd).toBeGreaterThanOrEqual(cwndBefore);
    expect(conn.tcb.inRecovery).toBe(false);
    r.finish();
  });

  it('RFC 8985 §6.2 step 4: a D-SACK widens the reordering window but is not reordering — after a probe whose original arrived, a later hole is still repaired at once', () => {
    const { r, conn, mss, base } = open();
    const data = pattern(24 * mss);
    r.engine.send(conn.tcb, [data.subarray(0, 4 * mss)], false, null);
    expect(observeAll(conn, r.take()).length).toBe(4);
    r.clock.runFor(1);
    sackAck(conn, mss, base, 2, []); // S2 and S3 are slow, not lost
    r.runUntilSent(10_000);
    r.expectOne({ seq: at(conn, mss, 3, base) }, 'probe: S3 again', conn);
    r.clock.runFor(1);
    sackAck(conn, mss, base, 4, [[3, 4]]); // the originals arrived: the probe is D-SACKed
    expect(r.engine.counters.dsacksReceived).toBe(1);
    expect(conn.tcb.rack.reord).toBe(false);
    r.engine.send(conn.tcb, [data.subarray(4 * mss)], false, null);
    observeAll(conn, r.take());
    r.clock.runFor(1);
    sackAck(conn, mss, base, 4, [[5, 12]]); // S4 lost, seven sent with it SACKed
    const retx = observeAll(conn, r.take());
    expect(retx[0]?.seq).toBe(at(conn, mss, 4, base));
    expect(conn.tcb.timeouts).toBe(0);
    r.finish();
  });

  it('RFC 5681 §4.2 / RFC 2018 §4: each out-of-order segment of one receive batch gets its own immediate ACK, its block first', () => {
    const { r, conn } = open();
    const seg = (i: number): Uint8Array => buildSegment(conn.spec({ seq: seqAdd(conn.seq, i * 1000), payload: pattern(1000, i) }));
    r.receive(seg(1), seg(3), seg(5));
    const acks = r.take();
    expect(acks.length).toBe(3);
    expect(acks.map((a) => a.ack)).toEqual([conn.seq, conn.seq, conn.seq]);
    expect(acks.map((a) => a.options.sack?.[0])).toEqual([1, 3, 5].map((i) => [seqAdd(conn.seq, i * 1000), seqAdd(conn.seq, (i + 1) * 1000)]));
    // Filling the first hole: an immediate ACK that jumps, the remaining blocks with it.
    r.receive(seg(0));
    const fill = r.take();
    expect(fill.length).toBe(1);
    expect(fill[0]!.ack).toBe(seqAdd(conn.seq, 2000));
    expect(fill[0]!.options.sack?.length).toBe(2);
    r.finish();
  });
});

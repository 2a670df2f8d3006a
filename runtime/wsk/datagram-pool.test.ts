// datagram-pool.ts on its own: the queue's order across growth, WskRelease's checks on pooled
// elements (R33: a list with an element not held is refused whole), and what a recycled element shows.
import { describe, expect, it } from 'vitest';
import { STATUS_INVALID_PARAMETER, STATUS_SUCCESS } from '../ntstatus.ts';
import { AF_INET, type SOCKADDR_IN } from '../sockaddr.ts';
import { DatagramPool, DatagramQueue, DatagramState, type ReceivedDatagram } from './datagram-pool.ts';
import type { WSK_DATAGRAM_INDICATION } from './types.ts';

const SLOT = new Uint8Array(2048);
const FROM = { family: AF_INET, address: Uint8Array.of(198, 18, 0, 2), port: 40000 } as const;

/** What datagram.ts does for a datagram indicated and retained (STATUS_PENDING). */
function retained(pool: DatagramPool, offset: number): ReceivedDatagram {
  const d = pool.take();
  d.fill(SLOT, offset, 64, FROM, 0);
  d.present();
  d.state = DatagramState.RETAINED;
  pool.retained++;
  return d;
}

describe('datagram pool', () => {
  it('the queue hands records back oldest first across its growth', () => {
    const pool = new DatagramPool({});
    const q = new DatagramQueue();
    const records = Array.from({ length: 40 }, () => pool.take());
    for (const d of records.slice(0, 10)) q.push(d);
    expect(q.shift()).toBe(records[0]);
    for (const d of records.slice(10)) q.push(d);
    expect(q.length).toBe(39);
    expect(q.at(0)).toBe(records[1]);
    const out: ReceivedDatagram[] = [];
    while (q.length > 0) out.push(q.shift());
    expect(out).toEqual(records.slice(1));
  });

  it('an element shows its datagram in place: the slot through its MDL, Offset and Length, the sender as a SOCKADDR_IN', () => {
    const pool = new DatagramPool({});
    const e = retained(pool, 100).indication;
    expect(e.Buffer.Mdl!.buffer).toBe(SLOT);
    expect([e.Buffer.Offset, e.Buffer.Length]).toEqual([100, 64]);
    const sa = e.RemoteAddress as SOCKADDR_IN;
    expect([sa.sin_family, [...sa.sin_addr], sa.sin_port]).toEqual([AF_INET, [198, 18, 0, 2], 0x409c]);
  });

  it('WskRelease: released elements are cleared and refused again (while quarantined), as are loops, foreign objects and another socket\'s elements; a bad list releases nothing', () => {
    const owner = {};
    const pool = new DatagramPool(owner);
    const finished: ReceivedDatagram[] = [];
    const finish = (p: DatagramPool, d: ReceivedDatagram): void => { finished.push(d); p.give(d); };
    const [a, b, c] = [retained(pool, 0), retained(pool, 64), retained(pool, 128)];
    const other = retained(new DatagramPool({}), 0);
    const ea = a.indication; const eb = b.indication; const ec = c.indication;
    ea.Next = eb; eb.Next = null;
    expect(pool.release(ea, finish, pool)).toBe(STATUS_SUCCESS);
    expect(finished).toEqual([a, b]);
    // Cleared: no other datagram's bytes through a stale pointer.
    expect([ea.Buffer.Mdl, ea.Buffer.Length, ea.Next]).toEqual([null, 0, null]);
    expect(pool.release(ea, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    ec.Next = ea;
    expect(pool.release(ec, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    ec.Next = ec;
    expect(pool.release(ec, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    ec.Next = other.indication;
    expect(pool.release(ec, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    ec.Next = { Next: null } as unknown as WSK_DATAGRAM_INDICATION;
    expect(pool.release(ec, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    expect(pool.release(null, finish, pool)).toBe(STATUS_INVALID_PARAMETER);
    expect(finished).toEqual([a, b]);
    ec.Next = null;
    expect(pool.release(ec, finish, pool)).toBe(STATUS_SUCCESS);
    expect(pool.retained).toBe(0);
    // Freed records wait behind the quarantine: the next datagrams get new ones, not a, b or c.
    const next = Array.from({ length: 3 }, () => pool.take());
    for (const d of [a, b, c]) expect(next).not.toContain(d);
  });
});

// Scale: 10,000 TCP connections between two userspace stacks on the memory link (virtual time).
// Each connection exchanges a few bytes both ways and closes gracefully; after TIME-WAIT both
// engines must be empty, no timer may remain armed, and no arena slot or held-data handle may
// leak. Also reports the heap cost of an idle connection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../runtime/net/clock.ts';
import { B, stackPair } from './helpers/net-pair.ts';
import { TcpEngine } from '../runtime/net/tcp/tcp-engine.ts';
import { Tcb, TcpState, type TcpEvents } from '../runtime/net/tcp/tcb.ts';
import { STATUS_SUCCESS, type NTSTATUS } from '../runtime/ntstatus.ts';

const CONNECTIONS = 10_000;
const BATCH = 500;
const TIME_WAIT_MS = 1000;

function gcNow(): void {
  const g = (globalThis as { gc?: () => void }).gc ?? (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();
  g();
  g();
}

interface End extends TcpEvents {
  tcb: Tcb | null;
  text: string;
  fin: boolean;
  closed: NTSTATUS | null;
  established: boolean;
}

const decoder = new TextDecoder();

function end(engine: TcpEngine, onFin?: (e: End) => void): End {
  const e: End = {
    tcb: null, text: '', fin: false, closed: null, established: false,
    onEstablished(t) { e.tcb = t; e.established = true; },
    onReadable(t) { for (const c of engine.take(t) ?? []) e.text += decoder.decode(c); },
    onFin() { e.fin = true; onFin?.(e); },
    onClosed(_t, s) { e.closed = s; },
  };
  return e;
}

describe('TCP at scale (memory link, virtual time)', () => {
  it(`opens ${CONNECTIONS} connections, exchanges data, closes them all and leaves nothing behind`, () => {
    const wall0 = performance.now();
    const clock = new VirtualClock();
    const pair = stackPair({ clock, slotCount: 16384 }, { tcp: { timeWaitMs: TIME_WAIT_MS, receiveBuffer: 64 * 1024 } });
    const a = pair.a.tcp!;
    const b = pair.b.tcp!;
    const enc = new TextEncoder();
    const clients: End[] = [];
    const servers: End[] = [];
    let sendsOk = 0;
    let sendsFailed = 0;
    const done = (s: NTSTATUS): void => { if (s === STATUS_SUCCESS) sendsOk++; else sendsFailed++; };

    // Server: answers each request, then closes its side after the client's FIN arrived. (Not
    // from inside onFin: tcp-input.ts calls onFin before moving ESTABLISHED → CLOSE-WAIT, so a
    // shutdown there takes the FIN-WAIT-1 → CLOSING → TIME-WAIT path of a simultaneous close.)
    b.listen(0, 80, 2 * BATCH, {
      onConnection: (t) => {
        const s = end(b);
        s.tcb = t;
        s.established = true;
        t.events = s;
        servers.push(s);
      },
    });
    clock.runFor(10);
    gcNow();
    const heapBefore = process.memoryUsage().heapUsed;

    // Connect in batches (the memory port's receive ring holds 4096 frames).
    for (let base = 0; base < CONNECTIONS; base += BATCH) {
      for (let i = base; i < Math.min(CONNECTIONS, base + BATCH); i++) {
        const c = end(a);
        const r = a.connect(0, B, 80, c);
        expect(r).toBeInstanceOf(Tcb);
        c.tcb = r as Tcb;
        clients.push(c);
      }
      const upTo = Math.min(CONNECTIONS, base + BATCH);
      clock.runFor(5_000, () => servers.length === upTo && clients.slice(base, upTo).every((c) => c.established));
    }
    expect(clients.every((c) => c.established)).toBe(true);
    expect(servers.length).toBe(CONNECTIONS);
    expect(a.size).toBe(CONNECTIONS);
    expect(b.size).toBe(CONNECTIONS);
    expect(a.counters.synQueueOverflows + b.counters.synQueueOverflows).toBe(0);

    // Everything open and idle: heap per connection (client TCB + server TCB + the test's two
    // event objects; the slot arena is preallocated and not counted).
    clock.runFor(1_000);
    gcNow();
    const heapOpen = process.memoryUsage().heapUsed;
    const perConnection = (heapOpen - heapBefore) / CONNECTIONS;
    console.log(`tcp-scale: ${CONNECTIONS} idle connections: heap +${((heapOpen - heapBefore) / 1048576).toFixed(1)} MiB, `
      + `${Math.round(perConnection)} bytes per connection (both ends), ~${Math.round(perConnection / 2)} bytes per TCB`);

    // A few bytes each way on every connection, in batches.
    const byPort = new Map<number, End>();
    for (const s of servers) byPort.set(s.tcb!.remotePort, s);
    for (let base = 0; base < CONNECTIONS; base += BATCH) {
      const upTo = Math.min(CONNECTIONS, base + BATCH);
      for (let i = base; i < upTo; i++) {
        const c = clients[i]!;
        a.send(c.tcb!, [enc.encode(`ping ${i}`)], false, done);
        b.send(byPort.get(c.tcb!.localPort)!.tcb!, [enc.encode(`pong ${i}`)], false, done);
      }
      clock.runFor(5_000, () => {
        for (let i = base; i < upTo; i++) {
          if (clients[i]!.text !== `pong ${i}` || byPort.get(clients[i]!.tcb!.localPort)!.text !== `ping ${i}`) return false;
        }
        return true;
      });
    }
    clock.runFor(1_000);
    for (let i = 0; i < CONNECTIONS; i++) {
      expect(clients[i]!.text).toBe(`pong ${i}`);
      expect(byPort.get(clients[i]!.tcb!.localPort)!.text).toBe(`ping ${i}`);
    }
    expect(sendsFailed).toBe(0);
    expect(sendsOk).toBe(2 * CONNECTIONS);

    // Graceful close, client first: the client ends in TIME-WAIT, the server in CLOSED.
    for (let base = 0; base < CONNECTIONS; base += BATCH) {
      const upTo = Math.min(CONNECTIONS, base + BATCH);
      for (let i = base; i < upTo; i++) expect(a.shutdown(clients[i]!.tcb!)).toBe(STATUS_SUCCESS);
      clock.runFor(5_000, () => clients.slice(base, upTo).every((c) => byPort.get(c.tcb!.localPort)!.fin));
      for (let i = base; i < upTo; i++) {
        const s = byPort.get(clients[i]!.tcb!.localPort)!;
        expect(s.tcb!.state).toBe(TcpState.CLOSE_WAIT);
        expect(b.shutdown(s.tcb!)).toBe(STATUS_SUCCESS);
      }
      clock.runFor(5_000, () => clients.slice(base, upTo).every((c) => c.closed !== null));
    }
    clock.runFor(1_000, () => servers.every((s) => s.closed !== null));
    expect(clients.filter((c) => c.closed !== STATUS_SUCCESS).length).toBe(0);
    expect(servers.filter((s) => s.closed !== STATUS_SUCCESS).length).toBe(0);
    expect(b.size).toBe(0);
    expect(a.size).toBeGreaterThan(0); // TIME-WAIT
    expect(clients.every((c) => c.tcb!.state === TcpState.TIME_WAIT || c.tcb!.state === TcpState.CLOSED)).toBe(true);

    // Past TIME-WAIT: both tables empty.
    clock.runFor(TIME_WAIT_MS + 1_000);
    expect(a.size).toBe(0);
    expect(b.size).toBe(0);
    expect(a.counters.aborts + b.counters.aborts).toBe(0);
    // No data was ever lost on the memory link. (The first batch's SYNs beyond the ARP cache's
    // pending queue are dropped while B's address resolves and go again after the initial RTO:
    // those are the only retransmissions.)
    expect(a.counters.bytesRetransmitted + b.counters.bytesRetransmitted).toBe(0);
    expect(a.counters.timeouts + b.counters.timeouts).toBe(0);
    console.log(`tcp-scale: SYN retransmissions (first batch, ARP unresolved): ${a.counters.retransmits}`);

    // No TCP timer left: running on fires only the stacks' own housekeeping; once the stacks are
    // closed nothing at all is armed on the clock.
    pair.a.ip.held.assertNoLeaks();
    pair.b.ip.held.assertNoLeaks();
    pair.close();
    clock.runFor(1);
    expect(clock.nextDeadline()).toBe(Infinity);
    const fired = clock.fired;
    clock.runFor(600_000);
    expect(clock.fired).toBe(fired);
    pair.network.arena.assertNoLeaks();
    console.log(`tcp-scale: wall ${((performance.now() - wall0) / 1000).toFixed(2)} s, virtual ${(clock.now() / 1000).toFixed(1)} s`);
  }, 60_000);
});

// One end of the kernel UDP benchmark (bench/kernel-udp.bench.ts), as its own process so that it
// can run inside a lab namespace and on a CPU of its own. The same four roles over node:dgram
// (the baseline) or WSK datagram sockets on the kernel provider, written as a port would be:
//   echo   <kind> <ip> <port>                 answers every datagram with itself (WSK: retains
//                                              the indication, sends those bytes, releases after)
//   rr     both <ip> <nodePort> <wskPort> <rounds> <block>
//                                              64-byte request-response against both echoes,
//                                              alternating blocks of <block> rounds between a
//                                              node:dgram and a WSK socket (so a busy machine
//                                              weighs on both alike); p50/p99 in µs of each
//   sink   <kind> <ip> <port>                 counts what arrives; stdin "count" → {bytes, datagrams}
//   source <kind> <ip> <port> <seconds> <size> sends as fast as the socket takes (64 per turn)
// Every role prints JSON lines; every loop is bounded in rounds or time.
//   node --import tsx bench/udp-end.ts <role> <node|wsk> ...
import * as dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { createKernelProvider, startWskSubsystem } from '../index.ts';
import { wskUdpEnd } from './wsk-udp-end.ts';
import { startUdpEcho } from './wsk-traffic.ts';
import { pct } from './suite/stats.ts';

const [role, kindArg, ip, portText, ...rest] = process.argv.slice(2);
let kind = kindArg;
const port = Number(portText);
const out = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** What a role needs of a socket, over either implementation. */
interface End {
  /** Sends up to `max` datagrams of `bytes` this turn; returns how many were taken. */
  send(bytes: Uint8Array, max: number): number;
  onReceive: ((length: number) => void) | null;
}

async function nodeEnd(bindPort: number, to: number): Promise<End> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(bindPort, bindPort === 0 ? '0.0.0.0' : ip, r));
  s.setRecvBufferSize(4 << 20);
  s.setSendBufferSize(4 << 20);
  const e: End = {
    send: (bytes, max) => { for (let i = 0; i < max; i++) s.send(bytes, to, ip); return max; },
    onReceive: null,
  };
  s.on('message', (m) => e.onReceive?.(m.length));
  return e;
}

/** A WSK datagram socket on the kernel provider (bench/wsk-udp-end.ts), sending to ip:to. */
async function wskEnd(bindPort: number, to: number): Promise<End> {
  const w = await wskUdpEnd(createKernelProvider(), bindPort === 0 ? '0.0.0.0' : ip!, bindPort, ip!);
  const e: End = { send: (bytes, max) => w.send(bytes, to, max), onReceive: null };
  w.onReceive = (length) => e.onReceive?.(length);
  return e;
}

const make = (bindPort: number, to: number): Promise<End> => (kind === 'wsk' ? wskEnd(bindPort, to) : nodeEnd(bindPort, to));

/** One request-response on `e`: resolves true when the answer came, false after 200 ms. */
function roundTrip(e: End, msg: Uint8Array): Promise<boolean> {
  return new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), 200);
    e.onReceive = () => { clearTimeout(timer); e.onReceive = null; res(true); };
    e.send(msg, 1);
  });
}

async function main(): Promise<void> {
  switch (role) {
    case 'echo': {
      if (kind === 'wsk') {
        await startUdpEcho(await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false }), ip!, port);
      } else {
        const s = dgram.createSocket('udp4');
        s.on('message', (m, r) => s.send(m, r.port, r.address));
        await new Promise<void>((r) => s.bind(port, ip, r));
      }
      out({ listening: port });
      // Ends with stdin (the driver's polite quit) or by pid.
      createInterface({ input: process.stdin }).on('close', () => process.exit(0));
      break;
    }
    case 'rr': {
      const wskPort = Number(rest[0]);
      const rounds = Number(rest[1]);
      const block = Number(rest[2]);
      kind = 'node';
      const nodeSide = await make(0, port);
      kind = 'wsk';
      const wskSide = await make(0, wskPort);
      const msg = new Uint8Array(64).fill(1);
      // Warm-up, untimed: V8 optimises both paths and finishes compiling and collecting what
      // start-up left before a sample is taken.
      const warmUntil = performance.now() + 1500;
      while (performance.now() < warmUntil) { await roundTrip(nodeSide, msg); await roundTrip(wskSide, msg); }
      const samples = { node: [] as number[], wsk: [] as number[] };
      let lost = 0;
      for (let done = 0; done < rounds; done += block) {
        for (const [name, e] of [['node', nodeSide], ['wsk', wskSide]] as const) {
          for (let r = 0; r < block; r++) {
            const t0 = performance.now();
            if (await roundTrip(e, msg)) samples[name].push((performance.now() - t0) * 1000); else lost++;
          }
        }
      }
      out({
        node: { p50: pct(samples.node, 0.5), p99: pct(samples.node, 0.99) },
        wsk: { p50: pct(samples.wsk, 0.5), p99: pct(samples.wsk, 0.99) },
        lost,
      });
      process.exit(0);
      break;
    }
    case 'sink': {
      const e = await make(port, 0);
      let bytes = 0;
      let datagrams = 0;
      e.onReceive = (n) => { bytes += n; datagrams++; };
      out({ listening: port });
      createInterface({ input: process.stdin }).on('line', (line) => {
        if (line === 'count') { out({ bytes, datagrams }); bytes = 0; datagrams = 0; }
      }).on('close', () => process.exit(0));
      break;
    }
    case 'source': {
      const seconds = Number(rest[0]);
      const size = Number(rest[1]);
      const e = await make(0, port);
      const payload = new Uint8Array(size).fill(0x33);
      let sent = 0;
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      while (performance.now() < end) {
        sent += e.send(payload, 64);
        await turn();
      }
      out({ sent, seconds: (performance.now() - t0) / 1000 });
      process.exit(0);
      break;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });

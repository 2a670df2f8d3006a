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
import {
  AF_INET, IPPROTO_UDP, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, MAKE_WSK_VERSION, NPI_WSK_INTERFACE_ID,
  SOCK_DGRAM, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_DATAGRAM_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI, WskRegister, WskSetOption,
  createKernelProvider, makeSockaddrIn, startWskSubsystem, type IRP, type NTSTATUS, type WSK_CLIENT_DATAGRAM_DISPATCH,
  type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_SOCKET,
} from '../index.ts';
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

/** A WSK datagram socket: sends with a pool of reused IRPs, receives through WskReceiveFromEvent. */
async function wskEnd(bindPort: number, to: number): Promise<End> {
  const sub = await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false });
  const reg = WSK_REGISTRATION();
  WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, reg, sub);
  const npi = WSK_PROVIDER_NPI();
  await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi);
  let e: End | null = null;
  const dispatch: WSK_CLIENT_DATAGRAM_DISPATCH = {
    WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
      for (let d = list; d; d = d.Next) e?.onReceive?.(d.Buffer.Length);
      return STATUS_SUCCESS;
    },
  };
  const once = <T>(start: (irp: IRP) => NTSTATUS): Promise<T> => new Promise((res) => {
    const irp = IoAllocateIrp(1);
    IoSetCompletionRoutine(irp, (_d, i) => { res(i.IoStatus.Information as T); return STATUS_MORE_PROCESSING_REQUIRED; }, null, true, true, true);
    start(irp);
  });
  const sock = await once<WSK_SOCKET>((irp) => npi.Dispatch!.WskSocket(npi.Client, AF_INET, SOCK_DGRAM, IPPROTO_UDP, WSK_FLAG_DATAGRAM_SOCKET, null, dispatch, null, null, null, irp));
  const D = sock.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH;
  await once((irp) => D.WskBind(sock, makeSockaddrIn(bindPort === 0 ? '0.0.0.0' : ip!, bindPort), 0, irp));
  (sock.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  const free: IRP[] = [];
  const recycle = (_d: unknown, done: IRP): NTSTATUS => { free.push(done); return STATUS_MORE_PROCESSING_REQUIRED; };
  for (let i = 0; i < 128; i++) free.push(IoAllocateIrp(1));
  const remote = makeSockaddrIn(ip!, to);
  const buf = { Mdl: IoAllocateMdl(new Uint8Array(1)), Offset: 0, Length: 0 };
  let last: Uint8Array | null = null;
  e = {
    send: (bytes, max) => {
      if (bytes !== last) { buf.Mdl = IoAllocateMdl(bytes); buf.Length = bytes.length; last = bytes; }
      let n = 0;
      while (n < max && free.length > 0) {
        const irp = free.pop()!;
        IoReuseIrp(irp, STATUS_SUCCESS);
        IoSetCompletionRoutine(irp, recycle, null, true, true, true);
        D.WskSendTo(sock, buf, 0, remote, 0, null, irp);
        n++;
      }
      return n;
    },
    onReceive: null,
  };
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

// The WSK side of test/interop/ip-options.test.ts, written as a driver port would: one datagram
// socket marked with IP_TTL 33, IP_TOS 0xb8 and IP_DONTFRAGMENT before bind, one left at the
// defaults; each sends one datagram to the peer, and the marked one also a datagram larger than the
// link's MTU (which DF forbids to fragment). The test runs it in-process on the userspace stack,
// and as its own process inside the lab namespace for the kernel provider:
//   node --import tsx test/interop/ip-options-end.ts <local ip> <peer ip> <peer port>
// prints {"marked":status,"big":status,"plain":status}.
import { fileURLToPath } from 'node:url';
import {
  IPPROTO_IP, IP_DONTFRAGMENT, IP_TOS, IP_TTL, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, createKernelProvider, makeSockaddrIn,
  startWskSubsystem, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { bind, buf, close, dgTable, socket } from '../contract/fixtures.ts';
import { call } from '../helpers/wsk-call.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';

export const MARKS = { ttl: 33, tos: 0xb8 } as const;

export interface MarkedSends { marked: number; big: number; plain: number }

async function send(s: WSK_SOCKET, data: Uint8Array, peer: string, port: number): Promise<number> {
  return (await call((irp) => dgTable(s).WskSendTo(s, buf(data), 0, makeSockaddrIn(peer, port), 0, null, irp))).status;
}

export async function sendMarked(w: WskSession, local: string, peer: string, port: number): Promise<MarkedSends> {
  const marked = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
  for (const [code, value] of [[IP_TTL, MARKS.ttl], [IP_TOS, MARKS.tos], [IP_DONTFRAGMENT, 1]] as const) {
    const r = await call((irp) => (marked.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(marked, WskSetOption, code, IPPROTO_IP, 4,
      { value }, 0, null, null, irp));
    if (r.status !== 0) throw new Error(`option ${code}: status 0x${(r.status >>> 0).toString(16)}`);
  }
  const plain = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
  for (const s of [marked, plain]) {
    const st = await bind(s, makeSockaddrIn(local, 0));
    if (st !== 0) throw new Error(`bind: status 0x${(st >>> 0).toString(16)}`);
  }
  const result = {
    marked: await send(marked, Buffer.from('marked'), peer, port),
    big: await send(marked, new Uint8Array(2000), peer, port),
    plain: await send(plain, Buffer.from('plain'), peer, port),
  };
  await close(marked);
  await close(plain);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [local, peer, port] = process.argv.slice(2);
  const subsystem = await startWskSubsystem(createKernelProvider(), { name: 'ip-options', makeDefault: false, registerWithNmr: false });
  const w = await sessionOn(subsystem);
  process.stdout.write(JSON.stringify(await sendMarked(w, local!, peer!, Number(port))) + '\n');
  await w.close();
  await subsystem.stop();
}

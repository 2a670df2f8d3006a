// Binds one raw IPPROTO_ICMP socket on the kernel provider and prints {"status":...} — run by
// test/kernel-provider.test.ts without CAP_NET_RAW (setpriv), as a driver port would see it:
//   node --import tsx test/helpers/raw-bind-end.ts
import { AF_INET, IPPROTO_ICMP, SOCK_RAW, WSK_FLAG_DATAGRAM_SOCKET, createKernelProvider, makeSockaddrIn, startWskSubsystem, type WSK_SOCKET } from '../../index.ts';
import { bind, close } from '../contract/fixtures.ts';
import { call } from './wsk-call.ts';
import { sessionOn } from './wsk-session.ts';

const subsystem = await startWskSubsystem(createKernelProvider(), { name: 'raw-bind', makeDefault: false, registerWithNmr: false });
const w = await sessionOn(subsystem);
const r = await call<WSK_SOCKET>((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, SOCK_RAW, IPPROTO_ICMP, WSK_FLAG_DATAGRAM_SOCKET, null, null, null, null, null, irp));
const status = await bind(r.information, makeSockaddrIn('127.0.0.1', 0));
await close(r.information);
process.stdout.write(JSON.stringify({ socket: r.status, bind: status }) + '\n');
await w.close();
await subsystem.stop();

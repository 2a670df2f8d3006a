// Control info against a real Linux peer (issue 13): the userspace stack in one network namespace
// with two addresses on its AF_PACKET link, python3's socket module in the other. A WSK echo bound
// to 0.0.0.0 learns from IN_PKTINFO which of the two addresses each request was sent to and
// answers from that one (IN_PKTINFO on WskSendTo), as WireGuard and QUIC servers do; Linux checks
// every reply's source. Linux also reads the TOS byte a WSK sender asked for with IP_TOS/IP_ECN,
// and WSK reads the TOS and TTL a Linux sender set. Needs root; traffic stays inside the lab's
// namespaces (198.18.0.0/15).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  IPPROTO_IP, IP_ECN, IP_HOPLIMIT, IP_PKTINFO, IP_RECVTOS, IP_TOS, IP_TTL, IoAllocateIrp, IoSetCompletionRoutine,
  NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS,
  WSAMSG, WSA_CMSG_DATA, WSA_CMSG_FIRSTHDR, WSA_CMSG_NXTHDR, WSK_EVENT_RECEIVE_FROM,
  WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, cmsgInt, makeSockaddrIn, setCmsgInt, type WSK_CLIENT_DATAGRAM_DISPATCH,
  type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { controlBuffer } from '../helpers/control-buffer.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { bind, buf, close, dgTable, socket } from '../contract/fixtures.ts';
import { call, until } from '../helpers/wsk-call.ts';

const PORT = 47100;

const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));

function enableReceiveFrom(s: WSK_SOCKET): void {
  const st = (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  expect(st).toBe(STATUS_SUCCESS);
}

/** The objects of a control buffer, walked as a C port walks them. */
function objects(control: Uint8Array | null, length: number): { level: number; type: number; data: Uint8Array }[] {
  const msg = WSAMSG();
  msg.Control = { len: length, buf: control };
  const out: { level: number; type: number; data: Uint8Array }[] = [];
  for (let c = WSA_CMSG_FIRSTHDR(msg); c; c = WSA_CMSG_NXTHDR(msg, c)) out.push({ level: c.cmsg_level, type: c.cmsg_type, data: WSA_CMSG_DATA(c) });
  return out;
}

const int = (v: number): Uint8Array => { const d = new Uint8Array(4); setCmsgInt(d, v); return d; };

describe('control info against a Linux peer (AF_PACKET link, two stack addresses)', () => {
  let L: StackLab;
  let w: WskSession;
  // The lab's peer is 198.18.0.1/24 and its stack 198.18.0.2 (apps/lab defaults); .77 is free.
  const second = '198.18.0.77';
  beforeAll(async () => {
    L = await openStackLab('afpacket', { secondary: [second] });
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`control-info-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a WSK echo bound to 0.0.0.0 answers each request from the address IN_PKTINFO says it was sent to; Linux sees that source every time', async () => {
    const ctx: { sock: WSK_SOCKET | null; answered: number } = { sock: null, answered: 0 };
    const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
      WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
        const sock = ctx.sock!;
        let outstanding = 0;
        for (let d = list; d; d = d.Next) outstanding++;
        for (let d = list; d; d = d.Next) {
          // The request's destination (IN_PKTINFO) becomes the reply's source (IN_PKTINFO).
          const pk = objects(d.ControlInfo, d.ControlInfoLength).find((o) => o.level === IPPROTO_IP && o.type === IP_PKTINFO)!;
          const reply = controlBuffer([IPPROTO_IP, IP_PKTINFO, pk.data.slice(0, 8)]);
          const irp = IoAllocateIrp(1);
          IoSetCompletionRoutine(irp, () => {
            ctx.answered++;
            if (--outstanding === 0) dgTable(sock).WskRelease(sock, list!);
            return STATUS_MORE_PROCESSING_REQUIRED;
          }, null, true, true, true);
          dgTable(sock).WskSendTo(sock, d.Buffer, 0, d.RemoteAddress, reply.byteLength, reply, irp);
        }
        return list ? STATUS_PENDING : STATUS_SUCCESS;
      },
    };
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, 2, ctx, events);
    ctx.sock = sock;
    expect((await setOpt(sock, IPPROTO_IP, IP_PKTINFO, 1)).status).toBe(STATUS_SUCCESS);
    expect(await bind(sock, makeSockaddrIn('0.0.0.0', PORT))).toBe(STATUS_SUCCESS);
    enableReceiveFrom(sock);
    const script = `python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(10):
    dst = ['${L.address}', '${second}'][i % 2]
    s.sendto(f'req-{i}-{dst}'.encode(), (dst, ${PORT}))
    data, src = s.recvfrom(2048)
    print(data.decode(), src[0], src[1])
EOF`;
    const r = await L.peer(script, 30_000);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(10);
    for (const line of lines) {
      const [text, source, port] = line.split(' ');
      expect(`${source}:${port}`).toBe(`${text!.split('-')[2]}:${PORT}`);
    }
    expect(lines.filter((l) => l.endsWith(` ${second} ${PORT}`))).toHaveLength(5);
    await until(() => ctx.answered === 10, 5000, 'every reply to complete');
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });

  it('Linux reads the TOS byte IP_TOS/IP_ECN control info asked for; WSK reads the TOS and TTL Linux set (IP_RECVTOS, IP_ECN, IP_HOPLIMIT)', async () => {
    const got: { data: string; objects: { level: number; type: number; value: number }[] }[] = [];
    const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
      WskReceiveFromEvent: (_c, _f, list) => {
        for (let d = list; d; d = d.Next) {
          const b = d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length);
          got.push({ data: Buffer.from(b).toString(), objects: objects(d.ControlInfo, d.ControlInfoLength).map((o) => ({ level: o.level, type: o.type, value: cmsgInt(o.data) })) });
        }
        return STATUS_SUCCESS;
      },
    };
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, 2, null, events);
    for (const code of [IP_RECVTOS, IP_ECN, IP_HOPLIMIT]) expect((await setOpt(sock, IPPROTO_IP, code, 1)).status).toBe(STATUS_SUCCESS);
    expect(await bind(sock, makeSockaddrIn(L.address, PORT + 1))).toBe(STATUS_SUCCESS);
    enableReceiveFrom(sock);
    // Linux: a receiver that prints the TOS of what arrives, and a sender marking with IP_TOS 0x2a and TTL 33.
    const listener = L.peerProcess(`python3 -u - <<'EOF'
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
r.bind(('${L.peerAddress}', ${PORT + 2}))
r.settimeout(10)
print('ready', flush=True)
data, anc, flags, src = r.recvmsg(2048, 64)
print('tos', data.decode(), anc[0][2][0], src[0], flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x2a)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 33)
s.sendto(b'from-linux', ('${L.address}', ${PORT + 1}))
print('sent', flush=True)
EOF`);
    await listener.waitFor('ready');
    // DSCP 46 with IP_TOS, then ECT(0) with IP_ECN: 0xba on the wire.
    const marks = controlBuffer([IPPROTO_IP, IP_TOS, int(46 << 2)], [IPPROTO_IP, IP_ECN, int(2)]);
    const sent = await call((irp) => dgTable(sock).WskSendTo(sock, buf(Buffer.from('from-wsk')), 0, makeSockaddrIn(L.peerAddress, PORT + 2), marks.byteLength, marks, irp));
    expect(sent.status).toBe(STATUS_SUCCESS);
    await listener.waitFor('sent', 15_000);
    expect(listener.output()).toContain(`tos from-wsk ${0xba} ${L.address}`);
    await until(() => got.length === 1, 5000, 'the Linux datagram');
    expect(got[0]).toEqual({
      data: 'from-linux',
      objects: [{ level: IPPROTO_IP, type: IP_TOS, value: 0x2a }, { level: IPPROTO_IP, type: IP_ECN, value: 2 }, { level: IPPROTO_IP, type: IP_TTL, value: 33 }],
    });
    // IN_PKTINFO is not among them: IP_PKTINFO is off on this socket.
    expect(got[0]!.objects.some((o) => o.type === IP_PKTINFO)).toBe(false);
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });
});

// UDP over IPv6 against Linux (issue 14): the userspace stack over AF_PACKET on a veth lab
// (fd00:198:18::2/64 and 198.18.0.2/24), python3's socket module in the peer namespace
// (fd00:198:18::1, 198.18.0.1). A WSK dual-stack datagram socket ([::], IPV6_V6ONLY 0) echoes
// what Linux sends over IPv6 — an 8000-byte datagram too, fragmented by Linux and reassembled
// here, answered in fragments Linux reassembles — and over IPv4, each reply from the address the
// request went to; Linux reads the traffic class IPV6_TCLASS control info asked for; a closed port
// answers with ICMPv6 Port Unreachable, which Linux reports as ECONNREFUSED; a datagram Linux
// sends without a checksum (UDP_NO_CHECK6_TX) is dropped (RFC 8200 §8.1). Needs root; traffic
// stays inside the lab's namespaces (fd00:198:18::/64, 198.18.0.0/15), deleted by name.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET6, IPPROTO_IPV6, IPV6_TCLASS, IPV6_V6ONLY, IoAllocateIrp, IoSetCompletionRoutine, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK,
  SOL_SOCKET, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET,
  WskSetOption, makeSockaddrIn6, setCmsgInt, type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_DATAGRAM_INDICATION,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { controlBuffer } from '../helpers/control-buffer.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { bind, close, dgTable, socket } from '../contract/fixtures.ts';
import { call, until } from '../helpers/wsk-call.ts';

const PORT = 47200;

const setOpt = (s: WSK_SOCKET, level: number, code: number, value: number) =>
  call((irp) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, code, level, 4, { value }, 0, null, null, irp));

function enableReceiveFrom(s: WSK_SOCKET): void {
  const st = (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16,
    { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null);
  expect(st).toBe(STATUS_SUCCESS);
}

describe('UDP over IPv6 against Linux (AF_PACKET link)', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket', { ipv6: true });
    // Duplicate address detection (one solicitation, RetransTimer) before the address is usable.
    await until(() => L.stack.ip6!.addresses.length === 2, 10_000, 'DAD to finish');
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && L) console.error(`capture of the failed test: ${L.keepCapture(`udp6-${ctx.task.name}`)}`);
  });
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a WSK dual-stack echo on [::] answers Linux over IPv6 (8000 bytes too, fragmented both ways) and over IPv4, marking IPv6 replies with IPV6_TCLASS; Linux checks every reply, its source and its traffic class', async () => {
    const ctx: { sock: WSK_SOCKET | null; answered: number } = { sock: null, answered: 0 };
    const tclass = new Uint8Array(4);
    setCmsgInt(tclass, 0x28);
    const marked = controlBuffer([IPPROTO_IPV6, IPV6_TCLASS, tclass]);
    const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
      WskReceiveFromEvent: (_c, _f, list: WSK_DATAGRAM_INDICATION | null) => {
        const sock = ctx.sock!;
        let outstanding = 0;
        for (let d = list; d; d = d.Next) outstanding++;
        for (let d = list; d; d = d.Next) {
          const irp = IoAllocateIrp(1);
          IoSetCompletionRoutine(irp, () => {
            ctx.answered++;
            if (--outstanding === 0) dgTable(sock).WskRelease(sock, list!);
            return STATUS_MORE_PROCESSING_REQUIRED;
          }, null, true, true, true);
          // An IPv4 peer's address is ::ffff:a.b.c.d: IPV6_TCLASS is for IPv6 datagrams only.
          const v4 = (d.RemoteAddress as { sin6_addr?: Uint8Array }).sin6_addr?.[10] === 0xff;
          dgTable(sock).WskSendTo(sock, d.Buffer, 0, d.RemoteAddress, v4 ? 0 : marked.byteLength, v4 ? null : marked, irp);
        }
        return list ? STATUS_PENDING : STATUS_SUCCESS;
      },
    };
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, ctx, events);
    ctx.sock = sock;
    expect((await setOpt(sock, IPPROTO_IPV6, IPV6_V6ONLY, 0)).status).toBe(STATUS_SUCCESS);
    expect(await bind(sock, makeSockaddrIn6('::', PORT))).toBe(STATUS_SUCCESS);
    enableReceiveFrom(sock);
    const script = `python3 - <<'EOF'
import socket, hashlib
six = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
six.settimeout(5)
four = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
four.settimeout(5)
for size in (5, 1400, 8000):
    data = bytes((i * 7 + size) & 0xff for i in range(size))
    six.sendto(data, ('${L.address6}', ${PORT}))
    got, anc, _flags, src = six.recvmsg(65536, 64)
    tc = [int.from_bytes(d[:4], 'little') for (l, t, d) in anc if t == socket.IPV6_TCLASS]
    print('v6', size, got == data, src[0], src[1], tc)
four.sendto(b'over v4', ('${L.address}', ${PORT}))
got, src = four.recvfrom(2048)
print('v4', len(got), got == b'over v4', src[0], src[1])
EOF`;
    const r = await L.peer(script, 30_000);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      `v6 5 True ${L.address6} ${PORT} [40]`,
      `v6 1400 True ${L.address6} ${PORT} [40]`,
      `v6 8000 True ${L.address6} ${PORT} [40]`,
      `v4 7 True ${L.address} ${PORT}`,
    ]);
    await until(() => ctx.answered === 4, 5000, 'every reply to complete');
    expect(L.stack.counters.ip6Reassembled).toBeGreaterThanOrEqual(1);
    expect(L.stack.counters.ip6FragmentsOut).toBeGreaterThanOrEqual(6);
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });

  it('RFC 4443 §3.1: a closed port answers with Port Unreachable (Linux: ECONNREFUSED on its connected socket); RFC 8200 §8.1: a datagram Linux sends without a checksum is dropped and counted', async () => {
    const udp6 = L.provider.userspace.udp6!;
    const dropped = udp6.counters.badChecksum;
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect(await bind(sock, makeSockaddrIn6(L.address6!, PORT + 1))).toBe(STATUS_SUCCESS);
    const script = `python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(('${L.address6}', ${PORT + 2}))
s.send(b'anyone?')
try:
    s.recv(100)
    print('no error')
except ConnectionRefusedError:
    print('refused')
n = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
n.setsockopt(socket.IPPROTO_UDP, 101, 1)  # UDP_NO_CHECK6_TX: send with checksum 0
for i in range(3):
    n.sendto(b'no checksum', ('${L.address6}', ${PORT + 1}))
print('sent')
EOF`;
    const r = await L.peer(script, 20_000);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['refused', 'sent']);
    await until(() => udp6.counters.badChecksum - dropped === 3, 5000, 'the checksum-less datagrams to be dropped');
    expect(udp6.counters.noPort).toBeGreaterThanOrEqual(1);
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });
});

// IPv6 multicast on the userspace stack against Linux (issue 14): the stack over AF_PACKET on a
// veth lab (fd00:198:18::2/64), python3's socket module in the peer namespace. A WSK AF_INET6
// datagram socket joins ff15::13:9 (IPV6_ADD_MEMBERSHIP) and receives what a Linux sender
// (IPV6_MULTICAST_IF on the lab's veth) sends to the group; tcpdump on the peer's veth sees the
// stack's MLDv2 state-change reports (RFC 3810 §6.1: CHANGE_TO_EXCLUDE on the join,
// CHANGE_TO_INCLUDE on the drop). The other way, a Linux socket joins ff15::13:a (`ip -6 maddr`
// shows the kernel listening) and receives what the WSK socket sends there with
// IPV6_MULTICAST_HOPS. Needs root; traffic stays inside the lab's namespaces (fd00:198:18::/64),
// deleted by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET6, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, IPV6_DROP_MEMBERSHIP, IPV6_MREQ, IPV6_MULTICAST_HOPS, NPI_WSK_INTERFACE_ID, SIZEOF_IPV6_MREQ,
  SO_WSK_EVENT_CALLBACK, SOL_SOCKET, STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, makeSockaddrIn6,
  type WSK_CLIENT_DATAGRAM_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { bind, buf, close, dgTable, socket } from '../contract/fixtures.ts';
import { call, until } from '../helpers/wsk-call.ts';

const PORT = 47310;
const GROUP = 'ff15::13:9';
const LINUX_GROUP = 'ff15::13:a';

const control = (s: WSK_SOCKET) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket;

function membership(s: WSK_SOCKET, code: number) {
  const m = new IPV6_MREQ();
  m.ipv6mr_multiaddr = makeSockaddrIn6(GROUP, 0).sin6_addr;
  return call((irp) => control(s)(s, WskSetOption, code, IPPROTO_IPV6, SIZEOF_IPV6_MREQ, m, 0, null, null, irp));
}

describe('IPv6 multicast on the userspace stack against Linux (AF_PACKET link)', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket', { ipv6: true });
    await until(() => L.stack.ip6!.addresses.length === 2, 10_000, 'DAD to finish');
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a socket that joined the group receives a Linux sender\'s datagrams; the peer sees MLDv2 CHANGE_TO_EXCLUDE on the join and CHANGE_TO_INCLUDE on the drop', async () => {
    const capture = L.peerProcess(`timeout 30 tcpdump -l -n -v -i ${L.lab.peerIf} dst host ff02::16 2>&1`);
    await capture.waitFor('listening on');
    const got: string[] = [];
    const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
      WskReceiveFromEvent: (_c, _f, list) => {
        for (let d = list; d; d = d.Next) got.push(Buffer.from(d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length)).toString());
        return STATUS_SUCCESS;
      },
    };
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6, null, events);
    expect(await bind(sock, makeSockaddrIn6('::', PORT))).toBe(STATUS_SUCCESS);
    expect(control(sock)(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
      .toBe(STATUS_SUCCESS);
    expect((await membership(sock, IPV6_ADD_MEMBERSHIP)).status).toBe(STATUS_SUCCESS);
    const r = await L.peer(`python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex('${L.lab.peerIf}'))
for i in range(3):
    s.sendto(f'group-{i}'.encode(), ('${GROUP}', ${PORT}))
EOF`, 15_000);
    expect(r.stderr).toBe('');
    await until(() => got.length === 3, 10_000, 'the three group datagrams');
    expect(got).toEqual(['group-0', 'group-1', 'group-2']);
    // The join's report and its retransmission (Robustness Variable 2) within the Unsolicited Report Interval (1 s), before the drop changes the state again.
    await until(() => capture.output().split(`gaddr ${GROUP} to_ex`).length === 3, 15_000, 'two CHANGE_TO_EXCLUDE reports');
    expect((await membership(sock, IPV6_DROP_MEMBERSHIP)).status).toBe(STATUS_SUCCESS);
    // The drop's report and its retransmission.
    await until(() => capture.output().split(`gaddr ${GROUP} to_in`).length === 3, 15_000, 'two CHANGE_TO_INCLUDE reports');
    capture.stop();
    const records = capture.output().split('\n').filter((l) => l.includes(`gaddr ${GROUP}`)).map((l) => /gaddr \S+ (\w+)/.exec(l)![1]);
    expect(records).toEqual(['to_ex', 'to_ex', 'to_in', 'to_in']);
    expect(L.stack.ip6!.mld.isMember(L.stack.ip6!.table.find(makeSockaddrIn6(GROUP, 0).sin6_addr, 0))).toBe(false);
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });

  it('a Linux socket that joined a group (ip -6 maddr lists it) receives what the WSK socket sends to the group, with its IPV6_MULTICAST_HOPS', async () => {
    const receiver = L.peerProcess(`python3 -u - <<'EOF'
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('::', ${PORT + 1}))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, '${LINUX_GROUP}') + struct.pack('@I', socket.if_nametoindex('${L.lab.peerIf}')))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
s.settimeout(20)
print('joined', flush=True)
for i in range(3):
    data, anc, _, src = s.recvmsg(2048, 64)
    hops = [struct.unpack('@i', d)[0] for (l, t, d) in anc if t == socket.IPV6_HOPLIMIT]
    print('got', data.decode(), src[0], hops[0], flush=True)
EOF`);
    await receiver.waitFor('joined');
    const maddr = await L.peer(`ip -6 maddr show dev ${L.lab.peerIf}`);
    expect(maddr.stdout).toContain(LINUX_GROUP);
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, AF_INET6);
    expect((await call((irp) => control(sock)(sock, WskSetOption, IPV6_MULTICAST_HOPS, IPPROTO_IPV6, 4, { value: 7 }, 0, null, null, irp))).status)
      .toBe(STATUS_SUCCESS);
    expect(await bind(sock, makeSockaddrIn6('::', 0))).toBe(STATUS_SUCCESS);
    for (let i = 0; i < 3; i++) {
      const st = await call((irp) => dgTable(sock).WskSendTo(sock, buf(Buffer.from(`ours-${i}`)), 0, makeSockaddrIn6(LINUX_GROUP, PORT + 1), 0, null, irp));
      expect(st.status).toBe(STATUS_SUCCESS);
    }
    await receiver.waitFor('got ours-2', 15_000);
    const lines = receiver.output().split('\n').filter((l) => l.startsWith('got'));
    expect(lines).toEqual([0, 1, 2].map((i) => `got ours-${i} ${L.address6} 7`));
    receiver.stop();
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });
});

// IPv4 multicast on the userspace stack against a Linux peer (issue 13, deliverable 4): a WSK
// datagram socket on the stack (AF_PACKET link, its filter letting multicast in) joins
// 239.255.13.9 (administratively scoped, RFC 2365) and receives what a Linux sender (python3, its
// IP_MULTICAST_IF on the lab's veth) sends to the group; tcpdump on the peer's veth sees the
// stack's IGMPv2 Membership Report on the join and its Leave Group on the drop (RFC 2236 §3).
// Needs root; the traffic stays on the lab's veth (198.18.0.0/15); the lab is deleted by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IPPROTO_IP, IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MREQ, NPI_WSK_INTERFACE_ID, SIZEOF_IP_MREQ, SO_WSK_EVENT_CALLBACK, SOL_SOCKET,
  STATUS_SUCCESS, WSK_EVENT_RECEIVE_FROM, WSK_FLAG_DATAGRAM_SOCKET, WskSetOption, makeSockaddrIn, type WSK_CLIENT_DATAGRAM_DISPATCH,
  type WSK_PROVIDER_BASIC_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { bind, close, socket } from '../contract/fixtures.ts';
import { call, until } from '../helpers/wsk-call.ts';

const PORT = 47300;
const GROUP = '239.255.13.9';

const control = (s: WSK_SOCKET) => (s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH).WskControlSocket;

function membership(s: WSK_SOCKET, code: number, iface: string) {
  const m = new IP_MREQ();
  m.imr_multiaddr = Uint8Array.from(GROUP.split('.').map(Number));
  m.imr_interface = Uint8Array.from(iface.split('.').map(Number));
  return call((irp) => control(s)(s, WskSetOption, code, IPPROTO_IP, SIZEOF_IP_MREQ, m, 0, null, null, irp));
}

describe('IPv4 multicast on the userspace stack against a Linux peer (AF_PACKET link)', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket', { multicast: true });
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a socket that joined the group receives a Linux sender\'s datagrams; the peer sees the IGMPv2 report on the join and the leave on the drop', async () => {
    const capture = L.peerProcess(`timeout 30 tcpdump -l -n -i ${L.lab.peerIf} igmp 2>&1`);
    await capture.waitFor('listening on');
    const got: string[] = [];
    const events: WSK_CLIENT_DATAGRAM_DISPATCH = {
      WskReceiveFromEvent: (_c, _f, list) => {
        for (let d = list; d; d = d.Next) got.push(Buffer.from(d.Buffer.Mdl!.buffer.subarray(d.Buffer.Offset, d.Buffer.Offset + d.Buffer.Length)).toString());
        return STATUS_SUCCESS;
      },
    };
    const sock = await socket(w, WSK_FLAG_DATAGRAM_SOCKET, 2, null, events);
    expect(await bind(sock, makeSockaddrIn('0.0.0.0', PORT))).toBe(STATUS_SUCCESS);
    expect(control(sock)(sock, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_RECEIVE_FROM }, 0, null, null, null))
      .toBe(STATUS_SUCCESS);
    expect((await membership(sock, IP_ADD_MEMBERSHIP, L.address)).status).toBe(STATUS_SUCCESS);
    const r = await L.peer(`python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('${L.peerAddress}'))
for i in range(3):
    s.sendto(f'group-{i}'.encode(), ('${GROUP}', ${PORT}))
EOF`, 15_000);
    expect(r.stderr).toBe('');
    await until(() => got.length === 3, 10_000, 'the three group datagrams');
    expect(got).toEqual(['group-0', 'group-1', 'group-2']);
    expect((await membership(sock, IP_DROP_MEMBERSHIP, L.address)).status).toBe(STATUS_SUCCESS);
    await capture.waitFor('leave', 15_000);
    capture.stop();
    const lines = capture.output().split('\n').filter((l) => l.includes('igmp'));
    // The report, perhaps its repeat (RFC 2236 §3: after a random part of the Unsolicited Report Interval), then the leave.
    expect(lines[0]).toContain(`${L.address} > ${GROUP}: igmp v2 report ${GROUP}`);
    expect(lines.length).toBeLessThanOrEqual(3);
    for (const l of lines.slice(1, -1)) expect(l).toContain(`${L.address} > ${GROUP}: igmp v2 report ${GROUP}`);
    expect(lines.at(-1)).toContain(`${L.address} > 224.0.0.2: igmp leave ${GROUP}`);
    expect(L.stack.groups.size).toBe(0);
    expect(await close(sock)).toBe(STATUS_SUCCESS);
  });
});

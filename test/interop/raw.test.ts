// Raw sockets on the wire (issue 13, deliverable 5): a Linux peer's raw socket (python3) reads the
// packets a WSK raw socket on the userspace stack sent over AF_PACKET — one behind the header the
// stack built from IP_TTL/IP_TOS, one behind the application's own header (IP_HDRINCL) — and WSK
// raw sockets on the stack receive, IPv4 header included, a packet the peer's raw socket sent and
// the echo request of the peer's ping. Needs root; 198.18.0.0/15 inside the lab's namespaces
// only; the lab is deleted by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IPPROTO_ICMP, IPPROTO_IP, IP_HDRINCL, IP_TOS, IP_TTL } from '../../index.ts';
import { openStackLab, type StackLab } from '../helpers/real-link.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { until } from '../helpers/wsk-call.ts';
import { close, expectOk } from '../contract/fixtures.ts';
import { EXPERIMENTAL_PROTOCOL, checksum, ip, rawSocket, sendTo, u16, type Packet } from '../contract/raw.contract.ts';

/** python3 in the peer namespace: one line per packet of the experimental protocol — payload, TTL, TOS, id, source, destination, header checksum ok — until "included" arrives. */
const READER = `
import socket, struct
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, ${EXPERIMENTAL_PROTOCOL})
r.settimeout(20)
print('ready', flush=True)
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return s == 0xffff
while True:
    p = r.recv(65535)
    ihl = (p[0] & 15) * 4
    payload = p[ihl:].decode(errors='replace')
    print(payload, p[8], p[1], struct.unpack('!H', p[4:6])[0], socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]), csum(p[:ihl]), flush=True)
    if payload == 'included':
        break
`;

/** python3 in the peer namespace: one packet of the experimental protocol to `to`, behind the header the peer's kernel builds. */
const SENDER = (to: string) => `
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, ${EXPERIMENTAL_PROTOCOL})
r.sendto(b'from the linux peer', ('${to}', 0))
`;

describe('raw sockets seen by a Linux peer: the userspace stack over AF_PACKET', () => {
  let L: StackLab;
  let w: WskSession;
  beforeAll(async () => {
    L = await openStackLab('afpacket');
    w = await sessionOn(L.subsystem);
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await L?.close();
  }, 60_000);

  it('a Linux raw socket reads what WSK raw sockets sent: the header the stack built (IP_TTL 21, IP_TOS 0x20) and the application\'s own (IP_HDRINCL, identification 0x4242, source 0 filled in)', async () => {
    const reader = L.peerProcess(`python3 -u - <<'EOF'\n${READER}EOF`);
    await reader.waitFor('ready');
    const built = await rawSocket(w, L.address, EXPERIMENTAL_PROTOCOL, null, [[IPPROTO_IP, IP_TTL, 21], [IPPROTO_IP, IP_TOS, 0x20]]);
    await expectOk(sendTo(built, new TextEncoder().encode('built'), L.peerAddress), 'WskSendTo (built)');
    const included = await rawSocket(w, L.address, EXPERIMENTAL_PROTOCOL, null, [[IPPROTO_IP, IP_HDRINCL, 1]]);
    const payload = new TextEncoder().encode('included');
    const p = new Uint8Array(20 + payload.byteLength);
    p[0] = 0x45; p[4] = 0x42; p[5] = 0x42; p[8] = 9; p[9] = EXPERIMENTAL_PROTOCOL;
    p.set(L.peerAddress.split('.').map(Number), 16);
    p.set(payload, 20);
    await expectOk(sendTo(included, p, L.peerAddress), 'WskSendTo (IP_HDRINCL)');
    await reader.waitFor('included', 15_000);
    await reader.exited; // it stops after that packet, its line written whole
    // payload, TTL, TOS, identification, source, destination, header checksum right.
    const lines = reader.output().trim().split('\n').slice(1).map((l) => l.split(' '));
    expect(lines).toEqual([
      ['built', '21', '32', lines[0]?.[3], L.address, L.peerAddress, 'True'],
      ['included', '9', '0', String(0x4242), L.address, L.peerAddress, 'True'],
    ]);
    await close(built); await close(included);
  });

  it('WSK raw sockets on the stack receive, IPv4 header included, a packet a Linux raw socket sent and the echo request of a Linux ping', async () => {
    const got: Packet[] = [];
    const icmp: Packet[] = [];
    const rx = await rawSocket(w, L.address, EXPERIMENTAL_PROTOCOL, got);
    const rxIcmp = await rawSocket(w, L.address, IPPROTO_ICMP, icmp);
    const sent = await L.peer(`python3 - <<'EOF'\n${SENDER(L.address)}EOF`);
    expect(sent.code, sent.stderr).toBe(0);
    const ping = await L.peer(`ping -c 1 -W 5 ${L.address}`);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    await until(() => got.length > 0 && icmp.some((q) => q.bytes[20] === 8), 5000, 'the packets');
    const b = got[0]!.bytes;
    expect({ protocol: b[9], src: ip(b, 12), dst: ip(b, 16), length: u16(b, 2), header: checksum(b, 0, 20), data: Buffer.from(b.subarray(20)).toString() })
      .toEqual({ protocol: EXPERIMENTAL_PROTOCOL, src: L.peerAddress, dst: L.address, length: b.byteLength, header: 0, data: 'from the linux peer' });
    expect(got[0]!.from).toBe(L.peerAddress);
    const request = icmp.find((q) => q.bytes[20] === 8)!.bytes;
    expect({ src: ip(request, 12), icmp: checksum(request, 20) }).toEqual({ src: L.peerAddress, icmp: 0 });
    await close(rx); await close(rxIcmp);
  });
});


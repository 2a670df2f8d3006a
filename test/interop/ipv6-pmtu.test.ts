// Path MTU discovery over IPv6 (RFC 8201) through real Linux routers: the userspace stack
// (AF_PACKET) in one namespace, two Linux router namespaces joined by a 1280-byte link, and a
// Linux peer on a 1500-byte link behind them (fd00:198:18::/64, fd00:198:19::/64,
// fd00:198:20::/64). IPv6 routers never fragment (RFC 8200 §5): what is too big for the narrow
// link comes back as a Packet Too Big, and only the sender can make it fit. Checked: a WSK upload
// of 4 MiB arrives intact (TCP lowered its segments), the path MTU towards the peer is 1280, and a
// 1400-byte echo request crosses in fragments both ways. Needs root; the four namespaces are
// deleted by name at the end.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { createUserspaceStack, type UserspaceStackConfig } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import type { NetworkStack } from '../../runtime/net/stack.ts';
import { parseIpv6 } from '../../runtime/net/ipv6/address-table.ts';
import { WskSubsystem } from '../../runtime/wsk/subsystem.ts';
import { STATUS_SUCCESS } from '../../runtime/ntstatus.ts';
import { sessionOn, type WskSession } from '../helpers/wsk-session.ts';
import { wskClose, wskConnect, wskDisconnect, wskReceiveAll, wskSendAll } from '../helpers/wsk-stream.ts';
import { until } from '../helpers/wsk-call.ts';

const id = `${process.pid % 100000}`;
const STACK_NS = `w6s-${id}`;
const NEAR_ROUTER_NS = `w6r-${id}`;
const FAR_ROUTER_NS = `w6q-${id}`;
const PEER_NS = `w6p-${id}`;
const NAMESPACES = [STACK_NS, NEAR_ROUTER_NS, FAR_ROUTER_NS, PEER_NS];
const OURS = 'fd00:198:18::2';
const GATEWAY = 'fd00:198:18::1';
const PEER = 'fd00:198:20::2';

const sh = (args: string[], input?: string): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const quietly = (fn: () => unknown): void => { try { fn(); } catch { /* already gone */ } };

describe('IPv6 path MTU discovery through a Linux router (RFC 8201)', () => {
  let stack: NetworkStack;
  let subsystem: WskSubsystem;
  let w: WskSession;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    for (const ns of NAMESPACES) sh(['ip', 'netns', 'add', ns]);
    // stack s0 —(fd00:198:18::/64, 1500)— r0 router r1 —(fd00:198:19::/64, 1280)— q0 router q1 —(fd00:198:20::/64, 1500)— p0 peer.
    // The peer sits on a 1500-byte link and advertises an MSS for it: only ICMP can tell us of the narrow link between.
    const veth = (a: string, aNs: string, b: string, bNs: string, mtu: number): void => {
      sh(['ip', 'link', 'add', a, 'netns', aNs, 'mtu', String(mtu), 'type', 'veth', 'peer', b, 'netns', bNs, 'mtu', String(mtu)]);
      for (const [dev, ns] of [[a, aNs], [b, bNs]]) sh(['ip', '-n', ns!, 'link', 'set', dev!, 'up']);
    };
    veth('s0', STACK_NS, 'r0', NEAR_ROUTER_NS, 1500);
    veth('r1', NEAR_ROUTER_NS, 'q0', FAR_ROUTER_NS, 1280);
    veth('q1', FAR_ROUTER_NS, 'p0', PEER_NS, 1500);
    // The stack's device carries no kernel IPv6: its link-local address, from the same MAC, would be the stack's.
    sh(['ip', 'netns', 'exec', STACK_NS, 'sysctl', '-q', '-w', 'net.ipv6.conf.s0.disable_ipv6=1']);
    const addr = (ns: string, a: string, dev: string): void => { sh(['ip', '-n', ns, 'addr', 'add', `${a}/64`, 'dev', dev, 'nodad']); };
    addr(NEAR_ROUTER_NS, GATEWAY, 'r0');
    addr(NEAR_ROUTER_NS, 'fd00:198:19::1', 'r1');
    addr(FAR_ROUTER_NS, 'fd00:198:19::2', 'q0');
    addr(FAR_ROUTER_NS, 'fd00:198:20::1', 'q1');
    addr(PEER_NS, PEER, 'p0');
    for (const ns of [NEAR_ROUTER_NS, FAR_ROUTER_NS]) sh(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    sh(['ip', '-n', NEAR_ROUTER_NS, '-6', 'route', 'add', 'fd00:198:20::/64', 'via', 'fd00:198:19::2']);
    sh(['ip', '-n', FAR_ROUTER_NS, '-6', 'route', 'add', 'fd00:198:18::/64', 'via', 'fd00:198:19::1']);
    sh(['ip', '-n', PEER_NS, '-6', 'route', 'add', 'default', 'via', 'fd00:198:20::1']);
    const config: UserspaceStackConfig = {
      address: '198.18.77.2/24',
      ipv6: { addresses: [`${OURS}/64`], gateway: GATEWAY, dadTransmits: 0, acceptRouterAdvertisements: false },
    };
    const link = new AfPacketLink({ ifname: 's0', netns: STACK_NS, filter: receiveFilterFor(config) });
    const userspace = createUserspaceStack(link, config);
    stack = userspace.ip;
    subsystem = new WskSubsystem(createStackProvider(userspace), { name: 'ipv6-pmtu', registerWithNmr: false });
    await subsystem.start();
    w = await sessionOn(subsystem);
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.pid) quietly(() => process.kill(-c.pid!, 'SIGKILL'));
    await w?.close();
    await subsystem?.stop();
    for (const ns of NAMESPACES) quietly(() => sh(['ip', 'netns', 'del', ns]));
  }, 60_000);

  const peerId = (): number => stack.ip6!.table.find(parseIpv6(PEER)!, 0);

  it('a 4 MiB WSK upload to a Linux server behind the 1280-byte link arrives intact, and the path MTU is 1280', async () => {
    const data = randomBytes(4 << 20);
    const server = spawn('ip', ['netns', 'exec', PEER_NS, 'socat', '-d', '-d', 'TCP6-LISTEN:5000,reuseaddr', 'SYSTEM:sha256sum'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(server);
    let log = '';
    server.stderr!.on('data', (d) => { log += d; });
    await until(() => log.includes('listening on'), 10_000, 'socat to listen');
    const errorsBefore = stack.counters.icmp6ErrorsIn;
    const sock = await wskConnect(w, OURS, PEER, 5000);
    try {
      await wskSendAll(sock, data);
      expect(await wskDisconnect(sock)).toBe(STATUS_SUCCESS);
      const reply = await wskReceiveAll(sock);
      expect(reply.toString().split(/\s+/)[0]).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      await wskClose(sock);
    }
    // The router said so (a Packet Too Big came in), and the stack believed it.
    expect(stack.counters.icmp6ErrorsIn - errorsBefore).toBeGreaterThan(0);
    expect(stack.ip6!.pathMtu(peerId())).toBe(1280);
  }, 60_000);

  it('a 1400-byte echo request leaves in two fragments that fit the learned path MTU; once the peer has learned it too, the reply comes back in fragments', async () => {
    const ip6 = stack.ip6!;
    const peer = ip6.table.intern(parseIpv6(PEER)!, 0);
    const replies: number[] = [];
    ip6.onEchoReply = (src, ident, seq, data) => { if (src === peer && ident === 0x7070) replies.push(seq, data.length); };
    try {
      // Alone, this test first has the router teach the path MTU: that request is lost to the
      // Packet Too Big (RFC 8201 §4), which an echo request is believed for (ICMPv6 has no transport to judge it).
      if (ip6.pathMtu(peer) !== 1280) {
        expect(ip6.ping6(peer, 0x7070, 0, 1400)).toBe(STATUS_SUCCESS);
        await until(() => ip6.pathMtu(peer) === 1280, 10_000, 'the Packet Too Big');
      }
      // Our request now fits; the peer's 1400-byte reply meets the narrow link the other way, and
      // the far router's Packet Too Big teaches the peer in its turn (that reply is lost).
      const fragmentsBefore = stack.counters.ip6FragmentsOut;
      expect(ip6.ping6(peer, 0x7070, 1, 1400)).toBe(STATUS_SUCCESS);
      await until(() => sh(['ip', '-n', PEER_NS, '-6', 'route', 'get', OURS]).includes('mtu 1280'), 10_000, 'the peer to learn the path MTU');
      expect(stack.counters.ip6FragmentsOut - fragmentsBefore).toBe(2);
      expect(ip6.ping6(peer, 0x7070, 2, 1400)).toBe(STATUS_SUCCESS);
      await until(() => replies.includes(2), 10_000, 'the echo reply');
      expect(replies.slice(replies.indexOf(2), replies.indexOf(2) + 2)).toEqual([2, 1400]);
    } finally {
      ip6.onEchoReply = null;
      ip6.table.release(peer);
    }
  }, 30_000);
});

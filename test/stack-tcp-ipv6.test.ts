// The stack provider's TCP half (runtime/net/stack-tcp.ts) on IPv6: the endpoints a WSK socket
// reports (SOCKADDR_IN6 of real IPv6 peers, ::ffff:a.b.c.d for IPv4 peers of an AF_INET6
// socket), listen on :: with and without V6ONLY, and the NTSTATUS of what cannot be done.
// Two stacks on the memory link in real time; bytes cross the IPv6 connection both ways.
import { describe, expect, it } from 'vitest';
import { stackConnect, stackListen, type StackConnection } from '../runtime/net/stack-tcp.ts';
import { ProviderError, SEND_HOP_LIMIT, type ConnectionSink, type ConnectOptions, type ListenOptions, type TransportConnection } from '../runtime/provider.ts';
import { AF_INET, AF_INET6, formatEndpoint, type Endpoint } from '../runtime/sockaddr.ts';
import { parseIpv6 } from '../runtime/net/ipv6/address-table.ts';
import { NetworkFamily } from '../runtime/net/transport-registry.ts';
import {
  STATUS_ADDRESS_ALREADY_ASSOCIATED, STATUS_CONNECTION_REFUSED, STATUS_INVALID_PARAMETER, STATUS_NETWORK_UNREACHABLE, type NTSTATUS,
} from '../runtime/ntstatus.ts';
import { until } from './helpers/wsk-call.ts';
import { LinkMiddleware } from '../transports/link.ts';
import type { LinkDevice } from '../runtime/net/device.ts';
import { Ipv6Field } from '../runtime/net/wire/ipv6.ts';
import { A6_IP as A6, B6_IP as B6, simulatedIpv6, stackPair, type StackPair } from './helpers/net-pair.ts';

const CONNECT: ConnectOptions = { keepAlive: false, noDelay: true, v6Only: false };
const listenOptions = (v6Only: boolean): ListenOptions => ({ v6Only, backlog: 16, keepAlive: false });

const v6 = (text: string, port: number): Endpoint => ({ family: AF_INET6, address: parseIpv6(text)!, port });
const v4 = (text: string, port: number): Endpoint => ({ family: AF_INET, address: Uint8Array.from(text.split('.').map(Number)), port });

function pair(ipv6 = true): StackPair {
  const cfg = (address: string) => (ipv6 ? simulatedIpv6(address) : {});
  return stackPair({}, {}, undefined, {}, cfg(A6), cfg(B6));
}

/** Collects what a connection delivers. */
class Collector implements ConnectionSink {
  chunks: Uint8Array[] = [];
  aborted: NTSTATUS | null = null;
  constructor(private readonly conn: TransportConnection) {}
  onData(chunk: Uint8Array, handle?: number): void {
    this.chunks.push(chunk.slice());
    if (handle !== undefined && handle >= 0) this.conn.releaseData?.(handle);
  }
  onEnd(): void {}
  onAbort(status: NTSTATUS): void { this.aborted = status; }
  get text(): string { return Buffer.concat(this.chunks).toString(); }
}

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try { await p; } catch (e) { if (e instanceof ProviderError) return e; throw e; }
  throw new Error('resolved');
}

const ep = (e: Endpoint): string => `${e.family === AF_INET6 ? 'AF_INET6' : 'AF_INET'} ${formatEndpoint(e)}`;

describe('stack TCP endpoints over IPv6', () => {
  it('a listener on [::] with V6ONLY off accepts an IPv6 peer as itself and an IPv4 peer as ::ffff:a.b.c.d; the client side reports the same; bytes cross both ways', async () => {
    const p = pair();
    const accepted: StackConnection[] = [];
    const listener = stackListen(p.b.tcp!, v6('::', 8080), listenOptions(false), { onConnection: (c) => accepted.push(c as StackConnection), onError: () => {} });
    expect(ep(listener.localEndpoint)).toBe('AF_INET6 [::]:8080');

    const over6 = await stackConnect(p.a.tcp!, null, v6(B6, 8080), CONNECT);
    const over4 = await stackConnect(p.a.tcp!, null, v4('198.18.0.2', 8080), CONNECT);
    const mapped = await stackConnect(p.a.tcp!, v6('::', 0), v6('::ffff:198.18.0.2', 8080), CONNECT);
    await until(() => accepted.length === 3, 5000, 'three accepted connections');

    expect(ep(over6.remoteEndpoint)).toBe(`AF_INET6 [${B6}]:8080`);
    expect(ep(over6.localEndpoint)).toMatch(new RegExp(`^AF_INET6 \\[${A6}\\]:\\d+$`));
    expect(ep(over4.remoteEndpoint)).toBe('AF_INET 198.18.0.2:8080');
    expect(ep(mapped.remoteEndpoint)).toBe('AF_INET6 [::ffff:198.18.0.2]:8080');
    expect(ep(mapped.localEndpoint)).toMatch(/^AF_INET6 \[::ffff:198\.18\.0\.1\]:\d+$/);
    const remotes = accepted.map((c) => ep(c.remoteEndpoint).replace(/:\d+$/, '')).sort();
    expect(remotes).toEqual(['AF_INET6 [::ffff:198.18.0.1]', 'AF_INET6 [::ffff:198.18.0.1]', `AF_INET6 [${A6}]`]);
    expect(accepted.map((c) => ep(c.localEndpoint).replace(/:\d+$/, '')).sort())
      .toEqual(['AF_INET6 [::ffff:198.18.0.2]', 'AF_INET6 [::ffff:198.18.0.2]', `AF_INET6 [${B6}]`]);

    const server = accepted.find((c) => c.remoteEndpoint.port === over6.localEndpoint.port && c.tcb.family === NetworkFamily.IPV6)!;
    const atServer = new Collector(server);
    const atClient = new Collector(over6);
    server.attach(atServer);
    over6.attach(atClient);
    const sent: NTSTATUS[] = [];
    over6.send([new TextEncoder().encode('over IPv6, up')], true, (s) => sent.push(s));
    server.send([new TextEncoder().encode('over IPv6, down')], true, (s) => sent.push(s));
    await until(() => atServer.text === 'over IPv6, up' && atClient.text === 'over IPv6, down' && sent.length === 2, 5000, 'both directions');
    expect(sent).toEqual([0, 0]);

    for (const c of [over6, over4, mapped, ...accepted]) c.abort();
    listener.close();
    p.close();
  });

  it('V6ONLY on [::] refuses IPv4 (STATUS_CONNECTION_REFUSED) and leaves the port to an AF_INET listener; a second listener of a family already taken is STATUS_ADDRESS_ALREADY_ASSOCIATED', async () => {
    const p = pair();
    const sink = { onConnection: (c: TransportConnection) => c.abort(), onError: () => {} };
    const only6 = stackListen(p.b.tcp!, v6('::', 8081), listenOptions(true), sink);
    expect((await rejection(stackConnect(p.a.tcp!, null, v4('198.18.0.2', 8081), CONNECT))).status).toBe(STATUS_CONNECTION_REFUSED);
    const plain4 = stackListen(p.b.tcp!, v4('0.0.0.0', 8081), listenOptions(false), sink);
    expect(() => stackListen(p.b.tcp!, v6(B6, 8081), listenOptions(true), sink)).toThrow(ProviderError);
    let status: NTSTATUS = 0;
    try { stackListen(p.b.tcp!, v6('::', 8081), listenOptions(false), sink); } catch (e) { status = (e as ProviderError).status; }
    expect(status).toBe(STATUS_ADDRESS_ALREADY_ASSOCIATED);
    only6.close();
    plain4.close();
    p.close();
  });

  it('an IPv6 address that is not the stack\'s is STATUS_INVALID_PARAMETER; a stack without IPv6 has no route to an IPv6 peer (STATUS_NETWORK_UNREACHABLE)', async () => {
    const p = pair();
    const sink = { onConnection: () => {}, onError: () => {} };
    let status: NTSTATUS = 0;
    try { stackListen(p.b.tcp!, v6('fd00:198:18::77', 8082), listenOptions(true), sink); } catch (e) { status = (e as ProviderError).status; }
    expect(status).toBe(STATUS_INVALID_PARAMETER);
    expect((await rejection(stackConnect(p.a.tcp!, v6('fd00:198:18::77', 0), v6(B6, 8082), CONNECT))).status).toBe(STATUS_INVALID_PARAMETER);
    p.close();

    const q = pair(false);
    expect((await rejection(stackConnect(q.a.tcp!, null, v6(B6, 8082), CONNECT))).status).toBe(STATUS_NETWORK_UNREACHABLE);
    q.close();
  });

  it('RFC 4861 §6.3.4: the segments of IPv6 connections leave with the layer\'s default hop limit (a router\'s Cur Hop Limit, 33 here) unless IPV6_UNICAST_HOPS was set (9)', async () => {
    const hops: number[][] = [];
    const p = stackPair({}, {}, (link, which) => (which === 'a' ? new HopLimitWatch(link, hops) : link), {}, simulatedIpv6(A6), simulatedIpv6(B6));
    p.a.ip.ip6!.defaultHopLimit = 33;
    const accepted: StackConnection[] = [];
    const listener = stackListen(p.b.tcp!, v6('::', 8083), listenOptions(true), { onConnection: (c) => accepted.push(c as StackConnection), onError: () => {} });
    const byDefault = await stackConnect(p.a.tcp!, null, v6(B6, 8083), CONNECT);
    const chosen = await stackConnect(p.a.tcp!, null, v6(B6, 8083), { ...CONNECT, sendOptions: [[SEND_HOP_LIMIT, 9]] });
    await until(() => accepted.length === 2, 5000, 'two accepted connections');
    const seen = (port: number) => [...new Set(hops.filter(([, src]) => src === port).map(([hop]) => hop))];
    expect(seen(byDefault.localEndpoint.port)).toEqual([33]);
    expect(seen(chosen.localEndpoint.port)).toEqual([9]);
    byDefault.abort(); chosen.abort();
    for (const c of accepted) c.abort();
    listener.close();
    p.close();
  });
});

/** Records [hop limit, TCP source port] of each IPv6 TCP segment the stack sends. */
class HopLimitWatch extends LinkMiddleware {
  constructor(inner: LinkDevice, private readonly hops: number[][]) { super(inner); }
  override transmit(slots: Int32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const v = this.arena.view(slots[i]!);
      const at = this.arena.offsetOf(slots[i]!) + 14;
      if (v[at - 2] === 0x86 && v[at - 1] === 0xdd && v[at + Ipv6Field.NEXT_HEADER] === 6) this.hops.push([v[at + Ipv6Field.HOP_LIMIT]!, (v[at + 40]! << 8) | v[at + 41]!]);
    }
    super.transmit(slots, count);
  }
}

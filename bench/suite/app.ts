// The WSK application side of the bench suite, in its own process (one per target and run, so
// no target inherits another's heap or JIT state): a sink, a source and an echo server written
// against the WSK API (bench/wsk-traffic.ts), on the kernel provider or on the userspace stack
// over one real-device link, driven by bench/suite/control.mjs's protocol on stdin. The plain
// node:net counterpart is `bench/peer-net.mjs serve`.
//
//   node --expose-gc --import tsx bench/suite/app.ts wsk-kernel <host>
//   node --expose-gc --import tsx bench/suite/app.ts afpacket|pcap|raw <host>/<prefix> <ifname> [<link options JSON>]
// Run inside the lab's stack namespace (ip netns exec), so the links open there directly.
import { createKernelProvider } from '../../index.ts';
import { createUserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { createStackProvider } from '../../runtime/net/stack-provider.ts';
import { WskSubsystem, startWskSubsystem } from '../../runtime/wsk/subsystem.ts';
import { startTrafficServer, type ServerOptions } from '../wsk-traffic.ts';
import { openLink, LINK_KINDS, type LinkKind } from './links.ts';
import { memory, out, serveControl } from './control.mjs';

async function main(): Promise<void> {
  const [kind, address, ifname, linkOptions] = process.argv.slice(2);
  if (!kind || !address) throw new Error('usage: app.ts wsk-kernel <host> | afpacket|pcap|raw <host>/<prefix> <ifname>');
  let subsystem: WskSubsystem;
  let host: string;
  let stats: () => unknown = () => ({});
  if (kind === 'wsk-kernel') {
    host = address;
    subsystem = await startWskSubsystem(createKernelProvider(), { makeDefault: false, registerWithNmr: false });
  } else if ((LINK_KINDS as readonly string[]).includes(kind) && ifname) {
    host = address.split('/')[0]!;
    const link = openLink(kind as LinkKind, ifname, undefined, address, linkOptions ? JSON.parse(linkOptions) as Record<string, unknown> : {});
    // A receive buffer as large as Linux lets its own sockets grow (tcp_rmem max 6 MiB), as in
    // bench/veth.bench.ts.
    const stack = createUserspaceStack(link, { address, tcp: { receiveBuffer: 4 << 20 } });
    const provider = createStackProvider(stack);
    // ring.bytes: the link's slot arena (for AF_PACKET the mmap'd PACKET_MMAP ring and its pool
    // slots), allocated whole when the link opens, whatever the number of connections.
    stats = () => ({
      link: link.stats, linkDetails: (link as { details?: unknown }).details, stack: stack.ip.counters, tcp: stack.tcp?.counters,
      ring: { bytes: link.arena.buffer.byteLength },
    });
    subsystem = new WskSubsystem(provider, { name: `suite-${kind}`, registerWithNmr: false });
    await subsystem.start();
  } else {
    throw new Error(`unknown app kind ${kind}`);
  }
  const sourceOptions: ServerOptions = { address: host, port: 0, mode: 'source', seconds: 2 };
  const sink = await startTrafficServer(subsystem, { address: host, port: 0, mode: 'sink' });
  const source = await startTrafficServer(subsystem, sourceOptions);
  const echo = await startTrafficServer(subsystem, { address: host, port: 0, mode: 'echo' });
  // The sink's own figures are not used (the peer measures both directions); drain them.
  const drain = (): void => { void sink.nextResult().then(drain); };
  drain();
  serveControl({
    mem: memory,
    open: () => echo.open,
    source: (s) => { sourceOptions.seconds = s; },
    stats: () => stats(),
    quit: async () => {
      for (const s of [sink, source, echo]) await s.stop();
      await subsystem.stop();
    },
  });
  out({ ready: true, sink: sink.port, source: source.port, echo: echo.port });
}

main().catch((err) => { out({ error: String(err?.stack ?? err) }); process.exit(1); });

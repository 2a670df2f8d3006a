// Our -J reports have stock iperf3's layout, key by key: for TCP, UDP, -R, --bidir and -P 2, our
// client against stock `iperf3 -s` and stock `iperf3 -c -J` against our server, each compared
// with what stock iperf3 prints against itself in the same run. On the kernel provider (loopback)
// node:net has no TCP_INFO, so the direction our side sends in has iperf3's layout for a sender
// without retransmission counts (the same keys stock iperf3 leaves out then); on the userspace
// stack every key is there (test/interop/iperf3.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernelProvider, startWskSubsystem, type WskSubsystem } from '../../index.ts';
import { runIperf3Client, type Iperf3ClientOptions } from './iperf3-client.ts';
import { startIperf3Server, type Iperf3Server } from './iperf3-server.ts';
import { freePort, layoutDifferences, stockClient, stockReference, stockServer, withoutTcpInfo, type Json } from '../../test/helpers/iperf3-json.ts';

const MODES: { name: string; args: string[]; client: Partial<Iperf3ClientOptions> }[] = [
  { name: 'TCP', args: [], client: {} },
  { name: 'UDP', args: ['-u'], client: { udp: true } },
  { name: '-R', args: ['-R'], client: { reverse: true } },
  { name: '--bidir', args: ['--bidir'], client: { bidirectional: true } },
  { name: '-P 2', args: ['-P', '2'], client: { parallel: 2 } },
];

describe('iperf3 -J layout on the kernel provider, against stock iperf3 captured in this run', () => {
  let subsystem: WskSubsystem;
  let server: Iperf3Server;
  beforeAll(async () => {
    subsystem = await startWskSubsystem(createKernelProvider(), { name: 'iperf3-json' });
    server = await startIperf3Server({ subsystem, address: '127.0.0.1', port: 0, json: true });
  });
  afterAll(async () => {
    await server?.stop();
    await subsystem?.stop();
  });

  for (const mode of MODES) {
    it(`${mode.name}: our client against iperf3 -s, and iperf3 -c against our server, print what iperf3 -c -J prints`, async () => {
      const reference = await stockReference(['-t', '1', ...mode.args]);
      expect(reference.error).toBeUndefined();

      // Our client: its sending direction (sender true) has no TCP_INFO on node:net.
      const port = await freePort();
      const stock = await stockServer(port);
      let ours: Json;
      try {
        ours = await runIperf3Client({ subsystem, host: '127.0.0.1', port, time: 1, ...mode.client }) as unknown as Json;
        await stock.done;
      } finally {
        stock.kill();
      }
      expect(layoutDifferences(ours, withoutTcpInfo(reference, true))).toEqual([]);

      // Stock client against our server: what our server sends (sender false for the client) has no retransmission counts.
      const next = server.nextReport();
      const theirs = await stockClient(server.port, ['-t', '1', ...mode.args]);
      const served = await next;
      expect(served.error).toBeNull();
      expect(layoutDifferences(theirs, withoutTcpInfo(reference, false))).toEqual([]);
      // Our server's own -J report for the test has iperf3 -s -J's layout: start, intervals, end, as the client's.
      expect(Object.keys(served.json)).toEqual(['start', 'intervals', 'end']);
      expect(layoutDifferences((served.json as { end: Json }).end.streams, (theirs.end as Json).streams)).toEqual([]);
    }, 60_000);
  }
});

// The memory medium of `wsk lab run`: two userspace stacks on the memory link in virtual time
// (the network simulation of netsim.ts), one seeded fault injector on A's link as the shared
// bottleneck (both directions), a capture on A's link above it; with `offloads` both links offer
// 64 KiB TSO and the injector cuts the frames into wire packets. Nothing here reads the wall
// clock or an unseeded random source, so the same spec gives byte-identical results and pcap.
import { join } from 'node:path';
import { FaultInjectorLink } from '../../transports/fault/fault-injector.ts';
import { BoundedCaptureLink } from './bounded-capture.ts';
import { bottleneck, flowBlock, runWorkload, type WorkloadRun } from './experiment-flow.ts';
import type { ExperimentSpec, MediumReport, RunHooks } from './experiment.ts';
import { buildNet, faultOptions, Sink } from './netsim.ts';

const TSO_BYTES = 65536;
import { A, A_IP, B, B_IP } from './stack-pair.ts';

const PORT = 5201;

export async function runMemoryExperiment(spec: ExperimentSpec, hooks: RunHooks): Promise<WorkloadRun & { medium: MediumReport }> {
  const capturePath = join(hooks.outDir, 'capture.pcap');
  let capture: BoundedCaptureLink | null = null;
  const tcp = { receiveBuffer: spec.workload.receiveBufferBytes };
  const net = buildNet(tcp, spec.seed, (link, which, injectors) => {
    if (which === 'b') return link;
    const injector = new FaultInjectorLink(link, faultOptions(bottleneck(spec.link), spec.seed * 2, 'both'));
    injectors.push(injector);
    if (spec.capture.maxFrames === 0) return injector;
    capture = new BoundedCaptureLink(injector, { path: capturePath, ...spec.capture, epochMs: 0 });
    return capture;
  }, spec.offloads ? TSO_BYTES : 0);
  const upload = spec.workload.direction === 'upload';
  const [sender, receiver] = upload ? [net.a, net.b] : [net.b, net.a];
  const block = flowBlock(spec.seed);
  const sinks: Sink[] = [];
  receiver.listen(0, PORT, 64, {
    onConnection: (tcb) => {
      const sink = new Sink(receiver, block, spec.workload.bytesPerFlow ?? Infinity);
      sink.tcb = tcb;
      tcb.events = sink;
      sinks.push(sink);
    },
  });
  let run: WorkloadRun;
  try {
    run = await runWorkload(spec, {
      sender,
      receiverIp: upload ? B : A,
      receiverPort: PORT,
      advanceTo: async (ms) => { net.clock.runUntil(ms); },
      faults: net.injectors[0]!.faults,
      progress: hooks.progress,
    });
  } finally {
    net.close();
    (capture as BoundedCaptureLink | null)?.file.close();
  }
  const injector = net.injectors[0]!;
  const { snaplen, maxFrames } = spec.capture;
  const medium: MediumReport = {
    notes: [
      `memory link in virtual time: two userspace stacks, A ${A_IP} and B ${B_IP}; ${upload ? 'A sends to B' : 'B sends to A'}; the same seed replays the same run`,
      "impairments: one seeded FaultInjectorLink on A's link, both directions (delay, jitter and rate per direction; loss, reorder, duplicate, corrupt per wire packet)",
      spec.offloads
        ? `offloads: both links offer ${TSO_BYTES}-byte TSO with checksum offload; the injector cut ${injector.faults.segmented} TSO frames into wire packets`
        : 'offloads: none, every frame is one wire packet',
      `capture: A's link above the impairments (what A sent, what reached A); ${snaplen} bytes per frame, first ${maxFrames} frames`,
    ],
    faults: { ...injector.faults },
    capture: (capture as BoundedCaptureLink | null)?.report() ?? null,
    intact: sinks.length === spec.workload.flows && sinks.every((s) => s.firstMismatch < 0 && s.excess === 0),
  };
  return { medium, ...run };
}

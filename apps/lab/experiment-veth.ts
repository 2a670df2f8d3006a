// The veth medium of `wsk lab run`: a fresh two-namespace lab (lab.ts, 198.18.0.0/15 only), our
// stack on an AF_PACKET link in the stack namespace sending bulk flows to a Linux receiver
// (socat writing to /dev/null) in the peer namespace, in real time. Impairments are the seeded
// FaultInjectorLink on the stack's link, both directions: the same injector as the memory medium
// keeps the two media comparable and runs on kernels without sch_netem. The lab is deleted by
// exact name when the run ends, also when it fails or is interrupted (Lab.spawn and labUp register
// for that); the receiver is ended by its process group.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { createUserspaceStack, type UserspaceStack } from '../../runtime/net/userspace-stack.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { AfPacketLink } from '../../transports/afpacket/afpacket-link.ts';
import { FaultInjectorLink } from '../../transports/fault/fault-injector.ts';
import { BoundedCaptureLink } from './bounded-capture.ts';
import { bottleneck, runWorkload, type WorkloadRun } from './experiment-flow.ts';
import type { ExperimentSpec, MediumReport, RunHooks } from './experiment.ts';
import { endProcessGroup, labUp, type Lab } from './lab.ts';
import { faultOptions } from './netsim.ts';

const PORT = 5201;
const RECEIVER_READY_MS = 10_000;

/** A Linux TCP receiver that discards everything, one child per connection. */
async function startReceiver(lab: Lab): Promise<ChildProcess> {
  // Its own process group (Lab.spawn), so the run ends socat and its per-connection children, and nothing else.
  const child = lab.spawn('peer', ['socat', '-d', '-d', '-u', `TCP4-LISTEN:${PORT},reuseaddr,fork`, 'OPEN:/dev/null,wronly']);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Linux receiver (socat) did not listen within ${RECEIVER_READY_MS} ms: ${log.trim() || 'no output'}; is socat installed (apt-get install socat)?`)), RECEIVER_READY_MS);
    child.stderr!.on('data', (d) => {
      log += d;
      if (log.includes('listening on')) { clearTimeout(timer); resolve(); }
    });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the Linux receiver (socat) exited with code ${code}: ${log.trim()}`)); });
  });
  return child;
}

export async function runVethExperiment(spec: ExperimentSpec, hooks: RunHooks): Promise<WorkloadRun & { medium: MediumReport }> {
  // Offloads only when asked: with them our stack hands the injector 64 KiB GSO frames (and
  // Linux's GRO aggregates come up to it), which the injector cuts into wire packets, so the
  // bottleneck still counts packets; without them every frame is wire-sized from the start.
  const lab = labUp({ offloads: spec.offloads });
  let receiver: ChildProcess | null = null;
  let top: LinkDevice | null = null;
  let stack: UserspaceStack | null = null;
  try {
    hooks.progress(`lab ${lab.id}: ${lab.peerNs} (Linux receiver ${lab.peerAddress}) and ${lab.stackNs} (our stack ${lab.stackAddress} on ${lab.stackIf})`);
    receiver = await startReceiver(lab);
    const config = { address: lab.stackAddress, tcp: { receiveBuffer: spec.workload.receiveBufferBytes } };
    const device = new AfPacketLink({ ifname: lab.stackIf, netns: lab.stackNs, filter: receiveFilterFor(config), offloads: spec.offloads });
    const injector = new FaultInjectorLink(device, faultOptions(bottleneck(spec.link), spec.seed * 2, 'both'));
    top = injector; // closed in finally even if the capture file cannot be created
    const capture = spec.capture.maxFrames === 0 ? null
      : new BoundedCaptureLink(injector, { path: join(hooks.outDir, 'capture.pcap'), ...spec.capture });
    top = capture ?? injector;
    stack = createUserspaceStack(top, config);
    const engine = stack.tcp!;
    const clock = engine.clock;
    const run = await runWorkload(spec, {
      sender: engine,
      receiverIp: parseIpv4(lab.peerAddress.split('/')[0]!) | 0,
      receiverPort: PORT,
      advanceTo: async (ms) => { await sleep(Math.max(0, ms - clock.now())); },
      faults: injector.faults,
      progress: hooks.progress,
    });
    const { snaplen, maxFrames } = spec.capture;
    const medium: MediumReport = {
      notes: [
        `veth lab in real time: our stack ${lab.stackAddress} on AF_PACKET (${lab.stackIf}) sends to Linux TCP (socat) at ${lab.peerAddress}; ${spec.offloads ? 'segmentation and checksum offloads on (PACKET_VNET_HDR, GSO/GRO on the veth pair): the injector cuts each frame into wire packets' : 'segmentation and checksum offloads off on both ends, so frames are wire-sized'}`,
        "impairments: a seeded in-process FaultInjectorLink on the stack's link, both directions (not tc netem: the same injector as the memory medium, and it needs no sch_netem in the kernel); real-time runs are not replayable",
        `capture: the stack's link above the impairments; ${snaplen} bytes per frame, first ${maxFrames} frames`,
      ],
      faults: { ...injector.faults },
      capture: capture?.report() ?? null,
      lab: { id: lab.id, peerNamespace: lab.peerNs, stackNamespace: lab.stackNs },
    };
    return { medium, ...run };
  } finally {
    // Closes the stack's link (top) too; top alone when the stack was never made.
    if (stack) stack.close(); else top?.close();
    if (receiver) endProcessGroup(receiver);
    lab.down();
  }
}

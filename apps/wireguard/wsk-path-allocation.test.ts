// The WSK driver part's own data path allocates nothing per datagram (design: steady state
// allocates nothing per packet), measured as the core's data-path-allocation.test.ts does: the
// receive queue (retained datagrams read with their IN_PKTINFO and released one by one), the send
// batches (datagrams copied into the pool, WskSendMessages per destination, buffers back at IRP
// completion) and the tunnel link (inner packets into slots and up; the stack's packets out). The
// WSK provider under them is a stand-in dispatch table here: the runtime's own WSK layer allocates
// per call (its bookkeeping objects), which is its account, not the driver's. Scheduling (one
// microtask or setImmediate per batch) is per batch and not in these loops.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, IoAllocateMdl, IoCompleteRequest, IPPROTO_IP, IP_PKTINFO, STATUS_PENDING, STATUS_SUCCESS, makeSockaddrIn,
  type IRP, type WSK_BUF_LIST, type WSK_DATAGRAM_INDICATION, type WSK_SOCKET,
} from '../../index.ts';
import { controlBuffer } from '../../test/helpers/control-buffer.ts';
import { measureAllocation } from '../../test/helpers/allocation.ts';
import { Endpoint } from './endpoint.ts';
import { DatagramReader, type RetainedQueue } from './receive-queue.ts';
import { SendBatches, type SendSocket } from './send-batches.ts';
import { TunnelLink } from './tunnel-link.ts';

const BATCH = 64;
const PACKETS = 1_000_000; // 15,625 batches
const WARMUP = 320_000; // 5,000 batches, five times: V8 is still optimising after 500,000

describe('WireGuard WSK driver part: allocation per datagram', () => {
  it('the receive queue reads and releases 1,000,000 retained datagrams (IN_PKTINFO parsed) allocating nothing per datagram', async () => {
    let released = 0;
    const socket = { Dispatch: { WskRelease: (_s: unknown, d: WSK_DATAGRAM_INDICATION) => { if (d.Next === null) released++; return STATUS_SUCCESS; } } } as unknown as WSK_SOCKET;
    const control = controlBuffer([IPPROTO_IP, IP_PKTINFO, Uint8Array.of(198, 18, 0, 2, 1, 0, 0, 0)]);
    const elements: WSK_DATAGRAM_INDICATION[] = [];
    for (let i = 0; i < BATCH; i++) {
      const bytes = new Uint8Array(1452).fill(i);
      elements.push({ Next: null, Buffer: { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: bytes.length }, ControlInfo: control, ControlInfoLength: control.length, RemoteAddress: makeSockaddrIn('198.18.0.1', 51820) });
    }
    const reader = new DatagramReader();
    let fromOk = 0;
    reader.receiver = (b, off, len, from) => {
      if (len === 1452 && b[off] === b[off + len - 1] && from.localFamily === 4 && from.port === 51820 && from.localAddress[3] === 2) fromOk++;
    };
    const q: RetainedQueue = { socket, head: null, tail: null };
    const run = (n: number): void => {
      for (let k = 0; k < n; k += BATCH) {
        for (let i = 0; i < BATCH - 1; i++) elements[i]!.Next = elements[i + 1]!;
        reader.enqueue(q, elements[0]!);
        reader.drain(q);
      }
    };
    const m = await measureAllocation(PACKETS, run, WARMUP);
    expect(released).toBe(PACKETS + 5 * WARMUP);
    expect(fromOk).toBe(released);
    console.log(`wireguard receive queue: ${m.perIteration.toFixed(3)} B/datagram, ${m.gcs} scavenges, ${m.ns.toFixed(0)} ns/datagram`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
  }, 60_000);

  it('the send batches copy 1,000,000 datagrams into WskSendMessages chains with IN_PKTINFO allocating nothing per datagram', async () => {
    // A stack with a count: length = 0 would make V8 trim and regrow the array per batch.
    const irps: IRP[] = [];
    let pendingIrps = 0;
    let sent = 0;
    let calls = 0;
    const socket = {
      Dispatch: {
        WskSendMessages: (_s: unknown, list: WSK_BUF_LIST | null, _f: number, address: { sin_family: number }, controlLength: number, _c: unknown, irp: IRP) => {
          calls++;
          if (address.sin_family === AF_INET && controlLength > 0) for (let b = list; b; b = b.Next) sent++;
          irp.IoStatus.Status = STATUS_SUCCESS;
          irps[pendingIrps++] = irp;
          return STATUS_PENDING;
        },
      },
    } as unknown as WSK_SOCKET;
    const batches = new SendBatches(1024, 2048);
    const s: SendSocket = { socket, open: null, listed: false };
    const to = Endpoint.parse('198.18.0.1:51820')!;
    to.localFamily = 4;
    to.localAddress.set([198, 18, 0, 2]);
    const datagram = new Uint8Array(1452).fill(3);
    const run = (n: number): void => {
      for (let k = 0; k < n; k += BATCH) {
        for (let i = 0; i < BATCH; i++) batches.queue(s, to, datagram, 0, datagram.length);
        batches.flush();
        // The provider completes later, after the call returned (R9/R10).
        for (let i = 0; i < pendingIrps; i++) IoCompleteRequest(irps[i]!);
        pendingIrps = 0;
      }
    };
    const m = await measureAllocation(PACKETS, run, WARMUP);
    expect(sent).toBe(PACKETS + 5 * WARMUP);
    expect(calls).toBe(sent / BATCH);
    expect(batches.stats.txDropped).toBe(0);
    expect(batches.freeBufferTotal).toBe(1024);
    console.log(`wireguard send batches: ${m.perIteration.toFixed(3)} B/datagram, ${m.gcs} scavenges, ${m.ns.toFixed(0)} ns/datagram`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
  }, 60_000);

  it('the tunnel link carries 1,000,000 inner packets each way allocating nothing per packet', async () => {
    let out = 0;
    const link = new TunnelLink({ sendPacket: (_b, _o, len) => { out += len > 0 ? 1 : 0; } });
    let up = 0;
    link.attach({ onReceive: (slots, n) => { for (let i = 0; i < n; i++) { up++; link.arena.release(slots[i]!); } } });
    const packet = new Uint8Array(1400).fill(5);
    packet[0] = 0x45;
    const tx = new Int32Array(BATCH);
    const run = (n: number): void => {
      for (let k = 0; k < n; k += BATCH) {
        for (let i = 0; i < BATCH; i++) link.deliver(packet, 0, packet.length);
        link.flush();
        for (let i = 0; i < BATCH; i++) {
          const slot = link.arena.alloc();
          link.arena.view(slot).set(packet, link.arena.offsetOf(slot));
          link.arena.setFrame(slot, link.arena.offsetOf(slot), packet.length);
          tx[i] = slot;
        }
        link.transmit(tx, BATCH);
      }
    };
    const m = await measureAllocation(PACKETS, run, WARMUP);
    expect(up).toBe(PACKETS + 5 * WARMUP);
    expect(out).toBe(up);
    expect(link.stats.rxDrops + link.stats.txDrops).toBe(0);
    console.log(`wireguard tunnel link: ${m.perIteration.toFixed(3)} B/packet, ${m.gcs} scavenges, ${m.ns.toFixed(0)} ns/packet (one way in, one way out)`);
    expect(m.gcs).toBe(0);
    expect(m.perIteration).toBeLessThan(1);
  }, 60_000);
});

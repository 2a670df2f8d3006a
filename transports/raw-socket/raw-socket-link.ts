// The raw IP link: the userspace stack on raw IPv4 sockets from the `raw-socket` package
// (IP_HDRINCL to send, one socket per protocol to receive). It carries bare IP packets
// (framing 'ip'): the host routes them and resolves neighbours, so it also works on devices
// without Ethernet (tun) and suits ICMP experiments.
//
// Where the host's own stack interferes, and what avoids it (docs/architecture.md §9):
// - A raw socket only sees packets the kernel delivers locally, so the kernel must own the
//   stack's address. It then also answers them itself: RSTs for TCP segments to ports it has no
//   socket for, ICMP port unreachable for UDP, echo replies for pings. Every packet this link
//   sends carries a socket mark (SO_MARK, `mark`), and the namespace gets an nftables rule that
//   drops outgoing IP without that mark (rawIpQuietRules below; `lab.quietHostStack`).
// - GRO and a local peer's checksum offload: packets may arrive merged beyond the MTU and with
//   the pseudo-header sum where the checksum should be. The link takes frames up to 64 KiB and
//   declares rxUnfinishedChecksums (see device.ts). It cannot send more than the MTU at once
//   (no GSO for raw sockets), and computes every checksum itself.
//
// Receiving, the package costs what it costs per packet: one recvfrom syscall and a callback; the
// link drives the package's socket directly (its `wrap`: recv into the arena's slots) instead of
// its queue. Sending goes through our own addon when it is built (raw-ip-sender.ts: sendmmsg
// batches straight from the slots, the arena living in the addon's mapping); without it, through
// the package, one sendto and an address string per packet.
import { createRequire } from 'node:module';
import { COMPILED } from '../../runtime/package-root.ts';
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import { RealClock, type Clock } from '../../runtime/net/clock.ts';
import type { LinkCapabilities, LinkStats } from '../../runtime/net/device.ts';
import { formatIpv4, get32 } from '../../runtime/net/wire/bytes.ts';
import { FIX_PRIVILEGE, LinkError, withNetns } from '../native/native.ts';
import { DeviceLink, watchDevice } from '../native/device-link.ts';
import { Ipv4Field } from '../../runtime/net/wire/ipv4.ts';
import { RawIpSender } from './raw-ip-sender.ts';

/** The socket mark this link's packets carry unless told otherwise ('WS'). */
export const RAW_IP_DEFAULT_MARK = 0x5753;

export interface RawSocketLinkOptions {
  /** Open the sockets inside this network namespace (`ip netns` name). */
  netns?: string;
  /** The device the stack's address lives on: its MTU and its up/down state (default: MTU 1500, no state). */
  ifname?: string;
  /** Default 1500, or the device's MTU when `ifname` is given. */
  mtu?: number;
  /** IP protocols to receive (default ICMP, TCP, UDP). */
  protocols?: number[];
  /** SO_MARK on everything sent, so a firewall rule can tell our packets from the kernel's. */
  mark?: number;
  slotCount?: number;
  /** Bytes per slot (default 69632: a GRO-merged 64 KiB packet plus headroom). */
  slotSize?: number;
  /** Receive buffer per socket in bytes (default 4 MiB). */
  receiveBuffer?: number;
  /** Send buffer of the sending socket in bytes (default 4 MiB). */
  sendBuffer?: number;
  batchSize?: number;
  statePollMs?: number;
  clock?: Clock;
}

/** The part of the package's native socket this link drives. */
interface RawWrap {
  recv(buffer: Uint8Array, cb: (buffer: Uint8Array, bytes: number, source: string) => void): void;
  send(buffer: Uint8Array, offset: number, length: number, address: string, cb: (bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  on(event: string, fn: () => void): void;
  removeAllListeners(event: string): void;
  close(): void;
}

interface RawSocketPackage {
  createSocket(options: { protocol: number; bufferSize?: number }): { wrap: RawWrap; on(event: string, fn: (e: Error) => void): void };
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number };
  SocketOption: { IP_HDRINCL: number };
}

const SO_RCVBUFFORCE = 33;
const SO_MARK = 36;
const RECV_AGAIN = /temporarily unavailable|would block/i;
const SEND_AGAIN = /temporarily unavailable|No buffer space/i;

function loadPackage(): RawSocketPackage {
  try {
    return createRequire(import.meta.url)('raw-socket') as RawSocketPackage;
  } catch (err) {
    // raw-socket is an optional dependency: npm leaves it out when its node-gyp build fails, and
    // the next install (npm ci in a clone) tries again.
    throw new LinkError('PACKAGE_MISSING', `raw IP link: the raw-socket package is not installed or not built: it builds with node-gyp (apt-get install g++ make python3), then run ${COMPILED ? 'npm install' : 'npm ci'}. ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

/** nftables rules for the stack's namespace: the host's own IP stack stays silent towards the peers. */
export function rawIpQuietRules(mark = RAW_IP_DEFAULT_MARK): string {
  return [
    'table ip wsk_raw_ip {',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    '    oifname "lo" accept',
    `    meta mark ${mark} accept`,
    '    drop',
    '  }',
    '}',
  ].join('\n');
}

export class RawSocketLink extends DeviceLink {
  readonly arena: SlotArena;
  readonly mtu: number;
  readonly mac = 0;
  readonly capabilities: LinkCapabilities = { rxChecksumVerified: false, rxUnfinishedChecksums: true, txChecksumOffload: false, tsoMaxBytes: 0 };
  readonly framing = 'ip' as const;
  private readonly wraps: RawWrap[] = [];
  /** Sends through the package when our addon is not built. */
  private readonly sender: RawWrap;
  private readonly batchSender: RawIpSender | null = null;
  private readonly rxBatch: Int32Array;
  /** One Buffer view per slot, made once: recv() writes straight into the slot. */
  private readonly slotViews: Uint8Array[];
  private readonly addressNames = new Map<number, string>();
  private received = 0;
  private txErrors = 0;
  private txAgain = 0;
  private recvErrors = 0;
  private writeRetry: NodeJS.Timeout | null = null;
  private readonly onRecvBound = (_b: Uint8Array, bytes: number): void => { this.received = bytes; };
  private readonly onSentBound = (): void => {};

  constructor(opts: RawSocketLinkOptions = {}) {
    const clock = opts.clock ?? new RealClock();
    if (clock.virtual) throw new LinkError('OPEN_FAILED', 'raw IP link: real sockets run in real time; use a RealClock (or none).');
    const raw = loadPackage();
    const watch = opts.ifname ? watchDevice(opts.ifname, opts.netns, 'raw IP link') : null;
    const slotCount = opts.slotCount ?? 1024;
    super(opts.ifname ?? 'raw-ip', clock, watch, slotCount, opts.statePollMs ?? 500);
    this.mtu = opts.mtu ?? watch?.mtu ?? 1500;
    const slotSize = opts.slotSize ?? 69632;
    const mark = opts.mark ?? RAW_IP_DEFAULT_MARK;
    try {
      this.batchSender = withNetns(opts.netns, () => RawIpSender.open(slotCount, slotSize, mark, opts.sendBuffer ?? 4 << 20, () => this.flushPending()));
    } catch (err) {
      watch?.close();
      throw openError(err);
    }
    this.arena = this.batchSender?.arena ?? new SlotArena({ slotCount, slotSize });
    this.rxBatch = new Int32Array(opts.batchSize ?? 256);
    const h = this.arena.headroom;
    this.slotViews = Array.from({ length: slotCount }, (_, i) => new Uint8Array(this.arena.buffer, this.arena.base(i) + h, this.arena.slotSize - h));
    try {
      withNetns(opts.netns, () => {
        for (const protocol of opts.protocols ?? [1, 6, 17]) {
          const socket = raw.createSocket({ protocol, bufferSize: 16 });
          const wrap = socket.wrap;
          this.wraps.push(wrap);
          // The package's own handler copies each packet into a new Buffer; ours reads into slots.
          wrap.removeAllListeners('recvReady');
          wrap.on('recvReady', () => this.drain(wrap));
          socket.on('error', () => { this.recvErrors++; });
          wrap.setOption(raw.SocketLevel.SOL_SOCKET, SO_RCVBUFFORCE, opts.receiveBuffer ?? 4 << 20);
          wrap.setOption(raw.SocketLevel.SOL_SOCKET, SO_MARK, mark);
          wrap.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
        }
      });
    } catch (err) {
      for (const w of this.wraps) w.close();
      this.batchSender?.close();
      watch?.close();
      throw openError(err);
    }
    if (this.wraps.length === 0) {
      this.batchSender?.close();
      watch?.close();
      throw new LinkError('OPEN_FAILED', 'raw IP link: give at least one protocol to receive.');
    }
    this.sender = this.wraps[0]!;
    this.startWatching();
  }

  get stats(): LinkStats { return this.publishStats(0, this.txErrors + (this.batchSender?.txErrors ?? 0)); }

  get details(): { txAgain: number; recvErrors: number; batchedSends: boolean } {
    return { txAgain: this.txAgain + (this.batchSender?.txAgain ?? 0), recvErrors: this.recvErrors, batchedSends: this.batchSender !== null };
  }

  /** Reads every waiting packet of one socket into slots, a batch per onReceive. */
  private drain(wrap: RawWrap): void {
    const arena = this.arena;
    const batch = this.rxBatch;
    for (;;) {
      let n = 0;
      let bytes = 0;
      let more = true;
      while (n < batch.length) {
        const slot = arena.alloc();
        if (slot < 0) { this.jsRxDrops++; more = false; break; }
        this.received = 0;
        try {
          wrap.recv(this.slotViews[slot]!, this.onRecvBound);
        } catch (err) {
          arena.release(slot);
          if (!RECV_AGAIN.test((err as Error).message)) this.recvErrors++;
          more = false;
          break;
        }
        arena.setFrame(slot, arena.headroom, this.received);
        batch[n++] = slot;
        bytes += this.received;
      }
      if (n > 0) {
        const s = this.linkStats;
        s.rxFrames += n;
        s.rxBytes += bytes;
        s.rxBatches++;
        this.deliver(batch, n);
      }
      if (!more || this.closed) return;
    }
  }

  private addressName(dst: number): string {
    let name = this.addressNames.get(dst);
    if (name === undefined) {
      if (this.addressNames.size > 4096) this.addressNames.clear();
      name = formatIpv4(dst);
      this.addressNames.set(dst, name);
    }
    return name;
  }

  protected sendNative(count: number): number {
    const arena = this.arena;
    const s = this.linkStats;
    if (this.batchSender) {
      const refusedBefore = this.batchSender.txErrors;
      const sent = this.batchSender.send(this.txSlots, count);
      for (let i = 0; i < sent; i++) s.txBytes += arena.lengthOf(this.txSlots[i]!);
      s.txFrames += sent - (this.batchSender.txErrors - refusedBefore);
      return sent;
    }
    let i = 0;
    for (; i < count; i++) {
      const slot = this.txSlots[i]!;
      const view = arena.view(slot);
      const off = arena.offsetOf(slot);
      const len = arena.lengthOf(slot);
      try {
        this.sender.send(view, off, len, this.addressName(get32(view, off + Ipv4Field.DESTINATION) | 0), this.onSentBound);
        s.txFrames++;
        s.txBytes += len;
      } catch (err) {
        if (SEND_AGAIN.test((err as Error).message)) { this.txAgain++; break; }
        // Refused (too large, no route): this packet is dropped and counted.
        this.txErrors++;
      }
    }
    return i;
  }

  protected wantWritable(): void {
    if (this.batchSender) { this.batchSender.wantWritable(); return; }
    if (this.writeRetry) return;
    this.writeRetry = setTimeout(() => { this.writeRetry = null; this.flushPending(); }, 1);
  }

  protected closeNative(): void {
    if (this.writeRetry) clearTimeout(this.writeRetry);
    this.writeRetry = null;
    for (const w of this.wraps) w.close();
    this.batchSender?.close();
  }
}

function openError(err: unknown): LinkError {
  if (err instanceof LinkError) return err;
  const message = (err as Error).message;
  if (/not permitted|Permission denied|EPERM|EACCES/i.test(message)) return new LinkError('NOT_PERMITTED', `raw IP link: ${FIX_PRIVILEGE} (and CAP_NET_ADMIN for SO_MARK)`, { cause: err });
  return new LinkError('OPEN_FAILED', `raw IP link: ${message}`, { cause: err });
}

// The kernel provider's datagram socket, JavaScript half: a host socket read with recvmmsg and
// written with sendmmsg by the native half (udp-socket.cc), with control messages decoded there.
//
// Contract:
// - Receive, zero copy: the kernel writes each datagram into a slot of `arena` (SlotArena over
//   the native mapping); onDatagram(row) runs once per datagram with the batch's row, during
//   which current() gives its bytes (a view into the slot) and the row's words (source, local
//   address, interface, TOS, TTL). A receiver that keeps the datagram calls hold() during the
//   call; the slot stays its own until release(handle). Held bytes that are not pinned may be
//   copied out of the arena when its free slots run low (heldBytes() then returns the copy); when
//   every slot is held, reading stops (the host's receive buffer holds and drops, as SO_RCVBUF
//   says) until one comes back.
// - Send: send() copies the datagram into the transmit staging area (the caller's buffers are
//   free when it returns; while the area is full it keeps views until there is room) and queues
//   it; queued datagrams leave together in one sendmmsg at the end of the current microtask
//   checkpoint (a turn that queued more than the area holds leaves in several), and each
//   `done(status, bytes, token)` runs after its batch left — never inside send(). A full socket
//   buffer keeps the rest queued, in order, until the socket is writable.
// - Nothing is allocated per datagram on either path but what the receiver makes of it
//   (currentStorage()/currentLength() give the bytes without a view; current() makes one).
// - Options are Linux's own numbers (LINUX below); errors surface as NativeError (errno's name in
//   `code`), or as an NTSTATUS in a send's done.
import { createRequire } from 'node:module';
import { HeldDataTable } from '../../runtime/ring/held-data.ts';
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import {
  ntStatusFromErrno, STATUS_BUFFER_OVERFLOW, STATUS_CANCELLED, STATUS_INVALID_PARAMETER, STATUS_SUCCESS, type NTSTATUS,
} from '../../runtime/ntstatus.ts';
import { COMPILED, packagePath } from '../../runtime/package-root.ts';

/** Linux's socket option numbers (asm-generic/socket.h, linux/in.h, linux/in6.h). */
export const LINUX = {
  SOCK_RAW: 3, SOL_SOCKET: 1, SO_REUSEADDR: 2, SO_SNDBUF: 7, SO_RCVBUF: 8, SO_BROADCAST: 6,
  IPPROTO_IP: 0, IP_TOS: 1, IP_TTL: 2, IP_HDRINCL: 3, IP_PKTINFO: 8, IP_MTU_DISCOVER: 10, IP_RECVTTL: 12, IP_RECVTOS: 13, IP_UNICAST_IF: 50,
  IP_PMTUDISC_DONT: 0, IP_PMTUDISC_DO: 2, IP_MULTICAST_IF: 32, IP_MULTICAST_TTL: 33, IP_MULTICAST_LOOP: 34, IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36,
  IPPROTO_IPV6: 41, IPV6_UNICAST_HOPS: 16, IPV6_MULTICAST_IF: 17, IPV6_MULTICAST_HOPS: 18, IPV6_MULTICAST_LOOP: 19, IPV6_ADD_MEMBERSHIP: 20,
  IPV6_DROP_MEMBERSHIP: 21, IPV6_V6ONLY: 26, IPV6_DONTFRAG: 62, IPV6_TCLASS: 67, IPV6_RECVPKTINFO: 49, IPV6_RECVHOPLIMIT: 51, IPV6_RECVTCLASS: 66,
} as const;

// rxInfo words (udp-socket.cc RxWord).
const RX_SLOT = 0, RX_LENGTH = 1;
export const RX_FLAGS = 2, RX_PORT = 3, RX_SCOPE = 4, RX_FLOWINFO = 5, RX_IFINDEX = 6, RX_TOS = 7, RX_TTL = 8;
export const RX_WORDS = 9;
// txInfo words (TxWord). TX_OFFSET is relative to the staging area, which follows the receive
// slots in the native region: a negative offset sends straight from a slot (the raw IP link's sends).
export const TX_OFFSET = 0, TX_LENGTH = 1, TX_PORT = 2, TX_SCOPE = 3, TX_FLOWINFO = 4, TX_FLAGS = 5, TX_IFINDEX = 6, TX_TOS = 7, TX_RESULT = 8;
export const TX_WORDS = 9;
/** Bytes per rxAddr/txAddr row: the peer's address, then the local one (16 each). */
export const ADDR_ROW = 32;
// RX_FLAGS bits (a datagram larger than its slot, RXF_TRUNC = 64, cannot happen with 64 KiB slots).
export const RXF_PKTINFO4 = 1, RXF_PKTINFO6 = 2, RXF_TOS = 4, RXF_TCLASS = 8, RXF_TTL = 16, RXF_HOPLIMIT = 32;
// TX_FLAGS bits.
const TXF_SOURCE4 = 1, TXF_SOURCE6 = 2, TXF_TOS = 4, TXF_TCLASS = 8;
// Stats indices (Stat).
const ST = { RX_DATAGRAMS: 0, RX_BYTES: 1, RX_BATCHES: 2, RX_STARVED: 3, RX_ERRORS: 4, RX_LAST_ERRNO: 5, TX_DATAGRAMS: 6, TX_BYTES: 7, TX_SYSCALLS: 8, TX_AGAIN: 9, TX_ERRORS: 10, WAKEUPS: 11 } as const;
export const EVENT_ERROR = 1;
export const EVENT_WRITABLE = 2;

export interface NativeSocket {
  readonly buffer: ArrayBuffer;
  readonly stats: Float64Array;
  bind(address: Uint8Array, port: number, scopeId: number): void;
  localAddress(out: Uint8Array): [port: number, scopeId: number];
  setInt(level: number, name: number, value: number): void;
  getInt(level: number, name: number): number;
  setBytes(level: number, name: number, bytes: Uint8Array): void;
  attach(arrays: object, onBatch: (count: number) => void, onEvent: (kind: number, errno: number) => void): void;
  resume(): void;
  flush(count: number): number;
  wantWritable(): void;
  close(): void;
}

interface UdpAddon {
  DatagramSocket: new (options: object) => NativeSocket;
  errnoName(errno: number): string;
  interfaceExists(index: number): boolean;
  setFdInt(fd: number, level: number, name: number, value: number): void;
}

/** Why the addon could not be loaded, once known (null: it loaded). */
let loadError: Error | null | undefined;
let addon: UdpAddon | null = null;

/** The native half, or null when it is not built (udpAddonError() says why). */
export function loadUdpAddon(): UdpAddon | null {
  if (loadError !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(packagePath('transports', 'native', 'build', 'wsk_udp.node')) as UdpAddon;
    loadError = null;
  } catch (err) {
    loadError = err as Error;
  }
  return addon;
}

/** What to tell a user whose kernel provider has no datagram sockets. */
export function udpAddonError(): string {
  const rebuild = COMPILED ? 'npm rebuild wsk-runtime' : 'npm run build:native';
  return `the kernel provider's datagram sockets need the native addon wsk_udp, which is not built (${loadError?.message.split('\n')[0] ?? 'unknown'}): run \`${rebuild}\` (needs g++)`;
}

export interface UdpSocketOptions {
  /** 4 or 6. */
  family: 4 | 6;
  /** SOCK_DGRAM (default) or SOCK_RAW. */
  type?: number;
  protocol?: number;
  /** Receive slots (default 256). */
  slots?: number;
  /** Bytes per receive slot (default 65536: any UDP datagram). */
  slotSize?: number;
  /** Datagrams per recvmmsg (default 64). */
  batch?: number;
}

export type SendDone<T> = (status: NTSTATUS, bytes: number, token: T) => void;

/** A datagram waiting for room while the staging area or the socket buffer is full. */
interface Overflow { pieces: Uint8Array[]; address: Uint8Array; port: number; scope: number; flowinfo: number; flags: number; source: Uint8Array | null; ifIndex: number; tos: number; done: SendDone<unknown>; token: unknown }

const TX_ROWS = 256;
const TX_BYTES = 1 << 20;

export class UdpSocket {
  readonly arena: SlotArena;
  readonly held: HeldDataTable;
  /** Row words of the batch being delivered (read them during onDatagram). */
  readonly rxInfo: Int32Array;
  readonly rxAddr: Uint8Array;
  /** Called once per received datagram, with its row in rxInfo/rxAddr. */
  onDatagram: (row: number) => void = () => {};
  /** A failure of the socket itself (not of one send). */
  onError: (errno: string) => void = () => {};
  closed = false;

  private readonly native: NativeSocket;
  private readonly rxSpares: Int32Array;
  private readonly batch: number;
  private curRow = -1;
  private curSlot = -1;
  private curLength = 0;
  private needResume = false;
  private readonly txInfo = new Int32Array(TX_ROWS * TX_WORDS);
  private readonly txAddr = new Uint8Array(TX_ROWS * ADDR_ROW);
  private readonly txView: Uint8Array;
  private readonly txDone: (SendDone<unknown> | null)[] = new Array(TX_ROWS).fill(null);
  private readonly txToken: unknown[] = new Array(TX_ROWS).fill(null);
  private txCount = 0;
  private txUsed = 0;
  private flushScheduled = false;
  /** Waiting for the socket to be writable: nothing is flushed until then. */
  private blocked = false;
  private readonly overflow: Overflow[] = [];
  private readonly flushBound = (): void => this.flush();

  constructor(options: UdpSocketOptions) {
    const a = loadUdpAddon();
    if (!a) throw new Error(udpAddonError());
    const slots = options.slots ?? 256;
    const slotSize = options.slotSize ?? 65536;
    this.batch = options.batch ?? 64;
    this.native = new a.DatagramSocket({
      family: options.family, type: options.type ?? 2, protocol: options.protocol ?? 0, slots, slotSize, batch: this.batch,
      txRows: TX_ROWS, txBytes: TX_BYTES,
    });
    this.arena = new SlotArena({ slotCount: slots, slotSize, headroom: 0, buffer: this.native.buffer });
    // More handles than slots: held datagrams copied out of the arena keep theirs.
    this.held = new HeldDataTable(this.arena, { capacity: Math.max(1024, slots * 4) });
    this.txView = new Uint8Array(this.native.buffer, slots * slotSize, TX_BYTES);
    this.rxSpares = new Int32Array(1 + this.batch);
    this.rxInfo = new Int32Array(this.batch * RX_WORDS);
    this.rxAddr = new Uint8Array(this.batch * ADDR_ROW);
  }

  get stats(): Record<keyof typeof ST, number> {
    const s = this.native.stats;
    return Object.fromEntries(Object.entries(ST).map(([k, i]) => [k, s[i]!])) as Record<keyof typeof ST, number>;
  }

  bind(address: Uint8Array, port: number, scopeId: number): void { this.native.bind(address, port, scopeId); }
  /** The bound address into `out` (16 bytes); returns [port, scopeId]. */
  localAddress(out: Uint8Array): [number, number] { return this.native.localAddress(out); }
  setInt(level: number, name: number, value: number): void { this.native.setInt(level, name, value); }
  getInt(level: number, name: number): number { return this.native.getInt(level, name); }
  /** setsockopt with a struct the caller laid out (Linux's ip_mreqn, ipv6_mreq, ...). */
  setBytes(level: number, name: number, bytes: Uint8Array): void { this.native.setBytes(level, name, bytes); }

  /** Starts reading: onDatagram runs for every datagram from now on. */
  start(): void {
    this.topUp();
    this.native.attach({ rxSpares: this.rxSpares, rxInfo: this.rxInfo, rxAddr: this.rxAddr, txInfo: this.txInfo, txAddr: this.txAddr },
      (count) => this.onBatch(count), (kind, errno) => this.onEvent(kind, errno));
  }

  /** The bytes of the datagram being delivered (a view into its slot). */
  current(): Uint8Array { return this.arena.view(this.curSlot).subarray(0, this.curLength); }
  /** The same without making a view: the whole slot's view (made once by the arena), the datagram its first currentLength() bytes. */
  currentStorage(): Uint8Array { return this.arena.view(this.curSlot); }
  currentLength(): number { return this.curLength; }

  /** During onDatagram: keeps the datagram's slot; returns a handle for heldBytes/pin/release, or -1. */
  hold(): number {
    if (this.curRow < 0) return -1;
    return this.held.hold(this.curSlot, 0, this.curLength);
  }

  heldBytes(handle: number): Uint8Array { return this.held.bytes(handle); }
  heldStorage(handle: number): Uint8Array { return this.held.storage(handle); }
  heldOffset(handle: number): number { return this.held.offsetOf(handle); }
  pin(handle: number): void { this.held.pin(handle); }

  release(handle: number): void {
    this.held.release(handle);
    if (this.needResume && !this.closed) {
      this.topUp();
      if (this.rxSpares[0]! > 0) { this.needResume = false; this.native.resume(); }
    }
  }

  private onBatch(count: number): void {
    const info = this.rxInfo;
    for (let i = 0; i < count; i++) {
      const slot = info[i * RX_WORDS + RX_SLOT]!;
      this.curRow = i;
      this.curSlot = slot;
      this.curLength = info[i * RX_WORDS + RX_LENGTH]!;
      try {
        if (!this.closed) this.onDatagram(i);
      } finally {
        this.curRow = -1;
        // The batch's reference; a receiver that held the datagram keeps its own.
        this.arena.release(slot);
      }
    }
    if (this.held.underPressure) this.held.relievePressure();
    this.topUp();
  }

  /** Sets aside free slots for the next reads (refcount 1 each, ours until the kernel fills them). */
  private topUp(): void {
    const spares = this.rxSpares;
    let n = spares[0]!;
    while (n < this.batch) {
      const slot = this.arena.alloc();
      if (slot < 0) break;
      spares[++n] = slot;
    }
    spares[0] = n;
    this.needResume = n === 0;
  }

  private onEvent(kind: number, errno: number): void {
    if (kind === EVENT_WRITABLE) {
      this.blocked = false;
      this.flush();
    } else if (kind === EVENT_ERROR && !this.closed) {
      this.onError(loadUdpAddon()!.errnoName(errno));
    }
  }

  /**
   * Queues one datagram of `pieces` to `address` (4 or 16 bytes, as the socket's family) and
   * `port`; `source` (4 bytes: IP_PKTINFO, 16: IPV6_PKTINFO), `ifIndex` and `tos` (-1: none) go
   * along as control messages. done(status, bytes, token) runs once the batch has left.
   */
  send<T>(pieces: readonly Uint8Array[], address: Uint8Array, port: number, scope: number, flowinfo: number,
    source: Uint8Array | null, ifIndex: number, tos: number, done: SendDone<T>, token: T): void {
    const d = done as SendDone<unknown>;
    if (this.closed) { queueMicrotask(() => d(STATUS_CANCELLED, 0, token)); return; }
    let length = 0;
    for (let i = 0; i < pieces.length; i++) length += pieces[i]!.byteLength;
    // Larger than any IP datagram (EMSGSIZE): it could never be staged.
    if (length > 0xffff) { queueMicrotask(() => d(STATUS_BUFFER_OVERFLOW, 0, token)); return; }
    let flags = 0;
    if (source) flags |= source.byteLength === 4 ? TXF_SOURCE4 : TXF_SOURCE6;
    if (tos >= 0) flags |= address.byteLength === 4 || isV4Mapped(address) ? TXF_TOS : TXF_TCLASS;
    if (this.overflow.length > 0 || this.blocked || !this.stage(pieces, length, address, port, scope, flowinfo, flags, source, ifIndex, tos, d, token)) {
      // Waits, as views (the caller's buffers stay valid until done), for the flush to make room.
      this.overflow.push({ pieces: pieces.slice(), address, port, scope, flowinfo, flags, source, ifIndex, tos, done: d, token });
    }
    if (!this.flushScheduled && !this.blocked) {
      this.flushScheduled = true;
      queueMicrotask(this.flushBound);
    }
  }

  /** Copies one datagram into the staging area; false when it is full. */
  private stage(pieces: readonly Uint8Array[], length: number, address: Uint8Array, port: number, scope: number, flowinfo: number,
    flags: number, source: Uint8Array | null, ifIndex: number, tos: number, done: SendDone<unknown>, token: unknown): boolean {
    const row = this.txCount;
    const offset = this.txUsed;
    if (row === TX_ROWS || offset + length > TX_BYTES) return false;
    let at = offset;
    for (let i = 0; i < pieces.length; i++) { const p = pieces[i]!; this.txView.set(p, at); at += p.byteLength; }
    // 8-byte aligned starts keep the kernel's copies word-aligned.
    this.txUsed = (at + 7) & ~7;
    const w = row * TX_WORDS;
    const info = this.txInfo;
    info[w + TX_OFFSET] = offset;
    info[w + TX_LENGTH] = length;
    info[w + TX_PORT] = port;
    info[w + TX_SCOPE] = scope;
    info[w + TX_FLOWINFO] = flowinfo;
    info[w + TX_FLAGS] = flags;
    info[w + TX_IFINDEX] = ifIndex;
    info[w + TX_TOS] = tos;
    info[w + TX_RESULT] = 0;
    const a = row * ADDR_ROW;
    this.txAddr.set(address, a);
    if (source) this.txAddr.set(source, a + 16);
    this.txDone[row] = done;
    this.txToken[row] = token;
    this.txCount = row + 1;
    return true;
  }

  /**
   * Sends what is staged (one sendmmsg), completes it, then stages what waited and goes on. Runs
   * from a microtask or the writable event only, so a done that sends again never re-enters it.
   */
  private flush(): void {
    this.flushScheduled = false;
    while (!this.blocked && this.txCount > 0) {
      const count = this.txCount;
      const sent = this.closed ? 0 : this.native.flush(count);
      this.complete(this.closed ? count : sent);
      if (this.txCount > 0) {
        // The socket buffer is full: the rest goes when the socket is writable.
        this.blocked = true;
        this.native.wantWritable();
        return;
      }
      this.txUsed = 0;
      while (this.overflow.length > 0) {
        const o = this.overflow[0]!;
        let length = 0;
        for (const p of o.pieces) length += p.byteLength;
        if (!this.stage(o.pieces, length, o.address, o.port, o.scope, o.flowinfo, o.flags, o.source, o.ifIndex, o.tos, o.done, o.token)) break;
        this.overflow.shift();
      }
    }
  }

  /** Completes the first `n` staged rows and moves the rest to the front. */
  private complete(n: number): void {
    const info = this.txInfo;
    for (let row = 0; row < n; row++) {
      const done = this.txDone[row]!;
      const token = this.txToken[row];
      this.txDone[row] = null;
      this.txToken[row] = null;
      const r = this.closed ? -1 : info[row * TX_WORDS + TX_RESULT]!;
      if (this.closed) done(STATUS_CANCELLED, 0, token);
      else if (r >= 0) done(STATUS_SUCCESS, r, token);
      else done(sendStatus(loadUdpAddon()!.errnoName(-r)), 0, token);
    }
    const left = this.txCount - n;
    if (left > 0 && n > 0) {
      info.copyWithin(0, n * TX_WORDS, this.txCount * TX_WORDS);
      this.txAddr.copyWithin(0, n * ADDR_ROW, this.txCount * ADDR_ROW);
      for (let row = 0; row < left; row++) {
        this.txDone[row] = this.txDone[row + n]!;
        this.txToken[row] = this.txToken[row + n];
        this.txDone[row + n] = null;
        this.txToken[row + n] = null;
      }
    }
    this.txCount = left;
  }

  /** Closes the socket: queued sends complete with STATUS_CANCELLED; held datagrams stay readable until released. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    this.blocked = false;
    // Queued sends complete (cancelled) in the flush, after this call, as every done does.
    if ((this.txCount > 0 || this.overflow.length > 0) && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushBound);
    }
    // The spares were never handed to the kernel's reads.
    const spares = this.rxSpares;
    for (let i = 1; i <= spares[0]!; i++) this.arena.release(spares[i]!);
    spares[0] = 0;
  }
}

/** Whether an interface has this index (IN_PKTINFO's ipi_ifindex). */
export function interfaceExists(index: number): boolean {
  return loadUdpAddon()?.interfaceExists(index) ?? false;
}

/** A failed send's status: an interface index that names no interface (IN_PKTINFO) is a bad parameter. */
function sendStatus(errno: string): NTSTATUS {
  return errno === 'ENODEV' || errno === 'ENXIO' ? STATUS_INVALID_PARAMETER : ntStatusFromErrno(errno);
}

export function isV4Mapped(a: Uint8Array): boolean {
  if (a.byteLength !== 16) return false;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

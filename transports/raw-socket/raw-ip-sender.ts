// The raw IP link's transmit path: one IPPROTO_RAW socket (header included, raw(7)) of the
// wsk_udp addon (transports/kernel/udp-socket.cc). The link's arena lives in the addon's mapping,
// so sendmmsg reads each packet straight from its slot: a batch of up to 256 packets is one
// syscall and no copy, where the raw-socket package takes a sendto and an address string per
// packet (issue: the raw IP link sent at 0.08x node:net).
import { SlotArena } from '../../runtime/ring/slot-arena.ts';
import {
  ADDR_ROW, EVENT_WRITABLE, LINUX, loadUdpAddon, TX_FLAGS, TX_LENGTH, TX_OFFSET, TX_RESULT, TX_WORDS, type NativeSocket,
} from '../kernel/udp-socket.ts';
import { Ipv4Field } from '../../runtime/net/wire/ipv4.ts';

const IPPROTO_RAW = 255;
const SO_SNDBUFFORCE = 32;
const SO_MARK = 36;
const ROWS = 256;

export class RawIpSender {
  /** The arena the link builds its slots in (over the addon's mapping). */
  readonly arena: SlotArena;
  txErrors = 0;
  txAgain = 0;
  private readonly native: NativeSocket;
  private readonly txInfo = new Int32Array(ROWS * TX_WORDS);
  private readonly txAddr = new Uint8Array(ROWS * ADDR_ROW);
  /** Where the staging area starts in the mapping: TX_OFFSET is counted from there. */
  private readonly txBase: number;

  /** Null when the addon is not built (the link then sends through the raw-socket package). Throws what socket(2) or setsockopt(2) refused. */
  static open(slotCount: number, slotSize: number, mark: number, sendBuffer: number, onWritable: () => void): RawIpSender | null {
    const addon = loadUdpAddon();
    return addon ? new RawIpSender(addon.DatagramSocket, slotCount, slotSize, mark, sendBuffer, onWritable) : null;
  }

  private constructor(Socket: new (options: object) => NativeSocket, slotCount: number, slotSize: number, mark: number, sendBuffer: number,
    onWritable: () => void) {
    slotSize = Math.ceil(slotSize / 64) * 64;
    this.native = new Socket({ family: 4, type: LINUX.SOCK_RAW, protocol: IPPROTO_RAW, slots: slotCount, slotSize, batch: 1, txRows: ROWS, txBytes: 65536 });
    try {
      this.native.setInt(LINUX.SOL_SOCKET, SO_MARK, mark);
      this.native.setInt(LINUX.SOL_SOCKET, SO_SNDBUFFORCE, sendBuffer);
      this.arena = new SlotArena({ slotCount, slotSize, buffer: this.native.buffer });
      this.txBase = slotCount * slotSize;
      // An IPPROTO_RAW socket never receives: attach only for the writable event.
      this.native.attach({ rxSpares: new Int32Array(2), rxInfo: new Int32Array(9), rxAddr: new Uint8Array(ADDR_ROW), txInfo: this.txInfo, txAddr: this.txAddr },
        () => {}, (kind) => { if (kind === EVENT_WRITABLE) onWritable(); });
    } catch (err) {
      this.native.close();
      throw err;
    }
  }

  /** Sends slots[0..count) (IPv4 packets, header included) in one sendmmsg; returns how many were consumed (sent or refused, counted). */
  send(slots: Int32Array, count: number): number {
    const arena = this.arena;
    const info = this.txInfo;
    const addr = this.txAddr;
    const all = arena.all;
    const n = count < ROWS ? count : ROWS;
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const at = arena.base(slot) + arena.offsetOf(slot);
      const w = i * TX_WORDS;
      info[w + TX_OFFSET] = at - this.txBase;
      info[w + TX_LENGTH] = arena.lengthOf(slot);
      info[w + TX_FLAGS] = 0;
      info[w + TX_RESULT] = 0;
      const d = at + Ipv4Field.DESTINATION;
      const a = i * ADDR_ROW;
      addr[a] = all[d]!; addr[a + 1] = all[d + 1]!; addr[a + 2] = all[d + 2]!; addr[a + 3] = all[d + 3]!;
    }
    const sent = this.native.flush(n);
    for (let i = 0; i < sent; i++) if (info[i * TX_WORDS + TX_RESULT]! < 0) this.txErrors++;
    if (sent < n) this.txAgain++;
    return sent;
  }

  wantWritable(): void { this.native.wantWritable(); }

  close(): void { this.native.close(); }
}

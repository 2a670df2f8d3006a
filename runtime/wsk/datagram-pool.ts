// Received datagrams of a datagram socket, pooled so that the receive path allocates nothing per
// datagram once the socket is warm (the hot-path contract: docs/architecture.md §3).
//
// A ReceivedDatagram is one datagram from its arrival to its end: queued (for a WskReceiveFrom
// IRP or the next indication), indicated (an element of the WSK_DATAGRAM_INDICATION list being
// passed to WskReceiveFromEvent), retained (the callback returned STATUS_PENDING; the application
// holds the element until WskRelease), then free again. Each one owns, made once, everything the
// application sees of it: its WSK_DATAGRAM_INDICATION element, that element's WSK_BUF, one MDL
// remapped per datagram onto the storage the transport filled (the ring slot's view, made once
// by the arena, with WSK_BUF.Offset giving the datagram's position in it: wsk.h WSK_BUF, "Offset
// lies in the first MDL") and the RemoteAddress SOCKADDR_IN / SOCKADDR_IN6 filled in place.
// A socket's pool grows by one record when none is free: bounded by the most datagrams it ever
// had queued, indicated and retained at once.
//
// The element is the record's own, as a WSK provider embeds it in its private structure
// (CONTAINING_RECORD): recordOf() finds the record from an element the application passes to
// WskRelease, so nothing is looked up in a table and retaining costs no allocation.
// WskRelease follows the rules of retained.ts (any grouping, elements recorded when indicated and
// never read back through Next but in the list being released, the list checked whole first).
//
// Misuse: a released element is never the application's again, but its object comes back for a
// later datagram (a lookaside list's rule in a kernel driver too). Two things catch misuse
// anyway: a recycled element is cleared at once (Next, Buffer.Mdl and ControlInfo null, lengths
// 0), so reading it finds no data rather than another datagram's; and free records are reused
// oldest first, only once QUARANTINE others are free, so a release of an element released a
// short while ago still finds it free and returns STATUS_INVALID_PARAMETER. For tests that
// release elements long released on purpose, verifyDatagramReleases(true) never reuses a record
// (every released element stays unknown for good; each datagram then costs a record).
import { STATUS_INVALID_PARAMETER, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import { MDL, type WSK_BUF } from '../mdl/mdl.ts';
import { AF_INET, AF_INET6, htons, type Endpoint, type SOCKADDR, type SOCKADDR_IN, type SOCKADDR_IN6 } from '../sockaddr.ts';
import type { PCMSGHDR, WSK_DATAGRAM_INDICATION } from './types.ts';

const NO_BYTES = new Uint8Array(0);

/** Points the record's own MDL at other bytes (an MDL's fields are read-only to applications only). */
function mapMdl(mdl: MDL, buffer: Uint8Array): void {
  const m = mdl as { buffer: Uint8Array; ByteCount: number };
  m.buffer = buffer;
  m.ByteCount = buffer.byteLength;
}

/** Where a ReceivedDatagram is in its life. */
export const DatagramState = {
  FREE: 0,
  /** In the socket's queue, not yet given to anyone. */
  QUEUED: 1,
  /** An element of the list WskReceiveFromEvent is being called with. */
  INDICATED: 2,
  /** Indicated, and released by WskRelease inside that very callback. */
  RELEASED_EARLY: 3,
  /** Held by the application (STATUS_PENDING) until WskRelease. */
  RETAINED: 4,
} as const;
export type DatagramState = (typeof DatagramState)[keyof typeof DatagramState];

/** WSK_DATAGRAM_INDICATION as the provider hands it out: the fields of wsk.h, and (hidden) the record it belongs to. */
class DatagramIndicationElement implements WSK_DATAGRAM_INDICATION {
  Next: WSK_DATAGRAM_INDICATION | null = null;
  readonly Buffer: WSK_BUF;
  ControlInfo: PCMSGHDR = null;
  ControlInfoLength = 0;
  RemoteAddress: SOCKADDR;
  readonly #record: ReceivedDatagram;

  constructor(record: ReceivedDatagram, remote: SOCKADDR) {
    this.#record = record;
    this.Buffer = { Mdl: null, Offset: 0, Length: 0 };
    this.RemoteAddress = remote;
  }

  /** The record behind an element the application passes back, or null for anything else. */
  static recordOf(e: unknown): ReceivedDatagram | null {
    return e instanceof DatagramIndicationElement ? e.#record : null;
  }
}

export class ReceivedDatagram {
  state: DatagramState = DatagramState.FREE;
  /** Bumped each time the record is taken: tells a reused record from the one a caller saw. */
  generation = 0;
  /** The datagram's bytes: bytes[offset, offset + length) (a ring slot's view, or a copy). */
  bytes: Uint8Array = NO_BYTES;
  offset = 0;
  length = 0;
  flags = 0;
  /** Its control info (WSACMSGHDR objects): the first controlLength bytes of slot controlSlot of the socket's ControlPool; null (slot -1) when none. */
  control: Uint8Array | null = null;
  controlLength = 0;
  controlSlot = -1;
  /** TransportDatagram.hold() handle while the transport's storage is kept, else -1. */
  hold = -1;
  /** The sender, in storage of the record's own (from4 or from6). */
  from: Endpoint;
  readonly indication: DatagramIndicationElement;
  private readonly mdl = new MDL(NO_BYTES);
  private readonly from4: Endpoint = { family: AF_INET, address: new Uint8Array(4), port: 0 };
  private readonly from6: Required<Endpoint> = { family: AF_INET6, address: new Uint8Array(16), port: 0, flowinfo: 0, scopeId: 0 };
  private readonly sin: SOCKADDR_IN = { sin_family: AF_INET, sin_port: 0, sin_addr: new Uint8Array(4) };
  private readonly sin6: SOCKADDR_IN6 = { sin6_family: AF_INET6, sin6_port: 0, sin6_flowinfo: 0, sin6_addr: new Uint8Array(16), sin6_scope_id: 0 };

  constructor(readonly owner: object) {
    this.from = this.from4;
    this.indication = new DatagramIndicationElement(this, this.sin);
  }

  /** Takes in a datagram: `bytes` and `from` are the transport's, valid during its onDatagram only, so `from` is copied. */
  fill(bytes: Uint8Array, offset: number, length: number, from: Endpoint, flags: number): void {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    this.flags = flags;
    const src = from.address;
    if (from.family === AF_INET) {
      const ep = this.from4;
      const a = ep.address;
      for (let i = 0; i < 4; i++) a[i] = src[i]!;
      ep.port = from.port;
      this.from = ep;
    } else {
      const ep = this.from6;
      const a = ep.address;
      for (let i = 0; i < 16; i++) a[i] = src[i]!;
      ep.port = from.port;
      ep.flowinfo = from.flowinfo ?? 0;
      ep.scopeId = from.scopeId ?? 0;
      this.from = ep;
    }
  }

  /** Makes the element what the application is about to be given (the bytes may have moved since arrival). */
  present(): DatagramIndicationElement {
    const e = this.indication;
    mapMdl(this.mdl, this.bytes);
    e.Next = null;
    e.Buffer.Mdl = this.mdl;
    e.Buffer.Offset = this.offset;
    e.Buffer.Length = this.length;
    e.ControlInfo = this.control;
    e.ControlInfoLength = this.controlLength;
    e.RemoteAddress = this.remoteAddress();
    return e;
  }

  /** The sender as a SOCKADDR of the record's own, filled in place. */
  private remoteAddress(): SOCKADDR {
    const ep = this.from;
    if (ep.family === AF_INET) {
      const sa = this.sin;
      sa.sin_port = htons(ep.port);
      sa.sin_addr.set(ep.address);
      return sa;
    }
    const sa = this.sin6;
    sa.sin6_port = htons(ep.port);
    sa.sin6_flowinfo = ep.flowinfo ?? 0;
    sa.sin6_scope_id = ep.scopeId ?? 0;
    sa.sin6_addr.set(ep.address);
    return sa;
  }

  /** Back to the pool: nothing of the datagram stays reachable through the element. */
  clear(): void {
    this.state = DatagramState.FREE;
    this.bytes = NO_BYTES;
    this.control = null;
    mapMdl(this.mdl, NO_BYTES);
    const e = this.indication;
    e.Next = null;
    e.Buffer.Mdl = null;
    e.Buffer.Offset = 0;
    e.Buffer.Length = 0;
    e.ControlInfo = null;
    e.ControlInfoLength = 0;
  }
}

/** First in, first out, over a ring of records that doubles when full (no allocation once it has its working size). */
export class DatagramQueue {
  private ring: (ReceivedDatagram | null)[] = new Array<ReceivedDatagram | null>(16).fill(null);
  private head = 0;
  length = 0;

  push(d: ReceivedDatagram): void {
    if (this.length === this.ring.length) this.grow();
    this.ring[(this.head + this.length) & (this.ring.length - 1)] = d;
    this.length++;
  }

  /** The i-th queued record (0: the oldest). */
  at(i: number): ReceivedDatagram {
    return this.ring[(this.head + i) & (this.ring.length - 1)]!;
  }

  shift(): ReceivedDatagram {
    const d = this.ring[this.head]!;
    this.ring[this.head] = null;
    this.head = (this.head + 1) & (this.ring.length - 1);
    this.length--;
    return d;
  }

  private grow(): void {
    const next = new Array<ReceivedDatagram | null>(this.ring.length * 2).fill(null);
    for (let i = 0; i < this.length; i++) next[i] = this.at(i);
    this.ring = next;
    this.head = 0;
  }
}

/** Free records that stay unused before one is reused (see the misuse note above). */
const QUARANTINE = 8;
let verifying = false;

/** Tests: never reuse a released record, so that every later WskRelease of its element fails. */
export function verifyDatagramReleases(on: boolean): void {
  verifying = on;
}

/** A socket's records: the free ones, and how many the application holds (for WskRelease's checks). */
export class DatagramPool {
  /** Oldest freed first. */
  private readonly free = new DatagramQueue();
  /** Records in state RETAINED. */
  retained = 0;
  /** Records in state INDICATED or RELEASED_EARLY (the indication in progress). */
  indicated = 0;

  constructor(private readonly owner: object) {}

  /** A record for a datagram that just arrived (state QUEUED). */
  take(): ReceivedDatagram {
    const d = this.free.length > QUARANTINE ? this.free.shift() : new ReceivedDatagram(this.owner);
    d.state = DatagramState.QUEUED;
    d.generation++;
    return d;
  }

  give(d: ReceivedDatagram): void {
    if (d.state === DatagramState.RETAINED) this.retained--;
    d.clear();
    if (!verifying) this.free.push(d);
  }

  /**
   * WskRelease: checks the whole list (every element one this socket handed out and the
   * application still holds; a list longer than all it holds has looped), then gives back each
   * retained element with `finish(context, record)`; one released inside its own callback is only
   * marked, and ends when the callback returns. One static `finish` and its context instead of a
   * closure: drivers release per packet.
   */
  release<C>(list: WSK_DATAGRAM_INDICATION | null, finish: (context: C, d: ReceivedDatagram) => void, context: C): NTSTATUS {
    const limit = this.retained + this.indicated;
    let n = 0;
    for (let e = list; e !== null && e !== undefined; e = e.Next) {
      const d = DatagramIndicationElement.recordOf(e);
      if (++n > limit || d === null || d.owner !== this.owner || (d.state !== DatagramState.RETAINED && d.state !== DatagramState.INDICATED)) {
        return STATUS_INVALID_PARAMETER;
      }
    }
    if (n === 0) return STATUS_INVALID_PARAMETER;
    for (let e = list; e !== null && e !== undefined;) {
      const next = e.Next;
      const d = DatagramIndicationElement.recordOf(e)!;
      if (d.state === DatagramState.RETAINED) finish(context, d);
      else d.state = DatagramState.RELEASED_EARLY;
      e = next;
    }
    return STATUS_SUCCESS;
  }
}

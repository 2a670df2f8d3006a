// The receive side of the WSK driver part: datagrams a WskReceiveFromEvent retained (it returned
// STATUS_PENDING), queued per socket and processed after the callback returned, each released on
// its own with WskRelease once the device is done with it (wireguard-nt's pattern, written from
// "PFN_WSK_RECEIVE_FROM_EVENT" and runtime/wsk/retained.ts).
//
// Contract:
//  - enqueue(q, list) appends an indicated chain to the socket's queue, linked through the
//    elements' own Next (a driver may reuse Next while it holds an element; retained.ts records
//    the chain when it is built and never reads Next back). The caller schedules the drain.
//  - drain(q) takes the elements in order: each fills the reader's one Endpoint (the remote
//    address, and our local address from an IN_PKTINFO / IN6_PKTINFO object, family 0 when there
//    is none), goes to `receiver` with its bytes lent for the call (the device decrypts in place),
//    gets Next = NULL and is released alone with the socket's WskRelease. `closed`: released
//    without being read.
//  - A datagram indicated as an MDL chain (R39) is copied into one scratch buffer first (the
//    device needs contiguous bytes); anything else with no address of either family or no bytes
//    is counted and released.
// Nothing here allocates per datagram.
import {
  AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, IP_PKTINFO, IPV6_PKTINFO, ntohs, type MDL, type SOCKADDR, type SOCKADDR_IN,
  type SOCKADDR_IN6, type WSK_DATAGRAM_INDICATION, type WSK_PROVIDER_DATAGRAM_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { copyBytes } from '../../runtime/mdl/copy-bytes.ts';
import { Endpoint } from './endpoint.ts';

export interface ReceiveStats {
  rxDatagrams: number;
  /** Datagrams that arrived as an MDL chain and were copied into one buffer first. */
  rxChained: number;
  /** Datagrams without an IPv4/IPv6 source, without bytes, or larger than a UDP payload. */
  rxDropped: number;
}

/** Takes each outer datagram: bytes lent for the call, `from` reused (copy what you keep). */
export type DatagramReceiver = (bytes: Uint8Array, offset: number, length: number, from: Endpoint) => void;

/** One socket's retained datagrams not yet processed. */
export interface RetainedQueue {
  readonly socket: WSK_SOCKET;
  head: WSK_DATAGRAM_INDICATION | null;
  tail: WSK_DATAGRAM_INDICATION | null;
}

/** The largest UDP payload: a chained datagram is copied whole into a buffer this size. */
const MAX_DATAGRAM = 65535;

export class DatagramReader {
  receiver: DatagramReceiver | null = null;
  readonly stats: ReceiveStats = { rxDatagrams: 0, rxChained: 0, rxDropped: 0 };
  private readonly from = new Endpoint();
  private readonly scratch = new Uint8Array(MAX_DATAGRAM);

  /** Appends an indicated chain to the queue. */
  enqueue(q: RetainedQueue, list: WSK_DATAGRAM_INDICATION): void {
    if (q.tail === null) q.head = list; else q.tail.Next = list;
    let last = list;
    while (last.Next !== null) last = last.Next;
    q.tail = last;
  }

  /** Reads (unless `closed`) and releases every queued datagram, one WskRelease each. */
  drain(q: RetainedQueue, closed = false): void {
    const release = (q.socket.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH).WskRelease;
    let d = q.head;
    q.head = q.tail = null;
    while (d !== null) {
      const next = d.Next;
      d.Next = null;
      if (!closed) this.read(d);
      release(q.socket, d);
      d = next;
    }
  }

  private read(d: WSK_DATAGRAM_INDICATION): void {
    const from = this.from;
    const buf = d.Buffer;
    const mdl = buf.Mdl;
    if (!fillRemote(from, d.RemoteAddress) || mdl === null || buf.Length === 0 || buf.Length > MAX_DATAGRAM) { this.stats.rxDropped++; return; }
    readPktinfo(from, d.ControlInfo, d.ControlInfoLength);
    this.stats.rxDatagrams++;
    if (buf.Offset + buf.Length <= mdl.ByteCount) {
      this.receiver?.(mdl.buffer, buf.Offset, buf.Length, from);
      return;
    }
    this.stats.rxChained++;
    let copied = 0;
    let skip = buf.Offset;
    for (let m: MDL | null = mdl; m !== null && copied < buf.Length; m = m.Next) {
      const start = Math.min(skip, m.ByteCount);
      skip -= start;
      const n = Math.min(m.ByteCount - start, buf.Length - copied);
      copyBytes(this.scratch, copied, m.buffer, start, n);
      copied += n;
    }
    this.receiver?.(this.scratch, 0, copied, from);
  }
}

/** The datagram's source (a SOCKADDR_IN or SOCKADDR_IN6) into `from`; false for anything else. */
function fillRemote(from: Endpoint, address: SOCKADDR): boolean {
  const a4 = address as SOCKADDR_IN;
  if (a4.sin_family === AF_INET) { from.setAddress(4, a4.sin_addr, 0, ntohs(a4.sin_port)); return true; }
  const a6 = address as SOCKADDR_IN6;
  if (a6.sin6_family === AF_INET6) { from.setAddress(6, a6.sin6_addr, 0, ntohs(a6.sin6_port)); return true; }
  return false;
}

// ws2def.h x64 WSACMSGHDR: SIZE_T cmsg_len at 0, INT cmsg_level at 8, INT cmsg_type at 12, data
// at 16, objects WSA_CMSGHDR_ALIGN(cmsg_len) apart. Walked by hand: the WSA_CMSG_* helpers make
// a header object per step, and this runs per datagram.
const CMSG_LEVEL = 8;
const CMSG_TYPE = 12;
const CMSG_DATA = 16;

function int32(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

/** Our local address from an IN_PKTINFO / IN6_PKTINFO object into `from.local*` (family 0 if none). */
function readPktinfo(from: Endpoint, control: Uint8Array | null, length: number): void {
  from.localFamily = 0;
  from.localAddress.fill(0);
  if (control === null) return;
  const end = Math.min(length, control.byteLength);
  for (let at = 0; at + CMSG_DATA <= end;) {
    const len = int32(control, at) >>> 0; // the low half of the SIZE_T: a control buffer is far below 4 GiB
    if (len < CMSG_DATA) return;
    const level = int32(control, at + CMSG_LEVEL);
    const type = int32(control, at + CMSG_TYPE);
    if (level === IPPROTO_IP && type === IP_PKTINFO && at + CMSG_DATA + 4 <= end) {
      from.localFamily = 4;
      copyBytes(from.localAddress, 0, control, at + CMSG_DATA, 4);
      return;
    }
    if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && at + CMSG_DATA + 16 <= end) {
      from.localFamily = 6;
      copyBytes(from.localAddress, 0, control, at + CMSG_DATA, 16);
      return;
    }
    at += (len + 7) & ~7;
  }
}

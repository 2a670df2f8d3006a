// The send side of the WSK driver part: outgoing WireGuard datagrams copied into a fixed pool of
// send buffers and handed to WskSendMessages as WSK_BUF_LIST chains, one call per destination per
// event-loop turn (wireguard-nt's batching, written from the "PFN_WSK_SEND_MESSAGES" page).
//
// Contract:
//  - queue(to, bytes, offset, length) copies the datagram before it returns (the device lends its
//    transmit buffer for the call only) and never calls back into the device.
//  - Datagrams for the same endpoint (remote address and port, and the local address the peer
//    wrote to) join one open batch; a datagram for another endpoint submits the open batch
//    first, so the order per peer is kept. flush() submits what is open; the owner calls it once
//    per turn (and after each receive batch, so replies leave with the batch that caused them).
//  - A batch carries the destination as a SOCKADDR and, when the endpoint knows our local
//    address, one IN_PKTINFO / IN6_PKTINFO control object: WskSendMessages takes one address and
//    one control buffer for the whole list. Its bytes stay untouched until the IRP completes
//    (R14), when the buffers go back to the pool.
//  - No free buffer or batch: the datagram is dropped and counted (a full transmit queue).
// Steady state allocates nothing per datagram: buffers, MDLs, WSK_BUF_LIST elements, IRPs,
// SOCKADDRs and control buffers are made once here and reused.
import {
  AF_INET, AF_INET6, IoAllocateIrp, IoAllocateMdl, IoReuseIrp, IoSetCompletionRoutine, IPPROTO_IP, IPPROTO_IPV6, IP_PKTINFO, IPV6_PKTINFO,
  SIZEOF_IN6_PKTINFO, SIZEOF_IN_PKTINFO, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS, WSACMSGHDR, WSA_CMSG_LEN, WSA_CMSG_SPACE,
  htons, type IRP, type NTSTATUS, type SOCKADDR_IN, type SOCKADDR_IN6, type WSK_BUF_LIST, type WSK_PROVIDER_DATAGRAM_DISPATCH,
  type WSK_SOCKET,
} from '../../index.ts';
import { copyBytes } from '../../runtime/mdl/copy-bytes.ts';
import { Endpoint } from './endpoint.ts';

export interface SendStats {
  /** Datagrams handed to WskSendMessages. */
  txDatagrams: number;
  /** WskSendMessages calls. */
  txCalls: number;
  /** Datagrams dropped: no free send buffer or batch, or too long for a buffer. */
  txDropped: number;
  /** Datagrams whose WskSendMessages completed with an error. */
  txErrors: number;
}

/** Datagrams per WskSendMessages call at most (wireguard-nt sends what one turn produced; this bounds one chain). */
const MAX_PER_BATCH = 64;
/** SIZEOF_IN6_PKTINFO rounded as a control object: room for either family's PKTINFO. */
const CONTROL_SPACE = WSA_CMSG_SPACE(SIZEOF_IN6_PKTINFO);

interface SendBuffer {
  readonly bytes: Uint8Array;
  readonly element: WSK_BUF_LIST;
}

class Batch {
  readonly irp: IRP = IoAllocateIrp(1);
  readonly to = new Endpoint();
  readonly sockaddr4: SOCKADDR_IN = { sin_family: AF_INET, sin_port: 0, sin_addr: new Uint8Array(4) };
  readonly sockaddr6: SOCKADDR_IN6 = { sin6_family: AF_INET6, sin6_port: 0, sin6_flowinfo: 0, sin6_addr: new Uint8Array(16), sin6_scope_id: 0 };
  readonly control = new Uint8Array(CONTROL_SPACE);
  readonly header = new WSACMSGHDR(this.control, 0);
  /** Indices of the send buffers in the chain, in order. */
  readonly buffers: Int32Array = new Int32Array(MAX_PER_BATCH);
  count = 0;
  constructor(readonly owner: SendBatches) {}
}

/** The WSK datagram socket a batch goes out on (one per family). */
export interface SendSocket {
  readonly socket: WSK_SOCKET;
  open: Batch | null;
  /** On the list of sockets flush() looks at (SendBatches' bookkeeping). */
  listed: boolean;
}

export class SendBatches {
  readonly stats: SendStats = { txDatagrams: 0, txCalls: 0, txDropped: 0, txErrors: 0 };
  private readonly buffers: SendBuffer[] = [];
  private readonly freeBuffers: Int32Array;
  private freeBufferCount = 0;
  // Stacks with counts, never push/pop/length = 0: V8 trims an array's store on those and grows
  // it again later, an allocation per batch.
  private readonly freeBatches: Batch[] = [];
  private freeBatchCount = 0;
  private readonly opened: SendSocket[] = [];
  private openedCount = 0;
  readonly bufferSize: number;

  /** `bufferCount` send buffers of `bufferSize` bytes, in batches of up to MAX_PER_BATCH. */
  constructor(bufferCount: number, bufferSize: number) {
    this.bufferSize = bufferSize;
    const memory = new Uint8Array(bufferCount * bufferSize);
    this.freeBuffers = new Int32Array(bufferCount);
    for (let i = 0; i < bufferCount; i++) {
      const bytes = memory.subarray(i * bufferSize, (i + 1) * bufferSize);
      this.buffers.push({ bytes, element: { Next: null, Buffer: { Mdl: IoAllocateMdl(bytes), Offset: 0, Length: 0 } } });
      this.freeBuffers[this.freeBufferCount++] = i;
    }
    // Enough batches for every buffer to be in flight in one-datagram batches.
    for (let i = 0; i < bufferCount; i++) this.freeBatches[this.freeBatchCount++] = new Batch(this);
  }

  /** Copies one datagram for `to` into the open batch of `s` (see the contract above). */
  queue(s: SendSocket, to: Endpoint, bytes: Uint8Array, offset: number, length: number): void {
    let b = s.open;
    if (b !== null && (b.count === MAX_PER_BATCH || !b.to.equals(to))) { this.submit(s, b); b = null; }
    if (length > this.bufferSize || this.freeBufferCount === 0) { this.stats.txDropped++; return; }
    if (b === null) {
      if (this.freeBatchCount === 0) { this.stats.txDropped++; return; }
      b = this.freeBatches[--this.freeBatchCount]!;
      b.to.copyFrom(to);
      s.open = b;
      if (!s.listed) { s.listed = true; this.opened[this.openedCount++] = s; }
    }
    const i = this.freeBuffers[--this.freeBufferCount]!;
    const buffer = this.buffers[i]!;
    copyBytes(buffer.bytes, 0, bytes, offset, length);
    buffer.element.Buffer.Length = length;
    buffer.element.Next = null;
    if (b.count > 0) this.buffers[b.buffers[b.count - 1]!]!.element.Next = buffer.element;
    b.buffers[b.count++] = i;
  }

  /** Whether a datagram is waiting in an open batch (the owner schedules a flush). */
  get pending(): boolean {
    return this.openedCount > 0;
  }

  /** Submits every open batch: one WskSendMessages each. */
  flush(): void {
    for (let i = 0; i < this.openedCount; i++) {
      const s = this.opened[i]!;
      s.listed = false;
      if (s.open) this.submit(s, s.open);
    }
    this.openedCount = 0;
  }

  private submit(s: SendSocket, b: Batch): void {
    s.open = null;
    const to = b.to;
    let address: SOCKADDR_IN | SOCKADDR_IN6;
    if (to.family === 4) {
      b.sockaddr4.sin_port = htons(to.port);
      copyBytes(b.sockaddr4.sin_addr, 0, to.address, 0, 4);
      address = b.sockaddr4;
    } else {
      b.sockaddr6.sin6_port = htons(to.port);
      b.sockaddr6.sin6_addr.set(to.address);
      address = b.sockaddr6;
    }
    // Reply from the address the peer wrote to (IN_PKTINFO on send), when the receive side learned it.
    const controlLength = to.localFamily === 0 ? 0 : writePktinfo(b, to);
    this.stats.txCalls++;
    this.stats.txDatagrams += b.count;
    IoReuseIrp(b.irp, STATUS_SUCCESS);
    IoSetCompletionRoutine(b.irp, onBatchSent, b, true, true, true);
    const head = this.buffers[b.buffers[0]!]!.element;
    (s.socket.Dispatch as WSK_PROVIDER_DATAGRAM_DISPATCH).WskSendMessages(s.socket, head, 0, address, controlLength, controlLength === 0 ? null : b.control, b.irp);
  }

  /** @internal The batch's IRP completed: its buffers and the batch go back to the pools. */
  finish(b: Batch, status: NTSTATUS): void {
    if (status !== STATUS_SUCCESS) this.stats.txErrors += b.count;
    for (let i = 0; i < b.count; i++) this.freeBuffers[this.freeBufferCount++] = b.buffers[i]!;
    b.count = 0;
    this.freeBatches[this.freeBatchCount++] = b;
  }

  /** Send buffers free right now (all of them once every batch completed). */
  get freeBufferTotal(): number {
    return this.freeBufferCount;
  }
}

// One static completion routine; the batch is its context (no closure per call).
function onBatchSent(_device: unknown, irp: IRP, context: unknown): NTSTATUS {
  const b = context as Batch;
  b.owner.finish(b, irp.IoStatus.Status);
  return STATUS_MORE_PROCESSING_REQUIRED;
}

/** Writes the batch's IN_PKTINFO or IN6_PKTINFO object (ws2def.h x64 layout); returns its length. */
function writePktinfo(b: Batch, to: Endpoint): number {
  const v4 = to.localFamily === 4;
  const dataLength = v4 ? SIZEOF_IN_PKTINFO : SIZEOF_IN6_PKTINFO;
  const { control, header: h } = b;
  h.cmsg_len = WSA_CMSG_LEN(dataLength);
  h.cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
  h.cmsg_type = v4 ? IP_PKTINFO : IPV6_PKTINFO;
  const data = WSA_CMSG_LEN(0);
  control.fill(0, data, data + dataLength);
  copyBytes(control, data, to.localAddress, 0, v4 ? 4 : 16);
  return WSA_CMSG_SPACE(dataLength);
}

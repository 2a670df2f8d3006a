// WskBind for listen, datagram, connection and stream sockets (R18, R21, R47).
// Binding a listening socket starts listening; a connection socket gets its port at bind time
// and its IP at connect time.
import type { IRP } from '../irp/irp.ts';
import {
  STATUS_ACCESS_DENIED, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_PENDING, STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { ProviderError } from '../provider.ts';
import { IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, sockaddrToEndpoint, type Endpoint, type SOCKADDR } from '../sockaddr.ts';
import { beginIrp, completeIrp, failIrp } from './completion.ts';
import type { Binding } from './address-sharing.ts';
import { startListening } from './listen.ts';
import { startDatagram } from './datagram.ts';
import type { WskSocketObject } from './socket.ts';

function transportProtocol(s: WskSocketObject): number {
  return s.socketType === SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
}

export function WskBindImpl(s: WskSocketObject, LocalAddress: SOCKADDR | null, Flags: number, Irp: IRP): NTSTATUS {
  const fail = (status: NTSTATUS): NTSTATUS => failIrp(Irp, status, 'WskBind');
  const ep = sockaddrToEndpoint(LocalAddress);
  if (!ep || ep.family !== s.family || Flags !== 0) return fail(STATUS_INVALID_PARAMETER);
  if (s.local || s.binding || s.bindInProgress || s.committed) return fail(STATUS_INVALID_DEVICE_STATE);
  if (s.category === 'listen' && s.socketType === SOCK_DGRAM) {
    // Windows creates a UDP "listening" socket, and its bind returns STATUS_PENDING, then
    // completes with STATUS_NOT_IMPLEMENTED, Information 0 (observed: Wine's netio conformance test).
    beginIrp(Irp, 'WskBind');
    completeIrp(Irp, STATUS_NOT_IMPLEMENTED, 0);
    return STATUS_PENDING;
  }
  if (s.socketType === SOCK_RAW) return bindRaw(s, ep, Irp);
  const binding: Binding = {
    protocol: transportProtocol(s),
    endpoint: { ...ep, address: Uint8Array.from(ep.address) },
    mode: s.options.exclusiveAddressUse ? 'exclusive' : s.options.reuseAddress ? 'reuse' : 'none',
    securityDescriptor: s.options.securityDescriptor,
    owner: s.owner,
  };
  const table = s.client.subsystem.addressTable;
  const verdict = table.check(binding);
  if (verdict !== STATUS_SUCCESS) return fail(verdict);
  beginIrp(Irp, 'WskBind');
  table.add(binding);
  s.binding = binding;
  s.bindInProgress = true;
  const finish = (status: NTSTATUS, bound: Endpoint | null): void => {
    s.bindInProgress = false;
    if (status !== STATUS_SUCCESS || !bound || s.state !== 'open') {
      table.remove(binding);
      if (s.binding === binding) s.binding = null;
      if (s.state !== 'open' && status === STATUS_SUCCESS) status = s.unusableStatus() ?? status;
    } else {
      table.remove(binding);
      binding.endpoint = bound;
      // A wildcard port now has a number: re-check against holders of that port.
      const recheck = table.check(binding);
      if (recheck !== STATUS_SUCCESS) {
        s.binding = null;
        status = recheck;
      } else {
        table.add(binding);
        s.local = bound;
      }
    }
    completeIrp(Irp, status, 0);
  };
  const onError = (err: unknown): void => finish(err instanceof ProviderError ? err.status : STATUS_INVALID_PARAMETER, null);
  const provider = s.client.subsystem.provider;
  if (s.category === 'listen') {
    startListening(s, binding.endpoint).then((bound) => finish(STATUS_SUCCESS, bound), onError);
  } else if (s.category === 'datagram') {
    startDatagram(s, binding.endpoint).then((bound) => finish(STATUS_SUCCESS, bound), onError);
  } else if (ep.port === 0) {
    provider.reservePort(binding.endpoint).then((port) => finish(STATUS_SUCCESS, { ...binding.endpoint, port }), onError);
  } else {
    queueMicrotask(() => finish(STATUS_SUCCESS, binding.endpoint));
  }
  return STATUS_PENDING;
}

/**
 * A raw socket has no port to share: it binds its address only, outside the address table (two
 * raw sockets on one address both get every packet, the "TCP/IP raw sockets" page). A raw
 * IPPROTO_TCP socket may not be bound (that page's "limitations on raw sockets").
 */
function bindRaw(s: WskSocketObject, ep: Endpoint, Irp: IRP): NTSTATUS {
  if (s.protocol === IPPROTO_TCP) return failIrp(Irp, STATUS_ACCESS_DENIED, 'WskBind');
  beginIrp(Irp, 'WskBind');
  s.bindInProgress = true;
  startDatagram(s, { ...ep, port: 0 }).then((bound) => {
    s.bindInProgress = false;
    if (s.state === 'open') s.local = bound;
    completeIrp(Irp, s.state === 'open' ? STATUS_SUCCESS : (s.unusableStatus() ?? STATUS_SUCCESS), 0);
  }, (err: unknown) => {
    s.bindInProgress = false;
    completeIrp(Irp, err instanceof ProviderError ? err.status : STATUS_INVALID_PARAMETER, 0);
  });
  return STATUS_PENDING;
}

/** Releases the socket's address (close, or a listen that failed). */
export function releaseBinding(s: WskSocketObject): void {
  if (s.binding) s.client.subsystem.addressTable.remove(s.binding);
  s.binding = null;
}

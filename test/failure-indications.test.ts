// R37 and the default subsystem: behaviour that needs the transport to fail on cue, checked
// with a kernel provider whose listener and datagram sinks the test can reach.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, IPPROTO_TCP, MAKE_WSK_VERSION, SOCK_STREAM, STATUS_CONNECTION_DISCONNECTED, STATUS_FILE_FORCED_CLOSED,
  STATUS_REQUEST_NOT_ACCEPTED, STATUS_SUCCESS, WSK_EVENT_ACCEPT, WSK_FLAG_CONNECTION_SOCKET, WSK_FLAG_DATAGRAM_SOCKET,
  WSK_FLAG_LISTEN_SOCKET, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI, WskDeregister,
  WskRegister, WskReleaseProviderNPI, createKernelProvider, NPI_WSK_INTERFACE_ID, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, WskSetOption,
  type DatagramSink, type ListenerSink, type TransportProvider, type WSK_CLIENT_LISTEN_DISPATCH, type WSK_PROVIDER_BASIC_DISPATCH,
  type WSK_SOCKET,
} from '../index.ts';
import { call } from './helpers/wsk-call.ts';
import { openSession } from './helpers/wsk-session.ts';
import { bind, buf, close, dgTable, listenTable, loopback, socket } from './contract/fixtures.ts';

function tappedProvider(): { provider: () => TransportProvider; listenerSinks: ListenerSink[]; datagramSinks: DatagramSink[] } {
  const listenerSinks: ListenerSink[] = [];
  const datagramSinks: DatagramSink[] = [];
  const provider = (): TransportProvider => {
    const inner = createKernelProvider();
    return Object.assign(Object.create(inner) as TransportProvider, {
      listen: (local: Parameters<TransportProvider['listen']>[0], options: Parameters<TransportProvider['listen']>[1], sink: ListenerSink) => {
        listenerSinks.push(sink);
        return inner.listen(local, options, sink);
      },
      bindDatagram: (local: Parameters<TransportProvider['bindDatagram']>[0], options: Parameters<TransportProvider['bindDatagram']>[1], sink: DatagramSink) => {
        datagramSinks.push(sink);
        return inner.bindDatagram(local, options, sink);
      },
    });
  };
  return { provider, listenerSinks, datagramSinks };
}

describe('failure indications (R37)', () => {
  it('R37: a failed listener indicates WskAcceptEvent with a NULL socket once, then answers STATUS_FILE_FORCED_CLOSED', async () => {
    const tap = tappedProvider();
    const w = await openSession(tap.provider);
    const calls: Array<WSK_SOCKET | null> = [];
    const dispatch: WSK_CLIENT_LISTEN_DISPATCH = {
      WskAcceptEvent: (_c, _f, _l, _r, sock) => { calls.push(sock); return STATUS_REQUEST_NOT_ACCEPTED; },
      WskInspectEvent: null, WskAbortEvent: null,
    };
    const s = await socket(w, WSK_FLAG_LISTEN_SOCKET, AF_INET, null, dispatch);
    await bind(s, loopback(AF_INET));
    const t = s.Dispatch as WSK_PROVIDER_BASIC_DISPATCH;
    expect(t.WskControlSocket(s, WskSetOption, SO_WSK_EVENT_CALLBACK, SOL_SOCKET, 16, { NpiId: NPI_WSK_INTERFACE_ID, EventMask: WSK_EVENT_ACCEPT }, 0, null, null, null)).toBe(STATUS_SUCCESS);
    tap.listenerSinks[0]!.onError(STATUS_CONNECTION_DISCONNECTED);
    tap.listenerSinks[0]!.onError(STATUS_CONNECTION_DISCONNECTED);
    expect(calls).toEqual([null]);
    expect((await call((irp) => listenTable(s).WskAccept(s, 0, null, null, null, null, irp))).status).toBe(STATUS_FILE_FORCED_CLOSED);
    expect(await close(s)).toBe(STATUS_SUCCESS);
    await w.close();
  });

  it('R37: a failed datagram socket answers STATUS_FILE_FORCED_CLOSED and can still be closed', async () => {
    const tap = tappedProvider();
    const w = await openSession(tap.provider);
    const s = await socket(w, WSK_FLAG_DATAGRAM_SOCKET);
    await bind(s, loopback(AF_INET));
    tap.datagramSinks[0]!.onError(STATUS_CONNECTION_DISCONNECTED);
    expect((await call((irp) => dgTable(s).WskSendTo(s, buf(new Uint8Array(1)), 0, loopback(AF_INET, 9), 0, null, irp))).status).toBe(STATUS_FILE_FORCED_CLOSED);
    expect(await close(s)).toBe(STATUS_SUCCESS);
    await w.close();
  });
});

describe('default subsystem', () => {
  it('an application that starts no subsystem gets one on the kernel provider', async () => {
    const reg = WSK_REGISTRATION();
    expect(WskRegister({ ClientContext: null, Dispatch: { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null } }, reg)).toBe(STATUS_SUCCESS);
    const npi = WSK_PROVIDER_NPI();
    expect(await WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi)).toBe(STATUS_SUCCESS);
    const r = await call<WSK_SOCKET>((irp) => npi.Dispatch!.WskSocket(npi.Client, AF_INET, SOCK_STREAM, IPPROTO_TCP, WSK_FLAG_CONNECTION_SOCKET, null, null, null, null, null, irp));
    expect(r.status).toBe(STATUS_SUCCESS);
    await close(r.information);
    WskReleaseProviderNPI(reg);
    await WskDeregister(reg);
  });
});

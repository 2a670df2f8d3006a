// R1–R8 and R60: registration, capture, release, deregistration, versions, WSK over NMR.
import { describe, expect, it } from 'vitest';
import {
  AF_INET, MAKE_WSK_VERSION, MIT_GUID, NPI_CLIENT_CHARACTERISTICS_SIZE, NPI_MODULEID_SIZE,
  NPI_REGISTRATION_INSTANCE_SIZE, NPI_WSK_INTERFACE_ID, NmrClientAttachProvider, NmrDeregisterClient, NmrRegisterClient,
  NmrWaitForClientDeregisterComplete, STATUS_DEVICE_NOT_READY, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE,
  STATUS_PENDING, STATUS_SUCCESS, WSK_INFINITE_WAIT, WSK_NO_WAIT, WSK_PROVIDER_NPI,
  WSK_REGISTRATION, WskCaptureProviderNPI, WskDeregister, WskQueryProviderCharacteristics, WskRegister,
  WskReleaseProviderNPI, WskSubsystem, WskUsageError, guidFromString, type HANDLE, type NPI_CLIENT_CHARACTERISTICS,
  type WSK_CLIENT_DISPATCH, type WSK_PROVIDER_DISPATCH, type WSK_SOCKET,
} from '../../index.ts';
import { call, sleep } from '../helpers/wsk-call.ts';
import { openSession } from '../helpers/wsk-session.ts';
import { anySocketKind, close } from './fixtures.ts';
import type { ContractTarget } from './target.ts';

const v10 = (): WSK_CLIENT_DISPATCH => ({ Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null });

export function registrationContract(target: ContractTarget): void {
  const { factory } = target;
  // Any socket the target supports (a TCP connection socket where it has streams).
  const kind = anySocketKind(target);
  describe('registration (R1–R8)', () => {
    it('R1: several registrations with distinct blocks coexist, each deregistered once', async () => {
      const sub = new WskSubsystem(factory(), { registerWithNmr: false });
      await sub.start();
      const a = WSK_REGISTRATION(), b = WSK_REGISTRATION();
      expect(WskRegister({ ClientContext: 1, Dispatch: v10() }, a, sub)).toBe(STATUS_SUCCESS);
      expect(WskRegister({ ClientContext: 2, Dispatch: v10() }, b, sub)).toBe(STATUS_SUCCESS);
      const na = WSK_PROVIDER_NPI(), nb = WSK_PROVIDER_NPI();
      expect(await WskCaptureProviderNPI(a, WSK_NO_WAIT, na)).toBe(STATUS_SUCCESS);
      expect(await WskCaptureProviderNPI(b, WSK_NO_WAIT, nb)).toBe(STATUS_SUCCESS);
      expect(na.Client).not.toBe(nb.Client);
      expect(() => WskRegister({ ClientContext: 3, Dispatch: v10() }, a, sub)).toThrow(WskUsageError);
      WskReleaseProviderNPI(a); WskReleaseProviderNPI(b);
      await WskDeregister(a); await WskDeregister(b);
      await expect(WskDeregister(a)).rejects.toThrow(WskUsageError);
      await sub.stop();
    });

    it('R2: WSK_NO_WAIT never blocks, a finite wait expires, WSK_INFINITE_WAIT waits for the provider to start', async () => {
      const sub = new WskSubsystem(factory(), { registerWithNmr: false });
      const reg = WSK_REGISTRATION();
      WskRegister({ ClientContext: null, Dispatch: v10() }, reg, sub);
      const npi = WSK_PROVIDER_NPI();
      expect(await WskCaptureProviderNPI(reg, WSK_NO_WAIT, npi)).toBe(STATUS_DEVICE_NOT_READY);
      const t0 = Date.now();
      expect(await WskCaptureProviderNPI(reg, 60, npi)).toBe(STATUS_DEVICE_NOT_READY);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
      let settled = false;
      const waiting = WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, npi).then((s) => { settled = true; return s; });
      await sleep(30);
      expect(settled).toBe(false);
      await sub.start();
      expect(await waiting).toBe(STATUS_SUCCESS);
      expect(npi.Dispatch).not.toBeNull();
      WskReleaseProviderNPI(reg);
      await WskDeregister(reg);
      await sub.stop();
    });

    it('R3: an unsupported version fails STATUS_NOINTERFACE and WskQueryProviderCharacteristics reports {Highest, Lowest}', async () => {
      const sub = new WskSubsystem(factory(), { registerWithNmr: false });
      await sub.start();
      for (const version of [MAKE_WSK_VERSION(2, 0), MAKE_WSK_VERSION(1, 5), MAKE_WSK_VERSION(0, 9)]) {
        const reg = WSK_REGISTRATION();
        WskRegister({ ClientContext: null, Dispatch: { ...v10(), Version: version } }, reg, sub);
        expect(await WskCaptureProviderNPI(reg, WSK_NO_WAIT, WSK_PROVIDER_NPI())).toBe(STATUS_NOINTERFACE);
        const ch = { HighestVersion: 0, LowestVersion: 0 };
        expect(WskQueryProviderCharacteristics(reg, ch)).toBe(STATUS_SUCCESS);
        expect(ch).toEqual({ HighestVersion: 0x0100, LowestVersion: 0x0100 });
        await WskDeregister(reg);
      }
      await sub.stop();
    });

    it('R4/R6: WskDeregister waits for every capture to be released and every socket to be closed', async () => {
      const sub = new WskSubsystem(factory(), { registerWithNmr: false });
      await sub.start();
      const reg = WSK_REGISTRATION();
      WskRegister({ ClientContext: null, Dispatch: v10() }, reg, sub);
      const n1 = WSK_PROVIDER_NPI(), n2 = WSK_PROVIDER_NPI();
      await WskCaptureProviderNPI(reg, WSK_NO_WAIT, n1);
      await WskCaptureProviderNPI(reg, WSK_NO_WAIT, n2);
      const d = n1.Dispatch as WSK_PROVIDER_DISPATCH;
      const r = await call<WSK_SOCKET>((irp) => d.WskSocket(n1.Client, AF_INET, kind.type, kind.protocol, kind.flags, null, null, null, null, null, irp));
      let done = false;
      const dereg = WskDeregister(reg).then(() => { done = true; });
      WskReleaseProviderNPI(reg);
      await sleep(20);
      expect(done).toBe(false);
      WskReleaseProviderNPI(reg);
      await sleep(20);
      expect(done).toBe(false); // a socket is still open
      expect(await close(r.information)).toBe(STATUS_SUCCESS);
      await dereg;
      expect(done).toBe(true);
      expect(() => WskReleaseProviderNPI(reg)).toThrow(WskUsageError);
      await sub.stop();
    });

    it('R5: after WskDeregister, new captures fail and blocked captures return STATUS_DEVICE_NOT_READY at once', async () => {
      const sub = new WskSubsystem(factory(), { registerWithNmr: false });
      const reg = WSK_REGISTRATION();
      WskRegister({ ClientContext: null, Dispatch: v10() }, reg, sub);
      const blocked = WskCaptureProviderNPI(reg, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI());
      const dereg = WskDeregister(reg);
      expect(await blocked).toBe(STATUS_DEVICE_NOT_READY);
      await dereg;
      await sub.start();
      const reg2 = WSK_REGISTRATION();
      WskRegister({ ClientContext: null, Dispatch: v10() }, reg2, sub);
      const n = WSK_PROVIDER_NPI();
      expect(await WskCaptureProviderNPI(reg2, WSK_NO_WAIT, n)).toBe(STATUS_SUCCESS);
      const d2 = WskDeregister(reg2);
      expect(await WskCaptureProviderNPI(reg2, WSK_NO_WAIT, WSK_PROVIDER_NPI())).toBe(STATUS_DEVICE_NOT_READY);
      WskReleaseProviderNPI(reg2);
      await d2;
      await sub.stop();
    });

    it('R7: client-level calls after deregistration began are refused (STATUS_DEVICE_NOT_READY)', async () => {
      const w = await openSession(factory);
      await w.close();
      const r = await call((irp) => w.Dispatch.WskSocket(w.Client, AF_INET, kind.type, kind.protocol, kind.flags, null, null, null, null, null, irp));
      expect(r.status).toBe(STATUS_DEVICE_NOT_READY);
    });

    it('R8: the provider dispatch reports the requested major version and a minor >= requested', async () => {
      const w = await openSession(factory);
      expect(w.Dispatch.Version >> 8).toBe(1);
      expect(w.Dispatch.Version & 0xff).toBeGreaterThanOrEqual(0);
      for (const name of ['WskSocket', 'WskSocketConnect', 'WskControlClient', 'WskGetAddressInfo', 'WskFreeAddressInfo', 'WskGetNameInfo'] as const) {
        expect(typeof w.Dispatch[name]).toBe('function');
      }
      await w.close();
    });

    it('R60: WSK is reachable through NMR; detach stays pending while the client has open sockets', async () => {
      const sub = new WskSubsystem(factory());
      await sub.start();
      let attached: { client: unknown; dispatch: WSK_PROVIDER_DISPATCH } | null = null;
      let detached = false;
      const tried: number[] = [];
      const characteristics: NPI_CLIENT_CHARACTERISTICS = {
        Version: 0, Length: NPI_CLIENT_CHARACTERISTICS_SIZE,
        ClientAttachProvider: (handle: HANDLE, _ctx, instance) => {
          if (instance.NpiSpecificCharacteristics !== sub.characteristics) return STATUS_NOINTERFACE;
          const pbc = { value: null as unknown }, pd = { value: null as unknown };
          // First ask for 2.0 (declined), then retry with 1.0 (R56).
          for (const version of [MAKE_WSK_VERSION(2, 0), MAKE_WSK_VERSION(1, 0)]) {
            const st = NmrClientAttachProvider(handle, {}, { Version: version, Reserved: 0, WskClientEvent: null }, pbc, pd);
            tried.push(st);
            if (st === STATUS_SUCCESS) { attached = { client: pbc.value, dispatch: pd.value as WSK_PROVIDER_DISPATCH }; return st; }
          }
          return STATUS_NOINTERFACE;
        },
        ClientDetachProvider: () => { detached = true; return STATUS_SUCCESS; },
        ClientCleanupBindingContext: null,
        ClientRegistrationInstance: {
          Version: 0, Size: NPI_REGISTRATION_INSTANCE_SIZE, NpiId: NPI_WSK_INTERFACE_ID,
          ModuleId: { Length: NPI_MODULEID_SIZE, Type: MIT_GUID, Guid: guidFromString('{6f2b1d7e-0c2a-4e55-9a51-3c1b2f0e9d10}') },
          Number: 0, NpiSpecificCharacteristics: null,
        },
      };
      const handle = { value: null as HANDLE | null };
      expect(NmrRegisterClient(characteristics, null, handle)).toBe(STATUS_SUCCESS);
      expect(tried).toEqual([STATUS_NOINTERFACE, STATUS_SUCCESS]);
      expect(attached).not.toBeNull();
      const { client, dispatch } = attached!;
      const r = await call<WSK_SOCKET>((irp) => dispatch.WskSocket(client as object, AF_INET, kind.type, kind.protocol, kind.flags, null, null, null, null, null, irp));
      expect(r.status).toBe(STATUS_SUCCESS);
      expect(NmrDeregisterClient(handle.value!)).toBe(STATUS_PENDING);
      expect(detached).toBe(true);
      let complete = false;
      const wait = NmrWaitForClientDeregisterComplete(handle.value!).then((s) => { complete = true; return s; });
      await sleep(30);
      expect(complete).toBe(false);
      await close(r.information);
      expect(await wait).toBe(STATUS_SUCCESS);
      await sub.stop();
    });

    it('R10: WskRegister with a NULL dispatch fails STATUS_INVALID_PARAMETER', () => {
      expect(WskRegister({ ClientContext: null, Dispatch: null as unknown as WSK_CLIENT_DISPATCH }, WSK_REGISTRATION())).toBe(STATUS_INVALID_PARAMETER);
    });
  });
}

// WskRegister / WskCaptureProviderNPI / WskReleaseProviderNPI / WskQueryProviderCharacteristics /
// WskDeregister (R1–R8). Capture and deregister wait on Windows, so they return
// promises here; everything else is synchronous.
import {
  STATUS_DEVICE_NOT_READY, STATUS_INVALID_PARAMETER, STATUS_NOINTERFACE, STATUS_SUCCESS, type NTSTATUS,
} from '../ntstatus.ts';
import { WskUsageError } from '../errors.ts';
import { WSK_INFINITE_WAIT, WSK_NO_WAIT } from './constants.ts';
import type { WskClientObject } from './client.ts';
import { getDefaultWskSubsystem, negotiateVersion, type WskSubsystem } from './subsystem.ts';
import type { WSK_CLIENT_NPI, WSK_PROVIDER_CHARACTERISTICS, WSK_PROVIDER_NPI, WSK_REGISTRATION } from './types.ts';

const REGISTERED = 1;
const DEREGISTERING = 2;

interface RegistrationState {
  subsystem: WskSubsystem;
  npi: WSK_CLIENT_NPI;
  client: WskClientObject | null;
  captures: number;
  deregistering: boolean;
  captureWaiters: Set<(status: NTSTATUS) => void>;
  releaseWaiters: Array<() => void>;
}

function stateOf(reg: WSK_REGISTRATION | null | undefined): RegistrationState | null {
  const ctx = reg?.ReservedRegistrationContext as RegistrationState | null | undefined;
  return ctx && typeof ctx === 'object' && 'captureWaiters' in ctx ? ctx : null;
}

/**
 * R1: one registration per WSK_REGISTRATION block. `subsystem` (not in wsk.h) picks the
 * subsystem instance; without it the default one is used.
 */
export function WskRegister(WskClientNpi: WSK_CLIENT_NPI, WskRegistration: WSK_REGISTRATION, subsystem?: WskSubsystem): NTSTATUS {
  if (!WskClientNpi || !WskClientNpi.Dispatch || typeof WskClientNpi.Dispatch.Version !== 'number' || !WskRegistration) {
    return STATUS_INVALID_PARAMETER;
  }
  if (stateOf(WskRegistration)) {
    throw new WskUsageError('WSK_ALREADY_REGISTERED', 'WskRegister: this WSK_REGISTRATION is already registered; use a separate block per registration (R1).');
  }
  const state: RegistrationState = {
    subsystem: subsystem ?? getDefaultWskSubsystem(), npi: WskClientNpi, client: null, captures: 0,
    deregistering: false, captureWaiters: new Set(), releaseWaiters: [],
  };
  WskRegistration.ReservedRegistrationContext = state;
  WskRegistration.ReservedRegistrationState = REGISTERED;
  return STATUS_SUCCESS;
}

function captureNow(state: RegistrationState, npi: WSK_PROVIDER_NPI): NTSTATUS {
  if (negotiateVersion(state.npi.Dispatch.Version) === null) return STATUS_NOINTERFACE;
  if (!state.client) {
    state.client = state.subsystem.createClient(state.npi.Dispatch, state.npi.ClientContext);
    if (!state.client) return STATUS_NOINTERFACE;
  }
  state.captures++;
  npi.Client = state.client;
  npi.Dispatch = state.client.Dispatch;
  return STATUS_SUCCESS;
}

/** R2–R5: WSK_NO_WAIT, a timeout in milliseconds, or WSK_INFINITE_WAIT. */
export function WskCaptureProviderNPI(WskRegistration: WSK_REGISTRATION, WaitTimeout: number, WskProviderNpi: WSK_PROVIDER_NPI): Promise<NTSTATUS> {
  const state = stateOf(WskRegistration);
  if (!state || !WskProviderNpi) return Promise.resolve(STATUS_INVALID_PARAMETER);
  if (state.deregistering) return Promise.resolve(STATUS_DEVICE_NOT_READY);
  if (negotiateVersion(state.npi.Dispatch.Version) === null) return Promise.resolve(STATUS_NOINTERFACE);
  if (state.subsystem.ready) return Promise.resolve(captureNow(state, WskProviderNpi));
  if (WaitTimeout === WSK_NO_WAIT) return Promise.resolve(STATUS_DEVICE_NOT_READY);
  return new Promise<NTSTATUS>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (status: NTSTATUS): void => {
      if (timer) clearTimeout(timer);
      state.captureWaiters.delete(finish);
      cancelReady();
      resolve(status);
    };
    const cancelReady = state.subsystem.onReady(() => finish(state.deregistering ? STATUS_DEVICE_NOT_READY : captureNow(state, WskProviderNpi)));
    state.captureWaiters.add(finish);
    if ((WaitTimeout >>> 0) !== WSK_INFINITE_WAIT) timer = setTimeout(() => finish(STATUS_DEVICE_NOT_READY), WaitTimeout >>> 0);
  });
}

/** R4: one release per successful capture. */
export function WskReleaseProviderNPI(WskRegistration: WSK_REGISTRATION): void {
  const state = stateOf(WskRegistration);
  if (!state || state.captures === 0) {
    throw new WskUsageError('WSK_RELEASE_WITHOUT_CAPTURE', 'WskReleaseProviderNPI without a matching successful WskCaptureProviderNPI (R4).');
  }
  if (--state.captures === 0) for (const w of state.releaseWaiters.splice(0)) w();
}

export function WskQueryProviderCharacteristics(WskRegistration: WSK_REGISTRATION, WskProviderCharacteristics: WSK_PROVIDER_CHARACTERISTICS): NTSTATUS {
  const state = stateOf(WskRegistration);
  if (!state || !WskProviderCharacteristics) return STATUS_INVALID_PARAMETER;
  if (state.deregistering || !state.subsystem.ready) return STATUS_DEVICE_NOT_READY;
  WskProviderCharacteristics.HighestVersion = state.subsystem.characteristics.HighestVersion;
  WskProviderCharacteristics.LowestVersion = state.subsystem.characteristics.LowestVersion;
  return STATUS_SUCCESS;
}

/**
 * R5, R6: waiters get STATUS_DEVICE_NOT_READY at once; resolves after every capture is
 * released, every socket closed and every client-level IRP completed.
 */
export async function WskDeregister(WskRegistration: WSK_REGISTRATION): Promise<void> {
  const state = stateOf(WskRegistration);
  if (!state || state.deregistering) {
    throw new WskUsageError('WSK_NOT_REGISTERED', 'WskDeregister: this WSK_REGISTRATION is not registered (or is already being deregistered) (R1).');
  }
  state.deregistering = true;
  WskRegistration.ReservedRegistrationState = DEREGISTERING;
  for (const w of [...state.captureWaiters]) w(STATUS_DEVICE_NOT_READY);
  if (state.captures > 0) await new Promise<void>((resolve) => state.releaseWaiters.push(resolve));
  if (state.client) {
    state.client.beginShutdown();
    await state.client.whenIdle();
  }
  WskRegistration.ReservedRegistrationContext = null;
  WskRegistration.ReservedRegistrationState = 0;
}

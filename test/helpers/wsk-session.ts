// A registered, captured WSK client on a fresh subsystem, for contract tests: one parameter —
// the transport provider factory — decides what runs underneath.
import {
  MAKE_WSK_VERSION, STATUS_SUCCESS, WSK_INFINITE_WAIT, WSK_PROVIDER_NPI, WSK_REGISTRATION, WskCaptureProviderNPI,
  WskDeregister, WskRegister, WskReleaseProviderNPI, WskSubsystem, type TransportProvider, type WSK_CLIENT_DISPATCH,
  type WSK_PROVIDER_DISPATCH, type PWSK_CLIENT,
} from '../../index.ts';

export type ProviderFactory = () => TransportProvider;

export interface WskSession {
  subsystem: WskSubsystem;
  registration: WSK_REGISTRATION;
  Client: PWSK_CLIENT;
  Dispatch: WSK_PROVIDER_DISPATCH;
  /** Releases the capture and deregisters (waiting for sockets to close); openSession's also stops its subsystem. */
  close(): Promise<void>;
}

export async function openSession(factory: ProviderFactory): Promise<WskSession> {
  const subsystem = new WskSubsystem(factory(), { registerWithNmr: false });
  await subsystem.start();
  const session = await sessionOn(subsystem);
  return { ...session, close: async () => { await session.close(); await subsystem.stop(); } };
}

/** A registered, captured WSK client on a running subsystem; close() deregisters it (the subsystem stays). */
export async function sessionOn(subsystem: WskSubsystem): Promise<WskSession> {
  const registration = WSK_REGISTRATION();
  const dispatch: WSK_CLIENT_DISPATCH = { Version: MAKE_WSK_VERSION(1, 0), Reserved: 0, WskClientEvent: null };
  const status = WskRegister({ ClientContext: null, Dispatch: dispatch }, registration, subsystem);
  if (status !== STATUS_SUCCESS) throw new Error(`WskRegister: ${status}`);
  const npi = WSK_PROVIDER_NPI();
  const captured = await WskCaptureProviderNPI(registration, WSK_INFINITE_WAIT, npi);
  if (captured !== STATUS_SUCCESS) throw new Error(`WskCaptureProviderNPI: ${captured}`);
  return {
    subsystem, registration, Client: npi.Client!, Dispatch: npi.Dispatch!,
    close: async () => {
      WskReleaseProviderNPI(registration);
      await WskDeregister(registration);
    },
  };
}

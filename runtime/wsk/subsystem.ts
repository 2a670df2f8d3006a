// A WSK subsystem instance: the WSK provider running over one transport provider (kernel
// sockets, or the userspace stack). Several may run side by side; WskRegister uses the default
// one unless told otherwise, and every started subsystem is also an NMR provider of
// NPI_WSK_INTERFACE_ID (R60), so NmrRegisterClient attaches to each.
import { randomUUID } from 'node:crypto';
import { NmrDeregisterProvider, NmrProviderDetachClientComplete, NmrRegisterProvider, NmrWaitForProviderDeregisterComplete } from '../nmr/registrar.ts';
import { MIT_GUID, NPI_MODULEID_SIZE, NPI_PROVIDER_CHARACTERISTICS_SIZE, NPI_REGISTRATION_INSTANCE_SIZE, guidFromString, type GUID, type HANDLE, type NPI_PROVIDER_CHARACTERISTICS } from '../nmr/types.ts';
import { STATUS_NOINTERFACE, STATUS_PENDING, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import type { TransportProvider } from '../provider.ts';
import { AddressTable } from './address-sharing.ts';
import { WskClientObject } from './client.ts';
import { MAKE_WSK_VERSION, NPI_WSK_INTERFACE_ID, WSK_MAJOR_VERSION, WSK_MINOR_VERSION } from './constants.ts';
import type { WSK_CLIENT_DISPATCH, WSK_PROVIDER_CHARACTERISTICS } from './types.ts';
import { WskUsageError } from '../errors.ts';

export const WSK_HIGHEST_VERSION = MAKE_WSK_VERSION(1, 0);
export const WSK_LOWEST_VERSION = MAKE_WSK_VERSION(1, 0);

/** The version reported back for a requested one, or null when unsupported (R3, R8). */
export function negotiateVersion(requested: number): number | null {
  if (WSK_MAJOR_VERSION(requested) !== WSK_MAJOR_VERSION(WSK_HIGHEST_VERSION)) return null;
  if (WSK_MINOR_VERSION(requested) > WSK_MINOR_VERSION(WSK_HIGHEST_VERSION)) return null;
  return WSK_HIGHEST_VERSION;
}

export interface WskSubsystemOptions {
  /** For logs and `wsk stats`. */
  name?: string;
  /** Register as an NMR provider once started (default true). */
  registerWithNmr?: boolean;
}

type SubsystemState = 'stopped' | 'starting' | 'ready' | 'stopping';

export class WskSubsystem {
  readonly name: string;
  readonly addressTable = new AddressTable();
  readonly providerId: GUID = guidFromString(randomUUID());
  readonly characteristics: WSK_PROVIDER_CHARACTERISTICS = { HighestVersion: WSK_HIGHEST_VERSION, LowestVersion: WSK_LOWEST_VERSION };
  /** The host provider cannot keep the kernel from sending: SIO_WSK_SET_TCP_SILENT_MODE is refused. */
  readonly supportsSilentMode: boolean = false;
  state: SubsystemState = 'stopped';
  private readyWaiters: Array<() => void> = [];
  private nmrHandle: HANDLE | null = null;
  private readonly nmrBindings = new Map<WskClientObject, HANDLE>();
  private readonly registerWithNmr: boolean;

  constructor(readonly provider: TransportProvider, options: WskSubsystemOptions = {}) {
    this.name = options.name ?? provider.name;
    this.registerWithNmr = options.registerWithNmr ?? true;
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Starts the provider; WskCaptureProviderNPI waiters are released once it is ready (R2). */
  async start(): Promise<void> {
    if (this.state !== 'stopped') throw new WskUsageError('SUBSYSTEM_STATE', `WSK subsystem '${this.name}' is ${this.state}; start it once.`);
    this.state = 'starting';
    await this.provider.start();
    this.state = 'ready';
    if (this.registerWithNmr) this.registerNmrProvider();
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Resolves when ready; the returned cancel function stops waiting. */
  onReady(callback: () => void): () => void {
    if (this.ready) { callback(); return () => {}; }
    this.readyWaiters.push(callback);
    return () => { const i = this.readyWaiters.indexOf(callback); if (i >= 0) this.readyWaiters.splice(i, 1); };
  }

  async stop(): Promise<void> {
    if (this.state !== 'ready') return;
    this.state = 'stopping';
    if (this.nmrHandle) {
      const handle = this.nmrHandle;
      this.nmrHandle = null;
      NmrDeregisterProvider(handle);
      await NmrWaitForProviderDeregisterComplete(handle);
    }
    await this.provider.stop();
    this.state = 'stopped';
  }

  createClient(dispatch: WSK_CLIENT_DISPATCH, clientContext: unknown): WskClientObject | null {
    const version = negotiateVersion(dispatch.Version);
    if (version === null) return null;
    return new WskClientObject(this, { ClientContext: clientContext, Dispatch: dispatch }, version);
  }

  private registerNmrProvider(): void {
    const characteristics: NPI_PROVIDER_CHARACTERISTICS = {
      Version: 0,
      Length: NPI_PROVIDER_CHARACTERISTICS_SIZE,
      ProviderAttachClient: (handle, _ctx, _instance, clientBindingContext, clientDispatch, providerBindingContext, providerDispatch): NTSTATUS => {
        const dispatch = clientDispatch as WSK_CLIENT_DISPATCH | null;
        if (!dispatch || typeof dispatch.Version !== 'number') return STATUS_NOINTERFACE;
        const client = this.createClient(dispatch, clientBindingContext);
        if (!client) return STATUS_NOINTERFACE;
        this.nmrBindings.set(client, handle);
        providerBindingContext.value = client;
        providerDispatch.value = client.Dispatch;
        return STATUS_SUCCESS;
      },
      // R60: detach stays pending while the client still has sockets open.
      ProviderDetachClient: (bindingContext): NTSTATUS => {
        const client = bindingContext as WskClientObject;
        client.beginShutdown();
        if (client.idle) return STATUS_SUCCESS;
        const handle = this.nmrBindings.get(client)!;
        void client.whenIdle().then(() => NmrProviderDetachClientComplete(handle));
        return STATUS_PENDING;
      },
      ProviderCleanupBindingContext: (bindingContext) => { this.nmrBindings.delete(bindingContext as WskClientObject); },
      ProviderRegistrationInstance: {
        Version: 0,
        Size: NPI_REGISTRATION_INSTANCE_SIZE,
        NpiId: NPI_WSK_INTERFACE_ID,
        ModuleId: { Length: NPI_MODULEID_SIZE, Type: MIT_GUID, Guid: this.providerId },
        Number: 0,
        NpiSpecificCharacteristics: this.characteristics,
      },
    };
    const holder: { value: HANDLE | null } = { value: null };
    NmrRegisterProvider(characteristics, this, holder);
    this.nmrHandle = holder.value;
  }
}

let defaultSubsystem: WskSubsystem | null = null;
let defaultFactory: (() => TransportProvider) | null = null;

/** Used by the package entry to supply the kernel provider without a layering cycle. */
export function setDefaultProviderFactory(factory: () => TransportProvider): void {
  defaultFactory = factory;
}

/**
 * Starts a WSK subsystem on `provider`. The first one started becomes the default for
 * WskRegister unless `makeDefault` is false.
 */
export async function startWskSubsystem(provider: TransportProvider, options: WskSubsystemOptions & { makeDefault?: boolean } = {}): Promise<WskSubsystem> {
  const subsystem = new WskSubsystem(provider, options);
  if (options.makeDefault ?? !defaultSubsystem) defaultSubsystem = subsystem;
  await subsystem.start();
  return subsystem;
}

/** The subsystem WskRegister binds to: an app that started none gets one on the kernel provider. */
export function getDefaultWskSubsystem(): WskSubsystem {
  if (defaultSubsystem) return defaultSubsystem;
  if (!defaultFactory) throw new WskUsageError('NO_PROVIDER', 'No WSK subsystem: import from "wsk-runtime" (which supplies the kernel provider) or call startWskSubsystem(provider).');
  defaultSubsystem = new WskSubsystem(defaultFactory());
  void defaultSubsystem.start();
  return defaultSubsystem;
}

export function setDefaultWskSubsystem(subsystem: WskSubsystem | null): void {
  defaultSubsystem = subsystem;
}

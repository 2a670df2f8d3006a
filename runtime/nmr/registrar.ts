// Network Module Registrar (netioddk.h Nmr* functions; docs/wsk-rules.md R54–R59).
// Binds every client to every provider of the same NPI at the later of the two registrations,
// and detaches both sides of each binding when either module deregisters. Callbacks run
// synchronously on the caller's stack (PASSIVE level on Windows) and may re-enter the
// registrar, so no callback is ever invoked while iterating a live collection. Only
// NmrWaitFor*DeregisterComplete is asynchronous: it blocks a thread on Windows (docs/architecture.md §3).
import {
  NT_SUCCESS,
  STATUS_INVALID_PARAMETER,
  STATUS_PENDING,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../ntstatus.ts';
import {
  guidEquals,
  MIT_GUID,
  MIT_IF_LUID,
  NPI_CLIENT_CHARACTERISTICS_SIZE,
  NPI_MODULEID_SIZE,
  NPI_PROVIDER_CHARACTERISTICS_SIZE,
  NPI_REGISTRATION_INSTANCE_SIZE,
  type GUID,
  type HANDLE,
  type NPI_CLIENT_CHARACTERISTICS,
  type NPI_PROVIDER_CHARACTERISTICS,
  type NPI_REGISTRATION_INSTANCE,
  type PHANDLE,
  type POINTER_HOLDER,
} from './types.ts';

export type NmrUsageErrorCode =
  | 'NMR_INVALID_BINDING_HANDLE'
  | 'NMR_DETACH_NOT_STARTED'
  | 'NMR_DETACH_COMPLETE_BEFORE_RETURN'
  | 'NMR_DETACH_COMPLETE_AFTER_SUCCESS'
  | 'NMR_DETACH_COMPLETE_TWICE';

/** A module misused the NMR in a way Windows leaves undefined (usually a bugcheck): fix the caller. */
export class NmrUsageError extends Error {
  constructor(readonly code: NmrUsageErrorCode, message: string) {
    super(message);
    this.name = 'NmrUsageError';
  }
}

type Side = 'client' | 'provider';

// Per side of a binding. 'unattached' never attached (nothing to detach or clean up);
// 'detached' returned STATUS_SUCCESS from its detach callback; 'completed' called *DetachComplete.
type SideState = 'unattached' | 'attached' | 'detaching' | 'pending' | 'detached' | 'completed';

interface ClientRegistration {
  kind: 'client';
  handle: HANDLE;
  characteristics: NPI_CLIENT_CHARACTERISTICS;
  context: unknown;
  deregistering: boolean;
  bindings: Set<Binding>;
  waiters: Array<(status: NTSTATUS) => void>;
}

interface ProviderRegistration {
  kind: 'provider';
  handle: HANDLE;
  characteristics: NPI_PROVIDER_CHARACTERISTICS;
  context: unknown;
  deregistering: boolean;
  bindings: Set<Binding>;
  waiters: Array<(status: NTSTATUS) => void>;
}

type Registration = ClientRegistration | ProviderRegistration;

interface Binding {
  handle: HANDLE;
  client: ClientRegistration;
  provider: ProviderRegistration;
  phase: 'attaching' | 'attached' | 'detaching' | 'closed';
  /** NmrClientAttachProvider is legal only while ClientAttachProvider runs for this binding. */
  inClientAttach: boolean;
  inProviderAttach: boolean;
  state: Record<Side, SideState>;
  ClientBindingContext: unknown;
  ClientDispatch: unknown;
  ProviderBindingContext: unknown;
  ProviderDispatch: unknown;
}

const DETACH_CALLBACK: Record<Side, string> = { client: 'ClientDetachProvider', provider: 'ProviderDetachClient' };
const DETACH_COMPLETE: Record<Side, string> = {
  client: 'NmrClientDetachProviderComplete',
  provider: 'NmrProviderDetachClientComplete',
};

function newHandle(): HANDLE {
  return Object.freeze(Object.create(null)) as HANDLE;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isUshortAtLeast(v: unknown, min: number): boolean {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= 0xffff;
}

function isGuid(v: unknown): v is GUID {
  return (
    isObject(v) &&
    typeof v.Data1 === 'number' &&
    typeof v.Data2 === 'number' &&
    typeof v.Data3 === 'number' &&
    (Array.isArray(v.Data4) || v.Data4 instanceof Uint8Array) &&
    v.Data4.length === 8
  );
}

function isValidRegistrationInstance(ri: unknown): ri is NPI_REGISTRATION_INSTANCE {
  if (!isObject(ri) || ri.Version !== 0 || !isUshortAtLeast(ri.Size, NPI_REGISTRATION_INSTANCE_SIZE)) return false;
  if (!isGuid(ri.NpiId)) return false;
  const id = ri.ModuleId;
  if (!isObject(id) || !isUshortAtLeast(id.Length, NPI_MODULEID_SIZE)) return false;
  return (id.Type === MIT_GUID && isGuid(id.Guid)) || (id.Type === MIT_IF_LUID && isObject(id.IfLuid));
}

// Shape checks of R54: Version 0, Length/Size at least sizeof (a larger, newer layout is fine).
function isValidCharacteristics(
  c: unknown,
  attach: string,
  detach: string,
  cleanup: string,
  instance: string,
  size: number,
): boolean {
  return (
    isObject(c) &&
    c.Version === 0 &&
    isUshortAtLeast(c.Length, size) &&
    typeof c[attach] === 'function' &&
    typeof c[detach] === 'function' &&
    (c[cleanup] == null || typeof c[cleanup] === 'function') &&
    isValidRegistrationInstance(c[instance])
  );
}

function isHolder(h: unknown): boolean {
  return isObject(h);
}

function isDone(s: SideState): boolean {
  return s === 'unattached' || s === 'detached' || s === 'completed';
}

export class NmrRegistrar {
  // Insertion-ordered, so attach attempts follow registration order (deterministic tests).
  readonly #registrations = new Map<HANDLE, Registration>();
  // Weak and never pruned: a late *DetachComplete on a dropped binding gets a precise error.
  readonly #bindings = new WeakMap<HANDLE, Binding>();

  NmrRegisterProvider(
    ProviderCharacteristics: NPI_PROVIDER_CHARACTERISTICS | null,
    ProviderContext: unknown,
    NmrProviderHandle: PHANDLE,
  ): NTSTATUS {
    if (
      !isHolder(NmrProviderHandle) ||
      !isValidCharacteristics(
        ProviderCharacteristics,
        'ProviderAttachClient',
        'ProviderDetachClient',
        'ProviderCleanupBindingContext',
        'ProviderRegistrationInstance',
        NPI_PROVIDER_CHARACTERISTICS_SIZE,
      )
    ) {
      return STATUS_INVALID_PARAMETER;
    }
    const provider: ProviderRegistration = {
      kind: 'provider',
      handle: newHandle(),
      characteristics: ProviderCharacteristics!,
      context: ProviderContext,
      deregistering: false,
      bindings: new Set(),
      waiters: [],
    };
    this.#registrations.set(provider.handle, provider);
    // Published before any callback runs: a client's attach callback may need it (re-entrancy).
    NmrProviderHandle.value = provider.handle;
    for (const client of this.#snapshot('client')) this.#tryAttach(client, provider);
    return STATUS_SUCCESS;
  }

  NmrRegisterClient(
    ClientCharacteristics: NPI_CLIENT_CHARACTERISTICS | null,
    ClientContext: unknown,
    NmrClientHandle: PHANDLE,
  ): NTSTATUS {
    if (
      !isHolder(NmrClientHandle) ||
      !isValidCharacteristics(
        ClientCharacteristics,
        'ClientAttachProvider',
        'ClientDetachProvider',
        'ClientCleanupBindingContext',
        'ClientRegistrationInstance',
        NPI_CLIENT_CHARACTERISTICS_SIZE,
      )
    ) {
      return STATUS_INVALID_PARAMETER;
    }
    const client: ClientRegistration = {
      kind: 'client',
      handle: newHandle(),
      characteristics: ClientCharacteristics!,
      context: ClientContext,
      deregistering: false,
      bindings: new Set(),
      waiters: [],
    };
    this.#registrations.set(client.handle, client);
    // Published first so that ClientAttachProvider may already call NmrDeregisterClient.
    NmrClientHandle.value = client.handle;
    for (const provider of this.#snapshot('provider')) this.#tryAttach(client, provider);
    return STATUS_SUCCESS;
  }

  NmrClientAttachProvider(
    NmrBindingHandle: HANDLE,
    ClientBindingContext: unknown,
    ClientDispatch: unknown,
    ProviderBindingContext: POINTER_HOLDER,
    ProviderDispatch: POINTER_HOLDER,
  ): NTSTATUS {
    const b = this.#bindings.get(NmrBindingHandle);
    if (
      b === undefined ||
      !b.inClientAttach ||
      b.inProviderAttach ||
      b.state.provider !== 'unattached' ||
      !isHolder(ProviderBindingContext) ||
      !isHolder(ProviderDispatch)
    ) {
      return STATUS_INVALID_PARAMETER;
    }
    // Own holders: a declining provider must not leave values in the client's out-parameters.
    const context: POINTER_HOLDER = { value: null };
    const dispatch: POINTER_HOLDER = { value: null };
    b.inProviderAttach = true;
    let status: NTSTATUS;
    try {
      status = b.provider.characteristics.ProviderAttachClient(
        b.handle,
        b.provider.context,
        b.client.characteristics.ClientRegistrationInstance,
        ClientBindingContext,
        ClientDispatch,
        context,
        dispatch,
      );
    } finally {
      b.inProviderAttach = false;
    }
    if (NT_SUCCESS(status)) {
      b.state.provider = 'attached';
      b.ClientBindingContext = ClientBindingContext;
      b.ClientDispatch = ClientDispatch;
      b.ProviderBindingContext = context.value;
      b.ProviderDispatch = dispatch.value;
      ProviderBindingContext.value = context.value;
      ProviderDispatch.value = dispatch.value;
    }
    return status;
  }

  NmrDeregisterProvider(NmrProviderHandle: HANDLE): NTSTATUS {
    return this.#deregister(NmrProviderHandle, 'provider');
  }

  NmrDeregisterClient(NmrClientHandle: HANDLE): NTSTATUS {
    return this.#deregister(NmrClientHandle, 'client');
  }

  NmrClientDetachProviderComplete(NmrBindingHandle: HANDLE): void {
    this.#detachComplete(NmrBindingHandle, 'client');
  }

  NmrProviderDetachClientComplete(NmrBindingHandle: HANDLE): void {
    this.#detachComplete(NmrBindingHandle, 'provider');
  }

  NmrWaitForClientDeregisterComplete(NmrClientHandle: HANDLE): Promise<NTSTATUS> {
    return this.#waitForDeregister(NmrClientHandle, 'client');
  }

  NmrWaitForProviderDeregisterComplete(NmrProviderHandle: HANDLE): Promise<NTSTATUS> {
    return this.#waitForDeregister(NmrProviderHandle, 'provider');
  }

  #snapshot<K extends Registration['kind']>(kind: K): Array<Extract<Registration, { kind: K }>> {
    const out: Array<Extract<Registration, { kind: K }>> = [];
    for (const r of this.#registrations.values()) if (r.kind === kind) out.push(r as Extract<Registration, { kind: K }>);
    return out;
  }

  #tryAttach(client: ClientRegistration, provider: ProviderRegistration): void {
    // Re-checked per pair: an earlier attach callback may have deregistered either module.
    if (client.deregistering || provider.deregistering) return;
    const clientNpi = client.characteristics.ClientRegistrationInstance.NpiId;
    const providerNpi = provider.characteristics.ProviderRegistrationInstance.NpiId;
    if (!guidEquals(clientNpi, providerNpi)) return;

    const b: Binding = {
      handle: newHandle(),
      client,
      provider,
      phase: 'attaching',
      inClientAttach: true,
      inProviderAttach: false,
      state: { client: 'unattached', provider: 'unattached' },
      ClientBindingContext: null,
      ClientDispatch: null,
      ProviderBindingContext: null,
      ProviderDispatch: null,
    };
    this.#bindings.set(b.handle, b);
    client.bindings.add(b);
    provider.bindings.add(b);

    let status: NTSTATUS = STATUS_INVALID_PARAMETER; // what a throwing callback counts as
    try {
      status = client.characteristics.ClientAttachProvider(
        b.handle,
        client.context,
        provider.characteristics.ProviderRegistrationInstance,
      );
    } finally {
      b.inClientAttach = false;
      this.#finishAttach(b, status);
    }
  }

  #finishAttach(b: Binding, status: NTSTATUS): void {
    if (NT_SUCCESS(status) && b.state.provider === 'attached') {
      b.phase = 'attached';
      b.state.client = 'attached';
      // A deregistration that arrived during the attach callbacks skipped this binding.
      if (b.client.deregistering || b.provider.deregistering) this.#beginDetach(b);
    } else if (b.state.provider === 'attached') {
      // The client failed after the provider accepted: the provider still holds a binding
      // context, so detach and clean up its side. The client side never attached; the client
      // frees its own context on its failure path (CON attaching-a-client-module), so no
      // ClientDetachProvider / ClientCleanupBindingContext here.
      b.phase = 'detaching';
      this.#detachSide(b, 'provider');
      this.#closeIfDone(b);
    } else {
      // Declined (or SUCCESS without NmrClientAttachProvider): nothing was attached anywhere.
      b.phase = 'closed';
      this.#drop(b);
    }
  }

  #deregister(handle: HANDLE, kind: Registration['kind']): NTSTATUS {
    const reg = this.#registrations.get(handle);
    if (reg === undefined || reg.kind !== kind || reg.deregistering) return STATUS_INVALID_PARAMETER;
    reg.deregistering = true;
    for (const b of [...reg.bindings]) {
      // 'attaching' bindings are detached by #finishAttach; 'detaching' ones were started by
      // the other side's deregistration and must not be detached twice (R57).
      if (b.phase === 'attached') this.#beginDetach(b);
    }
    // Always PENDING (docs/wsk-rules.md, choice F): callers then call NmrWaitFor*DeregisterComplete.
    return STATUS_PENDING;
  }

  #beginDetach(b: Binding): void {
    b.phase = 'detaching';
    this.#detachSide(b, 'client');
    this.#detachSide(b, 'provider');
    this.#closeIfDone(b);
  }

  #detachSide(b: Binding, side: Side): void {
    if (b.state[side] !== 'attached') return;
    b.state[side] = 'detaching';
    const status =
      side === 'client'
        ? b.client.characteristics.ClientDetachProvider(b.ClientBindingContext)
        : b.provider.characteristics.ProviderDetachClient(b.ProviderBindingContext);
    // Anything but PENDING means done, as in usersim.
    b.state[side] = status === STATUS_PENDING ? 'pending' : 'detached';
  }

  #detachComplete(handle: HANDLE, side: Side): void {
    const b = this.#bindings.get(handle);
    const fn = DETACH_COMPLETE[side];
    const cb = DETACH_CALLBACK[side];
    if (b === undefined) {
      throw new NmrUsageError(
        'NMR_INVALID_BINDING_HANDLE',
        `${fn}: not an NMR binding handle of this registrar. Pass the NmrBindingHandle your attach callback received.`,
      );
    }
    switch (b.state[side]) {
      case 'pending':
        b.state[side] = 'completed';
        this.#closeIfDone(b);
        return;
      case 'detaching':
        throw new NmrUsageError(
          'NMR_DETACH_COMPLETE_BEFORE_RETURN',
          `${fn} was called from inside ${cb}. If nothing is in progress, return STATUS_SUCCESS from ${cb}; ` +
            `otherwise return STATUS_PENDING and call ${fn} once the last in-progress call has finished.`,
        );
      case 'detached':
        throw new NmrUsageError(
          'NMR_DETACH_COMPLETE_AFTER_SUCCESS',
          `${fn} was called for a binding whose ${cb} returned STATUS_SUCCESS, so its detach was already complete. ` +
            `Call ${fn} only after returning STATUS_PENDING from ${cb} (docs/wsk-rules.md R57).`,
        );
      case 'completed':
        throw new NmrUsageError(
          'NMR_DETACH_COMPLETE_TWICE',
          `${fn} was called twice for the same binding. Call it exactly once per STATUS_PENDING returned from ${cb}.`,
        );
      default:
        throw new NmrUsageError(
          'NMR_DETACH_NOT_STARTED',
          `${fn} was called for a binding that is not detaching (${cb} has not been called for it). ` +
            `Call it only after ${cb} returned STATUS_PENDING.`,
        );
    }
  }

  #closeIfDone(b: Binding): void {
    if (b.phase !== 'detaching' || !isDone(b.state.client) || !isDone(b.state.provider)) return;
    b.phase = 'closed';
    // Once each, after both sides completed (R58); only a side that attached has a context.
    const clientCleanup = b.client.characteristics.ClientCleanupBindingContext;
    if (b.state.client !== 'unattached' && clientCleanup) clientCleanup(b.ClientBindingContext);
    const providerCleanup = b.provider.characteristics.ProviderCleanupBindingContext;
    if (b.state.provider !== 'unattached' && providerCleanup) providerCleanup(b.ProviderBindingContext);
    this.#drop(b);
  }

  #drop(b: Binding): void {
    b.client.bindings.delete(b);
    b.provider.bindings.delete(b);
    this.#settle(b.client);
    this.#settle(b.provider);
  }

  // The registration dies when a waiter sees it fully detached (as microsoft/usersim's NMR removes it).
  #settle(reg: Registration): void {
    if (!reg.deregistering || reg.bindings.size !== 0 || reg.waiters.length === 0) return;
    this.#registrations.delete(reg.handle);
    const waiters = reg.waiters.splice(0);
    for (const resolve of waiters) resolve(STATUS_SUCCESS);
  }

  #waitForDeregister(handle: HANDLE, kind: Registration['kind']): Promise<NTSTATUS> {
    const reg = this.#registrations.get(handle);
    if (reg === undefined || reg.kind !== kind || !reg.deregistering) {
      return Promise.resolve(STATUS_INVALID_PARAMETER);
    }
    return new Promise<NTSTATUS>((resolve) => {
      reg.waiters.push(resolve);
      this.#settle(reg);
    });
  }
}

const defaultRegistrar = new NmrRegistrar();

// Per-process registrar, as netio.sys has one per system.
export const NmrRegisterProvider = defaultRegistrar.NmrRegisterProvider.bind(defaultRegistrar);
export const NmrRegisterClient = defaultRegistrar.NmrRegisterClient.bind(defaultRegistrar);
export const NmrClientAttachProvider = defaultRegistrar.NmrClientAttachProvider.bind(defaultRegistrar);
export const NmrDeregisterProvider = defaultRegistrar.NmrDeregisterProvider.bind(defaultRegistrar);
export const NmrDeregisterClient = defaultRegistrar.NmrDeregisterClient.bind(defaultRegistrar);
export const NmrClientDetachProviderComplete = defaultRegistrar.NmrClientDetachProviderComplete.bind(defaultRegistrar);
export const NmrProviderDetachClientComplete = defaultRegistrar.NmrProviderDetachClientComplete.bind(defaultRegistrar);
export const NmrWaitForClientDeregisterComplete =
  defaultRegistrar.NmrWaitForClientDeregisterComplete.bind(defaultRegistrar);
export const NmrWaitForProviderDeregisterComplete =
  defaultRegistrar.NmrWaitForProviderDeregisterComplete.bind(defaultRegistrar);

// Network Module Registrar conformance (docs/wsk-rules.md R54–R59). Each test builds its own
// NmrRegistrar (except the one that checks the per-process functions), with small client and
// provider modules that log every callback so that order and counts can be asserted exactly.
import { describe, it, expect } from 'vitest';
import {
  guidEquals,
  guidFromString,
  guidToString,
  MIT_GUID,
  MIT_IF_LUID,
  NmrClientDetachProviderComplete,
  NmrClientAttachProvider,
  NmrDeregisterClient,
  NmrDeregisterProvider,
  NmrProviderDetachClientComplete,
  NmrRegisterClient,
  NmrRegisterProvider,
  NmrRegistrar,
  NmrUsageError,
  NmrWaitForClientDeregisterComplete,
  NmrWaitForProviderDeregisterComplete,
  NPI_CLIENT_CHARACTERISTICS_SIZE,
  NPI_MODULEID_SIZE,
  NPI_PROVIDER_CHARACTERISTICS_SIZE,
  NPI_REGISTRATION_INSTANCE_SIZE,
  type GUID,
  type HANDLE,
  type NPI_CLIENT_CHARACTERISTICS,
  type NPI_MODULEID,
  type NPI_PROVIDER_CHARACTERISTICS,
  type NPI_REGISTRATION_INSTANCE,
  type PHANDLE,
  type POINTER_HOLDER,
} from '../runtime/nmr/index.ts';
import {
  NT_SUCCESS,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_PARAMETER,
  STATUS_NOINTERFACE,
  STATUS_PENDING,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../runtime/ntstatus.ts';

const NPI_A = guidFromString('{2227E803-8D8B-11D4-ABAD-009027719E09}'); // NPI_WSK_INTERFACE_ID
const NPI_B = guidFromString('{6A1F0C52-3B7E-4D0A-9C41-5E2B7D8F9A10}');

const tick = () => new Promise((r) => setTimeout(r, 20));

type NmrApi = Pick<NmrRegistrar, keyof NmrRegistrar>;

interface World {
  nmr: NmrApi;
  log: string[];
}

/** A binding context, as a module would keep it: the handle is needed for *DetachComplete. */
interface Ctx {
  self: string;
  peer: string;
  handle: HANDLE;
  peerContext: unknown;
  peerDispatch: unknown;
}

let nextModule = 1;
function moduleId(): NPI_MODULEID {
  const n = nextModule++;
  return { Length: NPI_MODULEID_SIZE, Type: MIT_GUID, Guid: { Data1: n, Data2: 0, Data3: 0, Data4: [0, 0, 0, 0, 0, 0, 0, 1] } };
}

function nameOf(ri: NPI_REGISTRATION_INSTANCE): string {
  return (ri.NpiSpecificCharacteristics as { name: string }).name;
}

class TestClient {
  readonly handle: PHANDLE = { value: null };
  /** Attached bindings by provider name (removed by the cleanup callback). */
  readonly bindings = new Map<string, Ctx>();
  readonly dispatch: { Version: number; client: string };
  readonly chars: NPI_CLIENT_CHARACTERISTICS;
  detachStatus: NTSTATUS = STATUS_SUCCESS;
  onAttach: ((h: HANDLE, pri: NPI_REGISTRATION_INSTANCE) => NTSTATUS) | null = null;
  onDetach: ((ctx: Ctx) => NTSTATUS) | null = null;

  constructor(readonly w: World, readonly name: string, npi: GUID = NPI_A) {
    this.dispatch = { Version: 0x0100, client: name };
    this.chars = {
      Version: 0,
      Length: NPI_CLIENT_CHARACTERISTICS_SIZE,
      ClientAttachProvider: (h, ClientContext, pri) => {
        w.log.push(`${name} attach ${nameOf(pri)}`);
        expect(ClientContext).toBe(this);
        return this.onAttach ? this.onAttach(h, pri) : this.attach(h, pri, this.dispatch);
      },
      ClientDetachProvider: (bc) => {
        const ctx = bc as Ctx;
        w.log.push(`${name} detach ${ctx.peer}`);
        return this.onDetach ? this.onDetach(ctx) : this.detachStatus;
      },
      ClientCleanupBindingContext: (bc) => {
        const ctx = bc as Ctx;
        w.log.push(`${name} cleanup ${ctx.peer}`);
        this.bindings.delete(ctx.peer);
      },
      ClientRegistrationInstance: {
        Version: 0,
        Size: NPI_REGISTRATION_INSTANCE_SIZE,
        NpiId: npi,
        ModuleId: moduleId(),
        Number: 0,
        NpiSpecificCharacteristics: { name },
      },
    };
  }

  /** What a well-behaved ClientAttachProvider does: attach and return NmrClientAttachProvider's status. */
  attach(h: HANDLE, pri: NPI_REGISTRATION_INSTANCE, dispatch: unknown): NTSTATUS {
    const ctx: Ctx = { self: this.name, peer: nameOf(pri), handle: h, peerContext: null, peerDispatch: null };
    const ProviderBindingContext: POINTER_HOLDER = { value: null };
    const ProviderDispatch: POINTER_HOLDER = { value: null };
    const status = this.w.nmr.NmrClientAttachProvider(h, ctx, dispatch, ProviderBindingContext, ProviderDispatch);
    if (NT_SUCCESS(status)) {
      ctx.peerContext = ProviderBindingContext.value;
      ctx.peerDispatch = ProviderDispatch.value;
      this.bindings.set(ctx.peer, ctx);
    }
    return status;
  }

  register(): NTSTATUS {
    return this.w.nmr.NmrRegisterClient(this.chars, this, this.handle);
  }
  deregister(): NTSTATUS {
    return this.w.nmr.NmrDeregisterClient(this.handle.value!);
  }
  wait(): Promise<NTSTATUS> {
    return this.w.nmr.NmrWaitForClientDeregisterComplete(this.handle.value!);
  }
}

class TestProvider {
  readonly handle: PHANDLE = { value: null };
  readonly bindings = new Map<string, Ctx>();
  readonly dispatch: { provider: string };
  readonly chars: NPI_PROVIDER_CHARACTERISTICS;
  detachStatus: NTSTATUS = STATUS_SUCCESS;
  accepts: (ClientDispatch: unknown) => boolean = () => true;
  onDetach: ((ctx: Ctx) => NTSTATUS) | null = null;

  constructor(readonly w: World, readonly name: string, npi: GUID = NPI_A) {
    this.dispatch = { provider: name };
    this.chars = {
      Version: 0,
      Length: NPI_PROVIDER_CHARACTERISTICS_SIZE,
      ProviderAttachClient: (h, ProviderContext, cri, ClientBindingContext, ClientDispatch, pbc, pd) => {
        w.log.push(`${name} attach ${nameOf(cri)}`);
        expect(ProviderContext).toBe(this);
        if (!this.accepts(ClientDispatch)) return STATUS_NOINTERFACE;
        const ctx: Ctx = { self: name, peer: nameOf(cri), handle: h, peerContext: ClientBindingContext, peerDispatch: ClientDispatch };
        pbc.value = ctx;
        pd.value = this.dispatch;
        this.bindings.set(ctx.peer, ctx);
        return STATUS_SUCCESS;
      },
      ProviderDetachClient: (bc) => {
        const ctx = bc as Ctx;
        w.log.push(`${name} detach ${ctx.peer}`);
        return this.onDetach ? this.onDetach(ctx) : this.detachStatus;
      },
      ProviderCleanupBindingContext: (bc) => {
        const ctx = bc as Ctx;
        w.log.push(`${name} cleanup ${ctx.peer}`);
        this.bindings.delete(ctx.peer);
      },
      ProviderRegistrationInstance: {
        Version: 0,
        Size: NPI_REGISTRATION_INSTANCE_SIZE,
        NpiId: npi,
        ModuleId: moduleId(),
        Number: 0,
        NpiSpecificCharacteristics: { name },
      },
    };
  }

  register(): NTSTATUS {
    return this.w.nmr.NmrRegisterProvider(this.chars, this, this.handle);
  }
  deregister(): NTSTATUS {
    return this.w.nmr.NmrDeregisterProvider(this.handle.value!);
  }
  wait(): Promise<NTSTATUS> {
    return this.w.nmr.NmrWaitForProviderDeregisterComplete(this.handle.value!);
  }
}

function world(nmr: NmrApi = new NmrRegistrar()): World {
  return { nmr, log: [] };
}

function takeLog(w: World): string[] {
  return w.log.splice(0);
}

/** Runs fn and returns the NmrUsageError it throws. */
function usageErrorOf(fn: () => void): NmrUsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NmrUsageError);
    return e as NmrUsageError;
  }
  throw new Error('expected an NmrUsageError');
}

function tracked(p: Promise<NTSTATUS>): { done: () => boolean; result: Promise<NTSTATUS> } {
  let done = false;
  const result = p.then((s) => {
    done = true;
    return s;
  });
  return { done: () => done, result };
}

describe('NMR registration (R54)', () => {
  it('R54: keeps references, not copies, to characteristics, registration instance, NPI id and module id', () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c = new TestClient(w, 'C');
    expect(p.register()).toBe(STATUS_SUCCESS);
    // Changed after registration: the registrar must see the caller's live objects.
    const late = { name: 'P', extra: 42 };
    p.chars.ProviderRegistrationInstance.NpiSpecificCharacteristics = late;
    let seen: NPI_REGISTRATION_INSTANCE | null = null;
    c.onAttach = (h, pri) => {
      seen = pri;
      return c.attach(h, pri, c.dispatch);
    };
    let seenByProvider: NPI_REGISTRATION_INSTANCE | null = null;
    const original = p.chars.ProviderAttachClient;
    p.chars.ProviderAttachClient = (h, pc, cri, cbc, cd, pbc, pd) => {
      seenByProvider = cri;
      return original(h, pc, cri, cbc, cd, pbc, pd);
    };
    expect(c.register()).toBe(STATUS_SUCCESS);
    expect(seen).toBe(p.chars.ProviderRegistrationInstance);
    expect(seen!.ModuleId).toBe(p.chars.ProviderRegistrationInstance.ModuleId);
    expect(seen!.NpiId).toBe(NPI_A);
    expect(seen!.NpiSpecificCharacteristics).toBe(late);
    expect(seenByProvider).toBe(c.chars.ClientRegistrationInstance);
    expect(c.bindings.get('P')!.peerDispatch).toBe(p.dispatch);
  });

  it('R54: accepts Version 0 with sizeof Length/Size (or larger) and NULL cleanup callbacks', () => {
    const w = world();
    const c = new TestClient(w, 'C');
    c.chars.Length = NPI_CLIENT_CHARACTERISTICS_SIZE + 8;
    c.chars.ClientCleanupBindingContext = null;
    c.chars.ClientRegistrationInstance.ModuleId = {
      Length: NPI_MODULEID_SIZE,
      Type: MIT_IF_LUID,
      IfLuid: { LowPart: 7, HighPart: 0 },
    };
    expect(c.register()).toBe(STATUS_SUCCESS);
    expect(c.handle.value).not.toBeNull();
    const p = new TestProvider(w, 'P');
    p.chars.ProviderCleanupBindingContext = null;
    expect(p.register()).toBe(STATUS_SUCCESS);
    expect(c.bindings.has('P')).toBe(true);
  });

  it('R54: rejects null characteristics, missing callbacks and wrong Version/Length/Size with STATUS_INVALID_PARAMETER', () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    expect(p.register()).toBe(STATUS_SUCCESS);

    const clientMutations: Array<[string, (ch: NPI_CLIENT_CHARACTERISTICS) => void]> = [
      ['Version 1', (ch) => (ch.Version = 1)],
      ['Length 0', (ch) => (ch.Length = 0)],
      ['Length 16', (ch) => (ch.Length = 16)],
      ['no ClientAttachProvider', (ch) => ((ch as { ClientAttachProvider: unknown }).ClientAttachProvider = null)],
      ['no ClientDetachProvider', (ch) => ((ch as { ClientDetachProvider: unknown }).ClientDetachProvider = undefined)],
      ['cleanup not a function', (ch) => ((ch as { ClientCleanupBindingContext: unknown }).ClientCleanupBindingContext = 5)],
      ['instance Version 1', (ch) => (ch.ClientRegistrationInstance.Version = 1)],
      ['instance Size 0', (ch) => (ch.ClientRegistrationInstance.Size = 0)],
      ['NpiId null', (ch) => ((ch.ClientRegistrationInstance as { NpiId: unknown }).NpiId = null)],
      ['NpiId short Data4', (ch) => (ch.ClientRegistrationInstance.NpiId = { Data1: 1, Data2: 2, Data3: 3, Data4: [1, 2] })],
      ['ModuleId null', (ch) => ((ch.ClientRegistrationInstance as { ModuleId: unknown }).ModuleId = null)],
      ['ModuleId Length 0', (ch) => (ch.ClientRegistrationInstance.ModuleId.Length = 0)],
      ['ModuleId Type 9', (ch) => ((ch.ClientRegistrationInstance.ModuleId as { Type: number }).Type = 9)],
      ['MIT_GUID without Guid', (ch) => delete ch.ClientRegistrationInstance.ModuleId.Guid],
    ];
    for (const [what, mutate] of clientMutations) {
      const c = new TestClient(w, `C ${what}`);
      mutate(c.chars);
      expect(c.register(), what).toBe(STATUS_INVALID_PARAMETER);
      expect(c.handle.value, what).toBeNull();
    }
    expect(w.nmr.NmrRegisterClient(null, null, { value: null })).toBe(STATUS_INVALID_PARAMETER);
    expect(w.nmr.NmrRegisterClient(new TestClient(w, 'C').chars, null, null as unknown as PHANDLE)).toBe(
      STATUS_INVALID_PARAMETER,
    );

    const providerMutations: Array<[string, (ch: NPI_PROVIDER_CHARACTERISTICS) => void]> = [
      ['Version 2', (ch) => (ch.Version = 2)],
      ['Length 40', (ch) => (ch.Length = 40)],
      ['no ProviderAttachClient', (ch) => ((ch as { ProviderAttachClient: unknown }).ProviderAttachClient = null)],
      ['no ProviderDetachClient', (ch) => ((ch as { ProviderDetachClient: unknown }).ProviderDetachClient = {})],
      ['instance Size 24', (ch) => (ch.ProviderRegistrationInstance.Size = 24)],
      ['no instance', (ch) => ((ch as { ProviderRegistrationInstance: unknown }).ProviderRegistrationInstance = null)],
    ];
    for (const [what, mutate] of providerMutations) {
      const bad = new TestProvider(w, `P ${what}`);
      mutate(bad.chars);
      expect(bad.register(), what).toBe(STATUS_INVALID_PARAMETER);
    }
    expect(w.nmr.NmrRegisterProvider(null, null, { value: null })).toBe(STATUS_INVALID_PARAMETER);
    // Nothing rejected was ever offered to the registered provider.
    expect(w.log).toEqual([]);
  });
});

describe('NMR attach (R55, R56)', () => {
  it('R55: attaches every client to every provider of the same NPI, at the later registration', () => {
    const w = world();
    const p1 = new TestProvider(w, 'P1');
    const p2 = new TestProvider(w, 'P2');
    const c1 = new TestClient(w, 'C1');
    const c2 = new TestClient(w, 'C2');
    const cb = new TestClient(w, 'CB', NPI_B);

    expect(p1.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual([]);
    expect(c1.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual(['C1 attach P1', 'P1 attach C1']);
    expect(cb.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual([]);
    expect(p2.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual(['C1 attach P2', 'P2 attach C1']);
    expect(c2.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual(['C2 attach P1', 'P1 attach C2', 'C2 attach P2', 'P2 attach C2']);

    // 4 bindings, none cross-NPI.
    expect([...c1.bindings.keys()]).toEqual(['P1', 'P2']);
    expect([...c2.bindings.keys()]).toEqual(['P1', 'P2']);
    expect([...p1.bindings.keys()]).toEqual(['C1', 'C2']);
    expect([...p2.bindings.keys()]).toEqual(['C1', 'C2']);
    expect(cb.bindings.size).toBe(0);
  });

  it('R55: NPI ids are compared by GUID contents, not by object identity', () => {
    expect(guidEquals(NPI_A, guidFromString('2227e803-8d8b-11d4-abad-009027719e09'))).toBe(true);
    expect(guidEquals(NPI_A, { ...NPI_A, Data4: Array.from(NPI_A.Data4) })).toBe(true);
    expect(guidEquals(NPI_A, NPI_B)).toBe(false);
    expect(guidToString(NPI_A)).toBe('{2227E803-8D8B-11D4-ABAD-009027719E09}');
    expect(() => guidFromString('{2227E803-8D8B-11D4-ABAD}')).toThrow(TypeError);

    const w = world();
    const p = new TestProvider(w, 'P', guidFromString('{2227E803-8D8B-11D4-ABAD-009027719E09}'));
    const c = new TestClient(w, 'C', guidFromString('{2227E803-8D8B-11D4-ABAD-009027719E09}'));
    p.register();
    c.register();
    expect(c.bindings.has('P')).toBe(true);
  });

  it('R55: attach happens synchronously inside the later registration, provider first or client first', () => {
    for (const providerFirst of [true, false]) {
      const w = world();
      const p = new TestProvider(w, 'P');
      const c = new TestClient(w, 'C');
      const [first, second] = providerFirst ? [p, c] : [c, p];
      expect(first.register()).toBe(STATUS_SUCCESS);
      expect(w.log).toEqual([]);
      expect(second.register()).toBe(STATUS_SUCCESS);
      expect(w.log).toEqual(['C attach P', 'P attach C']);
      expect(c.bindings.get('P')!.handle).toBe(p.bindings.get('C')!.handle);
    }
  });

  it('R55: never attaches a module that is deregistering', async () => {
    const w = world();
    // A deregistering provider, kept alive by a pending detach, is invisible to new clients.
    const p = new TestProvider(w, 'P');
    const c1 = new TestClient(w, 'C1');
    p.register();
    c1.register();
    p.detachStatus = STATUS_PENDING;
    expect(p.deregister()).toBe(STATUS_PENDING);
    takeLog(w);
    const c2 = new TestClient(w, 'C2');
    expect(c2.register()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual([]);

    // A deregistering client is invisible to new providers.
    expect(c2.deregister()).toBe(STATUS_PENDING);
    const p2 = new TestProvider(w, 'P2');
    expect(p2.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual(['C1 attach P2', 'P2 attach C1']);
    expect(await c2.wait()).toBe(STATUS_SUCCESS);

    w.nmr.NmrProviderDetachClientComplete(p.bindings.get('C1')!.handle);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
  });

  it('R55: a client deregistering inside ClientAttachProvider gets no further attach, and is detached once attach returns', async () => {
    const w = world();
    const p1 = new TestProvider(w, 'P1');
    const p2 = new TestProvider(w, 'P2');
    p1.register();
    p2.register();
    const c = new TestClient(w, 'C');
    c.onAttach = (h, pri) => {
      const status = c.attach(h, pri, c.dispatch);
      expect(w.nmr.NmrDeregisterClient(c.handle.value!)).toBe(STATUS_PENDING);
      // The binding is still attaching: no detach callback may run inside the attach callback.
      expect(w.log).toEqual(['C attach P1', 'P1 attach C']);
      return status;
    };
    expect(c.register()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual(['C attach P1', 'P1 attach C', 'C detach P1', 'P1 detach C', 'C cleanup P1', 'P1 cleanup C']);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
  });

  it('R56: NmrClientAttachProvider calls ProviderAttachClient synchronously and exchanges both context/dispatch pairs', () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c = new TestClient(w, 'C');
    p.register();
    let status: NTSTATUS | null = null;
    c.onAttach = (h, pri) => {
      expect(w.log).toEqual(['C attach P']);
      status = c.attach(h, pri, c.dispatch);
      expect(w.log).toEqual(['C attach P', 'P attach C']);
      return status;
    };
    c.register();
    expect(status).toBe(STATUS_SUCCESS);
    const cctx = c.bindings.get('P')!;
    const pctx = p.bindings.get('C')!;
    expect(cctx.peerContext).toBe(pctx);
    expect(cctx.peerDispatch).toBe(p.dispatch);
    expect(pctx.peerContext).toBe(cctx);
    expect(pctx.peerDispatch).toBe(c.dispatch);
  });

  it('R56: after STATUS_NOINTERFACE the client retries NmrClientAttachProvider with another dispatch that the provider accepts', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    // The provider speaks only version 1.0, as a WSK provider checks WSK_CLIENT_DISPATCH.Version.
    p.accepts = (d) => (d as { Version: number }).Version === 0x0100;
    p.register();
    const c = new TestClient(w, 'C');
    const v2 = { Version: 0x0200, client: 'C' };
    const v1 = { Version: 0x0100, client: 'C' };
    const holders: Array<[unknown, unknown]> = [];
    c.onAttach = (h, pri) => {
      const ctx: Ctx = { self: 'C', peer: nameOf(pri), handle: h, peerContext: null, peerDispatch: null };
      const pbc: POINTER_HOLDER = { value: null };
      const pd: POINTER_HOLDER = { value: null };
      let status = w.nmr.NmrClientAttachProvider(h, ctx, v2, pbc, pd);
      holders.push([pbc.value, pd.value]);
      if (status === STATUS_NOINTERFACE) status = w.nmr.NmrClientAttachProvider(h, ctx, v1, pbc, pd);
      holders.push([pbc.value, pd.value]);
      if (NT_SUCCESS(status)) c.bindings.set(ctx.peer, ctx);
      return status;
    };
    expect(c.register()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual(['C attach P', 'P attach C', 'P attach C']);
    expect(holders[0]).toEqual([null, null]);
    expect(holders[1]![1]).toBe(p.dispatch);
    expect(p.bindings.get('C')!.peerDispatch).toBe(v1);

    takeLog(w);
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual(['C detach P', 'P detach C', 'C cleanup P', 'P cleanup C']);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
  });

  it('R56: a provider that declines leaves no binding: no detach or cleanup callbacks later', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    p.accepts = () => false;
    p.register();
    const c = new TestClient(w, 'C');
    let status: NTSTATUS | null = null;
    c.onAttach = (h, pri) => (status = c.attach(h, pri, c.dispatch));
    c.register();
    expect(status).toBe(STATUS_NOINTERFACE);
    expect(takeLog(w)).toEqual(['C attach P', 'P attach C']);
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual([]);
  });

  it('R56: a client that declines (STATUS_NOINTERFACE without NmrClientAttachProvider) leaves no binding', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c = new TestClient(w, 'C');
    c.onAttach = () => STATUS_NOINTERFACE;
    c.register();
    p.register();
    expect(takeLog(w)).toEqual(['C attach P']);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual([]);
  });

  it('R56: NmrClientAttachProvider outside ClientAttachProvider for that binding returns STATUS_INVALID_PARAMETER', () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const p2 = new TestProvider(w, 'P2');
    p.register();
    const c = new TestClient(w, 'C');
    const results: NTSTATUS[] = [];
    const holder = (): POINTER_HOLDER => ({ value: null });
    let saved: HANDLE | null = null;
    c.onAttach = (h, pri) => {
      if (saved === null) {
        saved = h;
        const status = c.attach(h, pri, c.dispatch);
        // Already attached: a second attach on the same binding is not allowed.
        results.push(w.nmr.NmrClientAttachProvider(h, {}, c.dispatch, holder(), holder()));
        return status;
      }
      // Inside the attach callback of another binding: the first binding's handle is not valid here.
      results.push(w.nmr.NmrClientAttachProvider(saved, {}, c.dispatch, holder(), holder()));
      return STATUS_NOINTERFACE;
    };
    c.register();
    p2.register();
    // After ClientAttachProvider returned, and with a handle that is no binding.
    results.push(w.nmr.NmrClientAttachProvider(saved!, {}, c.dispatch, holder(), holder()));
    results.push(w.nmr.NmrClientAttachProvider(c.handle.value!, {}, c.dispatch, holder(), holder()));
    results.push(w.nmr.NmrClientAttachProvider({} as HANDLE, {}, c.dispatch, holder(), holder()));
    expect(results).toEqual(Array(5).fill(STATUS_INVALID_PARAMETER));
  });

  it('R56: NmrClientAttachProvider re-entered from ProviderAttachClient returns STATUS_INVALID_PARAMETER', () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    let nested: NTSTATUS | null = null;
    const original = p.chars.ProviderAttachClient;
    p.chars.ProviderAttachClient = (h, pc, cri, cbc, cd, pbc, pd) => {
      nested = w.nmr.NmrClientAttachProvider(h, cbc, cd, { value: null }, { value: null });
      return original(h, pc, cri, cbc, cd, pbc, pd);
    };
    p.register();
    new TestClient(w, 'C').register();
    expect(nested).toBe(STATUS_INVALID_PARAMETER);
    expect(p.bindings.has('C')).toBe(true);
  });

  it('R56: a client failing after the provider accepted: the provider side is detached and cleaned up, the client side is not', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    p.detachStatus = STATUS_PENDING;
    p.register();
    const c = new TestClient(w, 'C');
    c.onAttach = (h, pri) => {
      expect(c.attach(h, pri, c.dispatch)).toBe(STATUS_SUCCESS);
      c.bindings.clear(); // the client frees its context on its own failure path
      return STATUS_INSUFFICIENT_RESOURCES;
    };
    c.register();
    expect(takeLog(w)).toEqual(['C attach P', 'P attach C', 'P detach C']);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual([]); // not detached twice
    const waiting = tracked(p.wait());
    await tick();
    expect(waiting.done()).toBe(false);
    w.nmr.NmrProviderDetachClientComplete(p.bindings.get('C')!.handle);
    expect(takeLog(w)).toEqual(['P cleanup C']);
    expect(await waiting.result).toBe(STATUS_SUCCESS);
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect(w.log).toEqual([]);
  });
});

describe('NMR detach (R57, R58, R59)', () => {
  function attachedPair(w: World): { p: TestProvider; c: TestClient } {
    const p = new TestProvider(w, 'P');
    const c = new TestClient(w, 'C');
    p.register();
    c.register();
    takeLog(w);
    return { p, c };
  }

  it('R57: deregistering a client calls ClientDetachProvider and ProviderDetachClient once per binding', async () => {
    const w = world();
    const p1 = new TestProvider(w, 'P1');
    const p2 = new TestProvider(w, 'P2');
    const c = new TestClient(w, 'C');
    const other = new TestClient(w, 'D');
    p1.register();
    p2.register();
    c.register();
    other.register();
    takeLog(w);
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual([
      'C detach P1', 'P1 detach C', 'C cleanup P1', 'P1 cleanup C',
      'C detach P2', 'P2 detach C', 'C cleanup P2', 'P2 cleanup C',
    ]);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect([...p1.bindings.keys()]).toEqual(['D']);
  });

  it('R57: deregistering a provider detaches each of its clients the same way', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c1 = new TestClient(w, 'C1');
    const c2 = new TestClient(w, 'C2');
    c1.register();
    c2.register();
    p.register();
    takeLog(w);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual([
      'C1 detach P', 'P detach C1', 'C1 cleanup P', 'P cleanup C1',
      'C2 detach P', 'P detach C2', 'C2 cleanup P', 'P cleanup C2',
    ]);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
    expect(c1.bindings.size + c2.bindings.size).toBe(0);
  });

  it('R57: a binding detached by the other side\'s earlier deregistration is not detached twice', async () => {
    const w = world();
    const { p, c } = attachedPair(w);
    c.detachStatus = STATUS_PENDING;
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual(['C detach P', 'P detach C']);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual([]);
    const cw = tracked(c.wait());
    const pw = tracked(p.wait());
    await tick();
    expect(cw.done() || pw.done()).toBe(false);
    w.nmr.NmrClientDetachProviderComplete(c.bindings.get('P')!.handle);
    expect(takeLog(w)).toEqual(['C cleanup P', 'P cleanup C']);
    expect(await cw.result).toBe(STATUS_SUCCESS);
    expect(await pw.result).toBe(STATUS_SUCCESS);
  });

  it('R57: a pending client detach completes only with NmrClientDetachProviderComplete; the wait resolves after it, not before', async () => {
    const w = world();
    const { c } = attachedPair(w);
    c.detachStatus = STATUS_PENDING;
    const handle = c.bindings.get('P')!.handle;
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual(['C detach P', 'P detach C']);
    const waiting = tracked(c.wait());
    await tick();
    expect(waiting.done()).toBe(false);
    w.nmr.NmrClientDetachProviderComplete(handle);
    expect(await waiting.result).toBe(STATUS_SUCCESS);
    expect(waiting.done()).toBe(true);
  });

  it('R57: both sides pending: deregistration completes only after both *DetachComplete calls, in either order', async () => {
    for (const clientFirst of [true, false]) {
      const w = world();
      const { p, c } = attachedPair(w);
      c.detachStatus = STATUS_PENDING;
      p.detachStatus = STATUS_PENDING;
      const handle = c.bindings.get('P')!.handle;
      expect(p.deregister()).toBe(STATUS_PENDING);
      const waiting = tracked(p.wait());
      const complete = [
        () => w.nmr.NmrClientDetachProviderComplete(handle),
        () => w.nmr.NmrProviderDetachClientComplete(handle),
      ];
      if (!clientFirst) complete.reverse();
      complete[0]!();
      await tick();
      expect(waiting.done()).toBe(false);
      complete[1]!();
      expect(await waiting.result).toBe(STATUS_SUCCESS);
    }
  });

  it('R57: a pending side may be completed from inside the other side\'s detach callback', async () => {
    const w = world();
    const { p, c } = attachedPair(w);
    c.detachStatus = STATUS_PENDING;
    // E.g. the provider fails the client's in-flight requests synchronously while detaching,
    // and the client's last completion calls NmrClientDetachProviderComplete.
    p.onDetach = (ctx) => {
      w.nmr.NmrClientDetachProviderComplete(ctx.handle);
      expect(w.log).toEqual(['C detach P', 'P detach C']); // no cleanup while P is still detaching
      return STATUS_SUCCESS;
    };
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(w.log).toEqual(['C detach P', 'P detach C', 'C cleanup P', 'P cleanup C']);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
  });

  it('R57: *DetachComplete misuse throws NmrUsageError with a stable code and a message that says the fix', async () => {
    const w = world();
    const { p, c } = attachedPair(w);
    const handle = c.bindings.get('P')!.handle;

    // Before any detach started.
    let e = usageErrorOf(() => w.nmr.NmrClientDetachProviderComplete(handle));
    expect(e.code).toBe('NMR_DETACH_NOT_STARTED');

    // From inside the detach callback itself, before returning STATUS_PENDING.
    let inside: NmrUsageError | null = null;
    c.onDetach = (ctx) => {
      inside = usageErrorOf(() => w.nmr.NmrClientDetachProviderComplete(ctx.handle));
      return STATUS_PENDING;
    };
    p.detachStatus = STATUS_SUCCESS;
    c.deregister();
    expect(inside!.code).toBe('NMR_DETACH_COMPLETE_BEFORE_RETURN');
    expect(inside!.message).toMatch(/return STATUS_SUCCESS/);

    // The provider returned STATUS_SUCCESS, so completing it is a bug.
    e = usageErrorOf(() => w.nmr.NmrProviderDetachClientComplete(handle));
    expect(e.code).toBe('NMR_DETACH_COMPLETE_AFTER_SUCCESS');
    expect(e.message).toMatch(/only after returning STATUS_PENDING from ProviderDetachClient/);

    w.nmr.NmrClientDetachProviderComplete(handle);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    e = usageErrorOf(() => w.nmr.NmrClientDetachProviderComplete(handle));
    expect(e.code).toBe('NMR_DETACH_COMPLETE_TWICE');
    expect(e.name).toBe('NmrUsageError');

    e = usageErrorOf(() => w.nmr.NmrClientDetachProviderComplete({} as HANDLE));
    expect(e.code).toBe('NMR_INVALID_BINDING_HANDLE');
    e = usageErrorOf(() => w.nmr.NmrProviderDetachClientComplete(p.handle.value!));
    expect(e.code).toBe('NMR_INVALID_BINDING_HANDLE');
  });

  it('R57: in-progress call counting (the pattern of the NMR "Programming Considerations" page): detach pends while calls run, completes at count 0, later calls fail STATUS_NOINTERFACE', async () => {
    const w = world();
    type EchoDispatch = { Echo: (release: Promise<void>) => Promise<NTSTATUS> };
    const providerDispatch: EchoDispatch = { Echo: async (release) => (await release, STATUS_SUCCESS) };

    // The client's per-binding state and wrapper, as in CON "programming considerations".
    // JS runs one thread, so the spin lock of the C pattern is not needed.
    interface ClientBinding {
      NmrBindingHandle: HANDLE;
      ProviderDispatch: EchoDispatch;
      InProgressCallCount: number;
      Detaching: boolean;
    }
    let binding: ClientBinding | null = null;
    async function callProvider(b: ClientBinding, release: Promise<void>): Promise<NTSTATUS> {
      if (b.Detaching) return STATUS_NOINTERFACE;
      b.InProgressCallCount++;
      try {
        return await b.ProviderDispatch.Echo(release);
      } finally {
        if (--b.InProgressCallCount === 0 && b.Detaching) w.nmr.NmrClientDetachProviderComplete(b.NmrBindingHandle);
      }
    }

    const cleaned: unknown[] = [];
    const clientChars: NPI_CLIENT_CHARACTERISTICS = {
      Version: 0,
      Length: NPI_CLIENT_CHARACTERISTICS_SIZE,
      ClientAttachProvider: (h) => {
        const b: ClientBinding = { NmrBindingHandle: h, ProviderDispatch: null!, InProgressCallCount: 0, Detaching: false };
        const pbc: POINTER_HOLDER = { value: null };
        const pd: POINTER_HOLDER = { value: null };
        const status = w.nmr.NmrClientAttachProvider(h, b, { Version: 0x0100 }, pbc, pd);
        if (NT_SUCCESS(status)) {
          b.ProviderDispatch = pd.value as EchoDispatch;
          binding = b;
        }
        return status;
      },
      ClientDetachProvider: (ctx) => {
        const b = ctx as ClientBinding;
        b.Detaching = true;
        return b.InProgressCallCount === 0 ? STATUS_SUCCESS : STATUS_PENDING;
      },
      ClientCleanupBindingContext: (ctx) => cleaned.push(ctx),
      ClientRegistrationInstance: {
        Version: 0,
        Size: NPI_REGISTRATION_INSTANCE_SIZE,
        NpiId: NPI_A,
        ModuleId: moduleId(),
        Number: 0,
        NpiSpecificCharacteristics: null,
      },
    };
    const p = new TestProvider(w, 'P');
    const original = p.chars.ProviderAttachClient;
    p.chars.ProviderAttachClient = (h, pc, cri, cbc, cd, pbc, pd) => {
      const status = original(h, pc, { ...cri, NpiSpecificCharacteristics: { name: 'C' } }, cbc, cd, pbc, pd);
      pd.value = providerDispatch;
      return status;
    };
    p.register();
    expect(w.nmr.NmrRegisterClient(clientChars, null, { value: null })).toBe(STATUS_SUCCESS);
    const b = binding!;

    let release1!: () => void;
    let release2!: () => void;
    const call1 = callProvider(b, new Promise<void>((r) => (release1 = r)));
    const call2 = callProvider(b, new Promise<void>((r) => (release2 = r)));
    expect(b.InProgressCallCount).toBe(2);

    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(b.Detaching).toBe(true);
    expect(await callProvider(b, Promise.resolve())).toBe(STATUS_NOINTERFACE);
    const waiting = tracked(p.wait());

    release1();
    expect(await call1).toBe(STATUS_SUCCESS);
    await tick();
    expect(waiting.done()).toBe(false);
    expect(cleaned).toEqual([]);

    release2();
    expect(await call2).toBe(STATUS_SUCCESS);
    expect(await waiting.result).toBe(STATUS_SUCCESS);
    expect(b.InProgressCallCount).toBe(0);
    expect(cleaned).toEqual([b]);
  });

  it('R58: cleanup callbacks run once each with their own binding context, only after both sides completed', async () => {
    const w = world();
    const { p, c } = attachedPair(w);
    c.detachStatus = STATUS_PENDING;
    p.detachStatus = STATUS_PENDING;
    const cctx = c.bindings.get('P')!;
    const pctx = p.bindings.get('C')!;
    const cleanups: unknown[] = [];
    c.chars.ClientCleanupBindingContext = (ctx) => cleanups.push(['client', ctx]);
    p.chars.ProviderCleanupBindingContext = (ctx) => cleanups.push(['provider', ctx]);

    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(p.deregister()).toBe(STATUS_PENDING);
    w.nmr.NmrProviderDetachClientComplete(cctx.handle);
    expect(cleanups).toEqual([]);
    w.nmr.NmrClientDetachProviderComplete(cctx.handle);
    expect(cleanups).toHaveLength(2);
    expect(cleanups[0]).toEqual(['client', cctx]);
    expect((cleanups[0] as unknown[])[1]).toBe(cctx);
    expect((cleanups[1] as unknown[])[1]).toBe(pctx);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
    await tick();
    expect(cleanups).toHaveLength(2);
  });

  it('R58: NULL cleanup callbacks are skipped and detach still completes', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c = new TestClient(w, 'C');
    p.chars.ProviderCleanupBindingContext = null;
    c.chars.ClientCleanupBindingContext = null;
    p.register();
    c.register();
    takeLog(w);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(takeLog(w)).toEqual(['C detach P', 'P detach C']);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
  });

  it('R59: NmrDeregister* returns STATUS_PENDING, even with no bindings', async () => {
    const w = world();
    const c = new TestClient(w, 'C');
    const p = new TestProvider(w, 'P', NPI_B);
    c.register();
    p.register();
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
  });

  it('R59: NmrWaitFor*DeregisterComplete before deregistering, or with an unknown or wrong-kind handle, returns STATUS_INVALID_PARAMETER', async () => {
    const w = world();
    const { p, c } = attachedPair(w);
    expect(await c.wait()).toBe(STATUS_INVALID_PARAMETER);
    expect(await p.wait()).toBe(STATUS_INVALID_PARAMETER);
    expect(c.deregister()).toBe(STATUS_PENDING);
    expect(p.deregister()).toBe(STATUS_PENDING);
    expect(await w.nmr.NmrWaitForProviderDeregisterComplete(c.handle.value!)).toBe(STATUS_INVALID_PARAMETER);
    expect(await w.nmr.NmrWaitForClientDeregisterComplete(p.handle.value!)).toBe(STATUS_INVALID_PARAMETER);
    expect(await w.nmr.NmrWaitForClientDeregisterComplete({} as HANDLE)).toBe(STATUS_INVALID_PARAMETER);
    expect(w.nmr.NmrDeregisterClient(p.handle.value!)).toBe(STATUS_INVALID_PARAMETER);
    expect(w.nmr.NmrDeregisterProvider({} as HANDLE)).toBe(STATUS_INVALID_PARAMETER);
    // Handles of another registrar are unknown here.
    const other = world();
    const stranger = new TestClient(other, 'X');
    stranger.register();
    expect(w.nmr.NmrDeregisterClient(stranger.handle.value!)).toBe(STATUS_INVALID_PARAMETER);
    expect(await c.wait()).toBe(STATUS_SUCCESS);
    expect(await p.wait()).toBe(STATUS_SUCCESS);
  });

  it('R59: the wait resolves only after every binding was cleaned up; then the handle is dead', async () => {
    const w = world();
    const p = new TestProvider(w, 'P');
    const c1 = new TestClient(w, 'C1');
    const c2 = new TestClient(w, 'C2');
    p.register();
    c1.register();
    c2.register();
    c1.detachStatus = STATUS_PENDING;
    c2.detachStatus = STATUS_PENDING;
    const h1 = c1.bindings.get('P')!.handle;
    const h2 = c2.bindings.get('P')!.handle;
    expect(p.deregister()).toBe(STATUS_PENDING);
    // A second deregistration of the same handle is refused while the first is in progress.
    expect(p.deregister()).toBe(STATUS_INVALID_PARAMETER);
    const waiting = tracked(p.wait());
    w.nmr.NmrClientDetachProviderComplete(h1);
    await tick();
    expect(waiting.done()).toBe(false);
    w.nmr.NmrClientDetachProviderComplete(h2);
    expect(await waiting.result).toBe(STATUS_SUCCESS);
    expect(p.bindings.size).toBe(0);
    expect(p.deregister()).toBe(STATUS_INVALID_PARAMETER);
    expect(await p.wait()).toBe(STATUS_INVALID_PARAMETER);
  });

  it('R59: the per-process Nmr* functions run the same state machine on a shared registrar', async () => {
    const NPI_PROCESS = guidFromString('{0B4A2C7E-11D4-4F5A-8E6B-7C8D9E0F1A2B}');
    const w = world({
      NmrRegisterProvider,
      NmrRegisterClient,
      NmrClientAttachProvider,
      NmrDeregisterProvider,
      NmrDeregisterClient,
      NmrClientDetachProviderComplete,
      NmrProviderDetachClientComplete,
      NmrWaitForClientDeregisterComplete,
      NmrWaitForProviderDeregisterComplete,
    });
    const p = new TestProvider(w, 'P', NPI_PROCESS);
    const c = new TestClient(w, 'C', NPI_PROCESS);
    expect(p.register()).toBe(STATUS_SUCCESS);
    expect(c.register()).toBe(STATUS_SUCCESS);
    expect(takeLog(w)).toEqual(['C attach P', 'P attach C']);
    c.detachStatus = STATUS_PENDING;
    expect(NmrDeregisterClient(c.handle.value!)).toBe(STATUS_PENDING);
    const waiting = tracked(NmrWaitForClientDeregisterComplete(c.handle.value!));
    await tick();
    expect(waiting.done()).toBe(false);
    NmrClientDetachProviderComplete(c.bindings.get('P')!.handle);
    expect(await waiting.result).toBe(STATUS_SUCCESS);
    expect(NmrDeregisterProvider(p.handle.value!)).toBe(STATUS_PENDING);
    expect(await NmrWaitForProviderDeregisterComplete(p.handle.value!)).toBe(STATUS_SUCCESS);
    // An isolated registrar does not know the per-process handles.
    expect(new NmrRegistrar().NmrDeregisterProvider(p.handle.value!)).toBe(STATUS_INVALID_PARAMETER);
  });
});

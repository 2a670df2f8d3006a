// IRPs as a WSK application sees them (wdm.h names; Microsoft: Using IRPs with Winsock Kernel Functions). The provider completes an IRP
// with IoCompleteRequest, which runs the completion routine set with IoSetCompletionRoutine
// exactly once, honouring InvokeOnSuccess/InvokeOnError/InvokeOnCancel (R9). Cancellation goes
// through the cancel routine the provider installed while the IRP was pending (R13).
// PendingReturned follows WDM: a provider that returns STATUS_PENDING marks its stack location
// with IoMarkIrpPending, and IoCompleteRequest copies that mark into Irp.PendingReturned before
// the completion routine runs; an IRP completed inside the call that returned another status
// reaches its completion routine with PendingReturned false.
import { NT_SUCCESS, STATUS_CANCELLED, STATUS_MORE_PROCESSING_REQUIRED, STATUS_SUCCESS, type NTSTATUS } from '../ntstatus.ts';
import { WskUsageError } from '../errors.ts';
import type { MDL } from '../mdl/mdl.ts';

/** ULONG_PTR: a byte count, or a pointer (a PWSK_SOCKET) in IoStatus.Information. */
export type ULONG_PTR = number | object | null;

export interface IO_STATUS_BLOCK {
  Status: NTSTATUS;
  Information: ULONG_PTR;
}

export type PDEVICE_OBJECT = object | null;
export type IO_COMPLETION_ROUTINE = (DeviceObject: PDEVICE_OBJECT, Irp: IRP, Context: any) => NTSTATUS;
export type DRIVER_CANCEL = (DeviceObject: PDEVICE_OBJECT, Irp: IRP) => void;

export class IRP {
  IoStatus: IO_STATUS_BLOCK = { Status: STATUS_SUCCESS, Information: 0 };
  PendingReturned = false;
  Cancel = false;
  MdlAddress: MDL | null = null;
  readonly StackCount: number;
  CurrentLocation: number;
  /** Per-IRP scratch space for whoever currently owns the IRP (Tail.Overlay.DriverContext). */
  DriverContext: unknown[] = [null, null, null, null];

  /** @internal */ completionRoutine: IO_COMPLETION_ROUTINE | null = null;
  /** @internal */ completionContext: unknown = null;
  /** @internal */ invokeOnSuccess = false;
  /** @internal */ invokeOnError = false;
  /** @internal */ invokeOnCancel = false;
  /** @internal */ cancelRoutine: DRIVER_CANCEL | null = null;
  /** @internal */ inFlight = false;
  /** @internal */ completed = false;
  /** @internal Completion queued by a provider, not yet delivered. */ scheduled = false;
  /** @internal */ freed = false;
  /** @internal */ completionCount = 0;
  /** @internal SL_PENDING_RETURNED of the provider's stack location (IoMarkIrpPending). */ pendingMarked = false;

  constructor(stackSize: number) {
    this.StackCount = stackSize;
    this.CurrentLocation = stackSize + 1;
  }
}
export type PIRP = IRP;

export function IoAllocateIrp(StackSize: number, _ChargeQuota = false): IRP {
  if (!Number.isInteger(StackSize) || StackSize < 1) {
    throw new WskUsageError('IRP_STACK_SIZE', `IoAllocateIrp: StackSize must be >= 1 (got ${StackSize}); WSK needs one free stack location.`);
  }
  return new IRP(StackSize);
}

export function IoReuseIrp(Irp: IRP, Iostatus: NTSTATUS): void {
  assertLive(Irp, 'IoReuseIrp');
  if (Irp.inFlight) {
    throw new WskUsageError('IRP_IN_USE', 'IoReuseIrp on an IRP that a WSK call still owns: wait for its completion routine first.');
  }
  Irp.IoStatus.Status = Iostatus;
  Irp.IoStatus.Information = 0;
  Irp.PendingReturned = false;
  Irp.pendingMarked = false;
  Irp.Cancel = false;
  Irp.completionRoutine = null;
  Irp.completionContext = null;
  Irp.invokeOnSuccess = Irp.invokeOnError = Irp.invokeOnCancel = false;
  Irp.cancelRoutine = null;
  Irp.completed = false;
  Irp.scheduled = false;
  Irp.CurrentLocation = Irp.StackCount + 1;
  Irp.MdlAddress = null;
}

export function IoFreeIrp(Irp: IRP): void {
  assertLive(Irp, 'IoFreeIrp');
  if (Irp.inFlight) {
    throw new WskUsageError('IRP_IN_USE', 'IoFreeIrp on an IRP that a WSK call still owns: free it in (or after) its completion routine.');
  }
  Irp.freed = true;
}

export function IoSetCompletionRoutine(
  Irp: IRP, CompletionRoutine: IO_COMPLETION_ROUTINE | null, Context: unknown,
  InvokeOnSuccess: boolean, InvokeOnError: boolean, InvokeOnCancel: boolean,
): void {
  assertLive(Irp, 'IoSetCompletionRoutine');
  Irp.completionRoutine = CompletionRoutine;
  Irp.completionContext = Context;
  Irp.invokeOnSuccess = InvokeOnSuccess;
  Irp.invokeOnError = InvokeOnError;
  Irp.invokeOnCancel = InvokeOnCancel;
}

export function IoSetCancelRoutine(Irp: IRP, CancelRoutine: DRIVER_CANCEL | null): DRIVER_CANCEL | null {
  const previous = Irp.cancelRoutine;
  Irp.cancelRoutine = CancelRoutine;
  return previous;
}

/** Marks the current stack location pending: the completion routine will see PendingReturned. */
export function IoMarkIrpPending(Irp: IRP): void {
  Irp.pendingMarked = true;
}

/** Sets Cancel and runs the provider's cancel routine, which completes the IRP with STATUS_CANCELLED. */
export function IoCancelIrp(Irp: IRP): boolean {
  assertLive(Irp, 'IoCancelIrp');
  Irp.Cancel = true;
  const routine = Irp.cancelRoutine;
  if (!routine || Irp.completed) return false;
  Irp.cancelRoutine = null;
  routine(null, Irp);
  return true;
}

/**
 * Completes the IRP: moves to the caller's stack location and runs its completion routine
 * exactly once (R9). Completing an IRP twice is a provider bug and throws.
 */
export function IoCompleteRequest(Irp: IRP, _PriorityBoost = 0): void {
  if (Irp.completed) {
    throw new WskUsageError('IRP_DOUBLE_COMPLETION', 'IoCompleteRequest on an IRP that was already completed.');
  }
  Irp.completed = true;
  Irp.inFlight = false;
  Irp.cancelRoutine = null;
  Irp.completionCount++;
  Irp.PendingReturned = Irp.pendingMarked;
  Irp.pendingMarked = false;
  Irp.CurrentLocation = Math.min(Irp.CurrentLocation + 1, Irp.StackCount + 1);
  const routine = Irp.completionRoutine;
  if (!routine) return;
  const status = Irp.IoStatus.Status;
  const invoke = status === STATUS_CANCELLED ? Irp.invokeOnCancel
    : NT_SUCCESS(status) ? Irp.invokeOnSuccess : Irp.invokeOnError;
  if (invoke) {
    const result = routine(null, Irp, Irp.completionContext);
    // An IRP the application allocated ends here either way; STATUS_MORE_PROCESSING_REQUIRED
    // is the documented return for it and anything else is tolerated.
    void (result === STATUS_MORE_PROCESSING_REQUIRED);
  }
}

/** @internal Called by a provider when it takes ownership of an IRP. */
export function irpBeginOperation(Irp: IRP, what: string): void {
  assertLive(Irp, what);
  if (Irp.inFlight) {
    throw new WskUsageError('IRP_IN_USE', `${what}: this IRP is still owned by an earlier WSK call; use a separate IRP or wait for completion.`);
  }
  Irp.inFlight = true;
  Irp.completed = false;
  Irp.PendingReturned = false;
  Irp.pendingMarked = false;
  Irp.CurrentLocation = Math.max(Irp.CurrentLocation - 1, 1);
}

function assertLive(Irp: IRP, what: string): void {
  if (!(Irp instanceof IRP)) {
    throw new WskUsageError('NOT_AN_IRP', `${what}: expected an IRP from IoAllocateIrp.`);
  }
  if (Irp.freed) {
    throw new WskUsageError('IRP_FREED', `${what}: this IRP was freed with IoFreeIrp.`);
  }
}

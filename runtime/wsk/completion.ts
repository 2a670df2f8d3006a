// IRP completion for the WSK layer (R9–R14, docs/architecture.md §4): an accepted IRP returns
// STATUS_PENDING and completes later from the event loop, never inside the initiating call; an
// error found before the operation starts is returned and the IRP completes with the same status.
import { IoCompleteRequest, IoSetCancelRoutine, irpBeginOperation, type IRP, type ULONG_PTR } from '../irp/irp.ts';
import { STATUS_PENDING, type NTSTATUS } from '../ntstatus.ts';
import { WskUsageError } from '../errors.ts';

interface Completion { irp: IRP; onDone: (() => void) | null }

const queue: Completion[] = [];
let draining = false;

function drain(): void {
  draining = false;
  // Completion routines may start new operations that complete in this same drain.
  for (let i = 0; i < queue.length; i++) {
    const c = queue[i]!;
    queue[i] = undefined as unknown as Completion;
    c.irp.scheduled = false;
    try {
      IoCompleteRequest(c.irp);
    } catch (err) {
      rethrowClientError(err);
    }
    c.onDone?.();
  }
  queue.length = 0;
}

/**
 * An exception from a client's completion routine or event callback is the client's, and
 * surfaces as an uncaught exception as in any Node callback — but only after the runtime has
 * finished its own bookkeeping, so the other sockets' completions are not lost.
 */
export function rethrowClientError(err: unknown): void {
  setImmediate(() => { throw err; });
}

/** Takes ownership of an IRP for an operation (one owner at a time). */
export function beginIrp(irp: IRP, what: string): void {
  irpBeginOperation(irp, what);
}

/** Schedules the IRP's completion; its cancel routine is withdrawn at once. */
export function completeIrp(irp: IRP, status: NTSTATUS, information: ULONG_PTR = 0, onDone: (() => void) | null = null): void {
  if (irp.scheduled || irp.completed) {
    throw new WskUsageError('IRP_DOUBLE_COMPLETION', 'internal: an IRP was completed twice');
  }
  irp.scheduled = true;
  IoSetCancelRoutine(irp, null);
  // Status is visible at once: a caller that got a non-PENDING return reads it synchronously.
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  queue.push({ irp, onDone });
  if (!draining) {
    draining = true;
    queueMicrotask(drain);
  }
}

/** For an error found before the operation started: complete with it and return it (R10). */
export function failIrp(irp: IRP, status: NTSTATUS, what: string): NTSTATUS {
  beginIrp(irp, what);
  completeIrp(irp, status, 0);
  return status;
}

/** Leaves the IRP pending, cancellable through `onCancel` (which must complete it) (R13). */
export function pendIrp(irp: IRP, onCancel: (irp: IRP) => void): NTSTATUS {
  return pendIrpWith(irp, invokeSimpleCancel, onCancel);
}

function invokeSimpleCancel(onCancel: unknown, irp: IRP): void {
  (onCancel as (irp: IRP) => void)(irp);
}

/**
 * The closure-free form for hot paths: `cancel(state, irp)` runs on IoCancelIrp. The provider
 * owns the IRP's DriverContext while the IRP is pending, as on Windows.
 */
export function pendIrpWith<S>(irp: IRP, cancel: (state: S, irp: IRP) => void, state: S): NTSTATUS {
  if (irp.Cancel) {
    cancel(state, irp);
    return STATUS_PENDING;
  }
  irp.DriverContext[0] = cancel;
  irp.DriverContext[1] = state;
  IoSetCancelRoutine(irp, runCancel);
  return STATUS_PENDING;
}

function runCancel(_dev: unknown, irp: IRP): void {
  const cancel = irp.DriverContext[0] as (state: unknown, irp: IRP) => void;
  const state = irp.DriverContext[1];
  irp.DriverContext[0] = irp.DriverContext[1] = null;
  cancel(state, irp);
}

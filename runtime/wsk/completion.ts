// IRP completion for the WSK layer (R9–R14, docs/architecture.md §4), as WDM has every dispatch routine do it:
// - A call that returns a status other than STATUS_PENDING has completed its IRP before it
//   returns: IoStatus set, completion routine run (completeIrpInline / failIrp). The caller may
//   IoReuseIrp or IoFreeIrp at once, as a C driver ported line by line does.
// - A call that returns STATUS_PENDING has marked the IRP pending (IoMarkIrpPending) and completes
//   it later (completeIrp), never inside the call: the completion is queued and delivered from a
//   microtask, so its routine sees PendingReturned and the runtime's state is settled.
// An exception thrown by a client's completion routine never unwinds through the runtime: it is
// rethrown from the event loop (rethrowClientError), and the call returns its status regardless.
import { IoCompleteRequest, IoMarkIrpPending, IoSetCancelRoutine, irpBeginOperation, type IRP, type ULONG_PTR } from '../irp/irp.ts';
import { STATUS_PENDING, type NTSTATUS } from '../ntstatus.ts';
import { WskUsageError } from '../errors.ts';

// The IRPs to complete and each one's onDone, side by side (no object per completion).
const queue: (IRP | null)[] = [];
const onDones: ((() => void) | null)[] = [];
let queued = 0;
let draining = false;

function drain(): void {
  draining = false;
  // Completion routines may start new operations that complete in this same drain.
  for (let i = 0; i < queued; i++) {
    const irp = queue[i]!;
    const onDone = onDones[i]!;
    queue[i] = null;
    onDones[i] = null;
    irp.scheduled = false;
    try {
      IoCompleteRequest(irp);
    } catch (err) {
      rethrowClientError(err);
    }
    onDone?.();
  }
  // The arrays keep their size: the next turn's completions fill them again without growing them.
  queued = 0;
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

/**
 * Completes, later, an IRP whose call returned (or is about to return) STATUS_PENDING; its cancel
 * routine is withdrawn at once, and `onDone` runs after its completion routine.
 */
export function completeIrp(irp: IRP, status: NTSTATUS, information: ULONG_PTR = 0, onDone: (() => void) | null = null): void {
  if (irp.scheduled || irp.completed) {
    throw new WskUsageError('IRP_DOUBLE_COMPLETION', 'internal: an IRP was completed twice');
  }
  irp.scheduled = true;
  IoMarkIrpPending(irp);
  IoSetCancelRoutine(irp, null);
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  if (queued === queue.length) { queue.push(irp); onDones.push(onDone); } else { queue[queued] = irp; onDones[queued] = onDone; }
  queued++;
  if (!draining) {
    draining = true;
    queueMicrotask(drain);
  }
}

/**
 * Completes the IRP now, for a call about to return `status` (anything but STATUS_PENDING), and
 * returns `status`. Call it last, with the runtime's state settled: the completion routine may
 * reuse the IRP and start another call from inside.
 */
export function completeIrpInline(irp: IRP, status: NTSTATUS, information: ULONG_PTR = 0): NTSTATUS {
  if (irp.scheduled || irp.completed || status === STATUS_PENDING) {
    throw new WskUsageError('IRP_DOUBLE_COMPLETION', 'internal: an IRP completed inline was already completed, or is pending');
  }
  IoSetCancelRoutine(irp, null);
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  try {
    IoCompleteRequest(irp);
  } catch (err) {
    rethrowClientError(err);
  }
  return status;
}

/** For an error found before the operation started: complete with it now and return it (R10). */
export function failIrp(irp: IRP, status: NTSTATUS, what: string): NTSTATUS {
  beginIrp(irp, what);
  return completeIrpInline(irp, status, 0);
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
  IoMarkIrpPending(irp);
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

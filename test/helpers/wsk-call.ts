// The synchronous-wrapper pattern every WSK port uses (Microsoft: Using IRPs with Winsock Kernel Functions), for tests: run a call with
// a fresh IRP, wait on a KEVENT signalled by the completion routine, and report what the caller
// and the IRP saw — including how many times the completion routine ran (R9), and whether it ran
// inside the call exactly when the call returned a status other than STATUS_PENDING.
import {
  IoAllocateIrp, IoCancelIrp, IoSetCompletionRoutine, KeInitializeEvent, KeSetEvent, KeWaitForSingleObject, KEVENT,
  NotificationEvent, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_TIMEOUT, relativeTimeout, type IRP, type NTSTATUS,
} from '../../index.ts';

export interface CallResult<T = unknown> {
  /** What the function returned. */
  returned: NTSTATUS;
  /** IoStatus.Status once the completion routine ran. */
  status: NTSTATUS;
  information: T;
  completions: number;
  irp: IRP;
}

export interface PendingCall<T = unknown> {
  irp: IRP;
  returned: NTSTATUS;
  /** Resolves when the completion routine has run (or rejects after timeoutMs). */
  done: Promise<CallResult<T>>;
  completed: () => boolean;
}

export function start<T = unknown>(call: (irp: IRP) => NTSTATUS, timeoutMs = 5000): PendingCall<T> {
  const irp = IoAllocateIrp(1);
  const event = new KEVENT();
  KeInitializeEvent(event, NotificationEvent, false);
  let completions = 0;
  IoSetCompletionRoutine(irp, (_d, _i, ctx: KEVENT) => {
    completions++;
    KeSetEvent(ctx, 0, false);
    return STATUS_MORE_PROCESSING_REQUIRED;
  }, event, true, true, true);
  const returned = call(irp);
  // WDM timing (R9/R10), checked on every call a test makes: a non-pending return has already
  // completed the IRP; a pending one completes later, never inside the call.
  if (returned === STATUS_PENDING ? completions !== 0 : completions !== 1) {
    throw new Error(`returned 0x${(returned >>> 0).toString(16)} with the completion routine run ${completions} time(s) inside the call`);
  }
  const done = (async (): Promise<CallResult<T>> => {
    const wait = await KeWaitForSingleObject(event, 0, 0, false, relativeTimeout(timeoutMs));
    if (wait === STATUS_TIMEOUT) throw new Error(`IRP not completed within ${timeoutMs} ms (returned 0x${(returned >>> 0).toString(16)})`);
    // Let a buggy second completion show up before counting.
    await new Promise((r) => setImmediate(r));
    return { returned, status: irp.IoStatus.Status, information: irp.IoStatus.Information as T, completions, irp };
  })();
  return { irp, returned, done, completed: () => completions > 0 };
}

/** Runs a WSK call to completion, like `status = Wsk*(...); if (PENDING) wait; status = Irp->IoStatus.Status`. */
export function call<T = unknown>(fn: (irp: IRP) => NTSTATUS, timeoutMs = 5000): Promise<CallResult<T>> {
  return start<T>(fn, timeoutMs).done;
}

export function cancel(p: PendingCall): boolean {
  return IoCancelIrp(p.irp);
}

export { STATUS_PENDING };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until predicate() holds (every intervalMs; more for a predicate that runs a command), or throws after timeoutMs. */
export async function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition', intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

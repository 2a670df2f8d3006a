// KEVENT and KeWaitForSingleObject (wdm.h). Waiting blocks a thread on Windows, so here it
// returns a promise (docs/architecture.md §3); a timeout resolves STATUS_TIMEOUT, which is how ports
// decide to IoCancelIrp (Microsoft: Using IRPs with Winsock Kernel Functions).
import { STATUS_SUCCESS, STATUS_TIMEOUT, type NTSTATUS } from '../ntstatus.ts';

export enum EVENT_TYPE { NotificationEvent = 0, SynchronizationEvent = 1 }
export const NotificationEvent = EVENT_TYPE.NotificationEvent;
export const SynchronizationEvent = EVENT_TYPE.SynchronizationEvent;
export const Executive = 0;
export const KernelMode = 0;
export const UserMode = 1;
export const IO_NO_INCREMENT = 0;

/** LARGE_INTEGER timeouts in 100 ns units: negative is relative, positive absolute (since 1601). */
export interface LARGE_INTEGER { QuadPart: bigint | number }

export class KEVENT {
  /** @internal */ type: EVENT_TYPE = EVENT_TYPE.NotificationEvent;
  /** @internal */ signaled = false;
  /** @internal */ waiters: Array<() => boolean> = [];
}
export type PKEVENT = KEVENT;

export function KeInitializeEvent(Event: KEVENT, Type: EVENT_TYPE, State: boolean): void {
  Event.type = Type;
  Event.signaled = State;
  Event.waiters = [];
}

/** Returns the previous state (as a number, like LONG KeSetEvent). */
export function KeSetEvent(Event: KEVENT, _Increment = 0, _Wait = false): number {
  const previous = Event.signaled ? 1 : 0;
  Event.signaled = true;
  while (Event.waiters.length > 0 && Event.signaled) {
    const wake = Event.waiters.shift()!;
    // A synchronization event releases one waiter and resets itself.
    if (wake() && Event.type === EVENT_TYPE.SynchronizationEvent) Event.signaled = false;
  }
  return previous;
}

export function KeResetEvent(Event: KEVENT): number {
  const previous = Event.signaled ? 1 : 0;
  Event.signaled = false;
  return previous;
}

export function KeClearEvent(Event: KEVENT): void {
  Event.signaled = false;
}

export function KeReadStateEvent(Event: KEVENT): number {
  return Event.signaled ? 1 : 0;
}

/** Milliseconds until the LARGE_INTEGER deadline; null for an infinite wait. */
export function timeoutToMilliseconds(Timeout: LARGE_INTEGER | null | undefined): number | null {
  if (Timeout == null) return null;
  const q = BigInt(Timeout.QuadPart);
  if (q <= 0n) return Number(-q / 10_000n);
  const epochOffset = 116_444_736_000_000_000n; // 1601-01-01 to 1970-01-01 in 100 ns units
  const deadlineMs = Number((q - epochOffset) / 10_000n);
  return Math.max(0, deadlineMs - Date.now());
}

/** Relative timeout helper: `KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, relativeTimeout(ms))`. */
export function relativeTimeout(milliseconds: number): LARGE_INTEGER {
  return { QuadPart: -BigInt(Math.round(milliseconds * 10_000)) };
}

export function KeWaitForSingleObject(
  Object: KEVENT, _WaitReason = Executive, _WaitMode = KernelMode, _Alertable = false,
  Timeout: LARGE_INTEGER | null = null,
): Promise<NTSTATUS> {
  if (Object.signaled) {
    if (Object.type === EVENT_TYPE.SynchronizationEvent) Object.signaled = false;
    return Promise.resolve(STATUS_SUCCESS);
  }
  const ms = timeoutToMilliseconds(Timeout);
  if (ms === 0) return Promise.resolve(STATUS_TIMEOUT);
  return new Promise<NTSTATUS>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const wake = (): boolean => {
      if (done) return false;
      done = true;
      if (timer) clearTimeout(timer);
      resolve(STATUS_SUCCESS);
      return true;
    };
    Object.waiters.push(wake);
    if (ms !== null) {
      timer = setTimeout(() => {
        if (done) return;
        done = true;
        const i = Object.waiters.indexOf(wake);
        if (i >= 0) Object.waiters.splice(i, 1);
        resolve(STATUS_TIMEOUT);
      }, ms);
    }
  });
}

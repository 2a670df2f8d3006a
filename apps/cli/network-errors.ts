// What a failed bind or connect means to the person at the command line: what failed, where, what
// to do about it, and the NTSTATUS last (for a search or a bug report), as iperf3 and nc users
// expect ("address already in use: pick another port with -p"). A status without an entry here
// is shown as the app reported it.
import { ntStatusName, type NTSTATUS } from '../../index.ts';

export type NetworkStep = 'bind' | 'connect';

/** Text per status name; `where` is "a.b.c.d:port" or "[::]:port", `port` its port. */
const EXPLAIN: Record<NetworkStep, Record<string, (where: string, port: string) => string>> = {
  bind: {
    STATUS_ADDRESS_ALREADY_EXISTS: inUse,
    // What Windows (and the kernel provider, from EADDRINUSE) returns for a port in use.
    STATUS_ADDRESS_ALREADY_ASSOCIATED: inUse,
    STATUS_SHARING_VIOLATION: inUse,
    STATUS_ACCESS_DENIED: (where) => `no permission to use address ${where}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); pick a port from 1024 up with -p`,
  },
  connect: {
    STATUS_CONNECTION_REFUSED: (where, port) => `connection to ${where} refused: nothing listens on port ${port} there; start the server first, or check the address and the port (-p)`,
    STATUS_IO_TIMEOUT: (where) => `connecting to ${where} timed out: no answer from that host; check the address and that the host is up`,
    STATUS_HOST_UNREACHABLE: (where) => `${where} is unreachable (no answer to ARP, or no route): check the address; on the userspace stack, --ip's subnet and --gateway`,
    STATUS_NETWORK_UNREACHABLE: (where) => `no route to ${where}: the address is outside every attached network; on the userspace stack give --gateway, or check --ip's prefix`,
    STATUS_CONNECTION_RESET: (where) => `${where} reset the connection while it was being set up: is that port served by the program you expect?`,
  },
};

function inUse(where: string): string {
  return `address ${where} already in use: pick another port with -p, or stop the program that holds it`;
}

/** The WSK call that failed and its NTSTATUS name, as an error carries them. */
export interface FailedCall { call: string | null; status: string }

/**
 * From the error or its causes: a WskError's `what` and `status`, or "WskConnect: STATUS_..." in a
 * message (errors that wrap a WskError into their own text).
 */
export function failedCallOf(err: unknown): FailedCall | null {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { status, what } = e as { status?: unknown; what?: unknown };
    if (typeof status === 'number') return { call: typeof what === 'string' ? what : null, status: statusName(status) };
    const m = /\b(?:(Wsk[A-Za-z]+)[^:]*: )?(STATUS_[A-Z0-9_]+)\b/.exec(e instanceof Error ? e.message : String(e));
    if (m) return { call: m[1] ?? null, status: m[2]! };
  }
  return null;
}

function statusName(status: NTSTATUS): string {
  return ntStatusName(status).split(' ')[0]!;
}

/**
 * "address [::]:5201 already in use: pick another port with -p, ... (STATUS_ADDRESS_ALREADY_ASSOCIATED)",
 * or null when the status has no explanation here.
 */
export function explainNetworkStatus(step: NetworkStep, status: NTSTATUS | string | null, where: string): string | null {
  if (status === null) return null;
  const name = typeof status === 'number' ? statusName(status) : status;
  const explain = EXPLAIN[step][name];
  if (!explain) return null;
  const port = /:(\d+)$/.exec(where)?.[1] ?? '?';
  return `${explain(where, port)} (${name})`;
}

const STEP_CALL: Record<NetworkStep, string> = { bind: 'WskBind', connect: 'WskConnect' };

/** explainNetworkStatus for an error from that step's WSK call, else the error's own message. */
export function explainNetworkError(step: NetworkStep, err: unknown, where: string): string {
  const failed = failedCallOf(err);
  const explained = failed?.call === STEP_CALL[step] ? explainNetworkStatus(step, failed.status, where) : null;
  return explained ?? (err instanceof Error ? err.message : String(err));
}

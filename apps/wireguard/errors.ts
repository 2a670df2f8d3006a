// Programmer errors of the WireGuard core: typed, with a stable code and a message that says the
// fix (bad packets are never errors: they are counted and dropped).
export type WireGuardErrorCode = 'WG_ERR_CONFIG' | 'WG_ERR_KEY' | 'WG_ERR_PEER_EXISTS' | 'WG_ERR_ALLOWED_IPS';

export class WireGuardError extends Error {
  override name = 'WireGuardError';
  constructor(readonly code: WireGuardErrorCode, message: string) {
    super(message);
  }
}

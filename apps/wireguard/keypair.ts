// A session's transport keys (the paper §5.4.5) and a peer's three key slots (§6.3): `current`
// sends and receives; `previous` still receives, so packets in flight across a rekey are not lost;
// `next` is a responder's new session, used for receiving only until the initiator's first packet
// under it arrives (that packet proves the initiator has it too), when it becomes `current`.
import { ReplayWindow } from './replay-window.ts';

export class Keypair {
  /** The next counter to send. */
  sendCounter = 0;
  readonly replay = new ReplayWindow();
  /** Set once the last-minute rekey (the paper §6.2, on receive) was started for this session. */
  lastMinuteRekeySent = false;

  constructor(
    readonly sendKey: Uint8Array,
    readonly receiveKey: Uint8Array,
    /** We initiated the handshake that made it (only the initiator rekeys on age). */
    readonly initiator: boolean,
    /** Clock time (ms) of the handshake's completion. */
    readonly created: number,
    /** Our index: the receiver index of the peer's data messages. */
    readonly localIndex: number,
    /** The peer's index: the receiver index we write. */
    readonly remoteIndex: number,
  ) {}
}

export class KeypairSlots {
  current: Keypair | null = null;
  previous: Keypair | null = null;
  next: Keypair | null = null;

  /**
   * Installs a new session and returns the keypairs it displaces (to forget their indices). An
   * initiator's session is confirmed (it received the response): it becomes current, and the old
   * current (or an unconfirmed next) stays as previous. A responder's waits in next.
   */
  install(kp: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (kp.initiator) {
      if (this.next) {
        if (this.previous) dropped.push(this.previous);
        if (this.current) dropped.push(this.current);
        this.previous = this.next;
        this.next = null;
      } else {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      if (this.next) dropped.push(this.next);
      if (this.previous) dropped.push(this.previous);
      this.previous = null;
      this.next = kp;
    }
    return dropped;
  }

  /** `next` received its first packet: it becomes current. Returns the keypair dropped, if any. */
  confirmNext(): Keypair | null {
    const dropped = this.previous;
    this.previous = this.current;
    this.current = this.next;
    this.next = null;
    return dropped;
  }

  all(): Keypair[] {
    const out: Keypair[] = [];
    if (this.current) out.push(this.current);
    if (this.previous) out.push(this.previous);
    if (this.next) out.push(this.next);
    return out;
  }

  clear(): void {
    this.current = null;
    this.previous = null;
    this.next = null;
  }
}

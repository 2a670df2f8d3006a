// A peer's timers (the paper §6.2-§6.5), as events in and actions out. Five ClockTimers per peer,
// created once and re-armed (no allocation on the data path):
//  - retransmitHandshake: no response REKEY_TIMEOUT (+ jitter) after an initiation: send another,
//    up to MAX_TIMER_HANDSHAKES, then give up (drop staged packets).
//  - sendKeepalive (passive keepalive): we received data and sent nothing back for
//    KEEPALIVE_TIMEOUT: send a keepalive so the peer knows the session works.
//  - newHandshake: we sent data and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: the
//    session may be dead on the other side, start a new handshake.
//  - zeroKeyMaterial: no new session for 3 × REJECT_AFTER_TIME: erase every key.
//  - persistentKeepalive: nothing sent or received for the configured interval: send a keepalive
//    (keeps NAT and stateful-firewall mappings open).
import type { Clock, ClockTimer } from '../../runtime/net/clock.ts';
import { KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX } from './constants.ts';

/** What the timers make the peer do. */
export interface TimerActions {
  sendHandshakeInitiation(isRetry: boolean): void;
  sendKeepalive(): void;
  /** Handshake attempts exhausted: drop staged packets. */
  giveUpHandshake(): void;
  zeroKeyMaterial(): void;
  /** Uniform random integer in [0, n). */
  randomBelow(n: number): number;
}

export class PeerTimers {
  handshakeAttempts = 0;
  /** Persistent keepalive interval in ms (0: off). */
  persistentKeepaliveMs = 0;
  private needAnotherKeepalive = false;
  private readonly retransmitHandshake: ClockTimer;
  private readonly sendKeepalive: ClockTimer;
  private readonly newHandshake: ClockTimer;
  private readonly zeroKeys: ClockTimer;
  private readonly persistentKeepalive: ClockTimer;

  constructor(private readonly clock: Clock, private readonly act: TimerActions) {
    this.retransmitHandshake = clock.createTimer(() => {
      if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        this.sendKeepalive.disarm();
        this.act.giveUpHandshake();
        if (!this.zeroKeys.armed) this.zeroKeys.arm(this.clock.now() + 3 * REJECT_AFTER_TIME);
        return;
      }
      this.handshakeAttempts++;
      this.act.sendHandshakeInitiation(true);
    });
    this.sendKeepalive = clock.createTimer(() => {
      this.act.sendKeepalive();
      if (this.needAnotherKeepalive) {
        this.needAnotherKeepalive = false;
        this.sendKeepalive.arm(this.clock.now() + KEEPALIVE_TIMEOUT);
      }
    });
    this.newHandshake = clock.createTimer(() => this.act.sendHandshakeInitiation(false));
    this.zeroKeys = clock.createTimer(() => this.act.zeroKeyMaterial());
    this.persistentKeepalive = clock.createTimer(() => this.act.sendKeepalive());
  }

  private jitter(): number { return this.act.randomBelow(REKEY_TIMEOUT_JITTER_MAX); }

  /** A data packet (not a keepalive) was sent. */
  dataSent(): void {
    if (!this.newHandshake.armed) this.newHandshake.arm(this.clock.now() + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + this.jitter());
  }

  /** A data packet (not a keepalive) was received. */
  dataReceived(): void {
    if (!this.sendKeepalive.armed) this.sendKeepalive.arm(this.clock.now() + KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet (data, keepalive, handshake) was sent: it carries our liveness. */
  anyAuthenticatedPacketSent(): void { this.sendKeepalive.disarm(); }

  /** Any authenticated packet was received: the peer is alive. */
  anyAuthenticatedPacketReceived(): void { this.newHandshake.disarm(); }

  /** Any authenticated packet went either way: restart the persistent keepalive interval. */
  anyAuthenticatedPacketTraversal(): void {
    if (this.persistentKeepaliveMs > 0) this.persistentKeepalive.arm(this.clock.now() + this.persistentKeepaliveMs);
  }

  handshakeInitiated(): void {
    this.retransmitHandshake.arm(this.clock.now() + REKEY_TIMEOUT + this.jitter());
  }

  /** A session was confirmed (response consumed, or a responder's next got its first packet). */
  handshakeComplete(): void {
    this.retransmitHandshake.disarm();
    this.handshakeAttempts = 0;
  }

  sessionDerived(): void { this.zeroKeys.arm(this.clock.now() + 3 * REJECT_AFTER_TIME); }

  stop(): void {
    this.retransmitHandshake.disarm();
    this.sendKeepalive.disarm();
    this.newHandshake.disarm();
    this.zeroKeys.disarm();
    this.persistentKeepalive.disarm();
  }
}

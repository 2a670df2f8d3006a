// Pluggable TCP congestion control (issue: "congestion control pluggable, CUBIC (RFC 9438) by
// default and NewReno selectable, with hooks an experimenter can replace").
//
// Division of labour: the TCP core owns loss detection and recovery (RFC 6675 SACK recovery with
// `pipe`, RFC 6582 NewReno partial ACKs, RFC 6298 RTO) and calls the controller on events; the
// controller owns only `cwnd` and `ssthresh`, which the core reads directly. Sizes are bytes,
// times milliseconds (fractional allowed; the clock may be virtual). Every event method runs
// without allocating: onAck runs once per ACK.
//
// Experimenters either register a factory under a new name (registerCongestionControl) or replace
// a built-in by registering under its name, typically with a subclass of NewRenoCongestionControl /
// CubicCongestionControl overriding the hook they study (onAck, onLoss, onRecoveryAck, ...).
import { WskUsageError } from '../../errors.ts';
import { CubicCongestionControl } from './congestion-cubic.ts';
import { NewRenoCongestionControl } from './congestion-newreno.ts';

export { initialWindow } from './congestion-newreno.ts';

export interface CongestionControl {
  readonly name: string;
  /** Congestion window and slow-start threshold, bytes. The core reads them directly. */
  cwnd: number;
  ssthresh: number;
  /** Connection established (or MSS changed before any data): RFC 6928 initial window min(10*mss, max(2*mss, 14600)); ssthresh = Infinity (or a configured initial value). */
  init(mss: number, now: number): void;
  /** New data acknowledged outside recovery. ackedBytes > 0; inFlight = bytes outstanding before this ACK; rttMs = latest RTT sample or -1; appLimited true when the sender had nothing more to send (RFC 7661-ish: then cwnd must not grow beyond 2*inFlight). */
  onAck(ackedBytes: number, inFlight: number, rttMs: number, now: number, appLimited: boolean): void;
  /** Loss detected by duplicate ACKs / SACK (entering fast recovery): set ssthresh (and cwnd) for recovery; inFlight = FlightSize (RFC 5681 eq. 4). */
  onLoss(inFlight: number, now: number): void;
  /** Acked data during recovery (the core does RFC 6675 pipe accounting; CUBIC/NewReno do nothing by default, but a hook for experimenters). */
  onRecoveryAck?(ackedBytes: number, now: number): void;
  /** Recovery finished (all data outstanding at loss time acknowledged): cwnd = ssthresh (RFC 6582 §3.2 step 3 "deflate"). */
  onRecoveryEnd(now: number): void;
  /** Retransmission timeout: ssthresh = max(FlightSize/2, 2*mss); cwnd = 1 mss (RFC 5681 §3.1 loss window). */
  onTimeout(inFlight: number, now: number): void;
  /** An RTO was found spurious (optional, e.g. by timestamps/F-RTO): restore. May be a no-op. */
  onSpuriousTimeout?(now: number): void;
  /** Path MTU / MSS changed. */
  setMss(mss: number): void;
  /** Idle restart (RFC 5681 §4.1 / RFC 7661): after an idle period longer than the RTO, cwnd = min(cwnd, restart window). */
  onIdleRestart(now: number, rtoMs: number): void;
}

export type CongestionFactory = (mss: number) => CongestionControl;

const registry = new Map<string, CongestionFactory>();

/**
 * Registers (or replaces) a congestion control by name. 'cubic' (the default) and 'newreno' are
 * built in; registering under one of those names replaces the built-in for connections created
 * afterwards.
 */
export function registerCongestionControl(name: string, factory: CongestionFactory): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new WskUsageError('TCP_CONGESTION', 'registerCongestionControl: the name must be a non-empty string');
  }
  if (typeof factory !== 'function') {
    throw new WskUsageError('TCP_CONGESTION', `registerCongestionControl('${name}'): the factory must be a function (mss) => CongestionControl`);
  }
  registry.set(name, factory);
}

/** Creates the congestion control registered under `name` for a connection with this MSS. */
export function createCongestionControl(name: string, mss: number): CongestionControl {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new WskUsageError('TCP_CONGESTION',
      `unknown TCP congestion control '${String(name)}'; registered: ${congestionControlNames().join(', ')} ` +
      '(add your own with registerCongestionControl(name, factory))');
  }
  return factory(mss);
}

/** Names of the registered congestion controls, in registration order ('cubic', 'newreno', ...). */
export function congestionControlNames(): string[] {
  return [...registry.keys()];
}

registerCongestionControl('cubic', (mss) => new CubicCongestionControl(mss));
registerCongestionControl('newreno', (mss) => new NewRenoCongestionControl(mss));

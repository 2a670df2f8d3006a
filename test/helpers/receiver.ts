// A stock Linux receiver that a test measures our UDP sender against (iperf3 -c -R, iperf3 -s).
// The loss such a receiver reports is meant to show how our sender paces; on a busy machine it
// showed how long the receiving process waited for a CPU instead: every datagram lost had been
// dropped by the receiving socket itself (UdpRcvbufErrors in the peer namespace: 10-40 % of a
// 2 s test with two CPU hogs running, 0 % otherwise), its default buffer (net.core.rmem_default)
// holding about 10 ms of a 100 Mbit/s flow. Given the CPU the moment a datagram arrives, as on an
// idle machine, and a larger socket buffer for the bursts by which a paced sender that was
// itself kept waiting catches up (iperf's rule: send while the average rate is below the
// target), the receiver loses what our pacing makes it lose, not what the scheduler does.
import { spawnSync } from 'node:child_process';

/**
 * The command prefix that runs a program with the lowest real-time priority (SCHED_FIFO 1, via
 * chrt(1)), or nothing where that is not allowed (not root, or a cgroup without real-time
 * runtime). It is for bounded peers that spend their time waiting for datagrams; the kernel's
 * real-time throttling (sched_rt_runtime_us) still leaves the other tasks their share.
 */
export const REALTIME: readonly string[] = (() => {
  const probe = spawnSync('chrt', ['-f', '1', 'true'], { stdio: 'ignore', timeout: 5000 });
  return probe.status === 0 ? ['chrt', '-f', '1'] : [];
})();

/** iperf3's socket buffer option for a receiving client (-w: SO_RCVBUF, capped by net.core.rmem_max). */
export const RECEIVER_BUFFER: readonly string[] = ['-w', '4M'];

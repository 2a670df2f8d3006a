// A TUN device (IFF_TUN | IFF_NO_PI: bare IP packets, Linux's Documentation/networking/tuntap.rst)
// in the process's network namespace: the host's own stack routes packets into it and receives
// what is written to it. The WireGuard interface uses it as the tunnel's far side instead of an
// inner userspace stack (`wsk run wireguard --tun <name>`), so the host's tools use the tunnel.
//
// Contract:
// - open(name) creates (or attaches to) the device; the caller configures it (`ip address`,
//   `ip link set up`) as with wireguard-go. Needs CAP_NET_ADMIN. Failures throw LinkError.
// - onPacket(bytes, offset, length) gets each packet the host sent into the device, read from the
//   event loop in batches of at most READ_BATCH; the bytes are lent for the call (one buffer is
//   reused: nothing is allocated per packet).
// - write(bytes, offset, length) hands one packet to the host (copied by the kernel at once); a
//   refused write is counted (txErrors), never thrown. Not re-entrant into onPacket.
import { FIX_PRIVILEGE, LinkError, loadAddon, type NativeError } from '../native/native.ts';

interface NativeTun {
  readonly name: string;
  start(onReadable: () => void): void;
  read(into: Uint8Array, offset: number): number;
  write(bytes: Uint8Array, offset: number, length: number): number;
  close(): void;
}

interface TunAddon { TunDevice: new (name: string) => NativeTun }

/** Packets read per wake-up before the event loop gets a turn (the poll fires again while more wait). */
const READ_BATCH = 256;
const EAGAIN = 11;

export interface TunStats { rxPackets: number; rxBytes: number; rxErrors: number; txPackets: number; txBytes: number; txErrors: number }

export class TunDevice {
  readonly stats: TunStats = { rxPackets: 0, rxBytes: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  onPacket: ((bytes: Uint8Array, offset: number, length: number) => void) | null = null;
  private readonly buffer = new Uint8Array(65536);
  private closed = false;

  private constructor(private readonly native: NativeTun) {
    native.start(() => this.drain());
  }

  /** Creates the TUN device `name` (or attaches to an existing one of ours). */
  static open(name: string): TunDevice {
    const addon = loadAddon<TunAddon>('wsk_afpacket', `TUN device ${name}`);
    try {
      return new TunDevice(new addon.TunDevice(name));
    } catch (err) {
      const e = err as NativeError;
      if (e.code === 'EPERM' || e.code === 'EACCES') throw new LinkError('NOT_PERMITTED', `TUN device ${name} ${FIX_PRIVILEGE.replace('CAP_NET_RAW', 'CAP_NET_ADMIN')}`, { cause: err });
      if (e.code === 'ENOENT' || e.code === 'ENODEV') throw new LinkError('OPEN_FAILED', `TUN device ${name}: no /dev/net/tun: load the tun module (modprobe tun)`, { cause: err });
      throw new LinkError('OPEN_FAILED', `TUN device ${name}: ${e.message}`, { cause: err });
    }
  }

  /** The device's name (the kernel's, when it chose one). */
  get name(): string { return this.native.name; }

  write(bytes: Uint8Array, offset: number, length: number): boolean {
    if (this.closed) { this.stats.txErrors++; return false; }
    const n = this.native.write(bytes, offset, length);
    if (n !== length) { this.stats.txErrors++; return false; }
    this.stats.txPackets++;
    this.stats.txBytes += length;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }

  private drain(): void {
    const buffer = this.buffer;
    for (let i = 0; i < READ_BATCH && !this.closed; i++) {
      const n = this.native.read(buffer, 0);
      if (n < 0) { if (n !== -EAGAIN) this.stats.rxErrors++; return; }
      this.stats.rxPackets++;
      this.stats.rxBytes += n;
      this.onPacket?.(buffer, 0, n);
    }
  }
}

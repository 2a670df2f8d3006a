// A capture that stays small: a lab run moves gigabytes, but the pcap is for reading handshakes,
// losses and recoveries, so it keeps the headers of each frame (snaplen) and only the first
// maxFrames frames (PcapFile's limit), then closes its file and lets frames pass unrecorded.
import { basename } from 'node:path';
import type { LinkDevice } from '../../runtime/net/device.ts';
import { PcapWriterLink } from '../../transports/sniffer/pcap-writer.ts';

export interface BoundedCaptureOptions {
  path: string;
  /** Bytes kept per frame (Ethernet + IPv4 + TCP with options fit in 128). */
  snaplen: number;
  maxFrames: number;
  /** 0 for virtual-time runs, so the file is byte-for-byte reproducible. */
  epochMs?: number;
}

export interface CaptureReport {
  /** File name, relative to the results. */
  path: string;
  frames: number;
  snaplen: number;
  maxFrames: number;
  /** The limit was reached: later frames were not recorded. */
  truncated: boolean;
}

export class BoundedCaptureLink extends PcapWriterLink {
  private readonly maxFrames: number;

  constructor(inner: LinkDevice, opts: BoundedCaptureOptions) {
    super(inner, { path: opts.path, snaplen: opts.snaplen, epochMs: opts.epochMs, maxFrames: opts.maxFrames });
    this.maxFrames = opts.maxFrames;
  }

  report(): CaptureReport {
    return { path: basename(this.file.path), frames: this.file.frames, snaplen: this.file.snaplen, maxFrames: this.maxFrames, truncated: this.truncated };
  }

  get truncated(): boolean { return this.file.limitReached; }
}

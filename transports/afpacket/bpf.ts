// Classic BPF for the receive rings: the kernel runs it before a frame is copied into the ring,
// so the ring (and JavaScript) only sees the stack's own traffic — ARP, and IPv4 addressed to the
// stack's address or a broadcast — instead of everything on the wire. The same program works for
// AF_PACKET (SO_ATTACH_FILTER) and libpcap (pcap_setfilter takes a bpf_program of these words).
//
// Encoding: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in host byte order (little-
// endian here), jumps relative to the next instruction. `tcpdump -dd 'arp or dst host X'` prints
// an equivalent program; bpf.test.ts compares ours with it when tcpdump is installed.

const LDH_ABS = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K

/** Bytes a matching frame keeps: all of it (a 64 KiB GSO frame with headers). */
const ACCEPT_BYTES = 262144;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * ARP, or IPv4 whose destination is one of `addresses` (signed or unsigned 32-bit) or, with
 * `multicast`, any IPv4 multicast group (224.0.0.0/4: the stack keeps the groups it joined), in
 * untagged Ethernet frames (a VLAN-accelerated device strips tags before the filter runs).
 */
export function stackFilter(addresses: readonly number[], multicast = false): BpfInstruction[] {
  if (addresses.length === 0 || addresses.length > 16) throw new RangeError('stackFilter: 1 to 16 addresses');
  const n = addresses.length;
  // Layout: 0 ldh [12]; 1 jeq ARP; 2 jeq IPv4; 3 ld [30]; 4..4+n-1 jeq addr; [and #0xf0000000;
  // jeq #0xe0000000]; accept; reject.
  const groupChecks = multicast ? 2 : 0;
  const accept = 4 + n + groupChecks;
  const reject = accept + 1;
  const prog: BpfInstruction[] = [
    { code: LDH_ABS, jt: 0, jf: 0, k: 12 },
    { code: JEQ_K, jt: accept - 2, jf: 0, k: 0x0806 },
    { code: JEQ_K, jt: 0, jf: reject - 3, k: 0x0800 },
    { code: LD_ABS, jt: 0, jf: 0, k: 30 },
  ];
  for (let i = 0; i < n; i++) {
    const at = 4 + i;
    prog.push({ code: JEQ_K, jt: accept - at - 1, jf: i === n - 1 && !multicast ? reject - at - 1 : 0, k: addresses[i]! >>> 0 });
  }
  if (multicast) {
    prog.push({ code: AND_K, jt: 0, jf: 0, k: 0xf0000000 });
    prog.push({ code: JEQ_K, jt: 0, jf: 1, k: 0xe0000000 });
  }
  prog.push({ code: RET_K, jt: 0, jf: 0, k: ACCEPT_BYTES });
  prog.push({ code: RET_K, jt: 0, jf: 0, k: 0 });
  return prog;
}

/** The program as the kernel reads it: 8 bytes per instruction, host byte order. */
export function encodeBpf(prog: readonly BpfInstruction[]): Uint8Array {
  const out = new Uint8Array(prog.length * 8);
  const v = new DataView(out.buffer);
  prog.forEach((ins, i) => {
    v.setUint16(i * 8, ins.code, true);
    v.setUint8(i * 8 + 2, ins.jt);
    v.setUint8(i * 8 + 3, ins.jf);
    v.setUint32(i * 8 + 4, ins.k >>> 0, true);
  });
  return out;
}

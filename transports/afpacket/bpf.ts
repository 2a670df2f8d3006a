// Classic BPF for the receive rings: the kernel runs it before a frame is copied into the ring,
// so the ring (and JavaScript) only sees what the stack asked for (its ReceiveFilter: ARP, and
// IPv4 addressed to its addresses or a broadcast) instead of everything on the wire. The same
// program works for AF_PACKET (SO_ATTACH_FILTER) and libpcap (pcap_setfilter takes a bpf_program
// of these words).
//
// Encoding: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in host byte order (little-
// endian here), jumps relative to the next instruction. `tcpdump -dd 'arp or dst host X'` prints
// an equivalent program.

import { MAX_FILTER_DESTINATIONS, type ReceiveFilter } from '../../runtime/net/receive-filter.ts';
import { ETHERNET_HEADER_LENGTH, EthernetField, EtherType } from '../../runtime/net/wire/ethernet.ts';
import { Ipv4Field } from '../../runtime/net/wire/ipv4.ts';

const LDH_ABS = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K
const AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K

/** Where the program loads from: an untagged Ethernet frame's EtherType and its IPv4 destination. */
const ETHER_TYPE_OFFSET = EthernetField.ETHER_TYPE;
const IPV4_DESTINATION_OFFSET = ETHERNET_HEADER_LENGTH + Ipv4Field.DESTINATION;

/** Bytes a matching frame keeps: all of it (a 64 KiB GSO frame with headers). */
const ACCEPT_BYTES = 262144;

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * The program for a stack's ReceiveFilter (runtime/net/receive-filter.ts): the listed EtherTypes
 * whole, and IPv4 whose destination is one of the filter's (every IPv4 packet when it lists none)
 * or, with ipv4Multicast, any IPv4 multicast group (224.0.0.0/4), in untagged Ethernet frames (a
 * VLAN-accelerated device strips tags before the filter runs).
 */
export function compileReceiveFilter(filter: ReceiveFilter): BpfInstruction[] {
  const { etherTypes, ipv4Destinations: addresses, ipv4Multicast: multicast } = filter;
  if (addresses.length > MAX_FILTER_DESTINATIONS) throw new RangeError(`compileReceiveFilter: at most ${MAX_FILTER_DESTINATIONS} IPv4 destinations`);
  // Jumps are written to the two labels and resolved once the program's length is known.
  const ACCEPT = -1;
  const REJECT = -2;
  const prog: BpfInstruction[] = [{ code: LDH_ABS, jt: 0, jf: 0, k: ETHER_TYPE_OFFSET }];
  for (const type of etherTypes) prog.push({ code: JEQ_K, jt: ACCEPT, jf: 0, k: type });
  if (addresses.length === 0) {
    prog.push({ code: JEQ_K, jt: ACCEPT, jf: REJECT, k: EtherType.IPV4 });
  } else {
    prog.push({ code: JEQ_K, jt: 0, jf: REJECT, k: EtherType.IPV4 });
    prog.push({ code: LD_ABS, jt: 0, jf: 0, k: IPV4_DESTINATION_OFFSET });
    addresses.forEach((a, i) => prog.push({ code: JEQ_K, jt: ACCEPT, jf: i === addresses.length - 1 && !multicast ? REJECT : 0, k: a >>> 0 }));
    if (multicast) {
      prog.push({ code: AND_K, jt: 0, jf: 0, k: 0xf0000000 });
      prog.push({ code: JEQ_K, jt: ACCEPT, jf: REJECT, k: 0xe0000000 });
    }
  }
  const accept = prog.length;
  const reject = accept + 1;
  prog.forEach((ins, at) => {
    if (ins.jt === ACCEPT) ins.jt = accept - at - 1;
    if (ins.jf === REJECT) ins.jf = reject - at - 1;
  });
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

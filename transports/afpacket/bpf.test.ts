// The link's filter is what the stack asked for: receiveFilterFor(config) compiled to classic BPF
// lets in ARP and IPv4 to the stack's addresses and broadcasts, and nothing else. The program is
// run here as the kernel runs it (linux/filter.h semantics for the five opcodes it uses), over
// frames built with the wire emitters. The interop tests attach it to real AF_PACKET and libpcap
// sockets (test/helpers/real-link.ts).
import { describe, expect, it } from 'vitest';
import { compileReceiveFilter, encodeBpf, type BpfInstruction } from './bpf.ts';
import { receiveFilterFor } from '../../runtime/net/receive-filter.ts';
import { emitEthernet, EtherType } from '../../runtime/net/wire/ethernet.ts';
import { emitIpv4, IpProtocol } from '../../runtime/net/wire/ipv4.ts';
import { emitArp, ArpOperation } from '../../runtime/net/wire/arp.ts';
import { parseIpv4 } from '../../runtime/net/wire/bytes.ts';
import { WskUsageError } from '../../runtime/errors.ts';

/** Runs a classic BPF program over a frame: the number of bytes kept (0: dropped). */
function run(prog: readonly BpfInstruction[], frame: Uint8Array): number {
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let a = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    switch (code) {
      case 0x28: if (k + 2 > frame.length) return 0; a = v.getUint16(k); break; // ldh [k]: out of bounds drops
      case 0x20: if (k + 4 > frame.length) return 0; a = v.getUint32(k); break; // ld [k]
      case 0x54: a = (a & k) >>> 0; break; // and #k
      case 0x15: pc += a === k >>> 0 ? jt : jf; break; // jeq #k
      case 0x06: return k; // ret #k
      default: throw new Error(`opcode ${code.toString(16)} not modelled`);
    }
  }
  throw new Error('ran off the end of the program');
}

const OUR_MAC = 0x020000000002;
const PEER_MAC = 0x020000000001;
const ip = (s: string): number => parseIpv4(s) | 0;

function ipv4To(dst: string): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  emitEthernet(f, 0, OUR_MAC, PEER_MAC, EtherType.IPV4);
  emitIpv4(f, 14, ip('198.18.0.1'), ip(dst), IpProtocol.UDP, 8);
  return f;
}

function arp(): Uint8Array {
  const f = new Uint8Array(60);
  emitEthernet(f, 0, 0xffffffffffff, PEER_MAC, EtherType.ARP);
  emitArp(f, 14, ArpOperation.REQUEST, PEER_MAC, ip('198.18.0.1'), 0, ip('198.18.0.2'));
  return f;
}

function ipv6(): Uint8Array {
  const f = new Uint8Array(14 + 40);
  emitEthernet(f, 0, OUR_MAC, PEER_MAC, EtherType.IPV6);
  f[14] = 0x60;
  return f;
}

describe('the link filter compiled from the stack\'s ReceiveFilter', () => {
  it('takes ARP and IPv4 to the stack\'s addresses, its subnet broadcast and the limited broadcast; drops other hosts\' traffic and IPv6', () => {
    const prog = compileReceiveFilter(receiveFilterFor({ address: '198.18.0.2/24', secondary: ['198.18.0.3'] }));
    const taken = (f: Uint8Array): boolean => run(prog, f) > 0;
    expect(taken(arp())).toBe(true);
    for (const dst of ['198.18.0.2', '198.18.0.3', '198.18.0.255', '255.255.255.255']) expect(taken(ipv4To(dst))).toBe(true);
    for (const dst of ['198.18.0.4', '198.18.1.2', '224.0.0.251']) expect(taken(ipv4To(dst))).toBe(false);
    expect(taken(ipv6())).toBe(false);
    // A frame too short to hold the loaded field is dropped, as the kernel does.
    expect(taken(ipv4To('198.18.0.2').subarray(0, 20))).toBe(false);
  });

  it('with multicast the IPv4 groups (224.0.0.0/4) pass too; on a /31 there is no subnet broadcast (RFC 3021)', () => {
    const withGroups = compileReceiveFilter(receiveFilterFor({ address: '198.18.0.2/24' }, true));
    expect(run(withGroups, ipv4To('224.0.0.251'))).toBeGreaterThan(0);
    expect(run(withGroups, ipv4To('239.1.2.3'))).toBeGreaterThan(0);
    expect(run(withGroups, ipv4To('198.18.0.9'))).toBe(0);
    const p2p = receiveFilterFor({ address: '198.18.0.2/31' });
    expect(p2p.ipv4Destinations).toEqual([ip('198.18.0.2') >>> 0, 0xffffffff]);
    expect(run(compileReceiveFilter(p2p), ipv4To('198.18.0.3'))).toBe(0);
  });

  it('with IPv6 on the interface, IPv6 frames pass whole (unicast and 33:33 multicast: the IPv6 layer judges them)', () => {
    const prog = compileReceiveFilter(receiveFilterFor({ address: '198.18.0.2/24', ipv6: { addresses: ['fd00:198:18::2/64'] } }));
    expect(run(prog, ipv6())).toBeGreaterThan(0);
    const group = ipv6();
    emitEthernet(group, 0, 0x3333ff000002, PEER_MAC, EtherType.IPV6);
    expect(run(prog, group)).toBeGreaterThan(0);
    expect(run(prog, arp())).toBeGreaterThan(0);
    expect(run(prog, ipv4To('198.18.0.4'))).toBe(0);
  });

  it('is plain data (what a worker thread could be sent) and encodes to 8 bytes per instruction; too many addresses is NET_CONFIG', () => {
    const filter = receiveFilterFor({ address: '198.18.0.2/24' });
    expect(structuredClone(filter)).toEqual(filter);
    const prog = compileReceiveFilter(filter);
    expect(encodeBpf(prog).byteLength).toBe(prog.length * 8);
    let err: unknown = null;
    const secondary = Array.from({ length: 14 }, (_, i) => `198.18.0.${10 + i}`);
    try { receiveFilterFor({ address: '198.18.0.2/24', secondary }); } catch (e) { err = e; }
    expect((err as WskUsageError).code).toBe('NET_CONFIG');
  });
});

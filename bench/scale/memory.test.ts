// Memory per connection as the scale benchmark counts it, from the texts the kernel gives
// (`ss -tmHn`, /proc/slabinfo, /proc/net/sockstat as printed by iproute2 6.1 and Linux 6.x) and
// made-up runs: charged skmem fields only, one slab object per socket cache, the ring apart and
// per connection both ways.
import { describe, expect, it } from 'vitest';
import { perConnection, skmemBytes, slabObjectBytes, sockstatTcpPages, summariseMemory } from './memory.ts';

const SS = `0       0       198.18.0.3:40001 198.18.0.1:51234
\t skmem:(r0,rb131072,t0,tb46080,f0,w0,o0,bl0,d0)
0       0       198.18.0.3:40001 198.18.0.1:51236
\t skmem:(r1280,rb131072,t512,tb46080,f2816,w768,o16,bl4,d3)
`;

const SLABINFO = `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
request_sock_TCP     108    108    320   12    1 : tunables    0    0    0 : slabdata      9      9      0
TCP                   79    130   2368   13    8 : tunables    0    0    0 : slabdata     10     10      0
eventpoll_epi        572    800    128   32    1 : tunables    0    0    0 : slabdata     25     25      0
sock_inode_cache     279    342    832   19    4 : tunables    0    0    0 : slabdata     18     18      0
filp                1093   1134    192   21    1 : tunables    0    0    0 : slabdata     54     54      0
dentry            104592 104727    192   21    1 : tunables    0    0    0 : slabdata   4987   4987      0
TCPv6                 10     10   2560   12    8 : tunables    0    0    0 : slabdata      1      1      0
`;

describe('kernel socket memory', () => {
  it('sums the charged skmem fields (r t f w o bl), not the buffer limits rb and tb nor the drop count', () => {
    expect(skmemBytes(SS)).toEqual({ sockets: 2, bytes: 1280 + 512 + 2816 + 768 + 16 + 4 });
    expect(skmemBytes('')).toEqual({ sockets: 0, bytes: 0 });
  });

  it('takes one object of each socket cache from /proc/slabinfo, and names the caches found', () => {
    expect(slabObjectBytes(SLABINFO)).toEqual({ bytes: 2368 + 832 + 192 + 192 + 128, found: ['TCP', 'eventpoll_epi', 'sock_inode_cache', 'filp', 'dentry'] });
    expect(slabObjectBytes('')).toEqual({ bytes: 0, found: [] });
  });

  it('reads TCP mem pages from /proc/net/sockstat', () => {
    expect(sockstatTcpPages('sockets: used 50\nTCP: inuse 1 orphan 0 tw 7 alloc 1 mem 101\nUDP: inuse 0 mem 0\n')).toBe(101);
    expect(sockstatTcpPages('')).toBeNaN();
  });
});

describe('memory per connection', () => {
  const kernelRun = { held: 1000, processBytes: 1000 * 1024, kernelBufferBytes: 512 * 1000, kernelObjectBytes: 3712 * 1000, ringBytes: 0, sockstatPages: 3 };
  const stackRun = { held: 1000, processBytes: 3000 * 1024, kernelBufferBytes: 0, kernelObjectBytes: 0, ringBytes: 100 * 1024 * 1000, sockstatPages: 0 };

  it('adds the kernel\'s parts to the process\'s, and shows the ring apart: without it, and divided by the connections', () => {
    expect(perConnection(kernelRun)).toEqual({ process: 1, kernelBuffers: 0.5, kernelObjects: 3.625, ring: 0, withoutRing: 5.125, withRing: 5.125 });
    expect(perConnection(stackRun)).toEqual({ process: 3, kernelBuffers: 0, kernelObjects: 0, ring: 100, withoutRing: 3, withRing: 103 });
    expect(perConnection({ ...stackRun, held: 0 }).withoutRing).toBeNaN();
  });

  it('takes medians over runs and divides both totals by node:net\'s', () => {
    const r = summariseMemory([{ name: 'node:net', label: 'n' }, { name: 'wsk-stack-afpacket', label: 's' }], new Map([
      ['node:net', [kernelRun, { ...kernelRun, processBytes: 3000 * 1024 }, { ...kernelRun, processBytes: 2000 * 1024 }]],
      ['wsk-stack-afpacket', [stackRun]],
    ]));
    expect(r[0]!.perConnectionKiB.process).toBe(2);
    expect(r[0]!.perConnectionKiB.withoutRing).toBe(6.125);
    expect(r[1]!.ratio.withoutRing).toBeCloseTo(3 / 6.125, 12);
    expect(r[1]!.ratio.withRing).toBeCloseTo(103 / 6.125, 12);
    expect(r[1]!.ringBytes).toBe(100 * 1024 * 1000);
  });
});

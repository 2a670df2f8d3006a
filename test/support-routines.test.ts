// The wdm.h support routines a port needs: NTSTATUS, IRPs, KEVENT, MDL chains, SOCKADDRs.
import { describe, expect, it } from 'vitest';
import {
  AF_INET6, IoAllocateIrp, IoAllocateMdl, IoCancelIrp, IoCompleteRequest, IoFreeIrp, IoReuseIrp, IoSetCancelRoutine,
  IoSetCompletionRoutine, KEVENT, KeInitializeEvent, KeSetEvent, KeWaitForSingleObject, NT_SUCCESS, NotificationEvent,
  RtlIpv6AddressToString, RtlIpv6StringToAddress, STATUS_CANCELLED, STATUS_EVENT_PENDING, STATUS_INVALID_PARAMETER,
  STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS, STATUS_TIMEOUT, SynchronizationEvent, WskUsageError,
  copyIntoWskBuf, htons, makeSockaddrIn6, ntStatusName, relativeTimeout, sockaddrToEndpoint, validateWskBuf, wskBufToBytes,
} from '../index.ts';

describe('NTSTATUS', () => {
  it('values are signed 32-bit and NT_SUCCESS is s >= 0', () => {
    expect(STATUS_INVALID_PARAMETER).toBe(-1073741811);
    expect(NT_SUCCESS(STATUS_PENDING)).toBe(true);
    expect(NT_SUCCESS(STATUS_EVENT_PENDING)).toBe(true);
    expect(NT_SUCCESS(STATUS_CANCELLED)).toBe(false);
    expect(ntStatusName(STATUS_CANCELLED)).toBe('STATUS_CANCELLED (0xC0000120)');
  });
});

describe('IRPs (R9)', () => {
  it('InvokeOnSuccess/Error/Cancel select when the completion routine runs; double completion throws', () => {
    const seen: number[] = [];
    for (const [status, flags] of [[STATUS_SUCCESS, [true, false, false]], [STATUS_INVALID_PARAMETER, [false, true, false]], [STATUS_CANCELLED, [false, false, true]]] as const) {
      for (const on of [true, false]) {
        const irp = IoAllocateIrp(1);
        IoSetCompletionRoutine(irp, (_d, i) => { seen.push(i.IoStatus.Status); return STATUS_MORE_PROCESSING_REQUIRED; }, null,
          on && flags[0], on && flags[1], on && flags[2]);
        irp.IoStatus.Status = status;
        IoCompleteRequest(irp);
        expect(() => IoCompleteRequest(irp)).toThrow(WskUsageError);
      }
    }
    expect(seen).toEqual([STATUS_SUCCESS, STATUS_INVALID_PARAMETER, STATUS_CANCELLED]);
  });

  it('IoCancelIrp runs the cancel routine once; reuse and free of an IRP in flight are refused', () => {
    const irp = IoAllocateIrp(2);
    expect(IoCancelIrp(irp)).toBe(false);
    expect(irp.Cancel).toBe(true);
    IoReuseIrp(irp, STATUS_SUCCESS);
    expect(irp.Cancel).toBe(false);
    let cancelled = 0;
    IoSetCancelRoutine(irp, () => { cancelled++; });
    expect(IoCancelIrp(irp)).toBe(true);
    expect(IoCancelIrp(irp)).toBe(false);
    expect(cancelled).toBe(1);
    (irp as unknown as { inFlight: boolean }).inFlight = true;
    expect(() => IoReuseIrp(irp, STATUS_SUCCESS)).toThrow(WskUsageError);
    expect(() => IoFreeIrp(irp)).toThrow(WskUsageError);
    expect(() => IoAllocateIrp(0)).toThrow(WskUsageError);
  });
});

describe('KEVENT', () => {
  it('KeWaitForSingleObject times out with STATUS_TIMEOUT and wakes on KeSetEvent', async () => {
    const e = new KEVENT();
    KeInitializeEvent(e, NotificationEvent, false);
    expect(await KeWaitForSingleObject(e, 0, 0, false, relativeTimeout(20))).toBe(STATUS_TIMEOUT);
    const w = KeWaitForSingleObject(e, 0, 0, false, null);
    KeSetEvent(e, 0, false);
    expect(await w).toBe(STATUS_SUCCESS);
    expect(await KeWaitForSingleObject(e, 0, 0, false, relativeTimeout(0))).toBe(STATUS_SUCCESS); // stays signaled
  });

  it('a synchronization event releases one waiter per set', async () => {
    const e = new KEVENT();
    KeInitializeEvent(e, SynchronizationEvent, false);
    let woken = 0;
    const a = KeWaitForSingleObject(e, 0, 0, false, relativeTimeout(50)).then((s) => { if (s === STATUS_SUCCESS) woken++; });
    const b = KeWaitForSingleObject(e, 0, 0, false, relativeTimeout(50)).then((s) => { if (s === STATUS_SUCCESS) woken++; });
    KeSetEvent(e, 0, false);
    await Promise.all([a, b]);
    expect(woken).toBe(1);
  });
});

describe('MDL chains and WSK_BUF (R39)', () => {
  it('copies across a chain starting at an offset in the first MDL, and rejects malformed buffers', () => {
    const m1 = IoAllocateMdl(new Uint8Array(6)), m2 = IoAllocateMdl(new Uint8Array(3)), m3 = IoAllocateMdl(new Uint8Array(10));
    m1.Next = m2; m2.Next = m3;
    const wb = { Mdl: m1, Offset: 4, Length: 10 };
    expect(validateWskBuf(wb)).toBeNull();
    expect(copyIntoWskBuf(wb, 0, Uint8Array.from('abcdefghijklmnop', (c) => c.charCodeAt(0)))).toBe(10);
    expect(Buffer.from(wskBufToBytes(wb)).toString()).toBe('abcdefghij');
    expect(Buffer.from(m2.buffer).toString()).toBe('cde');
    expect(validateWskBuf({ Mdl: m1, Offset: 7, Length: 1 })).not.toBeNull();
    expect(validateWskBuf({ Mdl: m1, Offset: 0, Length: 20 })).not.toBeNull();
    expect(validateWskBuf({ Mdl: null, Offset: 0, Length: 0 })).toBeNull();
  });
});

describe('SOCKADDR (R52)', () => {
  it('uses Windows AF_INET6 = 23, network-order ports and RFC 5952 text', () => {
    const a = makeSockaddrIn6('fd00:198:18::1', 40007);
    expect(a.sin6_family).toBe(AF_INET6);
    expect(a.sin6_port).toBe(0x479c);
    expect(htons(40007)).toBe(0x479c);
    expect(RtlIpv6AddressToString(a.sin6_addr)).toBe('fd00:198:18::1');
    expect(RtlIpv6AddressToString(RtlIpv6StringToAddress('::ffff:127.0.0.1')!)).toBe('::ffff:127.0.0.1');
    expect(sockaddrToEndpoint({ sin6_family: 10, sin6_port: 0, sin6_flowinfo: 0, sin6_addr: new Uint8Array(16), sin6_scope_id: 0 })).toBeNull();
  });
});

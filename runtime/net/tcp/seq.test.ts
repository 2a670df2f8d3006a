import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGeq, seqGt, seqInWindow, seqLeq, seqLt, seqMax, seqMin } from './seq.ts';

const I32_MAX = 0x7fffffff;
const I32_MIN = -0x80000000;

describe('seq arithmetic', () => {
  it('orders ordinary numbers', () => {
    expect(seqLt(1, 2)).toBe(true);
    expect(seqLt(2, 1)).toBe(false);
    expect(seqLt(2, 2)).toBe(false);
    expect(seqLeq(2, 2)).toBe(true);
    expect(seqLeq(3, 2)).toBe(false);
    expect(seqGt(3, 2)).toBe(true);
    expect(seqGt(2, 2)).toBe(false);
    expect(seqGeq(2, 2)).toBe(true);
    expect(seqGeq(1, 2)).toBe(false);
  });

  it('wraps at 2^31 (int32 sign boundary)', () => {
    // I32_MAX + 1 wraps to I32_MIN, which is *after* I32_MAX.
    expect(seqAdd(I32_MAX, 1)).toBe(I32_MIN);
    expect(seqLt(I32_MAX, I32_MIN)).toBe(true);
    expect(seqGt(I32_MIN, I32_MAX)).toBe(true);
    expect(seqDiff(I32_MIN, I32_MAX)).toBe(1);
    expect(seqDiff(I32_MAX, I32_MIN)).toBe(-1);
    expect(seqLt(I32_MAX - 10, seqAdd(I32_MAX, 10))).toBe(true);
    expect(seqMax(I32_MAX, I32_MIN)).toBe(I32_MIN);
    expect(seqMin(I32_MAX, I32_MIN)).toBe(I32_MAX);
  });

  it('wraps at 2^32 (unsigned wrap: -1 -> 0)', () => {
    expect(seqAdd(-1, 1)).toBe(0);
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqLt(-1, 0)).toBe(true);
    expect(seqLt(0xfffffff0 | 0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0 | 0)).toBe(true);
    expect(seqDiff(0x10, 0xfffffff0 | 0)).toBe(0x20);
    expect(seqDiff(0xfffffff0 | 0, 0x10)).toBe(-0x20);
    expect(seqMax(-5, 5)).toBe(5);
    expect(seqMin(-5, 5)).toBe(-5);
    expect(seqAdd(0xfffffff0 | 0, 0x20)).toBe(0x10);
  });

  it('always returns int32 values', () => {
    expect(seqAdd(I32_MAX, I32_MAX)).toBe(-2);
    expect(seqDiff(I32_MIN, 1)).toBe(I32_MAX);
    expect(Object.is(seqAdd(0, 0), 0)).toBe(true);
    // Inputs given as uint32 are normalised.
    expect(seqMax(0xffffffff, 0)).toBe(0);
    expect(seqMin(0xffffffff, 0)).toBe(-1);
    expect(seqMax(0x80000001, 0x80000000)).toBe(0x80000001 | 0);
  });

  it('numbers half the space apart: the distance is int32-negative', () => {
    // Exactly 2^31 apart: a - b = I32_MIN, so a < b and b < a both hold (undefined by RFC 1982).
    expect(seqLt(0, I32_MIN)).toBe(true);
    expect(seqLt(I32_MIN, 0)).toBe(true);
    // 2^31 - 1 ahead is still "greater".
    expect(seqGt(I32_MAX, 0)).toBe(true);
  });

  it('seqInWindow is half-open and wraps', () => {
    expect(seqInWindow(100, 100, 10)).toBe(true);
    expect(seqInWindow(109, 100, 10)).toBe(true);
    expect(seqInWindow(110, 100, 10)).toBe(false);
    expect(seqInWindow(99, 100, 10)).toBe(false);
    expect(seqInWindow(100, 100, 0)).toBe(false);
    // window straddling 2^32
    const start = 0xfffffffa | 0; // -6
    expect(seqInWindow(-6, start, 12)).toBe(true);
    expect(seqInWindow(-1, start, 12)).toBe(true);
    expect(seqInWindow(0, start, 12)).toBe(true);
    expect(seqInWindow(5, start, 12)).toBe(true);
    expect(seqInWindow(6, start, 12)).toBe(false);
    expect(seqInWindow(-7, start, 12)).toBe(false);
    // window straddling 2^31
    expect(seqInWindow(I32_MIN, I32_MAX, 2)).toBe(true);
    expect(seqInWindow(I32_MIN + 1, I32_MAX, 2)).toBe(false);
    expect(seqInWindow(I32_MAX - 1, I32_MAX, 2)).toBe(false);
  });
});

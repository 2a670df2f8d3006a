// iperf3's quantities as its units.c and printf print them (the expected strings are stock
// iperf3's own output for the same values).
import { describe, expect, it } from 'vitest';
import { formatBytes, formatRate, unitText } from './units.ts';
import { percentG } from './iperf3-report.ts';

describe('iperf3 units', () => {
  it('transfers in 1024s with four places at most', () => {
    expect(formatBytes(1.12 * 2 ** 30)).toBe('1.12 GBytes');
    expect(formatBytes(981 * 2 ** 20)).toBe(' 981 MBytes');
    expect(formatBytes(131072)).toBe(' 128 KBytes');
    expect(formatBytes(96 * 1024)).toBe('96.0 KBytes');
    expect(formatBytes(0)).toBe('0.00 Bytes');
    expect(formatBytes(1023 * 1024)).toBe('1023 KBytes');
  });

  it('rates in 1000s of bits, adaptive or in the unit -f names', () => {
    expect(formatRate(9.53e9)).toBe('9.53 Gbits/sec');
    expect(formatRate(18.7e9)).toBe('18.7 Gbits/sec');
    expect(formatRate(787e3)).toBe(' 787 Kbits/sec');
    expect(formatRate(15185e6, 'm')).toBe('15185 Mbits/sec');
    expect(formatRate(8e9, 'G')).toBe('0.93 GBytes/sec');
    expect(formatRate(8e6, 'k')).toBe('8000 Kbits/sec');
    expect(unitText(1.5 * 2 ** 20, 'A')).toBe('1.50 MByte');
  });

  it('loss percentages as %.2g', () => {
    expect(percentG(0)).toBe('0');
    expect(percentG(1.234)).toBe('1.2');
    expect(percentG(12.34)).toBe('12');
    expect(percentG(100)).toBe('1e+02');
    expect(percentG(0.0123)).toBe('0.012');
    expect(percentG(0.0000123)).toBe('1.2e-05');
  });
});

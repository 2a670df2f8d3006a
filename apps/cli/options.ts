// Option parsers the `wsk` commands share: a bad value is commander's error with the allowed range.
import { InvalidArgumentError } from 'commander';

export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`);
    return n;
  };
}

/** "100M", "1.5G", "64K" with iperf3's units: K/M/G are 1000s for rates, 1024s for sizes. */
export function withUnits(kilo: number): (value: string) => number {
  return (value) => {
    const m = /^(\d+(?:\.\d+)?)([kmgKMG]?)$/.exec(value);
    if (!m) throw new InvalidArgumentError('must be a number with an optional K, M or G suffix, e.g. 100M.');
    const power = { '': 0, k: 1, m: 2, g: 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
    return Math.round(Number(m[1]) * kilo ** power);
  };
}

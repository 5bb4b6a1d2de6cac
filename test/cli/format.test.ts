import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCount, groupDigits } from '../../dist/cli/format.js';

describe('groupDigits', () => {
  it('groups like toLocaleString("en-US") for every safe integer', () => {
    fc.assert(fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (n) => groupDigits(n) === n.toLocaleString('en-US')));
    for (const n of [0, 7, 999, 1000, 999_999, 1_000_000, -1000]) expect(groupDigits(n)).toBe(n.toLocaleString('en-US'));
  });

  it('counts with a plural noun', () => {
    expect(formatCount(1, 'file')).toBe('1 file');
    expect(formatCount(200000, 'file')).toBe('200,000 files');
  });
});

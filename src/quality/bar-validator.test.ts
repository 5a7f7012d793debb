import { describe, expect, it } from 'vitest';
import type { CandidateBar } from '../core/records.ts';
import { BarValidator } from './bar-validator.ts';

const DAY = 86_400_000;
const bar = (day: number, close: number, extra: Partial<CandidateBar> = {}): CandidateBar => ({
  symbol: 'X',
  interval: '1d',
  ts: day * DAY,
  open: close,
  high: close * 1.01,
  low: close * 0.99,
  close,
  volume: 10,
  adjClose: null,
  source: 't',
  payload: `${day},${close}`,
  ...extra,
});

describe('BarValidator', () => {
  const now = () => 100 * DAY;
  it('keeps the first of conflicting duplicates across batches, counts exact repeats', () => {
    const v = new BarValidator({ from: 0, to: 50 * DAY, now });
    expect(v.validate([bar(1, 10), bar(2, 10)]).valid).toHaveLength(2);
    const r = v.validate([bar(2, 10), bar(2, 11)]);
    expect(r.valid).toEqual([]);
    expect(r.duplicates).toBe(1);
    expect(r.rejected.map((q) => q.rule)).toEqual(['conflicting_duplicate']);
  });

  it('judges the price jump in time order, against a seeded previous close, and can be turned off', () => {
    const v = new BarValidator({ from: 0, to: 50 * DAY, now, maxJump: 0.5 });
    v.seedPreviousClose('X', '1d', 0, 10);
    const r = v.validate([bar(3, 10.5), bar(1, 16), bar(2, 10.2)]);
    expect(r.rejected.map((q) => [q.rule, q.payload])).toEqual([['price_jump', '1,16']]);
    expect(r.valid.map((b) => b.ts / DAY)).toEqual([2, 3]);
    const off = new BarValidator({ from: 0, to: 50 * DAY, now, maxJump: 0 });
    expect(off.validate([bar(1, 10), bar(2, 1000)]).valid).toHaveLength(2);
  });

  it('names the broken values in the message', () => {
    const v = new BarValidator({ from: 0, to: 50 * DAY, now });
    const r = v.validate([bar(1, 10, { high: 5 }), bar(60, 10), bar(200, 10)]);
    expect(r.rejected.map((q) => [q.rule, q.message])).toEqual([
      [
        'high_low_inconsistent',
        'X 1d: open 10, high 5, low 9.9, close 10: need low ≤ min(open, close) and max(open, close) ≤ high',
      ],
      [
        'out_of_range',
        'X 1d: ts 1970-03-02 is outside [1970-01-01T00:00:00.000Z, 1970-02-20T00:00:00.000Z)',
      ],
      [
        'future_timestamp',
        'X 1d: ts 1970-07-20T00:00:00.000Z is after now (1970-04-11T00:00:00.000Z)',
      ],
    ]);
  });
});

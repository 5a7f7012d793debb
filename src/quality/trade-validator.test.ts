import { describe, expect, it } from 'vitest';
import { seededRandom } from '../core/random.ts';
import type { CandidateTrade } from '../core/records.ts';
import {
  checkTrade,
  RollingMedian,
  type TradeQualityOptions,
  TradeValidator,
} from './trade-validator.ts';

const NOW = Date.UTC(2024, 0, 2, 15);
const opts = (o: Partial<TradeQualityOptions> = {}): TradeQualityOptions => ({
  subscribed: new Set(['AAPL']),
  allowedLatenessMs: 2_000,
  futureSkewMs: 1_000,
  dedupWindowMs: 60_000,
  outlier: { window: 5, band: 0.1, minSamples: 3 },
  now: () => NOW,
  ...o,
});
const trade = (
  ts: number,
  price = 100,
  size = 10,
  extra: Partial<CandidateTrade> = {},
): CandidateTrade => ({
  symbol: 'AAPL',
  ts,
  price,
  size,
  conditions: '',
  tradeId: '',
  source: 'test',
  payload: JSON.stringify({ s: 'AAPL', p: price, t: ts, v: size }),
  receivedAt: NOW,
  ...extra,
});
const T = NOW - 60_000;

describe('TradeValidator', () => {
  it('names the rule each bad trade breaks and keeps its payload', () => {
    const v = new TradeValidator(opts());
    const bad = [
      trade(T, Number.NaN),
      trade(T, 0),
      trade(T, 100, -1),
      trade(T, 100, Number.POSITIVE_INFINITY),
      trade(1.5),
      trade(NOW + 5_000),
      trade(T, 100, 10, { symbol: 'MSFT' }),
      trade(T, 100, 10, { symbol: '' }),
    ];
    const r = v.validate(bad);
    expect(r.valid).toEqual([]);
    expect(r.rejects.map((q) => q.rule)).toEqual([
      'not_finite',
      'non_positive_price',
      'negative_size',
      'not_finite',
      'bad_timestamp',
      'future_timestamp',
      'unsubscribed_symbol',
      'unsubscribed_symbol',
    ]);
    expect(r.rejects[0]!.payload).toBe(bad[0]!.payload);
    expect(r.rejects[6]!.message).toBe('MSFT was not subscribed');
  });

  it('drops exact duplicates (counted) but keeps trades that differ in any field', () => {
    const v = new TradeValidator(opts());
    const r = v.validate([
      trade(T),
      trade(T),
      trade(T, 100, 11),
      trade(T, 100, 10, { conditions: '12' }),
      trade(T + 1),
    ]);
    expect(r.duplicates).toBe(1);
    expect(r.valid.length).toBe(4);
    expect(new Set(r.valid.map((t) => t.tradeId)).size).toBe(4);
    // A redelivery in a later batch, even out of order, is still a duplicate.
    expect(v.validate([trade(T + 1), trade(T)]).duplicates).toBe(2);
  });

  it('quarantines a trade later than the allowed lateness behind its symbol’s newest trade', () => {
    const v = new TradeValidator(opts());
    const r = v.validate([trade(T + 10_000), trade(T + 8_000, 100.5), trade(T + 7_999, 100.6)]);
    expect(r.valid.map((t) => t.ts)).toEqual([T + 10_000, T + 8_000]);
    expect(r.rejects.map((q) => [q.rule, q.message])).toEqual([
      [
        'late_trade',
        `ts ${new Date(T + 7_999).toISOString()} is 2001 ms behind the newest AAPL trade; allowed lateness is 2000 ms`,
      ],
    ]);
    expect(v.watermark('AAPL')).toBe(T + 8_000);
  });

  it('quarantines a price outside the band around the rolling median, once the window has enough trades', () => {
    const v = new TradeValidator(opts());
    // Two trades are too few for the rule: a wild second price passes.
    expect(v.validate([trade(T, 100), trade(T + 1, 150)]).rejects).toEqual([]);
    const r = v.validate([
      trade(T + 2, 101),
      trade(T + 3, 99),
      trade(T + 4, 89), // median of 100,150,101,99 = 100.5: 89 is 11 % below
      trade(T + 5, 110),
      trade(T + 6, 100),
    ]);
    expect(r.rejects.map((q) => [q.rule, JSON.parse(q.payload).p])).toEqual([
      ['price_outlier', 89],
    ]);
    expect(r.valid.map((t) => t.price)).toEqual([101, 99, 110, 100]);
  });
});

describe('RollingMedian', () => {
  it('is the median of the last n values, for windows odd and even, with repeats and jumps', () => {
    const rand = seededRandom(5);
    for (const size of [1, 2, 3, 7, 50]) {
      const m = new RollingMedian(size);
      const all: number[] = [];
      for (let i = 0; i < 2_000; i++) {
        // A walk with repeated values and now and then a jump far up or down.
        const last = all[all.length - 1] ?? 100;
        const r = rand();
        const x =
          r < 0.05
            ? last * 3
            : r < 0.1
              ? last / 3
              : r < 0.3
                ? last
                : last + Math.round((rand() - 0.5) * 8) / 4;
        m.push(x);
        all.push(x);
        const window = all.slice(-size).sort((a, b) => a - b);
        const k = window.length;
        const want = k % 2 ? window[k >> 1]! : (window[(k >> 1) - 1]! + window[k >> 1]!) / 2;
        expect(m.median()).toBe(want);
        expect(m.count).toBe(k);
      }
      expect(m.values()).toEqual(all.slice(-size));
    }
  });
});

describe('TradeValidator over runs of one symbol', () => {
  it('gives a batch the verdicts it gives the same trades one at a time', () => {
    // Runs of one symbol (as the log's chunks deliver them) with every kind of bad record mixed
    // in: bad symbols, unsubscribed ones, oversized conditions, duplicates, late and outlier
    // prices, conditions that change within a run.
    const rand = seededRandom(11);
    const symbols = ['AAPL', 'MSFT', 'NOPE', 'bad symbol', ''];
    const batch: CandidateTrade[] = [];
    let ts = T - 600_000;
    for (let run = 0; run < 300; run++) {
      const symbol = symbols[Math.floor(rand() * symbols.length)]!;
      for (let k = Math.floor(rand() * 8); k >= 0; k--) {
        ts += rand() < 0.01 ? -3_000 : Math.floor(rand() * 400) - 50; // now and then late
        const c = rand();
        const t = trade(
          rand() < 0.01 ? NOW + 60_000 : ts,
          rand() < 0.05 ? 150 : 100 + rand(),
          1 + Math.floor(rand() * 3),
          { symbol, conditions: c < 0.05 ? 'x'.repeat(300) : c < 0.4 ? '1,12' : '' },
        );
        batch.push(t);
        if (rand() < 0.1) batch.push({ ...t });
      }
    }
    const o = opts({ subscribed: new Set(['AAPL', 'MSFT', 'bad symbol']) });
    const whole = new TradeValidator(o).validate(batch.map((t) => ({ ...t })));
    const single = new TradeValidator(o);
    const one = { valid: [] as CandidateTrade[], rules: [] as string[], duplicates: 0 };
    for (const t of batch) {
      const r = single.validate([{ ...t }]);
      one.valid.push(...r.valid);
      one.rules.push(...r.rejects.map((q) => `${q.rule}:${q.symbol}`));
      one.duplicates += r.duplicates;
    }
    expect([...new Set(one.rules.map((r) => r.split(':')[0]))].sort()).toEqual([
      'bad_symbol',
      'future_timestamp',
      'late_trade',
      'oversized_field',
      'price_outlier',
      'unsubscribed_symbol',
    ]);
    expect(whole.rejects.map((q) => `${q.rule}:${q.symbol}`)).toEqual(one.rules);
    // The single-trade rules come first, in checkTrade's order, whatever the symbol's state.
    const alone = new Set(['future_timestamp', 'bad_symbol', 'oversized_field', 'not_finite']);
    expect(whole.rejects.filter((q) => alone.has(q.rule)).map((q) => q.rule)).toEqual(
      batch.map((t) => checkTrade(t, NOW + 1_000)?.rule).filter((r) => r && alone.has(r)),
    );
    expect(whole.valid).toEqual(one.valid);
    expect(whole.duplicates).toBe(one.duplicates);
    expect(one.duplicates).toBeGreaterThan(0);
  });
});

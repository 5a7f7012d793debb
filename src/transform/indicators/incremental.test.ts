import { describe, expect, it } from 'vitest';
import { ENRICHED_COLUMNS, enrichSeries } from '../enrich.ts';
import { IncrementalIndicators } from './incremental.ts';

/** A seeded random walk with highs and lows around the close. */
function walk(n: number, seed = 7): { high: Float64Array; low: Float64Array; close: Float64Array } {
  let s = seed;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const close = new Float64Array(n);
  const high = new Float64Array(n);
  const low = new Float64Array(n);
  let p = 100;
  for (let i = 0; i < n; i++) {
    p *= 1 + (rand() - 0.5) * 0.02;
    close[i] = p;
    high[i] = p * (1 + rand() * 0.01);
    low[i] = p * (1 - rand() * 0.01);
  }
  return { high, low, close };
}

describe('IncrementalIndicators', () => {
  it('equals the batch kernels bar by bar, to 1e-9 relative, NaN exactly where the batch is NaN', () => {
    const s = walk(5_000);
    const batch = enrichSeries(s);
    const inc = new IncrementalIndicators();
    for (let i = 0; i < s.close.length; i++) {
      const v = inc.update(s.high[i]!, s.low[i]!, s.close[i]!);
      for (const c of ENRICHED_COLUMNS) {
        const want = batch[c][i]!;
        const got = v[c];
        if (Number.isNaN(want)) expect(got, `${c}[${i}]`).toBeNaN();
        else expect(Math.abs(got - want), `${c}[${i}]`).toBeLessThanOrEqual(1e-9 * Math.abs(want));
      }
      // The EMAs and what is built on them (MACD: a small difference of two large values, where
      // relative error is amplified) run the batch kernel's arithmetic: equal to the bit.
      for (const c of ['ema_12', 'ema_26', 'macd', 'macd_signal', 'macd_hist'] as const)
        expect(v[c], `${c}[${i}]`).toBe(batch[c][i]!);
    }
  });

  it('gives RSI 50 and ATR 0 for a flat series, like the batch kernels', () => {
    const inc = new IncrementalIndicators();
    let v = inc.update(10, 10, 10);
    for (let i = 0; i < 30; i++) v = inc.update(10, 10, 10);
    expect(v.rsi_14).toBe(50);
    expect(v.atr_14).toBe(0);
    expect(v.bb_upper).toBe(10);
  });
});

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
  it('equals the batch kernels bar by bar, to the bit, past their re-sums (4096 and 1024 bars)', () => {
    const s = walk(10_000);
    // A flat stretch, where the Bollinger variance is summed afresh bar by bar.
    s.close.fill(s.close[6_000]!, 6_000, 6_100);
    s.high.fill(s.close[6_000]!, 6_000, 6_100);
    s.low.fill(s.close[6_000]!, 6_000, 6_100);
    const batch = enrichSeries(s);
    const inc = new IncrementalIndicators();
    const wrong: string[] = [];
    for (let i = 0; i < s.close.length; i++) {
      const v = inc.update(s.high[i]!, s.low[i]!, s.close[i]!);
      for (const c of ENRICHED_COLUMNS)
        if (!Object.is(v[c], batch[c][i]!)) wrong.push(`${c}[${i}] ${v[c]} ≠ ${batch[c][i]}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('goes on from a copy as the original does', () => {
    const s = walk(6_000, 3);
    const batch = enrichSeries(s);
    let inc = new IncrementalIndicators();
    const copies: [number, IncrementalIndicators][] = [];
    for (let i = 0; i < s.close.length; i++) {
      inc.push(s.high[i]!, s.low[i]!, s.close[i]!);
      if (i % 997 === 0) copies.push([i + 1, inc.clone()]);
    }
    for (const [from, copy] of copies) {
      inc = copy;
      for (let i = from; i < s.close.length; i++) {
        inc.push(s.high[i]!, s.low[i]!, s.close[i]!);
        for (const c of ENRICHED_COLUMNS) expect(inc.last[c], `${c}[${i}]`).toBe(batch[c][i]!);
      }
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

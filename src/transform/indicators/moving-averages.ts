/**
 * Moving averages over Float64Array. Outputs have the input's length; a
 * position is NaN until its window is full (TA-Lib's lookback).
 */

/** Simple moving average over `n` values, with a compensated running sum. */
export function sma(x: Float64Array, n: number): Float64Array {
  checkPeriod(n);
  const len = x.length;
  const out = new Float64Array(len).fill(Number.NaN);
  if (len < n) return out;
  let sum = 0;
  let comp = 0;
  for (let i = 0; i < n; i++) {
    const y = x[i]! - comp;
    const t = sum + y;
    comp = t - sum - y;
    sum = t;
  }
  out[n - 1] = sum / n;
  for (let i = n; i < len; i++) {
    // Add the new value and drop the oldest in one compensated step.
    const y = x[i]! - x[i - n]! - comp;
    const t = sum + y;
    comp = t - sum - y;
    sum = t;
    out[i] = sum / n;
  }
  return out;
}

/** First index from which `n` consecutive finite values start, or -1. */
export function firstFullWindow(x: Float64Array, n: number): number {
  let run = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]!)) {
      run++;
      if (run === n) return i - n + 1;
    } else run = 0;
  }
  return -1;
}

/**
 * Exponential moving average, k = 2 / (n + 1), seeded with the SMA of the
 * first `n` finite values (TA-Lib convention). Leading NaNs are skipped, so it
 * can run over another indicator's output (MACD's signal line).
 */
export function ema(x: Float64Array, n: number): Float64Array {
  checkPeriod(n);
  const len = x.length;
  const out = new Float64Array(len).fill(Number.NaN);
  const start = firstFullWindow(x, n);
  if (start < 0) return out;
  let seed = 0;
  for (let i = start; i < start + n; i++) seed += x[i]!;
  let e = seed / n;
  out[start + n - 1] = e;
  const k = 2 / (n + 1);
  for (let i = start + n; i < len; i++) {
    e += k * (x[i]! - e);
    out[i] = e;
  }
  return out;
}

export function checkPeriod(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`period must be an integer ≥ 1, got ${n}`);
}

/**
 * Moving averages over Float64Array. Outputs have the input's length; a
 * position is NaN until its window is full (TA-Lib's lookback).
 */

/** The running sum is re-added exactly every this many steps, so rounding never drifts. */
const RESYNC = 4096;

/**
 * Simple moving average over `n` values: a running sum (one add per value)
 * that is recomputed exactly every 4096 steps, which keeps it within 1e-12 of
 * a fresh sum on any length of series.
 */
export function sma(
  x: Float64Array,
  n: number,
  out: Float64Array = new Float64Array(x.length),
): Float64Array {
  checkPeriod(n);
  const len = x.length;
  checkOut(out, len);
  out.fill(Number.NaN, 0, Math.min(n - 1, len));
  if (len < n) return out;
  const inv = 1 / n;
  let i = n - 1;
  while (i < len) {
    let sum = 0;
    for (let j = i - n + 1; j <= i; j++) sum += x[j]!;
    out[i] = sum * inv;
    const stop = Math.min(len, i + RESYNC);
    for (i = i + 1; i < stop; i++) {
      sum += x[i]! - x[i - n]!;
      out[i] = sum * inv;
    }
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
export function ema(
  x: Float64Array,
  n: number,
  out: Float64Array = new Float64Array(x.length),
): Float64Array {
  checkPeriod(n);
  const len = x.length;
  checkOut(out, len);
  const start = firstFullWindow(x, n);
  if (start < 0) return out.fill(Number.NaN);
  out.fill(Number.NaN, 0, start + n - 1);
  let seed = 0;
  for (let i = start; i < start + n; i++) seed += x[i]!;
  let e = seed / n;
  out[start + n - 1] = e;
  // e' = e + k(x − e), written as a·e + k·x so only one multiply-add sits on the dependency chain.
  const k = 2 / (n + 1);
  const a = 1 - k;
  for (let i = start + n; i < len; i++) {
    e = a * e + k * x[i]!;
    out[i] = e;
  }
  return out;
}

/** Every kernel takes an optional output buffer (for callers that reuse memory); it must fit. */
export function checkOut(out: Float64Array, len: number): void {
  if (out.length !== len)
    throw new RangeError(`output buffer has ${out.length} slots, input has ${len}`);
}

export function checkPeriod(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`period must be an integer ≥ 1, got ${n}`);
}

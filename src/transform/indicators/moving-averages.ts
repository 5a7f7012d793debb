/**
 * Moving averages over Float64Array. Outputs have the input's length; a
 * position is NaN until its window is full (TA-Lib's lookback).
 */

/** The running sum is re-added exactly every this many steps, so rounding never drifts. */
export const SMA_RESYNC = 4096;

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
    const stop = Math.min(len, i + SMA_RESYNC);
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
  // e' = e + k(x − e), written as a·e + k·x. Four steps at a time: each of the four values is
  // computed from the e before them (e₃ = a⁴e + k(a³x₀ + a²x₁ + ax₂ + x₃)), so one multiply-add
  // per four values sits on the dependency chain instead of one per value; the sums of inputs
  // are off the chain. (The same values to ~1e-16 relative as one step at a time; |a| < 1, so
  // rounding does not build up.)
  const { k, a, a2, a3, a4, ka, ka2, ka3 } = emaCoefficients(n);
  let i = start + n;
  for (; i + 3 < len; i += 4) {
    const x0 = x[i]!;
    const x1 = x[i + 1]!;
    const x2 = x[i + 2]!;
    const x3 = x[i + 3]!;
    out[i] = a * e + k * x0;
    out[i + 1] = a2 * e + (ka * x0 + k * x1);
    out[i + 2] = a3 * e + (ka2 * x0 + ka * x1 + k * x2);
    e = a4 * e + (ka3 * x0 + ka2 * x1 + (ka * x2 + k * x3));
    out[i + 3] = e;
  }
  // The last one to three values as a block's first ones: a value does not depend on how many
  // come after it (a series that grows gets the same values where it had them).
  if (i < len) out[i] = a * e + k * x[i]!;
  if (i + 1 < len) out[i + 1] = a2 * e + (ka * x[i]! + k * x[i + 1]!);
  if (i + 2 < len) out[i + 2] = a3 * e + (ka2 * x[i]! + ka * x[i + 1]! + k * x[i + 2]!);
  return out;
}

/**
 * The coefficients of EMA(n) four steps at a time (see `ema`): k = 2/(n+1),
 * a = 1 − k, its powers, and k times them. One place, so that the running EMA
 * of live series computes the batch kernel's values to the bit.
 */
export function emaCoefficients(n: number): BlockCoefficients {
  const k = 2 / (n + 1);
  return blockCoefficients(k, 1 - k);
}

/** The same for Wilder's smoothing of period n (ATR): k = 1/n, a = (n−1)/n. */
export function wilderCoefficients(n: number): BlockCoefficients {
  return blockCoefficients(1 / n, (n - 1) / n);
}

/** What `e' = a·e + k·x` needs to take four steps at once. */
export interface BlockCoefficients {
  k: number;
  a: number;
  a2: number;
  a3: number;
  a4: number;
  ka: number;
  ka2: number;
  ka3: number;
}

function blockCoefficients(k: number, a: number): BlockCoefficients {
  const a2 = a * a;
  const a3 = a2 * a;
  return { k, a, a2, a3, a4: a3 * a, ka: k * a, ka2: k * a2, ka3: k * a3 };
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

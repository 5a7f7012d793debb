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
  // e' = e + k(x − e), written as a·e + k·x. Four steps at a time: within a block the inputs'
  // part is summed up alone (y₀ = kx₀, yⱼ = a·yⱼ₋₁ + kxⱼ), which no block after waits for, and
  // each value is aʲ⁺¹·e + yⱼ from the e before the block, so one multiply-add per four values
  // sits on the dependency chain instead of one per value. (The same values to ~1e-16 relative
  // as one step at a time; |a| < 1, so rounding does not build up.)
  const { k, a, a2, a3, a4 } = emaCoefficients(n);
  let i = start + n;
  for (; i + 3 < len; i += 4) {
    const y0 = k * x[i]!;
    const y1 = a * y0 + k * x[i + 1]!;
    const y2 = a * y1 + k * x[i + 2]!;
    const y3 = a * y2 + k * x[i + 3]!;
    out[i] = a * e + y0;
    out[i + 1] = a2 * e + y1;
    out[i + 2] = a3 * e + y2;
    e = a4 * e + y3;
    out[i + 3] = e;
  }
  blockTail(out, i, e, emaCoefficients(n), (t) => x[t]!);
  return out;
}

/**
 * The last one to three values of a smoothing taken four steps at a time (`ema`, `atr`), from
 * index `i` to the end of `out`, as a block's first ones: a value does not depend on how many
 * come after it (a series that grows gets the same values where it had them). `e` is the value
 * before the block, `input(t)` the input at index t. (The blocks themselves are written out in
 * each kernel: a call per input there costs the loop its speed.)
 */
export function blockTail(
  out: Float64Array,
  i: number,
  e: number,
  c: BlockCoefficients,
  input: (t: number) => number,
): void {
  const powers = [c.a, c.a2, c.a3];
  let y = 0; // a·0 + kx is kx to the bit, as a block's first input part
  for (let j = 0; i + j < out.length; j++) {
    y = c.a * y + c.k * input(i + j);
    out[i + j] = powers[j]! * e + y;
  }
}

/**
 * The coefficients of EMA(n) four steps at a time (see `ema`): k = 2/(n+1),
 * a = 1 − k and its powers. One place, so that the running EMA of live series
 * computes the batch kernel's values to the bit.
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
}

function blockCoefficients(k: number, a: number): BlockCoefficients {
  const a2 = a * a;
  const a3 = a2 * a;
  return { k, a, a2, a3, a4: a3 * a };
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

/** Bollinger bands, ATR and returns over Float64Array. */
import { blockTail, checkOut, checkPeriod, sma, wilderCoefficients } from './moving-averages.ts';

export interface Bands {
  middle: Float64Array;
  upper: Float64Array;
  lower: Float64Array;
}

/** Rolling window variance is re-computed exactly every this many steps to stop drift. */
export const BB_RESYNC = 1024;

/**
 * Bollinger bands: middle = SMA(n), upper/lower = middle ± k·σ, σ the
 * population standard deviation of the window. The variance slides with a
 * Welford-style update and is re-computed exactly every 1024 steps, and for
 * any window so flat that σ < 1e-6 of its mean.
 */
export function bollinger(
  x: Float64Array,
  n = 20,
  k = 2,
  out: Bands = {
    middle: new Float64Array(x.length),
    upper: new Float64Array(x.length),
    lower: new Float64Array(x.length),
  },
): Bands {
  checkPeriod(n);
  const len = x.length;
  const middle = sma(x, n, out.middle);
  const { upper, lower } = out;
  checkOut(upper, len);
  checkOut(lower, len);
  upper.fill(Number.NaN, 0, Math.min(n - 1, len));
  lower.fill(Number.NaN, 0, Math.min(n - 1, len));
  if (len < n) return { middle, upper, lower };
  let mean = 0;
  let m2 = 0;
  const exact = (end: number): void => {
    mean = 0;
    for (let j = end - n + 1; j <= end; j++) mean += x[j]!;
    mean /= n;
    m2 = 0;
    for (let j = end - n + 1; j <= end; j++) {
      const d = x[j]! - mean;
      m2 += d * d;
    }
  };
  exact(n - 1);
  for (let i = n - 1; i < len; i++) {
    if (i > n - 1) {
      if ((i - n + 1) % BB_RESYNC === 0) exact(i);
      else {
        const xn = x[i]!;
        const xo = x[i - n]!;
        const newMean = mean + (xn - xo) / n;
        m2 += (xn - xo) * (xn - newMean + xo - mean);
        mean = newMean;
        // A nearly flat window (σ below 1e-6 of the mean): the square root magnifies what the
        // sliding update left of rounding, so this window is summed afresh.
        if (m2 < n * 1e-12 * mean * mean) exact(i);
      }
    }
    const sd = Math.sqrt(m2 / n);
    const mid = middle[i]!;
    upper[i] = mid + k * sd;
    lower[i] = mid - k * sd;
  }
  return { middle, upper, lower };
}

/**
 * Average True Range with Wilder smoothing. TR[i] = max(h−l, |h−c[i−1]|,
 * |l−c[i−1]|) from index 1; ATR[n] = mean(TR[1..n]); then
 * ATR[i] = (ATR[i−1]·(n−1) + TR[i]) / n (computed as multiply-adds four steps at a time;
 * rounding aside, the same).
 */
export function atr(
  high: Float64Array,
  low: Float64Array,
  close: Float64Array,
  n = 14,
  out: Float64Array = new Float64Array(close.length),
): Float64Array {
  checkPeriod(n);
  const len = close.length;
  checkOut(out, len);
  out.fill(Number.NaN, 0, Math.min(n, len));
  if (len <= n) return out;
  let a = 0;
  for (let i = 1; i <= n; i++) a += trueRange(high[i]!, low[i]!, close[i - 1]!);
  a /= n;
  out[n] = a;
  // a' = (a·(n−1) + tr)/n, computed as (n−1)/n · a + 1/n · tr, four steps at a time as `ema`
  // does (one multiply-add per four values on the dependency chain; the true ranges are off it).
  const { k, a: w, a2, a3, a4 } = wilderCoefficients(n);
  let pc = close[n]!;
  let i = n + 1;
  for (; i + 3 < len; i += 4) {
    const y0 = k * trueRange(high[i]!, low[i]!, pc);
    const y1 = w * y0 + k * trueRange(high[i + 1]!, low[i + 1]!, close[i]!);
    const y2 = w * y1 + k * trueRange(high[i + 2]!, low[i + 2]!, close[i + 1]!);
    const y3 = w * y2 + k * trueRange(high[i + 3]!, low[i + 3]!, close[i + 2]!);
    pc = close[i + 3]!;
    out[i] = w * a + y0;
    out[i + 1] = a2 * a + y1;
    out[i + 2] = a3 * a + y2;
    a = a4 * a + y3;
    out[i + 3] = a;
  }
  blockTail(out, i, a, wilderCoefficients(n), (t) => trueRange(high[t]!, low[t]!, close[t - 1]!));
  return out;
}

/**
 * True range max(h−l, |h−pc|, |l−pc|) without a branch (a branch on where the
 * previous close lies mispredicts on real series, and costs 3× here): for
 * h ≥ l it is (h−l) plus how far pc lies above h or below l. Exactly h−l when
 * pc is inside [l, h]; otherwise it differs from the max form by rounding only.
 */
export function trueRange(h: number, l: number, pc: number): number {
  const above = pc - h;
  const below = l - pc;
  return h - l + (Math.abs(above) + above + (Math.abs(below) + below)) * 0.5;
}

/** Simple return close[i] / close[i−1] − 1; NaN at index 0. */
export function simpleReturn(
  x: Float64Array,
  out: Float64Array = new Float64Array(x.length),
): Float64Array {
  checkOut(out, x.length);
  out[0] = Number.NaN;
  for (let i = 1; i < x.length; i++) out[i] = x[i]! / x[i - 1]! - 1;
  return out;
}

/** Bollinger bands, ATR and returns over Float64Array. */
import {
  blockTail,
  checkOut,
  checkPeriod,
  SMA_RESYNC,
  wilderCoefficients,
} from './moving-averages.ts';

export interface Bands {
  middle: Float64Array;
  upper: Float64Array;
  lower: Float64Array;
}

/**
 * The bands' running sums are re-centred and re-summed exactly at the same bars as `sma`'s (every
 * `SMA_RESYNC` steps), so rounding never builds up.
 */
export const BB_RESYNC = SMA_RESYNC;

/**
 * A window's variance from running sums of its deviations from a centre `c` (s1 = Σ(x − c),
 * s2 = Σ(x − c)²) loses digits to cancellation when σ is tiny beside the window's distance from
 * c; past this share of s2 the window is summed afresh (two passes) instead.
 */
const BB_CANCELLATION = 1e-8;

/**
 * The population variance of the `n` values ending at `end`, in two passes (mean first), for
 * windows where the running sums cancel. `mask` wraps a ring buffer's index (-1 for an array).
 */
export function windowVariance(x: Float64Array, end: number, n: number, mask: number): number {
  let mean = 0;
  for (let j = end - n + 1; j <= end; j++) mean += x[j & mask]!;
  mean /= n;
  let m2 = 0;
  for (let j = end - n + 1; j <= end; j++) {
    const d = x[j & mask]! - mean;
    m2 += d * d;
  }
  return m2 / n;
}

/**
 * The population variance of the window of `n` ending at `end`, from its running sums
 * s1 = Σ(x − c), s2 = Σ(x − c)² (1/n given as `inv`); summed afresh where they cancel.
 */
export function bandVariance(
  s1: number,
  s2: number,
  inv: number,
  x: Float64Array,
  end: number,
  n: number,
  mask: number,
): number {
  const m2 = s2 - s1 * s1 * inv;
  return m2 > s2 * BB_CANCELLATION ? m2 * inv : windowVariance(x, end, n, mask);
}

/**
 * Bollinger bands: middle = SMA(n), upper/lower = middle ± k·σ, σ the population standard
 * deviation of the window. One pass: the SMA's running sum (the same arithmetic as `sma`, so the
 * middle band is `sma`'s to the bit) beside running sums of the deviations from a centre and of
 * their squares. At each re-sum (every `BB_RESYNC` steps) the centre moves to the window's mean
 * and both sums are summed afresh; a window whose σ is so small beside its distance from the
 * centre that the sums cancel (a flat stretch) is summed afresh on its own.
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
  const { middle, upper, lower } = out;
  checkOut(middle, len);
  checkOut(upper, len);
  checkOut(lower, len);
  const lead = Math.min(n - 1, len);
  middle.fill(Number.NaN, 0, lead);
  upper.fill(Number.NaN, 0, lead);
  lower.fill(Number.NaN, 0, lead);
  const inv = 1 / n;
  let i = n - 1;
  while (i < len) {
    // A re-sum: the SMA's sum as `sma` takes it, the centre at the window's mean.
    let sum = 0;
    for (let j = i - n + 1; j <= i; j++) sum += x[j]!;
    const c = sum * inv;
    let s1 = 0;
    let s2 = 0;
    for (let j = i - n + 1; j <= i; j++) {
      const d = x[j]! - c;
      s1 += d;
      s2 += d * d;
    }
    middle[i] = c;
    let w = k * Math.sqrt(bandVariance(s1, s2, inv, x, i, n, -1));
    upper[i] = c + w;
    lower[i] = c - w;
    const stop = Math.min(len, i + BB_RESYNC);
    for (i = i + 1; i < stop; i++) {
      const xn = x[i]!;
      const xo = x[i - n]!;
      sum += xn - xo;
      const dn = xn - c;
      const dd = xo - c;
      s1 += dn - dd;
      s2 += dn * dn - dd * dd;
      const mid = sum * inv;
      middle[i] = mid;
      w = k * Math.sqrt(bandVariance(s1, s2, inv, x, i, n, -1));
      upper[i] = mid + w;
      lower[i] = mid - w;
    }
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

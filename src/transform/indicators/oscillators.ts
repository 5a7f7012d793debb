/** RSI and MACD over Float64Array (TA-Lib conventions, see README). */
import { checkOut, checkPeriod, ema } from './moving-averages.ts';

/**
 * Relative Strength Index with Wilder smoothing: the first average gain and
 * loss are simple means of the first `n` changes, then avg = (avg·(n−1) + x)/n,
 * computed as avg·((n−1)/n) + x·(1/n) so no division sits on the dependency
 * chain (it differs from the divided form by rounding only, ~1e-16).
 * First value at index n. A series with no change at all gives 50.
 */
export function rsi(
  x: Float64Array,
  n = 14,
  out: Float64Array = new Float64Array(x.length),
): Float64Array {
  checkPeriod(n);
  const len = x.length;
  checkOut(out, len);
  out.fill(Number.NaN, 0, Math.min(n, len));
  if (len <= n) return out;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i <= n; i++) {
    const d = x[i]! - x[i - 1]!;
    if (d > 0) gain += d;
    else loss -= d;
  }
  gain /= n;
  loss /= n;
  out[n] = rsiValue(gain, loss);
  const keep = (n - 1) / n;
  const half = 0.5 / n;
  let prev = x[n]!;
  for (let i = n + 1; i < len; i++) {
    const xi = x[i]!;
    const d = xi - prev;
    prev = xi;
    // The change split without a branch (up and down moves alternate unpredictably):
    // (|d| + d)/2 is exactly max(d, 0) and (|d| − d)/2 exactly max(−d, 0).
    const a = Math.abs(d);
    gain = gain * keep + (a + d) * half;
    loss = loss * keep + (a - d) * half;
    const total = gain + loss;
    out[i] = total === 0 ? 50 : (100 * gain) / total;
  }
  return out;
}

function rsiValue(gain: number, loss: number): number {
  const total = gain + loss;
  return total === 0 ? 50 : (100 * gain) / total;
}

export interface Macd {
  macd: Float64Array;
  signal: Float64Array;
  hist: Float64Array;
}

/**
 * MACD = EMA(fast) − EMA(slow), both seeded by their own SMA; the signal is
 * the EMA(signal) of MACD seeded by the SMA of its first `signal` values;
 * hist = MACD − signal. One pass over the input with the three EMAs side by
 * side (no intermediate arrays); the same values (but for the last bits:
 * ema() takes four steps at a time) as
 * `macdFrom(ema(x, fast), ema(x, slow), signal)`, which it falls back to when
 * the series starts with non-finite values or fast ≥ slow.
 */
export function macd(
  x: Float64Array,
  fast = 12,
  slow = 26,
  signal = 9,
  out: Macd = {
    macd: new Float64Array(x.length),
    signal: new Float64Array(x.length),
    hist: new Float64Array(x.length),
  },
): Macd {
  checkPeriod(fast);
  checkPeriod(slow);
  checkPeriod(signal);
  const len = x.length;
  if (fast >= slow || !finitePrefix(x, Math.min(len, slow + signal - 1)) || len < slow)
    return macdFrom(ema(x, fast), ema(x, slow), signal, out);
  const { macd: m, signal: sg, hist } = out;
  checkOut(m, len);
  checkOut(sg, len);
  checkOut(hist, len);
  const sigStart = slow + signal - 2; // first index of the signal line
  m.fill(Number.NaN, 0, slow - 1);
  sg.fill(Number.NaN, 0, Math.min(sigStart, len));
  hist.fill(Number.NaN, 0, Math.min(sigStart, len));
  const kf = 2 / (fast + 1);
  const af = 1 - kf;
  const ks = 2 / (slow + 1);
  const as = 1 - ks;
  const kg = 2 / (signal + 1);
  const ag = 1 - kg;
  // Seeds: the SMA of the first `fast` / `slow` values, summed in the order ema() sums them.
  let ef = 0;
  for (let i = 0; i < fast; i++) ef += x[i]!;
  ef /= fast;
  for (let i = fast; i < slow; i++) ef = af * ef + kf * x[i]!;
  let es = 0;
  for (let i = 0; i < slow; i++) es += x[i]!;
  es /= slow;
  m[slow - 1] = ef - es;
  // Until the signal line is seeded: the MACD line only, summing the signal's seed.
  const seedEnd = Math.min(sigStart + 1, len);
  let seed = ef - es;
  for (let i = slow; i < seedEnd; i++) {
    const xi = x[i]!;
    ef = af * ef + kf * xi;
    es = as * es + ks * xi;
    const mi = ef - es;
    m[i] = mi;
    seed += mi;
  }
  if (sigStart >= len) return out;
  let g = seed / signal;
  sg[sigStart] = g;
  hist[sigStart] = m[sigStart]! - g;
  for (let i = sigStart + 1; i < len; i++) {
    const xi = x[i]!;
    ef = af * ef + kf * xi;
    es = as * es + ks * xi;
    const mi = ef - es;
    g = ag * g + kg * mi;
    m[i] = mi;
    sg[i] = g;
    hist[i] = mi - g;
  }
  return out;
}

/** Whether x[0..end) are all finite. */
function finitePrefix(x: Float64Array, end: number): boolean {
  for (let i = 0; i < end; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
}

/** MACD from already computed fast and slow EMAs. */
export function macdFrom(
  f: Float64Array,
  s: Float64Array,
  signal = 9,
  out: Macd = {
    macd: new Float64Array(f.length),
    signal: new Float64Array(f.length),
    hist: new Float64Array(f.length),
  },
): Macd {
  const len = f.length;
  const m = out.macd;
  checkOut(m, len);
  checkOut(out.hist, len);
  for (let i = 0; i < len; i++) m[i] = f[i]! - s[i]!;
  const sig = ema(m, signal, out.signal);
  const hist = out.hist;
  for (let i = 0; i < len; i++) hist[i] = m[i]! - sig[i]!;
  return { macd: m, signal: sig, hist };
}

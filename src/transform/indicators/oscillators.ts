/** RSI and MACD over Float64Array (TA-Lib conventions, see README). */
import { checkOut, checkPeriod, ema } from './moving-averages.ts';

/**
 * Relative Strength Index with Wilder smoothing: the first average gain and
 * loss are simple means of the first `n` changes, then avg = (avg·(n−1) + x)/n.
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
  const m = n - 1;
  for (let i = n + 1; i < len; i++) {
    const d = x[i]! - x[i - 1]!;
    gain = (gain * m + Math.max(d, 0)) / n;
    loss = (loss * m + (d < 0 ? -d : 0)) / n;
    out[i] = rsiValue(gain, loss);
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
 * hist = MACD − signal.
 */
export function macd(x: Float64Array, fast = 12, slow = 26, signal = 9): Macd {
  return macdFrom(ema(x, fast), ema(x, slow), signal);
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

/**
 * The curated indicators updated one bar at a time, for live series: the
 * same definitions (and the same values, to rounding) as the batch kernels
 * that `enrichSeries` runs over a whole series.
 */
import type { EnrichedColumn } from '../enrich.ts';
import { emaCoefficients } from './moving-averages.ts';
import { trueRange } from './volatility.ts';

/**
 * EMA seeded with the SMA of its first `n` finite inputs (TA-Lib convention), as `ema()`, and
 * with its arithmetic: after the seed, values come in blocks of four, each computed from the EMA
 * before its block, so every value is the batch kernel's to the bit.
 */
class RunningEma {
  readonly #n: number;
  readonly #c: ReturnType<typeof emaCoefficients>;
  #seedSum = 0;
  #seen = 0;
  #value = Number.NaN;
  /** Values since the seed; the EMA before the current block, and the block's inputs so far. */
  #steps = 0;
  #base = Number.NaN;
  #x0 = 0;
  #x1 = 0;
  #x2 = 0;
  constructor(n: number) {
    this.#n = n;
    this.#c = emaCoefficients(n);
  }
  /** Feeds one value (NaN is skipped while seeding, as leading NaNs are in the batch kernel). */
  push(x: number): number {
    if (this.#seen < this.#n) {
      if (!Number.isFinite(x)) return Number.NaN;
      this.#seedSum += x;
      this.#seen++;
      if (this.#seen === this.#n) this.#value = this.#seedSum / this.#n;
      return this.#value;
    }
    const { k, a, a2, a3, a4, ka, ka2, ka3 } = this.#c;
    const e = this.#base;
    switch (this.#steps++ & 3) {
      case 0:
        this.#base = this.#value;
        this.#x0 = x;
        this.#value = a * this.#value + k * x;
        break;
      case 1:
        this.#x1 = x;
        this.#value = a2 * e + (ka * this.#x0 + k * x);
        break;
      case 2:
        this.#x2 = x;
        this.#value = a3 * e + (ka2 * this.#x0 + ka * this.#x1 + k * x);
        break;
      default:
        this.#value = a4 * e + (ka3 * this.#x0 + ka2 * this.#x1 + (ka * this.#x2 + k * x));
    }
    return this.#value;
  }
}

/** Wilder smoothing: the mean of the first `n` inputs, then avg = (avg·(n−1) + x)/n. */
class Wilder {
  readonly #n: number;
  #sum = 0;
  #seen = 0;
  value = Number.NaN;
  constructor(n: number) {
    this.#n = n;
  }
  push(x: number): number {
    if (this.#seen < this.#n) {
      this.#sum += x;
      this.#seen++;
      if (this.#seen === this.#n) this.value = this.#sum / this.#n;
      return this.value;
    }
    // The batch kernels' form: avg·((n−1)/n) + x·(1/n).
    this.value = this.value * ((this.#n - 1) / this.#n) + x * (1 / this.#n);
    return this.value;
  }
}

/** The stored indicator columns of one bar (bb_middle = sma_20, macd_hist = macd − signal). */
export type IndicatorValues = Record<EnrichedColumn, number>;

/** Longest window kept: SMA 200. */
const KEEP = 200;

export class IncrementalIndicators {
  readonly #closes = new Float64Array(KEEP);
  #count = 0;
  #prevClose = Number.NaN;
  readonly #ema12 = new RunningEma(12);
  readonly #ema26 = new RunningEma(26);
  readonly #signal = new RunningEma(9);
  readonly #gain = new Wilder(14);
  readonly #loss = new Wilder(14);
  readonly #atr = new Wilder(14);

  /** Bars fed so far. */
  get count(): number {
    return this.#count;
  }

  /** Feeds the next bar of the series (in ts order) and returns its indicator values. */
  update(high: number, low: number, close: number): IndicatorValues {
    this.#closes[this.#count % KEEP] = close;
    this.#count++;
    const sma20 = this.#mean(20);
    const e12 = this.#ema12.push(close);
    const e26 = this.#ema26.push(close);
    const macd = e12 - e26;
    const signal = this.#signal.push(macd);
    let rsi = Number.NaN;
    let atr = Number.NaN;
    let ret = Number.NaN;
    const pc = this.#prevClose;
    if (this.#count > 1) {
      const d = close - pc;
      const g = this.#gain.push(Math.max(d, 0));
      const l = this.#loss.push(d < 0 ? -d : 0);
      if (Number.isFinite(g)) rsi = g + l === 0 ? 50 : (100 * g) / (g + l);
      atr = this.#atr.push(trueRange(high, low, pc));
      ret = close / pc - 1;
    }
    this.#prevClose = close;
    const sd = this.#stdev(20, sma20);
    return {
      sma_20: sma20,
      sma_50: this.#mean(50),
      sma_200: this.#mean(200),
      ema_12: e12,
      ema_26: e26,
      macd,
      macd_signal: signal,
      macd_hist: macd - signal,
      rsi_14: rsi,
      bb_middle: sma20,
      bb_upper: sma20 + 2 * sd,
      bb_lower: sma20 - 2 * sd,
      atr_14: atr,
      return_1: ret,
    };
  }

  /** Mean of the last n closes, summed afresh (n ≤ 200 adds per bar; no drift to manage). */
  #mean(n: number): number {
    if (this.#count < n) return Number.NaN;
    let sum = 0;
    for (let j = this.#count - n; j < this.#count; j++) sum += this.#closes[j % KEEP]!;
    return sum / n;
  }

  /** Population standard deviation of the last n closes around `mean`. */
  #stdev(n: number, mean: number): number {
    if (this.#count < n) return Number.NaN;
    let m2 = 0;
    for (let j = this.#count - n; j < this.#count; j++) {
      const d = this.#closes[j % KEEP]! - mean;
      m2 += d * d;
    }
    return Math.sqrt(m2 / n);
  }
}

/**
 * The curated indicators updated one bar at a time, for live series and for
 * curated refreshes that go on from the last stored bar: the same values, to
 * the bit, as the batch kernels that `enrichSeries` runs over a whole series.
 */
import type { EnrichedColumn } from '../enrich.ts';
import {
  type BlockCoefficients,
  emaCoefficients,
  SMA_RESYNC,
  wilderCoefficients,
} from './moving-averages.ts';
import { BB_RESYNC, bandVariance, trueRange } from './volatility.ts';

/**
 * An exponential smoothing e' = a·e + k·x seeded with the mean of its first `n` inputs: EMA (as
 * `ema()`: leading NaNs skipped while seeding) or Wilder's (as `atr`), and with the batch
 * kernels' arithmetic: after the seed, values come in blocks of four, each computed from the
 * value before its block, so every value is the batch kernel's to the bit.
 */
class RunningSmoothing {
  readonly #n: number;
  readonly #c: BlockCoefficients;
  readonly #skipNonFinite: boolean;
  #seedSum = 0;
  #seen = 0;
  #value = Number.NaN;
  /** Values since the seed; the value before the current block, and its inputs' part so far. */
  #steps = 0;
  #base = Number.NaN;
  #y = 0;
  constructor(n: number, kind: 'ema' | 'wilder') {
    this.#n = n;
    this.#c = kind === 'ema' ? emaCoefficients(n) : wilderCoefficients(n);
    this.#skipNonFinite = kind === 'ema';
  }
  /** Feeds one value (an EMA skips NaN while seeding, as `ema()` skips leading NaNs). */
  push(x: number): number {
    if (this.#seen < this.#n) {
      if (this.#skipNonFinite && !Number.isFinite(x)) return Number.NaN;
      this.#seedSum += x;
      this.#seen++;
      if (this.#seen === this.#n) this.#value = this.#seedSum / this.#n;
      return this.#value;
    }
    const { k, a, a2, a3, a4 } = this.#c;
    switch (this.#steps++ & 3) {
      case 0:
        this.#base = this.#value;
        this.#y = k * x;
        this.#value = a * this.#base + this.#y;
        break;
      case 1:
        this.#y = a * this.#y + k * x;
        this.#value = a2 * this.#base + this.#y;
        break;
      case 2:
        this.#y = a * this.#y + k * x;
        this.#value = a3 * this.#base + this.#y;
        break;
      default:
        this.#y = a * this.#y + k * x;
        this.#value = a4 * this.#base + this.#y;
    }
    return this.#value;
  }
  clone(): RunningSmoothing {
    const e = new RunningSmoothing(this.#n, this.#skipNonFinite ? 'ema' : 'wilder');
    e.#seedSum = this.#seedSum;
    e.#seen = this.#seen;
    e.#value = this.#value;
    e.#steps = this.#steps;
    e.#base = this.#base;
    e.#y = this.#y;
    return e;
  }
}

/** The last closes, enough for the longest window (SMA 200) and the one before it. */
const KEEP = 256;
const MASK = KEEP - 1;

/** The stored indicator columns of one bar (bb_middle = sma_20, macd_hist = macd − signal). */
export type IndicatorValues = Record<EnrichedColumn, number>;

/**
 * Every curated indicator of one series, one bar at a time, with the batch
 * kernels' arithmetic step for step (the same running sums re-summed at the
 * same bars, the same blocks of four for the EMAs and Wilder's smoothing), so
 * each value is `enrichSeries`' to the bit. A copy (`clone`) carries on from
 * where this one is: what a curated refresh keeps to go on from the last bar
 * it stored instead of reading the whole series again.
 */
export class IncrementalIndicators {
  #closes = new Float64Array(KEEP);
  #count = 0;
  #prevClose = Number.NaN;
  /** Running sums of the SMAs 20, 50 and 200 (batch `sma`). */
  #sum20 = 0;
  #sum50 = 0;
  #sum200 = 0;
  /** The Bollinger window's centre and running sums of deviations from it, and of their squares. */
  #bbCentre = 0;
  #bbS1 = 0;
  #bbS2 = 0;
  #ema12 = new RunningSmoothing(12, 'ema');
  #ema26 = new RunningSmoothing(26, 'ema');
  #signal = new RunningSmoothing(9, 'ema');
  /** RSI's average gain and loss (batch `rsi`). */
  #gain = 0;
  #loss = 0;
  #atr = new RunningSmoothing(14, 'wilder');
  /** The values of the last bar fed. */
  readonly last = {} as IndicatorValues;

  /** Bars fed so far. */
  get count(): number {
    return this.#count;
  }

  /** Feeds the next bar of the series (in ts order) and returns its indicator values (a new object). */
  update(high: number, low: number, close: number): IndicatorValues {
    this.push(high, low, close);
    return { ...this.last };
  }

  /** Feeds the next bar; its values are in `last` (the same object every time). */
  push(high: number, low: number, close: number): void {
    const i = this.#count;
    this.#closes[i & MASK] = close;
    this.#count++;
    const v = this.last;
    const sma20 = this.#sma(20, i, this.#sum20);
    v.sma_20 = sma20;
    v.sma_50 = this.#sma(50, i, this.#sum50);
    v.sma_200 = this.#sma(200, i, this.#sum200);
    v.bb_middle = sma20;
    const sd = this.#bbStdev(i, sma20);
    v.bb_upper = sma20 + 2 * sd;
    v.bb_lower = sma20 - 2 * sd;
    const e12 = this.#ema12.push(close);
    const e26 = this.#ema26.push(close);
    const macd = e12 - e26;
    const signal = this.#signal.push(macd);
    v.ema_12 = e12;
    v.ema_26 = e26;
    v.macd = macd;
    v.macd_signal = signal;
    v.macd_hist = macd - signal;
    v.rsi_14 = this.#rsi(i, close);
    const pc = this.#prevClose;
    v.atr_14 = i > 0 ? this.#atr.push(trueRange(high, low, pc)) : Number.NaN;
    v.return_1 = i > 0 ? close / pc - 1 : Number.NaN;
    this.#prevClose = close;
  }

  /** A copy that goes on independently from here. */
  clone(): IncrementalIndicators {
    const c = new IncrementalIndicators();
    c.#closes = this.#closes.slice();
    c.#count = this.#count;
    c.#prevClose = this.#prevClose;
    c.#sum20 = this.#sum20;
    c.#sum50 = this.#sum50;
    c.#sum200 = this.#sum200;
    c.#bbCentre = this.#bbCentre;
    c.#bbS1 = this.#bbS1;
    c.#bbS2 = this.#bbS2;
    c.#ema12 = this.#ema12.clone();
    c.#ema26 = this.#ema26.clone();
    c.#signal = this.#signal.clone();
    c.#gain = this.#gain;
    c.#loss = this.#loss;
    c.#atr = this.#atr.clone();
    Object.assign(c.last, this.last);
    return c;
  }

  #x(j: number): number {
    return this.#closes[j & MASK]!;
  }

  /** SMA(n) at bar i from its running sum `sum` (stored back): summed afresh every 4096 bars. */
  #sma(n: 20 | 50 | 200, i: number, sum: number): number {
    if (i < n - 1) return Number.NaN;
    if ((i - (n - 1)) % SMA_RESYNC === 0) {
      sum = 0;
      for (let j = i - n + 1; j <= i; j++) sum += this.#x(j);
    } else sum += this.#x(i) - this.#x(i - n);
    if (n === 20) this.#sum20 = sum;
    else if (n === 50) this.#sum50 = sum;
    else this.#sum200 = sum;
    return sum * (1 / n);
  }

  /**
   * The population σ of the 20 closes to bar i (whose mean is `mean`), as `bollinger` slides it:
   * re-centred on the mean and re-summed at the SMA's re-sums, summed afresh where the sums cancel.
   */
  #bbStdev(i: number, mean: number): number {
    const n = 20;
    const inv = 1 / n;
    if (i < n - 1) return Number.NaN;
    if ((i - n + 1) % BB_RESYNC === 0) {
      let s1 = 0;
      let s2 = 0;
      for (let j = i - n + 1; j <= i; j++) {
        const d = this.#x(j) - mean;
        s1 += d;
        s2 += d * d;
      }
      this.#bbCentre = mean;
      this.#bbS1 = s1;
      this.#bbS2 = s2;
    } else {
      const c = this.#bbCentre;
      const dn = this.#x(i) - c;
      const dd = this.#x(i - n) - c;
      this.#bbS1 += dn - dd;
      this.#bbS2 += dn * dn - dd * dd;
    }
    return Math.sqrt(bandVariance(this.#bbS1, this.#bbS2, inv, this.#closes, i, n, MASK));
  }

  /** RSI(14) at bar i, as `rsi`: the first averages are means of 14 changes, then Wilder's. */
  #rsi(i: number, close: number): number {
    const n = 14;
    if (i === 0) return Number.NaN;
    const d = close - this.#prevClose;
    if (i <= n) {
      if (d > 0) this.#gain += d;
      else this.#loss -= d;
      if (i < n) return Number.NaN;
      this.#gain /= n;
      this.#loss /= n;
    } else {
      const a = Math.abs(d);
      this.#gain = this.#gain * ((n - 1) / n) + (a + d) * (0.5 / n);
      this.#loss = this.#loss * ((n - 1) / n) + (a - d) * (0.5 / n);
    }
    const total = this.#gain + this.#loss;
    return total === 0 ? 50 : (100 * this.#gain) / total;
  }
}

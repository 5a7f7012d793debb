/**
 * Indicators over a long series of closes: tickline's kernels vs the npm
 * packages a user would pick instead (technicalindicators, trading-signals).
 * Reported in values/s (input values processed per second).
 */
import * as TI from 'technicalindicators';
import * as TS from 'trading-signals';
import { atr, bollinger, ema, macd, rsi, sma } from '../src/transform/indicators/index.ts';

export interface IndicatorRow {
  indicator: string;
  /** A new output array per call. */
  tickline: number;
  /** Output buffers allocated once and reused, as a pipeline does. */
  ticklineReused: number;
  technicalindicators: number;
  tradingSignals: number;
}

function series(n: number): { c: Float64Array; h: Float64Array; l: Float64Array } {
  const c = new Float64Array(n);
  const h = new Float64Array(n);
  const l = new Float64Array(n);
  let p = 100;
  let s = 42;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    p *= 1 + (s / 2147483647 - 0.5) * 0.02;
    c[i] = p;
    h[i] = p * 1.005;
    l[i] = p * 0.995;
  }
  return { c, h, l };
}

/**
 * Best of `runs` timings, in values per second. Each measurement starts from a collected heap
 * (with `--expose-gc`, as `npm run bench` runs): the garbage of the one before (80 MB arrays,
 * the libraries' arrays of numbers) is not freed by the collector's threads while it runs.
 */
function rate(n: number, runs: number, fn: () => unknown): number {
  (globalThis as { gc?: () => void }).gc?.();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return n / (best / 1000);
}

export function benchIndicators(n: number, nLib: number): IndicatorRow[] {
  const big = series(n);
  const small = series(nLib);
  const arr = Array.from(small.c);
  const hl = Array.from(small.c, (c, i) => ({ high: small.h[i]!, low: small.l[i]!, close: c }));
  const tsRun = (make: () => { add(x: never): unknown }, inputs: unknown[]) => () => {
    const ind = make();
    for (const x of inputs) ind.add(x as never);
  };
  const rows: IndicatorRow[] = [];
  const o1 = new Float64Array(n);
  const o2 = new Float64Array(n);
  const o3 = new Float64Array(n);
  const add = (
    indicator: string,
    ours: () => unknown,
    reused: () => unknown,
    ti: () => unknown,
    ts: () => unknown,
  ): void => {
    rows.push({
      indicator,
      tickline: rate(n, 5, ours),
      ticklineReused: rate(n, 5, reused),
      technicalindicators: rate(nLib, 3, ti),
      tradingSignals: rate(nLib, 3, ts),
    });
  };
  add(
    'SMA(50)',
    () => sma(big.c, 50),
    () => sma(big.c, 50, o1),
    () => TI.SMA.calculate({ period: 50, values: arr }),
    tsRun(() => new TS.SMA(50), arr),
  );
  add(
    'EMA(12)',
    () => ema(big.c, 12),
    () => ema(big.c, 12, o1),
    () => TI.EMA.calculate({ period: 12, values: arr }),
    tsRun(() => new TS.EMA(12), arr),
  );
  add(
    'RSI(14)',
    () => rsi(big.c, 14),
    () => rsi(big.c, 14, o1),
    () => TI.RSI.calculate({ period: 14, values: arr }),
    tsRun(() => new TS.RSI(14), arr),
  );
  add(
    'MACD(12,26,9)',
    () => macd(big.c),
    () => macd(big.c, 12, 26, 9, { macd: o1, signal: o2, hist: o3 }),
    () =>
      TI.MACD.calculate({
        values: arr,
        fastPeriod: 12,
        slowPeriod: 26,
        signalPeriod: 9,
        SimpleMAOscillator: false,
        SimpleMASignal: false,
      }),
    tsRun(() => new TS.MACD(new TS.EMA(12), new TS.EMA(26), new TS.EMA(9)), arr),
  );
  add(
    'Bollinger(20,2)',
    () => bollinger(big.c, 20, 2),
    () => bollinger(big.c, 20, 2, { middle: o1, upper: o2, lower: o3 }),
    () => TI.BollingerBands.calculate({ period: 20, stdDev: 2, values: arr }),
    tsRun(() => new TS.BollingerBands(20, 2), arr),
  );
  add(
    'ATR(14)',
    () => atr(big.h, big.l, big.c, 14),
    () => atr(big.h, big.l, big.c, 14, o1),
    () =>
      TI.ATR.calculate({
        period: 14,
        high: Array.from(small.h),
        low: Array.from(small.l),
        close: arr,
      }),
    tsRun(() => new TS.ATR(14), hl),
  );
  return rows;
}

/**
 * The reference for a kernel that reads one array and writes one (EMA): copying `n` values, by a
 * plain loop, by the same loop four values at a time, and by `TypedArray.set` (memcpy). Values/s,
 * best of 7.
 */
export function copyReference(n: number): { loop: number; loop4: number; set: number } {
  const x = new Float64Array(n).map((_, i) => i * 1.5);
  const out = new Float64Array(n);
  const loop = (): void => {
    for (let i = 0; i < n; i++) out[i] = x[i]!;
  };
  const loop4 = (): void => {
    let i = 0;
    for (; i + 3 < n; i += 4) {
      const a = x[i]!;
      const b = x[i + 1]!;
      const c = x[i + 2]!;
      const d = x[i + 3]!;
      out[i] = a;
      out[i + 1] = b;
      out[i + 2] = c;
      out[i + 3] = d;
    }
    for (; i < n; i++) out[i] = x[i]!;
  };
  return { loop: rate(n, 7, loop), loop4: rate(n, 7, loop4), set: rate(n, 7, () => out.set(x)) };
}

/**
 * The floor of a kernel with one new output: allocating a Float64Array of `n` and writing every
 * slot once (the page faults of fresh memory are most of it), values/s, best of 7.
 */
export function newArrayReference(n: number): number {
  return rate(n, 7, () => new Float64Array(n).fill(1));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // node --expose-gc --import tsx bench/indicators.bench.ts [n=10M] [n for the libraries=1M]
  const n = Number(process.argv[2] ?? 10_000_000);
  const nLib = Number(process.argv[3] ?? 1_000_000);
  const m = (x: number): string => `${(x / 1e6).toFixed(0)}M`;
  for (const r of benchIndicators(n, nLib)) {
    console.log(
      `${r.indicator}: new output ${m(r.tickline)}/s, reused ${m(r.ticklineReused)}/s; technicalindicators ${m(r.technicalindicators)}/s (${(r.tickline / r.technicalindicators).toFixed(0)}×), trading-signals ${m(r.tradingSignals)}/s (${(r.tickline / r.tradingSignals).toFixed(0)}×)`,
    );
  }
  const copy = copyReference(n);
  console.log(
    `references at ${n}: a new Float64Array written once ${m(newArrayReference(n))}/s; copying into a reused one: loop ${m(copy.loop)}/s, TypedArray.set ${m(copy.set)}/s`,
  );
}

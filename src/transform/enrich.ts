/** The curated layer's indicator columns for one (symbol, interval) series in ts order. */
import { atr, bollinger, ema, macdFrom, rsi, simpleReturn, sma } from './indicators/index.ts';

export const ENRICHED_COLUMNS = [
  'sma_20',
  'sma_50',
  'sma_200',
  'ema_12',
  'ema_26',
  'macd',
  'macd_signal',
  'macd_hist',
  'rsi_14',
  'bb_middle',
  'bb_upper',
  'bb_lower',
  'atr_14',
  'return_1',
] as const;
export type EnrichedColumn = (typeof ENRICHED_COLUMNS)[number];

export interface Series {
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
}

/**
 * Computes every indicator column; NaN where the window is not yet full.
 * Columns given in `out` (each as long as the series) are written in place
 * instead of allocated; bb_middle is the same array as sma_20.
 */
export function enrichSeries(
  s: Series,
  out: Partial<Record<EnrichedColumn, Float64Array>> = {},
): Record<EnrichedColumn, Float64Array> {
  const len = s.close.length;
  const o = (c: EnrichedColumn): Float64Array => out[c] ?? new Float64Array(len);
  const e12 = ema(s.close, 12, o('ema_12'));
  const e26 = ema(s.close, 26, o('ema_26'));
  const m = macdFrom(e12, e26, 9, {
    macd: o('macd'),
    signal: o('macd_signal'),
    hist: o('macd_hist'),
  });
  const bb = bollinger(s.close, 20, 2, {
    middle: o('sma_20'),
    upper: o('bb_upper'),
    lower: o('bb_lower'),
  });
  return {
    sma_20: bb.middle,
    sma_50: sma(s.close, 50, o('sma_50')),
    sma_200: sma(s.close, 200, o('sma_200')),
    ema_12: e12,
    ema_26: e26,
    macd: m.macd,
    macd_signal: m.signal,
    macd_hist: m.hist,
    rsi_14: rsi(s.close, 14, o('rsi_14')),
    bb_middle: bb.middle,
    bb_upper: bb.upper,
    bb_lower: bb.lower,
    atr_14: atr(s.high, s.low, s.close, 14, o('atr_14')),
    return_1: simpleReturn(s.close, o('return_1')),
  };
}

/**
 * The columns the curated table stores: bb_middle (= sma_20) and macd_hist
 * (= macd − macd_signal) are derived by the `bars_enriched` view.
 */
export const STORED_COLUMNS = ENRICHED_COLUMNS.filter(
  (c) => c !== 'bb_middle' && c !== 'macd_hist',
);

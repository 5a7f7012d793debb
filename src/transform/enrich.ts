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

/** Computes every indicator column; NaN where the window is not yet full. */
export function enrichSeries(s: Series): Record<EnrichedColumn, Float64Array> {
  const e12 = ema(s.close, 12);
  const e26 = ema(s.close, 26);
  const m = macdFrom(e12, e26, 9);
  const bb = bollinger(s.close, 20, 2);
  return {
    sma_20: bb.middle,
    sma_50: sma(s.close, 50),
    sma_200: sma(s.close, 200),
    ema_12: e12,
    ema_26: e26,
    macd: m.macd,
    macd_signal: m.signal,
    macd_hist: m.hist,
    rsi_14: rsi(s.close, 14),
    bb_middle: bb.middle,
    bb_upper: bb.upper,
    bb_lower: bb.lower,
    atr_14: atr(s.high, s.low, s.close, 14),
    return_1: simpleReturn(s.close),
  };
}

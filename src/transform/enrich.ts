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
export type StoredColumn = Exclude<EnrichedColumn, 'bb_middle' | 'macd_hist'>;
export const STORED_COLUMNS = ENRICHED_COLUMNS.filter(
  (c): c is StoredColumn => c !== 'bb_middle' && c !== 'macd_hist',
);

/** The stored columns an enriched column is read from, and how (the derived ones computed). */
export function storedFor(c: EnrichedColumn): StoredColumn[] {
  if (c === 'bb_middle') return ['sma_20'];
  if (c === 'macd_hist') return ['macd', 'macd_signal'];
  return [c];
}

/** An enriched column from the stored ones it derives from (NaN stays NaN). */
export function deriveColumn(
  c: EnrichedColumn,
  stored: Readonly<Record<string, Float64Array>>,
  rows: number,
): Float64Array {
  if (c === 'bb_middle') return stored.sma_20!;
  if (c !== 'macd_hist') return stored[c]!;
  const m = stored.macd!;
  const s = stored.macd_signal!;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = m[i]! - s[i]!;
  return out;
}

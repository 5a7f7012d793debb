/**
 * The curate step: the indicator rows of one series from its bars, through
 * the batch kernels (`enrichSeries`) or bar by bar through
 * `IncrementalIndicators` (the same values to the bit) where the state after
 * the last bar is to be kept, so the next refresh goes on from there instead
 * of reading the whole series again. Store-neutral: the bars come from, and
 * the rows go to, any store driver.
 */
import type { IndicatorRows, SeriesKey } from '../store/store.ts';
import { enrichSeries, STORED_COLUMNS } from './enrich.ts';
import { IncrementalIndicators } from './indicators/incremental.ts';

/** A series' curated indicators after its bar at `ts`. */
export interface CuratedState {
  ts: number;
  indicators: IncrementalIndicators;
}

export interface CurateInput {
  ts: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
}

export interface Curated {
  /** The rows to store: from `from` on (the input's bars at or after it). */
  rows: IndicatorRows;
  /** The state after the last bar, when one was kept. */
  state?: CuratedState;
}

/**
 * Indicator rows of `series` from its bars `bars` (every bar after `resume`'s when given, else
 * the whole series). Rows before `from` are computed but not returned; `resume` is not changed
 * (a copy goes on), so a refresh that fails leaves it as it was.
 */
export function curateSeries(
  series: SeriesKey,
  bars: CurateInput,
  opts: { from: number | null; resume?: CuratedState; keepState: boolean },
): Curated {
  const { ts, high, low, close } = bars;
  const n = ts.length;
  const from = opts.resume ? opts.resume.ts + 1 : opts.from;
  let first = 0;
  if (from !== null) while (first < n && ts[first]! < from) first++;
  const keep = n - first;
  let columns: Float64Array[];
  const ind = opts.resume
    ? opts.resume.indicators.clone()
    : opts.keepState
      ? new IncrementalIndicators()
      : null;
  if (ind) {
    columns = STORED_COLUMNS.map(() => new Float64Array(keep));
    const v = ind.last;
    for (let i = 0; i < n; i++) {
      ind.push(high[i]!, low[i]!, close[i]!);
      const at = i - first;
      if (at >= 0) for (let c = 0; c < columns.length; c++) columns[c]![at] = v[STORED_COLUMNS[c]!];
    }
  } else {
    const all = enrichSeries({ high, low, close });
    columns = STORED_COLUMNS.map((c) => all[c].subarray(first));
  }
  const rows: IndicatorRows = {
    symbol: series.symbol,
    interval: series.interval,
    from,
    ts: ts.subarray(first),
    columns,
  };
  if (ind && n > 0) return { rows, state: { ts: ts[n - 1]!, indicators: ind } };
  if (opts.resume) return { rows, state: opts.resume };
  return { rows };
}

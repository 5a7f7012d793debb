/**
 * Materialises the indicator columns behind the `bars_enriched` view: reads
 * each affected series' bars in ts order as typed arrays, runs the indicator
 * kernels, and replaces the series' rows in `bar_indicators` by appending
 * whole columns (NaN marks a window that is not full; the view shows NULL).
 * A series given with `from` has its rows replaced only from that ts on:
 * every value is recomputed from the whole series (the state of an EMA is
 * its history), but those before `from` are the same, to the bit, as stored.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { type EnrichedColumn, enrichSeries, STORED_COLUMNS } from '../../transform/enrich.ts';
import type { SeriesKey } from '../store.ts';
import { appendColumns, readColumns } from './duckdb-columns.ts';

/** A series to refresh: whole (`from` null), or its rows from `from` (epoch ms) on. */
export interface CuratedSeries extends SeriesKey {
  from: number | null;
}

export async function refreshCurated(
  conn: DuckDBConnection,
  series: readonly CuratedSeries[],
): Promise<void> {
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE curated_keys (symbol VARCHAR, interval VARCHAR, from_ms DOUBLE);`);
  const keys = await conn.createAppender('curated_keys', 'main', 'temp');
  const unique = new Map(series.map((s) => [`${s.symbol}\u0000${s.interval}`, s]));
  for (const s of unique.values()) {
    keys.appendVarchar(s.symbol);
    keys.appendVarchar(s.interval);
    if (s.from === null) keys.appendNull();
    else keys.appendDouble(s.from);
    keys.endRow();
  }
  keys.closeSync();
  // Give new series an id, then drop the old indicator rows of every affected series.
  await conn.run(`
    INSERT INTO series
      SELECT (SELECT coalesce(max(id), -1) FROM series) + row_number() OVER (ORDER BY k.symbol, k.interval),
        k.symbol, k.interval
      FROM curated_keys k ANTI JOIN series s ON s.symbol = k.symbol AND s.interval = k.interval;
    CREATE OR REPLACE TEMP TABLE curated_ids AS
      SELECT s.id, s.symbol, s.interval, coalesce(k.from_ms, -1e300) AS from_ms
      FROM series s JOIN curated_keys k ON s.symbol = k.symbol AND s.interval = k.interval;
    DELETE FROM bar_indicators i USING curated_ids k
      WHERE i.series_id = k.id AND epoch_ms(i.ts) >= k.from_ms;`);
  const { columns, rowCount: n } = await readColumns(
    conn,
    `SELECT k.id, epoch_ms(b.ts)::DOUBLE, b.high, b.low, b.close, k.from_ms
     FROM bars b JOIN curated_ids k ON b.symbol = k.symbol AND b.interval = k.interval
     ORDER BY k.id, b.ts`,
    ['i32', 'f64', 'f64', 'f64', 'f64', 'f64'],
  );
  const [key, ts, high, low, close, fromMs] = columns as [
    Int32Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  // Each series' indicators are written straight into its slice of the stored columns.
  const out = STORED_COLUMNS.map(() => new Float64Array(n));
  let hist = new Float64Array(0); // macd_hist is derived by the view; computed into scratch
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && key[end] === key[start]) end++;
    if (hist.length < end - start) hist = new Float64Array(end - start);
    const views: Partial<Record<EnrichedColumn, Float64Array>> = {
      macd_hist: hist.subarray(0, end - start),
    };
    STORED_COLUMNS.forEach((c, k) => {
      views[c] = out[k]!.subarray(start, end);
    });
    enrichSeries(
      {
        high: high.subarray(start, end),
        low: low.subarray(start, end),
        close: close.subarray(start, end),
      },
      views,
    );
    start = end;
  }
  // Only the rows at or after each series' `from` are written: moved to the front, in order.
  let kept = 0;
  for (let i = 0; i < n; i++) {
    if (ts[i]! < fromMs[i]!) continue;
    if (kept !== i) {
      key[kept] = key[i]!;
      ts[kept] = ts[i]!;
      for (const col of out) col[kept] = col[i]!;
    }
    kept++;
  }
  const micros = new BigInt64Array(kept);
  for (let i = 0; i < kept; i++) micros[i] = BigInt(ts[i]!) * 1000n;
  const a = await conn.createAppender('bar_indicators');
  appendColumns(a, [key, micros, ...out], kept);
  a.closeSync();
}

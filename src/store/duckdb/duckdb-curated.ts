/**
 * Materialises the indicator columns behind the `bars_enriched` view: reads
 * each series' bars in ts order, runs the indicator kernels and replaces the
 * series' rows in `bar_indicators` through the Appender.
 */
import { type DuckDBConnection, DuckDBTimestampValue } from '@duckdb/node-api';
import { ENRICHED_COLUMNS, enrichSeries } from '../../transform/enrich.ts';
import type { SeriesKey } from '../store.ts';

export async function refreshCurated(
  conn: DuckDBConnection,
  series: readonly SeriesKey[],
): Promise<void> {
  await conn.run('CREATE TEMP TABLE IF NOT EXISTS curated_keys (symbol VARCHAR, interval VARCHAR)');
  await conn.run('DELETE FROM curated_keys');
  const keys = await conn.createAppender('curated_keys', 'main', 'temp');
  const unique = new Map(series.map((s) => [`${s.symbol}\u0000${s.interval}`, s]));
  for (const s of unique.values()) {
    keys.appendVarchar(s.symbol);
    keys.appendVarchar(s.interval);
    keys.endRow();
  }
  keys.closeSync();
  await conn.run(`DELETE FROM bar_indicators i USING curated_keys k
    WHERE i.symbol = k.symbol AND i.interval = k.interval`);
  const reader = await conn.runAndReadAll(`
    SELECT b.symbol, b.interval, epoch_ms(b.ts)::DOUBLE AS ts, b.high, b.low, b.close
    FROM bars b JOIN curated_keys k ON b.symbol = k.symbol AND b.interval = k.interval
    ORDER BY b.symbol, b.interval, b.ts`);
  const cols = reader.getColumns();
  const sym = cols[0] as string[];
  const iv = cols[1] as string[];
  const ts = Float64Array.from(cols[2] as number[]);
  const high = Float64Array.from(cols[3] as number[]);
  const low = Float64Array.from(cols[4] as number[]);
  const close = Float64Array.from(cols[5] as number[]);
  const a = await conn.createAppender('bar_indicators');
  const n = ts.length;
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && sym[end] === sym[start] && iv[end] === iv[start]) end++;
    const out = enrichSeries({
      high: high.subarray(start, end),
      low: low.subarray(start, end),
      close: close.subarray(start, end),
    });
    const columns = ENRICHED_COLUMNS.map((c) => out[c]);
    const symbol = sym[start]!;
    const interval = iv[start]!;
    for (let i = 0; i < end - start; i++) {
      a.appendVarchar(symbol);
      a.appendVarchar(interval);
      a.appendTimestamp(new DuckDBTimestampValue(BigInt(ts[start + i]!) * 1000n));
      for (const col of columns) {
        const v = col[i]!;
        if (Number.isNaN(v)) a.appendNull();
        else a.appendDouble(v);
      }
      a.endRow();
    }
    start = end;
  }
  a.closeSync();
}

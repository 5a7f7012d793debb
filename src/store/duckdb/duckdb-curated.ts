/**
 * Materialises the indicator columns behind the `bars_enriched` view: reads
 * each affected series' bars in ts order as typed arrays, runs the indicator
 * kernels, and replaces the series' rows in `bar_indicators` through the
 * columnar bulk path.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { ENRICHED_COLUMNS, enrichSeries } from '../../transform/enrich.ts';
import type { SeriesKey } from '../store.ts';
import { appendColumns, readColumns as readTyped } from './duckdb-columns.ts';

const STAGE_COLUMNS = ENRICHED_COLUMNS.map((c) => `${c} DOUBLE`).join(', ');
const NULL_IF_NAN = ENRICHED_COLUMNS.map(
  (c) => `CASE WHEN isnan(s.${c}) THEN NULL ELSE s.${c} END`,
).join(', ');

export async function refreshCurated(
  conn: DuckDBConnection,
  series: readonly SeriesKey[],
): Promise<void> {
  await conn.run(`
    CREATE TEMP TABLE IF NOT EXISTS curated_keys (id INTEGER, symbol VARCHAR, interval VARCHAR);
    CREATE TEMP TABLE IF NOT EXISTS curated_stage (key INTEGER, ts_ms DOUBLE, ${STAGE_COLUMNS});
    DELETE FROM curated_keys; DELETE FROM curated_stage;`);
  const keys = await conn.createAppender('curated_keys', 'main', 'temp');
  const unique = new Map(series.map((s) => [`${s.symbol}\u0000${s.interval}`, s]));
  let id = 0;
  for (const s of unique.values()) {
    keys.appendInteger(id++);
    keys.appendVarchar(s.symbol);
    keys.appendVarchar(s.interval);
    keys.endRow();
  }
  keys.closeSync();
  await conn.run(`DELETE FROM bar_indicators i USING curated_keys k
    WHERE i.symbol = k.symbol AND i.interval = k.interval`);
  const { columns, rowCount: n } = await readColumns(conn);
  const [key, ts, high, low, close] = columns as [
    Int32Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const out = ENRICHED_COLUMNS.map(() => new Float64Array(n));
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && key[end] === key[start]) end++;
    const e = enrichSeries({
      high: high.subarray(start, end),
      low: low.subarray(start, end),
      close: close.subarray(start, end),
    });
    ENRICHED_COLUMNS.forEach((c, k) => {
      out[k]!.set(e[c], start);
    });
    start = end;
  }
  const a = await conn.createAppender('curated_stage', 'main', 'temp');
  appendColumns(a, [key, ts, ...out], n);
  a.closeSync();
  await conn.run(`INSERT INTO bar_indicators
    SELECT k.symbol, k.interval, epoch_ms(s.ts_ms::BIGINT), ${NULL_IF_NAN}
    FROM curated_stage s JOIN curated_keys k ON k.id = s.key`);
  await conn.run('DELETE FROM curated_stage');
}

function readColumns(conn: DuckDBConnection) {
  return readTyped(
    conn,
    `SELECT k.id, epoch_ms(b.ts)::DOUBLE, b.high, b.low, b.close
     FROM bars b JOIN curated_keys k ON b.symbol = k.symbol AND b.interval = k.interval
     ORDER BY k.id, b.ts`,
    ['i32', 'f64', 'f64', 'f64', 'f64'],
  );
}

/**
 * The curated rows behind the `bars_enriched` view: `writeIndicators`
 * replaces each given series' rows in `bar_indicators` from its `from` on
 * (all of them when null) by appending whole columns (NaN marks a window
 * that is not full; the view shows NULL). Series get small integer ids in
 * `series` so the rows append column-wise.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { IndicatorRows } from '../store.ts';
import { appendColumns } from './duckdb-columns.ts';

export async function writeIndicators(
  conn: DuckDBConnection,
  parts: readonly IndicatorRows[],
): Promise<void> {
  const unique = new Map(parts.map((s) => [`${s.symbol}\u0000${s.interval}`, s]));
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE curated_keys (symbol VARCHAR, interval VARCHAR, from_ms DOUBLE);`);
  const keys = await conn.createAppender('curated_keys', 'main', 'temp');
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
      SELECT s.id, s.symbol, s.interval, epoch_ms(k.from_ms::BIGINT) AS from_ts
      FROM series s JOIN curated_keys k ON s.symbol = k.symbol AND s.interval = k.interval;
    DELETE FROM bar_indicators i USING curated_ids k
      WHERE i.series_id = k.id AND (k.from_ts IS NULL OR i.ts >= k.from_ts)
        -- The oldest row any series loses, as a constant the scan can skip row groups by.
        AND i.ts >= (SELECT CASE WHEN count(*) = count(from_ts) THEN min(from_ts)
                      ELSE '-infinity'::TIMESTAMP END FROM curated_ids);`);
  const ids = new Map(
    (await (await conn.run('SELECT id, symbol, interval FROM curated_ids')).getRowObjects()).map(
      (r) => [`${r.symbol}\u0000${r.interval}`, Number(r.id)],
    ),
  );
  // Every series' rows in one set of columns, appended in full chunks: a live refresh touches
  // many series with a few new rows each, and a chunk per series cost a chunk's set-up each.
  let rows = 0;
  for (const p of unique.values()) rows += p.ts.length;
  if (rows === 0) return;
  const width = unique.values().next().value!.columns.length;
  const id = new Int32Array(rows);
  const micros = new BigInt64Array(rows);
  const columns = Array.from({ length: width }, () => new Float64Array(rows));
  let at = 0;
  for (const [key, p] of unique) {
    const n = p.ts.length;
    id.fill(ids.get(key)!, at, at + n);
    for (let i = 0; i < n; i++) micros[at + i] = BigInt(p.ts[i]!) * 1000n;
    for (let k = 0; k < width; k++) columns[k]!.set(p.columns[k]!, at);
    at += n;
  }
  const a = await conn.createAppender('bar_indicators');
  appendColumns(a, [id, micros, ...columns], rows);
  a.closeSync();
}

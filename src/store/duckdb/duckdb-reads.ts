/**
 * The DuckDB store's reads beyond bar columns: trades as columns, the series
 * listing, and the optional batched reads (the last bar before a time for
 * many keys at once, many whole series for a curated refresh).
 */
import { DuckDBTimestampValue, listValue } from '@duckdb/node-api';
import type { Bar } from '../../core/records.ts';
import type { Interval } from '../../core/time.ts';
import {
  type BarColumnSet,
  barColumnNames,
  type SeriesKey,
  type SeriesPrices,
  type SeriesStatus,
  type TradeColumnSet,
  type TradeQuery,
} from '../store.ts';
import { readColumns } from './duckdb-columns.ts';
import { BAR_READ_SQL } from './duckdb-schema.ts';
import type { DuckDBSession } from './duckdb-session.ts';

/** Appends keyed rows (an index, symbol, interval, and maybe a ts) to a fresh temp table. */
async function keysTable(
  db: DuckDBSession,
  name: string,
  keys: readonly (SeriesKey & { ts?: number })[],
): Promise<void> {
  const withTs = keys.some((k) => k.ts !== undefined);
  await db.run(
    `CREATE OR REPLACE TEMP TABLE ${name} (idx INTEGER, symbol VARCHAR, interval VARCHAR${withTs ? ', ts TIMESTAMP' : ''})`,
  );
  const a = await db.conn.createAppender(name, 'main', 'temp');
  keys.forEach((k, i) => {
    a.appendInteger(i);
    a.appendVarchar(k.symbol);
    a.appendVarchar(k.interval);
    if (withTs) {
      const ts = Math.max(-8.64e15, Math.min(8.64e15, k.ts ?? 0));
      a.appendTimestamp(new DuckDBTimestampValue(BigInt(ts) * 1000n));
    }
    a.endRow();
  });
  a.closeSync();
}

/** Per key, the last stored bar of its series strictly before `ts` (one ASOF join). */
export async function lastBarsBefore(
  db: DuckDBSession,
  keys: readonly (SeriesKey & { ts: number })[],
): Promise<(Bar | null)[]> {
  await keysTable(db, 'last_keys', keys);
  const rows = await db.rows(`
    SELECT k.idx, b.symbol, b.interval, epoch_ms(b.ts) AS ts, b.open, b.high, b.low, b.close,
      b.volume, b.adj_close, b.source, b.vwap, b.trade_count, b.backfilled
    FROM last_keys k ASOF JOIN bars b ON k.symbol = b.symbol AND k.interval = b.interval AND k.ts > b.ts`);
  const out: (Bar | null)[] = keys.map(() => null);
  for (const r of rows) {
    out[Number(r.idx)] = {
      symbol: String(r.symbol),
      interval: r.interval as Interval,
      ts: Number(r.ts),
      open: Number(r.open),
      high: Number(r.high),
      low: Number(r.low),
      close: Number(r.close),
      volume: Number(r.volume),
      adjClose: r.adj_close === null ? null : Number(r.adj_close),
      source: String(r.source),
      ...(r.vwap === null ? {} : { vwap: Number(r.vwap) }),
      ...(r.trade_count === null ? {} : { tradeCount: Number(r.trade_count) }),
      ...(r.backfilled === true ? { backfilled: true } : {}),
    };
  }
  return out;
}

/** ts, high, low and close of every bar of these series, in one query. */
export async function readWholeSeries(
  db: DuckDBSession,
  series: readonly SeriesKey[],
): Promise<Map<string, SeriesPrices>> {
  await keysTable(db, 'whole_keys', series);
  const { columns, rowCount: n } = await readColumns(
    db.conn,
    `SELECT k.idx, epoch_ms(b.ts)::DOUBLE, b.high, b.low, b.close
     FROM bars b JOIN whole_keys k ON b.symbol = k.symbol AND b.interval = k.interval
     ORDER BY k.idx, b.ts`,
    ['i32', 'f64', 'f64', 'f64', 'f64'],
  );
  const [idx, ts, high, low, close] = columns as [
    Int32Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const out = new Map<string, SeriesPrices>();
  const empty = new Float64Array(0);
  for (const s of series) {
    out.set(`${s.symbol}\u0000${s.interval}`, { ts: empty, high: empty, low: empty, close: empty });
  }
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && idx[end] === idx[start]) end++;
    const s = series[idx[start]!]!;
    out.set(`${s.symbol}\u0000${s.interval}`, {
      ts: ts.subarray(start, end),
      high: high.subarray(start, end),
      low: low.subarray(start, end),
      close: close.subarray(start, end),
    });
    start = end;
  }
  return out;
}

export async function readTradeColumns(db: DuckDBSession, q: TradeQuery): Promise<TradeColumnSet> {
  {
    const rows = await db.rows(
      `SELECT epoch_ms(ts) AS ts, price, size, conditions, trade_id, source FROM trades
       WHERE symbol = ? AND ts >= epoch_ms(?::BIGINT) AND ts < epoch_ms(?::BIGINT)
         AND (ts, trade_id) > (epoch_ms(?::BIGINT), ?)
       ORDER BY ts, trade_id LIMIT ?`,
      [
        q.symbol,
        q.from ?? -6e13,
        q.to ?? 6e13,
        q.after?.ts ?? -6e13,
        q.after?.tradeId ?? '',
        q.limit ?? 1_000_000_000,
      ],
    );
    return {
      rows: rows.length,
      ts: Float64Array.from(rows, (r) => Number(r.ts)),
      price: Float64Array.from(rows, (r) => Number(r.price)),
      size: Float64Array.from(rows, (r) => Number(r.size)),
      conditions: rows.map((r) => String(r.conditions)),
      tradeId: rows.map((r) => String(r.trade_id)),
      source: rows.map((r) => String(r.source)),
    };
  }
}

export async function listSeries(db: DuckDBSession): Promise<SeriesStatus[]> {
  {
    const rows = await db.rows(`
      WITH b AS (
        SELECT symbol, interval, count(*) AS n, epoch_ms(min(ts)) AS first_ts, epoch_ms(max(ts)) AS last_ts
        FROM bars GROUP BY symbol, interval
        -- Trades are a row per symbol without an interval, beside the rejects without one.
        UNION ALL
        SELECT symbol, NULL, count(*), epoch_ms(min(ts)), epoch_ms(max(ts)) FROM trades GROUP BY symbol),
      q AS (SELECT symbol, interval, count(*) AS rejects FROM quarantine GROUP BY symbol, interval)
      SELECT coalesce(b.symbol, q.symbol) AS symbol, coalesce(b.interval, q.interval) AS interval,
        coalesce(b.n, 0) AS n, b.first_ts, b.last_ts, coalesce(q.rejects, 0) AS rejects
      FROM b FULL OUTER JOIN q
        ON b.symbol IS NOT DISTINCT FROM q.symbol AND b.interval IS NOT DISTINCT FROM q.interval
      ORDER BY symbol, interval`);
    return rows.map((r) => ({
      symbol: String(r.symbol ?? '(none)'),
      interval: (r.interval ?? '-') as Interval,
      rows: Number(r.n),
      firstTs: r.first_ts === null ? Number.NaN : Number(r.first_ts),
      lastTs: r.last_ts === null ? Number.NaN : Number(r.last_ts),
      rejects: Number(r.rejects),
    }));
  }
}

/**
 * Per key, every column of its series' bars from `ts` on, in ts order (as a full
 * `readBarColumns` from `ts` answers), in two statements for all keys: one for the sources in
 * range, one for the rows. Each set's source column indexes the one list of those sources.
 */
export async function readSeriesFrom(
  db: DuckDBSession,
  keys: readonly (SeriesKey & { ts: number })[],
): Promise<BarColumnSet[]> {
  await keysTable(db, 'from_keys', keys);
  const join = `FROM bars b JOIN from_keys k
    ON b.symbol = k.symbol AND b.interval = k.interval AND b.ts >= k.ts`;
  const sources = (await db.rows(`SELECT DISTINCT b.source AS s ${join} ORDER BY s`)).map((r) =>
    String(r.s),
  );
  const names = barColumnNames([], true);
  const B = BAR_READ_SQL;
  const { columns, rowCount: n } = await readColumns(
    db.conn,
    `SELECT k.idx, ${B.ts}, ${B.open}, ${B.high}, ${B.low}, ${B.close}, ${B.volume}, ${B.vwap},
       ${B.adj_close}, ${B.trade_count}, ${B.backfilled},
       coalesce(list_position($1::VARCHAR[], b.source) - 1, -1)::DOUBLE
     ${join} ORDER BY k.idx, b.ts`,
    ['i32', ...names.map(() => 'f64' as const)],
    [listValue(sources.length > 0 ? sources : [''])],
  );
  const idx = columns[0] as Int32Array;
  const out: BarColumnSet[] = keys.map(() => ({
    rows: 0,
    columns: Object.fromEntries(names.map((c) => [c, new Float64Array(0)])),
    sources,
  }));
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && idx[end] === idx[start]) end++;
    out[idx[start]!] = {
      rows: end - start,
      columns: Object.fromEntries(
        names.map((c, j) => [c, (columns[j + 1] as Float64Array).subarray(start, end)]),
      ),
      sources,
    };
    start = end;
  }
  return out;
}

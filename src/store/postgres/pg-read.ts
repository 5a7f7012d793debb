/**
 * The PostgreSQL store's reads. Bars and their curated indicators are two
 * range scans (staging.bars and warehouse.fact_bars, each by its primary key)
 * merged here by ts, so a read costs what its rows cost whatever the tables'
 * statistics say (a join planned on the statistics of a freshly loaded
 * partition can go quadratic).
 */
import type { StoredColumn } from '../../transform/enrich.ts';
import {
  type BarColumnSet,
  type BarQuery,
  barColumnNames,
  sourceColumn,
  type TradeColumnSet,
  type TradeQuery,
} from '../store.ts';
import { tsText } from './pg-copy.ts';
import type { PgSession } from './pg-session.ts';

/** Fills the indicator columns of `n` bars (ts in `columns.ts`, in either order) from fact_bars. */
async function mergeIndicators(
  db: PgSession,
  q: BarQuery,
  indicators: readonly StoredColumn[],
  columns: Record<string, Float64Array>,
  n: number,
): Promise<void> {
  const out = indicators.map((c) => {
    const col = new Float64Array(n).fill(Number.NaN);
    columns[c] = col;
    return col;
  });
  if (n === 0) return;
  const ts = columns.ts!;
  const lo = Math.min(ts[0]!, ts[n - 1]!);
  const hi = Math.max(ts[0]!, ts[n - 1]!);
  const rows = await db.arrays(
    `SELECT (extract(epoch FROM f.ts) * 1000)::float8, ${indicators.map((c) => `f.${c}`).join(', ')}
     FROM warehouse.fact_bars f
     WHERE f.instrument_id = (SELECT instrument_id FROM warehouse.dim_instrument WHERE symbol = $1)
       AND f.interval = $2 AND f.ts >= $3::timestamptz AND f.ts <= $4::timestamptz
     ORDER BY f.ts ${q.order === 'desc' ? 'DESC' : ''}`,
    [q.symbol, q.interval, tsText(lo), tsText(hi)],
  );
  // Both in the read's order: walk them together.
  const desc = q.order === 'desc';
  let j = 0;
  for (let i = 0; i < n && j < rows.length; i++) {
    const t = ts[i]!;
    while (j < rows.length && (desc ? (rows[j]![0] as number) > t : (rows[j]![0] as number) < t))
      j++;
    if (j < rows.length && rows[j]![0] === t) {
      const r = rows[j]!;
      for (let k = 0; k < out.length; k++) {
        const v = r[k + 1];
        out[k]![i] = v === null ? Number.NaN : (v as number);
      }
    }
  }
}

export async function readBarColumns(
  db: PgSession,
  q: BarQuery,
  indicators: readonly StoredColumn[],
  full: boolean,
): Promise<BarColumnSet> {
  const names = barColumnNames(indicators, full);
  const select = [
    '(extract(epoch FROM b.ts) * 1000)::float8',
    'b.open',
    'b.high',
    'b.low',
    'b.close',
    'b.volume',
    'b.vwap',
    ...(full
      ? ['b.adj_close', 'b.trade_count::float8', 'b.backfilled::int::float8', 'b.source']
      : []),
  ];
  const params: unknown[] = [q.symbol, q.interval];
  let where = 'b.symbol = $1 AND b.interval = $2';
  if (q.from !== undefined) where += ` AND b.ts >= $${params.push(tsText(q.from))}::timestamptz`;
  if (q.to !== undefined) where += ` AND b.ts < $${params.push(tsText(q.to))}::timestamptz`;
  const limit = q.limit === undefined ? '' : `LIMIT $${params.push(q.limit)}`;
  const rows = await db.arrays(
    `SELECT ${select.join(', ')} FROM staging.bars b
     WHERE ${where} ORDER BY b.ts ${q.order === 'desc' ? 'DESC' : ''} ${limit}`,
    params,
  );
  const n = rows.length;
  const columns: Record<string, Float64Array> = {};
  const sources: string[] = [];
  const read = names.filter((c) => !(indicators as readonly string[]).includes(c));
  read.forEach((name, k) => {
    const col = new Float64Array(n);
    if (name === 'source') {
      const made = sourceColumn(n, (i) => rows[i]![k] as string);
      col.set(made.column);
      sources.push(...made.sources);
    } else {
      for (let i = 0; i < n; i++) {
        const v = rows[i]![k];
        col[i] = v === null ? Number.NaN : (v as number);
      }
    }
    columns[name] = col;
  });
  if (indicators.length > 0) await mergeIndicators(db, q, indicators, columns, n);
  const ordered: Record<string, Float64Array> = {};
  for (const name of names) ordered[name] = columns[name]!;
  return { rows: n, columns: ordered, sources };
}

export async function readTradeColumns(db: PgSession, q: TradeQuery): Promise<TradeColumnSet> {
  const params: unknown[] = [q.symbol];
  let where = 'symbol = $1';
  if (q.from !== undefined) where += ` AND ts >= $${params.push(tsText(q.from))}::timestamptz`;
  if (q.to !== undefined) where += ` AND ts < $${params.push(tsText(q.to))}::timestamptz`;
  if (q.after) {
    where += ` AND (ts, trade_id COLLATE "C") > ($${params.push(tsText(q.after.ts))}::timestamptz, $${params.push(q.after.tradeId)} COLLATE "C")`;
  }
  const limit = q.limit === undefined ? '' : `LIMIT $${params.push(q.limit)}`;
  const rows = await db.arrays(
    `SELECT (extract(epoch FROM ts) * 1000)::float8, price, size, conditions, trade_id, source
     FROM staging.trades WHERE ${where} ORDER BY ts, trade_id COLLATE "C" ${limit}`,
    params,
  );
  return {
    rows: rows.length,
    ts: Float64Array.from(rows, (r) => r[0] as number),
    price: Float64Array.from(rows, (r) => r[1] as number),
    size: Float64Array.from(rows, (r) => r[2] as number),
    conditions: rows.map((r) => r[3] as string),
    tradeId: rows.map((r) => r[4] as string),
    source: rows.map((r) => r[5] as string),
  };
}

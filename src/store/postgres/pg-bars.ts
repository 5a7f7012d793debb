/**
 * Bars into the PostgreSQL store. A write that cannot touch a stored row (no
 * stored bar of its series inside its time range, no key twice in it: a first
 * load, or new bars after the last) is COPY'd straight into staging.bars, as
 * `psql \copy` loads a file; any other write is COPY'd into a temp table and
 * merged with INSERT … ON CONFLICT on the natural key, touching only rows
 * whose values changed. A straight COPY that meets a key another writer
 * stored meanwhile fails on the primary key, and the write is merged instead.
 */
import type pg from 'pg';
import { StoreError } from '../../core/errors.ts';
import type { Bar } from '../../core/records.ts';
import { barValues } from '../record-rows.ts';
import { type CopyValue, copyRows, tsText } from './pg-copy.ts';

export const BAR_VALUES = [
  'open',
  'high',
  'low',
  'close',
  'volume',
  'adj_close',
  'source',
  'vwap',
  'trade_count',
  'backfilled',
];

const TEMP = `CREATE TEMP TABLE IF NOT EXISTS tmp_bars (n INTEGER, symbol TEXT, interval TEXT,
  ts TIMESTAMPTZ, open FLOAT8, high FLOAT8, low FLOAT8, close FLOAT8, volume FLOAT8, adj_close FLOAT8,
  source TEXT, vwap FLOAT8, trade_count INTEGER, backfilled BOOLEAN) ON COMMIT DELETE ROWS`;

/** A primary-key violation, wrapped in the store's error. */
export function isUniqueViolation(err: StoreError): boolean {
  return (err.cause as { code?: string } | undefined)?.code === '23505';
}

const values = (b: Bar): CopyValue[] => [b.symbol, b.interval, tsText(b.ts), ...barValues(b)];

/** Per series, its time range in this write; null when a series repeats a ts (or goes back). */
function ranges(
  bars: readonly Bar[],
): Map<string, { s: string; i: string; lo: number; hi: number }> | null {
  const out = new Map<string, { s: string; i: string; lo: number; hi: number }>();
  for (const b of bars) {
    const k = `${b.symbol}\u0000${b.interval}`;
    const r = out.get(k);
    if (!r) out.set(k, { s: b.symbol, i: b.interval, lo: b.ts, hi: b.ts });
    else if (b.ts > r.hi) r.hi = b.ts;
    else return null;
  }
  return out;
}

async function query(c: pg.PoolClient, text: string, params: unknown[] = []) {
  try {
    return await c.query(text, params);
  } catch (err) {
    throw new StoreError(`PostgreSQL query failed: ${(err as Error).message}`, text, params, err);
  }
}

/** Writes the bars; returns those inserted or changed. */
export async function writeBars(
  c: pg.PoolClient,
  bars: readonly Bar[],
  merge: boolean,
): Promise<number> {
  const cols = ['symbol', 'interval', 'ts', ...BAR_VALUES];
  const r = merge ? null : ranges(bars);
  if (r) {
    const list = [...r.values()];
    const stored = await query(
      c,
      `SELECT 1 FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS k(s, i, lo, hi)
       WHERE EXISTS (SELECT 1 FROM staging.bars b
         WHERE b.symbol = k.s AND b.interval = k.i AND b.ts >= k.lo AND b.ts <= k.hi) LIMIT 1`,
      [
        list.map((x) => x.s),
        list.map((x) => x.i),
        list.map((x) => tsText(x.lo)),
        list.map((x) => tsText(x.hi)),
      ],
    );
    if (stored.rowCount === 0) {
      try {
        await copyRows(c, 'staging.bars', cols, bars.length, (i) => values(bars[i]!));
      } catch (err) {
        throw new StoreError(
          `PostgreSQL COPY failed: ${(err as Error).message}`,
          'COPY staging.bars',
          [],
          err,
        );
      }
      return bars.length;
    }
  }
  await query(c, TEMP);
  await copyRows(c, 'tmp_bars', ['n', ...cols], bars.length, (i) => [i, ...values(bars[i]!)]);
  // The first occurrence of a key in a write wins, as in validation.
  const res = await query(
    c,
    `INSERT INTO staging.bars (${cols.join(', ')})
     SELECT DISTINCT ON (symbol, interval, ts) ${cols.join(', ')}
     FROM tmp_bars ORDER BY symbol, interval, ts, n
     ON CONFLICT (symbol, interval, ts) DO UPDATE SET
       ${BAR_VALUES.map((v) => `${v} = excluded.${v}`).join(', ')}, ingested_at = now()
     WHERE (${BAR_VALUES.map((v) => `bars.${v}`).join(', ')})
       IS DISTINCT FROM (${BAR_VALUES.map((v) => `excluded.${v}`).join(', ')})`,
  );
  return res.rowCount ?? 0;
}

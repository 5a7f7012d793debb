/**
 * The Cassandra store's tables, designed per query (one table per way the
 * data is read), as versioned migrations, and the bucket of a bar: bars are
 * partitioned by ((symbol, interval, bucket), ts) with a bucket sized so a
 * partition stays well under ~100 MB (a row with its curated columns is
 * about 200 bytes: a day of 1s bars is 17 MB, a month of 1m bars 9 MB, a
 * year of 1h bars 2 MB; daily and longer bars fit one partition a series).
 */
import type { Interval } from '../../core/time.ts';
import { DAY_MS } from '../../core/time.ts';
import { STORED_COLUMNS } from '../../transform/enrich.ts';

export type BucketKind = 'day' | 'month' | 'year' | 'all';

export const BUCKETS: Record<Interval, BucketKind> = {
  '1s': 'day',
  '1m': 'month',
  '5m': 'year',
  '15m': 'year',
  '30m': 'year',
  '1h': 'year',
  '1d': 'all',
  '1wk': 'all',
  '1mo': 'all',
};

/** The bucket of a bar at `ts`: days since the epoch, yyyymm, the year, or 0. */
export function bucketOf(interval: Interval, ts: number): number {
  const kind = BUCKETS[interval];
  if (kind === 'all') return 0;
  if (kind === 'day') return Math.floor(ts / DAY_MS);
  const d = new Date(ts);
  return kind === 'year' ? d.getUTCFullYear() : d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

/** Days since the epoch (UTC): the partition of trades and quarantined records. */
export const dayOf = (ts: number): number => Math.floor(ts / DAY_MS);

const indicatorColumns = STORED_COLUMNS.map((c) => `${c} double`).join(', ');

export const CQL_MIGRATIONS: { version: number; name: string; cql: string[] }[] = [
  {
    version: 1,
    name: 'bars, trades, quarantine, raw responses, actions, instruments, series, API keys',
    cql: [
      `CREATE TABLE IF NOT EXISTS bars (
        symbol text, interval text, bucket int, ts timestamp,
        open double, high double, low double, close double, volume double, adj_close double,
        source text, vwap double, trade_count int, backfilled boolean,
        ${indicatorColumns},
        PRIMARY KEY ((symbol, interval, bucket), ts)
      ) WITH CLUSTERING ORDER BY (ts ASC)`,
      // Which buckets a series has (a read walks them in order).
      `CREATE TABLE IF NOT EXISTS series_buckets (
        symbol text, interval text, bucket int, PRIMARY KEY ((symbol, interval), bucket))`,
      'CREATE TABLE IF NOT EXISTS series (symbol text, interval text, PRIMARY KEY ((symbol), interval))',
      `CREATE TABLE IF NOT EXISTS trades (
        symbol text, day int, ts timestamp, trade_id text, price double, size double,
        conditions text, source text,
        PRIMARY KEY ((symbol, day), ts, trade_id)
      ) WITH CLUSTERING ORDER BY (ts ASC, trade_id ASC)`,
      'CREATE TABLE IF NOT EXISTS trade_days (symbol text, day int, PRIMARY KEY ((symbol), day))',
      // Quarantined records by id (lookup, dedupe) and by day (newest first, time ranges).
      `CREATE TABLE IF NOT EXISTS quarantine (
        id text PRIMARY KEY, stage text, source text, symbol text, interval text, rule text,
        message text, payload text, received_at timestamp)`,
      `CREATE TABLE IF NOT EXISTS quarantine_by_day (
        day int, received_at timestamp, id text, PRIMARY KEY ((day), received_at, id)
      ) WITH CLUSTERING ORDER BY (received_at DESC, id ASC)`,
      'CREATE TABLE IF NOT EXISTS quarantine_days (shard int, day int, PRIMARY KEY ((shard), day))',
      `CREATE TABLE IF NOT EXISTS raw_responses (
        id text PRIMARY KEY, source text, request text, status int, received_at timestamp, body text)`,
      `CREATE TABLE IF NOT EXISTS corporate_actions (
        symbol text, ts timestamp, kind text, value double, source text,
        PRIMARY KEY ((symbol), ts, kind))`,
      `CREATE TABLE IF NOT EXISTS instruments (
        symbol text PRIMARY KEY, name text, exchange text, currency text, timezone text)`,
      `CREATE TABLE IF NOT EXISTS api_keys (
        id text PRIMARY KEY, name text, scope text, salt text, hash text,
        created_at timestamp, revoked_at timestamp)`,
    ],
  },
];

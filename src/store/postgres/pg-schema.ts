/**
 * The PostgreSQL store's schema, as versioned migrations (each runs once, in
 * order, in one transaction with its version row; append, never edit):
 * - `staging`: bars and trades (declaratively partitioned by month; the
 *   store creates partitions ahead of its writes), quarantine, raw
 *   responses and corporate actions, each keyed by its natural key;
 * - `warehouse`: `dim_instrument`, `dim_date` (a calendar's sessions per
 *   date), `fact_bars` (the curated indicators, one partition per bar
 *   interval: fact_bars_1m, fact_bars_1d, …) and the `bars_enriched` view;
 * - `tickline`: the migrations' versions and API keys.
 */
import { INTERVALS } from '../../core/time.ts';
import { ENRICHED_COLUMNS, type EnrichedColumn, STORED_COLUMNS } from '../../transform/enrich.ts';

const indicatorColumns = STORED_COLUMNS.map((c) => `${c} DOUBLE PRECISION`).join(',\n  ');
const DERIVED: Partial<Record<EnrichedColumn, string>> = {
  bb_middle: 'f.sma_20',
  macd_hist: '(f.macd - f.macd_signal)',
};
const enriched = ENRICHED_COLUMNS.map(
  (c) => `NULLIF(${DERIVED[c] ?? `f.${c}`}, 'NaN'::float8) AS ${c}`,
).join(',\n    ');

export const PG_MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'staging, warehouse and API keys',
    sql: `
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS warehouse;
CREATE TABLE staging.bars (
  symbol TEXT NOT NULL,
  interval TEXT NOT NULL,
  ts TIMESTAMPTZ NOT NULL,
  open DOUBLE PRECISION NOT NULL,
  high DOUBLE PRECISION NOT NULL,
  low DOUBLE PRECISION NOT NULL,
  close DOUBLE PRECISION NOT NULL,
  volume DOUBLE PRECISION NOT NULL,
  adj_close DOUBLE PRECISION,
  source TEXT NOT NULL,
  vwap DOUBLE PRECISION,
  trade_count INTEGER,
  backfilled BOOLEAN NOT NULL DEFAULT false,
  ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (symbol, interval, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE staging.trades (
  symbol TEXT NOT NULL,
  ts TIMESTAMPTZ NOT NULL,
  trade_id TEXT NOT NULL,
  price DOUBLE PRECISION NOT NULL,
  size DOUBLE PRECISION NOT NULL,
  conditions TEXT NOT NULL,
  source TEXT NOT NULL,
  ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (symbol, ts, trade_id)
) PARTITION BY RANGE (ts);
-- Content-hash ids (natural-keys.ts), as every store keys them.
CREATE TABLE staging.quarantine (
  id TEXT PRIMARY KEY,
  stage TEXT NOT NULL,
  source TEXT NOT NULL,
  symbol TEXT,
  interval TEXT,
  rule TEXT NOT NULL,
  message TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX quarantine_received ON staging.quarantine (received_at DESC, id);
CREATE INDEX quarantine_series ON staging.quarantine (symbol, interval);
CREATE TABLE staging.raw_responses (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  request TEXT NOT NULL,
  status INTEGER NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE staging.corporate_actions (
  symbol TEXT NOT NULL,
  ts TIMESTAMPTZ NOT NULL,
  kind TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (symbol, ts, kind)
);
CREATE TABLE warehouse.dim_instrument (
  instrument_id SERIAL PRIMARY KEY,
  symbol TEXT NOT NULL UNIQUE,
  name TEXT,
  exchange TEXT,
  currency TEXT,
  timezone TEXT,
  calendar TEXT
);
-- One row per calendar and date: whether the exchange trades that day, and its hours.
CREATE TABLE warehouse.dim_date (
  calendar TEXT NOT NULL,
  date DATE NOT NULL,
  date_key INTEGER NOT NULL,
  year SMALLINT NOT NULL,
  quarter SMALLINT NOT NULL,
  month SMALLINT NOT NULL,
  day SMALLINT NOT NULL,
  iso_weekday SMALLINT NOT NULL,
  is_session BOOLEAN NOT NULL,
  session_open TIMESTAMPTZ,
  session_close TIMESTAMPTZ,
  early_close BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (calendar, date)
);
-- The curated indicators (NaN until a window is full; the view shows NULL), per interval.
CREATE TABLE warehouse.fact_bars (
  instrument_id INTEGER NOT NULL REFERENCES warehouse.dim_instrument,
  interval TEXT NOT NULL,
  ts TIMESTAMPTZ NOT NULL,
  date_key INTEGER NOT NULL,
  ${indicatorColumns},
  PRIMARY KEY (instrument_id, interval, ts)
) PARTITION BY LIST (interval);
${INTERVALS.map((i) => `CREATE TABLE warehouse.fact_bars_${i} PARTITION OF warehouse.fact_bars FOR VALUES IN ('${i}');`).join('\n')}
CREATE VIEW warehouse.bars_enriched AS
  SELECT b.symbol, b.interval, b.ts, b.open, b.high, b.low, b.close, b.volume, b.adj_close,
    b.source, b.vwap, b.trade_count, b.backfilled, i.instrument_id, f.date_key,
    ${enriched}
  FROM staging.bars b
  LEFT JOIN warehouse.dim_instrument i ON i.symbol = b.symbol
  LEFT JOIN warehouse.fact_bars f
    ON f.instrument_id = i.instrument_id AND f.interval = b.interval AND f.ts = b.ts;
CREATE TABLE tickline.api_keys (
  id TEXT PRIMARY KEY,
  name TEXT,
  scope TEXT NOT NULL,
  salt TEXT NOT NULL,
  hash TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  revoked_at TIMESTAMPTZ
);
`,
  },
];

/** The first instant of the month `ts` is in, and of the next one (UTC). */
export function monthOf(ts: number): [number, number] {
  const d = new Date(ts);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  return [Date.UTC(y, m, 1), Date.UTC(y, m + 1, 1)];
}

/** The partition of `table` (staging.bars or staging.trades) for the month starting at `start`. */
export function partitionDdl(table: 'bars' | 'trades', start: number): string {
  const [, end] = monthOf(start);
  const d = new Date(start);
  const name = `${table}_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return `CREATE TABLE IF NOT EXISTS staging.${name} PARTITION OF staging.${table}
    FOR VALUES FROM ('${new Date(start).toISOString()}') TO ('${new Date(end).toISOString()}')`;
}

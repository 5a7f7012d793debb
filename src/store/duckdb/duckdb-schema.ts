/** Versioned schema migrations for the DuckDB store. Append new versions; never edit old ones. */
import { ENRICHED_COLUMNS, type EnrichedColumn, STORED_COLUMNS } from '../../transform/enrich.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const indicatorColumns = STORED_COLUMNS.map((c) => `${c} DOUBLE`).join(',\n  ');
/** Stored columns map NaN to NULL; bb_middle and macd_hist are derived here. */
const nullIfNaN = (expr: string): string => `CASE WHEN isnan(${expr}) THEN NULL ELSE ${expr} END`;
const DERIVED: Partial<Record<EnrichedColumn, string>> = {
  bb_middle: 'i.sma_20',
  macd_hist: '(i.macd - i.macd_signal)',
};

/**
 * The bar columns of a bars read as DOUBLE over `bars b` (NaN for NULL, `backfilled` as 0/1):
 * one definition for the API's reads and for the rows a curated refresh keeps for them, which
 * must be the same to the bit.
 */
export const BAR_READ_SQL = {
  ts: 'epoch_ms(b.ts)::DOUBLE',
  open: 'b.open',
  high: 'b.high',
  low: 'b.low',
  close: 'b.close',
  volume: 'b.volume',
  vwap: "coalesce(b.vwap, 'NaN'::DOUBLE)",
  adj_close: "coalesce(b.adj_close, 'NaN'::DOUBLE)",
  trade_count: "coalesce(b.trade_count::DOUBLE, 'NaN'::DOUBLE)",
  backfilled: 'coalesce(b.backfilled, false)::INTEGER::DOUBLE',
} as const;

/** The SQL of an indicator column over `bar_indicators i` (derived ones computed, as in the view). */
export const indicatorExpr = (c: EnrichedColumn): string => DERIVED[c] ?? `i.${c}`;
const indicatorSelect = ENRICHED_COLUMNS.map((c) => `${nullIfNaN(indicatorExpr(c))} AS ${c}`).join(
  ', ',
);

const enrichedView = `CREATE VIEW bars_enriched AS
  SELECT b.*, ${indicatorSelect}
  FROM bars b
  LEFT JOIN series s ON s.symbol = b.symbol AND s.interval = b.interval
  LEFT JOIN bar_indicators i ON i.series_id = s.id AND i.ts = b.ts;`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'layers: raw responses, bars, corporate actions, quarantine, instruments, curated',
    sql: `
-- raw_responses and quarantine are keyed by a content hash (id), kept unique by the store's
-- anti-join inserts rather than an index that every checkpoint would rewrite.
CREATE TABLE raw_responses (
  id VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  request VARCHAR NOT NULL,
  status INTEGER NOT NULL,
  received_at TIMESTAMP NOT NULL,
  body VARCHAR NOT NULL
);
CREATE TABLE bars (
  symbol VARCHAR NOT NULL,
  interval VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  open DOUBLE NOT NULL,
  high DOUBLE NOT NULL,
  low DOUBLE NOT NULL,
  close DOUBLE NOT NULL,
  volume DOUBLE NOT NULL,
  adj_close DOUBLE,
  source VARCHAR NOT NULL,
  ingested_at TIMESTAMP NOT NULL
  -- Natural key (symbol, interval, ts): kept unique by the store's merge, not by an index,
  -- because maintaining an ART index made bulk loads several times slower.
);
CREATE TABLE corporate_actions (
  symbol VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  kind VARCHAR NOT NULL,
  value DOUBLE NOT NULL,
  source VARCHAR NOT NULL,
  PRIMARY KEY (symbol, ts, kind)
);
CREATE TABLE quarantine (
  id VARCHAR NOT NULL,
  stage VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  symbol VARCHAR,
  rule VARCHAR NOT NULL,
  message VARCHAR NOT NULL,
  payload VARCHAR NOT NULL,
  received_at TIMESTAMP NOT NULL
);
CREATE TABLE instruments (
  symbol VARCHAR PRIMARY KEY,
  name VARCHAR,
  exchange VARCHAR,
  currency VARCHAR,
  timezone VARCHAR
);
-- The curated layer: indicator values per series (NaN until a window is full), replaced per
-- series in one transaction. Series get small integer ids so the rows append column-wise.
CREATE TABLE series (
  id INTEGER NOT NULL,
  symbol VARCHAR NOT NULL,
  interval VARCHAR NOT NULL
);
CREATE TABLE bar_indicators (
  series_id INTEGER NOT NULL,
  ts TIMESTAMP NOT NULL,
  ${indicatorColumns}
);
${enrichedView}
`,
  },
  {
    version: 2,
    name: 'live path: trades, and vwap, trade_count and backfilled on bars',
    sql: `
ALTER TABLE bars ADD COLUMN vwap DOUBLE;
ALTER TABLE bars ADD COLUMN trade_count INTEGER;
ALTER TABLE bars ADD COLUMN backfilled BOOLEAN DEFAULT false;
-- Natural key (symbol, ts, trade_id); trade_id is the provider's id or a content hash of
-- (ts, price, size, conditions). Kept unique by the store, like bars.
CREATE TABLE trades (
  symbol VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  price DOUBLE NOT NULL,
  size DOUBLE NOT NULL,
  conditions VARCHAR NOT NULL,
  trade_id VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  ingested_at TIMESTAMP NOT NULL
);
DROP VIEW bars_enriched;
${enrichedView}
`,
  },
  {
    version: 3,
    name: 'API keys (hashed)',
    sql: `
-- The key itself is never stored: only SHA-256(salt || secret), compared in constant time.
CREATE TABLE api_keys (
  id VARCHAR PRIMARY KEY,
  name VARCHAR,
  scope VARCHAR NOT NULL,
  salt VARCHAR NOT NULL,
  hash VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL,
  revoked_at TIMESTAMP
);
`,
  },
  {
    version: 4,
    name: 'the bar interval of quarantined records',
    sql: `
-- NULL for trades, and for records quarantined before this version.
ALTER TABLE quarantine ADD COLUMN interval VARCHAR;
`,
  },
  {
    version: 5,
    name: 'the time of the first record a raw response holds',
    sql: `
-- The lake partitions raw responses by their data's year; NULL (received before this version,
-- or a response with no dated record) falls back to the year received.
ALTER TABLE raw_responses ADD COLUMN data_from TIMESTAMP;
`,
  },
  {
    version: 6,
    name: 'raw responses in size-bounded parts behind a view',
    sql: `
-- DuckDB rewrites a table's last row group at every checkpoint, and raw bodies run to hundreds of
-- KB: one table made each write's commit cost grow with every body stored before it. Parts
-- raw_responses_0, _1, … are sealed at RAW_PART_BYTES (duckdb-records.ts); the view reads them
-- all. A later migration that changes raw_responses' columns changes every part and RAW_COLUMNS.
ALTER TABLE raw_responses RENAME TO raw_responses_0;
CREATE VIEW raw_responses AS SELECT * FROM raw_responses_0;
`,
  },
];

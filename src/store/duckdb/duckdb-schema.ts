/** Versioned schema migrations for the DuckDB store. Append new versions; never edit old ones. */
import { ENRICHED_COLUMNS } from '../../transform/enrich.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const indicatorColumns = ENRICHED_COLUMNS.map((c) => `${c} DOUBLE`).join(',\n  ');
const indicatorSelect = ENRICHED_COLUMNS.map((c) => `i.${c}`).join(', ');

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'layers: raw responses, bars, corporate actions, quarantine, instruments, curated',
    sql: `
CREATE TABLE raw_responses (
  id VARCHAR PRIMARY KEY,
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
  id VARCHAR PRIMARY KEY,
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
-- Derived data, replaced per series in one transaction; no key index to maintain.
CREATE TABLE bar_indicators (
  symbol VARCHAR NOT NULL,
  interval VARCHAR NOT NULL,
  ts TIMESTAMP NOT NULL,
  ${indicatorColumns}
);
CREATE VIEW bars_enriched AS
  SELECT b.*, ${indicatorSelect}
  FROM bars b
  LEFT JOIN bar_indicators i ON i.symbol = b.symbol AND i.interval = b.interval AND i.ts = b.ts;
`,
  },
];

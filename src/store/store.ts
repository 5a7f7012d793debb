/**
 * The one interface every store stands behind. Every write is an idempotent
 * upsert on the record's natural key: writing the same batch twice leaves the
 * store exactly as writing it once.
 */

import type {
  Bar,
  CorporateAction,
  Instrument,
  Quarantined,
  RawResponse,
  Trade,
} from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import type { EnrichedColumn } from '../transform/enrich.ts';
import type { CacheStats, Derived } from './result-cache.ts';

/** Everything one unit of ingest writes, in one transaction. */
export interface WriteBatch {
  raw: RawResponse[];
  bars: Bar[];
  rejects: Quarantined[];
  actions: CorporateAction[];
  instruments: Instrument[];
  /** Executed trades (live path); natural key (symbol, ts, tradeId). */
  trades?: Trade[];
}

export interface WriteResult {
  /** Bars inserted or changed (an identical re-write counts 0). */
  barsChanged: number;
  /** Quarantine rows that were new. */
  quarantined: number;
  /** Trades that were new (a re-delivered trade counts 0). */
  tradesInserted: number;
}

export interface TradeQuery {
  symbol: string;
  from?: number;
  to?: number;
  limit?: number;
  /** Only trades after this (ts, tradeId): the cursor of the previous page. */
  after?: { ts: number; tradeId: string };
}

/** Bars of one series as columns (NaN = NULL): the fast path for Arrow and bulk readers. */
export interface BarColumnSet {
  rows: number;
  /**
   * ts (epoch ms), open, high, low, close, volume, vwap, then the requested
   * indicators; with `full`, also adj_close, trade_count, backfilled (0/1) and
   * source (an index into `sources`).
   */
  columns: Record<string, Float64Array>;
  sources: string[];
  /**
   * Set on a result patched from a stale one of the same query (see
   * `deriveFromBars`): its rows [at, at + count) are that result's rows
   * [start, start + count), unchanged.
   */
  reused?: { at: number; start: number; count: number };
}

/** A bar with some of its curated indicator values (null until a window is full). */
export interface EnrichedBar extends Bar {
  indicators: Partial<Record<EnrichedColumn, number | null>>;
}

export interface SeriesKey {
  symbol: string;
  interval: Interval;
}

export interface BarQuery {
  symbol: string;
  interval: Interval;
  from?: number;
  to?: number;
  limit?: number;
  /** 'desc': newest first (the last `limit` bars before `to`). Default 'asc'. */
  order?: 'asc' | 'desc';
}

export interface QuarantineQuery {
  rule?: string;
  symbol?: string;
  /** Only records meant for this bar interval. */
  interval?: Interval;
  stage?: string;
  /** received_at range [from, to), epoch ms. */
  from?: number;
  to?: number;
  limit?: number;
}

export interface QuarantineRow extends Quarantined {
  id: string;
  interval: Interval | null;
}

export interface SeriesStatus {
  symbol: string;
  interval: Interval;
  rows: number;
  firstTs: number;
  lastTs: number;
  rejects: number;
}

export interface SqlResult {
  columns: string[];
  types: string[];
  rows: Record<string, unknown>[];
}

export type Layer = 'raw' | 'staging' | 'curated';

export type ApiScope = 'read' | 'admin';

/** One file of one table, filtered: what `GET /api/export` downloads. */
export interface FileExportOptions {
  /** raw = raw_responses, staging = bars, curated = bars_enriched, trades = trades. */
  layer: Layer | 'trades';
  format: 'parquet' | 'csv';
  symbol?: string;
  interval?: Interval;
  from?: number;
  to?: number;
  limit?: number;
  file: string;
}

/** An API key as stored: never the key itself, only a salted hash of its secret. */
export interface ApiKeyRecord {
  id: string;
  name: string | null;
  scope: ApiScope;
  salt: string;
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface ExportOptions {
  layer: Layer;
  format: 'parquet' | 'csv';
  outDir: string;
}

export interface Store {
  /** Which implementation this is (`duckdb`, ...). */
  readonly kind: string;
  /** Writes a batch in one transaction; idempotent on every natural key. */
  write(batch: WriteBatch): Promise<WriteResult>;
  /** Recomputes the curated indicator columns of these series from their stored bars. */
  refreshCurated(series: readonly SeriesKey[]): Promise<void>;
  /** Per key, the last stored bar of that series strictly before `ts` (for seeding the price-jump rule). */
  lastBarsBefore(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]>;
  /** Bars of one series in ts order. */
  readBars(q: BarQuery): Promise<Bar[]>;
  /** The same as columns (ts order, or newest first with order 'desc'). */
  readBarColumns(
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full?: boolean,
  ): Promise<BarColumnSet>;
  /** Hits and size of the cache in front of readBarColumns, where the store has one. */
  queryCacheStats?(): CacheStats;
  /**
   * `make()` (e.g. a response body encoded from `set`), kept with `set` in the
   * query cache while `set` stays there, so the same encoding of the same
   * result is made once; where the store has no cache, just `make()`. For a
   * result patched from a stale one (`set.reused`), `make` gets what was made
   * under `name` from that one, to copy the reused rows' part of it.
   */
  deriveFromBars?<D extends Derived>(set: BarColumnSet, name: string, make: (prior?: D) => D): D;
  /** Bars of one series in ts order with the given curated indicator columns. */
  readEnrichedBars(q: BarQuery, columns: readonly EnrichedColumn[]): Promise<EnrichedBar[]>;
  /** Trades of one symbol in (ts, tradeId) order. */
  readTrades(q: TradeQuery): Promise<Trade[]>;
  /** One quarantined record by id, or null. */
  getQuarantine(id: string): Promise<QuarantineRow | null>;
  /** Removes a quarantined record (after it was replayed and stored); false when absent. */
  deleteQuarantine(id: string): Promise<boolean>;
  /** Quarantined records, newest first. */
  readQuarantine(q: QuarantineQuery): Promise<QuarantineRow[]>;
  /** Rejects per rule per time bucket (by received_at), oldest first. */
  rejectHistogram(
    bucketMs: number,
    from?: number,
    to?: number,
  ): Promise<{ ts: number; rule: string; n: number }[]>;
  /** Rejects per rule. */
  rejectCounts(): Promise<Record<string, number>>;
  /** Per symbol and interval: rows, first and last ts, rejects. */
  status(): Promise<SeriesStatus[]>;
  /** Stores a new API key record. */
  putApiKey(k: ApiKeyRecord): Promise<void>;
  /** One API key record by id, or null. */
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Every API key record, newest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked; false when there is no such key. */
  revokeApiKey(id: string): Promise<boolean>;
  /** Runs one SQL statement and returns its rows. */
  sql(query: string): Promise<SqlResult>;
  /** Writes one filtered table to one file. Returns rows written. */
  exportFile(opts: FileExportOptions): Promise<number>;
  /** Writes a layer as hive-partitioned files under `outDir`. Returns files written. */
  exportLake(opts: ExportOptions): Promise<string[]>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

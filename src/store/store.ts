/**
 * Stores in two parts. A `StoreDriver` is what a store adapter implements (DuckDB, PostgreSQL,
 * Cassandra): a small core of idempotent writes, column reads and series listing, plus the
 * optional capabilities it declares. A `Store` is what the rest of tickline uses: a driver
 * behind the store-neutral layers (curated refreshes, the result cache; see managed-store.ts).
 * Every write is an idempotent upsert on the record's natural key: writing the same batch twice
 * leaves the store exactly as writing it once.
 */

import { TicklineError } from '../core/errors.ts';
import type {
  Bar,
  CorporateAction,
  Instrument,
  Quarantined,
  RawResponse,
  Trade,
} from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import type { EnrichedColumn, StoredColumn } from '../transform/enrich.ts';
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

/**
 * One row of `status()`: a bar series (symbol, interval), or a symbol's
 * trades (interval TRADES_ROW, which also counts the rejects that have no
 * interval), with its rows, first and last ts and rejects. A row with no
 * rows holds only rejects (a symbol nothing was stored for). Symbol
 * '(none)' counts rejects that had no symbol (malformed messages).
 */
export interface SeriesStatus {
  symbol: string;
  interval: Interval;
  rows: number;
  firstTs: number;
  lastTs: number;
  rejects: number;
}

/** The interval of a symbol's trades row in `status()`. */
export const TRADES_ROW = '-' as Interval;

/** What a status row is: bars stored, trades stored, or rejects only. */
export function statusKind(s: SeriesStatus): 'bars' | 'trades' | 'rejects' {
  if (s.rows === 0) return 'rejects';
  return s.interval === TRADES_ROW ? 'trades' : 'bars';
}

/** Whether a status row is a bar series with bars stored. */
export const isBarSeries = (s: SeriesStatus): boolean => statusKind(s) === 'bars';

export interface SqlResult {
  columns: string[];
  types: string[];
  rows: Record<string, unknown>[];
}

export type Layer = 'raw' | 'staging' | 'curated';

/** What can be exported: the layers, the trades, and the corporate actions (splits, dividends). */
export const EXPORT_LAYERS = ['raw', 'staging', 'curated', 'trades', 'corporate_actions'] as const;
export type ExportLayer = (typeof EXPORT_LAYERS)[number];

export type ApiScope = 'read' | 'admin';

/** One file of one table, filtered: what `GET /api/export` downloads. */
export interface FileExportOptions {
  /** raw = raw_responses, staging = bars, curated = bars_enriched, trades, corporate_actions. */
  layer: ExportLayer;
  format: 'parquet' | 'csv';
  symbol?: string;
  interval?: Interval;
  from?: number;
  to?: number;
  limit?: number;
  /** These columns, in this order (default: all). */
  columns?: readonly string[];
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
  /** A layer, the trades or the corporate actions (partitioned by symbol and year). */
  layer: ExportLayer;
  format: 'parquet' | 'csv';
  outDir: string;
}

export type StoreKind = 'duckdb' | 'postgres' | 'cassandra';

/** The columns a bars read answers with, in order (see BarColumnSet). */
export function barColumnNames(indicators: readonly string[], full: boolean): string[] {
  return [
    'ts',
    'open',
    'high',
    'low',
    'close',
    'volume',
    'vwap',
    ...indicators,
    ...(full ? ['adj_close', 'trade_count', 'backfilled', 'source'] : []),
  ];
}

/** A source column: each row's source as an index into `sources` (first seen, first listed). */
export function sourceColumn(
  n: number,
  sourceOf: (i: number) => string,
): { column: Float64Array; sources: string[] } {
  const column = new Float64Array(n);
  const sources: string[] = [];
  const at = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const s = sourceOf(i);
    let x = at.get(s);
    if (x === undefined) {
      x = sources.push(s) - 1;
      at.set(s, x);
    }
    column[i] = x;
  }
  return { column, sources };
}

/** Trades of one symbol as columns, in (ts, tradeId) order. */
export interface TradeColumnSet {
  rows: number;
  ts: Float64Array;
  price: Float64Array;
  size: Float64Array;
  conditions: string[];
  tradeId: string[];
  source: string[];
}

/**
 * The curated indicator rows of one series from `from` on (every row when null), replacing
 * what is stored there: `ts` and one column per stored indicator (STORED_COLUMNS order, NaN
 * where a window is not full).
 */
export interface IndicatorRows extends SeriesKey {
  from: number | null;
  ts: Float64Array;
  columns: Float64Array[];
}

/** Quarantine admin: look up, list, count and delete quarantined records. */
export interface QuarantineAdmin {
  /** One quarantined record by id, or null. */
  getQuarantine(id: string): Promise<QuarantineRow | null>;
  /** Removes a quarantined record (after it was replayed and stored); false when absent. */
  deleteQuarantine(id: string): Promise<boolean>;
  /** Quarantined records, newest first. */
  readQuarantine(q: QuarantineQuery): Promise<QuarantineRow[]>;
  /** Rejects per rule. */
  rejectCounts(): Promise<Record<string, number>>;
}

/** API keys, stored hashed. */
export interface ApiKeyStore {
  putApiKey(k: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Every key, newest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked; false when there is no such key or it is revoked already. */
  revokeApiKey(id: string): Promise<boolean>;
}

/** Parquet/CSV files of the layers. */
export interface LakeExport {
  /** Writes one filtered table to one file. Returns rows written. */
  exportFile(opts: FileExportOptions): Promise<number>;
  /** Writes a layer as hive-partitioned files under `outDir`. Returns files written. */
  exportLake(opts: ExportOptions): Promise<string[]>;
}

/** SQL over the store's own tables. */
export interface SqlConsole {
  /**
   * Runs SQL; `wrote` is false only for a statement that cannot change
   * anything. With `readOnly`, SQL that would change the store is refused
   * (SqlError) and changes nothing. A failure is a SqlError ("SQL failed: …").
   */
  sql(query: string, opts?: { readOnly?: boolean }): Promise<SqlResult & { wrote?: boolean }>;
}

/** Which rejects a histogram counts: received in [from, to), of one rule, symbol or stage. */
export interface RejectFilter {
  from?: number | undefined;
  to?: number | undefined;
  rule?: string | undefined;
  symbol?: string | undefined;
  stage?: string | undefined;
  /** Only records meant for bars of this interval. */
  interval?: string | undefined;
}

/** Aggregates over the layers. */
export interface Analytics {
  /** Rejects per rule per time bucket (by received_at), oldest first; only buckets with rejects. */
  rejectHistogram(
    bucketMs: number,
    filter?: RejectFilter,
  ): Promise<{ ts: number; rule: string; n: number }[]>;
  /** Rows per table: raw_responses, trades, bars, corporate_actions, bar_indicators, quarantine. */
  layerCounts(): Promise<Record<string, number>>;
}

export interface Capabilities {
  quarantine: QuarantineAdmin;
  keys: ApiKeyStore;
  export: LakeExport;
  sql: SqlConsole;
  analytics: Analytics;
}
export type CapabilityName = keyof Capabilities;

/** What each capability is called in errors. */
export const CAPABILITY_TITLES: Record<CapabilityName, string> = {
  quarantine: 'quarantine admin',
  keys: 'API keys',
  export: 'lake export',
  sql: 'SQL console',
  analytics: 'analytics',
};

/** The methods of each capability (what the control channel forwards). */
export const CAPABILITY_METHODS: { [K in CapabilityName]: readonly (keyof Capabilities[K])[] } = {
  quarantine: ['getQuarantine', 'deleteQuarantine', 'readQuarantine', 'rejectCounts'],
  keys: ['putApiKey', 'getApiKey', 'listApiKeys', 'revokeApiKey'],
  export: ['exportFile', 'exportLake'],
  sql: ['sql'],
  analytics: ['rejectHistogram', 'layerCounts'],
};

/** A store was asked for a capability it does not have. */
export class CapabilityError extends TicklineError {
  readonly capability: CapabilityName;
  readonly store: string;
  constructor(capability: CapabilityName, store: string) {
    const title = CAPABILITY_TITLES[capability];
    super(
      'NOT_AVAILABLE',
      `${title[0]!.toUpperCase()}${title.slice(1)}: not available on the ${store} store`,
    );
    this.capability = capability;
    this.store = store;
  }
}

/**
 * The contract a store adapter implements (seven members, as a Kysely driver has): everything
 * else is an optional capability it declares.
 */
export interface StoreDriver {
  readonly kind: StoreKind;
  /**
   * True when this process alone writes the data (an embedded file): results may then be
   * cached in front of it. A shared store (a database other processes write) is read fresh.
   */
  readonly exclusive: boolean;
  readonly capabilities: Partial<Capabilities>;
  /** Writes a batch, idempotent on every natural key (one transaction where the store has them). */
  write(batch: WriteBatch): Promise<WriteResult>;
  /** Replaces curated indicator rows of some series (see IndicatorRows). */
  writeIndicators(parts: readonly IndicatorRows[]): Promise<void>;
  /**
   * Bars of one series as columns: ts, open, high, low, close, volume, vwap, the given stored
   * indicators (NaN where none), and with `full` adj_close, trade_count, backfilled, source.
   */
  readBarColumns(
    q: BarQuery,
    indicators: readonly StoredColumn[],
    full: boolean,
  ): Promise<BarColumnSet>;
  /** Trades of one symbol as columns, in (ts, tradeId) order. */
  readTradeColumns(q: TradeQuery): Promise<TradeColumnSet>;
  /** Per symbol and interval: rows, first and last ts, rejects (rejects of no series on rows of their own). */
  listSeries(): Promise<SeriesStatus[]>;
  /** Answers when the store can serve (a health check's readiness). */
  ping(): Promise<void>;
  /** Releases connections and files. */
  close(): Promise<void>;
  /**
   * Optional, for speed: per key, the last stored bar of its series strictly before `ts`, all
   * keys in one read (without it, one `readBarColumns` a key).
   */
  lastBarsBefore?(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]>;
  /**
   * Optional, for speed: ts, high, low and close of every bar of many whole series in one read
   * (a backfill's curated refresh; without it, one `readBarColumns` a series).
   */
  readWholeSeries?(series: readonly SeriesKey[]): Promise<Map<string, SeriesPrices>>;
  /**
   * Optional, for speed: per key, what `readBarColumns({ symbol, interval, from: ts }, [], true)`
   * answers, all keys in one read (the live path's curated refresh of every series a flush
   * touched; without it, one `readBarColumns` a series).
   */
  readSeriesFrom?(keys: readonly (SeriesKey & { ts: number })[]): Promise<BarColumnSet[]>;
}

/** A series' bars for the curate step, in ts order. */
export interface SeriesPrices {
  ts: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
}

/** What the rest of tickline uses: a driver behind the store-neutral layers. */
export interface Store {
  readonly kind: string;
  /** Writes a batch; idempotent on every natural key. */
  write(batch: WriteBatch): Promise<WriteResult>;
  /** Recomputes the curated indicator columns of these series from their stored bars. */
  refreshCurated(series: readonly SeriesKey[]): Promise<void>;
  /** Per key, the last stored bar of that series strictly before `ts` (for seeding the price-jump rule). */
  lastBarsBefore(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]>;
  /** Bars of one series in ts order (newest first with order 'desc'). */
  readBars(q: BarQuery): Promise<Bar[]>;
  /** The same as columns, with curated indicators (see BarColumnSet). */
  readBarColumns(
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full?: boolean,
  ): Promise<BarColumnSet>;
  /** Bars of one series in ts order with the given curated indicator columns. */
  readEnrichedBars(q: BarQuery, columns: readonly EnrichedColumn[]): Promise<EnrichedBar[]>;
  /** Trades of one symbol in (ts, tradeId) order. */
  readTrades(q: TradeQuery): Promise<Trade[]>;
  /** Per symbol and interval: rows, first and last ts, rejects. */
  status(): Promise<SeriesStatus[]>;
  /** Answers when the store can serve. */
  ping(): Promise<void>;
  /** The capabilities the store declares. */
  capabilities(): CapabilityName[];
  /** One capability, or a CapabilityError naming it and the store. */
  capability<K extends CapabilityName>(name: K): Capabilities[K];
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
  /** Releases connections and files. */
  close(): Promise<void>;
}

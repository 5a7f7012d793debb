/**
 * The embedded store: one DuckDB file. Every call is serialised on one
 * connection and every write is one transaction. Bars take the columnar
 * path in duckdb-bars.ts; the other records are staged in per-connection
 * temp tables and merged on their natural keys, touching only rows whose
 * values changed, so a replay leaves every table identical.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampValue,
  type DuckDBValue,
  listValue,
  StatementType,
} from '@duckdb/node-api';
import { StoreError } from '../../core/errors.ts';
import type { Bar, Quarantined, Trade } from '../../core/records.ts';
import type { Interval } from '../../core/time.ts';
import { ENRICHED_COLUMNS, type EnrichedColumn } from '../../transform/enrich.ts';
import { type CacheStats, type Derived, SeriesResultCache } from '../result-cache.ts';
import type {
  ApiKeyRecord,
  BarColumnSet,
  BarQuery,
  EnrichedBar,
  ExportOptions,
  FileExportOptions,
  QuarantineQuery,
  QuarantineRow,
  SeriesKey,
  SeriesStatus,
  SqlResult,
  Store,
  TradeQuery,
  WriteBatch,
  WriteResult,
} from '../store.ts';
import { appendBars, mergeBars, planBars } from './duckdb-bars.ts';
import { prepareConnection, readColumns, resetAfterRollback } from './duckdb-columns.ts';
import {
  type CuratedResult,
  type CuratedSeries,
  type CuratedState,
  type CuratedTail,
  refreshCurated,
} from './duckdb-curated.ts';
import { exportFile, exportLake } from './duckdb-export.ts';
import { BAR_READ_SQL, indicatorExpr, MIGRATIONS } from './duckdb-schema.ts';
import { type TradeEdge, writeTrades } from './duckdb-trades.ts';
import { toPlain } from './duckdb-values.ts';

const sha = (...parts: string[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 32);
};

/** Natural key of a quarantined record: where it was stopped, why, and what it was. */
export function quarantineId(q: Quarantined): string {
  return sha(q.stage, q.source, q.symbol ?? '', q.rule, q.payload);
}

function toQuarantineRow(r: Record<string, unknown>): QuarantineRow {
  return {
    id: String(r.id),
    stage: r.stage as QuarantineRow['stage'],
    source: String(r.source),
    symbol: r.symbol === null ? null : String(r.symbol),
    interval: r.interval === null ? null : (String(r.interval) as Interval),
    rule: String(r.rule),
    message: String(r.message),
    payload: String(r.payload),
    receivedAt: Number(r.received_at),
  };
}

/** Indicator names reach SQL as column names: anything not in the list is refused. */
function unknownIndicator(columns: readonly string[]): RangeError | null {
  const bad = columns.find((c) => !(ENRICHED_COLUMNS as readonly string[]).includes(c));
  return bad === undefined ? null : new RangeError(`unknown indicator column ${bad}`);
}

const API_KEY_SELECT = `SELECT id, name, scope, salt, hash, epoch_ms(created_at) AS created_at,
  epoch_ms(revoked_at) AS revoked_at FROM api_keys`;

function toApiKey(r: Record<string, unknown>): ApiKeyRecord {
  return {
    id: String(r.id),
    name: r.name === null ? null : String(r.name),
    scope: r.scope === 'admin' ? 'admin' : 'read',
    salt: String(r.salt),
    hash: String(r.hash),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

function toBar(r: Record<string, unknown>): Bar {
  return {
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
    // Fields of bars built from trades or backfilled, present only when set.
    ...(r.vwap === null || r.vwap === undefined ? {} : { vwap: Number(r.vwap) }),
    ...(r.trade_count === null || r.trade_count === undefined
      ? {}
      : { tradeCount: Number(r.trade_count) }),
    ...(r.backfilled === true ? { backfilled: true } : {}),
  };
}

/** The temp tables one write stages records in before merging them on their natural keys. */
const STAGE_TABLES = {
  stage_quarantine:
    'id VARCHAR, stage VARCHAR, source VARCHAR, symbol VARCHAR, interval VARCHAR, rule VARCHAR, message VARCHAR, payload VARCHAR, received_ms DOUBLE',
  stage_actions: 'symbol VARCHAR, ts_ms DOUBLE, kind VARCHAR, value DOUBLE, source VARCHAR',
  stage_instruments:
    'symbol VARCHAR, name VARCHAR, exchange VARCHAR, currency VARCHAR, timezone VARCHAR',
  stage_raw:
    'id VARCHAR, source VARCHAR, request VARCHAR, status DOUBLE, received_ms DOUBLE, body VARCHAR',
} as const;

/**
 * Indicator states kept per series to resume curated refreshes from (see #curatedStates), and
 * series kept (least recently refreshed out first): about 2 KB a state, 32 MB at most.
 */
const CURATED_STATES = 4;
const CURATED_STATE_SERIES = 4096;

/**
 * Rows [start, end) of each part, one after another, as one column set. The
 * columns get room after their rows; when the first part is a whole earlier
 * result whose columns have room for the rest, the rest is written there (the
 * earlier result shows only its own rows, which do not change: a stale result
 * is patched once, as the cache replaces it).
 */
function joinRows(
  names: readonly string[],
  sources: string[],
  ...parts: [BarColumnSet, number, number][]
): BarColumnSet {
  const rows = parts.reduce((n, [, start, end]) => n + end - start, 0);
  const [base, from, to] = parts[0] ?? [undefined, 0, 0];
  const room = (c: Float64Array | undefined) =>
    c !== undefined && c.buffer.byteLength - c.byteOffset >= rows * 8;
  const inPlace =
    base !== undefined &&
    from === 0 &&
    to === base.rows &&
    names.every((n) => room(base.columns[n]));
  const capacity = rows + Math.max(64, rows >> 3);
  const columns: Record<string, Float64Array> = {};
  for (const name of names) {
    let col: Float64Array;
    let at = 0;
    if (inPlace) {
      const b = base!.columns[name]!;
      col = new Float64Array(b.buffer, b.byteOffset, rows);
      at = to;
    } else col = new Float64Array(capacity).subarray(0, rows);
    for (const [part, start, end] of inPlace ? parts.slice(1) : parts) {
      col.set(part.columns[name]!.subarray(start, end), at);
      at += end - start;
    }
    columns[name] = col;
  }
  return { rows, columns, sources };
}

/** The memory a column set keeps alive (its columns' buffers, room included). */
const setBytes = (set: BarColumnSet): number =>
  Object.values(set.columns).reduce((n, c) => n + c.buffer.byteLength, 0);

export class DuckDBStore implements Store {
  readonly kind = 'duckdb';
  readonly path: string;
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * First and last stored ts per series (symbol + NUL + interval), loaded on first use and kept
   * up to date by write(); it lets a write that cannot touch stored rows skip the merge.
   * Dropped after a failed write or any SQL a user runs.
   */
  #extents: Map<string, { lo: number; hi: number }> | null = null;
  /** Newest stored trade ts (and the ids at it) per symbol, loaded on first use; the trades' fast-path test. */
  #lastTrade: Map<string, TradeEdge> | null = null;
  /**
   * Results of readBarColumns (the API's bars). A write marks its series' results stale from
   * the write's first bar on (a read then re-reads only that part); see `#curated*` for refreshes.
   */
  readonly #results: SeriesResultCache<BarColumnSet>;
  /** Series whose curated rows were refreshed in this process since the last SQL that wrote. */
  readonly #curatedClean = new Set<string>();
  /** Per series: the first bar ts written since its last curated refresh. */
  readonly #curatedFrom = new Map<string, number>();
  /**
   * Per clean series: its indicators' state after the last bar of each of its latest refreshes
   * (oldest first): a refresh goes on from the newest one before the first bar written since.
   * Map order is refresh recency.
   */
  readonly #curatedStates = new Map<string, CuratedState[]>();
  /**
   * Per series: its rows from some time on as its last (resumed) refresh read and enriched them,
   * until the next write to it: a stale cached read takes its new rows from here, not DuckDB.
   */
  readonly #tails = new Map<string, CuratedTail>();

  private constructor(
    path: string,
    instance: DuckDBInstance,
    conn: DuckDBConnection,
    cacheBytes: number,
  ) {
    this.path = path;
    this.#instance = instance;
    this.#conn = conn;
    this.#results = new SeriesResultCache(cacheBytes);
  }

  /** Opens (creating when missing) the database file and applies pending migrations. */
  static async open(
    path: string,
    opts: {
      memoryLimit?: string | null;
      checkpointThreshold?: string;
      queryCacheBytes?: number;
    } = {},
  ): Promise<DuckDBStore> {
    if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path);
    } catch (err) {
      throw new StoreError(
        `cannot open DuckDB file ${path}: ${(err as Error).message} (is another tickline process using it?)`,
        'open',
        [],
        err,
      );
    }
    const conn = await instance.connect();
    prepareConnection(conn);
    const store = new DuckDBStore(path, instance, conn, opts.queryCacheBytes ?? 128 * 2 ** 20);
    // Checkpoint in larger steps than DuckDB's 16MB (fewer checkpoints during a backfill's many
    // commits), but not much larger: rows not checkpointed are held in memory (at 256MB a live
    // process held ~250MB more than at 64MB). close() checkpoints the rest.
    const settings = [
      ['checkpointThreshold', 'checkpoint_threshold', opts.checkpointThreshold ?? '64MB'],
      ['memoryLimit', 'memory_limit', opts.memoryLimit],
    ] as const;
    for (const [option, setting, value] of settings) {
      if (!value) continue;
      try {
        await conn.run(`SET ${setting} = '${value.replaceAll("'", '')}'`);
      } catch (err) {
        conn.closeSync();
        instance.closeSync();
        throw new StoreError(
          `store.${option} "${value}" is not a DuckDB memory size (e.g. 512MB, 2GB): ${(err as Error).message}`,
          `SET ${setting}`,
          [],
          err,
        );
      }
    }
    await store.#migrate();
    return store;
  }

  /** Runs `fn` after every earlier operation on this store has finished. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #run(query: string, params: DuckDBValue[] = []) {
    try {
      return await this.#conn.run(query, params);
    } catch (err) {
      throw new StoreError(`DuckDB query failed: ${(err as Error).message}`, query, params, err);
    }
  }

  async #rows(query: string, params: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    try {
      const reader = await this.#conn.runAndReadAll(query, params);
      return reader.getRowObjectsJS().map((r) => toPlain(r) as Record<string, unknown>);
    } catch (err) {
      throw new StoreError(`DuckDB query failed: ${(err as Error).message}`, query, params, err);
    }
  }

  async #migrate(): Promise<void> {
    await this.#run(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)',
    );
    const done = new Set(
      (await this.#rows('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await this.#run('BEGIN TRANSACTION');
      try {
        await this.#run(m.sql);
        await this.#run('INSERT INTO schema_migrations VALUES (?, ?, now())', [m.version, m.name]);
        await this.#run('COMMIT');
      } catch (err) {
        await this.#run('ROLLBACK');
        throw err;
      }
    }
  }

  write(batch: WriteBatch): Promise<WriteResult> {
    return this.#serial(async () => {
      await this.#run('BEGIN TRANSACTION');
      try {
        const result = await this.#writeInTx(batch);
        await this.#run('COMMIT');
        return result;
      } catch (err) {
        await this.#run('ROLLBACK').catch(() => undefined);
        await resetAfterRollback(this.#conn).catch(() => undefined);
        this.#extents = null;
        this.#lastTrade = null;
        if (err instanceof StoreError) throw err;
        throw new StoreError(`DuckDB write failed: ${(err as Error).message}`, 'write', [], err);
      }
    });
  }

  /**
   * (Re)creates a temp stage table, empty, and appends rows to it; its columns are VARCHAR
   * (strings, nulls) or DOUBLE. Replacing the table beats deleting its rows, and only a write
   * that has such records pays for it.
   */
  async #stage(
    table: keyof typeof STAGE_TABLES,
    rows: readonly (readonly (string | number | null)[])[],
  ): Promise<void> {
    await this.#run(`CREATE OR REPLACE TEMP TABLE ${table} (${STAGE_TABLES[table]})`);
    const a = await this.#conn.createAppender(table, 'main', 'temp');
    for (const row of rows) {
      for (const v of row) {
        if (v === null) a.appendNull();
        else if (typeof v === 'string') a.appendVarchar(v);
        else a.appendDouble(v);
      }
      a.endRow();
    }
    a.closeSync();
  }

  async #writeInTx(batch: WriteBatch): Promise<WriteResult> {
    if (batch.raw.length > 0) {
      await this.#stage(
        'stage_raw',
        batch.raw.map((r) => [
          sha(r.source, r.request, r.body),
          r.source,
          r.request,
          r.status,
          r.receivedAt,
          r.body,
        ]),
      );
      await this.#run(`INSERT INTO raw_responses
        SELECT DISTINCT ON (id) id, source, request, status::INTEGER, epoch_ms(received_ms::BIGINT), body
        FROM stage_raw s WHERE s.id NOT IN (SELECT id FROM raw_responses)`);
    }
    let barsChanged = 0;
    if (batch.bars.length > 0) {
      const plan = planBars(batch.bars);
      // Cached reads of these series are stale from the write's first bar on, before anything
      // of them changes (a bar is never removed by a write, so what is before stays right).
      for (const x of plan.series) {
        this.#results.markStale(x.key, x.lo);
        this.#tails.delete(x.key);
        this.#curatedFrom.set(x.key, Math.min(this.#curatedFrom.get(x.key) ?? x.lo, x.lo));
      }
      // A write that cannot touch a stored row (no stored bar of its series inside its time
      // range: a first load, or new bars after the last) appends straight into bars; any other
      // write merges on the natural key.
      const extents = await this.#seriesExtents();
      const overlap = plan.series.some((x) => {
        const e = extents.get(x.key);
        return e !== undefined && e.lo <= x.hi && x.lo <= e.hi;
      });
      for (const x of plan.series) {
        const e = extents.get(x.key);
        if (e) {
          e.lo = Math.min(e.lo, x.lo);
          e.hi = Math.max(e.hi, x.hi);
        } else extents.set(x.key, { lo: x.lo, hi: x.hi });
      }
      barsChanged = overlap
        ? await mergeBars(this.#conn, plan)
        : await appendBars(this.#conn, plan);
    }
    let quarantined = 0;
    if (batch.rejects.length > 0) {
      const ids = batch.rejects.map(quarantineId);
      await this.#stage(
        'stage_quarantine',
        batch.rejects.map((q, i) => [
          ids[i]!,
          q.stage,
          q.source,
          q.symbol,
          q.interval ?? null,
          q.rule,
          q.message,
          q.payload,
          q.receivedAt,
        ]),
      );
      const res = await this.#run(`INSERT INTO quarantine
          (id, stage, source, symbol, interval, rule, message, payload, received_at)
        SELECT DISTINCT ON (id) id, stage, source, symbol, interval, rule, message, payload,
          epoch_ms(received_ms::BIGINT)
        FROM stage_quarantine s WHERE s.id NOT IN (SELECT id FROM quarantine)`);
      quarantined = Number(res.rowsChanged);
      // A record quarantined before its interval was kept gets it when it is quarantined again.
      if (quarantined < new Set(ids).size && batch.rejects.some((q) => q.interval)) {
        await this.#run(`UPDATE quarantine q SET interval = s.interval
          FROM (SELECT DISTINCT ON (id) id, interval FROM stage_quarantine) s
          WHERE q.id = s.id AND q.interval IS NULL AND s.interval IS NOT NULL`);
      }
    }
    if (batch.actions.length > 0) {
      await this.#stage(
        'stage_actions',
        batch.actions.map((c) => [c.symbol, c.ts, c.kind, c.value, c.source]),
      );
      await this.#run(`INSERT INTO corporate_actions
        SELECT DISTINCT ON (symbol, ts_ms, kind) symbol, epoch_ms(ts_ms::BIGINT), kind, value, source FROM stage_actions
        ON CONFLICT (symbol, ts, kind) DO UPDATE SET value = excluded.value, source = excluded.source
        WHERE corporate_actions.value IS DISTINCT FROM excluded.value
          OR corporate_actions.source IS DISTINCT FROM excluded.source`);
    }
    if (batch.instruments.length > 0) {
      await this.#stage(
        'stage_instruments',
        batch.instruments.map((i) => [i.symbol, i.name, i.exchange, i.currency, i.timezone]),
      );
      await this.#run(`INSERT INTO instruments
        SELECT DISTINCT ON (symbol) * FROM stage_instruments
        ON CONFLICT (symbol) DO UPDATE SET name = coalesce(excluded.name, instruments.name),
          exchange = coalesce(excluded.exchange, instruments.exchange),
          currency = coalesce(excluded.currency, instruments.currency),
          timezone = coalesce(excluded.timezone, instruments.timezone)
        WHERE instruments.name IS DISTINCT FROM coalesce(excluded.name, instruments.name)
          OR instruments.exchange IS DISTINCT FROM coalesce(excluded.exchange, instruments.exchange)
          OR instruments.currency IS DISTINCT FROM coalesce(excluded.currency, instruments.currency)
          OR instruments.timezone IS DISTINCT FROM coalesce(excluded.timezone, instruments.timezone)`);
    }
    let tradesInserted = 0;
    if (batch.trades && batch.trades.length > 0) {
      if (!this.#lastTrade) {
        const rows = await this.#rows(
          `SELECT symbol, epoch_ms(ts) AS ts, list(trade_id) AS ids FROM trades
           WHERE (symbol, ts) IN (SELECT (symbol, max(ts)) FROM trades GROUP BY symbol) GROUP BY ALL`,
        );
        this.#lastTrade = new Map(
          rows.map((r) => [
            String(r.symbol),
            { ts: Number(r.ts), ids: new Set((r.ids as unknown[]).map(String)) },
          ]),
        );
      }
      tradesInserted = await writeTrades(this.#conn, batch.trades, this.#lastTrade);
    }
    return { barsChanged, quarantined, tradesInserted };
  }

  async #seriesExtents(): Promise<Map<string, { lo: number; hi: number }>> {
    if (!this.#extents) {
      const rows = await this.#rows(
        'SELECT symbol, interval, epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM bars GROUP BY ALL',
      );
      this.#extents = new Map(
        rows.map((r) => [`${r.symbol}\u0000${r.interval}`, { lo: Number(r.lo), hi: Number(r.hi) }]),
      );
    }
    return this.#extents;
  }

  refreshCurated(series: readonly SeriesKey[]): Promise<void> {
    if (series.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      // Every curated column of a bar depends only on the bars up to it. A series refreshed here
      // before goes on from its indicators' state after a bar older than the first bar written
      // since (none written: nothing to do), or, with no such state kept, is recomputed with its
      // rows replaced from that bar on; any other series is replaced whole.
      const work = new Map<string, CuratedSeries>();
      for (const s of series) {
        const key = `${s.symbol}\u0000${s.interval}`;
        if (work.has(key)) continue;
        if (!this.#curatedClean.has(key)) {
          // A first refresh (a backfill's, say) keeps no state: the batch kernels are faster.
          this.#results.invalidate(key);
          work.set(key, { ...s, from: null, keepState: false });
          continue;
        }
        const from = this.#curatedFrom.get(key);
        if (from === undefined) continue;
        this.#results.markStale(key, from);
        const kept = (this.#curatedStates.get(key) ?? []).filter((c) => c.ts < from);
        this.#curatedStates.set(key, kept);
        const resume = kept.at(-1);
        // Refreshed again: a series that grows (a live one) keeps a state to go on from.
        work.set(key, { ...s, from, keepState: true, ...(resume ? { resume } : {}) });
      }
      if (work.size === 0) return;
      await this.#run('BEGIN TRANSACTION');
      let done: CuratedResult;
      try {
        done = await refreshCurated(this.#conn, [...work.values()]);
        await this.#run('COMMIT');
      } catch (err) {
        await this.#run('ROLLBACK').catch(() => undefined);
        // Whatever this refresh was to replace is still there: the next one replaces it whole.
        for (const key of work.keys()) {
          this.#curatedClean.delete(key);
          this.#curatedStates.delete(key);
          this.#tails.delete(key);
        }
        throw new StoreError(
          `refreshing bars_enriched failed: ${(err as Error).message}`,
          'refreshCurated',
          [],
          err,
        );
      }
      for (const [key, w] of work) {
        this.#curatedClean.add(key);
        this.#curatedFrom.delete(key);
        const tail = done.tails.get(key);
        if (tail) this.#tails.set(key, tail);
        else this.#tails.delete(key);
        const state = done.states.get(key);
        const kept = w.from === null ? [] : (this.#curatedStates.get(key) ?? []);
        // The latest few: a correction reaches back a few bars at most, seldom further.
        this.#curatedStates.delete(key);
        this.#curatedStates.set(key, state ? [...kept, state].slice(-CURATED_STATES) : kept);
      }
      for (const key of this.#curatedStates.keys()) {
        if (this.#curatedStates.size <= CURATED_STATE_SERIES) break;
        this.#curatedStates.delete(key); // its next refresh reads the series whole
      }
    });
  }

  lastBarsBefore(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.#serial(async () => {
      await this.#run(`CREATE TEMP TABLE IF NOT EXISTS last_keys (idx INTEGER, symbol VARCHAR, interval VARCHAR, ts TIMESTAMP);
        DELETE FROM last_keys;`);
      const a = await this.#conn.createAppender('last_keys', 'main', 'temp');
      keys.forEach((k, i) => {
        a.appendInteger(i);
        a.appendVarchar(k.symbol);
        a.appendVarchar(k.interval);
        a.appendTimestamp(
          new DuckDBTimestampValue(BigInt(Math.max(-8.64e15, Math.min(8.64e15, k.ts))) * 1000n),
        );
        a.endRow();
      });
      a.closeSync();
      const rows = await this.#rows(`
        SELECT k.idx, b.symbol, b.interval, epoch_ms(b.ts) AS ts, b.open, b.high, b.low, b.close, b.volume,
          b.adj_close, b.source
        FROM last_keys k ASOF JOIN bars b ON k.symbol = b.symbol AND k.interval = b.interval AND k.ts > b.ts`);
      const out: (Bar | null)[] = keys.map(() => null);
      for (const r of rows) out[Number(r.idx)] = toBar(r);
      return out;
    });
  }

  readBars(q: BarQuery): Promise<Bar[]> {
    return this.#serial(() =>
      this.#readBarRows(
        `WHERE symbol = ? AND interval = ? AND ts >= epoch_ms(?::BIGINT) AND ts < epoch_ms(?::BIGINT)
         ORDER BY ts ${q.order === 'desc' ? 'DESC' : ''} LIMIT ?`,
        [q.symbol, q.interval, q.from ?? -6e13, q.to ?? 6e13, q.limit ?? 1_000_000_000],
      ),
    );
  }

  async #readBarRows(where: string, params: DuckDBValue[]): Promise<Bar[]> {
    const rows = await this.#rows(
      `SELECT symbol, interval, epoch_ms(ts) AS ts, open, high, low, close, volume, adj_close, source,
         vwap, trade_count, backfilled FROM bars ${where}`,
      params,
    );
    return rows.map(toBar);
  }

  readEnrichedBars(q: BarQuery, columns: readonly EnrichedColumn[]): Promise<EnrichedBar[]> {
    const unknown = unknownIndicator(columns);
    if (unknown) return Promise.reject(unknown);
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT symbol, interval, epoch_ms(ts) AS ts, open, high, low, close, volume, adj_close, source,
           vwap, trade_count, backfilled${columns.map((c) => `, ${c}`).join('')}
         FROM bars_enriched
         WHERE symbol = ? AND interval = ? AND ts >= epoch_ms(?::BIGINT) AND ts < epoch_ms(?::BIGINT)
         ORDER BY ts ${q.order === 'desc' ? 'DESC' : ''} LIMIT ?`,
        [q.symbol, q.interval, q.from ?? -6e13, q.to ?? 6e13, q.limit ?? 1_000_000_000],
      );
      return rows.map((r) => ({
        ...toBar(r),
        indicators: Object.fromEntries(
          columns.map((c) => [c, r[c] === null ? null : Number(r[c])]),
        ),
      }));
    });
  }

  readBarColumns(
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full = false,
  ): Promise<BarColumnSet> {
    const unknown = unknownIndicator(indicators);
    if (unknown) return Promise.reject(unknown);
    const names = [
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
    const nan = (c: string) => `coalesce(${c}, 'NaN'::DOUBLE)`;
    const B = BAR_READ_SQL;
    const select = [
      B.ts,
      B.open,
      B.high,
      B.low,
      B.close,
      B.volume,
      B.vwap,
      ...indicators.map((c) => nan(indicatorExpr(c))),
      ...(full
        ? [
            B.adj_close,
            B.trade_count,
            B.backfilled,
            // -1: a source not in the list given (a patched read: see below).
            'coalesce(list_position($6::VARCHAR[], b.source) - 1, -1)::DOUBLE',
          ]
        : []),
    ];
    const series = `${q.symbol}\u0000${q.interval}`;
    const cacheKey = JSON.stringify([q.from, q.to, q.limit, q.order, indicators, full]);
    const desc = q.order === 'desc';
    const limit = q.limit ?? 1_000_000_000;
    /** The rows of [from, q.to) in the query's order, at most `n`. */
    const read = async (from: number | undefined, n: number, sources: string[]) => {
      // Straight from bars and bar_indicators (the view's join, without its NaN handling:
      // NaN is what the typed arrays carry for NULL anyway).
      const { columns, rowCount } = await readColumns(
        this.#conn,
        `SELECT ${select.join(', ')}
         FROM bars b
         LEFT JOIN series s ON s.symbol = b.symbol AND s.interval = b.interval
         LEFT JOIN bar_indicators i ON i.series_id = s.id AND i.ts = b.ts
           AND i.ts >= epoch_ms($3::BIGINT) AND i.ts < epoch_ms($4::BIGINT)
         WHERE b.symbol = $1 AND b.interval = $2 AND b.ts >= epoch_ms($3::BIGINT) AND b.ts < epoch_ms($4::BIGINT)
         ORDER BY b.ts ${desc ? 'DESC' : ''} LIMIT $5`,
        names.map(() => 'f64'),
        [
          q.symbol,
          q.interval,
          from ?? -6e13,
          q.to ?? 6e13,
          n,
          // An empty list has no element type to bind; with no sources there are no rows anyway.
          ...(full ? [listValue(sources.length > 0 ? sources : [''])] : []),
        ],
      );
      const set: BarColumnSet = {
        rows: rowCount,
        columns: Object.fromEntries(names.map((c, k) => [c, columns[k] as Float64Array])),
        sources,
      };
      return set;
    };
    return this.#serial(async () => {
      const kept = this.#results.lookup(series, cacheKey);
      if (kept && kept.staleFrom === undefined) return kept.value;
      if (kept?.staleFrom !== undefined) {
        // Stale from some time on: the rows before it are still right; only the rest is read,
        // with the sources the kept rows index (a source new to the series: read it all).
        const from = kept.staleFrom;
        const old = kept.value;
        const ts = old.columns.ts!;
        let before = 0; // rows older than `from`: a prefix (asc) or a suffix (desc)
        for (let i = 0; i < old.rows; i++) if (ts[i]! < from) before++;
        const want = desc ? limit : limit - before;
        // Nothing of the range is at or after `from` (an older page), or the page is full.
        const start = Math.max(q.from ?? -6e13, from);
        const fresh =
          from >= (q.to ?? 6e13) || want <= 0
            ? { ...old, rows: 0 }
            : (this.#fromTail(series, start, q.to ?? 6e13, want, desc, names, old.sources) ??
              (await read(start, want, old.sources)));
        if (!full || !fresh.columns.source!.subarray(0, fresh.rows).includes(-1)) {
          const keep = Math.min(before, limit - fresh.rows);
          const tail = old.rows - before; // where the older rows start in a desc result
          const set = desc
            ? joinRows(names, old.sources, [fresh, 0, fresh.rows], [old, tail, tail + keep])
            : joinRows(names, old.sources, [old, 0, keep], [fresh, 0, fresh.rows]);
          set.reused = { at: desc ? fresh.rows : 0, start: desc ? tail : 0, count: keep };
          this.#results.set(series, cacheKey, set, setBytes(set), true);
          return set;
        }
      }
      const sources = full
        ? (
            await this.#rows(
              'SELECT DISTINCT source FROM bars WHERE symbol = ? AND interval = ? ORDER BY source',
              [q.symbol, q.interval],
            )
          ).map((r) => String(r.source))
        : [];
      const set = await read(q.from, limit, sources);
      this.#results.set(series, cacheKey, set, names.length * 8 * set.rows);
      return set;
    });
  }

  /**
   * The rows of [from, to) of a series (at most `n`, in the query's order) from what its last
   * refresh read, when that holds every stored bar from `from` on; else null.
   */
  #fromTail(
    series: string,
    from: number,
    to: number,
    n: number,
    desc: boolean,
    names: readonly string[],
    sources: string[],
  ): BarColumnSet | null {
    const t = this.#tails.get(series);
    if (!t || from < t.from) return null;
    const ts = t.columns.ts!;
    let lo = 0;
    while (lo < t.rows && ts[lo]! < from) lo++;
    let hi = lo;
    while (hi < t.rows && ts[hi]! < to) hi++;
    const rows = Math.min(n, hi - lo);
    const at = (k: number) => (desc ? hi - 1 - k : lo + k);
    const columns: Record<string, Float64Array> = {};
    for (const name of names) {
      const col = new Float64Array(rows);
      // A source not in the list is -1, as the query gives it (the caller then reads whole).
      if (name === 'source')
        for (let k = 0; k < rows; k++) col[k] = sources.indexOf(t.sources[at(k)]!);
      else {
        const src = t.columns[name]!;
        for (let k = 0; k < rows; k++) col[k] = src[at(k)]!;
      }
      columns[name] = col;
    }
    return { rows, columns, sources };
  }

  deriveFromBars<D extends Derived>(set: BarColumnSet, name: string, make: (prior?: D) => D): D {
    return this.#results.derive(set, name, make);
  }

  /** The bar query cache's counters. */
  queryCacheStats(): CacheStats {
    return this.#results.stats();
  }

  readTrades(q: TradeQuery): Promise<Trade[]> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT symbol, epoch_ms(ts) AS ts, price, size, conditions, trade_id, source FROM trades
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
      return rows.map((r) => ({
        symbol: String(r.symbol),
        ts: Number(r.ts),
        price: Number(r.price),
        size: Number(r.size),
        conditions: String(r.conditions),
        tradeId: String(r.trade_id),
        source: String(r.source),
      }));
    });
  }

  putApiKey(k: ApiKeyRecord): Promise<void> {
    return this.#serial(async () => {
      await this.#run('INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, epoch_ms(?::BIGINT), NULL)', [
        k.id,
        k.name,
        k.scope,
        k.salt,
        k.hash,
        k.createdAt,
      ]);
    });
  }

  getApiKey(id: string): Promise<ApiKeyRecord | null> {
    return this.#serial(async () => {
      const rows = await this.#rows(`${API_KEY_SELECT} WHERE id = ?`, [id]);
      return rows[0] ? toApiKey(rows[0]) : null;
    });
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#serial(async () =>
      (await this.#rows(`${API_KEY_SELECT} ORDER BY created_at DESC, id`)).map(toApiKey),
    );
  }

  revokeApiKey(id: string): Promise<boolean> {
    return this.#serial(async () => {
      const res = await this.#run(
        'UPDATE api_keys SET revoked_at = now() WHERE id = ? AND revoked_at IS NULL',
        [id],
      );
      return Number(res.rowsChanged) > 0;
    });
  }

  getQuarantine(id: string): Promise<QuarantineRow | null> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT id, stage, source, symbol, interval, rule, message, payload, epoch_ms(received_at) AS received_at
         FROM quarantine WHERE id = ?`,
        [id],
      );
      return rows[0] ? toQuarantineRow(rows[0]) : null;
    });
  }

  deleteQuarantine(id: string): Promise<boolean> {
    return this.#serial(async () => {
      const res = await this.#run('DELETE FROM quarantine WHERE id = ?', [id]);
      return Number(res.rowsChanged) > 0;
    });
  }

  readQuarantine(q: QuarantineQuery): Promise<QuarantineRow[]> {
    return this.#serial(async () => {
      const where: string[] = [];
      const params: DuckDBValue[] = [];
      if (q.rule) {
        where.push('rule = ?');
        params.push(q.rule);
      }
      if (q.symbol) {
        where.push('symbol = ?');
        params.push(q.symbol);
      }
      if (q.interval) {
        where.push('interval = ?');
        params.push(q.interval);
      }
      if (q.stage) {
        where.push('stage = ?');
        params.push(q.stage);
      }
      if (q.from !== undefined) {
        where.push('received_at >= epoch_ms(?::BIGINT)');
        params.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('received_at < epoch_ms(?::BIGINT)');
        params.push(q.to);
      }
      params.push(q.limit ?? 100);
      const rows = await this.#rows(
        `SELECT id, stage, source, symbol, interval, rule, message, payload, epoch_ms(received_at) AS received_at
         FROM quarantine ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY received_at DESC, id LIMIT ?`,
        params,
      );
      return rows.map(toQuarantineRow);
    });
  }

  rejectHistogram(
    bucketMs: number,
    from?: number,
    to?: number,
  ): Promise<{ ts: number; rule: string; n: number }[]> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        `SELECT (epoch_ms(received_at) // $1) * $1 AS ts, rule, count(*) AS n FROM quarantine
         WHERE received_at >= epoch_ms($2::BIGINT) AND received_at < epoch_ms($3::BIGINT)
         GROUP BY ALL ORDER BY ts, rule`,
        [bucketMs, from ?? -6e13, to ?? 6e13],
      );
      return rows.map((r) => ({ ts: Number(r.ts), rule: String(r.rule), n: Number(r.n) }));
    });
  }

  rejectCounts(): Promise<Record<string, number>> {
    return this.#serial(async () => {
      const rows = await this.#rows(
        'SELECT rule, count(*) AS n FROM quarantine GROUP BY rule ORDER BY rule',
      );
      return Object.fromEntries(rows.map((r) => [String(r.rule), Number(r.n)]));
    });
  }

  status(): Promise<SeriesStatus[]> {
    return this.#serial(async () => {
      const rows = await this.#rows(`
        WITH b AS (
          SELECT symbol, interval, count(*) AS n, epoch_ms(min(ts)) AS first_ts, epoch_ms(max(ts)) AS last_ts
          FROM bars GROUP BY symbol, interval),
        q AS (SELECT symbol, interval, count(*) AS rejects FROM quarantine GROUP BY symbol, interval)
        -- Rejects without an interval (trades; bars quarantined before v4) get a row of their own.
        SELECT coalesce(b.symbol, q.symbol) AS symbol, coalesce(b.interval, q.interval) AS interval,
          coalesce(b.n, 0) AS n, b.first_ts, b.last_ts, coalesce(q.rejects, 0) AS rejects
        FROM b FULL OUTER JOIN q ON b.symbol = q.symbol AND b.interval = q.interval
        ORDER BY symbol, interval`);
      return rows.map((r) => ({
        symbol: String(r.symbol ?? '(none)'),
        interval: (r.interval ?? '-') as Interval,
        rows: Number(r.n),
        firstTs: r.first_ts === null ? Number.NaN : Number(r.first_ts),
        lastTs: r.last_ts === null ? Number.NaN : Number(r.last_ts),
        rejects: Number(r.rejects),
      }));
    });
  }

  sql(query: string): Promise<SqlResult> {
    return this.#serial(async () => {
      try {
        // One SELECT (or EXPLAIN) changes nothing: what is cached about the tables stays.
        // Anything else may have written to any table, so all of it is dropped.
        const statements = await this.#conn.extractStatements(query);
        const one = statements.count === 1 ? await statements.prepare(0) : null;
        const readOnly =
          one?.statementType === StatementType.SELECT ||
          one?.statementType === StatementType.EXPLAIN;
        if (!readOnly) {
          this.#extents = null;
          this.#lastTrade = null;
          this.#results.clear();
          this.#curatedClean.clear();
          this.#curatedFrom.clear();
          this.#curatedStates.clear();
          this.#tails.clear();
        }
        const reader = one ? await one.runAndReadAll() : await this.#conn.runAndReadAll(query);
        return {
          columns: reader.columnNames(),
          types: reader.columnTypes().map((t) => t.toString()),
          rows: reader.getRowObjectsJS().map((r) => toPlain(r) as Record<string, unknown>),
        };
      } catch (err) {
        // DuckDB's own message, without the client's step that found it.
        const why = (err as Error).message.replace(
          /^Failed to (extract statements|prepare)[^:]*: /,
          '',
        );
        throw new StoreError(`SQL failed: ${why}`, query, [], err);
      }
    });
  }

  exportFile(opts: FileExportOptions): Promise<number> {
    return this.#serial(() => exportFile(this.#conn, opts));
  }

  exportLake(opts: ExportOptions): Promise<string[]> {
    return this.#serial(() => exportLake(this.#conn, opts));
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      try {
        await this.#conn.run('CHECKPOINT');
      } catch {
        // Nothing to flush, or the file is read-only; closing still releases it.
      }
      this.#conn.closeSync();
      this.#instance.closeSync();
    });
  }
}

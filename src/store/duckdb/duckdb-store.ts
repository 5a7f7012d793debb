/**
 * The embedded store driver: one DuckDB file that this process alone holds.
 * Every call is serialised on one connection and every write is one
 * transaction. Bars take the columnar path in duckdb-bars.ts; the other
 * records are staged in per-connection temp tables and merged on their
 * natural keys, touching only rows whose values changed, so a replay leaves
 * every table identical. Its capabilities are in duckdb-admin.ts.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, listValue } from '@duckdb/node-api';
import { StoreError } from '../../core/errors.ts';
import type { Bar } from '../../core/records.ts';
import type { StoredColumn } from '../../transform/enrich.ts';
import {
  type BarColumnSet,
  type BarQuery,
  barColumnNames,
  type Capabilities,
  type IndicatorRows,
  type SeriesKey,
  type SeriesPrices,
  type SeriesStatus,
  type StoreDriver,
  type TradeColumnSet,
  type TradeQuery,
  type WriteBatch,
  type WriteResult,
} from '../store.ts';
import { duckdbCapabilities } from './duckdb-admin.ts';
import { appendBars, mergeBars, planBars } from './duckdb-bars.ts';
import { prepareConnection, readColumns, resetAfterRollback } from './duckdb-columns.ts';
import { writeIndicators } from './duckdb-curated.ts';
import {
  lastBarsBefore,
  listSeries,
  readSeriesFrom,
  readTradeColumns,
  readWholeSeries,
} from './duckdb-reads.ts';
import { RawParts, writeRecords } from './duckdb-records.ts';
import { BAR_READ_SQL, MIGRATIONS } from './duckdb-schema.ts';
import { DuckDBSession } from './duckdb-session.ts';
import { type TradeEdge, writeTrades } from './duckdb-trades.ts';

async function openPlain(
  path: string,
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  try {
    const instance = await DuckDBInstance.create(path);
    return { instance, conn: await instance.connect() };
  } catch (err) {
    const message = (err as Error).message;
    const hint = /encrypt/i.test(message)
      ? 'it is encrypted: set TICKLINE_STORE_KEY to its key'
      : 'is another tickline process using it?';
    throw new StoreError(`cannot open DuckDB file ${path}: ${message} (${hint})`, 'open', [], err);
  }
}

/**
 * The file attached with DuckDB's database encryption. DuckDB writes encrypted
 * files only with httpfs's OpenSSL loaded (its built-in crypto reads them
 * only), so httpfs is loaded from the configured extension directory, never
 * downloaded; without it this fails here, before anything is written.
 * DuckDB's `force_mbedtls_unsafe` is never switched on.
 */
async function openEncrypted(
  path: string,
  key: string,
  extensionDirectory: string | null,
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    ...(extensionDirectory ? { extension_directory: extensionDirectory } : {}),
  });
  const conn = await instance.connect();
  const fail = (message: string, err: unknown): never => {
    conn.closeSync();
    instance.closeSync();
    throw new StoreError(message, 'open', [], err);
  };
  try {
    await conn.run('LOAD httpfs');
  } catch (err) {
    const where = extensionDirectory
      ? `store.extensionDirectory (${extensionDirectory})`
      : 'store.extensionDirectory (not set)';
    fail(
      `TICKLINE_STORE_KEY is set, so the DuckDB file is to be encrypted, but DuckDB's httpfs extension (its OpenSSL crypto, which encrypted writes need) is not in ${where}: ${(err as Error).message.split('\n')[0]} Put httpfs.duckdb_extension there, or unset TICKLINE_STORE_KEY and encrypt the filesystem instead (LUKS, fscrypt)`,
      err,
    );
  }
  const quoted = (s: string) => `'${s.replaceAll("'", "''")}'`;
  try {
    await conn.run(`ATTACH ${quoted(path)} AS tickline (ENCRYPTION_KEY ${quoted(key)})`);
    await conn.run('USE tickline');
  } catch (err) {
    // DuckDB's message names the file, never the key.
    fail(
      `cannot open DuckDB file ${path} encrypted with TICKLINE_STORE_KEY: ${(err as Error).message.replaceAll(key, '***')}`,
      err,
    );
  }
  return { instance, conn };
}

export class DuckDBStore implements StoreDriver {
  readonly kind = 'duckdb';
  readonly exclusive = true;
  readonly path: string;
  readonly capabilities: Capabilities;
  readonly #instance: DuckDBInstance;
  readonly #db: DuckDBSession;
  /**
   * First and last stored ts per series (symbol + NUL + interval), loaded on first use and kept
   * up to date by write(); it lets a write that cannot touch stored rows skip the merge.
   * Dropped after a failed write or any SQL a user runs.
   */
  #extents: Map<string, { lo: number; hi: number }> | null = null;
  /** Newest stored trade ts (and the ids at it) per symbol, loaded on first use; the trades' fast-path test. */
  #lastTrade: Map<string, TradeEdge> | null = null;
  /** The raw_responses part writes go to. */
  readonly #raw = new RawParts();

  private constructor(path: string, instance: DuckDBInstance, conn: DuckDBConnection) {
    this.path = path;
    this.#instance = instance;
    this.#db = new DuckDBSession(conn);
    this.#db.onUserWrite = () => {
      this.#extents = null;
      this.#lastTrade = null;
      this.#raw.reset();
    };
    this.capabilities = duckdbCapabilities(this.#db);
  }

  /** Opens (creating when missing) the database file and applies pending migrations. */
  static async open(
    path: string,
    opts: {
      memoryLimit?: string | null;
      checkpointThreshold?: string;
      /** Encrypt the file (AES-256-GCM, DuckDB's own); needs httpfs in `extensionDirectory`. */
      encryptionKey?: string;
      extensionDirectory?: string | null;
    } = {},
  ): Promise<DuckDBStore> {
    if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
    const { instance, conn } = opts.encryptionKey
      ? await openEncrypted(path, opts.encryptionKey, opts.extensionDirectory ?? null)
      : await openPlain(path);
    prepareConnection(conn);
    const store = new DuckDBStore(path, instance, conn);
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

  async #migrate(): Promise<void> {
    await this.#db.run(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)',
    );
    const done = new Set(
      (await this.#db.rows('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await this.#db.run('BEGIN TRANSACTION');
      try {
        await this.#db.run(m.sql);
        await this.#db.run('INSERT INTO schema_migrations VALUES (?, ?, now())', [
          m.version,
          m.name,
        ]);
        await this.#db.run('COMMIT');
      } catch (err) {
        await this.#db.run('ROLLBACK');
        throw err;
      }
    }
  }

  write(batch: WriteBatch): Promise<WriteResult> {
    return this.#db.serial(async () => {
      await this.#db.run('BEGIN TRANSACTION');
      try {
        const result = await this.#writeInTx(batch);
        await this.#db.run('COMMIT');
        return result;
      } catch (err) {
        await this.#db.run('ROLLBACK').catch(() => undefined);
        await resetAfterRollback(this.#db.conn).catch(() => undefined);
        this.#extents = null;
        this.#lastTrade = null;
        this.#raw.reset();
        if (err instanceof StoreError) throw err;
        throw new StoreError(`DuckDB write failed: ${(err as Error).message}`, 'write', [], err);
      }
    });
  }

  async #writeInTx(batch: WriteBatch): Promise<WriteResult> {
    let barsChanged = 0;
    if (batch.bars.length > 0) {
      const plan = planBars(batch.bars);
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
        ? await mergeBars(this.#db.conn, plan)
        : await appendBars(this.#db.conn, plan);
    }
    const quarantined = await writeRecords(this.#db, batch, this.#raw);
    let tradesInserted = 0;
    if (batch.trades && batch.trades.length > 0) {
      if (!this.#lastTrade) {
        const rows = await this.#db.rows(
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
      tradesInserted = await writeTrades(this.#db.conn, batch.trades, this.#lastTrade);
    }
    return { barsChanged, quarantined, tradesInserted };
  }

  async #seriesExtents(): Promise<Map<string, { lo: number; hi: number }>> {
    if (!this.#extents) {
      const rows = await this.#db.rows(
        'SELECT symbol, interval, epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM bars GROUP BY ALL',
      );
      this.#extents = new Map(
        rows.map((r) => [`${r.symbol}\u0000${r.interval}`, { lo: Number(r.lo), hi: Number(r.hi) }]),
      );
    }
    return this.#extents;
  }

  writeIndicators(parts: readonly IndicatorRows[]): Promise<void> {
    if (parts.length === 0) return Promise.resolve();
    return this.#db.serial(async () => {
      await this.#db.run('BEGIN TRANSACTION');
      try {
        await writeIndicators(this.#db.conn, parts);
        await this.#db.run('COMMIT');
      } catch (err) {
        await this.#db.run('ROLLBACK').catch(() => undefined);
        throw new StoreError(
          `writing bar_indicators failed: ${(err as Error).message}`,
          'writeIndicators',
          [],
          err,
        );
      }
    });
  }

  readBarColumns(
    q: BarQuery,
    indicators: readonly StoredColumn[],
    full: boolean,
  ): Promise<BarColumnSet> {
    const names = barColumnNames(indicators, full);
    const B = BAR_READ_SQL;
    const select = [
      B.ts,
      B.open,
      B.high,
      B.low,
      B.close,
      B.volume,
      B.vwap,
      ...indicators.map((c) => `coalesce(i.${c}, 'NaN'::DOUBLE)`),
      ...(full
        ? [
            B.adj_close,
            B.trade_count,
            B.backfilled,
            'coalesce(list_position($6::VARCHAR[], b.source) - 1, -1)::DOUBLE',
          ]
        : []),
    ];
    // Straight from bars and bar_indicators (the view's join, without its NaN handling: NaN is
    // what the typed arrays carry for NULL anyway).
    const join =
      indicators.length > 0
        ? `LEFT JOIN series s ON s.symbol = b.symbol AND s.interval = b.interval
           LEFT JOIN bar_indicators i ON i.series_id = s.id AND i.ts = b.ts
             AND i.ts >= epoch_ms($3::BIGINT) AND i.ts < epoch_ms($4::BIGINT)`
        : '';
    return this.#db.serial(async () => {
      const sources = full
        ? // The sources of the rows in range: a read of a series' newest bars (the live
          // path's, for each series a flush touched) then skips old row groups by ts instead
          // of scanning the whole table.
          (
            await this.#db.rows(
              `SELECT DISTINCT source FROM bars WHERE symbol = ? AND interval = ?
               AND ts >= epoch_ms(?::BIGINT) AND ts < epoch_ms(?::BIGINT) ORDER BY source`,
              [q.symbol, q.interval, q.from ?? -6e13, q.to ?? 6e13],
            )
          ).map((r) => String(r.source))
        : [];
      const { columns, rowCount } = await readColumns(
        this.#db.conn,
        `SELECT ${select.join(', ')} FROM bars b ${join}
         WHERE b.symbol = $1 AND b.interval = $2 AND b.ts >= epoch_ms($3::BIGINT) AND b.ts < epoch_ms($4::BIGINT)
         ORDER BY b.ts ${q.order === 'desc' ? 'DESC' : ''} LIMIT $5`,
        names.map(() => 'f64'),
        [
          q.symbol,
          q.interval,
          q.from ?? -6e13,
          q.to ?? 6e13,
          q.limit ?? 1_000_000_000,
          // An empty list has no element type to bind; with no sources there are no rows anyway.
          ...(full ? [listValue(sources.length > 0 ? sources : [''])] : []),
        ],
      ).catch((err) => {
        throw new StoreError(
          `DuckDB query failed: ${(err as Error).message}`,
          'readBarColumns',
          [],
          err,
        );
      });
      return {
        rows: rowCount,
        columns: Object.fromEntries(names.map((c, k) => [c, columns[k] as Float64Array])),
        sources,
      };
    });
  }

  readTradeColumns(q: TradeQuery): Promise<TradeColumnSet> {
    return this.#db.serial(() => readTradeColumns(this.#db, q));
  }

  listSeries(): Promise<SeriesStatus[]> {
    return this.#db.serial(() => listSeries(this.#db));
  }

  lastBarsBefore(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.#db.serial(() => lastBarsBefore(this.#db, keys));
  }

  readSeriesFrom(keys: readonly (SeriesKey & { ts: number })[]): Promise<BarColumnSet[]> {
    return this.#db.serial(() => readSeriesFrom(this.#db, keys));
  }

  readWholeSeries(series: readonly SeriesKey[]): Promise<Map<string, SeriesPrices>> {
    return this.#db.serial(() => readWholeSeries(this.#db, series));
  }

  ping(): Promise<void> {
    return this.#db.serial(async () => {
      await this.#db.run('SELECT 1');
    });
  }

  close(): Promise<void> {
    return this.#db.closeWith(async () => {
      try {
        await this.#db.conn.run('CHECKPOINT');
      } catch {
        // Nothing to flush, or the file is read-only; closing still releases it.
      }
      this.#db.conn.closeSync();
      this.#instance.closeSync();
    });
  }
}

/**
 * The PostgreSQL store driver: many processes (Kafka store workers, the API)
 * share one database. Bars and trades are COPY'd into per-connection temp
 * tables and merged with INSERT … ON CONFLICT on their natural keys, touching
 * only rows whose values changed, so a replay leaves every table identical;
 * the other records are merged from arrays. Month partitions are created
 * ahead of the writes that need them. Schema: pg-schema.ts; curated rows:
 * pg-curated.ts; capabilities: pg-admin.ts.
 */
import type pg from 'pg';
import type { CalendarResolver } from '../../calendar/registry.ts';
import { StoreError } from '../../core/errors.ts';
import type { Interval } from '../../core/time.ts';
import type { StoredColumn } from '../../transform/enrich.ts';
import { quarantineId, rawResponseId } from '../natural-keys.ts';
import type {
  BarColumnSet,
  BarQuery,
  Capabilities,
  IndicatorRows,
  SeriesStatus,
  StoreDriver,
  TradeColumnSet,
  TradeQuery,
  WriteBatch,
  WriteResult,
} from '../store.ts';
import { pgCapabilities } from './pg-admin.ts';
import { isUniqueViolation, writeBars } from './pg-bars.ts';
import { copyRows, tsText } from './pg-copy.ts';
import { PgCurated } from './pg-curated.ts';
import { readBarColumns, readTradeColumns } from './pg-read.ts';
import { monthOf, PG_MIGRATIONS, partitionDdl } from './pg-schema.ts';
import { connectError, PgSession } from './pg-session.ts';

const MIGRATION_LOCK = 7_320_001;
const PARTITION_LOCK = 7_320_002;

const TEMP_TABLES = `
CREATE TEMP TABLE IF NOT EXISTS tmp_trades (n INTEGER, symbol TEXT, ts TIMESTAMPTZ, trade_id TEXT,
  price FLOAT8, size FLOAT8, conditions TEXT, source TEXT) ON COMMIT DELETE ROWS;`;

export interface PostgresSettings {
  poolSize: number;
  partitionsAhead: number;
}

export class PostgresStore implements StoreDriver {
  readonly kind = 'postgres';
  readonly exclusive = false;
  readonly capabilities: Partial<Capabilities>;
  readonly #db: PgSession;
  readonly #settings: PostgresSettings;
  readonly #curated: PgCurated;
  /** Month partitions (their first instant) known to exist, per table. */
  readonly #months = { bars: new Set<number>(), trades: new Set<number>() };
  /** Clients whose temp tables exist. */
  readonly #prepared = new WeakSet<pg.PoolClient>();

  private constructor(db: PgSession, settings: PostgresSettings, calendars?: CalendarResolver) {
    this.#db = db;
    this.#settings = settings;
    this.#curated = new PgCurated(db, calendars);
    this.capabilities = pgCapabilities(db);
  }

  /** Connects (failing clearly: a wrong CA, a refused connection) and applies pending migrations. */
  static async open(
    url: string,
    settings: PostgresSettings,
    opts: { calendars?: CalendarResolver } = {},
  ): Promise<PostgresStore> {
    const db = new PgSession(url, settings.poolSize);
    let client: pg.PoolClient;
    try {
      client = await db.pool.connect();
    } catch (err) {
      await db.pool.end().catch(() => undefined);
      throw connectError(url, err);
    }
    try {
      // One process migrates at a time (workers may start together).
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS tickline;
        CREATE TABLE IF NOT EXISTS tickline.schema_migrations (version INTEGER PRIMARY KEY,
          name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const done = new Set(
        (await client.query('SELECT version FROM tickline.schema_migrations')).rows.map((r) =>
          Number(r.version),
        ),
      );
      for (const m of PG_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            'INSERT INTO tickline.schema_migrations (version, name) VALUES ($1, $2)',
            [m.version, m.name],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new StoreError(
            `PostgreSQL migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
            'migrate',
            [],
            err,
          );
        }
      }
    } catch (err) {
      client.release();
      await db.pool.end().catch(() => undefined);
      throw err instanceof StoreError ? err : connectError(url, err);
    }
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
    return new PostgresStore(db, settings, opts.calendars);
  }

  /** Creates the month partitions these timestamps need, and `partitionsAhead` after the newest. */
  async #partitions(table: 'bars' | 'trades', ts: Iterable<number>): Promise<void> {
    const known = this.#months[table];
    const need = new Set<number>();
    let newest = Number.NEGATIVE_INFINITY;
    for (const t of ts) {
      const [start] = monthOf(t);
      if (!known.has(start)) need.add(start);
      if (start > newest) newest = start;
    }
    if (need.size === 0) return;
    for (let i = 0, m = newest; i < this.#settings.partitionsAhead; i++) {
      m = monthOf(m)[1];
      if (!known.has(m)) need.add(m);
    }
    await this.#db.tx(async (c) => {
      // Serialised across processes: CREATE … IF NOT EXISTS alone races.
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const m of need) await c.query(partitionDdl(table, m));
    });
    for (const m of need) known.add(m);
  }

  async write(batch: WriteBatch): Promise<WriteResult> {
    const trades = batch.trades ?? [];
    const barTimes = function* () {
      for (const b of batch.bars) yield b.ts;
    };
    const tradeTimes = function* () {
      for (const t of trades) yield t.ts;
    };
    await this.#partitions('bars', barTimes());
    await this.#partitions('trades', tradeTimes());
    const attempt = (merge: boolean) =>
      this.#db.tx(async (c) => {
        try {
          return await this.#writeIn(c, batch, merge);
        } catch (err) {
          // The temp tables may have gone with the rollback: made again on this client's next write.
          this.#prepared.delete(c);
          throw err;
        }
      });
    try {
      return await attempt(false);
    } catch (err) {
      // Bars appended straight met a key another writer stored meanwhile: merge them instead.
      if (!(err instanceof StoreError) || !isUniqueViolation(err)) throw err;
      return attempt(true);
    }
  }

  async #writeIn(c: pg.PoolClient, batch: WriteBatch, merge: boolean): Promise<WriteResult> {
    const trades = batch.trades ?? [];
    {
      if (!this.#prepared.has(c)) {
        await c.query(TEMP_TABLES);
        this.#prepared.add(c);
      }
      const q = (text: string, params: unknown[] = []) => this.#db.query(text, params, c);
      if (batch.raw.length > 0) {
        const r = batch.raw;
        await q(
          `INSERT INTO staging.raw_responses (id, source, request, status, received_at, body)
           SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],
             $5::timestamptz[], $6::text[]) AS x(id, source, request, status, received_at, body) ORDER BY id
           ON CONFLICT (id) DO NOTHING`,
          [
            r.map(rawResponseId),
            r.map((x) => x.source),
            r.map((x) => x.request),
            r.map((x) => x.status),
            r.map((x) => tsText(x.receivedAt)),
            r.map((x) => x.body),
          ],
        );
      }
      let barsChanged = 0;
      if (batch.bars.length > 0) barsChanged = await writeBars(c, batch.bars, merge);
      let quarantined = 0;
      if (batch.rejects.length > 0) {
        const r = batch.rejects;
        // A record quarantined before its interval was kept gets it when it is quarantined again.
        const res = await q(
          `INSERT INTO staging.quarantine (id, stage, source, symbol, interval, rule, message, payload, received_at)
           SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
             AS x(id, stage, source, symbol, interval, rule, message, payload, received_at) ORDER BY id
           ON CONFLICT (id) DO UPDATE SET interval = excluded.interval
             WHERE quarantine.interval IS NULL AND excluded.interval IS NOT NULL
           RETURNING (xmax = 0) AS inserted`,
          [
            r.map(quarantineId),
            r.map((x) => x.stage),
            r.map((x) => x.source),
            r.map((x) => x.symbol),
            r.map((x) => x.interval ?? null),
            r.map((x) => x.rule),
            r.map((x) => x.message),
            r.map((x) => x.payload),
            r.map((x) => tsText(x.receivedAt)),
          ],
        );
        quarantined = res.rows.filter((x) => x.inserted === true).length;
      }
      if (batch.actions.length > 0) {
        const a = batch.actions;
        await q(
          `INSERT INTO staging.corporate_actions (symbol, ts, kind, value, source)
           SELECT DISTINCT ON (symbol, ts, kind) * FROM unnest($1::text[], $2::timestamptz[],
             $3::text[], $4::float8[], $5::text[]) AS x(symbol, ts, kind, value, source)
           ORDER BY symbol, ts, kind
           ON CONFLICT (symbol, ts, kind) DO UPDATE SET value = excluded.value, source = excluded.source
           WHERE (corporate_actions.value, corporate_actions.source)
             IS DISTINCT FROM (excluded.value, excluded.source)`,
          [
            a.map((x) => x.symbol),
            a.map((x) => tsText(x.ts)),
            a.map((x) => x.kind),
            a.map((x) => x.value),
            a.map((x) => x.source),
          ],
        );
      }
      if (batch.instruments.length > 0) {
        const i = batch.instruments;
        const cols = ['name', 'exchange', 'currency', 'timezone'];
        await q(
          `INSERT INTO warehouse.dim_instrument AS d (symbol, name, exchange, currency, timezone)
           SELECT DISTINCT ON (symbol) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[]) AS x(symbol, name, exchange, currency, timezone) ORDER BY symbol
           ON CONFLICT (symbol) DO UPDATE SET
             ${cols.map((k) => `${k} = coalesce(excluded.${k}, d.${k})`).join(', ')}
           WHERE (${cols.map((k) => `d.${k}`).join(', ')})
             IS DISTINCT FROM (${cols.map((k) => `coalesce(excluded.${k}, d.${k})`).join(', ')})`,
          [
            i.map((x) => x.symbol),
            i.map((x) => x.name),
            i.map((x) => x.exchange),
            i.map((x) => x.currency),
            i.map((x) => x.timezone),
          ],
        );
      }
      let tradesInserted = 0;
      if (trades.length > 0) {
        const cols = ['n', 'symbol', 'ts', 'trade_id', 'price', 'size', 'conditions', 'source'];
        await copyRows(c, 'tmp_trades', cols, trades.length, (i) => {
          const t = trades[i]!;
          return [i, t.symbol, tsText(t.ts), t.tradeId, t.price, t.size, t.conditions, t.source];
        });
        const res =
          await q(`INSERT INTO staging.trades (symbol, ts, trade_id, price, size, conditions, source)
          SELECT DISTINCT ON (symbol, ts, trade_id) symbol, ts, trade_id, price, size, conditions, source
          FROM tmp_trades ORDER BY symbol, ts, trade_id, n
          ON CONFLICT (symbol, ts, trade_id) DO NOTHING`);
        tradesInserted = res.rowCount ?? 0;
      }
      return { barsChanged, quarantined, tradesInserted };
    }
  }

  writeIndicators(parts: readonly IndicatorRows[]): Promise<void> {
    return this.#curated.write(parts);
  }

  readBarColumns(
    q: BarQuery,
    indicators: readonly StoredColumn[],
    full: boolean,
  ): Promise<BarColumnSet> {
    return readBarColumns(this.#db, q, indicators, full);
  }

  readTradeColumns(q: TradeQuery): Promise<TradeColumnSet> {
    return readTradeColumns(this.#db, q);
  }

  async listSeries(): Promise<SeriesStatus[]> {
    const rows = await this.#db.arrays(`
      WITH b AS (
        SELECT symbol, interval, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts
        FROM staging.bars GROUP BY symbol, interval
        -- Trades are a row per symbol without an interval, beside the rejects without one.
        UNION ALL
        SELECT symbol, NULL, count(*), min(ts), max(ts) FROM staging.trades GROUP BY symbol),
      q AS (SELECT symbol, interval, count(*) AS rejects FROM staging.quarantine GROUP BY symbol, interval)
      SELECT coalesce(b.symbol, q.symbol) AS symbol, coalesce(b.interval, q.interval) AS interval,
        coalesce(b.n, 0)::float8, (extract(epoch FROM b.first_ts) * 1000)::float8,
        (extract(epoch FROM b.last_ts) * 1000)::float8, coalesce(q.rejects, 0)::float8
      FROM b FULL OUTER JOIN q -- (a FULL JOIN needs an equality: '' stands for NULL, never a name)
        ON coalesce(b.symbol, '') = coalesce(q.symbol, '') AND coalesce(b.interval, '') = coalesce(q.interval, '')
      ORDER BY coalesce(b.symbol, q.symbol) COLLATE "C", coalesce(b.interval, q.interval) COLLATE "C"`);
    return rows.map((r) => ({
      symbol: r[0] === null ? '(none)' : String(r[0]),
      interval: (r[1] ?? '-') as Interval,
      rows: r[2] as number,
      firstTs: r[3] === null ? Number.NaN : (r[3] as number),
      lastTs: r[4] === null ? Number.NaN : (r[4] as number),
      rejects: r[5] as number,
    }));
  }

  async ping(): Promise<void> {
    try {
      await this.#db.pool.query('SELECT 1');
    } catch (err) {
      throw connectError(this.#db.url, err);
    }
  }

  async close(): Promise<void> {
    await this.#db.pool.end();
  }
}

/**
 * The records a write merges on their natural keys through temp stage tables: raw responses,
 * quarantined records, corporate actions and instruments (bars and trades take the columnar
 * paths of duckdb-bars.ts and duckdb-trades.ts). Only rows whose values changed are touched.
 */

import { quarantineId, rawResponseId } from '../natural-keys.ts';
import type { WriteBatch } from '../store.ts';
import type { DuckDBSession } from './duckdb-session.ts';

/** The temp tables one write stages records in before merging them on their natural keys. */
const STAGE_TABLES = {
  stage_quarantine:
    'id VARCHAR, stage VARCHAR, source VARCHAR, symbol VARCHAR, interval VARCHAR, rule VARCHAR, message VARCHAR, payload VARCHAR, received_ms DOUBLE',
  stage_actions: 'symbol VARCHAR, ts_ms DOUBLE, kind VARCHAR, value DOUBLE, source VARCHAR',
  stage_instruments:
    'symbol VARCHAR, name VARCHAR, exchange VARCHAR, currency VARCHAR, timezone VARCHAR',
  stage_raw:
    'id VARCHAR, source VARCHAR, request VARCHAR, status DOUBLE, received_ms DOUBLE, body VARCHAR, data_from_ms DOUBLE',
} as const;

/**
 * (Re)creates a temp stage table, empty, and appends rows to it; its columns are VARCHAR
 * (strings, nulls) or DOUBLE. Replacing the table beats deleting its rows, and only a write
 * that has such records pays for it.
 */
async function stage(
  db: DuckDBSession,
  table: keyof typeof STAGE_TABLES,
  rows: readonly (readonly (string | number | null)[])[],
): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP TABLE ${table} (${STAGE_TABLES[table]})`);
  const a = await db.conn.createAppender(table, 'main', 'temp');
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

/** The columns of a raw_responses part, in table order. */
const RAW_COLUMNS = `id VARCHAR NOT NULL, source VARCHAR NOT NULL, request VARCHAR NOT NULL,
  status INTEGER NOT NULL, received_at TIMESTAMP NOT NULL, body VARCHAR NOT NULL,
  data_from TIMESTAMP`;

/** Body bytes after which a raw_responses part is sealed and the next one begun. */
export const RAW_PART_BYTES = 16 * 1024 * 1024;

/**
 * Where raw responses go: the newest part behind the `raw_responses` view (migration 6). A
 * checkpoint rewrites only a part's last row group, so a sealed part costs nothing more and a
 * write's commit stays bounded however much is stored. Loaded on first use; `reset()` after a
 * rollback or a user's SQL.
 */
export class RawParts {
  #now: { k: number; bytes: number } | null = null;

  reset(): void {
    this.#now = null;
  }

  async #load(db: DuckDBSession): Promise<{ k: number; bytes: number }> {
    if (this.#now === null) {
      const parts = await db.rows(
        `SELECT table_name AS t FROM duckdb_tables()
         WHERE database_name = current_database() AND schema_name = current_schema()
           AND regexp_full_match(table_name, 'raw_responses_[0-9]+')`,
      );
      const k = Math.max(
        0,
        ...parts.map((r) => Number(String(r.t).slice('raw_responses_'.length))),
      );
      const [row] = await db.rows(
        `SELECT coalesce(sum(strlen(body)), 0)::DOUBLE AS n FROM raw_responses_${k}`,
      );
      this.#now = { k, bytes: Number(row?.n ?? 0) };
    }
    return this.#now;
  }

  /** The newest part, if `bytes` more fit in it; null when they would fill it. */
  async fitting(db: DuckDBSession, bytes: number): Promise<string | null> {
    const now = await this.#load(db);
    return now.bytes + bytes <= RAW_PART_BYTES ? `raw_responses_${now.k}` : null;
  }

  /** Counts bytes written to the newest part. */
  added(bytes: number): void {
    if (this.#now !== null) this.#now.bytes += bytes;
  }

  /** The part to insert `bytes` more of body into, beginning a new one when this one is full. */
  async target(db: DuckDBSession, bytes: number): Promise<string> {
    const now = await this.#load(db);
    if (now.bytes > 0 && now.bytes + bytes > RAW_PART_BYTES) {
      now.k++;
      now.bytes = 0;
      await db.run(`CREATE TABLE raw_responses_${now.k} (${RAW_COLUMNS})`);
      const parts = Array.from({ length: now.k + 1 }, (_, i) => `SELECT * FROM raw_responses_${i}`);
      await db.run(`CREATE OR REPLACE VIEW raw_responses AS ${parts.join(' UNION ALL ')}`);
    }
    now.bytes += bytes;
    return `raw_responses_${now.k}`;
  }
}

/** Merges the batch's raw responses, rejects, actions and instruments; returns rejects that were new. */
export async function writeRecords(
  db: DuckDBSession,
  batch: WriteBatch,
  raw: RawParts,
): Promise<number> {
  if (batch.raw.length > 0) {
    await stage(
      db,
      'stage_raw',
      batch.raw.map((r) => [
        rawResponseId(r),
        r.source,
        r.request,
        r.status,
        r.receivedAt,
        r.body,
        r.dataFrom ?? null,
      ]),
    );
    const ids = new Set(batch.raw.map(rawResponseId));
    const bytes = batch.raw.reduce((n, r) => n + r.body.length, 0);
    const values = `SELECT id, source, request, status::INTEGER, epoch_ms(received_ms::BIGINT), body,
        epoch_ms(data_from_ms::BIGINT)`;
    const fits = await raw.fitting(db, bytes);
    if (fits !== null) {
      // The usual write: it fits in the newest part whatever of it is stored already.
      const res = await db.run(`INSERT INTO ${fits}
        ${values} FROM (SELECT DISTINCT ON (id) * FROM stage_raw) s
        WHERE s.id NOT IN (SELECT id FROM raw_responses)`);
      // Some were stored already: the part's size is counted afresh when next needed.
      if (Number(res.rowsChanged) === ids.size) raw.added(bytes);
      else raw.reset();
    } else {
      // It would fill the part: only responses not stored yet count toward its size.
      await db.run(`CREATE OR REPLACE TEMP TABLE stage_raw_new AS
        SELECT DISTINCT ON (id) * FROM stage_raw s WHERE s.id NOT IN (SELECT id FROM raw_responses)`);
      const [fresh] = await db.rows(
        'SELECT count(*)::DOUBLE AS n, coalesce(sum(strlen(body)), 0)::DOUBLE AS bytes FROM stage_raw_new',
      );
      if (Number(fresh?.n ?? 0) > 0) {
        const part = await raw.target(db, Number(fresh!.bytes));
        await db.run(`INSERT INTO ${part} ${values} FROM stage_raw_new`);
      }
    }
  }
  let quarantined = 0;
  if (batch.rejects.length > 0) {
    const ids = batch.rejects.map(quarantineId);
    await stage(
      db,
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
    const res = await db.run(`INSERT INTO quarantine
        (id, stage, source, symbol, interval, rule, message, payload, received_at)
      SELECT DISTINCT ON (id) id, stage, source, symbol, interval, rule, message, payload,
        epoch_ms(received_ms::BIGINT)
      FROM stage_quarantine s WHERE s.id NOT IN (SELECT id FROM quarantine)`);
    quarantined = Number(res.rowsChanged);
    // A record quarantined before its interval was kept gets it when it is quarantined again.
    if (quarantined < new Set(ids).size && batch.rejects.some((q) => q.interval)) {
      await db.run(`UPDATE quarantine q SET interval = s.interval
        FROM (SELECT DISTINCT ON (id) id, interval FROM stage_quarantine) s
        WHERE q.id = s.id AND q.interval IS NULL AND s.interval IS NOT NULL`);
    }
  }
  if (batch.actions.length > 0) {
    await stage(
      db,
      'stage_actions',
      batch.actions.map((c) => [c.symbol, c.ts, c.kind, c.value, c.source]),
    );
    await db.run(`INSERT INTO corporate_actions
      SELECT DISTINCT ON (symbol, ts_ms, kind) symbol, epoch_ms(ts_ms::BIGINT), kind, value, source FROM stage_actions
      ON CONFLICT (symbol, ts, kind) DO UPDATE SET value = excluded.value, source = excluded.source
      WHERE corporate_actions.value IS DISTINCT FROM excluded.value
        OR corporate_actions.source IS DISTINCT FROM excluded.source`);
  }
  if (batch.instruments.length > 0) {
    await stage(
      db,
      'stage_instruments',
      batch.instruments.map((i) => [i.symbol, i.name, i.exchange, i.currency, i.timezone]),
    );
    await db.run(`INSERT INTO instruments
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
  return quarantined;
}

/**
 * The PostgreSQL store's capabilities beyond the core contract: quarantine
 * admin, API keys, the SQL console (search_path: staging, warehouse) and
 * analytics. Lake export is the embedded store's (DuckDB writes the Parquet).
 */
import type pg from 'pg';
import { SqlError } from '../../core/errors.ts';
import { toApiKey, toQuarantineRow } from '../record-rows.ts';
import type { Capabilities } from '../store.ts';
import { tsText } from './pg-copy.ts';
import type { PgSession } from './pg-session.ts';

const ms = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;

const QUARANTINE_SELECT = `SELECT id, stage, source, symbol, interval, rule, message, payload,
  ${ms('received_at')} AS received_at FROM staging.quarantine`;

const API_KEY_SELECT = `SELECT id, name, scope, salt, hash, ${ms('created_at')} AS created_at,
  ${ms('revoked_at')} AS revoked_at FROM tickline.api_keys`;

/** Type names of the column types a console query most often returns (by type OID). */
const TYPE_NAMES: Record<number, string> = {
  16: 'BOOLEAN',
  20: 'BIGINT',
  21: 'SMALLINT',
  23: 'INTEGER',
  25: 'TEXT',
  700: 'REAL',
  701: 'DOUBLE PRECISION',
  1043: 'VARCHAR',
  1082: 'DATE',
  1114: 'TIMESTAMP',
  1184: 'TIMESTAMPTZ',
  1700: 'NUMERIC',
};

/** A console value as JSON can carry it (int8 and numeric come as text: numbers when exact). */
function plain(v: unknown): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'string' && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)))
    return Number(v);
  return v;
}

export function pgCapabilities(db: PgSession): Partial<Capabilities> {
  return {
    quarantine: {
      getQuarantine: async (id) => {
        const { rows } = await db.query(`${QUARANTINE_SELECT} WHERE id = $1`, [id]);
        return rows[0] ? toQuarantineRow(rows[0]) : null;
      },
      deleteQuarantine: async (id) =>
        ((await db.query('DELETE FROM staging.quarantine WHERE id = $1', [id])).rowCount ?? 0) > 0,
      readQuarantine: async (q) => {
        const where: string[] = [];
        const params: unknown[] = [];
        const eq = { rule: q.rule, symbol: q.symbol, interval: q.interval, stage: q.stage };
        for (const [col, v] of Object.entries(eq)) {
          if (v) where.push(`${col} = $${params.push(v)}`);
        }
        if (q.from !== undefined) where.push(`received_at >= $${params.push(tsText(q.from))}`);
        if (q.to !== undefined) where.push(`received_at < $${params.push(tsText(q.to))}`);
        const { rows } = await db.query(
          `${QUARANTINE_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY received_at DESC, id COLLATE "C" LIMIT $${params.push(q.limit ?? 100)}`,
          params,
        );
        return rows.map(toQuarantineRow);
      },
      rejectCounts: async () => {
        const { rows } = await db.query(
          'SELECT rule, count(*)::float8 AS n FROM staging.quarantine GROUP BY rule ORDER BY rule COLLATE "C"',
        );
        return Object.fromEntries(rows.map((r) => [String(r.rule), Number(r.n)]));
      },
    },
    keys: {
      putApiKey: async (k) => {
        await db.query('INSERT INTO tickline.api_keys VALUES ($1, $2, $3, $4, $5, $6, NULL)', [
          k.id,
          k.name,
          k.scope,
          k.salt,
          k.hash,
          tsText(k.createdAt),
        ]);
      },
      getApiKey: async (id) => {
        const { rows } = await db.query(`${API_KEY_SELECT} WHERE id = $1`, [id]);
        return rows[0] ? toApiKey(rows[0]) : null;
      },
      listApiKeys: async () =>
        (await db.query(`${API_KEY_SELECT} ORDER BY created_at DESC, id COLLATE "C"`)).rows.map(
          toApiKey,
        ),
      revokeApiKey: async (id) =>
        ((
          await db.query(
            'UPDATE tickline.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL',
            [id],
          )
        ).rowCount ?? 0) > 0,
    },
    sql: {
      sql: async (query, opts = {}) => {
        let res: pg.QueryResult | pg.QueryResult[];
        const client = await db.pool.connect();
        try {
          // Reading only: a READ ONLY transaction, so PostgreSQL itself refuses any change.
          if (opts.readOnly) await client.query('BEGIN TRANSACTION READ ONLY');
          res = (await client.query(query)) as pg.QueryResult | pg.QueryResult[];
          if (opts.readOnly) await client.query('COMMIT');
        } catch (err) {
          if (opts.readOnly) await client.query('ROLLBACK').catch(() => undefined);
          const why = (err as Error).message;
          throw new SqlError(
            /read-only transaction/.test(why)
              ? `SQL refused: ${why}; add --write to change the store`
              : `SQL failed: ${why}`,
            query,
            { cause: err },
          );
        } finally {
          client.release();
        }
        // Several statements answer one result each: the last one's rows are shown.
        const last = Array.isArray(res) ? res.at(-1)! : res;
        const all = Array.isArray(res) ? res : [res];
        const fields = last.fields ?? [];
        return {
          columns: fields.map((f) => f.name),
          types: fields.map((f) => TYPE_NAMES[f.dataTypeID] ?? `OID ${f.dataTypeID}`),
          rows: (last.rows ?? []).map((r: Record<string, unknown>) =>
            Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)])),
          ),
          wrote: all.some((r) => !['SELECT', 'EXPLAIN', 'SHOW'].includes(r.command)),
        };
      },
    },
    analytics: {
      rejectHistogram: async (bucketMs, f = {}) => {
        const { rows } = await db.query(
          `SELECT floor(${ms('received_at')} / $1) * $1 AS ts, rule, count(*)::float8 AS n
           FROM staging.quarantine WHERE received_at >= $2 AND received_at < $3
             AND ($4::text IS NULL OR rule = $4) AND ($5::text IS NULL OR symbol = $5)
             AND ($6::text IS NULL OR stage = $6) AND ($7::text IS NULL OR interval = $7)
           GROUP BY 1, 2 ORDER BY 1, rule COLLATE "C"`,
          [
            bucketMs,
            tsText(f.from ?? -6e13),
            tsText(f.to ?? 6e13),
            f.rule ?? null,
            f.symbol ?? null,
            f.stage ?? null,
            f.interval ?? null,
          ],
        );
        return rows.map((r) => ({ ts: Number(r.ts), rule: String(r.rule), n: Number(r.n) }));
      },
      layerCounts: async () => {
        const tables: Record<string, string> = {
          raw_responses: 'staging.raw_responses',
          trades: 'staging.trades',
          bars: 'staging.bars',
          corporate_actions: 'staging.corporate_actions',
          bar_indicators: 'warehouse.fact_bars',
          quarantine: 'staging.quarantine',
        };
        const { rows } = await db.query(
          `SELECT ${Object.entries(tables)
            .map(([k, t]) => `(SELECT count(*) FROM ${t})::float8 AS ${k}`)
            .join(', ')}`,
        );
        return Object.fromEntries(Object.keys(tables).map((k) => [k, Number(rows[0]?.[k] ?? 0)]));
      },
    },
  };
}

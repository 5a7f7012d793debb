/**
 * The DuckDB store's capabilities beyond the core contract: quarantine admin,
 * API keys, the SQL console, analytics and lake export.
 */
import { type DuckDBValue, StatementType } from '@duckdb/node-api';
import { SqlError } from '../../core/errors.ts';
import { toApiKey, toQuarantineRow } from '../record-rows.ts';
import type { Capabilities } from '../store.ts';
import { exportFile, exportLake } from './duckdb-export.ts';
import type { DuckDBSession } from './duckdb-session.ts';
import { toPlain } from './duckdb-values.ts';

const QUARANTINE_SELECT = `SELECT id, stage, source, symbol, interval, rule, message, payload,
  epoch_ms(received_at) AS received_at FROM quarantine`;

const API_KEY_SELECT = `SELECT id, name, scope, salt, hash, epoch_ms(created_at) AS created_at,
  epoch_ms(revoked_at) AS revoked_at FROM api_keys`;

export function duckdbCapabilities(db: DuckDBSession): Capabilities {
  const s = <T>(fn: () => Promise<T>) => db.serial(fn);
  return {
    quarantine: {
      getQuarantine: (id) =>
        s(async () => {
          const rows = await db.rows(`${QUARANTINE_SELECT} WHERE id = ?`, [id]);
          return rows[0] ? toQuarantineRow(rows[0]) : null;
        }),
      deleteQuarantine: (id) =>
        s(async () => {
          const res = await db.run('DELETE FROM quarantine WHERE id = ?', [id]);
          return Number(res.rowsChanged) > 0;
        }),
      readQuarantine: (q) =>
        s(async () => {
          const where: string[] = [];
          const params: DuckDBValue[] = [];
          const eq = { rule: q.rule, symbol: q.symbol, interval: q.interval, stage: q.stage };
          for (const [col, v] of Object.entries(eq)) {
            if (!v) continue;
            where.push(`${col} = ?`);
            params.push(v);
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
          const rows = await db.rows(
            `${QUARANTINE_SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
             ORDER BY received_at DESC, id LIMIT ?`,
            params,
          );
          return rows.map(toQuarantineRow);
        }),
      rejectCounts: () =>
        s(async () => {
          const rows = await db.rows(
            'SELECT rule, count(*) AS n FROM quarantine GROUP BY rule ORDER BY rule',
          );
          return Object.fromEntries(rows.map((r) => [String(r.rule), Number(r.n)]));
        }),
    },
    keys: {
      putApiKey: (k) =>
        s(async () => {
          await db.run('INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, epoch_ms(?::BIGINT), NULL)', [
            k.id,
            k.name,
            k.scope,
            k.salt,
            k.hash,
            k.createdAt,
          ]);
        }),
      getApiKey: (id) =>
        s(async () => {
          const rows = await db.rows(`${API_KEY_SELECT} WHERE id = ?`, [id]);
          return rows[0] ? toApiKey(rows[0]) : null;
        }),
      listApiKeys: () =>
        s(async () =>
          (await db.rows(`${API_KEY_SELECT} ORDER BY created_at DESC, id`)).map(toApiKey),
        ),
      revokeApiKey: (id) =>
        s(async () => {
          const res = await db.run(
            'UPDATE api_keys SET revoked_at = now() WHERE id = ? AND revoked_at IS NULL',
            [id],
          );
          return Number(res.rowsChanged) > 0;
        }),
    },
    sql: {
      sql: (query, opts = {}) =>
        s(async () => {
          try {
            // One SELECT (or EXPLAIN) changes nothing: what is kept about the tables stays.
            const statements = await db.conn.extractStatements(query);
            const one = statements.count === 1 ? await statements.prepare(0) : null;
            const readOnly =
              one?.statementType === StatementType.SELECT ||
              one?.statementType === StatementType.EXPLAIN;
            if (!readOnly && opts.readOnly) {
              const kind = one
                ? StatementType[one.statementType]
                : `${statements.count} statements`;
              throw new SqlError(
                `SQL refused: only one SELECT (or EXPLAIN) is run when reading, and this is ${kind}; add --write to change the store`,
                query,
              );
            }
            if (!readOnly) db.onUserWrite();
            const reader = one ? await one.runAndReadAll() : await db.conn.runAndReadAll(query);
            return {
              columns: reader.columnNames(),
              types: reader.columnTypes().map((t) => t.toString()),
              rows: reader.getRowObjectsJS().map((r) => toPlain(r) as Record<string, unknown>),
              wrote: !readOnly,
            };
          } catch (err) {
            if (err instanceof SqlError) throw err;
            // DuckDB's own message, without the client's step that found it.
            const why = (err as Error).message.replace(
              /^Failed to (extract statements|prepare)[^:]*: /,
              '',
            );
            throw new SqlError(`SQL failed: ${why}`, query, { cause: err });
          }
        }),
    },
    analytics: {
      rejectHistogram: (bucketMs, f = {}) =>
        s(async () => {
          const rows = await db.rows(
            `SELECT (epoch_ms(received_at) // $1) * $1 AS ts, rule, count(*) AS n FROM quarantine
             WHERE received_at >= epoch_ms($2::BIGINT) AND received_at < epoch_ms($3::BIGINT)
               AND ($4::VARCHAR IS NULL OR rule = $4) AND ($5::VARCHAR IS NULL OR symbol = $5)
               AND ($6::VARCHAR IS NULL OR stage = $6) AND ($7::VARCHAR IS NULL OR interval = $7)
             GROUP BY ALL ORDER BY ts, rule`,
            [
              bucketMs,
              f.from ?? -6e13,
              f.to ?? 6e13,
              f.rule ?? null,
              f.symbol ?? null,
              f.stage ?? null,
              f.interval ?? null,
            ],
          );
          return rows.map((r) => ({ ts: Number(r.ts), rule: String(r.rule), n: Number(r.n) }));
        }),
      layerCounts: () =>
        s(async () => {
          const tables = [
            'raw_responses',
            'trades',
            'bars',
            'corporate_actions',
            'bar_indicators',
            'quarantine',
          ];
          const rows = await db.rows(
            `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(', ')}`,
          );
          return Object.fromEntries(tables.map((t) => [t, Number(rows[0]?.[t] ?? 0)]));
        }),
    },
    export: {
      exportFile: (opts) => s(() => exportFile(db.conn, opts)),
      exportLake: (opts) => s(() => exportLake(db.conn, opts)),
    },
  };
}

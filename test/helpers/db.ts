/** Reads a DuckDB file independently of the store, for assertions. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export function tempDir(prefix = 'tickline-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs queries against a database file opened read-only, then closes it. */
export async function withDb<T>(
  file: string,
  fn: (q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    return await fn(async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJS());
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** Row count and an order-independent checksum over every value of every table. */
export const TABLE_CHECKSUM_SQL = (table: string): string =>
  `SELECT '${table}' AS t, count(*) AS n, coalesce(sum(hash(x)), 0)::VARCHAR AS h FROM ${table} x`;

export async function checksums(file: string): Promise<Record<string, string>> {
  const tables = [
    'raw_responses',
    'bars',
    'bar_indicators',
    'bars_enriched',
    'corporate_actions',
    'quarantine',
    'instruments',
    'trades',
  ];
  return withDb(file, async (q) => {
    const out: Record<string, string> = {};
    for (const t of tables) {
      const [row] = await q(TABLE_CHECKSUM_SQL(t));
      out[t] = `${row!.n}:${row!.h}`;
    }
    return out;
  });
}

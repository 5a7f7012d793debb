/** Lake export: a layer as hive-partitioned Parquet or CSV files that DuckDB reads back. */
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ExportOptions, Layer } from '../store.ts';

/** What each layer exports and how it is partitioned. */
export const LAYER_EXPORTS: Record<Layer, { query: string; partitionBy: string[] }> = {
  raw: {
    query:
      'SELECT *, year(received_at) AS year FROM raw_responses ORDER BY source, received_at, id',
    partitionBy: ['source', 'year'],
  },
  staging: {
    query: 'SELECT *, year(ts) AS year FROM bars ORDER BY interval, symbol, ts',
    partitionBy: ['interval', 'symbol', 'year'],
  },
  curated: {
    query: 'SELECT *, year(ts) AS year FROM bars_enriched ORDER BY interval, symbol, ts',
    partitionBy: ['interval', 'symbol', 'year'],
  },
};

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

export async function exportLake(conn: DuckDBConnection, opts: ExportOptions): Promise<string[]> {
  const spec = LAYER_EXPORTS[opts.layer];
  const dir = resolve(opts.outDir, opts.layer);
  await mkdir(resolve(opts.outDir), { recursive: true });
  const format =
    opts.format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT csv, HEADER true';
  await conn.run(
    `COPY (${spec.query}) TO ${quote(dir)}
     (${format}, PARTITION_BY (${spec.partitionBy.join(', ')}), OVERWRITE true, FILENAME_PATTERN 'part_{i}')`,
  );
  return listFiles(dir);
}

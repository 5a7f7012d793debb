/** Lake export: a layer as hive-partitioned Parquet or CSV files that DuckDB reads back. */
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ExportOptions, FileExportOptions, Layer } from '../store.ts';

/** What each layer exports and how it is partitioned. */
export const LAYER_EXPORTS: Record<Layer | 'trades', { query: string; partitionBy: string[] }> = {
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
  trades: {
    query: 'SELECT *, year(ts) AS year FROM trades ORDER BY symbol, ts, trade_id',
    partitionBy: ['symbol', 'year'],
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

const FILE_TABLES: Record<
  FileExportOptions['layer'],
  { table: string; time: string; series: boolean }
> = {
  raw: { table: 'raw_responses', time: 'received_at', series: false },
  staging: { table: 'bars', time: 'ts', series: true },
  curated: { table: 'bars_enriched', time: 'ts', series: true },
  trades: { table: 'trades', time: 'ts', series: false },
};

/** One filtered table to one Parquet or CSV file; returns the rows written. */
export async function exportFile(conn: DuckDBConnection, o: FileExportOptions): Promise<number> {
  const t = FILE_TABLES[o.layer];
  const where: string[] = [];
  if (o.symbol !== undefined) {
    if (o.layer === 'raw') throw new RangeError('the raw layer has no symbol column');
    where.push(`symbol = ${quote(o.symbol)}`);
  }
  if (o.interval !== undefined) {
    if (!t.series) throw new RangeError(`the ${o.layer} layer has no interval column`);
    where.push(`interval = ${quote(o.interval)}`);
  }
  if (o.from !== undefined) where.push(`${t.time} >= epoch_ms(${Math.trunc(o.from)})`);
  if (o.to !== undefined) where.push(`${t.time} < epoch_ms(${Math.trunc(o.to)})`);
  const order = t.series
    ? 'symbol, interval, ts'
    : o.layer === 'trades'
      ? 'symbol, ts, trade_id'
      : 'received_at, id';
  const query = `SELECT * FROM ${t.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${order}${o.limit !== undefined ? ` LIMIT ${Math.trunc(o.limit)}` : ''}`;
  const format =
    o.format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT csv, HEADER true';
  const res = await conn.run(`COPY (${query}) TO ${quote(o.file)} (${format})`);
  return Number(res.rowsChanged);
}

/** Lake export: a layer as hive-partitioned Parquet or CSV files that DuckDB reads back. */
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { ExportLayer, ExportOptions, FileExportOptions } from '../store.ts';

/**
 * What each layer exports and how it is partitioned: by the data's year
 * (a raw response by the year of the first bar or trade it holds, else the
 * year it was received).
 */
export const LAYER_EXPORTS: Record<
  ExportLayer,
  { table: string; year: string; order: string; partitionBy: string[] }
> = {
  raw: {
    table: 'raw_responses',
    year: 'year(coalesce(data_from, received_at))',
    order: 'source, received_at, id',
    partitionBy: ['source', 'year'],
  },
  staging: {
    table: 'bars',
    year: 'year(ts)',
    order: 'interval, symbol, ts',
    partitionBy: ['interval', 'symbol', 'year'],
  },
  curated: {
    table: 'bars_enriched',
    year: 'year(ts)',
    order: 'interval, symbol, ts',
    partitionBy: ['interval', 'symbol', 'year'],
  },
  trades: {
    table: 'trades',
    year: 'year(ts)',
    order: 'symbol, ts, trade_id',
    partitionBy: ['symbol', 'year'],
  },
  corporate_actions: {
    table: 'corporate_actions',
    year: 'year(ts)',
    order: 'symbol, ts, kind',
    partitionBy: ['symbol', 'year'],
  },
};

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/**
 * The select list for a table or view: every column (or `columns`, in that
 * order), with Parquet's TIMESTAMP columns as instants in UTC (TIMESTAMPTZ:
 * `isAdjustedToUTC=true`, so readers do not see zone-less times). Stored
 * times are UTC already; `timezone('UTC', …)` says so whatever the session's
 * zone. CSV keeps the stored text (`2024-01-02 00:00:00`, UTC).
 */
async function selectList(
  conn: DuckDBConnection,
  table: string,
  format: 'parquet' | 'csv',
  columns?: readonly string[],
): Promise<string> {
  const rows = (await conn.runAndReadAll(`DESCRIBE ${table}`)).getRowObjectsJS() as {
    column_name: string;
    column_type: string;
  }[];
  const types = new Map(rows.map((r) => [r.column_name, r.column_type]));
  const names = columns ?? rows.map((r) => r.column_name);
  const unknown = names.filter((n) => !types.has(n));
  if (unknown.length > 0) throw new RangeError(`${table} has no column ${unknown.join(', ')}`);
  return names
    .map((n) =>
      format === 'parquet' && types.get(n) === 'TIMESTAMP'
        ? `timezone('UTC', ${ident(n)}) AS ${ident(n)}`
        : ident(n),
    )
    .join(', ');
}

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
  const select = await selectList(conn, spec.table, opts.format);
  const query = `SELECT ${select}, ${spec.year} AS year FROM ${spec.table} ORDER BY ${spec.order}`;
  await conn.run(
    `COPY (${query}) TO ${quote(dir)}
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
  corporate_actions: { table: 'corporate_actions', time: 'ts', series: false },
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
      : o.layer === 'corporate_actions'
        ? 'symbol, ts, kind'
        : 'received_at, id';
  const select = await selectList(conn, t.table, o.format, o.columns);
  const query = `SELECT ${select} FROM ${t.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${order}${o.limit !== undefined ? ` LIMIT ${Math.trunc(o.limit)}` : ''}`;
  const format =
    o.format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT csv, HEADER true';
  const res = await conn.run(`COPY (${query}) TO ${quote(o.file)} (${format})`);
  return Number(res.rowsChanged);
}

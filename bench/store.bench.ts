/**
 * Bulk load of bars into the DuckDB store: a first load (straight into `bars`) and its replay
 * (merged on the natural key), rows/s. Part of `npm run bench`; on its own,
 * `node --expose-gc --import tsx bench/store.bench.ts` runs it three times.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance, DuckDBTimestampValue } from '@duckdb/node-api';
import type { Bar } from '../src/core/records.ts';
import { openStoreAt } from '../src/store/open-store.ts';

/** `rows` 1-minute bars over `symbols` symbols, a series after another. */
export function bulkBars(rows: number, symbols = 100): Bar[] {
  const per = Math.ceil(rows / symbols);
  const bars: Bar[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const p = 100 + (i % 997) / 10;
    bars[i] = {
      symbol: `S${Math.floor(i / per)}`,
      interval: '1m',
      ts: 1_600_000_000_000 + (i % per) * 60_000,
      open: p,
      high: p + 1,
      low: p - 1,
      close: p + 0.5,
      volume: 1000 + i,
      adjClose: null,
      source: 'bench',
    };
  }
  return bars;
}

export async function benchBulkLoad(
  dir: string,
  rows: number,
): Promise<{
  rows: number;
  rowsPerSec: number;
  upsertRowsPerSec: number;
  duckdbAloneRowsPerSec: number;
  duckdbAppenderRowsPerSec: number;
}> {
  const file = join(dir, 'bulk.duckdb');
  rmSync(file, { force: true });
  const store = await openStoreAt(file);
  const symbols = 100;
  const bars = bulkBars(rows, symbols);
  let result: { rows: number; rowsPerSec: number; upsertRowsPerSec: number };
  try {
    let t = performance.now();
    await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    const first = (performance.now() - t) / 1000;
    // Replaying the same rows: every key conflicts, nothing changes.
    t = performance.now();
    const again = await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
    const second = (performance.now() - t) / 1000;
    if (again.barsChanged !== 0) throw new Error('replay changed rows');
    result = { rows, rowsPerSec: rows / first, upsertRowsPerSec: rows / second };
  } finally {
    await store.close();
  }
  return {
    ...result,
    duckdbAloneRowsPerSec: await duckdbAlone(dir, rows, symbols),
    duckdbAppenderRowsPerSec: await duckdbAppender(dir, bars),
  };
}

/**
 * What a user would write instead with the same Bar objects in hand: DuckDB's appender, row by
 * row as its documentation shows, into an empty `bars` of the store's schema (like for like: the
 * same rows cross from JavaScript; no merge, as into an empty table).
 */
async function duckdbAppender(dir: string, bars: readonly Bar[]): Promise<number> {
  const file = join(dir, 'bulk-appender.duckdb');
  rmSync(file, { force: true });
  await (await openStoreAt(file)).close(); // the store's schema, by its migrations
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  try {
    const columns = (
      await conn.runAndReadAll(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'bars' ORDER BY column_index",
      )
    )
      .getRows()
      .map((r) => String(r[0]));
    const t = performance.now();
    const now = new DuckDBTimestampValue(BigInt(Date.now()) * 1000n);
    const a = await conn.createAppender('bars');
    for (const b of bars) {
      for (const c of columns) {
        if (c === 'symbol') a.appendVarchar(b.symbol);
        else if (c === 'interval') a.appendVarchar(b.interval);
        else if (c === 'ts') a.appendTimestamp(new DuckDBTimestampValue(BigInt(b.ts) * 1000n));
        else if (c === 'open') a.appendDouble(b.open);
        else if (c === 'high') a.appendDouble(b.high);
        else if (c === 'low') a.appendDouble(b.low);
        else if (c === 'close') a.appendDouble(b.close);
        else if (c === 'volume') a.appendDouble(b.volume);
        else if (c === 'source') a.appendVarchar(b.source);
        else if (c === 'ingested_at') a.appendTimestamp(now);
        else a.appendNull(); // adj_close (null here) and any column the bars do not have
      }
      a.endRow();
    }
    a.closeSync();
    return bars.length / ((performance.now() - t) / 1000);
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(file, { force: true });
  }
}

/**
 * The reference: DuckDB alone inserting the same rows (made in SQL into a temp table first, so
 * no JavaScript value crosses) into an empty `bars` of the store's schema, in one transaction,
 * as the store's first load does (insertion order not kept). No store is faster than this.
 */
async function duckdbAlone(dir: string, rows: number, symbols: number): Promise<number> {
  const file = join(dir, 'bulk-alone.duckdb');
  rmSync(file, { force: true });
  await (await openStoreAt(file)).close(); // the store's schema, by its migrations
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  try {
    const per = Math.ceil(rows / symbols);
    await conn.run(`CREATE TEMP TABLE src AS SELECT 'S' || (i // ${per}) AS symbol,
      '1m' AS "interval", epoch_ms(1600000000000 + (i % ${per}) * 60000) AS ts,
      100 + (i % 997) / 10 AS open, 101 + (i % 997) / 10 AS high, 99 + (i % 997) / 10 AS low,
      100.5 + (i % 997) / 10 AS "close", 1000.0 + i AS volume, NULL::DOUBLE AS adj_close,
      'bench' AS source, now()::TIMESTAMP AS ingested_at
      FROM range(${rows}) t(i)`);
    await conn.run('SET preserve_insertion_order = false');
    const t = performance.now();
    await conn.run('BEGIN');
    await conn.run(`INSERT INTO bars (symbol, interval, ts, open, high, low, close, volume,
      adj_close, source, ingested_at) SELECT * FROM src`);
    await conn.run('COMMIT');
    return rows / ((performance.now() - t) / 1000);
  } finally {
    conn.closeSync();
    db.closeSync();
    rmSync(file, { force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = mkdtempSync(join(tmpdir(), 'tickline-bulk-'));
  for (let i = 0; i < 3; i++) {
    const r = await benchBulkLoad(dir, 2_000_000);
    console.log(
      `first load ${(r.rowsPerSec / 1e6).toFixed(2)}M rows/s, replay ${(r.upsertRowsPerSec / 1e6).toFixed(2)}M rows/s, DuckDB alone ${(r.duckdbAloneRowsPerSec / 1e6).toFixed(2)}M rows/s (from SQL) and ${(r.duckdbAppenderRowsPerSec / 1e6).toFixed(2)}M rows/s (its appender, the same objects); ratios ${(r.rowsPerSec / r.duckdbAloneRowsPerSec).toFixed(2)} and ${(r.rowsPerSec / r.duckdbAppenderRowsPerSec).toFixed(2)}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Trades as append-only columnar segments (issue 23's third design lever) against the store's
 * appender path, like for like: the same trades (the simulator's, 10 symbols, with their content
 * ids) in the same writes (a store flush's size at full speed), into the same table.
 *
 * - appender: `Store.write` of each write's trades (the columns staged through DuckDB's appender,
 *   INSERT INTO trades, commit), then the closing checkpoint.
 * - segments, the live side: each write's columns as an Arrow table (apache-arrow; the numbers as
 *   the typed arrays they are, the strings dictionary-coded), written as one Parquet file
 *   (parquet-wasm, uncompressed, no statistics' cost spared) and fsync'd, as a sealed segment must
 *   be before its log offsets are committed.
 * - segments, the background side: DuckDB compacts the files into `trades` (INSERT … anti-join on
 *   the natural key, as a write that may repeat does), then the checkpoint.
 * - reads: one symbol's trades of a day, counted, from the table against from a view over the
 *   segments (what readers see before compaction).
 *
 *   node --expose-gc --import tsx bench/segments.bench.ts [trades=1000000] [per write=25000] [rounds=3]
 *
 * CPU is the process's (DuckDB's threads included). Rounds alternate the two paths.
 */

import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  Dictionary,
  Int32,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { Codes } from '../src/core/codes.ts';
import { type Trade, tradeContentId } from '../src/core/records.ts';
import { parseFinnhubMessage } from '../src/sources/finnhub/finnhub-messages.ts';
import { emptyLiveBatch } from '../src/sources/source.ts';
import { idHalves } from '../src/store/duckdb/duckdb-trades.ts';
import { openStoreAt } from '../src/store/open-store.ts';
import { liveMessages } from './live.bench.ts';

// parquet-wasm's Node build is CommonJS (its named exports are not seen by the ESM loader).
const {
  Compression,
  Table: WasmTable,
  WriterPropertiesBuilder,
  writeParquet,
} = createRequire(import.meta.url)('parquet-wasm/node') as typeof import('parquet-wasm/node');

const total = Number(process.argv[2] ?? 1_000_000);
const perWrite = Number(process.argv[3] ?? 25_000);
const rounds = Number(process.argv[4] ?? 3);
const dir = join(import.meta.dirname, '.data', 'segments');
mkdirSync(dir, { recursive: true });

/** The trades as the store stage gets them: validated, with content ids. */
function makeTrades(): Trade[] {
  const batch = emptyLiveBatch();
  for (const m of liveMessages(total, 10)) parseFinnhubMessage(m, 0, 'finnhub', batch);
  return batch.trades.slice(0, total).map((t) => ({
    symbol: t.symbol,
    ts: t.ts,
    price: t.price,
    size: t.size,
    conditions: t.conditions,
    tradeId: t.tradeId || tradeContentId(t.ts, t.price, t.size, t.conditions),
    source: t.source,
  }));
}

interface Cost {
  wall: number;
  cpu: number;
}
async function measured(f: () => Promise<void>): Promise<Cost> {
  global.gc?.();
  const c = process.cpuUsage();
  const t = performance.now();
  await f();
  const d = process.cpuUsage(c);
  return { wall: (performance.now() - t) / 1000, cpu: (d.user + d.system) / 1e6 };
}

const writes = (trades: Trade[]): Trade[][] => {
  const out: Trade[][] = [];
  for (let i = 0; i < trades.length; i += perWrite) out.push(trades.slice(i, i + perWrite));
  return out;
};

/** The store's path: Store.write per write, then close (the checkpoint). */
async function appender(trades: Trade[]): Promise<{ write: Cost; file: string }> {
  const file = join(dir, 'appender.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  const store = await openStoreAt(file);
  const parts = writes(trades);
  const write = await measured(async () => {
    for (const p of parts) {
      await store.write({
        raw: [],
        bars: [],
        rejects: [],
        actions: [],
        instruments: [],
        trades: p,
      });
    }
    await store.close();
  });
  return { write, file };
}

/**
 * One write's trades as a Parquet file's bytes. As the appender path stages them: only numbers
 * (ts as epoch ms, the content id as two 32-bit halves) and the strings as dictionaries; DuckDB
 * makes the timestamps and id strings when it reads them.
 */
function segment(trades: Trade[]): Uint8Array {
  const n = trades.length;
  const ts = new Float64Array(n);
  const price = new Float64Array(n);
  const size = new Float64Array(n);
  const hi = new Float64Array(n);
  const lo = new Float64Array(n);
  const sym = new Int32Array(n);
  const cond = new Int32Array(n);
  const src = new Int32Array(n);
  const symbols = new Codes();
  const conditions = new Codes();
  const sources = new Codes();
  for (let i = 0; i < n; i++) {
    const t = trades[i]!;
    ts[i] = t.ts;
    price[i] = t.price;
    size[i] = t.size;
    sym[i] = symbols.code(t.symbol);
    cond[i] = conditions.code(t.conditions);
    src[i] = sources.code(t.source);
    if (!idHalves(t.tradeId, hi, lo, i)) throw new Error(`not a content id: ${t.tradeId}`);
  }
  const dict = (codes: Int32Array, values: string[]) =>
    makeVector(
      makeData({
        type: new Dictionary(new Utf8(), new Int32()),
        length: codes.length,
        data: codes,
        dictionary: vectorFromArray(values, new Utf8()),
      }),
    );
  const f64 = (data: Float64Array) => makeVector(data);
  const table = new Table({
    symbol: dict(sym, symbols.values),
    ts: f64(ts),
    price: f64(price),
    size: f64(size),
    conditions: dict(cond, conditions.values),
    id_hi: f64(hi),
    id_lo: f64(lo),
    source: dict(src, sources.values),
  });
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), PROPS);
}

const PROPS = new WriterPropertiesBuilder().setCompression(Compression.UNCOMPRESSED).build();

/** The live side: a sealed, fsync'd Parquet file per write. */
async function segments(trades: Trade[]): Promise<{ write: Cost; files: string[] }> {
  const at = join(dir, 'segments');
  rmSync(at, { recursive: true, force: true });
  mkdirSync(at, { recursive: true });
  const parts = writes(trades);
  const files: string[] = [];
  const write = await measured(async () => {
    for (const [i, p] of parts.entries()) {
      const bytes = segment(p);
      const file = join(at, `seg-${String(i).padStart(6, '0')}.parquet`);
      const fd = openSync(file, 'w');
      writeSync(fd, bytes);
      fsyncSync(fd);
      closeSync(fd);
      files.push(file);
    }
  });
  return { write, files };
}

const SEGMENT_COLUMNS = `symbol::VARCHAR AS symbol, epoch_ms(ts::BIGINT) AS ts, price, size,
  conditions::VARCHAR AS conditions, printf('%08x%08x', id_hi::UBIGINT, id_lo::UBIGINT) AS trade_id,
  source::VARCHAR AS source, now()::TIMESTAMP AS ingested_at`;

/** The background side: the segments into `trades` of a fresh store, then the checkpoint. */
async function compact(files: string[]): Promise<{ cost: Cost; file: string }> {
  const file = join(dir, 'compacted.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  await (await openStoreAt(file)).close(); // the store's schema and settings
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  const list = files.map((f) => `'${f}'`).join(',');
  const cost = await measured(async () => {
    await conn.run('BEGIN');
    await conn.run(`INSERT INTO trades SELECT s.* FROM (SELECT ${SEGMENT_COLUMNS}
      FROM read_parquet([${list}])) s
      ANTI JOIN trades t ON t.symbol = s.symbol AND t.ts = s.ts AND t.trade_id = s.trade_id`);
    await conn.run('COMMIT');
    await conn.run('CHECKPOINT');
  });
  conn.closeSync();
  db.closeSync();
  return { cost, file };
}

/** One symbol's trades of its busiest day, counted: from the table, and from the segments' view. */
async function reads(
  table: string,
  files: string[],
): Promise<{ table: Cost; view: Cost; n: [number, number] }> {
  const db = await DuckDBInstance.create(table);
  const conn = await db.connect();
  const list = files.map((f) => `'${f}'`).join(',');
  await conn.run(`CREATE TEMP VIEW seg AS SELECT ${SEGMENT_COLUMNS} FROM read_parquet([${list}])`);
  const day = (
    await conn.runAndReadAll(`SELECT date_trunc('day', ts) d FROM trades
    WHERE symbol = 'AAPL' GROUP BY d ORDER BY count(*) DESC LIMIT 1`)
  ).getRows()[0]![0];
  const q = (from: string) =>
    `SELECT count(*), sum(size) FROM ${from} WHERE symbol = 'AAPL'
     AND ts >= '${day}'::TIMESTAMP AND ts < '${day}'::TIMESTAMP + INTERVAL 1 DAY`;
  const n: [number, number] = [0, 0];
  const times = { table: { wall: 0, cpu: 0 }, view: { wall: 0, cpu: 0 } };
  for (let k = 0; k < 5; k++) {
    for (const [name, from, i] of [
      ['table', 'trades', 0],
      ['view', 'seg', 1],
    ] as const) {
      const c = await measured(async () => {
        n[i] = Number((await conn.runAndReadAll(q(from))).getRows()[0]![0]);
      });
      times[name].wall += c.wall / 5;
      times[name].cpu += c.cpu / 5;
    }
  }
  conn.closeSync();
  db.closeSync();
  return { ...times, n };
}

const trades = makeTrades();
console.log(`${trades.length} trades, 10 symbols, writes of ${perWrite}; ${rounds} rounds`);
const fmt = (c: Cost) =>
  `${c.wall.toFixed(2)} s wall, ${((c.cpu * 1e6) / trades.length).toFixed(2)} µs CPU/trade`;
for (let r = 0; r < rounds; r++) {
  const a = await appender(trades);
  const s = await segments(trades);
  const c = await compact(s.files);
  const rd = await reads(a.file, s.files);
  console.log(
    `round ${r + 1}: appender ${fmt(a.write)}; segments live ${fmt(s.write)} ` +
      `(live / appender: wall ${(s.write.wall / a.write.wall).toFixed(2)}, CPU ${(s.write.cpu / a.write.cpu).toFixed(2)}); ` +
      `compaction ${fmt(c.cost)}; segments in all / appender: CPU ${((s.write.cpu + c.cost.cpu) / a.write.cpu).toFixed(2)}`,
  );
  console.log(
    `round ${r + 1}: one symbol's day (${rd.n[0]} trades, view ${rd.n[1]}): table ${(rd.table.wall * 1000).toFixed(1)} ms, ` +
      `view over ${s.files.length} segments ${(rd.view.wall * 1000).toFixed(1)} ms (${(rd.view.wall / rd.table.wall).toFixed(1)}×)`,
  );
}

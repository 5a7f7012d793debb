/**
 * Columnar bulk paths for DuckDB: typed arrays go into and come out of data
 * chunks with one memory copy per column per 2048 rows, instead of one
 * native call per value; a string that is the same for a run of rows goes in
 * as one constant vector. Large writes are pulled by DuckDB's own threads
 * through a table function and inserted in parallel.
 */

import {
  BOOLEAN,
  DOUBLE,
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBTableFunction,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  TIMESTAMP,
  VARCHAR,
} from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import type { Codes } from '../../core/codes.ts';

/** DOUBLE, INTEGER, or TIMESTAMP (microseconds since the epoch). */
export type Column = Float64Array | Int32Array | BigInt64Array;
export type ColumnKind = 'f64' | 'i32';

/** DuckDB's vector size: the most rows one data chunk holds. */
export const CHUNK_ROWS = 2048;

const logicalType = (c: Column): duckdb.LogicalType =>
  duckdb.create_logical_type(
    c instanceof Float64Array
      ? duckdb.Type.DOUBLE
      : c instanceof BigInt64Array
        ? duckdb.Type.TIMESTAMP
        : duckdb.Type.INTEGER,
  );

/**
 * Appends `rowCount` rows given as columns (in the table's column order) to
 * an appender whose table has exactly these DOUBLE/INTEGER/TIMESTAMP columns.
 */
export function appendColumns(appender: DuckDBAppender, columns: Column[], rowCount: number): void {
  if (rowCount === 0) return;
  const raw = duckdb.create_data_chunk(columns.map(logicalType));
  const chunk = new DuckDBDataChunk(raw);
  for (let start = 0; start < rowCount; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, rowCount - start);
    duckdb.data_chunk_reset(raw);
    for (let k = 0; k < columns.length; k++) {
      const col = columns[k]!;
      const bpe = col.BYTES_PER_ELEMENT;
      duckdb.copy_data_to_vector(
        duckdb.data_chunk_get_vector(raw, k),
        0,
        col.buffer as ArrayBuffer,
        col.byteOffset + start * bpe,
        n * bpe,
      );
    }
    duckdb.data_chunk_set_size(raw, n);
    appender.appendDataChunk(chunk);
  }
}

/**
 * Runs a query whose columns are all NOT NULL INTEGER or DOUBLE (as `kinds`
 * says) and returns them as typed arrays.
 */
export async function readColumns(
  conn: DuckDBConnection,
  sql: string,
  kinds: ColumnKind[],
  params: DuckDBValue[] = [],
): Promise<{ columns: Column[]; rowCount: number }> {
  const result = await conn.run(sql, params);
  const parts: Column[][] = kinds.map(() => []);
  let rowCount = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const n = chunk.rowCount;
    kinds.forEach((kind, k) => {
      const bpe = kind === 'f64' ? 8 : 4;
      const bytes = duckdb.vector_get_data(duckdb.data_chunk_get_vector(chunk.chunk, k), n * bpe);
      // Copy: the chunk's memory is reused by the next fetch.
      const copy = new Uint8Array(bytes);
      parts[k]!.push(
        kind === 'f64' ? new Float64Array(copy.buffer, 0, n) : new Int32Array(copy.buffer, 0, n),
      );
    });
    rowCount += n;
  }
  const columns = kinds.map((kind, k) => {
    const out = kind === 'f64' ? new Float64Array(rowCount) : new Int32Array(rowCount);
    let at = 0;
    for (const p of parts[k]!) {
      out.set(p as never, at);
      at += p.length;
    }
    return out;
  });
  return { columns, rowCount };
}

/** At most this many distinct strings of a column per write go in as codes. */
const MAX_CODES = 4096;

/**
 * Whether a write's codes (a column's distinct strings as numbers, see src/core/codes.ts) can go
 * in as numbers, turned back into strings by a SQL list (`sqlList`): at most MAX_CODES distinct
 * strings, none with a NUL (which a SQL string literal cannot hold). Else the write goes as
 * strings.
 */
export const codesFit = (c: Codes): boolean =>
  c.values.length <= MAX_CODES && c.values.every((s) => !s.includes('\u0000'));

/** The strings as a SQL list's items, in code order: `[<list>][code + 1]` is code's string. */
export const sqlList = (c: Codes): string =>
  c.values.map((s) => `'${s.replaceAll("'", "''")}'`).join(', ');

/** How one column of a table is filled by `appendSegments`. */
export type ColumnFill =
  /** DOUBLE from a typed array; with `nullable`, NaN is written as NULL. */
  | { kind: 'f64'; data: Float64Array; nullable?: boolean }
  /** TIMESTAMP from epoch milliseconds. */
  | { kind: 'ts'; data: Float64Array }
  /** VARCHAR that is the same for every row of a segment. */
  | { kind: 'text'; value: (row: number) => string }
  /** VARCHAR that differs per row. */
  | { kind: 'str'; value: (row: number) => string }
  /** TIMESTAMP that is the same for every row written. */
  | { kind: 'constTs'; ms: number }
  /** INTEGER from a typed array; a negative value is written as NULL. */
  | { kind: 'i32'; data: Int32Array }
  /** BOOLEAN from bytes (0 or 1). */
  | { kind: 'bool'; data: Uint8Array };

/** The DuckDB type each kind of fill writes. */
const TYPE_OF: Record<ColumnFill['kind'], DuckDBType> = {
  f64: DOUBLE,
  text: VARCHAR,
  str: VARCHAR,
  ts: TIMESTAMP,
  constTs: TIMESTAMP,
  i32: INTEGER,
  bool: BOOLEAN,
};

/** Row ranges [start, end) within which every `text` column is constant (a symbol's run). */
export type Segments = readonly (readonly [number, number])[];

/**
 * Fills data chunks from `fills`: numbers are copied a chunk at a time;
 * constant columns are one constant vector per chunk, so no call is made per
 * value but for `str` columns.
 */
class ChunkFiller {
  readonly #fills: ColumnFill[];
  readonly #prepare: ((start: number, n: number) => number) | undefined;
  readonly #micros = new BigInt64Array(CHUNK_ROWS);
  readonly #microsU32 = new Uint32Array(this.#micros.buffer);
  readonly #mask = new Uint8Array(CHUNK_ROWS / 8);
  readonly #texts = new Map<string, duckdb.Value>();
  readonly #consts: (duckdb.Value | null)[];

  /**
   * `prepare(start, n)`, when given, is called before each chunk and returns where in the typed
   * arrays of the fills the chunk's rows are (a source that fills small arrays per chunk returns
   * 0); without it, row r is at index r.
   */
  constructor(fills: ColumnFill[], prepare?: (start: number, n: number) => number) {
    this.#fills = fills;
    this.#prepare = prepare;
    this.#consts = fills.map((f) =>
      f.kind === 'constTs'
        ? duckdb.create_timestamp({ micros: BigInt(Math.round(f.ms)) * 1000n })
        : null,
    );
  }

  get logicalTypes(): duckdb.LogicalType[] {
    return this.#fills.map((f) => TYPE_OF[f.kind].toLogicalType().logical_type);
  }

  #text(s: string): duckdb.Value {
    let v = this.#texts.get(s);
    if (!v) {
      v = duckdb.create_varchar(s);
      this.#texts.set(s, v);
    }
    return v;
  }

  /** Writes rows [start, start + n) of one segment (n ≤ 2048) into `raw` and sets its size. */
  fill(raw: duckdb.DataChunk, start: number, n: number): void {
    const fills = this.#fills;
    const micros = this.#micros;
    const microsU32 = this.#microsU32;
    const mask = this.#mask;
    const consts = this.#consts;
    const text = (s: string) => this.#text(s);
    const at = this.#prepare ? this.#prepare(start, n) : start;
    fills.forEach((f, k) => {
      const vec = duckdb.data_chunk_get_vector(raw, k);
      if (f.kind === 'text') duckdb.vector_reference_value(vec, text(f.value(start)));
      else if (f.kind === 'constTs') duckdb.vector_reference_value(vec, consts[k]!);
      else if (f.kind === 'str') {
        for (let i = 0; i < n; i++) duckdb.vector_assign_string_element(vec, i, f.value(start + i));
      } else if (f.kind === 'ts') {
        // int64 microseconds written as two 32-bit halves: no BigInt per value. Exact while
        // |ms · 1000| < 2^53, i.e. for any date within ±285 years of 1970.
        for (let i = 0; i < n; i++) {
          const us = f.data[at + i]! * 1000;
          const hi = Math.floor(us / 4_294_967_296);
          microsU32[2 * i] = us - hi * 4_294_967_296;
          microsU32[2 * i + 1] = hi;
        }
        duckdb.copy_data_to_vector(vec, 0, micros.buffer, 0, n * 8);
      } else {
        const d = f.data;
        const nullable = f.kind === 'i32' || (f.kind === 'f64' && f.nullable === true);
        // One tight loop per kind (no call per value) counts the NULLs of the chunk.
        let nulls = 0;
        if (f.kind === 'i32') {
          for (let i = 0; i < n; i++) if (d[at + i]! < 0) nulls++;
        } else if (nullable) {
          for (let i = 0; i < n; i++) if (Number.isNaN(d[at + i]!)) nulls++;
        }
        if (nulls < n) {
          const bpe = d.BYTES_PER_ELEMENT;
          duckdb.copy_data_to_vector(
            vec,
            0,
            d.buffer as ArrayBuffer,
            d.byteOffset + at * bpe,
            n * bpe,
          );
        }
        if (nulls > 0) {
          // All NULL (historical bars have no vwap): only the mask is written.
          if (nulls === n) mask.fill(0);
          else {
            mask.fill(0xff);
            for (let i = 0; i < n; i++) {
              const v = d[at + i]!;
              if (f.kind === 'i32' ? v < 0 : Number.isNaN(v)) mask[i >> 3]! &= ~(1 << (i & 7));
            }
          }
          duckdb.vector_ensure_validity_writable(vec);
          duckdb.copy_data_to_vector_validity(vec, 0, mask.buffer, 0, Math.ceil(n / 64) * 8);
        }
      }
    });
    duckdb.data_chunk_set_size(raw, n);
  }
}

/** The chunks of `segments`: [start, n] with n ≤ 2048, never crossing a segment. */
function chunksOf(segments: Segments): [number, number][] {
  const out: [number, number][] = [];
  for (const [segStart, segEnd] of segments) {
    for (let start = segStart; start < segEnd; start += CHUNK_ROWS)
      out.push([start, Math.min(CHUNK_ROWS, segEnd - start)]);
  }
  return out;
}

/** Appends rows straight into a table whose columns are `fills`, through an appender. */
export function appendSegments(
  appender: DuckDBAppender,
  fills: ColumnFill[],
  segments: Segments,
  prepare?: (start: number, n: number) => number,
): void {
  const filler = new ChunkFiller(fills, prepare);
  const raw = duckdb.create_data_chunk(filler.logicalTypes);
  const chunk = new DuckDBDataChunk(raw);
  for (const [start, n] of chunksOf(segments)) {
    duckdb.data_chunk_reset(raw);
    filler.fill(raw, start, n);
    appender.appendDataChunk(chunk);
  }
}

/** From this many rows a write goes through the parallel insert rather than an appender. */
export const PARALLEL_INSERT_ROWS = 100_000;

/**
 * Writes rows given as `fills` into `table` (in `schema`; `temp` for a temp table), whose
 * columns are `names`: a small write through an appender, all on this thread at once; a large
 * one through `insertSegments`, which DuckDB's threads insert in parallel. (A small write
 * through the table function would wait for this thread once per chunk, which is busy with
 * the live path: measured slower there.)
 */
export async function writeSegments(
  conn: DuckDBConnection,
  table: { name: string; temp?: boolean },
  names: string[],
  fills: ColumnFill[],
  segments: Segments,
  prepare?: (start: number, n: number) => number,
): Promise<number> {
  const rows = segments.reduce((a, [s, e]) => a + (e - s), 0);
  if (rows >= PARALLEL_INSERT_ROWS) {
    const target = table.temp ? `temp.main.${table.name}` : table.name;
    return insertSegments(
      conn,
      `INSERT INTO ${target} (${names.join(', ')}) SELECT * FROM tickline_rows()`,
      names,
      fills,
      segments,
      prepare,
    );
  }
  const a = table.temp
    ? await conn.createAppender(table.name, 'main', 'temp')
    : await conn.createAppender(table.name);
  appendSegments(a, fills, segments, prepare);
  a.closeSync();
  return rows;
}

/** What the connection's rows table function produces for the statement running now. */
interface RowsJob {
  filler: ChunkFiller;
  names: string[];
  types: DuckDBType[];
  chunks: [number, number][];
  next: number;
}

const jobs = new WeakMap<DuckDBConnection, { job: RowsJob | null }>();

/**
 * Registers the table function `insertSegments` reads from. Call it once per connection,
 * outside any transaction (a registration inside one is undone by its rollback).
 */
export function prepareConnection(conn: DuckDBConnection): void {
  if (jobs.has(conn)) return;
  const state: { job: RowsJob | null } = { job: null };
  jobs.set(conn, state);
  conn.registerTableFunction(
    DuckDBTableFunction.create({
      name: 'tickline_rows',
      bindFunction: (info) => {
        const job = state.job;
        if (!job) {
          info.setError('tickline_rows() has no rows to give outside a store write');
          return;
        }
        for (let k = 0; k < job.names.length; k++)
          info.addResultColumn(job.names[k]!, job.types[k]!);
        info.setCardinality(
          job.chunks.reduce((a, [, n]) => a + n, 0),
          true,
        );
      },
      initFunction: (info) => info.setMaxThreads(2),
      mainFunction: (_info, out) => {
        const job = state.job;
        const next = job && job.next < job.chunks.length ? job.chunks[job.next++] : undefined;
        if (!job || !next) out.rowCount = 0;
        else job.filler.fill(out.chunk, next[0], next[1]);
      },
    }),
  );
}

/**
 * Runs one statement that reads rows given as `fills` (named `names`) from the table function
 * `tickline_rows()`, e.g. `INSERT INTO bars SELECT * FROM tickline_rows()`; returns the rows
 * it changed. Unlike an appender, whose work all happens on the JavaScript thread, DuckDB pulls
 * the chunks from two of its threads and inserts them in parallel while the next are filled.
 * Insertion order is not kept (nothing reads these tables in it: every read orders by ts).
 */
async function insertSegments(
  conn: DuckDBConnection,
  sql: string,
  names: string[],
  fills: ColumnFill[],
  segments: Segments,
  prepare?: (start: number, n: number) => number,
): Promise<number> {
  const slot = jobs.get(conn);
  if (!slot) throw new Error('insertSegments: the connection was not prepared (prepareConnection)');
  slot.job = {
    filler: new ChunkFiller(fills, prepare),
    names,
    types: fills.map((f) => TYPE_OF[f.kind]),
    chunks: chunksOf(segments),
    next: 0,
  };
  try {
    await conn.run('SET preserve_insertion_order = false');
    const res = await conn.run(sql);
    return Number(res.rowsChanged);
  } finally {
    slot.job = null;
    // In a transaction the failed statement aborted this fails too: the caller's rollback
    // path resets it (see `resetAfterRollback`), and the statement's own error is what counts.
    await conn.run('RESET preserve_insertion_order').catch(() => undefined);
  }
}

/** Undoes what a failed `insertSegments` in a rolled-back transaction could not. */
export async function resetAfterRollback(conn: DuckDBConnection): Promise<void> {
  await conn.run('RESET preserve_insertion_order');
}

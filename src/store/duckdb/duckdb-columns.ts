/**
 * Columnar bulk paths for DuckDB: typed arrays go into and come out of data
 * chunks with one memory copy per column per 2048 rows, instead of one
 * native call per value. Only fixed-width columns (INTEGER, DOUBLE) take this
 * path; strings travel as dictionary codes joined back in SQL.
 */

import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBValue,
} from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';

/** DOUBLE, INTEGER, or TIMESTAMP (microseconds since the epoch). */
export type Column = Float64Array | Int32Array | BigInt64Array;
export type ColumnKind = 'f64' | 'i32';

/** DuckDB's vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;

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

/** Assigns small integer codes to strings, for columns that travel as codes. */
export class Dictionary {
  readonly values: string[] = [];
  readonly #ids = new Map<string, number>();
  id(value: string): number {
    let id = this.#ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.#ids.set(value, id);
    }
    return id;
  }
}

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

/**
 * Appends rows straight into a table whose columns are `fills`, in segments
 * [start, end) within which every `text` column is constant (a symbol's run
 * of bars). Numbers are copied a chunk at a time; constant columns are one
 * constant vector per chunk, so no call is made per value.
 */
export function appendSegments(
  appender: DuckDBAppender,
  fills: ColumnFill[],
  segments: readonly (readonly [number, number])[],
): void {
  const TYPES: Record<ColumnFill['kind'], duckdb.Type> = {
    f64: duckdb.Type.DOUBLE,
    text: duckdb.Type.VARCHAR,
    str: duckdb.Type.VARCHAR,
    ts: duckdb.Type.TIMESTAMP,
    constTs: duckdb.Type.TIMESTAMP,
    i32: duckdb.Type.INTEGER,
    bool: duckdb.Type.BOOLEAN,
  };
  const typeOf = (f: ColumnFill): duckdb.Type => TYPES[f.kind];
  const raw = duckdb.create_data_chunk(fills.map((f) => duckdb.create_logical_type(typeOf(f))));
  const chunk = new DuckDBDataChunk(raw);
  const micros = new BigInt64Array(CHUNK_ROWS);
  const microsU32 = new Uint32Array(micros.buffer);
  const mask = new Uint8Array(CHUNK_ROWS / 8);
  const texts = new Map<string, duckdb.Value>();
  const text = (s: string): duckdb.Value => {
    let v = texts.get(s);
    if (!v) {
      v = duckdb.create_varchar(s);
      texts.set(s, v);
    }
    return v;
  };
  const consts = fills.map((f) =>
    f.kind === 'constTs'
      ? duckdb.create_timestamp({ micros: BigInt(Math.round(f.ms)) * 1000n })
      : null,
  );
  for (const [segStart, segEnd] of segments) {
    for (let start = segStart; start < segEnd; start += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, segEnd - start);
      duckdb.data_chunk_reset(raw);
      fills.forEach((f, k) => {
        const vec = duckdb.data_chunk_get_vector(raw, k);
        if (f.kind === 'text') duckdb.vector_reference_value(vec, text(f.value(start)));
        else if (f.kind === 'constTs') duckdb.vector_reference_value(vec, consts[k]!);
        else if (f.kind === 'str') {
          for (let i = 0; i < n; i++)
            duckdb.vector_assign_string_element(vec, i, f.value(start + i));
        } else if (f.kind === 'ts') {
          // int64 microseconds written as two 32-bit halves: no BigInt per value. Exact while
          // |ms · 1000| < 2^53, i.e. for any date within ±285 years of 1970.
          for (let i = 0; i < n; i++) {
            const us = f.data[start + i]! * 1000;
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
            for (let i = 0; i < n; i++) if (d[start + i]! < 0) nulls++;
          } else if (nullable) {
            for (let i = 0; i < n; i++) if (Number.isNaN(d[start + i]!)) nulls++;
          }
          if (nulls < n) {
            const bpe = d.BYTES_PER_ELEMENT;
            duckdb.copy_data_to_vector(
              vec,
              0,
              d.buffer as ArrayBuffer,
              d.byteOffset + start * bpe,
              n * bpe,
            );
          }
          if (nulls > 0) {
            // All NULL (historical bars have no vwap): only the mask is written.
            if (nulls === n) mask.fill(0);
            else {
              mask.fill(0xff);
              for (let i = 0; i < n; i++) {
                const v = d[start + i]!;
                if (f.kind === 'i32' ? v < 0 : Number.isNaN(v)) mask[i >> 3]! &= ~(1 << (i & 7));
              }
            }
            duckdb.vector_ensure_validity_writable(vec);
            duckdb.copy_data_to_vector_validity(vec, 0, mask.buffer, 0, Math.ceil(n / 64) * 8);
          }
        }
      });
      duckdb.data_chunk_set_size(raw, n);
      appender.appendDataChunk(chunk);
    }
  }
}

/**
 * Bars as an Arrow IPC stream with the CSV answer's columns and proper types:
 * `symbol` and `source` as dictionary-encoded strings, `ts` as
 * Timestamp(ms, "UTC"), prices and indicators as nullable Float64 (null where
 * a value is missing, never NaN), `trade_count` as a nullable Int32. The
 * numeric columns are the store's typed arrays, shared, not copied.
 */
import {
  type Data,
  Dictionary,
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import type { BarColumnSet } from '../store/store.ts';

/** The value columns of a bars answer after symbol and ts, in CSV and Arrow alike. */
export const BAR_VALUE_COLUMNS = [
  'open',
  'high',
  'low',
  'close',
  'volume',
  'adj_close',
  'vwap',
  'trade_count',
] as const;

/** Columns that are never missing in a stored bar. */
const REQUIRED = new Set(['open', 'high', 'low', 'close', 'volume']);

/** A validity bitmap for `x` (bit set = present) and how many are missing; none when all are. */
function validity(x: Float64Array, n: number): { bitmap?: Uint8Array; nulls: number } {
  let nulls = 0;
  for (let i = 0; i < n; i++) if (Number.isNaN(x[i]!)) nulls++;
  if (nulls === 0) return { nulls };
  const bitmap = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (!Number.isNaN(x[i]!)) bitmap[i >> 3]! |= 1 << (i & 7);
  return { bitmap, nulls };
}

function dictionary(values: readonly string[], indices: Int32Array): Data {
  return makeData({
    type: new Dictionary(new Utf8(), new Int32()),
    length: indices.length,
    nullCount: 0,
    data: indices,
    dictionary: vectorFromArray([...values], new Utf8()),
  });
}

/**
 * Epoch milliseconds (whole doubles) as Int64, written as two 32-bit words each
 * (little-endian, as every platform Node runs on): a BigInt per value costs
 * several times the whole answer's other work.
 */
function epochMs64(ms: Float64Array, n: number): BigInt64Array {
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const x = ms[i]!;
    const lo = x >>> 0;
    words[2 * i] = lo | 0;
    words[2 * i + 1] = (x - lo) / 4294967296;
  }
  return out;
}

/**
 * Tables already built from a column set: the store's query cache hands a
 * repeated request the same set, so its table is built once.
 */
const built = new WeakMap<BarColumnSet, Map<string, Table>>();

/** The first `n` bars of `set` (read with `full`) as an Arrow table. */
export function barsArrowTable(
  symbol: string,
  set: BarColumnSet,
  n: number,
  indicators: readonly string[],
): Table {
  const key = `${symbol}\u0000${n}\u0000${indicators.join(',')}`;
  let tables = built.get(set);
  const known = tables?.get(key);
  if (known) return known;
  const table = buildTable(symbol, set, n, indicators);
  if (!tables) {
    tables = new Map();
    built.set(set, tables);
  }
  tables.set(key, table);
  return table;
}

function buildTable(
  symbol: string,
  set: BarColumnSet,
  n: number,
  indicators: readonly string[],
): Table {
  const c = set.columns;
  const fields: Field[] = [];
  const children: Data[] = [];
  const add = (name: string, data: Data, nullable: boolean) => {
    fields.push(new Field(name, data.type, nullable));
    children.push(data);
  };
  add('symbol', dictionary([symbol], new Int32Array(n)), false);
  const ts = epochMs64(c.ts!, n);
  add(
    'ts',
    makeData({ type: new TimestampMillisecond('UTC'), length: n, nullCount: 0, data: ts }),
    false,
  );
  const float = (name: string) => {
    const x = c[name]!.subarray(0, n);
    // A stored bar always has its prices and volume: no column to scan for missing values.
    const { bitmap, nulls } = REQUIRED.has(name) ? { bitmap: undefined, nulls: 0 } : validity(x, n);
    const data = { length: n, nullCount: nulls, ...(bitmap ? { nullBitmap: bitmap } : {}) };
    return { x, data };
  };
  for (const name of BAR_VALUE_COLUMNS) {
    const { x, data } = float(name);
    if (name !== 'trade_count') {
      add(name, makeData({ type: new Float64(), ...data, data: x }), !REQUIRED.has(name));
      continue;
    }
    // A count, as an integer; then the source, as the CSV has it after the values.
    const counts = new Int32Array(n);
    for (let i = 0; i < n; i++) counts[i] = Number.isNaN(x[i]!) ? 0 : x[i]!;
    add(name, makeData({ type: new Int32(), ...data, data: counts }), true);
    const src = new Int32Array(n);
    for (let i = 0; i < n; i++) src[i] = c.source![i]!;
    add('source', dictionary(set.sources, src), false);
  }
  for (const name of indicators) {
    const { x, data } = float(name);
    add(name, makeData({ type: new Float64(), ...data, data: x }), true);
  }
  const schema = new Schema(fields);
  const batch = new RecordBatch(
    schema,
    makeData({ type: new Struct(fields), length: n, nullCount: 0, children }),
  );
  return new Table(schema, [batch]);
}

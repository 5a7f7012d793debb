/**
 * The write path of `trades`: trades are grouped by symbol into columns and
 * staged in a temp table, then either inserted as they are (every trade of the
 * write is newer than the last stored trade of its symbol) or with an
 * anti-join on the natural key (symbol, ts, trade_id).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { Codes } from '../../core/codes.ts';
import type { Trade } from '../../core/records.ts';
import { type ColumnFill, codesFit, sqlList, writeSegments } from './duckdb-columns.ts';

/** Per symbol: the trades of one write, and their ts range. */
interface SymbolRun {
  symbol: string;
  trades: Trade[];
  lo: number;
  hi: number;
}

export function groupTrades(trades: readonly Trade[]): SymbolRun[] {
  const runs = new Map<string, SymbolRun>();
  let last: SymbolRun | undefined;
  for (const t of trades) {
    let run = last !== undefined && last.symbol === t.symbol ? last : runs.get(t.symbol);
    if (!run) {
      run = { symbol: t.symbol, trades: [], lo: t.ts, hi: t.ts };
      runs.set(t.symbol, run);
    } else if (t.ts < run.lo) run.lo = t.ts;
    else if (t.ts > run.hi) run.hi = t.ts;
    run.trades.push(t);
    last = run;
  }
  return [...runs.values()];
}

/**
 * The two 32-bit halves of a content id (16 lowercase hex digits, as
 * `tradeContentId` makes them) into `hi[i]` and `lo[i]`; false when `id` is
 * not one (a provider's own id), leaving them as they were.
 */
export function idHalves(id: string, hi: Float64Array, lo: Float64Array, i: number): boolean {
  if (id.length !== 16) return false;
  let h = 0;
  let l = 0;
  // Any digit that is not lowercase hex makes `bad` negative.
  let bad = 0;
  for (let k = 0; k < 8; k++) {
    const c = id.charCodeAt(k);
    const d = c < 128 ? HEX_DIGIT[c]! : -1;
    bad |= d;
    h = h * 16 + d;
  }
  for (let k = 8; k < 16; k++) {
    const c = id.charCodeAt(k);
    const d = c < 128 ? HEX_DIGIT[c]! : -1;
    bad |= d;
    l = l * 16 + d;
  }
  if (bad < 0) return false;
  hi[i] = h;
  lo[i] = l;
  return true;
}

/** Each ASCII code's value as a lowercase hex digit, −1 if it is not one. */
const HEX_DIGIT = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) t[97 + c] = 10 + c;
  return t;
})();

/**
 * Stages the runs in a temp table and returns a SELECT of the trades' columns
 * (in table order) from it.
 *
 * When every id is a content id, only numbers cross from JavaScript: the id
 * as two 32-bit halves; the symbol, source and conditions as codes into the
 * write's few distinct strings. The JavaScript thread copies typed arrays
 * into full data chunks (a write of a thousand symbols' short runs is still
 * 2048 rows per chunk), and DuckDB's own threads make the strings (`printf`
 * and list look-ups) when the SELECT runs. A write with a provider's ids (or
 * with unusually many distinct strings) stages them as strings, one call per
 * value, in chunks that never cross a run (the symbol and source are one
 * constant vector per chunk there).
 */
async function stageTrades(conn: DuckDBConnection, runs: readonly SymbolRun[]): Promise<string> {
  let n = 0;
  for (const r of runs) n += r.trades.length;
  const ts = new Float64Array(n);
  const price = new Float64Array(n);
  const size = new Float64Array(n);
  const cond = new Int32Array(n);
  const sym = new Int32Array(n);
  const src = new Int32Array(n);
  const hi = new Float64Array(n);
  const lo = new Float64Array(n);
  const conditions = new Codes();
  const symbols = new Codes();
  const sources = new Codes();
  const segments: [number, number][] = [];
  /** Per segment: its symbol and source. */
  const names: [string, string][] = [];
  let numeric = true;
  let i = 0;
  for (const r of runs) {
    let start = i;
    let source = r.trades[0]!.source;
    const symbol = symbols.code(r.symbol);
    let sourceCode = sources.code(source);
    for (const t of r.trades) {
      if (t.source !== source) {
        segments.push([start, i]);
        names.push([r.symbol, source]);
        start = i;
        source = t.source;
        sourceCode = sources.code(source);
      }
      ts[i] = t.ts;
      price[i] = t.price;
      size[i] = t.size;
      if (numeric) {
        sym[i] = symbol;
        src[i] = sourceCode;
        cond[i] = conditions.code(t.conditions);
        if (!idHalves(t.tradeId, hi, lo, i)) numeric = false;
      }
      i++;
    }
    if (i > start) {
      segments.push([start, i]);
      names.push([r.symbol, source]);
    }
  }
  numeric &&= codesFit(conditions) && codesFit(symbols) && codesFit(sources);
  const numbers: ColumnFill[] = [
    { kind: 'ts', data: ts },
    { kind: 'f64', data: price },
    { kind: 'f64', data: size },
  ];
  const ingestedAt: ColumnFill = { kind: 'constTs', ms: Date.now() };
  if (numeric) {
    const names = ['sym', 'ts', 'price', 'size', 'cond', 'id_hi', 'id_lo', 'src', 'ingested_at'];
    const fills: ColumnFill[] = [
      { kind: 'i32', data: sym },
      ...numbers,
      { kind: 'i32', data: cond },
      { kind: 'f64', data: hi },
      { kind: 'f64', data: lo },
      { kind: 'i32', data: src },
      ingestedAt,
    ];
    await conn.run(`CREATE OR REPLACE TEMP TABLE stage_trades_n (sym INTEGER, ts TIMESTAMP,
      price DOUBLE, size DOUBLE, cond INTEGER, id_hi DOUBLE, id_lo DOUBLE, src INTEGER,
      ingested_at TIMESTAMP)`);
    await writeSegments(conn, { name: 'stage_trades_n', temp: true }, names, fills, [[0, n]]);
    return `SELECT [${sqlList(symbols)}][sym + 1] AS symbol, ts, price, size,
      [${sqlList(conditions)}][cond + 1] AS conditions,
      printf('%08x%08x', id_hi::UBIGINT, id_lo::UBIGINT) AS trade_id,
      [${sqlList(sources)}][src + 1] AS source, ingested_at
      FROM stage_trades_n`;
  }
  /** The segment of row k (asked once per chunk). */
  const segmentOf = (k: number): [string, string] => {
    let a = 0;
    let b = segments.length - 1;
    while (a < b) {
      const m = (a + b + 1) >> 1;
      if (segments[m]![0] <= k) a = m;
      else b = m - 1;
    }
    return names[a]!;
  };
  const rows = runs.flatMap((r) => r.trades);
  await conn.run(`CREATE OR REPLACE TEMP TABLE stage_trades AS SELECT * FROM trades LIMIT 0`);
  await writeSegments(
    conn,
    { name: 'stage_trades', temp: true },
    TRADE_COLUMNS,
    [
      { kind: 'text', value: (k) => segmentOf(k)[0] },
      ...numbers,
      { kind: 'str', value: (k) => rows[k]!.conditions },
      { kind: 'str', value: (k) => rows[k]!.tradeId },
      { kind: 'text', value: (k) => segmentOf(k)[1] },
      ingestedAt,
    ],
    segments,
  );
  return 'SELECT * FROM stage_trades';
}

/** The columns of `trades`, in table order. */
const TRADE_COLUMNS = [
  'symbol',
  'ts',
  'price',
  'size',
  'conditions',
  'trade_id',
  'source',
  'ingested_at',
];

/** Per symbol: the newest stored ts, and the ids stored at exactly that ts. */
export interface TradeEdge {
  ts: number;
  ids: Set<string>;
}

/**
 * Writes trades idempotently. `edges` holds the newest stored ts per symbol
 * and the ids at that ts (kept up to date here); a write whose trades are all
 * newer, or at that ts with other ids, is inserted as staged; any other write goes
 * through the anti-join. Returns rows inserted.
 */
export async function writeTrades(
  conn: DuckDBConnection,
  trades: readonly Trade[],
  edges: Map<string, TradeEdge>,
): Promise<number> {
  if (trades.length === 0) return 0;
  const runs = groupTrades(trades);
  const fresh = runs.every((r) => {
    const e = edges.get(r.symbol);
    if (hasRepeatedKey(r)) return false;
    if (e === undefined || r.lo > e.ts) return true;
    return r.lo === e.ts && r.trades.every((t) => t.ts > e.ts || !e.ids.has(t.tradeId));
  });
  for (const r of runs) {
    const e = edges.get(r.symbol);
    if (e === undefined || r.hi > e.ts) edges.set(r.symbol, { ts: r.hi, ids: new Set() });
    const top = edges.get(r.symbol)!;
    for (const t of r.trades) if (t.ts === top.ts) top.ids.add(t.tradeId);
  }
  const staged = await stageTrades(conn, runs);
  const res = await conn.run(
    fresh
      ? `INSERT INTO trades ${staged}`
      : `INSERT INTO trades
    SELECT DISTINCT ON (s.symbol, s.ts, s.trade_id) s.* FROM (${staged}) s
    ANTI JOIN trades t ON t.symbol = s.symbol AND t.ts = s.ts AND t.trade_id = s.trade_id`,
  );
  return Number(res.rowsChanged);
}

/** Whether a run repeats a (ts, trade_id) key. */
function hasRepeatedKey(r: SymbolRun): boolean {
  const trades = r.trades;
  let ordered = true;
  for (let i = 1; i < trades.length; i++) {
    if (trades[i]!.ts < trades[i - 1]!.ts) {
      ordered = false;
      break;
    }
  }
  if (ordered) {
    // Equal ts values are adjacent: compare ids within each run of equal ts.
    for (let i = 1; i < trades.length; i++) {
      const ts = trades[i]!.ts;
      for (let j = i - 1; j >= 0 && trades[j]!.ts === ts; j--) {
        if (trades[j]!.tradeId === trades[i]!.tradeId) return true;
      }
    }
    return false;
  }
  // Each trade links to the previous one with its ts: only those are compared.
  const lastAt = new Map<number, number>();
  const prev = new Int32Array(trades.length);
  for (let i = 0; i < trades.length; i++) {
    const t = trades[i]!;
    const p = lastAt.get(t.ts);
    prev[i] = p ?? -1;
    for (let j = p ?? -1; j >= 0; j = prev[j]!) if (trades[j]!.tradeId === t.tradeId) return true;
    lastAt.set(t.ts, i);
  }
  return false;
}

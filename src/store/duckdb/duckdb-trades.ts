/**
 * The write path of `trades`: trades are grouped by symbol into columns, then
 * either appended straight into the table (every trade of the write is newer
 * than the last stored trade of its symbol) or staged and inserted with an
 * anti-join on the natural key (symbol, ts, trade_id).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Trade } from '../../core/records.ts';
import { type ColumnFill, writeSegments } from './duckdb-columns.ts';

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
 * Writes the runs into `table` (`trades`, or a temp stage table of the same
 * shape), one segment per run of one symbol and source.
 */
async function appendTrades(
  conn: DuckDBConnection,
  table: string,
  runs: readonly SymbolRun[],
): Promise<void> {
  const rows: Trade[] = [];
  const segments: [number, number][] = [];
  for (const r of runs) {
    let start = rows.length;
    for (const t of r.trades) {
      if (rows.length > start && t.source !== rows[rows.length - 1]!.source) {
        segments.push([start, rows.length]);
        start = rows.length;
      }
      rows.push(t);
    }
    if (rows.length > start) segments.push([start, rows.length]);
  }
  const n = rows.length;
  const ts = new Float64Array(n);
  const price = new Float64Array(n);
  const size = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = rows[i]!;
    ts[i] = t.ts;
    price[i] = t.price;
    size[i] = t.size;
  }
  const fills: ColumnFill[] = [
    { kind: 'text', value: (i) => rows[i]!.symbol },
    { kind: 'ts', data: ts },
    { kind: 'f64', data: price },
    { kind: 'f64', data: size },
    { kind: 'str', value: (i) => rows[i]!.conditions },
    { kind: 'str', value: (i) => rows[i]!.tradeId },
    { kind: 'text', value: (i) => rows[i]!.source },
    { kind: 'constTs', ms: Date.now() },
  ];
  await writeSegments(
    conn,
    { name: table, temp: table !== 'trades' },
    TRADE_COLUMNS,
    fills,
    segments,
  );
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
 * newer, or at that ts with other ids, appends directly; any other write goes
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
  if (fresh) {
    await appendTrades(conn, 'trades', runs);
    return trades.length;
  }
  await conn.run(`CREATE OR REPLACE TEMP TABLE stage_trades AS SELECT * FROM trades LIMIT 0`);
  await appendTrades(conn, 'stage_trades', runs);
  const res = await conn.run(`INSERT INTO trades
    SELECT DISTINCT ON (s.symbol, s.ts, s.trade_id) s.* FROM stage_trades s
    ANTI JOIN trades t ON t.symbol = s.symbol AND t.ts = s.ts AND t.trade_id = s.trade_id`);
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
  const seen = new Set<string>();
  for (const t of trades) {
    const k = `${t.ts}|${t.tradeId}`;
    if (seen.has(k)) return true;
    seen.add(k);
  }
  return false;
}

/**
 * The bulk write path of `bars`: one pass plans the write, then the bars go,
 * a chunk at a time from the objects, either straight into the table (when
 * they cannot touch a stored row) or into a stage table that is merged on the
 * natural key (symbol, interval, ts).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { Codes } from '../../core/codes.ts';
import type { Bar } from '../../core/records.ts';
import { CHUNK_ROWS, type ColumnFill, codesFit, sqlList, writeSegments } from './duckdb-columns.ts';

/** The columns of `bars`, in table order. */
export const BAR_COLUMNS =
  'symbol, interval, ts, open, high, low, close, volume, adj_close, source, ingested_at, vwap, trade_count, backfilled';

/**
 * What one pass over a write's bars finds: which bars to write (the first occurrence of each
 * key wins, as in validation; series that arrive in increasing ts order, the normal case,
 * cannot repeat a key, so only a series that goes back in time pays for the exact check),
 * their runs sharing symbol, interval and source, and each series' ts range.
 */
export interface BarPlan {
  bars: readonly Bar[];
  /** Indexes into `bars` of the rows to write, in order; null = all of them. */
  keep: Int32Array | null;
  rows: number;
  /** Runs [start, end) of rows (positions in the kept order) sharing symbol, interval, source. */
  segments: [number, number][];
  /** Per series (symbol NUL interval): the first and last ts in this write. */
  series: { key: string; lo: number; hi: number }[];
}

export function planBars(bars: readonly Bar[]): BarPlan {
  const ranges = new Map<string, { key: string; lo: number; hi: number; last: number }>();
  let ordered = true;
  let last: Bar | undefined;
  let range: { key: string; lo: number; hi: number; last: number } | undefined;
  for (const b of bars) {
    if (!last || b.symbol !== last.symbol || b.interval !== last.interval) {
      const key = `${b.symbol}\u0000${b.interval}`;
      range = ranges.get(key);
      if (!range) {
        range = { key, lo: b.ts, hi: b.ts, last: Number.NEGATIVE_INFINITY };
        ranges.set(key, range);
      }
    }
    last = b;
    const r = range!;
    if (b.ts <= r.last) ordered = false;
    else r.last = b.ts;
    if (b.ts < r.lo) r.lo = b.ts;
    else if (b.ts > r.hi) r.hi = b.ts;
  }
  let keep: Int32Array | null = null;
  let rows = bars.length;
  if (!ordered) {
    const seen = new Set<string>();
    keep = new Int32Array(bars.length);
    rows = 0;
    bars.forEach((b, i) => {
      const key = `${b.symbol}\u0000${b.interval}\u0000${b.ts}`;
      if (seen.has(key)) return;
      seen.add(key);
      keep![rows++] = i;
    });
  }
  const at = (r: number): Bar => bars[keep ? keep[r]! : r]!;
  const segments: [number, number][] = [];
  let segStart = 0;
  for (let r = 1; r <= rows; r++) {
    if (r < rows) {
      const a = at(r);
      const b = at(segStart);
      if (a.symbol === b.symbol && a.interval === b.interval && a.source === b.source) continue;
    }
    if (rows > 0) segments.push([segStart, r]);
    segStart = r;
  }
  return {
    bars,
    keep,
    rows,
    segments,
    series: [...ranges.values()].map(({ key, lo, hi }) => ({ key, lo, hi })),
  };
}

/** One chunk of bars' numbers, read from the objects (NaN and −1 stand for NULL). */
interface BarNumbers {
  ts: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
  adj: Float64Array;
  vwap: Float64Array;
  /** Trades per bar, −1 = NULL. */
  count: Int32Array;
  /** 1 for a bar that filled a gap in a live feed. */
  backfilled: Uint8Array;
}

/**
 * The plan's rows as column fills (the columns of `bars` but `ingested_at`, in table order),
 * filled a chunk at a time from the bar objects: no whole-write columns to allocate.
 */
function barFills(
  plan: BarPlan,
  coded?: BarCodes,
): {
  fills: ColumnFill[];
  prepare: (start: number, n: number) => number;
} {
  const f64 = () => new Float64Array(CHUNK_ROWS);
  const i32 = () => new Int32Array(CHUNK_ROWS);
  // With codes: the strings' codes, a chunk at a time, like the numbers.
  const codes = coded ? { sym: i32(), ivl: i32(), src: i32() } : null;
  const c: BarNumbers = {
    ts: f64(),
    open: f64(),
    high: f64(),
    low: f64(),
    close: f64(),
    volume: f64(),
    adj: f64(),
    vwap: f64(),
    count: new Int32Array(CHUNK_ROWS),
    backfilled: new Uint8Array(CHUNK_ROWS),
  };
  const { ts, open, high, low, close, volume, adj, vwap } = c;
  const bar = (r: number): Bar => plan.bars[plan.keep ? plan.keep[r]! : r]!;
  return {
    fills: [
      codes ? { kind: 'i32', data: codes.sym } : { kind: 'text', value: (r) => bar(r).symbol },
      codes ? { kind: 'i32', data: codes.ivl } : { kind: 'text', value: (r) => bar(r).interval },
      { kind: 'ts', data: ts },
      { kind: 'f64', data: open },
      { kind: 'f64', data: high },
      { kind: 'f64', data: low },
      { kind: 'f64', data: close },
      { kind: 'f64', data: volume },
      { kind: 'f64', data: adj, nullable: true },
      codes ? { kind: 'i32', data: codes.src } : { kind: 'text', value: (r) => bar(r).source },
      { kind: 'f64', data: vwap, nullable: true },
      { kind: 'i32', data: c.count },
      { kind: 'bool', data: c.backfilled },
    ],
    prepare: (start, n) => {
      for (let i = 0; i < n; i++) {
        const b = bar(start + i);
        ts[i] = b.ts;
        open[i] = b.open;
        high[i] = b.high;
        low[i] = b.low;
        close[i] = b.close;
        volume[i] = b.volume;
        adj[i] = b.adjClose ?? Number.NaN;
        vwap[i] = b.vwap ?? Number.NaN;
        c.count[i] = b.tradeCount ?? -1;
        c.backfilled[i] = b.backfilled ? 1 : 0;
      }
      if (codes && coded) {
        codes.sym.set(coded.sym.subarray(start, start + n));
        codes.ivl.set(coded.ivl.subarray(start, start + n));
        codes.src.set(coded.src.subarray(start, start + n));
      }
      return 0;
    },
  };
}

/** The columns `barFills` gives, by name. */
const FILLED_COLUMNS = BAR_COLUMNS.split(', ').filter((c) => c !== 'ingested_at');

/** A write's symbols, intervals and sources as codes (see `codedBars`). */
interface BarCodes {
  symbols: Codes;
  intervals: Codes;
  sources: Codes;
  /** Per row of the plan. */
  sym: Int32Array;
  ivl: Int32Array;
  src: Int32Array;
}

/**
 * From this many runs of one symbol, interval and source, with fewer rows than this per run on
 * average, the strings go in as codes. A live flush of many symbols holds a few bars of each: a
 * chunk per run cost a chunk's set-up (a call per column) for a row or two, where codes fill
 * whole chunks. A write of few runs goes straight in (codes add a statement to each write).
 */
const CODED_RUNS = 64;

/** The write's strings as codes, when its runs are many and short and its strings fit; else null. */
function codedBars(plan: BarPlan): BarCodes | null {
  const runs = plan.segments.length;
  if (runs < CODED_RUNS || plan.rows >= CODED_RUNS * runs) return null;
  const c: BarCodes = {
    symbols: new Codes(),
    intervals: new Codes(),
    sources: new Codes(),
    sym: new Int32Array(plan.rows),
    ivl: new Int32Array(plan.rows),
    src: new Int32Array(plan.rows),
  };
  for (let r = 0; r < plan.rows; r++) {
    const b = plan.bars[plan.keep ? plan.keep[r]! : r]!;
    c.sym[r] = c.symbols.code(b.symbol);
    c.ivl[r] = c.intervals.code(b.interval);
    c.src[r] = c.sources.code(b.source);
  }
  return codesFit(c.symbols) && codesFit(c.intervals) && codesFit(c.sources) ? c : null;
}

/**
 * Stages the rows with their strings as codes, in full chunks; a SELECT of FILLED_COLUMNS
 * (in that order) from the stage.
 */
async function stageCoded(conn: DuckDBConnection, plan: BarPlan, c: BarCodes): Promise<string> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE stage_bars_n (sym INTEGER, ivl INTEGER,
    ts TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, adj_close DOUBLE,
    src INTEGER, vwap DOUBLE, trade_count INTEGER, backfilled BOOLEAN)`);
  const { fills, prepare } = barFills(plan, c);
  const names = FILLED_COLUMNS.map((n) =>
    n === 'symbol' ? 'sym' : n === 'interval' ? 'ivl' : n === 'source' ? 'src' : n,
  );
  await writeSegments(
    conn,
    { name: 'stage_bars_n', temp: true },
    names,
    fills,
    [[0, plan.rows]],
    prepare,
  );
  return `SELECT [${sqlList(c.symbols)}][sym + 1] AS symbol, [${sqlList(c.intervals)}][ivl + 1] AS interval,
    ts, open, high, low, close, volume, adj_close, [${sqlList(c.sources)}][src + 1] AS source,
    vwap, trade_count, backfilled FROM stage_bars_n`;
}

/** Inserts straight into `bars`; only for rows whose keys are known not to be stored. */
export async function appendBars(conn: DuckDBConnection, plan: BarPlan): Promise<number> {
  if (plan.rows === 0) return 0;
  const coded = codedBars(plan);
  if (coded) {
    const staged = await stageCoded(conn, plan, coded);
    const cols = BAR_COLUMNS.replace('ingested_at', `make_timestamp(${Date.now() * 1000})`);
    const res = await conn.run(`INSERT INTO bars (${BAR_COLUMNS}) SELECT ${cols} FROM (${staged})`);
    return Number(res.rowsChanged);
  }
  const { fills, prepare } = barFills(plan);
  // ingested_at is the one column between the filled ones: it goes in as a constant.
  const at = BAR_COLUMNS.split(', ').indexOf('ingested_at');
  fills.splice(at, 0, { kind: 'constTs', ms: Date.now() });
  return writeSegments(
    conn,
    { name: 'bars' },
    BAR_COLUMNS.split(', '),
    fills,
    plan.segments,
    prepare,
  );
}

/**
 * Stages the rows and merges them: stored rows whose values changed are
 * deleted, then every staged row whose key is not stored (new, or just
 * deleted) is inserted. Unchanged rows are not touched. Returns rows written.
 */
export async function mergeBars(conn: DuckDBConnection, plan: BarPlan): Promise<number> {
  const coded = codedBars(plan);
  if (coded) {
    const staged = await stageCoded(conn, plan, coded);
    await conn.run(`CREATE OR REPLACE TEMP TABLE stage_merge AS ${staged}`);
  } else {
    await conn.run(`CREATE OR REPLACE TEMP TABLE stage_merge (symbol VARCHAR, interval VARCHAR,
      ts TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE,
      adj_close DOUBLE, source VARCHAR, vwap DOUBLE, trade_count INTEGER, backfilled BOOLEAN)`);
    const { fills, prepare } = barFills(plan);
    await writeSegments(
      conn,
      { name: 'stage_merge', temp: true },
      FILLED_COLUMNS,
      fills,
      plan.segments,
      prepare,
    );
  }
  await conn.run(`DELETE FROM bars b USING stage_merge x
    WHERE b.symbol = x.symbol AND b.interval = x.interval AND b.ts = x.ts
      AND (b.open IS DISTINCT FROM x.open OR b.high IS DISTINCT FROM x.high OR b.low IS DISTINCT FROM x.low
        OR b.close IS DISTINCT FROM x.close OR b.volume IS DISTINCT FROM x.volume
        OR b.adj_close IS DISTINCT FROM x.adj_close OR b.source IS DISTINCT FROM x.source
        OR b.vwap IS DISTINCT FROM x.vwap OR b.trade_count IS DISTINCT FROM x.trade_count
        OR b.backfilled IS DISTINCT FROM x.backfilled)`);
  const res = await conn.run(`INSERT INTO bars (${BAR_COLUMNS})
    SELECT x.symbol, x.interval, x.ts, x.open, x.high, x.low, x.close, x.volume, x.adj_close, x.source,
      now(), x.vwap, x.trade_count, x.backfilled FROM stage_merge x
    ANTI JOIN bars b ON b.symbol = x.symbol AND b.interval = x.interval AND b.ts = x.ts`);
  return Number(res.rowsChanged);
}

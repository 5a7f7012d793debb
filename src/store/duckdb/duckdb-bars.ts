/**
 * The bulk write path of `bars`: bars become typed columns once, then either
 * go straight into the table (when they cannot touch a stored row) or are
 * staged and merged on the natural key (symbol, interval, ts).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Bar } from '../../core/records.ts';
import { appendColumns, appendSegments, Dictionary } from './duckdb-columns.ts';

/** The columns of `bars`, in table order. */
export const BAR_COLUMNS =
  'symbol, interval, ts, open, high, low, close, volume, adj_close, source, ingested_at, vwap, trade_count, backfilled';

/** Bars as columns: strings as dictionary codes, one row per natural key. */
export interface BarColumns {
  dict: Dictionary;
  rows: number;
  sym: Int32Array;
  ivl: Int32Array;
  src: Int32Array;
  /** ts (epoch ms), open, high, low, close, volume, adj close, vwap (NaN = NULL). */
  nums: [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  /** Trades per bar, −1 = NULL. */
  count: Int32Array;
  /** 1 for a bar that filled a gap in a live feed. */
  backfilled: Uint8Array;
  /** Per series (symbol NUL interval): the first and last ts in this write. */
  series: { key: string; lo: number; hi: number }[];
}

/**
 * Builds the columns. The first occurrence of a key wins, as in validation;
 * series that arrive in increasing ts order (the normal case) cannot repeat
 * a key, so only a series that goes back in time pays for the exact check.
 */
export function columnizeBars(bars: readonly Bar[]): BarColumns {
  const n = bars.length;
  const dict = new Dictionary();
  const sym = new Int32Array(n);
  const ivl = new Int32Array(n);
  const src = new Int32Array(n);
  const nums = Array.from({ length: 8 }, () => new Float64Array(n)) as BarColumns['nums'];
  const [ts, open, high, low, close, volume, adj, vwap] = nums;
  const count = new Int32Array(n);
  const backfilled = new Uint8Array(n);
  const lastTs = new Map<number, number>();
  const ranges = new Map<number, { key: string; lo: number; hi: number }>();
  let ordered = true;
  let last: Bar | undefined;
  let symId = 0;
  let ivlId = 0;
  let srcId = 0;
  let i = 0;
  for (const b of bars) {
    if (!last || b.symbol !== last.symbol) symId = dict.id(b.symbol);
    if (!last || b.interval !== last.interval) ivlId = dict.id(b.interval);
    if (!last || b.source !== last.source) srcId = dict.id(b.source);
    last = b;
    const series = symId * 1024 + ivlId;
    const prev = lastTs.get(series);
    if (prev !== undefined && b.ts <= prev) ordered = false;
    else lastTs.set(series, b.ts);
    const r = ranges.get(series);
    if (!r) ranges.set(series, { key: `${b.symbol}\u0000${b.interval}`, lo: b.ts, hi: b.ts });
    else if (b.ts < r.lo) r.lo = b.ts;
    else if (b.ts > r.hi) r.hi = b.ts;
    sym[i] = symId;
    ivl[i] = ivlId;
    src[i] = srcId;
    ts[i] = b.ts;
    open[i] = b.open;
    high[i] = b.high;
    low[i] = b.low;
    close[i] = b.close;
    volume[i] = b.volume;
    adj[i] = b.adjClose ?? Number.NaN;
    vwap[i] = b.vwap ?? Number.NaN;
    count[i] = b.tradeCount ?? -1;
    backfilled[i] = b.backfilled ? 1 : 0;
    i++;
  }
  let rows = n;
  if (!ordered) {
    const seen = new Set<string>();
    const cols = [sym, ivl, src, ...nums, count, backfilled];
    rows = 0;
    for (let r = 0; r < n; r++) {
      const key = `${sym[r]}:${ivl[r]}:${ts[r]}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (rows !== r) for (const c of cols) c[rows] = c[r]!;
      rows++;
    }
  }
  return {
    dict,
    rows,
    sym,
    ivl,
    src,
    nums,
    count,
    backfilled,
    series: [...ranges.values()],
  };
}

/** Runs of rows sharing symbol, interval and source. */
function segments(c: BarColumns): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 1; i <= c.rows; i++) {
    if (
      i === c.rows ||
      c.sym[i] !== c.sym[start] ||
      c.ivl[i] !== c.ivl[start] ||
      c.src[i] !== c.src[start]
    ) {
      out.push([start, i]);
      start = i;
    }
  }
  return out;
}

/** Appends straight into `bars`; only for rows whose keys are known not to be stored. */
export async function appendBars(conn: DuckDBConnection, c: BarColumns): Promise<number> {
  if (c.rows === 0) return 0;
  const v = c.dict.values;
  const [ts, open, high, low, close, volume, adj, vwap] = c.nums;
  const a = await conn.createAppender('bars');
  appendSegments(
    a,
    [
      { kind: 'text', value: (r) => v[c.sym[r]!]! },
      { kind: 'text', value: (r) => v[c.ivl[r]!]! },
      { kind: 'ts', data: ts },
      { kind: 'f64', data: open },
      { kind: 'f64', data: high },
      { kind: 'f64', data: low },
      { kind: 'f64', data: close },
      { kind: 'f64', data: volume },
      { kind: 'f64', data: adj, nullable: true },
      { kind: 'text', value: (r) => v[c.src[r]!]! },
      { kind: 'constTs', ms: Date.now() },
      { kind: 'f64', data: vwap, nullable: true },
      { kind: 'i32', data: c.count },
      { kind: 'bool', data: c.backfilled },
    ],
    segments(c),
  );
  a.closeSync();
  return c.rows;
}

/**
 * Stages the rows and merges them: stored rows whose values changed are
 * deleted, then every staged row whose key is not stored (new, or just
 * deleted) is inserted. Unchanged rows are not touched. Returns rows written.
 */
export async function mergeBars(conn: DuckDBConnection, c: BarColumns): Promise<number> {
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE stage_dict (id INTEGER, value VARCHAR);
    CREATE OR REPLACE TEMP TABLE stage_bars (symbol INTEGER, interval INTEGER, source INTEGER, ts_ms DOUBLE,
      open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, adj_close DOUBLE, vwap DOUBLE,
      trade_count INTEGER, backfilled INTEGER);`);
  const d = await conn.createAppender('stage_dict', 'main', 'temp');
  c.dict.values.forEach((value, id) => {
    d.appendInteger(id);
    d.appendVarchar(value);
    d.endRow();
  });
  d.closeSync();
  const a = await conn.createAppender('stage_bars', 'main', 'temp');
  appendColumns(
    a,
    [c.sym, c.ivl, c.src, ...c.nums, c.count, Int32Array.from(c.backfilled)],
    c.rows,
  );
  a.closeSync();
  await conn.run(`CREATE OR REPLACE TEMP TABLE stage_merge AS
    SELECT ds.value AS symbol, di.value AS interval, epoch_ms(s.ts_ms::BIGINT) AS ts,
      s.open, s.high, s.low, s.close, s.volume,
      CASE WHEN isnan(s.adj_close) THEN NULL ELSE s.adj_close END AS adj_close, dsrc.value AS source,
      CASE WHEN isnan(s.vwap) THEN NULL ELSE s.vwap END AS vwap,
      CASE WHEN s.trade_count < 0 THEN NULL ELSE s.trade_count END AS trade_count,
      s.backfilled = 1 AS backfilled
    FROM stage_bars s
      JOIN stage_dict ds ON ds.id = s.symbol
      JOIN stage_dict di ON di.id = s.interval
      JOIN stage_dict dsrc ON dsrc.id = s.source`);
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

/**
 * Materialises the indicator columns behind the `bars_enriched` view: runs
 * each affected series' bars, in ts order, through the batch kernels
 * (`enrichSeries`), or bar by bar through `IncrementalIndicators` (the same
 * values to the bit) where the state after the last bar is to be kept, and
 * replaces the series' rows in `bar_indicators` by appending whole columns
 * (NaN marks a window that is not full; the view shows NULL).
 *
 * A series given with `from` has its rows replaced only from that ts on.
 * A series given with `resume` (the indicators' state after one of its bars,
 * kept from an earlier refresh) goes on from that bar: only the bars after it
 * are read and their rows replaced, so a live series costs what it gained
 * since, not its whole history. Every refreshed series' state after its last
 * bar is returned, to resume from next time.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { enrichSeries, STORED_COLUMNS } from '../../transform/enrich.ts';
import { IncrementalIndicators } from '../../transform/indicators/incremental.ts';
import type { SeriesKey } from '../store.ts';
import { appendColumns, readColumns } from './duckdb-columns.ts';
import { BAR_READ_SQL } from './duckdb-schema.ts';

/** A series' curated indicators after its bar at `ts`. */
export interface CuratedState {
  ts: number;
  indicators: IncrementalIndicators;
}

/**
 * Every stored bar of a series from `from` on, as a resumed refresh read and
 * enriched it: the columns of a bars read (ts, the bar's numbers with NaN for
 * NULL, backfilled as 0/1, every enriched column) and each row's source.
 * Right until anything next writes to the series.
 */
export interface CuratedTail {
  from: number;
  rows: number;
  columns: Record<string, Float64Array>;
  sources: string[];
}

/** What a refresh leaves to go on from: per series, its state and (resumed ones) its new rows. */
export interface CuratedResult {
  states: Map<string, CuratedState>;
  tails: Map<string, CuratedTail>;
}

/** A series to refresh: whole (`from` null), from `from` (epoch ms) on, or on from `resume`. */
export interface CuratedSeries extends SeriesKey {
  from: number | null;
  /** Where to go on from: a state after a bar older than `from`. */
  resume?: CuratedState;
  /**
   * Whether to return the state after its last bar (computed bar by bar); without it a series
   * read whole goes through the batch kernels (`enrichSeries`, faster over a whole series: a
   * backfill refreshes each series once).
   */
  keepState: boolean;
}

export async function refreshCurated(
  conn: DuckDBConnection,
  series: readonly CuratedSeries[],
): Promise<CuratedResult> {
  const unique = new Map(series.map((s) => [`${s.symbol}\u0000${s.interval}`, s]));
  await conn.run(`
    CREATE OR REPLACE TEMP TABLE curated_keys
      (symbol VARCHAR, interval VARCHAR, from_ms DOUBLE, resumed BOOLEAN);`);
  const keys = await conn.createAppender('curated_keys', 'main', 'temp');
  for (const s of unique.values()) {
    keys.appendVarchar(s.symbol);
    keys.appendVarchar(s.interval);
    // A resumed series is rewritten from the bar after its state's (every row from there is
    // recomputed; those before `from` come out the same).
    const from = s.resume ? s.resume.ts + 1 : s.from;
    if (from === null) keys.appendNull();
    else keys.appendDouble(from);
    keys.appendBoolean(s.resume !== undefined);
    keys.endRow();
  }
  keys.closeSync();
  // Give new series an id, then drop the old indicator rows of every affected series.
  await conn.run(`
    INSERT INTO series
      SELECT (SELECT coalesce(max(id), -1) FROM series) + row_number() OVER (ORDER BY k.symbol, k.interval),
        k.symbol, k.interval
      FROM curated_keys k ANTI JOIN series s ON s.symbol = k.symbol AND s.interval = k.interval;
    CREATE OR REPLACE TEMP TABLE curated_ids AS
      SELECT s.id, s.symbol, s.interval, epoch_ms(k.from_ms::BIGINT) AS from_ts, k.resumed
      FROM series s JOIN curated_keys k ON s.symbol = k.symbol AND s.interval = k.interval;
    DELETE FROM bar_indicators i USING curated_ids k
      WHERE i.series_id = k.id AND (k.from_ts IS NULL OR i.ts >= k.from_ts)
        -- The oldest row any series loses, as a constant the scan can skip row groups by.
        AND i.ts >= (SELECT CASE WHEN count(*) = count(from_ts) THEN min(from_ts)
                      ELSE '-infinity'::TIMESTAMP END FROM curated_ids);`);
  const ids = new Map(
    (await (await conn.run('SELECT id, symbol, interval FROM curated_ids')).getRowObjects()).map(
      (r) => [`${r.symbol}\u0000${r.interval}`, Number(r.id)],
    ),
  );
  const keyOf = new Map([...ids].map(([k, id]) => [id, k]));
  const states = new Map<string, CuratedState>();
  const tails = new Map<string, CuratedTail>();
  const written: { key: Int32Array; micros: BigInt64Array; out: Float64Array[]; n: number }[] = [];
  /**
   * Runs rows [0, n) of one series through `ind` (or, with none, the batch kernels), keeping the
   * rows from `from` on.
   */
  const run = (
    id: number,
    ind: IncrementalIndicators | null,
    ts: Float64Array,
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    from: number,
  ) => {
    const n = ts.length;
    let first = 0;
    while (first < n && ts[first]! < from) first++;
    const keep = n - first;
    let out: Float64Array[];
    if (ind) {
      out = STORED_COLUMNS.map(() => new Float64Array(keep));
      const v = ind.last;
      for (let i = 0; i < n; i++) {
        ind.push(high[i]!, low[i]!, close[i]!);
        const at = i - first;
        if (at >= 0) for (let c = 0; c < out.length; c++) out[c]![at] = v[STORED_COLUMNS[c]!];
      }
    } else {
      const all = enrichSeries({ high, low, close });
      out = STORED_COLUMNS.map((c) => all[c].subarray(first));
    }
    const micros = new BigInt64Array(keep);
    for (let i = 0; i < keep; i++) micros[i] = BigInt(ts[first + i]!) * 1000n;
    written.push({ key: new Int32Array(keep).fill(id), micros, out, n: keep });
    if (ind && n > 0) states.set(keyOf.get(id)!, { ts: ts[n - 1]!, indicators: ind });
    return out;
  };

  // Series read whole: one query for all of them.
  const whole = [...unique.values()].filter((s) => !s.resume);
  if (whole.length > 0) {
    const { columns, rowCount: n } = await readColumns(
      conn,
      `SELECT k.id, epoch_ms(b.ts)::DOUBLE, b.high, b.low, b.close
       FROM bars b JOIN curated_ids k ON b.symbol = k.symbol AND b.interval = k.interval
       WHERE NOT k.resumed
       ORDER BY k.id, b.ts`,
      ['i32', 'f64', 'f64', 'f64', 'f64'],
    );
    const [key, ts, high, low, close] = columns as [
      Int32Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    const byId = new Map(whole.map((s) => [ids.get(`${s.symbol}\u0000${s.interval}`)!, s]));
    for (let start = 0; start < n; ) {
      let end = start + 1;
      while (end < n && key[end] === key[start]) end++;
      const s = byId.get(key[start]!);
      if (s) {
        run(
          key[start]!,
          s.keepState ? new IncrementalIndicators() : null,
          ts.subarray(start, end),
          high.subarray(start, end),
          low.subarray(start, end),
          close.subarray(start, end),
          s.from ?? -1e300,
        );
      }
      start = end;
    }
  }
  // Resumed series: only the bars after their state's, one small query each, read whole (they
  // are few): what a read of the series' new rows would return is then at hand (`tails`).
  for (const s of unique.values()) {
    if (!s.resume) continue;
    const key = `${s.symbol}\u0000${s.interval}`;
    const where =
      'WHERE b.symbol = $1 AND b.interval = $2 AND b.ts > epoch_ms($3::BIGINT) ORDER BY b.ts';
    const params = [s.symbol, s.interval, s.resume.ts];
    const { columns, rowCount } = await readColumns(
      conn,
      `SELECT ${TAIL_COLUMNS.map((c) => BAR_READ_SQL[c]).join(', ')} FROM bars b ${where}`,
      TAIL_COLUMNS.map(() => 'f64'),
      params,
    );
    const [ts, high, low, close] = columns as Float64Array[];
    if (rowCount === 0) {
      states.set(key, s.resume);
      continue;
    }
    // A copy: the kept state stays as it is should this refresh roll back.
    const out = run(ids.get(key)!, s.resume.indicators.clone(), ts!, high!, low!, close!, -1e300);
    const tail: Record<string, Float64Array> = {};
    TAIL_COLUMNS.forEach((c, k) => {
      tail[c] = columns[k] as Float64Array;
    });
    STORED_COLUMNS.forEach((c, k) => {
      tail[c] = out[k]!;
    });
    tail.bb_middle = tail.sma_20!;
    tail.macd_hist = tail.macd!.map((m, i) => m - tail.macd_signal![i]!);
    const sources = (
      await (await conn.run(`SELECT b.source FROM bars b ${where}`, params)).getRowObjects()
    ).map((r) => String(r.source));
    tails.set(key, { from: s.resume.ts + 1, rows: rowCount, columns: tail, sources });
  }
  const a = await conn.createAppender('bar_indicators');
  for (const w of written) appendColumns(a, [w.key, w.micros, ...w.out], w.n);
  a.closeSync();
  return { states, tails };
}

/** The bar columns of a tail, in the order the resumed query reads them (ts, high, low, close first). */
const TAIL_COLUMNS = [
  'ts',
  'high',
  'low',
  'close',
  'open',
  'volume',
  'vwap',
  'adj_close',
  'trade_count',
  'backfilled',
] as const;

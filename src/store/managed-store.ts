/**
 * A store driver behind the store-neutral layers: the curated layer's
 * refreshes (curated-layer.ts), the result cache in front of bar reads
 * (read-cache.ts, for a store this process alone writes), the derived
 * indicator columns, and the record-shaped reads built on the driver's
 * column reads. Writes and refreshes run one at a time, so a refresh's
 * state always matches what it read.
 */
import type { Bar, Trade } from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import {
  deriveColumn,
  ENRICHED_COLUMNS,
  type EnrichedColumn,
  type StoredColumn,
  storedFor,
} from '../transform/enrich.ts';
import { CuratedLayer, seriesKey } from './curated-layer.ts';
import { ReadCache } from './read-cache.ts';
import type { CacheStats, Derived } from './result-cache.ts';
import {
  type BarColumnSet,
  type BarQuery,
  type Capabilities,
  CapabilityError,
  type CapabilityName,
  type EnrichedBar,
  type SeriesKey,
  type SeriesStatus,
  type Store,
  type StoreDriver,
  type TradeQuery,
  type WriteBatch,
  type WriteResult,
} from './store.ts';

/** Indicator names reach stores as column names: anything not in the list is refused. */
function unknownIndicator(columns: readonly string[]): RangeError | null {
  const bad = columns.find((c) => !(ENRICHED_COLUMNS as readonly string[]).includes(c));
  return bad === undefined ? null : new RangeError(`unknown indicator column ${bad}`);
}

/** Each series a batch's bars touch, with its first bar's ts. */
function touched(bars: readonly Bar[]): Map<string, number> {
  const lo = new Map<string, number>();
  // Bars come in runs of one series: a run's first ts is looked for without a key per bar.
  let run: Bar | undefined;
  let min = 0;
  const end = (): void => {
    if (run === undefined) return;
    const k = seriesKey(run);
    const t = lo.get(k);
    if (t === undefined || min < t) lo.set(k, min);
  };
  for (const b of bars) {
    if (run === undefined || b.symbol !== run.symbol || b.interval !== run.interval) {
      end();
      run = b;
      min = b.ts;
    } else if (b.ts < min) min = b.ts;
  }
  end();
  return lo;
}

/** Bar objects from a full column read (NaN = NULL). */
export function barsFromColumns(q: SeriesKey, set: BarColumnSet): Bar[] {
  const c = set.columns;
  const out: Bar[] = [];
  for (let i = 0; i < set.rows; i++) {
    const vwap = c.vwap![i]!;
    const count = c.trade_count![i]!;
    const adj = c.adj_close![i]!;
    out.push({
      symbol: q.symbol,
      interval: q.interval as Interval,
      ts: c.ts![i]!,
      open: c.open![i]!,
      high: c.high![i]!,
      low: c.low![i]!,
      close: c.close![i]!,
      volume: c.volume![i]!,
      adjClose: Number.isNaN(adj) ? null : adj,
      source: set.sources[c.source![i]!]!,
      // Fields of bars built from trades or backfilled, present only when set.
      ...(Number.isNaN(vwap) ? {} : { vwap }),
      ...(Number.isNaN(count) ? {} : { tradeCount: count }),
      ...(c.backfilled![i] === 1 ? { backfilled: true } : {}),
    });
  }
  return out;
}

export class ManagedStore implements Store {
  readonly driver: StoreDriver;
  readonly #cache: ReadCache | null;
  readonly #curated: CuratedLayer;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #capabilities: Partial<Capabilities>;

  constructor(driver: StoreDriver, opts: { cacheBytes?: number } = {}) {
    this.driver = driver;
    const bytes = opts.cacheBytes ?? 128 * 2 ** 20;
    this.#cache = driver.exclusive && bytes > 0 ? new ReadCache(bytes) : null;
    this.#curated = new CuratedLayer(driver, this.#cache);
    this.#capabilities = { ...driver.capabilities };
    const sql = driver.capabilities.sql;
    if (sql) {
      // SQL that may have written anything: every cached result and refresh state goes.
      this.#capabilities.sql = {
        sql: async (query, opts) => {
          const res = await sql.sql(query, opts);
          if (res.wrote !== false) {
            this.#cache?.clear();
            this.#curated.reset();
          }
          return res;
        },
      };
    }
  }

  get kind(): string {
    return this.driver.kind;
  }

  /** Runs `fn` after every earlier write or refresh has finished. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  write(batch: WriteBatch): Promise<WriteResult> {
    return this.#serial(async () => {
      // Cached reads of these series are stale from the write's first bar on, before anything
      // of them changes (a bar is never removed by a write, so what is before stays right).
      for (const [key, lo] of touched(batch.bars)) {
        this.#cache?.markStale(key, lo);
        this.#curated.written(key, lo);
      }
      return this.driver.write(batch);
    });
  }

  refreshCurated(series: readonly SeriesKey[]): Promise<void> {
    if (series.length === 0) return Promise.resolve();
    return this.#serial(() => this.#curated.refresh(series));
  }

  /** A driver read with enriched columns (the derived ones computed from the stored). */
  async #read(
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full: boolean,
  ): Promise<BarColumnSet> {
    const stored = [...new Set(indicators.flatMap(storedFor))] as StoredColumn[];
    const set = await this.driver.readBarColumns(q, stored, full);
    const derived = indicators.filter((c) => c === 'bb_middle' || c === 'macd_hist');
    for (const c of derived) set.columns[c] = deriveColumn(c, set.columns, set.rows);
    // Only the columns asked for (a derived one's parts are not).
    for (const c of stored) if (!indicators.includes(c)) delete set.columns[c];
    return set;
  }

  readBarColumns(
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full = false,
  ): Promise<BarColumnSet> {
    const unknown = unknownIndicator(indicators);
    if (unknown) return Promise.reject(unknown);
    if (!this.#cache) return this.#read(q, indicators, full);
    const key = seriesKey(q);
    return this.#cache.read(
      key,
      q,
      indicators,
      full,
      (from, n) =>
        this.#read({ ...q, ...(from === undefined ? {} : { from }), limit: n }, indicators, full),
      () => this.#curated.tail(key),
    );
  }

  async readBars(q: BarQuery): Promise<Bar[]> {
    return barsFromColumns(q, await this.#read(q, [], true));
  }

  async readEnrichedBars(q: BarQuery, columns: readonly EnrichedColumn[]): Promise<EnrichedBar[]> {
    const unknown = unknownIndicator(columns);
    if (unknown) throw unknown;
    const set = await this.#read(q, columns, true);
    return barsFromColumns(q, set).map((b, i) => ({
      ...b,
      indicators: Object.fromEntries(
        columns.map((c) => {
          const v = set.columns[c]![i]!;
          return [c, Number.isNaN(v) ? null : v];
        }),
      ),
    }));
  }

  lastBarsBefore(keys: readonly (SeriesKey & { ts: number })[]): Promise<(Bar | null)[]> {
    if (this.driver.lastBarsBefore) return this.driver.lastBarsBefore(keys);
    return Promise.all(
      keys.map(async (k) => {
        const q = { symbol: k.symbol, interval: k.interval, to: k.ts, order: 'desc', limit: 1 };
        return (await this.readBars(q as BarQuery))[0] ?? null;
      }),
    );
  }

  async readTrades(q: TradeQuery): Promise<Trade[]> {
    const t = await this.driver.readTradeColumns(q);
    const out: Trade[] = [];
    for (let i = 0; i < t.rows; i++) {
      out.push({
        symbol: q.symbol,
        ts: t.ts[i]!,
        price: t.price[i]!,
        size: t.size[i]!,
        conditions: t.conditions[i]!,
        tradeId: t.tradeId[i]!,
        source: t.source[i]!,
      });
    }
    return out;
  }

  status(): Promise<SeriesStatus[]> {
    return this.driver.listSeries();
  }

  ping(): Promise<void> {
    return this.driver.ping();
  }

  capabilities(): CapabilityName[] {
    return (Object.keys(this.#capabilities) as CapabilityName[]).filter(
      (k) => this.#capabilities[k] !== undefined,
    );
  }

  capability<K extends CapabilityName>(name: K): Capabilities[K] {
    const c = this.#capabilities[name];
    if (!c) throw new CapabilityError(name, this.driver.kind);
    return c;
  }

  queryCacheStats(): CacheStats {
    return (
      this.#cache?.stats() ?? { hits: 0, misses: 0, stale: 0, entries: 0, bytes: 0, maxBytes: 0 }
    );
  }

  deriveFromBars<D extends Derived>(set: BarColumnSet, name: string, make: (prior?: D) => D): D {
    return this.#cache ? this.#cache.derive(set, name, make) : make();
  }

  close(): Promise<void> {
    return this.#serial(() => this.driver.close());
  }
}

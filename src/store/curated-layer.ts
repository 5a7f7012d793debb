/**
 * The curated layer's refresh state (store-neutral): which series this
 * process refreshed, from which bar each must be refreshed again, and the
 * indicators' state after the last bars of recent refreshes, so a growing
 * (live) series costs what it gained since, not its whole history. The
 * indicators themselves are computed by the curate step
 * (transform/curate.ts); the rows go to the driver's `writeIndicators`.
 *
 * Every curated column of a bar depends only on the bars up to it. A series
 * refreshed here before goes on from its state after a bar older than the
 * first bar written since (none written: nothing to do), or, with no such
 * state kept, is recomputed with its rows replaced from that bar on; any
 * other series is replaced whole.
 */
import { StoreError } from '../core/errors.ts';
import { type CuratedState, curateSeries } from '../transform/curate.ts';
import { deriveColumn, ENRICHED_COLUMNS, STORED_COLUMNS } from '../transform/enrich.ts';
import type { CuratedTail, ReadCache } from './read-cache.ts';
import type { BarColumnSet, IndicatorRows, SeriesKey, SeriesPrices, StoreDriver } from './store.ts';

/**
 * Indicator states kept per series, and series kept (least recently refreshed out first):
 * about 2 KB a state, 32 MB at most.
 */
const CURATED_STATES = 4;
const CURATED_STATE_SERIES = 4096;
/** Series read at once by a refresh (a shared store answers them in parallel). */
const READ_CONCURRENCY = 8;

export const seriesKey = (s: SeriesKey): string => `${s.symbol}\u0000${s.interval}`;

interface Work extends SeriesKey {
  key: string;
  from: number | null;
  resume?: CuratedState;
  keepState: boolean;
}

export class CuratedLayer {
  readonly #driver: StoreDriver;
  readonly #cache: ReadCache | null;
  /** Series whose curated rows were refreshed in this process since the last SQL that wrote. */
  readonly #clean = new Set<string>();
  /** Per series: the first bar ts written since its last curated refresh. */
  readonly #from = new Map<string, number>();
  /** Per clean series: its states after the last bar of its latest refreshes (oldest first); Map order is recency. */
  readonly #states = new Map<string, CuratedState[]>();
  /** Per series: its rows from some time on as its last resumed refresh read and enriched them. */
  readonly #tails = new Map<string, CuratedTail>();

  constructor(driver: StoreDriver, cache: ReadCache | null) {
    this.#driver = driver;
    this.#cache = cache;
  }

  /** A write changes the series from `lo` on. */
  written(key: string, lo: number): void {
    this.#tails.delete(key);
    this.#from.set(key, Math.min(this.#from.get(key) ?? lo, lo));
  }

  /** Anything may have changed (a user's SQL wrote): every series is refreshed whole next time. */
  reset(): void {
    this.#clean.clear();
    this.#from.clear();
    this.#states.clear();
    this.#tails.clear();
  }

  tail(key: string): CuratedTail | undefined {
    return this.#tails.get(key);
  }

  #plan(series: readonly SeriesKey[]): Map<string, Work> {
    const work = new Map<string, Work>();
    for (const s of series) {
      const key = seriesKey(s);
      if (work.has(key)) continue;
      const base = { symbol: s.symbol, interval: s.interval, key };
      if (!this.#clean.has(key)) {
        // A first refresh (a backfill's, say) keeps no state: the batch kernels are faster.
        this.#cache?.invalidate(key);
        work.set(key, { ...base, from: null, keepState: false });
        continue;
      }
      const from = this.#from.get(key);
      if (from === undefined) continue;
      this.#cache?.markStale(key, from);
      const kept = (this.#states.get(key) ?? []).filter((c) => c.ts < from);
      this.#states.set(key, kept);
      const resume = kept.at(-1);
      // Refreshed again: a series that grows (a live one) keeps a state to go on from.
      work.set(key, { ...base, from, keepState: true, ...(resume ? { resume } : {}) });
    }
    return work;
  }

  /** Recomputes the curated rows of these series from their stored bars. */
  async refresh(series: readonly SeriesKey[]): Promise<void> {
    const work = this.#plan(series);
    if (work.size === 0) return;
    const parts: IndicatorRows[] = [];
    const states = new Map<string, CuratedState>();
    const tails = new Map<string, CuratedTail>();
    // Whole series read at once where the driver can (a backfill refreshes hundreds).
    const whole = [...work.values()].filter((w) => !w.resume);
    let batched: Map<string, SeriesPrices> | null = null;
    // Resumed series (a live path's, each a few new bars) read at once where the driver can.
    const resumed = [...work.values()].filter((w) => w.resume);
    let tailsRead: Map<string, BarColumnSet> | null = null;
    const one = async (w: Work): Promise<void> => {
      const prices = w.resume ? undefined : batched?.get(w.key);
      if (prices) {
        const done = curateSeries(w, prices, { from: w.from, keepState: w.keepState });
        if (done.state) states.set(w.key, done.state);
        parts.push(done.rows);
        return;
      }
      const q = {
        symbol: w.symbol,
        interval: w.interval,
        ...(w.resume ? { from: w.resume.ts + 1 } : {}),
      };
      // A resumed series is read whole from its state on (few rows): what a read of its new
      // rows answers is then at hand (the tail).
      const set =
        tailsRead?.get(w.key) ?? (await this.#driver.readBarColumns(q, [], w.resume !== undefined));
      const c = set.columns;
      const done = curateSeries(
        w,
        { ts: c.ts!, high: c.high!, low: c.low!, close: c.close! },
        { from: w.from, keepState: w.keepState, ...(w.resume ? { resume: w.resume } : {}) },
      );
      if (done.state) states.set(w.key, done.state);
      if (w.resume && set.rows === 0) return;
      parts.push(done.rows);
      if (w.resume) tails.set(w.key, tailOf(set, done.rows, w.resume.ts + 1));
    };
    try {
      if (this.#driver.readWholeSeries && whole.length > 1) {
        batched = await this.#driver.readWholeSeries(whole);
      }
      if (this.#driver.readSeriesFrom && resumed.length > 1) {
        const sets = await this.#driver.readSeriesFrom(
          resumed.map((w) => ({ symbol: w.symbol, interval: w.interval, ts: w.resume!.ts + 1 })),
        );
        tailsRead = new Map(resumed.map((w, i) => [w.key, sets[i]!]));
      }
      const queue = [...work.values()];
      const runner = async () => {
        for (let w = queue.shift(); w; w = queue.shift()) await one(w);
      };
      await Promise.all(Array.from({ length: READ_CONCURRENCY }, runner));
      await this.#driver.writeIndicators(parts);
    } catch (err) {
      // Whatever this refresh was to replace is still there: the next one replaces it whole.
      for (const key of work.keys()) {
        this.#clean.delete(key);
        this.#states.delete(key);
        this.#tails.delete(key);
      }
      throw err instanceof StoreError
        ? err
        : new StoreError(
            `refreshing the curated layer failed: ${(err as Error).message}`,
            'refreshCurated',
            [],
            err,
          );
    }
    for (const [key, w] of work) {
      this.#clean.add(key);
      this.#from.delete(key);
      const tail = tails.get(key);
      if (tail) this.#tails.set(key, tail);
      else this.#tails.delete(key);
      const state = states.get(key);
      const kept = w.from === null ? [] : (this.#states.get(key) ?? []);
      // The latest few: a correction reaches back a few bars at most, seldom further.
      this.#states.delete(key);
      this.#states.set(
        key,
        state && state !== kept.at(-1) ? [...kept, state].slice(-CURATED_STATES) : kept,
      );
    }
    for (const key of this.#states.keys()) {
      if (this.#states.size <= CURATED_STATE_SERIES) break;
      this.#states.delete(key); // its next refresh reads the series whole
    }
  }
}

/** What a full read of the series from `from` on answers, from a resumed refresh's read and rows. */
function tailOf(set: BarColumnSet, rows: IndicatorRows, from: number): CuratedTail {
  const columns: Record<string, Float64Array> = {};
  for (const [name, col] of Object.entries(set.columns)) if (name !== 'source') columns[name] = col;
  const stored: Record<string, Float64Array> = {};
  STORED_COLUMNS.forEach((c, k) => {
    stored[c] = rows.columns[k]!;
  });
  for (const c of ENRICHED_COLUMNS) columns[c] = deriveColumn(c, stored, set.rows);
  const src = set.columns.source!;
  const sources = Array.from({ length: set.rows }, (_, i) => set.sources[src[i]!]!);
  return { from, rows: set.rows, columns, sources };
}

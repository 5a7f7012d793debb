/**
 * The result cache in front of a store's bar reads (store-neutral): a read
 * is kept under its exact query; a write marks its series' results stale
 * from the write's first bar on, and a later read re-reads only that part
 * (or takes it from what the last curated refresh read: `CuratedTail`) and
 * patches the kept rows before it. Only for a store this process alone
 * writes (`StoreDriver.exclusive`): a shared one is read fresh every time.
 */
import type { EnrichedColumn } from '../transform/enrich.ts';
import { type CacheStats, type Derived, SeriesResultCache } from './result-cache.ts';
import { type BarColumnSet, type BarQuery, barColumnNames } from './store.ts';

/**
 * Every stored bar of a series from `from` on, as a resumed curated refresh read and enriched
 * it: the columns of a full bars read with every enriched column, and each row's source.
 * Right until anything next writes to the series.
 */
export interface CuratedTail {
  from: number;
  rows: number;
  columns: Record<string, Float64Array>;
  sources: string[];
}

/**
 * Rows [start, end) of each part, one after another, as one column set. The
 * columns get room after their rows; when the first part is a whole earlier
 * result whose columns have room for the rest, the rest is written there (the
 * earlier result shows only its own rows, which do not change: a stale result
 * is patched once, as the cache replaces it).
 */
function joinRows(
  names: readonly string[],
  sources: string[],
  ...parts: [BarColumnSet, number, number][]
): BarColumnSet {
  const rows = parts.reduce((n, [, start, end]) => n + end - start, 0);
  const [base, from, to] = parts[0] ?? [undefined, 0, 0];
  const room = (c: Float64Array | undefined) =>
    c !== undefined && c.buffer.byteLength - c.byteOffset >= rows * 8;
  const inPlace =
    base !== undefined &&
    from === 0 &&
    to === base.rows &&
    names.every((n) => room(base.columns[n]));
  const capacity = rows + Math.max(64, rows >> 3);
  const columns: Record<string, Float64Array> = {};
  for (const name of names) {
    let col: Float64Array;
    let at = 0;
    if (inPlace) {
      const b = base!.columns[name]!;
      col = new Float64Array(b.buffer, b.byteOffset, rows);
      at = to;
    } else col = new Float64Array(capacity).subarray(0, rows);
    for (const [part, start, end] of inPlace ? parts.slice(1) : parts) {
      col.set(part.columns[name]!.subarray(start, end), at);
      at += end - start;
    }
    columns[name] = col;
  }
  return { rows, columns, sources };
}

/** The memory a column set keeps alive (its columns' buffers, room included). */
const setBytes = (set: BarColumnSet): number =>
  Object.values(set.columns).reduce((n, c) => n + c.buffer.byteLength, 0);

/** `set`'s source column re-indexed into `into` (sources new to it appended). */
function reindexSources(set: BarColumnSet, into: string[]): void {
  const col = set.columns.source;
  if (!col) return;
  const map = set.sources.map((s) => {
    const at = into.indexOf(s);
    if (at >= 0) return at;
    into.push(s);
    return into.length - 1;
  });
  for (let i = 0; i < set.rows; i++) col[i] = map[col[i]!]!;
  set.sources = into;
}

/** Rows [from, to) of a tail (at most `n`, in the query's order) when it holds every bar from `from` on. */
function fromTail(
  t: CuratedTail,
  from: number,
  to: number,
  n: number,
  desc: boolean,
  names: readonly string[],
): BarColumnSet | null {
  if (from < t.from) return null;
  const ts = t.columns.ts!;
  let lo = 0;
  while (lo < t.rows && ts[lo]! < from) lo++;
  let hi = lo;
  while (hi < t.rows && ts[hi]! < to) hi++;
  const rows = Math.min(n, hi - lo);
  const at = (k: number) => (desc ? hi - 1 - k : lo + k);
  const columns: Record<string, Float64Array> = {};
  const sources: string[] = [];
  for (const name of names) {
    const col = new Float64Array(rows);
    if (name === 'source') {
      for (let k = 0; k < rows; k++) {
        const s = t.sources[at(k)]!;
        let i = sources.indexOf(s);
        if (i < 0) i = sources.push(s) - 1;
        col[k] = i;
      }
    } else {
      const src = t.columns[name]!;
      for (let k = 0; k < rows; k++) col[k] = src[at(k)]!;
    }
    columns[name] = col;
  }
  return { rows, columns, sources };
}

export class ReadCache {
  readonly #results: SeriesResultCache<BarColumnSet>;
  /** Bumped by every mark of a series (and `#epoch` by a clear): a read that saw one change is not kept. */
  readonly #versions = new Map<string, number>();
  #epoch = 0;

  constructor(maxBytes: number) {
    this.#results = new SeriesResultCache(maxBytes);
  }

  #bump(series: string): void {
    this.#versions.set(series, (this.#versions.get(series) ?? 0) + 1);
  }

  /** The series changes from `from` on (a write of its bars, or of its curated rows). */
  markStale(series: string, from: number): void {
    this.#bump(series);
    this.#results.markStale(series, from);
  }

  invalidate(series: string): void {
    this.#bump(series);
    this.#results.invalidate(series);
  }

  clear(): void {
    this.#epoch++;
    this.#versions.clear();
    this.#results.clear();
  }

  stats(): CacheStats {
    return this.#results.stats();
  }

  derive<D extends Derived>(set: BarColumnSet, name: string, make: (prior?: D) => D): D {
    return this.#results.derive(set, name, make);
  }

  /**
   * The bars read `q` answers: kept, patched from a stale kept one, or read by `read(from, n)`
   * (rows of [from, q.to) in the query's order, at most n, with their own source list).
   */
  async read(
    series: string,
    q: BarQuery,
    indicators: readonly EnrichedColumn[],
    full: boolean,
    read: (from: number | undefined, n: number) => Promise<BarColumnSet>,
    tail: () => CuratedTail | undefined,
  ): Promise<BarColumnSet> {
    const names = barColumnNames(indicators, full);
    const cacheKey = JSON.stringify([q.from, q.to, q.limit, q.order, indicators, full]);
    const desc = q.order === 'desc';
    const limit = q.limit ?? 1_000_000_000;
    const version = this.#versions.get(series) ?? 0;
    const epoch = this.#epoch;
    const unchanged = () => this.#epoch === epoch && (this.#versions.get(series) ?? 0) === version;
    const kept = this.#results.lookup(series, cacheKey);
    if (kept && kept.staleFrom === undefined) return kept.value;
    if (kept?.staleFrom !== undefined) {
      // Stale from some time on: the rows before it are still right; only the rest is read.
      const from = kept.staleFrom;
      const old = kept.value;
      const ts = old.columns.ts!;
      let before = 0; // rows older than `from`: a prefix (asc) or a suffix (desc)
      for (let i = 0; i < old.rows; i++) if (ts[i]! < from) before++;
      const want = desc ? limit : limit - before;
      // Nothing of the range is at or after `from` (an older page), or the page is full.
      const start = Math.max(q.from ?? -6e13, from);
      const t = tail();
      const fresh =
        from >= (q.to ?? 6e13) || want <= 0
          ? { ...old, rows: 0 }
          : ((t ? fromTail(t, start, q.to ?? 6e13, want, desc, names) : null) ??
            (await read(start, want)));
      const sources = [...old.sources];
      if (full && fresh.rows > 0) reindexSources(fresh, sources);
      const keep = Math.min(before, limit - fresh.rows);
      const oldTail = old.rows - before; // where the older rows start in a desc result
      const set = desc
        ? joinRows(names, sources, [fresh, 0, fresh.rows], [old, oldTail, oldTail + keep])
        : joinRows(names, sources, [old, 0, keep], [fresh, 0, fresh.rows]);
      set.reused = { at: desc ? fresh.rows : 0, start: desc ? oldTail : 0, count: keep };
      if (unchanged()) this.#results.set(series, cacheKey, set, setBytes(set), true);
      return set;
    }
    const set = await read(q.from, limit);
    if (unchanged()) this.#results.set(series, cacheKey, set, names.length * 8 * set.rows);
    return set;
  }
}

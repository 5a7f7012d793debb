/**
 * A bounded cache of query results over one series (symbol + interval), the
 * way a query cache in front of a database works: a result is kept under its
 * exact query and dropped the moment anything writes to its series, so a hit
 * is always what the query would read now. Least recently used results go
 * first once the byte budget is spent.
 *
 * The store calls `invalidate` before every write to a series (whether or
 * not the write then commits) and `clear` before anything that may change
 * any series (a user's SQL). Reads and writes go through the store's one
 * queue, so no write can land between a read and the `set` of its result.
 *
 * Cached values are shared by every reader that hits them: readers must not
 * change them.
 */
export interface CacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  maxBytes: number;
}

interface Entry<V> {
  value: V;
  bytes: number;
  series: string;
}

export class SeriesResultCache<V> {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #bySeries = new Map<string, Set<string>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get(series: string, query: string): V | undefined {
    const key = `${series}\u0001${query}`;
    const e = this.#entries.get(key);
    if (!e) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  /** Keeps a result unless it alone is larger than the whole budget. */
  set(series: string, query: string, value: V, bytes: number): void {
    if (bytes > this.maxBytes) return;
    const key = `${series}\u0001${query}`;
    this.#drop(key);
    this.#entries.set(key, { value, bytes, series });
    const keys = this.#bySeries.get(series);
    if (keys) keys.add(key);
    else this.#bySeries.set(series, new Set([key]));
    this.#bytes += bytes;
    for (const k of this.#entries.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.#drop(k);
    }
  }

  /** Forgets every result of one series. */
  invalidate(series: string): void {
    const keys = this.#bySeries.get(series);
    if (!keys) return;
    for (const k of [...keys]) this.#drop(k);
  }

  clear(): void {
    this.#entries.clear();
    this.#bySeries.clear();
    this.#bytes = 0;
  }

  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#entries.size,
      bytes: this.#bytes,
      maxBytes: this.maxBytes,
    };
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
    const keys = this.#bySeries.get(e.series);
    keys?.delete(key);
    if (keys?.size === 0) this.#bySeries.delete(e.series);
  }
}

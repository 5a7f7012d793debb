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
 * change them. What a reader makes from a cached value (an encoded response
 * body) can be kept with it through `derive`: it counts against the same
 * budget and goes when the value goes.
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
  /** What readers made from the value, by name (see `derive`). */
  derived?: Map<string, Uint8Array>;
}

export class SeriesResultCache<V extends object> {
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #bySeries = new Map<string, Set<string>>();
  /** The key of each value still cached: how `derive` finds its entry. */
  readonly #keyOf = new WeakMap<V, string>();
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
    this.#keyOf.set(value, key);
    const keys = this.#bySeries.get(series);
    if (keys) keys.add(key);
    else this.#bySeries.set(series, new Set([key]));
    this.#bytes += bytes;
    this.#evict();
  }

  /**
   * `make()`, kept with `value` under `name` while `value` stays cached: a
   * later call with the same value and name returns the kept bytes. A value
   * that is no longer cached (its series was written since it was read) is
   * still answered, by `make()`, but nothing is kept for it.
   */
  derive(value: V, name: string, make: () => Uint8Array): Uint8Array {
    const key = this.#keyOf.get(value);
    const e = key === undefined ? undefined : this.#entries.get(key);
    const kept = e?.derived?.get(name);
    if (kept) {
      this.#hits++;
      return kept;
    }
    const made = make();
    if (!e || e.value !== value || e.bytes + made.byteLength > this.maxBytes) return made;
    this.#misses++;
    e.derived ??= new Map();
    e.derived.set(name, made);
    e.bytes += made.byteLength;
    this.#bytes += made.byteLength;
    // The entry just used is the most recent: others go first.
    this.#entries.delete(key!);
    this.#entries.set(key!, e);
    this.#evict();
    return made;
  }

  #evict(): void {
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
    for (const e of this.#entries.values()) this.#keyOf.delete(e.value);
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
    this.#keyOf.delete(e.value);
    this.#bytes -= e.bytes;
    const keys = this.#bySeries.get(e.series);
    keys?.delete(key);
    if (keys?.size === 0) this.#bySeries.delete(e.series);
  }
}

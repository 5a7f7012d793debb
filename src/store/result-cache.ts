/**
 * A bounded cache of query results over one series (symbol + interval), the
 * way a query cache in front of a database works: a result is kept under its
 * exact query and dropped the moment anything writes to its series, so a hit
 * is always what the query would read now. Least recently used results go
 * first once the byte budget is spent.
 *
 * The store calls `invalidate` before anything that may change a series
 * anywhere, `clear` before anything that may change any series (a user's
 * SQL), and `markStale(series, from)` before a write that changes the series
 * only from time `from` on (a new bar, a correction): a kept result is then
 * still right before `from`, and the store re-reads only the rest of it
 * (`lookup` gives the time it is stale from). That holds because bars are
 * never removed by a write and every curated column of a bar depends only on
 * the bars up to it. Reads and writes go through the store's one
 * queue, so no write can land between a read and the `set` of its result.
 *
 * Cached values are shared by every reader that hits them: readers must not
 * change them. What a reader makes from a cached value (an encoded response
 * body) can be kept with it through `derive`: it counts against the same
 * budget and goes when the value goes. When a stale result is replaced by one
 * patched from it (`set` with `patched`), what was derived from the old one is
 * handed to the next `derive` of the same name as its `prior`, so the reader
 * can reuse the part of it that is still right (the encoded rows before the
 * stale time) instead of making everything again.
 */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Lookups that found a result stale from some time on (answered by re-reading the rest). */
  stale: number;
  entries: number;
  bytes: number;
  maxBytes: number;
}

/** What a reader derives from a cached value: anything with a size (a Uint8Array, say). */
export interface Derived {
  readonly byteLength: number;
}

interface Entry<V> {
  value: V;
  bytes: number;
  series: string;
  /** What readers made from the value, by name (see `derive`); kept, unused, while stale. */
  derived?: Map<string, Derived>;
  /** What was derived from the result this one was patched from: handed on once, by name. */
  prior?: Map<string, Derived>;
  /** Rows from this time on may have changed since the value was read. */
  staleFrom?: number;
}

/** A kept result, and the time from which it may no longer be what is stored. */
export interface Lookup<V> {
  value: V;
  staleFrom: number | undefined;
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
  #stale = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** A fresh kept result, or undefined (absent or stale: see `lookup`). */
  get(series: string, query: string): V | undefined {
    const l = this.lookup(series, query);
    return l && l.staleFrom === undefined ? l.value : undefined;
  }

  /** A kept result with the time it is stale from, if any; a lookup makes it the most recent. */
  lookup(series: string, query: string): Lookup<V> | undefined {
    const key = `${series}\u0001${query}`;
    const e = this.#entries.get(key);
    if (!e) {
      this.#misses++;
      return undefined;
    }
    if (e.staleFrom === undefined) this.#hits++;
    else this.#stale++;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return { value: e.value, staleFrom: e.staleFrom };
  }

  /**
   * Keeps a result unless it alone is larger than the whole budget. With
   * `patched`, the value was made from the stale result kept under the same
   * query: what was derived from that one becomes the new entry's `prior`.
   */
  set(series: string, query: string, value: V, bytes: number, patched = false): void {
    if (bytes > this.maxBytes) return;
    const key = `${series}\u0001${query}`;
    const old = this.#entries.get(key);
    const prior = patched && old?.staleFrom !== undefined ? old.derived : undefined;
    this.#drop(key);
    let priorBytes = 0;
    for (const d of prior?.values() ?? []) priorBytes += d.byteLength;
    bytes += priorBytes;
    this.#entries.set(key, { value, bytes, series, ...(prior ? { prior } : {}) });
    this.#keyOf.set(value, key);
    const keys = this.#bySeries.get(series);
    if (keys) keys.add(key);
    else this.#bySeries.set(series, new Set([key]));
    this.#bytes += bytes;
    this.#evict();
  }

  /**
   * `make(prior)`, kept with `value` under `name` while `value` stays cached:
   * a later call with the same value and name returns what was kept. `prior`
   * is what was made under `name` from the result `value` was patched from,
   * if any (see `set`). A value that is no longer cached (its series was
   * written since it was read) is still answered, by `make()`, but nothing is
   * kept for it.
   */
  derive<D extends Derived>(value: V, name: string, make: (prior?: D) => D): D {
    const key = this.#keyOf.get(value);
    const e = key === undefined ? undefined : this.#entries.get(key);
    const kept = e?.staleFrom === undefined ? e?.derived?.get(name) : undefined;
    if (kept) {
      this.#hits++;
      return kept as D;
    }
    const prior = e?.staleFrom === undefined ? e?.prior?.get(name) : undefined;
    if (prior) {
      e!.prior!.delete(name);
      e!.bytes -= prior.byteLength;
      this.#bytes -= prior.byteLength;
    }
    const made = make(prior as D | undefined);
    if (
      !e ||
      e.value !== value ||
      e.staleFrom !== undefined ||
      e.bytes + made.byteLength > this.maxBytes
    )
      return made;
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

  /**
   * Notes that the series changes from time `from` on: its results are kept
   * but stale from there. What was derived from them is kept too, unused, for
   * the result patched from them (see `set`); a prior not yet used is dropped.
   */
  markStale(series: string, from: number): void {
    const keys = this.#bySeries.get(series);
    if (!keys) return;
    for (const k of keys) {
      const e = this.#entries.get(k)!;
      e.staleFrom = Math.min(e.staleFrom ?? from, from);
      for (const d of e.prior?.values() ?? []) {
        e.bytes -= d.byteLength;
        this.#bytes -= d.byteLength;
      }
      e.prior = undefined;
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
      stale: this.#stale,
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

/**
 * A symbol's accepted trades within the duplicate window, for the exact-duplicate rule: the
 * (ts, price, size, conditions code) of each, kept sorted by ts in a ring of typed arrays.
 *
 * Trades come nearly in ts order, so the common cases cost a comparison or two: a trade newer
 * than every remembered one can repeat none of them and goes at the end; eviction moves the
 * start. A trade older than the newest is looked up by binary search and, if accepted, slides
 * into place. Nothing is allocated per trade (a Map entry and an array per ts did, and their
 * collection cost more than the rule).
 */
export class TradeMemory {
  #ts: Float64Array;
  #price: Float64Array;
  #size: Float64Array;
  #cond: Int32Array;
  /** Physical index of the oldest entry; capacity is a power of two. */
  #head = 0;
  #len = 0;
  #mask: number;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.#ts = new Float64Array(cap);
    this.#price = new Float64Array(cap);
    this.#size = new Float64Array(cap);
    this.#cond = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#len;
  }

  /** The ts of the i-th oldest entry. */
  #tsAt(i: number): number {
    return this.#ts[(this.#head + i) & this.#mask]!;
  }

  /** The first logical index whose ts is ≥ ts (`upper`: > ts). */
  #bound(ts: number, upper: boolean): number {
    let lo = 0;
    let hi = this.#len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const x = this.#tsAt(mid);
      if (x < ts || (upper && x === ts)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether a trade with exactly these fields is remembered. */
  has(ts: number, price: number, size: number, cond: number): boolean {
    const n = this.#len;
    if (n === 0 || ts > this.#tsAt(n - 1)) return false;
    const m = this.#mask;
    for (let i = this.#bound(ts, false); i < n; i++) {
      const p = (this.#head + i) & m;
      if (this.#ts[p] !== ts) return false;
      if (this.#price[p] === price && this.#size[p] === size && this.#cond[p] === cond) return true;
    }
    return false;
  }

  /** Remembers a trade, after any of the same ts already remembered. */
  add(ts: number, price: number, size: number, cond: number): void {
    if (this.#len === this.#mask + 1) this.#grow();
    const m = this.#mask;
    let at = this.#len;
    if (at > 0 && ts < this.#tsAt(at - 1)) {
      // Older than the newest: slide the newer entries up by one.
      at = this.#bound(ts, true);
      for (let i = this.#len; i > at; i--) {
        const to = (this.#head + i) & m;
        const from = (this.#head + i - 1) & m;
        this.#ts[to] = this.#ts[from]!;
        this.#price[to] = this.#price[from]!;
        this.#size[to] = this.#size[from]!;
        this.#cond[to] = this.#cond[from]!;
      }
    }
    const p = (this.#head + at) & m;
    this.#ts[p] = ts;
    this.#price[p] = price;
    this.#size[p] = size;
    this.#cond[p] = cond;
    this.#len++;
  }

  /** Forgets every trade older than `cutoff`. */
  evictBefore(cutoff: number): void {
    while (this.#len > 0 && this.#ts[this.#head]! < cutoff) {
      this.#head = (this.#head + 1) & this.#mask;
      this.#len--;
    }
  }

  /** [ts, price, size, cond, …] of every remembered trade, oldest first. */
  flat(): number[] {
    const out = new Array<number>(this.#len * 4);
    for (let i = 0; i < this.#len; i++) {
      const p = (this.#head + i) & this.#mask;
      out[i * 4] = this.#ts[p]!;
      out[i * 4 + 1] = this.#price[p]!;
      out[i * 4 + 2] = this.#size[p]!;
      out[i * 4 + 3] = this.#cond[p]!;
    }
    return out;
  }

  #grow(): void {
    const cap = (this.#mask + 1) * 2;
    const copy = <A extends Float64Array | Int32Array>(a: A, make: (n: number) => A): A => {
      const b = make(cap);
      for (let i = 0; i < this.#len; i++) b[i] = a[(this.#head + i) & this.#mask]!;
      return b;
    };
    this.#ts = copy(this.#ts, (n) => new Float64Array(n));
    this.#price = copy(this.#price, (n) => new Float64Array(n));
    this.#size = copy(this.#size, (n) => new Float64Array(n));
    this.#cond = copy(this.#cond, (n) => new Int32Array(n));
    this.#head = 0;
    this.#mask = cap - 1;
  }
}

/**
 * The last stage of the live path: it gathers trades, quarantined records and
 * bars from the log, writes them in one store transaction at least every
 * flush interval, and only then commits the log offsets they came from. A
 * crash before the commit means redelivery, and the store's idempotent
 * writes make redelivery harmless.
 */
import { append } from '../core/arrays.ts';
import type { Bar, Quarantined, RawResponse, Trade } from '../core/records.ts';
import type { LogBatch, Subscription } from '../log/log.ts';
import type { SeriesKey, Store, WriteResult } from '../store/store.ts';

export interface StoreStageStats {
  flushes: number;
  tradesStored: number;
  barsWritten: number;
  quarantined: number;
  /** Newest receivedAt among stored trades (for ingest lag). */
  lastStoredReceivedAt: number;
  lastFlushMs: number;
  /** Time spent in store writes, ms. */
  writeMs: number;
}

/** Stats of a store stage that has written nothing yet. */
export function emptyStoreStats(): StoreStageStats {
  return {
    flushes: 0,
    tradesStored: 0,
    barsWritten: 0,
    quarantined: 0,
    lastStoredReceivedAt: 0,
    lastFlushMs: 0,
    writeMs: 0,
  };
}

export class StoreStage {
  readonly stats: StoreStageStats = emptyStoreStats();
  readonly #store: Store;
  readonly #maxBuffer: number;
  #trades: Trade[] = [];
  #rejects: Quarantined[] = [];
  #bars = new Map<string, Bar>();
  #raw: RawResponse[] = [];
  #commits = new Map<Subscription, Map<number, number>>();
  #flushing: Promise<void> = Promise.resolve();
  /** Series whose bars changed since the curated layer was last refreshed. */
  readonly touched = new Map<string, SeriesKey>();
  readonly #onError: (err: unknown) => void;

  readonly #flushMs: number;
  readonly #onFlush: ((ms: number, rows: number) => void) | undefined;
  #lastFlushAt = performance.now();

  constructor(
    store: Store,
    opts: {
      maxBuffer?: number;
      flushMs?: number;
      onError?: (err: unknown) => void;
      /** Told each successful write's duration (ms) and rows. */
      onFlush?: (ms: number, rows: number) => void;
    } = {},
  ) {
    this.#onFlush = opts.onFlush;
    this.#store = store;
    this.#maxBuffer = opts.maxBuffer ?? 50_000;
    this.#flushMs = opts.flushMs ?? 250;
    this.#onError = opts.onError ?? ((err) => console.error(`tickline: store write: ${err}`));
  }

  get buffered(): number {
    return this.#trades.length + this.#rejects.length + this.#bars.size;
  }

  /** Takes a log batch; waits for a flush only when the buffer is full (backpressure). */
  async add(
    kind: 'trades' | 'quarantine' | 'bars' | 'raw',
    batch: LogBatch<unknown>,
    sub: Subscription,
  ): Promise<void> {
    if (kind === 'trades') {
      for (const r of batch.records) {
        // Over Kafka trades come in chunks of one symbol.
        const chunk = (r as { trades?: Trade[] }).trades;
        if (Array.isArray(chunk)) for (const t of chunk) this.#trades.push(t);
        else this.#trades.push(r as Trade);
      }
    } else if (kind === 'quarantine')
      for (const q of batch.records) this.#rejects.push(q as Quarantined);
    else if (kind === 'raw') for (const r of batch.records) this.#raw.push(r as RawResponse);
    else for (const b of batch.records) this.addBar(b as Bar);
    let offsets = this.#commits.get(sub);
    if (!offsets) {
      offsets = new Map();
      this.#commits.set(sub, offsets);
    }
    offsets.set(batch.partition, batch.next);
    // The interval is kept here too, not only by a timer: a busy event loop can delay timers.
    if (this.buffered >= this.#maxBuffer) await this.flush();
    else if (performance.now() - this.#lastFlushAt >= this.#flushMs) void this.flush();
  }

  /** A bar replaces an earlier version of itself in the buffer (a correction wins over its close). */
  addBar(b: Bar): void {
    const key = `${b.symbol}\u0000${b.interval}\u0000${b.ts}`;
    this.#bars.delete(key);
    this.#bars.set(key, b);
  }

  /** Quarantined records that did not come through the log (it could not decode them). */
  addRejects(q: Quarantined[]): void {
    append(this.#rejects, q);
  }

  /** Writes everything buffered, then commits; flushes run one at a time. */
  flush(): Promise<void> {
    this.#lastFlushAt = performance.now();
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    if (this.buffered === 0 && this.#raw.length === 0 && this.#commits.size === 0) return;
    const trades = this.#trades;
    const rejects = this.#rejects;
    const bars = [...this.#bars.values()];
    const raw = this.#raw;
    const commits = this.#commits;
    this.#trades = [];
    this.#rejects = [];
    this.#bars = new Map();
    this.#raw = [];
    this.#commits = new Map();
    const t0 = performance.now();
    let res: WriteResult;
    try {
      res = await this.#store.write({ raw, bars, rejects, actions: [], instruments: [], trades });
    } catch (err) {
      // Nothing is committed: put it all back so the next flush tries again.
      this.#trades = trades.concat(this.#trades);
      this.#rejects = rejects.concat(this.#rejects);
      const later = this.#bars;
      this.#bars = new Map();
      for (const b of bars) this.addBar(b);
      for (const b of later.values()) this.addBar(b);
      this.#raw = raw.concat(this.#raw);
      for (const [sub, offsets] of commits) {
        const now = this.#commits.get(sub) ?? new Map<number, number>();
        for (const [p, o] of offsets) if (!now.has(p)) now.set(p, o);
        this.#commits.set(sub, now);
      }
      this.#onError(err);
      return;
    }
    for (const b of bars) {
      this.touched.set(`${b.symbol}\u0000${b.interval}`, {
        symbol: b.symbol,
        interval: b.interval,
      });
    }
    for (const [sub, offsets] of commits) {
      for (const [p, o] of offsets) await sub.commit(p, o);
    }
    const s = this.stats;
    s.flushes++;
    s.tradesStored += res.tradesInserted;
    s.barsWritten += res.barsChanged;
    s.quarantined += res.quarantined;
    const last = trades[trades.length - 1] as (Trade & { receivedAt?: number }) | undefined;
    if (last?.receivedAt) s.lastStoredReceivedAt = last.receivedAt;
    s.lastFlushMs = performance.now() - t0;
    s.writeMs += s.lastFlushMs;
    this.#onFlush?.(s.lastFlushMs, trades.length + bars.length + rejects.length);
  }
}

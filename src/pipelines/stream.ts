/**
 * The live path: source → log (raw trades) → quality → log (trades,
 * quarantine) → event-time bars → log (bars) → store. Every hand-off goes
 * through the Log, so the same stages run in one process over the
 * in-process log or as workers over Kafka.
 *
 * Stopping (the signal) drains it: the source hands over what it already
 * received, every stage finishes what is in the log, open windows are
 * closed, and the last flush is stored before `run` returns.
 */
import type { Config } from '../core/config.ts';
import type { Bar, CandidateTrade, Quarantined, Trade } from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import { type Log, type LogBatch, type Subscription, TOPICS } from '../log/log.ts';
import { TradeValidator } from '../quality/trade-validator.ts';
import type { LiveEvent, LiveSource } from '../sources/source.ts';
import type { Store } from '../store/store.ts';
import {
  IncrementalIndicators,
  type IndicatorValues,
} from '../transform/indicators/incremental.ts';
import { BarAggregator, type BarEvent } from '../transform/trade-bars.ts';
import { StoreStage, type StoreStageStats } from './store-stage.ts';

/** What live views are told: bar changes (finals with their indicators) and source events. */
export type StreamEvent =
  | (BarEvent & { indicators?: IndicatorValues })
  | { kind: 'trades'; trades: readonly Trade[] }
  | { kind: 'source'; event: LiveEvent };

export interface StreamOptions {
  source: LiveSource;
  symbols: readonly string[];
  store: Store;
  log: Log;
  live: Config['live'];
  futureSkewMs: number;
  /** Symbols the quality stage accepts (default: `symbols`). */
  accept?: ReadonlySet<string> | null;
  signal?: AbortSignal;
  onEvent?: (e: StreamEvent) => void;
  /** How often the curated layer of live series is recomputed (default 5 s). */
  curatedEveryMs?: number;
  /** Source name stored on bars built from trades (default: the source's name). */
  barSource?: string;
  /** Told each store write's duration (ms) and rows (for metrics). */
  onFlush?: (ms: number, rows: number) => void;
}

export interface StreamStats {
  startedAt: number;
  messages: number;
  tradesIn: number;
  tradesValid: number;
  duplicates: number;
  rejectsByRule: Record<string, number>;
  barsClosed: number;
  corrections: number;
  barsFinal: number;
  backfilledBars: number;
  events: Record<LiveEvent['kind'], number>;
  store: StoreStageStats;
}

const LATENCY_SAMPLES = 65_536;

export class StreamPipeline {
  readonly stats: StreamStats;
  readonly #o: StreamOptions;
  readonly #validator: TradeValidator;
  readonly #bars: BarAggregator;
  readonly #storeStage: StoreStage;
  readonly #indicators = new Map<string, IncrementalIndicators>();
  /** Trade arrival → bar update, ms: a ring of the latest samples. */
  readonly #latency = new Float64Array(LATENCY_SAMPLES);
  #latencyCount = 0;

  constructor(opts: StreamOptions) {
    this.#o = opts;
    const live = opts.live;
    this.#validator = new TradeValidator({
      subscribed: opts.accept === undefined ? new Set(opts.symbols) : opts.accept,
      allowedLatenessMs: live.allowedLatenessMs,
      futureSkewMs: opts.futureSkewMs,
      dedupWindowMs: live.dedupWindowMs,
      outlier: live.outlier,
    });
    this.#bars = new BarAggregator({
      intervals: live.intervals as Interval[],
      allowedLatenessMs: live.allowedLatenessMs,
      source: opts.barSource ?? opts.source.name,
    });
    this.#storeStage = new StoreStage(opts.store, {
      flushMs: live.flushMs,
      ...(opts.onFlush ? { onFlush: opts.onFlush } : {}),
    });
    this.stats = {
      startedAt: Date.now(),
      messages: 0,
      tradesIn: 0,
      tradesValid: 0,
      duplicates: 0,
      rejectsByRule: {},
      barsClosed: 0,
      corrections: 0,
      barsFinal: 0,
      backfilledBars: 0,
      events: { connected: 0, disconnected: 0, stale: 0, error: 0, gap_filled: 0 },
      store: this.#storeStage.stats,
    };
  }

  /** Forming and closed-but-not-final bars (the live edge), optionally of one symbol. */
  forming(symbol?: string): Bar[] {
    return this.#bars.forming(symbol);
  }

  /** p50 and p99 of trade arrival → bar update over the latest samples, ms. */
  latency(): { p50: number; p99: number; samples: number } {
    const n = Math.min(this.#latencyCount, LATENCY_SAMPLES);
    if (n === 0) return { p50: Number.NaN, p99: Number.NaN, samples: 0 };
    const s = this.#latency.slice(0, n).sort();
    return {
      p50: s[Math.floor(n * 0.5)]!,
      p99: s[Math.min(n - 1, Math.floor(n * 0.99))]!,
      samples: n,
    };
  }

  /** Records still on their way through the log. */
  async backlog(): Promise<number> {
    const log = this.#o.log;
    const lags = await Promise.all([
      log.lag(TOPICS.rawTrades, 'validate'),
      log.lag(TOPICS.trades, 'bars'),
      log.lag(TOPICS.trades, 'store'),
      log.lag(TOPICS.quarantine, 'store'),
      log.lag(TOPICS.bars, 'store'),
    ]);
    return lags.reduce((a, b) => a + b, 0);
  }

  #countReject(q: Quarantined): void {
    this.stats.rejectsByRule[q.rule] = (this.stats.rejectsByRule[q.rule] ?? 0) + 1;
  }

  #emitBars(events: BarEvent[]): Bar[] {
    const toStore: Bar[] = [];
    const onEvent = this.#o.onEvent;
    for (const e of events) {
      if (e.kind === 'update') {
        onEvent?.(e);
        continue;
      }
      if (e.kind === 'close' || e.kind === 'correction') {
        toStore.push(e.bar);
        if (e.kind === 'close') this.stats.barsClosed++;
        else this.stats.corrections++;
        onEvent?.(e);
        continue;
      }
      this.stats.barsFinal++;
      const key = `${e.bar.symbol}\u0000${e.bar.interval}`;
      let ind = this.#indicators.get(key);
      if (!ind) {
        ind = new IncrementalIndicators();
        this.#indicators.set(key, ind);
      }
      const indicators = ind.update(e.bar.high, e.bar.low, e.bar.close);
      onEvent?.({ ...e, indicators });
    }
    return toStore;
  }

  /** Runs until the signal fires (or a finite source ends), then drains. */
  async run(): Promise<StreamStats> {
    const { log } = this.#o;
    const bySymbol = (r: { symbol: string | null }): string => r.symbol ?? '';
    const subs: Subscription[] = [];
    const join = async <T>(
      topic: string,
      group: string,
      handler: (b: LogBatch<T>, sub: Subscription) => Promise<void>,
    ): Promise<void> => {
      let sub: Subscription | undefined;
      sub = await log.consume<T>(topic, group, async (b) => handler(b, sub!));
      subs.push(sub);
    };
    await join<CandidateTrade>(TOPICS.rawTrades, 'validate', async (b, sub) => {
      const v = this.#validator.validate(b.records);
      this.stats.tradesValid += v.valid.length;
      this.stats.duplicates += v.duplicates;
      for (const q of v.rejects) this.#countReject(q);
      await log.publish(TOPICS.trades, v.valid, bySymbol);
      await log.publish(TOPICS.quarantine, v.rejects, bySymbol);
      await sub.commit(b.partition, b.next);
    });
    await join<CandidateTrade>(TOPICS.trades, 'bars', async (b, sub) => {
      this.#o.onEvent?.({ kind: 'trades', trades: b.records });
      const events = this.#bars.add(b.records);
      const now = Date.now();
      for (const t of b.records) {
        this.#latency[this.#latencyCount++ % LATENCY_SAMPLES] = now - t.receivedAt;
      }
      await log.publish(TOPICS.bars, this.#emitBars(events), bySymbol);
      await sub.commit(b.partition, b.next);
    });
    for (const [topic, kind] of [
      [TOPICS.trades, 'trades'],
      [TOPICS.quarantine, 'quarantine'],
      [TOPICS.bars, 'bars'],
    ] as const) {
      await join<unknown>(topic, 'store', (b, sub) => this.#storeStage.add(kind, b, sub));
    }
    const flushEvery = setInterval(() => void this.#storeStage.flush(), this.#o.live.flushMs);
    const curatedEvery = setInterval(
      () => void this.#refreshCurated(),
      this.#o.curatedEveryMs ?? 5_000,
    );
    let failure: unknown = null;
    try {
      try {
        await this.#ingest(bySymbol);
      } catch (err) {
        // The source failed: what it handed over before is still validated and stored.
        failure = err;
      }
      await this.#drain();
    } finally {
      clearInterval(flushEvery);
      clearInterval(curatedEvery);
      for (const s of subs) await s.close();
    }
    await this.#refreshCurated();
    if (failure) throw failure;
    return this.stats;
  }

  /** Moves what the source hands over into the log until it ends or the signal fires. */
  async #ingest(bySymbol: (r: { symbol: string | null }) => string): Promise<void> {
    const { log, source, symbols, signal } = this.#o;
    for await (const batch of source.live(symbols, signal ? { signal } : {})) {
      this.stats.messages += batch.messages.length;
      this.stats.tradesIn += batch.trades.length;
      for (const e of batch.events) {
        this.stats.events[e.kind]++;
        this.#o.onEvent?.({ kind: 'source', event: e });
      }
      for (const q of batch.rejects) this.#countReject(q);
      if (batch.bars.length > 0) {
        this.stats.backfilledBars += batch.bars.length;
        await log.publish(TOPICS.bars, batch.bars, bySymbol);
      }
      if (batch.raw.length > 0) this.#storeStage.addRaw(batch.raw);
      await log.publish(TOPICS.quarantine, batch.rejects, bySymbol);
      await log.publish(TOPICS.rawTrades, batch.trades, bySymbol);
      // Let timers and sockets run between batches: a fast source must not starve them.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Waits until every stage has taken in and committed everything before it. */
  async #drain(): Promise<void> {
    const log = this.#o.log;
    const settle = async (topic: string, group: string): Promise<void> => {
      while ((await log.lag(topic, group)) > 0) {
        await this.#storeStage.flush();
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    await settle(TOPICS.rawTrades, 'validate');
    await settle(TOPICS.trades, 'bars');
    // The feed has ended: every open window closes and is final.
    await log.publish(TOPICS.bars, this.#emitBars(this.#bars.flush()), (b) => b.symbol);
    for (const topic of [TOPICS.trades, TOPICS.quarantine, TOPICS.bars])
      await settle(topic, 'store');
    await this.#storeStage.flush();
  }

  async #refreshCurated(): Promise<void> {
    const touched = this.#storeStage.touched;
    if (touched.size === 0) return;
    const series = [...touched.values()];
    touched.clear();
    try {
      await this.#o.store.refreshCurated(series);
    } catch (err) {
      for (const s of series) touched.set(`${s.symbol}\u0000${s.interval}`, s);
      console.error(`tickline: curated refresh: ${(err as Error).message}`);
    }
  }
}

/**
 * The live path: source → log (raw trades) → process (quality rules,
 * event-time bars) → log (trades, quarantine, bars) → store. Every
 * hand-off goes through the Log, so the same stages run in one process over
 * the in-process log, or spread over processes over Kafka: `stages` picks
 * which of ingest (the source), process and store this process runs.
 *
 * Stopping (the signal) drains what runs here: the source hands over what
 * it already received, and the last flush is stored before `run` returns.
 * When this process runs every stage over the in-process log, open windows
 * are closed too (a FeedEnd per symbol), since nothing would keep them.
 * Over Kafka a stopped worker checkpoints its partitions instead, and
 * whoever takes them over goes on with the same open windows.
 */
import type { Config } from '../core/config.ts';
import { SourceError, TicklineError } from '../core/errors.ts';
import { moduleUrl } from '../core/modules.ts';
import type { Bar, Quarantined, RawResponse, Trade } from '../core/records.ts';
import type { Interval } from '../core/time.ts';
import { WorkerInbox } from '../core/worker-thread.ts';
import { type Log, type LogBatch, type Subscription, TOPICS } from '../log/log.ts';
import type { LiveEvent, LiveSource, ThreadSpec } from '../sources/source.ts';
import { fromColumns } from '../sources/trade-columns.ts';
import type { Store } from '../store/store.ts';
import {
  IncrementalIndicators,
  type IndicatorValues,
} from '../transform/indicators/incremental.ts';
import type { BarEvent } from '../transform/trade-bars.ts';
import {
  chunkBySymbol,
  chunkKey,
  chunkWeight,
  type FeedEnd,
  PROCESS_GROUP,
  type ProcessOutput,
  ProcessStage,
  processPublications,
  quarantinePoison,
  quarantineUnprocessable,
} from './process-stage.ts';
import type {
  ProcessThreadControl,
  ProcessThreadData,
  ProcessThreadMessage,
} from './process-thread.ts';
import { emptyStoreStats, StoreStage, type StoreStageStats } from './store-stage.ts';

/** What live views are told: bar changes (finals with their indicators) and source events. */
export type StreamEvent =
  | (BarEvent & { indicators?: IndicatorValues })
  | { kind: 'trades'; trades: readonly Trade[] }
  | { kind: 'source'; event: LiveEvent };

export const STREAM_STAGES = ['ingest', 'process', 'store'] as const;
export type StreamStage = (typeof STREAM_STAGES)[number];

export interface StreamOptions {
  /** The feed (needed by the ingest stage). */
  source?: LiveSource;
  symbols: readonly string[];
  /** Where the store stage writes (needed by it). */
  store?: Store;
  log: Log;
  live: Config['live'];
  futureSkewMs: number;
  /** Which stages run in this process (default: all). */
  stages?: readonly StreamStage[];
  /** Symbols the quality stage accepts (default: `symbols`; null accepts any). */
  accept?: ReadonlySet<string> | null;
  signal?: AbortSignal;
  onEvent?: (e: StreamEvent) => void;
  /** Emit `update` events of forming bars to onEvent (default: when there is an onEvent). */
  barUpdates?: boolean;
  /** How often the curated layer of live series is recomputed (default 5 s). */
  curatedEveryMs?: number;
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
/** How far (in trades) a worker thread's source may run ahead of what this thread took in. */
const THREAD_AHEAD_TRADES = 65_536;
/** A live batch's parts besides messages and trades, empty. */
const NO_PARTS = { rejects: [], bars: [], raw: [], events: [] };
/** Publishes to a durable log that may wait for their acknowledgements at once. */
const INGEST_WINDOW = 64;
const STORE_GROUP = 'store';
const STORED_TOPICS = [
  [TOPICS.trades, 'trades'],
  [TOPICS.quarantine, 'quarantine'],
  [TOPICS.bars, 'bars'],
  [TOPICS.raw, 'raw'],
] as const;

export class StreamPipeline {
  readonly stats: StreamStats;
  readonly #o: StreamOptions;
  readonly #stages: ReadonlySet<StreamStage>;
  readonly #process: ProcessStage | null;
  /** The source and process stage's thread, when they run on one. */
  readonly #thread: ThreadSpec | null;
  readonly #storeStage: StoreStage | null;
  readonly #indicators = new Map<string, IncrementalIndicators>();
  /** Trade arrival → bar update, ms: a ring of the latest samples. */
  readonly #latency = new Float64Array(LATENCY_SAMPLES);
  #latencyCount = 0;

  constructor(opts: StreamOptions) {
    this.#o = opts;
    this.#stages = new Set(opts.stages ?? STREAM_STAGES);
    if (this.#stages.has('ingest') && !opts.source) {
      throw new Error('the ingest stage needs a source');
    }
    if (this.#stages.has('store') && !opts.store) throw new Error('the store stage needs a store');
    const live = opts.live;
    const barUpdates = opts.barUpdates ?? opts.onEvent !== undefined;
    // Every stage here over the in-process log, a source that can run on a worker thread, and
    // no forming-bar listener (forming bars stay on that thread): the source and the process
    // stage run there, and this thread stores.
    this.#thread =
      STREAM_STAGES.every((s) => this.#stages.has(s)) && !opts.log.durable && !barUpdates
        ? (opts.source?.onThread?.() ?? null)
        : null;
    this.#process =
      this.#stages.has('process') && !this.#thread
        ? new ProcessStage({
            log: opts.log,
            intervals: live.intervals as Interval[],
            allowedLatenessMs: live.allowedLatenessMs,
            futureSkewMs: opts.futureSkewMs,
            dedupWindowMs: live.dedupWindowMs,
            outlier: live.outlier,
            accept: opts.accept === undefined ? new Set(opts.symbols) : opts.accept,
            checkpointMs: live.checkpointMs,
            barUpdates,
            onOutput: (out) => this.#onProcessed(out),
          })
        : null;
    this.#storeStage =
      this.#stages.has('store') && opts.store
        ? new StoreStage(opts.store, {
            flushMs: live.flushMs,
            ...(opts.onFlush ? { onFlush: opts.onFlush } : {}),
          })
        : null;
    const storeStats: StoreStageStats = this.#storeStage?.stats ?? emptyStoreStats();
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
      events: {
        connected: 0,
        disconnected: 0,
        stale: 0,
        error: 0,
        gap_filled: 0,
        market_closed: 0,
      },
      store: storeStats,
    };
  }

  /**
   * Turns forming-bar `update` events on or off (say, while no client listens); finals, closes
   * and corrections are told either way. Where the process stage runs on a worker thread, there
   * are none to turn on.
   */
  setBarUpdates(on: boolean): void {
    this.#process?.setBarUpdates(on);
  }

  /** Whether the source and the process stage run on a worker thread. */
  get threaded(): boolean {
    return this.#thread !== null;
  }

  /** Forming and closed-but-not-final bars (the live edge) of the partitions processed here. */
  forming(symbol?: string): Bar[] {
    return this.#process?.forming(symbol) ?? [];
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
      log.lag(TOPICS.rawTrades, PROCESS_GROUP),
      ...STORED_TOPICS.map(([topic]) => log.lag(topic, STORE_GROUP)),
    ]);
    return lags.reduce((a, b) => a + b, 0);
  }

  #countReject(q: Quarantined): void {
    this.stats.rejectsByRule[q.rule] = (this.stats.rejectsByRule[q.rule] ?? 0) + 1;
  }

  #onProcessed(out: ProcessOutput): void {
    const s = this.stats;
    s.tradesValid += out.valid.length;
    s.duplicates += out.duplicates;
    for (const q of out.rejects) this.#countReject(q);
    const onEvent = this.#o.onEvent;
    if (out.valid.length > 0) onEvent?.({ kind: 'trades', trades: out.valid as Trade[] });
    const now = Date.now();
    for (const t of out.valid)
      this.#latency[this.#latencyCount++ % LATENCY_SAMPLES] = now - t.receivedAt;
    for (const e of out.events) {
      if (e.kind === 'update') {
        onEvent?.(e);
        continue;
      }
      if (e.kind === 'close' || e.kind === 'correction') {
        if (e.kind === 'close') s.barsClosed++;
        else s.corrections++;
        onEvent?.(e);
        continue;
      }
      s.barsFinal++;
      const key = `${e.bar.symbol}\u0000${e.bar.interval}`;
      let ind = this.#indicators.get(key);
      if (!ind) {
        ind = new IncrementalIndicators();
        this.#indicators.set(key, ind);
      }
      const indicators = ind.update(e.bar.high, e.bar.low, e.bar.close);
      onEvent?.({ ...e, indicators });
    }
  }

  /**
   * Runs until the signal fires (or a finite source ends), then drains. A
   * process without the ingest stage (a worker) runs until the signal.
   */
  async run(): Promise<StreamStats> {
    const { log, signal } = this.#o;
    const subs: Subscription[] = [];
    if (this.#process) await this.#process.start();
    const store = this.#storeStage;
    if (store) {
      for (const [topic, kind] of STORED_TOPICS) {
        let joined: (s: Subscription) => void = () => {};
        const ready = new Promise<Subscription>((resolve) => {
          joined = resolve;
        });
        const sub = await log.consume<unknown>(
          topic,
          STORE_GROUP,
          async (b: LogBatch<unknown>) => store.add(kind, b, await ready),
          {
            onPoison: async (p) => {
              const q = quarantinePoison(p);
              this.#countReject(q);
              store.addRejects([q]);
            },
            onUnprocessable: async (u) => {
              const q = quarantineUnprocessable('store', u);
              this.#countReject(q);
              store.addRejects([q]);
            },
          },
        );
        joined(sub);
        subs.push(sub);
      }
    }
    // A stop (a signal, --duration) must end the process within the drain timeout, whatever
    // is stuck (a store or broker away): past it the log is closed, which ends every wait.
    // A feed that ended by itself drains for as long as the backlog keeps shrinking, and
    // gives up once it has not shrunk for the drain timeout.
    const drainMs = this.#o.live.drainTimeoutMs;
    let drainTimer: NodeJS.Timeout | undefined;
    let stallWatch: NodeJS.Timeout | undefined;
    const startDrainClock = (): void => {
      if (drainTimer || this.#gaveUp) return;
      if (stallWatch) clearInterval(stallWatch);
      drainTimer = setTimeout(() => void this.#giveUp(), drainMs);
    };
    const watchForStall = (): void => {
      if (drainTimer || stallWatch || this.#gaveUp) return;
      let least = Number.POSITIVE_INFINITY;
      let progressAt = Date.now();
      stallWatch = setInterval(
        () =>
          void this.backlog()
            .catch(() => least)
            .then((left) => {
              if (left < least) {
                least = left;
                progressAt = Date.now();
              } else if (Date.now() - progressAt >= drainMs) void this.#giveUp();
            }),
        Math.max(20, Math.min(1_000, drainMs / 4)),
      );
    };
    signal?.addEventListener('abort', startDrainClock, { once: true });
    if (signal?.aborted) startDrainClock();
    const flushEvery = store ? setInterval(() => void store.flush(), this.#o.live.flushMs) : null;
    const curatedEvery = store
      ? setInterval(() => void this.#refreshCurated(), this.#o.curatedEveryMs ?? 5_000)
      : null;
    let failure: unknown = null;
    try {
      if (this.#stages.has('ingest')) {
        let ended = false;
        try {
          ended = this.#thread ? await this.#ingestOnThread(this.#thread) : await this.#ingest();
        } catch (err) {
          // The source failed: what it handed over before is still validated and stored.
          failure = err;
        }
        // A feed that ended closes its symbols' windows; so does a stop when nothing
        // outside this process could carry them on (the in-process log). (The thread
        // closed them itself.)
        if (signal?.aborted) startDrainClock();
        else watchForStall();
        if (!this.#thread && !this.#gaveUp && (ended || !log.durable || failure)) {
          await this.#endFeed().catch((err) => {
            if (!this.#gaveUp) throw err;
          });
        }
        if (this.#stages.has('process') && this.#stages.has('store')) await this.#drain();
      } else if (signal && !signal.aborted) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      }
    } catch (err) {
      // Waits that the closed log ended after the drain timeout: not a failure of their own.
      if (!this.#gaveUp) throw err;
    } finally {
      if (drainTimer) clearTimeout(drainTimer);
      if (stallWatch) clearInterval(stallWatch);
      signal?.removeEventListener('abort', startDrainClock);
      if (flushEvery) clearInterval(flushEvery);
      if (curatedEvery) clearInterval(curatedEvery);
      await this.#process?.close();
      await store?.flush();
      for (const s of subs) await s.close();
    }
    if (store) await this.#refreshCurated();
    if (this.#gaveUp) {
      throw new TicklineError(
        'DRAIN_TIMEOUT',
        `stopped before everything was stored: ${this.#left >= 0 ? `${this.#left} records were` : 'records (how many is unknown: the log did not answer) were'} still in the log after live.drainTimeoutMs (${this.#o.live.drainTimeoutMs} ms); everything else is stored`,
        { cause: failure ?? undefined },
      );
    }
    if (failure) throw failure;
    return this.stats;
  }

  #gaveUp = false;
  #left = 0;

  /** The drain timeout passed: count what is left, then close the log to end every wait on it. */
  async #giveUp(): Promise<void> {
    if (this.#gaveUp) return;
    this.#left = await Promise.race([
      this.backlog().catch(() => -1),
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 500)),
    ]);
    this.#gaveUp = true;
    await this.#o.log.close({ now: true }).catch(() => undefined);
  }

  #seen = new Set<string>();

  /**
   * Moves what the source hands over into the log until it ends (true) or
   * the signal fires (false).
   */
  async #ingest(): Promise<boolean> {
    const { log, symbols, signal } = this.#o;
    const source = this.#o.source!;
    // A durable log acknowledges after a network round trip: batches go out without waiting for
    // the previous one's acknowledgement, up to a window (the log keeps their order per key).
    // The in-process log accepts at once, so each publish is awaited (its backpressure).
    const window = log.durable ? INGEST_WINDOW : 1;
    const pending: Promise<void>[] = [];
    const send = async (p: Promise<void>): Promise<void> => {
      p.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled
      pending.push(p);
      while (pending.length >= window) await pending.shift();
    };
    try {
      for await (const batch of source.live(symbols, signal ? { signal } : {})) {
        this.#sourceBatch(batch.messages.length, batch.trades.length, batch);
        const chunks = chunkBySymbol(batch.trades);
        for (const c of chunks) if (c.symbol) this.#seen.add(c.symbol);
        for (const p of this.#sourceParts(batch)) await send(p);
        await send(log.publish(TOPICS.rawTrades, chunks, chunkKey, chunkWeight));
        // Let timers and sockets run between batches: a fast source must not starve them.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      await Promise.allSettled(pending);
      throw err;
    }
    // Everything handed over is in the log before the feed counts as ended.
    while (pending.length > 0) await pending.shift();
    return !signal?.aborted;
  }

  /** Counts a source batch, and tells its events. */
  #sourceBatch(
    messages: number,
    trades: number,
    b: { events: LiveEvent[]; rejects: Quarantined[]; bars: Bar[] },
  ): void {
    this.stats.messages += messages;
    this.stats.tradesIn += trades;
    for (const e of b.events) {
      this.stats.events[e.kind]++;
      this.#o.onEvent?.({ kind: 'source', event: e });
    }
    for (const q of b.rejects) this.#countReject(q);
    this.stats.backfilledBars += b.bars.length;
  }

  /** Publishes what a source batch holds besides trades: backfilled bars, raw responses, rejects. */
  #sourceParts(b: { rejects: Quarantined[]; bars: Bar[]; raw: RawResponse[] }): Promise<void>[] {
    const log = this.#o.log;
    const bySymbol = (r: { symbol: string | null }): string => r.symbol ?? '';
    return [
      ...(b.bars.length > 0 ? [log.publish(TOPICS.bars, b.bars, bySymbol)] : []),
      log.publish<RawResponse>(TOPICS.raw, b.raw, (r) => r.source),
      log.publish(TOPICS.quarantine, b.rejects, bySymbol),
    ];
  }

  /**
   * The source and the process stage on a worker thread (process-thread.ts): what it posts goes
   * into this thread's log for the store stage, as #ingest and the process stage would publish
   * it. Ends when the thread ended the feed; true unless the signal stopped it.
   */
  async #ingestOnThread(spec: ThreadSpec): Promise<boolean> {
    const { log, signal } = this.#o;
    const live = this.#o.live;
    const data: ProcessThreadData = {
      source: spec,
      symbols: [...this.#o.symbols],
      accept:
        this.#o.accept === undefined
          ? [...this.#o.symbols]
          : this.#o.accept === null
            ? null
            : [...this.#o.accept],
      intervals: live.intervals as Interval[],
      allowedLatenessMs: live.allowedLatenessMs,
      futureSkewMs: this.#o.futureSkewMs,
      dedupWindowMs: live.dedupWindowMs,
      outlier: live.outlier,
      queueRecords: live.queueRecords,
      aheadTrades: THREAD_AHEAD_TRADES,
    };
    const inbox = new WorkerInbox<ProcessThreadMessage, ProcessThreadControl>(
      moduleUrl('pipelines/process-thread.ts'),
      data,
      {
        failed: (err) => ({ kind: 'failed', message: err.message, retryable: false }),
        ended: () => ({ kind: 'end' }),
        stop: { stop: true },
        signal,
      },
    );
    let failed: Extract<ProcessThreadMessage, { kind: 'failed' }> | null = null;
    try {
      for (;;) {
        const m = await inbox.next();
        if (m.kind === 'end') break;
        if (m.kind === 'failed') failed ??= m;
        else if (m.kind === 'batch') {
          this.#sourceBatch(m.messages, m.trades, m);
          await Promise.all(this.#sourceParts(m));
        } else {
          const out: ProcessOutput = {
            valid: fromColumns({ ...NO_PARTS, messages: [], trades: m.valid }).trades,
            rejects: m.rejects,
            duplicates: m.duplicates,
            events: m.events,
          };
          await Promise.all(
            processPublications(out).map((p) => log.publish(p.topic, p.records, p.key, p.weight)),
          );
          this.#onProcessed(out);
          inbox.post({ ack: out.valid.length + out.rejects.length + out.duplicates });
        }
      }
    } finally {
      await inbox.close();
    }
    if (failed) {
      throw new SourceError(failed.message, {
        provider: this.#o.source!.name,
        retryable: failed.retryable,
      });
    }
    return !signal?.aborted;
  }

  /** Tells the process stage that the feed ended for every symbol it carried. */
  async #endFeed(): Promise<void> {
    const source = this.#o.source!.name;
    const ends: FeedEnd[] = [...new Set([...this.#o.symbols, ...this.#seen])].map((symbol) => ({
      end: true,
      symbol,
      source,
    }));
    await this.#o.log.publish(TOPICS.rawTrades, ends, (e) => e.symbol);
  }

  /** Waits until every stage has taken in and committed everything before it. */
  async #drain(): Promise<void> {
    const log = this.#o.log;
    // The log may be unreachable for a while (a broker restart): keep asking.
    const lag = async (topic: string, group: string): Promise<number> => {
      try {
        return await log.lag(topic, group);
      } catch {
        return 1;
      }
    };
    const settle = async (topic: string, group: string): Promise<void> => {
      while (!this.#gaveUp && (await lag(topic, group)) > 0) {
        await this.#process?.checkpointAll();
        await this.#storeStage?.flush();
        await new Promise((r) => setTimeout(r, log.durable ? 20 : 2));
      }
    };
    await settle(TOPICS.rawTrades, PROCESS_GROUP);
    for (const [topic] of STORED_TOPICS) await settle(topic, STORE_GROUP);
    await this.#storeStage?.flush();
  }

  async #refreshCurated(): Promise<void> {
    const store = this.#o.store;
    const stage = this.#storeStage;
    if (!store || !stage) return;
    const touched = stage.touched;
    if (touched.size === 0) return;
    const series = [...touched.values()];
    touched.clear();
    try {
      await store.refreshCurated(series);
    } catch (err) {
      for (const s of series) touched.set(`${s.symbol}\u0000${s.interval}`, s);
      console.error(`tickline: curated refresh: ${(err as Error).message}`);
    }
  }
}

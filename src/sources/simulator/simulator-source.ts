/** The simulator as a live source: its messages, paced to the wall clock or as fast as possible. */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFinnhubMessage } from '../finnhub/finnhub-messages.ts';
import { emptyLiveBatch, type LiveBatch, type LiveSource } from '../source.ts';
import { type SimulatorOptions, simulate } from './simulator.ts';

type Starts = NonNullable<SimulatorOptions['starts']>;

export interface SimulatorSourceOptions extends Omit<SimulatorOptions, 'symbols' | 'starts'> {
  /** `realtime`: event time is the wall clock; `max`: as fast as the consumer takes them. */
  speed?: 'realtime' | 'max';
  /** Stop after this many messages (default: run until aborted). */
  maxMessages?: number;
  /** Messages per batch in `max` mode (default 1024). */
  batchMessages?: number;
  /** Where each symbol starts (read when the feed starts: the store's last prices). */
  starts?: Starts | (() => Promise<Starts>);
}

export class SimulatorSource implements LiveSource {
  readonly name = 'simulator';
  readonly #opts: SimulatorSourceOptions;

  constructor(opts: SimulatorSourceOptions = {}) {
    this.#opts = opts;
  }

  /** Starts each symbol where `load` says (its last stored price and volatility). */
  startFrom(load: () => Promise<Starts>): void {
    this.#opts.starts = load;
  }

  async *live(
    symbols: readonly string[],
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LiveBatch> {
    const o = this.#opts;
    const realtime = (o.speed ?? 'realtime') === 'realtime';
    const starts = typeof o.starts === 'function' ? await o.starts() : o.starts;
    const { starts: _lazy, ...simOpts } = o;
    const gen = simulate({
      ...simOpts,
      symbols,
      startTs: o.startTs ?? Date.now(),
      ...(starts ? { starts } : {}),
    });
    const max = o.maxMessages ?? Infinity;
    const perBatch = o.batchMessages ?? 1024;
    let sent = 0;
    let pending = gen.next().value!;
    const started = emptyLiveBatch();
    started.events.push({ kind: 'connected', at: Date.now(), attempt: 0 });
    yield started;
    /** Whether the next trade is far off because every market is closed (said once per closure). */
    let closedSaid = false;
    while (sent < max && !opts.signal?.aborted) {
      const batch = emptyLiveBatch();
      const now = Date.now();
      while (sent < max && batch.messages.length < perBatch && (!realtime || pending.ts <= now)) {
        batch.messages.push({ text: pending.text, receivedAt: now });
        parseFinnhubMessage(pending.text, now, this.name, batch);
        sent++;
        pending = gen.next().value!;
        closedSaid = false;
      }
      if (realtime && o.hours && !closedSaid && pending.ts - now > 60_000) {
        batch.events.push({ kind: 'market_closed', at: now, nextOpen: pending.ts });
        closedSaid = true;
      }
      if (batch.messages.length > 0 || batch.events.length > 0) yield batch;
      if (realtime) {
        await sleep(Math.max(1, Math.min(20, pending.ts - Date.now())), undefined, {
          signal: opts.signal,
        }).catch(() => undefined);
      }
    }
  }
}

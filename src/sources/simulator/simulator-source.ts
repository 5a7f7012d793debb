/** The simulator as a live source: its messages, paced to the wall clock or as fast as possible. */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFinnhubMessage } from '../finnhub/finnhub-messages.ts';
import { emptyLiveBatch, type LiveBatch, type LiveSource } from '../source.ts';
import { type SimulatorOptions, simulate } from './simulator.ts';

export interface SimulatorSourceOptions extends Omit<SimulatorOptions, 'symbols'> {
  /** `realtime`: event time is the wall clock; `max`: as fast as the consumer takes them. */
  speed?: 'realtime' | 'max';
  /** Stop after this many messages (default: run until aborted). */
  maxMessages?: number;
  /** Messages per batch in `max` mode (default 1024). */
  batchMessages?: number;
}

export class SimulatorSource implements LiveSource {
  readonly name = 'simulator';
  readonly #opts: SimulatorSourceOptions;

  constructor(opts: SimulatorSourceOptions = {}) {
    this.#opts = opts;
  }

  async *live(
    symbols: readonly string[],
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LiveBatch> {
    const o = this.#opts;
    const realtime = (o.speed ?? 'realtime') === 'realtime';
    const gen = simulate({ ...o, symbols, startTs: o.startTs ?? Date.now() });
    const max = o.maxMessages ?? Infinity;
    const perBatch = o.batchMessages ?? 1024;
    let sent = 0;
    let pending = gen.next().value!;
    while (sent < max && !opts.signal?.aborted) {
      const batch = emptyLiveBatch();
      const now = Date.now();
      while (sent < max && batch.messages.length < perBatch && (!realtime || pending.ts <= now)) {
        batch.messages.push({ text: pending.text, receivedAt: now });
        parseFinnhubMessage(pending.text, now, this.name, batch);
        sent++;
        pending = gen.next().value!;
      }
      if (batch.messages.length > 0) yield batch;
      if (realtime) {
        await sleep(Math.max(1, Math.min(20, pending.ts - Date.now())), undefined, {
          signal: opts.signal,
        }).catch(() => undefined);
      }
    }
  }
}

/**
 * A live source over message texts held in memory: batches of 1,024 as fast as they are taken,
 * or paced at `rate` messages/s. Unpaced, the live path may run it on a worker thread (as it
 * runs a replay), so the benches measure the path `tickline stream --source replay` takes.
 */
import { parseFinnhubMessage } from '../src/sources/finnhub/finnhub-messages.ts';
import {
  emptyLiveBatch,
  type LiveBatch,
  type LiveSource,
  type ThreadSpec,
} from '../src/sources/source.ts';

export class ArraySource implements LiveSource {
  readonly name = 'finnhub';
  readonly #o: { messages: readonly string[]; rate?: number | undefined; thread: boolean };
  constructor(o: { messages: readonly string[]; rate?: number | undefined; thread: boolean }) {
    this.#o = o;
  }

  async *live(): AsyncGenerator<LiveBatch> {
    const { messages, rate } = this.#o;
    const per = rate ? Math.max(1, Math.round(rate / 1000)) : 1024;
    const t0 = performance.now();
    for (let i = 0; i < messages.length; i += per) {
      if (rate) {
        const due = t0 + (i / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const batch = emptyLiveBatch();
      const now = Date.now();
      const end = Math.min(messages.length, i + per);
      for (let k = i; k < end; k++) {
        batch.messages.push({ text: messages[k]!, receivedAt: now });
        parseFinnhubMessage(messages[k]!, now, 'finnhub', batch);
      }
      yield batch;
    }
  }

  onThread(): ThreadSpec | null {
    if (this.#o.rate || !this.#o.thread) return null;
    return {
      module: import.meta.url,
      exportName: 'ArraySource',
      options: { ...this.#o, thread: false },
    };
  }
}

/**
 * Hands the messages over in batches; `rate` paces them (messages/s), else as fast as taken.
 * TICKLINE_BENCH_THREADS=0 keeps the live path on one thread (as `live.threads: false`).
 */
export function arraySource(
  messages: readonly string[],
  rate?: number,
  thread = process.env.TICKLINE_BENCH_THREADS !== '0',
): LiveSource {
  return new ArraySource({ messages, rate, thread });
}

/**
 * Plays back a recording: an NDJSON file whose lines are either envelopes
 * written by `tickline record` (`{"receivedAt":…,"source":…,"message":"…"}`)
 * or bare provider messages (as Finnhub sends them). At speed N the gaps
 * between lines are divided by N (taken from `receivedAt`, or from the
 * newest trade ts of bare messages); `max` plays as fast as the consumer takes them.
 *
 * By default the file is read and its messages parsed on a worker thread (the other core), which
 * hands the batches over with their trades as columns (see ../trade-columns.ts): the thread that
 * validates, aggregates and stores does none of the reading and parsing. `thread: false` does all
 * of it on the caller's thread; both give the same batches (tested).
 */
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SourceError } from '../../core/errors.ts';
import { moduleUrl } from '../../core/modules.ts';
import { WorkerInbox } from '../../core/worker-thread.ts';
import { parseFinnhubMessage } from '../finnhub/finnhub-messages.ts';
import { emptyLiveBatch, type LiveBatch, type LiveSource, type ThreadSpec } from '../source.ts';
import { type ColumnarLiveBatch, fromColumns } from '../trade-columns.ts';

export interface ReplayOptions {
  file: string;
  /** A number (1 = as recorded) or 'max'. */
  speed: number | 'max';
  /** Stored as `source` for bare messages (envelopes carry their own). Default 'replay'. */
  source?: string;
  /** Lines per batch at max speed (default 1024). */
  batchLines?: number;
  /** Read and parse on a worker thread (default true). */
  thread?: boolean;
}

/** What the replay thread posts: a batch, the end, or why it failed. */
export type ReplayThreadMessage =
  | { batch: ColumnarLiveBatch }
  | { end: true }
  | { error: string; retryable: boolean };

/** What the replay thread is told: more batches may be sent, or stop reading. */
export type ReplayThreadControl = { credit: number } | { stop: true };

/** Batches the replay thread may have on their way before the consumer takes one. */
const THREAD_CREDIT = 4;

/** One line of a recording written by `tickline record`. */
export interface RecordedMessage {
  receivedAt: number;
  source: string;
  message: string;
}

/**
 * A line's message and source: an envelope's, or the line itself (a bare message). `at` is the
 * envelope's receivedAt; a bare message's time is read only when the replay is paced
 * (`newestTradeTs`), so a replay at max speed does not scan every line for it.
 */
function lineMessage(line: string): { text: string; at: number; source: string | null } {
  if (line.startsWith('{"receivedAt":')) {
    try {
      const env = JSON.parse(line) as RecordedMessage;
      if (typeof env.message === 'string') {
        return { text: env.message, at: env.receivedAt, source: env.source ?? null };
      }
    } catch {
      // Not an envelope after all: a message of its own.
    }
  }
  return { text: line, at: Number.NaN, source: null };
}

/** The newest trade ts in a bare message (its recording time), or NaN. */
function newestTradeTs(line: string): number {
  const m = /"t":(\d{10,})/g;
  let at = Number.NaN;
  for (let x = m.exec(line); x; x = m.exec(line))
    at = Math.max(Number.isNaN(at) ? 0 : at, Number(x[1]));
  return at;
}

export class ReplaySource implements LiveSource {
  readonly name: string;
  readonly #o: ReplayOptions;

  constructor(opts: ReplayOptions) {
    if (opts.speed !== 'max' && !(opts.speed > 0)) {
      throw new RangeError(`replay speed must be a positive number or 'max', got ${opts.speed}`);
    }
    this.#o = opts;
    this.name = opts.source ?? 'replay';
  }

  onThread(): ThreadSpec | null {
    if (this.#o.thread === false) return null;
    return {
      module: moduleUrl('sources/replay/replay-source.ts').href,
      exportName: 'ReplaySource',
      options: { ...this.#o, source: this.name, thread: false },
    };
  }

  async *live(
    _symbols: readonly string[],
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LiveBatch> {
    if (this.#o.thread === false) {
      for await (const { batch } of replayBatches(this.#o, this.name, opts.signal)) yield batch;
      return;
    }
    yield* this.#threaded(opts.signal);
  }

  /** The batches as the replay thread reads and parses them. */
  async *#threaded(signal: AbortSignal | undefined): AsyncGenerator<LiveBatch> {
    const inbox = new WorkerInbox<ReplayThreadMessage, ReplayThreadControl>(
      moduleUrl('sources/replay/replay-thread.ts'),
      { options: { ...this.#o, thread: false }, name: this.name, credit: THREAD_CREDIT },
      {
        failed: (err) => ({ error: err.message, retryable: false }),
        ended: () => ({ end: true }),
        stop: { stop: true },
        signal,
      },
    );
    try {
      for (;;) {
        const m = await inbox.next();
        if ('batch' in m) {
          // The thread goes on with the next batch while this one is processed.
          inbox.post({ credit: 1 });
          yield fromColumns(m.batch);
        } else if ('error' in m) {
          throw new SourceError(m.error, { provider: 'replay', retryable: m.retryable });
        } else return;
      }
    } finally {
      await inbox.close();
    }
  }
}

/**
 * The recording's batches, read and parsed on this thread. With each batch: `starts[k]`, the
 * index of the first trade of its k-th message.
 */
export async function* replayBatches(
  o: ReplayOptions,
  name: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<{ batch: LiveBatch; starts: number[] }> {
  const stream = createReadStream(o.file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new SourceError(`replay: cannot read ${o.file}: ${(err as Error).message}`, {
      provider: 'replay',
      retryable: false,
      cause: err,
    });
  }
  const perBatch = o.batchLines ?? 1024;
  let batch = emptyLiveBatch();
  let starts: number[] = [];
  let firstAt = Number.NaN;
  const t0 = Date.now();
  try {
    for await (const raw of linesOf(stream)) {
      if (signal?.aborted) break;
      const line = raw.trim();
      if (line === '') continue;
      const { text, at: envelopeAt, source } = lineMessage(line);
      const at = o.speed === 'max' || !Number.isNaN(envelopeAt) ? envelopeAt : newestTradeTs(line);
      if (o.speed !== 'max' && Number.isFinite(at)) {
        if (Number.isNaN(firstAt)) firstAt = at;
        const due = t0 + (at - firstAt) / o.speed;
        const wait = due - Date.now();
        if (wait > 0) {
          if (batch.messages.length > 0) {
            yield { batch, starts };
            batch = emptyLiveBatch();
            starts = [];
          }
          await sleep(wait, undefined, signal ? { signal } : {}).catch(() => undefined);
        }
      }
      const receivedAt = Date.now();
      batch.messages.push({ text, receivedAt });
      starts.push(batch.trades.length);
      parseFinnhubMessage(text, receivedAt, source ?? name, batch);
      if (batch.messages.length >= perBatch) {
        yield { batch, starts };
        batch = emptyLiveBatch();
        starts = [];
      }
    }
    if (batch.messages.length > 0) yield { batch, starts };
  } finally {
    stream.destroy();
  }
}

/**
 * The lines of a text stream, as readline gives them (a line ends at \n, \r\n or a lone \r;
 * the last one needs no end), without its events and queue per line.
 */
export async function* linesOf(stream: AsyncIterable<string>): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + chunk;
    let from = 0;
    if (text.includes('\r')) {
      // A \r at the very end may be the first half of a \r\n: it waits for the next chunk.
      const cut = text.endsWith('\r');
      const parts = (cut ? text.slice(0, -1) : text).split(/\r\n|\n|\r/);
      rest = parts.pop()! + (cut ? '\r' : '');
      yield* parts;
      continue;
    }
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', from)) {
      yield text.slice(from, at);
      from = at + 1;
    }
    rest = text.slice(from);
  }
  if (rest.endsWith('\r')) rest = rest.slice(0, -1);
  if (rest !== '') yield rest;
}

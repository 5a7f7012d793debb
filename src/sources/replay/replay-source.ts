/**
 * Plays back a recording: an NDJSON file whose lines are either envelopes
 * written by `tickline record` (`{"receivedAt":…,"source":…,"message":"…"}`)
 * or bare provider messages (as Finnhub sends them). At speed N the gaps
 * between lines are divided by N (taken from `receivedAt`, or from the
 * newest trade ts of bare messages); `max` plays as fast as the consumer takes them.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SourceError } from '../../core/errors.ts';
import { parseFinnhubMessage } from '../finnhub/finnhub-messages.ts';
import { emptyLiveBatch, type LiveBatch, type LiveSource } from '../source.ts';

export interface ReplayOptions {
  file: string;
  /** A number (1 = as recorded) or 'max'. */
  speed: number | 'max';
  /** Stored as `source` for bare messages (envelopes carry their own). Default 'replay'. */
  source?: string;
  /** Lines per batch at max speed (default 1024). */
  batchLines?: number;
}

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

  async *live(
    _symbols: readonly string[],
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<LiveBatch> {
    const o = this.#o;
    const stream = createReadStream(o.file, { encoding: 'utf8' });
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
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    const perBatch = o.batchLines ?? 1024;
    let batch = emptyLiveBatch();
    let firstAt = Number.NaN;
    const t0 = Date.now();
    try {
      for await (const raw of lines) {
        if (opts.signal?.aborted) break;
        const line = raw.trim();
        if (line === '') continue;
        const { text, at: envelopeAt, source } = lineMessage(line);
        const at =
          o.speed === 'max' || !Number.isNaN(envelopeAt) ? envelopeAt : newestTradeTs(line);
        if (o.speed !== 'max' && Number.isFinite(at)) {
          if (Number.isNaN(firstAt)) firstAt = at;
          const due = t0 + (at - firstAt) / o.speed;
          const wait = due - Date.now();
          if (wait > 0) {
            if (batch.messages.length > 0) {
              yield batch;
              batch = emptyLiveBatch();
            }
            await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : {}).catch(
              () => undefined,
            );
          }
        }
        const receivedAt = Date.now();
        batch.messages.push({ text, receivedAt });
        parseFinnhubMessage(text, receivedAt, source ?? this.name, batch);
        if (batch.messages.length >= perBatch) {
          yield batch;
          batch = emptyLiveBatch();
        }
      }
      if (batch.messages.length > 0) yield batch;
    } finally {
      lines.close();
      stream.destroy();
    }
  }
}

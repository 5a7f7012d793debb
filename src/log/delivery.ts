/**
 * How a log hands a batch to a consumer's handler until it is done — one
 * policy for every log implementation:
 *
 * - a transient failure (a store or broker away, a full disk: see
 *   `isTransient`) is retried for as long as it takes, with exponential
 *   backoff and jitter up to `maxRetryMs`;
 * - any other failure is retried `maxAttempts` times in all; then the batch
 *   is handed over one record at a time, so the good records around a bad
 *   one still go through, and a record that fails alone `maxAttempts` times
 *   is set aside (`ConsumeOptions.onUnprocessable`, the quarantine) and its
 *   partition moves on.
 *
 * So one poison record can cost a partition a few retries, never its flow,
 * and a stop (`active()` turning false) ends the retrying at once.
 */
import { backoffMs } from '../core/backoff.ts';
import { errorMessage, isTransient } from '../core/errors.ts';
import type { ConsumeOptions, LogBatch } from './log.ts';

export interface DeliveryPolicy {
  /** Attempts of a deterministic failure, per batch and then per record (default 3). */
  maxAttempts: number;
  /** The first pause before a retry (ms). */
  retryMs: number;
  /** The longest pause between retries (ms, default 5000). */
  maxRetryMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { maxAttempts: 3, retryMs: 200, maxRetryMs: 5_000 };

export interface DeliveryContext<T> {
  policy: DeliveryPolicy;
  handler: (batch: LogBatch<T>) => Promise<void>;
  opts: ConsumeOptions;
  /** False once the member stopped or lost the partition: give up quietly. */
  active: () => boolean;
  /** Told each failure and what happens next. */
  report: (err: unknown, what: string) => void;
  /** The offset of `batch.records[i]` (logs that took undecodable records out are not contiguous). */
  offsetOf?: (batch: LogBatch<T>, i: number) => number;
  /** Waits between attempts (default a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/** What became of a batch. */
export type Delivered = 'done' | 'set-aside' | 'stopped';

/** The pause before retry number `n` (0-based). */
const retryDelay = (n: number, policy: DeliveryPolicy): number =>
  backoffMs(n + 1, { baseDelayMs: policy.retryMs, maxDelayMs: policy.maxRetryMs });

const timer = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hands `batch` to the handler until it is done, set aside record by
 * record, or the member stops. Returns 'set-aside' when at least one record
 * was set aside (the caller may have to commit past it: the handler did not).
 */
export async function deliver<T>(batch: LogBatch<T>, cx: DeliveryContext<T>): Promise<Delivered> {
  const sleep = cx.sleep ?? timer;
  const where = `${batch.topic}[${batch.partition}]@${batch.offset}`;
  let attempts = 0;
  let waits = 0;
  for (;;) {
    if (!cx.active()) return 'stopped';
    try {
      await cx.handler(batch);
      return 'done';
    } catch (err) {
      if (!cx.active()) return 'stopped';
      if (isTransient(err)) {
        const ms = retryDelay(waits++, cx.policy);
        cx.report(err, `${where}: retrying in ${Math.round(ms)} ms (transient)`);
        await sleep(ms);
        continue;
      }
      attempts++;
      if (attempts < cx.policy.maxAttempts) {
        const ms = retryDelay(waits++, cx.policy);
        cx.report(
          err,
          `${where}: attempt ${attempts} of ${cx.policy.maxAttempts} failed; retrying in ${Math.round(ms)} ms`,
        );
        await sleep(ms);
        continue;
      }
      if (batch.records.length > 1) {
        cx.report(
          err,
          `${where}: failed ${attempts} times; handing its records over one at a time`,
        );
        return deliverOneByOne(batch, cx);
      }
      return setAside(batch, err, attempts, cx);
    }
  }
}

async function deliverOneByOne<T>(batch: LogBatch<T>, cx: DeliveryContext<T>): Promise<Delivered> {
  const offsetOf = cx.offsetOf ?? ((b: LogBatch<T>, i: number) => b.offset + i);
  let result: Delivered = 'done';
  const n = batch.records.length;
  for (let i = 0; i < n; i++) {
    const offset = offsetOf(batch, i);
    const one: LogBatch<T> = {
      topic: batch.topic,
      partition: batch.partition,
      offset,
      next: i + 1 < n ? offsetOf(batch, i + 1) : batch.next,
      records: [batch.records[i]!],
    };
    const r = await deliver(one, cx);
    if (r === 'stopped') return r;
    if (r === 'set-aside') result = r;
  }
  return result;
}

/** Hands a record that fails every time to `onUnprocessable` (retried while that fails). */
async function setAside<T>(
  batch: LogBatch<T>,
  err: unknown,
  attempts: number,
  cx: DeliveryContext<T>,
): Promise<Delivered> {
  const sleep = cx.sleep ?? timer;
  const record = {
    topic: batch.topic,
    partition: batch.partition,
    offset: batch.offset,
    record: batch.records[0],
    error: errorMessage(err),
    attempts,
  };
  const where = `${batch.topic}[${batch.partition}]@${batch.offset}`;
  for (let n = 0; ; n++) {
    if (!cx.active()) return 'stopped';
    try {
      if (cx.opts.onUnprocessable) await cx.opts.onUnprocessable(record);
      else cx.report(err, `${where}: failed ${attempts} times; skipped`);
      return 'set-aside';
    } catch (e) {
      const ms = retryDelay(n, cx.policy);
      cx.report(e, `${where}: setting the record aside failed; retrying in ${Math.round(ms)} ms`);
      await sleep(ms);
    }
  }
}

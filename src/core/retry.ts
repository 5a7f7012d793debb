/**
 * The one retry module: a policy (how many retries, how long between them),
 * a "do not retry" error class, and `retry()` for loops that retry in place.
 * Pipelines' task retries, HTTP requests and webhook deliveries all use it.
 */
import { backoffMs } from './backoff.ts';
import { TicklineError } from './errors.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = one attempt only). */
  retries: number;
  /** The pause before the first retry, ms. */
  delayMs: number;
  /** 'exponential' doubles the pause each retry (jittered, capped at maxDelayMs); 'fixed' keeps it. */
  backoff: 'fixed' | 'exponential';
  maxDelayMs: number;
}

/** Thrown to say a failure will not pass by retrying (bad config, a refused request): the attempt fails for good. */
export class DoNotRetryError extends TicklineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DO_NOT_RETRY', message, options);
  }
}

/** Whether an error forbids retries (a DoNotRetryError anywhere in its causes). */
export function isDoNotRetry(err: unknown, depth = 0): boolean {
  if (err instanceof DoNotRetryError) return true;
  if (!err || typeof err !== 'object' || depth > 8) return false;
  return isDoNotRetry((err as { cause?: unknown }).cause, depth + 1);
}

/** The pause before retry number `retry` (1-based). */
export function retryDelayMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  if (policy.backoff === 'fixed') return policy.delayMs;
  return backoffMs(retry, { baseDelayMs: policy.delayMs, maxDelayMs: policy.maxDelayMs }, random);
}

/** Whether attempt number `attempt` (1-based) that failed with `err` may be retried. */
export function mayRetry(policy: RetryPolicy, attempt: number, err: unknown): boolean {
  return attempt <= policy.retries && !isDoNotRetry(err);
}

/**
 * Runs `fn` until it succeeds, the policy's retries are spent, `shouldRetry`
 * says no, or the signal aborts; pauses between attempts by the policy.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  opts: {
    signal?: AbortSignal;
    shouldRetry?: (err: unknown, attempt: number) => boolean;
    onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  } = {},
): Promise<T> {
  const sleep = opts.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const again =
        mayRetry(policy, attempt, err) &&
        !opts.signal?.aborted &&
        (opts.shouldRetry?.(err, attempt) ?? true);
      if (!again) throw err;
      const delay = retryDelayMs(policy, attempt);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

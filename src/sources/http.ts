/**
 * HTTP GET with the retry policy every provider shares: 429 and 5xx (and
 * dropped connections, timeouts) are retried with exponential backoff and
 * full jitter, honouring Retry-After; other statuses are returned as they are.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../core/backoff.ts';
import { SourceError } from '../core/errors.ts';
import { MAX_RESPONSE_BYTES } from '../core/limits.ts';

export interface RetryPolicy {
  /** Attempts in all, including the first. */
  attempts: number;
  /** First backoff, ms. */
  baseDelayMs: number;
  /** Longest backoff between attempts, ms (a server's Retry-After is honoured up to 2 min). */
  maxDelayMs: number;
  /** Per-attempt timeout, ms. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  timeoutMs: 30_000,
};

/** The longest Retry-After honoured, ms. */
export const MAX_RETRY_AFTER_MS = 120_000;

export interface HttpResponse {
  status: number;
  body: string;
  url: string;
}

export const BROWSER_USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** Parses Retry-After (seconds or an HTTP date) into ms, or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(header);
  if (Number.isFinite(at)) return Math.max(0, at - now);
  return undefined;
}

export { backoffMs };

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export async function httpGet(
  url: string,
  opts: {
    provider: string;
    symbol?: string;
    retry?: RetryPolicy;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
    /** The longest body taken (default MAX_RESPONSE_BYTES); a longer one fails, unretried. */
    maxBytes?: number;
  },
): Promise<HttpResponse> {
  const policy = opts.retry ?? DEFAULT_RETRY;
  let lastReason = '';
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    opts.signal?.throwIfAborted();
    let waitHint: number | undefined;
    try {
      const timeout = AbortSignal.timeout(policy.timeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      const res = await fetch(url, {
        headers: { 'user-agent': BROWSER_USER_AGENT, accept: '*/*', ...opts.headers },
        signal,
      });
      const body = await readLimited(res, opts.maxBytes ?? MAX_RESPONSE_BYTES, opts.provider, url);
      if (!isRetryableStatus(res.status)) return { status: res.status, body, url };
      lastReason = `HTTP ${res.status}`;
      waitHint = retryAfterMs(res.headers.get('retry-after'));
    } catch (err) {
      if (opts.signal?.aborted || (err instanceof SourceError && !err.retryable)) throw err;
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
      lastReason = `${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`;
    }
    if (attempt === policy.attempts) break;
    // The server's Retry-After wins over our own backoff (up to two minutes).
    const waitMs =
      waitHint !== undefined ? Math.min(MAX_RETRY_AFTER_MS, waitHint) : backoffMs(attempt, policy);
    opts.onRetry?.({ attempt, waitMs, reason: lastReason });
    await sleep(waitMs, undefined, opts.signal ? { signal: opts.signal } : undefined);
  }
  throw new SourceError(
    `${opts.provider}: ${opts.symbol ?? url} failed after ${policy.attempts} attempts: ${lastReason}`,
    {
      provider: opts.provider,
      retryable: true,
      ...(opts.symbol ? { symbol: opts.symbol } : {}),
    },
  );
}

/** A response body as text, refused (not retried) past `max` bytes: read in chunks, never whole first. */
async function readLimited(
  res: Response,
  max: number,
  provider: string,
  url: string,
): Promise<string> {
  const tooLong = (n: string): SourceError =>
    new SourceError(
      `${provider}: the response of ${redactUrl(url)} is over ${max} bytes (${n}); refused`,
      {
        provider,
        status: res.status,
        retryable: false,
      },
    );
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLong(`${declared} declared`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > max) throw tooLong(`${n} read so far`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Removes secrets (token, apikey, password) from a URL before it is stored or printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const key of [...u.searchParams.keys()]) {
      if (/token|key|secret|password/i.test(key)) u.searchParams.set(key, 'REDACTED');
    }
    return u.toString();
  } catch {
    return url;
  }
}

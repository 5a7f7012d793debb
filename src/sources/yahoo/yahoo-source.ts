/**
 * Yahoo Finance chart API v8:
 * GET {base}/v8/finance/chart/{symbol}?period1&period2&interval&events=div,splits&includeAdjustedClose=true
 */
import { SourceError } from '../../core/errors.ts';
import { DAY_MS, type Interval } from '../../core/time.ts';
import { DEFAULT_RETRY, httpGet, type RetryPolicy } from '../http.ts';
import type { HistoryRequest, RawBatch, Source } from '../source.ts';
import { parseYahooChart, YAHOO } from './yahoo-parse.ts';

/** The widest range Yahoo serves in one request, per interval. */
const WINDOW_MS: Record<Interval, number> = {
  '1s': 0,
  '1m': 7 * DAY_MS,
  '5m': 59 * DAY_MS,
  '15m': 59 * DAY_MS,
  '30m': 59 * DAY_MS,
  '1h': 729 * DAY_MS,
  '1d': Number.POSITIVE_INFINITY,
  '1wk': Number.POSITIVE_INFINITY,
  '1mo': Number.POSITIVE_INFINITY,
};

export interface YahooOptions {
  baseUrl: string;
  retry?: RetryPolicy;
  onRetry?: (info: { symbol: string; attempt: number; waitMs: number; reason: string }) => void;
}

/** Splits [from, to) into the windows Yahoo allows for `interval`. */
export function yahooWindows(req: HistoryRequest): [number, number][] {
  const width = WINDOW_MS[req.interval];
  const out: [number, number][] = [];
  if (!Number.isFinite(width)) return [[req.from, req.to]];
  for (let start = req.from; start < req.to; start += width) {
    out.push([start, Math.min(req.to, start + width)]);
  }
  return out;
}

export class YahooSource implements Source {
  readonly name = YAHOO;
  readonly intervals: readonly Interval[] = ['1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo'];
  readonly #opts: YahooOptions;

  constructor(opts: YahooOptions) {
    this.#opts = opts;
  }

  url(symbol: string, interval: Interval, from: number, to: number): string {
    const base = this.#opts.baseUrl.replace(/\/+$/, '');
    const params = new URLSearchParams({
      period1: String(Math.floor(from / 1000)),
      period2: String(Math.floor(to / 1000)),
      interval,
      events: 'div,splits',
      includeAdjustedClose: 'true',
    });
    return `${base}/v8/finance/chart/${encodeURIComponent(symbol)}?${params}`;
  }

  async *history(req: HistoryRequest, opts?: { signal?: AbortSignal }): AsyncIterable<RawBatch> {
    for (const [from, to] of yahooWindows(req)) {
      const url = this.url(req.symbol, req.interval, from, to);
      const onRetry = this.#opts.onRetry;
      const res = await httpGet(url, {
        provider: YAHOO,
        symbol: req.symbol,
        retry: this.#opts.retry ?? DEFAULT_RETRY,
        ...(opts?.signal ? { signal: opts.signal } : {}),
        ...(onRetry ? { onRetry: (i) => onRetry({ symbol: req.symbol, ...i }) } : {}),
      });
      const receivedAt = Date.now();
      const raw = { source: YAHOO, request: url, receivedAt, status: res.status, body: res.body };
      let parsed: ReturnType<typeof parseYahooChart>;
      try {
        parsed = parseYahooChart(res.body, res.status, req, receivedAt);
      } catch (err) {
        // Keep what the provider said in the raw layer, then report the symbol's failure.
        yield { raw, bars: [], rejects: [], actions: [], instrument: null };
        throw err;
      }
      const { failure, ...batch } = parsed;
      yield { raw, ...batch };
      if (failure) {
        throw new SourceError(failure, { provider: YAHOO, retryable: false, symbol: req.symbol });
      }
    }
  }
}

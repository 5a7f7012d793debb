/** Stooq daily CSV: GET {base}/q/d/l/?s={symbol}&i=d[&d1=YYYYMMDD&d2=YYYYMMDD] */
import { SourceError } from '../../core/errors.ts';
import type { Interval } from '../../core/time.ts';
import { parseBarsCsv } from '../csv/csv-format.ts';
import { DEFAULT_RETRY, httpGet, type RetryPolicy } from '../http.ts';
import type { HistoryRequest, RawBatch, Source } from '../source.ts';

export const STOOQ = 'stooq';

const ymd = (ms: number): string => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

/** `AAPL` → `aapl.us`; a symbol with a market suffix (`SPY.US`, `CDR.PL`) is kept as it is. */
export function stooqTicker(symbol: string): string {
  const s = symbol.toLowerCase();
  return s.includes('.') || s.startsWith('^') ? s : `${s}.us`;
}

export class StooqSource implements Source {
  readonly name = STOOQ;
  readonly intervals: readonly Interval[] = ['1d'];
  readonly #base: string;
  readonly #retry: RetryPolicy;

  constructor(opts: { baseUrl: string; retry?: RetryPolicy }) {
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#retry = opts.retry ?? DEFAULT_RETRY;
  }

  url(req: HistoryRequest): string {
    const params = new URLSearchParams({ s: stooqTicker(req.symbol), i: 'd' });
    if (Number.isFinite(req.from)) params.set('d1', ymd(req.from));
    if (Number.isFinite(req.to)) params.set('d2', ymd(req.to - 1));
    return `${this.#base}/q/d/l/?${params}`;
  }

  async *history(req: HistoryRequest, opts?: { signal?: AbortSignal }): AsyncIterable<RawBatch> {
    const url = this.url(req);
    const res = await httpGet(url, {
      provider: STOOQ,
      symbol: req.symbol,
      retry: this.#retry,
      ...(opts?.signal ? { signal: opts.signal } : {}),
    });
    const receivedAt = Date.now();
    const raw = { source: STOOQ, request: url, receivedAt, status: res.status, body: res.body };
    const fail = (message: string, status?: number): SourceError =>
      new SourceError(`stooq: ${req.symbol}: ${message}`, {
        provider: STOOQ,
        retryable: false,
        symbol: req.symbol,
        ...(status ? { status } : {}),
      });
    const empty = { raw, bars: [], rejects: [], actions: [], instrument: null };
    if (res.status >= 400) {
      yield empty;
      throw fail(`HTTP ${res.status}`, res.status);
    }
    const text = res.body.trim();
    if (text === '' || /^no data/i.test(text)) {
      const message = `stooq: ${req.symbol}: ${text === '' ? 'empty response body' : 'No data'}`;
      const rule = text === '' ? 'empty_response' : null;
      yield {
        ...empty,
        rejects: rule
          ? [
              {
                stage: 'parse',
                source: STOOQ,
                symbol: req.symbol,
                interval: '1d',
                rule,
                message,
                payload: res.body,
                receivedAt,
              },
            ]
          : [],
      };
      throw fail(
        text === '' ? 'empty response body' : 'No data (unknown symbol or no bars in range)',
      );
    }
    let parsed: ReturnType<typeof parseBarsCsv>;
    try {
      parsed = parseBarsCsv(res.body, {
        symbol: req.symbol,
        interval: '1d',
        source: STOOQ,
        file: url,
        receivedAt,
      });
    } catch (err) {
      const message = `stooq: ${req.symbol}: response is not a bar CSV: ${(err as Error).message}`;
      yield {
        ...empty,
        rejects: [
          {
            stage: 'parse',
            source: STOOQ,
            symbol: req.symbol,
            interval: '1d',
            rule: 'malformed_response',
            message,
            payload: res.body.slice(0, 1_000_000),
            receivedAt,
          },
        ],
      };
      throw fail('response is not a bar CSV');
    }
    yield { ...empty, bars: parsed.bars, rejects: parsed.rejects };
  }
}

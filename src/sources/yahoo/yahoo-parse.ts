/**
 * Turns one Yahoo chart v8 response body into candidate bars, corporate
 * actions and the instrument. Pure: no I/O.
 */
import { SourceError } from '../../core/errors.ts';
import {
  capPayload,
  JsonLimitError,
  MAX_RESPONSE_BYTES,
  parseJsonWithin,
} from '../../core/limits.ts';
import type { CandidateBar, CorporateAction, Instrument, Quarantined } from '../../core/records.ts';
import { isDailyOrLonger, tradingDateUtc } from '../../core/time.ts';
import type { HistoryRequest, RawBatch } from '../source.ts';

export const YAHOO = 'yahoo';

interface ChartQuote {
  open?: (number | null)[];
  high?: (number | null)[];
  low?: (number | null)[];
  close?: (number | null)[];
  volume?: (number | null)[];
}
interface ChartResult {
  meta?: Record<string, unknown>;
  timestamp?: number[];
  events?: {
    dividends?: Record<string, { amount?: number; date?: number }>;
    splits?: Record<string, { date?: number; numerator?: number; denominator?: number }>;
    capitalGains?: Record<string, { amount?: number; date?: number }>;
  };
  indicators?: { quote?: ChartQuote[]; adjclose?: { adjclose?: (number | null)[] }[] };
}
interface ChartBody {
  chart?: { result?: ChartResult[] | null; error?: { code?: string; description?: string } | null };
}

/** The values at one index of a chart response, as JSON text when asked for. */
class ChartPayload {
  constructor(
    readonly timestamps: readonly (number | null)[],
    readonly quote: ChartQuote,
    readonly adj: readonly (number | null)[] | undefined,
    readonly index: number,
  ) {}
  text(): string {
    const { quote: q, index: i, adj } = this;
    return JSON.stringify({
      timestamp: this.timestamps[i] ?? null,
      open: q.open?.[i] ?? null,
      high: q.high?.[i] ?? null,
      low: q.low?.[i] ?? null,
      close: q.close?.[i] ?? null,
      volume: q.volume?.[i] ?? null,
      ...(adj ? { adjclose: adj[i] ?? null } : {}),
    });
  }
}

/** The largest payload kept for a body that is not a chart response. */
const MAX_REJECT_PAYLOAD = 1_000_000;

function reject(
  req: HistoryRequest,
  rule: string,
  message: string,
  payload: string,
  receivedAt: number,
): Quarantined {
  return {
    stage: 'parse',
    source: YAHOO,
    symbol: req.symbol,
    interval: req.interval,
    rule,
    message,
    payload: payload.slice(0, MAX_REJECT_PAYLOAD),
    receivedAt,
  };
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

/**
 * Parses a chart response. Returns the batch, plus `failure` when the body is
 * unusable (empty or not JSON): its record is in `rejects` and the symbol
 * counts as failed. Throws `SourceError` for Yahoo's own error answers.
 */
export function parseYahooChart(
  body: string,
  status: number,
  req: HistoryRequest,
  receivedAt: number,
): Omit<RawBatch, 'raw'> & { failure: string | null } {
  const out = {
    bars: [] as CandidateBar[],
    rejects: [] as Quarantined[],
    actions: [] as CorporateAction[],
    instrument: null as Instrument | null,
    failure: null as string | null,
  };
  if (body.trim() === '') {
    const message = `yahoo: empty response body for ${req.symbol} (HTTP ${status})`;
    out.rejects.push(reject(req, 'empty_response', message, body, receivedAt));
    out.failure = message;
    return out;
  }
  let parsed: ChartBody;
  try {
    // A chart nests 7 levels; 64 leaves room and bounds whatever walks it later.
    parsed = parseJsonWithin(body, MAX_RESPONSE_BYTES, 64) as ChartBody;
  } catch (err) {
    const why = err instanceof JsonLimitError ? err.message : `not JSON: ${(err as Error).message}`;
    const message = `yahoo: response for ${req.symbol} is ${why.startsWith('not JSON') ? '' : 'unusable: '}${why} (HTTP ${status})`;
    out.rejects.push(reject(req, 'malformed_response', message, capPayload(body), receivedAt));
    out.failure = message;
    return out;
  }
  const chart = parsed?.chart;
  if (chart?.error || status === 404) {
    const desc = chart?.error?.description ?? chart?.error?.code ?? `HTTP ${status}`;
    throw new SourceError(`yahoo: ${req.symbol}: ${desc}`, {
      provider: YAHOO,
      status,
      retryable: false,
      symbol: req.symbol,
    });
  }
  const result = chart?.result?.[0];
  if (!result || typeof result !== 'object') {
    const message = `yahoo: response for ${req.symbol} has no chart.result (HTTP ${status})`;
    out.rejects.push(reject(req, 'malformed_response', message, body, receivedAt));
    out.failure = message;
    return out;
  }
  if (status >= 400) {
    throw new SourceError(`yahoo: ${req.symbol}: HTTP ${status}`, {
      provider: YAHOO,
      status,
      retryable: false,
      symbol: req.symbol,
    });
  }

  const meta = result.meta ?? {};
  const tz = str(meta.exchangeTimezoneName) ?? 'UTC';
  out.instrument = {
    symbol: req.symbol,
    name: str(meta.longName) ?? str(meta.shortName),
    exchange: str(meta.fullExchangeName) ?? str(meta.exchangeName),
    currency: str(meta.currency),
    timezone: str(meta.exchangeTimezoneName),
  };

  const daily = isDailyOrLonger(req.interval);
  const stamp = (sec: number): number =>
    daily ? tradingDateUtc(sec * 1000, tz) : Math.round(sec * 1000);

  const ts = Array.isArray(result.timestamp) ? result.timestamp : [];
  const q = result.indicators?.quote?.[0] ?? {};
  const adj = result.indicators?.adjclose?.[0]?.adjclose;
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    const open = num(q.open?.[i]);
    const high = num(q.high?.[i]);
    const low = num(q.low?.[i]);
    const close = num(q.close?.[i]);
    const volume = num(q.volume?.[i]);
    const adjClose = adj ? num(adj[i]) : null;
    out.bars.push({
      symbol: req.symbol,
      interval: req.interval,
      ts: typeof t === 'number' ? stamp(t) : Number.NaN,
      open,
      high,
      low,
      close,
      volume,
      adjClose,
      source: YAHOO,
      payload: new ChartPayload(ts, q, adj, i),
    });
  }

  const ev = result.events ?? {};
  for (const d of Object.values(ev.dividends ?? {})) {
    if (typeof d.date === 'number' && typeof d.amount === 'number') {
      out.actions.push({
        symbol: req.symbol,
        ts: tradingDateUtc(d.date * 1000, tz),
        kind: 'dividend',
        value: d.amount,
        source: YAHOO,
      });
    }
  }
  for (const s of Object.values(ev.splits ?? {})) {
    if (typeof s.date === 'number' && s.numerator && s.denominator) {
      out.actions.push({
        symbol: req.symbol,
        ts: tradingDateUtc(s.date * 1000, tz),
        kind: 'split',
        value: s.numerator / s.denominator,
        source: YAHOO,
      });
    }
  }
  for (const g of Object.values(ev.capitalGains ?? {})) {
    if (typeof g.date === 'number' && typeof g.amount === 'number') {
      out.actions.push({
        symbol: req.symbol,
        ts: tradingDateUtc(g.date * 1000, tz),
        kind: 'capital_gain',
        value: g.amount,
        source: YAHOO,
      });
    }
  }
  return out;
}

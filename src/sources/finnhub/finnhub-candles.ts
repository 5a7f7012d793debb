/**
 * Finnhub's REST candles (`/stock/candle?symbol&resolution=1&from&to`), used
 * to fill the gap a reconnect left in a live feed. The bars are checked with
 * the bar rules and marked `backfilled`.
 */
import { SourceError } from '../../core/errors.ts';
import type { Bar, CandidateBar, Quarantined } from '../../core/records.ts';
import { checkBar } from '../../quality/bar-rules.ts';

export const CANDLE_SOURCE = 'finnhub-candle';

interface CandleBody {
  s?: unknown;
  t?: unknown;
  o?: unknown;
  h?: unknown;
  l?: unknown;
  c?: unknown;
  v?: unknown;
  error?: unknown;
}

/**
 * Parses a candle response into the 1m bars inside [from, to). `no_data` is
 * an empty result; an `error` body or a broken one is a SourceError.
 */
export function parseCandles(
  body: string,
  symbol: string,
  range: { from: number; to: number; now: number },
  receivedAt: number,
): { bars: Bar[]; rejects: Quarantined[] } {
  let doc: CandleBody;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new SourceError(`finnhub: candles for ${symbol}: the response is not JSON`, {
      provider: 'finnhub',
      retryable: false,
      symbol,
    });
  }
  if (typeof doc?.error === 'string') {
    throw new SourceError(`finnhub: candles for ${symbol}: ${doc.error}`, {
      provider: 'finnhub',
      retryable: false,
      symbol,
    });
  }
  if (doc.s === 'no_data') return { bars: [], rejects: [] };
  const t = doc.t;
  if (doc.s !== 'ok' || !Array.isArray(t)) {
    throw new SourceError(`finnhub: candles for ${symbol}: unexpected status ${String(doc.s)}`, {
      provider: 'finnhub',
      retryable: false,
      symbol,
    });
  }
  const col = (a: unknown, i: number): number | null => {
    const v = Array.isArray(a) ? a[i] : undefined;
    return typeof v === 'number' ? v : null;
  };
  const bars: Bar[] = [];
  const rejects: Quarantined[] = [];
  for (let i = 0; i < t.length; i++) {
    const ts = typeof t[i] === 'number' ? t[i] * 1000 : Number.NaN;
    if (ts < range.from || ts >= range.to) continue;
    const c: CandidateBar = {
      symbol,
      interval: '1m',
      ts,
      open: col(doc.o, i),
      high: col(doc.h, i),
      low: col(doc.l, i),
      close: col(doc.c, i),
      volume: col(doc.v, i),
      adjClose: null,
      source: CANDLE_SOURCE,
      payload: JSON.stringify({
        t: t[i],
        o: col(doc.o, i),
        h: col(doc.h, i),
        l: col(doc.l, i),
        c: col(doc.c, i),
        v: col(doc.v, i),
      }),
    };
    const bad = checkBar(c, { ...range, futureSkewMs: 60_000 });
    if (bad) {
      rejects.push({
        stage: 'validate',
        source: CANDLE_SOURCE,
        symbol,
        interval: c.interval,
        rule: bad.rule,
        message: bad.message,
        payload: c.payload as string,
        receivedAt,
      });
      continue;
    }
    const { payload: _payload, ...rest } = c;
    bars.push({ ...(rest as Bar), backfilled: true });
  }
  return { bars, rejects };
}

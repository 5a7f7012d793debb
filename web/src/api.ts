/** The few API calls the dashboard makes; errors become readable messages. */

export interface ApiBar {
  symbol: string;
  interval: string;
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap?: number | null;
  indicators?: Record<string, number | null>;
}

export interface SeriesInfo {
  symbol: string;
  interval: string;
  rows: number;
  firstTs: number | null;
  lastTs: number | null;
  freshnessMs: number | null;
  rejects: number;
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path);
  const body = await res.json().catch(() => ({}));
  if (!res.ok)
    throw new Error((body as { message?: string }).message ?? `HTTP ${res.status} for ${path}`);
  return body as T;
}

export const INDICATORS = [
  'sma_20',
  'sma_50',
  'sma_200',
  'ema_12',
  'ema_26',
  'bb_upper',
  'bb_middle',
  'bb_lower',
  'rsi_14',
  'macd',
  'macd_signal',
  'macd_hist',
] as const;

/** The newest `limit` bars before `before` (all when absent), oldest first. */
export async function latestBars(
  symbol: string,
  interval: string,
  limit: number,
  before?: number,
): Promise<ApiBar[]> {
  const q = new URLSearchParams({
    symbol,
    interval,
    order: 'desc',
    limit: String(limit),
    indicators: INDICATORS.join(','),
  });
  if (before !== undefined) q.set('to', String(before));
  const r = await getJson<{ bars: ApiBar[] }>(`/api/bars?${q}`);
  return r.bars.reverse();
}

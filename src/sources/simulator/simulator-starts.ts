/**
 * Where the simulator starts each symbol: from its last stored price (the
 * close of its newest bar, whatever the interval, so a restart continues
 * where the last run stopped) with a volatility measured on its history
 * (daily closes, else 1-minute closes). A symbol with nothing stored starts
 * from a made-up price and a volatility of 30 % a year.
 */
import { isBarSeries, type Store } from '../../store/store.ts';

export interface SymbolStart {
  price: number;
  /** Annualised volatility of log returns. */
  sigma: number;
  /** Where the price comes from, for the start-up line. */
  from: string;
}

export const DEFAULT_SIGMA = 0.3;
/** Returns to measure the volatility on. */
const WINDOW = 60;

/** Annualised volatility of these closes (oldest first), or null with too few returns. */
export function annualisedVolatility(
  closes: readonly number[],
  periodsPerYear: number,
): number | null {
  const r: number[] = [];
  for (let i = 1; i < closes.length; i++) {
    const a = closes[i - 1]!;
    const b = closes[i]!;
    if (a > 0 && b > 0) r.push(Math.log(b / a));
  }
  if (r.length < 10) return null;
  const mean = r.reduce((x, y) => x + y, 0) / r.length;
  const variance = r.reduce((x, y) => x + (y - mean) ** 2, 0) / (r.length - 1);
  const sigma = Math.sqrt(variance * periodsPerYear);
  // A flat or wild history (a stale series, a split left unadjusted) says little: keep it sane.
  return Math.min(Math.max(sigma, 0.05), 2);
}

export async function simulatorStarts(
  store: Store,
  symbols: readonly string[],
): Promise<Map<string, SymbolStart>> {
  const status = await store.status();
  const starts = new Map<string, SymbolStart>();
  for (const symbol of symbols) {
    const series = status.filter((s) => s.symbol === symbol && isBarSeries(s));
    if (series.length === 0) continue;
    const newest = series.reduce((a, b) => (b.lastTs > a.lastTs ? b : a));
    const [last] = await store.readBars({
      symbol,
      interval: newest.interval,
      order: 'desc',
      limit: 1,
    });
    if (!last || !(last.close > 0)) continue;
    let sigma: number | null = null;
    for (const [interval, perYear] of [
      ['1d', 252],
      ['1m', 252 * 390],
    ] as const) {
      if (sigma !== null || !series.some((s) => s.interval === interval)) continue;
      const bars = await store.readBars({ symbol, interval, order: 'desc', limit: WINDOW + 1 });
      sigma = annualisedVolatility(bars.map((b) => b.close).reverse(), perYear);
    }
    starts.set(symbol, {
      price: last.close,
      sigma: sigma ?? DEFAULT_SIGMA,
      from: `${newest.interval} close of ${new Date(last.ts).toISOString().slice(0, 16)}Z`,
    });
  }
  return starts;
}

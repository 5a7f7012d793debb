/**
 * Replaying a quarantined trade (`POST /api/quarantine/{id}/replay`): its raw
 * payload is checked again under the record rules of the current config
 * (finite and positive price, size ≥ 0, timestamp, clock skew). The rules
 * that judged it against the live stream at the time (late_trade,
 * price_outlier, unsubscribed_symbol) are not re-run: replaying is the
 * admin's decision that the trade belongs. If it passes, the trade is stored,
 * the bars of its windows are rebuilt from every stored trade in them, and
 * the quarantine row is removed. Bars from providers are not replayed here:
 * they come back by running their import or backfill again.
 */
import type { Config } from '../core/config.ts';
import { type CandidateTrade, type Trade, tradeContentId } from '../core/records.ts';
import { type Interval, intervalMs } from '../core/time.ts';
import { checkTrade } from '../quality/trade-validator.ts';
import type { QuarantineRow, Store } from '../store/store.ts';
import { BarAggregator } from '../transform/trade-bars.ts';

export type ReplayOutcome =
  | { outcome: 'stored'; trade: Trade; barsRebuilt: number }
  | { outcome: 'rejected'; rule: string; message: string }
  | { outcome: 'not_replayable'; message: string };

/** The Finnhub-format trade in a payload, or null. */
function tradeIn(row: QuarantineRow): CandidateTrade | null {
  let d: { s?: unknown; p?: unknown; t?: unknown; v?: unknown; c?: unknown };
  try {
    d = JSON.parse(row.payload);
  } catch {
    return null;
  }
  if (!d || typeof d !== 'object' || !('p' in d) || !('t' in d) || !('v' in d)) return null;
  const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  return {
    symbol: typeof d.s === 'string' ? d.s : '',
    ts: num(d.t),
    price: num(d.p),
    size: num(d.v),
    conditions: Array.isArray(d.c) ? d.c.join(',') : '',
    tradeId: '',
    source: row.source,
    payload: row.payload,
    receivedAt: Date.now(),
  };
}

/** Whether a quarantined record can be replayed: a trade whose payload can still be read. */
export const isReplayable = (row: QuarantineRow): boolean =>
  row.stage === 'validate' && tradeIn(row) !== null;

export async function replayQuarantined(
  store: Store,
  cfg: Config,
  row: QuarantineRow,
): Promise<ReplayOutcome> {
  const t = row.stage === 'validate' ? tradeIn(row) : null;
  if (!t) {
    return {
      outcome: 'not_replayable',
      message: `record ${row.id} (${row.stage}, ${row.rule}) is not a trade; bars come back by running their import or backfill again`,
    };
  }
  const bad = checkTrade(t, Date.now() + cfg.quality.futureSkewMs);
  if (bad) return { outcome: 'rejected', rule: bad.rule, message: bad.message };
  const trade: Trade = {
    symbol: t.symbol,
    ts: t.ts,
    price: t.price,
    size: t.size,
    conditions: t.conditions,
    tradeId: tradeContentId(t.ts, t.price, t.size, t.conditions),
    source: t.source,
  };
  await store.write({
    raw: [],
    bars: [],
    rejects: [],
    actions: [],
    instruments: [],
    trades: [trade],
  });
  // Rebuild the bars of every window the trade falls in, from all stored trades in them.
  const intervals = cfg.live.intervals as Interval[];
  const widest = Math.max(...intervals.map(intervalMs));
  const from = Math.floor(trade.ts / widest) * widest;
  const inWindow = await store.readTrades({ symbol: trade.symbol, from, to: from + widest });
  const agg = new BarAggregator({ intervals, allowedLatenessMs: 0 });
  agg.add(inWindow);
  const bars = agg
    .flush()
    .filter((e) => e.kind === 'final')
    .map((e) => e.bar)
    .filter((b) => b.ts === Math.floor(trade.ts / intervalMs(b.interval)) * intervalMs(b.interval));
  await store.write({ raw: [], bars, rejects: [], actions: [], instruments: [] });
  await store.refreshCurated(bars.map((b) => ({ symbol: b.symbol, interval: b.interval })));
  await store.capability('quarantine').deleteQuarantine(row.id);
  return { outcome: 'stored', trade, barsRebuilt: bars.length };
}

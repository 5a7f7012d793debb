/**
 * The gap loop's first half: the bars a series should have by its trading
 * calendar (daily: one per session; intraday: every interval inside the
 * session's hours) that are not stored, as ranges. Holes the provider could
 * not fill when asked (a halted stock) are known: listed with their reason
 * and not refetched.
 */
import type { CalendarResolver } from '../calendar/registry.ts';
import { type Interval, intervalMs, isDailyOrLonger } from '../core/time.ts';
import { isBarSeries, type Store } from '../store/store.ts';

export interface GapRange {
  symbol: string;
  interval: Interval;
  /** First and last missing bar (ts), inclusive. */
  from: number;
  to: number;
  missing: number;
  /** Why it stays missing (the provider had nothing), or null for a gap to fill. */
  reason: string | null;
}

export interface GapQuery {
  symbol?: string;
  interval?: Interval;
  /** Range to check (default: each series' first to last stored bar). */
  from?: number;
  to?: number;
  /** Intraday series: only the last this many sessions up to `to` (their history can be long). */
  recentSessions?: number;
}

/** Missing bars known to be unfillable: `symbol\0interval` → ts → reason. */
export type KnownGaps = Map<string, Map<number, string>>;

export const gapKey = (symbol: string, interval: string): string => `${symbol}\u0000${interval}`;

/** The expected bar times that are absent from `stored` (sorted ts), grouped into ranges. */
export function missingRanges(
  symbol: string,
  interval: Interval,
  expected: readonly number[],
  stored: ArrayLike<number>,
  known: Map<number, string> | undefined,
): GapRange[] {
  const have = new Set<number>();
  for (let i = 0; i < stored.length; i++) have.add(stored[i]!);
  const out: GapRange[] = [];
  let open: GapRange | null = null;
  for (const ts of expected) {
    if (have.has(ts)) {
      open = null;
      continue;
    }
    const reason = known?.get(ts) ?? null;
    if (open && open.reason === reason) {
      open.to = ts;
      open.missing++;
    } else {
      open = { symbol, interval, from: ts, to: ts, missing: 1, reason };
      out.push(open);
    }
  }
  return out;
}

/** Gaps of every stored series matching the query. */
export async function findGaps(
  store: Store,
  calendars: CalendarResolver,
  q: GapQuery,
  known: KnownGaps = new Map(),
): Promise<GapRange[]> {
  const series = (await store.status()).filter(
    (s) =>
      isBarSeries(s) &&
      (!q.symbol || s.symbol === q.symbol) &&
      (!q.interval || s.interval === q.interval) &&
      (s.interval === '1d' || !isDailyOrLonger(s.interval)),
  );
  const out: GapRange[] = [];
  for (const s of series) {
    let from = q.from ?? s.firstTs;
    const to = q.to ?? s.lastTs;
    const step = intervalMs(s.interval);
    const cal = calendars.for(s.symbol);
    if (q.recentSessions && !isDailyOrLonger(s.interval)) {
      const recent = cal.sessions(
        Math.floor(to / 86_400_000) - q.recentSessions * 3 - 7,
        Math.floor(to / 86_400_000),
      );
      const nth = recent.filter((x) => x.open <= to).at(-q.recentSessions);
      if (nth) from = Math.max(from, Math.floor(nth.open / step) * step);
    }
    if (!(from <= to)) continue;
    const expected = cal.expectedBars(step, from, to);
    if (expected.length === 0) continue;
    const stored = await store.readBarColumns(
      { symbol: s.symbol, interval: s.interval, from, to: to + 1 },
      [],
    );
    out.push(
      ...missingRanges(
        s.symbol,
        s.interval,
        expected,
        stored.columns.ts ?? [],
        known.get(gapKey(s.symbol, s.interval)),
      ),
    );
  }
  return out;
}

/** Sessions a series is behind: sessions that closed after its last bar's session and before now. */
export function sessionsBehind(
  calendars: CalendarResolver,
  symbol: string,
  interval: Interval,
  lastTs: number,
  now: number,
): number {
  const cal = calendars.for(symbol);
  const lastDay = Math.floor(lastTs / 86_400_000);
  const sessions = cal.sessions(
    lastDay + (isDailyOrLonger(interval) ? 1 : 0),
    Math.floor(now / 86_400_000),
  );
  return sessions.filter(
    (s) =>
      s.close <= now && s.close > (isDailyOrLonger(interval) ? 0 : lastTs + intervalMs(interval)),
  ).length;
}

/** Known unfillable bars, keyed for findGaps. */
export function knownGaps(
  rows: readonly { symbol: string; interval: string; ts: number; reason: string }[],
): KnownGaps {
  const out: KnownGaps = new Map();
  for (const r of rows) {
    const k = gapKey(r.symbol, r.interval);
    let m = out.get(k);
    if (!m) {
      m = new Map();
      out.set(k, m);
    }
    m.set(r.ts, r.reason);
  }
  return out;
}

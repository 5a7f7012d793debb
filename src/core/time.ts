/** Time helpers. Every timestamp inside tickline is UTC epoch milliseconds. */

export const INTERVALS = ['1s', '1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo'] as const;
export type Interval = (typeof INTERVALS)[number];

const FIXED_MS: Record<Interval, number> = {
  '1s': 1_000,
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
  '1wk': 7 * 86_400_000,
  '1mo': 31 * 86_400_000,
};

export const DAY_MS = 86_400_000;

export function isInterval(value: string): value is Interval {
  return (INTERVALS as readonly string[]).includes(value);
}

/** Nominal length of an interval (a month counts as 31 days). */
export function intervalMs(interval: Interval): number {
  return FIXED_MS[interval];
}

/** Daily and longer bars are stamped with the trading date at 00:00 UTC. */
export function isDailyOrLonger(interval: Interval): boolean {
  return interval === '1d' || interval === '1wk' || interval === '1mo';
}

const dateFormatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = dateFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    dateFormatters.set(timeZone, f);
  }
  return f;
}

/** True when `timeZone` is an IANA zone name this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock parts of an instant in a time zone. */
function wallParts(ms: number, timeZone: string): [number, number, number, number, number, number] {
  const parts = formatterFor(timeZone).formatToParts(new Date(ms));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return [get('year'), get('month'), get('day'), get('hour'), get('minute'), get('second')];
}

const offsetCache = new Map<string, Map<number, number>>();

/**
 * Offset of `timeZone` from UTC at instant `ms`, in milliseconds. Offsets
 * only change on whole quarter hours, so they are cached per quarter hour.
 */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  if (timeZone === 'UTC') return 0;
  // Outside what a Date can hold (±8.64e15 ms) there is no offset, nor a time.
  if (!(Math.abs(ms) <= 8.64e15)) return Number.NaN;
  let cache = offsetCache.get(timeZone);
  if (!cache) {
    cache = new Map();
    offsetCache.set(timeZone, cache);
  }
  const slot = Math.floor(ms / 900_000);
  let off = cache.get(slot);
  if (off === undefined) {
    const at = slot * 900_000;
    const [y, mo, d, h, mi, s] = wallParts(at, timeZone);
    off = utcMs(y, mo - 1, d, h, mi, s) - at;
    if (cache.size > 100_000) cache.clear();
    cache.set(slot, off);
  }
  return off;
}

/**
 * The calendar date of instant `ms` in `timeZone`, as 00:00 UTC of that date.
 * Daily bars keep the exchange's trading date this way.
 */
export function tradingDateUtc(ms: number, timeZone: string): number {
  const local = ms + zoneOffsetMs(ms, timeZone);
  return local - (((local % DAY_MS) + DAY_MS) % DAY_MS);
}

/** Converts a wall-clock time in `timeZone` (given as if it were UTC) to a UTC instant. */
export function wallTimeToUtc(wallAsUtcMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return wallAsUtcMs;
  // Two passes settle the offset across DST changes.
  let guess = wallAsUtcMs - zoneOffsetMs(wallAsUtcMs, timeZone);
  guess = wallAsUtcMs - zoneOffsetMs(guess, timeZone);
  return guess;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Date.UTC without its two-digit-year rule: years 0–99 are those years, not
 * 1900–1999 (`0020-01-06` stays in the year 20).
 */
export function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = Date.UTC(y, mo, d, h, mi, s, ms);
  if (y < 0 || y > 99 || !Number.isFinite(t)) return t;
  const at = new Date(t);
  at.setUTCFullYear(at.getUTCFullYear() - 1900);
  return at.getTime();
}

/**
 * The earliest time a bar may have: no exchange published prices before
 * 1800, so an earlier date is a misread one (a two-digit year, say).
 */
export const EARLIEST_TS = Date.UTC(1800, 0, 1);

/** The most bars of one interval a fetch may span per symbol (1m: 694 days; 1s: 11.5 days). */
export const MAX_RANGE_BARS = 1_000_000;

/**
 * Why [from, to) is not a range to fetch or read, or null: the one check of
 * a range for the CLI and the API. With an interval (a fetch), the range
 * also starts no earlier than 1800 and spans at most MAX_RANGE_BARS bars of
 * an intraday interval. `message` completes "expected …".
 */
export function rangeProblem(
  from: number | undefined,
  to: number | undefined,
  interval?: Interval,
): { parameter: 'from' | 'to'; message: string } | null {
  if (from !== undefined && to !== undefined && from >= to) {
    return {
      parameter: 'from',
      message: `a time before to (from ${formatTs(from)} is not before to ${formatTs(to)})`,
    };
  }
  if (interval === undefined) return null;
  if (from !== undefined && from < EARLIEST_TS) {
    return {
      parameter: 'from',
      message: `a time from ${formatTs(EARLIEST_TS, '1d')} on (got ${formatTs(from, '1d')})`,
    };
  }
  if (from !== undefined && to !== undefined && !isDailyOrLonger(interval)) {
    const bars = (to - from) / intervalMs(interval);
    if (bars > MAX_RANGE_BARS) {
      const days = Math.floor((MAX_RANGE_BARS * intervalMs(interval)) / DAY_MS);
      return {
        parameter: 'to',
        message: `a range of at most ${MAX_RANGE_BARS} ${interval} bars (${days} days); this one spans ${Math.ceil(bars)}: split it`,
      };
    }
  }
  return null;
}

/**
 * Parses a CLI/API date: `YYYY-MM-DD` (00:00 UTC), a full ISO 8601 timestamp,
 * or epoch seconds. Returns NaN when it is none of these.
 */
/**
 * The one rule for times given to tickline, on the CLI and in the API alike:
 * a date (YYYY-MM-DD, UTC midnight), an ISO 8601 time (2024-01-02T14:30:00Z),
 * or epoch milliseconds (the unit of every ts tickline stores and answers).
 * Returns NaN for anything else; `timeArgProblem` says why.
 */
export function parseDateArg(value: string): number {
  const v = value.trim();
  const m = ISO_DATE.exec(v);
  if (m) {
    const ms = utcMs(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    const back = new Date(ms);
    if (back.getUTCDate() !== Number(m[3])) return Number.NaN;
    return ms;
  }
  if (/^-?\d{11,15}$/.test(v)) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) return Date.parse(v);
  return Number.NaN;
}

/** What a time argument was expected to be, with why this one is not (null when it reads). */
export function timeArgProblem(value: string): string | null {
  if (Number.isFinite(parseDateArg(value))) return null;
  const v = value.trim();
  const want = 'a date (YYYY-MM-DD), an ISO 8601 time or epoch milliseconds';
  return /^\d{9,10}$/.test(v)
    ? `${want}; "${v}" looks like epoch seconds (${v}000 in milliseconds)`
    : `${want}, not "${v}"`;
}

/** `2024-10-02` for daily stamps, full ISO otherwise. */
export function formatTs(ms: number, interval?: Interval): string {
  if (!Number.isFinite(ms)) return String(ms);
  const iso = new Date(ms).toISOString();
  return interval && isDailyOrLonger(interval) ? iso.slice(0, 10) : iso;
}

/**
 * The quality rules for bars. Each rule has a stable name (stored in the
 * quarantine table) and a message that names the values that broke it.
 */
import type { CandidateBar } from '../core/records.ts';
import { EARLIEST_TS, formatTs } from '../core/time.ts';

export const BAR_RULES = {
  missing_value: 'a price or the volume is missing (null or empty)',
  not_finite: 'a price or the volume is not a finite number',
  non_positive_price: 'open, high, low and close must be > 0',
  high_low_inconsistent: 'low ≤ min(open, close) and max(open, close) ≤ high must hold',
  negative_volume: 'volume must be ≥ 0',
  bad_timestamp: 'the timestamp could not be read',
  out_of_range: 'the timestamp is outside the requested range',
  future_timestamp: 'the timestamp is in the future',
  conflicting_duplicate: 'another record with the same symbol, interval and ts has other values',
  price_jump: 'close moved further from the previous close than the allowed band',
} as const;
export type BarRule = keyof typeof BAR_RULES;

export interface RuleViolation {
  rule: BarRule;
  message: string;
}

const PRICE_FIELDS = ['open', 'high', 'low', 'close'] as const;

/** Checks the rules that look at one record alone. Returns the first broken rule or null. */
export function checkBar(
  b: CandidateBar,
  range: { from: number; to: number; now: number; futureSkewMs: number },
): RuleViolation | null {
  const { open, high, low, close, volume } = b;
  // The common case (every value a positive finite number) takes one branch; the slow path
  // below finds which value broke which rule.
  if (
    open === null ||
    high === null ||
    low === null ||
    close === null ||
    volume === null ||
    !(open > 0 && open < Infinity) ||
    !(high > 0 && high < Infinity) ||
    !(low > 0 && low < Infinity) ||
    !(close > 0 && close < Infinity) ||
    !Number.isFinite(volume)
  ) {
    return firstBadValue(b);
  }
  if (b.adjClose !== null && !Number.isFinite(b.adjClose)) {
    return { rule: 'not_finite', message: `adjClose is ${b.adjClose}` };
  }
  if (low > Math.min(open, close) || Math.max(open, close) > high || low > high) {
    return {
      rule: 'high_low_inconsistent',
      message: `open ${open}, high ${high}, low ${low}, close ${close}: need low ≤ min(open, close) and max(open, close) ≤ high`,
    };
  }
  if (volume < 0) return { rule: 'negative_volume', message: `volume is ${volume}, must be ≥ 0` };
  if (!Number.isFinite(b.ts)) return { rule: 'bad_timestamp', message: 'timestamp is unreadable' };
  if (b.ts < EARLIEST_TS) {
    return {
      rule: 'bad_timestamp',
      message: `ts ${formatTs(b.ts, b.interval)} is before ${formatTs(EARLIEST_TS, '1d')}: no prices are that old (a two-digit year?)`,
    };
  }
  if (b.ts > range.now + range.futureSkewMs) {
    return {
      rule: 'future_timestamp',
      message: `ts ${formatTs(b.ts)} is after now (${formatTs(range.now)})`,
    };
  }
  if (b.ts < range.from || b.ts >= range.to) {
    return {
      rule: 'out_of_range',
      message: `ts ${formatTs(b.ts, b.interval)} is outside [${formatTs(range.from)}, ${formatTs(range.to)})`,
    };
  }
  return null;
}

const VALUE_FIELDS = [...PRICE_FIELDS, 'volume'] as const;

/** Which value of a bar is missing, not a number, or not positive. */
function firstBadValue(b: CandidateBar): RuleViolation {
  for (const f of VALUE_FIELDS) {
    if (b[f] === null) return { rule: 'missing_value', message: `${f} is missing` };
  }
  for (const f of VALUE_FIELDS) {
    const v = b[f] as number;
    if (!Number.isFinite(v)) return { rule: 'not_finite', message: `${f} is ${v}` };
  }
  for (const f of PRICE_FIELDS) {
    const v = b[f] as number;
    if (v <= 0) return { rule: 'non_positive_price', message: `${f} is ${v}, must be > 0` };
  }
  throw new Error('firstBadValue called on a valid bar');
}

/** True when two bars for the same key carry the same values. */
export function sameBarValues(a: CandidateBar, b: CandidateBar): boolean {
  return (
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume &&
    a.adjClose === b.adjClose
  );
}

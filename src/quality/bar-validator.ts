/**
 * Splits candidate bars into valid bars and quarantined records. One
 * validator lives for one input (a backfill of a symbol, an imported file), so
 * duplicates and price jumps are judged across all of that input's batches.
 */
import { type Bar, type CandidateBar, payloadText, type Quarantined } from '../core/records.ts';
import { BAR_RULES, type BarRule, checkBar, sameBarValues } from './bar-rules.ts';

export interface BarQualityOptions {
  /** Requested range [from, to); records outside go to `out_of_range`. */
  from: number;
  to: number;
  /** Allowed clock skew for future timestamps, ms (default 60 s). */
  futureSkewMs?: number;
  /**
   * Price-jump band: a close further than this fraction from the previous
   * close, on a log scale (|ln(close/prev)| > ln(1 + band)), is quarantined
   * as `price_jump`. 0 turns the rule off. Default 1 (a doubling or halving).
   */
  maxJump?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface ValidationResult {
  valid: Bar[];
  rejected: Quarantined[];
  /** Exact repeats of a record already accepted in this input (not stored twice). */
  duplicates: number;
}

export class BarValidator {
  readonly #opts: Required<Omit<BarQualityOptions, 'now'>> & { now: () => number };
  /** First accepted record per series, by ts. */
  readonly #seen = new Map<string, Map<number, CandidateBar>>();
  /** Last accepted close per symbol+interval, for the jump band. */
  readonly #lastClose = new Map<string, { ts: number; close: number }>();

  constructor(opts: BarQualityOptions) {
    this.#opts = {
      from: opts.from,
      to: opts.to,
      futureSkewMs: opts.futureSkewMs ?? 60_000,
      maxJump: opts.maxJump ?? 1,
      now: opts.now ?? Date.now,
    };
  }

  /** Seeds the previous close (from the store) for a series, so the first new bar is checked too. */
  seedPreviousClose(symbol: string, interval: string, ts: number, close: number): void {
    this.#lastClose.set(`${symbol}\u0000${interval}`, { ts, close });
  }

  validate(candidates: readonly CandidateBar[], receivedAt = Date.now()): ValidationResult {
    const now = this.#opts.now();
    const range = {
      from: this.#opts.from,
      to: this.#opts.to,
      now,
      futureSkewMs: this.#opts.futureSkewMs,
    };
    const rejected: Quarantined[] = [];
    const quarantine = (b: CandidateBar, rule: BarRule, message: string): void => {
      rejected.push({
        stage: 'validate',
        source: b.source,
        symbol: b.symbol,
        interval: b.interval,
        rule,
        message: `${b.symbol} ${b.interval}: ${message}`,
        payload: payloadText(b.payload),
        receivedAt,
      });
    };
    const passed: CandidateBar[] = [];
    for (const b of candidates) {
      const v = checkBar(b, range);
      if (v) quarantine(b, v.rule, v.message);
      else passed.push(b);
    }
    // Judge duplicates and jumps in time order; a stable sort keeps input order for equal keys.
    if (!isSorted(passed)) passed.sort(bySeriesThenTs);
    const valid: Bar[] = [];
    let duplicates = 0;
    const band = this.#opts.maxJump > 0 ? Math.log1p(this.#opts.maxJump) : Number.POSITIVE_INFINITY;
    let symbol = '';
    let interval = '';
    let seriesKey = '';
    let seen = new Map<number, CandidateBar>();
    for (const b of passed) {
      if (b.symbol !== symbol || b.interval !== interval || seriesKey === '') {
        symbol = b.symbol;
        interval = b.interval;
        seriesKey = `${symbol}\u0000${interval}`;
        let s = this.#seen.get(seriesKey);
        if (!s) {
          s = new Map();
          this.#seen.set(seriesKey, s);
        }
        seen = s;
      }
      const first = seen.get(b.ts);
      if (first) {
        if (sameBarValues(first, b)) duplicates++;
        else {
          quarantine(
            b,
            'conflicting_duplicate',
            `ts ${new Date(b.ts).toISOString()} was already read with close ${first.close}, this one has close ${b.close}; kept the first`,
          );
        }
        continue;
      }
      const prev = this.#lastClose.get(seriesKey);
      const close = b.close as number;
      if (prev && prev.ts < b.ts && Math.abs(Math.log(close / prev.close)) > band) {
        quarantine(
          b,
          'price_jump',
          `close ${close} vs previous close ${prev.close} (${((close / prev.close - 1) * 100).toFixed(1)}%) exceeds the ±${this.#opts.maxJump * 100}% band`,
        );
        continue;
      }
      seen.set(b.ts, b);
      if (!prev) this.#lastClose.set(seriesKey, { ts: b.ts, close });
      else if (prev.ts < b.ts) {
        prev.ts = b.ts;
        prev.close = close;
      }
      // Every value was checked above: the candidate itself is the valid bar (no copy).
      valid.push(b as Bar);
    }
    return { valid, rejected, duplicates };
  }
}

export { BAR_RULES };

function bySeriesThenTs(a: CandidateBar, b: CandidateBar): number {
  if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
  if (a.interval !== b.interval) return a.interval < b.interval ? -1 : 1;
  return a.ts - b.ts;
}

function isSorted(xs: readonly CandidateBar[]): boolean {
  for (let i = 1; i < xs.length; i++) if (bySeriesThenTs(xs[i - 1]!, xs[i]!) > 0) return false;
  return true;
}

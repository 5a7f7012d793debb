/**
 * The quality rules for trades. Rules that look at one trade alone come
 * first; then the ones that need the symbol's recent history: exact
 * duplicates (dropped and counted), lateness against the symbol's watermark,
 * and a band around the rolling median price.
 *
 * Rule names are stable (they are stored in `quarantine.rule`):
 * not_finite, non_positive_price, negative_size, bad_timestamp,
 * future_timestamp, unsubscribed_symbol, bad_symbol, oversized_field,
 * late_trade, price_outlier.
 */
import { MAX_CONDITIONS_LENGTH, symbolProblem } from '../core/limits.ts';
import type { CandidateTrade, Quarantined } from '../core/records.ts';
import { payloadText, tradeContentId } from '../core/records.ts';
import { TradeMemory } from './trade-memory.ts';

export const TRADE_RULES = [
  'not_finite',
  'non_positive_price',
  'negative_size',
  'bad_timestamp',
  'future_timestamp',
  'unsubscribed_symbol',
  'bad_symbol',
  'oversized_field',
  'late_trade',
  'price_outlier',
] as const;
export type TradeRule = (typeof TRADE_RULES)[number];

export interface TradeQualityOptions {
  /** Symbols that were subscribed; null accepts any symbol. */
  subscribed: ReadonlySet<string> | null;
  /** How far behind its symbol's newest trade a trade may be and still count. */
  allowedLatenessMs: number;
  /** Clock skew allowed for a trade stamped in the future. */
  futureSkewMs: number;
  /** Exact duplicates are recognised this far back in event time (at least the lateness). */
  dedupWindowMs: number;
  outlier: { window: number; band: number; minSamples: number };
  /** The wall clock, for the future rule (a test pins it). */
  now?: () => number;
}

export interface TradeVerdict {
  /** Trades that passed, in arrival order, with `tradeId` filled. */
  valid: CandidateTrade[];
  rejects: Quarantined[];
  /** Exact duplicates dropped. */
  duplicates: number;
}

/** Rolling median of the last `size` accepted prices: a ring plus a sorted copy. */
export class RollingMedian {
  readonly #ring: Float64Array;
  readonly #sorted: Float64Array;
  #count = 0;
  #next = 0;
  constructor(size: number) {
    this.#ring = new Float64Array(size);
    this.#sorted = new Float64Array(size);
  }
  get count(): number {
    return this.#count;
  }
  /** The prices in the ring, oldest first. */
  values(): number[] {
    const n = this.#count;
    const size = this.#ring.length;
    const start = n === size ? this.#next : 0;
    return Array.from({ length: n }, (_, i) => this.#ring[(start + i) % size]!);
  }
  median(): number {
    const n = this.#count;
    const s = this.#sorted;
    return n % 2 ? s[n >> 1]! : (s[(n >> 1) - 1]! + s[n >> 1]!) / 2;
  }
  push(x: number): void {
    const s = this.#sorted;
    const n = this.#count;
    if (n === this.#ring.length) {
      // Full: the oldest price's slot takes the new one, which slides to its sorted place.
      let i = lowerBound(s, n, this.#ring[this.#next]!);
      if (x > s[i]!) {
        for (; i + 1 < n && s[i + 1]! < x; i++) s[i] = s[i + 1]!;
      } else {
        for (; i > 0 && s[i - 1]! > x; i--) s[i] = s[i - 1]!;
      }
      s[i] = x;
    } else {
      let i = n;
      for (; i > 0 && s[i - 1]! > x; i--) s[i] = s[i - 1]!;
      s[i] = x;
      this.#count++;
    }
    this.#ring[this.#next] = x;
    this.#next = (this.#next + 1) % this.#ring.length;
  }
}

function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface SymbolState {
  maxTs: number;
  median: RollingMedian;
  /** Accepted trades within the duplicate window, for the exact-duplicate rule. */
  seen: TradeMemory;
  evictedTo: number;
}

/** What a TradeValidator remembers, as plain JSON (a checkpoint of the live path). */
export interface TradeValidatorState {
  conditions: string[];
  symbols: {
    symbol: string;
    maxTs: number;
    prices: number[];
    /** [ts, price, size, conditionCode, …] of remembered accepted trades. */
    seen: number[];
    evictedTo: number | null;
  }[];
}

/** Validates trades per symbol, keeping the little state the rules need. */
export class TradeValidator {
  readonly #opts: TradeQualityOptions;
  readonly #now: () => number;
  readonly #symbols = new Map<string, SymbolState>();
  /** Codes of the condition strings seen, for the duplicate memory. */
  readonly #conditions = new Map<string, number>();

  constructor(opts: TradeQualityOptions) {
    this.#opts = { ...opts, dedupWindowMs: Math.max(opts.dedupWindowMs, opts.allowedLatenessMs) };
    this.#now = opts.now ?? Date.now;
  }

  /** The watermark of a symbol: its newest accepted ts minus the allowed lateness. */
  watermark(symbol: string): number {
    const s = this.#symbols.get(symbol);
    return s ? s.maxTs - this.#opts.allowedLatenessMs : -Infinity;
  }

  snapshot(): TradeValidatorState {
    return {
      conditions: [...this.#conditions.keys()],
      symbols: [...this.#symbols].map(([symbol, s]) => {
        return {
          symbol,
          maxTs: s.maxTs,
          prices: s.median.values(),
          seen: s.seen.flat(),
          evictedTo: Number.isFinite(s.evictedTo) ? s.evictedTo : null,
        };
      }),
    };
  }

  /** Takes over a snapshot's memory (replacing what this validator remembered). */
  restore(state: TradeValidatorState): void {
    this.#conditions.clear();
    for (const c of state.conditions) this.#conditions.set(c, this.#conditions.size);
    this.#symbols.clear();
    for (const x of state.symbols) {
      const median = new RollingMedian(this.#opts.outlier.window);
      for (const p of x.prices) median.push(p);
      const seen = new TradeMemory(x.seen.length / 4);
      for (let i = 0; i < x.seen.length; i += 4) {
        seen.add(x.seen[i]!, x.seen[i + 1]!, x.seen[i + 2]!, x.seen[i + 3]!);
      }
      this.#symbols.set(x.symbol, {
        maxTs: x.maxTs,
        median,
        seen,
        evictedTo: x.evictedTo ?? -Infinity,
      });
    }
  }

  validate(batch: readonly CandidateTrade[]): TradeVerdict {
    const valid: CandidateTrade[] = [];
    const rejects: Quarantined[] = [];
    let duplicates = 0;
    const now = this.#now();
    const o = this.#opts;
    const reject = (t: CandidateTrade, rule: TradeRule, message: string): void => {
      rejects.push({
        stage: 'validate',
        source: t.source,
        // A symbol that breaks the grammar is not one: it stays in the payload only.
        symbol: rule === 'bad_symbol' ? null : t.symbol || null,
        rule,
        message,
        payload: payloadText(t.payload),
        receivedAt: t.receivedAt,
      });
    };
    const latest = now + o.futureSkewMs;
    // Trades come in runs of one symbol (the log carries chunks) and mostly one conditions
    // string: the symbol's checks and state, and the conditions' code, are looked up once a run.
    let runSymbol: string | undefined;
    let named: Broken = null;
    let subscribed = true;
    let s: SymbolState | undefined;
    let runConditions: string | undefined;
    let cond = 0;
    for (const t of batch) {
      // The numbers' rules, passed at once by a trade that breaks none (most).
      const { price, size, ts } = t;
      if (
        !(
          price > 0 &&
          price < Infinity &&
          size >= 0 &&
          size < Infinity &&
          ts > 0 &&
          ts <= latest &&
          Number.isSafeInteger(ts)
        )
      ) {
        const numbers = checkTradeNumbers(t, latest);
        if (numbers) {
          reject(t, numbers.rule, numbers.message);
          continue;
        }
      }
      if (t.symbol !== runSymbol) {
        runSymbol = t.symbol;
        named = checkTradeSymbol(t);
        subscribed = named !== null || !o.subscribed || o.subscribed.has(t.symbol);
        s = undefined;
      }
      const broken = named ?? checkTradeFields(t);
      if (broken) {
        reject(t, broken.rule, broken.message);
        continue;
      }
      if (!subscribed) {
        reject(t, 'unsubscribed_symbol', `${t.symbol} was not subscribed`);
        continue;
      }
      if (s === undefined) {
        s = this.#symbols.get(t.symbol);
        if (!s) {
          s = {
            maxTs: -Infinity,
            median: new RollingMedian(o.outlier.window),
            seen: new TradeMemory(),
            evictedTo: -Infinity,
          };
          this.#symbols.set(t.symbol, s);
        }
      }
      if (t.conditions !== runConditions) {
        let c = this.#conditions.get(t.conditions);
        if (c === undefined) {
          c = this.#conditions.size;
          this.#conditions.set(t.conditions, c);
        }
        runConditions = t.conditions;
        cond = c;
      }
      if (s.seen.has(t.ts, t.price, t.size, cond)) {
        duplicates++;
        continue;
      }
      if (t.ts < s.maxTs - o.allowedLatenessMs) {
        reject(
          t,
          'late_trade',
          `ts ${new Date(t.ts).toISOString()} is ${s.maxTs - t.ts} ms behind the newest ${t.symbol} trade; allowed lateness is ${o.allowedLatenessMs} ms`,
        );
        continue;
      }
      if (s.median.count >= o.outlier.minSamples) {
        const m = s.median.median();
        if (Math.abs(t.price - m) > o.outlier.band * m) {
          reject(
            t,
            'price_outlier',
            `price ${t.price} is outside ±${o.outlier.band * 100}% of the rolling median ${m}`,
          );
          continue;
        }
      }
      if (t.tradeId === '') t.tradeId = tradeContentId(t.ts, t.price, t.size, t.conditions);
      s.median.push(t.price);
      s.seen.add(t.ts, t.price, t.size, cond);
      // The provider's record is only needed if the trade is rejected; let it go now.
      t.payload = '';
      if (t.ts > s.maxTs) {
        s.maxTs = t.ts;
        if (t.ts - o.dedupWindowMs > s.evictedTo + 1_000) {
          s.evictedTo = t.ts - o.dedupWindowMs;
          s.seen.evictBefore(s.evictedTo);
        }
      }
      valid.push(t);
    }
    return { valid, rejects, duplicates };
  }
}

type Broken = { rule: TradeRule; message: string } | null;

/** The rules that look at one trade alone; the first broken one, or null. */
export function checkTrade(t: CandidateTrade, latestAllowedTs: number): Broken {
  return checkTradeNumbers(t, latestAllowedTs) ?? checkTradeSymbol(t) ?? checkTradeFields(t);
}

/** The single-trade rules on its numbers: price, size and timestamp. */
function checkTradeNumbers(t: CandidateTrade, latestAllowedTs: number): Broken {
  if (!Number.isFinite(t.price)) return { rule: 'not_finite', message: `price is ${t.price}` };
  if (t.price <= 0) {
    return { rule: 'non_positive_price', message: `price is ${t.price}, must be > 0` };
  }
  if (!Number.isFinite(t.size)) return { rule: 'not_finite', message: `size is ${t.size}` };
  if (t.size < 0) return { rule: 'negative_size', message: `size is ${t.size}, must be ≥ 0` };
  if (!Number.isSafeInteger(t.ts) || t.ts <= 0) {
    return { rule: 'bad_timestamp', message: `timestamp ${t.ts} is not epoch milliseconds` };
  }
  if (t.ts > latestAllowedTs) {
    return {
      rule: 'future_timestamp',
      message: `ts ${new Date(t.ts).toISOString()} is in the future beyond the allowed clock skew`,
    };
  }
  return null;
}

/** The single-trade rules on its symbol (the same for every trade of a symbol). */
function checkTradeSymbol(t: CandidateTrade): Broken {
  if (t.symbol === '') return { rule: 'unsubscribed_symbol', message: 'symbol is missing' };
  const bad = symbolProblem(t.symbol);
  if (bad) return { rule: 'bad_symbol', message: bad };
  return null;
}

/** The single-trade rules on its other fields. */
function checkTradeFields(t: CandidateTrade): Broken {
  if (t.conditions.length > MAX_CONDITIONS_LENGTH) {
    return {
      rule: 'oversized_field',
      message: `conditions of ${t.conditions.length} chars; at most ${MAX_CONDITIONS_LENGTH}`,
    };
  }
  return null;
}

/**
 * Canonical records: one definition each. The zod schemas are the source of
 * truth for the API and config; hot paths use the plain interfaces.
 */
import { z } from 'zod';
import { INTERVALS, type Interval } from './time.ts';

export const IntervalSchema = z.enum(INTERVALS);

export const BarSchema = z.object({
  symbol: z.string().min(1),
  interval: IntervalSchema,
  /** Bucket start, UTC epoch ms. Daily and longer bars: the trading date at 00:00 UTC. */
  ts: z.number().int(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  volume: z.number(),
  adjClose: z.number().nullable(),
  source: z.string(),
});

/** A validated OHLCV bar, as stored in the staging layer (`bars`). */
export interface Bar {
  symbol: string;
  interval: Interval;
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  adjClose: number | null;
  source: string;
  /** Volume-weighted average price; bars built from trades only. */
  vwap?: number | null;
  /** Trades in the bar; bars built from trades only. */
  tradeCount?: number | null;
  /** True for bars fetched to fill a gap in a live feed (after a reconnect). */
  backfilled?: boolean;
}

export const TradeSchema = z.object({
  symbol: z.string().min(1),
  /** Event time, UTC epoch ms. */
  ts: z.number().int(),
  price: z.number(),
  size: z.number(),
  /** Trade condition codes as the provider sent them, joined by ','; '' when none. */
  conditions: z.string(),
  /** The provider's trade id, or a content hash when it sends none. */
  tradeId: z.string(),
  source: z.string(),
});

/** One executed trade, as stored in `trades`. Natural key: (symbol, ts, tradeId). */
export type Trade = z.infer<typeof TradeSchema>;

/**
 * A trade as a live source parsed it, before validation. `payload` is the
 * provider's record, untouched (one element of a Finnhub `data` array).
 */
export interface CandidateTrade {
  symbol: string;
  ts: number;
  price: number;
  size: number;
  conditions: string;
  /** The provider's id; '' when it sends none (the validator fills a content hash). */
  tradeId: string;
  source: string;
  payload: string;
  /** When tickline received it, epoch ms (for lag and latency). */
  receivedAt: number;
}

/**
 * A bar as a source produced it, before validation: any field may be missing
 * (null) or not a number, and `payload` keeps what the provider sent for it.
 */
export interface CandidateBar {
  symbol: string;
  interval: Interval;
  ts: number;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
  adjClose: number | null;
  source: string;
  /**
   * The raw record, untouched (a CSV line, or the values at one index of a
   * JSON response). Lazy when building the text costs more than the record
   * itself: it is only built for a record that goes to quarantine.
   */
  payload: string | LazyPayload;
}

/** A payload whose text is built only when it is needed. */
export interface LazyPayload {
  text(): string;
}

/** The text of a candidate's payload. */
export function payloadText(p: CandidateBar['payload']): string {
  return typeof p === 'string' ? p : p.text();
}

export const QUARANTINE_STAGES = ['parse', 'validate', 'decode'] as const;
export type QuarantineStage = (typeof QUARANTINE_STAGES)[number];

/** A record that broke a rule, kept with its raw payload. */
export interface Quarantined {
  stage: QuarantineStage;
  source: string;
  symbol: string | null;
  rule: string;
  message: string;
  payload: string;
  receivedAt: number;
}

export const CORPORATE_ACTION_KINDS = ['split', 'dividend', 'capital_gain'] as const;
export type CorporateActionKind = (typeof CORPORATE_ACTION_KINDS)[number];

/** A split (value = new shares per old share), dividend or capital gain (value = amount per share). */
export interface CorporateAction {
  symbol: string;
  ts: number;
  kind: CorporateActionKind;
  value: number;
  source: string;
}

/** The instrument dimension. */
export interface Instrument {
  symbol: string;
  name: string | null;
  exchange: string | null;
  currency: string | null;
  timezone: string | null;
}

/** One response exactly as the provider sent it: the raw layer. */
export interface RawResponse {
  source: string;
  /** What was asked for (URL without secrets, or a file path). */
  request: string;
  receivedAt: number;
  status: number;
  body: string;
}

/**
 * A content id for a trade the provider sent without one: 64 bits of
 * FNV-1a over (ts, price, size, conditions), as 16 hex digits. Two trades of
 * one symbol with this id equal are the same trade.
 */
export function tradeContentId(
  ts: number,
  price: number,
  size: number,
  conditions: string,
): string {
  const text = `${ts}|${price}|${size}|${conditions}`;
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x100001b3) ^ (h1 >>> 15);
  }
  return `${(h1 >>> 0).toString(16).padStart(8, '0')}${(h2 >>> 0).toString(16).padStart(8, '0')}`;
}

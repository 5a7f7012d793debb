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

export const QUARANTINE_STAGES = ['parse', 'validate'] as const;
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

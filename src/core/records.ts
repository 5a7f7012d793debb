/**
 * Canonical records: one definition each. The zod schemas are the source of
 * truth for the API and config; hot paths use the plain interfaces.
 */
import { z } from 'zod';
import { capPayload } from './limits.ts';
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
  /** Built only for a trade that goes to quarantine. */
  payload: string | LazyPayload;
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

/**
 * The text of a candidate's payload, for the quarantine: never throws (a
 * payload that cannot be written as text says why instead) and is cut to
 * MAX_PAYLOAD_CHARS (saying so).
 */
export function payloadText(p: CandidateBar['payload']): string {
  try {
    if (typeof p === 'string') return capPayload(p);
    // A payload that crossed a log as something else (it should not) is kept as JSON, never lost.
    return capPayload(typeof p?.text === 'function' ? p.text() : JSON.stringify(p ?? null));
  } catch (err) {
    return `[payload not kept: ${err instanceof Error ? err.message : String(err)}]`;
  }
}

/**
 * Where a record was quarantined: `parse` (the source could not read it),
 * `validate` (a quality rule), `decode` (a log consumer could not decode
 * it), `process` and `store` (the stage failed on it every time: rule
 * `unprocessable_record`).
 */
export const QUARANTINE_STAGES = ['parse', 'validate', 'decode', 'process', 'store'] as const;
export type QuarantineStage = (typeof QUARANTINE_STAGES)[number];

/**
 * The records the live path moves through its log, as schemas: Kafka's Avro
 * encoding is generated from these (src/log/kafka/avro-codec.ts).
 */
export const CandidateTradeSchema = z.object({
  symbol: z.string(),
  /** As parsed: may be fractional or NaN (the bad_timestamp rule catches it). */
  ts: z.number(),
  price: z.number(),
  size: z.number(),
  conditions: z.string(),
  tradeId: z.string(),
  source: z.string(),
  /** The provider's record, untouched. */
  payload: z.string(),
  receivedAt: z.number().int(),
});

export const QuarantinedSchema = z.object({
  stage: z.enum(QUARANTINE_STAGES),
  source: z.string(),
  symbol: z.string().nullable(),
  /** The bar interval the record was meant for; absent for trades (and quarantined before it was kept). */
  interval: IntervalSchema.nullable().optional(),
  rule: z.string(),
  message: z.string(),
  payload: z.string(),
  receivedAt: z.number().int(),
});

/** A bar as the live path moves it: the staging bar plus what trades add. */
export const LiveBarSchema = BarSchema.extend({
  vwap: z.number().nullable().optional(),
  tradeCount: z.number().int().nullable().optional(),
  backfilled: z.boolean().optional(),
});

export const RawResponseSchema = z.object({
  source: z.string(),
  request: z.string(),
  receivedAt: z.number().int(),
  status: z.number().int(),
  body: z.string(),
  dataFrom: z.number().int().nullable().optional(),
});

/** A record that broke a rule, kept with its raw payload. */
export interface Quarantined {
  stage: QuarantineStage;
  source: string;
  symbol: string | null;
  /** The bar interval the record was meant for (bars only). */
  interval?: Interval | null;
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
  /**
   * The time of the first bar or action it holds (epoch ms), when known: the
   * lake partitions raw responses by the data's year, not the year received.
   */
  dataFrom?: number | null;
}

const idF64 = new Float64Array(1);
const idU32 = new Uint32Array(idF64.buffer);
/** Char codes of the 16 lowercase hex digits. */
const HEX_CODE = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** One round of a 32-bit multiply-rotate mix. */
function mix(h: number, x: number, m: number): number {
  const y = Math.imul(h ^ x, m);
  return (y << 13) | (y >>> 19);
}

/**
 * Two 32-bit words as 16 lowercase hex digits, built as one flat string (a
 * concatenation would make a rope that every later read of it must flatten).
 */
function hex64(a: number, b: number): string {
  const d = HEX_CODE;
  return String.fromCharCode(
    d[a >>> 28]!,
    d[(a >>> 24) & 15]!,
    d[(a >>> 20) & 15]!,
    d[(a >>> 16) & 15]!,
    d[(a >>> 12) & 15]!,
    d[(a >>> 8) & 15]!,
    d[(a >>> 4) & 15]!,
    d[a & 15]!,
    d[b >>> 28]!,
    d[(b >>> 24) & 15]!,
    d[(b >>> 20) & 15]!,
    d[(b >>> 16) & 15]!,
    d[(b >>> 12) & 15]!,
    d[(b >>> 8) & 15]!,
    d[(b >>> 4) & 15]!,
    d[b & 15]!,
  );
}

/**
 * A content id for a trade the provider sent without one: 64 bits (two
 * independent 32-bit lanes) mixed from the IEEE-754 bits of ts, price and
 * size and the code units of the conditions, as 16 hex digits. It is stable
 * across processes and versions (it is part of the stored key): two trades
 * of one symbol with equal ids are the same trade.
 */
export function tradeContentId(
  ts: number,
  price: number,
  size: number,
  conditions: string,
): string {
  const A = 0x9e3779b1;
  const B = 0x85ebca77;
  let a = 0x811c9dc5;
  let b = 0x2545f491;
  idF64[0] = ts;
  a = mix(mix(a, idU32[0]!, A), idU32[1]!, A);
  b = mix(mix(b, idU32[1]!, B), idU32[0]!, B);
  idF64[0] = price;
  a = mix(mix(a, idU32[0]!, A), idU32[1]!, A);
  b = mix(mix(b, idU32[1]!, B), idU32[0]!, B);
  idF64[0] = size;
  a = mix(mix(a, idU32[0]!, A), idU32[1]!, A);
  b = mix(mix(b, idU32[1]!, B), idU32[0]!, B);
  for (let i = 0; i < conditions.length; i++) {
    const c = conditions.charCodeAt(i);
    a = mix(a, c, A);
    b = mix(b, c, B);
  }
  return hex64(fmix(a ^ conditions.length), fmix(b));
}

/** murmur3's final avalanche, so nearby inputs differ in every digit. */
function fmix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Any record as text for the quarantine, its lazy payloads written out; never throws. */
export function recordText(record: unknown): string {
  return payloadText({
    text: () =>
      JSON.stringify(record, (_k, v: unknown) =>
        v && typeof (v as LazyPayload).text === 'function' && !Array.isArray(v)
          ? payloadText(v as LazyPayload)
          : v,
      ) ?? String(record),
  });
}

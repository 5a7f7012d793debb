import type {
  Bar,
  CandidateBar,
  CandidateTrade,
  CorporateAction,
  Instrument,
  Quarantined,
  RawResponse,
} from '../core/records.ts';
import type { Interval } from '../core/time.ts';

/** What to fetch: one symbol, one interval, a half-open UTC range [from, to). */
export interface HistoryRequest {
  symbol: string;
  interval: Interval;
  from: number;
  to: number;
}

/**
 * One unit of work a source hands over: the raw response it came from, the
 * candidate bars it parsed, and anything it could not even parse.
 */
export interface RawBatch {
  raw: RawResponse | null;
  bars: CandidateBar[];
  /** Records that failed before validation (broken CSV line, non-JSON body, empty body). */
  rejects: Quarantined[];
  actions: CorporateAction[];
  instrument: Instrument | null;
}

/**
 * A provider of historical bars.
 *
 * `history` yields batches in time order; a provider error for the symbol is
 * thrown as a `SourceError` after any batches already yielded.
 */
export interface Source {
  /** Short provider name, stored as `source` on every record. */
  readonly name: string;
  /** Intervals this provider can serve. */
  readonly intervals: readonly Interval[];
  /** Streams the bars of one request; honours `signal` between requests. */
  history(req: HistoryRequest, opts?: { signal?: AbortSignal }): AsyncIterable<RawBatch>;
}

export function emptyBatch(): RawBatch {
  return { raw: null, bars: [], rejects: [], actions: [], instrument: null };
}

/** What a live source reports besides records. */
export type LiveEvent =
  | { kind: 'connected'; at: number; attempt: number }
  | {
      kind: 'disconnected';
      at: number;
      reason: string;
      /** The pause before the next connection attempt (none after a stop). */
      retryInMs?: number;
    }
  | { kind: 'stale'; at: number; silentMs: number }
  | { kind: 'error'; at: number; message: string }
  | { kind: 'gap_filled'; at: number; symbol: string; from: number; to: number; bars: number }
  /** No subscribed symbol's market is open: nothing is expected until `nextOpen`. */
  | { kind: 'market_closed'; at: number; nextOpen: number | null };

/**
 * One unit a live source hands over: the text messages as they arrived,
 * the trades parsed from them, what could not be parsed, and (after a
 * reconnect) bars that fill the gap, marked `backfilled`.
 */
export interface LiveBatch {
  messages: { text: string; receivedAt: number }[];
  trades: CandidateTrade[];
  rejects: Quarantined[];
  bars: Bar[];
  raw: RawResponse[];
  events: LiveEvent[];
}

export function emptyLiveBatch(): LiveBatch {
  return { messages: [], trades: [], rejects: [], bars: [], raw: [], events: [] };
}

/**
 * A provider of live trades. `live` runs until `signal` aborts (or a finite
 * source ends), then yields what it had already received and returns.
 */
export interface LiveSource {
  /** Short provider name, stored as `source` on every record. */
  readonly name: string;
  live(symbols: readonly string[], opts?: { signal?: AbortSignal }): AsyncIterable<LiveBatch>;
  /**
   * How to make this source on a worker thread, if it can run on one (null or absent: it
   * cannot, or should not): the live path then reads it and validates and aggregates its
   * trades there (see src/pipelines/process-thread.ts).
   */
  onThread?(): ThreadSpec | null;
}

/** A source made again on another thread: `new (await import(module))[exportName](options)`. */
export interface ThreadSpec {
  module: string;
  exportName: string;
  options: unknown;
}

import type {
  CandidateBar,
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

/** What the API's handlers work with. */
import type { Config } from '../core/config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { PipelineService } from '../pipelines/pipeline-service.ts';
import type { StreamPipeline } from '../pipelines/stream.ts';
import type { Store } from '../store/store.ts';
import type { KeyChecker } from './auth.ts';
import type { AuthFailures } from './guard.ts';
import type { Sessions } from './sessions.ts';

export interface LiveHandle {
  pipeline: StreamPipeline;
  logKind: string;
  /** Valid trades per second over the last few seconds. */
  rate(): number;
  /** The feed's state, as its source last reported it. */
  feed?(): FeedState;
}

/** What the live source said last: for the status line and the home page. */
export interface FeedState {
  source: string;
  state: 'starting' | 'live' | 'reconnecting' | 'stale' | 'market_closed' | 'error';
  /** When it came to this state. */
  since: number;
  /** The reason, the next open, or the error. */
  detail: string | null;
}

export interface ApiContext {
  store: Store;
  cfg: Config;
  metrics: Metrics;
  /** The running live path, or null (none, or not started yet). */
  readonly live: LiveHandle | null;
  startedAt: number;
  /** Pipelines, runs and alerts (POST /api/backfill is a run too). */
  pipelines: PipelineService;
  keys: KeyChecker;
  /** Dashboard sessions (sign-in with a key). */
  sessions: Sessions;
  /** Failed authentications per address (sign-in counts too). */
  failures: AuthFailures;
  /** Whether reads need a key (a non-loopback bind). */
  requireKeyForReads: boolean;
}

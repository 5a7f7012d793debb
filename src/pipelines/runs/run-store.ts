/**
 * Where pipeline runs, task attempts, their logs, schedule ticks and alerts
 * are kept: a small interface of its own, beside (not inside) the bar Store.
 * DuckDB (runs.duckdb in the data folder) when embedded; PostgreSQL when a
 * leader and workers share the queue.
 *
 * A run is a record plus its attempts: every attempt of every task
 * partition is a row of its own, never rewritten once it ended, so the
 * state of a partition is the state of its latest attempt and a crash never
 * leaves a state nobody can explain.
 */

export type Trigger = 'schedule' | 'manual' | 'retry' | 'catch-up' | 'backfill';
export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/**
 * queued: waiting for a slot (first attempt); retrying: a retry waiting for its
 * time; running; succeeded; failed; skipped (an upstream task failed);
 * cancelled.
 */
export type AttemptState =
  | 'queued'
  | 'retrying'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export const ENDED_ATTEMPT: readonly AttemptState[] = [
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
];
export const WAITING_ATTEMPT: readonly AttemptState[] = ['queued', 'retrying'];

export interface RunRecord {
  id: string;
  pipeline: string;
  trigger: Trigger;
  state: RunState;
  /** The schedule time this run is for (manual runs: when asked). */
  scheduledFor: number;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Resolved parameters: the bar range of relative tasks, the pipeline's spec as it was. */
  params: RunParams;
  rows: number;
  rejects: number;
  error: string | null;
}

export interface RunParams {
  /** The pipeline's tasks as they were when the run was made (JSON of the spec). */
  spec: unknown;
  /** Per task, the partitions it fans out to (backfill: symbols; import: files). */
  partitions: Record<string, string[]>;
  /** Per task, the bar range it covers, epoch ms [from, to). */
  ranges: Record<string, { from: number; to: number }>;
}

export interface AttemptRecord {
  id: string;
  runId: string;
  pipeline: string;
  task: string;
  /** '' for a task that does not fan out. */
  partition: string;
  attempt: number;
  trigger: Trigger;
  state: AttemptState;
  /** Not started before this time (a retry's backoff). */
  dueAt: number;
  startedAt: number | null;
  endedAt: number | null;
  rows: number;
  rejects: number;
  error: string | null;
  /** The process running it (host:pid). */
  owner: string | null;
  heartbeatAt: number | null;
  /** Order of ending (set when the attempt ends). */
  endSeq: number | null;
  /** A failed attempt that is to be retried: when the retry is due (null: final). */
  retryAt: number | null;
}

export type NewAttempt = Pick<
  AttemptRecord,
  'runId' | 'pipeline' | 'task' | 'partition' | 'attempt' | 'trigger' | 'state' | 'dueAt'
> &
  Partial<Pick<AttemptRecord, 'error' | 'endedAt'>>;

export interface AttemptResult {
  state: 'succeeded' | 'failed' | 'cancelled';
  endedAt: number;
  rows: number;
  rejects: number;
  error: string | null;
  /** For a failure the retry policy retries: when the next attempt is due. */
  retryAt: number | null;
}

export interface LogLine {
  runId: string;
  task: string;
  partition: string;
  attempt: number;
  ts: number;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface TickRecord {
  pipeline: string;
  scheduledFor: number;
  evaluatedAt: number;
  /** started, queued, skipped. */
  outcome: string;
  /** Why it was skipped (exchange closed, a run already active). */
  reason: string | null;
  runId: string | null;
}

/** One admin action, for the audit log: who (a key id, or `cli:<user>`), what, when, how it ended. */
export interface AuditEntry {
  id: string;
  at: number;
  /** `key:<id>` over the API (a key or a session signed in with it), `cli:<os user>` from the CLI. */
  actor: string;
  /** e.g. keys.create, keys.revoke, quarantine.replay, pipelines.run, runs.retry, runs.cancel, backfill. */
  action: string;
  /** What it acted on: a key id, a run id, a pipeline, a quarantined record. */
  target: string | null;
  outcome: 'ok' | 'failed';
  /** The status and error of a failed action, or what a successful one did. */
  detail: string | null;
}

export interface AlertRecord {
  id: string;
  /** What fired: run_failed, feed_stale, … */
  rule: string;
  /** What it is about (a run id, a feed, a series): one alert per rule and key at a time. */
  key: string;
  state: 'firing' | 'resolved';
  channel: string;
  /** sent, failed (with the error), suppressed (within the repeat interval). */
  outcome: string;
  subject: string;
  body: string;
  at: number;
  error: string | null;
}

export interface RunQuery {
  pipeline?: string;
  state?: RunState;
  limit?: number;
}

export interface ClaimLimits {
  /** At most this many attempts. */
  limit: number;
  /** Per pipeline, how many of its attempts may run at once (over every worker). */
  perPipeline: Record<string, number>;
}

export interface RunStore {
  readonly kind: string;
  /** Stores a new run (state queued). */
  createRun(run: RunRecord): Promise<void>;
  /** Sets a run's state (and its end time, counts and error when it ends); false when it was already ended. */
  setRunState(
    id: string,
    state: RunState,
    at: number,
    extra?: { rows?: number; rejects?: number; error?: string | null },
  ): Promise<boolean>;
  getRun(id: string): Promise<RunRecord | null>;
  /** Newest first. */
  listRuns(q: RunQuery): Promise<RunRecord[]>;
  /** Runs not ended (queued or running), oldest first. */
  activeRuns(): Promise<RunRecord[]>;
  /**
   * Adds attempts; one that exists already (same run, task, partition and
   * attempt) is left as it is, so two processes adding the same are harmless.
   */
  addAttempts(attempts: NewAttempt[]): Promise<void>;
  /** Every attempt of a run, in (task, partition, attempt) order. */
  attempts(runId: string): Promise<AttemptRecord[]>;
  /**
   * Marks up to `limits.limit` waiting attempts that are due as running by
   * `owner`, honouring the per-pipeline limits, and returns them. Two
   * claimers never get the same attempt.
   */
  claim(owner: string, now: number, limits: ClaimLimits): Promise<AttemptRecord[]>;
  /**
   * Ends running attempts, in one write; returns the ids that were running
   * (one that was not — cancelled, or taken as lost — is left as it is).
   */
  finishAttempts(list: readonly { id: string; result: AttemptResult }[]): Promise<string[]>;
  /** Ends waiting attempts of a run (skipped or cancelled) with a reason. */
  endWaiting(
    runId: string,
    state: 'skipped' | 'cancelled',
    at: number,
    reason: string,
  ): Promise<number>;
  /** Refreshes running attempts' heartbeats. */
  heartbeat(ids: readonly string[], at: number): Promise<void>;
  /**
   * Fails running attempts whose heartbeat is older than `staleBefore`: their
   * process died. They are marked for a retry at once (the policy decides).
   */
  failLost(staleBefore: number, at: number, reason: string): Promise<AttemptRecord[]>;
  /** Attempts that ended after `seq`, in end order (how a leader learns what workers did). */
  endedSince(seq: number, limit: number): Promise<AttemptRecord[]>;
  /** The highest end order so far. */
  lastEndSeq(): Promise<number>;
  appendLogs(lines: readonly LogLine[]): Promise<void>;
  logs(runId: string, opts?: { task?: string; limit?: number }): Promise<LogLine[]>;
  recordTick(t: TickRecord): Promise<void>;
  /** The newest tick of a pipeline. */
  lastTick(pipeline: string): Promise<TickRecord | null>;
  recordAlert(a: AlertRecord): Promise<void>;
  /** Newest first. */
  listAlerts(opts?: { limit?: number }): Promise<AlertRecord[]>;
  /** Appends to the audit log (kept when runs are pruned). */
  recordAudit(e: AuditEntry): Promise<void>;
  /** Newest first; `action` filters by action. */
  listAudit(opts?: { limit?: number; action?: string }): Promise<AuditEntry[]>;
  /** Files an import task has taken, by content hash. */
  importedFiles(pipeline: string, task: string): Promise<Set<string>>;
  markImported(
    pipeline: string,
    task: string,
    file: string,
    hash: string,
    at: number,
  ): Promise<void>;
  /** Bars a provider could not give when a repair asked (symbol, interval, ts → reason). */
  unfillable(): Promise<{ symbol: string; interval: string; ts: number; reason: string }[]>;
  markUnfillable(
    rows: readonly { symbol: string; interval: string; ts: number; reason: string }[],
    at: number,
  ): Promise<void>;
  /** Task attempts waiting for a worker (queued, or retries that are due). */
  waiting(now: number): Promise<number>;
  /**
   * A lease (a shared run history elects one leader with it): takes or renews
   * `name` for `owner` for `ttlMs`; true while `owner` holds it. Absent where
   * one process owns the history (embedded).
   */
  acquireLease?(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease?(name: string, owner: string): Promise<void>;
  /** Removes runs (attempts, logs), ticks and alerts that ended before `before`. Returns runs removed. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

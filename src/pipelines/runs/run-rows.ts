/** Rows of the run tables as records (shared by the DuckDB and PostgreSQL run stores). */
import { createHash } from 'node:crypto';
import type {
  AlertRecord,
  AttemptRecord,
  AttemptResult,
  AttemptState,
  AuditEntry,
  ClaimLimits,
  LogLine,
  NewAttempt,
  RunParams,
  RunRecord,
  RunState,
  TickRecord,
  Trigger,
} from './run-store.ts';

const num = (v: unknown): number => Number(v);
const opt = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** An attempt's id: the same (run, task, partition, attempt) always gets the same id. */
export function attemptId(runId: string, task: string, partition: string, attempt: number): string {
  return createHash('sha256')
    .update(`${runId}\u0000${task}\u0000${partition}\u0000${attempt}`)
    .digest('hex')
    .slice(0, 24);
}

export function rowToRun(r: Record<string, unknown>): RunRecord {
  return {
    id: String(r.id),
    pipeline: String(r.pipeline),
    trigger: r.trigger as Trigger,
    state: r.state as RunState,
    scheduledFor: num(r.scheduled_for),
    createdAt: num(r.created_at),
    startedAt: opt(r.started_at),
    endedAt: opt(r.ended_at),
    params: (typeof r.params === 'string' ? JSON.parse(r.params) : r.params) as RunParams,
    rows: num(r.rows),
    rejects: num(r.rejects),
    error: str(r.error),
  };
}

export function rowToAttempt(r: Record<string, unknown>): AttemptRecord {
  return {
    id: String(r.id),
    runId: String(r.run_id),
    pipeline: String(r.pipeline),
    task: String(r.task),
    partition: String(r.partition),
    attempt: num(r.attempt),
    trigger: r.trigger as Trigger,
    state: r.state as AttemptState,
    dueAt: num(r.due_at),
    startedAt: opt(r.started_at),
    endedAt: opt(r.ended_at),
    rows: num(r.rows),
    rejects: num(r.rejects),
    error: str(r.error),
    owner: str(r.owner),
    heartbeatAt: opt(r.heartbeat_at),
    endSeq: opt(r.end_seq),
    retryAt: opt(r.retry_at),
  };
}

export function rowToLog(r: Record<string, unknown>): LogLine {
  return {
    runId: String(r.run_id),
    task: String(r.task),
    partition: String(r.partition),
    attempt: num(r.attempt),
    ts: num(r.ts),
    level: r.level as LogLine['level'],
    message: String(r.message),
  };
}

export function rowToTick(r: Record<string, unknown>): TickRecord {
  return {
    pipeline: String(r.pipeline),
    scheduledFor: num(r.scheduled_for),
    evaluatedAt: num(r.evaluated_at),
    outcome: String(r.outcome),
    reason: str(r.reason),
    runId: str(r.run_id),
  };
}

export function rowToAudit(r: Record<string, unknown>): AuditEntry {
  return {
    id: String(r.id),
    at: num(r.recorded_at),
    actor: String(r.actor),
    action: String(r.action),
    target: str(r.target),
    outcome: r.outcome as AuditEntry['outcome'],
    detail: str(r.detail),
  };
}

export function rowToAlert(r: Record<string, unknown>): AlertRecord {
  return {
    id: String(r.id),
    rule: String(r.rule),
    key: String(r.key),
    state: r.state as AlertRecord['state'],
    channel: String(r.channel),
    outcome: String(r.outcome),
    subject: String(r.subject),
    body: String(r.body),
    at: num(r.sent_at),
    error: str(r.error),
  };
}

/** An attempt's columns in insert order (id … error), for a VALUES row. */
export function attemptValues(
  a: NewAttempt,
): [
  string,
  string,
  string,
  string,
  string,
  number,
  string,
  string,
  number,
  number | null,
  string | null,
] {
  return [
    attemptId(a.runId, a.task, a.partition, a.attempt),
    a.runId,
    a.pipeline,
    a.task,
    a.partition,
    a.attempt,
    a.trigger,
    a.state,
    a.dueAt,
    a.endedAt ?? null,
    a.error ?? null,
  ];
}

/** An ended attempt's columns (id, state, ended_at, rows, rejects, error, retry_at), for a VALUES row. */
export function resultValues(
  id: string,
  r: AttemptResult,
): [string, string, number, number, number, string | null, number | null] {
  return [id, r.state, r.endedAt, r.rows, r.rejects, r.error, r.retryAt];
}

/**
 * Which due candidates (oldest first) a claim takes: at most `limits.limit`,
 * and per pipeline no more than its limit minus what already runs.
 */
export function chooseClaims(
  candidates: readonly Record<string, unknown>[],
  runningRows: readonly Record<string, unknown>[],
  limits: ClaimLimits,
): string[] {
  const running = new Map<string, number>();
  for (const r of runningRows) running.set(String(r.pipeline), Number(r.n));
  const chosen: string[] = [];
  for (const c of candidates) {
    if (chosen.length >= limits.limit) break;
    const p = String(c.pipeline);
    const used = running.get(p) ?? 0;
    if (used >= (limits.perPipeline[p] ?? Number.POSITIVE_INFINITY)) continue;
    running.set(p, used + 1);
    chosen.push(String(c.id));
  }
  return chosen;
}

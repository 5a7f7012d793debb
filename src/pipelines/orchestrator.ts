/**
 * The orchestrator: the one place that decides what runs next. It makes
 * runs (from a schedule, a person, a backfill), starts queued runs within
 * `maxActiveRuns`, adds each task's attempts when its `needs` succeeded,
 * retries failed partitions by their task's policy, skips what is
 * downstream of a failure, and ends runs. Workers (in this process or
 * others) only claim attempts, run them and report how they ended; the
 * orchestrator learns that from the run store's end order, so it works the
 * same embedded and over PostgreSQL, and picks up where a crashed one left.
 */
import { randomUUID } from 'node:crypto';
import type { PipelineSpec, TaskSpec } from '../core/pipeline-schema.ts';
import { mayRetry, type RetryPolicy } from '../core/retry.ts';
import type {
  AttemptRecord,
  AttemptState,
  NewAttempt,
  RunParams,
  RunRecord,
  RunState,
  RunStore,
  Trigger,
} from './runs/run-store.ts';

export type PipelineEvent =
  | { type: 'run'; run: RunRecord }
  | { type: 'attempt'; attempt: AttemptRecord };

export interface OrchestratorOptions {
  runs: RunStore;
  pipelines: Record<string, PipelineSpec>;
  /** Resolves a run's partitions and ranges when it is made. */
  plan: (pipeline: string, spec: PipelineSpec, scheduledFor: number) => Promise<RunParams>;
  now?: () => number;
  onEvent?: (e: PipelineEvent) => void;
  /** Called when attempts were added (wake the workers). */
  onWork?: () => void;
  /**
   * The run history is shared with other processes (PostgreSQL): runs made,
   * retried or cancelled elsewhere are taken in at each sync.
   */
  shared?: boolean;
}

export function retryPolicy(t: TaskSpec): RetryPolicy {
  return {
    retries: t.retries,
    delayMs: t.retryDelayMs,
    backoff: t.backoff,
    maxDelayMs: t.maxRetryDelayMs,
  };
}

type TaskState = 'pending' | 'active' | 'succeeded' | 'failed' | 'skipped';

/** What the orchestrator holds of a run it watches: the latest attempt of each partition. */
class RunModel {
  run: RunRecord;
  readonly spec: PipelineSpec;
  readonly latest = new Map<string, Map<string, AttemptRecord>>();

  constructor(run: RunRecord, attempts: readonly AttemptRecord[]) {
    this.run = run;
    this.spec = run.params.spec as PipelineSpec;
    for (const a of attempts) this.see(a);
  }

  see(a: AttemptRecord): void {
    let m = this.latest.get(a.task);
    if (!m) {
      m = new Map();
      this.latest.set(a.task, m);
    }
    const prior = m.get(a.partition);
    if (!prior || a.attempt > prior.attempt || (a.attempt === prior.attempt && a.endSeq !== null)) {
      m.set(a.partition, a);
    }
  }

  partitions(task: string): string[] {
    return this.run.params.partitions[task] ?? [''];
  }

  taskState(task: string): TaskState {
    const m = this.latest.get(task);
    if (!m || m.size === 0) return 'pending';
    const all = [...m.values()];
    if (all.every((a) => a.state === 'skipped')) return 'skipped';
    if (m.size < this.partitions(task).length) return 'active';
    if (all.some((a) => !isEnded(a) || willRetry(a, this.spec.tasks[task]!))) return 'active';
    return all.every((a) => a.state === 'succeeded') ? 'succeeded' : 'failed';
  }
}

const isEnded = (a: AttemptRecord): boolean =>
  a.state === 'succeeded' ||
  a.state === 'failed' ||
  a.state === 'skipped' ||
  a.state === 'cancelled';

/** A failed attempt its task's policy retries (the next attempt may not be added yet). */
function willRetry(a: AttemptRecord, spec: TaskSpec): boolean {
  return a.state === 'failed' && a.retryAt !== null && mayRetry(retryPolicy(spec), a.attempt, null);
}

export class Orchestrator {
  readonly #o: OrchestratorOptions;
  readonly #now: () => number;
  readonly #models = new Map<string, RunModel>();
  #cursor = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #pipelines: Record<string, PipelineSpec>;
  readonly #waiters = new Map<string, ((run: RunRecord) => void)[]>();

  constructor(o: OrchestratorOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#pipelines = o.pipelines;
  }

  get pipelines(): Record<string, PipelineSpec> {
    return this.#pipelines;
  }

  /** One decision at a time. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  /**
   * Loads the runs not ended (after a restart or a leader change). Attempts
   * left running by a process that died are failed by `failLost` first.
   */
  resume(): Promise<void> {
    return this.#serial(async () => {
      this.#models.clear();
      this.#cursor = await this.#o.runs.lastEndSeq();
      for (const run of await this.#o.runs.activeRuns()) {
        if (run.state !== 'running') continue;
        const model = new RunModel(run, await this.#o.runs.attempts(run.id));
        this.#models.set(run.id, model);
        await this.#advance(model);
      }
      await this.#startQueued();
    });
  }

  /** Makes a run of a pipeline (queued until `maxActiveRuns` lets it start). */
  trigger(
    pipeline: string,
    trigger: Trigger,
    scheduledFor?: number,
    adhoc?: PipelineSpec,
  ): Promise<RunRecord> {
    return this.#serial(async () => {
      const spec = adhoc ?? this.#pipelines[pipeline];
      if (!spec) throw new Error(`no pipeline ${pipeline}`);
      const now = this.#now();
      const when = scheduledFor ?? now;
      const run: RunRecord = {
        id: randomUUID(),
        pipeline,
        trigger,
        state: 'queued',
        scheduledFor: when,
        createdAt: now,
        startedAt: null,
        endedAt: null,
        params: await this.#o.plan(pipeline, spec, when),
        rows: 0,
        rejects: 0,
        error: null,
      };
      await this.#o.runs.createRun(run);
      this.#emitRun(run);
      await this.#startQueued();
      return (await this.#o.runs.getRun(run.id)) ?? run;
    });
  }

  /** Makes a queued run without starting it (another process, the leader, starts it). */
  enqueue(pipeline: string, trigger: Trigger, adhoc?: PipelineSpec): Promise<RunRecord> {
    return this.#serial(async () => {
      const spec = adhoc ?? this.#pipelines[pipeline];
      if (!spec) throw new Error(`no pipeline ${pipeline}`);
      const now = this.#now();
      const run: RunRecord = {
        id: randomUUID(),
        pipeline,
        trigger,
        state: 'queued',
        scheduledFor: now,
        createdAt: now,
        startedAt: null,
        endedAt: null,
        params: await this.#o.plan(pipeline, spec, now),
        rows: 0,
        rejects: 0,
        error: null,
      };
      await this.#o.runs.createRun(run);
      this.#emitRun(run);
      return run;
    });
  }

  /** Runs made, retried or cancelled by other processes: watch the running ones, drop the ended. */
  async #adopt(): Promise<void> {
    const active = await this.#o.runs.activeRuns();
    const ids = new Set(active.map((r) => r.id));
    for (const id of [...this.#models.keys()]) if (!ids.has(id)) this.#models.delete(id);
    for (const run of active) {
      if (run.state !== 'running' || this.#models.has(run.id)) continue;
      const model = new RunModel(run, await this.#o.runs.attempts(run.id));
      this.#models.set(run.id, model);
      await this.#advance(model);
    }
  }

  /** Starts queued runs while their pipelines have room (`maxActiveRuns`), oldest first. */
  async #startQueued(): Promise<void> {
    const active = await this.#o.runs.activeRuns();
    const running = new Map<string, number>();
    for (const r of active)
      if (r.state === 'running') running.set(r.pipeline, (running.get(r.pipeline) ?? 0) + 1);
    for (const r of active) {
      if (r.state !== 'queued') continue;
      const spec = r.params.spec as PipelineSpec;
      const used = running.get(r.pipeline) ?? 0;
      if (used >= spec.maxActiveRuns) continue;
      running.set(r.pipeline, used + 1);
      const now = this.#now();
      await this.#o.runs.setRunState(r.id, 'running', now);
      const started: RunRecord = { ...r, state: 'running', startedAt: now };
      this.#emitRun(started);
      const model = new RunModel(started, []);
      this.#models.set(r.id, model);
      await this.#advance(model);
    }
  }

  /**
   * Takes in attempts that ended since the last call (workers' reports, lost
   * attempts). Calls made while one runs are answered by one more pass.
   */
  sync(): Promise<number> {
    if (this.#syncAgain) return this.#syncAgain;
    this.#syncAgain = this.#serial(async () => {
      this.#syncAgain = null;
      return this.#syncOnce();
    });
    return this.#syncAgain;
  }

  #syncAgain: Promise<number> | null = null;

  async #syncOnce(): Promise<number> {
    {
      let seen = 0;
      for (;;) {
        const ended = await this.#o.runs.endedSince(this.#cursor, 5_000);
        if (ended.length === 0) break;
        this.#cursor = ended.at(-1)!.endSeq!;
        seen += ended.length;
        const touched = new Set<RunModel>();
        for (const a of ended) {
          this.#o.onEvent?.({ type: 'attempt', attempt: a });
          const model = this.#models.get(a.runId);
          if (!model) continue;
          model.see(a);
          touched.add(model);
        }
        for (const model of touched) await this.#advance(model);
      }
      if (this.#o.shared) await this.#adopt();
      if (this.#runEnded || this.#o.shared) {
        this.#runEnded = false;
        await this.#startQueued();
      }
      return seen;
    }
  }

  /** A run ended since the queue was last looked at (a slot for a queued run). */
  #runEnded = false;

  /** Retries, starts ready tasks, skips what a failure blocks, and ends the run when nothing is left. */
  async #advance(model: RunModel): Promise<void> {
    const { run, spec } = model;
    if (run.state !== 'running') return;
    const now = this.#now();
    const add: NewAttempt[] = [];
    const next = (
      task: string,
      partition: string,
      attempt: number,
      trigger: Trigger,
      dueAt: number,
      state: AttemptState,
    ): NewAttempt => ({
      runId: run.id,
      pipeline: run.pipeline,
      task,
      partition,
      attempt,
      trigger,
      state,
      dueAt,
    });
    // Retries of failed partitions.
    for (const [task, m] of model.latest) {
      const t = spec.tasks[task]!;
      for (const a of m.values()) {
        if (willRetry(a, t)) {
          const retry = next(
            task,
            a.partition,
            a.attempt + 1,
            'retry',
            Math.max(a.retryAt!, now),
            'retrying',
          );
          add.push(retry);
          model.see({ ...emptyAttempt(), ...retry, id: '', state: 'retrying' });
        }
      }
    }
    // Tasks whose needs all succeeded start; those downstream of a failure are skipped.
    for (const task of Object.keys(spec.tasks)) {
      if (model.taskState(task) !== 'pending') continue;
      const needs = spec.tasks[task]!.needs.map((n) => model.taskState(n));
      if (needs.every((s) => s === 'succeeded')) {
        for (const p of model.partitions(task)) {
          const first = next(
            task,
            p,
            1,
            run.trigger === 'retry' ? 'retry' : run.trigger,
            now,
            'queued',
          );
          add.push(first);
          model.see({ ...emptyAttempt(), ...first, id: '' });
        }
      } else if (needs.some((s) => s === 'failed' || s === 'skipped')) {
        const blocked = spec.tasks[task]!.needs.filter((n) => {
          const s = model.taskState(n);
          return s === 'failed' || s === 'skipped';
        });
        for (const p of model.partitions(task)) {
          const skip = {
            ...next(task, p, 0, run.trigger, now, 'skipped'),
            endedAt: now,
            error: `skipped: ${blocked.join(', ')} did not succeed`,
          };
          add.push(skip);
          model.see({ ...emptyAttempt(), ...skip, id: '', endSeq: 0 });
        }
      }
    }
    if (add.length > 0) {
      await this.#o.runs.addAttempts(add);
      this.#o.onWork?.();
    }
    const states = Object.keys(spec.tasks).map((t) => [t, model.taskState(t)] as const);
    if (states.some(([, s]) => s === 'pending' || s === 'active')) return;
    const failed = states.filter(([, s]) => s === 'failed');
    const attempts = [...model.latest.values()].flatMap((m) => [...m.values()]);
    const ok = attempts.filter((a) => a.state === 'succeeded');
    const rows = ok.reduce((s, a) => s + a.rows, 0);
    const rejects = ok.reduce((s, a) => s + a.rejects, 0);
    const error =
      failed.length === 0
        ? null
        : failed
            .map(([task]) => {
              const bad = [...model.latest.get(task)!.values()].filter(
                (a) => a.state !== 'succeeded',
              );
              return bad
                .map(
                  (a) =>
                    `${task}${a.partition ? `[${a.partition}]` : ''} failed after ${a.attempt} attempt${a.attempt === 1 ? '' : 's'}: ${a.error ?? a.state}`,
                )
                .join('; ');
            })
            .join('; ');
    await this.#end(model, failed.length === 0 ? 'succeeded' : 'failed', { rows, rejects, error });
  }

  async #end(
    model: RunModel,
    state: RunState,
    extra: { rows: number; rejects: number; error: string | null },
  ): Promise<void> {
    const at = this.#now();
    await this.#o.runs.setRunState(model.run.id, state, at, extra);
    model.run = { ...model.run, state, endedAt: at, ...extra };
    this.#models.delete(model.run.id);
    this.#runEnded = true;
    this.#emitRun(model.run);
  }

  #emitRun(run: RunRecord): void {
    this.#o.onEvent?.({ type: 'run', run });
    if (run.state === 'succeeded' || run.state === 'failed' || run.state === 'cancelled') {
      for (const w of this.#waiters.get(run.id) ?? []) w(run);
      this.#waiters.delete(run.id);
    }
  }

  /** Resolves when the run ends (at once when it has). */
  async wait(runId: string): Promise<RunRecord> {
    const ended = new Promise<RunRecord>((resolve) => {
      const list = this.#waiters.get(runId) ?? [];
      list.push(resolve);
      this.#waiters.set(runId, list);
    });
    const run = await this.#o.runs.getRun(runId);
    if (!run) throw new Error(`no run ${runId}`);
    if (run.state === 'succeeded' || run.state === 'failed' || run.state === 'cancelled')
      return run;
    return ended;
  }

  /**
   * Retries an ended run: each partition whose latest attempt failed or was
   * cancelled gets one more attempt; tasks skipped because of them run once
   * those succeed. Partitions that succeeded are not run again.
   */
  retry(runId: string): Promise<RunRecord> {
    return this.#serial(async () => {
      const run = await this.#o.runs.getRun(runId);
      if (!run) throw new Error(`no run ${runId}`);
      if (run.state === 'queued' || run.state === 'running') {
        throw new Error(`run ${runId} is ${run.state}; only an ended run can be retried`);
      }
      if (run.state === 'succeeded')
        throw new Error(`run ${runId} succeeded; there is nothing to retry`);
      const now = this.#now();
      const model = new RunModel(
        { ...run, state: 'running', endedAt: null, error: null },
        await this.#o.runs.attempts(runId),
      );
      const add: NewAttempt[] = [];
      for (const [task, m] of model.latest) {
        for (const a of m.values()) {
          if (a.state === 'failed' || a.state === 'cancelled') {
            add.push({
              runId,
              pipeline: run.pipeline,
              task,
              partition: a.partition,
              attempt: a.attempt + 1,
              trigger: 'retry',
              state: 'queued',
              dueAt: now,
            });
          }
        }
        // Tasks skipped for a failure upstream are pending again.
        if ([...m.values()].every((a) => a.state === 'skipped')) model.latest.delete(task);
      }
      await this.#o.runs.setRunState(runId, 'running', now, { error: null });
      await this.#o.runs.addAttempts(add);
      for (const a of await this.#o.runs.attempts(runId)) if (a.attempt > 0) model.see(a);
      for (const [task, m] of [...model.latest])
        if ([...m.values()].every((a) => a.state === 'skipped')) model.latest.delete(task);
      this.#models.set(runId, model);
      this.#emitRun(model.run);
      this.#o.onWork?.();
      await this.#advance(model);
      return model.run;
    });
  }

  /** Cancels a run: waiting attempts end cancelled; running ones are told to stop (`onCancel`). */
  cancel(runId: string): Promise<RunRecord> {
    return this.#serial(async () => {
      const run = await this.#o.runs.getRun(runId);
      if (!run) throw new Error(`no run ${runId}`);
      if (run.state !== 'queued' && run.state !== 'running') {
        throw new Error(`run ${runId} already ended (${run.state})`);
      }
      const now = this.#now();
      await this.#o.runs.endWaiting(runId, 'cancelled', now, 'cancelled');
      await this.#o.runs.setRunState(runId, 'cancelled', now, { error: 'cancelled' });
      this.#models.delete(runId);
      const ended: RunRecord = { ...run, state: 'cancelled', endedAt: now, error: 'cancelled' };
      this.#emitRun(ended);
      await this.#startQueued();
      return ended;
    });
  }

  /** Whether a run is being watched here (not ended). */
  isActive(runId: string): boolean {
    return this.#models.has(runId);
  }
}

function emptyAttempt(): AttemptRecord {
  return {
    id: '',
    runId: '',
    pipeline: '',
    task: '',
    partition: '',
    attempt: 0,
    trigger: 'manual',
    state: 'queued',
    dueAt: 0,
    startedAt: null,
    endedAt: null,
    rows: 0,
    rejects: 0,
    error: null,
    owner: null,
    heartbeatAt: null,
    endSeq: null,
    retryAt: null,
  };
}

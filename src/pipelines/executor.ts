/**
 * The worker side of pipelines: claims due attempts from the run store (up
 * to its slots, within each pipeline's concurrency), runs each with its
 * task's timeout, keeps a heartbeat on what it runs, and reports how each
 * ended (with when to retry, by the task's policy). It runs in the process
 * that holds the data folder, and in every `tickline worker --pipelines`.
 */
import { hostname } from 'node:os';
import { errorMessage } from '../core/errors.ts';
import type { PipelineSpec, TaskSpec } from '../core/pipeline-schema.ts';
import { isDoNotRetry, mayRetry, retryDelayMs } from '../core/retry.ts';
import { retryPolicy } from './orchestrator.ts';
import type {
  AttemptRecord,
  AttemptResult,
  LogLine,
  RunRecord,
  RunStore,
} from './runs/run-store.ts';

/** What a task gets to do its work. */
export interface TaskContext {
  run: RunRecord;
  attempt: AttemptRecord;
  spec: TaskSpec;
  /** Aborted on timeout, cancel or shutdown. */
  signal: AbortSignal;
  log(level: LogLine['level'], message: string): void;
}

export interface TaskOutcome {
  rows: number;
  rejects: number;
}

export type TaskRunner = (ctx: TaskContext) => Promise<TaskOutcome>;

export interface ExecutorOptions {
  runs: RunStore;
  /** Runs one attempt of a task. */
  execute: TaskRunner;
  /** Attempts running at once here. */
  slots: number;
  /** Per pipeline, its partitions running at once (over all workers). */
  perPipeline: () => Record<string, number>;
  /** How often to look for due work when nothing woke us, ms. */
  pollMs: number;
  /** How often running attempts' heartbeats are written, ms. */
  heartbeatMs: number;
  now?: () => number;
  /** After attempts ended (the orchestrator syncs). */
  onEnded?: () => void;
  owner?: string;
}

export class Executor {
  readonly #o: ExecutorOptions;
  readonly #now: () => number;
  readonly owner: string;
  readonly #running = new Map<
    string,
    { attempt: AttemptRecord; abort: AbortController; done: Promise<void> }
  >();
  readonly #runCache = new Map<string, RunRecord>();
  #stopped = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #logs: LogLine[] = [];

  constructor(o: ExecutorOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.owner = o.owner ?? `${hostname()}:${process.pid}`;
  }

  start(): void {
    if (this.#loop) return;
    this.#heartbeat = setInterval(() => void this.#beat(), this.#o.heartbeatMs);
    this.#heartbeat.unref();
    this.#loop = this.#run();
  }

  /** Looks for work now. */
  wake(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** How many attempts run here now. */
  get busy(): number {
    return this.#running.size;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      // One turn of the event loop first: slots freed together are claimed together.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const free = this.#o.slots - this.#running.size;
      let claimed: AttemptRecord[] = [];
      if (free > 0) {
        try {
          claimed = await this.#o.runs.claim(this.owner, this.#now(), {
            limit: free,
            perPipeline: this.#o.perPipeline(),
          });
        } catch (err) {
          process.stderr.write(`pipelines: claiming work failed: ${errorMessage(err)}\n`);
        }
      }
      for (const a of claimed) this.#start(a);
      if (this.#stopped) break;
      if (claimed.length === 0 || this.#running.size >= this.#o.slots) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, this.#o.pollMs).unref();
        });
        this.#wake = null;
      }
    }
  }

  #start(a: AttemptRecord): void {
    const abort = new AbortController();
    const done = this.#attempt(a, abort).finally(() => {
      this.#running.delete(a.id);
      this.wake();
    });
    this.#running.set(a.id, { attempt: a, abort, done });
  }

  async #attempt(a: AttemptRecord, abort: AbortController): Promise<void> {
    const log = (level: LogLine['level'], message: string): void => {
      this.#logs.push({
        runId: a.runId,
        task: a.task,
        partition: a.partition,
        attempt: a.attempt,
        ts: this.#now(),
        level,
        message,
      });
    };
    let result: {
      state: 'succeeded' | 'failed' | 'cancelled';
      rows: number;
      rejects: number;
      error: string | null;
      retryAt: number | null;
    };
    let spec: TaskSpec | undefined;
    try {
      const run = await this.#runOf(a.runId);
      spec = (run.params.spec as PipelineSpec).tasks[a.task];
      if (!spec) throw new Error(`task ${a.task} is not in the run's pipeline`);
      const timeout = setTimeout(
        () => abort.abort(new Error(`timed out after ${spec!.timeoutMs} ms`)),
        spec.timeoutMs,
      );
      try {
        log(
          'info',
          `attempt ${a.attempt} started${a.partition ? ` (${a.partition})` : ''} on ${this.owner}`,
        );
        const out = await raceAbort(
          this.#o.execute({ run, attempt: a, spec, signal: abort.signal, log }),
          abort.signal,
        );
        result = {
          state: 'succeeded',
          rows: out.rows,
          rejects: out.rejects,
          error: null,
          retryAt: null,
        };
        log('info', `succeeded: ${out.rows} rows, ${out.rejects} rejects`);
      } finally {
        clearTimeout(timeout);
      }
    } catch (err) {
      const reason = abort.signal.aborted ? abort.signal.reason : err;
      const message = errorMessage(reason);
      const cancelled = reason instanceof CancelledError;
      const policy = spec ? retryPolicy(spec) : null;
      const again =
        !cancelled && policy !== null && mayRetry(policy, a.attempt, reason) && !isDoNotRetry(err);
      const retryAt = again && policy ? this.#now() + retryDelayMs(policy, a.attempt) : null;
      result = {
        state: cancelled ? 'cancelled' : 'failed',
        rows: 0,
        rejects: 0,
        error: message,
        retryAt,
      };
      log(
        cancelled ? 'warn' : 'error',
        `${cancelled ? 'cancelled' : 'failed'}: ${message}${retryAt !== null ? ` (retry ${a.attempt + 1} at ${new Date(retryAt).toISOString()})` : ''}`,
      );
    }
    await this.#finish(a.id, { ...result, endedAt: this.#now() });
  }

  /**
   * Attempts that end together are written together: each waits for one
   * write of its batch (and of the log lines before it), made on the next
   * turn of the event loop.
   */
  #finish(id: string, result: AttemptResult): Promise<void> {
    this.#ended.push({ id, result });
    this.#endWrite ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const batch = this.#ended;
      this.#ended = [];
      this.#endWrite = null;
      await this.#flushLogs();
      try {
        await this.#o.runs.finishAttempts(batch);
      } catch (err) {
        process.stderr.write(
          `pipelines: recording ${batch.length} ended attempts failed: ${errorMessage(err)}\n`,
        );
      }
      this.#o.onEnded?.();
    });
    return this.#endWrite;
  }

  #ended: { id: string; result: AttemptResult }[] = [];
  #endWrite: Promise<void> | null = null;

  async #runOf(id: string): Promise<RunRecord> {
    let run = this.#runCache.get(id);
    if (!run) {
      const found = await this.#o.runs.getRun(id);
      if (!found) throw new Error(`no run ${id}`);
      run = found;
      this.#runCache.set(id, run);
      if (this.#runCache.size > 1_000) this.#runCache.delete(this.#runCache.keys().next().value!);
    }
    return run;
  }

  async #flushLogs(): Promise<void> {
    if (this.#logs.length === 0) return;
    const lines = this.#logs;
    this.#logs = [];
    try {
      await this.#o.runs.appendLogs(lines);
    } catch (err) {
      process.stderr.write(`pipelines: writing task logs failed: ${errorMessage(err)}\n`);
    }
  }

  async #beat(): Promise<void> {
    const ids = [...this.#running.keys()];
    try {
      await this.#o.runs.heartbeat(ids, this.#now());
      await this.#flushLogs();
      // Runs cancelled elsewhere: stop their attempts.
      for (const runId of new Set([...this.#running.values()].map((r) => r.attempt.runId))) {
        if ((await this.#o.runs.getRun(runId))?.state === 'cancelled') this.cancelRun(runId);
      }
    } catch (err) {
      process.stderr.write(`pipelines: heartbeat failed: ${errorMessage(err)}\n`);
    }
  }

  /** Stops the attempts of a run running here. */
  cancelRun(runId: string): void {
    for (const r of this.#running.values())
      if (r.attempt.runId === runId) r.abort.abort(new CancelledError());
  }

  /**
   * Stops claiming; running attempts get `graceMs` to finish, then are
   * aborted (they end failed, and are retried by whoever runs next).
   */
  async stop(graceMs = 0): Promise<void> {
    this.#stopped = true;
    this.wake();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.#loop;
    const pending = [...this.#running.values()];
    if (graceMs > 0 && pending.length > 0) {
      await Promise.race([
        Promise.all(pending.map((p) => p.done)),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
    }
    for (const p of this.#running.values()) p.abort.abort(new Error('the worker stopped'));
    await Promise.allSettled([...this.#running.values()].map((p) => p.done));
    await this.#flushLogs();
  }
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** Settles with the task, or rejects as soon as the signal aborts (a task that ignores it is left behind). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

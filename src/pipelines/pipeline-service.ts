/**
 * Pipelines as one service: the run history, the orchestrator, workers in
 * this process, the scheduler and alerts, behind the calls the CLI, the API
 * and the control socket make (list, run, wait, backfill, runs, show, logs,
 * retry, cancel, alerts).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type CalendarResolver, calendarResolver } from '../calendar/registry.ts';
import type { Config } from '../core/config.ts';
import { ConfigError, UsageError } from '../core/errors.ts';
import {
  PipelineSchema,
  type PipelineSpec,
  pipelinesOf,
  runnerOf,
} from '../core/pipeline-schema.ts';
import { Alerter } from '../observability/alerts.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/store.ts';
import { Executor } from './executor.ts';
import { findGaps, type GapQuery, type GapRange, knownGaps } from './gaps.ts';
import { Orchestrator, type PipelineEvent } from './orchestrator.ts';
import { DuckDBRunStore } from './runs/duckdb-run-store.ts';
import { PgRunStore } from './runs/pg-run-store.ts';
import type {
  AlertRecord,
  AttemptRecord,
  AuditEntry,
  LogLine,
  RunQuery,
  RunRecord,
  RunStore,
} from './runs/run-store.ts';
import { calendarSkip, nextRunAfter, nextSessionRun, Scheduler } from './scheduler.ts';
import { planRun, taskRunner } from './tasks.ts';

export interface PipelineInfo {
  name: string;
  description: string | null;
  schedule: string | null;
  timezone: string;
  calendar: string | null;
  paused: boolean;
  tasks: { name: string; kind: string; needs: string[]; partitions: number | null }[];
  /** The next scheduled run on a session day (ms), or null. */
  nextRun: number | null;
  lastRun: { id: string; state: string; scheduledFor: number; endedAt: number | null } | null;
}

export interface RunDetail {
  run: RunRecord;
  attempts: AttemptRecord[];
}

/** An admin action as its caller tells it (id and time are added). */
export interface NewAuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  outcome?: 'ok' | 'failed';
  detail?: string | null;
  at?: number;
}

/** What the CLI, the API and the control socket call. */
export interface PipelinesApi {
  list(): Promise<PipelineInfo[]>;
  run(name: string): Promise<RunRecord>;
  wait(id: string): Promise<RunRecord>;
  backfill(name: string, from: number, to: number): Promise<RunRecord[]>;
  runs(q: RunQuery): Promise<RunRecord[]>;
  show(id: string): Promise<RunDetail>;
  logs(id: string, task?: string): Promise<LogLine[]>;
  retry(id: string): Promise<RunRecord>;
  cancel(id: string): Promise<RunRecord>;
  alerts(limit?: number): Promise<AlertRecord[]>;
  /** Records an admin action in the audit log. */
  audit(e: NewAuditEntry): Promise<void>;
  /** The audit log, newest first. */
  auditLog(limit?: number, action?: string): Promise<AuditEntry[]>;
  /** Expected bars (by each symbol's calendar) not stored, as ranges; unfillable ones with their reason. */
  gaps(q: GapQuery): Promise<GapRange[]>;
}

export interface PipelineServiceOptions {
  cfg: Config;
  store: Store;
  /** The run history (default: runs.duckdb in the data folder). */
  runs?: RunStore;
  /** Run the scheduler (a server); a one-off CLI process does not. */
  schedule?: boolean;
  now?: () => number;
  metrics?: Metrics;
  onEvent?: (e: PipelineEvent) => void;
  /** The dashboard's address, for links in alerts. */
  baseUrl?: string | null;
  /** Scheduler without timers: tests call `scheduler.tick()` with their clock. */
  manualClock?: boolean;
  /**
   * Run work here (default true): resume unfinished runs and start workers.
   * False for a command that only reads the history or asks nothing to run.
   */
  work?: boolean;
}

export function runsPath(cfg: Config): string {
  return join(cfg.dataDir, 'runs.duckdb');
}

/** The run history the config names: runs.duckdb in the data folder, or PostgreSQL (runner: postgres). */
export async function openRunStore(cfg: Config): Promise<RunStore> {
  const settings = runnerOf(cfg.pipelines);
  if (settings.runner !== 'postgres') return DuckDBRunStore.open(runsPath(cfg));
  const url = settings.postgresUrl;
  if (!url) {
    throw new ConfigError(
      'pipelines.postgresUrl',
      'a postgres:// URL (or TICKLINE_PG_URL) for runner: postgres',
    );
  }
  return PgRunStore.open(url, { schema: settings.postgresSchema });
}

export class PipelineService implements PipelinesApi {
  readonly runStore: RunStore;
  readonly orchestrator: Orchestrator;
  readonly executor: Executor;
  scheduler: Scheduler | null;
  readonly alerter: Alerter;
  readonly #pipelines: Record<string, PipelineSpec>;
  readonly #now: () => number;
  readonly #ownsRuns: boolean;
  readonly #store: Store;
  readonly calendars: CalendarResolver;
  #working = false;
  /** The history is shared (PostgreSQL): one process at a time leads, elected by a lease. */
  readonly #shared: boolean;
  #leader = false;
  #leadTimer: NodeJS.Timeout | null = null;
  #syncTimer: NodeJS.Timeout | null = null;
  readonly #o: PipelineServiceOptions;
  readonly owner = `${hostname()}:${process.pid}`;

  private constructor(o: PipelineServiceOptions, runs: RunStore, owns: boolean) {
    this.#o = o;
    this.#shared = runs.acquireLease !== undefined;
    this.runStore = runs;
    this.#ownsRuns = owns;
    this.#store = o.store;
    this.calendars = calendarResolver(o.cfg);
    this.#now = o.now ?? Date.now;
    this.#pipelines = pipelinesOf(o.cfg.pipelines);
    const metrics = o.metrics;
    metrics?.watchQueue(() => runs.waiting(this.#now()));
    this.alerter = new Alerter({
      config: o.cfg.alerts,
      runs,
      now: this.#now,
      baseUrl: o.baseUrl ?? null,
      onSent: (channel, outcome) => metrics?.alertsSent.inc({ channel, outcome }),
    });
    this.orchestrator = new Orchestrator({
      runs,
      pipelines: this.#pipelines,
      now: this.#now,
      plan: (pipeline, spec, at) => planRun({ runs }, pipeline, spec, at),
      onWork: () => this.executor.wake(),
      shared: runs.acquireLease !== undefined,
      onEvent: (e) => {
        if (
          e.type === 'run' &&
          (e.run.state === 'failed' || e.run.state === 'succeeded' || e.run.state === 'cancelled')
        ) {
          metrics?.runsEnded.inc({ pipeline: e.run.pipeline, state: e.run.state });
          this.alerter.onRun(e.run);
        }
        if (e.type === 'attempt' && e.attempt.startedAt !== null && e.attempt.endedAt !== null) {
          metrics?.taskDuration.observe(
            { pipeline: e.attempt.pipeline, task: e.attempt.task, state: e.attempt.state },
            (e.attempt.endedAt - e.attempt.startedAt) / 1000,
          );
        }
        o.onEvent?.(e);
      },
    });
    const concurrency = Object.fromEntries(
      Object.entries(this.#pipelines).map(([k, p]) => [k, p.concurrency]),
    );
    this.executor = new Executor({
      runs,
      execute: taskRunner({
        store: o.store,
        cfg: o.cfg,
        runs,
        calendars: this.calendars,
      }),
      slots: o.cfg.pipelines.concurrency,
      perPipeline: () => concurrency,
      pollMs: o.cfg.pipelines.pollMs,
      heartbeatMs: Math.max(100, Math.floor(o.cfg.pipelines.leaseMs / 3)),
      now: this.#now,
      owner: this.owner,
      // Only the leader decides; a worker's report reaches it through the history.
      onEnded: () => {
        // A sync that fails (the history closing at shutdown) is redone by the next one.
        if (!this.#shared || this.#leader) void this.orchestrator.sync().catch(() => {});
      },
    });
    this.scheduler = o.schedule && !this.#shared ? this.#newScheduler() : null;
  }

  #newScheduler(): Scheduler {
    const metrics = this.#o.metrics;
    return new Scheduler({
      runs: this.runStore,
      orchestrator: this.orchestrator,
      pipelines: this.#pipelines,
      now: this.#now,
      manual: this.#o.manualClock ?? false,
      onLag: (pipeline, s) => metrics?.schedulerLag.observe({ pipeline }, s),
    });
  }

  /** Whether this process leads (always, when embedded). */
  get leader(): boolean {
    return !this.#shared || this.#leader;
  }

  /**
   * Shared history: takes or renews the leader lease. The leader resumes
   * unfinished runs, schedules, fails attempts whose worker stopped
   * heartbeating (two lease periods), and takes in what workers report.
   */
  async #lead(): Promise<void> {
    const leaseMs = this.#o.cfg.pipelines.leaseMs;
    let mine = false;
    try {
      mine = await this.runStore.acquireLease!('scheduler', this.owner, leaseMs);
    } catch (err) {
      process.stderr.write(
        `pipelines: the leader lease could not be renewed: ${(err as Error).message}\n`,
      );
    }
    if (mine && !this.#leader) {
      this.#leader = true;
      process.stderr.write(`pipelines: ${this.owner} leads the scheduler\n`);
      await this.orchestrator.resume();
      if (this.#o.schedule) {
        this.scheduler = this.#newScheduler();
        await this.scheduler.start();
      }
    } else if (!mine && this.#leader) {
      this.#leader = false;
      process.stderr.write(`pipelines: ${this.owner} lost the leader lease\n`);
      await this.scheduler?.stop();
      this.scheduler = null;
    }
    if (this.#leader) {
      const now = this.#now();
      await this.runStore.failLost(now - 2 * leaseMs, now, 'lost: its worker stopped heartbeating');
      await this.orchestrator.sync();
    }
  }

  /**
   * Opens the run history, fails the attempts a process that died left
   * running (they are retried by their policy), resumes unfinished runs, and
   * starts the workers (and the scheduler, with `schedule`).
   */
  static async open(o: PipelineServiceOptions): Promise<PipelineService> {
    const runs = o.runs ?? (await openRunStore(o.cfg));
    const svc = new PipelineService(o, runs, o.runs === undefined);
    if (o.work === false) return svc;
    if (svc.#shared) {
      svc.executor.start();
      svc.#working = true;
      await svc.#lead();
      const leaseMs = o.cfg.pipelines.leaseMs;
      svc.#leadTimer = setInterval(() => void svc.#lead(), Math.max(100, Math.floor(leaseMs / 3)));
      svc.#syncTimer = setInterval(() => {
        if (svc.#leader) void svc.orchestrator.sync().catch(() => {});
      }, o.cfg.pipelines.pollMs);
      return svc;
    }
    const now = svc.#now();
    await svc.orchestrator.resume();
    const lost = await runs.failLost(
      Number.MAX_SAFE_INTEGER,
      now,
      'lost: the process running it stopped',
    );
    if (lost.length > 0) await svc.orchestrator.sync();
    await runs.prune(now - o.cfg.pipelines.retentionDays * 86_400_000);
    svc.executor.start();
    svc.#working = true;
    await svc.scheduler?.start();
    return svc;
  }

  #spec(name: string): PipelineSpec {
    const spec = this.#pipelines[name];
    if (!spec) {
      const known = Object.keys(this.#pipelines);
      throw new UsageError(
        'pipeline',
        `no pipeline "${name}"${known.length ? `; pipelines: ${known.join(', ')}` : ' (none is configured)'}`,
      );
    }
    return spec;
  }

  async list(): Promise<PipelineInfo[]> {
    const out: PipelineInfo[] = [];
    for (const [name, p] of Object.entries(this.#pipelines)) {
      const last = (await this.runStore.listRuns({ pipeline: name, limit: 1 }))[0];
      out.push({
        name,
        description: p.description ?? null,
        schedule: p.schedule ?? null,
        timezone: p.timezone,
        calendar: p.calendar ?? null,
        paused: p.paused,
        tasks: Object.entries(p.tasks).map(([t, spec]) => ({
          name: t,
          kind: spec.kind,
          needs: spec.needs,
          partitions:
            spec.kind === 'backfill'
              ? spec.symbols.length
              : spec.kind === 'noop'
                ? spec.partitions
                : null,
        })),
        nextRun: p.paused ? null : nextSessionRun(p, this.#now()),
        lastRun: last
          ? {
              id: last.id,
              state: last.state,
              scheduledFor: last.scheduledFor,
              endedAt: last.endedAt,
            }
          : null,
      });
    }
    return out;
  }

  run(name: string): Promise<RunRecord> {
    this.#spec(name);
    return this.#shared && !this.#leader
      ? this.orchestrator.enqueue(name, 'manual')
      : this.orchestrator.trigger(name, 'manual');
  }

  /**
   * A backfill as a run of a one-off pipeline named `backfill` (one partition
   * per symbol, no retries: a symbol the provider lacks fails at once).
   */
  runBackfill(p: {
    source: 'yahoo' | 'stooq';
    symbols: string[];
    interval: string;
    from: number;
    to: number;
  }): Promise<RunRecord> {
    const spec = PipelineSchema.parse({
      description: 'a backfill asked for over the API',
      concurrency: 4,
      tasks: {
        fetch: {
          kind: 'backfill',
          source: p.source,
          symbols: p.symbols,
          interval: p.interval,
          from: new Date(p.from).toISOString(),
          to: new Date(p.to).toISOString(),
        },
      },
    });
    return this.#shared && !this.#leader
      ? this.orchestrator.enqueue('backfill', 'manual', spec)
      : this.orchestrator.trigger('backfill', 'manual', undefined, spec);
  }

  /** Resolves when the run ends; keeps this process alive meanwhile (timers of retries are unref'd). */
  async wait(id: string): Promise<RunRecord> {
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      if (!this.#shared) return await this.orchestrator.wait(id);
      // Another process may lead this run: follow it in the shared history.
      for (;;) {
        const run = await this.runStore.getRun(id);
        if (!run) throw new UsageError('id', `no run ${id}`);
        if (run.state !== 'queued' && run.state !== 'running') return run;
        await new Promise((r) => setTimeout(r, this.#o.cfg.pipelines.pollMs));
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** One run per scheduled time in [from, to) on the calendar's session days. */
  async backfill(
    name: string,
    from: number,
    to: number,
    onProgress?: (done: number, total: number) => void,
  ): Promise<RunRecord[]> {
    const spec = this.#spec(name);
    if (!spec.schedule)
      throw new UsageError('pipeline', `${name} has no schedule to backfill (it runs when asked)`);
    const times: number[] = [];
    for (let t = nextRunAfter(spec, from - 1); t !== null && t < to; t = nextRunAfter(spec, t)) {
      if (calendarSkip(spec, t) === null) times.push(t);
      if (times.length > 10_000)
        throw new UsageError('--to', 'more than 10,000 scheduled runs in the range');
    }
    const runs: RunRecord[] = [];
    for (const t of times) {
      runs.push(await this.orchestrator.trigger(name, 'backfill', t));
      onProgress?.(runs.length, times.length);
    }
    return runs;
  }

  runs(q: RunQuery): Promise<RunRecord[]> {
    if (q.pipeline !== undefined) this.#spec(q.pipeline);
    return this.runStore.listRuns(q);
  }

  async show(id: string): Promise<RunDetail> {
    const run = await this.runStore.getRun(id);
    if (!run) throw new UsageError('id', `no run ${id} (see tickline runs)`);
    return { run, attempts: await this.runStore.attempts(id) };
  }

  async logs(id: string, task?: string): Promise<LogLine[]> {
    const { run } = await this.show(id);
    if (task !== undefined && !Object.hasOwn((run.params.spec as PipelineSpec).tasks, task)) {
      throw new UsageError('--task', `run ${id} has no task "${task}"`);
    }
    return this.runStore.logs(id, task === undefined ? {} : { task });
  }

  async retry(id: string): Promise<RunRecord> {
    await this.show(id);
    try {
      return await this.orchestrator.retry(id);
    } catch (err) {
      throw new UsageError('id', (err as Error).message);
    }
  }

  async cancel(id: string): Promise<RunRecord> {
    await this.show(id);
    try {
      const run = await this.orchestrator.cancel(id);
      this.executor.cancelRun(id);
      return run;
    } catch (err) {
      throw new UsageError('id', (err as Error).message);
    }
  }

  async gaps(q: GapQuery): Promise<GapRange[]> {
    return findGaps(this.#store, this.calendars, q, knownGaps(await this.runStore.unfillable()));
  }

  audit(e: NewAuditEntry): Promise<void> {
    return this.runStore.recordAudit({
      id: randomUUID(),
      at: e.at ?? Date.now(),
      actor: e.actor,
      action: e.action,
      target: e.target ?? null,
      outcome: e.outcome ?? 'ok',
      detail: e.detail ?? null,
    });
  }

  auditLog(limit = 100, action?: string): Promise<AuditEntry[]> {
    return this.runStore.listAudit({ limit, ...(action ? { action } : {}) });
  }

  /** Records an alert raised elsewhere (Alertmanager's webhook); the same id twice is kept once. */
  recordAlert(a: AlertRecord): Promise<void> {
    return this.runStore.recordAlert(a);
  }

  alerts(limit = 100): Promise<AlertRecord[]> {
    return this.runStore.listAlerts({ limit });
  }

  /** Stops scheduling and claiming; running attempts get `graceMs`, then end (retried on the next start). */
  async close(graceMs = 0): Promise<void> {
    if (this.#leadTimer) clearInterval(this.#leadTimer);
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    await this.scheduler?.stop();
    if (this.#leader) await this.runStore.releaseLease?.('scheduler', this.owner).catch(() => {});
    if (this.#working) await this.executor.stop(graceMs);
    await this.orchestrator.sync();
    await this.alerter.close();
    if (this.#ownsRuns) await this.runStore.close();
  }
}

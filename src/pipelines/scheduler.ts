/**
 * Schedules: each pipeline's cron pattern (croner) in its time zone, with
 * the dates its trading calendar has no session skipped. Every evaluation
 * is a recorded tick (started, or skipped and why). On start, schedules
 * missed while stopped run when `catchup` is on; otherwise only the latest
 * missed one runs and the rest are recorded as skipped.
 */
import { Cron } from 'croner';
import { zonedDay } from '../calendar/dates.ts';
import { getCalendar } from '../calendar/registry.ts';
import { errorMessage } from '../core/errors.ts';
import type { PipelineSpec } from '../core/pipeline-schema.ts';
import type { Orchestrator } from './orchestrator.ts';
import type { RunStore, TickRecord } from './runs/run-store.ts';

const MAX_TIMER_MS = 60_000;

export interface SchedulerOptions {
  runs: RunStore;
  orchestrator: Orchestrator;
  pipelines: Record<string, PipelineSpec>;
  now?: () => number;
  /** Lag between due and started, seconds (metrics). */
  onLag?: (pipeline: string, seconds: number) => void;
  /** No timers: the caller calls tick() (tests, with an injected clock). */
  manual?: boolean;
}

/** The next scheduled time of a pipeline strictly after `after`, or null (no schedule). */
export function nextRunAfter(spec: PipelineSpec, after: number): number | null {
  if (!spec.schedule) return null;
  const cron = new Cron(spec.schedule, { paused: true, timezone: spec.timezone });
  const next = cron.nextRun(new Date(after));
  return next ? next.getTime() : null;
}

/** Why a scheduled time is skipped by the pipeline's calendar, or null when the exchange trades that date. */
export function calendarSkip(spec: PipelineSpec, at: number): string | null {
  if (!spec.calendar) return null;
  const cal = getCalendar(spec.calendar);
  const day = zonedDay(spec.timezone, at);
  if (cal.isSessionDay(day)) return null;
  return `${spec.calendar} has no session on ${new Date(day * 86_400_000).toISOString().slice(0, 10)}`;
}

/** The next time a pipeline will run: its next scheduled time on a session day. */
export function nextSessionRun(spec: PipelineSpec, after: number): number | null {
  let t = after;
  for (let i = 0; i < 400; i++) {
    const next = nextRunAfter(spec, t);
    if (next === null) return null;
    if (calendarSkip(spec, next) === null) return next;
    t = next;
  }
  return null;
}

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #last = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #ticking: Promise<void> = Promise.resolve();

  constructor(o: SchedulerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  /** Loads each pipeline's last tick and evaluates what is due. */
  async start(): Promise<void> {
    for (const name of Object.keys(this.#o.pipelines)) {
      const last = await this.#o.runs.lastTick(name);
      this.#last.set(name, last ? last.scheduledFor : this.#startedAt);
    }
    await this.tick();
  }

  /** Evaluates every pipeline's schedule up to now; starts what is due. */
  tick(): Promise<void> {
    const run = this.#ticking.then(() => this.#tick());
    this.#ticking = run.catch((err) => {
      process.stderr.write(`scheduler: ${errorMessage(err)}\n`);
    });
    return run;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#now();
    for (const [name, spec] of Object.entries(this.#o.pipelines)) {
      if (!spec.schedule || spec.paused) continue;
      const since = this.#last.get(name) ?? this.#startedAt;
      const due: number[] = [];
      for (let t = nextRunAfter(spec, since); t !== null && t <= now; t = nextRunAfter(spec, t)) {
        due.push(t);
        if (due.length > 10_000) break;
      }
      for (const [i, at] of due.entries()) {
        const missed = at < this.#startedAt;
        const latest = i === due.length - 1;
        const tick: TickRecord = {
          pipeline: name,
          scheduledFor: at,
          evaluatedAt: now,
          outcome: 'started',
          reason: null,
          runId: null,
        };
        const skip = calendarSkip(spec, at);
        if (skip) {
          tick.outcome = 'skipped';
          tick.reason = skip;
        } else if (missed && !spec.catchup && !latest) {
          tick.outcome = 'skipped';
          tick.reason = 'missed while stopped (catchup is off)';
        } else {
          const run = await this.#o.orchestrator.trigger(
            name,
            missed ? 'catch-up' : 'schedule',
            at,
          );
          tick.runId = run.id;
          tick.outcome = run.state === 'queued' ? 'queued' : 'started';
          this.#o.onLag?.(name, Math.max(0, (this.#now() - at) / 1000));
        }
        await this.#o.runs.recordTick(tick);
        this.#last.set(name, at);
      }
    }
    this.#arm();
  }

  /** The next time any pipeline is due. */
  nextDue(): number | null {
    let best: number | null = null;
    for (const [name, spec] of Object.entries(this.#o.pipelines)) {
      if (!spec.schedule || spec.paused) continue;
      const t = nextRunAfter(spec, this.#last.get(name) ?? this.#startedAt);
      if (t !== null && (best === null || t < best)) best = t;
    }
    return best;
  }

  #arm(): void {
    if (this.#o.manual || this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    const next = this.nextDue();
    if (next === null) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now()));
    this.#timer = setTimeout(() => void this.tick(), wait);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking;
  }
}

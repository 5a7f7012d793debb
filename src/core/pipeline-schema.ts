/**
 * The `pipelines:` and `alerts:` sections of the config: pipelines (a
 * schedule, a trading calendar, and a DAG of tasks) and alert rules with
 * their channels. Cross-field checks (unknown `needs`, cycles, bad cron
 * patterns, unknown channels) name the path of the bad field.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import { SYMBOL_PATTERN } from './limits.ts';
import { isTimeZone } from './time.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const name = z.string().regex(NAME, 'a name of letters, digits, ".", "_" or "-" (≤ 64)');
const ms = z.number().int().min(0);
const symbol = z.string().regex(SYMBOL_PATTERN, 'a symbol such as AAPL or BINANCE:BTCUSDT');
/** A date (YYYY-MM-DD) or a full ISO 8601 timestamp. */
const date = z
  .string()
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}/.test(s) && Number.isFinite(Date.parse(s)),
    'a date YYYY-MM-DD',
  );
/** A duration such as 10d, 12h, 30m or 2w. */
export const DURATION = /^(\d+)\s*(ms|s|m|h|d|w)$/;
const duration = z.string().regex(DURATION, 'a duration such as 10d, 12h or 30m');

export function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not a duration such as 10d, 12h or 30m`);
  const unit = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[m[2] as 'd'];
  return Number(m[1]) * unit;
}

/** What every task has: dependencies, retries with backoff, a timeout. */
const taskBase = {
  /** Tasks that must succeed before this one starts. */
  needs: z.array(name).default([]),
  /** Retries after the first attempt. */
  retries: z.number().int().min(0).max(100).default(0),
  retryDelayMs: ms.default(1_000),
  backoff: z.enum(['fixed', 'exponential']).default('exponential'),
  maxRetryDelayMs: ms.default(300_000),
  /** An attempt running longer fails (and may be retried). */
  timeoutMs: z.number().int().min(10).default(3_600_000),
};

/** A range of bar dates: fixed `from`/`to`, or `lookback` before the run's scheduled time. */
const range = {
  from: date.optional(),
  to: date.optional(),
  lookback: duration.optional(),
};

export const TaskSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('backfill'),
      ...taskBase,
      source: z.enum(['yahoo', 'stooq']).default('yahoo'),
      symbols: z.array(symbol).min(1),
      interval: z.enum(['1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo']).default('1d'),
      ...range,
    })
    .strict(),
  z
    .object({
      kind: z.literal('import'),
      ...taskBase,
      /** Every file in this folder matching `pattern` is imported once. */
      folder: z.string().min(1),
      pattern: z.string().default('*.csv'),
      /** The symbol of files without a symbol column: the file name's stem (AAPL.csv → AAPL). */
      interval: z.enum(['1m', '5m', '15m', '30m', '1h', '1d', '1wk', '1mo']).default('1d'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('curate'),
      ...taskBase,
      /** Series to refresh (default: every stored series). */
      symbols: z.array(symbol).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('export'),
      ...taskBase,
      layer: z.enum(['raw', 'staging', 'curated']).default('curated'),
      format: z.enum(['parquet', 'csv']).default('parquet'),
      /** Output folder (relative paths are taken from the config file's folder). */
      out: z.string().min(1),
    })
    .strict(),
  z
    .object({
      kind: z.literal('repair'),
      ...taskBase,
      /** Series to check (default: every stored series of the interval). */
      symbols: z.array(symbol).optional(),
      interval: z.enum(['1m', '5m', '15m', '30m', '1h', '1d']).default('1d'),
      /** Provider to refetch from (default: the one that gave the series' bars). */
      source: z.enum(['yahoo', 'stooq']).optional(),
      ...range,
    })
    .strict(),
  z
    .object({
      kind: z.literal('quality'),
      ...taskBase,
      /** Rejects received in this window before the run are reported. */
      lookback: duration.default('1d'),
      /** Fail the task when more records than this were rejected in the window. */
      maxRejects: z.number().int().min(0).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('command'),
      ...taskBase,
      /** The program and its arguments (no shell). */
      command: z.array(z.string().min(1)).min(1),
      cwd: z.string().optional(),
      env: z.record(z.string(), z.string()).default({}),
    })
    .strict(),
  z
    .object({
      kind: z.literal('noop'),
      ...taskBase,
      /** Does nothing in this many partitions (for trying schedules and measuring the runner). */
      partitions: z.number().int().min(1).max(1_000_000).default(1),
      /** Each partition takes this long, ms. */
      durationMs: ms.default(0),
    })
    .strict(),
]);

export type TaskSpec = z.infer<typeof TaskSchema>;
export type TaskKind = TaskSpec['kind'];

export const PipelineSchema = z
  .object({
    description: z.string().optional(),
    /** Cron pattern (5 or 6 fields) in `timezone`; none = run only when asked. */
    schedule: z.string().optional(),
    timezone: z.string().default('UTC'),
    /** Skip scheduled times whose date (in `timezone`) is not a session of this calendar. */
    calendar: z.enum(['XNYS', 'XLON', 'XETR', '24/7']).optional(),
    /** On start, run the schedules missed while stopped (true), or only the next one. */
    catchup: z.boolean().default(false),
    /** Runs of this pipeline at once; more wait in the queue. */
    maxActiveRuns: z.number().int().min(1).max(1_000).default(1),
    /** Task partitions of this pipeline running at once. */
    concurrency: z.number().int().min(1).max(1_000).default(4),
    /** Turn the schedule off without removing the pipeline. */
    paused: z.boolean().default(false),
    tasks: z.record(name, TaskSchema),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (Object.keys(p.tasks).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['tasks'], message: 'at least one task' });
    }
    if (!isTimeZone(p.timezone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['timezone'],
        message: 'an IANA time zone such as America/New_York',
      });
    }
    if (p.schedule !== undefined) {
      try {
        new Cron(p.schedule, {
          paused: true,
          timezone: isTimeZone(p.timezone) ? p.timezone : 'UTC',
        });
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['schedule'],
          message: `a cron pattern such as "30 17 * * 1-5" (${(err as Error).message})`,
        });
      }
    }
    for (const [t, spec] of Object.entries(p.tasks)) {
      spec.needs.forEach((n, i) => {
        if (!Object.hasOwn(p.tasks, n)) {
          ctx.addIssue({
            code: 'custom',
            path: ['tasks', t, 'needs', i],
            message: `a task of this pipeline (no task "${n}"; tasks: ${Object.keys(p.tasks).join(', ')})`,
          });
        }
      });
      if (
        (spec.kind === 'backfill' || spec.kind === 'repair') &&
        spec.lookback &&
        (spec.from || spec.to)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['tasks', t, 'lookback'],
          message: 'either lookback or from/to, not both',
        });
      }
      if (spec.kind === 'backfill' && !spec.lookback && !spec.from) {
        ctx.addIssue({
          code: 'custom',
          path: ['tasks', t, 'from'],
          message: 'a first date (from) or a lookback such as 10d',
        });
      }
    }
    const cycle = findCycle(
      Object.fromEntries(Object.entries(p.tasks).map(([k, v]) => [k, v.needs])),
    );
    if (cycle) {
      ctx.addIssue({
        code: 'custom',
        path: ['tasks', cycle[0]!, 'needs'],
        message: `tasks without a cycle (${cycle.join(' → ')})`,
      });
    }
  });

export type PipelineSpec = z.infer<typeof PipelineSchema>;

/** A cycle in a `needs` graph, as the names along it (first = last), or null. */
export function findCycle(needs: Record<string, readonly string[]>): string[] | null {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 2) return null;
    if (state.get(n) === 1) return [...path.slice(path.indexOf(n)), n];
    state.set(n, 1);
    path.push(n);
    for (const m of needs[n] ?? []) {
      if (!Object.hasOwn(needs, m)) continue;
      const c = visit(m);
      if (c) return c;
    }
    path.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of Object.keys(needs)) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

/** The runner's settings, beside the pipelines in the same section. */
export const RUNNER_KEYS = [
  'runner',
  'postgresUrl',
  'postgresSchema',
  'concurrency',
  'retentionDays',
  'leaseMs',
  'pollMs',
] as const;

export const PipelinesSectionSchema = z
  .object({
    /** embedded: runs in the process that holds the data folder; postgres: a leader and workers share a PostgreSQL queue. */
    runner: z.enum(['embedded', 'postgres']).default('embedded'),
    /** postgres://… (or TICKLINE_PG_URL). */
    postgresUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
      .optional(),
    /** The PostgreSQL schema of the shared run history. */
    postgresSchema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _')
      .default('tickline_pipelines'),
    /** Task partitions running at once in this process, over all pipelines. */
    concurrency: z.number().int().min(1).max(1_000).default(16),
    /** Runs (with their tasks, logs and alerts) older than this many days are removed. */
    retentionDays: z.number().int().min(1).default(90),
    /** Leader lease and worker heartbeat timeout (postgres runner), ms. */
    leaseMs: z.number().int().min(500).default(10_000),
    /** How often workers poll the queue when idle (postgres runner), ms. */
    pollMs: z.number().int().min(10).default(250),
  })
  .catchall(PipelineSchema);

export type PipelinesSection = z.infer<typeof PipelinesSectionSchema>;

export interface RunnerSettings {
  runner: 'embedded' | 'postgres';
  postgresUrl?: string | undefined;
  postgresSchema: string;
  concurrency: number;
  retentionDays: number;
  leaseMs: number;
  pollMs: number;
}

/** The runner's settings of a section (typed: the section also holds the pipelines). */
export function runnerOf(section: PipelinesSection): RunnerSettings {
  return section as unknown as RunnerSettings;
}

/** The pipelines of a section, without the runner's settings. */
export function pipelinesOf(section: PipelinesSection): Record<string, PipelineSpec> {
  const out: Record<string, PipelineSpec> = {};
  for (const [k, v] of Object.entries(section)) {
    if (!(RUNNER_KEYS as readonly string[]).includes(k)) out[k] = v as PipelineSpec;
  }
  return out;
}

const EmailChannel = z
  .object({
    kind: z.literal('email'),
    to: z.array(z.string().regex(/^[^\s@]+@[^\s@]+$/, 'an email address')).min(1),
    from: z.string().regex(/^[^\s@]+@[^\s@]+$/, 'an email address'),
    /** The SMTP server; user and password come from TICKLINE_SMTP_USER / TICKLINE_SMTP_PASSWORD. */
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65_535).default(587),
        /** true: TLS from the start (port 465); false: STARTTLS when the server offers it. */
        secure: z.boolean().default(false),
      })
      .strict(),
  })
  .strict();

const WebhookChannel = z
  .object({
    kind: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export const AlertRuleSchema = z
  .object({
    on: z.enum(['run_failed', 'run_succeeded', 'feed_stale', 'quarantine_rate', 'data_stale']),
    channels: z.array(name).min(1),
    /** run_*: only these pipelines (default all). */
    pipelines: z.array(name).optional(),
    /** quarantine_rate: the fraction of records rejected above which it fires. */
    above: z.number().min(0).max(1).optional(),
    /** quarantine_rate: the window the rate is taken over. */
    window: duration.default('5m'),
    /** data_stale: the bar interval of the series watched. */
    interval: z.enum(['1m', '5m', '15m', '30m', '1h', '1d']).default('1d'),
    /** data_stale: sessions a series may be behind before it fires. */
    sessions: z.number().int().min(1).default(1),
  })
  .strict();

export type AlertRule = z.infer<typeof AlertRuleSchema>;

export const AlertsSchema = z
  .object({
    channels: z
      .record(name, z.discriminatedUnion('kind', [EmailChannel, WebhookChannel]))
      .default({}),
    rules: z.array(AlertRuleSchema).default([]),
    /** A condition still true is notified again after this long (no storm). */
    repeatInterval: duration.default('4h'),
    /** Alerts of one rule that fire within this long are sent together. */
    groupWait: duration.default('0s'),
    /** How often conditions (stale feeds and data, quarantine rate) are evaluated. */
    evaluateEvery: duration.default('30s'),
  })
  .strict()
  .superRefine((a, ctx) => {
    a.rules.forEach((r, i) => {
      r.channels.forEach((c, j) => {
        if (!Object.hasOwn(a.channels, c)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', i, 'channels', j],
            message: `a channel defined under alerts.channels (no channel "${c}")`,
          });
        }
      });
      if (r.on === 'quarantine_rate' && r.above === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'above'],
          message: 'a fraction such as 0.05',
        });
      }
    });
  });

export type AlertsConfig = z.infer<typeof AlertsSchema>;
export type AlertChannel = AlertsConfig['channels'][string];

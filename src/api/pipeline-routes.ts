/**
 * Pipelines over HTTP: pipelines, runs (with attempts and logs), retry and
 * cancel, alerts, and POST /api/backfill as a run of a one-off pipeline
 * (its progress at GET /api/jobs/{id}, its history with the other runs).
 */
import { z } from 'zod';
import { UsageError } from '../core/errors.ts';
import { SYMBOL_PATTERN, SYMBOL_RULE } from '../core/limits.ts';
import { AlertmanagerWebhookSchema, alertmanagerRecord } from '../observability/alertmanager.ts';
import type { RunDetail } from '../pipelines/pipeline-service.ts';
import type { AttemptRecord } from '../pipelines/runs/run-store.ts';
import {
  BackfillBodySchema,
  EmptyQuerySchema,
  JobParamsSchema,
  JobResponseSchema,
} from './api-schemas.ts';
import type { ApiContext } from './context.ts';
import { ApiError, type RouteDef, route } from './route-def.ts';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a pipeline name');
const RunIdParams = z.object({ id: z.uuid('a run id (see GET /api/runs)') }).strict();
const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

const RunSchema = z.object({
  id: z.string(),
  pipeline: z.string(),
  trigger: z.enum(['schedule', 'manual', 'retry', 'catch-up', 'backfill']),
  state: z.enum(RUN_STATES),
  scheduledFor: z.number().describe('epoch ms'),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  rows: z.number(),
  rejects: z.number(),
  error: z.string().nullable(),
  params: z.unknown().describe('the pipeline as it was, each task’s partitions and bar range'),
});

const AttemptSchema = z.object({
  id: z.string(),
  runId: z.string(),
  pipeline: z.string(),
  task: z.string(),
  partition: z.string().describe("'' for a task that does not fan out"),
  attempt: z.number().describe('1-based; 0 for a task skipped because an upstream task failed'),
  trigger: z.string(),
  state: z.enum(['queued', 'retrying', 'running', 'succeeded', 'failed', 'skipped', 'cancelled']),
  dueAt: z.number(),
  startedAt: z.number().nullable(),
  endedAt: z.number().nullable(),
  rows: z.number(),
  rejects: z.number(),
  error: z.string().nullable(),
  owner: z.string().nullable(),
  heartbeatAt: z.number().nullable(),
  endSeq: z.number().nullable(),
  retryAt: z.number().nullable(),
});

const PipelineInfoSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  schedule: z.string().nullable(),
  timezone: z.string(),
  calendar: z.string().nullable(),
  paused: z.boolean(),
  tasks: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      needs: z.array(z.string()),
      partitions: z.number().nullable(),
    }),
  ),
  nextRun: z.number().nullable(),
  lastRun: z
    .object({
      id: z.string(),
      state: z.string(),
      scheduledFor: z.number(),
      endedAt: z.number().nullable(),
    })
    .nullable(),
});

const AlertSchema = z.object({
  id: z.string(),
  rule: z.string(),
  key: z.string(),
  state: z.enum(['firing', 'resolved']),
  channel: z.string(),
  outcome: z.string(),
  subject: z.string(),
  body: z.string(),
  at: z.number(),
  error: z.string().nullable(),
});

/** The service's refusals as HTTP answers: an unknown run or pipeline is 404, a wrong state 409. */
async function answer<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      const message = err.message.replace(/^[^:]+: /, '');
      throw new ApiError(/^no (run|pipeline)|has no task/.test(message) ? 404 : 409, message);
    }
    throw err;
  }
}

/** A backfill run as the job it was before runs existed. */
export function jobOf(d: RunDetail) {
  const latest = new Map<string, AttemptRecord>();
  for (const a of d.attempts) {
    const prior = latest.get(a.partition);
    if (a.task === 'fetch' && (!prior || a.attempt > prior.attempt)) latest.set(a.partition, a);
  }
  const symbols = d.run.params.partitions.fetch ?? [];
  const ended = [...latest.values()].filter(
    (a) => ['succeeded', 'failed', 'cancelled'].includes(a.state) && a.retryAt === null,
  );
  const failed = ended.filter((a) => a.state !== 'succeeded');
  const { run } = d;
  const running = run.state === 'queued' || run.state === 'running';
  // A backfill that fetched nothing failed, whatever its tasks' state: every symbol failed.
  const allFailed = !running && symbols.length > 0 && failed.length === symbols.length;
  const error =
    run.error ??
    (allFailed
      ? `every symbol failed: ${failed
          .slice(0, 3)
          .map((a) => `${a.partition}: ${a.error ?? a.state}`)
          .join('; ')}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''}`
      : null);
  return {
    id: run.id,
    kind: 'backfill' as const,
    state: running ? 'running' : run.state === 'succeeded' && !allFailed ? 'done' : 'failed',
    params: run.params,
    progress: {
      done: ended.length,
      total: symbols.length,
      rows: ended.reduce((n, a) => n + a.rows, 0),
      rejects: ended.reduce((n, a) => n + a.rejects, 0),
      errors: failed.length,
    },
    errors: failed.map((a) => ({ symbol: a.partition, message: a.error ?? a.state })),
    startedAt: run.startedAt ?? run.createdAt,
    endedAt: run.endedAt,
    error,
    run: `/api/runs/${run.id}`,
  };
}

export const PIPELINE_ROUTES: RouteDef[] = [
  route({
    method: 'POST',
    path: '/api/backfill',
    audit: 'backfill',
    summary:
      'Starts a backfill (admin): a run of a one-off pipeline, one partition per symbol; returns it as a job',
    scope: 'admin',
    query: EmptyQuerySchema,
    body: BackfillBodySchema,
    bodyExample: { source: 'yahoo', symbols: ['AAPL', 'MSFT'], interval: '1d', from: '2024-01-02' },
    response: JobResponseSchema,
    status: 202,
    handler: async (ctx: ApiContext, _q, { body }) => {
      const to = body.to ?? Date.now();
      if (body.from >= to) throw new ApiError(400, 'from: must be before to', 'from');
      const run = await ctx.pipelines.runBackfill({
        source: body.source,
        symbols: [...new Set(body.symbols.map((s) => s.toUpperCase()))],
        interval: body.interval,
        from: body.from,
        to,
      });
      return { status: 202, body: jobOf(await ctx.pipelines.show(run.id)) };
    },
  }),
  route({
    method: 'GET',
    path: '/api/jobs/:id',
    summary:
      'A backfill’s state and progress: done/total, rows, rejects, errors (its run: /api/runs/{id})',
    query: EmptyQuerySchema,
    params: JobParamsSchema,
    response: JobResponseSchema,
    handler: async (ctx, _q, { params }) => ({
      body: jobOf(await answer(() => ctx.pipelines.show(params.id))),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/pipelines',
    summary: 'Pipelines: schedule, calendar, tasks, next run and last run',
    query: EmptyQuerySchema,
    response: z.object({ pipelines: z.array(PipelineInfoSchema) }),
    handler: async (ctx) => ({ body: { pipelines: await ctx.pipelines.list() } }),
  }),
  route({
    method: 'POST',
    path: '/api/pipelines/:name/runs',
    audit: 'pipelines.run',
    conflict: 'The pipeline cannot start a run now (its state says why)',
    summary: 'Starts a run of a pipeline now (admin)',
    scope: 'admin',
    query: EmptyQuerySchema,
    params: z.object({ name }).strict(),
    response: RunSchema,
    status: 202,
    handler: async (ctx, _q, { params }) => ({
      status: 202,
      body: await answer(() => ctx.pipelines.run(params.name)),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/runs',
    summary: 'Runs, newest first',
    query: z
      .object({
        pipeline: name.optional(),
        state: z.enum(RUN_STATES).optional(),
        limit: z.coerce.number().int().min(1).max(1_000).default(50),
      })
      .strict(),
    response: z.object({ runs: z.array(RunSchema) }),
    handler: async (ctx, q) => ({
      body: {
        runs: await answer(() =>
          ctx.pipelines.runs({
            ...(q.pipeline ? { pipeline: q.pipeline } : {}),
            ...(q.state ? { state: q.state } : {}),
            limit: q.limit,
          }),
        ),
      },
    }),
  }),
  route({
    method: 'GET',
    path: '/api/runs/:id',
    summary: 'One run with every attempt of every task partition',
    query: EmptyQuerySchema,
    params: RunIdParams,
    response: z.object({ run: RunSchema, attempts: z.array(AttemptSchema) }),
    handler: async (ctx, _q, { params }) => ({
      body: await answer(() => ctx.pipelines.show(params.id)),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/runs/:id/logs',
    summary: 'A run’s task logs, oldest first',
    query: z.object({ task: z.string().min(1).optional() }).strict(),
    params: RunIdParams,
    response: z.object({
      logs: z.array(
        z.object({
          runId: z.string(),
          task: z.string(),
          partition: z.string(),
          attempt: z.number(),
          ts: z.number(),
          level: z.enum(['info', 'warn', 'error']),
          message: z.string(),
        }),
      ),
    }),
    handler: async (ctx, q, { params }) => ({
      body: { logs: await answer(() => ctx.pipelines.logs(params.id, q.task)) },
    }),
  }),
  route({
    method: 'POST',
    path: '/api/runs/:id/retry',
    audit: 'runs.retry',
    conflict: 'The run has not ended, or nothing of it failed',
    summary: 'Retries the failed partitions of an ended run (admin)',
    scope: 'admin',
    query: EmptyQuerySchema,
    params: RunIdParams,
    response: RunSchema,
    status: 202,
    handler: async (ctx, _q, { params }) => ({
      status: 202,
      body: await answer(() => ctx.pipelines.retry(params.id)),
    }),
  }),
  route({
    method: 'POST',
    path: '/api/runs/:id/cancel',
    audit: 'runs.cancel',
    conflict: 'The run has ended already',
    summary: 'Cancels a queued or running run (admin)',
    scope: 'admin',
    query: EmptyQuerySchema,
    params: RunIdParams,
    response: RunSchema,
    handler: async (ctx, _q, { params }) => ({
      body: await answer(() => ctx.pipelines.cancel(params.id)),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/gaps',
    summary: 'Expected bars (by each symbol’s trading calendar) that are not stored, as ranges',
    query: z
      .object({
        symbol: z.string().regex(SYMBOL_PATTERN, SYMBOL_RULE).optional(),
        interval: z.enum(['1d', '1h', '30m', '15m', '5m', '1m']).default('1d'),
        from: z.coerce.number().int().optional().describe('epoch ms'),
        to: z.coerce.number().int().optional().describe('epoch ms'),
      })
      .strict(),
    response: z.object({
      gaps: z.array(
        z.object({
          symbol: z.string(),
          interval: z.string(),
          from: z.number(),
          to: z.number(),
          missing: z.number(),
          reason: z
            .string()
            .nullable()
            .describe('why it stays missing (the provider had nothing), or null: to fill'),
        }),
      ),
    }),
    handler: async (ctx, q) => ({
      body: {
        gaps: await ctx.pipelines.gaps({
          interval: q.interval,
          ...(q.symbol ? { symbol: q.symbol.toUpperCase() } : {}),
          ...(q.from !== undefined ? { from: q.from } : {}),
          ...(q.to !== undefined ? { to: q.to } : {}),
        }),
      },
    }),
  }),
  route({
    method: 'POST',
    path: '/api/alerts/alertmanager',
    summary:
      'Receives Alertmanager notifications (admin; its webhook_config): each alert joins the alert history, once per alert, state and start',
    scope: 'admin',
    query: EmptyQuerySchema,
    body: AlertmanagerWebhookSchema,
    bodyExample: {
      version: '4',
      status: 'firing',
      receiver: 'ops',
      groupKey: '{}:{alertname="TicklineFeedStale"}',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'TicklineFeedStale', feed: 'finnhub', severity: 'warning' },
          annotations: { summary: 'the finnhub feed on tickline:7070 is stale' },
          startsAt: '2026-12-04T15:02:11Z',
          endsAt: '0001-01-01T00:00:00Z',
          fingerprint: 'c1a4b0b5d9e0f2a3',
        },
      ],
    },
    response: z.object({ recorded: z.number().int() }),
    handler: async (ctx, _q, { body }) => {
      const records = body.alerts.map((a) => alertmanagerRecord(a, body.receiver));
      for (const r of records) await ctx.pipelines.recordAlert(r);
      return { body: { recorded: records.length } };
    },
  }),
  route({
    method: 'GET',
    path: '/api/audit',
    summary:
      'The audit log (admin): admin actions, refused ones included, with who (key id or cli:<user>), what, when and how it ended; newest first',
    scope: 'admin',
    query: z
      .object({
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(100)
          .describe('at most this many'),
        action: z
          .string()
          .regex(/^[a-z][a-z_.]{0,63}$/, 'an action such as keys.create')
          .optional()
          .describe('only this action, e.g. keys.create, runs.retry'),
      })
      .strict(),
    response: z.object({
      entries: z.array(
        z.object({
          id: z.string(),
          at: z.number().describe('epoch ms'),
          actor: z.string().describe('key:<id> over the API, cli:<user> from the CLI, anonymous'),
          action: z.string(),
          target: z.string().nullable(),
          outcome: z.enum(['ok', 'failed']),
          detail: z.string().nullable(),
        }),
      ),
    }),
    handler: async (ctx, q) => ({
      body: { entries: await ctx.pipelines.auditLog(q.limit, q.action) },
    }),
  }),
  route({
    method: 'GET',
    path: '/api/alerts',
    summary: 'Alerts sent, failed or resolved, newest first',
    query: z.object({ limit: z.coerce.number().int().min(1).max(1_000).default(100) }).strict(),
    response: z.object({ alerts: z.array(AlertSchema) }),
    handler: async (ctx, q) => ({ body: { alerts: await ctx.pipelines.alerts(q.limit) } }),
  }),
];

/**
 * What each task kind does, and how a run is planned (each task's
 * partitions and bar range). Tasks work through the bar Store; a failing
 * partition throws, and the executor retries it by the task's policy.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CalendarResolver } from '../calendar/registry.ts';
import type { Config } from '../core/config.ts';
import { durationMs, type PipelineSpec, type TaskSpec } from '../core/pipeline-schema.ts';
import { DoNotRetryError } from '../core/retry.ts';
import { DAY_MS, intervalMs } from '../core/time.ts';
import { CsvSource } from '../sources/csv/csv-source.ts';
import type { Source } from '../sources/source.ts';
import { StooqSource } from '../sources/stooq/stooq-source.ts';
import { YahooSource } from '../sources/yahoo/yahoo-source.ts';
import { isBarSeries, type Store } from '../store/store.ts';
import type { TaskContext, TaskOutcome } from './executor.ts';
import { findGaps, type GapRange, knownGaps } from './gaps.ts';
import { ingest } from './ingest.ts';
import type { RunParams, RunStore } from './runs/run-store.ts';

export interface TaskEnv {
  store: Store;
  cfg: Config;
  runs: RunStore;
  /** Each symbol's trading calendar (the gap loop's expected bars). */
  calendars: CalendarResolver;
}

export function sourceFor(name: 'yahoo' | 'stooq', cfg: Config): Source {
  return name === 'yahoo'
    ? new YahooSource({ baseUrl: cfg.sources.yahoo.baseUrl, retry: cfg.http })
    : new StooqSource({ baseUrl: cfg.sources.stooq.baseUrl, retry: cfg.http });
}

/** A bar range of a task: fixed dates (to inclusive), or the lookback before the scheduled time. */
function rangeOf(
  t: { from?: string | undefined; to?: string | undefined; lookback?: string | undefined },
  scheduledFor: number,
): { from: number; to: number } {
  if (t.lookback) return { from: scheduledFor - durationMs(t.lookback), to: scheduledFor };
  const from = t.from ? Date.parse(t.from) : 0;
  let to = scheduledFor;
  if (t.to) to = Date.parse(t.to) + (/^\d{4}-\d{2}-\d{2}$/.test(t.to) ? DAY_MS : 0);
  return { from, to };
}

const pattern = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.')}$`,
  );

async function hashFile(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Each task's partitions and range, fixed when the run is made (a retry covers the same). */
export async function planRun(
  env: Pick<TaskEnv, 'runs'>,
  pipeline: string,
  spec: PipelineSpec,
  scheduledFor: number,
): Promise<RunParams> {
  const partitions: Record<string, string[]> = {};
  const ranges: Record<string, { from: number; to: number }> = {};
  for (const [name, t] of Object.entries(spec.tasks)) {
    if (t.kind === 'backfill') {
      partitions[name] = [...t.symbols];
      ranges[name] = rangeOf(t, scheduledFor);
    } else if (t.kind === 'repair') {
      if (t.from || t.to || t.lookback) ranges[name] = rangeOf(t, scheduledFor);
      partitions[name] = t.symbols ? [...t.symbols] : [''];
    } else if (t.kind === 'noop') {
      partitions[name] =
        t.partitions === 1 ? [''] : Array.from({ length: t.partitions }, (_, i) => String(i));
    } else if (t.kind === 'import') {
      const re = pattern(t.pattern);
      let files: string[] = [];
      try {
        files = (await readdir(t.folder)).filter((f) => re.test(f)).sort();
      } catch {
        files = [];
      }
      const done = await env.runs.importedFiles(pipeline, name);
      const fresh: string[] = [];
      for (const f of files) {
        const h = await hashFile(join(t.folder, f)).catch(() => null);
        if (h && !done.has(h)) fresh.push(f);
      }
      // A run with no new file has one empty partition that does nothing.
      partitions[name] = fresh.length > 0 ? fresh : [''];
    }
  }
  return { spec, partitions, ranges };
}

/** Runs one attempt of one task partition. */
export function taskRunner(env: TaskEnv): (ctx: TaskContext) => Promise<TaskOutcome> {
  return async (ctx) => {
    const t = ctx.spec;
    switch (t.kind) {
      case 'backfill':
        return backfill(env, ctx, t);
      case 'import':
        return importFile(env, ctx, t);
      case 'curate': {
        const series = (await env.store.status()).filter(
          (s) => isBarSeries(s) && (!t.symbols || t.symbols.includes(s.symbol)),
        );
        await env.store.refreshCurated(
          series.map((s) => ({ symbol: s.symbol, interval: s.interval })),
        );
        ctx.log('info', `refreshed the curated layer of ${series.length} series`);
        return { rows: series.reduce((n, s) => n + s.rows, 0), rejects: 0 };
      }
      case 'export': {
        const files = await env.store.capability('export').exportLake({
          layer: t.layer,
          format: t.format,
          outDir: t.out,
        });
        ctx.log(
          'info',
          `wrote ${files.length} ${t.format} file${files.length === 1 ? '' : 's'} under ${join(t.out, t.layer)}`,
        );
        return { rows: files.length, rejects: 0 };
      }
      case 'quality': {
        // Rejects are stamped when received: the window ends when the task runs.
        const to = Date.now();
        const from = to - durationMs(t.lookback);
        const rows = await env.store
          .capability('analytics')
          .rejectHistogram(Math.max(1, to - from), { from, to });
        const byRule = new Map<string, number>();
        for (const r of rows) byRule.set(r.rule, (byRule.get(r.rule) ?? 0) + r.n);
        const total = [...byRule.values()].reduce((a, b) => a + b, 0);
        ctx.log(
          'info',
          `${total} rejects in the ${t.lookback} before ${new Date(to).toISOString()}`,
        );
        for (const [rule, n] of [...byRule].sort((a, b) => b[1] - a[1]))
          ctx.log('info', `  ${rule}: ${n}`);
        if (t.maxRejects !== undefined && total > t.maxRejects) {
          throw new DoNotRetryError(
            `${total} rejects in the last ${t.lookback}, above maxRejects ${t.maxRejects}`,
          );
        }
        return { rows: 0, rejects: total };
      }
      case 'command':
        return command(ctx, t);
      case 'repair':
        return repair(env, ctx, t);
      case 'noop':
        if (t.durationMs > 0) await new Promise((r) => setTimeout(r, t.durationMs));
        return { rows: 0, rejects: 0 };
    }
  };
}

/** One source request through quality into the store; a failure throws, naming `what`. */
async function ingestOne(
  env: TaskEnv,
  ctx: TaskContext,
  what: string,
  task: Parameters<typeof ingest>[0][number],
): Promise<Awaited<ReturnType<typeof ingest>>> {
  const summary = await ingest([task], {
    store: env.store,
    quality: env.cfg.quality,
    signal: ctx.signal,
  });
  const failed = summary.failed[0];
  if (failed) throw new Error(`${what}: ${failed.error ?? 'failed'}`);
  return summary;
}

async function backfill(
  env: TaskEnv,
  ctx: TaskContext,
  t: Extract<TaskSpec, { kind: 'backfill' }>,
): Promise<TaskOutcome> {
  const symbol = ctx.attempt.partition;
  const range = ctx.run.params.ranges[ctx.attempt.task]!;
  const summary = await ingestOne(env, ctx, symbol, {
    source: sourceFor(t.source, env.cfg),
    request: { symbol, interval: t.interval, from: range.from, to: range.to },
  });
  ctx.log(
    'info',
    `${symbol}: ${summary.rows} bars valid, ${summary.changed} stored or changed, ${summary.rejects} rejects`,
  );
  return { rows: summary.rows, rejects: summary.rejects };
}

async function importFile(
  env: TaskEnv,
  ctx: TaskContext,
  t: Extract<TaskSpec, { kind: 'import' }>,
): Promise<TaskOutcome> {
  const name = ctx.attempt.partition;
  if (name === '') {
    ctx.log('info', `no new file in ${t.folder} matching ${t.pattern}`);
    return { rows: 0, rejects: 0 };
  }
  const file = join(t.folder, name);
  const hash = await hashFile(file);
  const symbol = name.replace(/\.[^.]*$/, '').toUpperCase();
  const summary = await ingestOne(env, ctx, name, {
    source: new CsvSource({ file }),
    request: { symbol, interval: t.interval, from: -8.64e15, to: 8.64e15 },
  });
  await env.runs.markImported(ctx.run.pipeline, ctx.attempt.task, name, hash, Date.now());
  ctx.log('info', `${name}: ${summary.rows} bars valid, ${summary.rejects} rejects`);
  return { rows: summary.rows, rejects: summary.rejects };
}

function command(
  ctx: TaskContext,
  t: Extract<TaskSpec, { kind: 'command' }>,
): Promise<TaskOutcome> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = t.command;
    const child = spawn(program!, args, {
      cwd: t.cwd,
      env: {
        ...process.env,
        ...t.env,
        TICKLINE_RUN_ID: ctx.run.id,
        TICKLINE_TASK: ctx.attempt.task,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = (level: 'info' | 'warn') => {
      let rest = '';
      return (chunk: Buffer): void => {
        const text = rest + chunk.toString('utf8');
        const parts = text.split('\n');
        rest = parts.pop() ?? '';
        for (const p of parts) ctx.log(level, p);
      };
    };
    child.stdout.on('data', lines('info'));
    child.stderr.on('data', lines('warn'));
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) =>
      reject(new DoNotRetryError(`cannot run ${program}: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      ctx.signal.removeEventListener('abort', onAbort);
      if (code === 0) resolve({ rows: 0, rejects: 0 });
      else reject(new Error(`${program} exited ${code ?? signal}`));
    });
  });
}

/**
 * The gap loop's second half: backfills exactly the missing ranges of each
 * series from its source, checks them again, and records the bars the
 * provider could not give (they stay listed by `gaps`, with the reason, and
 * are not asked for again).
 */
async function repair(
  env: TaskEnv,
  ctx: TaskContext,
  t: Extract<TaskSpec, { kind: 'repair' }>,
): Promise<TaskOutcome> {
  const range = ctx.run.params.ranges[ctx.attempt.task];
  const q = {
    interval: t.interval,
    ...(ctx.attempt.partition ? { symbol: ctx.attempt.partition } : {}),
    ...(range ? { from: range.from, to: range.to - 1 } : {}),
  };
  const known = knownGaps(await env.runs.unfillable());
  const gaps = (await findGaps(env.store, env.calendars, q, known)).filter(
    (g) => g.reason === null,
  );
  if (gaps.length === 0) {
    ctx.log('info', `no gaps in ${ctx.attempt.partition || 'any series'} (${t.interval})`);
    return { rows: 0, rejects: 0 };
  }
  const bySeries = new Map<string, GapRange[]>();
  for (const g of gaps) bySeries.set(g.symbol, [...(bySeries.get(g.symbol) ?? []), g]);
  let filled = 0;
  let rejects = 0;
  const step = intervalMs(t.interval);
  for (const [symbol, list] of bySeries) {
    if (ctx.signal.aborted) break;
    const last = (
      await env.store.readBars({ symbol, interval: t.interval, order: 'desc', limit: 1 })
    )[0];
    const name =
      t.source ?? (last?.source === 'yahoo' || last?.source === 'stooq' ? last.source : null);
    const missing = list.reduce((n, g) => n + g.missing, 0);
    if (!name) {
      ctx.log(
        'warn',
        `${symbol}: ${missing} missing bars, but its bars came from ${last?.source ?? 'nowhere'}, which cannot be asked again (set source: on the task)`,
      );
      continue;
    }
    const source = sourceFor(name, env.cfg);
    const summary = await ingest(
      list.map((g) => ({
        source,
        request: { symbol, interval: t.interval, from: g.from, to: g.to + step },
      })),
      { store: env.store, quality: env.cfg.quality, signal: ctx.signal, concurrency: 1 },
    );
    const bad = summary.failed.find((f) => f.error);
    if (bad) throw new Error(`${symbol}: ${bad.error}`);
    rejects += summary.rejects;
    // Check again: what is still missing, the provider does not have.
    const still = (
      await Promise.all(
        list.map((g) =>
          findGaps(
            env.store,
            env.calendars,
            { symbol, interval: t.interval, from: g.from, to: g.to },
            known,
          ),
        ),
      )
    ).flat();
    const left = still.reduce((n, g) => n + g.missing, 0);
    filled += missing - left;
    const rows: { symbol: string; interval: string; ts: number; reason: string }[] = [];
    for (const g of still) {
      for (const ts of env.calendars.for(symbol).expectedBars(step, g.from, g.to)) {
        rows.push({
          symbol,
          interval: t.interval,
          ts,
          reason: `${name} had no bar when asked on ${new Date().toISOString().slice(0, 10)}`,
        });
      }
    }
    await env.runs.markUnfillable(rows, Date.now());
    ctx.log(
      'info',
      `${symbol} ${t.interval}: filled ${missing - left} of ${missing} missing bars in ${list.length} range${list.length === 1 ? '' : 's'} from ${name}${left ? `; ${left} the provider could not give (${still.map((g) => new Date(g.from).toISOString().slice(0, 10)).join(', ')})` : ''}`,
    );
  }
  return { rows: filled, rejects };
}

/**
 * `tickline pipelines` (list, run, backfill), `tickline runs` (list, show,
 * logs, retry, cancel) and `tickline alerts`. With a server running they go
 * through it; otherwise runs happen in this process.
 */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import type { AttemptRecord, RunRecord, RunState } from '../../pipelines/runs/run-store.ts';
import { parseChoice, parseDate, parsePositiveInt } from '../args.ts';
import { audited } from '../audit.ts';
import { commandConfig, type GlobalOptions } from '../context.ts';
import { formatJson, formatTable, progressBar } from '../output.ts';
import { withPipelines } from '../pipelines-access.ts';

const FORMATS = ['table', 'json'] as const;
const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
const iso = (ms: number | null): string =>
  ms === null ? '' : new Date(ms).toISOString().replace('.000Z', 'Z');
const secs = (a: number | null, b: number | null): string =>
  a === null || b === null ? '' : `${((b - a) / 1000).toFixed(1)}s`;
const clip = (s: string | null, n = 80): string =>
  s === null ? '' : s.length > n ? `${s.slice(0, n - 1)}…` : s;

function runRow(r: RunRecord): Record<string, unknown> {
  return {
    id: r.id,
    pipeline: r.pipeline,
    trigger: r.trigger,
    state: r.state,
    scheduled: iso(r.scheduledFor),
    started: iso(r.startedAt),
    duration: secs(r.startedAt, r.endedAt),
    rows: r.rows,
    rejects: r.rejects,
    error: clip(r.error),
  };
}

function attemptRow(a: AttemptRecord): Record<string, unknown> {
  return {
    task: a.task,
    partition: a.partition,
    attempt: a.attempt,
    state: a.state,
    trigger: a.trigger,
    started: iso(a.startedAt),
    duration: secs(a.startedAt, a.endedAt),
    rows: a.rows,
    rejects: a.rejects,
    error: clip(a.error, 100),
  };
}

const global = (cmd: Command) => commandConfig(cmd.optsWithGlobals() as GlobalOptions);

export function registerPipelines(program: Command): void {
  const pipelines = program
    .command('pipelines')
    .description('scheduled pipelines: list, run, backfill');
  pipelines
    .command('list')
    .description('pipelines with their schedule, next run and last state')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: { format?: string }, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const list = await withPipelines(global(cmd), (api) => api.list());
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(list)}\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          [
            'name',
            'schedule',
            'timezone',
            'calendar',
            'tasks',
            'next run',
            'last state',
            'last run',
          ],
          list.map((p) => ({
            name: p.name,
            schedule: p.paused ? `${p.schedule ?? ''} (paused)` : (p.schedule ?? 'on demand'),
            timezone: p.timezone,
            calendar: p.calendar ?? '',
            tasks: p.tasks.map((t) => t.name).join(' → '),
            'next run': iso(p.nextRun),
            'last state': p.lastRun?.state ?? '',
            'last run': p.lastRun?.id ?? '',
          })),
        ),
      );
    });
  pipelines
    .command('run <name>')
    .description(
      'start a run now and print its id; --wait: exit 0 when it succeeds, 1 when it fails',
    )
    .option('--wait', 'wait for the run to end')
    .option('--format <f>', 'table | json', 'table')
    .action(async (name: string, o: { wait?: boolean; format?: string }, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const ended = await withPipelines(
        global(cmd),
        async (api, where) => {
          const run = await audited(
            api,
            'pipelines.run',
            name,
            () => api.run(name),
            (r) => `run ${r.id}`,
          );
          if (format === 'table') process.stdout.write(`${run.id}\n`);
          // With no server the run happens here, so this process stays until it ends.
          if (!o.wait && where === 'server') return run;
          if (where === 'here')
            process.stderr.write(`no server holds the data folder: running ${name} here\n`);
          return api.wait(run.id);
        },
        { work: true },
      );
      if (format === 'json') process.stdout.write(`${JSON.stringify(ended)}\n`);
      if (ended.state !== 'queued' && ended.state !== 'running') {
        process.stderr.write(
          `run ${ended.id} ${ended.state}${ended.error ? `: ${ended.error}` : ''}\n`,
        );
      }
      if (o.wait && ended.state !== 'succeeded') process.exitCode = 1;
    });
  pipelines
    .command('backfill <name>')
    .description('one run per scheduled time from --from to --to (session days of its calendar)')
    .option('--from <date>', 'first date (YYYY-MM-DD)')
    .option('--to <date>', 'last date, inclusive (YYYY-MM-DD)')
    .option('--format <f>', 'table | json', 'table')
    .action(async (name: string, o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      if (!o.from) throw new UsageError('--from', 'is required (YYYY-MM-DD)');
      if (!o.to) throw new UsageError('--to', 'is required (YYYY-MM-DD)');
      const from = parseDate('--from', o.from);
      const to = parseDate('--to', o.to) + 86_400_000;
      if (to <= from) throw new UsageError('--to', `${o.to} is before --from ${o.from}`);
      const runs = await withPipelines(
        global(cmd),
        async (api, where) => {
          const bar = progressBar(1, ' {bar} {value}/{total} runs made');
          const made = await audited(
            api,
            'pipelines.backfill',
            name,
            () => api.backfill(name, from, to, (done, total) => bar.update({ total }, done)),
            (runs) => `${runs.length} runs from ${o.from} to ${o.to}`,
          );
          bar.stop();
          if (where === 'server') return made;
          // Here, the runs happen in this process: wait for each, with a bar.
          const ran = progressBar(made.length, ' {bar} {value}/{total} runs ended');
          const ended: RunRecord[] = [];
          for (const r of made) {
            ended.push(await api.wait(r.id));
            ran.update({}, ended.length);
          }
          ran.stop();
          return ended;
        },
        { work: true },
      );
      if (format === 'json') process.stdout.write(formatJson(runs.map(runRow)));
      else process.stdout.write(formatTable(['id', 'scheduled', 'state'], runs.map(runRow)));
      process.stderr.write(`${runs.length} run${runs.length === 1 ? '' : 's'} of ${name}\n`);
      if (runs.some((r) => r.state === 'failed')) process.exitCode = 1;
    });

  const runs = program
    .command('runs')
    .description(
      'run history: runs [list] [--pipeline N] [--state S] [--limit N], runs show|logs|retry|cancel ID',
    );
  runs
    .command('list', { isDefault: true })
    .description('runs, newest first')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--state <s>', RUN_STATES.join(' | '))
    .option('--limit <n>', 'at most this many', '20')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const state =
        o.state === undefined ? undefined : parseChoice('--state', o.state, RUN_STATES, 'queued');
      const limit = parsePositiveInt('--limit', o.limit, 20, 10_000);
      const list = await withPipelines(global(cmd), (api) =>
        api.runs({
          ...(o.pipeline ? { pipeline: o.pipeline } : {}),
          ...(state ? { state: state as RunState } : {}),
          limit,
        }),
      );
      if (format === 'json') process.stdout.write(`${JSON.stringify(list)}\n`);
      else
        process.stdout.write(
          formatTable(
            [
              'id',
              'pipeline',
              'trigger',
              'state',
              'scheduled',
              'started',
              'duration',
              'rows',
              'rejects',
              'error',
            ],
            list.map(runRow),
          ),
        );
    });
  runs
    .command('show <id>')
    .description('one run: its tasks, partitions and attempts, with durations and errors')
    .option('--format <f>', 'table | json', 'table')
    .action(async (id: string, o: { format?: string }, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const { run, attempts } = await withPipelines(global(cmd), (api) => api.show(id));
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify({ run, attempts })}\n`);
        return;
      }
      const r = runRow(run);
      process.stdout.write(
        `run ${run.id}\npipeline ${run.pipeline} · ${run.trigger} · ${run.state} · scheduled ${r.scheduled} · started ${r.started || '-'} · ${r.duration || '-'} · ${run.rows} rows · ${run.rejects} rejects\n`,
      );
      if (run.error) process.stdout.write(`error: ${run.error}\n`);
      process.stdout.write('\n');
      process.stdout.write(
        formatTable(
          [
            'task',
            'partition',
            'attempt',
            'state',
            'trigger',
            'started',
            'duration',
            'rows',
            'rejects',
            'error',
          ],
          attempts.map(attemptRow),
        ),
      );
    });
  runs
    .command('logs <id>')
    .description("a run's task logs")
    .option('--task <t>', 'only this task')
    .option('--format <f>', 'table | json', 'table')
    .action(async (id: string, o: { task?: string; format?: string }, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const lines = await withPipelines(global(cmd), (api) => api.logs(id, o.task));
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(lines)}\n`);
        return;
      }
      for (const l of lines) {
        process.stdout.write(
          `${iso(l.ts)} ${l.level.padEnd(5)} ${l.task}${l.partition ? `[${l.partition}]` : ''}#${l.attempt} ${l.message}\n`,
        );
      }
    });
  for (const [verb, help] of [
    ['retry', 'retry the failed partitions of an ended run (what succeeded is not run again)'],
    ['cancel', 'cancel a queued or running run'],
  ] as const) {
    runs
      .command(`${verb} <id>`)
      .description(help)
      .option('--wait', 'wait for the run to end (retry)')
      .option('--format <f>', 'table | json', 'table')
      .action(async (id: string, o: { wait?: boolean; format?: string }, cmd: Command) => {
        const format = parseChoice('--format', o.format, FORMATS, 'table');
        const run = await withPipelines(
          global(cmd),
          async (api, where) => {
            const r = await audited(api, `runs.${verb}`, id, () =>
              verb === 'retry' ? api.retry(id) : api.cancel(id),
            );
            return verb === 'retry' && (o.wait || where === 'here') ? api.wait(r.id) : r;
          },
          { work: verb === 'retry' },
        );
        if (format === 'json') process.stdout.write(`${JSON.stringify(run)}\n`);
        else
          process.stdout.write(`run ${run.id} ${run.state}${run.error ? `: ${run.error}` : ''}\n`);
        if (verb === 'retry' && o.wait && run.state !== 'succeeded') process.exitCode = 1;
      });
  }

  program
    .command('audit')
    .description(
      'the audit log of admin actions (keys, replays, runs, retries, cancels, backfills), newest first',
    )
    .option('--limit <n>', 'at most this many', '50')
    .option('--action <a>', 'only this action, e.g. keys.create')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const limit = parsePositiveInt('--limit', o.limit, 50, 10_000);
      const list = await withPipelines(global(cmd), (api) => api.auditLog(limit, o.action));
      if (format === 'json') process.stdout.write(`${JSON.stringify(list)}\n`);
      else
        process.stdout.write(
          formatTable(
            ['at', 'actor', 'action', 'target', 'outcome', 'detail'],
            list.map((a) => ({ ...a, at: iso(a.at), detail: clip(a.detail, 80) })),
          ),
        );
    });

  program
    .command('alerts')
    .description('alerts sent (and failed or resolved), newest first')
    .option('--limit <n>', 'at most this many', '50')
    .option('--format <f>', 'table | json', 'table')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const format = parseChoice('--format', o.format, FORMATS, 'table');
      const limit = parsePositiveInt('--limit', o.limit, 50, 10_000);
      const list = await withPipelines(global(cmd), (api) => api.alerts(limit));
      if (format === 'json') process.stdout.write(`${JSON.stringify(list)}\n`);
      else
        process.stdout.write(
          formatTable(
            ['at', 'rule', 'state', 'channel', 'outcome', 'subject'],
            list.map((a) => ({ ...a, at: iso(a.at), subject: clip(a.subject, 90) })),
          ),
        );
    });
}

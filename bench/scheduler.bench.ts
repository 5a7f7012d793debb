/**
 * Scheduler overhead: one run of a pipeline whose task fans out to N no-op
 * partitions, scheduled and completed (partitions/s), and the latency from
 * a run's trigger to its first task starting (p50, p99) over runs made one
 * after another. Embedded (DuckDB run history, workers in this process) and
 * over PostgreSQL (the orchestrator and two workers, each with its own
 * connection pool, sharing the history).
 *
 * Alone: node --import tsx bench/scheduler.bench.ts [partitions]
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PipelineSchema, type PipelineSpec } from '../src/core/pipeline-schema.ts';
import { Executor } from '../src/pipelines/executor.ts';
import { Orchestrator } from '../src/pipelines/orchestrator.ts';
import { DuckDBRunStore } from '../src/pipelines/runs/duckdb-run-store.ts';
import { PgRunStore } from '../src/pipelines/runs/pg-run-store.ts';
import type { RunStore } from '../src/pipelines/runs/run-store.ts';
import { planRun } from '../src/pipelines/tasks.ts';

export interface SchedulerResult {
  runner: string;
  partitions: number;
  seconds: number;
  partitionsPerSec: number;
  triggerToStartP50: number;
  triggerToStartP99: number;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function measure(
  runner: string,
  partitions: number,
  orchestratorStore: RunStore,
  workerStores: RunStore[],
  slotsPerWorker: number,
): Promise<SchedulerResult> {
  const pipelines: Record<string, PipelineSpec> = {
    fan: PipelineSchema.parse({
      concurrency: 1_000,
      tasks: { work: { kind: 'noop', partitions } },
    }),
    one: PipelineSchema.parse({ concurrency: 1_000, tasks: { work: { kind: 'noop' } } }),
  };
  const started = new Map<string, number>();
  const orchestrator: Orchestrator = new Orchestrator({
    runs: orchestratorStore,
    pipelines,
    plan: (name, spec, at) => planRun({ runs: orchestratorStore }, name, spec, at),
    onWork: () => {
      for (const e of executors) e.wake();
    },
  });
  const executors: Executor[] = workerStores.map(
    (runs, i) =>
      new Executor({
        runs,
        owner: `bench-${i}`,
        slots: slotsPerWorker,
        perPipeline: () => ({ fan: 1_000, one: 1_000 }),
        pollMs: 250,
        heartbeatMs: 5_000,
        execute: async (ctx) => {
          if (!started.has(ctx.run.id)) started.set(ctx.run.id, performance.now());
          return { rows: 0, rejects: 0 };
        },
        onEnded: () => void orchestrator.sync(),
      }),
  );
  await orchestrator.resume();
  for (const e of executors) e.start();
  try {
    const t0 = performance.now();
    const run = await orchestrator.trigger('fan', 'backfill');
    const ended = await orchestrator.wait(run.id);
    const seconds = (performance.now() - t0) / 1000;
    if (ended.state !== 'succeeded')
      throw new Error(`the bench run ${ended.state}: ${ended.error}`);
    // Trigger → first task started, one run at a time.
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      const r = await orchestrator.trigger('one', 'manual');
      await orchestrator.wait(r.id);
      lat.push(started.get(r.id)! - t);
    }
    return {
      runner,
      partitions,
      seconds,
      partitionsPerSec: partitions / seconds,
      triggerToStartP50: pct(lat, 50),
      triggerToStartP99: pct(lat, 99),
    };
  } finally {
    for (const e of executors) await e.stop();
  }
}

/**
 * The reference: pg-boss (a PostgreSQL job queue for Node.js, the kind of queue a user would put
 * under their own DAG code): the same no-op jobs inserted at once and worked by two workers with
 * their own pools, 8 jobs per fetch, polling at its shortest interval (0.5 s); then 200 jobs sent
 * one after another, each timed from `send` to its handler starting.
 */
async function measurePgBoss(pgUrl: string, partitions: number): Promise<SchedulerResult> {
  const { default: PgBoss } = await import('pg-boss');
  const schema = `bench_boss_${randomUUID().replaceAll('-', '').slice(0, 8)}`;
  const bosses = [0, 1].map(
    () =>
      new PgBoss({ connectionString: pgUrl, schema, max: 4, supervise: false, schedule: false }),
  );
  for (const b of bosses) b.on('error', () => {});
  await bosses[0]!.start();
  await bosses[1]!.start();
  await bosses[0]!.createQueue('fan');
  await bosses[0]!.createQueue('one');
  let done = 0;
  let finish: () => void = () => {};
  const all = new Promise<void>((r) => {
    finish = r;
  });
  const started = new Map<string, number>();
  for (const b of bosses) {
    await b.work('fan', { batchSize: 8, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      done += jobs.length;
      if (done >= partitions) finish();
    });
    await b.work('one', { batchSize: 8, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      for (const j of jobs) started.set(j.id, performance.now());
    });
  }
  try {
    const t0 = performance.now();
    await bosses[0]!.insert(
      Array.from({ length: partitions }, (_, i) => ({ name: 'fan', data: { i } })),
    );
    await all;
    const seconds = (performance.now() - t0) / 1000;
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      const id = (await bosses[0]!.send('one', {}))!;
      while (!started.has(id)) await new Promise((r) => setTimeout(r, 1));
      lat.push(started.get(id)! - t);
    }
    return {
      runner: 'pg-boss 10 (2 workers, 8 per fetch, 0.5 s polling)',
      partitions,
      seconds,
      partitionsPerSec: partitions / seconds,
      triggerToStartP50: pct(lat, 50),
      triggerToStartP99: pct(lat, 99),
    };
  } finally {
    for (const b of bosses) await b.stop({ graceful: false, wait: true }).catch(() => {});
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

export async function benchScheduler(
  dir: string,
  partitions: number,
  pgUrl?: string,
): Promise<SchedulerResult[]> {
  const out: SchedulerResult[] = [];
  const file = join(dir, 'bench-runs.duckdb');
  rmSync(file, { force: true });
  rmSync(`${file}.wal`, { force: true });
  const duck = await DuckDBRunStore.open(file);
  try {
    out.push(await measure('embedded (DuckDB file, 16 slots)', partitions, duck, [duck], 16));
  } finally {
    await duck.close();
  }
  if (pgUrl) {
    const schema = `bench_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    const stores = [
      await PgRunStore.open(pgUrl, { schema }),
      await PgRunStore.open(pgUrl, { schema }),
      await PgRunStore.open(pgUrl, { schema }),
    ];
    try {
      out.push(
        await measure(
          'PostgreSQL (leader + 2 workers × 8 slots)',
          partitions,
          stores[0]!,
          stores.slice(1),
          8,
        ),
      );
    } finally {
      for (const s of stores) await s.close();
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    }
    out.push(await measurePgBoss(pgUrl, partitions));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 10_000);
  const dir = join(import.meta.dirname, '.data');
  for (const r of await benchScheduler(
    dir,
    n,
    process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  )) {
    console.log(
      `${r.runner}: ${r.partitions} partitions in ${r.seconds.toFixed(2)} s = ${r.partitionsPerSec.toFixed(0)}/s; trigger → start p50 ${r.triggerToStartP50.toFixed(1)} ms, p99 ${r.triggerToStartP99.toFixed(1)} ms`,
    );
  }
}

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PipelineSchema, type PipelineSpec } from '../core/pipeline-schema.ts';
import { Executor, type TaskContext, type TaskOutcome } from './executor.ts';
import { Orchestrator } from './orchestrator.ts';
import { DuckDBRunStore } from './runs/duckdb-run-store.ts';
import { PgRunStore } from './runs/pg-run-store.ts';
import type { RunRecord, RunStore } from './runs/run-store.ts';
import { planRun } from './tasks.ts';

const pipeline = (
  tasks: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): PipelineSpec => PipelineSchema.parse({ tasks, ...extra });

let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

/** The same behaviour over each run store: DuckDB (embedded) and PostgreSQL (shared). */
const PG_URL = process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const STORES: [string, () => Promise<{ runs: RunStore; drop: () => Promise<void> }>][] = [
  ['duckdb', async () => ({ runs: await DuckDBRunStore.open(':memory:'), drop: async () => {} })],
  [
    'postgres',
    async () => {
      const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const runs = await PgRunStore.open(PG_URL, { schema });
      return {
        runs,
        drop: async () => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          await c.query(`DROP SCHEMA ${schema} CASCADE`);
          await c.end();
        },
      };
    },
  ],
];
let makeStore = STORES[0]![1];

async function setup(
  pipelines: Record<string, PipelineSpec>,
  execute: (ctx: TaskContext) => Promise<TaskOutcome>,
  slots = 8,
) {
  const { runs, drop } = await makeStore();
  const orchestrator: Orchestrator = new Orchestrator({
    runs,
    pipelines,
    plan: (name, spec, at) => planRun({ runs }, name, spec, at),
    onWork: () => executor.wake(),
  });
  const executor: Executor = new Executor({
    runs,
    execute,
    slots,
    perPipeline: () =>
      Object.fromEntries(Object.entries(pipelines).map(([k, p]) => [k, p.concurrency])),
    pollMs: 20,
    heartbeatMs: 1_000,
    onEnded: () => void orchestrator.sync().catch(() => {}),
  });
  await orchestrator.resume();
  executor.start();
  close = async () => {
    await executor.stop();
    await runs.close();
    await drop();
  };
  return { runs, orchestrator, executor };
}

describe.each(STORES)('Orchestrator and Executor over %s', (_name, make) => {
  beforeEach(() => {
    makeStore = make;
  });

  it('runs tasks in needs order, retries a failing partition by its policy, skips what depends on it', async () => {
    const order: string[] = [];
    const p = pipeline({
      fetch: { kind: 'noop', partitions: 3, retries: 2, retryDelayMs: 1, backoff: 'fixed' },
      curate: { kind: 'noop', needs: ['fetch'] },
      export: { kind: 'noop', needs: ['curate'] },
    });
    let healed = false;
    const { runs, orchestrator } = await setup({ daily: p }, async (ctx) => {
      order.push(`${ctx.attempt.task}${ctx.attempt.partition}`);
      if (ctx.attempt.task === 'fetch' && ctx.attempt.partition === '2' && !healed) {
        throw new Error('404: no data for partition 2');
      }
      return { rows: 10, rejects: 1 };
    });
    const run = await orchestrator.trigger('daily', 'manual');
    const ended = await orchestrator.wait(run.id);
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(/fetch\[2\] failed after 3 attempts: 404: no data for partition 2/);
    const attempts = await runs.attempts(run.id);
    const of = (task: string, part: string) =>
      attempts.filter((a) => a.task === task && a.partition === part);
    expect(of('fetch', '2').map((a) => a.state)).toEqual(['failed', 'failed', 'failed']);
    expect(of('fetch', '0').map((a) => a.state)).toEqual(['succeeded']);
    expect(of('curate', '').map((a) => a.state)).toEqual(['skipped']);
    expect(order.filter((o) => o.startsWith('curate'))).toEqual([]);

    // A retry runs only the failed partition, then what it blocked.
    healed = true;
    order.length = 0;
    await orchestrator.retry(run.id);
    const again = await orchestrator.wait(run.id);
    expect(again.state).toBe('succeeded');
    expect(order).toEqual(['fetch2', 'curate', 'export']);
    const after = await runs.attempts(run.id);
    const succeeded = after
      .filter((a) => a.state === 'succeeded')
      .map((a) => `${a.task}${a.partition}`);
    expect(succeeded.sort()).toEqual(['curate', 'export', 'fetch0', 'fetch1', 'fetch2']);
    expect(
      after.find((a) => a.task === 'fetch' && a.partition === '2' && a.attempt === 4)?.trigger,
    ).toBe('retry');
  });

  it('a task that runs past its timeout fails and is retried', async () => {
    const p = pipeline({ slow: { kind: 'noop', timeoutMs: 50, retries: 1, retryDelayMs: 1 } });
    let calls = 0;
    const { orchestrator } = await setup({ slow: p }, (ctx) => {
      calls++;
      if (calls === 1)
        return new Promise((_r, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      return Promise.resolve({ rows: 0, rejects: 0 });
    });
    const run = await orchestrator.trigger('slow', 'manual');
    expect((await orchestrator.wait(run.id)).state).toBe('succeeded');
    expect(calls).toBe(2);
  });

  it('runs 12 pipelines at once; each succeeds and is recorded', async () => {
    const pipelines: Record<string, PipelineSpec> = {};
    for (let i = 0; i < 12; i++) {
      pipelines[`p${i}`] = pipeline({
        a: { kind: 'noop', partitions: 4 },
        b: { kind: 'noop', needs: ['a'] },
      });
    }
    let running = 0;
    let peak = 0;
    const gate: (() => void)[] = [];
    const { runs, orchestrator } = await setup(
      pipelines,
      async () => {
        running++;
        peak = Math.max(peak, running);
        // Every first partition waits until 12 run at once: they must overlap.
        if (peak < 12) await new Promise<void>((r) => gate.push(r));
        else for (const g of gate.splice(0)) g();
        running--;
        return { rows: 1, rejects: 0 };
      },
      16,
    );
    const started = await Promise.all(
      Object.keys(pipelines).map((p) => orchestrator.trigger(p, 'manual')),
    );
    const ended: RunRecord[] = await Promise.all(started.map((r) => orchestrator.wait(r.id)));
    expect(ended.map((r) => r.state)).toEqual(Array(12).fill('succeeded'));
    expect(peak).toBeGreaterThanOrEqual(12);
    expect((await runs.listRuns({ limit: 100 })).length).toBe(12);
  });

  it('holds runs beyond maxActiveRuns in the queue', async () => {
    const p = pipeline({ a: { kind: 'noop' } }, { maxActiveRuns: 1 });
    const release: (() => void)[] = [];
    const { orchestrator, runs } = await setup(
      { one: p },
      () => new Promise((r) => release.push(() => r({ rows: 0, rejects: 0 }))),
    );
    const first = await orchestrator.trigger('one', 'manual');
    const second = await orchestrator.trigger('one', 'manual');
    expect(first.state).toBe('running');
    expect(second.state).toBe('queued');
    await until(() => release.length === 1);
    release.shift()!();
    await orchestrator.wait(first.id);
    await until(() => release.length === 1);
    expect((await runs.getRun(second.id))!.state).toBe('running');
    release.shift()!();
    expect((await orchestrator.wait(second.id)).state).toBe('succeeded');
  });
});

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

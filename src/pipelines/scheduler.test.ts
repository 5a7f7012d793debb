import { afterEach, describe, expect, it } from 'vitest';
import { PipelineSchema } from '../core/pipeline-schema.ts';
import { Orchestrator } from './orchestrator.ts';
import { DuckDBRunStore } from './runs/duckdb-run-store.ts';
import { nextSessionRun, Scheduler } from './scheduler.ts';
import { planRun } from './tasks.ts';

const daily = (extra: Record<string, unknown> = {}) =>
  PipelineSchema.parse({
    schedule: '30 17 * * 1-5',
    timezone: 'America/New_York',
    calendar: 'XNYS',
    maxActiveRuns: 100,
    tasks: { a: { kind: 'noop' } },
    ...extra,
  });

let runs: DuckDBRunStore | null = null;
afterEach(async () => {
  await runs?.close();
  runs = null;
});

/** A scheduler on a clock the test moves. */
async function clocked(start: string, pipelines: Record<string, ReturnType<typeof daily>>) {
  runs = await DuckDBRunStore.open(':memory:');
  const store = runs;
  let now = Date.parse(start);
  const orchestrator = new Orchestrator({
    runs: store,
    pipelines,
    now: () => now,
    plan: (name, spec, at) => planRun({ runs: store }, name, spec, at),
  });
  const scheduler = new Scheduler({
    runs: store,
    orchestrator,
    pipelines,
    now: () => now,
    manual: true,
  });
  await scheduler.start();
  return {
    scheduler,
    store,
    set: async (iso: string) => {
      now = Date.parse(iso);
      await scheduler.tick();
    },
  };
}

describe('Scheduler', () => {
  it('fires at 17:30 New York across a daylight-saving change, and skips the exchange’s closed days', async () => {
    // Thursday 2025-01-09: NYSE closed (a national day of mourning). DST starts 2025-03-09.
    const s = await clocked('2025-01-08T12:00:00Z', { daily: daily() });
    await s.set('2025-01-10T23:00:00Z');
    const ticks = await s.store.lastTick('daily');
    expect(ticks).toMatchObject({
      outcome: 'started',
      scheduledFor: Date.parse('2025-01-10T22:30:00Z'),
    });
    const made = await s.store.listRuns({ pipeline: 'daily' });
    expect(made.map((r) => new Date(r.scheduledFor).toISOString()).sort()).toEqual([
      '2025-01-08T22:30:00.000Z',
      '2025-01-10T22:30:00.000Z',
    ]);
    // After the change to summer time 17:30 New York is 21:30 UTC.
    await s.set('2025-03-10T21:31:00Z');
    const last = (await s.store.listRuns({ pipeline: 'daily', limit: 1 }))[0]!;
    expect(new Date(last.scheduledFor).toISOString()).toBe('2025-03-10T21:30:00.000Z');
  });

  it('records a skipped tick with the reason', async () => {
    const s = await clocked('2025-01-09T12:00:00Z', { daily: daily() });
    await s.set('2025-01-09T22:31:00Z');
    expect(await s.store.lastTick('daily')).toMatchObject({
      outcome: 'skipped',
      reason: 'XNYS has no session on 2025-01-09',
      runId: null,
    });
    expect(await s.store.listRuns({})).toEqual([]);
  });

  it('on a restart runs only the latest missed schedule without catchup, every one with it', async () => {
    for (const catchup of [false, true]) {
      const s = await clocked('2025-02-03T12:00:00Z', { daily: daily({ catchup }) });
      await s.set('2025-02-03T23:00:00Z'); // one run, Monday
      await s.scheduler.stop();
      // Down from Monday night to Friday night: Tue, Wed, Thu and Fri were missed.
      const orchestrator = new Orchestrator({
        runs: s.store,
        pipelines: { daily: daily({ catchup }) },
        now: () => Date.parse('2025-02-07T23:00:00Z'),
        plan: (name, spec, at) => planRun({ runs: s.store }, name, spec, at),
      });
      const again = new Scheduler({
        runs: s.store,
        orchestrator,
        pipelines: { daily: daily({ catchup }) },
        now: () => Date.parse('2025-02-07T23:00:00Z'),
        manual: true,
      });
      await again.start();
      const made = (await s.store.listRuns({})).map(
        (r) => `${new Date(r.scheduledFor).toISOString().slice(0, 10)}:${r.trigger}`,
      );
      expect(made.sort()).toEqual(
        catchup
          ? [
              '2025-02-03:schedule',
              '2025-02-04:catch-up',
              '2025-02-05:catch-up',
              '2025-02-06:catch-up',
              '2025-02-07:catch-up',
            ]
          : ['2025-02-03:schedule', '2025-02-07:catch-up'],
      );
      await runs?.close();
      runs = null;
    }
  });

  it('tells the next run on a session day', () => {
    // Friday 2025-04-18 is Good Friday: the next run after Thursday's is Monday's.
    const next = nextSessionRun(daily(), Date.parse('2025-04-17T22:00:00Z'));
    expect(new Date(next!).toISOString()).toBe('2025-04-21T21:30:00.000Z');
  });
});

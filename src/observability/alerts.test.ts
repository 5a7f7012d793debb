import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWebhook } from '../../test/helpers/sinks.ts';
import { CalendarResolver } from '../calendar/registry.ts';
import { AlertsSchema } from '../core/pipeline-schema.ts';
import type { Bar } from '../core/records.ts';
import { DuckDBRunStore } from '../pipelines/runs/duckdb-run-store.ts';
import type { RunRecord } from '../pipelines/runs/run-store.ts';
import { openStoreAt } from '../store/open-store.ts';
import { Alerter } from './alerts.ts';
import { ConditionWatch } from './watch.ts';

let hook: Awaited<ReturnType<typeof startWebhook>>;
let runs: DuckDBRunStore;
beforeAll(async () => {
  hook = await startWebhook();
});
afterAll(async () => {
  await hook.close();
});
afterEach(async () => {
  hook.posts.length = 0;
  await runs?.close();
});

const config = (extra: Record<string, unknown> = {}) =>
  AlertsSchema.parse({
    channels: { hook: { kind: 'webhook', url: hook.url } },
    rules: [
      { on: 'run_failed', channels: ['hook'] },
      { on: 'data_stale', interval: '1d', sessions: 1, channels: ['hook'] },
    ],
    ...extra,
  });

const run = (state: RunRecord['state'], pipeline = 'daily'): RunRecord => ({
  id: `${pipeline}-${state}-${Math.random()}`,
  pipeline,
  trigger: 'schedule',
  state,
  scheduledFor: 0,
  createdAt: 0,
  startedAt: 0,
  endedAt: 1,
  params: { spec: {}, partitions: {}, ranges: {} },
  rows: 0,
  rejects: 0,
  error: state === 'failed' ? 'fetch[SIX] failed after 3 attempts: 404' : null,
});

const kinds = () =>
  hook.posts.flatMap((p) =>
    (p.alerts as { kind: string; state: string }[]).map((a) => `${a.kind}:${a.state}`),
  );

describe('Alerter', () => {
  it('notifies each failed run, and once when its pipeline succeeds again', async () => {
    runs = await DuckDBRunStore.open(':memory:');
    const alerter = new Alerter({ config: config(), runs });
    alerter.onRun(run('failed'));
    alerter.onRun(run('failed'));
    alerter.onRun(run('succeeded'));
    alerter.onRun(run('succeeded'));
    await alerter.flush();
    expect(kinds()).toEqual(['run_failed:firing', 'run_failed:firing', 'run_failed:resolved']);
    const stored = await runs.listAlerts();
    expect(stored.map((a) => `${a.rule}:${a.state}:${a.outcome}`).sort()).toEqual([
      'run_failed:firing:sent',
      'run_failed:firing:sent',
      'run_failed:resolved:sent',
    ]);
  });

  it('groups what fires within groupWait into one message', async () => {
    runs = await DuckDBRunStore.open(':memory:');
    const alerter = new Alerter({ config: config({ groupWait: '1h' }), runs });
    alerter.onRun(run('failed', 'a'));
    alerter.onRun(run('failed', 'b'));
    await alerter.flush();
    expect(hook.posts.length).toBe(1);
    expect((hook.posts[0]!.alerts as unknown[]).length).toBe(2);
    expect(hook.posts[0]!.subject).toBe('[tickline] 2 alerts: run_failed (firing)');
  });

  it('records a channel that fails, and keeps going', async () => {
    runs = await DuckDBRunStore.open(':memory:');
    const alerter = new Alerter({
      config: AlertsSchema.parse({
        channels: {
          dead: { kind: 'webhook', url: 'http://127.0.0.1:9/alerts' },
          hook: { kind: 'webhook', url: hook.url },
        },
        rules: [{ on: 'run_failed', channels: ['dead', 'hook'] }],
      }),
      runs,
    });
    alerter.onRun(run('failed'));
    await alerter.flush();
    const stored = await runs.listAlerts();
    expect(stored.map((a) => `${a.channel}:${a.outcome}`).sort()).toEqual([
      'dead:failed',
      'hook:sent',
    ]);
    expect(stored.find((a) => a.channel === 'dead')!.error).toMatch(/127\.0\.0\.1:9/);
  }, 60_000);
});

describe('ConditionWatch: data_stale', () => {
  it('fires when a daily series is more than a session behind its calendar, repeats by the interval, resolves', async () => {
    runs = await DuckDBRunStore.open(':memory:');
    const store = await openStoreAt(':memory:');
    try {
      const bar = (date: string): Bar => ({
        symbol: 'AAPL',
        interval: '1d',
        ts: Date.parse(date),
        open: 1,
        high: 2,
        low: 1,
        close: 2,
        volume: 10,
        adjClose: null,
        source: 'yahoo',
      });
      await store.write({
        raw: [],
        bars: [bar('2025-01-02')],
        rejects: [],
        actions: [],
        instruments: [],
      });
      let now = Date.parse('2025-01-03T23:00:00Z'); // one session (Fri 01-03) behind: allowed
      const alerter = new Alerter({ config: config(), runs, now: () => now });
      const watch = new ConditionWatch({
        alerter,
        store,
        calendars: new CalendarResolver({ default: 'XNYS', prefixes: {}, suffixes: {} }),
        now: () => now,
      });
      await watch.evaluate();
      await alerter.flush();
      expect(kinds()).toEqual([]);
      now = Date.parse('2025-01-06T22:00:00Z'); // Fri and Mon closed since: 2 behind
      await watch.evaluate();
      now += 3_600_000; // an hour later: still firing, within the 4 h repeat interval
      await watch.evaluate();
      await alerter.flush();
      expect(kinds()).toEqual(['data_stale:firing']);
      expect((hook.posts[0]!.alerts as { subject: string }[])[0]!.subject).toBe(
        '[tickline] AAPL 1d is 2 sessions behind',
      );
      now += 4 * 3_600_000; // past the repeat interval
      await watch.evaluate();
      await store.write({
        raw: [],
        bars: [bar('2025-01-06')],
        rejects: [],
        actions: [],
        instruments: [],
      });
      await watch.evaluate();
      await alerter.flush();
      expect(kinds()).toEqual(['data_stale:firing', 'data_stale:firing', 'data_stale:resolved']);
    } finally {
      await store.close();
    }
  });
});

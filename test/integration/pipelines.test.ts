/**
 * Must-shows 2–4 of pipelines, end to end with the real CLI:
 * - the daily-history pipeline against recorded Yahoo responses, SIX answering 404:
 *   `pipelines run --wait` exits 1, `runs show` names SIX after 3 attempts with AAPL and
 *   MSFT stored, a mail reaches a real SMTP server and a POST the webhook, and
 *   `runs retry` runs SIX only;
 * - 12 pipelines run at once through a server, all succeed, all recorded;
 * - `tickline up` killed with SIGKILL in the middle of a multi-symbol run: after a restart
 *   the run finishes, rows equal an uninterrupted run's, no partition succeeded twice.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, startServer } from '../helpers/cli.ts';
import { withDb } from '../helpers/db.ts';
import { until } from '../helpers/kafka.ts';
import { fixture, type ReplayServer, startReplayServer } from '../helpers/replay-server.ts';
import { type Mail, startSmtp, startWebhook } from '../helpers/sinks.ts';

const BODIES: Record<string, string> = {
  AAPL: fixture('yahoo/yahoo-chart-AAPL-1d-2020-08-31_2020-11-06-splits-dividends.json'),
  MSFT: fixture('yahoo/yahoo-chart-MSFT-1d-2021-02-01_2022-01-28-dividends.json'),
  NVDA: fixture('yahoo/yahoo-chart-NVDA-1d-2021-02-01_2022-01-28-split.json'),
  TSLA: fixture('yahoo/yahoo-chart-TSLA-1d-2010-06-29_2023-08-11-full-history.json'),
};
const NOT_FOUND = fixture('yahoo/yahoo-chart-error-SI-not-found.json');

let dir: string;
let yahoo: ReplayServer;
let sixHealed = false;
/**
 * While set, every request after the first `free` is held until `release()`: the test kills a
 * server while one of its fetches is in flight, whatever the machine's speed.
 */
let gate: { free: number; held: number; wait: Promise<void>; release: () => void } | null = null;
const servers: RunningServer[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickline-pipelines-'));
  yahoo = await startReplayServer((u) => {
    const symbol = u.pathname.split('/').pop()!;
    if (symbol === 'SIX')
      return [sixHealed ? { body: BODIES.NVDA! } : { status: 404, body: NOT_FOUND }];
    const body = BODIES[symbol];
    if (!body) return undefined;
    if (gate && gate.free-- <= 0) {
      gate.held++;
      return [{ body, after: gate.wait }];
    }
    return [{ body }];
  });
});

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) await s.stop();
  await yahoo.close();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, text: string): { config: string; env: Record<string, string> } {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const config = join(home, 'tickline.config.yaml');
  writeFileSync(config, text);
  return {
    config,
    env: {
      TICKLINE_CONFIG: config,
      TICKLINE_DATA_DIR: join(home, 'data'),
      TICKLINE_YAHOO_URL: yahoo.url,
    },
  };
}

const json = <T>(text: string): T => JSON.parse(text) as T;
interface Attempt {
  task: string;
  partition: string;
  attempt: number;
  state: string;
}
interface Run {
  id: string;
  state: string;
  pipeline: string;
  startedAt: number;
  endedAt: number;
  error: string | null;
}

describe('the daily-history pipeline', () => {
  it('fails on SIX after 3 attempts, alerts by mail and webhook, and a retry runs SIX only', async () => {
    const smtp = await startSmtp();
    const hook = await startWebhook();
    try {
      const { env } = writeConfig(
        'daily',
        `pipelines:
  daily-history:
    schedule: "30 17 * * 1-5"
    timezone: America/New_York
    calendar: XNYS
    catchup: false
    maxActiveRuns: 1
    tasks:
      fetch:  { kind: backfill, source: yahoo, symbols: [AAPL, MSFT, SIX], interval: 1d, from: 2020-08-31, to: 2022-01-28, retries: 2, retryDelayMs: 200 }
      curate: { kind: curate, needs: [fetch] }
      export: { kind: export, needs: [curate], layer: curated, format: parquet, out: lake/ }
alerts:
  channels:
    ops-mail: { kind: email, to: [ops@example.com], from: tickline@localhost, smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false } }
    hook:     { kind: webhook, url: ${hook.url} }
  rules:
    - { on: run_failed, channels: [ops-mail, hook] }
    - { on: run_succeeded, pipelines: [daily-history], channels: [hook] }
`,
      );
      const listed = await runCli(['pipelines', 'list'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(
        /daily-history +30 17 \* \* 1-5 +America\/New_York +XNYS +fetch → curate → export +\d{4}-\d\d-\d\dT21:30:00Z|daily-history .*T22:30:00Z/,
      );

      const run = await runCli(['pipelines', 'run', 'daily-history', '--wait'], env);
      expect(run.code, run.stderr).toBe(1);
      const id = run.stdout.trim().split('\n')[0]!;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(run.stderr).toMatch(/failed: fetch\[SIX\] failed after 3 attempts/);

      const shown = await runCli(['runs', 'show', id], env);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/fetch +SIX +3 +failed/);
      expect(shown.stdout).toMatch(/fetch +AAPL +1 +succeeded/);
      const detail = json<{ run: Run; attempts: Attempt[] }>(
        (await runCli(['runs', 'show', id, '--format', 'json'], env)).stdout,
      );
      const six = detail.attempts.filter((a) => a.partition === 'SIX');
      expect(six.map((a) => `${a.attempt}:${a.state}`)).toEqual([
        '1:failed',
        '2:failed',
        '3:failed',
      ]);
      expect(detail.attempts.filter((a) => a.task === 'curate').map((a) => a.state)).toEqual([
        'skipped',
      ]);
      const stored = await runCli(
        [
          'query',
          '--format',
          'json',
          "SELECT symbol, count(*) AS n FROM bars WHERE interval = '1d' GROUP BY 1 ORDER BY 1",
        ],
        env,
      );
      expect(json(stored.stdout)).toEqual([
        { symbol: 'AAPL', n: 49 },
        { symbol: 'MSFT', n: 252 },
      ]);
      expect(yahoo.requests.filter((r) => r.includes('/SIX')).length).toBe(3);

      // The alerts: one mail, and one POST, each naming the run and SIX.
      await until(
        () => smtp.mails.length >= 1 && hook.posts.length >= 1,
        30_000,
        'the mail and the webhook POST',
      );
      const mail: Mail = smtp.mails[0]!;
      expect(mail.to).toEqual(['ops@example.com']);
      expect(mail.raw).toContain(id);
      expect(mail.raw).toContain('SIX');
      expect(mail.raw).toMatch(/Subject: \[tickline\] run of daily-history failed/);
      const post = hook.posts[0] as { alerts: { kind: string; runId: string; error: string }[] };
      expect(post.alerts[0]).toMatchObject({ kind: 'run_failed', runId: id });
      expect(post.alerts[0]!.error).toContain('SIX');
      const alerts = json<{ rule: string; channel: string; outcome: string }[]>(
        (await runCli(['alerts', '--format', 'json'], env)).stdout,
      );
      expect(alerts.map((a) => `${a.rule}:${a.channel}:${a.outcome}`).sort()).toEqual([
        'run_failed:hook:sent',
        'run_failed:ops-mail:sent',
      ]);

      // The provider has SIX now: a retry fetches SIX only, then curates and exports.
      sixHealed = true;
      const before = { AAPL: yahoo.requests.filter((r) => r.includes('/AAPL')).length };
      const retried = await runCli(['runs', 'retry', id, '--wait'], env);
      expect(retried.code, retried.stderr).toBe(0);
      expect(retried.stdout).toMatch(new RegExp(`run ${id} succeeded`));
      expect(yahoo.requests.filter((r) => r.includes('/AAPL')).length).toBe(before.AAPL);
      const after = json<{ run: Run; attempts: Attempt[] }>(
        (await runCli(['runs', 'show', id, '--format', 'json'], env)).stdout,
      );
      const ok = after.attempts
        .filter((a) => a.state === 'succeeded')
        .map((a) => `${a.task}:${a.partition}:${a.attempt}`);
      expect(ok.sort()).toEqual([
        'curate::1',
        'export::1',
        'fetch:AAPL:1',
        'fetch:MSFT:1',
        'fetch:SIX:4',
      ]);
      await until(
        () => hook.posts.some((p) => (p.alerts as { kind: string }[])[0]!.kind === 'run_succeeded'),
        30_000,
        'the run_succeeded POST',
      );
    } finally {
      await smtp.close();
      await hook.close();
      sixHealed = false;
    }
  });
});

describe('many pipelines', () => {
  it('runs 12 pipelines at once through the server; all succeed and are recorded', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
    const { env } = writeConfig(
      'twelve',
      `pipelines:\n  concurrency: 48\n${names
        .map(
          (n) =>
            `  ${n}:\n    tasks:\n      a: { kind: noop, partitions: 2, durationMs: 400 }\n      b: { kind: noop, needs: [a], durationMs: 400 }\n`,
        )
        .join('')}`,
    );
    const server = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env);
    servers.push(server);
    const started = await Promise.all(names.map((n) => runCli(['pipelines', 'run', n], env)));
    expect(started.map((r) => r.code)).toEqual(Array(12).fill(0));
    let runs: Run[] = [];
    await until(
      async () => {
        runs = json<Run[]>(
          (await runCli(['runs', '--format', 'json', '--limit', '50'], env)).stdout,
        );
        return runs.length === 12 && runs.every((r) => r.state === 'succeeded');
      },
      120_000,
      '12 succeeded runs',
    );
    expect(new Set(runs.map((r) => r.pipeline)).size).toBe(12);
    // At once: some instant lies inside every run.
    const latestStart = Math.max(...runs.map((r) => r.startedAt));
    const earliestEnd = Math.min(...runs.map((r) => r.endedAt));
    expect(latestStart).toBeLessThan(earliestEnd);
    // The runs and their tasks in the metrics.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const n of names)
      expect(metrics).toContain(
        `tickline_pipeline_runs_total{pipeline="${n}",state="succeeded"} 1`,
      );
    expect(metrics).toMatch(
      /tickline_pipeline_task_duration_seconds_count\{pipeline="p01",task="a",state="succeeded"\} 2/,
    );
    expect(metrics).toMatch(/tickline_pipeline_queue_depth 0/);
    await server.stop();
  });
});

describe('restart safety', () => {
  const config = `pipelines:
  history:
    concurrency: 1
    tasks:
      fetch: { kind: backfill, source: yahoo, symbols: [AAPL, MSFT, NVDA, TSLA], interval: 1d, from: 2010-06-29, to: 2023-08-11, retries: 2, retryDelayMs: 50 }
      curate: { kind: curate, needs: [fetch] }
`;
  const barsOf = (db: string) =>
    withDb(db, (q) =>
      q(`SELECT symbol, interval, epoch_ms(ts) AS ts, open, high, low, close, volume, adj_close, source
         FROM bars WHERE interval = '1d' ORDER BY symbol, interval, ts`),
    );

  it('a run cut by SIGKILL of tickline up finishes after a restart, with the rows of an uninterrupted run', async () => {
    // The reference: the same data folder contents (the bundled history tickline up loads
    // first, then the run) without an interruption.
    const reference = writeConfig('reference', config);
    expect((await runCli(['demo'], reference.env)).code).toBe(0);
    const ref = await runCli(['pipelines', 'run', 'history', '--wait'], reference.env);
    expect(ref.code, ref.stderr).toBe(0);

    const { env } = writeConfig('killed', config);
    let release = () => {};
    const wait = new Promise<void>((r) => {
      release = r;
    });
    gate = { free: 1, held: 0, wait, release };
    try {
      const first = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env);
      servers.push(first);
      const id = (await runCli(['pipelines', 'run', 'history'], env)).stdout.trim();
      // Kill it once one symbol is stored and another is being fetched (held in flight).
      await until(
        async () => {
          const d = json<{ attempts: Attempt[] }>(
            (await runCli(['runs', 'show', id, '--format', 'json'], env)).stdout,
          );
          return d.attempts.some((a) => a.state === 'succeeded') && gate!.held > 0;
        },
        120_000,
        'one symbol stored and another being fetched',
      );
      first.child.kill('SIGKILL');
      await first.done;
      gate = null;
      release();
      const second = await startServer(['--port', '0', '--symbols', 'AAPL', '--rate', '5'], env);
      servers.push(second);
      let detail: { run: Run; attempts: Attempt[] } = {
        run: { state: 'running' } as Run,
        attempts: [],
      };
      await until(
        async () => {
          detail = json((await runCli(['runs', 'show', id, '--format', 'json'], env)).stdout);
          return detail.run.state !== 'running' && detail.run.state !== 'queued';
        },
        120_000,
        'the run to end after the restart',
      );
      expect(detail.run.state).toBe('succeeded');
      const lost = detail.attempts.filter((a) => a.state === 'failed');
      expect(lost.length).toBeGreaterThanOrEqual(1);
      const wins = new Map<string, number>();
      for (const a of detail.attempts.filter((x) => x.state === 'succeeded')) {
        const k = `${a.task}:${a.partition}`;
        wins.set(k, (wins.get(k) ?? 0) + 1);
      }
      expect([...wins.values()].every((n) => n === 1)).toBe(true);
      expect(wins.size).toBe(5);
      await second.stop();
    } finally {
      gate = null;
      release();
    }
    const a = await barsOf(join(dir, 'reference', 'data', 'tickline.duckdb'));
    const b = await barsOf(join(dir, 'killed', 'data', 'tickline.duckdb'));
    expect(a.length).toBeGreaterThan(3_000);
    expect(b).toEqual(a);
  });
});

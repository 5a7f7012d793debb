/**
 * Must-show 5, distributed pipelines: a leader (`tickline up`) and two
 * `tickline worker --pipelines` share a run history in PostgreSQL. The leader
 * is killed with SIGKILL in the middle of a fan-out run, then a worker; a
 * worker takes over the lease, the lost attempts are retried, and every
 * partition succeeds exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, startCli, startServer } from '../helpers/cli.ts';
import { stderrLines, until } from '../helpers/kafka.ts';

const PG_URL = process.env.TICKLINE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let dir: string;
let config: string;
let db: pg.Client;
const children: { child: ChildProcess }[] = [];

const envFor = (name: string): Record<string, string> => {
  mkdirSync(join(dir, name), { recursive: true });
  return { TICKLINE_CONFIG: config, TICKLINE_DATA_DIR: join(dir, name), TICKLINE_PG_URL: PG_URL };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickline-dist-'));
  config = join(dir, 'tickline.config.yaml');
  writeFileSync(
    config,
    `pipelines:
  runner: postgres
  postgresSchema: ${schema}
  leaseMs: 1500
  pollMs: 50
  concurrency: 3
  fan:
    concurrency: 9
    tasks:
      work: { kind: noop, partitions: 240, durationMs: 250, retries: 3, retryDelayMs: 20 }
      done: { kind: noop, needs: [work] }
`,
  );
  db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
});

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await db.end();
  rmSync(dir, { recursive: true, force: true });
});

const count = async (sql: string, params: unknown[] = []): Promise<number> =>
  Number((await db.query(sql.replaceAll('§', schema), params)).rows[0].n);

describe('pipelines over PostgreSQL', () => {
  it('survives SIGKILL of the leader, then of a worker: every partition succeeds exactly once', async () => {
    const leader: RunningServer = await startServer(
      ['--port', '0', '--symbols', 'AAPL', '--rate', '5'],
      envFor('leader'),
    );
    children.push(leader);
    const workers = ['w1', 'w2'].map((w) => {
      const c = startCli(['worker', '--pipelines'], envFor(w));
      children.push(c);
      return { name: w, ...c, err: stderrLines(c.child) };
    });
    const id = (await runCli(['pipelines', 'run', 'fan'], envFor('leader'))).stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    // Kill the leader while partitions are running, with some already done. 240 partitions of
    // 250 ms leave work enough (about 10 s at full speed) that the takeover below and the other
    // worker's next partition come before the run ends, on a loaded machine too (with 60, a run
    // beside stress-ng once ended before the other worker held a partition again).
    await until(
      async () =>
        (await count(
          `SELECT count(*) AS n FROM §.attempts WHERE run_id = $1 AND state = 'succeeded'`,
          [id],
        )) >= 6 &&
        (await count(
          `SELECT count(*) AS n FROM §.attempts WHERE run_id = $1 AND state = 'running'`,
          [id],
        )) >= 2,
      300_000,
      'the run under way',
    );
    leader.child.kill('SIGKILL');
    await leader.done;
    // A worker takes the lease over.
    await until(
      () => workers.some((w) => w.err.some((l) => l.includes('leads the scheduler'))),
      300_000,
      'a new leader',
    );
    const next = workers.find((w) => w.err.some((l) => l.includes('leads the scheduler')))!;
    const other = workers.find((w) => w !== next)!;
    // Then kill the other worker while it runs partitions.
    await until(
      async () =>
        (await count(
          `SELECT count(*) AS n FROM §.attempts WHERE run_id = $1 AND state = 'running' AND owner LIKE $2`,
          [id, `%:${other.child.pid}`],
        )) >= 1,
      300_000,
      'the other worker running a partition',
    );
    other.child.kill('SIGKILL');
    await other.done;

    await until(
      async () =>
        (await count(
          `SELECT count(*) AS n FROM §.runs WHERE id = $1 AND state NOT IN ('queued', 'running')`,
          [id],
        )) === 1,
      300_000,
      'the run to end',
    );
    const shown = await runCli(['runs', 'show', id, '--format', 'json'], envFor('cli'));
    expect(shown.code, shown.stderr).toBe(0);
    const detail = JSON.parse(shown.stdout) as {
      run: { state: string };
      attempts: {
        task: string;
        partition: string;
        state: string;
        error: string | null;
        owner: string | null;
      }[];
    };
    expect(detail.run.state).toBe('succeeded');
    const wins = new Map<string, number>();
    for (const a of detail.attempts.filter((x) => x.state === 'succeeded')) {
      wins.set(`${a.task}:${a.partition}`, (wins.get(`${a.task}:${a.partition}`) ?? 0) + 1);
    }
    expect(wins.size).toBe(241);
    expect([...wins.values()].every((n) => n === 1)).toBe(true);
    // The attempts the two kills cut off were failed as lost and retried.
    const lost = detail.attempts.filter((a) => a.state === 'failed' && a.error?.startsWith('lost'));
    expect(lost.length).toBeGreaterThanOrEqual(2);
    // Three processes did the work.
    expect(new Set(detail.attempts.map((a) => a.owner?.split(':')[1]).filter(Boolean)).size).toBe(
      3,
    );
    next.child.kill('SIGTERM');
    await next.done;
    // A hang guard only (the waits above are on conditions): a loaded machine takes longer.
  }, 600_000);
});

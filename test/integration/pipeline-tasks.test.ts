/**
 * Task kinds and commands not covered elsewhere: an import task takes each
 * CSV file in a folder once (a changed file again), a quality task reports
 * rejects per rule and fails above its limit, `pipelines backfill` makes one
 * run per scheduled session day, and config mistakes are named.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tickline-tasks-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function home(name: string, config: string): Record<string, string> {
  const h = join(dir, name);
  mkdirSync(h, { recursive: true });
  writeFileSync(join(h, 'tickline.config.yaml'), config);
  return { TICKLINE_CONFIG: join(h, 'tickline.config.yaml'), TICKLINE_DATA_DIR: join(h, 'data') };
}

const CSV = (rows: string[]) => `Date,Open,High,Low,Close,Volume\n${rows.join('\n')}\n`;

describe('pipeline tasks', () => {
  it('imports each CSV file of a folder once, a changed file again, and reports rejects per rule', async () => {
    const env = home(
      'import',
      `pipelines:
  drop:
    tasks:
      load: { kind: import, folder: inbox, pattern: "*.csv" }
      check: { kind: quality, needs: [load], lookback: 1d, maxRejects: 1 }
`,
    );
    const inbox = join(dir, 'import', 'inbox');
    mkdirSync(inbox);
    writeFileSync(
      join(inbox, 'AAA.csv'),
      CSV(['2024-01-02,10,11,9,10.5,100', '2024-01-03,10.5,12,10,11.5,200']),
    );
    writeFileSync(
      join(inbox, 'BBB.csv'),
      CSV(['2024-01-02,20,21,19,20.5,100', '2024-01-03,20,19,21,20,100']),
    );
    writeFileSync(join(inbox, 'notes.txt'), 'not a csv');
    const first = await runCli(['pipelines', 'run', 'drop', '--wait'], env);
    expect(first.code, first.stderr).toBe(0);
    const id = first.stdout.trim();
    const shown = JSON.parse(
      (await runCli(['runs', 'show', id, '--format', 'json'], env)).stdout,
    ) as {
      attempts: { task: string; partition: string; state: string; rows: number; rejects: number }[];
    };
    expect(
      shown.attempts
        .filter((a) => a.task === 'load')
        .map((a) => `${a.partition}:${a.state}:${a.rows}`),
    ).toEqual(['AAA.csv:succeeded:2', 'BBB.csv:succeeded:1']);
    const logs = await runCli(['runs', 'logs', id, '--task', 'check'], env);
    expect(logs.stdout).toMatch(/1 rejects in the 1d before/);
    expect(logs.stdout).toMatch(/high_low_inconsistent: 1/);

    // Nothing new: one empty partition. A changed file is taken again.
    const again = await runCli(['pipelines', 'run', 'drop', '--wait'], env);
    const second = JSON.parse(
      (await runCli(['runs', 'show', again.stdout.trim(), '--format', 'json'], env)).stdout,
    ) as {
      attempts: { task: string; partition: string }[];
    };
    expect(second.attempts.filter((a) => a.task === 'load').map((a) => a.partition)).toEqual(['']);
    copyFileSync(join(inbox, 'AAA.csv'), join(inbox, 'CCC.csv'));
    writeFileSync(
      join(inbox, 'AAA.csv'),
      CSV([
        '2024-01-02,10,11,9,10.5,100',
        '2024-01-03,10.5,12,10,11.5,200',
        '2024-01-04,11,12,10,11,300',
      ]),
    );
    const third = await runCli(['pipelines', 'run', 'drop', '--wait'], env);
    const t = JSON.parse(
      (await runCli(['runs', 'show', third.stdout.trim(), '--format', 'json'], env)).stdout,
    ) as {
      attempts: { task: string; partition: string }[];
    };
    // CCC.csv has AAA's old content, already imported once: only the changed AAA.csv is new.
    expect(t.attempts.filter((a) => a.task === 'load').map((a) => a.partition)).toEqual([
      'AAA.csv',
    ]);
    const counts = await runCli(
      ['query', '--format', 'json', 'SELECT symbol, count(*) AS n FROM bars GROUP BY 1 ORDER BY 1'],
      env,
    );
    expect(JSON.parse(counts.stdout)).toEqual([
      { symbol: 'AAA', n: 3 },
      { symbol: 'BBB', n: 1 },
    ]);
  });

  it('pipelines backfill makes one run per scheduled session day, skipping the exchange’s holidays', async () => {
    const env = home(
      'backfill',
      `pipelines:
  eod:
    schedule: "0 18 * * *"
    timezone: America/New_York
    calendar: XNYS
    maxActiveRuns: 4
    tasks:
      a: { kind: noop }
`,
    );
    // 2024-12-23 … 2025-01-03: 12 days; weekends, Christmas and New Year's Day are not sessions.
    const r = await runCli(
      [
        'pipelines',
        'backfill',
        'eod',
        '--from',
        '2024-12-23',
        '--to',
        '2025-01-03',
        '--format',
        'json',
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const runs = JSON.parse(r.stdout) as { scheduled: string; state: string }[];
    expect(runs.map((x) => x.scheduled.slice(0, 10))).toEqual([
      '2024-12-23',
      '2024-12-24',
      '2024-12-26',
      '2024-12-27',
      '2024-12-30',
      '2024-12-31',
      '2025-01-02',
      '2025-01-03',
    ]);
    expect(runs.every((x) => x.state === 'succeeded')).toBe(true);
    const listed = JSON.parse(
      (await runCli(['runs', '--pipeline', 'eod', '--format', 'json', '--limit', '100'], env))
        .stdout,
    ) as { trigger: string }[];
    expect(listed.length).toBe(8);
    expect(new Set(listed.map((x) => x.trigger))).toEqual(new Set(['backfill']));
  });

  it('names config mistakes: a cycle, an unknown task, a bad cron pattern, an unknown channel', async () => {
    const cases: [string, RegExp][] = [
      [
        'a: { kind: noop, needs: [b] }\n      b: { kind: noop, needs: [a] }',
        /pipelines\.p\.tasks\.a\.needs: expected tasks without a cycle \(a → b → a\)/,
      ],
      [
        'a: { kind: noop, needs: [nope] }',
        /pipelines\.p\.tasks\.a\.needs\.0: expected a task of this pipeline \(no task "nope"; tasks: a\)/,
      ],
    ];
    for (const [tasks, message] of cases) {
      const env = home(
        `bad${cases.indexOf([tasks, message] as never)}${Math.random()}`,
        `pipelines:\n  p:\n    tasks:\n      ${tasks}\n`,
      );
      const r = await runCli(['pipelines', 'list'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const cron = await runCli(
      ['pipelines', 'list'],
      home(
        'cron',
        'pipelines:\n  p:\n    schedule: "61 * * * *"\n    tasks: { a: { kind: noop } }\n',
      ),
    );
    expect(cron.code).toBe(2);
    expect(cron.stderr).toMatch(
      /pipelines\.p\.schedule: expected a cron pattern such as "30 17 \* \* 1-5"/,
    );
    const channel = await runCli(
      ['alerts'],
      home('channel', 'alerts:\n  rules: [{ on: run_failed, channels: [pager] }]\n'),
    );
    expect(channel.code).toBe(2);
    expect(channel.stderr).toMatch(
      /alerts\.rules\.0\.channels\.0: expected a channel defined under alerts\.channels \(no channel "pager"\)/,
    );
    const unknown = await runCli(
      ['pipelines', 'run', 'nope'],
      home('unknown', 'pipelines:\n  p:\n    tasks: { a: { kind: noop } }\n'),
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no pipeline "nope"; pipelines: p/);
  });
});
